//! The one error type of the crate.

/// Why a trace could not be rendered into its source.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InlineError {
    /// The source is not valid Python.
    #[error("syntax error at line {line}, column {column}: {message}")]
    Syntax {
        /// 1-based physical line of the error (lines end at `\n`, `\r\n` or `\r`).
        line: usize,
        /// 1-based column of the error, counted in characters (Unicode scalar values).
        column: usize,
        /// What the parser said.
        message: String,
    },
    /// A step names a line that no statement of the source covers (a blank line, a
    /// comment, a line between statements, or a line past the end of the source).
    #[error("step {step} is on line {line}, which belongs to no statement of the source")]
    NoStatement {
        /// The 1-based line the step names.
        line: u32,
        /// The step's number (its index in `trace.steps`).
        step: usize,
    },
    /// A [`RenderOptions`](nxt_core::RenderOptions) field is out of range.
    #[error("render option `{option}` is {value}, but {requirement}")]
    InvalidOption {
        /// The field's name, e.g. `max_value_chars`.
        option: &'static str,
        /// The value it had.
        value: usize,
        /// What it has to be, e.g. `it must be at least 5`.
        requirement: &'static str,
    },
    /// Even the smallest rendering the token budget ladder can make is over the budget.
    #[error("the smallest rendering has {tokens} tokens, over the budget of {budget}")]
    OverBudget {
        /// Tokens of the smallest rendering (the source with no trace comments, plus
        /// the ending line if there is one).
        tokens: usize,
        /// The budget that was asked for.
        budget: usize,
    },
}
