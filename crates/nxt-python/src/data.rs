//! `nxt.data`: tasks, samples and results JSONL; benchmark importers.

use std::path::PathBuf;

use nxt_data::{OnInvalid, import};
use pyo3::prelude::*;

use crate::types::{PyCheckResult, PySample, PyTask, task_of};

fn on_invalid(skip: bool) -> OnInvalid {
    if skip {
        OnInvalid::Skip
    } else {
        OnInvalid::Fail
    }
}

fn tasks(items: Vec<nxt_core::Task>) -> Vec<PyTask> {
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
/// HumanEval's format, HumanEvalPack), `mbpp` (MBPP, sanitized or full) or
/// `humanevalfix` (HumanEvalFix repair tasks). HumanEval+ and MBPP+ with evalplus's
/// expected outputs are imported by `nxt data import humanevalplus|mbppplus` (the
/// outputs are computed by running the references), then read with `read_tasks`.
#[pyfunction]
#[pyo3(signature = (benchmark, path, *, skip_invalid=false))]
pub(crate) fn import_benchmark(
    py: Python<'_>,
    benchmark: &str,
    path: PathBuf,
    skip_invalid: bool,
) -> PyResult<Vec<PyTask>> {
    let how = on_invalid(skip_invalid);
    let loaded = match benchmark.to_ascii_lowercase().as_str() {
        "humaneval" => py.detach(|| import::humaneval_with(&path, how)),
        "mbpp" => py.detach(|| import::mbpp_with(&path, how)),
        "humanevalfix" => py.detach(|| import::humanevalfix_with(&path, how)),
        other => {
            return Err(crate::errors::invalid(format!(
                "unknown benchmark {other:?} (expected humaneval, mbpp or humanevalfix)"
            )));
        }
    };
    loaded.map(|l| tasks(l.items)).map_err(crate::errors::data)
}
