//! Running a trusted reference program on many inputs: evalplus's ground truth
//! (`docs/benchmarks-data.md`).
//!
//! A [`ReferenceRunner`] keeps its own pool of sandbox workers, loaded with a small
//! harness (`src/reference.py`) instead of the verification one. A [`ReferenceJob`] is a
//! program, the function to call, an encoder (Python source that defines
//! `encode(value)`, returning a dict of JSON values: what to record of an output) and
//! the inputs, each the Python source of a call's arguments. The harness runs the
//! program once in a fresh `__main__`, as verification does, then calls the function on
//! each input in turn, timing the call alone, and reports a [`ReferenceOutcome`] per
//! input. A call that runs past the per-input limit is stopped (`SIGALRM`); a process
//! that dies (memory, a crash) costs only the input it died on: the runner starts again
//! after it.
//!
//! # Example
//!
//! ```
//! use nxt_verify::reference::{ReferenceJob, ReferenceOutcome, ReferenceRunnerBuilder};
//!
//! let runner = ReferenceRunnerBuilder::new().build()?;
//! let job = ReferenceJob {
//!     program: "def half(x):\n    return x / 2\n",
//!     entry_point: "half",
//!     encoder: "def encode(value):\n    return {'repr': repr(value)}\n",
//!     inputs: vec!["3", "'a'"],
//! };
//! let outcomes = runner.run(&job)?;
//! match &outcomes[0] {
//!     ReferenceOutcome::Returned { value, .. } => assert_eq!(value["repr"], "1.5"),
//!     other => panic!("{other:?}"),
//! }
//! assert!(matches!(&outcomes[1], ReferenceOutcome::Raised { exception, .. } if exception == "TypeError"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::time::Duration;

use nxt_data::plus::{InputOracle, Problems, TaskOracle};
use nxt_sandbox::{Isolation, Job, Limits, Outcome, Pool, PoolBuilder, Status};
use serde_json::{Map, Value as Json};

use crate::{PRELOAD, VerifyError, tail_bytes, wire};

/// The harness of the reference runner's workers, as shipped with this crate.
pub const REFERENCE_HARNESS: &str = include_str!("reference.py");

/// One program to run on many inputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferenceJob<'a> {
    /// The program (run once, as `__main__`).
    pub program: &'a str,
    /// The function each input is passed to.
    pub entry_point: &'a str,
    /// Python source that defines `encode(value)`, returning a dict of JSON values
    /// (what [`ReferenceOutcome::Returned`] carries). It runs in its own namespace.
    pub encoder: &'a str,
    /// Each input: the Python source of the call's arguments (`[1, 2], 3`).
    pub inputs: Vec<&'a str>,
}

/// What one input gave.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ReferenceOutcome {
    /// The call returned: how long it took, and what the encoder made of its output.
    Returned {
        /// The call's wall-clock time, in seconds (`time.perf_counter`).
        seconds: f64,
        /// `encode(output)`.
        value: Map<String, Json>,
    },
    /// The call raised.
    Raised {
        /// The exception's type name.
        exception: String,
        /// Its message, cut at 500 characters.
        message: String,
    },
    /// The call ran past the per-input limit.
    TimedOut {
        /// How long it ran, in seconds.
        seconds: f64,
    },
    /// Nothing could be recorded: the program, the encoder or the arguments failed, or
    /// the process died during the call.
    Failed {
        /// Why.
        reason: String,
    },
}

/// Configures and starts a [`ReferenceRunner`].
#[derive(Debug, Clone)]
pub struct ReferenceRunnerBuilder {
    python: Option<PathBuf>,
    workers: usize,
    isolation: Isolation,
    memory_limit: Option<u64>,
    input_timeout: Duration,
    job_timeout: Duration,
}

impl Default for ReferenceRunnerBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl ReferenceRunnerBuilder {
    /// A builder with the defaults.
    pub fn new() -> ReferenceRunnerBuilder {
        ReferenceRunnerBuilder {
            python: None,
            workers: 1,
            isolation: Isolation::default(),
            memory_limit: Some(4 << 30),
            input_timeout: Duration::from_secs(60),
            job_timeout: Duration::from_secs(3600),
        }
    }

    /// The CPython interpreter.
    ///
    /// By default, the `NXT_PYTHON` environment variable if it is set, else `python3`
    /// on `PATH`.
    pub fn python(&mut self, path: impl Into<PathBuf>) -> &mut Self {
        self.python = Some(path.into());
        self
    }

    /// How many jobs run at once.
    ///
    /// By default, 1.
    pub fn workers(&mut self, n: usize) -> &mut Self {
        self.workers = n.max(1);
        self
    }

    /// How the workers are isolated (see [`Isolation`]).
    ///
    /// By default, [`Isolation::default()`], as for verification.
    pub fn isolation(&mut self, isolation: Isolation) -> &mut Self {
        self.isolation = isolation;
        self
    }

    /// The address-space limit of a job, in bytes; `None` for none.
    ///
    /// By default, 4 GiB, as for verification.
    pub fn memory_limit(&mut self, bytes: Option<u64>) -> &mut Self {
        self.memory_limit = bytes;
        self
    }

    /// The most one call may take ([`ReferenceOutcome::TimedOut`] past it).
    ///
    /// By default, 60 s.
    pub fn input_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.input_timeout = timeout;
        self
    }

    /// The most one job (a program and all its inputs) may take; past it the process
    /// is killed and the runner goes on after the input it was on.
    ///
    /// By default, one hour.
    pub fn job_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.job_timeout = timeout;
        self
    }

    /// Starts the workers.
    pub fn build(&self) -> Result<ReferenceRunner, VerifyError> {
        let python = self
            .python
            .clone()
            .unwrap_or_else(nxt_sandbox::default_python);
        let pool = PoolBuilder::new(REFERENCE_HARNESS)
            .python(python)
            .workers(self.workers)
            .env("PYTHONHASHSEED", "0")
            .preload(PRELOAD)
            .isolation(self.isolation.clone())
            .build()?;
        Ok(ReferenceRunner {
            pool,
            memory_limit: self.memory_limit,
            input_timeout: self.input_timeout,
            job_timeout: self.job_timeout,
        })
    }
}

/// Runs reference programs on their inputs in sandbox workers.
#[derive(Debug)]
pub struct ReferenceRunner {
    pool: Pool,
    memory_limit: Option<u64>,
    input_timeout: Duration,
    job_timeout: Duration,
}

/// One message of the harness.
#[derive(Debug)]
enum Message {
    Start,
    Error(String),
    Input(usize, ReferenceOutcome),
    Done,
}

fn message(line: &[u8]) -> Option<Message> {
    let value: Json = serde_json::from_slice(line).ok()?;
    let text = |key: &str| {
        value
            .get(key)
            .and_then(Json::as_str)
            .unwrap_or("")
            .to_owned()
    };
    Some(match value.get("k")?.as_str()? {
        "start" => Message::Start,
        "done" => Message::Done,
        "error" => Message::Error(format!(
            "the {} failed: {}: {}",
            match text("stage").as_str() {
                "entry_point" => "entry point".to_owned(),
                other => other.to_owned(),
            },
            text("exc"),
            text("msg")
        )),
        "input" => {
            let i = usize::try_from(value.get("i")?.as_u64()?).ok()?;
            let seconds = value.get("t").and_then(Json::as_f64).unwrap_or(0.0);
            let outcome = if value.get("ok")?.as_bool()? {
                ReferenceOutcome::Returned {
                    seconds,
                    value: value.get("v")?.as_object()?.clone(),
                }
            } else {
                match text("why").as_str() {
                    "raised" => ReferenceOutcome::Raised {
                        exception: text("exc"),
                        message: text("msg"),
                    },
                    "timeout" => ReferenceOutcome::TimedOut { seconds },
                    "arguments" => ReferenceOutcome::Failed {
                        reason: format!(
                            "the arguments did not evaluate: {}: {}",
                            text("exc"),
                            text("msg")
                        ),
                    },
                    "encode" => ReferenceOutcome::Failed {
                        reason: format!(
                            "the output could not be recorded: {}: {}",
                            text("exc"),
                            text("msg")
                        ),
                    },
                    other => ReferenceOutcome::Failed {
                        reason: format!("an unknown failure {other:?}"),
                    },
                }
            };
            Message::Input(i, outcome)
        }
        _ => return None,
    })
}

impl ReferenceRunner {
    /// The interpreter the workers run, e.g. `CPython 3.11.7`.
    pub fn interpreter(&self) -> &str {
        self.pool.interpreter()
    }

    /// How many jobs run at once.
    pub fn workers(&self) -> usize {
        self.pool.workers()
    }

    /// Runs one job: an outcome per input, in order.
    ///
    /// An error means the runner itself could not work (no interpreter, a broken
    /// worker, a harness that did not start); everything the reference does is an
    /// outcome.
    pub fn run(&self, job: &ReferenceJob<'_>) -> Result<Vec<ReferenceOutcome>, VerifyError> {
        let n = job.inputs.len();
        let mut outcomes: Vec<Option<ReferenceOutcome>> = vec![None; n];
        let mut start = 0;
        while start < n {
            let rest = &job.inputs[start..];
            let payload = payload(job, rest, self.input_timeout);
            let per_input = self.input_timeout.as_secs_f64() + 1.0;
            let wall = (per_input * rest.len() as f64 + 10.0).min(self.job_timeout.as_secs_f64());
            let mut sandbox_job = Job::new(&payload);
            sandbox_job.limits = Limits {
                wall_time: Duration::from_secs_f64(wall),
                address_space: self.memory_limit,
                output_bytes: 64 << 10,
                channel_bytes: 1 << 30,
                ..Limits::default()
            };
            let outcome = self.pool.run(&sandbox_job)?;
            let (all_lines, _) = wire::complete_lines(&outcome.channel.bytes);
            let lines = if outcome.secret.is_empty() {
                all_lines
            } else {
                outcome.tagged_lines()
            };
            let (mut started, mut done, mut error) = (false, false, None);
            for line in lines {
                match message(line) {
                    Some(Message::Start) => started = true,
                    Some(Message::Done) => done = true,
                    Some(Message::Error(reason)) => error = Some(reason),
                    Some(Message::Input(i, o)) if i < rest.len() => outcomes[start + i] = Some(o),
                    _ => {}
                }
            }
            if !started {
                return Err(VerifyError::Harness {
                    task_id: job.entry_point.to_owned(),
                    sample_id: "reference".to_owned(),
                    message: format!(
                        "the reference runner did not start ({:?}); stderr: {}",
                        outcome.status,
                        tail_bytes(&outcome.stderr.bytes, 2000)
                    ),
                });
            }
            if let Some(reason) = error {
                for slot in &mut outcomes[start..] {
                    slot.get_or_insert_with(|| ReferenceOutcome::Failed {
                        reason: reason.clone(),
                    });
                }
                break;
            }
            if done {
                break;
            }
            // The process ended during the first input without an outcome: that input
            // failed; go on after it.
            let Some(k) = (start..n).find(|&k| outcomes[k].is_none()) else {
                break;
            };
            outcomes[k] = Some(ReferenceOutcome::Failed {
                reason: ended(&outcome, wall),
            });
            start = k + 1;
        }
        Ok(outcomes
            .into_iter()
            .map(|o| {
                o.unwrap_or(ReferenceOutcome::Failed {
                    reason: "no outcome was reported".into(),
                })
            })
            .collect())
    }

    /// Runs many jobs on all workers at once, handing each job's outcomes to
    /// `on_result` (on the calling thread) as soon as they are ready, with the job's
    /// index. Returning [`ControlFlow::Break`] stops handing out jobs (those running
    /// finish and are handed over). Returns how many jobs were run.
    pub fn run_each<F>(&self, jobs: &[ReferenceJob<'_>], on_result: F) -> usize
    where
        F: FnMut(usize, Result<Vec<ReferenceOutcome>, VerifyError>) -> ControlFlow<()>,
    {
        crate::for_each_parallel(jobs, self.pool.workers(), |job| self.run(job), on_result)
    }

    /// The expected outputs of evalplus `problems` (HumanEval+ / MBPP+): each problem's
    /// reference program run on its inputs, as `nxt_data::plus::tasks` takes them.
    /// `on_done` is called on the calling thread after each problem; returning
    /// [`ControlFlow::Break`] stops (the problems running finish) and gives `Ok(None)`.
    ///
    /// # Errors
    ///
    /// The first error of [`ReferenceRunner::run`]; the other problems then stop.
    pub fn oracles(
        &self,
        problems: &Problems,
        mut on_done: impl FnMut() -> ControlFlow<()>,
    ) -> Result<Option<Vec<TaskOracle>>, VerifyError> {
        let programs: Vec<String> = problems.items.iter().map(|p| p.program()).collect();
        let encoders: Vec<String> = problems.items.iter().map(|p| p.encoder()).collect();
        let jobs: Vec<ReferenceJob<'_>> = problems
            .items
            .iter()
            .enumerate()
            .map(|(i, p)| ReferenceJob {
                program: &programs[i],
                entry_point: &p.entry_point,
                encoder: &encoders[i],
                inputs: p.inputs().collect(),
            })
            .collect();
        let mut outcomes: Vec<Option<Vec<ReferenceOutcome>>> = vec![None; jobs.len()];
        let mut failure = None;
        self.run_each(&jobs, |i, result| match result {
            Ok(o) => {
                outcomes[i] = Some(o);
                on_done()
            }
            Err(e) => {
                failure = Some(e);
                ControlFlow::Break(())
            }
        });
        if let Some(e) = failure {
            return Err(e);
        }
        Ok(problems
            .items
            .iter()
            .zip(outcomes)
            .map(|(problem, outcome)| {
                Some(TaskOracle {
                    task_id: problem.task_id.clone(),
                    inputs: outcome?.into_iter().map(input_oracle).collect(),
                })
            })
            .collect())
    }
}

/// What the reference runner saw, as `nxt_data::plus::tasks` takes it.
fn input_oracle(outcome: ReferenceOutcome) -> InputOracle {
    match outcome {
        ReferenceOutcome::Returned { seconds, value } => InputOracle::from_encoded(seconds, &value),
        ReferenceOutcome::Raised { exception, message } => {
            InputOracle::Dropped(format!("the reference raised {exception}: {message}"))
        }
        ReferenceOutcome::TimedOut { seconds } => InputOracle::Dropped(format!(
            "the reference ran for {seconds:.1} s and was stopped"
        )),
        ReferenceOutcome::Failed { reason } => InputOracle::Dropped(reason),
    }
}

fn payload(job: &ReferenceJob<'_>, inputs: &[&str], input_timeout: Duration) -> Vec<u8> {
    let limit = format!("{}", input_timeout.as_secs_f64());
    let mut fields: Vec<&str> = vec![&limit, job.program, job.entry_point, job.encoder];
    fields.extend(inputs.iter().copied());
    let size = fields.iter().map(|f| f.len() + 21).sum::<usize>() + 6;
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(b"NXTR1\n");
    for field in fields {
        out.extend_from_slice(field.len().to_string().as_bytes());
        out.push(b'\n');
        out.extend_from_slice(field.as_bytes());
    }
    out
}

/// Why a job's process ended before it reported on an input.
fn ended(outcome: &Outcome, wall: f64) -> String {
    let stderr = outcome.stderr.text();
    let memory = stderr.contains("MemoryError") || stderr.contains("Cannot allocate memory");
    match outcome.status {
        Status::TimedOut => format!("the job ran out of time ({wall:.0} s)"),
        Status::Signaled(24) => "the job ran out of CPU time".into(),
        _ if memory => "the process ran out of memory".into(),
        Status::Exited(code) => format!("the process exited with code {code}"),
        Status::Signaled(sig) => format!("the process was killed by signal {sig}"),
        Status::WorkerLost => "the worker was lost".into(),
        other => format!("the process ended: {other:?}"),
    }
}
