//! `nxt.trace`, `nxt.trace_many`, `nxt.render` and the `Trace` and `Step` classes.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use nxt_core::{Event, Program, RenderOptions, Trace, TraceOptions, Tracer};
use nxt_inline::Layout;
use nxt_inline::formats::Format;
use pyo3::prelude::*;
use pyo3::types::{PyTuple, PyType};

use crate::convert::{de_from_str, ser_to_py};
use crate::engines::Engine;
use crate::interrupt::interruptible;

fn event_name(e: Event) -> &'static str {
    match e {
        Event::Call => "call",
        Event::Line => "line",
        Event::Return => "return",
        Event::Yield => "yield",
        Event::Exception => "exception",
    }
}

/// One step of a trace: the changes one statement made in one frame, or a call,
/// return, yield or exception there.
#[pyclass(module = "nxt", name = "Step", frozen, eq)]
#[derive(Clone, PartialEq)]
pub(crate) struct PyStep {
    line: u32,
    event: &'static str,
    frame: u32,
    vars: Vec<(String, String)>,
}

#[pymethods]
impl PyStep {
    /// The 1-based source line.
    #[getter]
    fn line(&self) -> u32 {
        self.line
    }
    /// `call`, `line`, `return`, `yield` or `exception`.
    #[getter]
    fn event(&self) -> &'static str {
        self.event
    }
    /// The frame, numbered in order of appearance (the module is 0).
    #[getter]
    fn frame(&self) -> u32 {
        self.frame
    }
    /// `(name, rendered value)` pairs; `__return__`, `__yield__` and `__exception__`
    /// come last. A deleted variable's value is `<deleted>`.
    #[getter]
    fn vars(&self) -> Vec<(String, String)> {
        self.vars.clone()
    }
    fn __repr__(&self) -> String {
        format!(
            "Step(line={}, event={:?}, frame={}, vars={:?})",
            self.line, self.event, self.frame, self.vars
        )
    }
    /// Restores a pickled step.
    #[classmethod]
    fn _restore(
        _cls: &Bound<'_, PyType>,
        line: u32,
        event: &str,
        frame: u32,
        vars: Vec<(String, String)>,
    ) -> PyResult<PyStep> {
        let event = ["call", "line", "return", "yield", "exception"]
            .into_iter()
            .find(|e| *e == event)
            .ok_or_else(|| crate::errors::invalid(format!("unknown event {event:?}")))?;
        Ok(PyStep {
            line,
            event,
            frame,
            vars,
        })
    }
    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        let me = slf.get();
        let from = slf.get_type().getattr("_restore")?;
        let args = (me.line, me.event, me.frame, me.vars.clone()).into_pyobject(slf.py())?;
        PyTuple::new(slf.py(), [from, args.into_any()])
    }
}

fn format_of(name: &str) -> PyResult<Format> {
    name.parse::<Format>()
        .map_err(|e| crate::errors::invalid(e.to_string()))
}

fn render_options(keep_first: usize, keep_last: usize, max_value_chars: usize) -> RenderOptions {
    RenderOptions {
        keep_first,
        keep_last,
        max_value_chars,
    }
}

/// Writes `trace` into `source` in `format`, within `max_tokens` estimated tokens when
/// given (NExT format only).
fn render_text(
    name: &str,
    source: &str,
    trace: &Trace,
    options: &RenderOptions,
    format: Format,
    max_tokens: Option<usize>,
) -> PyResult<String> {
    let layout = Layout::new(source).map_err(|e| crate::errors::inline(e, name, source))?;
    let result = match (format, max_tokens) {
        (Format::Next, Some(max)) => layout
            .render_within(trace, options, max, nxt_prompt::estimate_tokens)
            .map(|(r, _)| r.text),
        (_, Some(_)) => {
            return Err(crate::errors::invalid(
                "max_tokens applies to the `next` format only",
            ));
        }
        (format, None) => format.render_layout(&layout, trace, options),
    };
    result.map_err(|e| crate::errors::inline(e, name, source))
}

/// A captured trace of a program, with the program's source, ready to render.
#[pyclass(module = "nxt", name = "Trace", frozen, eq)]
#[derive(Clone, PartialEq)]
pub(crate) struct PyTrace {
    pub(crate) trace: Trace,
    pub(crate) source: String,
    pub(crate) name: String,
    pub(crate) options: RenderOptions,
}

#[pymethods]
impl PyTrace {
    /// A trace read from its JSON (`docs/trace-json.md`), for `source`.
    #[classmethod]
    #[pyo3(signature = (json, source, *, name="<string>", keep_first=2, keep_last=1, max_value_chars=100))]
    fn from_json(
        _cls: &Bound<'_, PyType>,
        json: &str,
        source: String,
        name: &str,
        keep_first: usize,
        keep_last: usize,
        max_value_chars: usize,
    ) -> PyResult<PyTrace> {
        let trace = Trace::from_json(json).map_err(crate::errors::trace_json)?;
        Ok(PyTrace {
            trace,
            source,
            name: name.to_owned(),
            options: render_options(keep_first, keep_last, max_value_chars),
        })
    }

    /// The program's source, as traced.
    #[getter]
    fn source(&self) -> &str {
        &self.source
    }
    /// The program's name (in messages).
    #[getter]
    fn name(&self) -> &str {
        &self.name
    }
    /// The interpreter that ran it, e.g. `CPython 3.11.7`.
    #[getter]
    fn interpreter(&self) -> &str {
        &self.trace.interpreter
    }
    /// The steps, in order.
    #[getter]
    fn steps(&self) -> Vec<PyStep> {
        self.trace
            .steps
            .iter()
            .map(|s| PyStep {
                line: s.line,
                event: event_name(s.event),
                frame: s.frame,
                vars: s
                    .vars
                    .iter()
                    .map(|v| (v.name.clone(), v.value.to_string()))
                    .collect(),
            })
            .collect()
    }
    /// Why recording ended, as in the JSON: `{"kind": "complete"}`,
    /// `{"kind": "step_limit", "max_steps": N}`, `{"kind": "time_limit", "seconds": S}`,
    /// `{"kind": "memory_limit"}`, `{"kind": "tracer_error", "message": M}`.
    #[getter]
    fn ending<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        ser_to_py(py, &self.trace.ending)
    }
    /// Whether the program ran to its end with every step recorded.
    #[getter]
    fn complete(&self) -> bool {
        self.trace.is_complete()
    }
    /// The uncaught exception the program ended with, e.g. `AssertionError()`.
    #[getter]
    fn exception(&self) -> Option<&str> {
        self.trace.exception.as_deref()
    }
    fn __len__(&self) -> usize {
        self.trace.steps.len()
    }

    /// The program with the trace as inline comments (or, with `format`, as a
    /// SemCoder-style scratchpad or an LDB-style listing). Options not given are those
    /// the trace was captured with; `max_tokens` shortens the rendering by the
    /// spec's ladder until its estimated tokens fit.
    #[pyo3(signature = (*, keep_first=None, keep_last=None, max_value_chars=None, format="next", max_tokens=None))]
    fn render(
        &self,
        py: Python<'_>,
        keep_first: Option<usize>,
        keep_last: Option<usize>,
        max_value_chars: Option<usize>,
        format: &str,
        max_tokens: Option<usize>,
    ) -> PyResult<String> {
        let options = RenderOptions {
            keep_first: keep_first.unwrap_or(self.options.keep_first),
            keep_last: keep_last.unwrap_or(self.options.keep_last),
            max_value_chars: max_value_chars.unwrap_or(self.options.max_value_chars),
        };
        let format = format_of(format)?;
        py.detach(|| {
            render_text(
                &self.name,
                &self.source,
                &self.trace,
                &options,
                format,
                max_tokens,
            )
        })
    }

    /// The trace as JSON (`docs/trace-json.md`), without the source.
    #[pyo3(signature = (*, pretty=false))]
    fn to_json(&self, pretty: bool) -> String {
        if pretty {
            self.trace.to_json_pretty()
        } else {
            self.trace.to_json()
        }
    }

    fn __str__(&self, py: Python<'_>) -> PyResult<String> {
        self.render(py, None, None, None, "next", None)
    }

    fn __repr__(&self) -> String {
        format!(
            "Trace(name={:?}, steps={}, ending={:?})",
            self.name,
            self.trace.steps.len(),
            serde_json::to_value(&self.trace.ending)
                .ok()
                .and_then(|v| v.get("kind").and_then(|k| k.as_str()).map(str::to_owned))
                .unwrap_or_default()
        )
    }

    /// Restores a pickled trace.
    #[classmethod]
    fn _from_state(_cls: &Bound<'_, PyType>, state: &str) -> PyResult<PyTrace> {
        #[derive(serde::Deserialize)]
        struct State {
            trace: serde_json::Value,
            source: String,
            name: String,
            options: RenderOptions,
        }
        let s: State = de_from_str(state, "trace state")?;
        let trace = Trace::from_json(&s.trace.to_string()).map_err(crate::errors::trace_json)?;
        Ok(PyTrace {
            trace,
            source: s.source,
            name: s.name,
            options: s.options,
        })
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        let me = slf.get();
        let state = serde_json::json!({
            "trace": serde_json::to_value(&me.trace).expect("a trace serializes"),
            "source": me.source,
            "name": me.name,
            "options": me.options,
        })
        .to_string();
        let from = slf.get_type().getattr("_from_state")?;
        PyTuple::new(
            slf.py(),
            [from, PyTuple::new(slf.py(), [state])?.into_any()],
        )
    }
}

/// The tracer of a `trace_many` call.
enum Tracing {
    CPython(std::sync::Arc<nxt_trace::CPythonTracer>),
    RustPython(Box<nxt_rustpython::RustPythonTracer>),
}

/// Why a program gave no trace, by engine.
enum Failed {
    CPython(nxt_trace::TraceError),
    RustPython(nxt_rustpython::EngineError),
}

impl Failed {
    fn into_py_err(self, source: &str) -> PyErr {
        match self {
            Failed::CPython(e) => crate::errors::trace(e, Some(source)),
            Failed::RustPython(e) => crate::errors::engine(e, Some(source)),
        }
    }
}

impl Tracing {
    fn trace(&self, program: &Program, options: &TraceOptions) -> Result<Trace, Failed> {
        match self {
            Tracing::CPython(t) => t.trace(program, options).map_err(Failed::CPython),
            Tracing::RustPython(t) => t.trace(program, options).map_err(Failed::RustPython),
        }
    }
}

fn trace_options(
    max_steps: u64,
    timeout: f64,
    memory_limit: Option<u64>,
    value_capture_chars: u64,
) -> PyResult<TraceOptions> {
    if !(timeout.is_finite() && timeout > 0.0) {
        return Err(crate::errors::invalid(format!(
            "timeout must be a positive number of seconds, not {timeout}"
        )));
    }
    Ok(TraceOptions {
        max_steps,
        timeout,
        memory_limit,
        value_capture_chars,
    })
}

/// Runs `source` under CPython in the sandbox and records its trace.
///
/// A program that fails, loops or eats memory still gives a trace (see
/// `Trace.ending`); a program that does not compile raises `SyntaxErrorInProgram`.
#[pyfunction]
#[pyo3(signature = (source, *, name="<string>", keep_first=2, keep_last=1, max_value_chars=100, max_steps=10_000, timeout=2.0, memory_limit=Some(2 << 30), value_capture_chars=8192, python=None, engine="cpython", worker=None))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn trace(
    py: Python<'_>,
    source: String,
    name: &str,
    keep_first: usize,
    keep_last: usize,
    max_value_chars: usize,
    max_steps: u64,
    timeout: f64,
    memory_limit: Option<u64>,
    value_capture_chars: u64,
    python: Option<PathBuf>,
    engine: &str,
    worker: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyTrace> {
    let options = trace_options(max_steps, timeout, memory_limit, value_capture_chars)?;
    let engine = Engine::of(engine, worker)?;
    let program = Program::new(name.to_owned(), source);
    let (trace, program) = interruptible(py, move |_| {
        let traced = match engine {
            Engine::CPython => crate::engines::any_tracer(python).and_then(|tracer| {
                tracer
                    .trace(&program, &options)
                    .map_err(|e| crate::errors::trace(e, Some(&program.source)))
            }),
            Engine::RustPython(worker) => {
                crate::engines::rustpython_tracer(&worker, 1).and_then(|tracer| {
                    tracer
                        .trace(&program, &options)
                        .map_err(|e| crate::errors::engine(e, Some(&program.source)))
                })
            }
        };
        (traced, program)
    })?;
    let trace = trace?;
    Ok(PyTrace {
        trace,
        source: program.source,
        name: program.name,
        options: render_options(keep_first, keep_last, max_value_chars),
    })
}

/// Traces many programs on `jobs` workers at once (by default, one per CPU); results
/// keep the input order. `sources` holds source texts or `(name, source)` pairs. A
/// program that gives no trace raises its error, or with `return_exceptions=True`
/// puts the exception in its place in the list.
#[pyfunction]
#[pyo3(signature = (sources, *, jobs=None, return_exceptions=false, keep_first=2, keep_last=1, max_value_chars=100, max_steps=10_000, timeout=2.0, memory_limit=Some(2 << 30), value_capture_chars=8192, python=None, engine="cpython", worker=None))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn trace_many(
    py: Python<'_>,
    sources: Vec<Bound<'_, PyAny>>,
    jobs: Option<usize>,
    return_exceptions: bool,
    keep_first: usize,
    keep_last: usize,
    max_value_chars: usize,
    max_steps: u64,
    timeout: f64,
    memory_limit: Option<u64>,
    value_capture_chars: u64,
    python: Option<PathBuf>,
    engine: &str,
    worker: Option<&Bound<'_, PyAny>>,
) -> PyResult<Vec<Py<PyAny>>> {
    let options = trace_options(max_steps, timeout, memory_limit, value_capture_chars)?;
    let engine = Engine::of(engine, worker)?;
    let programs: Vec<Program> = sources
        .iter()
        .enumerate()
        .map(|(i, s)| {
            if let Ok(text) = s.extract::<String>() {
                Ok(Program::new(format!("<string {i}>"), text))
            } else {
                let (name, text): (String, String) = s.extract().map_err(|_| {
                    crate::errors::invalid(format!(
                        "sources[{i}]: expected a source text or a (name, source) pair"
                    ))
                })?;
                Ok(Program::new(name, text))
            }
        })
        .collect::<PyResult<_>>()?;
    let workers = crate::engines::workers(jobs).min(programs.len().max(1));
    type Traced = Vec<Option<Result<Trace, Failed>>>;
    let (programs, results) = interruptible(py, move |cancel| {
        let built = match engine {
            Engine::CPython => crate::engines::tracer(python, workers).map(Tracing::CPython),
            Engine::RustPython(worker) => crate::engines::rustpython_tracer(&worker, workers)
                .map(|t| Tracing::RustPython(Box::new(t))),
        };
        let tracer = match built {
            Ok(t) => t,
            Err(e) => return (programs, Err(e)),
        };
        let next = AtomicUsize::new(0);
        let mut out: Traced = (0..programs.len()).map(|_| None).collect();
        let done: Vec<Vec<(usize, Result<Trace, Failed>)>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..workers)
                .map(|_| {
                    s.spawn(|| {
                        let mut mine = Vec::new();
                        while !cancel.is_set() {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            let Some(p) = programs.get(i) else { break };
                            mine.push((i, tracer.trace(p, &options)));
                        }
                        mine
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_default())
                .collect()
        });
        for (i, r) in done.into_iter().flatten() {
            out[i] = Some(r);
        }
        (programs, PyResult::Ok(out))
    })?;
    let results = results?;
    let render = render_options(keep_first, keep_last, max_value_chars);
    let mut out = Vec::with_capacity(results.len());
    for (program, result) in programs.into_iter().zip(results) {
        let Some(result) = result else {
            return Err(crate::errors::invalid("tracing was interrupted"));
        };
        match result {
            Ok(trace) => out.push(
                Py::new(
                    py,
                    PyTrace {
                        trace,
                        source: program.source,
                        name: program.name,
                        options: render.clone(),
                    },
                )?
                .into_any(),
            ),
            Err(e) => {
                let err = e.into_py_err(&program.source);
                if !return_exceptions {
                    return Err(err);
                }
                out.push(err.into_value(py).into_any());
            }
        }
    }
    Ok(out)
}

/// Writes a trace captured earlier (its JSON, or a `Trace`) into `source`: the NExT
/// inline comments, or with `format` a SemCoder-style scratchpad or an LDB-style
/// listing. Runs nothing.
#[pyfunction]
#[pyo3(signature = (source, trace, *, name="<string>", keep_first=2, keep_last=1, max_value_chars=100, format="next", max_tokens=None))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn render(
    py: Python<'_>,
    source: String,
    trace: &Bound<'_, PyAny>,
    name: &str,
    keep_first: usize,
    keep_last: usize,
    max_value_chars: usize,
    format: &str,
    max_tokens: Option<usize>,
) -> PyResult<String> {
    let trace = match trace.cast::<PyTrace>() {
        Ok(t) => t.get().trace.clone(),
        Err(_) => {
            let json: String = trace
                .extract()
                .map_err(|_| crate::errors::invalid("trace: expected a Trace or its JSON text"))?;
            Trace::from_json(&json).map_err(crate::errors::trace_json)?
        }
    };
    let options = render_options(keep_first, keep_last, max_value_chars);
    let format = format_of(format)?;
    py.detach(|| render_text(name, &source, &trace, &options, format, max_tokens))
}
