//! Jobs run by executing a program: the sandbox for interpreters that are not CPython
//! (an embedded engine's worker binary), with the same [`Job`], [`Limits`], [`Outcome`]
//! and [`Status`] as the zygote [`Pool`](crate::Pool).

use std::ffi::{CString, OsString};
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::libc;
use nix::poll::{PollFd, PollFlags};
use nix::unistd::pipe2;

use crate::job::SIGXCPU;
use crate::pool::{IsolationReport, Measure, slot_uid};
use crate::worker::{Keep, Stream, passes_through, poll_until};
use crate::{Isolation, Job, Outcome, SandboxError, Status};

/// How long the pipes may stay open after the child's end (a descendant holds them).
const DRAIN_GRACE: Duration = Duration::from_millis(500);
/// How often the child's end is checked for when no pidfd is available.
const TICK: Duration = Duration::from_millis(10);
const READ_CHUNK: usize = 64 << 10;
/// See the same constant in `worker.rs`.
const CPU_SLACK: Duration = Duration::from_millis(100);
/// The fd on which an executed job finds the channel.
const CHANNEL_FD: RawFd = 3;
/// Where a job's working directory is made inside its private `/tmp`.
const PRIVATE_WORKDIR: &str = "/tmp/nxt-job";

/// Configures an [`ExecPool`].
#[derive(Clone, Debug)]
pub struct ExecPoolBuilder {
    program: PathBuf,
    args: Vec<OsString>,
    env: Vec<(String, String)>,
    workers: usize,
    isolation: Isolation,
    interpreter: String,
}

impl ExecPoolBuilder {
    /// A builder for a pool that runs each job by executing `program` (a path; it is
    /// not searched on `PATH`).
    pub fn new(program: impl Into<PathBuf>) -> ExecPoolBuilder {
        ExecPoolBuilder {
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
            workers: 1,
            isolation: Isolation::default(),
            interpreter: String::new(),
        }
    }

    /// Appends an argument the program is started with.
    pub fn arg(&mut self, arg: impl Into<OsString>) -> &mut Self {
        self.args.push(arg.into());
        self
    }

    /// Sets an environment variable of the jobs.
    pub fn env(&mut self, key: impl Into<String>, value: impl Into<String>) -> &mut Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// How many jobs run at once (at least 1). By default, 1.
    pub fn workers(&mut self, n: usize) -> &mut Self {
        self.workers = n.max(1);
        self
    }

    /// How jobs are isolated. By default, [`Isolation::default()`].
    pub fn isolation(&mut self, isolation: Isolation) -> &mut Self {
        self.isolation = isolation;
        self
    }

    /// The name [`ExecPool::interpreter`] reports (the program cannot be asked
    /// before it runs a job), e.g. `RustPython 0.5.0`.
    pub fn interpreter(&mut self, name: impl Into<String>) -> &mut Self {
        self.interpreter = name.into();
        self
    }

    /// Checks the program and the isolation (one probe process that sets every
    /// measure up and exits without executing anything) and makes the pool.
    pub fn build(&self) -> Result<ExecPool, SandboxError> {
        // Where the program really is, resolved once against the caller's directory
        // (symbolic links and `..` included): whether it lives under /tmp, which a
        // private /tmp would hide from the job, depends on it.
        let program = if self.program.components().count() > 1 {
            std::fs::canonicalize(&self.program).unwrap_or_else(|_| self.program.clone())
        } else {
            self.program.clone()
        };
        let meta =
            std::fs::metadata(&program).map_err(|source| SandboxError::InterpreterNotFound {
                path: program.clone(),
                source,
            })?;
        if !meta.is_file() || meta.permissions().mode() & 0o111 == 0 {
            return Err(SandboxError::InterpreterNotFound {
                path: program.clone(),
                source: std::io::Error::from(std::io::ErrorKind::PermissionDenied),
            });
        }
        let iso = &self.isolation;
        let root = nix::unistd::geteuid().is_root();
        let drop = iso.drop_privileges && root;
        let uids: Vec<u32> = if drop {
            if let Some(dir) = closed_ancestor(&program) {
                return Err(SandboxError::Isolation(format!(
                    "`{}` cannot be executed by an unprivileged uid: `{}` is not \
                     searchable by others (move the program, or turn off \
                     Isolation::drop_privileges)",
                    program.display(),
                    dir.display()
                )));
            }
            (0..self.workers)
                .map(|_| slot_uid(iso.uid_base))
                .collect::<Option<_>>()
                .ok_or_else(|| {
                    SandboxError::Isolation(format!(
                        "uid_base {} leaves no room for the job uids",
                        iso.uid_base
                    ))
                })?
        } else {
            Vec::new()
        };
        // The program must stay reachable once /tmp is covered.
        let tmp_covers_program = program.starts_with("/tmp");
        let plan = Plan {
            uid: None,
            max_processes: iso.max_processes,
            network: iso.network && root,
            ipc: iso.private_ipc && root,
            tmp: iso.private_tmp && root && !tmp_covers_program,
            tmp_options: CString::new(format!(
                "size={},nr_inodes={},mode=1777",
                iso.tmp_size,
                (iso.tmp_size / (16 << 10)).max(64)
            ))
            .expect("no NUL"),
        };
        // (measure, code): the code of an active measure, or why it is unavailable.
        let measure = |asked: bool, on: bool, how: &str, code: &str| match (asked, on) {
            (false, _) => (Measure::Off, String::new()),
            (true, true) => (Measure::Active(how.to_owned()), code.to_owned()),
            (true, false) if !root => (
                Measure::Unavailable("not running as root".into()),
                "not-root".into(),
            ),
            (true, false) => (
                Measure::Unavailable("the program lives under /tmp".into()),
                "program-in-tmp".into(),
            ),
        };
        let report = IsolationReport::from_measures([
            measure(
                iso.drop_privileges,
                drop,
                "an unprivileged uid per job slot with RLIMIT_NPROC",
                "uid",
            ),
            measure(
                iso.network,
                plan.network,
                "a network namespace per job",
                "netns",
            ),
            measure(
                iso.private_tmp,
                plan.tmp,
                "a tmpfs on /tmp per job",
                "tmpfs",
            ),
            measure(
                iso.private_ipc,
                plan.ipc,
                "an IPC namespace per job",
                "ipcns",
            ),
            if plan.tmp {
                (
                    Measure::Active(format!("{PRIVATE_WORKDIR} in the job's private /tmp")),
                    "private-tmp".into(),
                )
            } else {
                (
                    Measure::Active("a fresh directory in the system temporary directory".into()),
                    "tmpdir".into(),
                )
            },
            if drop {
                (
                    Measure::Active("every process of the job's uid is killed after it".into()),
                    "uid-sweep".into(),
                )
            } else {
                (
                    Measure::Unavailable("only the job's process group is killed after it".into()),
                    "exec".into(),
                )
            },
        ]);
        let pool = ExecPool {
            program,
            args: self.args.clone(),
            env: self.env.clone(),
            inherit_env: iso.inherit_env,
            plan,
            slots: Mutex::new(if drop {
                uids.iter().map(|&u| Some(u)).collect()
            } else {
                vec![None; self.workers]
            }),
            free: Condvar::new(),
            workers: self.workers,
            interpreter: self.interpreter.clone(),
            report,
            uids,
        };
        pool.probe()?;
        Ok(pool)
    }
}

/// The first directory above `path` (or `path` itself) that others may not search
/// or execute.
fn closed_ancestor(path: &Path) -> Option<PathBuf> {
    let path = std::fs::canonicalize(path).ok()?;
    let mut here = path.as_path();
    if std::fs::metadata(here).ok()?.permissions().mode() & 0o005 != 0o005 {
        return Some(here.to_path_buf());
    }
    while let Some(parent) = here.parent() {
        if std::fs::metadata(parent).ok()?.permissions().mode() & 0o001 == 0 {
            return Some(parent.to_path_buf());
        }
        here = parent;
    }
    None
}

/// What the child sets up before it executes the program.
#[derive(Clone, Debug)]
struct Plan {
    uid: Option<u32>,
    max_processes: u64,
    network: bool,
    ipc: bool,
    tmp: bool,
    tmp_options: CString,
}

/// Runs untrusted code in a fresh process per job by executing a program, with the
/// limits and, as root, the isolation of the zygote [`Pool`](crate::Pool): each job
/// its own session, rlimits, a fresh working directory, and, as root, an unprivileged
/// uid, a network namespace, an IPC namespace and a private `/tmp` of its own.
///
/// The executed program finds the job on its stdin: the job's secret (32 hex digits)
/// and a newline, then the payload, then end of file. It writes to stdout, stderr
/// and the channel, fd 3, as a zygote job does; it should read its stdin to the end
/// before it runs untrusted code (and put `/dev/null` in its place).
///
/// What it costs: an `exec` of the program per job (and the program's own start-up),
/// where a zygote pool forks a warm interpreter. What it does not have: a
/// subreaper (a daemon that leaves the job's process group is killed only by the
/// uid sweep, that is, as root).
#[derive(Debug)]
pub struct ExecPool {
    program: PathBuf,
    args: Vec<OsString>,
    env: Vec<(String, String)>,
    inherit_env: bool,
    plan: Plan,
    /// The free job slots (their uids when privileges are dropped).
    slots: Mutex<Vec<Option<u32>>>,
    free: Condvar,
    workers: usize,
    interpreter: String,
    report: IsolationReport,
    uids: Vec<u32>,
}

/// Gives a slot back when a job ends, even by a panic.
struct SlotLease<'a> {
    pool: &'a ExecPool,
    uid: Option<u32>,
}

impl Drop for SlotLease<'_> {
    fn drop(&mut self) {
        let mut slots = self.pool.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots.push(self.uid);
        self.pool.free.notify_one();
    }
}

impl ExecPool {
    /// The interpreter name given to [`ExecPoolBuilder::interpreter`].
    pub fn interpreter(&self) -> &str {
        &self.interpreter
    }

    /// How many jobs run at once.
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// The uids jobs run as (empty when they run as this process's user).
    pub fn job_uids(&self) -> &[u32] {
        &self.uids
    }

    /// What isolation jobs get on this machine.
    pub fn isolation_report(&self) -> &IsolationReport {
        &self.report
    }

    /// The program each job executes.
    pub fn program(&self) -> &Path {
        &self.program
    }

    fn lease(&self) -> SlotLease<'_> {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(uid) = slots.pop() {
                return SlotLease { pool: self, uid };
            }
            slots = self.free.wait(slots).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.program);
        if !self.inherit_env {
            cmd.env_clear()
                .envs(std::env::vars_os().filter(|(k, _)| passes_through(k)));
        }
        cmd.args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd
    }

    /// Sets every measure up in a child that then exits without executing anything:
    /// a measure the kernel refuses fails the build here, not the first job.
    fn probe(&self) -> Result<(), SandboxError> {
        let lease = self.lease();
        let plan = Plan {
            uid: lease.uid,
            ..self.plan.clone()
        };
        let workdir = self.own_workdir(plan.uid)?;
        let mut cmd = self.command();
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let limits = crate::Limits::default();
        let pre = PreExec::new(&plan, &limits, workdir.as_deref(), None, true)?;
        // SAFETY: `PreExec::run` makes only async-signal-safe system calls on data
        // prepared before the fork.
        unsafe { cmd.pre_exec(move || pre.run()) };
        let mut child = cmd.spawn().map_err(|e| {
            SandboxError::Isolation(format!(
                "setting up a job process failed: {e} (turn the failing measure off in \
                 Isolation)"
            ))
        })?;
        let status = child.wait()?;
        if let Some(dir) = workdir {
            let _ = std::fs::remove_dir_all(dir);
        }
        if !status.success() {
            return Err(SandboxError::Isolation(format!(
                "the isolation probe failed: {status}"
            )));
        }
        Ok(())
    }

    /// A fresh working directory made by this process (when the job has no private
    /// `/tmp` to make it in), owned by the job's uid.
    fn own_workdir(&self, uid: Option<u32>) -> Result<Option<PathBuf>, SandboxError> {
        if self.plan.tmp {
            return Ok(None);
        }
        let dir = tempfile::Builder::new()
            .prefix("nxt-job-")
            .tempdir()?
            .keep();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
        if let Some(uid) = uid {
            std::os::unix::fs::chown(&dir, Some(uid), Some(uid))?;
        }
        Ok(Some(dir))
    }

    /// Runs `job` in a fresh process, blocking until a slot is free.
    pub fn run(&self, job: &Job<'_>) -> Result<Outcome, SandboxError> {
        let lease = self.lease();
        let plan = Plan {
            uid: lease.uid,
            ..self.plan.clone()
        };
        let secret = draw_secret()?;
        let workdir = self.own_workdir(plan.uid)?;
        let result = self.run_in(job, &plan, &secret, workdir.as_deref());
        if let Some(uid) = plan.uid {
            sweep_uid(uid);
        }
        if let Some(dir) = workdir {
            remove_tree(&dir);
        }
        result
    }

    fn run_in(
        &self,
        job: &Job<'_>,
        plan: &Plan,
        secret: &str,
        workdir: Option<&Path>,
    ) -> Result<Outcome, SandboxError> {
        let (out_r, out_w) = pipe2(OFlag::O_CLOEXEC).map_err(SandboxError::from)?;
        let (err_r, err_w) = pipe2(OFlag::O_CLOEXEC).map_err(SandboxError::from)?;
        let (chan_r, chan_w) = pipe2(OFlag::O_CLOEXEC).map_err(SandboxError::from)?;
        let (in_r, in_w) = pipe2(OFlag::O_CLOEXEC).map_err(SandboxError::from)?;
        let mut cmd = self.command();
        cmd.stdin(Stdio::from(in_r))
            .stdout(Stdio::from(out_w))
            .stderr(Stdio::from(err_w));
        let pre = PreExec::new(plan, &job.limits, workdir, Some(chan_w), false)?;
        // SAFETY: as in `probe`.
        unsafe { cmd.pre_exec(move || pre.run()) };
        let start = Instant::now();
        let deadline = start.checked_add(job.limits.wall_time);
        let child = cmd.spawn();
        drop(cmd); // our copies of the child's ends
        let child = child.map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied => {
                SandboxError::InterpreterNotFound {
                    path: self.program.clone(),
                    source: e,
                }
            }
            _ => SandboxError::Io(e),
        })?;
        let pid = child.id() as i32;
        // The child is reaped with wait4 below (for its CPU time), not by `Child`.
        std::mem::forget(child);
        let pidfd = pidfd_open(pid);

        let mut streams = [
            Stream::new(out_r, job.limits.output_bytes, Keep::Tail),
            Stream::new(err_r, job.limits.output_bytes, Keep::Tail),
            Stream::new(chan_r, job.limits.channel_bytes, Keep::Head),
        ];
        let mut scratch = vec![0u8; READ_CHUNK];
        let mut timed_out = false;
        let mut ended: Option<(i32, libc::rusage, Instant)> = None;
        std::thread::scope(|s| -> Result<(), SandboxError> {
            s.spawn(move || {
                let mut input = File::from(in_w);
                // A program that does not read its input (or died) makes this fail.
                let _ = input
                    .write_all(secret.as_bytes())
                    .and_then(|()| input.write_all(b"\n"))
                    .and_then(|()| input.write_all(job.payload));
            });
            loop {
                let now = Instant::now();
                if ended.is_none() {
                    if let Some((status, usage)) = try_wait4(pid)? {
                        ended = Some((status, usage, now));
                        // What the job left in its process group goes with it.
                        kill_group(pid);
                    } else if !timed_out && deadline.is_some_and(|d| now >= d) {
                        timed_out = true;
                        kill_group(pid);
                        // SAFETY: plain kill(2); the pid is our unreaped child.
                        unsafe { libc::kill(pid, libc::SIGKILL) };
                        continue;
                    }
                }
                if let Some((_, _, at)) = ended
                    && (streams.iter().all(|s| !s.open) || now >= at + DRAIN_GRACE)
                {
                    break;
                }
                let wake = match ended {
                    Some((_, _, at)) => Some(at + DRAIN_GRACE),
                    None if timed_out => Some(now + TICK),
                    None => {
                        let tick = (pidfd.is_none()).then(|| now + TICK);
                        match (deadline, tick) {
                            (Some(d), Some(t)) => Some(d.min(t)),
                            (d, t) => d.or(t),
                        }
                    }
                };
                let mut fds: Vec<PollFd<'_>> = Vec::with_capacity(4);
                let mut which = Vec::with_capacity(4);
                for (i, st) in streams.iter().enumerate() {
                    if st.open {
                        fds.push(PollFd::new(st.file.as_fd(), PollFlags::POLLIN));
                        which.push(i);
                    }
                }
                if ended.is_none()
                    && let Some(fd) = &pidfd
                {
                    fds.push(PollFd::new(fd.as_fd(), PollFlags::POLLIN));
                    which.push(usize::MAX);
                }
                if !poll_until(&mut fds, wake)? {
                    continue;
                }
                let ready: Vec<usize> = fds
                    .iter()
                    .zip(&which)
                    .filter(|(fd, _)| fd.revents().is_some_and(|r| !r.is_empty()))
                    .map(|(_, &w)| w)
                    .collect();
                drop(fds);
                for w in ready {
                    if w != usize::MAX {
                        streams[w].read(&mut scratch)?;
                    }
                }
            }
            Ok(())
        })?;
        let (raw, usage, ended_at) = match ended {
            Some(e) => e,
            None => {
                // Only reached if the loop broke without an end: reap it now.
                let (raw, usage) = wait4_blocking(pid)?;
                (raw, usage, Instant::now())
            }
        };
        kill_group(pid);
        let cpu_time = Duration::from_secs(
            u64::try_from(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec).unwrap_or(0),
        ) + Duration::from_micros(
            u64::try_from(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec).unwrap_or(0),
        );
        let status = if timed_out {
            Status::TimedOut
        } else {
            let status = Status::from_wait_status(raw);
            let soft = Duration::from_secs(job.limits.cpu_seconds());
            if status == Status::Signaled(9) && cpu_time + CPU_SLACK >= soft {
                Status::Signaled(SIGXCPU)
            } else {
                status
            }
        };
        let [stdout, stderr, channel] = streams.map(|s| s.kept.captured());
        Ok(Outcome {
            status,
            stdout,
            stderr,
            channel,
            duration: ended_at - start,
            cpu_time: Some(cpu_time),
            secret: secret.to_owned(),
        })
    }
}

/// Everything the child does between `fork` and `exec`, prepared beforehand so that
/// it allocates nothing.
struct PreExec {
    plan: Plan,
    rlimits: Vec<(libc::__rlimit_resource_t, u64)>,
    workdir: CString,
    channel: Option<OwnedFd>,
    exit_after: bool,
    mount_targets: Vec<CString>,
}

impl PreExec {
    fn new(
        plan: &Plan,
        limits: &crate::Limits,
        workdir: Option<&Path>,
        channel: Option<OwnedFd>,
        exit_after: bool,
    ) -> Result<PreExec, SandboxError> {
        let mut rlimits = vec![
            (libc::RLIMIT_CPU, limits.cpu_seconds()),
            (libc::RLIMIT_CORE, 0),
        ];
        let optional = [
            (libc::RLIMIT_AS, limits.address_space),
            (libc::RLIMIT_NOFILE, limits.open_files),
            (libc::RLIMIT_FSIZE, limits.file_size),
            (
                libc::RLIMIT_NPROC,
                limits.processes.or(plan.uid.map(|_| plan.max_processes)),
            ),
            (libc::RLIMIT_MSGQUEUE, plan.ipc.then_some(0)),
        ];
        rlimits.extend(optional.into_iter().filter_map(|(r, v)| v.map(|v| (r, v))));
        let workdir = match workdir {
            Some(dir) => CString::new(dir.as_os_str().as_bytes())
                .map_err(|_| SandboxError::Isolation("a NUL in the working directory".into()))?,
            None => CString::new(PRIVATE_WORKDIR).expect("no NUL"),
        };
        let mount_targets = ["/var/tmp", "/dev/shm", "/run/lock"]
            .iter()
            .filter(|p| Path::new(p).is_dir())
            .map(|p| CString::new(*p).expect("no NUL"))
            .collect();
        Ok(PreExec {
            plan: plan.clone(),
            rlimits,
            workdir,
            channel,
            exit_after,
            mount_targets,
        })
    }

    /// Runs in the forked child. Only async-signal-safe system calls.
    fn run(&self) -> std::io::Result<()> {
        let check = |r: libc::c_int| {
            if r < 0 {
                Err(std::io::Error::last_os_error())
            } else {
                Ok(())
            }
        };
        // SAFETY: system calls on prepared, NUL-terminated data; nothing allocates.
        unsafe {
            check(libc::setsid())?;
            if let Some(chan) = &self.channel {
                check(libc::dup2(chan.as_raw_fd(), CHANNEL_FD))?;
            }
            let mut flags = 0;
            if self.plan.network {
                flags |= libc::CLONE_NEWNET;
            }
            if self.plan.ipc {
                flags |= libc::CLONE_NEWIPC;
            }
            if self.plan.tmp {
                flags |= libc::CLONE_NEWNS;
            }
            if flags != 0 {
                check(libc::unshare(flags))?;
            }
            if self.plan.tmp {
                check(libc::mount(
                    std::ptr::null(),
                    c"/".as_ptr(),
                    std::ptr::null(),
                    libc::MS_REC | libc::MS_PRIVATE,
                    std::ptr::null(),
                ))?;
                check(libc::mount(
                    c"tmpfs".as_ptr(),
                    c"/tmp".as_ptr(),
                    c"tmpfs".as_ptr(),
                    libc::MS_NOSUID | libc::MS_NODEV,
                    self.plan.tmp_options.as_ptr().cast(),
                ))?;
                for target in &self.mount_targets {
                    check(libc::mount(
                        c"/tmp".as_ptr(),
                        target.as_ptr(),
                        std::ptr::null(),
                        libc::MS_BIND,
                        std::ptr::null(),
                    ))?;
                }
                check(libc::mkdir(self.workdir.as_ptr(), 0o700))?;
                if let Some(uid) = self.plan.uid {
                    check(libc::chown(self.workdir.as_ptr(), uid, uid))?;
                }
            }
            for &(resource, value) in &self.rlimits {
                let lim = libc::rlimit {
                    rlim_cur: value,
                    rlim_max: value,
                };
                check(libc::setrlimit(resource, &lim))?;
            }
            if let Some(uid) = self.plan.uid {
                check(libc::setgroups(0, std::ptr::null()))?;
                check(libc::setresgid(uid, uid, uid))?;
                check(libc::setresuid(uid, uid, uid))?;
                check(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))?;
            }
            check(libc::chdir(self.workdir.as_ptr()))?;
            if self.exit_after {
                libc::_exit(0);
            }
        }
        Ok(())
    }
}

fn draw_secret() -> Result<String, SandboxError> {
    let mut bytes = [0u8; 16];
    std::io::Read::read_exact(&mut File::open("/dev/urandom")?, &mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn pidfd_open(pid: i32) -> Option<OwnedFd> {
    // SAFETY: a plain system call; a non-negative result is a new fd we own.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

fn try_wait4(pid: i32) -> Result<Option<(i32, libc::rusage)>, SandboxError> {
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid value; wait4 fills it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: wait4 on our own child with valid out-pointers.
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        match r {
            0 => return Ok(None),
            r if r == pid => return Ok(Some((status, usage))),
            _ if Errno::last() == Errno::EINTR => continue,
            _ => return Err(SandboxError::Io(std::io::Error::last_os_error())),
        }
    }
}

fn wait4_blocking(pid: i32) -> Result<(i32, libc::rusage), SandboxError> {
    let mut status = 0;
    // SAFETY: as in `try_wait4`.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: as in `try_wait4`.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if r == pid {
            return Ok((status, usage));
        }
        if Errno::last() != Errno::EINTR {
            return Err(SandboxError::Io(std::io::Error::last_os_error()));
        }
    }
}

fn kill_group(pid: i32) {
    if pid > 0 {
        // SAFETY: plain kill(2) of the job's process group.
        unsafe { libc::kill(-pid, libc::SIGKILL) };
    }
}

/// Kills every process of `uid` (what a job left outside its process group): a
/// short-lived child becomes that uid and signals everything it may.
fn sweep_uid(uid: u32) {
    let mut cmd = Command::new("/proc/self/exe");
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: async-signal-safe system calls only, then _exit: nothing is executed.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setresgid(uid, uid, uid) == 0 && libc::setresuid(uid, uid, uid) == 0 {
                libc::kill(-1, libc::SIGKILL);
            }
            libc::_exit(0);
        });
    }
    if let Ok(mut child) = cmd.spawn() {
        let _ = child.wait();
    }
}

/// Removes a job's working directory, whatever the job did to its modes.
fn remove_tree(dir: &Path) {
    if std::fs::remove_dir_all(dir).is_ok() {
        return;
    }
    fn open_up(dir: &Path) {
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
        if let Ok(entries) = std::fs::read_dir(dir) {
            for entry in entries.flatten() {
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    open_up(&entry.path());
                }
            }
        }
    }
    open_up(dir);
    let _ = std::fs::remove_dir_all(dir);
}
