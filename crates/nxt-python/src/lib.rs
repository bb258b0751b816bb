//! Python bindings of nxt: `import nxt` gives Python the toolkit of the Rust crates,
//! capture a trace, render it, verify programs against tests, load benchmarks, build
//! NExT repair prompts and read answers, and drive a self-training run with a Python
//! sampler.
//!
//! This crate is the private native module `nxt._nxt` (pyo3, abi3 for CPython 3.9 and
//! later), built by maturin (`pyproject.toml`); the package users import, `nxt`, is
//! pure Python (`python/nxt`) and re-exports it with the exception classes
//! (`python/nxt/_errors.py`), the type stubs (`_nxt.pyi`, checked against the built
//! module by `mypy.stubtest`) and `py.typed`. See `docs/python.md`.
//!
//! - Long calls run on a thread of their own without the GIL while the calling thread
//!   polls for signals, so Ctrl-C interrupts them: the work stops handing out new
//!   units (checks, programs, requests) and the call raises `KeyboardInterrupt`.
//! - The sandbox's warm workers are kept between calls, per configuration; a forked
//!   child starts its own (`os.register_at_fork`).
//! - Errors are exceptions of a hierarchy rooted at `nxt.NxtError`, each a subclass
//!   of the matching builtin (`nxt.SyntaxErrorInProgram` is a `SyntaxError`,
//!   `nxt.InvalidInput` a `ValueError`, ...).
//! - The data classes pickle through their JSON, so they cross process boundaries
//!   (`multiprocessing`, Ray).
//!
//! # Example
//!
//! The crate is used from Python; this example runs in the pytest suite
//! (`tests/test_docs.py` runs the Python blocks of this overview, of the README and of
//! `docs/python.md`):
//!
//! ```python
//! import nxt
//!
//! source = "def add(a, b):\n    return a - b\n\nassert add(2, 3) == 5\n"
//! trace = nxt.trace(source, name="add.py")
//! print(trace.render())
//! # def add(a, b):  # (0) a=2, b=3;
//! #     return a - b  # (1) __return__=-1;
//! #
//! # assert add(2, 3) == 5  # (2) __exception__=AssertionError();
//!
//! task = nxt.Task("demo/add", "Add two numbers.", "def add(a, b):\n    return a - b\n",
//!                 ["assert add(2, 3) == 5"])
//! fixed = nxt.Sample("demo/add", "0", "def add(a, b):\n    return a + b\n")
//! results = nxt.verify([task], [fixed])
//! assert results[0].status == "passed" and results.pass_at_k(1) == 1.0
//! ```
#![deny(missing_docs)]
// pyo3's generated code for `#[pyclass]` fields and `#[pymethods]`.
#![allow(missing_docs)]

mod calls;
mod convert;
mod data;
mod engines;
mod errors;
mod guard;
mod interrupt;
mod prompt;
mod selftrain;
mod trace;
mod types;
mod verify;

use pyo3::prelude::*;

/// The native module `nxt._nxt`.
#[pymodule]
#[pyo3(name = "_nxt")]
fn nxt_python(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<types::PyTask>()?;
    m.add_class::<types::PySample>()?;
    m.add_class::<types::PyTestResult>()?;
    m.add_class::<types::PyCheckResult>()?;
    m.add_class::<types::PyVerification>()?;
    m.add_class::<trace::PyTrace>()?;
    m.add_class::<trace::PyStep>()?;
    m.add_class::<prompt::PyPrompt>()?;
    m.add_class::<prompt::PyPrompter>()?;
    m.add_class::<prompt::PyParsed>()?;
    m.add_class::<selftrain::PySampleRequest>()?;
    m.add_class::<selftrain::PyCandidate>()?;
    m.add_class::<selftrain::PyStore>()?;
    m.add_class::<selftrain::PyRun>()?;
    m.add_class::<calls::PyEvalResult>()?;
    m.add_function(wrap_pyfunction!(trace::trace, m)?)?;
    m.add_function(wrap_pyfunction!(trace::trace_many, m)?)?;
    m.add_function(wrap_pyfunction!(trace::render, m)?)?;
    m.add_function(wrap_pyfunction!(verify::verify, m)?)?;
    m.add_function(wrap_pyfunction!(verify::pass_at_k, m)?)?;
    m.add_function(wrap_pyfunction!(data::read_tasks, m)?)?;
    m.add_function(wrap_pyfunction!(data::read_samples, m)?)?;
    m.add_function(wrap_pyfunction!(data::read_results, m)?)?;
    m.add_function(wrap_pyfunction!(data::write_jsonl, m)?)?;
    m.add_function(wrap_pyfunction!(data::import_benchmark, m)?)?;
    m.add_function(wrap_pyfunction!(data::hefix_plus, m)?)?;
    m.add_function(wrap_pyfunction!(prompt::parse_response, m)?)?;
    m.add_function(wrap_pyfunction!(prompt::traced_program, m)?)?;
    m.add_function(wrap_pyfunction!(engines::shutdown, m)?)?;
    m.add_function(wrap_pyfunction!(engines::_forget_workers, m)?)?;
    m.add_function(wrap_pyfunction!(interrupt::_wait_for_calls, m)?)?;
    Ok(())
}
