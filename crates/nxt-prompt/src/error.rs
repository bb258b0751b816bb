//! The errors of the crate: building prompts ([`PromptError`]) and reading answers
//! ([`ParseError`]).

use std::path::PathBuf;

use nxt_inline::InlineError;

use crate::templates::TEMPLATE_NAMES;

/// An error from a tracer or a verifier, whatever its type.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a prompter could not be built, or a task got no prompt.
///
/// The variants with a `task_id` are per-task errors: the other tasks of a batch still
/// get their prompts.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PromptError {
    /// A template does not compile, or failed to render (an unknown variable, a bad
    /// filter call).
    #[error("template {name}: {message}")]
    Template {
        /// The template's file name, e.g. `problem.j2`.
        name: String,
        /// What minijinja said, with the line.
        message: String,
    },
    /// A template directory or one of its files could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A template directory holds a `.j2` file that is none of the prompt's templates
    /// (a misspelt name would otherwise be ignored).
    #[error(
        "{}: not a template of the prompt (the templates are {})",
        path.display(),
        TEMPLATE_NAMES.join(", ")
    )]
    UnknownTemplate {
        /// The file.
        path: PathBuf,
    },
    /// A tokenizer file could not be loaded.
    #[error("tokenizer {}: {message}", path.display())]
    Tokenizer {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// More few-shot examples were asked for than there are exemplars.
    #[error("{asked} shots asked for, but there are {available} exemplars")]
    TooManyShots {
        /// The shots asked for.
        asked: usize,
        /// The exemplars there are.
        available: usize,
    },
    /// The task has no test to trace.
    #[error("{task_id}: the task has no tests to trace")]
    NoTests {
        /// The task.
        task_id: String,
    },
    /// The task's program passes all its tests, and the prompter was told to refuse
    /// such tasks ([`OnPassing::Fail`](crate::OnPassing::Fail)).
    #[error("{task_id}: the program passes all its tests; there is no failing test to trace")]
    Passes {
        /// The task.
        task_id: String,
    },
    /// A traced test names a test block the task does not have.
    #[error("{task_id}: there is no tests[{test_index}] (the task has {tests} tests)")]
    NoSuchTest {
        /// The task.
        task_id: String,
        /// The 0-based index asked for.
        test_index: usize,
        /// How many test blocks the task has.
        tests: usize,
    },
    /// The verifier could not check the task's program (no interpreter, a broken
    /// worker).
    #[error("{task_id}: verification failed: {source}")]
    Verify {
        /// The task.
        task_id: String,
        /// The verifier's error.
        #[source]
        source: BoxError,
    },
    /// The tracer gave no trace (the program does not compile, no interpreter).
    #[error("{task_id}: tracing tests[{test_index}] failed: {source}")]
    Trace {
        /// The task.
        task_id: String,
        /// The 0-based test block that was traced.
        test_index: usize,
        /// The tracer's error.
        #[source]
        source: BoxError,
    },
    /// The trace could not be written into the program (it does not parse, an option
    /// is out of range).
    #[error("{task_id}: cannot render the trace of tests[{test_index}]: {source}")]
    Render {
        /// The task.
        task_id: String,
        /// The 0-based test block that was traced.
        test_index: usize,
        /// The formatter's error.
        #[source]
        source: InlineError,
    },
    /// Even the smallest prompt is over the token budget: with every trace comment
    /// dropped (the budget ladder of the trace format, section 6), or without a trace
    /// to shorten.
    #[error("{task_id}: {}", over_budget(*tokens, *budget, *traces))]
    OverBudget {
        /// The task.
        task_id: String,
        /// Tokens of the smallest prompt.
        tokens: usize,
        /// The budget.
        budget: usize,
        /// How many traces the prompt holds (their comments were all dropped); 0 when
        /// there was no trace to shorten.
        traces: usize,
    },
}

fn over_budget(tokens: usize, budget: usize, traces: usize) -> String {
    let how = match traces {
        0 => "and has no trace to shorten",
        1 => "even with every comment of its trace dropped",
        _ => "even with every comment of its traces dropped",
    };
    format!("the prompt has {tokens} tokens, over the budget of {budget}, {how}")
}

/// Why no program could be read from a model's answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The answer holds no code: no fenced block with a statement in it, and no bare
    /// program after the rationale.
    #[error("the answer holds no code")]
    NoCode,
    /// The code that was found is not valid Python.
    #[error("the code does not parse: line {line}, column {column}: {message}")]
    CodeDoesNotParse {
        /// 1-based line of the error, within the code.
        line: usize,
        /// 1-based column of the error, counted in characters.
        column: usize,
        /// What the parser said.
        message: String,
        /// The code that was found (newlines normalized to `\n`).
        code: String,
    },
}
