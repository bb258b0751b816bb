//! The crate's one error type, and the description of one bad input line.

use std::fmt;
use std::path::PathBuf;

/// A line (or an item of a JSON array) that could not be read, and why.
///
/// Displays as ``path:line: field `f`: message``, or `path:line: message` when the
/// problem is not in one field (bad JSON, not an object).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidLine {
    /// The file, as given.
    pub path: PathBuf,
    /// The 1-based line number (for an item of a JSON array: the line where the item
    /// starts).
    pub line: usize,
    /// The field at fault, e.g. `tests`, `tests[2]`, `tests[0].status`; an item of a
    /// JSON array is prefixed with its 0-based index, e.g. `[17].test_list`.
    pub field: Option<String>,
    /// What is wrong, e.g. `expected a list of strings, found a string`.
    pub message: String,
}

impl fmt::Display for InvalidLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: ", self.path.display(), self.line)?;
        if let Some(field) = &self.field {
            write!(f, "field `{field}`: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for InvalidLine {}

/// Everything that can go wrong reading, writing or importing data files.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A file could not be opened, read, written or renamed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A line is not valid JSON, or a field is missing, unknown or of the wrong type.
    #[error("{0}")]
    Invalid(InvalidLine),
    /// A key seen on an earlier line: `task_id` for tasks, (`task_id`, `sample_id`) for
    /// samples and results.
    #[error("{}:{line}: duplicate {key}; first on line {first_line}", path.display())]
    Duplicate {
        /// The file.
        path: PathBuf,
        /// The line of the second occurrence.
        line: usize,
        /// The line of the first occurrence.
        first_line: usize,
        /// The key, described: `task_id "HumanEval/0"` or
        /// `task_id "HumanEval/0", sample_id "3"` (the values as JSON strings); for items
        /// of a JSON array it also names both items, e.g. `... at [5] (first at [2])`.
        key: String,
    },
    /// A results run would overwrite earlier results: `<out>` or `<out>.partial`
    /// already exists and resuming was not asked for.
    #[error(
        "{} already exists: resume the run (--resume) to keep its results, or remove it",
        path.display()
    )]
    Exists {
        /// The file that exists.
        path: PathBuf,
    },
    /// [`ResultsWriter::append`](crate::ResultsWriter::append) was given a result whose
    /// (`task_id`, `sample_id`) is already recorded (resumed or appended before).
    #[error("{}: a result for {key} is already recorded", path.display())]
    AlreadyRecorded {
        /// The results file (`<out>`).
        path: PathBuf,
        /// The key, described as in [`DataError::Duplicate`].
        key: String,
    },
    /// Inputs that should fit together do not: oracles that are not those of their
    /// problems, a HumanEvalFix task without its HumanEval+ counterpart, a cache file
    /// of another file. The message says what.
    #[error("{0}")]
    Inconsistent(String),
    /// An item could not be serialized to JSON (a map with non-string keys, say).
    #[error("{}: cannot serialize an item as JSON: {source}", path.display())]
    Serialize {
        /// The file being written.
        path: PathBuf,
        /// serde_json's error.
        source: serde_json::Error,
    },
}

impl DataError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> DataError {
        let path = path.into();
        move |source| DataError::Io { path, source }
    }
}

impl From<InvalidLine> for DataError {
    fn from(line: InvalidLine) -> DataError {
        DataError::Invalid(line)
    }
}
