//! `nxt verify`: run programs against their tasks' tests, each check in its own
//! sandboxed process, and report verdicts and pass@k.
//!
//! `nxt verify TASKS.jsonl` verifies each task's own `code`; with `--samples
//! SAMPLES.jsonl` it verifies every sample against its task's tests instead. Results
//! go to `--out RESULTS.jsonl` as they come (`RESULTS.jsonl.partial`, finished
//! atomically and sorted in input order at the end; `--resume` continues an
//! interrupted run). At the end it prints `N passed, N failed`, the checks per second
//! and, when some task has several samples, the unbiased pass@k for each k of
//! `--pass-at`. Exit codes: 0 when it ran, whatever the verdicts; 1 when some checks
//! could not be run (or an internal error); 2 for bad input; 130 when interrupted.

use std::collections::{HashMap, HashSet};
use std::io::IsTerminal;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use nxt::core::{CheckResult, Sample, Task, VerifyOptions};
use nxt::data::{self, DataError, InvalidLine, OnInvalid, ResultsWriter};
use nxt::verify::{PythonVerifier, PythonVerifierBuilder, Summary, VerifyError};

use crate::BadInput;
use crate::trace_cmd::{EngineArg, parse_bytes};

/// How many non-passing checks are listed on stderr when there is no `--out`.
const LISTED_FAILURES: usize = 20;

#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// Tasks JSONL (docs/tasks-jsonl.md): each task's tests, and its own code to
    /// verify when there is no --samples.
    #[arg(value_name = "TASKS.jsonl")]
    tasks: PathBuf,
    /// Samples JSONL: candidate programs to verify against their tasks' tests.
    #[arg(long, value_name = "SAMPLES.jsonl")]
    samples: Option<PathBuf>,
    /// Write one result per check to this JSONL file (appended to
    /// RESULTS.jsonl.partial as checks finish; sorted in input order at the end).
    #[arg(long, value_name = "RESULTS.jsonl")]
    out: Option<PathBuf>,
    /// Checks run at once (default: the number of cores).
    #[arg(long, value_name = "N")]
    jobs: Option<usize>,
    /// Wall-clock limit of each check, in seconds (the CPU limit follows it).
    #[arg(long, default_value_t = 3.0, value_name = "SECONDS")]
    timeout: f64,
    /// Address-space limit of each check: bytes, or with a K/M/G suffix (powers of
    /// 1024), or `none`.
    #[arg(long, default_value = "4G", value_name = "BYTES")]
    memory_limit: String,
    /// Stop a check at its first failing test block (the rest are `not_run`).
    #[arg(long)]
    fail_fast: bool,
    /// The k of pass@k, comma-separated; printed when some task has several samples.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "1,5,10,25",
        value_name = "K,..."
    )]
    pass_at: Vec<u64>,
    /// Skip (and list on stderr) lines of TASKS and SAMPLES that cannot be read, and
    /// samples of unknown tasks, instead of stopping with exit code 2.
    #[arg(long)]
    skip_invalid: bool,
    /// Continue an interrupted run: keep the results already in --out (and its
    /// .partial file) and verify only the rest.
    #[arg(long, requires = "out")]
    resume: bool,
    /// The CPython that runs the programs (default: `python3` on PATH).
    #[arg(long, env = "NXT_PYTHON", value_name = "PATH")]
    python: Option<PathBuf>,
    /// The Python engine that runs the checks: CPython workers, or the embedded
    /// RustPython engine (needs an `nxt` built with `--features rustpython`; no CPython
    /// needed). A program RustPython cannot run like CPython is reported as
    /// unsupported and not verified (docs/engines.md).
    #[arg(long, value_enum, default_value_t = EngineArg::Cpython, value_name = "ENGINE")]
    engine: EngineArg,
}

/// A verifier of either engine.
enum EngineVerifier {
    CPython(PythonVerifier),
    #[cfg(feature = "rustpython")]
    RustPython(nxt_rustpython::RustPythonVerifier),
}

impl EngineVerifier {
    fn verify_each<F>(&self, pairs: &[(&Task, &Sample)], options: &VerifyOptions, mut f: F)
    where
        F: FnMut(usize, Result<CheckResult, anyhow::Error>) -> ControlFlow<()>,
    {
        match self {
            EngineVerifier::CPython(v) => {
                v.verify_each(pairs, options, |i, r| f(i, r.map_err(anyhow::Error::new)));
            }
            #[cfg(feature = "rustpython")]
            EngineVerifier::RustPython(v) => {
                v.verify_each(pairs, options, |i, r| f(i, r.map_err(anyhow::Error::new)));
            }
        }
    }
}

impl VerifyArgs {
    fn options(&self) -> Result<VerifyOptions> {
        if !(self.timeout.is_finite() && self.timeout > 0.0) {
            return Err(BadInput(format!(
                "--timeout must be a positive number of seconds, not {}",
                self.timeout
            ))
            .into());
        }
        if let Some(k) = self.pass_at.iter().find(|&&k| k == 0) {
            return Err(BadInput(format!("--pass-at: k must be at least 1, not {k}")).into());
        }
        Ok(VerifyOptions {
            timeout: self.timeout,
            memory_limit: parse_bytes(&self.memory_limit)?,
            fail_fast: self.fail_fast,
            ..VerifyOptions::default()
        })
    }

    fn on_invalid(&self) -> OnInvalid {
        if self.skip_invalid {
            OnInvalid::Skip
        } else {
            OnInvalid::Fail
        }
    }

    fn verifier(&self, workers: usize) -> Result<EngineVerifier> {
        if self.engine == EngineArg::Rustpython {
            #[cfg(feature = "rustpython")]
            {
                let verifier = nxt_rustpython::RustPythonVerifierBuilder::new()
                    .worker(crate::trace_cmd::rustpython_worker()?)
                    .workers(workers)
                    .build()?;
                return Ok(EngineVerifier::RustPython(verifier));
            }
            #[cfg(not(feature = "rustpython"))]
            return Err(crate::trace_cmd::no_rustpython());
        }
        let mut builder = PythonVerifierBuilder::new();
        builder.workers(workers);
        if let Some(python) = &self.python {
            builder.python(python);
        }
        builder
            .build()
            .map(EngineVerifier::CPython)
            .map_err(|e| match e {
                VerifyError::Sandbox(
                    e @ nxt::sandbox::SandboxError::InterpreterNotFound { .. },
                ) => BadInput(e.to_string()).into(),
                other => anyhow::Error::new(other),
            })
    }
}

/// A data error caused by the input files (not by the disk): exit code 2.
fn bad_data(e: DataError) -> anyhow::Error {
    BadInput(e.to_string()).into()
}

fn warn_skipped(skipped: &[InvalidLine]) {
    for line in skipped {
        eprintln!("nxt: skipped {line}");
    }
}

/// The line of `path` that holds the sample (`task_id`, `sample_id`), for messages.
fn sample_line(path: &Path, task_id: &str, sample_id: &str) -> Option<usize> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines()
        .position(|line| {
            serde_json::from_str::<serde_json::Value>(line).is_ok_and(|v| {
                v["task_id"].as_str() == Some(task_id) && v["sample_id"].as_str() == Some(sample_id)
            })
        })
        .map(|i| i + 1)
}

/// What to verify: the pairs, in input order, and each pair's place for sorting.
struct Work {
    tasks: Vec<Task>,
    samples: Vec<Sample>,
    /// Index into `tasks` of each sample.
    task_of: Vec<usize>,
}

fn load(args: &VerifyArgs) -> Result<Work> {
    let loaded = data::read_tasks(&args.tasks, args.on_invalid()).map_err(bad_data)?;
    warn_skipped(&loaded.skipped);
    let tasks = loaded.items;
    let index: HashMap<&str, usize> = tasks
        .iter()
        .enumerate()
        .map(|(i, t)| (t.task_id.as_str(), i))
        .collect();
    let (samples, task_of) = match &args.samples {
        None => (
            tasks.iter().map(Sample::of_task).collect(),
            (0..tasks.len()).collect(),
        ),
        Some(path) => {
            let loaded = data::read_samples(path, args.on_invalid()).map_err(bad_data)?;
            warn_skipped(&loaded.skipped);
            let mut samples = Vec::with_capacity(loaded.items.len());
            let mut task_of = Vec::with_capacity(loaded.items.len());
            for sample in loaded.items {
                match index.get(sample.task_id.as_str()) {
                    Some(&i) => {
                        samples.push(sample);
                        task_of.push(i);
                    }
                    None => {
                        let place = match sample_line(path, &sample.task_id, &sample.sample_id) {
                            Some(line) => format!("{}:{line}", path.display()),
                            None => path.display().to_string(),
                        };
                        let message = format!(
                            "{place}: field `task_id`: no task {:?} in {}",
                            sample.task_id,
                            args.tasks.display()
                        );
                        if args.skip_invalid {
                            eprintln!("nxt: skipped {message}");
                        } else {
                            return Err(BadInput(message).into());
                        }
                    }
                }
            }
            (samples, task_of)
        }
    };
    drop(index);
    Ok(Work {
        tasks,
        samples,
        task_of,
    })
}

pub(crate) fn run(args: VerifyArgs) -> Result<u8> {
    let options = args.options()?;
    let work = load(&args)?;

    let (mut writer, resumed) = match &args.out {
        Some(out) => {
            let (writer, resumed) =
                ResultsWriter::create(out, args.resume).map_err(|e| match e {
                    e @ DataError::Io { .. } => anyhow::Error::new(e),
                    other => bad_data(other),
                })?;
            (Some(writer), resumed)
        }
        None => (None, Vec::new()),
    };
    let done: HashSet<(&str, &str)> = resumed
        .iter()
        .map(|r| (r.task_id.as_str(), r.sample_id.as_str()))
        .collect();
    let todo: Vec<usize> = (0..work.samples.len())
        .filter(|&i| {
            let s = &work.samples[i];
            !done.contains(&(s.task_id.as_str(), s.sample_id.as_str()))
        })
        .collect();
    let pairs: Vec<(&Task, &Sample)> = todo
        .iter()
        .map(|&i| (&work.tasks[work.task_of[i]], &work.samples[i]))
        .collect();

    let mut summary: Summary = resumed.iter().collect();
    if !resumed.is_empty() {
        eprintln!(
            "nxt: resuming: {} checks already done, {} to go",
            resumed.len(),
            pairs.len()
        );
    }

    let interrupted = Arc::new(AtomicBool::new(false));
    let mut failures: Vec<String> = Vec::new();
    let mut not_run = 0usize;
    let mut write_error: Option<DataError> = None;
    let mut started = Instant::now();
    let mut startup = None;
    let mut checked = 0usize;
    if !pairs.is_empty() {
        let jobs = args
            .jobs
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
            .clamp(1, pairs.len());
        let verifier = args.verifier(jobs)?;
        startup = Some(started.elapsed().as_secs_f64());
        started = Instant::now();
        {
            let flag = Arc::clone(&interrupted);
            // A second handler cannot be installed in the same process; ignore that.
            let _ = ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst));
        }
        let bar = if std::io::stderr().is_terminal() {
            ProgressBar::with_draw_target(Some(pairs.len() as u64), ProgressDrawTarget::stderr())
        } else {
            ProgressBar::hidden()
        };
        bar.set_style(
            ProgressStyle::with_template(
                "{bar:40} {pos}/{len} checks, {msg} ({per_sec}, eta {eta})",
            )
            .expect("a valid template"),
        );
        bar.set_message("0 passed");
        verifier.verify_each(&pairs, &options, |i, result| {
            if write_error.is_some() {
                return ControlFlow::Break(());
            }
            match result {
                Ok(result) => {
                    checked += 1;
                    summary.add(&result);
                    if !result.status.passed() && writer.is_none() {
                        failures.push(describe(&result));
                    }
                    if let Some(w) = writer.as_mut()
                        && let Err(e) = w.append(&result)
                    {
                        write_error = Some(e);
                        return ControlFlow::Break(());
                    }
                }
                Err(e) => {
                    not_run += 1;
                    let (task, sample) = pairs[i];
                    bar.suspend(|| eprintln!("nxt: {} {}: {e}", task.task_id, sample.sample_id));
                }
            }
            bar.set_message(format!("{} passed", summary.passed()));
            bar.inc(1);
            if interrupted.load(Ordering::SeqCst) {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
        bar.finish_and_clear();
    }
    let elapsed = started.elapsed().as_secs_f64();

    if let Some(e) = write_error {
        // Everything appended before the error is in the .partial file.
        return Err(anyhow::Error::new(e).context("writing the results"));
    }
    let was_interrupted = interrupted.load(Ordering::SeqCst);
    if let Some(w) = writer {
        let place: HashMap<(&str, &str), (usize, usize)> = work
            .samples
            .iter()
            .enumerate()
            .map(|(i, s)| {
                (
                    (s.task_id.as_str(), s.sample_id.as_str()),
                    (work.task_of[i], i),
                )
            })
            .collect();
        w.finish(|r| {
            place
                .get(&(r.task_id.as_str(), r.sample_id.as_str()))
                .copied()
                .unwrap_or((usize::MAX, usize::MAX))
        })
        .context("writing the results")?;
    }

    for line in failures.iter().take(LISTED_FAILURES) {
        eprintln!("nxt: {line}");
    }
    if failures.len() > LISTED_FAILURES {
        eprintln!(
            "nxt: ... and {} more (write them all with --out)",
            failures.len() - LISTED_FAILURES
        );
    }
    print_summary(&summary, checked, elapsed, startup, &args.pass_at);
    if was_interrupted {
        let left = pairs.len() - checked - not_run;
        eprintln!(
            "nxt: interrupted; {left} checks were not run{}",
            if args.out.is_some() {
                " (continue with --resume)"
            } else {
                ""
            }
        );
        return Ok(130);
    }
    if not_run > 0 {
        eprintln!("nxt: {not_run} checks could not be run");
        return Ok(1);
    }
    Ok(0)
}

/// One line about a check that did not pass.
fn describe(r: &CheckResult) -> String {
    let mut text = format!("{} {}: {}", r.task_id, r.sample_id, r.status.as_str());
    if let Some((i, t)) = r
        .tests
        .iter()
        .enumerate()
        .find(|(_, t)| t.exception.is_some() || t.message.is_some())
    {
        text.push_str(&format!(" (test {i}"));
        if let Some(line) = t.line {
            text.push_str(&format!(", line {line}"));
        }
        match (&t.exception, &t.message) {
            (Some(e), Some(m)) => text.push_str(&format!(": {e}: {}", one_line(m))),
            (Some(e), None) => text.push_str(&format!(": {e}")),
            (None, Some(m)) => text.push_str(&format!(": {}", one_line(m))),
            (None, None) => {}
        }
        text.push(')');
    } else if let Some(e) = r.meta.get("error").or_else(|| r.meta.get("syntax_error")) {
        let exception = e["exception"].as_str().unwrap_or("SyntaxError");
        let message = e["message"].as_str().unwrap_or("");
        text.push_str(&format!(" ({exception}: {}", one_line(message)));
        if let Some(line) = e["line"].as_u64() {
            text.push_str(&format!(", line {line}"));
        }
        text.push(')');
    } else if let Some(reason) = r.meta.get("reason").and_then(|r| r.as_str()) {
        text.push_str(&format!(" ({reason})"));
    }
    text
}

fn one_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or("");
    let mut out: String = line.chars().take(120).collect();
    if out.len() < text.len() {
        out.push_str("...");
    }
    out
}

fn print_summary(
    summary: &Summary,
    checked: usize,
    elapsed: f64,
    startup: Option<f64>,
    ks: &[u64],
) {
    println!("{} passed, {} failed", summary.passed(), summary.failed());
    let others: Vec<String> = summary
        .counts()
        .filter(|(v, _)| !v.passed())
        .map(|(v, n)| format!("{n} {}", v.as_str()))
        .collect();
    if !others.is_empty() {
        println!("not passed: {}", others.join(", "));
    }
    let rate = if elapsed > 0.0 {
        checked as f64 / elapsed
    } else {
        0.0
    };
    let workers = match startup {
        Some(s) => format!(" (workers started in {s:.2} s)"),
        None => String::new(),
    };
    println!("{checked} checks in {elapsed:.2} s: {rate:.1} checks/s{workers}");
    if summary.max_samples() > 1 {
        for &k in ks {
            let p = summary.pass_at(k);
            match p.value {
                Some(v) => {
                    let skipped = if p.skipped > 0 {
                        format!(" ({} with fewer than {k} samples left out)", p.skipped)
                    } else {
                        String::new()
                    };
                    println!("pass@{k}: {v:.4} over {} tasks{skipped}", p.tasks);
                }
                None => println!("pass@{k}: n/a (no task has {k} samples)"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use nxt::core::Verdict;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: VerifyArgs,
    }

    fn fixture(name: &str) -> String {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures/verify")
            .join(name)
            .to_string_lossy()
            .into_owned()
    }

    fn args(argv: &[&str]) -> VerifyArgs {
        Cli::try_parse_from(std::iter::once("verify").chain(argv.iter().copied()))
            .unwrap()
            .args
    }

    fn bad_input(result: Result<u8>) -> String {
        let err = result.expect_err("bad input");
        err.downcast_ref::<BadInput>()
            .unwrap_or_else(|| panic!("not bad input: {err:#}"))
            .0
            .clone()
    }

    #[test]
    fn options_parse() {
        let a = args(&[
            "t.jsonl",
            "--pass-at",
            "1,10",
            "--memory-limit",
            "none",
            "--fail-fast",
        ]);
        assert_eq!(a.pass_at, [1, 10]);
        let o = a.options().unwrap();
        assert_eq!(o.memory_limit, None);
        assert!(o.fail_fast);
        assert_eq!(o.timeout, 3.0);
        let o = args(&["t.jsonl"]).options().unwrap();
        assert_eq!(o.memory_limit, Some(4 << 30));
        assert!(args(&["t.jsonl", "--timeout", "0"]).options().is_err());
        assert!(args(&["t.jsonl", "--pass-at", "0"]).options().is_err());
        assert!(Cli::try_parse_from(["verify", "t.jsonl", "--resume"]).is_err());
    }

    #[test]
    fn verifies_samples_writes_sorted_results_and_resumes() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("results.jsonl");
        let out_s = out.to_string_lossy().into_owned();
        let tasks = fixture("cli_tasks.jsonl");
        let samples = fixture("cli_samples.jsonl");
        let argv = [
            tasks.as_str(),
            "--samples",
            samples.as_str(),
            "--out",
            out_s.as_str(),
            "--timeout",
            "0.5",
            "--jobs",
            "2",
        ];
        assert_eq!(run(args(&argv)).unwrap(), 0);
        let results = data::read_results(&out).unwrap().items;
        let got: Vec<(String, String, Verdict)> = results
            .iter()
            .map(|r| (r.task_id.clone(), r.sample_id.clone(), r.status))
            .collect();
        let want: Vec<(String, String, Verdict)> = [
            ("add/0", "0", Verdict::Passed),
            ("add/0", "1", Verdict::Failed),
            ("add/0", "2", Verdict::Passed),
            ("add/0", "3", Verdict::Failed),
            ("add/0", "4", Verdict::Passed),
            ("max/0", "0", Verdict::Passed),
            ("max/0", "1", Verdict::Failed),
            ("max/0", "2", Verdict::Passed),
            ("max/0", "3", Verdict::Timeout),
            ("max/0", "4", Verdict::Failed),
        ]
        .iter()
        .map(|(t, s, v)| (t.to_string(), s.to_string(), *v))
        .collect();
        assert_eq!(got, want);

        // Again without --resume: the results would be overwritten.
        let msg = bad_input(run(args(&argv)));
        assert!(msg.contains("already exists"), "{msg}");

        // Drop two results and resume: only those two are verified again.
        let kept: Vec<CheckResult> = results.into_iter().filter(|r| r.sample_id != "1").collect();
        data::write_jsonl(&out, &kept).unwrap();
        let mut resumed = argv.to_vec();
        resumed.push("--resume");
        assert_eq!(run(args(&resumed)).unwrap(), 0);
        let again = data::read_results(&out).unwrap().items;
        assert_eq!(again.len(), 10);
        assert_eq!(again[1].sample_id, "1");
        assert_eq!(again[1].status, Verdict::Failed);
    }

    #[test]
    fn samples_of_unknown_tasks_are_bad_input() {
        let tasks = fixture("cli_tasks.jsonl");
        let samples = fixture("cli_samples_unknown_task.jsonl");
        let msg = bad_input(run(args(&[&tasks, "--samples", &samples])));
        assert!(
            msg.ends_with(&format!(
                "cli_samples_unknown_task.jsonl:2: field `task_id`: no task \"nope/1\" in {tasks}"
            )),
            "{msg}"
        );
        // With --skip-invalid it is skipped, and the rest is verified.
        assert_eq!(
            run(args(&[&tasks, "--samples", &samples, "--skip-invalid"])).unwrap(),
            0
        );
    }

    #[test]
    fn invalid_tasks_name_file_line_and_field() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tasks.jsonl");
        std::fs::write(
            &path,
            "{\"task_id\": \"a\", \"prompt\": \"\", \"code\": \"\", \"tests\": \"assert 1\"}\n",
        )
        .unwrap();
        let msg = bad_input(run(args(&[path.to_str().unwrap()])));
        assert!(
            msg.ends_with(
                "tasks.jsonl:1: field `tests`: expected a list of strings, found a string"
            ),
            "{msg}"
        );
        let msg = bad_input(run(args(&["/nonexistent/tasks.jsonl"])));
        assert!(msg.contains("/nonexistent/tasks.jsonl"), "{msg}");
    }

    fn result(status: Verdict) -> CheckResult {
        CheckResult {
            task_id: "t/1".into(),
            sample_id: "3".into(),
            status,
            tests: vec![],
            stdout: String::new(),
            stderr: String::new(),
            duration_ms: 1,
            meta: Default::default(),
        }
    }

    #[test]
    fn failures_are_described_on_one_line() {
        let mut r = result(Verdict::Failed);
        r.tests.push(nxt::core::TestResult {
            status: nxt::core::TestStatus::Failed,
            exception: Some("AssertionError".into()),
            message: Some("expected 3\ngot 4".into()),
            line: Some(7),
        });
        assert_eq!(
            describe(&r),
            "t/1 3: failed (test 0, line 7: AssertionError: expected 3...)"
        );
        let mut r = result(Verdict::Timeout);
        r.meta
            .insert("reason".into(), "the time limit (3 s) was reached".into());
        assert_eq!(
            describe(&r),
            "t/1 3: timeout (the time limit (3 s) was reached)"
        );
    }
}
