//! Runs untrusted Python in isolated, limited processes forked from warm CPython
//! workers.
//!
//! `nxt-sandbox` is the only nxt crate that starts processes. A client (the tracer,
//! the verifier) hands a [`PoolBuilder`] a *harness*: Python source that defines
//! `def main(payload: bytes) -> None` (or `main(payload, secret)`, see [The result
//! channel](#the-result-channel-and-the-per-job-secret)). Each worker of the [`Pool`]
//! is a *zygote*, a Python interpreter that has imported the harness once and then
//! forks a fresh child per [`Job`]; the child runs `main(payload)` and the pool
//! returns an [`Outcome`]: how the child ended ([`Status`]) and what it wrote to
//! stdout, stderr and the *channel*, fd 3, where a harness writes its structured
//! output as it goes (so a killed run keeps what it wrote).
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
//! for (measure, code) in pool.isolation_report().pairs() {
//!     println!("{measure}: {code}"); // e.g. "network: netns", "user: unavailable:not-root"
//! }
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
//! # Engines that are not CPython: [`ExecPool`]
//!
//! [`ExecPool`] runs each [`Job`] by executing a program (an embedded engine's worker,
//! such as `nxt __rustpython-worker`) in a fresh process, with the same [`Limits`],
//! [`Outcome`] and [`Status`], and, as root, an unprivileged uid per job slot, a
//! network namespace, an IPC namespace and a private `/tmp` per job, all set up
//! between `fork` and `exec`. The program reads the secret and the payload from its
//! stdin and writes to fds 1, 2 and 3 as a zygote's child does. It costs an `exec`
//! per job where a zygote forks a warm interpreter.
//!
//! # How a job runs
//!
//! [`Pool::run`] takes a free worker (blocking until one is free; a pool is `Send +
//! Sync`), creates three pipes and sends their write ends to the zygote over a Unix
//! socket (`SCM_RIGHTS`) with the job's [`Limits`], a fresh random secret and the
//! payload, in one `sendmsg` (unless the payload is larger than the socket takes at
//! once). The zygote makes the job's working directory and forks; the child
//!
//! 1. starts its own session and process group (`setsid`), and writes its pid to the
//!    worker's *pid pipe*, which the Rust side reads only when it needs the pid (to
//!    kill the job's process group itself), so that it costs no wake-up,
//! 2. sets its rlimits: `RLIMIT_AS` ([`Limits::address_space`]; the zygote's own
//!    mappings count towards it), `RLIMIT_CPU` ([`Limits::cpu_time`]),
//!    `RLIMIT_NOFILE` ([`Limits::open_files`]), `RLIMIT_FSIZE`
//!    ([`Limits::file_size`]), and `RLIMIT_NPROC` ([`Limits::processes`]); it
//!    inherits `RLIMIT_CORE` 0 (no core files) and, with the private IPC namespace,
//!    `RLIMIT_MSGQUEUE` 0 from the zygote,
//! 3. changes into its working directory, fresh and empty, mode 0700, owned by the
//!    job's uid,
//! 4. when privileges are dropped (below), becomes the worker slot's unprivileged
//!    uid and gid, with no supplementary groups (the zygote dropped its own once, so
//!    the child only sets its gid and uid) and no capabilities,
//! 5. gets `/dev/null` as stdin, the pipes as fds 1, 2 and 3, and closes every other
//!    fd; `sys.stdout` and `sys.stderr` are the interpreter's own text streams, born
//!    on a pipe as a plain script's are and created once in the zygote, now writing
//!    to the job's pipes (the child only `dup2`s them into place),
//! 6. gets the signal handlers of a plain `python3` script (`SIGINT` raises
//!    `KeyboardInterrupt`, `SIGPIPE` and `SIGXFSZ` are ignored),
//! 7. calls `main(payload)`. The zygote's globals no longer name the payload or the
//!    secret by then (the child hands them to `main` and forgets them: a program that
//!    walks up to the zygote's frame finds neither there by name). When it returns
//!    the streams are flushed and the child exits with 0 (`os._exit`: `atexit`
//!    handlers and non-daemon threads are not waited for); `SystemExit` exits with
//!    its code as Python would; any other exception prints its traceback to stderr
//!    and exits with status 1. The zygote code that does this looks builtins up in
//!    its own snapshot and holds its own reference to `os._exit`, so a program that
//!    rebinds them cannot make the child run on into the zygote's code.
//!
//! The calling thread polls the three pipes and the socket: it keeps the *last*
//! [`Limits::output_bytes`] of stdout and of stderr (a ring buffer: the end of a long
//! output, where a traceback is) and the *first* [`Limits::channel_bytes`] of the
//! channel (a harness's messages, in order), reads and counts the rest
//! ([`Captured::total`]), so a program that prints gigabytes neither blocks nor bloats
//! memory. After each wake-up it leaves the pipes alone for 2 ms and waits for the
//! socket only (the job's end), unless it just read 16 KiB or more (a fast writer must
//! not block on a full pipe): what a harness writes meanwhile waits in the pipe and is
//! read in one go, so its messages cost a wake-up every 2 ms at most, not one each.
//! Nothing is lost by waiting: the pipes are read to their end once the job has ended,
//! so a killed run keeps everything it wrote. At [`Limits::wall_time`] it kills the
//! child's process group (and asks the zygote to kill the child itself, in case it had
//! not called `setsid` yet): [`Status::TimedOut`]. At its CPU time limit the kernel
//! sends the child `SIGXCPU`, and `SIGKILL` one second later if it survives that: both
//! are reported as [`Status::Signaled`]`(24)` ([`Status::cpu_time_exceeded`]).
//! [`Outcome::cpu_time`] is the child's CPU time.
//!
//! A job ends when its child exits. The zygote then kills the child's process group
//! and every other process the job started: the zygote is a *child subreaper*
//! (`PR_SET_CHILD_SUBREAPER`), so double-forked daemons become its children, and it
//! kills and reaps its children (`/proc/self/task/*/children`) until it has none. If
//! there was any (or the subreaper is unavailable), it then kills every process of
//! the job's uid (below); if there was none, there is no process of the job left
//! anywhere (each one descends from the child, and the subreaper makes each orphan
//! its child), and it spares itself the sweep. Only then does it remove the job's
//! files: the working directory, and, if the job left anything in the private `/tmp`
//! (one `statvfs`), all of it (by mounting a fresh tmpfs), so that a job that made
//! its files unwritable or filled the file system leaves nothing either. Nothing of
//! a job is left running, as a zombie, as an orphan or as a file when `run` returns.
//!
//! If the zygote dies during a job (only possible without privilege dropping, for
//! instance by `os.kill(os.getppid(), 9)`), the job's process group is killed, the
//! job ends with [`Status::WorkerLost`] and the next job on that slot gets a new
//! worker. Dropping the pool closes the workers' sockets; each kills what is left and
//! exits, and is reaped. A pool that is never dropped (kept in a `static`) leaves
//! nothing either: when the process exits its workers see their sockets close without
//! the goodbye a drop sends, kill what is left and exit, and the last of them removes
//! the pool's (by then empty) directory, through a handle on its parent opened before
//! the private `/tmp` was mounted over it.
//!
//! # Cost
//!
//! Per job, a `fork` of a warm interpreter and no `exec`. On the 2-core development
//! VMs (run `cargo run --release -p nxt-sandbox --example overhead`, which prints the
//! CPU time per job of each part) a trivial job costs about 1.0–1.15 ms of CPU in
//! all: about 0.4 ms in the zygote (the `fork` itself, which copies the page tables
//! of its ~8 MB of private memory, is half of it), about 0.6 ms in the child and
//! 0.05–0.07 ms on the Rust side. Nearly all of it is the kernel's: page faults
//! (about 105 a job in the zygote and 160 in the child, 1.5–3 µs each in these VMs,
//! with memory-cgroup accounting), the page-table copy and the child's exit. The
//! isolation measures themselves (namespaces and mounts once per worker; a `mkdir`,
//! `chown`, `rmdir` and `statvfs` and a few rlimits per job) cost a few tens of µs a
//! job. With every core busy, throughput is the number of cores over that CPU time:
//! 2 workers ran 1,875–1,907 trivial jobs/s on the shared 2-core machines at load
//! 1–2 (`docs/sandbox.md` has the numbers).
//!
//! What keeps the faults down, each measured: the zygote starts with `-S` and
//! `LD_BIND_NOW` (see [The harness](#the-harness): without the `.pth` imports' modules
//! and after-fork handlers, and with no lazy symbol binding in the children, about 45
//! faults fewer a job); its per-job loop avoids Python-level work that writes many
//! pages (plain ints where `socket`'s flags are enums, bound methods, a kept-open
//! `/proc/self/task/*/children` read with `pread`, no exception per job, nothing
//! written between the `fork` and the child's end that can wait, when each write copies
//! a page the child still shares); the child only `dup2`s the pipes into place (its
//! `sys.stdout` and `sys.stderr` were made once), writes its pid to a pipe instead of
//! waiting for the zygote to report it, and needs no `setgroups`; the uid sweep runs
//! only after a job that left a process; the Rust side blocks about twice a job (the
//! job's first write, its end) rather than once per write. `threading`'s after-fork
//! handler, where a harness imports `threading`, skips its work (about 80 faults) when
//! the forking process has one thread and never started another, as the zygote; a job
//! that forks with threads running gets the full handler. Tried and dropped: running
//! the child's set-up code in the zygote first so that CPython has specialized it (2
//! faults fewer in the child, 3 more in the zygote); giving the interpreter's read-only
//! file mappings an anonymous page so that `fork` copies their page tables instead of
//! the child faulting them in (half the child's file faults, but `fork` and `exit` cost
//! more than they saved). Forking each job's child in advance while the previous job
//! runs ("pre-forking") was measured and rejected: the spare child shares the zygote's
//! pages while the zygote finishes the previous job, which turns the zygote's cheap
//! page-reuse faults into copies and cost about 0.3 ms more CPU per job, and with as
//! many busy workers as cores there is no idle core to hide the `fork` on.
//!
//! # The harness
//!
//! The zygote is `src/zygote.py`, started as `python -S -c <bootstrap> <source>` (no
//! `-E` or `-I`, so `PYTHONHASHSEED` and the other `PYTHON*` variables set with
//! [`PoolBuilder::env`] work). The bootstrap (`src/bootstrap.py`) compiles the source
//! to a `.pyc` file in the pool's directory and execs `python -S` on it: the compiler's
//! leftovers (2.5 MB, resident in a process that compiled a large source) are not in
//! the zygote, so each fork copies 30% fewer page-table entries and each job's exit
//! tears down less (7.3 MB of private memory instead of 10.5 MB; 4% less CPU per
//! check). The zygote removes the file and sets `sys.argv` and `sys.path[0]` as `-c`
//! has them; the harness is compiled in a throwaway child for the same reason, and a
//! small source is compiled once before the first fork (the first `compile()` of a
//! process costs about 1.5 ms more, which no job should pay). It then does what the `site` module does at start-up itself (`site.main()`):
//! site-packages, the directory lines of `.pth` files, a virtual environment, the user
//! site and `sitecustomize`, `exit()`, `help()`, with `sys.path` as a plain `python3
//! -c` has it; only the `import` lines of `.pth` files are not run, unless
//! [`PoolBuilder::pth_imports`] asks for them (on the development machines they import
//! `certifi`, `zipfile`, `lzma`, `threading`, `random`, ...: 55 more mappings and 2 MB
//! more heap in every fork, and after-fork handlers). `sys.flags.no_site` is set back
//! to 0 (CPython), so `sys.flags` is a plain interpreter's and a Python that a job
//! starts through `subprocess` or `multiprocessing` gets no `-S`; `sys.orig_argv`
//! shows `-S` and the `.pyc` file. The worker is started with `LD_BIND_NOW=1` (all symbols bound once, not
//! lazily in each child, where each binding writes a copy-on-write page), which the
//! zygote removes from its environment: jobs do not see it (but `/proc/self/environ`,
//! the environment as it was at `exec`, does). It imports the [`PoolBuilder::preload`]
//! modules, then runs the harness source as a fresh module named `__nxt_harness__`
//! (file name `<harness>`), so the harness's own imports are paid once; an exception
//! there is [`SandboxError::HarnessFailed`] (with what the harness printed while
//! loading). Every job starts from that state: what one job changes is not seen by the
//! next. The harness loads before the isolation below is set up (with the network, and
//! seeing the machine's `/tmp`); jobs run after.
//!
//! The zygote forks from its module level and calls `main` from there, so the stack
//! of a job is one frame (the zygote's module) plus the harness's frames deeper than
//! a plain script's. With `def main(payload): exec(payload, g)` the program's module
//! level is the third frame, and `exec` counts once more towards the recursion limit
//! on CPython 3.11: under the default limit of 1000 a recursive function of the
//! program reaches depth 996, where in a plain script it reaches 999 (the
//! recursion budget a job loses to the sandbox: 3 frames). Tracebacks of uncaught
//! exceptions leave out the zygote's frame. The child hands the payload and the
//! secret to `main` as arguments without keeping them in the zygote's globals (two
//! small functions fetch and forget them while the arguments are evaluated, and have
//! returned before `main` runs): no frame is added.
//!
//! The zygote itself imports `os`, `sys`, `signal`, `_socket` (not `socket`, whose
//! enums cost every fork 300 KB), `resource`, `select`, `json`, `stat`, `struct`,
//! `gc`, `time`, `ctypes` and `site` (and what they import); a job finds them in
//! `sys.modules`. It prints a job's uncaught exception with the interpreter's own
//! printer (`sys.__excepthook__`, as a plain script's), not the `traceback` module.
//!
//! # The result channel and the per-job secret
//!
//! A verdict must not come from anything the program can write. The program runs in
//! the harness's own process, so it can write to every fd the harness can, fd 3
//! included, print anything, close the pipes, exit with 0 before the tests run, or
//! kill its worker. [`Outcome::secret`] helps a harness tell its own messages from
//! forged ones: 32 random hex digits drawn (from `/dev/urandom`) for each job, passed
//! to a harness whose `main` has a parameter named `secret` (`def main(payload,
//! secret)`; a `main` without one is called as before, so `main(payload, fd=3)` is
//! not given it), and returned in the [`Outcome`]. The harness writes each message as
//! one `os.write` of `f"\n{secret} {message}\n"` (atomic under 4 KiB); the reader
//! takes [`Outcome::tagged_lines`] and ignores the rest. A verifier should count a
//! check as passed only when the harness's tagged verdict says so *and* the status is
//! [`Status::Exited`]`(0)`: a program that kills its worker (possible without the
//! uid drop) ends [`Status::WorkerLost`] even if its harness then reports.
//!
//! What this stops: a program that writes fake results to fd 3 or to stdout (untagged:
//! ignored); one that exits (`sys.exit(0)`, `os._exit(0)`) or crashes before the
//! harness reports (no verdict: not a pass); one that closes fd 3 or the other pipes
//! (no verdict); one that floods the channel (the verdict is cut off by the cap: no
//! verdict); one that kills its parent (refused with the uid drop; otherwise the job
//! is [`Status::WorkerLost`]); one that rebinds builtins, `os.write` or `os._exit`
//! (a harness that took its references when it loaded, before any program ran, is
//! not affected; the zygote does so itself).
//!
//! What it cannot stop: a program that looks for the secret in the harness's own
//! memory, in the same process: `sys._getframe(1).f_locals`, `gc.get_objects()`,
//! `ctypes` reads. A harness can make that harder (keep the secret out of
//! reachable frames, hide the channel's fd, use one-time tokens per message, as
//! nxt-verify's does), not impossible; only running the tests in a process the
//! program cannot reach would, and a test-based check runs the tests in the program's
//! process by design. The sandbox guarantees the rest: whatever the program does, the
//! process ends, is reaped, and its status and output are captured.
//!
//! # Isolation, and what it relies on
//!
//! Configured by [`Isolation`]; what a pool achieved is in
//! [`Pool::isolation_report`] (one [`Measure`] each: active and how, off, or
//! unavailable and why), for a verifier to copy into each result: its
//! [`IsolationReport::pairs`] are short stable codes (about 90 bytes in all, where
//! the descriptions, [`IsolationReport::details`], take about 600):
//!
//! | measure | active | unavailable (`unavailable:` and) |
//! |---|---|---|
//! | `user` | `uid` | `not-root` |
//! | `network` | `netns`, `netns-in-userns`, `netns-root-jobs` (jobs run as root and could leave it) | `userns-refused`, `unshare-refused` |
//! | `tmp` | `tmpfs`, `tmpfs-partial` (a directory left shared: the interpreter lives below), `tmpfs-in-userns`, `tmpfs-partial-in-userns` | `userns-refused`, `mountns-refused`, `mount-failed`, `interpreter-in-tmp` |
//! | `ipc` | `ipcns`, `ipcns-sysv-allowed` (System V limits not settable), each with `-in-userns` in a user namespace | `userns-refused`, `unshare-refused` |
//! | `workdir` | `fresh-in-private-tmp`, `fresh-in-pool-dir` | — |
//! | `subreaper` | `subreaper` | `prctl-refused` |
//!
//! A measure turned off in [`Isolation`] is `off`. Checked on the
//! development machines (Linux 6.18, Firecracker VM, everything runs as root,
//! `pid_max` 32768, CPython 3.11 under pyenv in `/root/.pyenv`), where every measure
//! is active; and as an unprivileged user there (uid 65534), where everything but the
//! uid drop and the System V limits works through a user namespace.
//!
//! - **An unprivileged uid per worker slot.** When the pool runs as root (and
//!   [`Isolation::drop_privileges`] is on, the default) each job runs as the uid of its
//!   slot ([`Pool::job_uids`], from 200000 up, no `/etc/passwd` entry needed) with
//!   `RLIMIT_NPROC` = [`Isolation::max_processes`] (64). Verified here: `setuid` to
//!   such uids works (the uid map is the full range); `RLIMIT_NPROC` *is* enforced for
//!   them (a `while True: os.fork()` bomb stops at 64 processes, a thread bomb at 64
//!   threads, while root ignores the limit); the job cannot signal the root zygote or
//!   the Rust process (`EPERM`); the fds it was given keep working after the switch;
//!   it has no capabilities; `PR_SET_NO_NEW_PRIVS` keeps it from gaining any through
//!   a setuid executable.
//! - **A sweep of that uid after a job that left a process**, at worker start and at
//!   worker exit: the zygote sets its real and effective uid to the job uid (keeping
//!   saved uid 0 to come back) and calls `kill(-1, SIGKILL)`, which reaches exactly
//!   the processes of that uid, wherever they are, and spares the caller. No fork is
//!   needed. Processes of that uid cannot ptrace the zygote meanwhile: a uid change
//!   clears its dumpable flag. After a job whose child was the zygote's only child
//!   when it ended (the common case) there is nothing to sweep: every process of the
//!   uid descends from the job's child, and the subreaper makes each orphan the
//!   zygote's child, so none can be anywhere else; without the subreaper the zygote
//!   sweeps after every job.
//! - **No network** ([`Isolation::network`]): each worker unshares a network
//!   namespace once (`CLONE_NEWNET`, root), before its first job; jobs inherit it: no
//!   interface but a loopback that is down, so `connect` fails at once with
//!   `ENETUNREACH` (abstract Unix sockets are per namespace too). The zygote's socket
//!   to the Rust side is a socketpair and keeps working. Without root the worker first
//!   enters a user namespace (`CLONE_NEWUSER`, mapping only its own uid and gid);
//!   where the kernel refuses that, jobs keep the network and the report says
//!   `unavailable: ...`: the pool does not fail.
//! - **A fresh working directory per job**, always: made by the zygote before the
//!   fork (mode 0700, owned by the job uid), the child's cwd, removed after the job.
//!   In the private `/tmp` when there is one (`/tmp/nxt-job-N`), otherwise in the
//!   pool's own directory under the system temporary directory (mode 0711, removed
//!   with the pool), where it is removed even if the job made parts of it unreadable
//!   (`chmod` fixes, then `rm -rf` for trees too deep for Python).
//! - **A private `/tmp`** ([`Isolation::private_tmp`]): in a mount namespace of its
//!   own (`CLONE_NEWNS`, made private recursively), each worker mounts one tmpfs of
//!   [`Isolation::tmp_size`] bytes (256 MiB, `nosuid,nodev`, a file count limit) on
//!   `/tmp` and binds it on the other world-writable directories, `/var/tmp`,
//!   `/dev/shm` and `/run/lock` (the ones these machines have). After each job the
//!   zygote checks, with one `statvfs`, whether anything is left in it; if so it
//!   unmounts and mounts a fresh one (about 90 µs), otherwise it only removes the
//!   working directory. A directory below which the interpreter lives is left shared
//!   (and the report says so). Jobs can still read every world-readable file; they
//!   cannot write outside these directories, as the job uid owns nothing else.
//! - **No System V IPC** ([`Isolation::private_ipc`]): each worker unshares an IPC
//!   namespace (`CLONE_NEWIPC`) and sets its `shmmni`, `msgmni` and `semmni` to 0, so
//!   shared memory segments, semaphores and message queues cannot be created (Python
//!   uses none of them; `multiprocessing` uses POSIX semaphores, files in `/dev/shm`);
//!   jobs get `RLIMIT_MSGQUEUE` 0, which keeps them from creating POSIX message
//!   queues. Nothing of that kind outlives a job.
//! - **Interpreter files readable by the job uid.** Here the interpreter lives under
//!   `/root` (mode 0700), which an unprivileged uid cannot enter, so a job could not
//!   import a module the zygote had not imported yet. The zygote therefore finds each
//!   directory on the way to `sys.path` and the interpreter that others may not
//!   search and, in its private mount namespace, covers it with a tmpfs (mode 0711)
//!   holding bind mounts of just the needed entries: jobs see `/root/.pyenv` but
//!   nothing else of `/root`. It then forks a probe as the job uid to check every
//!   needed path is readable, and fails [`PoolBuilder::build`] with
//!   [`SandboxError::Isolation`] if not.
//! - **A filtered environment**: unless [`Isolation::inherit_env`] is on, workers
//!   get only the variables that find and configure Python and the locale, so keys
//!   and tokens in the environment do not reach jobs.
//!
//! Without root (or with [`Isolation::none`]) jobs run as the pool's user: a job
//! can then kill its worker (recovered, [`Status::WorkerLost`]), and a fork bomb is
//! only bounded by that user's own `RLIMIT_NPROC`. Daemons are still killed by the
//! subreaper, except those of a job whose worker it killed. In a user namespace the
//! jobs shed the capabilities it gives (`capset`), so they cannot undo its mounts.
//!
//! Not isolated: reading the file system (everything world-readable, the repository
//! included, is readable by jobs); memory other than address space (no cgroup: v1
//! controllers and a v2 hierarchy are mounted writable on these machines, unused);
//! CPU *share* (a job may use every core until its CPU time limit); the clock, the
//! hostname and other processes' existence (no PID, UTS or time namespace: a job can
//! list `/proc`, but not signal or trace other uids' processes).
#![deny(missing_docs)]

mod error;
mod exec;
mod job;
mod pool;
mod worker;

pub use error::SandboxError;
pub use exec::{ExecPool, ExecPoolBuilder};
pub use job::{Captured, Job, Limits, Outcome, Status};
pub use pool::{
    Isolation, IsolationReport, Measure, Pool, PoolBuilder, STDLIB_PRELOAD, default_python,
};
