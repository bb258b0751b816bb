//! `nxt prompt`: NExT repair prompts for tasks, as JSON Lines on standard output.
//!
//! `nxt prompt TASKS.jsonl > PROMPTS.jsonl` verifies each task's `code` (the buggy
//! program) to find its first failing test, traces the program on it and writes one
//! prompt per line: `task_id`, `prompt` (text) or `messages` (chat), `tokens`,
//! `tokenizer`, `budget_actions` and `traces` (`docs/prompts.md`). Options choose the
//! variant (`--shots`, `--no-trace`, `--format`, `--all-tests`), the templates
//! (`--template DIR`; `--write-templates DIR` writes the defaults to edit) and a token
//! budget (`--tokenizer FILE --max-prompt-tokens N`). A task that gets no prompt (over
//! the budget even with its trace shortened, a program that does not compile, ...) is
//! reported on stderr and the others go on. Exit codes: 0 every task got its prompt; 1
//! some did not (or an internal error); 2 bad input (an unreadable tasks file, a bad
//! template or tokenizer file, a bad option).

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use nxt::core::{RenderOptions, Task};
use nxt::data::{self, OnInvalid};
use nxt::trace::{CPythonTracer, CPythonTracerBuilder, TraceError};
use nxt::verify::{PythonVerifier, PythonVerifierBuilder, VerifyError};
use nxt_prompt::{
    Format, OnPassing, PromptBuilder, PromptError, Prompter, TokenCounter, TraceTests,
};

use crate::BadInput;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum FormatArg {
    /// One text: instructions, exemplars and problem, ending at `### Answer`.
    Text,
    /// System, user and assistant messages, as OpenAI-compatible servers take them.
    Chat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum OnPassingArg {
    /// Trace the first test and say that the program passes it.
    TraceFirst,
    /// Report the task as an error.
    Error,
}

#[derive(Debug, Args)]
pub(crate) struct PromptArgs {
    /// Tasks JSONL (docs/tasks-jsonl.md); each task's `code` is the buggy program.
    #[arg(
        value_name = "TASKS.jsonl",
        required_unless_present = "write_templates"
    )]
    tasks: Option<PathBuf>,
    /// Worked exemplars shown before the problem (MBPP tasks 1-10, the prompting split).
    #[arg(long, default_value_t = 3, value_name = "0|3",
          value_parser = clap::value_parser!(u8).range(0..=3))]
    shots: u8,
    /// Leave the execution traces out (the paper's "no trace at test time" ablation).
    #[arg(long)]
    no_trace: bool,
    /// Text prompts or chat messages.
    #[arg(long, value_enum, default_value_t = FormatArg::Text)]
    format: FormatArg,
    /// A directory of templates (system.j2, problem.j2, answer.j2, text.j2) that replace
    /// the defaults of the same name.
    #[arg(long, value_name = "DIR")]
    template: Option<PathBuf>,
    /// Write the default templates into DIR, to edit them, and exit.
    #[arg(long, value_name = "DIR", conflicts_with = "tasks")]
    write_templates: Option<PathBuf>,
    /// Count tokens with this Hugging Face tokenizer file (default: an estimate, see
    /// docs/prompts.md).
    #[arg(long, value_name = "tokenizer.json")]
    tokenizer: Option<PathBuf>,
    /// Keep each prompt within N tokens by shortening its trace (loops, values, then
    /// whole lines); a prompt still over N is an error for its task.
    #[arg(long, value_name = "N")]
    max_prompt_tokens: Option<usize>,
    /// Trace every test, each on its own, instead of the first failing one.
    #[arg(long)]
    all_tests: bool,
    /// What to do with a task whose program passes all its tests.
    #[arg(long, value_enum, default_value_t = OnPassingArg::TraceFirst)]
    on_passing: OnPassingArg,
    /// Steps kept at the start of a line with many steps.
    #[arg(long, default_value_t = 2, value_name = "N")]
    keep_first: usize,
    /// Steps kept at the end of a line with many steps.
    #[arg(long, default_value_t = 1, value_name = "N")]
    keep_last: usize,
    /// Longest rendering of one value (at least 5).
    #[arg(long, default_value_t = 100, value_name = "N")]
    max_value_chars: usize,
    /// Programs verified and traced at once (default: the number of cores).
    #[arg(long, value_name = "N")]
    jobs: Option<usize>,
    /// The CPython that runs the programs (default: `python3` on PATH).
    #[arg(long, env = "NXT_PYTHON", value_name = "PATH")]
    python: Option<PathBuf>,
}

impl PromptArgs {
    fn prompter(&self) -> Result<Prompter> {
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
        let mut builder = PromptBuilder::new();
        builder
            .shots(usize::from(self.shots))
            .trace(!self.no_trace)
            .format(match self.format {
                FormatArg::Text => Format::Text,
                FormatArg::Chat => Format::Chat,
            })
            .max_prompt_tokens(self.max_prompt_tokens)
            .trace_tests(if self.all_tests {
                TraceTests::All
            } else {
                TraceTests::FirstFailing
            })
            .on_passing(match self.on_passing {
                OnPassingArg::TraceFirst => OnPassing::TraceFirst,
                OnPassingArg::Error => OnPassing::Fail,
            })
            .render_options(RenderOptions {
                keep_first: self.keep_first,
                keep_last: self.keep_last,
                max_value_chars: self.max_value_chars,
            });
        if let Some(dir) = &self.template {
            builder.template_dir(dir);
        }
        if let Some(file) = &self.tokenizer {
            builder.token_counter(TokenCounter::from_file(file).map_err(bad_input)?);
        }
        // Every error of building is the user's input: templates, tokenizer, shots.
        builder.build().map_err(bad_input)
    }

    fn tools(&self, workers: usize) -> Result<(CPythonTracer, PythonVerifier)> {
        let mut tracer = CPythonTracerBuilder::new();
        let mut verifier = PythonVerifierBuilder::new();
        tracer.workers(workers);
        verifier.workers(workers);
        if let Some(python) = &self.python {
            tracer.python(python);
            verifier.python(python);
        }
        let tracer = tracer.build().map_err(|e| match e {
            TraceError::Sandbox(e @ nxt::sandbox::SandboxError::InterpreterNotFound { .. }) => {
                BadInput(e.to_string()).into()
            }
            other => anyhow::Error::new(other),
        })?;
        let verifier = verifier.build().map_err(|e| match e {
            VerifyError::Sandbox(e @ nxt::sandbox::SandboxError::InterpreterNotFound { .. }) => {
                BadInput(e.to_string()).into()
            }
            other => anyhow::Error::new(other),
        })?;
        Ok((tracer, verifier))
    }
}

fn bad_input(e: PromptError) -> anyhow::Error {
    BadInput(e.to_string()).into()
}

pub(crate) fn run(args: PromptArgs) -> Result<u8> {
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    run_to(&args, &mut out)
}

/// Writes the prompts of `args` to `out`; the exit code.
fn run_to(args: &PromptArgs, out: &mut impl Write) -> Result<u8> {
    if let Some(dir) = &args.write_templates {
        return write_templates(dir);
    }
    let prompter = args.prompter()?;
    let path = args.tasks.as_deref().expect("clap requires TASKS");
    let tasks = data::read_tasks(path, OnInvalid::Fail)
        .map_err(|e| BadInput(e.to_string()))?
        .items;

    let mut failed = 0usize;
    let mut emit = |results: Vec<Result<nxt_prompt::Prompt, PromptError>>| -> Result<()> {
        for result in results {
            match result {
                Ok(prompt) => writeln!(out, "{}", prompt.to_json()).context("writing prompts")?,
                Err(e) => {
                    failed += 1;
                    eprintln!("nxt: {e}");
                }
            }
        }
        out.flush().context("writing prompts")
    };
    if prompter.with_trace() {
        let jobs = args
            .jobs
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
            .max(1);
        let (tracer, verifier) = args.tools(jobs)?;
        // In chunks, so that prompts come out as they are made.
        for chunk in tasks.chunks(jobs * 8) {
            emit(prompter.prompt_all(chunk, &tracer, &verifier))?;
        }
    } else {
        let results = tasks
            .iter()
            .map(|t: &Task| prompter.assemble(t, &[]))
            .collect();
        emit(results)?;
    }
    if failed > 0 {
        eprintln!("nxt: {} of {} tasks got no prompt", failed, tasks.len());
        return Ok(1);
    }
    Ok(0)
}

/// Writes the default templates into `dir` (created if need be), never over a file.
fn write_templates(dir: &Path) -> Result<u8> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for (name, _) in nxt_prompt::default_templates() {
        let path = dir.join(name);
        if path.exists() {
            return Err(BadInput(format!("{} exists; not overwriting it", path.display())).into());
        }
    }
    for (name, source) in nxt_prompt::default_templates() {
        let path = dir.join(name);
        std::fs::write(&path, source).with_context(|| format!("writing {}", path.display()))?;
    }
    eprintln!(
        "nxt: wrote {} to {}",
        nxt_prompt::TEMPLATE_NAMES.join(", "),
        dir.display()
    );
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: PromptArgs,
    }

    fn fixture(name: &str) -> String {
        format!(
            "{}/../../fixtures/prompt/{name}",
            env!("CARGO_MANIFEST_DIR")
        )
    }

    fn args(argv: &[&str]) -> PromptArgs {
        Cli::try_parse_from(std::iter::once("prompt").chain(argv.iter().copied()))
            .unwrap()
            .args
    }

    fn lines(argv: &[&str]) -> (u8, Vec<serde_json::Value>) {
        let mut out = Vec::new();
        let code = run_to(&args(argv), &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        (
            code,
            text.lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect(),
        )
    }

    #[test]
    fn prompts_every_task_as_a_json_line() {
        let tasks = fixture("tasks.jsonl");
        let (code, prompts) = lines(&[&tasks, "--shots", "0", "--jobs", "2"]);
        assert_eq!(code, 0);
        let ids: Vec<&str> = prompts
            .iter()
            .map(|p| p["task_id"].as_str().unwrap())
            .collect();
        assert_eq!(
            ids,
            [
                "fixture/running-max",
                "fixture/count-vowels",
                "fixture/parse-pairs"
            ]
        );
        for p in &prompts {
            assert!(
                p["prompt"]
                    .as_str()
                    .unwrap()
                    .contains("# Here is the execution trace")
            );
            assert_eq!(p["tokenizer"], "estimate");
            assert_eq!(p["traces"][0]["test_index"], 1);
        }
    }

    #[test]
    fn chat_without_trace_with_a_tokenizer() {
        let tasks = fixture("tasks.jsonl");
        let tokenizer = fixture("tokenizer.json");
        let (code, prompts) = lines(&[
            &tasks,
            "--no-trace",
            "--format",
            "chat",
            "--tokenizer",
            &tokenizer,
        ]);
        assert_eq!(code, 0);
        let messages = prompts[0]["messages"].as_array().unwrap();
        assert_eq!(messages.len(), 8);
        assert_eq!(messages[7]["role"], "user");
        assert!(prompts[0]["traces"].as_array().unwrap().is_empty());
        assert_eq!(prompts[0]["tokenizer"], tokenizer.as_str());
    }

    #[test]
    fn over_budget_tasks_are_errors_and_the_rest_go_on() {
        let tasks = fixture("tasks.jsonl");
        let (code, prompts) = lines(&[&tasks, "--shots", "0", "--max-prompt-tokens", "560"]);
        assert_eq!(code, 1);
        // The running-max prompt is the longest; the others fit.
        let ids: Vec<&str> = prompts
            .iter()
            .map(|p| p["task_id"].as_str().unwrap())
            .collect();
        assert!(!ids.contains(&"fixture/running-max"), "{ids:?}");
        assert!(!ids.is_empty());
    }

    #[test]
    fn bad_options_and_files_are_bad_input() {
        let tasks = fixture("tasks.jsonl");
        let bad = |argv: &[&str]| {
            let err = run_to(&args(argv), &mut Vec::new()).unwrap_err();
            assert!(err.downcast_ref::<BadInput>().is_some(), "{err}");
            err.to_string()
        };
        assert!(bad(&[&tasks, "--tokenizer", &tasks]).starts_with("tokenizer "));
        assert!(bad(&[&tasks, "--template", "/nonexistent"]).contains("/nonexistent"));
        assert!(bad(&["/nonexistent/tasks.jsonl"]).contains("/nonexistent/tasks.jsonl"));
        assert!(bad(&[&tasks, "--max-value-chars", "4"]).contains("at least 5"));
        assert!(Cli::try_parse_from(["prompt", &tasks, "--shots", "4"]).is_err());
    }

    #[test]
    fn default_templates_are_written_to_edit() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("templates");
        let target = target.to_str().unwrap();
        assert_eq!(
            run_to(&args(&["--write-templates", target]), &mut Vec::new()).unwrap(),
            0
        );
        let problem = std::fs::read_to_string(dir.path().join("templates/problem.j2")).unwrap();
        assert!(problem.contains("{{ prompt | comment }}"));
        // Never over a file.
        let err = run_to(&args(&["--write-templates", target]), &mut Vec::new()).unwrap_err();
        assert!(err.to_string().contains("exists"), "{err}");
        // And they are used.
        std::fs::write(dir.path().join("templates/text.j2"), "{{ problem }}").unwrap();
        let (_, prompts) = lines(&[&fixture("tasks.jsonl"), "--no-trace", "--template", target]);
        assert!(
            prompts[0]["prompt"]
                .as_str()
                .unwrap()
                .starts_with("# Write a function")
        );
    }
}
