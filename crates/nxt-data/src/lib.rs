//! Tasks, samples and results as JSON Lines (`docs/tasks-jsonl.md`): strict readers
//! whose errors name the file, the line and the field; atomic writers; a resumable
//! results writer for long runs; importers for HumanEval, MBPP, HumanEvalFix, HumanEval+,
//! MBPP+ and HEFix+; repair tasks from failing samples (MBPP-R).
//!
//! - [`read_tasks`], [`read_samples`] check every line field by field. A bad line is
//!   an error ([`OnInvalid::Fail`]) or is skipped and reported ([`OnInvalid::Skip`]); a
//!   duplicate key is always an error naming both lines.
//! - [`read_results`] is tolerant of a torn last line (a write cut short).
//! - [`write_jsonl`] replaces a file atomically (temporary file + rename);
//!   [`write_jsonl_to`] writes to any writer (standard output, say).
//! - [`ResultsWriter`] appends results to `<out>.partial` as they come, resumes after a
//!   crash, and finishes by writing `<out>` atomically, sorted.
//! - [`import::humaneval`] and [`import::mbpp`] turn the benchmark files into tasks
//!   ([`import::humaneval_with`] and [`import::mbpp_with`] can skip bad lines);
//!   [`import::humanevalfix`] makes repair tasks of HumanEvalFix, and
//!   [`import::hefix_plus`] pairs them with HumanEval+'s tests.
//! - [`plus`] reads HumanEval+ and MBPP+ (evalplus's native format), keeps the expected
//!   outputs a reference runner computed in an on-disk [`plus::OracleCache`], and makes
//!   tasks with one test block per input (`docs/benchmarks-data.md`).
//! - [`repair::repair_tasks`] turns the samples that fail their tests into repair tasks,
//!   as NExT's MBPP-R was built.
//!
//! # Example
//!
//! ```
//! use nxt_data::{OnInvalid, read_tasks, write_jsonl};
//! use nxt_core::Task;
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("tasks.jsonl");
//! let task = Task {
//!     task_id: "demo/0".into(),
//!     prompt: "Add two numbers.".into(),
//!     code: "def add(a, b):\n    return a - b\n".into(),
//!     tests: vec!["assert add(2, 3) == 5".into()],
//!     setup: None,
//!     entry_point: Some("add".into()),
//!     solution: Some("def add(a, b):\n    return a + b\n".into()),
//!     meta: Default::default(),
//! };
//! write_jsonl(&path, &[task.clone()])?;
//! assert_eq!(read_tasks(&path, OnInvalid::Fail)?.items, [task]);
//!
//! // Errors name the file, the line and the field.
//! std::fs::write(
//!     &path,
//!     "{\"task_id\": \"a\", \"prompt\": \"\", \"code\": \"\", \"tests\": \"assert 1\"}\n",
//! )?;
//! let err = read_tasks(&path, OnInvalid::Fail).unwrap_err();
//! assert!(err
//!     .to_string()
//!     .ends_with("tasks.jsonl:1: field `tests`: expected a list of strings, found a string"));
//!
//! // Or skip bad lines and say which.
//! let loaded = read_tasks(&path, OnInvalid::Skip)?;
//! assert!(loaded.items.is_empty());
//! assert_eq!(loaded.skipped[0].field.as_deref(), Some("tests"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod error;
mod fields;
pub mod import;
mod jsonl;
pub mod plus;
mod pyjson;
pub mod repair;
mod results;
mod sha256;

pub use error::{DataError, InvalidLine};
pub use jsonl::{read_results, read_samples, read_tasks, write_jsonl, write_jsonl_to};
pub use results::ResultsWriter;

/// What a reader does with a line it cannot read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnInvalid {
    /// Stop with [`DataError::Invalid`]. The default.
    #[default]
    Fail,
    /// Skip the line and report it in [`Loaded::skipped`].
    Skip,
}

/// The items read from a file, and the lines skipped.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded<T> {
    /// The items, in file order.
    pub items: Vec<T>,
    /// The lines skipped ([`OnInvalid::Skip`], or a torn last line of a results file),
    /// in file order.
    pub skipped: Vec<InvalidLine>,
}
