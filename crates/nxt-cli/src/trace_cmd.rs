//! `nxt trace`: capture and render inline traces.

use std::collections::HashMap;
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use nxt::inline::formats::Format;
use nxt::inline::{InlineError, Layout};
use nxt::trace::{CPythonTracer, CPythonTracerBuilder, TraceError};
use nxt::{Program, RenderOptions, Trace, TraceOptions, Tracer};

use crate::BadInput;

#[derive(Debug, Args)]
pub(crate) struct TraceArgs {
    /// Python programs to trace (`-` reads one from standard input).
    #[arg(required = true, value_name = "FILE")]
    files: Vec<String>,
    /// Steps kept at the start of a line with many steps.
    #[arg(long, default_value_t = 2, value_name = "N")]
    keep_first: usize,
    /// Steps kept at the end of a line with many steps.
    #[arg(long, default_value_t = 1, value_name = "N")]
    keep_last: usize,
    /// Longest rendering of one value (at least 5).
    #[arg(long, default_value_t = 100, value_name = "N")]
    max_value_chars: usize,
    /// Stop recording after this many steps.
    #[arg(long, default_value_t = 10_000, value_name = "N")]
    max_steps: u64,
    /// Wall-clock limit of each run, in seconds.
    #[arg(long, default_value_t = 2.0, value_name = "SECONDS")]
    timeout: f64,
    /// Address-space limit of each run: bytes, or with a K/M/G suffix (powers of 1024),
    /// or `none`.
    #[arg(long, default_value = "2G", value_name = "BYTES")]
    memory_limit: String,
    /// The CPython that runs the programs (default: `python3` on PATH).
    #[arg(long, env = "NXT_PYTHON", value_name = "PATH")]
    python: Option<PathBuf>,
    /// The Python engine that runs the programs: CPython workers, or the embedded
    /// RustPython engine (needs an `nxt` built with `--features rustpython`; no CPython
    /// needed; docs/engines.md).
    #[arg(long, value_enum, default_value_t = EngineArg::Cpython, value_name = "ENGINE")]
    engine: EngineArg,
    /// Print the captured trace as JSON instead of rendering it (with --out-dir, write
    /// DIR/<name>.json beside DIR/<name>.py).
    #[arg(long)]
    json: bool,
    /// Render a trace captured earlier (JSON) instead of running the program.
    #[arg(long, value_name = "TRACE.json", conflicts_with_all = ["json", "out_dir"])]
    from_json: Option<PathBuf>,
    /// Trace many programs, writing DIR/<name>.py for each; prints `N passed, N failed`.
    #[arg(long, value_name = "DIR")]
    out_dir: Option<PathBuf>,
    /// Programs traced at once with --out-dir (default: the number of cores).
    #[arg(long, value_name = "N")]
    jobs: Option<usize>,
    /// How to write the trace: NExT's inline comments, a SemCoder-style scratchpad or an
    /// LDB-style block listing (docs/trace-formats.md); with --out-dir, semcoder and ldb
    /// write DIR/<name>.txt.
    #[arg(long, value_enum, default_value_t = FormatArg::Next, value_name = "FORMAT")]
    format: FormatArg,
}

/// The values of `--engine`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum EngineArg {
    /// CPython: warm zygote workers, one forked child per program.
    Cpython,
    /// The embedded RustPython engine: one worker process per program.
    Rustpython,
}

/// The RustPython worker: this very binary's hidden `__rustpython-worker` subcommand.
#[cfg(feature = "rustpython")]
pub(crate) fn rustpython_worker() -> Result<nxt_rustpython::Worker> {
    let exe = std::env::current_exe().context("finding the nxt executable")?;
    Ok(nxt_rustpython::Worker::new(exe).arg(crate::RUSTPYTHON_WORKER))
}

/// The error of `--engine rustpython` in an `nxt` built without it.
#[cfg(not(feature = "rustpython"))]
pub(crate) fn no_rustpython() -> anyhow::Error {
    BadInput(
        "this nxt was built without the RustPython engine: build it with \
         `cargo build --release -p nxt-cli --features rustpython`"
            .into(),
    )
    .into()
}

/// A tracer of either engine.
pub(crate) enum EngineTracer {
    CPython(CPythonTracer),
    #[cfg(feature = "rustpython")]
    RustPython(nxt_rustpython::RustPythonTracer),
}

impl EngineTracer {
    fn trace(&self, program: &Program, options: &TraceOptions) -> Result<Trace> {
        let syntax = |e: TraceError| -> anyhow::Error {
            match e {
                e @ TraceError::Syntax { .. } => BadInput(e.to_string()).into(),
                other => anyhow::Error::new(other),
            }
        };
        match self {
            EngineTracer::CPython(t) => t.trace(program, options).map_err(syntax),
            #[cfg(feature = "rustpython")]
            EngineTracer::RustPython(t) => t.trace(program, options).map_err(|e| match e {
                nxt_rustpython::EngineError::Trace(e) => syntax(e),
                other => anyhow::Error::new(other),
            }),
        }
    }
}

/// The values of `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum FormatArg {
    /// NExT's inline comments (spec/inline-trace-format.md).
    Next,
    /// A SemCoder-style scratchpad: `[STATE-k]{json}[/STATE-k]` per step.
    Semcoder,
    /// An LDB-style listing of blocks and all their frame's variables.
    Ldb,
}

impl FormatArg {
    fn format(self) -> Format {
        match self {
            FormatArg::Next => Format::Next,
            FormatArg::Semcoder => Format::Semcoder,
            FormatArg::Ldb => Format::Ldb,
        }
    }

    /// The extension of the files --out-dir writes.
    fn extension(self) -> &'static str {
        match self {
            FormatArg::Next => "py",
            FormatArg::Semcoder | FormatArg::Ldb => "txt",
        }
    }
}

impl TraceArgs {
    fn trace_options(&self) -> Result<TraceOptions> {
        if !(self.timeout.is_finite() && self.timeout > 0.0) {
            return Err(BadInput(format!(
                "--timeout must be a positive number of seconds, not {}",
                self.timeout
            ))
            .into());
        }
        Ok(TraceOptions {
            max_steps: self.max_steps,
            timeout: self.timeout,
            memory_limit: parse_bytes(&self.memory_limit)?,
            // Keep truncation exact for the requested width (and the budget ladder).
            value_capture_chars: (self.max_value_chars as u64).max(8192),
        })
    }

    fn render_options(&self) -> Result<RenderOptions> {
        if self.max_value_chars < 5 {
            return Err(BadInput(format!(
                "--max-value-chars must be at least 5, not {}",
                self.max_value_chars
            ))
            .into());
        }
        if self.keep_first < 1 {
            return Err(BadInput("--keep-first must be at least 1".into()).into());
        }
        Ok(RenderOptions {
            keep_first: self.keep_first,
            keep_last: self.keep_last,
            max_value_chars: self.max_value_chars,
        })
    }

    fn tracer(&self, workers: usize) -> Result<EngineTracer> {
        if self.engine == EngineArg::Rustpython {
            #[cfg(feature = "rustpython")]
            {
                let tracer = nxt_rustpython::RustPythonTracerBuilder::new()
                    .worker(rustpython_worker()?)
                    .workers(workers)
                    .build()?;
                return Ok(EngineTracer::RustPython(tracer));
            }
            #[cfg(not(feature = "rustpython"))]
            return Err(no_rustpython());
        }
        let mut builder = CPythonTracerBuilder::new();
        builder.workers(workers);
        if let Some(python) = &self.python {
            builder.python(python);
        }
        builder
            .build()
            .map(EngineTracer::CPython)
            .map_err(|e| match e {
                TraceError::Sandbox(e @ nxt::sandbox::SandboxError::InterpreterNotFound { .. }) => {
                    BadInput(e.to_string()).into()
                }
                other => anyhow::Error::new(other),
            })
    }
}

pub(crate) fn run(args: TraceArgs) -> Result<u8> {
    let render_options = args.render_options()?;
    let trace_options = args.trace_options()?;
    if args.out_dir.is_some() {
        return run_many(&args, &trace_options, &render_options);
    }
    if args.files.len() > 1 {
        return Err(BadInput("several programs need --out-dir DIR".into()).into());
    }
    let program = read_program(&args.files[0])?;
    let rendered = if let Some(path) = &args.from_json {
        let text = std::fs::read_to_string(path)
            .map_err(|e| BadInput(format!("{}: {e}", path.display())))?;
        let trace =
            Trace::from_json(&text).map_err(|e| BadInput(format!("{}: {e}", path.display())))?;
        render(
            &program,
            &layout(&program)?,
            &trace,
            args.format,
            &render_options,
        )?
    } else if args.json {
        let trace = trace_one(&args.tracer(1)?, &program, &trace_options)?;
        trace.to_json_pretty() + "\n"
    } else {
        let layout = layout(&program)?;
        let trace = trace_one(&args.tracer(1)?, &program, &trace_options)?;
        render(&program, &layout, &trace, args.format, &render_options)?
    };
    let mut out = std::io::stdout().lock();
    out.write_all(rendered.as_bytes())?;
    out.flush()?;
    Ok(0)
}

fn read_program(file: &str) -> Result<Program> {
    let bytes = if file == "-" {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .context("reading the program from standard input")?;
        buf
    } else {
        std::fs::read(file).map_err(|e| BadInput(format!("{file}: {e}")))?
    };
    let name = if file == "-" { "<stdin>" } else { file };
    let source = String::from_utf8(bytes).map_err(|e| {
        BadInput(format!(
            "{name}: not UTF-8 text (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        ))
    })?;
    Ok(Program::new(name, source))
}

fn layout(program: &Program) -> Result<Layout> {
    Layout::new(&program.source).map_err(|e| syntax(&program.name, e))
}

fn syntax(name: &str, e: InlineError) -> anyhow::Error {
    match e {
        InlineError::Syntax {
            line,
            column,
            message,
        } => BadInput(format!("{name}:{line}:{column}: syntax error: {message}")).into(),
        other => anyhow::Error::new(other).context(name.to_owned()),
    }
}

fn trace_one(tracer: &EngineTracer, program: &Program, options: &TraceOptions) -> Result<Trace> {
    tracer.trace(program, options)
}

fn render(
    program: &Program,
    layout: &Layout,
    trace: &Trace,
    format: FormatArg,
    options: &RenderOptions,
) -> Result<String> {
    format
        .format()
        .render_layout(layout, trace, options)
        .with_context(|| format!("{}: rendering the trace", program.name))
}

/// Parses `2G`, `512M`, `1048576`, `none`.
pub(crate) fn parse_bytes(text: &str) -> Result<Option<u64>> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    let (digits, shift) = match t.char_indices().last() {
        Some((i, 'K' | 'k')) => (&t[..i], 10),
        Some((i, 'M' | 'm')) => (&t[..i], 20),
        Some((i, 'G' | 'g')) => (&t[..i], 30),
        _ => (t, 0),
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(1u64 << shift))
        .map(Some)
        .ok_or_else(|| {
            BadInput(format!(
                "--memory-limit: expected bytes (e.g. 1073741824, 512M, 2G or none), found {text:?}"
            ))
            .into()
        })
}

/// The result of one program in --out-dir mode.
enum Verdict {
    Passed,
    Failed(String),
}

fn run_many(
    args: &TraceArgs,
    trace_options: &TraceOptions,
    render_options: &RenderOptions,
) -> Result<u8> {
    let dir = args.out_dir.as_deref().expect("--out-dir is set");
    std::fs::create_dir_all(dir).map_err(|e| BadInput(format!("{}: {e}", dir.display())))?;
    // Output names must be distinct before any work starts.
    let mut seen: HashMap<String, &str> = HashMap::new();
    let mut names = Vec::with_capacity(args.files.len());
    for file in &args.files {
        if file == "-" {
            return Err(
                BadInput("`-` (standard input) cannot be used with --out-dir".into()).into(),
            );
        }
        let stem = Path::new(file)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .ok_or_else(|| BadInput(format!("{file}: not a file name")))?;
        if let Some(other) = seen.insert(stem.clone(), file) {
            return Err(BadInput(format!(
                "{other} and {file} would both be written to {}",
                dir.join(format!("{stem}.{}", args.format.extension()))
                    .display()
            ))
            .into());
        }
        names.push(stem);
    }

    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .clamp(1, args.files.len().max(1));
    let tracer = args.tracer(jobs)?;

    let interrupted = Arc::new(AtomicBool::new(false));
    {
        let flag = Arc::clone(&interrupted);
        // A second handler cannot be installed in the same process; ignore that case.
        let _ = ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst));
    }
    let bar = if std::io::stderr().is_terminal() {
        ProgressBar::with_draw_target(Some(args.files.len() as u64), ProgressDrawTarget::stderr())
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} traced ({per_sec}, eta {eta})")
            .expect("a valid template"),
    );

    let next = AtomicUsize::new(0);
    let verdicts: Mutex<Vec<Option<Verdict>>> =
        Mutex::new((0..args.files.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| {
                loop {
                    if interrupted.load(Ordering::SeqCst) {
                        break;
                    }
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(file) = args.files.get(i) else { break };
                    let verdict = match one(
                        &tracer,
                        file,
                        &names[i],
                        dir,
                        args,
                        trace_options,
                        render_options,
                    ) {
                        Ok(()) => Verdict::Passed,
                        Err(e) => Verdict::Failed(format!("{e:#}")),
                    };
                    if let Verdict::Failed(reason) = &verdict {
                        bar.suspend(|| eprintln!("nxt: {reason}"));
                    }
                    verdicts.lock().expect("no panics while locked")[i] = Some(verdict);
                    bar.inc(1);
                }
            });
        }
    });
    bar.finish_and_clear();

    let verdicts = verdicts.into_inner().expect("no panics while locked");
    let passed = verdicts
        .iter()
        .filter(|v| matches!(v, Some(Verdict::Passed)))
        .count();
    let failed = verdicts
        .iter()
        .filter(|v| matches!(v, Some(Verdict::Failed(_))))
        .count();
    println!("{passed} passed, {failed} failed");
    if interrupted.load(Ordering::SeqCst) {
        let left = args.files.len() - passed - failed;
        eprintln!("nxt: interrupted; {left} programs were not traced");
        return Ok(130);
    }
    Ok(if failed == 0 { 0 } else { 1 })
}

fn one(
    tracer: &EngineTracer,
    file: &str,
    name: &str,
    dir: &Path,
    args: &TraceArgs,
    trace_options: &TraceOptions,
    render_options: &RenderOptions,
) -> Result<()> {
    let program = read_program(file)?;
    let layout = layout(&program)?;
    let trace = trace_one(tracer, &program, trace_options)?;
    let text = render(&program, &layout, &trace, args.format, render_options)?;
    if args.json {
        write_atomic(
            &dir.join(format!("{name}.json")),
            (trace.to_json() + "\n").as_bytes(),
        )?;
    }
    write_atomic(
        &dir.join(format!("{name}.{}", args.format.extension())),
        text.as_bytes(),
    )
}

/// Writes through a temporary file in the same directory and renames it into place, so
/// a reader never sees a partial file.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    tmp.write_all(bytes)
        .with_context(|| format!("writing {}", path.display()))?;
    tmp.persist(path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(not(feature = "rustpython"))]
    #[test]
    fn the_rustpython_engine_needs_the_feature() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            args: TraceArgs,
        }
        let cli = Cli::parse_from(["nxt", "--engine", "rustpython", "x.py"]);
        let err = cli.args.tracer(1).err().expect("no engine");
        let bad = err.downcast_ref::<BadInput>().expect("bad input");
        assert!(bad.0.contains("--features rustpython"), "{bad}");
    }

    #[test]
    fn byte_sizes_parse() {
        assert_eq!(parse_bytes("1024").unwrap(), Some(1024));
        assert_eq!(parse_bytes("2G").unwrap(), Some(2 << 30));
        assert_eq!(parse_bytes("512m").unwrap(), Some(512 << 20));
        assert_eq!(parse_bytes("none").unwrap(), None);
        assert!(parse_bytes("lots").is_err());
        assert!(parse_bytes("99999999999999G").is_err());
    }
}
