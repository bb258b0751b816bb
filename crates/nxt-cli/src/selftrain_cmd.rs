//! `nxt selftrain`: NExT self-training runs (`docs/selftrain.md`).
//!
//! `nxt selftrain init RUN.db --train T.jsonl --dev D.jsonl --sampler
//! replay:ANSWERS.jsonl|openai:BASE_URL [--model NAME]` creates a run's database;
//! `nxt selftrain step RUN.db` runs what comes next (the hard-problem selection, then
//! one iteration at a time), continuing an interrupted step without sampling again what
//! is stored; `nxt selftrain run RUN.db [--iterations N]` runs every step left; `nxt
//! selftrain status RUN.db` prints where the run is; `nxt selftrain export RUN.db
//! --iteration K --format chat|completion --out FILE [--accumulate]` writes the kept
//! samples as fine-tuning JSONL. Exit codes: 0 done, 1 a step failed (a sampler that
//! gave up, an internal error), 2 bad input (an unreadable file, a bad option, a file
//! that is not a run).

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::{Args, Subcommand, ValueEnum};
use nxt::core::{Sampler, Task};
use nxt::data::{self, OnInvalid};
use nxt::trace::{CPythonTracer, CPythonTracerBuilder};
use nxt::verify::{PythonVerifier, PythonVerifierBuilder};
use nxt_selftrain::{
    Error, ExportFormat, Next, OpenAiSamplerBuilder, ReplaySampler, Run, RunConfig,
};

use crate::BadInput;

#[derive(Debug, Args)]
pub(crate) struct SelftrainArgs {
    #[command(subcommand)]
    command: SelftrainCommand,
}

#[derive(Debug, Subcommand)]
enum SelftrainCommand {
    /// Create a run: its database, configuration and task sets.
    Init(InitArgs),
    /// Run what comes next: the hard-problem selection, or the next iteration.
    Step(StepArgs),
    /// Run every step left.
    Run(RunArgs),
    /// Print where a run is.
    Status(DbArg),
    /// Write an iteration's kept samples as fine-tuning JSONL.
    Export(ExportArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum FormatArg {
    /// One text prompt, ending at `### Answer`.
    Text,
    /// System and user messages.
    Chat,
}

#[derive(Debug, Args)]
struct InitArgs {
    /// The run's database (must not exist).
    #[arg(value_name = "RUN.db")]
    db: PathBuf,
    /// Train tasks JSONL (docs/tasks-jsonl.md): the buggy programs to repair.
    #[arg(long, value_name = "TASKS.jsonl")]
    train: PathBuf,
    /// Dev tasks JSONL, kept for evaluation.
    #[arg(long, value_name = "TASKS.jsonl")]
    dev: PathBuf,
    /// The run's settings as TOML (the fields of docs/selftrain.md's `RunConfig`); the
    /// flags override it. A relative replay file is read from the file's directory.
    #[arg(long, value_name = "run.toml")]
    config: Option<PathBuf>,
    /// The model: `replay:ANSWERS.jsonl` (recorded answers) or `openai:BASE_URL`
    /// (an OpenAI-compatible server: vLLM, llama.cpp, Ollama, OpenAI).
    #[arg(long, value_name = "replay:FILE|openai:URL")]
    sampler: Option<String>,
    /// The model's name, sent to the server and recorded with every sample.
    #[arg(long, value_name = "NAME")]
    model: Option<String>,
    /// Samples per hard task and iteration [default: 32].
    #[arg(long, value_name = "N")]
    samples_per_task: Option<u32>,
    /// Samples per train task for the hard-problem selection [default: as
    /// --samples-per-task].
    #[arg(long, value_name = "N")]
    selection_samples: Option<u32>,
    /// A task is hard when its pass@1 is below P; 1 keeps every task (and samples
    /// nothing to select) [default: 0.1].
    #[arg(long, value_name = "P")]
    hard_threshold: Option<f64>,
    /// Self-training iterations [default: 1].
    #[arg(long, value_name = "N")]
    iterations: Option<u32>,
    /// Sampling temperature [default: 0.8].
    #[arg(long, value_name = "T")]
    temperature: Option<f64>,
    /// Most tokens per answer [default: the server's].
    #[arg(long, value_name = "N")]
    max_tokens: Option<u32>,
    /// Prompt format [default: chat].
    #[arg(long, value_enum)]
    format: Option<FormatArg>,
    /// Worked exemplars in each prompt [default: 0].
    #[arg(long, value_name = "0|3", value_parser = clap::value_parser!(u8).range(0..=3))]
    shots: Option<u8>,
    /// Leave the execution traces out of the prompts.
    #[arg(long)]
    no_trace: bool,
    /// Keep samples with the same normalized program and rationale.
    #[arg(long)]
    no_dedupe: bool,
    /// Keep at most N samples per task and iteration.
    #[arg(long, value_name = "N")]
    cap_per_task: Option<usize>,
    /// Drop samples whose rationale quotes a variable value the prompt's trace
    /// contradicts (not in the paper; `status` reports how many it drops).
    #[arg(long)]
    trace_consistency: bool,
}

#[derive(Debug, Args)]
struct DbArg {
    /// The run's database.
    #[arg(value_name = "RUN.db")]
    db: PathBuf,
}

#[derive(Debug, Args)]
struct PythonArgs {
    /// The Python interpreter that runs, traces and checks programs.
    #[arg(long, value_name = "PATH")]
    python: Option<PathBuf>,
    /// Worker processes for checks and traces.
    #[arg(long, default_value_t = 4, value_name = "N")]
    workers: usize,
}

#[derive(Debug, Args)]
struct StepArgs {
    #[command(flatten)]
    db: DbArg,
    #[command(flatten)]
    python: PythonArgs,
}

#[derive(Debug, Args)]
struct RunArgs {
    #[command(flatten)]
    db: DbArg,
    /// Run this many iterations in all (changes the run's configuration).
    #[arg(long, value_name = "N")]
    iterations: Option<u32>,
    #[command(flatten)]
    python: PythonArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ExportFormatArg {
    /// `{"messages": [system, user, assistant]}` per line.
    Chat,
    /// `{"prompt", "completion"}` per line.
    Completion,
}

#[derive(Debug, Args)]
struct ExportArgs {
    #[command(flatten)]
    db: DbArg,
    /// The iteration (from 1).
    #[arg(long, value_name = "K")]
    iteration: u32,
    /// Record form.
    #[arg(long, value_enum, default_value_t = ExportFormatArg::Chat)]
    format: ExportFormatArg,
    /// Where to write (replaced).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Iterations 1 to K together, rather than K's data only (the paper's default:
    /// each iteration trains from the base checkpoint on its own data).
    #[arg(long)]
    accumulate: bool,
}

pub(crate) fn run(args: SelftrainArgs) -> Result<u8> {
    match args.command {
        SelftrainCommand::Init(a) => init(&a),
        SelftrainCommand::Step(a) => {
            let mut run = open(&a.db.db)?;
            steps(&mut run, &a.python, true)
        }
        SelftrainCommand::Run(a) => {
            let mut run = open(&a.db.db)?;
            if let Some(n) = a.iterations {
                run.set_iterations(n).map_err(input)?;
            }
            steps(&mut run, &a.python, false)
        }
        SelftrainCommand::Status(a) => {
            print!("{}", open(&a.db)?.status()?);
            Ok(0)
        }
        SelftrainCommand::Export(a) => {
            let mut run = open(&a.db.db)?;
            let format = match a.format {
                ExportFormatArg::Chat => ExportFormat::Chat,
                ExportFormatArg::Completion => ExportFormat::Completion,
            };
            let n = run
                .export(a.iteration, format, a.accumulate, &a.out)
                .map_err(input)?;
            eprintln!("nxt: {n} records written to {}", a.out.display());
            Ok(0)
        }
    }
}

/// Errors of the user's making (a bad option, a file that is not a run, an
/// unfinished iteration) exit with 2; the others with 1.
fn input(e: Error) -> anyhow::Error {
    match e {
        Error::Config(_) | Error::StoreState(_) | Error::Io { .. } | Error::Replay { .. } => {
            BadInput(e.to_string()).into()
        }
        Error::Run(ref m) if m.contains("not finished") || m.contains("iteration 0") => {
            BadInput(e.to_string()).into()
        }
        other => anyhow::Error::new(other),
    }
}

fn open(db: &Path) -> Result<Run> {
    Run::open(db).map_err(|e| match e {
        Error::Sqlite(e) => {
            BadInput(format!("{}: not an nxt-selftrain run ({e})", db.display())).into()
        }
        other => input(other),
    })
}

fn read_tasks(path: &Path) -> Result<Vec<Task>> {
    Ok(data::read_tasks(path, OnInvalid::Fail)
        .map_err(|e| BadInput(e.to_string()))?
        .items)
}

fn init(a: &InitArgs) -> Result<u8> {
    // The configuration file, then the flags over it.
    let (mut config, base) = match &a.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| BadInput(format!("{}: {e}", path.display())))?;
            let config = RunConfig::from_toml(&text)
                .map_err(|e| BadInput(format!("{}: {e}", path.display())))?;
            let dir = path.parent().map(Path::to_owned).unwrap_or_default();
            (config, dir)
        }
        None => (
            RunConfig {
                sampler: String::new(),
                model: "replay".into(),
                ..RunConfig::default()
            },
            PathBuf::new(),
        ),
    };
    let from_file = a.sampler.is_none();
    if let Some(sampler) = &a.sampler {
        config.sampler.clone_from(sampler);
    }
    if let Some(model) = &a.model {
        config.model.clone_from(model);
    }
    if let Some(n) = a.samples_per_task {
        config.samples_per_task = n;
        if a.selection_samples.is_none() {
            config.selection_samples = n;
        }
    }
    if let Some(n) = a.selection_samples {
        config.selection_samples = n;
    }
    if let Some(p) = a.hard_threshold {
        config.hard_threshold = p;
    }
    if let Some(n) = a.iterations {
        config.iterations = n;
    }
    if let Some(t) = a.temperature {
        config.temperature = Some(t);
    }
    if let Some(n) = a.max_tokens {
        config.max_tokens = Some(n);
    }
    if let Some(format) = a.format {
        config.format = match format {
            FormatArg::Chat => "chat".into(),
            FormatArg::Text => "text".into(),
        };
    }
    if let Some(shots) = a.shots {
        config.shots = usize::from(shots);
    }
    config.trace &= !a.no_trace;
    config.dedupe &= !a.no_dedupe;
    config.trace_consistency |= a.trace_consistency;
    if let Some(cap) = a.cap_per_task {
        config.cap_per_task = Some(cap);
    }

    config.sampler = match config.sampler.split_once(':') {
        Some(("replay", file)) => {
            let file = if from_file {
                base.join(file)
            } else {
                PathBuf::from(file)
            };
            let file = std::fs::canonicalize(&file)
                .map_err(|e| BadInput(format!("sampler: {}: {e}", file.display())))?;
            ReplaySampler::open(&file).map_err(input)?;
            format!("replay:{}", file.display())
        }
        Some(("openai", url)) if !url.is_empty() => {
            if a.model.is_none() && matches!(config.model.as_str(), "" | "model" | "replay") {
                return Err(BadInput(
                    "an openai:URL sampler needs --model (or `model` in --config)".into(),
                )
                .into());
            }
            config.sampler.clone()
        }
        _ if config.sampler.is_empty() => {
            return Err(BadInput("--sampler (or `sampler` in --config) is required".into()).into());
        }
        _ => {
            return Err(BadInput(format!(
                "sampler {:?}: expected replay:ANSWERS.jsonl or openai:BASE_URL",
                config.sampler
            ))
            .into());
        }
    };
    let train = read_tasks(&a.train)?;
    let dev = read_tasks(&a.dev)?;
    Run::init(&a.db, &config, &train, &dev).map_err(input)?;
    eprintln!(
        "nxt: created {} ({} train, {} dev tasks)",
        a.db.display(),
        train.len(),
        dev.len()
    );
    Ok(0)
}

fn sampler(config: &RunConfig) -> Result<Box<dyn Sampler<Error = Error>>> {
    match config.sampler.split_once(':') {
        Some(("replay", file)) => Ok(Box::new(ReplaySampler::open(file).map_err(input)?)),
        Some(("openai", url)) => Ok(Box::new(
            OpenAiSamplerBuilder::new()
                .base_url(url)
                .model(config.model.clone())
                .build()
                .map_err(input)?,
        )),
        _ => Err(BadInput(format!("unknown sampler {:?}", config.sampler)).into()),
    }
}

fn tools(p: &PythonArgs) -> Result<(CPythonTracer, PythonVerifier)> {
    let mut tracer = CPythonTracerBuilder::new();
    let mut verifier = PythonVerifierBuilder::new();
    tracer.workers(p.workers.max(1));
    verifier.workers(p.workers.max(1));
    if let Some(python) = &p.python {
        tracer.python(python);
        verifier.python(python);
    }
    let tracer = tracer.build().map_err(|e| BadInput(e.to_string()))?;
    let verifier = verifier.build().map_err(|e| BadInput(e.to_string()))?;
    Ok((tracer, verifier))
}

/// Runs one step, or every step left; the exit code.
fn steps(run: &mut Run, python: &PythonArgs, once: bool) -> Result<u8> {
    if run.next()? == Next::Done {
        eprintln!("nxt: the run is done");
        return Ok(0);
    }
    let sampler = sampler(run.config())?;
    let (tracer, verifier) = tools(python)?;
    let mut progress = |line: &str| eprintln!("nxt: {line}");
    loop {
        let report = run.step(&sampler, &tracer, &verifier, &mut progress)?;
        let Some(iteration) = report.iteration else {
            break;
        };
        for (task, why) in &report.unprompted {
            eprintln!("nxt: {task}: no prompt: {why}");
        }
        eprintln!(
            "nxt: {} finished: {} tasks, {} sampled, {} verified in this step",
            if iteration == 0 {
                "selection".to_owned()
            } else {
                format!("iteration {iteration}")
            },
            report.tasks,
            report.sampled,
            report.verified
        );
        if once || run.next()? == Next::Done {
            break;
        }
    }
    print!("{}", run.status()?);
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: SelftrainArgs,
    }

    fn nxt(args: &[&str]) -> Result<u8> {
        let cli = Cli::try_parse_from(std::iter::once("selftrain").chain(args.iter().copied()))
            .map_err(|e| BadInput(e.to_string()))?;
        run(cli.args)
    }

    fn demo(name: &str) -> String {
        format!(
            "{}/../../fixtures/selftrain/demo/{name}",
            env!("CARGO_MANIFEST_DIR")
        )
    }

    fn is_bad_input(r: Result<u8>) -> bool {
        r.is_err_and(|e| e.downcast_ref::<BadInput>().is_some())
    }

    #[test]
    fn the_offline_demo_runs_and_exports() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("demo.db");
        let db = db.to_str().unwrap();
        let out = dir.path().join("x.jsonl");
        let out = out.to_str().unwrap();
        let (train, dev) = (demo("train.jsonl"), demo("dev.jsonl"));
        let replay = format!("replay:{}", demo("answers.jsonl"));
        let init = [
            "init",
            db,
            "--train",
            &train,
            "--dev",
            &dev,
            "--sampler",
            &replay,
            "--samples-per-task",
            "4",
            "--hard-threshold",
            "0.6",
            "--workers",
            "2",
        ];
        // --workers belongs to step and run, not init.
        assert!(is_bad_input(nxt(&init)));
        assert_eq!(nxt(&init[..init.len() - 2]).unwrap(), 0);
        assert!(is_bad_input(nxt(&init[..init.len() - 2])), "the db exists");

        assert_eq!(nxt(&["step", db, "--workers", "2"]).unwrap(), 0);
        let run_ = Run::open(db).unwrap();
        assert_eq!(run_.next().unwrap(), Next::Iteration(1));
        drop(run_);
        assert!(is_bad_input(nxt(&[
            "export",
            db,
            "--iteration",
            "1",
            "--out",
            out
        ])));
        assert_eq!(
            nxt(&["run", db, "--iterations", "2", "--workers", "2"]).unwrap(),
            0
        );
        assert_eq!(nxt(&["status", db]).unwrap(), 0);
        assert_eq!(
            nxt(&[
                "export",
                db,
                "--iteration",
                "1",
                "--format",
                "chat",
                "--out",
                out
            ])
            .unwrap(),
            0
        );
        let chat = std::fs::read_to_string(out).unwrap();
        assert_eq!(chat.lines().count(), 6);
        for line in chat.lines() {
            let record: serde_json::Value = serde_json::from_str(line).unwrap();
            let roles: Vec<&str> = record["messages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["role"].as_str().unwrap())
                .collect();
            assert_eq!(roles, ["system", "user", "assistant"]);
        }
        assert_eq!(
            nxt(&[
                "export",
                db,
                "--iteration",
                "2",
                "--format",
                "completion",
                "--accumulate",
                "--out",
                out
            ])
            .unwrap(),
            0
        );
        let completion = std::fs::read_to_string(out).unwrap();
        assert_eq!(completion.lines().count(), 12);
        assert!(completion.lines().all(|l| l.starts_with("{\"prompt\":")));
        let run_ = Run::open(db).unwrap();
        assert_eq!(run_.store().exports().unwrap().len(), 2);
        assert_eq!(run_.next().unwrap(), Next::Done);
    }

    #[test]
    fn the_config_file_is_read_and_flags_override_it() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("c.db");
        let db = db.to_str().unwrap();
        let (train, dev, toml) = (demo("train.jsonl"), demo("dev.jsonl"), demo("run.toml"));
        let args = [
            "init",
            db,
            "--train",
            &train,
            "--dev",
            &dev,
            "--config",
            &toml,
            "--iterations",
            "3",
            "--trace-consistency",
        ];
        assert_eq!(nxt(&args).unwrap(), 0);
        let config = Run::open(db).unwrap().config().clone();
        assert_eq!(
            config,
            RunConfig {
                sampler: format!(
                    "replay:{}",
                    std::fs::canonicalize(demo("answers.jsonl"))
                        .unwrap()
                        .display()
                ),
                model: "replay".into(),
                samples_per_task: 4,
                selection_samples: 4,
                hard_threshold: 0.6,
                iterations: 3,
                trace_consistency: true,
                ..RunConfig::default()
            }
        );
        let bad = dir.path().join("bad.toml");
        std::fs::write(&bad, "sampels_per_task = 4\n").unwrap();
        let bad = bad.to_str().unwrap();
        let args = [
            "init", "x.db", "--train", &train, "--dev", &dev, "--config", bad,
        ];
        assert!(is_bad_input(nxt(&args)));
    }

    #[test]
    fn bad_samplers_and_stores_are_bad_input() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("a.db");
        let db = db.to_str().unwrap();
        let (train, dev) = (demo("train.jsonl"), demo("dev.jsonl"));
        for sampler in ["replay:/no/such/file.jsonl", "gpt:x", "openai:"] {
            let args = [
                "init",
                db,
                "--train",
                &train,
                "--dev",
                &dev,
                "--sampler",
                sampler,
            ];
            assert!(is_bad_input(nxt(&args)), "{sampler}");
        }
        let openai = [
            "init",
            db,
            "--train",
            &train,
            "--dev",
            &dev,
            "--sampler",
            "openai:http://127.0.0.1:9/v1",
        ];
        assert!(is_bad_input(nxt(&openai)), "no --model");
        let none = ["init", db, "--train", &train, "--dev", &dev];
        assert!(is_bad_input(nxt(&none)), "no sampler");
        assert!(is_bad_input(nxt(&["status", db])));
        assert!(is_bad_input(nxt(&["status", &train])));
    }
}
