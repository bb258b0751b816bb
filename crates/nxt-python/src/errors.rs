//! Rust errors as Python exceptions: the classes live in `nxt/_errors.py` (a pure
//! Python module, so that they can subclass two builtins at once); this module makes
//! instances of them with their attributes set.

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::PyTuple;

/// A new exception of class `name` of `nxt._errors`, made with `args`, with the
/// attributes `attrs` set.
pub(crate) fn make<'py>(
    py: Python<'py>,
    name: &str,
    args: Bound<'py, PyTuple>,
    attrs: &[(&str, Bound<'py, PyAny>)],
) -> PyErr {
    let build = || -> PyResult<PyErr> {
        let class = py.import("nxt._errors")?.getattr(name)?;
        let exc = class.call1(args)?;
        for (key, value) in attrs {
            exc.setattr(*key, value)?;
        }
        Ok(PyErr::from_value(exc))
    };
    build().unwrap_or_else(|e| e)
}

/// An exception of class `name` with one message.
pub(crate) fn simple(py: Python<'_>, name: &str, message: impl Into<String>) -> PyErr {
    let args = PyTuple::new(py, [message.into()]).expect("a tuple of one string");
    make(py, name, args, &[])
}

/// `nxt.InvalidInput(message)`.
pub(crate) fn invalid(message: impl Into<String>) -> PyErr {
    Python::attach(|py| simple(py, "InvalidInput", message))
}

fn none(py: Python<'_>) -> Bound<'_, PyAny> {
    py.None().into_bound(py)
}

fn obj<'py, T>(py: Python<'py>, value: T) -> Bound<'py, PyAny>
where
    T: IntoPyObject<'py>,
{
    use pyo3::IntoPyObjectExt;
    value.into_bound_py_any(py).unwrap_or_else(|_| none(py))
}

/// `nxt.SyntaxErrorInProgram`, built as CPython builds a `SyntaxError`:
/// `(msg, (filename, lineno, offset, text))`.
pub(crate) fn syntax(
    py: Python<'_>,
    message: &str,
    filename: &str,
    line: usize,
    column: usize,
    source: Option<&str>,
) -> PyErr {
    let text = source
        .and_then(|s| s.lines().nth(line.saturating_sub(1)))
        .map(|l| format!("{l}\n"));
    let details = (filename, line, column, text);
    let args = PyTuple::new(py, [obj(py, message), obj(py, details)]).expect("a tuple");
    make(py, "SyntaxErrorInProgram", args, &[])
}

pub(crate) fn trace(e: nxt_trace::TraceError, source: Option<&str>) -> PyErr {
    Python::attach(|py| match e {
        nxt_trace::TraceError::Syntax {
            name,
            line,
            column,
            message,
        } => syntax(py, &message, &name, line as usize, column as usize, source),
        nxt_trace::TraceError::Sandbox(e) => simple(py, "SandboxError", e.to_string()),
        other => simple(py, "TracerError", other.to_string()),
    })
}

pub(crate) fn verify(e: nxt_verify::VerifyError) -> PyErr {
    Python::attach(|py| match e {
        nxt_verify::VerifyError::Sandbox(e) => simple(py, "SandboxError", e.to_string()),
        other => simple(py, "VerifyError", other.to_string()),
    })
}

/// An error of the RustPython engine.
pub(crate) fn engine(e: nxt_rustpython::EngineError, source: Option<&str>) -> PyErr {
    use nxt_rustpython::EngineError as E;
    match e {
        E::Trace(e) => trace(e, source),
        E::Verify(e) => verify(e),
        e @ E::Unsupported { .. } => {
            Python::attach(|py| simple(py, "UnsupportedProgram", e.to_string()))
        }
        other => Python::attach(|py| simple(py, "SandboxError", other.to_string())),
    }
}

pub(crate) fn inline(e: nxt_inline::InlineError, name: &str, source: &str) -> PyErr {
    Python::attach(|py| match e {
        nxt_inline::InlineError::Syntax {
            line,
            column,
            message,
        } => syntax(py, &message, name, line, column, Some(source)),
        e @ nxt_inline::InlineError::OverBudget { .. } => simple(py, "OverBudget", e.to_string()),
        other => simple(py, "RenderError", other.to_string()),
    })
}

pub(crate) fn trace_json(e: nxt_core::TraceJsonError) -> PyErr {
    Python::attach(|py| simple(py, "TraceJsonError", e.to_string()))
}

pub(crate) fn data(e: nxt_data::DataError) -> PyErr {
    Python::attach(|py| match &e {
        nxt_data::DataError::Io { path, source } => {
            let args = PyTuple::new(
                py,
                [
                    obj(py, source.raw_os_error()),
                    obj(py, e.to_string()),
                    obj(py, path.to_string_lossy().into_owned()),
                ],
            )
            .expect("a tuple");
            make(py, "NxtOSError", args, &[])
        }
        nxt_data::DataError::Invalid(line) => {
            let args = PyTuple::new(py, [e.to_string()]).expect("a tuple");
            make(
                py,
                "InvalidData",
                args,
                &[
                    ("path", obj(py, line.path.to_string_lossy().into_owned())),
                    ("line", obj(py, line.line)),
                    ("field", obj(py, line.field.clone())),
                ],
            )
        }
        nxt_data::DataError::Duplicate { path, line, .. } => {
            let args = PyTuple::new(py, [e.to_string()]).expect("a tuple");
            make(
                py,
                "InvalidData",
                args,
                &[
                    ("path", obj(py, path.to_string_lossy().into_owned())),
                    ("line", obj(py, *line)),
                    ("field", none(py)),
                ],
            )
        }
        _ => simple(py, "DataError", e.to_string()),
    })
}

pub(crate) fn prompt(e: nxt_prompt::PromptError) -> PyErr {
    use nxt_prompt::PromptError as E;
    Python::attach(|py| {
        let task_id = match &e {
            E::NoTests { task_id }
            | E::Passes { task_id }
            | E::NoSuchTest { task_id, .. }
            | E::Verify { task_id, .. }
            | E::Trace { task_id, .. }
            | E::Render { task_id, .. }
            | E::OverBudget { task_id, .. } => Some(task_id.clone()),
            _ => None,
        };
        let class = match &e {
            E::OverBudget { .. } => "OverBudget",
            _ => "PromptError",
        };
        let args = PyTuple::new(py, [e.to_string()]).expect("a tuple");
        make(py, class, args, &[("task_id", obj(py, task_id))])
    })
}

pub(crate) fn parse(e: nxt_prompt::ParseError) -> PyErr {
    Python::attach(|py| match &e {
        nxt_prompt::ParseError::CodeDoesNotParse {
            line, column, code, ..
        } => {
            let args = PyTuple::new(py, [e.to_string()]).expect("a tuple");
            make(
                py,
                "CodeDoesNotParse",
                args,
                &[
                    ("line", obj(py, *line)),
                    ("column", obj(py, *column)),
                    ("code", obj(py, code.clone())),
                ],
            )
        }
        nxt_prompt::ParseError::NoCode => simple(py, "NoCode", e.to_string()),
        _ => simple(py, "ParseError", e.to_string()),
    })
}

pub(crate) fn selftrain(e: nxt_selftrain::Error) -> PyErr {
    use nxt_selftrain::Error as E;
    Python::attach(|py| {
        let class = match &e {
            E::Config(_) => "ConfigError",
            E::Sqlite(_) | E::StoreState(_) | E::Io { .. } => "StoreError",
            E::Replay { .. }
            | E::UnknownTask { .. }
            | E::Status { .. }
            | E::Timeout { .. }
            | E::Transport { .. }
            | E::Malformed { .. }
            | E::GaveUp { .. }
            | E::Custom(_) => "SamplerError",
            _ => "SelftrainError",
        };
        simple(py, class, e.to_string())
    })
}

/// A panic of a worker thread, as Python's `RuntimeError`.
pub(crate) fn panic(payload: Box<dyn std::any::Any + Send>) -> PyErr {
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a worker thread panicked".into());
    PyRuntimeError::new_err(format!("nxt: internal error: {message}"))
}
