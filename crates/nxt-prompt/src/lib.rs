//! NExT repair prompts (Ni et al., 2024, arXiv 2404.14662): a buggy program with its
//! execution trace as inline comments, for a model to answer with a chain-of-thought
//! rationale and a fixed program; and the reading of that answer.
//!
//! A prompt shows, in the paper's order, the task's text as a Python comment, the buggy
//! program, the tests as `assert` lines, then the program run on its first failing test
//! with the inline trace (`docs/prompts.md`):
//!
//! ```text
//! # Write a function to add two numbers.
//! def add(a, b):
//!     return a - b
//!
//! # The test cases:
//! assert add(2, 3) == 5
//!
//! # Here is the execution trace of the program on the failing test:
//! def add(a, b):  # (0) a=2, b=3;
//!     return a - b  # (1) __return__=-1;
//!
//! assert add(2, 3) == 5  # (2) __exception__=AssertionError();
//! ```
//!
//! - [`PromptBuilder`] configures the variants: with or without the trace (the paper's
//!   ablation), 0 to 3 few-shot [`exemplars`] of our own (MBPP tasks 1–10, the
//!   prompting split), [`Format::Text`] or [`Format::Chat`] messages, templates from a
//!   directory (minijinja; the defaults ship in the crate), a token budget counted by a
//!   Hugging Face tokenizer file or an estimate ([`TokenCounter`]).
//! - [`Prompter`] finds the failing test through a [`Verifier`](nxt_core::Verifier),
//!   traces it through a [`Tracer`](nxt_core::Tracer) (this crate runs no Python itself:
//!   the caller passes, say, `nxt-verify`'s and `nxt-trace`'s CPython implementations),
//!   renders the trace with `nxt-inline` and, over budget, shortens it with the trace
//!   format's ladder, reporting the steps taken; a prompt still too long is an error,
//!   never a silent cut.
//! - [`parse_response`] splits an answer into its rationale and its program, with typed
//!   errors for answers without code and code that does not parse.
//!
//! # Example
//!
//! ```
//! use nxt_core::Task;
//! use nxt_prompt::{PromptBuilder, TokenCounter, parse_response};
//!
//! let task: Task = serde_json::from_str(r#"{
//!     "task_id": "demo/add", "prompt": "Write a function to add two numbers.",
//!     "code": "def add(a, b):\n    return a - b\n",
//!     "tests": ["assert add(0, 0) == 0", "assert add(2, 3) == 5"]
//! }"#)?;
//! let tracer = nxt_trace::CPythonTracerBuilder::new().build()?;
//! let verifier = nxt_verify::PythonVerifierBuilder::new().build()?;
//!
//! let prompter = PromptBuilder::new()
//!     .shots(0)
//!     .max_prompt_tokens(Some(2048))
//!     .build()?;
//! let prompt = prompter.prompt(&task, &tracer, &verifier)?;
//! let text = prompt.text().unwrap();
//! assert!(text.contains("# Write a function to add two numbers.\ndef add(a, b):\n"));
//! assert!(text.contains("assert add(2, 3) == 5  # (2) __exception__=AssertionError();"));
//! assert!(text.ends_with("### Answer\n"));
//! assert_eq!(prompt.traces[0].test_index, 1); // the first failing test
//! assert!(prompt.budget_actions.is_empty()); // it fitted as it was
//! assert_eq!(prompt.tokenizer, "estimate");
//!
//! let answer = "The function subtracts: __return__=-1 for a=2, b=3, where 5 is expected.\n\
//!               Here is a fixed version of the program:\n\
//!               ```python\ndef add(a, b):\n    return a + b\n```\n";
//! let parsed = parse_response(answer)?;
//! assert_eq!(parsed.code, "def add(a, b):\n    return a + b\n");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

// ruff's parser is published by RustPython under a prefixed name.
extern crate rustpython_ruff_python_parser as ruff_python_parser;

mod error;
mod exemplars;
mod prompt;
mod response;
mod templates;
#[cfg(test)]
mod testutil;
mod tokens;

pub use error::{BoxError, ParseError, PromptError};
pub use exemplars::{Exemplar, exemplars};
pub use prompt::{
    BudgetAction, Format, MESSAGE_OVERHEAD_TOKENS, Message, OnPassing, Prompt, PromptBody,
    PromptBuilder, Prompter, Role, TraceInfo, TraceTests, TracedTest, traced_program,
};
pub use response::{CodeSource, Parsed, parse_response};
pub use templates::{TEMPLATE_NAMES, default_templates};
pub use tokens::{ESTIMATE, TokenCounter, estimate_tokens};
