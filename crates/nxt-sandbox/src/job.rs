//! What a job is given and what it gives back.

use std::borrow::Cow;
use std::time::Duration;

/// One run of the harness's `main(payload)` in a fresh child process.
#[derive(Clone, Copy, Debug)]
pub struct Job<'a> {
    /// The bytes passed to the harness's `main`.
    pub payload: &'a [u8],
    /// What the run may use.
    pub limits: Limits,
}

impl<'a> Job<'a> {
    /// A job with the default [`Limits`].
    pub fn new(payload: &'a [u8]) -> Job<'a> {
        Job {
            payload,
            limits: Limits::default(),
        }
    }
}

/// What one job may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Limits {
    /// Wall-clock time from handing the job to a worker until its process group is
    /// killed ([`Status::TimedOut`]). By default, 2 s.
    pub wall_time: Duration,
    /// `RLIMIT_AS` of the child, in bytes; `None` leaves the worker's. By default,
    /// 2 GiB.
    pub address_space: Option<u64>,
    /// How many bytes of stdout, and of stderr, are kept; the rest is read and
    /// counted but dropped. By default, 1 MiB.
    pub output_bytes: usize,
    /// How many bytes of the channel (fd 3) are kept. By default, 256 MiB.
    pub channel_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            wall_time: Duration::from_secs(2),
            address_space: Some(2 << 30),
            output_bytes: 1 << 20,
            channel_bytes: 256 << 20,
        }
    }
}

/// How a job ended and what it wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// How the child ended.
    pub status: Status,
    /// What it wrote to fd 1.
    pub stdout: Captured,
    /// What it wrote to fd 2 (tracebacks land here).
    pub stderr: Captured,
    /// What it wrote to fd 3, the harness's structured output.
    pub channel: Captured,
    /// From handing the job to a worker until the child and everything it started
    /// were gone.
    pub duration: Duration,
}

/// The bytes one stream kept, and how many were written.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Captured {
    /// The first bytes written, at most the cap of the stream.
    pub bytes: Vec<u8>,
    /// How many bytes the process wrote; more than `bytes.len()` means capped.
    pub total: u64,
}

impl std::fmt::Debug for Captured {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Captured")
            .field("bytes", &self.text())
            .field("total", &self.total)
            .finish()
    }
}

impl Captured {
    /// Whether bytes were dropped because of the cap.
    pub fn truncated(&self) -> bool {
        self.total > self.bytes.len() as u64
    }

    /// The kept bytes as text, invalid UTF-8 replaced.
    pub fn text(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.bytes)
    }
}

/// How a job's child process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Status {
    /// It exited with this code: 0 after `main` returned, the code of a
    /// `SystemExit`, 1 after any other exception (traceback on stderr).
    Exited(i32),
    /// A signal killed it (for instance `SIGSEGV`, or a `SIGKILL` it sent itself).
    Signaled(i32),
    /// It ran out of wall-clock time and its process group was killed.
    TimedOut,
    /// Its worker died while it ran (for instance the program killed its parent);
    /// the pool starts a new worker for the next job.
    WorkerLost,
}

impl Status {
    /// Whether the child exited with code 0.
    pub fn success(&self) -> bool {
        *self == Status::Exited(0)
    }

    pub(crate) fn from_wait_status(raw: i32) -> Status {
        let sig = raw & 0x7f;
        if sig == 0 {
            Status::Exited((raw >> 8) & 0xff)
        } else {
            Status::Signaled(sig)
        }
    }
}
