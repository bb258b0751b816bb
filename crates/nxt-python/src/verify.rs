//! `nxt.verify` and `nxt.pass_at_k`.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::path::PathBuf;

use nxt_core::{CheckResult, Sample, Task, VerifyOptions};
use pyo3::prelude::*;
use pyo3::types::PyString;

use crate::interrupt::interruptible;
use crate::types::{PyVerification, sample_of, task_of};

/// Tasks given as a list of `Task`s or dicts, or as the path of a tasks JSONL file.
pub(crate) fn tasks_of(obj: &Bound<'_, PyAny>) -> PyResult<Vec<Task>> {
    if let Some(path) = path_of(obj) {
        return nxt_data::read_tasks(&path, nxt_data::OnInvalid::Fail)
            .map(|l| l.items)
            .map_err(crate::errors::data);
    }
    obj.try_iter()?
        .map(|t| task_of(&t?))
        .collect::<PyResult<Vec<Task>>>()
}

fn samples_of(obj: &Bound<'_, PyAny>) -> PyResult<Vec<Sample>> {
    if let Some(path) = path_of(obj) {
        return nxt_data::read_samples(&path, nxt_data::OnInvalid::Fail)
            .map(|l| l.items)
            .map_err(crate::errors::data);
    }
    obj.try_iter()?
        .map(|s| sample_of(&s?))
        .collect::<PyResult<Vec<Sample>>>()
}

/// A `str` or `os.PathLike` as a path; None for anything else.
pub(crate) fn path_of(obj: &Bound<'_, PyAny>) -> Option<PathBuf> {
    if obj.is_instance_of::<PyString>() {
        return obj.extract::<PathBuf>().ok();
    }
    if obj.hasattr("__fspath__").unwrap_or(false) {
        return obj.extract::<PathBuf>().ok();
    }
    None
}

/// Verify options from the keyword arguments, checked.
pub(crate) fn verify_options(
    timeout: f64,
    memory_limit: Option<u64>,
    fail_fast: bool,
    output_tail: usize,
) -> PyResult<VerifyOptions> {
    if !(timeout.is_finite() && timeout > 0.0) {
        return Err(crate::errors::invalid(format!(
            "timeout must be a positive number of seconds, not {timeout}"
        )));
    }
    Ok(VerifyOptions {
        timeout,
        memory_limit,
        fail_fast,
        output_tail,
    })
}

/// Runs each sample against its task's tests, each check in its own sandboxed process,
/// on `jobs` workers at once (by default, one per CPU).
///
/// `tasks`: `Task`s, dicts, or the path of a tasks JSONL file. `samples`: `Sample`s,
/// dicts, or a samples JSONL path; None verifies each task's own `code` (sample id
/// `"code"`). Returns a `Verification` (results in input order, pass@k).
#[pyfunction]
#[pyo3(signature = (tasks, samples=None, *, jobs=None, timeout=3.0, memory_limit=Some(4 << 30), fail_fast=false, output_tail=2048, python=None, engine="cpython", worker=None))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn verify(
    py: Python<'_>,
    tasks: &Bound<'_, PyAny>,
    samples: Option<&Bound<'_, PyAny>>,
    jobs: Option<usize>,
    timeout: f64,
    memory_limit: Option<u64>,
    fail_fast: bool,
    output_tail: usize,
    python: Option<PathBuf>,
    engine: &str,
    worker: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyVerification> {
    let options = verify_options(timeout, memory_limit, fail_fast, output_tail)?;
    let engine = crate::engines::Engine::of(engine, worker)?;
    let tasks = tasks_of(tasks)?;
    let samples = match samples {
        None => tasks.iter().map(Sample::of_task).collect(),
        Some(s) if s.is_none() => tasks.iter().map(Sample::of_task).collect(),
        Some(s) => samples_of(s)?,
    };
    check_pairs(&tasks, &samples)?;
    let workers = crate::engines::workers(jobs).min(samples.len().max(1));
    let results = interruptible(py, move |cancel| -> PyResult<Vec<CheckResult>> {
        let pairs = check_pairs(&tasks, &samples)?;
        match engine {
            crate::engines::Engine::CPython => {
                let verifier = crate::engines::verifier(python, workers)?;
                collect(pairs.len(), cancel, crate::errors::verify, |f| {
                    verifier.verify_each(&pairs, &options, f);
                })
            }
            crate::engines::Engine::RustPython(worker) => {
                let verifier = crate::engines::rustpython_verifier(&worker, workers)?;
                collect(
                    pairs.len(),
                    cancel,
                    |e| crate::errors::engine(e, None),
                    |f| {
                        verifier.verify_each(&pairs, &options, f);
                    },
                )
            }
        }
    })??;
    Ok(PyVerification { results })
}

/// The results of `n` checks that `run` hands to its callback as they end (a
/// `verify_each`): the first error stops it, and so does Ctrl-C.
fn collect<E>(
    n: usize,
    cancel: &crate::interrupt::Cancel,
    error_of: impl Fn(E) -> PyErr,
    run: impl FnOnce(&mut dyn FnMut(usize, Result<CheckResult, E>) -> ControlFlow<()>),
) -> PyResult<Vec<CheckResult>> {
    let mut out: Vec<Option<CheckResult>> = (0..n).map(|_| None).collect();
    let mut error = None;
    run(&mut |i, r| {
        match r {
            Ok(r) => out[i] = Some(r),
            Err(e) => {
                error.get_or_insert(e);
                return ControlFlow::Break(());
            }
        }
        if cancel.is_set() {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    });
    if let Some(e) = error {
        return Err(error_of(e));
    }
    out.into_iter()
        .map(|r| r.ok_or_else(|| crate::errors::invalid("verification was interrupted")))
        .collect()
}

/// Each sample with its task; an unknown task or a duplicate task id is an error.
fn check_pairs<'a>(
    tasks: &'a [Task],
    samples: &'a [Sample],
) -> PyResult<Vec<(&'a Task, &'a Sample)>> {
    let mut by_id: HashMap<&str, &Task> = HashMap::new();
    for t in tasks {
        if by_id.insert(&t.task_id, t).is_some() {
            return Err(crate::errors::invalid(format!(
                "tasks: duplicate task_id {:?}",
                t.task_id
            )));
        }
    }
    samples
        .iter()
        .enumerate()
        .map(|(i, s)| {
            by_id
                .get(s.task_id.as_str())
                .map(|t| (*t, s))
                .ok_or_else(|| {
                    crate::errors::invalid(format!(
                        "samples[{i}]: no task {:?} among the tasks",
                        s.task_id
                    ))
                })
        })
        .collect()
}

/// The unbiased estimate of pass@k from `n` samples of which `c` passed (Chen et al.
/// 2021): `1 - C(n-c, k) / C(n, k)`.
#[pyfunction]
pub(crate) fn pass_at_k(n: u64, c: u64, k: u64) -> f64 {
    nxt_verify::pass_at_k(n, c, k)
}
