//! Test-based verification: runs a program against a task's test blocks, each check
//! in its own forked, limited process, and gives a [`Verdict`].
//!
//! [`PythonVerifier`] implements [`nxt_core::Verifier`]. The harness that runs inside
//! CPython (`src/harness.py`, embedded in this crate) is loaded once into warm
//! [`nxt_sandbox`] workers; each check is a fresh fork of a worker that has already
//! imported the harness and common standard-library modules. The harness runs the
//! program in a fresh `__main__` namespace, then the task's setup, then each test
//! block, and reports each block's outcome over a private channel with one-time
//! tokens, so that nothing the program prints, writes or does to its process can
//! make a check pass that did not (see `docs/verify.md` for the design and its
//! limits). [`pass_at_k`] and [`Summary`] turn many results into the unbiased pass@k.
//! A task may carry its own time limit ([`check_timeout`]). The [`reference`] module runs
//! trusted reference programs on many inputs to record their outputs (evalplus's
//! expected outputs for HumanEval+ and MBPP+, `docs/benchmarks-data.md`).
//!
//! # Example
//!
//! ```
//! use nxt_core::{Sample, Task, Verdict, Verifier, VerifyOptions};
//! use nxt_verify::PythonVerifierBuilder;
//!
//! let task: Task = serde_json::from_str(r#"{
//!     "task_id": "demo/add", "prompt": "Add two numbers.",
//!     "code": "def add(a, b):\n    return a - b\n",
//!     "tests": ["assert add(2, 2) == 4", "assert add(0, 0) == 0"]
//! }"#)?;
//! let verifier = PythonVerifierBuilder::new().build()?;
//! let options = VerifyOptions::default();
//!
//! let result = verifier.verify(&task, &Sample::of_task(&task), &options)?;
//! assert_eq!(result.status, Verdict::Failed);
//! assert_eq!(result.tests[0].exception.as_deref(), Some("AssertionError"));
//! assert_eq!(result.tests[0].line, Some(1));
//!
//! let fixed = Sample { code: "def add(a, b):\n    return a + b\n".into(), ..Sample::of_task(&task) };
//! assert_eq!(verifier.verify(&task, &fixed, &options)?.status, Verdict::Passed);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod pass_at_k;
pub mod reference;
mod wire;

use std::fs::File;
use std::io::Read;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use nxt_core::{
    CheckResult, Sample, Task, TestResult, TestStatus, Verdict, Verifier, VerifyOptions,
};
use nxt_sandbox::{
    Isolation, IsolationReport, Job, Limits, Outcome, Pool, PoolBuilder, SandboxError, Status,
};
use serde_json::{Map, Value as Json, json};

pub use pass_at_k::{PassAtK, Summary, TaskTally, pass_at_k};

/// The harness that runs inside CPython, as shipped with this crate.
pub const HARNESS_SOURCE: &str = include_str!("harness.py");

/// Standard-library modules the workers import before forking, so that checks that
/// import them do not pay for it: those the HumanEval and MBPP programs and tests
/// use. Importing them has no effect a program can observe.
pub const PRELOAD: &[&str] = nxt_sandbox::STDLIB_PRELOAD;

/// The most characters of an exception's message a [`TestResult`] keeps.
pub const MESSAGE_CHARS: usize = 1000;

/// How much of stdout and of stderr the sandbox keeps for a check at least (the tail
/// is cut from it; see [`VerifyOptions::output_tail`]).
const OUTPUT_KEEP: usize = 1 << 20;
/// How much of the result channel the sandbox keeps.
const CHANNEL_KEEP: usize = 16 << 20;

/// Why a check could not be run at all.
///
/// A program that fails, raises, loops, eats memory, exits or kills itself still gets
/// a [`CheckResult`] with the matching [`Verdict`]; these errors are for checks that
/// gave no verdict.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The sandbox could not run the check (no interpreter, a broken worker).
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    /// The harness did not start the check: it failed before it ran anything of the
    /// program, which is a bug of the harness or of the environment.
    #[error("{task_id} {sample_id}: the verification harness failed: {message}")]
    Harness {
        /// The task.
        task_id: String,
        /// The sample.
        sample_id: String,
        /// What went wrong, with the end of the worker's stderr.
        message: String,
    },
    /// Random tokens for the result channel could not be drawn from `/dev/urandom`.
    #[error("could not read /dev/urandom: {0}")]
    Random(#[source] std::io::Error),
}

/// Configures and starts a [`PythonVerifier`].
#[derive(Debug, Clone)]
pub struct PythonVerifierBuilder {
    python: Option<PathBuf>,
    workers: usize,
    preload: Vec<String>,
    isolation: Isolation,
}

impl Default for PythonVerifierBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl PythonVerifierBuilder {
    /// A builder with the defaults.
    pub fn new() -> PythonVerifierBuilder {
        PythonVerifierBuilder {
            python: None,
            workers: 1,
            preload: PRELOAD.iter().map(|m| m.to_string()).collect(),
            isolation: Isolation::default(),
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

    /// How many checks run at once (warm workers kept).
    ///
    /// By default, 1.
    pub fn workers(&mut self, n: usize) -> &mut Self {
        self.workers = n.max(1);
        self
    }

    /// The modules each worker imports before it forks checks (replacing the list).
    ///
    /// By default, [`PRELOAD`].
    pub fn preload(&mut self, modules: &[&str]) -> &mut Self {
        self.preload = modules.iter().map(|m| m.to_string()).collect();
        self
    }

    /// How checks are isolated (see [`Isolation`]).
    ///
    /// By default, [`Isolation::default()`]: an unprivileged uid per worker slot when
    /// running as root, and a filtered environment.
    pub fn isolation(&mut self, isolation: Isolation) -> &mut Self {
        self.isolation = isolation;
        self
    }

    /// Starts the workers.
    pub fn build(&self) -> Result<PythonVerifier, VerifyError> {
        let python = self
            .python
            .clone()
            .unwrap_or_else(nxt_sandbox::default_python);
        let preload: Vec<&str> = self.preload.iter().map(String::as_str).collect();
        let pool = PoolBuilder::new(HARNESS_SOURCE)
            .python(python)
            .workers(self.workers)
            .env("PYTHONHASHSEED", "0")
            .preload(&preload)
            .isolation(self.isolation.clone())
            .build()?;
        let random = File::open("/dev/urandom").map_err(VerifyError::Random)?;
        let isolation = pool.isolation_report().pairs();
        Ok(PythonVerifier {
            pool,
            random,
            isolation,
        })
    }
}

/// Verifies Python programs with CPython: warm workers, one forked child per check.
#[derive(Debug)]
pub struct PythonVerifier {
    pool: Pool,
    random: File,
    /// The pool's isolation report, copied into each result's `meta`.
    isolation: Vec<(&'static str, String)>,
}

impl PythonVerifier {
    /// The interpreter the workers run, e.g. `CPython 3.11.7`.
    pub fn interpreter(&self) -> &str {
        self.pool.interpreter()
    }

    /// How many checks run at once.
    pub fn workers(&self) -> usize {
        self.pool.workers()
    }

    /// What isolation the checks get on this machine, as the sandbox found when its
    /// workers started; each result's `meta` holds the same as
    /// [`IsolationReport::pairs`].
    pub fn isolation_report(&self) -> &IsolationReport {
        self.pool.isolation_report()
    }

    /// Verifies many pairs on all workers at once, handing each result to
    /// `on_result` (on the calling thread) as soon as it is ready, with its index in
    /// `pairs`. Results come in completion order, not input order.
    ///
    /// Returning [`ControlFlow::Break`] stops handing out new checks; the checks
    /// already running finish and are still handed over. Returns how many pairs were
    /// verified.
    pub fn verify_each<F>(
        &self,
        pairs: &[(&Task, &Sample)],
        options: &VerifyOptions,
        on_result: F,
    ) -> usize
    where
        F: FnMut(usize, Result<CheckResult, VerifyError>) -> ControlFlow<()>,
    {
        for_each_parallel(
            pairs,
            self.pool.workers(),
            |(task, sample)| self.verify(task, sample, options),
            on_result,
        )
    }

    fn tokens(&self, n: usize) -> Result<Vec<String>, VerifyError> {
        let mut bytes = vec![0u8; 16 * n];
        (&self.random)
            .read_exact(&mut bytes)
            .map_err(VerifyError::Random)?;
        const HEX: &[u8; 16] = b"0123456789abcdef";
        Ok(bytes
            .chunks(16)
            .map(|c| {
                c.iter()
                    .flat_map(|&b| {
                        [
                            HEX[usize::from(b >> 4)] as char,
                            HEX[usize::from(b & 15)] as char,
                        ]
                    })
                    .collect()
            })
            .collect())
    }
}

/// Runs `work` on every item of `items`, on `threads` threads at once, and hands each
/// result to `on_result` on the calling thread as soon as it is ready, with the item's
/// index: completion order, not input order. Returning [`ControlFlow::Break`] stops
/// handing out new items; those already running finish and are still handed over.
/// Returns how many results were handed over.
///
/// The scheduler of [`PythonVerifier::verify_each`], public for the verifiers of other
/// engines (`nxt-rustpython`).
///
/// ```
/// use std::ops::ControlFlow;
///
/// let mut squares = vec![0; 5];
/// let handed = nxt_verify::for_each_parallel(&[1, 2, 3, 4, 5], 2, |n| n * n, |i, sq| {
///     squares[i] = sq;
///     ControlFlow::Continue(())
/// });
/// assert_eq!((handed, squares), (5, vec![1, 4, 9, 16, 25]));
/// ```
pub fn for_each_parallel<T, R, W, F>(
    items: &[T],
    threads: usize,
    work: W,
    mut on_result: F,
) -> usize
where
    T: Sync,
    R: Send,
    W: Fn(&T) -> R + Sync,
    F: FnMut(usize, R) -> ControlFlow<()>,
{
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let threads = threads.min(items.len()).max(1);
    let (tx, rx) = mpsc::channel();
    let mut handed = 0;
    std::thread::scope(|s| {
        for _ in 0..threads {
            let tx = tx.clone();
            let (next, stop, work) = (&next, &stop, &work);
            s.spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else {
                        break;
                    };
                    if tx.send((i, work(item))).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        for (i, result) in rx {
            handed += 1;
            if on_result(i, result).is_break() {
                stop.store(true, Ordering::Relaxed);
            }
        }
    });
    handed
}

impl Verifier for PythonVerifier {
    type Error = VerifyError;

    fn verify(
        &self,
        task: &Task,
        sample: &Sample,
        options: &VerifyOptions,
    ) -> Result<CheckResult, VerifyError> {
        let own;
        let timeout = check_timeout(task, options);
        let options = if timeout == options.timeout {
            options
        } else {
            own = VerifyOptions {
                timeout,
                ..options.clone()
            };
            &own
        };
        let tokens = self.tokens(task.tests.len() + 4)?;
        let payload = job_payload(task, sample, options, &tokens);
        let mut job = Job::new(&payload);
        job.limits = limits(options);
        let outcome = self.pool.run(&job)?;
        let mut result = check_from_outcome(task, sample, options, &tokens, &outcome)?;
        for (key, value) in &self.isolation {
            result
                .meta
                .insert((*key).to_owned(), Json::String(value.clone()));
        }
        Ok(result)
    }

    /// Runs the checks on all workers at once; results keep the input order.
    fn verify_all(
        &self,
        pairs: &[(&Task, &Sample)],
        options: &VerifyOptions,
    ) -> Vec<Result<CheckResult, VerifyError>> {
        let mut results: Vec<Option<Result<CheckResult, VerifyError>>> =
            (0..pairs.len()).map(|_| None).collect();
        self.verify_each(pairs, options, |i, r| {
            results[i] = Some(r);
            ControlFlow::Continue(())
        });
        results
            .into_iter()
            .map(|r| r.expect("every pair was verified"))
            .collect()
    }
}

/// The wall-clock limit of a check of `task`, in seconds: `options.timeout`, or the
/// task's own `meta.timeout` (a number of seconds) when that is larger. HumanEval+ and
/// MBPP+ tasks carry evalplus's limit there, which grows with their number of inputs
/// (`docs/benchmarks-data.md`); `options.timeout` is the least any check gets.
pub fn check_timeout(task: &Task, options: &VerifyOptions) -> f64 {
    match task.meta.get("timeout").and_then(Json::as_f64) {
        Some(own) if own.is_finite() && own > options.timeout => own,
        _ => options.timeout,
    }
}

/// The tokens a check needs (see [`job_payload`]), drawn from `/dev/urandom`.
pub fn job_tokens(task: &Task) -> Result<Vec<String>, VerifyError> {
    let mut bytes = vec![0u8; 16 * (task.tests.len() + 4)];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(VerifyError::Random)?;
    Ok(bytes
        .chunks(16)
        .map(|c| c.iter().map(|b| format!("{b:02x}")).collect())
        .collect())
}

/// The payload of a check for [`HARNESS_SOURCE`]'s `main` (its format is described
/// atop `harness.py`), with the one-time `tokens` of its messages ([`job_tokens`]).
///
/// With [`job_limits`] and [`check_from_outcome`], this is how a verifier that runs
/// checks elsewhere than in a CPython [`Pool`] (another engine's sandbox) uses the
/// same harness protocol and the same verdicts.
pub fn job_payload(
    task: &Task,
    sample: &Sample,
    options: &VerifyOptions,
    tokens: &[String],
) -> Vec<u8> {
    payload(task, sample, options, tokens)
}

/// The sandbox limits of a check with these options (use [`check_timeout`] for a
/// task's own time limit first).
pub fn job_limits(options: &VerifyOptions) -> Limits {
    limits(options)
}

/// Turns how a check ended into its result: the harness's tagged messages (with the
/// job's secret, when the sandbox gave one, and `tokens`) and the process's status.
pub fn check_from_outcome(
    task: &Task,
    sample: &Sample,
    options: &VerifyOptions,
    tokens: &[String],
    outcome: &Outcome,
) -> Result<CheckResult, VerifyError> {
    let n_tests = task.tests.len();
    let (all_lines, cut) = wire::complete_lines(&outcome.channel.bytes);
    let mut report = if outcome.secret.is_empty() {
        wire::parse(&all_lines, tokens, n_tests)
    } else {
        wire::parse(&outcome.tagged_lines(), tokens, n_tests)
    };
    report.rejected = all_lines.len() - report.accepted + usize::from(cut);
    judge(task, sample, options, outcome, &report)
}

/// The harness's payload (its format is described atop `harness.py`).
fn payload(task: &Task, sample: &Sample, options: &VerifyOptions, tokens: &[String]) -> Vec<u8> {
    let tokens = tokens.join(" ");
    let message_chars = MESSAGE_CHARS.to_string();
    let mut fields: Vec<&str> = vec![
        if options.fail_fast { "1" } else { "0" },
        &message_chars,
        &tokens,
        &sample.code,
        task.setup.as_deref().unwrap_or(""),
    ];
    fields.extend(task.tests.iter().map(String::as_str));
    let size = fields.iter().map(|f| f.len() + 21).sum::<usize>() + 6;
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(b"NXTV1\n");
    for field in fields {
        out.extend_from_slice(field.len().to_string().as_bytes());
        out.push(b'\n');
        out.extend_from_slice(field.as_bytes());
    }
    out
}

/// The sandbox limits of a check: the wall-clock and address-space limits of the
/// options; the CPU time limit the sandbox derives from the wall-clock one (one second
/// more, rounded up), open files, file size and processes as the sandbox's defaults.
fn limits(options: &VerifyOptions) -> Limits {
    Limits {
        wall_time: Duration::from_secs_f64(options.timeout.clamp(0.001, 1e9)),
        address_space: options.memory_limit,
        output_bytes: options.output_tail.max(OUTPUT_KEEP),
        channel_bytes: CHANNEL_KEEP,
        ..Limits::default()
    }
}

const SIGXCPU: i32 = 24;

/// Turns what the harness reported and how the process ended into a result.
fn judge(
    task: &Task,
    sample: &Sample,
    options: &VerifyOptions,
    outcome: &Outcome,
    report: &wire::Report,
) -> Result<CheckResult, VerifyError> {
    let stderr_text = outcome.stderr.text();
    let mut meta = Map::new();
    let mut tests: Vec<TestResult> = task
        .tests
        .iter()
        .map(|_| TestResult {
            status: TestStatus::NotRun,
            exception: None,
            message: None,
            line: None,
        })
        .collect();

    // How the process ended, when it ended before the harness finished.
    let ended = || -> (Verdict, String) {
        match outcome.status {
            Status::TimedOut => (
                Verdict::Timeout,
                format!("the time limit ({} s) was reached", options.timeout),
            ),
            Status::Signaled(SIGXCPU) => {
                (Verdict::Timeout, "the CPU time limit was reached".into())
            }
            Status::Exited(code) if code != 0 && memory_failure(&stderr_text) => {
                (Verdict::Memory, "the memory limit was reached".into())
            }
            Status::Signaled(sig) if memory_failure(&stderr_text) => (
                Verdict::Memory,
                format!("killed by signal {sig} after running out of memory"),
            ),
            Status::Exited(code) => (
                Verdict::Crashed,
                format!("the program exited with code {code} before the tests finished"),
            ),
            Status::Signaled(sig) => (Verdict::Crashed, format!("killed by signal {sig}")),
            Status::WorkerLost => (
                Verdict::Crashed,
                "the worker process was lost (the program killed it?)".into(),
            ),
            other => (Verdict::Crashed, format!("{other:?}")),
        }
    };

    let status = if !report.started {
        // Nothing of the program ran: the harness itself did not get going.
        match outcome.status {
            Status::TimedOut => Verdict::Timeout,
            _ if memory_failure(&stderr_text) => Verdict::Memory,
            ref status => {
                return Err(VerifyError::Harness {
                    task_id: task.task_id.clone(),
                    sample_id: sample.sample_id.clone(),
                    message: format!(
                        "no start message ({status:?}); stderr: {}",
                        tail_str(stderr_text.trim_end(), 2000)
                    ),
                });
            }
        }
    } else if let Some(s) = &report.syntax {
        meta.insert(
            "syntax_error".into(),
            json!({"line": s.line, "column": s.column, "message": s.message}),
        );
        Verdict::SyntaxError
    } else if let Some((stage, raised)) = &report.stage_error {
        meta.insert(
            "error".into(),
            json!({
                "stage": stage.as_str(),
                "exception": raised.exception,
                "message": raised.message,
                "line": raised.line,
            }),
        );
        if raised.exception.as_deref() == Some("MemoryError") {
            Verdict::Memory
        } else {
            Verdict::Error
        }
    } else if let Some((stage @ (wire::Stage::Program | wire::Stage::Setup), code)) = &report.exit {
        meta.insert(
            "exit".into(),
            json!({"stage": stage.as_str(), "code": code}),
        );
        Verdict::Crashed
    } else {
        let mut verdict = None;
        for (i, (reported, result)) in report.tests.iter().zip(tests.iter_mut()).enumerate() {
            match reported {
                Some(t) => {
                    result.status = match t.status {
                        wire::Status::Passed => TestStatus::Passed,
                        wire::Status::Failed => TestStatus::Failed,
                        wire::Status::Error => TestStatus::Error,
                    };
                    result.exception = t.raised.exception.clone();
                    result.message = t.raised.message.clone().filter(|m| !m.is_empty());
                    result.line = t.raised.line;
                    if verdict.is_none() {
                        verdict = match (t.status, t.raised.exception.as_deref()) {
                            (wire::Status::Passed, _) => None,
                            (wire::Status::Failed, _) => Some(Verdict::Failed),
                            (_, Some("MemoryError")) => Some(Verdict::Memory),
                            (_, Some("SystemExit")) => Some(Verdict::Crashed),
                            (wire::Status::Error, _) => Some(Verdict::Error),
                        };
                    }
                }
                None if verdict.is_none() => {
                    // The first block with no report: the run ended during it (or
                    // before the tests, if the program and setup did not finish).
                    let (v, why) = if report.done {
                        (
                            Verdict::Crashed,
                            "the harness skipped this block".to_owned(),
                        )
                    } else {
                        ended()
                    };
                    if report.ran {
                        result.status = TestStatus::Error;
                        result.message = Some(why.clone());
                        meta.insert("ended_in".into(), json!(format!("test {i}")));
                    } else {
                        meta.insert("ended_in".into(), json!("program"));
                    }
                    meta.insert("reason".into(), json!(why));
                    verdict = Some(v);
                }
                None => {}
            }
        }
        match verdict {
            Some(v) => v,
            None if report.done => Verdict::Passed,
            None => {
                let (v, why) = ended();
                meta.insert(
                    "ended_in".into(),
                    json!(if report.ran {
                        "after the tests"
                    } else {
                        "program"
                    }),
                );
                meta.insert("reason".into(), json!(why));
                v
            }
        }
    };
    if let Some((wire::Stage::Test, code)) = &report.exit {
        meta.insert("exit".into(), json!({"stage": "test", "code": code}));
    }
    match outcome.status {
        Status::Exited(0) | Status::TimedOut => {}
        Status::Exited(code) => {
            meta.insert("exit_code".into(), json!(code));
        }
        Status::Signaled(sig) => {
            meta.insert("signal".into(), json!(sig));
        }
        Status::WorkerLost => {
            meta.insert("worker_lost".into(), json!(true));
        }
        other => {
            meta.insert("process".into(), json!(format!("{other:?}")));
        }
    }
    if report.rejected > 0 {
        meta.insert("channel_rejected".into(), json!(report.rejected));
    }
    for (name, captured) in [("stdout", &outcome.stdout), ("stderr", &outcome.stderr)] {
        if captured.truncated() {
            meta.insert(format!("{name}_bytes"), json!(captured.total));
        }
    }
    Ok(CheckResult {
        task_id: task.task_id.clone(),
        sample_id: sample.sample_id.clone(),
        status,
        tests,
        stdout: tail_bytes(&outcome.stdout.bytes, options.output_tail),
        stderr: tail_bytes(&outcome.stderr.bytes, options.output_tail),
        duration_ms: u64::try_from(outcome.duration.as_millis()).unwrap_or(u64::MAX),
        meta,
    })
}

fn memory_failure(stderr: &str) -> bool {
    stderr.contains("MemoryError")
        || stderr.contains("Cannot allocate memory")
        || stderr.contains("out of memory")
        // Rust's allocation failure (an embedded engine aborts with it)
        || stderr.contains("memory allocation of")
}

/// The last `max` bytes of `bytes` as valid UTF-8 (invalid sequences replaced), never
/// more than `max` bytes long.
pub(crate) fn tail_bytes(bytes: &[u8], max: usize) -> String {
    let mut start = bytes.len().saturating_sub(max);
    // Do not start inside a UTF-8 sequence.
    let mut skipped = 0;
    while start < bytes.len() && skipped < 3 && (bytes[start] & 0xC0) == 0x80 {
        start += 1;
        skipped += 1;
    }
    let text = String::from_utf8_lossy(&bytes[start..]);
    tail_str(&text, max).to_owned()
}

fn tail_str(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tails_are_valid_utf8_and_capped() {
        assert_eq!(tail_bytes(b"hello", 10), "hello");
        assert_eq!(tail_bytes(b"hello", 3), "llo");
        assert_eq!(tail_bytes(b"", 3), "");
        assert_eq!(tail_bytes(b"abc", 0), "");
        // "é" is two bytes: a cut inside it drops its second half.
        assert_eq!(tail_bytes("aé".as_bytes(), 1), "");
        assert_eq!(tail_bytes("aé".as_bytes(), 2), "é");
        // Invalid bytes become U+FFFD (3 bytes), still within the cap.
        let t = tail_bytes(b"x\xff\xffy", 4);
        assert!(t.len() <= 4, "{t:?}");
        assert!(t.ends_with('y'));
    }
}
