//! Trace capture: runs a Python program under CPython and records its steps.
//!
//! [`CPythonTracer`] implements [`nxt_core::Tracer`]. The tracer that runs inside
//! CPython (`src/tracer.py`, embedded in this crate) is loaded once into warm
//! [`nxt_sandbox`] workers; each program runs in its own forked, limited child that
//! streams its steps to the parent as it goes, so a run that is killed at its time or
//! memory limit keeps every step it recorded. The tracer implements sections 1–3 of
//! `shared/spec/inline-trace-format.md` (what is traced, how execution is cut into
//! steps, how values are rendered); `nxt-inline` writes the result into the source.
//!
//! # Example
//!
//! ```
//! use nxt_core::{Event, Program, TraceOptions, Tracer};
//! use nxt_trace::CPythonTracerBuilder;
//!
//! let tracer = CPythonTracerBuilder::new().build()?;
//! let program = Program::new("double.py", "def double(x):\n    return 2 * x\n\ny = double(21)\n");
//! let trace = tracer.trace(&program, &TraceOptions::default())?;
//!
//! assert!(trace.is_complete());
//! assert_eq!(trace.steps[0].event, Event::Call);
//! assert_eq!(trace.steps[1].vars[0].name, "__return__");
//! assert_eq!(trace.steps[1].vars[0].value.to_string(), "42");
//! # Ok::<(), nxt_trace::TraceError>(())
//! ```
#![deny(missing_docs)]

mod wire;

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use nxt_core::{Ending, Program, Trace, TraceOptions, Tracer};
use nxt_sandbox::{Job, Limits, Outcome, Pool, PoolBuilder, SandboxError, Status};

/// The tracer that runs inside CPython, as shipped with this crate.
pub const TRACER_SOURCE: &str = include_str!("tracer.py");

/// Standard-library modules the workers import before forking, so that programs
/// importing them start faster. Importing them has no effect a program can observe.
pub const PRELOAD: &[&str] = nxt_sandbox::STDLIB_PRELOAD;

/// Why a program gave no trace at all.
///
/// A program that fails, loops forever, eats memory or recurses without end still
/// gives a trace (with an [`Ending`] that says why it stopped); these errors are for
/// runs that gave nothing to render.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TraceError {
    /// The program does not compile. Line and column are 1-based, as CPython reports.
    #[error("{name}:{line}:{column}: syntax error: {message}")]
    Syntax {
        /// The program's name.
        name: String,
        /// Line of the error.
        line: u32,
        /// Column of the error.
        column: u32,
        /// CPython's message.
        message: String,
    },
    /// The sandbox could not run the program (no interpreter, a broken worker).
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    /// The tracer's output could not be read; the message says what was wrong.
    #[error("{name}: the tracer failed: {message}")]
    Tracer {
        /// The program's name.
        name: String,
        /// What went wrong, with the end of the worker's stderr.
        message: String,
    },
}

/// Configures and starts a [`CPythonTracer`].
#[derive(Debug, Clone)]
pub struct CPythonTracerBuilder {
    python: Option<PathBuf>,
    workers: usize,
}

impl Default for CPythonTracerBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl CPythonTracerBuilder {
    /// A builder with the defaults.
    pub fn new() -> CPythonTracerBuilder {
        CPythonTracerBuilder {
            python: None,
            workers: 1,
        }
    }

    /// The CPython interpreter that runs programs.
    ///
    /// By default, the `NXT_PYTHON` environment variable if it is set, else `python3`
    /// on `PATH`.
    pub fn python(&mut self, path: impl Into<PathBuf>) -> &mut Self {
        self.python = Some(path.into());
        self
    }

    /// How many programs run at once (warm workers kept). By default, 1.
    pub fn workers(&mut self, n: usize) -> &mut Self {
        self.workers = n.max(1);
        self
    }

    /// Starts the workers.
    pub fn build(&self) -> Result<CPythonTracer, TraceError> {
        let python = self
            .python
            .clone()
            .unwrap_or_else(nxt_sandbox::default_python);
        let pool = PoolBuilder::new(TRACER_SOURCE)
            .python(python)
            .workers(self.workers)
            .env("PYTHONHASHSEED", "0")
            .preload(PRELOAD)
            .build()?;
        Ok(CPythonTracer { pool })
    }
}

/// Captures traces with CPython: warm workers, one forked child per program.
#[derive(Debug)]
pub struct CPythonTracer {
    pool: Pool,
}

impl CPythonTracer {
    /// The interpreter the workers run, e.g. `CPython 3.11.7`.
    pub fn interpreter(&self) -> &str {
        self.pool.interpreter()
    }

    /// How many programs run at once.
    pub fn workers(&self) -> usize {
        self.pool.workers()
    }
}

impl Tracer for CPythonTracer {
    type Error = TraceError;

    fn trace(&self, program: &Program, options: &TraceOptions) -> Result<Trace, TraceError> {
        let payload = job_payload(program, options);
        let outcome = self.pool.run(&Job {
            payload: payload.as_bytes(),
            limits: job_limits(options),
        })?;
        trace_from_outcome(program, options, self.pool.interpreter(), &outcome)
    }

    /// Runs the programs on all workers at once; results keep the input order.
    fn trace_all(
        &self,
        programs: &[Program],
        options: &TraceOptions,
    ) -> Vec<Result<Trace, TraceError>> {
        let next = AtomicUsize::new(0);
        let threads = self.pool.workers().min(programs.len()).max(1);
        let mut results: Vec<Option<Result<Trace, TraceError>>> =
            (0..programs.len()).map(|_| None).collect();
        let chunks: Vec<Vec<(usize, Result<Trace, TraceError>)>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    s.spawn(|| {
                        let mut done = Vec::new();
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            let Some(program) = programs.get(i) else {
                                break done;
                            };
                            done.push((i, self.trace(program, options)));
                        }
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("a tracing thread panicked"))
                .collect()
        });
        for (i, r) in chunks.into_iter().flatten() {
            results[i] = Some(r);
        }
        results
            .into_iter()
            .map(|r| r.expect("every program was traced"))
            .collect()
    }
}

/// The payload of a trace job: the JSON document `main` of [`TRACER_SOURCE`] reads.
///
/// With [`job_limits`] and [`trace_from_outcome`], this is how a tracer that runs
/// programs elsewhere than in a CPython [`Pool`] (another engine's sandbox) uses the
/// same tracer protocol and the same mapping from a run to a [`Trace`].
pub fn job_payload(program: &Program, options: &TraceOptions) -> String {
    serde_json::json!({
        "source": program.source,
        "filename": program.name,
        "max_steps": options.max_steps,
        "capture_chars": options.value_capture_chars,
    })
    .to_string()
}

/// The sandbox limits of a trace job: the options' wall-clock and memory limits.
pub fn job_limits(options: &TraceOptions) -> Limits {
    Limits {
        wall_time: Duration::from_secs_f64(options.timeout.max(0.001)),
        address_space: options.memory_limit,
        output_bytes: 64 * 1024,
        channel_bytes: 512 << 20,
        ..Limits::default()
    }
}

/// Turns how a trace job ended (its channel holds the tracer's wire format) into
/// the program's [`Trace`], made by `interpreter`.
pub fn trace_from_outcome(
    program: &Program,
    options: &TraceOptions,
    interpreter: &str,
    outcome: &Outcome,
) -> Result<Trace, TraceError> {
    let stream = wire::parse(&outcome.channel.bytes).map_err(|message| TraceError::Tracer {
        name: program.name.clone(),
        message,
    })?;
    if let Some(e) = stream.syntax_error {
        return Err(TraceError::Syntax {
            name: program.name.clone(),
            line: e.line,
            column: e.column,
            message: e.message,
        });
    }
    if !stream.started {
        return Err(TraceError::Tracer {
            name: program.name.clone(),
            message: format!(
                "the tracer did not start ({}); stderr: {}",
                describe(&outcome.status),
                tail(&outcome.stderr.text(), 2000)
            ),
        });
    }
    let mut trace = Trace::new(interpreter);
    trace.steps = stream.steps;
    trace.exception = stream.done.as_ref().and_then(|d| d.exception.clone());
    trace.ending = match stream.end {
        Some(wire::End::Steps) => Ending::StepLimit {
            max_steps: options.max_steps,
        },
        Some(wire::End::Memory) => Ending::MemoryLimit,
        Some(wire::End::TracerError(message)) => Ending::TracerError { message },
        None if outcome.channel.truncated() => Ending::TracerError {
            message: format!(
                "the trace stream exceeded {} bytes",
                outcome.channel.bytes.len()
            ),
        },
        None => match outcome.status {
            Status::TimedOut => Ending::TimeLimit {
                seconds: options.timeout,
            },
            // Finished, or ended itself with os._exit(): every step was recorded.
            _ if stream.done.is_some() => Ending::Complete,
            Status::Exited(_) => Ending::Complete,
            ref status if memory_failure(&outcome.stderr.text()) => {
                let _ = status;
                Ending::MemoryLimit
            }
            ref status => Ending::TracerError {
                message: describe(status),
            },
        },
    };
    Ok(trace)
}

fn memory_failure(stderr: &str) -> bool {
    stderr.contains("MemoryError")
        || stderr.contains("Cannot allocate memory")
        || stderr.contains("out of memory")
        // Rust's allocation failure (an embedded engine aborts with it)
        || stderr.contains("memory allocation of")
}

fn describe(status: &Status) -> String {
    match status {
        Status::Exited(code) => format!("the worker exited with code {code}"),
        Status::Signaled(sig) => format!("the program was killed by signal {sig}"),
        Status::TimedOut => "the time limit was reached".to_owned(),
        Status::WorkerLost => "the worker process was lost".to_owned(),
        other => format!("{other:?}"),
    }
}

fn tail(text: &str, max: usize) -> &str {
    let text = text.trim_end();
    if text.len() <= max {
        return text;
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}
