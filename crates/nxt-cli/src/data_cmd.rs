//! `nxt data`: benchmark files to tasks JSONL (`docs/tasks-jsonl.md`,
//! `docs/benchmarks-data.md`), and repair tasks from failing samples.
//!
//! `nxt data import humaneval HumanEval.jsonl --out tasks.jsonl` and `nxt data import
//! mbpp mbpp.jsonl` (or `sanitized-mbpp.json`) write tasks whose `code` is the
//! reference solution; `humanevalfix` writes HumanEvalFix's repair tasks;
//! `humaneval-plus` and `mbpp-plus` (evalplus's native files) run each reference on
//! every input in the sandbox to get the expected outputs (cached on disk, keyed by the
//! file's hash); `hefix-plus` pairs HumanEvalFix's buggy programs with HumanEval+'s
//! tests. `nxt data mbpp-r TASKS.jsonl SAMPLES.jsonl --out REPAIR.jsonl` verifies each
//! sample and writes a repair task for each one that fails. Bad input (an unreadable
//! file, a bad line, a duplicate id) exits with 2; `--skip-invalid` skips bad lines and
//! lists them on standard error.

use std::collections::HashSet;
use std::io::IsTerminal;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use nxt::core::{CheckResult, Sample, Task, VerifyOptions};
use nxt::data::plus::{self, Benchmark, OracleCache, PlusOptions, Problems, TaskOracle};
use nxt::data::repair::{self, RepairOptions};
use nxt::data::{self, DataError, InvalidLine, OnInvalid, import};
use nxt::verify::reference::ReferenceRunnerBuilder;
use nxt::verify::{PythonVerifierBuilder, VerifyError};

use crate::BadInput;

/// How many dropped inputs (or skipped tasks) are listed on stderr.
const LISTED: usize = 10;

#[derive(Debug, Args)]
pub(crate) struct DataArgs {
    #[command(subcommand)]
    command: DataCommand,
}

#[derive(Debug, Subcommand)]
enum DataCommand {
    /// Convert a benchmark file into tasks JSONL; each task's `code` is the reference
    /// solution (for humanevalfix and hefix-plus: the buggy program).
    Import(ImportArgs),
    /// Verify samples against their tasks' tests and write a repair task for each one
    /// that fails (NExT's MBPP-R; works on any tasks file).
    #[command(name = "mbpp-r")]
    MbppR(MbppRArgs),
}

#[derive(Debug, Args)]
struct ImportArgs {
    /// The benchmark's format.
    #[arg(value_enum)]
    format: Format,
    /// The benchmark file: `HumanEval.jsonl` (humaneval); `mbpp.jsonl` or
    /// `sanitized-mbpp.json`, told apart by content (mbpp); `humanevalpack_python.jsonl`
    /// (humanevalfix, hefix-plus); `HumanEvalPlus.jsonl` (humaneval-plus);
    /// `MbppPlus.jsonl` (mbpp-plus).
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// Write the tasks here, atomically (default: standard output).
    #[arg(long, value_name = "TASKS.jsonl")]
    out: Option<PathBuf>,
    /// Skip lines that cannot be read, listing them on standard error, instead of
    /// stopping at the first (a duplicate id still stops).
    #[arg(long)]
    skip_invalid: bool,
    /// hefix-plus: HumanEval+ in evalplus's format, whose tests the buggy programs get.
    #[arg(long, value_name = "HumanEvalPlus.jsonl")]
    plus: Option<PathBuf>,
    /// Where expected outputs are cached, by the file's SHA-256 (default:
    /// $XDG_CACHE_HOME/nxt, else ~/.cache/nxt).
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// References run at once when computing expected outputs (default: the number of
    /// cores).
    #[arg(long, value_name = "N")]
    jobs: Option<usize>,
    /// Each input's time limit is at least this many seconds (evalplus: 1)...
    #[arg(long, default_value_t = plus::MIN_TIME_LIMIT, value_name = "SECONDS")]
    min_time_limit: f64,
    /// ...and this many times the reference's own time (evalplus: 4).
    #[arg(long, default_value_t = plus::TIME_LIMIT_FACTOR, value_name = "FACTOR")]
    time_limit_factor: f64,
    /// The CPython that runs the references (default: `python3` on PATH).
    #[arg(long, env = "NXT_PYTHON", value_name = "PATH")]
    python: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// OpenAI's HumanEval (and files in its format: HumanEval+, HumanEvalPack).
    Humaneval,
    /// Google's MBPP: the full `mbpp.jsonl` or the sanitized `sanitized-mbpp.json`.
    Mbpp,
    /// HumanEvalFix (HumanEvalPack, Python): repair tasks, `code` the buggy program.
    Humanevalfix,
    /// HumanEval+ (evalplus): one test block per input, expected outputs computed.
    #[value(name = "humaneval-plus")]
    HumanevalPlus,
    /// MBPP+ (evalplus): one test block per input, expected outputs computed.
    #[value(name = "mbpp-plus")]
    MbppPlus,
    /// HEFix+ (NExT): HumanEvalFix's buggy programs with HumanEval+'s tests (needs
    /// --plus).
    #[value(name = "hefix-plus")]
    HefixPlus,
}

#[derive(Debug, Args)]
struct MbppRArgs {
    /// Tasks JSONL: each task's tests and reference (`solution`).
    #[arg(value_name = "TASKS.jsonl")]
    tasks: PathBuf,
    /// Samples JSONL: the candidate programs (model samples) for those tasks.
    #[arg(value_name = "SAMPLES.jsonl")]
    samples: PathBuf,
    /// Write the repair tasks here, atomically.
    #[arg(long, value_name = "REPAIR.jsonl")]
    out: PathBuf,
    /// Keep at most N repair tasks per task: the first failing samples in file order,
    /// duplicates removed first (default: no limit).
    #[arg(long, value_name = "N")]
    max_per_task: Option<usize>,
    /// Checks run at once (default: the number of cores).
    #[arg(long, value_name = "N")]
    jobs: Option<usize>,
    /// Wall-clock limit of each check, in seconds (a task's own `meta.timeout` when
    /// larger).
    #[arg(long, default_value_t = 3.0, value_name = "SECONDS")]
    timeout: f64,
    /// Skip (and list on stderr) lines of TASKS and SAMPLES that cannot be read, and
    /// samples of unknown tasks, instead of stopping with exit code 2.
    #[arg(long)]
    skip_invalid: bool,
    /// The CPython that runs the programs (default: `python3` on PATH).
    #[arg(long, env = "NXT_PYTHON", value_name = "PATH")]
    python: Option<PathBuf>,
}

pub(crate) fn run(args: DataArgs) -> Result<u8> {
    match args.command {
        DataCommand::Import(args) => run_import(&args),
        DataCommand::MbppR(args) => run_mbpp_r(&args),
    }
}

fn on_invalid(skip: bool) -> OnInvalid {
    if skip {
        OnInvalid::Skip
    } else {
        OnInvalid::Fail
    }
}

fn jobs(requested: Option<usize>, work: usize) -> usize {
    requested
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .clamp(1, work.max(1))
}

fn progress(len: usize, what: &str) -> ProgressBar {
    let bar = if std::io::stderr().is_terminal() {
        ProgressBar::with_draw_target(Some(len as u64), ProgressDrawTarget::stderr())
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "{{bar:40}} {{pos}}/{{len}} {what} ({{per_sec}}, eta {{eta}})"
        ))
        .expect("a valid template"),
    );
    bar
}

fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

fn run_import(args: &ImportArgs) -> Result<u8> {
    if args.plus.is_some() && args.format != Format::HefixPlus {
        return Err(BadInput("--plus is for hefix-plus only".into()).into());
    }
    let options = PlusOptions {
        min_time_limit: args.min_time_limit,
        time_limit_factor: args.time_limit_factor,
    };
    let positive = |x: f64| x.is_finite() && x > 0.0;
    if !(positive(options.min_time_limit) && positive(options.time_limit_factor)) {
        return Err(
            BadInput("--min-time-limit and --time-limit-factor must be positive".into()).into(),
        );
    }
    let on_invalid = on_invalid(args.skip_invalid);
    let (tasks, skipped) = match args.format {
        Format::Humaneval | Format::Mbpp | Format::Humanevalfix => {
            let loaded = match args.format {
                Format::Humaneval => import::humaneval_with(&args.file, on_invalid),
                Format::Mbpp => import::mbpp_with(&args.file, on_invalid),
                _ => import::humanevalfix_with(&args.file, on_invalid),
            }
            .map_err(read_error)?;
            (loaded.items, loaded.skipped)
        }
        Format::HumanevalPlus => plus_tasks(args, &args.file, Benchmark::HumanEvalPlus, &options)?,
        Format::MbppPlus => plus_tasks(args, &args.file, Benchmark::MbppPlus, &options)?,
        Format::HefixPlus => {
            let Some(plus_file) = &args.plus else {
                return Err(BadInput("hefix-plus needs --plus HumanEvalPlus.jsonl".into()).into());
            };
            let fix = import::humanevalfix_with(&args.file, on_invalid).map_err(read_error)?;
            let (plus_tasks, mut skipped) =
                plus_tasks(args, plus_file, Benchmark::HumanEvalPlus, &options)?;
            let tasks =
                import::hefix_plus(&fix.items, &plus_tasks).map_err(|e| BadInput(e.to_string()))?;
            skipped.extend(fix.skipped);
            (tasks, skipped)
        }
    };
    for line in &skipped {
        eprintln!("nxt: skipped {line}");
    }

    let destination = match &args.out {
        Some(out) => {
            data::write_jsonl(out, &tasks).map_err(write_error)?;
            out.display().to_string()
        }
        None => {
            let stdout = std::io::stdout().lock();
            match data::write_jsonl_to(std::io::BufWriter::new(stdout), &tasks) {
                Ok(()) => {}
                // `nxt data import ... | head`: the reader has all it wants.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(0),
                Err(e) => return Err(e).context("writing the tasks to standard output"),
            }
            "standard output".to_owned()
        }
    };
    let skipped = match skipped.len() {
        0 => String::new(),
        1 => " (skipped 1 invalid line)".to_owned(),
        n => format!(" (skipped {n} invalid lines)"),
    };
    eprintln!(
        "wrote {} to {destination}{skipped}",
        plural(tasks.len(), "task", "tasks")
    );
    Ok(0)
}

/// HumanEval+ or MBPP+ tasks: the file's problems, their expected outputs (from the
/// cache, or computed by running the references), then one test block per input.
fn plus_tasks(
    args: &ImportArgs,
    path: &Path,
    benchmark: Benchmark,
    options: &PlusOptions,
) -> Result<(Vec<Task>, Vec<InvalidLine>)> {
    let problems =
        plus::read(path, benchmark, on_invalid(args.skip_invalid)).map_err(read_error)?;
    let cache = args
        .cache_dir
        .clone()
        .or_else(OracleCache::default_dir)
        .map(OracleCache::new);
    let cached = match &cache {
        Some(cache) => match cache.load(&problems) {
            Ok(found) => found,
            Err(e) => {
                eprintln!("nxt: not using the cached expected outputs: {e}");
                None
            }
        },
        None => {
            eprintln!("nxt: no cache directory (set --cache-dir, XDG_CACHE_HOME or HOME)");
            None
        }
    };
    let oracles = match cached {
        Some(oracles) => {
            let place = cache
                .as_ref()
                .map(|c| c.path(&problems))
                .unwrap_or_default();
            eprintln!("nxt: expected outputs from the cache {}", place.display());
            oracles
        }
        None => {
            let oracles = compute_oracles(args, &problems)?;
            if let Some(cache) = &cache {
                match cache.store(&problems, &oracles) {
                    Ok(place) => {
                        eprintln!("nxt: cached the expected outputs in {}", place.display())
                    }
                    Err(e) => eprintln!("nxt: could not cache the expected outputs: {e}"),
                }
            }
            oracles
        }
    };
    let made = plus::tasks(&problems, &oracles, options).map_err(|e| BadInput(e.to_string()))?;
    if !made.dropped.is_empty() {
        eprintln!(
            "nxt: {} left out (see each task's meta.dropped):",
            plural(made.dropped.len(), "input", "inputs")
        );
        for d in made.dropped.iter().take(LISTED) {
            eprintln!("nxt:   {} {}: {}", d.task_id, d.input, d.reason);
        }
        if made.dropped.len() > LISTED {
            eprintln!("nxt:   ... and {} more", made.dropped.len() - LISTED);
        }
    }
    if !made.empty.is_empty() {
        eprintln!(
            "nxt: {} left out, no input left: {}",
            plural(made.empty.len(), "problem", "problems"),
            made.empty.join(", ")
        );
    }
    Ok((made.tasks, problems.skipped))
}

/// Runs every problem's reference on its inputs in the sandbox.
fn compute_oracles(args: &ImportArgs, problems: &Problems) -> Result<Vec<TaskOracle>> {
    let workers = jobs(args.jobs, problems.items.len());
    let mut builder = ReferenceRunnerBuilder::new();
    builder.workers(workers);
    if let Some(python) = &args.python {
        builder.python(python);
    }
    let started = Instant::now();
    let runner = builder.build().map_err(|e| match e {
        VerifyError::Sandbox(e @ nxt::sandbox::SandboxError::InterpreterNotFound { .. }) => {
            BadInput(e.to_string()).into()
        }
        other => anyhow::Error::new(other),
    })?;
    eprintln!(
        "nxt: computing the expected outputs of {} ({} inputs) with {}, {} at once",
        plural(problems.items.len(), "problem", "problems"),
        problems.inputs(),
        runner.interpreter(),
        workers
    );
    let bar = progress(problems.items.len(), "problems");
    let oracles = runner
        .oracles(problems, || {
            bar.inc(1);
            ControlFlow::Continue(())
        })
        .context("running the references")?;
    bar.finish_and_clear();
    eprintln!(
        "nxt: expected outputs computed in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(oracles.expect("never stopped"))
}

fn run_mbpp_r(args: &MbppRArgs) -> Result<u8> {
    if !(args.timeout.is_finite() && args.timeout > 0.0) {
        return Err(BadInput(format!(
            "--timeout must be a positive number of seconds, not {}",
            args.timeout
        ))
        .into());
    }
    let on_invalid = on_invalid(args.skip_invalid);
    let tasks = data::read_tasks(&args.tasks, on_invalid).map_err(|e| BadInput(e.to_string()))?;
    let samples =
        data::read_samples(&args.samples, on_invalid).map_err(|e| BadInput(e.to_string()))?;
    for line in tasks.skipped.iter().chain(&samples.skipped) {
        eprintln!("nxt: skipped {line}");
    }
    let tasks = tasks.items;
    let index: std::collections::HashMap<&str, usize> = tasks
        .iter()
        .enumerate()
        .map(|(i, t)| (t.task_id.as_str(), i))
        .collect();
    let mut kept: Vec<Sample> = Vec::with_capacity(samples.items.len());
    for sample in samples.items {
        if index.contains_key(sample.task_id.as_str()) {
            kept.push(sample);
            continue;
        }
        let message = format!(
            "{}: sample {:?} of task {:?}: no such task in {}",
            args.samples.display(),
            sample.sample_id,
            sample.task_id,
            args.tasks.display()
        );
        if args.skip_invalid {
            eprintln!("nxt: skipped {message}");
        } else {
            return Err(BadInput(message).into());
        }
    }
    let samples = kept;

    // Each sample, then each sampled task's reference (a repair task needs one that
    // passes).
    let sampled: HashSet<&str> = samples.iter().map(|s| s.task_id.as_str()).collect();
    let references: Vec<(usize, Sample)> = tasks
        .iter()
        .enumerate()
        .filter(|(_, t)| sampled.contains(t.task_id.as_str()))
        .filter_map(|(i, t)| {
            t.solution.as_ref().map(|code| {
                (
                    i,
                    Sample {
                        code: code.clone(),
                        sample_id: "reference".into(),
                        ..Sample::of_task(t)
                    },
                )
            })
        })
        .collect();
    let mut pairs: Vec<(&Task, &Sample)> = samples
        .iter()
        .map(|s| (&tasks[index[s.task_id.as_str()]], s))
        .collect();
    pairs.extend(references.iter().map(|(i, s)| (&tasks[*i], s)));

    let options = VerifyOptions {
        timeout: args.timeout,
        ..VerifyOptions::default()
    };
    let mut results: Vec<Option<CheckResult>> = vec![None; pairs.len()];
    let mut not_run = 0usize;
    if !pairs.is_empty() {
        let workers = jobs(args.jobs, pairs.len());
        let mut builder = PythonVerifierBuilder::new();
        builder.workers(workers);
        if let Some(python) = &args.python {
            builder.python(python);
        }
        let verifier = builder.build().map_err(|e| match e {
            VerifyError::Sandbox(e @ nxt::sandbox::SandboxError::InterpreterNotFound { .. }) => {
                BadInput(e.to_string()).into()
            }
            other => anyhow::Error::new(other),
        })?;
        let bar = progress(pairs.len(), "checks");
        verifier.verify_each(&pairs, &options, |i, result| {
            bar.inc(1);
            match result {
                Ok(r) => results[i] = Some(r),
                Err(e) => {
                    not_run += 1;
                    let (task, sample) = pairs[i];
                    bar.suspend(|| eprintln!("nxt: {} {}: {e}", task.task_id, sample.sample_id));
                }
            }
            ControlFlow::Continue(())
        });
        bar.finish_and_clear();
    }
    let mut reference_failed: HashSet<String> = HashSet::new();
    for ((i, _), result) in references.iter().zip(&results[samples.len()..]) {
        if !result.as_ref().is_some_and(|r| r.status.passed()) {
            reference_failed.insert(tasks[*i].task_id.clone());
        }
    }
    let verdicts: Vec<CheckResult> = results[..samples.len()].iter().flatten().cloned().collect();
    let set = repair::repair_tasks(
        &tasks,
        &samples,
        &verdicts,
        &reference_failed,
        &RepairOptions {
            max_per_task: args.max_per_task,
        },
    )
    .map_err(|e| BadInput(e.to_string()))?;
    data::write_jsonl(&args.out, &set.tasks).map_err(write_error)?;

    if !reference_failed.is_empty() {
        let mut ids: Vec<&String> = reference_failed.iter().collect();
        ids.sort();
        let listed: Vec<&str> = ids.iter().take(LISTED).map(|s| s.as_str()).collect();
        eprintln!(
            "nxt: {} skipped, its reference does not pass its tests: {}{}",
            plural(ids.len(), "task's samples", "tasks' samples"),
            listed.join(", "),
            if ids.len() > LISTED { ", ..." } else { "" }
        );
    }
    eprintln!(
        "nxt: {}: {} passed, {} did not ({} duplicates, {} over --max-per-task), {} skipped",
        plural(set.samples, "sample", "samples"),
        set.passed,
        set.samples - set.passed - set.skipped,
        set.duplicates,
        set.over_cap,
        set.skipped
    );
    eprintln!(
        "wrote {} to {}",
        plural(set.tasks.len(), "repair task", "repair tasks"),
        args.out.display()
    );
    if not_run > 0 {
        eprintln!("nxt: {not_run} checks could not be run (their samples are skipped)");
        return Ok(1);
    }
    Ok(0)
}

/// Everything wrong with the input file is bad input (exit code 2).
fn read_error(e: DataError) -> anyhow::Error {
    match e {
        DataError::Invalid(_) => BadInput(format!("{e} (--skip-invalid skips bad lines)")).into(),
        DataError::Io { .. } | DataError::Duplicate { .. } => BadInput(e.to_string()).into(),
        other => anyhow::Error::new(other),
    }
}

/// A missing or forbidden `--out` directory is bad input; a full disk is not.
fn write_error(e: DataError) -> anyhow::Error {
    match &e {
        DataError::Io { source, .. }
            if matches!(
                source.kind(),
                std::io::ErrorKind::NotFound
                    | std::io::ErrorKind::PermissionDenied
                    | std::io::ErrorKind::NotADirectory
                    | std::io::ErrorKind::IsADirectory
            ) =>
        {
            BadInput(e.to_string()).into()
        }
        _ => anyhow::Error::new(e),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        data: DataArgs,
    }

    fn fixture(name: &str) -> String {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures/data")
            .join(name)
            .display()
            .to_string()
    }

    fn run_with(args: &[&str]) -> Result<u8> {
        let cli = Cli::try_parse_from(std::iter::once("nxt-data").chain(args.iter().copied()))?;
        run(cli.data)
    }

    #[test]
    fn imports_write_tasks_files() {
        let dir = tempfile::tempdir().unwrap();
        for (format, file, count) in [
            ("humaneval", "humaneval.jsonl", 3),
            ("mbpp", "mbpp.jsonl", 4),
            ("mbpp", "sanitized-mbpp.json", 3),
            ("humanevalfix", "humanevalpack.jsonl", 3),
        ] {
            let out = dir.path().join(format!("{file}.tasks.jsonl"));
            let code = run_with(&[
                "import",
                format,
                &fixture(file),
                "--out",
                out.to_str().unwrap(),
            ])
            .unwrap();
            assert_eq!(code, 0);
            let tasks = data::read_tasks(&out, OnInvalid::Fail).unwrap().items;
            assert_eq!(tasks.len(), count, "{file}");
        }
    }

    #[test]
    fn bad_input_is_exit_code_2() {
        let err =
            run_with(&["import", "humaneval", &fixture("humaneval-broken.jsonl")]).unwrap_err();
        let bad = err.downcast_ref::<BadInput>().expect("bad input");
        assert!(
            bad.0.ends_with(
                "humaneval-broken.jsonl:2: field `test`: missing (--skip-invalid skips bad lines)"
            ),
            "{bad}"
        );
        let err = run_with(&["import", "mbpp", &fixture("no-such-file.json")]).unwrap_err();
        assert!(err.downcast_ref::<BadInput>().is_some(), "{err:#}");
        let err = run_with(&[
            "import",
            "mbpp",
            &fixture("mbpp-broken.jsonl"),
            "--skip-invalid",
        ])
        .unwrap_err();
        assert!(
            err.downcast_ref::<BadInput>()
                .unwrap()
                .0
                .contains("duplicate task_id \"mbpp/2\""),
            "{err:#}"
        );
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("missing/tasks.jsonl");
        let err = run_with(&[
            "import",
            "mbpp",
            &fixture("mbpp.jsonl"),
            "--out",
            out.to_str().unwrap(),
        ])
        .unwrap_err();
        assert!(err.downcast_ref::<BadInput>().is_some(), "{err:#}");
    }

    #[test]
    fn skip_invalid_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("tasks.jsonl");
        let code = run_with(&[
            "import",
            "humaneval",
            &fixture("humaneval-broken.jsonl"),
            "--skip-invalid",
            "--out",
            out.to_str().unwrap(),
        ])
        .unwrap();
        assert_eq!(code, 0);
        let tasks = data::read_tasks(&out, OnInvalid::Fail).unwrap().items;
        assert_eq!(tasks.len(), 1);
    }

    #[test]
    fn unknown_formats_are_refused_by_clap() {
        assert!(run_with(&["import", "apps", "x.jsonl"]).is_err());
    }

    #[test]
    fn plus_imports_compute_once_then_read_the_cache() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");
        let first = dir.path().join("first.jsonl");
        let second = dir.path().join("second.jsonl");
        let import = |out: &Path, python: Option<&str>| {
            let mut argv = vec![
                "import",
                "humaneval-plus",
                "--cache-dir",
                cache.to_str().unwrap(),
                "--jobs",
                "2",
                "--out",
                out.to_str().unwrap(),
            ];
            let file = fixture("humanevalplus.jsonl");
            argv.insert(2, Box::leak(file.into_boxed_str()));
            if let Some(python) = python {
                argv.extend(["--python", python]);
            }
            run_with(&argv)
        };
        assert_eq!(import(&first, None).unwrap(), 0);
        let tasks = data::read_tasks(&first, OnInvalid::Fail).unwrap().items;
        let ids: Vec<&str> = tasks.iter().map(|t| t.task_id.as_str()).collect();
        assert_eq!(ids, ["HumanEval/0", "HumanEval/1", "HumanEval/2"]);
        // `halve("a")` raises: that input has no block.
        assert_eq!(tasks[0].tests.len(), 5);
        assert_eq!(tasks[0].meta["dropped"][0]["input"], "plus_input[3]");
        let cached: Vec<_> = std::fs::read_dir(cache.join("evalplus"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(cached.len(), 1);
        assert!(cached[0].starts_with("humaneval-plus-"), "{cached:?}");

        // The second import runs nothing: no Python is needed.
        assert_eq!(import(&second, Some("/nonexistent/python3")).unwrap(), 0);
        assert_eq!(
            std::fs::read(&first).unwrap(),
            std::fs::read(&second).unwrap()
        );

        // Without the cache, the missing interpreter is bad input.
        std::fs::remove_dir_all(&cache).unwrap();
        let err = import(&second, Some("/nonexistent/python3")).unwrap_err();
        assert!(err.downcast_ref::<BadInput>().is_some(), "{err:#}");
    }

    #[test]
    fn mbpp_plus_and_hefix_plus_import() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");
        let out = dir.path().join("mbpp-plus.jsonl");
        let code = run_with(&[
            "import",
            "mbpp-plus",
            &fixture("mbppplus.jsonl"),
            "--cache-dir",
            cache.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .unwrap();
        assert_eq!(code, 0);
        let tasks = data::read_tasks(&out, OnInvalid::Fail).unwrap().items;
        assert_eq!(tasks.len(), 4);
        assert_eq!(tasks[1].task_id, "Mbpp/404");
        assert!(tasks[1].tests[2].contains("minimum(float('-inf'), float('inf'))"));
        // A float output: evalplus's tolerance from here on (a sticky 1e-6).
        assert!(tasks[1].tests[2].ends_with("_nxt_expect(__out, float('-inf'), 1e-6)\n"));
        assert!(tasks[1].tests[4].ends_with("_nxt_expect(__out, 1, 1e-6)\n"));

        let out = dir.path().join("hefix-plus.jsonl");
        let argv = [
            "import",
            "hefix-plus",
            &fixture("humanevalpack.jsonl"),
            "--cache-dir",
            cache.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ];
        let err = run_with(&argv).unwrap_err();
        assert_eq!(
            err.downcast_ref::<BadInput>().unwrap().0,
            "hefix-plus needs --plus HumanEvalPlus.jsonl"
        );
        let plus = fixture("humanevalplus.jsonl");
        let mut with_plus = argv.to_vec();
        with_plus.extend(["--plus", &plus]);
        assert_eq!(run_with(&with_plus).unwrap(), 0);
        let tasks = data::read_tasks(&out, OnInvalid::Fail).unwrap().items;
        let ids: Vec<&str> = tasks.iter().map(|t| t.task_id.as_str()).collect();
        assert_eq!(ids, ["HEFix+/0", "HEFix+/1", "HEFix+/2"]);
        assert!(tasks[0].code.ends_with("    return x // 2\n"));
        assert_eq!(tasks[0].meta["bug_type"], "operator misuse");
        assert_eq!(tasks[0].tests.len(), 5);

        let err = run_with(&[
            "import",
            "humaneval",
            &fixture("humaneval.jsonl"),
            "--plus",
            &plus,
        ])
        .unwrap_err();
        assert!(err.downcast_ref::<BadInput>().is_some(), "{err:#}");
    }

    #[test]
    fn mbpp_r_keeps_distinct_failing_samples() {
        let dir = tempfile::tempdir().unwrap();
        let run = |out: &Path, extra: &[&str]| {
            let tasks = fixture("mbpp-r-tasks.jsonl");
            let samples = fixture("mbpp-r-samples.jsonl");
            let mut argv = vec![
                "mbpp-r",
                tasks.as_str(),
                samples.as_str(),
                "--out",
                out.to_str().unwrap(),
                "--timeout",
                "0.5",
                "--jobs",
                "2",
            ];
            argv.extend(extra);
            run_with(&argv)
        };
        let out = dir.path().join("repair.jsonl");
        assert_eq!(run(&out, &["--max-per-task", "2"]).unwrap(), 0);
        let tasks = data::read_tasks(&out, OnInvalid::Fail).unwrap().items;
        let ids: Vec<&str> = tasks.iter().map(|t| t.task_id.as_str()).collect();
        // add/0: 0 passes, 2 repeats 1, 4 is over the cap; broken/0's reference fails.
        assert_eq!(ids, ["add/0/1", "add/0/3", "max/0/a", "max/0/b"]);
        let first = &tasks[0];
        assert_eq!(first.code, "def add(a, b):\n    return a - b\n");
        assert_eq!(
            first.solution.as_deref(),
            Some("def add(a, b):\n    return a + b\n")
        );
        assert_eq!(first.meta["dataset"], "fixture");
        assert_eq!(
            first.meta["origin"],
            serde_json::json!({
                "task_id": "add/0", "sample_id": "1", "verdict": "failed",
                "failed_test": {"index": 0, "status": "failed", "exception": "AssertionError", "line": 1},
                "sample_meta": {"model": "fixture-7b", "temperature": 0.8}
            })
        );
        assert_eq!(tasks[3].meta["origin"]["verdict"], "timeout");

        // Without a cap, and again: the same bytes whatever the order checks finish in.
        let all = dir.path().join("all.jsonl");
        assert_eq!(run(&all, &[]).unwrap(), 0);
        let again = dir.path().join("again.jsonl");
        assert_eq!(run(&again, &[]).unwrap(), 0);
        assert_eq!(std::fs::read(&all).unwrap(), std::fs::read(&again).unwrap());
        let tasks = data::read_tasks(&all, OnInvalid::Fail).unwrap().items;
        let ids: Vec<&str> = tasks.iter().map(|t| t.task_id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "add/0/1", "add/0/3", "add/0/4", "max/0/a", "max/0/b", "max/0/c"
            ]
        );
        assert_eq!(tasks[5].meta["origin"]["verdict"], "syntax_error");
    }
}
