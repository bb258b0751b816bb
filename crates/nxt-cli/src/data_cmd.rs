//! `nxt data`: benchmark files to tasks JSONL (`docs/tasks-jsonl.md`).
//!
//! `nxt data import humaneval HumanEval.jsonl --out tasks.jsonl` and `nxt data import
//! mbpp mbpp.jsonl` (or `sanitized-mbpp.json`) write tasks whose `code` is the
//! reference solution. Bad input (an unreadable file, a bad line, a duplicate id) exits
//! with 2; `--skip-invalid` skips bad lines and lists them on standard error.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use nxt::data::{self, DataError, OnInvalid, import};

use crate::BadInput;

#[derive(Debug, Args)]
pub(crate) struct DataArgs {
    #[command(subcommand)]
    command: DataCommand,
}

#[derive(Debug, Subcommand)]
enum DataCommand {
    /// Convert a benchmark file into tasks JSONL; each task's `code` is the reference
    /// solution.
    Import(ImportArgs),
}

#[derive(Debug, Args)]
struct ImportArgs {
    /// The benchmark's format.
    #[arg(value_enum)]
    format: Format,
    /// The benchmark file: `HumanEval.jsonl` (humaneval); `mbpp.jsonl` or
    /// `sanitized-mbpp.json`, told apart by content (mbpp).
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// Write the tasks here, atomically (default: standard output).
    #[arg(long, value_name = "TASKS.jsonl")]
    out: Option<PathBuf>,
    /// Skip lines that cannot be read, listing them on standard error, instead of
    /// stopping at the first (a duplicate id still stops).
    #[arg(long)]
    skip_invalid: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// OpenAI's HumanEval (and files in its format: HumanEval+, HumanEvalPack).
    Humaneval,
    /// Google's MBPP: the full `mbpp.jsonl` or the sanitized `sanitized-mbpp.json`.
    Mbpp,
}

pub(crate) fn run(args: DataArgs) -> Result<u8> {
    match args.command {
        DataCommand::Import(args) => run_import(&args),
    }
}

fn run_import(args: &ImportArgs) -> Result<u8> {
    let on_invalid = if args.skip_invalid {
        OnInvalid::Skip
    } else {
        OnInvalid::Fail
    };
    let loaded = match args.format {
        Format::Humaneval => import::humaneval_with(&args.file, on_invalid),
        Format::Mbpp => import::mbpp_with(&args.file, on_invalid),
    }
    .map_err(read_error)?;
    for skipped in &loaded.skipped {
        eprintln!("nxt: skipped {skipped}");
    }

    let destination = match &args.out {
        Some(out) => {
            data::write_jsonl(out, &loaded.items).map_err(write_error)?;
            out.display().to_string()
        }
        None => {
            let stdout = std::io::stdout().lock();
            match data::write_jsonl_to(std::io::BufWriter::new(stdout), &loaded.items) {
                Ok(()) => {}
                // `nxt data import ... | head`: the reader has all it wants.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(0),
                Err(e) => return Err(e).context("writing the tasks to standard output"),
            }
            "standard output".to_owned()
        }
    };
    let skipped = match loaded.skipped.len() {
        0 => String::new(),
        1 => " (skipped 1 invalid line)".to_owned(),
        n => format!(" (skipped {n} invalid lines)"),
    };
    let tasks = match loaded.items.len() {
        1 => "1 task".to_owned(),
        n => format!("{n} tasks"),
    };
    eprintln!("wrote {tasks} to {destination}{skipped}");
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
}
