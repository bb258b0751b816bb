//! Runs untrusted Python in isolated, limited processes forked from warm CPython
//! workers.
//!
//! `nxt-sandbox` is the only nxt crate that starts processes. A client (the tracer,
//! the verifier) hands a [`PoolBuilder`] a *harness*: Python source that defines
//! `def main(payload: bytes) -> None`. Each worker of the [`Pool`] is a *zygote*, a
//! Python interpreter that has imported the harness once and then forks a fresh child
//! per [`Job`]; the child runs `main(payload)` and the pool returns an [`Outcome`]:
//! how the child ended ([`Status`]) and what it wrote to stdout, stderr and the
//! *channel*, fd 3, where a harness writes its structured output as it goes (so a
//! killed run keeps what it wrote).
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use nxt_sandbox::{Job, Limits, PoolBuilder, Status};
//!
//! let pool = PoolBuilder::new("def main(payload):\n    exec(payload, {'__name__': '__main__'})\n")
//!     .workers(2)
//!     .env("PYTHONHASHSEED", "0")
//!     .build()?;
//! assert!(pool.interpreter().starts_with("CPython 3."));
//!
//! let out = pool.run(&Job::new(b"import os\nprint(sum(range(10)))\nos.write(3, b'done')"))?;
//! assert_eq!(out.status, Status::Exited(0));
//! assert_eq!(out.stdout.text(), "45\n");
//! assert_eq!(out.channel.bytes, b"done");
//!
//! let limits = Limits { wall_time: Duration::from_millis(200), ..Limits::default() };
//! let out = pool.run(&Job { payload: b"while True: pass", limits })?;
//! assert_eq!(out.status, Status::TimedOut);
//! # Ok::<(), nxt_sandbox::SandboxError>(())
//! ```
//!
//! # How a job runs
//!
//! [`Pool::run`] takes a free worker (blocking until one is free; a pool is `Send +
//! Sync`), creates three pipes and sends their write ends to the zygote over a Unix
//! socket (`SCM_RIGHTS`) with the payload. The zygote forks; the child
//!
//! 1. starts its own session and process group (`setsid`),
//! 2. sets `RLIMIT_AS` to [`Limits::address_space`] (the zygote's own mappings count
//!    towards it),
//! 3. when privileges are dropped (below), sets `RLIMIT_NPROC` and becomes the
//!    worker slot's unprivileged uid and gid, with no supplementary groups,
//! 4. gets `/dev/null` as stdin, the pipes as fds 1, 2 and 3, and closes every other
//!    fd; `sys.stdout` and `sys.stderr` are new text streams on fds 1 and 2,
//! 5. gets the signal handlers of a plain `python3` script (`SIGINT` raises
//!    `KeyboardInterrupt`, `SIGPIPE` is ignored),
//! 6. calls `main(payload)`. When it returns the streams are flushed and the child
//!    exits with 0 (`os._exit`: `atexit` handlers and non-daemon threads are not
//!    waited for); `SystemExit` exits with its code as Python would; any other
//!    exception prints its traceback to stderr and exits with 1.
//!
//! The calling thread polls the three pipes and the socket: it keeps at most
//! [`Limits::output_bytes`] of stdout and of stderr and [`Limits::channel_bytes`] of
//! the channel, reads and counts the rest ([`Captured::total`]), so a program that
//! prints gigabytes neither blocks nor bloats memory. At [`Limits::wall_time`] it kills
//! the child's process group (and asks the zygote to kill the child itself, in case it
//! had not called `setsid` yet): [`Status::TimedOut`].
//!
//! A job ends when its child exits. The zygote then kills the child's process group
//! and every other process the job started: the zygote is a *child subreaper*
//! (`PR_SET_CHILD_SUBREAPER`), so double-forked daemons become its children, and it
//! kills and reaps its children (`/proc/self/task/*/children`) until it has none.
//! Nothing of a job is left running, as a zombie or as an orphan when `run` returns.
//!
//! If the zygote dies during a job (only possible without privilege dropping, for
//! instance by `os.kill(os.getppid(), 9)`), the job's process group is killed, the
//! job ends with [`Status::WorkerLost`] and the next job on that slot gets a new
//! worker. Dropping the pool closes the workers' sockets; each kills what is left and
//! exits, and is reaped.
//!
//! Per-job cost is a `fork` of a warm interpreter and no `exec`: about 1.5–2 ms on
//! the 2-core development VMs (run `cargo run -p nxt-sandbox --example overhead`),
//! where a bare `os.fork()` + `os._exit` + `waitpid` alone takes about 1.1 ms.
//!
//! # The harness
//!
//! The zygote is `src/zygote.py`, started as `python -c <source>` (no `-E` or `-I`,
//! so `PYTHONHASHSEED` and the other `PYTHON*` variables set with
//! [`PoolBuilder::env`] work). It imports the [`PoolBuilder::preload`] modules, then
//! runs the harness source as a fresh module named `__nxt_harness__` (file name
//! `<harness>`), so the harness's own imports are paid once; an exception there is
//! [`SandboxError::HarnessFailed`]. Every job starts from that state: what one job
//! changes is not seen by the next.
//!
//! The zygote forks from its module level and calls `main` from there, so the stack
//! of a job is one frame (the zygote's module) plus the harness's frames deeper than
//! a plain script's. With `def main(payload): exec(payload, g)` the program's module
//! level is the third frame, and `exec` counts once more towards the recursion limit
//! on CPython 3.11: under the default limit of 1000 a recursive function of the
//! program reaches depth 996, where in a plain script it reaches 999. Tracebacks of
//! uncaught exceptions leave out the zygote's frame.
//!
//! The zygote itself imports `os`, `sys`, `signal`, `socket`, `select`, `resource`,
//! `json`, `traceback`, `gc`, `time` and `ctypes`; a job finds them in `sys.modules`.
//!
//! # Isolation, and what it relies on
//!
//! Configured by [`Isolation`]. Checked on the development machines (Linux 6.18,
//! Firecracker VM, everything runs as root, `pid_max` 32768, CPython 3.11 under
//! pyenv in `/root/.pyenv`):
//!
//! - **An unprivileged uid per worker slot.** When the pool runs as root (and
//!   [`Isolation::drop_privileges`] is on, the default) each job runs as the uid of its
//!   slot ([`Pool::job_uids`], from 200000 up, no `/etc/passwd` entry needed) with
//!   `RLIMIT_NPROC` = [`Isolation::max_processes`] (64). Verified here: `setuid` to
//!   such uids works (the uid map is the full range); `RLIMIT_NPROC` *is* enforced for
//!   them (a `while True: os.fork()` bomb stops at 64 processes, while root ignores
//!   the limit); the job cannot signal the root zygote or the Rust process (`EPERM`);
//!   the fds it was given keep working after the switch.
//! - **A sweep of that uid after each job**, at worker start and at worker exit: the
//!   zygote sets its real and effective uid to the job uid (keeping saved uid 0 to
//!   come back) and calls `kill(-1, SIGKILL)`, which reaches exactly the processes of
//!   that uid, wherever they are, and spares the caller. No fork is needed. Processes
//!   of that uid cannot ptrace the zygote meanwhile: a uid change clears its dumpable
//!   flag.
//! - **A cwd the job cannot write**: the pool's own empty directory under the
//!   system temporary directory, mode 0555, owned by root, removed with the pool.
//!   Jobs can still write to world-writable places such as `/tmp`.
//! - **Interpreter files readable by the job uid.** Here the interpreter lives under
//!   `/root` (mode 0700), which an unprivileged uid cannot enter, so a job could not
//!   import a module the zygote had not imported yet. The zygote therefore finds each
//!   directory on the way to `sys.path`, the interpreter and its cwd that others may
//!   not search and, in a private mount namespace of its own (`unshare(CLONE_NEWNS)`,
//!   which root may do), covers it with a tmpfs (mode 0711) holding bind mounts of
//!   just the needed entries: jobs see `/root/.pyenv` but nothing else of `/root`.
//!   It then forks a probe as the job uid to check every needed path is readable, and
//!   fails [`PoolBuilder::build`] with [`SandboxError::Isolation`] if not.
//! - **A filtered environment**: unless [`Isolation::inherit_env`] is on, workers
//!   get only the variables that find and configure Python and the locale, so keys
//!   and tokens in the environment do not reach jobs.
//!
//! Without root (or with [`Isolation::none`]) jobs run as the pool's user: a job
//! can then kill its worker (recovered, [`Status::WorkerLost`]), and a fork bomb is
//! only bounded by that user's own `RLIMIT_NPROC`. Daemons are still killed by the
//! subreaper, except those of a job whose worker it killed.
//!
//! Not isolated yet (seams for a later issue, as fields of [`Isolation`]): the
//! network, the file system beyond the cwd (jobs can read world-readable files and
//! write `/tmp`), CPU time other than wall-clock time, memory other than address
//! space (cgroups: v1 controllers and a v2 hierarchy are mounted writable here at
//! `/sys/fs/cgroup/{pids,memory,cpu}` and `/sys/fs/cgroup/unified`, unused so far).
#![deny(missing_docs)]

mod error;
mod job;
mod pool;
mod worker;

pub use error::SandboxError;
pub use job::{Captured, Job, Limits, Outcome, Status};
pub use pool::{Isolation, Pool, PoolBuilder};
