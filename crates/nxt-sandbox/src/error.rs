//! The one error type of the crate.

use std::path::PathBuf;

/// Why a pool could not start or a job could not be run at all.
///
/// A job that fails, loops, eats memory or kills its worker is not an error: it gives
/// an [`Outcome`](crate::Outcome) with the matching [`Status`](crate::Status).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SandboxError {
    /// The Python interpreter could not be started: no such file, not on `PATH`, or
    /// not executable.
    #[error(
        "no Python interpreter at `{path}`: choose another with `--python PATH` or the \
         NXT_PYTHON environment variable",
        path = path.display()
    )]
    InterpreterNotFound {
        /// The path (or the name searched on `PATH`) that was tried.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The harness source (or a module to preload) raised while the worker imported it.
    #[error("the harness failed to load in the Python worker:\n{stderr}")]
    HarnessFailed {
        /// The worker's stderr: the traceback, and whatever the harness printed.
        stderr: String,
    },
    /// The interpreter started but exited, or did not say it was ready in time,
    /// before it loaded the harness (for instance it is not a Python 3).
    #[error("the Python worker `{path}` did not start: {reason}{}", stderr_suffix(stderr), path = path.display())]
    StartFailed {
        /// The interpreter that was started.
        path: PathBuf,
        /// What went wrong (its exit status, or the time it was given).
        reason: String,
        /// Its stderr, capped.
        stderr: String,
    },
    /// Jobs could not be isolated as configured (see [`Isolation`](crate::Isolation)).
    #[error("could not isolate jobs: {0}")]
    Isolation(String),
    /// An operating-system call failed (pipes, sockets, process control).
    #[error("sandbox I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// A worker sent something the protocol does not allow.
    #[error("sandbox protocol error: {0}")]
    Protocol(String),
}

fn stderr_suffix(stderr: &str) -> String {
    if stderr.trim().is_empty() {
        String::new()
    } else {
        format!("\n{}", stderr.trim_end())
    }
}

impl From<nix::Error> for SandboxError {
    fn from(errno: nix::Error) -> Self {
        SandboxError::Io(errno.into())
    }
}
