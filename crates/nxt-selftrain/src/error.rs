//! The crate's error type.

use std::path::PathBuf;

/// What can go wrong in sampling and storing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A line of a replay file is not a `{"task_id": ..., "answer": ...}` record.
    #[error("{}:{line}: {message}", path.display())]
    Replay {
        /// The file.
        path: PathBuf,
        /// The 1-based line.
        line: usize,
        /// What is wrong, naming the field.
        message: String,
    },
    /// A replay sampler was asked about a task it has no answers for.
    #[error("no recorded answers for task {task_id:?}")]
    UnknownTask {
        /// The task.
        task_id: String,
    },
    /// A sampler's configuration is unusable.
    #[error("bad configuration: {0}")]
    Config(String),
    /// The server refused the request with a status that retrying will not change
    /// (a 4xx other than 408 and 429).
    #[error("{url}: HTTP {status}: {message}")]
    Status {
        /// The endpoint.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The server's error message (its JSON `error.message`, or the body).
        message: String,
    },
    /// No answer within the request timeout.
    #[error("{url}: timed out after {seconds} s")]
    Timeout {
        /// The endpoint.
        url: String,
        /// The timeout.
        seconds: f64,
    },
    /// The connection failed (refused, reset, DNS).
    #[error("{url}: {message}")]
    Transport {
        /// The endpoint.
        url: String,
        /// What failed.
        message: String,
    },
    /// The server answered 2xx with a body that is not the expected JSON.
    #[error("{url}: malformed response: {message}")]
    Malformed {
        /// The endpoint.
        url: String,
        /// What is wrong.
        message: String,
    },
    /// A retryable failure (429, 5xx, 408, timeout, connection) persisted through
    /// every attempt.
    #[error("gave up after {attempts} attempts; last: {last}")]
    GaveUp {
        /// How many requests were sent.
        attempts: u32,
        /// The last failure.
        last: Box<Error>,
    },
    /// The store's database failed.
    #[error("store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The store refused an operation (a slot already filled, a conflicting task, a
    /// file that is not a store).
    #[error("store: {0}")]
    StoreState(String),
    /// A user-supplied sampler failed (see [`FnSampler`](crate::FnSampler)).
    #[error("sampler: {0}")]
    Custom(#[source] Box<dyn std::error::Error + Send + Sync + 'static>),
    /// A step of the self-training loop failed (a prompt, a check, a sampler, an
    /// export).
    #[error("selftrain: {0}")]
    Run(String),
    /// The loop was interrupted (its interrupt flag was set) between two
    /// transactions: everything before is stored; running it again continues.
    #[error("interrupted during the {0}")]
    Interrupted(String),
}

impl Error {
    /// Whether retrying the same request may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Status { status, .. } => *status == 408 || *status == 429 || *status >= 500,
            Error::Timeout { .. } | Error::Transport { .. } => true,
            _ => false,
        }
    }
}
