//! The warm CPython workers of the tracer and of the verifier, kept between calls.
//!
//! Starting workers costs tens of milliseconds, so each kind is kept in a process-wide
//! cache keyed by its configuration (interpreter, number of workers) and rebuilt when a
//! call asks for another one. A forked child (`multiprocessing`, `os.fork`) must not
//! use its parent's workers: the package calls [`forget`] after a fork
//! (`os.register_at_fork`), which drops the cache without closing the parent's
//! sockets, and the child starts workers of its own on its first call.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use nxt_trace::{CPythonTracer, CPythonTracerBuilder};
use nxt_verify::{PythonVerifier, PythonVerifierBuilder};
use pyo3::prelude::*;

type Key = (Option<PathBuf>, usize);

struct Cache<T> {
    slot: Mutex<Option<(Key, Arc<T>)>>,
}

impl<T> Cache<T> {
    const fn new() -> Cache<T> {
        Cache {
            slot: Mutex::new(None),
        }
    }

    fn get(&self, key: Key, build: impl FnOnce(&Key) -> PyResult<T>) -> PyResult<Arc<T>> {
        let mut slot = self.slot.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((k, v)) = slot.as_ref()
            && *k == key
        {
            return Ok(v.clone());
        }
        let value = Arc::new(build(&key)?);
        *slot = Some((key, value.clone()));
        Ok(value)
    }

    /// The cached value if it runs `python` (with any number of workers), else a new
    /// one as [`Cache::get`] makes it: for calls that run one job at a time.
    fn get_any(&self, key: Key, build: impl FnOnce(&Key) -> PyResult<T>) -> PyResult<Arc<T>> {
        {
            let slot = self.slot.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(((python, _), v)) = slot.as_ref()
                && *python == key.0
            {
                return Ok(v.clone());
            }
        }
        self.get(key, build)
    }

    fn clear(&self, forget: bool) {
        let old = self.slot.lock().unwrap_or_else(|e| e.into_inner()).take();
        if forget {
            std::mem::forget(old);
        }
    }
}

static TRACERS: Cache<CPythonTracer> = Cache::new();
static VERIFIERS: Cache<PythonVerifier> = Cache::new();

/// The number of workers to use: `jobs`, else the number of CPUs.
pub(crate) fn workers(jobs: Option<usize>) -> usize {
    jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1)
}

fn build_tracer((python, workers): &Key) -> PyResult<CPythonTracer> {
    let mut b = CPythonTracerBuilder::new();
    b.workers(*workers);
    if let Some(p) = python {
        b.python(p);
    }
    b.build().map_err(|e| crate::errors::trace(e, None))
}

/// A tracer with `workers` workers running `python` (else `NXT_PYTHON`, else
/// `python3`). Call without the GIL: the first call starts processes.
pub(crate) fn tracer(python: Option<PathBuf>, workers: usize) -> PyResult<Arc<CPythonTracer>> {
    TRACERS.get((python, workers), build_tracer)
}

/// A tracer running `python` for one program at a time: the cached one whatever its
/// number of workers, else one with one worker.
pub(crate) fn any_tracer(python: Option<PathBuf>) -> PyResult<Arc<CPythonTracer>> {
    TRACERS.get_any((python, 1), build_tracer)
}

/// A verifier, as [`tracer`].
pub(crate) fn verifier(python: Option<PathBuf>, workers: usize) -> PyResult<Arc<PythonVerifier>> {
    VERIFIERS.get((python, workers), |(python, workers)| {
        let mut b = PythonVerifierBuilder::new();
        b.workers(*workers);
        if let Some(p) = python {
            b.python(p);
        }
        b.build().map_err(crate::errors::verify)
    })
}

/// Drops the cached workers without touching them: for a forked child, whose copies
/// of the parent's sockets belong to the parent's workers.
#[pyfunction]
pub(crate) fn _forget_workers() {
    TRACERS.clear(true);
    VERIFIERS.clear(true);
}

/// Stops the cached workers (they are started again on the next call).
#[pyfunction]
pub(crate) fn shutdown(py: Python<'_>) {
    py.detach(|| {
        TRACERS.clear(false);
        VERIFIERS.clear(false);
    });
}

/// The engine a call runs programs with (`engine=`, `worker=`): CPython's warm
/// workers, or RustPython in a worker program (`docs/engines.md`). RustPython is not
/// in this module: each job `exec`s the worker, an `nxt` built with `--features
/// rustpython` (`[nxt, "__rustpython-worker"]`) or an `nxt-rustpython-worker`.
pub(crate) enum Engine {
    CPython,
    RustPython(nxt_rustpython::Worker),
}

impl Engine {
    /// The engine `name` names, with its worker: `worker` (a path, or a sequence of
    /// the program and its leading arguments), else `$NXT_RUSTPYTHON_WORKER`, else an
    /// `nxt-rustpython-worker` beside the interpreter.
    pub(crate) fn of(name: &str, worker: Option<&Bound<'_, PyAny>>) -> PyResult<Engine> {
        let worker = worker.filter(|w| !w.is_none());
        match name {
            "cpython" => match worker {
                None => Ok(Engine::CPython),
                Some(_) => Err(crate::errors::invalid(
                    "worker= is for engine=\"rustpython\"",
                )),
            },
            "rustpython" => {
                let worker = match worker {
                    Some(w) => {
                        if let Ok(path) = w.extract::<PathBuf>() {
                            nxt_rustpython::Worker::new(path)
                        } else {
                            let parts: Vec<String> = w.extract().map_err(|_| {
                                crate::errors::invalid(
                                    "worker: expected a path or a list [program, arg, ...]",
                                )
                            })?;
                            let Some((program, args)) = parts.split_first() else {
                                return Err(crate::errors::invalid("worker: an empty list"));
                            };
                            args.iter()
                                .fold(nxt_rustpython::Worker::new(program), |w, a| w.arg(a))
                        }
                    }
                    None => nxt_rustpython::Worker::from_env().ok_or_else(|| {
                        crate::errors::engine(nxt_rustpython::EngineError::NoWorker, None)
                    })?,
                };
                Ok(Engine::RustPython(worker))
            }
            other => Err(crate::errors::invalid(format!(
                "engine {other:?}: expected \"cpython\" or \"rustpython\""
            ))),
        }
    }
}

/// A RustPython tracer with `workers` workers (a pool per call: each job is a
/// process of its own anyway). Call without the GIL.
pub(crate) fn rustpython_tracer(
    worker: &nxt_rustpython::Worker,
    workers: usize,
) -> PyResult<nxt_rustpython::RustPythonTracer> {
    nxt_rustpython::RustPythonTracerBuilder::new()
        .worker(worker.clone())
        .workers(workers)
        .build()
        .map_err(|e| crate::errors::engine(e, None))
}

/// A RustPython verifier, as [`rustpython_tracer`].
pub(crate) fn rustpython_verifier(
    worker: &nxt_rustpython::Worker,
    workers: usize,
) -> PyResult<nxt_rustpython::RustPythonVerifier> {
    nxt_rustpython::RustPythonVerifierBuilder::new()
        .worker(worker.clone())
        .workers(workers)
        .build()
        .map_err(|e| crate::errors::engine(e, None))
}
