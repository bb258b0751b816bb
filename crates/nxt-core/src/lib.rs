//! Plain data types shared by every nxt crate, and the traits that connect them.
//!
//! `nxt-core` knows nothing about processes, parsers or Python: it holds the values
//! that flow between the crates ([`Program`], [`Trace`], [`Step`], [`Value`],
//! [`Ending`]; [`Task`], [`Sample`], [`CheckResult`], [`Verdict`]) and the seams where
//! implementations plug in ([`Tracer`] captures a trace, [`Renderer`] writes it back
//! into the source, [`Verifier`] runs a program against a task's tests, [`Sampler`]
//! asks a model for completions of a [`SampleRequest`]). Each trait has one required
//! method; the rest have defaults, and references and boxes implement the traits too.
//!
//! A [`Trace`] is also an interchange format (`docs/trace-json.md`): it serializes to
//! versioned JSON that other tools read.
//!
//! # Example
//!
//! ```
//! use nxt_core::{Ending, Event, Step, Trace, Value, Var};
//!
//! let mut trace = Trace::new("CPython 3.11.7");
//! trace.steps.push(Step {
//!     line: 1,
//!     event: Event::Call,
//!     frame: 0,
//!     vars: vec![Var::new("lst", Value::repr("[1, 2]"))],
//! });
//! trace.ending = Ending::Complete;
//!
//! let json = trace.to_json();
//! assert!(json.starts_with(r#"{"format":"nxt-trace","version":1,"#));
//! assert_eq!(Trace::from_json(&json).unwrap(), trace);
//! ```
#![deny(missing_docs)]

mod program;
mod sampling;
mod task;
mod trace;
mod traits;

pub use program::Program;
pub use sampling::{ChatMessage, Completion, PromptInput, SampleRequest};
pub use task::{CheckResult, Sample, Task, TestResult, TestStatus, Verdict, VerifyOptions};
pub use trace::{
    Ending, Event, FORMAT_NAME, FORMAT_VERSION, RenderOptions, Step, Trace, TraceJsonError,
    TraceOptions, Value, Var,
};
pub use traits::{Renderer, Sampler, Tracer, Verifier};
