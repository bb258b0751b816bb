//! `nxt.data`: tasks, samples and results JSONL; benchmark importers.

use std::path::PathBuf;

use std::ops::ControlFlow;

use nxt_core::Task;
use nxt_data::plus::{self, Benchmark, OracleCache, PlusOptions, Problems, TaskOracle};
use nxt_data::{OnInvalid, import};
use nxt_verify::reference::ReferenceRunnerBuilder;
use pyo3::prelude::*;

use crate::types::{PyCheckResult, PySample, PyTask, task_of};

fn on_invalid(skip: bool) -> OnInvalid {
    if skip {
        OnInvalid::Skip
    } else {
        OnInvalid::Fail
    }
}

fn tasks(items: Vec<Task>) -> Vec<PyTask> {
    items.into_iter().map(|inner| PyTask { inner }).collect()
}

/// Reads a tasks JSONL file. A bad line raises `InvalidData` naming its file, line
/// and field, or with `skip_invalid=True` is skipped.
#[pyfunction]
#[pyo3(signature = (path, *, skip_invalid=false))]
pub(crate) fn read_tasks(
    py: Python<'_>,
    path: PathBuf,
    skip_invalid: bool,
) -> PyResult<Vec<PyTask>> {
    py.detach(|| nxt_data::read_tasks(&path, on_invalid(skip_invalid)))
        .map(|l| tasks(l.items))
        .map_err(crate::errors::data)
}

/// Reads a samples JSONL file (as `read_tasks`).
#[pyfunction]
#[pyo3(signature = (path, *, skip_invalid=false))]
pub(crate) fn read_samples(
    py: Python<'_>,
    path: PathBuf,
    skip_invalid: bool,
) -> PyResult<Vec<PySample>> {
    py.detach(|| nxt_data::read_samples(&path, on_invalid(skip_invalid)))
        .map(|l| {
            l.items
                .into_iter()
                .map(|inner| PySample { inner })
                .collect()
        })
        .map_err(crate::errors::data)
}

/// Reads a results JSONL file (a torn last line, from an interrupted run, is skipped).
#[pyfunction]
pub(crate) fn read_results(py: Python<'_>, path: PathBuf) -> PyResult<Vec<PyCheckResult>> {
    py.detach(|| nxt_data::read_results(&path))
        .map(|l| {
            l.items
                .into_iter()
                .map(|inner| PyCheckResult { inner })
                .collect()
        })
        .map_err(crate::errors::data)
}

/// Writes `items` (all `Task`s, all `Sample`s or all `CheckResult`s, or dicts of
/// tasks) as JSON Lines to `path`, atomically (a temporary file, then a rename).
#[pyfunction]
pub(crate) fn write_jsonl(
    py: Python<'_>,
    path: PathBuf,
    items: Vec<Bound<'_, PyAny>>,
) -> PyResult<()> {
    let mut lines: Vec<serde_json::Value> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let value = if let Ok(r) = item.cast::<PyCheckResult>() {
            serde_json::to_value(&r.get().inner)
        } else if let Ok(s) = item.cast::<PySample>() {
            serde_json::to_value(&s.borrow().inner)
        } else if item.cast::<PyTask>().is_ok() {
            serde_json::to_value(task_of(item)?)
        } else {
            let v = crate::convert::from_py(item, &format!("items[{i}]"))?;
            if !v.is_object() {
                return Err(crate::errors::invalid(format!(
                    "items[{i}]: expected a dict"
                )));
            }
            Ok(v)
        };
        lines.push(value.map_err(|e| crate::errors::invalid(format!("items[{i}]: {e}")))?);
    }
    py.detach(|| nxt_data::write_jsonl(&path, &lines))
        .map_err(crate::errors::data)
}

/// Imports a benchmark file as tasks: `humaneval` (HumanEval, HumanEval+ in
/// HumanEval's format, HumanEvalPack), `mbpp` (MBPP, sanitized or full),
/// `humanevalfix` (HumanEvalFix repair tasks), or `humanevalplus` / `mbppplus`
/// (evalplus's `HumanEvalPlus.jsonl` / `MbppPlus.jsonl`: one test block per input,
/// whose expected outputs are computed by running the reference in the sandbox on
/// `jobs` workers, once: they are cached in `cache_dir`, by default
/// `$XDG_CACHE_HOME/nxt`, by the file's SHA-256), as `nxt data import` does.
#[pyfunction]
#[pyo3(signature = (benchmark, path, *, skip_invalid=false, cache_dir=None, jobs=None, min_time_limit=nxt_data::plus::MIN_TIME_LIMIT, time_limit_factor=nxt_data::plus::TIME_LIMIT_FACTOR, python=None))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn import_benchmark(
    py: Python<'_>,
    benchmark: &str,
    path: PathBuf,
    skip_invalid: bool,
    cache_dir: Option<PathBuf>,
    jobs: Option<usize>,
    min_time_limit: f64,
    time_limit_factor: f64,
    python: Option<PathBuf>,
) -> PyResult<Vec<PyTask>> {
    let how = on_invalid(skip_invalid);
    let plus = match benchmark
        .to_ascii_lowercase()
        .replace(['-', '_'], "")
        .as_str()
    {
        "humaneval" => return done(py.detach(|| import::humaneval_with(&path, how))),
        "mbpp" => return done(py.detach(|| import::mbpp_with(&path, how))),
        "humanevalfix" => return done(py.detach(|| import::humanevalfix_with(&path, how))),
        "humanevalplus" => Benchmark::HumanEvalPlus,
        "mbppplus" => Benchmark::MbppPlus,
        _ => {
            return Err(crate::errors::invalid(format!(
                "unknown benchmark {benchmark:?} (expected humaneval, mbpp, humanevalfix, \
                 humanevalplus or mbppplus)"
            )));
        }
    };
    let options = PlusOptions {
        min_time_limit,
        time_limit_factor,
    };
    let workers = crate::engines::workers(jobs);
    let made = crate::interrupt::interruptible(py, move |cancel| -> PyResult<Vec<Task>> {
        let problems = plus::read(&path, plus, how).map_err(crate::errors::data)?;
        let cache = cache_dir
            .or_else(OracleCache::default_dir)
            .map(OracleCache::new);
        // A cache that cannot be read is recomputed, as the CLI does.
        let cached = cache
            .as_ref()
            .and_then(|c| c.load(&problems).ok().flatten());
        let oracles = match cached {
            Some(oracles) => oracles,
            None => {
                let oracles = compute_oracles(&problems, workers, python, cancel)?;
                if let Some(cache) = &cache {
                    // Not caching is not an error: the next import computes again.
                    let _ = cache.store(&problems, &oracles);
                }
                oracles
            }
        };
        let made = plus::tasks(&problems, &oracles, &options).map_err(crate::errors::data)?;
        Ok(made.tasks)
    })??;
    Ok(tasks(made))
}

fn done(loaded: Result<nxt_data::Loaded<Task>, nxt_data::DataError>) -> PyResult<Vec<PyTask>> {
    loaded.map(|l| tasks(l.items)).map_err(crate::errors::data)
}

/// Runs every problem's reference on its inputs in the sandbox (as `nxt data import`).
fn compute_oracles(
    problems: &Problems,
    workers: usize,
    python: Option<PathBuf>,
    cancel: &crate::interrupt::Cancel,
) -> PyResult<Vec<TaskOracle>> {
    let mut builder = ReferenceRunnerBuilder::new();
    builder.workers(workers.min(problems.items.len().max(1)));
    if let Some(p) = python {
        builder.python(p);
    }
    let runner = builder.build().map_err(crate::errors::verify)?;
    let oracles = runner
        .oracles(problems, || {
            if cancel.is_set() {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .map_err(crate::errors::verify)?;
    oracles.ok_or_else(|| crate::errors::invalid("interrupted"))
}

/// HEFix+: HumanEvalFix's repair tasks with the tests of their HumanEval+ tasks (the
/// results of `import_benchmark("humanevalfix", ...)` and of
/// `import_benchmark("humanevalplus", ...)`).
#[pyfunction]
pub(crate) fn hefix_plus(
    fix: Vec<Bound<'_, PyAny>>,
    plus: Vec<Bound<'_, PyAny>>,
) -> PyResult<Vec<PyTask>> {
    let fix = fix.iter().map(task_of).collect::<PyResult<Vec<_>>>()?;
    let plus = plus.iter().map(task_of).collect::<PyResult<Vec<_>>>()?;
    import::hefix_plus(&fix, &plus)
        .map(tasks)
        .map_err(crate::errors::data)
}
