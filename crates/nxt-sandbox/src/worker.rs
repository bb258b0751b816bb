//! One zygote process and the protocol spoken with it (see `zygote.py`).

use std::collections::VecDeque;
use std::fs::File;
use std::io::{IoSlice, PipeReader, Read};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{Signal, kill};
use nix::sys::socket::{
    AddressFamily, ControlMessage, MsgFlags, SockFlag, SockType, sendmsg, socketpair,
};
use nix::unistd::{Pid, pipe2};

use crate::job::SIGXCPU;
use crate::{Captured, IsolationReport, Job, Outcome, SandboxError, Status};

/// The zygote's source, run with `python -c`.
pub(crate) const ZYGOTE_SOURCE: &str = include_str!("zygote.py");
/// Run with `-c`, the zygote's source its first argument: compiles it to a .pyc file
/// in the pool's directory and execs the interpreter on that (see `bootstrap.py`), so
/// that no fork of the zygote copies what the compiler leaves behind.
const BOOTSTRAP_SOURCE: &str = include_str!("bootstrap.py");

/// The fd on which the zygote finds its control socket.
const SOCKET_FD: RawFd = 3;
/// The fd on which the zygote finds the write end of the pid pipe, on which each
/// job's child writes its pid (an `i32`) once it leads its own process group.
const PID_FD: RawFd = 4;
/// How long a zygote may take to report a killed child's end before it is given up.
const KILL_GRACE: Duration = Duration::from_secs(5);
/// How long the pipes may stay open after the child's end was reported.
const DRAIN_GRACE: Duration = Duration::from_millis(500);
/// How long a closed-down zygote may take to exit before it is killed.
const EXIT_GRACE: Duration = Duration::from_secs(2);
/// How long a send to a zygote may block.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// Stderr kept from a worker that fails to start.
const START_STDERR_CAP: usize = 64 << 10;
/// Largest message a zygote may send.
const MAX_FRAME: usize = 16 << 20;
const READ_CHUNK: usize = 64 << 10;
/// How long, after reading a little from a job's pipes, the Rust side leaves them be
/// (it wakes for the socket only): a harness's messages then cost one wake-up per
/// period, not one each.
const QUIET: Duration = Duration::from_millis(2);
/// A read of this many bytes or more (a pipe buffer is 64 KiB) ends the quiet: the
/// job writes fast and would soon block on a full pipe.
const HEAVY_READ: usize = 16 << 10;
/// How far below the soft CPU limit a `SIGKILL`ed job's CPU time may be to count as
/// killed for it (`wait4` reports a little less CPU time than the kernel's limit
/// check counts).
const CPU_SLACK: Duration = Duration::from_millis(100);

/// What every worker of a pool is started with.
#[derive(Debug)]
pub(crate) struct WorkerConfig {
    pub python: PathBuf,
    pub env: Vec<(String, String)>,
    pub harness: String,
    pub preload: Vec<String>,
    pub workdir: PathBuf,
    pub max_processes: u64,
    pub inherit_env: bool,
    pub network: bool,
    pub private_tmp: bool,
    pub tmp_size: u64,
    pub private_ipc: bool,
    pub pth_imports: bool,
    /// Whether [`Isolation::drop_privileges`] was asked for (it is used only as root).
    ///
    /// [`Isolation::drop_privileges`]: crate::Isolation::drop_privileges
    pub drop_requested: bool,
    pub startup_timeout: Duration,
}

/// The variables a worker inherits when [`Isolation::inherit_env`] is off: what
/// finds and configures the interpreter, and the locale.
///
/// [`Isolation::inherit_env`]: crate::Isolation::inherit_env
const PASSED_ENV: &[&str] = &[
    "PATH",
    "HOME",
    "LANG",
    "LANGUAGE",
    "TZ",
    "TMPDIR",
    "LD_LIBRARY_PATH",
    "VIRTUAL_ENV",
    "CONDA_PREFIX",
    "LC_*",
    "PYTHON*",
    "PYENV*",
];

/// `PYTHONPATH` without its empty entries, or `None` when it has none to drop.
///
/// To CPython an empty entry (`:/x`, `/x:`, `/x::/y`) means the current directory at
/// start-up, made absolute: for a worker that is the pool's private directory, which
/// the jobs' uid cannot read (the pool then fails to start: "not readable by uid")
/// and which holds nothing of the caller's. A job's own working directory is on
/// `sys.path` already (the script entry `''`, as for `python -c`), so the empty
/// entries are dropped, from the interpreter's path and from the jobs' environment.
/// `Some("")` when every entry was empty: the variable is then removed.
pub(crate) fn without_empty_entries(value: &std::ffi::OsStr) -> Option<std::ffi::OsString> {
    use std::os::unix::ffi::{OsStrExt, OsStringExt};
    let entries: Vec<&[u8]> = value.as_bytes().split(|&b| b == b':').collect();
    if !entries.iter().any(|e| e.is_empty()) {
        return None;
    }
    let kept: Vec<&[u8]> = entries.into_iter().filter(|e| !e.is_empty()).collect();
    Some(std::ffi::OsString::from_vec(kept.join(&b':')))
}

pub(crate) fn passes_through(key: &std::ffi::OsStr) -> bool {
    let Some(key) = key.to_str() else {
        return false;
    };
    PASSED_ENV.iter().any(|p| match p.strip_suffix('*') {
        Some(prefix) => key.starts_with(prefix),
        None => key == *p,
    })
}

/// A zygote that has been started but has not said it is ready.
pub(crate) struct Starting {
    child: Unready,
    sock: UnixStream,
    pids: File,
    /// The zygote's stdout and stderr, one pipe, read until it is ready.
    stderr: PipeReader,
}

/// Kills and reaps a worker process that never became ready.
struct Unready(Option<Child>);

impl Unready {
    fn get(&mut self) -> &mut Child {
        self.0.as_mut().expect("a started child")
    }
}

impl Drop for Unready {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A ready zygote.
pub(crate) struct Worker {
    child: Child,
    sock: UnixStream,
    /// The read end of the pid pipe, non-blocking: read only when the pid is needed
    /// (to kill the job without its zygote's help) and after each job, so that the
    /// child's pid costs no wake-up.
    pids: File,
    inbuf: Vec<u8>,
    scratch: Box<[u8]>,
    urandom: File,
    pub interpreter: String,
    pub report: IsolationReport,
}

/// Why [`Worker::run`] gave no outcome.
pub(crate) enum RunError {
    /// The worker was gone before it took the job; another worker may run it.
    NotStarted(SandboxError),
    /// Something failed mid-job; the worker's state is unknown.
    Failed(SandboxError),
    /// Something failed on this side before the job was sent (no more fds); the
    /// worker is fine.
    Local(SandboxError),
}

/// A job's outcome, and whether the worker can take another job.
pub(crate) struct RunResult {
    pub outcome: Outcome,
    pub reusable: bool,
}

impl Starting {
    /// Starts the interpreter with the zygote and sends it its configuration.
    pub fn spawn(config: &WorkerConfig, uid: Option<u32>) -> Result<Starting, SandboxError> {
        let (ours, theirs) = socketpair(
            AddressFamily::Unix,
            SockType::Stream,
            None,
            SockFlag::SOCK_CLOEXEC,
        )?;
        // stdout and stderr share one pipe: the zygote's `sys.stdout` is then born on a
        // pipe (not seekable), as a job's must look, and what the harness prints while
        // it loads ends up in the start-up diagnostics.
        let (out_r, out_w) = std::io::pipe()?;
        let mut cmd = Command::new(&config.python);
        if !config.inherit_env {
            cmd.env_clear()
                .envs(std::env::vars_os().filter(|(k, _)| passes_through(k)));
        }
        // -S: the zygote runs the site module itself, without the `import` lines of
        // .pth files unless asked (see `zygote.py`).
        cmd.arg("-S")
            .arg("-c")
            .arg(BOOTSTRAP_SOURCE)
            .arg(ZYGOTE_SOURCE)
            .envs(config.env.iter().map(|(k, v)| (k, v)))
            .current_dir(&config.workdir)
            .stdin(Stdio::null())
            .stdout(Stdio::from(out_w.try_clone()?))
            .stderr(Stdio::from(out_w))
            // Its own process group: a terminal's Ctrl-C goes to the Rust side only.
            .process_group(0);
        // The PYTHONPATH the zygote gets (the pool's, else the inherited one), without
        // empty entries (see `without_empty_entries`).
        let python_path = config
            .env
            .iter()
            .rev()
            .find(|(k, _)| k == "PYTHONPATH")
            .map(|(_, v)| std::ffi::OsString::from(v))
            .or_else(|| std::env::var_os("PYTHONPATH"));
        if let Some(cleaned) = python_path.as_deref().and_then(without_empty_entries) {
            if cleaned.is_empty() {
                cmd.env_remove("PYTHONPATH");
            } else {
                cmd.env("PYTHONPATH", cleaned);
            }
        }
        // Every symbol bound at start, not lazily in each child (the zygote removes the
        // variable from its environment, so jobs do not see it).
        let bind_now_added = !cmd
            .get_envs()
            .any(|(k, v)| k == "LD_BIND_NOW" && v.is_some())
            && (!config.inherit_env || std::env::var_os("LD_BIND_NOW").is_none());
        if bind_now_added {
            cmd.env("LD_BIND_NOW", "1");
        }
        let (pids_r, pids_w) = pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)?;
        // The zygote's end blocks (the child's write must not fail); ours does not.
        nix::fcntl::fcntl(&pids_w, nix::fcntl::FcntlArg::F_SETFL(OFlag::empty()))?;
        let (raw_sock, raw_pids) = (theirs.as_raw_fd(), pids_w.as_raw_fd());
        // SAFETY: the closure runs in the forked child before exec and only calls
        // fcntl and dup2, which are async-signal-safe; it touches no Rust state.
        unsafe {
            cmd.pre_exec(move || {
                use nix::libc;
                // Out of the way first (either may sit on 3 or 4), then in place;
                // dup2 clears close-on-exec, and the copies above 9 close at exec.
                let sock = libc::fcntl(raw_sock, libc::F_DUPFD_CLOEXEC, 10);
                let pids = libc::fcntl(raw_pids, libc::F_DUPFD_CLOEXEC, 10);
                if sock < 0
                    || pids < 0
                    || libc::dup2(sock, SOCKET_FD) < 0
                    || libc::dup2(pids, PID_FD) < 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let spawned = cmd.spawn();
        drop(cmd); // closes our copies of the pipe's write end
        let child = spawned.map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied => {
                SandboxError::InterpreterNotFound {
                    path: config.python.clone(),
                    source,
                }
            }
            _ => SandboxError::Io(source),
        })?;
        drop((theirs, pids_w));
        let stderr = out_r;
        let sock = UnixStream::from(ours);
        // A zygote that stops reading must not block a job forever.
        sock.set_write_timeout(Some(SEND_TIMEOUT))?;
        let starting = Starting {
            child: Unready(Some(child)),
            sock,
            pids: File::from(pids_r),
            stderr,
        };
        let message = serde_json::json!({
            "harness": config.harness,
            "preload": config.preload,
            "uid": uid,
            "gid": uid,
            "max_processes": config.max_processes,
            "staging": config.workdir.to_string_lossy(),
            "drop_requested": config.drop_requested,
            "network": config.network,
            "private_tmp": config.private_tmp,
            "tmp_size": config.tmp_size,
            "private_ipc": config.private_ipc,
            "pth_imports": config.pth_imports,
            "bind_now_added": bind_now_added,
        })
        .to_string();
        let mut frame = Vec::with_capacity(5 + message.len());
        frame.push(b'C');
        frame.extend_from_slice(&(message.len() as u32).to_le_bytes());
        frame.extend_from_slice(message.as_bytes());
        // A zygote that died at once is diagnosed by `wait_ready` from its stderr.
        let _ = send_all(&starting.sock, &frame);
        Ok(starting)
    }

    /// Waits until the zygote says it is ready (or fails).
    pub fn wait_ready(mut self, config: &WorkerConfig) -> Result<Worker, SandboxError> {
        let deadline = Instant::now() + config.startup_timeout;
        let mut inbuf = Vec::new();
        let mut stderr = Vec::new();
        let mut scratch = vec![0u8; READ_CHUNK].into_boxed_slice();
        let (mut sock_open, mut stderr_open) = (true, true);
        let mut harness_failed = false;
        loop {
            while let Some((tag, data)) = take_frame(&mut inbuf)? {
                match tag {
                    b'R' => {
                        let ready: serde_json::Value = serde_json::from_slice(&data)
                            .map_err(|e| SandboxError::Protocol(format!("ready message: {e}")))?;
                        let interpreter = ready["interpreter"]
                            .as_str()
                            .ok_or_else(|| SandboxError::Protocol("no interpreter name".into()))?
                            .to_string();
                        let report = IsolationReport::from_ready(&ready);
                        return Ok(Worker {
                            child: self.child.0.take().expect("a started child"),
                            sock: self.sock,
                            pids: self.pids,
                            inbuf,
                            scratch,
                            urandom: File::open("/dev/urandom")?,
                            interpreter,
                            report,
                        });
                    }
                    b'E' => harness_failed = true,
                    b'X' => {
                        return Err(SandboxError::Isolation(format!(
                            "{} (to run jobs as the pool's own user, unprotected, turn \
                             off Isolation::drop_privileges)",
                            String::from_utf8_lossy(&data)
                        )));
                    }
                    other => {
                        return Err(SandboxError::Protocol(format!(
                            "unexpected message {:?} from a starting worker",
                            other as char
                        )));
                    }
                }
            }
            if (harness_failed || !sock_open) && !stderr_open {
                break;
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(SandboxError::StartFailed {
                    path: config.python.clone(),
                    reason: format!("not ready after {:?}", config.startup_timeout),
                    stderr: String::from_utf8_lossy(&stderr).into_owned(),
                });
            }
            let mut fds = Vec::with_capacity(2);
            if sock_open {
                fds.push(PollFd::new(self.sock.as_fd(), PollFlags::POLLIN));
            }
            if stderr_open {
                fds.push(PollFd::new(self.stderr.as_fd(), PollFlags::POLLIN));
            }
            if !poll_until(&mut fds, Some(deadline))? {
                continue;
            }
            let ready: Vec<bool> = fds.iter().map(is_ready).collect();
            drop(fds);
            let mut i = 0;
            if sock_open {
                if ready[i] {
                    // An error (a reset by a dying worker) counts as the end.
                    match read_some(&mut self.sock, &mut scratch).unwrap_or(0) {
                        0 => sock_open = false,
                        n => inbuf.extend_from_slice(&scratch[..n]),
                    }
                }
                i += 1;
            }
            if stderr_open && ready[i] {
                match read_some(&mut self.stderr, &mut scratch)? {
                    0 => stderr_open = false,
                    n => {
                        let keep = n.min(START_STDERR_CAP.saturating_sub(stderr.len()));
                        stderr.extend_from_slice(&scratch[..keep]);
                    }
                }
            }
        }
        let status = wait_timeout(self.child.get(), EXIT_GRACE);
        let stderr = String::from_utf8_lossy(&stderr).into_owned();
        if harness_failed {
            Err(SandboxError::HarnessFailed { stderr })
        } else {
            Err(SandboxError::StartFailed {
                path: config.python.clone(),
                reason: match status {
                    Some(status) => format!("it exited early ({status})"),
                    None => "it closed its socket".into(),
                },
                stderr,
            })
        }
    }
}

/// Which bytes of a stream are kept once it wrote more than its cap.
#[derive(Clone, Copy)]
pub(crate) enum Keep {
    /// The first bytes (the channel: a harness's messages are in order, and a
    /// verdict after a flood must be lost, not kept).
    Head,
    /// The last bytes (stdout and stderr: the end holds the traceback).
    Tail,
}

/// What one stream keeps of what it was written: at most `cap` bytes, the first or
/// the last ones, and a count of all.
pub(crate) struct Kept {
    cap: usize,
    keep: Keep,
    /// For [`Keep::Tail`] a ring of the last `cap` bytes.
    bytes: VecDeque<u8>,
    total: u64,
}

impl Kept {
    fn new(cap: usize, keep: Keep) -> Kept {
        Kept {
            cap,
            keep,
            bytes: VecDeque::new(),
            total: 0,
        }
    }

    fn push(&mut self, data: &[u8]) {
        self.total += data.len() as u64;
        match self.keep {
            Keep::Head => {
                let room = self.cap.saturating_sub(self.bytes.len());
                self.bytes.extend(&data[..data.len().min(room)]);
            }
            Keep::Tail => {
                let data = &data[data.len().saturating_sub(self.cap)..];
                let excess = (self.bytes.len() + data.len()).saturating_sub(self.cap);
                self.bytes.drain(..excess);
                self.bytes.extend(data);
            }
        }
    }

    pub(crate) fn captured(self) -> Captured {
        Captured {
            bytes: Vec::from(self.bytes),
            total: self.total,
        }
    }
}

/// One of the three output pipes of a job.
pub(crate) struct Stream {
    pub(crate) file: File,
    pub(crate) kept: Kept,
    pub(crate) open: bool,
}

impl Stream {
    pub(crate) fn new(file: OwnedFd, cap: usize, keep: Keep) -> Stream {
        Stream {
            file: File::from(file),
            kept: Kept::new(cap, keep),
            open: true,
        }
    }

    /// Reads what the pipe holds (up to `scratch`'s size); at its end, marks it
    /// closed. How many bytes it read.
    pub(crate) fn read(&mut self, scratch: &mut [u8]) -> Result<usize, SandboxError> {
        let n = read_some(&mut self.file, scratch)?;
        match n {
            0 => self.open = false,
            n => self.kept.push(&scratch[..n]),
        }
        Ok(n)
    }
}

impl Worker {
    /// Runs one job: hands the pipes and payload to the zygote, reads the three
    /// streams and the zygote's reports until the child and its descendants are gone,
    /// and enforces the wall-clock limit.
    pub fn run(&mut self, job: &Job<'_>) -> Result<RunResult, RunError> {
        let start = Instant::now();
        let deadline = start.checked_add(job.limits.wall_time);
        let fail = |e: Errno| RunError::Local(e.into());
        let (out_r, out_w) = pipe2(OFlag::O_CLOEXEC).map_err(fail)?;
        let (err_r, err_w) = pipe2(OFlag::O_CLOEXEC).map_err(fail)?;
        let (chan_r, chan_w) = pipe2(OFlag::O_CLOEXEC).map_err(fail)?;

        let mut secret = [0u8; 16];
        self.urandom
            .read_exact(&mut secret)
            .map_err(|e| RunError::Local(e.into()))?;
        let secret: String = secret.iter().map(|b| format!("{b:02x}")).collect();
        let header = job_header(job, &secret);
        let fds = [out_w.as_raw_fd(), err_w.as_raw_fd(), chan_w.as_raw_fd()];
        // The header, the fds and (as much as the socket takes at once: usually all
        // of it) the payload in one message.
        let sent = sendmsg::<()>(
            self.sock.as_raw_fd(),
            &[IoSlice::new(&header), IoSlice::new(job.payload)],
            &[ControlMessage::ScmRights(&fds)],
            MsgFlags::MSG_NOSIGNAL,
            None,
        )
        .map_err(|e| RunError::NotStarted(e.into()))?;
        // Once the fds are in flight, the zygote has the job: a failure now is the
        // job's (its worker is lost), not a reason to try another worker.
        let payload_sent = match sent.checked_sub(header.len()) {
            Some(n) => send_all(&self.sock, &job.payload[n..]),
            None => send_all(&self.sock, &header[sent..])
                .and_then(|()| send_all(&self.sock, job.payload)),
        };
        drop((out_w, err_w, chan_w));

        let mut streams = [
            Stream::new(out_r, job.limits.output_bytes, Keep::Tail),
            Stream::new(err_r, job.limits.output_bytes, Keep::Tail),
            Stream::new(chan_r, job.limits.channel_bytes, Keep::Head),
        ];
        let mut reports = Reports::default();
        let mut lost = payload_sent.is_err();
        let mut timed_out = false;
        let mut kill_deadline: Option<Instant> = None;
        let mut quiet_until: Option<Instant> = None;
        if lost {
            reports.ended_at = Some(Instant::now());
        }

        loop {
            let now = Instant::now();
            if reports.status.is_none() && !lost {
                if !timed_out && deadline.is_some_and(|d| now >= d) {
                    timed_out = true;
                    kill_deadline = Some(now + KILL_GRACE);
                    if let Some(pid) = reports.read_pid(&mut self.pids) {
                        kill_group(pid);
                    }
                    // The zygote kills the child too: it is the parent, so it knows the
                    // pid has not been reaped and reused.
                    if send_all(&self.sock, b"K").is_err() {
                        lost = true;
                        reports.ended_at = Some(now);
                    }
                }
                if kill_deadline.is_some_and(|d| now >= d) {
                    // The zygote does not answer: give it up.
                    let _ = self.child.kill();
                    lost = true;
                    reports.ended_at = Some(now);
                }
                if lost {
                    kill_orphan(reports.read_pid(&mut self.pids));
                }
            }
            let drain_deadline = reports.ended_at.map(|t| t + DRAIN_GRACE);
            if reports.ended_at.is_some()
                && (streams.iter().all(|s| !s.open) || drain_deadline.is_some_and(|d| now >= d))
            {
                break;
            }
            let wake = match (reports.status.is_none() && !lost, drain_deadline) {
                (true, _) => {
                    if timed_out {
                        kill_deadline
                    } else {
                        deadline
                    }
                }
                (false, d) => d,
            };

            let watch_sock = reports.status.is_none() && !lost;
            // For a short while after each wake-up (unless the job writes fast), while
            // the job runs, wait for the socket only (its end, a kill's answer): what
            // the job writes meanwhile waits in its pipes, to be read in one go. Nothing
            // is lost: the pipes are read to their end once the job has ended.
            let quiet = watch_sock && quiet_until.is_some_and(|q| now < q);
            let wake = match quiet_until {
                Some(q) if quiet => Some(wake.map_or(q, |w| w.min(q))),
                _ => wake,
            };
            let mut pollfds: Vec<PollFd<'_>> = Vec::with_capacity(4);
            let mut which: Vec<usize> = Vec::with_capacity(4);
            for (i, s) in streams.iter().enumerate() {
                if s.open && !quiet {
                    pollfds.push(PollFd::new(s.file.as_fd(), PollFlags::POLLIN));
                    which.push(i);
                }
            }
            if watch_sock {
                pollfds.push(PollFd::new(self.sock.as_fd(), PollFlags::POLLIN));
                which.push(usize::MAX);
            }
            let any = poll_until(&mut pollfds, wake).map_err(RunError::Failed)?;
            if !quiet {
                quiet_until = None;
            }
            if !any {
                continue;
            }
            let ready: Vec<(usize, bool)> = pollfds
                .iter()
                .zip(&which)
                .filter(|(fd, _)| is_ready(fd))
                .map(|(fd, &w)| {
                    (
                        w,
                        fd.revents().is_some_and(|r| r.contains(PollFlags::POLLHUP)),
                    )
                })
                .collect();
            drop(pollfds);
            let mut read = 0;
            for (w, hung_up) in ready {
                if w != usize::MAX {
                    // With no writer left, reading on to the end cannot block: no poll
                    // per chunk (a bounded number of chunks, to be safe).
                    for _ in 0..if hung_up { 64 } else { 1 } {
                        let n = streams[w]
                            .read(&mut self.scratch)
                            .map_err(RunError::Failed)?;
                        read += n;
                        if n == 0 {
                            break;
                        }
                    }
                    continue;
                }
                let n = read_some(&mut self.sock, &mut self.scratch).unwrap_or(0);
                if n == 0 {
                    // The zygote died: its child, if any, is an orphan now.
                    lost = true;
                    reports.ended_at = Some(Instant::now());
                    kill_orphan(reports.read_pid(&mut self.pids));
                    continue;
                }
                self.inbuf.extend_from_slice(&self.scratch[..n]);
                reports.take(&mut self.inbuf).map_err(RunError::Failed)?;
            }
            // A heavy writer must not wait for us; otherwise, a quiet period.
            quiet_until = (reports.status.is_none() && !lost && read < HEAVY_READ)
                .then(|| Instant::now() + QUIET);
        }

        // Empty the pid pipe for the next job (the child wrote there, if at all,
        // before it ended).
        let _ = self.pids.read(&mut [0u8; 64]);
        let duration = reports.ended_at.unwrap_or_else(Instant::now) - start;
        let cpu_time = reports
            .cpu_micros
            .filter(|_| !lost)
            .map(Duration::from_micros);
        let status = match reports.status {
            _ if timed_out => Status::TimedOut,
            Some(raw) if !lost => {
                let status = Status::from_wait_status(raw);
                // A program that survives SIGXCPU at the soft limit (it ignores or
                // handles it) gets SIGKILL at the hard limit, one second later. Only
                // the kernel and a timeout (handled above) SIGKILL a job's child.
                let soft = Duration::from_secs(job.limits.cpu_seconds());
                if status == Status::Signaled(9) && cpu_time.is_some_and(|t| t + CPU_SLACK >= soft)
                {
                    Status::Signaled(SIGXCPU)
                } else {
                    status
                }
            }
            _ => Status::WorkerLost,
        };
        let [stdout, stderr, channel] = streams.map(|s| s.kept.captured());
        Ok(RunResult {
            outcome: Outcome {
                status,
                stdout,
                stderr,
                channel,
                duration,
                cpu_time,
                secret,
            },
            reusable: !lost,
        })
    }

    /// Says goodbye and closes the socket: the zygote kills what is left, reaps it
    /// and exits, leaving the pool's directory to the pool. (A zygote whose socket
    /// closes without a goodbye, because this process exited without dropping its
    /// pool, removes that directory itself.)
    pub fn close(&mut self) {
        let _ = send_all(&self.sock, b"Q");
        let _ = self.sock.shutdown(std::net::Shutdown::Both);
    }

    /// Waits for the zygote to exit after [`Worker::close`], killing it if it takes
    /// too long.
    pub fn reap(&mut self) {
        if wait_timeout(&mut self.child, EXIT_GRACE).is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.close();
        self.reap();
    }
}

/// What the zygote (and the job's child) have said about the running job.
#[derive(Default)]
struct Reports {
    /// The pid of the job's child, which is its process group id: the child says it
    /// once it has called `setsid`, before any code of the job runs.
    pid: Option<i32>,
    /// Its raw wait status, once it and everything it started are gone.
    status: Option<i32>,
    /// Its CPU time.
    cpu_micros: Option<u64>,
    /// When its end was known.
    ended_at: Option<Instant>,
}

impl Reports {
    /// Takes the complete messages off `inbuf`, up to and including the job's end
    /// (nothing should follow it).
    fn take(&mut self, inbuf: &mut Vec<u8>) -> Result<(), SandboxError> {
        while self.status.is_none() {
            let Some((tag, data)) = take_frame(inbuf)? else {
                break;
            };
            match (tag, data.len()) {
                (b'S', 12) => {
                    let (raw, cpu) = data.split_at(4);
                    self.status = Some(i32::from_le_bytes(raw.try_into().expect("4 bytes")));
                    self.cpu_micros = Some(u64::from_le_bytes(cpu.try_into().expect("8 bytes")));
                    self.ended_at = Some(Instant::now());
                }
                (tag, _) => {
                    return Err(SandboxError::Protocol(format!(
                        "unexpected message {:?} during a job",
                        tag as char
                    )));
                }
            }
        }
        Ok(())
    }

    /// The job's child's pid, from the pid pipe unless read before; `None` if the
    /// child has not written it (yet).
    fn read_pid(&mut self, pids: &mut File) -> Option<i32> {
        if self.pid.is_none() {
            let mut buf = [0u8; 64];
            if let Ok(4..) = pids.read(&mut buf) {
                self.pid = Some(i32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]));
            }
        }
        self.pid
    }
}

/// The fixed part of a job message (see `zygote.py`): its tag, the payload's
/// length, the rlimits (-1: leave the worker's) and the secret.
fn job_header(job: &Job<'_>, secret: &str) -> Vec<u8> {
    let limit = |v: Option<u64>| v.map_or(-1, |v| i64::try_from(v).unwrap_or(i64::MAX));
    let l = &job.limits;
    let cpu = i64::try_from(l.cpu_seconds()).unwrap_or(i64::MAX);
    let mut header = Vec::with_capacity(1 + 8 + 5 * 8 + secret.len());
    header.push(b'J');
    header.extend_from_slice(&(job.payload.len() as u64).to_le_bytes());
    for value in [
        limit(l.address_space),
        cpu,
        limit(l.open_files),
        limit(l.file_size),
        limit(l.processes),
    ] {
        header.extend_from_slice(&value.to_le_bytes());
    }
    header.extend_from_slice(secret.as_bytes());
    header
}

/// Kills the child of a lost zygote and its process group. Nobody reaps it for us
/// to know, so its pid might in theory have been reused; pids are handed out in
/// sequence, which makes that all but impossible within a job's time.
fn kill_orphan(pid: Option<i32>) {
    if let Some(pid) = pid {
        kill_group(pid);
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    }
}

fn kill_group(pid: i32) {
    if pid > 0 {
        let _ = kill(Pid::from_raw(-pid), Signal::SIGKILL);
    }
}

fn is_ready(fd: &PollFd<'_>) -> bool {
    fd.revents().is_some_and(|r| !r.is_empty())
}

/// Polls until an fd is ready (true) or `until` passes (false).
pub(crate) fn poll_until(
    fds: &mut [PollFd<'_>],
    until: Option<Instant>,
) -> Result<bool, SandboxError> {
    let timeout = match until {
        None => PollTimeout::NONE,
        Some(t) => {
            let left = t.saturating_duration_since(Instant::now());
            // Round up so that a wake-up never comes before `until`.
            let ms = left.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
            PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX)
        }
    };
    match poll(fds, timeout) {
        Ok(n) => Ok(n > 0),
        Err(Errno::EINTR) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

fn read_some(r: &mut impl Read, buf: &mut [u8]) -> Result<usize, SandboxError> {
    loop {
        match r.read(buf) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

fn send_all(sock: &UnixStream, mut data: &[u8]) -> nix::Result<()> {
    while !data.is_empty() {
        match nix::sys::socket::send(sock.as_raw_fd(), data, MsgFlags::MSG_NOSIGNAL) {
            Ok(n) => data = &data[n..],
            Err(Errno::EINTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Takes one complete `tag, u32 len, data` frame off the front of `buf`.
fn take_frame(buf: &mut Vec<u8>) -> Result<Option<(u8, Vec<u8>)>, SandboxError> {
    if buf.len() < 5 {
        return Ok(None);
    }
    let len = u32::from_le_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize;
    if len > MAX_FRAME {
        return Err(SandboxError::Protocol(format!(
            "a worker message of {len} bytes"
        )));
    }
    if buf.len() < 5 + len {
        return Ok(None);
    }
    let tag = buf[0];
    let data = buf[5..5 + len].to_vec();
    buf.drain(..5 + len);
    Ok(Some((tag, data)))
}

/// Waits for `child` for at most `limit`; its exit status if it exited.
fn wait_timeout(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let until = Instant::now() + limit;
    let mut pause = Duration::from_micros(100);
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < until => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(20));
            }
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_python_path_entries_are_dropped() {
        let clean = |v: &str| without_empty_entries(std::ffi::OsStr::new(v));
        assert_eq!(clean("/a:/b"), None);
        assert_eq!(clean("/a"), None);
        assert_eq!(clean(":/a"), Some("/a".into()));
        assert_eq!(clean("/a:"), Some("/a".into()));
        assert_eq!(clean("/a::/b"), Some("/a:/b".into()));
        assert_eq!(clean(""), Some("".into()));
        assert_eq!(clean("::"), Some("".into()));
    }

    #[test]
    fn kept_bytes_are_the_head_or_the_tail() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
        for cap in [0, 1, 5, 100, 999, 10_000, 20_000] {
            for chunk in [1, 3, 64, 100, 1000, 4096, 20_000] {
                let mut head = Kept::new(cap, Keep::Head);
                let mut tail = Kept::new(cap, Keep::Tail);
                for piece in data.chunks(chunk) {
                    head.push(piece);
                    tail.push(piece);
                }
                let keep = cap.min(data.len());
                let (head, tail) = (head.captured(), tail.captured());
                assert_eq!(head.bytes, &data[..keep], "cap {cap}, chunk {chunk}");
                assert_eq!(
                    tail.bytes,
                    &data[data.len() - keep..],
                    "cap {cap}, chunk {chunk}"
                );
                assert_eq!((head.total, tail.total), (10_000, 10_000));
            }
        }
    }
}
