//! `nxt.Prompter`, `nxt.Prompt` and `nxt.parse_response`.

use std::path::PathBuf;

use nxt_core::{RenderOptions, TraceOptions};
use nxt_prompt::{Format, OnPassing, PromptBuilder, Prompter, TokenCounter, TraceTests};
use pyo3::prelude::*;
use pyo3::types::{PyTuple, PyType};

use crate::convert::{de_from_str, ser_to_py};
use crate::guard::Guard;
use crate::interrupt::interruptible;
use crate::types::task_of;

/// A NExT repair prompt for one task.
#[pyclass(module = "nxt", name = "Prompt", frozen, eq)]
#[derive(Clone, PartialEq)]
pub(crate) struct PyPrompt {
    inner: nxt_prompt::Prompt,
}

#[pymethods]
impl PyPrompt {
    #[getter]
    fn task_id(&self) -> &str {
        &self.inner.task_id
    }
    /// The text of a text prompt (None for a chat prompt).
    #[getter]
    fn text(&self) -> Option<&str> {
        self.inner.text()
    }
    /// The messages of a chat prompt, as `{"role", "content"}` dicts (None for a text
    /// prompt).
    #[getter]
    fn messages<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.inner.messages().map(|m| ser_to_py(py, &m)).transpose()
    }
    /// Tokens of the prompt, as counted by `tokenizer`.
    #[getter]
    fn tokens(&self) -> usize {
        self.inner.tokens
    }
    /// What counted the tokens: a tokenizer file's path, or `estimate`.
    #[getter]
    fn tokenizer(&self) -> &str {
        &self.inner.tokenizer
    }
    /// The budget ladder's steps taken: `lowered_keep_first`,
    /// `halved_max_value_chars`, `dropped_lines`.
    #[getter]
    fn budget_actions<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        ser_to_py(py, &self.inner.budget_actions)
    }
    /// The traces shown, as dicts (`test_index`, `status`, `ending`, ...).
    #[getter]
    fn traces<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        ser_to_py(py, &self.inner.traces)
    }
    /// The prompt as a dict (one line of a prompts JSONL file).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        ser_to_py(py, &self.inner)
    }
    /// The prompt as one line of JSON.
    fn to_json(&self) -> String {
        self.inner.to_json()
    }
    /// A prompt read from its JSON.
    #[classmethod]
    fn from_json(_cls: &Bound<'_, PyType>, text: &str) -> PyResult<PyPrompt> {
        Ok(PyPrompt {
            inner: de_from_str(text, "prompt")?,
        })
    }
    fn __repr__(&self) -> String {
        format!(
            "Prompt(task_id={:?}, tokens={})",
            self.inner.task_id, self.inner.tokens
        )
    }
    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        let from = slf.get_type().getattr("from_json")?;
        PyTuple::new(
            slf.py(),
            [
                from,
                PyTuple::new(slf.py(), [slf.get().to_json()])?.into_any(),
            ],
        )
    }
}

/// Builds NExT repair prompts: verifies a task's program to find its first failing
/// test, traces the program on it, writes the trace into the code and assembles the
/// prompt (text or chat, 0-3 exemplars, within a token budget).
#[pyclass(module = "nxt", name = "Prompter", frozen)]
pub(crate) struct PyPrompter {
    prompter: std::sync::Arc<Prompter>,
    workers: usize,
    python: Option<PathBuf>,
}

#[pymethods]
impl PyPrompter {
    #[new]
    #[pyo3(signature = (*, shots=0, trace=true, format="text", max_tokens=None, tokenizer=None, template_dir=None, trace_tests="first_failing", on_passing="trace_first", keep_first=2, keep_last=1, max_value_chars=100, trace_timeout=2.0, verify_timeout=3.0, jobs=None, python=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        shots: usize,
        trace: bool,
        format: &str,
        max_tokens: Option<usize>,
        tokenizer: Option<PathBuf>,
        template_dir: Option<PathBuf>,
        trace_tests: &str,
        on_passing: &str,
        keep_first: usize,
        keep_last: usize,
        max_value_chars: usize,
        trace_timeout: f64,
        verify_timeout: f64,
        jobs: Option<usize>,
        python: Option<PathBuf>,
    ) -> PyResult<PyPrompter> {
        let mut b = PromptBuilder::new();
        b.shots(shots)
            .trace(trace)
            .format(match format {
                "text" => Format::Text,
                "chat" => Format::Chat,
                other => {
                    return Err(crate::errors::invalid(format!(
                        "format {other:?}: expected \"text\" or \"chat\""
                    )));
                }
            })
            .max_prompt_tokens(max_tokens)
            .trace_tests(match trace_tests {
                "first_failing" => TraceTests::FirstFailing,
                "all" => TraceTests::All,
                other => {
                    return Err(crate::errors::invalid(format!(
                        "trace_tests {other:?}: expected \"first_failing\" or \"all\""
                    )));
                }
            })
            .on_passing(match on_passing {
                "trace_first" => OnPassing::TraceFirst,
                "fail" => OnPassing::Fail,
                other => {
                    return Err(crate::errors::invalid(format!(
                        "on_passing {other:?}: expected \"trace_first\" or \"fail\""
                    )));
                }
            })
            .render_options(RenderOptions {
                keep_first,
                keep_last,
                max_value_chars,
            })
            .trace_options(TraceOptions {
                timeout: trace_timeout,
                ..TraceOptions::default()
            })
            .verify_options(crate::verify::verify_options(
                verify_timeout,
                Some(4 << 30),
                false,
                2048,
            )?);
        if let Some(dir) = template_dir {
            b.template_dir(dir);
        }
        if let Some(path) = tokenizer {
            b.token_counter(TokenCounter::from_file(path).map_err(crate::errors::prompt)?);
        }
        let prompter = b.build().map_err(crate::errors::prompt)?;
        Ok(PyPrompter {
            prompter: std::sync::Arc::new(prompter),
            workers: crate::engines::workers(jobs),
            python,
        })
    }

    /// The prompt for one task (a `Task` or a dict).
    fn prompt(&self, py: Python<'_>, task: &Bound<'_, PyAny>) -> PyResult<PyPrompt> {
        let task = task_of(task)?;
        let mut all = self.run(py, vec![task])?;
        all.pop()
            .expect("one result per task")
            .map(|inner| PyPrompt { inner })
            .map_err(crate::errors::prompt)
    }

    /// The prompts for many tasks, in order, verified and traced on all workers. A
    /// task that gets no prompt raises its `PromptError`, or with
    /// `return_exceptions=True` has the exception in its place.
    #[pyo3(signature = (tasks, *, return_exceptions=false))]
    fn prompt_all(
        &self,
        py: Python<'_>,
        tasks: &Bound<'_, PyAny>,
        return_exceptions: bool,
    ) -> PyResult<Vec<Py<PyAny>>> {
        let tasks = crate::verify::tasks_of(tasks)?;
        let results = self.run(py, tasks)?;
        let mut out = Vec::with_capacity(results.len());
        for r in results {
            match r {
                Ok(inner) => out.push(Py::new(py, PyPrompt { inner })?.into_any()),
                Err(e) => {
                    let err = crate::errors::prompt(e);
                    if !return_exceptions {
                        return Err(err);
                    }
                    out.push(err.into_value(py).into_any());
                }
            }
        }
        Ok(out)
    }
}

impl PyPrompter {
    fn run(
        &self,
        py: Python<'_>,
        tasks: Vec<nxt_core::Task>,
    ) -> PyResult<Vec<Result<nxt_prompt::Prompt, nxt_prompt::PromptError>>> {
        let workers = self.workers.min(tasks.len().max(1));
        let python = self.python.clone();
        let prompter = self.prompter.clone();
        interruptible(py, move |cancel| {
            let tracer = crate::engines::tracer(python.clone(), workers)?;
            let verifier = crate::engines::verifier(python, workers)?;
            let batch = workers * 4;
            let tracer = Guard {
                inner: &*tracer,
                cancel,
                batch,
            };
            let verifier = Guard {
                inner: &*verifier,
                cancel,
                batch,
            };
            Ok(prompter.prompt_all(&tasks, &tracer, &verifier))
        })?
    }
}

/// A model's answer split into its rationale and its program.
#[pyclass(module = "nxt", name = "Parsed", frozen, eq)]
#[derive(Clone, PartialEq)]
pub(crate) struct PyParsed {
    inner: nxt_prompt::Parsed,
}

#[pymethods]
impl PyParsed {
    /// The text before the code, trimmed.
    #[getter]
    fn rationale(&self) -> &str {
        &self.inner.rationale
    }
    /// The program, ending with one newline.
    #[getter]
    fn code(&self) -> &str {
        &self.inner.code
    }
    /// Where the code was found: `python_block`, `other_block` or `bare`.
    #[getter]
    fn source<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        ser_to_py(py, &self.inner.source)
    }
    fn __repr__(&self) -> String {
        format!("Parsed(code={:?})", self.inner.code)
    }
}

/// Splits a model's answer into its rationale and its program (`docs/prompts.md`).
/// Raises `NoCode` or `CodeDoesNotParse` (both `ParseError`, a `ValueError`).
#[pyfunction]
pub(crate) fn parse_response(text: &str) -> PyResult<PyParsed> {
    nxt_prompt::parse_response(text)
        .map(|inner| PyParsed { inner })
        .map_err(crate::errors::parse)
}

/// The program traced for test block `test_index` of `task`: its code, a blank line,
/// the setup and the test block.
#[pyfunction]
pub(crate) fn traced_program(task: &Bound<'_, PyAny>, test_index: usize) -> PyResult<String> {
    let task = task_of(task)?;
    if test_index >= task.tests.len() {
        return Err(crate::errors::invalid(format!(
            "{}: there is no tests[{test_index}] (the task has {} tests)",
            task.task_id,
            task.tests.len()
        )));
    }
    Ok(nxt_prompt::traced_program(&task, test_index).source)
}
