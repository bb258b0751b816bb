//! nxt: teach language models to reason about code execution, after the NExT method
//! (Ni et al., 2024, arXiv 2404.14662).
//!
//! This crate re-exports the nxt family so that one dependency brings the whole
//! toolkit; heavy parts sit behind features:
//!
//! | module | crate | what it holds | feature |
//! | --- | --- | --- | --- |
//! | [`core`] | `nxt-core` | data model ([`Trace`], [`Program`], ...) and traits ([`Tracer`], [`Renderer`]) | always |
//! | [`inline`] | `nxt-inline` | the inline trace formatter | always |
//! | [`trace`] | `nxt-trace` | capture with CPython | `trace` (default) |
//! | [`sandbox`] | `nxt-sandbox` | isolated, limited Python workers | `trace` or `verify` (default) |
//! | [`verify`] | `nxt-verify` | test-based verification, verdicts, pass@k | `verify` (default) |
//! | [`data`] | `nxt-data` | tasks, samples and results JSONL, importers | always |
//! | [`prompt`] | `nxt-prompt` | NExT repair prompts, token budgets, answer parsing | `prompt` (default) |
//! | `rustpython` | `nxt-rustpython` | the embedded RustPython engine: trace and verify without CPython | `rustpython` |
//!
//! # Example
//!
//! Capture a trace of a buggy program and write it into the code, NExT style:
//!
//! ```
//! use nxt::{Program, RenderOptions, Renderer, TraceOptions, Tracer};
//!
//! let source = "def add(a, b):\n    return a - b\n\nassert add(2, 3) == 5\n";
//! let tracer = nxt::trace::CPythonTracerBuilder::new().build()?;
//! let trace = tracer.trace(&Program::new("add.py", source), &TraceOptions::default())?;
//! let text = nxt::inline::Formatter::new().render(source, &trace, &RenderOptions::default())?;
//! assert_eq!(
//!     text,
//!     "def add(a, b):  # (0) a=2, b=3;\n    return a - b  # (1) __return__=-1;\n\n\
//!      assert add(2, 3) == 5  # (2) __exception__=AssertionError();\n"
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

pub use nxt_core as core;
pub use nxt_core::{
    Ending, Event, Program, RenderOptions, Renderer, Step, Trace, TraceOptions, Tracer, Value, Var,
};
pub use nxt_data as data;
pub use nxt_inline as inline;
#[cfg(feature = "prompt")]
pub use nxt_prompt as prompt;
#[cfg(feature = "rustpython")]
pub use nxt_rustpython as rustpython;
#[cfg(any(feature = "trace", feature = "verify"))]
pub use nxt_sandbox as sandbox;
#[cfg(feature = "trace")]
pub use nxt_trace as trace;
#[cfg(feature = "verify")]
pub use nxt_verify as verify;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
