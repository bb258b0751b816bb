//! What a job is given and what it gives back.

use std::borrow::Cow;
use std::time::Duration;

/// The signal of a job that reached its CPU time limit.
pub(crate) const SIGXCPU: i32 = 24;

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
///
/// Build one with struct-update syntax so that fields added later keep their
/// defaults: `Limits { wall_time, ..Limits::default() }`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Limits {
    /// Wall-clock time from handing the job to a worker until its process group is
    /// killed ([`Status::TimedOut`]). By default, 2 s.
    pub wall_time: Duration,
    /// `RLIMIT_AS` of the child, in bytes; `None` leaves the worker's. By default,
    /// 2 GiB.
    pub address_space: Option<u64>,
    /// How many bytes of stdout, and of stderr, are kept: the *last* ones written
    /// (where a traceback is); what comes before them is read and counted but
    /// dropped. By default, 1 MiB.
    pub output_bytes: usize,
    /// How many bytes of the channel (fd 3) are kept: the *first* ones written (a
    /// harness's messages in order; a message after the cap is lost, not kept at
    /// the expense of earlier ones); the rest is read and counted but dropped. By
    /// default, 256 MiB.
    pub channel_bytes: usize,
    /// CPU time of the child process (all its threads; each process it forks gets
    /// the same allowance of its own), as `RLIMIT_CPU` in whole seconds, rounded up.
    /// At the limit the kernel sends `SIGXCPU`, one second later `SIGKILL`; both
    /// end the job as [`Status::Signaled`]`(24)` (`SIGXCPU`), see
    /// [`Status::cpu_time_exceeded`].
    ///
    /// `None`, the default, means `ceil(wall_time) + 1` s: a single-threaded
    /// program meets the wall-clock limit first, a program that burns several cores
    /// in threads meets this one.
    pub cpu_time: Option<Duration>,
    /// `RLIMIT_NOFILE` of the child: how many file descriptors it may have open
    /// (and the highest fd number plus one). `None` leaves the worker's. By
    /// default, 1024 (a harness may move its channel to an fd in the hundreds).
    pub open_files: Option<u64>,
    /// `RLIMIT_FSIZE` of the child, in bytes: the largest file it may write. A
    /// write past it fails with `OSError` (`EFBIG`, "File too large"; CPython ignores
    /// `SIGXFSZ`). Pipes (stdout, stderr, the channel) are not files and are not
    /// limited by it. `None` leaves the worker's. By default, 64 MiB.
    pub file_size: Option<u64>,
    /// `RLIMIT_NPROC` of the child: processes and threads its uid may have at once.
    /// `None`, the default, means [`Isolation::max_processes`] when the job runs as
    /// an unprivileged uid of its own, and no change otherwise. Root ignores this
    /// limit, and without the uid drop it counts every process of the pool's user.
    ///
    /// [`Isolation::max_processes`]: crate::Isolation::max_processes
    pub processes: Option<u64>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            wall_time: Duration::from_secs(2),
            address_space: Some(2 << 30),
            output_bytes: 1 << 20,
            channel_bytes: 256 << 20,
            cpu_time: None,
            open_files: Some(1024),
            file_size: Some(64 << 20),
            processes: None,
        }
    }
}

impl Limits {
    /// The CPU time limit the job gets, in whole seconds (at least 1): `cpu_time`
    /// rounded up, or `ceil(wall_time) + 1` when it is `None`.
    pub fn cpu_seconds(&self) -> u64 {
        let ceil = |d: Duration| d.as_secs() + u64::from(d.subsec_nanos() > 0);
        match self.cpu_time {
            Some(cpu) => ceil(cpu).max(1),
            None => ceil(self.wall_time).saturating_add(1),
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
    /// CPU time (user and system) of the child and of the processes it waited for,
    /// as `wait4` reported it; `None` if its worker was lost.
    pub cpu_time: Option<Duration>,
    /// The job's secret: 32 random hex digits drawn for this job only. A harness
    /// whose `main` has a parameter named `secret` receives it (`main(payload,
    /// secret=...)`) and can tag what it writes to the channel with it, so that a
    /// reader can tell its messages from ones the program forged (see
    /// [`Outcome::tagged_lines`] and the crate documentation for what this does and
    /// does not stop).
    pub secret: String,
}

impl Outcome {
    /// The channel's complete lines that start with the job's secret and a space, with
    /// that prefix removed, in order: the messages of a harness that writes
    /// `f"{secret} {message}\n"` (one `os.write` each). A line the program forged
    /// without knowing the secret is not among them; neither is a last line cut off
    /// by the channel's cap or by the job's end.
    pub fn tagged_lines(&self) -> Vec<&[u8]> {
        let mut prefix = Vec::with_capacity(self.secret.len() + 1);
        prefix.extend_from_slice(self.secret.as_bytes());
        prefix.push(b' ');
        let bytes = &self.channel.bytes;
        let complete = match bytes.iter().rposition(|&b| b == b'\n') {
            Some(last) => &bytes[..last],
            None => return Vec::new(),
        };
        if self.secret.is_empty() {
            return Vec::new();
        }
        complete
            .split(|&b| b == b'\n')
            .filter_map(|line| line.strip_prefix(prefix.as_slice()))
            .collect()
    }
}

/// The bytes one stream kept, and how many were written.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Captured {
    /// What was kept, at most the cap of the stream: for stdout and stderr the
    /// *last* bytes written ([`Limits::output_bytes`]), for the channel the *first*
    /// ([`Limits::channel_bytes`]).
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
    ///
    /// `Signaled(24)` (`SIGXCPU`) is also how a job that reached its CPU time limit
    /// ends, even if it ignored `SIGXCPU` and the kernel's `SIGKILL` one second later
    /// ended it (see [`Status::cpu_time_exceeded`]).
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

    /// Whether the job was ended for its CPU time ([`Limits::cpu_time`]):
    /// `Signaled(24)`, `SIGXCPU`. (A program can also send itself `SIGXCPU`; it then
    /// ends the same way, which it could have had by looping.)
    pub fn cpu_time_exceeded(&self) -> bool {
        *self == Status::Signaled(SIGXCPU)
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
