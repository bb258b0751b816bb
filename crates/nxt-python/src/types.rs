//! Tasks, samples and check results as Python classes. Each converts to and from a
//! dict (the JSONL record of `docs/tasks-jsonl.md`) and JSON, compares by value and
//! pickles (through its JSON).

use std::collections::BTreeMap;

use nxt_core::{CheckResult, Sample, Task, TestResult};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple, PyType};
use serde_json::Map;

use crate::convert::{de_from_py, de_from_str, from_py, map_to_py, ser_to_py};

fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("plain data serializes")
}

fn meta_from(
    obj: Option<&Bound<'_, PyAny>>,
    what: &str,
) -> PyResult<Map<String, serde_json::Value>> {
    match obj {
        None => Ok(Map::new()),
        Some(o) if o.is_none() => Ok(Map::new()),
        Some(o) => match from_py(o, what)? {
            serde_json::Value::Object(m) => Ok(m),
            _ => Err(crate::errors::invalid(format!("{what}: expected a dict"))),
        },
    }
}

/// A reducer for pickle: `(cls.from_json, (json,))`.
fn reduce<'py>(slf: &Bound<'py, PyAny>, json: String) -> PyResult<Bound<'py, PyTuple>> {
    let from_json = slf.get_type().getattr("from_json")?;
    PyTuple::new(
        slf.py(),
        [from_json, PyTuple::new(slf.py(), [json])?.into_any()],
    )
}

/// A programming task with executable tests (one line of a tasks JSONL file).
#[pyclass(module = "nxt", name = "Task", eq)]
#[derive(Clone, PartialEq)]
pub(crate) struct PyTask {
    pub(crate) inner: Task,
}

#[pymethods]
impl PyTask {
    #[new]
    #[pyo3(signature = (task_id, prompt, code, tests, *, setup=None, entry_point=None, solution=None, meta=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        task_id: String,
        prompt: String,
        code: String,
        tests: Vec<String>,
        setup: Option<String>,
        entry_point: Option<String>,
        solution: Option<String>,
        meta: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyTask> {
        Ok(PyTask {
            inner: Task {
                task_id,
                prompt,
                code,
                tests,
                setup,
                entry_point,
                solution,
                meta: meta_from(meta, "meta")?,
            },
        })
    }

    /// The task from a dict with the fields of a tasks JSONL line.
    #[classmethod]
    fn from_dict(_cls: &Bound<'_, PyType>, d: &Bound<'_, PyAny>) -> PyResult<PyTask> {
        Ok(PyTask { inner: task_of(d)? })
    }

    /// The task from one line of JSON.
    #[classmethod]
    fn from_json(_cls: &Bound<'_, PyType>, text: &str) -> PyResult<PyTask> {
        Ok(PyTask {
            inner: de_from_str(text, "task")?,
        })
    }

    /// The task as a dict (a tasks JSONL line).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        ser_to_py(py, &self.inner)
    }

    /// The task as one line of JSON.
    fn to_json(&self) -> String {
        to_json(&self.inner)
    }

    #[getter]
    fn task_id(&self) -> &str {
        &self.inner.task_id
    }
    #[setter]
    fn set_task_id(&mut self, v: String) {
        self.inner.task_id = v;
    }
    #[getter]
    fn prompt(&self) -> &str {
        &self.inner.prompt
    }
    #[setter]
    fn set_prompt(&mut self, v: String) {
        self.inner.prompt = v;
    }
    #[getter]
    fn code(&self) -> &str {
        &self.inner.code
    }
    #[setter]
    fn set_code(&mut self, v: String) {
        self.inner.code = v;
    }
    #[getter]
    fn tests(&self) -> Vec<String> {
        self.inner.tests.clone()
    }
    #[setter]
    fn set_tests(&mut self, v: Vec<String>) {
        self.inner.tests = v;
    }
    #[getter]
    fn setup(&self) -> Option<&str> {
        self.inner.setup.as_deref()
    }
    #[setter]
    fn set_setup(&mut self, v: Option<String>) {
        self.inner.setup = v;
    }
    #[getter]
    fn entry_point(&self) -> Option<&str> {
        self.inner.entry_point.as_deref()
    }
    #[setter]
    fn set_entry_point(&mut self, v: Option<String>) {
        self.inner.entry_point = v;
    }
    #[getter]
    fn solution(&self) -> Option<&str> {
        self.inner.solution.as_deref()
    }
    #[setter]
    fn set_solution(&mut self, v: Option<String>) {
        self.inner.solution = v;
    }
    #[getter]
    fn meta<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        map_to_py(py, &self.inner.meta)
    }
    #[setter]
    fn set_meta(&mut self, v: &Bound<'_, PyAny>) -> PyResult<()> {
        self.inner.meta = meta_from(Some(v), "meta")?;
        Ok(())
    }

    fn __repr__(&self) -> String {
        format!(
            "Task(task_id={:?}, tests={})",
            self.inner.task_id,
            self.inner.tests.len()
        )
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        let json = slf.borrow().to_json();
        reduce(slf.as_any(), json)
    }
}

/// A candidate program for a task (one line of a samples JSONL file).
#[pyclass(module = "nxt", name = "Sample", eq)]
#[derive(Clone, PartialEq)]
pub(crate) struct PySample {
    pub(crate) inner: Sample,
}

#[pymethods]
impl PySample {
    #[new]
    #[pyo3(signature = (task_id, sample_id, code, *, meta=None))]
    fn new(
        task_id: String,
        sample_id: String,
        code: String,
        meta: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PySample> {
        Ok(PySample {
            inner: Sample {
                task_id,
                sample_id,
                code,
                meta: meta_from(meta, "meta")?,
            },
        })
    }

    /// The task's own `code` as a sample (sample id `"code"`).
    #[classmethod]
    fn of_task(_cls: &Bound<'_, PyType>, task: &Bound<'_, PyAny>) -> PyResult<PySample> {
        Ok(PySample {
            inner: Sample::of_task(&task_of(task)?),
        })
    }

    /// The sample from a dict with the fields of a samples JSONL line.
    #[classmethod]
    fn from_dict(_cls: &Bound<'_, PyType>, d: &Bound<'_, PyAny>) -> PyResult<PySample> {
        Ok(PySample {
            inner: sample_of(d)?,
        })
    }

    /// The sample from one line of JSON.
    #[classmethod]
    fn from_json(_cls: &Bound<'_, PyType>, text: &str) -> PyResult<PySample> {
        Ok(PySample {
            inner: de_from_str(text, "sample")?,
        })
    }

    /// The sample as a dict.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        ser_to_py(py, &self.inner)
    }

    /// The sample as one line of JSON.
    fn to_json(&self) -> String {
        to_json(&self.inner)
    }

    #[getter]
    fn task_id(&self) -> &str {
        &self.inner.task_id
    }
    #[getter]
    fn sample_id(&self) -> &str {
        &self.inner.sample_id
    }
    #[getter]
    fn code(&self) -> &str {
        &self.inner.code
    }
    #[getter]
    fn meta<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        map_to_py(py, &self.inner.meta)
    }

    fn __repr__(&self) -> String {
        format!(
            "Sample(task_id={:?}, sample_id={:?})",
            self.inner.task_id, self.inner.sample_id
        )
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        let json = slf.borrow().to_json();
        reduce(slf.as_any(), json)
    }
}

/// The kind of each field of a record: `s` a string, `o` an optional string, `l` a
/// list of strings, `m` a dict; for errors that name the field.
fn check_fields(obj: &Bound<'_, PyAny>, what: &str, fields: &[(&str, char)]) -> PyResult<()> {
    let Ok(d) = obj.cast::<PyDict>() else {
        return Err(crate::errors::invalid(format!(
            "{what}: expected a {} or a dict, found a {}",
            if what == "task" { "Task" } else { "Sample" },
            obj.get_type().name()?
        )));
    };
    for (key, value) in d.iter() {
        let key: String = key.extract()?;
        let Some((_, kind)) = fields.iter().find(|(f, _)| *f == key) else {
            return Err(crate::errors::invalid(format!(
                "{what}: unknown field `{key}`"
            )));
        };
        let ok = match kind {
            's' => value.extract::<String>().is_ok(),
            'o' => value.is_none() || value.extract::<String>().is_ok(),
            'l' => {
                !value.is_instance_of::<pyo3::types::PyString>()
                    && value.extract::<Vec<String>>().is_ok()
            }
            _ => value.is_none() || value.cast::<PyDict>().is_ok(),
        };
        if !ok {
            let expected = match kind {
                's' => "a string",
                'o' => "a string or None",
                'l' => "a list of strings",
                _ => "a dict",
            };
            return Err(crate::errors::invalid(format!(
                "{what}: field `{key}`: expected {expected}, found a {}",
                value.get_type().name()?
            )));
        }
    }
    for (key, kind) in fields {
        if matches!(kind, 's' | 'l') && !d.contains(*key)? {
            return Err(crate::errors::invalid(format!(
                "{what}: missing field `{key}`"
            )));
        }
    }
    Ok(())
}

/// A task given as a `Task` or as a dict.
pub(crate) fn task_of(obj: &Bound<'_, PyAny>) -> PyResult<Task> {
    match obj.cast::<PyTask>() {
        Ok(t) => Ok(t.borrow().inner.clone()),
        Err(_) => {
            check_fields(
                obj,
                "task",
                &[
                    ("task_id", 's'),
                    ("prompt", 's'),
                    ("code", 's'),
                    ("tests", 'l'),
                    ("setup", 'o'),
                    ("entry_point", 'o'),
                    ("solution", 'o'),
                    ("meta", 'm'),
                ],
            )?;
            de_from_py(obj, "task")
        }
    }
}

/// A sample given as a `Sample` or as a dict.
pub(crate) fn sample_of(obj: &Bound<'_, PyAny>) -> PyResult<Sample> {
    match obj.cast::<PySample>() {
        Ok(s) => Ok(s.borrow().inner.clone()),
        Err(_) => {
            check_fields(
                obj,
                "sample",
                &[
                    ("task_id", 's'),
                    ("sample_id", 's'),
                    ("code", 's'),
                    ("meta", 'm'),
                ],
            )?;
            de_from_py(obj, "sample")
        }
    }
}

/// How one test block fared.
#[pyclass(module = "nxt", name = "TestResult", frozen, eq)]
#[derive(Clone, PartialEq)]
pub(crate) struct PyTestResult {
    inner: TestResult,
}

#[pymethods]
impl PyTestResult {
    /// `passed`, `failed` (AssertionError), `error` (another exception) or `not_run`.
    #[getter]
    fn status(&self) -> &'static str {
        self.inner.status.as_str()
    }
    /// The exception's type name, e.g. `AssertionError`.
    #[getter]
    fn exception(&self) -> Option<&str> {
        self.inner.exception.as_deref()
    }
    /// The exception's message (capped).
    #[getter]
    fn message(&self) -> Option<&str> {
        self.inner.message.as_deref()
    }
    /// The 1-based line within the test block where it failed.
    #[getter]
    fn line(&self) -> Option<u32> {
        self.inner.line
    }
    fn __repr__(&self) -> String {
        let mut s = format!("TestResult(status={:?}", self.status());
        if let Some(e) = &self.inner.exception {
            s.push_str(&format!(", exception={e:?}"));
        }
        if let Some(l) = self.inner.line {
            s.push_str(&format!(", line={l}"));
        }
        s.push(')');
        s
    }
}

/// The verdict on one sample: status, per-test results, output tails, duration.
#[pyclass(module = "nxt", name = "CheckResult", frozen, eq)]
#[derive(Clone, PartialEq)]
pub(crate) struct PyCheckResult {
    pub(crate) inner: CheckResult,
}

#[pymethods]
impl PyCheckResult {
    /// The result from one line of a results JSONL file.
    #[classmethod]
    fn from_json(_cls: &Bound<'_, PyType>, text: &str) -> PyResult<PyCheckResult> {
        Ok(PyCheckResult {
            inner: de_from_str(text, "result")?,
        })
    }
    /// The result from a dict.
    #[classmethod]
    fn from_dict(_cls: &Bound<'_, PyType>, d: &Bound<'_, PyAny>) -> PyResult<PyCheckResult> {
        Ok(PyCheckResult {
            inner: de_from_py(d, "result")?,
        })
    }
    /// The result as one line of JSON (a results JSONL line).
    fn to_json(&self) -> String {
        to_json(&self.inner)
    }
    /// The result as a dict.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        ser_to_py(py, &self.inner)
    }
    #[getter]
    fn task_id(&self) -> &str {
        &self.inner.task_id
    }
    #[getter]
    fn sample_id(&self) -> &str {
        &self.inner.sample_id
    }
    /// `passed`, `failed`, `error`, `syntax_error`, `timeout`, `memory` or `crashed`.
    #[getter]
    fn status(&self) -> &'static str {
        self.inner.status.as_str()
    }
    /// Whether every test block passed.
    #[getter]
    fn passed(&self) -> bool {
        self.inner.status.passed()
    }
    /// One entry per test block, in order.
    #[getter]
    fn tests(&self) -> Vec<PyTestResult> {
        self.inner
            .tests
            .iter()
            .map(|t| PyTestResult { inner: t.clone() })
            .collect()
    }
    #[getter]
    fn stdout(&self) -> &str {
        &self.inner.stdout
    }
    #[getter]
    fn stderr(&self) -> &str {
        &self.inner.stderr
    }
    #[getter]
    fn duration_ms(&self) -> u64 {
        self.inner.duration_ms
    }
    #[getter]
    fn meta<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        map_to_py(py, &self.inner.meta)
    }
    fn __repr__(&self) -> String {
        format!(
            "CheckResult(task_id={:?}, sample_id={:?}, status={:?})",
            self.inner.task_id,
            self.inner.sample_id,
            self.status()
        )
    }
    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        reduce(slf.as_any(), slf.get().to_json())
    }
}

/// The results of [`verify`](crate::verify::verify), in input order, with pass@k.
#[pyclass(module = "nxt", name = "Verification", frozen, eq, sequence)]
#[derive(Clone, PartialEq)]
pub(crate) struct PyVerification {
    pub(crate) results: Vec<CheckResult>,
}

impl PyVerification {
    fn summary(&self) -> nxt_verify::Summary {
        self.results.iter().collect()
    }
}

#[pymethods]
impl PyVerification {
    /// Results from a list of `CheckResult`s (or their dicts).
    #[new]
    fn new(results: Vec<Bound<'_, PyAny>>) -> PyResult<PyVerification> {
        let results = results
            .iter()
            .map(|r| match r.cast::<PyCheckResult>() {
                Ok(r) => Ok(r.get().inner.clone()),
                Err(_) => de_from_py(r, "result"),
            })
            .collect::<PyResult<_>>()?;
        Ok(PyVerification { results })
    }
    /// Every result, in the order of the input pairs.
    #[getter]
    fn results(&self) -> Vec<PyCheckResult> {
        self.results
            .iter()
            .map(|r| PyCheckResult { inner: r.clone() })
            .collect()
    }
    fn __len__(&self) -> usize {
        self.results.len()
    }
    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, pyo3::types::PyIterator>> {
        pyo3::types::PyList::new(py, self.results())?.try_iter()
    }
    fn __getitem__(&self, index: isize) -> PyResult<PyCheckResult> {
        let n = self.results.len() as isize;
        let i = if index < 0 { index + n } else { index };
        if i < 0 || i >= n {
            return Err(pyo3::exceptions::PyIndexError::new_err(
                "result index out of range",
            ));
        }
        Ok(PyCheckResult {
            inner: self.results[i as usize].clone(),
        })
    }
    /// Results that passed.
    #[getter]
    fn passed(&self) -> u64 {
        self.summary().passed()
    }
    /// Per verdict, how many results have it.
    #[getter]
    fn counts(&self) -> BTreeMap<&'static str, u64> {
        self.summary()
            .counts()
            .map(|(v, n)| (v.as_str(), n))
            .collect()
    }
    /// Per task: `(samples verified, samples passed)`.
    #[getter]
    fn tasks(&self) -> BTreeMap<String, (u64, u64)> {
        self.summary()
            .tasks()
            .iter()
            .map(|(t, tally)| (t.clone(), (tally.n, tally.c)))
            .collect()
    }
    /// The unbiased pass@k, averaged over the tasks with at least `k` samples; None
    /// when no task has `k` samples.
    fn pass_at_k(&self, k: u64) -> Option<f64> {
        self.summary().pass_at(k).value
    }
    /// pass@k for each `k` of `ks`, as a dict.
    #[pyo3(signature = (ks=vec![1]))]
    fn pass_at(&self, ks: Vec<u64>) -> BTreeMap<u64, Option<f64>> {
        let summary = self.summary();
        ks.into_iter()
            .map(|k| (k, summary.pass_at(k).value))
            .collect()
    }
    /// The results as JSON Lines (a results file's text, in this order).
    fn to_jsonl(&self) -> String {
        let mut out = String::new();
        for r in &self.results {
            out.push_str(&to_json(r));
            out.push('\n');
        }
        out
    }
    /// Results from JSON Lines.
    #[classmethod]
    fn from_jsonl(_cls: &Bound<'_, PyType>, text: &str) -> PyResult<PyVerification> {
        let results = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .enumerate()
            .map(|(i, l)| de_from_str(l, &format!("line {}", i + 1)))
            .collect::<PyResult<_>>()?;
        Ok(PyVerification { results })
    }
    fn __repr__(&self) -> String {
        let s = self.summary();
        format!(
            "Verification({} results, {} passed)",
            self.results.len(),
            s.passed()
        )
    }
    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        let from = slf.get_type().getattr("from_jsonl")?;
        PyTuple::new(
            slf.py(),
            [
                from,
                PyTuple::new(slf.py(), [slf.get().to_jsonl()])?.into_any(),
            ],
        )
    }
}
