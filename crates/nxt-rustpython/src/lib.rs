//! An embedded Python engine for nxt: trace and verify Python programs with
//! [RustPython](https://github.com/RustPython/RustPython) (`rustpython-vm` 0.5.0, pure
//! Rust, its standard library frozen in), on a machine with no CPython at all.
//!
//! [`RustPythonTracer`] implements [`nxt_core::Tracer`] and [`RustPythonVerifier`]
//! implements [`nxt_core::Verifier`], with the CPython engine's data model, tracer
//! (`nxt-trace`'s `tracer.py` with the adaptations of `src/tracer_rustpython.py`),
//! harness (`nxt-verify`'s `harness.py`), limits and verdicts. Untrusted code never runs
//! in the caller's process: each program runs in a fresh process, a *worker* executed
//! by [`nxt_sandbox::ExecPool`] with the sandbox's limits and isolation, which starts
//! the interpreter, runs the job and exits. The worker is [`worker_main`] (feature
//! `engine`), reached through the `nxt` binary's hidden `__rustpython-worker`
//! subcommand or this crate's `nxt-rustpython-worker` binary (see [`Worker`]).
//!
//! The interpreter itself is behind the `engine` feature (a 7-minute, 30 MB release
//! build): without it this crate builds in seconds and still drives a worker built
//! elsewhere. What RustPython cannot run like CPython 3.11 is reported, never as a
//! verdict or a trace that might be wrong ([`unsupported_reason`]): a trace as
//! [`EngineError::Unsupported`], a check as the verdict
//! [`Verdict::Unsupported`](nxt_core::Verdict::Unsupported) with `meta.reason`;
//! `docs/engines.md` has the measured fidelity.
//!
//! # Example
//!
//! ```no_run
//! use nxt_core::{Program, TraceOptions, Tracer};
//! use nxt_rustpython::{RustPythonTracerBuilder, Worker};
//!
//! // `nxt __rustpython-worker` (built with `--features rustpython`) is a worker.
//! let tracer = RustPythonTracerBuilder::new()
//!     .worker(Worker::new("/usr/local/bin/nxt").arg("__rustpython-worker"))
//!     .build()?;
//! let program = Program::new("double.py", "def double(x):\n    return 2 * x\n\ny = double(21)\n");
//! let trace = tracer.trace(&program, &TraceOptions::default())?;
//! assert_eq!(trace.steps[1].vars[0].name, "__return__");
//! assert_eq!(trace.steps[1].vars[0].value.to_string(), "42");
//! # Ok::<(), nxt_rustpython::EngineError>(())
//! ```
#![deny(missing_docs)]

mod support;
#[cfg(feature = "engine")]
mod worker;

use std::ffi::OsString;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use nxt_core::{
    CheckResult, Program, Sample, Task, Trace, TraceOptions, Tracer, Verdict, Verifier,
    VerifyOptions,
};
use nxt_sandbox::{ExecPool, ExecPoolBuilder, Isolation, IsolationReport, Job, SandboxError};
use nxt_trace::TraceError;
use nxt_verify::VerifyError;
use serde_json::Value as Json;

pub use support::{
    MISSING_MODULES, Purpose, missing_module_in, trace_caveat, unsupported_reason, uses_sets,
};
#[cfg(feature = "engine")]
pub use worker::worker_main;

/// The interpreter name traces and results carry.
pub const INTERPRETER: &str = "RustPython 0.5.0";

/// The environment variable naming the worker program when none is given (see
/// [`Worker::from_env`]).
pub const WORKER_ENV: &str = "NXT_RUSTPYTHON_WORKER";

/// The RustPython adaptations appended to `nxt-trace`'s tracer (see the file's
/// header and `docs/engines.md`).
pub const TRACER_PATCH: &str = include_str!("tracer_rustpython.py");

const EXEC_HARNESS: &str = "def main(payload):\n    \
    exec(compile(payload, '<program>', 'exec', dont_inherit=True), {'__name__': '__main__'})\n";

/// Why the engine gave no trace or no verdict.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The program needs what RustPython 0.5.0 does not have or does differently
    /// (a module it lacks, a construct whose trace it cannot give): no trace rather
    /// than a possibly wrong one. Run it with the CPython engine. (A check that the
    /// engine cannot judge is not an error but the verdict `Unsupported`.)
    #[error("{name}: unsupported by the RustPython engine: {reason}")]
    Unsupported {
        /// The program (or `task_id sample_id`).
        name: String,
        /// What stands in the way.
        reason: String,
    },
    /// No worker program: none was given, `NXT_RUSTPYTHON_WORKER` is not set and no
    /// `nxt-rustpython-worker` sits beside the current executable.
    #[error(
        "no RustPython worker found: build `nxt` with `--features rustpython` and run \
         `nxt ... --engine rustpython`, or set {WORKER_ENV} to an \
         `nxt-rustpython-worker` binary"
    )]
    NoWorker,
    /// The sandbox could not run the job.
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    /// The run gave no trace (a syntax error, a broken tracer).
    #[error(transparent)]
    Trace(#[from] TraceError),
    /// The check gave no verdict (a broken harness).
    #[error(transparent)]
    Verify(#[from] VerifyError),
}

/// Which harness a worker runs a job with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Harness {
    /// `nxt-trace`'s tracer with the RustPython adaptations; the payload is
    /// [`nxt_trace::job_payload`]'s.
    Trace,
    /// `nxt-verify`'s harness; the payload is [`nxt_verify::job_payload`]'s.
    Verify,
    /// The payload is a program, run as `__main__` (for tests of the sandbox).
    Exec,
}

impl Harness {
    /// The harness a worker's argument names: `trace`, `verify` or `exec`.
    pub fn from_name(name: &str) -> Option<Harness> {
        match name {
            "trace" => Some(Harness::Trace),
            "verify" => Some(Harness::Verify),
            "exec" => Some(Harness::Exec),
            _ => None,
        }
    }

    /// Its name, the worker's argument.
    pub fn name(self) -> &'static str {
        match self {
            Harness::Trace => "trace",
            Harness::Verify => "verify",
            Harness::Exec => "exec",
        }
    }

    /// The harness's Python source.
    pub fn source(self) -> String {
        match self {
            Harness::Trace => format!("{}\n{}", nxt_trace::TRACER_SOURCE, TRACER_PATCH),
            Harness::Verify => nxt_verify::HARNESS_SOURCE.to_owned(),
            Harness::Exec => EXEC_HARNESS.to_owned(),
        }
    }

    /// Whether its `main` takes the job's secret (as a CPython harness whose `main`
    /// has a `secret` parameter).
    pub fn takes_secret(self) -> bool {
        matches!(self, Harness::Verify)
    }
}

/// The program a job executes and its leading arguments; the harness's name is
/// appended. Cargo does not build the binaries of dependencies, so a program that
/// uses this crate names a worker it built: the `nxt` binary (`nxt
/// __rustpython-worker`, with `--features rustpython`), this crate's
/// `nxt-rustpython-worker` (with `--features engine`), or its own binary calling
/// [`worker_main`] on a subcommand.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Worker {
    program: PathBuf,
    args: Vec<OsString>,
}

impl Worker {
    /// A worker program (not searched on `PATH`).
    pub fn new(program: impl Into<PathBuf>) -> Worker {
        Worker {
            program: program.into(),
            args: Vec::new(),
        }
    }

    /// Appends a leading argument (e.g. the subcommand).
    pub fn arg(mut self, arg: impl Into<OsString>) -> Worker {
        self.args.push(arg.into());
        self
    }

    /// The program.
    pub fn program(&self) -> &Path {
        &self.program
    }

    /// The worker by default: `$NXT_RUSTPYTHON_WORKER` if set, else an
    /// `nxt-rustpython-worker` beside the current executable (or one directory up,
    /// for test binaries in `target/*/deps`).
    pub fn from_env() -> Option<Worker> {
        if let Some(path) = std::env::var_os(WORKER_ENV) {
            return Some(Worker::new(path));
        }
        let exe = std::env::current_exe().ok()?;
        let dir = exe.parent()?;
        [Some(dir), dir.parent()]
            .into_iter()
            .flatten()
            .map(|d| d.join("nxt-rustpython-worker"))
            .find(|p| p.is_file())
            .map(Worker::new)
    }

    fn pool(
        &self,
        harness: Harness,
        workers: usize,
        isolation: &Isolation,
    ) -> Result<ExecPool, SandboxError> {
        let mut builder = ExecPoolBuilder::new(&self.program);
        for arg in &self.args {
            builder.arg(arg);
        }
        builder
            .arg(harness.name())
            .workers(workers)
            .isolation(isolation.clone())
            .interpreter(INTERPRETER)
            .build()
    }
}

/// Configures and starts a [`RustPythonTracer`].
#[derive(Clone, Debug)]
pub struct RustPythonTracerBuilder {
    worker: Option<Worker>,
    workers: usize,
    isolation: Isolation,
}

impl Default for RustPythonTracerBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl RustPythonTracerBuilder {
    /// A builder with the defaults.
    pub fn new() -> RustPythonTracerBuilder {
        RustPythonTracerBuilder {
            worker: None,
            workers: 1,
            isolation: Isolation::default(),
        }
    }

    /// The worker program. By default, [`Worker::from_env`].
    pub fn worker(&mut self, worker: Worker) -> &mut Self {
        self.worker = Some(worker);
        self
    }

    /// How many programs run at once. By default, 1.
    pub fn workers(&mut self, n: usize) -> &mut Self {
        self.workers = n.max(1);
        self
    }

    /// How programs are isolated. By default, [`Isolation::default()`].
    pub fn isolation(&mut self, isolation: Isolation) -> &mut Self {
        self.isolation = isolation;
        self
    }

    /// Checks the worker and the isolation.
    pub fn build(&self) -> Result<RustPythonTracer, EngineError> {
        let worker = self
            .worker
            .clone()
            .or_else(Worker::from_env)
            .ok_or(EngineError::NoWorker)?;
        let pool = worker.pool(Harness::Trace, self.workers, &self.isolation)?;
        Ok(RustPythonTracer { pool })
    }
}

/// Captures traces with the embedded RustPython engine, a fresh process per program.
#[derive(Debug)]
pub struct RustPythonTracer {
    pool: ExecPool,
}

impl RustPythonTracer {
    /// The interpreter, [`INTERPRETER`].
    pub fn interpreter(&self) -> &str {
        self.pool.interpreter()
    }

    /// How many programs run at once.
    pub fn workers(&self) -> usize {
        self.pool.workers()
    }

    /// What isolation the programs get on this machine.
    pub fn isolation_report(&self) -> &IsolationReport {
        self.pool.isolation_report()
    }
}

impl Tracer for RustPythonTracer {
    type Error = EngineError;

    fn trace(&self, program: &Program, options: &TraceOptions) -> Result<Trace, EngineError> {
        let unsupported = |reason: String| EngineError::Unsupported {
            name: program.name.clone(),
            reason,
        };
        if let Some(reason) = unsupported_reason(&program.source, Purpose::Trace)
            .or_else(|| trace_caveat(&program.source))
        {
            return Err(unsupported(reason));
        }
        let payload = nxt_trace::job_payload(program, options);
        let outcome = self.pool.run(&Job {
            payload: payload.as_bytes(),
            limits: nxt_trace::job_limits(options),
        })?;
        let trace = nxt_trace::trace_from_outcome(program, options, INTERPRETER, &outcome)?;
        if let Some(m) = trace.exception.as_deref().and_then(missing_module_in) {
            return Err(unsupported(format!(
                "imports `{m}`, which RustPython lacks"
            )));
        }
        Ok(trace)
    }

    /// Runs the programs on all slots at once; results keep the input order.
    fn trace_all(
        &self,
        programs: &[Program],
        options: &TraceOptions,
    ) -> Vec<Result<Trace, EngineError>> {
        parallel(programs, self.pool.workers(), |p| self.trace(p, options))
    }
}

/// Configures and starts a [`RustPythonVerifier`].
#[derive(Clone, Debug)]
pub struct RustPythonVerifierBuilder {
    inner: RustPythonTracerBuilder,
}

impl Default for RustPythonVerifierBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl RustPythonVerifierBuilder {
    /// A builder with the defaults.
    pub fn new() -> RustPythonVerifierBuilder {
        RustPythonVerifierBuilder {
            inner: RustPythonTracerBuilder::new(),
        }
    }

    /// The worker program. By default, [`Worker::from_env`].
    pub fn worker(&mut self, worker: Worker) -> &mut Self {
        self.inner.worker(worker);
        self
    }

    /// How many checks run at once. By default, 1.
    pub fn workers(&mut self, n: usize) -> &mut Self {
        self.inner.workers(n);
        self
    }

    /// How checks are isolated. By default, [`Isolation::default()`].
    pub fn isolation(&mut self, isolation: Isolation) -> &mut Self {
        self.inner.isolation(isolation);
        self
    }

    /// Checks the worker and the isolation.
    pub fn build(&self) -> Result<RustPythonVerifier, EngineError> {
        let b = &self.inner;
        let worker = b
            .worker
            .clone()
            .or_else(Worker::from_env)
            .ok_or(EngineError::NoWorker)?;
        let pool = worker.pool(Harness::Verify, b.workers, &b.isolation)?;
        let isolation = pool.isolation_report().pairs();
        Ok(RustPythonVerifier { pool, isolation })
    }
}

/// Verifies programs with the embedded RustPython engine, a fresh process per check,
/// with the CPython verifier's harness and verdicts.
#[derive(Debug)]
pub struct RustPythonVerifier {
    pool: ExecPool,
    isolation: Vec<(&'static str, String)>,
}

impl RustPythonVerifier {
    /// The interpreter, [`INTERPRETER`].
    pub fn interpreter(&self) -> &str {
        self.pool.interpreter()
    }

    /// How many checks run at once.
    pub fn workers(&self) -> usize {
        self.pool.workers()
    }

    /// What isolation the checks get on this machine.
    pub fn isolation_report(&self) -> &IsolationReport {
        self.pool.isolation_report()
    }

    /// The result of a check this engine cannot judge: [`Verdict::Unsupported`], with
    /// `meta.reason` saying why and, when the program ran, `meta.engine_status` the
    /// verdict RustPython gave (its tests and output are kept; they are not CPython's).
    fn unsupported(
        &self,
        task: &Task,
        sample: &Sample,
        ran: Option<CheckResult>,
        reason: String,
    ) -> CheckResult {
        let mut result = ran.unwrap_or_else(|| CheckResult {
            task_id: task.task_id.clone(),
            sample_id: sample.sample_id.clone(),
            status: Verdict::Unsupported,
            tests: Vec::new(),
            stdout: String::new(),
            stderr: String::new(),
            duration_ms: 0,
            meta: Default::default(),
        });
        if result.status != Verdict::Unsupported {
            let engine_status = serde_json::to_value(result.status).unwrap_or(Json::Null);
            result.meta.insert("engine_status".into(), engine_status);
            result.status = Verdict::Unsupported;
        }
        result.meta.insert("reason".into(), Json::String(reason));
        self.label(&mut result);
        result
    }

    /// Names the engine and the isolation in the result's `meta`.
    fn label(&self, result: &mut CheckResult) {
        result
            .meta
            .insert("engine".into(), Json::String(INTERPRETER.into()));
        for (key, value) in &self.isolation {
            result
                .meta
                .insert((*key).to_owned(), Json::String(value.clone()));
        }
    }

    /// Verifies many pairs on all slots at once, handing each result to `on_result`
    /// (on the calling thread) as soon as it is ready, with its index in `pairs`, as
    /// [`nxt_verify::PythonVerifier::verify_each`]: completion order; returning
    /// [`ControlFlow::Break`] stops handing out new checks. Returns how many pairs
    /// were verified.
    pub fn verify_each<F>(
        &self,
        pairs: &[(&Task, &Sample)],
        options: &VerifyOptions,
        on_result: F,
    ) -> usize
    where
        F: FnMut(usize, Result<CheckResult, EngineError>) -> ControlFlow<()>,
    {
        nxt_verify::for_each_parallel(
            pairs,
            self.pool.workers(),
            |(task, sample)| self.verify(task, sample, options),
            on_result,
        )
    }
}

impl Verifier for RustPythonVerifier {
    type Error = EngineError;

    fn verify(
        &self,
        task: &Task,
        sample: &Sample,
        options: &VerifyOptions,
    ) -> Result<CheckResult, EngineError> {
        let sources = [Some(&sample.code), task.setup.as_ref()]
            .into_iter()
            .flatten()
            .chain(&task.tests);
        for source in sources {
            if let Some(reason) = unsupported_reason(source, Purpose::Verify) {
                return Ok(self.unsupported(task, sample, None, reason));
            }
        }
        let timeout = nxt_verify::check_timeout(task, options);
        let options = VerifyOptions {
            timeout,
            ..options.clone()
        };
        let tokens = nxt_verify::job_tokens(task)?;
        let payload = nxt_verify::job_payload(task, sample, &options, &tokens);
        let outcome = self.pool.run(&Job {
            payload: &payload,
            limits: nxt_verify::job_limits(&options),
        })?;
        let mut result = nxt_verify::check_from_outcome(task, sample, &options, &tokens, &outcome)?;
        let messages = result
            .tests
            .iter()
            .filter_map(|t| t.message.as_deref())
            .chain(
                result
                    .meta
                    .get("error")
                    .and_then(|e| e.get("message"))
                    .and_then(Json::as_str),
            );
        let missing = messages.into_iter().find_map(missing_module_in);
        if let Some(m) = missing {
            let reason = format!("imports `{m}`, which RustPython lacks");
            return Ok(self.unsupported(task, sample, Some(result), reason));
        }
        // RustPython is 10-30x slower than CPython: its time limit says nothing of
        // CPython's verdict.
        if result.status == nxt_core::Verdict::Timeout {
            let reason = "reached the time limit, and RustPython runs Python 10-30x slower \
                          than CPython";
            return Ok(self.unsupported(task, sample, Some(result), reason.into()));
        }
        // A program with sets that did not pass may have failed only for RustPython's
        // set order: no verdict rather than a possibly wrong one.
        if !result.status.passed()
            && [Some(&sample.code), task.setup.as_ref()]
                .into_iter()
                .flatten()
                .chain(&task.tests)
                .any(|s| uses_sets(s))
        {
            let reason = format!(
                "{} with sets, which RustPython iterates in another order than CPython",
                result.status.as_str()
            );
            return Ok(self.unsupported(task, sample, Some(result), reason));
        }
        self.label(&mut result);
        Ok(result)
    }

    /// Runs the checks on all slots at once; results keep the input order.
    fn verify_all(
        &self,
        pairs: &[(&Task, &Sample)],
        options: &VerifyOptions,
    ) -> Vec<Result<CheckResult, EngineError>> {
        parallel(pairs, self.pool.workers(), |(task, sample)| {
            self.verify(task, sample, options)
        })
    }
}

/// `f` over `items` on `threads` threads; results in the order of `items`.
fn parallel<I: Sync, R: Send>(items: &[I], threads: usize, f: impl Fn(&I) -> R + Sync) -> Vec<R> {
    let mut results: Vec<Option<R>> = (0..items.len()).map(|_| None).collect();
    nxt_verify::for_each_parallel(items, threads, f, |i, r| {
        results[i] = Some(r);
        ControlFlow::Continue(())
    });
    results
        .into_iter()
        .map(|r| r.expect("every item was run"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn harness_names_round_trip() {
        for h in [Harness::Trace, Harness::Verify, Harness::Exec] {
            assert_eq!(Harness::from_name(h.name()), Some(h));
        }
        assert_eq!(Harness::from_name("shell"), None);
    }

    #[test]
    fn the_trace_harness_is_the_tracer_with_the_patch_after_it() {
        let src = Harness::Trace.source();
        assert!(src.starts_with(nxt_trace::TRACER_SOURCE));
        assert!(src.ends_with(TRACER_PATCH));
        assert!(Harness::Verify.takes_secret() && !Harness::Trace.takes_secret());
    }

    #[test]
    fn a_missing_worker_is_a_clear_error() {
        let err = RustPythonTracerBuilder::new()
            .worker(Worker::new("/nonexistent/nxt-rustpython-worker"))
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("/nonexistent"), "{err}");
    }

    #[test]
    fn parallel_keeps_the_order() {
        let items: Vec<u32> = (0..50).collect();
        assert_eq!(
            parallel(&items, 3, |x| x * 2),
            items.iter().map(|x| x * 2).collect::<Vec<_>>()
        );
    }
}
