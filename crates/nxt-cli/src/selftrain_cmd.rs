//! `nxt selftrain`: NExT self-training runs (`docs/selftrain.md`).
//!
//! `nxt selftrain init RUN.db --train T.jsonl --dev D.jsonl --sampler
//! replay:ANSWERS.jsonl|openai:BASE_URL [--model NAME]` creates a run's database;
//! `nxt selftrain step RUN.db` runs what comes next (the hard-problem selection, then
//! one iteration at a time), continuing an interrupted step without sampling again what
//! is stored; `nxt selftrain run RUN.db [--iterations N]` runs every step left; `nxt
//! selftrain status RUN.db` prints where the run is; `nxt selftrain export RUN.db
//! --iteration K --format chat|completion --out FILE [--accumulate]` writes the kept
//! samples as fine-tuning JSONL; `nxt selftrain checkpoint` registers the model trained
//! on an iteration's export, `nxt selftrain eval` measures a checkpoint's fix rate on the
//! dev set, `nxt selftrain report` prints the per-iteration table (and writes an HTML
//! page); `nxt selftrain dump` and `import` move tables as JSON Lines; `nxt selftrain
//! demo` runs the whole loop offline on the bundled fixtures. Exit codes: 0 done, 1 a
//! step failed (a sampler that gave up, an internal error), 2 bad input (an unreadable
//! file, a bad option, a file that is not a run), 130 interrupted (Ctrl-C: what was
//! stored is kept; run the command again to continue).

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use anyhow::{Context as _, Result};
use clap::{Args, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use nxt::core::Task;
use nxt::data::{self, OnInvalid};
use nxt::trace::{CPythonTracer, CPythonTracerBuilder};
use nxt::verify::{PythonVerifier, PythonVerifierBuilder};
use nxt_selftrain::{
    ConfiguredSampler, DUMP_TABLES, Error, ExportFormat, Next, Phase, Progress, ReplaySampler, Run,
    RunConfig, Split,
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
    /// Register the checkpoint trained on an iteration's export: the next iteration
    /// samples from it, `eval` measures it.
    Checkpoint(CheckpointArgs),
    /// Evaluate an iteration's checkpoint on the dev set: pass@1, 5, 10, 25 with and
    /// without traces in the prompt.
    Eval(EvalArgs),
    /// Per iteration: problems, samples, kept, flagged, dev fix rates; the best
    /// iteration. Optionally an HTML page with a plot.
    Report(ReportArgs),
    /// Write a table of the run's database as JSON Lines.
    Dump(DumpArgs),
    /// Add tasks, or samples made elsewhere, from JSON Lines.
    Import(ImportArgs),
    /// Run a whole small loop offline on the bundled fixtures: 2 iterations, dev
    /// evaluations, exports and a report.
    Demo(DemoArgs),
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

#[derive(Debug, Args)]
struct CheckpointFlags {
    /// How to ask the checkpoint: `replay:ANSWERS.jsonl` or `openai:BASE_URL`.
    #[arg(long = "checkpoint", value_name = "replay:FILE|openai:URL")]
    sampler: Option<String>,
    /// The model name the server knows the checkpoint by [default: the run's model].
    #[arg(long, value_name = "NAME")]
    model: Option<String>,
    /// The checkpoint's name, recorded with its samples [default: iteration-K].
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
}

#[derive(Debug, Args)]
struct CheckpointArgs {
    #[command(flatten)]
    db: DbArg,
    /// The iteration whose export the checkpoint was trained on (from 1).
    #[arg(long, value_name = "K")]
    iteration: u32,
    #[command(flatten)]
    checkpoint: CheckpointFlags,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum TraceArg {
    /// Prompts with traces, then without.
    Both,
    /// Prompts with traces only.
    With,
    /// Prompts without traces only.
    Without,
}

#[derive(Debug, Args)]
struct EvalArgs {
    #[command(flatten)]
    db: DbArg,
    /// The iteration whose checkpoint to evaluate (0: the base model).
    #[arg(long, value_name = "K")]
    iteration: u32,
    /// Register this checkpoint for the iteration first (as `nxt selftrain checkpoint`).
    #[command(flatten)]
    checkpoint: CheckpointFlags,
    /// Samples per dev task (pass@k needs at least k).
    #[arg(long, default_value_t = 25, value_name = "N")]
    samples: u32,
    /// Which prompts.
    #[arg(long, value_enum, default_value_t = TraceArg::Both)]
    trace: TraceArg,
    #[command(flatten)]
    python: PythonArgs,
}

#[derive(Debug, Args)]
struct ReportArgs {
    #[command(flatten)]
    db: DbArg,
    /// Also write the report as a self-contained HTML page with a plot.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct DumpArgs {
    #[command(flatten)]
    db: DbArg,
    /// The table: meta, config, tasks, iterations, checkpoints, prompts, samples,
    /// verdicts, evaluations, eval_samples, eval_verdicts, exports.
    #[arg(value_name = "TABLE")]
    table: String,
    /// Where to write [default: standard output].
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
struct ImportWhat {
    /// Train tasks JSONL (before the hard-problem selection begins).
    #[arg(long, value_name = "TASKS.jsonl")]
    train: Option<PathBuf>,
    /// Dev tasks JSONL.
    #[arg(long, value_name = "TASKS.jsonl")]
    dev: Option<PathBuf>,
    /// Samples JSONL, in `dump samples` form, into unfinished iterations.
    #[arg(long, value_name = "SAMPLES.jsonl")]
    samples: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct ImportArgs {
    #[command(flatten)]
    db: DbArg,
    #[command(flatten)]
    what: ImportWhat,
}

#[derive(Debug, Args)]
struct DemoArgs {
    /// Where to write the run, its fixtures, exports and report (files of an earlier
    /// demo there are replaced).
    #[arg(long, default_value = "selftrain-demo", value_name = "DIR")]
    out: PathBuf,
    #[command(flatten)]
    python: PythonArgs,
}

pub(crate) fn run(args: SelftrainArgs) -> Result<u8> {
    match args.command {
        SelftrainCommand::Init(a) => init(&a),
        SelftrainCommand::Step(a) => {
            let mut run = open(&a.db.db)?;
            steps(&mut run, &a.db.db, &a.python, true)
        }
        SelftrainCommand::Run(a) => {
            let mut run = open(&a.db.db)?;
            if let Some(n) = a.iterations {
                run.set_iterations(n).map_err(input)?;
            }
            steps(&mut run, &a.db.db, &a.python, false)
        }
        SelftrainCommand::Status(a) => {
            let run = open(&a.db)?;
            print!("{}", run.status()?);
            print_checkpoints(&run)?;
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
        SelftrainCommand::Checkpoint(a) => {
            let mut run = open(&a.db.db)?;
            if a.checkpoint.sampler.is_none() {
                return Err(
                    BadInput("--checkpoint replay:FILE|openai:URL is required".into()).into(),
                );
            }
            register(&mut run, a.iteration, &a.checkpoint)?;
            Ok(0)
        }
        SelftrainCommand::Eval(a) => eval(&a),
        SelftrainCommand::Report(a) => {
            let run = open(&a.db.db)?;
            let report = run.report()?;
            print!("{}", report.text());
            if let Some(html) = &a.html {
                write_atomically(html, report.html().as_bytes())?;
                eprintln!("nxt: report written to {}", html.display());
            }
            Ok(0)
        }
        SelftrainCommand::Dump(a) => {
            let run = open(&a.db.db)?;
            if !DUMP_TABLES.contains(&a.table.as_str()) {
                return Err(BadInput(format!(
                    "no table {:?}; tables: {}",
                    a.table,
                    DUMP_TABLES.join(", ")
                ))
                .into());
            }
            let mut bytes = Vec::new();
            let n = run.store().dump(&a.table, &mut bytes)?;
            match &a.out {
                Some(out) => {
                    write_atomically(out, &bytes)?;
                    eprintln!("nxt: {n} rows of {} written to {}", a.table, out.display());
                }
                None => {
                    use std::io::Write as _;
                    std::io::stdout().write_all(&bytes)?;
                }
            }
            Ok(0)
        }
        SelftrainCommand::Import(a) => import(&a),
        SelftrainCommand::Demo(a) => demo(&a),
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

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .map_err(|e| BadInput(format!("{}: {e}", path.display())))?;
    use std::io::Write as _;
    tmp.write_all(bytes)
        .with_context(|| format!("writing {}", path.display()))?;
    tmp.persist(path)
        .map_err(|e| BadInput(format!("{}: {}", path.display(), e.error)))?;
    Ok(())
}

/// A replay file made absolute and checked, or an `openai:URL` as it is.
fn checked_sampler(spec: &str, base: &Path) -> Result<String> {
    match spec.split_once(':') {
        Some(("replay", file)) if !file.is_empty() => {
            let file = base.join(file);
            let file = std::fs::canonicalize(&file)
                .map_err(|e| BadInput(format!("sampler: {}: {e}", file.display())))?;
            ReplaySampler::open(&file).map_err(input)?;
            Ok(format!("replay:{}", file.display()))
        }
        Some(("openai", url)) if !url.is_empty() => Ok(spec.to_owned()),
        _ => Err(BadInput(format!(
            "sampler {spec:?}: expected replay:ANSWERS.jsonl or openai:BASE_URL"
        ))
        .into()),
    }
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

    if config.sampler.is_empty() {
        return Err(BadInput("--sampler (or `sampler` in --config) is required".into()).into());
    }
    let base = if from_file { base } else { PathBuf::new() };
    config.sampler = checked_sampler(&config.sampler, &base)?;
    if config.sampler.starts_with("openai:")
        && a.model.is_none()
        && matches!(config.model.as_str(), "" | "model" | "replay")
    {
        return Err(BadInput(
            "an openai:URL sampler needs --model (or `model` in --config)".into(),
        )
        .into());
    }
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

fn register(run: &mut Run, iteration: u32, c: &CheckpointFlags) -> Result<()> {
    let Some(spec) = &c.sampler else {
        return Ok(());
    };
    let sampler = checked_sampler(spec, Path::new(""))?;
    let name = c
        .name
        .clone()
        .unwrap_or_else(|| format!("iteration-{iteration}"));
    let model = c
        .model
        .clone()
        .unwrap_or_else(|| run.config().model.clone());
    run.register_checkpoint(iteration, &name, &sampler, &model)
        .map_err(input)?;
    eprintln!("nxt: iteration {iteration}'s checkpoint is {name:?} ({sampler}, model {model:?})");
    Ok(())
}

fn print_checkpoints(run: &Run) -> Result<()> {
    for c in run.store().checkpoints()? {
        println!(
            "checkpoint of iteration {}: {} ({}, model {})",
            c.iteration, c.name, c.sampler, c.model
        );
    }
    for r in run.eval_results()? {
        let rates: Vec<String> = r
            .pass_at
            .iter()
            .map(|(k, v)| match v {
                Some(v) => format!("pass@{k} {:.1}%", v * 100.0),
                None => format!("pass@{k} -"),
            })
            .collect();
        println!(
            "dev evaluation of iteration {} ({} traces, {}): {}; {} tasks, {} samples, {} passed{}",
            r.evaluation.iteration,
            if r.evaluation.trace {
                "with"
            } else {
                "without"
            },
            r.evaluation.checkpoint,
            rates.join(", "),
            r.tasks,
            r.samples,
            r.passed,
            if r.finished() { "" } else { " (unfinished)" }
        );
    }
    if let Some((k, p)) = run.best_iteration()? {
        println!(
            "best iteration on the dev set: {k} (pass@1 {:.1}%)",
            p * 100.0
        );
    }
    Ok(())
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

/// The process's interrupt flag, set by Ctrl-C (the handler is installed once).
fn interrupt_flag() -> Arc<AtomicBool> {
    static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();
    FLAG.get_or_init(|| {
        let flag = Arc::new(AtomicBool::new(false));
        let set = Arc::clone(&flag);
        // Fails only when another handler is installed; then Ctrl-C kills as before,
        // which the store survives too.
        let _ = ctrlc::set_handler(move || set.store(true, Ordering::SeqCst));
        flag
    })
    .clone()
}

/// Progress: bars on a terminal, lines otherwise.
struct Bars {
    terminal: bool,
    bar: Option<(String, ProgressBar)>,
}

impl Bars {
    fn new() -> Bars {
        Bars {
            terminal: std::io::stderr().is_terminal(),
            bar: None,
        }
    }

    fn update(&mut self, p: &Progress) {
        if !self.terminal {
            eprintln!("nxt: {p}");
            return;
        }
        if p.phase == Phase::Prompting {
            self.finish();
            eprintln!("nxt: {p}");
            return;
        }
        let key = format!("{} {:?}", p.scope, p.phase);
        if self.bar.as_ref().is_none_or(|(k, _)| *k != key) {
            self.finish();
            let bar = ProgressBar::with_draw_target(Some(p.total), ProgressDrawTarget::stderr());
            let what = match p.phase {
                Phase::Sampling => "sampled",
                _ => "verified",
            };
            bar.set_style(
                ProgressStyle::with_template(&format!(
                    "{{msg}} {{bar:30}} {{pos}}/{{len}} {what} ({{per_sec}}, eta {{eta}})"
                ))
                .expect("a valid template"),
            );
            bar.set_message(p.scope.to_string());
            self.bar = Some((key, bar));
        }
        if let Some((_, bar)) = &self.bar {
            bar.set_length(p.total);
            bar.set_position(p.done);
        }
    }

    fn finish(&mut self) {
        if let Some((_, bar)) = self.bar.take() {
            bar.finish();
        }
    }
}

/// What an interrupted command prints; exit code 130.
fn interrupted(what: &str, again: &str) -> u8 {
    eprintln!(
        "nxt: interrupted during the {what}; everything sampled and verified so far is stored. \
         Run `{again}` to continue."
    );
    130
}

fn sampler_of(checkpoint: &nxt_selftrain::Checkpoint) -> Result<ConfiguredSampler> {
    ConfiguredSampler::from_spec(&checkpoint.sampler, &checkpoint.model).map_err(input)
}

/// Runs one step, or every step left; the exit code.
fn steps(run: &mut Run, db: &Path, python: &PythonArgs, once: bool) -> Result<u8> {
    if run.next()? == Next::Done {
        eprintln!("nxt: the run is done");
        return Ok(0);
    }
    let (tracer, verifier) = tools(python)?;
    run.set_interrupt(interrupt_flag());
    let mut bars = Bars::new();
    loop {
        let checkpoint = run.next_checkpoint()?;
        let sampler = sampler_of(&checkpoint)?;
        let result = run.step_with(&sampler, &tracer, &verifier, &mut |p| bars.update(p));
        bars.finish();
        let report = match result {
            Ok(report) => report,
            Err(Error::Interrupted(what)) => {
                let again = format!(
                    "nxt selftrain {} {}",
                    if once { "step" } else { "run" },
                    db.display()
                );
                return Ok(interrupted(&what, &again));
            }
            Err(e) => return Err(e.into()),
        };
        let Some(iteration) = report.iteration else {
            break;
        };
        for (task, why) in &report.unprompted {
            eprintln!("nxt: {task}: no prompt: {why}");
        }
        eprintln!(
            "nxt: {} finished: {} tasks, {} sampled from {}, {} verified in this step",
            if iteration == 0 {
                "selection".to_owned()
            } else {
                format!("iteration {iteration}")
            },
            report.tasks,
            report.sampled,
            checkpoint.name,
            report.verified
        );
        if once || run.next()? == Next::Done {
            break;
        }
    }
    print!("{}", run.status()?);
    Ok(0)
}

fn eval(a: &EvalArgs) -> Result<u8> {
    let mut run = open(&a.db.db)?;
    register(&mut run, a.iteration, &a.checkpoint)?;
    let checkpoint = run.checkpoint(a.iteration)?.ok_or_else(|| {
        BadInput(format!(
            "no checkpoint is registered for iteration {}: give --checkpoint replay:FILE|openai:URL",
            a.iteration
        ))
    })?;
    let sampler = sampler_of(&checkpoint)?;
    let (tracer, verifier) = tools(&a.python)?;
    run.set_interrupt(interrupt_flag());
    let modes: &[bool] = match a.trace {
        TraceArg::Both => &[true, false],
        TraceArg::With => &[true],
        TraceArg::Without => &[false],
    };
    let mut bars = Bars::new();
    for &trace in modes {
        let result = run.evaluate(
            a.iteration,
            trace,
            a.samples,
            &sampler,
            &tracer,
            &verifier,
            &mut |p| bars.update(p),
        );
        bars.finish();
        let report = match result {
            Ok(r) => r,
            Err(Error::Interrupted(what)) => {
                let again = format!(
                    "nxt selftrain eval {} --iteration {} --samples {}",
                    a.db.db.display(),
                    a.iteration,
                    a.samples
                );
                return Ok(interrupted(&what, &again));
            }
            Err(e) => return Err(input(e)),
        };
        for (task, why) in &report.unprompted {
            eprintln!("nxt: {task}: no prompt: {why}");
        }
        let r = &report.result;
        let rates: Vec<String> = r
            .pass_at
            .iter()
            .map(|(k, v)| match v {
                Some(v) => format!("pass@{k} {:.1}%", v * 100.0),
                None => format!("pass@{k} -"),
            })
            .collect();
        println!(
            "iteration {} ({}), {} traces: {}; {} dev tasks, {} samples ({} new), {} passed",
            a.iteration,
            checkpoint.name,
            if trace { "with" } else { "without" },
            rates.join(", "),
            r.tasks,
            r.samples,
            report.sampled,
            r.passed
        );
    }
    if let Some((k, p)) = run.best_iteration()? {
        println!(
            "best iteration on the dev set: {k} (pass@1 {:.1}%)",
            p * 100.0
        );
    }
    Ok(0)
}

fn import(a: &ImportArgs) -> Result<u8> {
    let mut run = open(&a.db.db)?;
    let w = &a.what;
    if let Some(path) = w.train.as_ref().or(w.dev.as_ref()) {
        let split = if w.train.is_some() {
            Split::Train
        } else {
            Split::Dev
        };
        let tasks = read_tasks(path)?;
        let added = run.import_tasks(split, &tasks).map_err(input)?;
        eprintln!(
            "nxt: {added} new {} tasks ({} read from {})",
            split.as_str(),
            tasks.len(),
            path.display()
        );
    } else if let Some(path) = &w.samples {
        let file =
            std::fs::File::open(path).map_err(|e| BadInput(format!("{}: {e}", path.display())))?;
        let (added, filled) = run
            .import_samples(std::io::BufReader::new(file), path)
            .map_err(input)?;
        eprintln!(
            "nxt: {added} slots added, {filled} filled from {}; `nxt selftrain step` verifies them",
            path.display()
        );
    }
    Ok(0)
}

/// The demo's fixtures, in the binary so that the demo runs from anywhere.
const DEMO_FILES: &[(&str, &str)] = &[
    (
        "train.jsonl",
        include_str!("../../../fixtures/selftrain/demo/train.jsonl"),
    ),
    (
        "dev.jsonl",
        include_str!("../../../fixtures/selftrain/demo/dev.jsonl"),
    ),
    (
        "answers.jsonl",
        include_str!("../../../fixtures/selftrain/demo/answers.jsonl"),
    ),
    (
        "checkpoint-1.jsonl",
        include_str!("../../../fixtures/selftrain/demo/checkpoint-1.jsonl"),
    ),
    (
        "checkpoint-2.jsonl",
        include_str!("../../../fixtures/selftrain/demo/checkpoint-2.jsonl"),
    ),
    (
        "run.toml",
        include_str!("../../../fixtures/selftrain/demo/run.toml"),
    ),
];

/// The whole loop on the bundled fixtures; every step as its command would do it.
fn demo(a: &DemoArgs) -> Result<u8> {
    let started = std::time::Instant::now();
    let out = &a.out;
    let fixtures = out.join("fixtures");
    std::fs::create_dir_all(&fixtures)
        .map_err(|e| BadInput(format!("{}: {e}", fixtures.display())))?;
    for (name, text) in DEMO_FILES {
        std::fs::write(fixtures.join(name), text)
            .with_context(|| format!("writing {}", fixtures.join(name).display()))?;
    }
    let db = out.join("demo.db");
    for stale in ["demo.db", "demo.db-wal", "demo.db-shm"] {
        let path = out.join(stale);
        if path.exists() {
            std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
        }
    }
    let config_text = std::fs::read_to_string(fixtures.join("run.toml"))?;
    let mut config = RunConfig::from_toml(&config_text).map_err(input)?;
    config.sampler = checked_sampler(&config.sampler, &fixtures)?;
    let train = read_tasks(&fixtures.join("train.jsonl"))?;
    let dev = read_tasks(&fixtures.join("dev.jsonl"))?;
    let mut run = Run::init(&db, &config, &train, &dev).map_err(input)?;
    eprintln!(
        "nxt: demo run {} ({} train, {} dev tasks)",
        db.display(),
        train.len(),
        dev.len()
    );
    let (tracer, verifier) = tools(&a.python)?;
    run.set_interrupt(interrupt_flag());
    let mut bars = Bars::new();
    let again = format!("nxt selftrain demo --out {}", out.display());
    let samples = 25;
    let evaluate = |run: &mut Run, k: u32, bars: &mut Bars| -> Result<Option<u8>> {
        let checkpoint = run.checkpoint(k)?.expect("registered");
        let sampler = sampler_of(&checkpoint)?;
        for trace in [true, false] {
            let r = run.evaluate(k, trace, samples, &sampler, &tracer, &verifier, &mut |p| {
                bars.update(p)
            });
            bars.finish();
            match r {
                Ok(_) => {}
                Err(Error::Interrupted(what)) => return Ok(Some(interrupted(&what, &again))),
                Err(e) => return Err(e.into()),
            }
        }
        Ok(None)
    };
    for iteration in 0..=config.iterations {
        // The selection (0) or iteration k, from the base model or the checkpoint
        // of iteration k - 1.
        if iteration > 0 || run.next()? == Next::Select {
            let checkpoint = run.next_checkpoint()?;
            let sampler = sampler_of(&checkpoint)?;
            let r = run.step_with(&sampler, &tracer, &verifier, &mut |p| bars.update(p));
            bars.finish();
            match r {
                Ok(_) => {}
                Err(Error::Interrupted(what)) => return Ok(interrupted(&what, &again)),
                Err(e) => return Err(e.into()),
            }
        }
        if iteration > 0 {
            let path = format!("export-{iteration}.chat.jsonl");
            run.export(iteration, ExportFormat::Chat, false, &out.join(&path))?;
            run.export(
                iteration,
                ExportFormat::Completion,
                false,
                &out.join(format!("export-{iteration}.completion.jsonl")),
            )?;
            // "Training" on the export is replayed: the checkpoint's answers are
            // recorded in fixtures/checkpoint-K.jsonl.
            let file = fixtures.join(format!("checkpoint-{iteration}.jsonl"));
            let spec = checked_sampler(&format!("replay:{}", file.display()), Path::new(""))?;
            run.register_checkpoint(
                iteration,
                &format!("demo-ft-{iteration}"),
                &spec,
                &config.model,
            )?;
        }
        if let Some(code) = evaluate(&mut run, iteration, &mut bars)? {
            return Ok(code);
        }
    }
    let report = run.report()?;
    let html = out.join("report.html");
    write_atomically(&html, report.html().as_bytes())?;
    print!("{}", report.text());
    println!();
    println!("outputs in {}:", out.display());
    println!(
        "  demo.db                      the run (nxt selftrain status|report|dump {})",
        db.display()
    );
    for k in 1..=config.iterations {
        println!("  export-{k}.chat.jsonl          iteration {k}'s kept samples, chat form");
        println!("  export-{k}.completion.jsonl    the same, prompt/completion form");
    }
    println!("  report.html                  the report with its plot");
    println!("  fixtures/                    the tasks and the replayed answers");
    eprintln!("nxt: demo done in {:.1} s", started.elapsed().as_secs_f64());
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
