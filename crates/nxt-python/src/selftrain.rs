//! `nxt.selftrain`: the run store, the self-training loop driven by a Python sampler,
//! Python filters, and the fine-tuning exports.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Mutex;

use nxt_core::{ChatMessage, Completion, PromptInput, SampleRequest, Sampler};
use nxt_selftrain::filter::{Candidate, Filter};
use nxt_selftrain::{
    Checkpoint, ExportFormat, Next, Run, RunConfig, Slot, SlotAnswer, Split, Store,
};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::calls::{
    CallOptions, PYTHON_SPEC, PyEvalResult, SamplerArg, checked_spec, checkpoint_dict, run_call,
};
use crate::convert::{de_from_py, from_py, ser_to_py, to_py};
use crate::interrupt::Cancel;
use crate::types::{PyCheckResult, PyTask};

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub(crate) fn split_of(name: &str) -> PyResult<Split> {
    match name {
        "train" => Ok(Split::Train),
        "dev" => Ok(Split::Dev),
        other => Err(crate::errors::invalid(format!(
            "split {other:?}: expected \"train\" or \"dev\""
        ))),
    }
}

/// A request for `n` completions of one prompt, as a Python sampler receives it.
#[pyclass(module = "nxt", name = "SampleRequest", frozen)]
#[derive(Clone)]
pub(crate) struct PySampleRequest {
    inner: SampleRequest,
}

#[pymethods]
impl PySampleRequest {
    /// The task the prompt is about.
    #[getter]
    fn task_id(&self) -> &str {
        &self.inner.task_id
    }
    /// The chat messages (`{"role", "content"}` dicts) of a chat prompt, else None.
    #[getter]
    fn messages<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        match &self.inner.input {
            PromptInput::Chat(m) => ser_to_py(py, m).map(Some),
            PromptInput::Text(_) => Ok(None),
        }
    }
    /// The text of a text prompt, else None.
    #[getter]
    fn prompt(&self) -> Option<&str> {
        match &self.inner.input {
            PromptInput::Text(t) => Some(t),
            PromptInput::Chat(_) => None,
        }
    }
    /// How many completions to return (exactly this many).
    #[getter]
    fn n(&self) -> u32 {
        self.inner.n
    }
    #[getter]
    fn temperature(&self) -> Option<f64> {
        self.inner.temperature
    }
    #[getter]
    fn top_p(&self) -> Option<f64> {
        self.inner.top_p
    }
    #[getter]
    fn max_tokens(&self) -> Option<u32> {
        self.inner.max_tokens
    }
    #[getter]
    fn stop(&self) -> Vec<String> {
        self.inner.stop.clone()
    }
    #[getter]
    fn seed(&self) -> Option<u64> {
        self.inner.seed
    }
    /// The request as a dict (its JSON form).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        ser_to_py(py, &self.inner)
    }
    fn __repr__(&self) -> String {
        format!(
            "SampleRequest(task_id={:?}, n={})",
            self.inner.task_id, self.inner.n
        )
    }
}

/// The error of a Python sampler; the Python exception itself is kept aside and
/// becomes the `__cause__` of the `SamplerError` raised.
#[derive(Debug)]
pub(crate) struct PythonFailed(String);

impl std::fmt::Display for PythonFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PythonFailed {}

/// A Python sampler: a callable `f(request) -> list of completions`, or an object with
/// `sample_batch(requests) -> list of lists` (one call for a batch of requests, as an
/// offline vLLM engine wants). A completion is a `str`, a `(text, finish_reason)`
/// pair or a dict with `text` (and `finish_reason`).
pub(crate) struct PySampler<'a> {
    pub(crate) f: &'a Py<PyAny>,
    pub(crate) cancel: &'a Cancel,
    pub(crate) error: Mutex<Option<PyErr>>,
}

impl PySampler<'_> {
    fn fail(&self, e: PyErr) -> PythonFailed {
        let message = Python::attach(|py| {
            let v = e.value(py);
            format!(
                "{}: {}",
                v.get_type()
                    .name()
                    .map(|n| n.to_string())
                    .unwrap_or_default(),
                v
            )
        });
        lock(&self.error).get_or_insert(e);
        PythonFailed(message)
    }

    fn completions(list: &Bound<'_, PyAny>, n: u32, task_id: &str) -> PyResult<Vec<Completion>> {
        let mut out = Vec::new();
        for item in list.try_iter()? {
            let item = item?;
            let c = if let Ok(text) = item.extract::<String>() {
                Completion::new(text, None)
            } else if let Ok((text, reason)) = item.extract::<(String, Option<String>)>() {
                Completion::new(text, reason)
            } else if let Ok(d) = item.cast::<PyDict>() {
                let text: String = d
                    .get_item("text")?
                    .ok_or_else(|| crate::errors::invalid("a completion dict needs \"text\""))?
                    .extract()?;
                let reason: Option<String> = match d.get_item("finish_reason")? {
                    Some(r) => r.extract()?,
                    None => None,
                };
                Completion::new(text, reason)
            } else {
                return Err(crate::errors::invalid(format!(
                    "task {task_id:?}: a completion must be a str, a (text, finish_reason) \
                     pair or a dict with \"text\""
                )));
            };
            out.push(c);
        }
        if out.len() != n as usize {
            return Err(crate::errors::invalid(format!(
                "task {task_id:?}: asked for {n} completions, the sampler gave {}",
                out.len()
            )));
        }
        Ok(out)
    }
}

impl Sampler for PySampler<'_> {
    type Error = PythonFailed;

    fn sample(&self, request: &SampleRequest) -> Result<Vec<Completion>, PythonFailed> {
        if self.cancel.is_set() {
            return Err(PythonFailed("interrupted".into()));
        }
        Python::attach(|py| {
            let req = Py::new(
                py,
                PySampleRequest {
                    inner: request.clone(),
                },
            )?;
            let out = self.f.bind(py).call1((req,))?;
            Self::completions(&out, request.n, &request.task_id)
        })
        .map_err(|e| self.fail(e))
    }

    fn sample_all(&self, requests: &[SampleRequest]) -> Vec<Result<Vec<Completion>, PythonFailed>> {
        let batch = Python::attach(|py| self.f.bind(py).hasattr("sample_batch").unwrap_or(false));
        if !batch {
            return requests.iter().map(|r| self.sample(r)).collect();
        }
        if self.cancel.is_set() {
            return requests
                .iter()
                .map(|_| Err(PythonFailed("interrupted".into())))
                .collect();
        }
        Python::attach(|py| {
            let lists = (|| -> PyResult<Vec<Bound<'_, PyAny>>> {
                let reqs = requests
                    .iter()
                    .map(|r| Py::new(py, PySampleRequest { inner: r.clone() }))
                    .collect::<PyResult<Vec<_>>>()?;
                let out = self
                    .f
                    .bind(py)
                    .call_method1("sample_batch", (PyList::new(py, reqs)?,))?;
                let lists: Vec<Bound<'_, PyAny>> = out.try_iter()?.collect::<PyResult<_>>()?;
                if lists.len() != requests.len() {
                    return Err(crate::errors::invalid(format!(
                        "sample_batch got {} requests and gave {} answers",
                        requests.len(),
                        lists.len()
                    )));
                }
                Ok(lists)
            })();
            match lists {
                Err(e) => {
                    let failed = self.fail(e);
                    requests
                        .iter()
                        .map(|_| Err(PythonFailed(failed.0.clone())))
                        .collect()
                }
                Ok(lists) => lists
                    .iter()
                    .zip(requests)
                    .map(|(l, r)| Self::completions(l, r.n, &r.task_id).map_err(|e| self.fail(e)))
                    .collect(),
            }
        })
    }
}

/// One sampled answer, as a filter sees it.
#[pyclass(module = "nxt", name = "Candidate", frozen)]
pub(crate) struct PyCandidate {
    inner: Candidate,
}

#[pymethods]
impl PyCandidate {
    #[getter]
    fn task_id(&self) -> &str {
        &self.inner.task_id
    }
    /// Its index among the task's samples at its iteration.
    #[getter]
    fn index(&self) -> u32 {
        self.inner.index
    }
    /// The rationale read from the answer (None when it could not be read).
    #[getter]
    fn rationale(&self) -> Option<&str> {
        self.inner.rationale.as_deref()
    }
    /// The program read from the answer (None when it could not be read).
    #[getter]
    fn code(&self) -> Option<&str> {
        self.inner.code.as_deref()
    }
    /// The verdict on the program, when it was verified.
    #[getter]
    fn verdict(&self) -> Option<PyCheckResult> {
        self.inner
            .verdict
            .clone()
            .map(|inner| PyCheckResult { inner })
    }
    /// The prompt's text (a chat prompt's messages joined by blank lines).
    #[getter]
    fn prompt(&self) -> Option<&str> {
        self.inner.prompt.as_deref()
    }
    fn __repr__(&self) -> String {
        format!(
            "Candidate(task_id={:?}, index={})",
            self.inner.task_id, self.inner.index
        )
    }
}

/// A Python callable `f(candidate) -> bool` as a filter.
struct PyFilter<'py> {
    f: Bound<'py, PyAny>,
    name: String,
    error: Option<PyErr>,
}

impl Filter for PyFilter<'_> {
    fn name(&self) -> &str {
        &self.name
    }

    fn keep(&mut self, candidate: &Candidate) -> bool {
        if self.error.is_some() {
            return false;
        }
        let py = self.f.py();
        let result = Py::new(
            py,
            PyCandidate {
                inner: candidate.clone(),
            },
        )
        .and_then(|c| self.f.call1((c,)))
        .and_then(|r| r.is_truthy());
        match result {
            Ok(keep) => keep,
            Err(e) => {
                self.error = Some(e);
                false
            }
        }
    }
}

fn slot_dict<'py>(py: Python<'py>, slot: &Slot) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("iteration", slot.iteration)?;
    d.set_item("task_id", &slot.task_id)?;
    d.set_item("index", slot.index)?;
    Ok(d)
}

fn slot_of(obj: &Bound<'_, PyAny>) -> PyResult<Slot> {
    let get = |k: &str| -> PyResult<Bound<'_, PyAny>> {
        obj.get_item(k)
            .map_err(|_| crate::errors::invalid(format!("a slot needs {k:?}")))
    };
    Ok(Slot {
        iteration: get("iteration")?.extract()?,
        task_id: get("task_id")?.extract()?,
        index: get("index")?.extract()?,
    })
}

fn prompt_text(prompt: &PromptInput) -> String {
    match prompt {
        PromptInput::Chat(messages) => messages
            .iter()
            .map(|m| m.content.as_str())
            .collect::<Vec<_>>()
            .join("\n\n"),
        PromptInput::Text(text) => text.clone(),
    }
}

/// An answer read into its rationale and program, as the loop reads it.
fn read_answer(completion: Completion) -> SlotAnswer {
    match nxt_prompt::parse_response(&completion.text) {
        Ok(parsed) => SlotAnswer {
            rationale: Some(parsed.rationale),
            code: Some(parsed.code),
            parse_error: None,
            completion,
        },
        Err(e) => SlotAnswer {
            parse_error: Some(e.to_string()),
            ..SlotAnswer::unparsed(completion)
        },
    }
}

fn request_of(obj: &Bound<'_, PyAny>) -> PyResult<SampleRequest> {
    match obj.cast::<PySampleRequest>() {
        Ok(r) => Ok(r.get().inner.clone()),
        Err(_) => de_from_py(obj, "request"),
    }
}

/// The SQLite store of a self-training run: configuration, tasks, iterations,
/// prompts, samples (in slots planned before sampling), verdicts and exports.
#[pyclass(module = "nxt", name = "Store", frozen)]
pub(crate) struct PyStore {
    store: Mutex<Store>,
}

pub(crate) fn store_err(e: nxt_selftrain::Error) -> PyErr {
    crate::errors::selftrain(e)
}

#[pymethods]
impl PyStore {
    /// Creates a run's database at `path` (which must not exist) with `config` (any
    /// JSON-able dict).
    #[staticmethod]
    #[pyo3(signature = (path, config=None))]
    fn create(path: PathBuf, config: Option<&Bound<'_, PyAny>>) -> PyResult<PyStore> {
        let config = match config {
            Some(c) => from_py(c, "config")?,
            None => serde_json::json!({}),
        };
        Ok(PyStore {
            store: Mutex::new(Store::create(path, &config).map_err(store_err)?),
        })
    }

    /// Opens the database of an existing run.
    #[staticmethod]
    fn open(path: PathBuf) -> PyResult<PyStore> {
        Ok(PyStore {
            store: Mutex::new(Store::open(path).map_err(store_err)?),
        })
    }

    #[getter]
    fn path(&self) -> PathBuf {
        lock(&self.store).path().to_owned()
    }
    #[getter]
    fn run_id(&self) -> String {
        lock(&self.store).run_id().to_owned()
    }
    /// The run's configuration (JSON), as stored.
    #[getter]
    fn config<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let c = lock(&self.store).config().map_err(store_err)?;
        to_py(py, &c)
    }
    /// Adds tasks to a split (`train` or `dev`); returns how many were new.
    #[pyo3(signature = (split, tasks))]
    fn add_tasks(&self, split: &str, tasks: &Bound<'_, PyAny>) -> PyResult<usize> {
        let tasks = crate::verify::tasks_of(tasks)?;
        lock(&self.store)
            .add_tasks(split_of(split)?, &tasks)
            .map_err(store_err)
    }
    /// The tasks of a split.
    #[pyo3(signature = (split="train"))]
    fn tasks(&self, split: &str) -> PyResult<Vec<PyTask>> {
        let tasks = lock(&self.store)
            .tasks(split_of(split)?)
            .map_err(store_err)?;
        Ok(tasks.into_iter().map(|inner| PyTask { inner }).collect())
    }
    /// The iterations begun, as dicts (`iteration`, `checkpoint`, `started_at`,
    /// `finished_at`).
    fn iterations<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyDict>>> {
        let its = lock(&self.store).iterations().map_err(store_err)?;
        its.iter()
            .map(|it| {
                let d = PyDict::new(py);
                d.set_item("iteration", it.iteration)?;
                d.set_item("checkpoint", &it.checkpoint)?;
                d.set_item("started_at", it.started_at)?;
                d.set_item("finished_at", it.finished_at)?;
                Ok(d)
            })
            .collect()
    }
    /// Begins the next iteration; returns its number.
    #[pyo3(signature = (checkpoint=None))]
    fn begin_iteration(&self, checkpoint: Option<&str>) -> PyResult<u32> {
        lock(&self.store)
            .begin_iteration(checkpoint)
            .map_err(store_err)
    }
    /// Marks an iteration finished.
    fn finish_iteration(&self, iteration: u32) -> PyResult<()> {
        lock(&self.store)
            .finish_iteration(iteration)
            .map_err(store_err)
    }
    /// Plans `request.n` slots for a request (a dict: `task_id`, `input`
    /// (`{"chat": [...]}` or `{"text": ...}`), `n`, ...); returns the slots.
    #[pyo3(signature = (iteration, request, model, checkpoint=None))]
    fn plan<'py>(
        &self,
        py: Python<'py>,
        iteration: u32,
        request: &Bound<'py, PyAny>,
        model: &str,
        checkpoint: Option<&str>,
    ) -> PyResult<Vec<Bound<'py, PyDict>>> {
        let request = request_of(request)?;
        let slots = lock(&self.store)
            .plan(iteration, &request, model, checkpoint)
            .map_err(store_err)?;
        slots.iter().map(|s| slot_dict(py, s)).collect()
    }
    /// The empty slots of an iteration as `(request, slots)` pairs.
    fn pending<'py>(
        &self,
        py: Python<'py>,
        iteration: u32,
    ) -> PyResult<Vec<(PySampleRequest, Vec<Bound<'py, PyDict>>)>> {
        let pending = lock(&self.store).pending(iteration).map_err(store_err)?;
        pending
            .into_iter()
            .map(|p| {
                let slots = p
                    .slots
                    .iter()
                    .map(|s| slot_dict(py, s))
                    .collect::<PyResult<Vec<_>>>()?;
                Ok((PySampleRequest { inner: p.request }, slots))
            })
            .collect()
    }
    /// Fills slots with answers (one per slot, in one transaction); each answer is read
    /// into its rationale and program as the loop reads it.
    fn fill(&self, slots: Vec<Bound<'_, PyAny>>, answers: Vec<String>) -> PyResult<()> {
        if slots.len() != answers.len() {
            return Err(crate::errors::invalid(format!(
                "{} slots and {} answers",
                slots.len(),
                answers.len()
            )));
        }
        let slots = slots.iter().map(slot_of).collect::<PyResult<Vec<_>>>()?;
        let answers: Vec<SlotAnswer> = answers
            .into_iter()
            .map(|a| read_answer(Completion::new(a, None)))
            .collect();
        lock(&self.store).fill(&slots, &answers).map_err(store_err)
    }
    /// `(planned, filled)` slots of an iteration.
    fn progress(&self, iteration: u32) -> PyResult<(u64, u64)> {
        lock(&self.store).progress(iteration).map_err(store_err)
    }
    /// The samples of an iteration, as dicts: `task_id`, `index`, `model`, `answer`,
    /// `finish_reason`, `rationale`, `code`, `parse_error`, `prompt` (the prompt's text).
    fn samples<'py>(&self, py: Python<'py>, iteration: u32) -> PyResult<Vec<Bound<'py, PyDict>>> {
        let store = lock(&self.store);
        let samples = store.samples(iteration).map_err(store_err)?;
        let mut out = Vec::with_capacity(samples.len());
        for s in samples {
            let d = slot_dict(py, &s.slot)?;
            d.set_item("model", &s.model)?;
            d.set_item("checkpoint", &s.checkpoint)?;
            d.set_item("params", to_py(py, &s.params)?)?;
            let a = s.answer.as_ref();
            d.set_item("answer", a.map(|a| a.completion.text.clone()))?;
            d.set_item(
                "finish_reason",
                a.and_then(|a| a.completion.finish_reason.clone()),
            )?;
            d.set_item("rationale", a.and_then(|a| a.rationale.clone()))?;
            d.set_item("code", a.and_then(|a| a.code.clone()))?;
            d.set_item("parse_error", a.and_then(|a| a.parse_error.clone()))?;
            let prompt = store.prompt(&s.prompt_hash).map_err(store_err)?;
            d.set_item("prompt", prompt.as_ref().map(prompt_text))?;
            out.push(d);
        }
        Ok(out)
    }
    /// Records the verdict of a slot's program.
    fn record_verdict(
        &self,
        slot: &Bound<'_, PyAny>,
        result: &Bound<'_, PyCheckResult>,
    ) -> PyResult<()> {
        let slot = slot_of(slot)?;
        lock(&self.store)
            .record_verdict(&slot, &result.get().inner)
            .map_err(store_err)
    }
    /// The verdicts of an iteration as `(slot, CheckResult)` pairs.
    fn verdicts<'py>(
        &self,
        py: Python<'py>,
        iteration: u32,
    ) -> PyResult<Vec<(Bound<'py, PyDict>, PyCheckResult)>> {
        let v = lock(&self.store).verdicts(iteration).map_err(store_err)?;
        v.into_iter()
            .map(|(s, r)| Ok((slot_dict(py, &s)?, PyCheckResult { inner: r })))
            .collect()
    }
    /// The files exported from the run, as dicts.
    fn exports<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyDict>>> {
        let exports = lock(&self.store).exports().map_err(store_err)?;
        exports
            .iter()
            .map(|e| {
                let d = PyDict::new(py);
                d.set_item("iteration", e.iteration)?;
                d.set_item("kind", &e.kind)?;
                d.set_item("path", &e.path)?;
                d.set_item("count", e.count)?;
                d.set_item("created_at", e.created_at)?;
                Ok(d)
            })
            .collect()
    }
    /// The rows of a table as dicts, in key order (`nxt selftrain dump`'s records;
    /// the JSON columns `json` and `params` as values). Tables: `meta`, `config`,
    /// `tasks`, `iterations`, `checkpoints`, `prompts`, `samples`, `verdicts`,
    /// `evaluations`, `eval_samples`, `eval_verdicts`, `exports`.
    fn rows<'py>(&self, py: Python<'py>, table: &str) -> PyResult<Vec<Bound<'py, PyAny>>> {
        let mut bytes = Vec::new();
        py.detach(|| lock(&self.store).dump(table, &mut bytes))
            .map_err(store_err)?;
        let text = String::from_utf8_lossy(&bytes);
        text.lines()
            .map(|l| {
                to_py(
                    py,
                    &crate::convert::de_from_str::<serde_json::Value>(l, "row")?,
                )
            })
            .collect()
    }
    /// Writes a table to `path` as JSON Lines (atomically), as `nxt selftrain dump
    /// RUN.db TABLE --out PATH` does; returns how many rows were written.
    fn dump(&self, py: Python<'_>, table: &str, path: PathBuf) -> PyResult<u64> {
        let mut bytes = Vec::new();
        let n = py
            .detach(|| lock(&self.store).dump(table, &mut bytes))
            .map_err(store_err)?;
        crate::calls::write_atomically(&path, &bytes)?;
        Ok(n)
    }
    /// Checks the database's integrity (SQLite's and the run's own invariants).
    fn check_integrity(&self) -> PyResult<()> {
        lock(&self.store).check_integrity().map_err(store_err)
    }
}

fn export_format(name: &str) -> PyResult<ExportFormat> {
    match name {
        "chat" => Ok(ExportFormat::Chat),
        "completion" => Ok(ExportFormat::Completion),
        other => Err(crate::errors::invalid(format!(
            "format {other:?}: expected \"chat\" or \"completion\""
        ))),
    }
}

/// A fine-tuning record, as `Run::export_records` writes it.
fn record(prompt: &PromptInput, answer: &str, format: ExportFormat) -> serde_json::Value {
    use serde_json::json;
    match format {
        ExportFormat::Chat => {
            let mut messages: Vec<serde_json::Value> = match prompt {
                PromptInput::Chat(messages) => messages
                    .iter()
                    .map(|m: &ChatMessage| json!({"role": m.role, "content": m.content}))
                    .collect(),
                PromptInput::Text(text) => vec![json!({"role": "user", "content": text})],
            };
            messages.push(json!({"role": "assistant", "content": answer}));
            json!({ "messages": messages })
        }
        ExportFormat::Completion => json!({ "prompt": prompt_text(prompt), "completion": answer }),
    }
}

/// A self-training run (NExT's Algorithm 1) in its store: hard-problem selection,
/// then iterations of prompt, sample, parse, verify, filter; exports for fine-tuning.
#[pyclass(module = "nxt", name = "Run", frozen)]
pub(crate) struct PyRun {
    run: std::sync::Arc<Mutex<Run>>,
}

impl PyRun {
    /// The records of iterations `first..=iteration` that the run's filters and
    /// `filter` keep.
    fn records(
        &self,
        py: Python<'_>,
        iteration: u32,
        format: ExportFormat,
        accumulate: bool,
        filter: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Vec<serde_json::Value>> {
        let run = lock(&self.run);
        let Some(filter) = filter else {
            let lines = run
                .export_records(iteration, format, accumulate)
                .map_err(store_err)?;
            return lines
                .iter()
                .map(|l| crate::convert::de_from_str(l, "record"))
                .collect();
        };
        // Checks iteration 0 and unfinished iterations as the run does.
        run.export_records(iteration, format, accumulate)
            .map_err(store_err)?;
        let first = if accumulate { 1 } else { iteration };
        let mut out = Vec::new();
        for k in first..=iteration {
            let mut chain = run.config().filters();
            let name = filter
                .getattr("__name__")
                .and_then(|n| n.extract::<String>())
                .unwrap_or_else(|_| "python".into());
            let mut pyf = PyFilter {
                f: filter.clone(),
                name,
                error: None,
            };
            let candidates = run.candidates(k).map_err(store_err)?;
            let mut keep = HashSet::new();
            for c in candidates {
                if chain.keep(&c) && pyf.keep(&c) {
                    keep.insert((c.task_id, c.index));
                }
                if let Some(e) = pyf.error.take() {
                    return Err(e);
                }
            }
            let store = run.store();
            for s in store.samples(k).map_err(store_err)? {
                if !keep.contains(&(s.slot.task_id.clone(), s.slot.index)) {
                    continue;
                }
                let prompt = store
                    .prompt(&s.prompt_hash)
                    .map_err(store_err)?
                    .ok_or_else(|| crate::errors::invalid("a sample's prompt is missing"))?;
                let answer = s.answer.map(|a| a.completion.text).unwrap_or_default();
                out.push(record(&prompt, &answer, format));
            }
        }
        let _ = py;
        Ok(out)
    }
}

#[pymethods]
impl PyRun {
    /// Creates a run at `path` with its train (and dev) tasks and its configuration
    /// (the fields of `RunConfig`: `model`, `samples_per_task`, `selection_samples`,
    /// `hard_threshold`, `iterations`, `temperature`, `max_tokens`, `format`, `shots`,
    /// `trace`, `dedupe`, `cap_per_task`, `trace_consistency`, `sampler`).
    #[staticmethod]
    #[pyo3(signature = (path, train, dev=None, config=None))]
    fn init(
        py: Python<'_>,
        path: PathBuf,
        train: &Bound<'_, PyAny>,
        dev: Option<&Bound<'_, PyAny>>,
        config: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyRun> {
        let train = crate::verify::tasks_of(train)?;
        let dev = match dev {
            Some(d) if !d.is_none() => crate::verify::tasks_of(d)?,
            _ => Vec::new(),
        };
        let config: RunConfig = match config {
            Some(c) if !c.is_none() => de_from_py(c, "config")?,
            _ => RunConfig::default(),
        };
        let run = py
            .detach(|| Run::init(path, &config, &train, &dev))
            .map_err(store_err)?;
        Ok(PyRun {
            run: std::sync::Arc::new(Mutex::new(run)),
        })
    }

    /// Opens an existing run.
    #[staticmethod]
    fn open(path: PathBuf) -> PyResult<PyRun> {
        Ok(PyRun {
            run: std::sync::Arc::new(Mutex::new(Run::open(path).map_err(store_err)?)),
        })
    }

    /// The run's configuration, as a dict.
    #[getter]
    fn config<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        ser_to_py(py, lock(&self.run).config())
    }

    /// The path of the run's store (open it with `Store.open` to read it).
    #[getter]
    fn path(&self) -> PathBuf {
        lock(&self.run).store().path().to_owned()
    }

    /// What `step` does next: `"select"`, the number of an iteration, or `"done"`.
    fn next<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(match lock(&self.run).next().map_err(store_err)? {
            Next::Select => "select".into_pyobject(py)?.into_any(),
            Next::Iteration(k) => k.into_pyobject(py)?.into_any(),
            Next::Done => "done".into_pyobject(py)?.into_any(),
        })
    }

    /// The hard tasks' ids, once the selection is finished (else None).
    fn hard_tasks(&self) -> PyResult<Option<Vec<String>>> {
        lock(&self.run).hard_tasks().map_err(store_err)
    }

    /// Sets how many iterations the run has (not counting the selection).
    fn set_iterations(&self, iterations: u32) -> PyResult<()> {
        lock(&self.run)
            .set_iterations(iterations)
            .map_err(store_err)
    }

    /// Runs what comes next (the selection, or an iteration) to its end with
    /// `sampler`; continues an interrupted step without sampling again what is
    /// stored. `sampler` is a callable `f(request) -> [completion, ...]`, an object
    /// with `sample_batch(requests)`, a `replay:FILE`/`openai:URL` spec, or None: the
    /// model `next_checkpoint()` names (the base model's configured sampler, or the
    /// checkpoint of the previous iteration). `on_progress(message)` is called as it
    /// goes. Returns what the step did, as a dict.
    #[pyo3(signature = (sampler=None, *, jobs=None, on_progress=None, python=None))]
    fn step<'py>(
        &self,
        py: Python<'py>,
        sampler: Option<&Bound<'py, PyAny>>,
        jobs: Option<usize>,
        on_progress: Option<Py<PyAny>>,
        python: Option<PathBuf>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let checkpoint = lock(&self.run).next_checkpoint().map_err(store_err)?;
        let sampler = SamplerArg::of(sampler, &checkpoint)?;
        let options = CallOptions {
            jobs,
            on_progress,
            python,
        };
        let report = run_call(
            py,
            self.run.clone(),
            sampler,
            options,
            |run, tools, progress| {
                run.step_with(tools.sampler(), tools.tracer, tools.verifier(), progress)
            },
        )?;
        let d = PyDict::new(py);
        d.set_item("iteration", report.iteration)?;
        d.set_item("tasks", report.tasks)?;
        d.set_item("unprompted", report.unprompted)?;
        d.set_item("sampled", report.sampled)?;
        d.set_item("verified", report.verified)?;
        d.set_item("finished", report.finished)?;
        Ok(d)
    }

    /// The model the next `step` samples from, as a dict (`iteration`, `name`,
    /// `sampler`, `model`, `registered_at`): the base model (`base`, iteration 0) or
    /// the checkpoint registered for the previous iteration.
    fn next_checkpoint<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let c = lock(&self.run).next_checkpoint().map_err(store_err)?;
        checkpoint_dict(py, &c)
    }

    /// Registers the checkpoint trained on iteration `iteration`'s export (from 1):
    /// iteration `iteration + 1` samples from it and `evaluate(iteration)` asks it.
    /// `sampler` is how to ask it: `replay:FILE` (made absolute), `openai:BASE_URL`, or
    /// `"python"` for a model served by a Python callable (pass the callable to
    /// `step` and `evaluate`; the CLI cannot ask it). `name` defaults to
    /// `iteration-K`, `model` to the run's. Registering the same again is nothing;
    /// replacing one already sampled is refused. Returns the checkpoint as a dict.
    #[pyo3(signature = (iteration, sampler, *, name=None, model=None))]
    fn register_checkpoint<'py>(
        &self,
        py: Python<'py>,
        iteration: u32,
        sampler: &str,
        name: Option<String>,
        model: Option<String>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let spec = checked_spec(sampler)?;
        let mut run = lock(&self.run);
        let name = name.unwrap_or_else(|| format!("iteration-{iteration}"));
        let model = model.unwrap_or_else(|| run.config().model.clone());
        if spec == PYTHON_SPEC {
            // `Run::register_checkpoint` knows only the CLI's samplers.
            let mut store = Store::open(run.store().path()).map_err(store_err)?;
            store
                .register_checkpoint(&Checkpoint {
                    iteration,
                    name,
                    sampler: spec,
                    model,
                    registered_at: 0,
                })
                .map_err(store_err)?;
        } else {
            run.register_checkpoint(iteration, &name, &spec, &model)
                .map_err(store_err)?;
        }
        let c = run
            .checkpoint(iteration)
            .map_err(store_err)?
            .ok_or_else(|| crate::errors::invalid("the checkpoint just registered is missing"))?;
        checkpoint_dict(py, &c)
    }

    /// The checkpoint of an iteration as a dict (0: the base model), or None.
    fn checkpoint<'py>(
        &self,
        py: Python<'py>,
        iteration: u32,
    ) -> PyResult<Option<Bound<'py, PyDict>>> {
        let c = lock(&self.run).checkpoint(iteration).map_err(store_err)?;
        c.map(|c| checkpoint_dict(py, &c)).transpose()
    }

    /// The registered checkpoints (not the base model), by iteration.
    fn checkpoints<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyDict>>> {
        let cs = lock(&self.run).store().checkpoints().map_err(store_err)?;
        cs.iter().map(|c| checkpoint_dict(py, c)).collect()
    }

    /// Evaluates the checkpoint of `iteration` (0: the base model; k: the one
    /// registered for k, whose iteration must be finished) on the dev set: `samples`
    /// answers per dev task to the run's NExT prompt with traces, without, or both
    /// (`trace="both"|"with"|"without"`), every program verified in the sandbox.
    /// `sampler` answers (as in `step`; None: the checkpoint's registered sampler).
    /// Resumable like `step`: only empty slots are sampled, asking for more samples
    /// adds slots. Returns an `EvalResult` per mode, with traces first.
    #[pyo3(signature = (iteration, sampler=None, *, samples=25, trace="both", jobs=None, on_progress=None, python=None))]
    #[allow(clippy::too_many_arguments)]
    fn evaluate(
        &self,
        py: Python<'_>,
        iteration: u32,
        sampler: Option<&Bound<'_, PyAny>>,
        samples: u32,
        trace: &str,
        jobs: Option<usize>,
        on_progress: Option<Py<PyAny>>,
        python: Option<PathBuf>,
    ) -> PyResult<Vec<PyEvalResult>> {
        let modes: Vec<bool> = match trace {
            "both" => vec![true, false],
            "with" => vec![true],
            "without" => vec![false],
            other => {
                return Err(crate::errors::invalid(format!(
                    "trace {other:?}: expected \"both\", \"with\" or \"without\""
                )));
            }
        };
        let checkpoint = lock(&self.run)
            .checkpoint(iteration)
            .map_err(store_err)?
            .ok_or_else(|| {
                store_err(nxt_selftrain::Error::Config(format!(
                    "no checkpoint is registered for iteration {iteration}: register one \
                     with register_checkpoint"
                )))
            })?;
        let sampler = SamplerArg::of(sampler, &checkpoint)?;
        let options = CallOptions {
            jobs,
            on_progress,
            python,
        };
        let reports = run_call(
            py,
            self.run.clone(),
            sampler,
            options,
            move |run, tools, progress| {
                modes
                    .iter()
                    .map(|&trace| {
                        run.evaluate(
                            iteration,
                            trace,
                            samples,
                            tools.sampler(),
                            tools.tracer,
                            tools.verifier(),
                            progress,
                        )
                    })
                    .collect::<Result<Vec<_>, _>>()
            },
        )?;
        Ok(reports
            .into_iter()
            .map(|r| PyEvalResult {
                inner: r.result,
                unprompted: r.unprompted,
                sampled: r.sampled,
                verified: r.verified,
            })
            .collect())
    }

    /// Every dev-set evaluation with its fix rates, by iteration, without traces first.
    fn eval_results(&self) -> PyResult<Vec<PyEvalResult>> {
        let rs = lock(&self.run).eval_results().map_err(store_err)?;
        Ok(rs.into_iter().map(PyEvalResult::of).collect())
    }

    /// The iteration with the best dev-set fix rate and its pass@1, as
    /// `(iteration, pass_at_1)`: the highest pass@1 of the finished evaluations with
    /// traces (without, when none has traces), ties to the earlier; None before any.
    fn best_iteration(&self) -> PyResult<Option<(u32, f64)>> {
        lock(&self.run).best_iteration().map_err(store_err)
    }

    /// The run's report as `nxt selftrain report` prints it: per iteration the model
    /// sampled, problems, samples, passing, kept, flagged, the checkpoint evaluated
    /// and its dev pass@k with and without traces, the best iteration. With `html`,
    /// also writes the self-contained HTML page (table and SVG plot) there, atomically.
    #[pyo3(signature = (*, html=None))]
    fn report(&self, py: Python<'_>, html: Option<PathBuf>) -> PyResult<String> {
        let report = py.detach(|| lock(&self.run).report()).map_err(store_err)?;
        if let Some(path) = html {
            crate::calls::write_atomically(&path, report.html().as_bytes())?;
        }
        Ok(report.text())
    }

    /// The report as a self-contained HTML page (inline CSS, no script).
    fn report_html(&self, py: Python<'_>) -> PyResult<String> {
        let report = py.detach(|| lock(&self.run).report()).map_err(store_err)?;
        Ok(report.html())
    }

    /// The report's plot (pass@1 and pass@10 with and without traces per iteration)
    /// as an SVG document.
    fn report_svg(&self, py: Python<'_>) -> PyResult<String> {
        let report = py.detach(|| lock(&self.run).report()).map_err(store_err)?;
        Ok(report.svg())
    }

    /// Adds tasks to the train or dev set (train only before the selection begins);
    /// the same task again is nothing, a conflicting one an error. Returns how many
    /// were new.
    fn import_tasks(&self, split: &str, tasks: &Bound<'_, PyAny>) -> PyResult<usize> {
        let tasks = crate::verify::tasks_of(tasks)?;
        lock(&self.run)
            .import_tasks(split_of(split)?, &tasks)
            .map_err(store_err)
    }

    /// Imports samples made elsewhere into begun, unfinished iterations: a JSON Lines
    /// file (a path) or a list of dicts, in the form `Store.rows("samples")` gives
    /// (`iteration`, `task_id`, `idx`, `answer`, and for a new slot `prompt`, `model`,
    /// `checkpoint`, `params`). All or nothing; errors name the line (the record,
    /// from 1) and the field. Returns `(slots added, slots filled)`; the next `step`
    /// verifies them.
    fn import_samples(&self, py: Python<'_>, samples: &Bound<'_, PyAny>) -> PyResult<(u64, u64)> {
        let (bytes, name) = if let Ok(path) = samples.extract::<PathBuf>() {
            let bytes = std::fs::read(&path).map_err(|e| {
                crate::errors::data(nxt_data::DataError::Io {
                    path: path.clone(),
                    source: e,
                })
            })?;
            (bytes, path)
        } else {
            let mut bytes = Vec::new();
            for item in samples.try_iter()? {
                let v = from_py(&item?, "sample")?;
                bytes.extend_from_slice(v.to_string().as_bytes());
                bytes.push(b'\n');
            }
            (bytes, PathBuf::from("<samples>"))
        };
        let run = self.run.clone();
        py.detach(move || lock(&run).import_samples(std::io::Cursor::new(bytes), &name))
            .map_err(|e| match e {
                e @ nxt_selftrain::Error::Replay { .. } => crate::errors::invalid(e.to_string()),
                e => store_err(e),
            })
    }

    /// Where the run stands, as a dict (`str(...)` of it is `status_text()`).
    fn status<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = lock(&self.run).status().map_err(store_err)?;
        let d = PyDict::new(py);
        d.set_item("config", ser_to_py(py, &s.config)?)?;
        d.set_item("tasks", s.tasks)?;
        d.set_item("hard", s.hard)?;
        let its = PyList::empty(py);
        for it in &s.iterations {
            let i = PyDict::new(py);
            i.set_item("iteration", it.iteration)?;
            i.set_item("finished", it.finished)?;
            i.set_item("planned", it.planned)?;
            i.set_item("filled", it.filled)?;
            i.set_item("parsed", it.parsed)?;
            i.set_item("verified", it.verified)?;
            i.set_item("passed", it.passed)?;
            i.set_item("kept", it.kept)?;
            i.set_item("rejected", it.rejected.clone())?;
            its.append(i)?;
        }
        d.set_item("iterations", its)?;
        let next = match s.next {
            Next::Select => "select".into_pyobject(py)?.into_any(),
            Next::Iteration(k) => k.into_pyobject(py)?.into_any(),
            Next::Done => "done".into_pyobject(py)?.into_any(),
        };
        d.set_item("next", next)?;
        Ok(d)
    }

    /// Where the run stands, as `nxt selftrain status` prints it.
    fn status_text(&self) -> PyResult<String> {
        Ok(lock(&self.run).status().map_err(store_err)?.to_string())
    }

    /// The candidates of an iteration (filled slots, by task then index).
    fn candidates(&self, iteration: u32) -> PyResult<Vec<PyCandidate>> {
        let c = lock(&self.run).candidates(iteration).map_err(store_err)?;
        Ok(c.into_iter().map(|inner| PyCandidate { inner }).collect())
    }

    /// The fine-tuning records of an iteration (from 1), or of iterations 1 to
    /// `iteration` with `accumulate`, as dicts: `{"messages": [...]}` (`chat`) or
    /// `{"prompt", "completion"}` (`completion`). `filter(candidate) -> bool` drops
    /// more samples, after the run's own filters.
    #[pyo3(signature = (iteration, *, format="chat", accumulate=false, filter=None))]
    fn export_records<'py>(
        &self,
        py: Python<'py>,
        iteration: u32,
        format: &str,
        accumulate: bool,
        filter: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Vec<Bound<'py, PyAny>>> {
        let records = self.records(py, iteration, export_format(format)?, accumulate, filter)?;
        records.iter().map(|r| to_py(py, r)).collect()
    }

    /// Writes the records of `export_records` to `path` as JSON Lines (atomically)
    /// and records the export in the store; returns how many were written.
    #[pyo3(signature = (iteration, path, *, format="chat", accumulate=false, filter=None))]
    fn export(
        &self,
        py: Python<'_>,
        iteration: u32,
        path: PathBuf,
        format: &str,
        accumulate: bool,
        filter: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<u64> {
        let format = export_format(format)?;
        if filter.is_none() {
            return py
                .detach(|| lock(&self.run).export(iteration, format, accumulate, &path))
                .map_err(store_err);
        }
        let records = self.records(py, iteration, format, accumulate, filter)?;
        nxt_data::write_jsonl(&path, &records).map_err(crate::errors::data)?;
        let bytes = std::fs::read(&path)
            .map_err(|e| crate::errors::invalid(format!("{}: {e}", path.display())))?;
        let sha = nxt_data_sha(&bytes);
        let kind = format!(
            "{}{}+filter",
            match format {
                ExportFormat::Chat => "chat",
                ExportFormat::Completion => "completion",
            },
            if accumulate { "-accumulated" } else { "" }
        );
        let store_path = lock(&self.run).store().path().to_owned();
        let mut store = Store::open(store_path).map_err(store_err)?;
        store
            .record_export(
                Some(iteration),
                &kind,
                &path.to_string_lossy(),
                records.len() as u64,
                &sha,
            )
            .map_err(store_err)?;
        Ok(records.len() as u64)
    }
}

fn nxt_data_sha(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
