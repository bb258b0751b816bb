//! The `nxt` command line.
//!
//! `nxt trace FILE` prints a Python program with its NExT inline trace; `nxt trace
//! a.py b.py ... --out-dir DIR` traces many programs on a pool of warm workers; `nxt
//! verify TASKS.jsonl [--samples S.jsonl]` runs programs against their tests; `nxt
//! prompt TASKS.jsonl > PROMPTS.jsonl` writes NExT repair prompts; `nxt selftrain
//! init|step|run|status|export|checkpoint|eval|report|dump|import|demo` drives a
//! self-training run; `nxt data import KIND FILE` writes benchmark tasks as JSONL. Exit
//! codes: 0 done, 1 some programs failed (or an internal error), 2 bad input (a syntax
//! error, an unreadable file, a bad option), 130 interrupted.

mod data_cmd;
mod prompt_cmd;
mod selftrain_cmd;
mod trace_cmd;
mod verify_cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// NExT-style execution traces for code models.
#[derive(Debug, Parser)]
#[command(name = "nxt", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run Python programs and print them with their inline execution traces.
    Trace(trace_cmd::TraceArgs),
    /// Verify programs against their tasks' tests, each check in its own sandboxed
    /// process; verdicts, per-test results and pass@k.
    Verify(verify_cmd::VerifyArgs),
    /// Write NExT repair prompts for tasks, as JSON Lines on standard output.
    Prompt(prompt_cmd::PromptArgs),
    /// Benchmark data: import HumanEval(+/Fix), MBPP(+) and HEFix+ as tasks JSONL; build
    /// MBPP-R repair tasks from failing samples.
    Data(data_cmd::DataArgs),
    /// NExT self-training runs: select hard problems, sample, verify, filter, export.
    Selftrain(selftrain_cmd::SelftrainArgs),
    /// The RustPython engine's worker: runs one job read from standard input (started
    /// by `--engine rustpython`, not by hand).
    #[cfg(feature = "rustpython")]
    #[command(name = "__rustpython-worker", hide = true)]
    RustpythonWorker {
        /// The harness: trace, verify or exec.
        harness: String,
    },
}

/// The name of the hidden subcommand of the RustPython engine's worker.
#[cfg(feature = "rustpython")]
pub(crate) const RUSTPYTHON_WORKER: &str = "__rustpython-worker";

/// An error caused by the user's input: exit code 2.
#[derive(Debug)]
pub(crate) struct BadInput(pub(crate) String);

impl std::fmt::Display for BadInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadInput {}

fn main() -> ExitCode {
    #[cfg(feature = "rustpython")]
    {
        // The worker starts before anything else (no argument parsing beyond its own).
        let mut args = std::env::args();
        if args.nth(1).as_deref() == Some(RUSTPYTHON_WORKER) {
            let name = args.next().unwrap_or_default();
            match nxt_rustpython::Harness::from_name(&name) {
                Some(harness) => nxt_rustpython::worker_main(harness),
                None => {
                    eprintln!("nxt: {RUSTPYTHON_WORKER}: unknown harness {name:?}");
                    return ExitCode::from(2);
                }
            }
        }
    }
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Trace(args) => trace_cmd::run(args),
        Command::Verify(args) => verify_cmd::run(args),
        Command::Prompt(args) => prompt_cmd::run(args),
        Command::Data(args) => data_cmd::run(args),
        Command::Selftrain(args) => selftrain_cmd::run(args),
        #[cfg(feature = "rustpython")]
        Command::RustpythonWorker { .. } => unreachable!("handled before parsing"),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            if let Some(bad) = err.downcast_ref::<BadInput>() {
                eprintln!("nxt: {bad}");
                ExitCode::from(2)
            } else {
                eprintln!("nxt: {err:#}");
                ExitCode::from(1)
            }
        }
    }
}
