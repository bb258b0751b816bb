//! The pool of warm workers and its builder.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

use crate::worker::{RunError, Starting, Worker, WorkerConfig};
use crate::{Job, Outcome, SandboxError};

/// How jobs are isolated beyond their own session, process group, rlimits and
/// working directory.
///
/// New fields come with defaults: build one with `Isolation::default()` (or
/// [`Isolation::none()`]) and set fields on it. What a pool achieved on the machine
/// it runs on is in [`Pool::isolation_report`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Isolation {
    /// When the pool runs as root, run each job as an unprivileged uid of its own
    /// worker slot (gid the same number, no supplementary groups), with
    /// `RLIMIT_NPROC` = [`Isolation::max_processes`], and kill every process of that
    /// uid after each job. Ignored when not running as root. By default, true.
    pub drop_privileges: bool,
    /// The lowest uid handed to worker slots. Slots get
    /// `uid_base + (pid mod 2^20) * 1024 + (slot number in this process mod 1024)`,
    /// so pools of different processes do not share a uid (no `/etc/passwd` entry is
    /// needed). The whole range must belong to nobody else: after each job every
    /// process of the slot's uid is killed. By default, 200000.
    pub uid_base: u32,
    /// `RLIMIT_NPROC` of a job that runs as an unprivileged uid: processes and
    /// threads it may have at once. By default, 64.
    pub max_processes: u64,
    /// Whether workers (and so jobs) inherit this process's whole environment. When
    /// off, they get only `PATH`, `HOME`, `LANG`, `LANGUAGE`, `TZ`, `TMPDIR`,
    /// `LD_LIBRARY_PATH`, `VIRTUAL_ENV`, `CONDA_PREFIX` and the `LC_*`, `PYTHON*` and
    /// `PYENV*` variables, plus those set with [`PoolBuilder::env`], so that secrets
    /// in the environment (API keys) do not reach untrusted code. By default, false.
    pub inherit_env: bool,
    /// Give each worker a network namespace of its own (with only a loopback
    /// interface, down), so that jobs have no network: `connect` fails with
    /// `ENETUNREACH`. As root the worker unshares `CLONE_NEWNET`; otherwise it first
    /// tries a user namespace (`CLONE_NEWUSER`). Where the kernel refuses, jobs run
    /// with the network and [`IsolationReport::network`] says why. By default, true.
    pub network: bool,
    /// Give each worker, in a mount namespace of its own, a private tmpfs over the
    /// world-writable directories `/tmp`, `/var/tmp`, `/dev/shm` and `/run/lock`
    /// (one file system of [`Isolation::tmp_size`] bytes, mounted on each that
    /// exists), reset after every job that left anything in it. Jobs' working
    /// directories are made in it. Where mounting is not possible, jobs share the
    /// machine's and [`IsolationReport::tmp`] says why. By default, true.
    pub private_tmp: bool,
    /// Size of the private tmpfs (see [`Isolation::private_tmp`]), in bytes; it
    /// also holds at most `tmp_size / 16 KiB` files. By default, 256 MiB.
    pub tmp_size: u64,
    /// Give each worker an IPC namespace of its own in which System V shared
    /// memory, semaphores and message queues cannot be created (their limits set to
    /// 0), so that a job can leave no IPC object behind; jobs also get
    /// `RLIMIT_MSGQUEUE` 0, which keeps them from creating POSIX message queues.
    /// By default, true.
    pub private_ipc: bool,
}

impl Default for Isolation {
    fn default() -> Self {
        Isolation {
            drop_privileges: true,
            uid_base: 200_000,
            max_processes: 64,
            inherit_env: false,
            network: true,
            private_tmp: true,
            tmp_size: 256 << 20,
            private_ipc: true,
        }
    }
}

impl Isolation {
    /// No isolation beyond the job's own session and rlimits: jobs run as the pool's
    /// user and inherit its whole environment. Only for trusted code, or for tests of
    /// the sandbox itself.
    pub fn none() -> Isolation {
        Isolation {
            drop_privileges: false,
            inherit_env: true,
            network: false,
            private_tmp: false,
            private_ipc: false,
            ..Isolation::default()
        }
    }
}

/// Whether one isolation measure is in force, as a worker found when it started.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Measure {
    /// In force; how.
    Active(String),
    /// Turned off in [`Isolation`].
    Off,
    /// Asked for, but the system refused it; why. Jobs run without it.
    Unavailable(String),
}

impl Measure {
    /// Whether the measure is in force.
    pub fn is_active(&self) -> bool {
        matches!(self, Measure::Active(_))
    }

    fn from_report(value: &serde_json::Value) -> Measure {
        let detail = value
            .get("detail")
            .and_then(|d| d.as_str())
            .unwrap_or_default()
            .to_string();
        match value.get("state").and_then(|s| s.as_str()) {
            Some("active") => Measure::Active(detail),
            Some("off") => Measure::Off,
            _ => Measure::Unavailable(if detail.is_empty() {
                "not reported by the worker".into()
            } else {
                detail
            }),
        }
    }
}

impl std::fmt::Display for Measure {
    /// `how` when active, `off`, or `unavailable: why`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Measure::Active(how) => f.write_str(how),
            Measure::Off => f.write_str("off"),
            Measure::Unavailable(why) => write!(f, "unavailable: {why}"),
        }
    }
}

/// What isolation the pool's jobs actually get on this machine (see
/// [`Pool::isolation_report`]); a verifier copies [`IsolationReport::pairs`] (short
/// codes) into each result's metadata, [`IsolationReport::details`] has the
/// descriptions.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct IsolationReport {
    /// Jobs run as an unprivileged uid of their worker slot with `RLIMIT_NPROC`
    /// (see [`Isolation::drop_privileges`]), or as the pool's own user.
    pub user: Measure,
    /// No network: a network namespace per worker ([`Isolation::network`]).
    pub network: Measure,
    /// A private, reset-after-each-job `/tmp` (and the other world-writable
    /// directories) per worker ([`Isolation::private_tmp`]).
    pub tmp: Measure,
    /// A private IPC namespace per worker without System V IPC
    /// ([`Isolation::private_ipc`]).
    pub ipc: Measure,
    /// A fresh working directory per job, removed after it: always active; where it
    /// is made.
    pub workdir: Measure,
    /// Orphans of a job (double-forked daemons) become the worker's children to be
    /// killed: `PR_SET_CHILD_SUBREAPER`.
    pub subreaper: Measure,
    /// The short code of each measure, in the order of [`IsolationReport::pairs`].
    codes: [String; 6],
}

/// The names of the measures, in the order of [`IsolationReport::pairs`].
const MEASURES: [&str; 6] = ["user", "network", "tmp", "ipc", "workdir", "subreaper"];

impl IsolationReport {
    pub(crate) fn from_ready(ready: &serde_json::Value) -> IsolationReport {
        let isolation = &ready["isolation"];
        let [user, network, tmp, ipc, workdir, subreaper] =
            MEASURES.map(|name| Measure::from_report(&isolation[name]));
        let mut report = IsolationReport {
            user,
            network,
            tmp,
            ipc,
            workdir,
            subreaper,
            codes: Default::default(),
        };
        let codes = MEASURES.map(|name| {
            let code = isolation[name]["code"].as_str().filter(|c| !c.is_empty());
            match report.measure(name) {
                Measure::Active(_) => code.unwrap_or("active").to_string(),
                Measure::Off => "off".to_string(),
                Measure::Unavailable(_) => format!("unavailable:{}", code.unwrap_or("other")),
            }
        });
        report.codes = codes;
        report
    }

    /// A report from each measure and its short code, in the order of
    /// [`IsolationReport::pairs`] (the exec pool's, which knows them itself).
    pub(crate) fn from_measures(measures: [(Measure, String); 6]) -> IsolationReport {
        let codes = measures.clone().map(|(m, code)| match m {
            Measure::Active(_) => code,
            Measure::Off => "off".to_string(),
            Measure::Unavailable(_) => format!("unavailable:{code}"),
        });
        let [user, network, tmp, ipc, workdir, subreaper] = measures.map(|(m, _)| m);
        IsolationReport {
            user,
            network,
            tmp,
            ipc,
            workdir,
            subreaper,
            codes,
        }
    }

    fn measure(&self, name: &str) -> &Measure {
        match name {
            "user" => &self.user,
            "network" => &self.network,
            "tmp" => &self.tmp,
            "ipc" => &self.ipc,
            "workdir" => &self.workdir,
            _ => &self.subreaper,
        }
    }

    /// Each measure as `(name, code)`, for a result's metadata: `user`, `network`,
    /// `tmp`, `ipc`, `workdir`, `subreaper`, each with a short stable code of how it
    /// is in force (`uid`, `netns`, `tmpfs`, ...), `off`, or `unavailable:` and why
    /// (`unavailable:not-root`, ...); the crate documentation lists them.
    /// [`IsolationReport::details`] has the long descriptions.
    pub fn pairs(&self) -> Vec<(&'static str, String)> {
        MEASURES
            .iter()
            .copied()
            .zip(self.codes.iter().cloned())
            .collect()
    }

    /// Each measure as `(name, description)`: as [`IsolationReport::pairs`], with
    /// [`Measure`]'s `Display` (how, `off`, or `unavailable: why`, in words) instead
    /// of the codes.
    pub fn details(&self) -> Vec<(&'static str, String)> {
        MEASURES
            .iter()
            .map(|&name| (name, self.measure(name).to_string()))
            .collect()
    }
}

/// Configures and starts a [`Pool`].
#[derive(Clone, Debug)]
pub struct PoolBuilder {
    harness: String,
    python: PathBuf,
    workers: usize,
    env: Vec<(String, String)>,
    preload: Vec<String>,
    pth_imports: bool,
    isolation: Isolation,
    startup_timeout: Duration,
}

impl PoolBuilder {
    /// A builder for a pool whose workers load `harness_source`, a Python module
    /// that defines `def main(payload: bytes) -> None`.
    pub fn new(harness_source: impl Into<String>) -> PoolBuilder {
        PoolBuilder {
            harness: harness_source.into(),
            python: default_python(),
            workers: 1,
            env: Vec::new(),
            preload: Vec::new(),
            pth_imports: false,
            isolation: Isolation::default(),
            startup_timeout: Duration::from_secs(30),
        }
    }

    /// The Python interpreter to start: a path, or a name searched on `PATH`.
    ///
    /// By default, [`default_python`]: the `NXT_PYTHON` environment variable if it is
    /// set, else `python3`.
    pub fn python(&mut self, path: impl Into<PathBuf>) -> &mut Self {
        self.python = path.into();
        self
    }

    /// How many workers run jobs in parallel (at least 1).
    ///
    /// By default, 1.
    pub fn workers(&mut self, n: usize) -> &mut Self {
        self.workers = n.max(1);
        self
    }

    /// Sets an environment variable of the workers, and so of the jobs. It reaches
    /// the interpreter at start, so variables read then (`PYTHONHASHSEED`) work.
    ///
    /// By default, none beyond those [`Isolation::inherit_env`] lets through.
    pub fn env(&mut self, key: impl Into<String>, value: impl Into<String>) -> &mut Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Modules each worker imports before it forks its first job, so that jobs do
    /// not pay for them. A module that fails to import fails [`PoolBuilder::build`]
    /// with [`SandboxError::HarnessFailed`].
    ///
    /// By default, none.
    pub fn preload(&mut self, modules: &[&str]) -> &mut Self {
        self.preload.extend(modules.iter().map(|m| m.to_string()));
        self
    }

    /// Whether the workers run the `import` lines of the `.pth` files in
    /// site-packages, as `python3` does when it starts.
    ///
    /// Workers start the interpreter with `-S` and then do what the `site` module
    /// does at start-up themselves (site-packages and the `.pth` files' directories
    /// on `sys.path`, virtual environments, the user site, `exit()`, `help()`,
    /// `sitecustomize`), except for those lines: they import modules into every
    /// worker (on the development machines `certifi`, `zipfile`, `lzma`, ...), which
    /// makes every job's fork dearer. Turn this on for packages that need theirs
    /// (legacy `-nspkg.pth` namespace packages, setuptools' `distutils` shim), or
    /// [`preload`](PoolBuilder::preload) what they would import.
    ///
    /// By default, false.
    pub fn pth_imports(&mut self, on: bool) -> &mut Self {
        self.pth_imports = on;
        self
    }

    /// How jobs are isolated.
    ///
    /// By default, [`Isolation::default()`].
    pub fn isolation(&mut self, isolation: Isolation) -> &mut Self {
        self.isolation = isolation;
        self
    }

    /// How long a worker may take to start and load the harness.
    ///
    /// By default, 30 s.
    pub fn startup_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.startup_timeout = timeout;
        self
    }

    /// Starts the workers and waits until each has loaded the harness.
    pub fn build(&self) -> Result<Pool, SandboxError> {
        let workdir = tempfile::Builder::new().prefix("nxt-sandbox-").tempdir()?;
        // Others may enter (to reach their job's directory) but not list or write it.
        std::fs::set_permissions(workdir.path(), std::fs::Permissions::from_mode(0o711))?;
        let config = WorkerConfig {
            python: self.python.clone(),
            env: self.env.clone(),
            harness: self.harness.clone(),
            preload: self.preload.clone(),
            workdir: workdir.path().to_path_buf(),
            max_processes: self.isolation.max_processes,
            inherit_env: self.isolation.inherit_env,
            network: self.isolation.network,
            private_tmp: self.isolation.private_tmp,
            tmp_size: self.isolation.tmp_size,
            private_ipc: self.isolation.private_ipc,
            pth_imports: self.pth_imports,
            drop_requested: self.isolation.drop_privileges,
            startup_timeout: self.startup_timeout,
        };
        let drop_privileges = self.isolation.drop_privileges && nix::unistd::geteuid().is_root();
        let uids: Vec<u32> = if drop_privileges {
            (0..self.workers)
                .map(|_| slot_uid(self.isolation.uid_base))
                .collect::<Option<_>>()
                .ok_or_else(|| {
                    SandboxError::Isolation(format!(
                        "uid_base {} leaves no room for the worker slots' uids",
                        self.isolation.uid_base
                    ))
                })?
        } else {
            Vec::new()
        };
        // Start them all, then wait for each: their start-ups overlap.
        let mut starting = Vec::with_capacity(self.workers);
        for index in 0..self.workers {
            starting.push(Starting::spawn(&config, uids.get(index).copied())?);
        }
        let mut slots = Vec::with_capacity(self.workers);
        for (index, s) in starting.into_iter().enumerate() {
            let worker = s.wait_ready(&config)?;
            slots.push(Slot {
                index,
                uid: uids.get(index).copied(),
                worker: Some(worker),
            });
        }
        let first = slots[0].worker.as_ref();
        let interpreter = first.map(|w| w.interpreter.clone()).unwrap_or_default();
        let report = first
            .map(|w| w.report.clone())
            .expect("every slot has a ready worker");
        slots.reverse(); // `acquire` pops: slot 0 first
        Ok(Pool {
            config,
            idle: Mutex::new(slots),
            available: Condvar::new(),
            interpreter,
            report,
            uids,
            workers: self.workers,
            _workdir: workdir,
        })
    }
}

/// Gives each worker slot of this process a uid of its own; `None` if it would not
/// be a valid unprivileged uid (0, or the "no change" value `u32::MAX`).
pub(crate) fn slot_uid(base: u32) -> Option<u32> {
    static NEXT_SLOT: AtomicU32 = AtomicU32::new(0);
    let slot = NEXT_SLOT.fetch_add(1, Ordering::Relaxed) % 1024;
    let pid = std::process::id() % (1 << 20);
    base.checked_add(pid * 1024 + slot)
        .filter(|&uid| uid > 0 && uid < u32::MAX - 1)
}

struct Slot {
    index: usize,
    uid: Option<u32>,
    /// `None` after the worker was lost or failed to restart.
    worker: Option<Worker>,
}

/// Warm Python workers that run jobs, each in a fresh forked child.
///
/// `Pool` is `Send + Sync`: share it between threads (for instance in an `Arc` or by
/// reference in a scope) and call [`Pool::run`] from each. Dropping it closes the
/// workers and reaps them.
pub struct Pool {
    config: WorkerConfig,
    idle: Mutex<Vec<Slot>>,
    available: Condvar,
    interpreter: String,
    report: IsolationReport,
    uids: Vec<u32>,
    workers: usize,
    _workdir: tempfile::TempDir,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("python", &self.config.python)
            .field("interpreter", &self.interpreter)
            .field("workers", &self.workers)
            .field("uids", &self.uids)
            .field("isolation", &self.report)
            .finish_non_exhaustive()
    }
}

/// Returns a slot to the pool when a job ends, even by a panic.
struct Lease<'a> {
    pool: &'a Pool,
    slot: Option<Slot>,
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Some(mut slot) = self.slot.take() {
            if std::thread::panicking() {
                slot.worker = None; // its protocol state is unknown
            }
            lock(&self.pool.idle).push(slot);
            self.pool.available.notify_one();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Pool {
    /// Runs `job` on the next free worker, blocking until one is free, and returns
    /// how it ended. A worker lost during a job is restarted for the next one.
    pub fn run(&self, job: &Job<'_>) -> Result<Outcome, SandboxError> {
        let mut lease = self.acquire();
        let slot = lease.slot.as_mut().expect("a leased slot");
        let mut attempts = 0;
        loop {
            attempts += 1;
            let worker = match slot.worker.as_mut() {
                Some(worker) => worker,
                None => slot.worker.insert(self.respawn(slot.uid)?),
            };
            match worker.run(job) {
                Ok(result) => {
                    if !result.reusable {
                        slot.worker = None; // dropping it reaps it
                    }
                    return Ok(result.outcome);
                }
                Err(RunError::NotStarted(e)) => {
                    slot.worker = None;
                    if attempts >= 2 {
                        return Err(e);
                    }
                }
                Err(RunError::Local(e)) => return Err(e),
                Err(RunError::Failed(e)) => {
                    slot.worker = None;
                    return Err(e);
                }
            }
        }
    }

    /// The interpreter the workers run, as they reported it, e.g. `CPython 3.11.7`.
    pub fn interpreter(&self) -> &str {
        &self.interpreter
    }

    /// How many workers run jobs in parallel.
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// The uids jobs run as, one per worker slot; empty when jobs run as the pool's
    /// own user (not root, or [`Isolation::drop_privileges`] off).
    pub fn job_uids(&self) -> &[u32] {
        &self.uids
    }

    /// What isolation the jobs get on this machine, as the first worker found when
    /// it started (every worker runs the same code with the same [`Isolation`]).
    pub fn isolation_report(&self) -> &IsolationReport {
        &self.report
    }

    fn acquire(&self) -> Lease<'_> {
        let mut idle = lock(&self.idle);
        loop {
            if let Some(slot) = idle.pop() {
                return Lease {
                    pool: self,
                    slot: Some(slot),
                };
            }
            idle = self.available.wait(idle).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn respawn(&self, uid: Option<u32>) -> Result<Worker, SandboxError> {
        Starting::spawn(&self.config, uid)?.wait_ready(&self.config)
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        let mut slots = std::mem::take(&mut *lock(&self.idle));
        slots.sort_by_key(|s| s.index);
        // Close every socket first so that the workers wind down together.
        for slot in &mut slots {
            if let Some(w) = slot.worker.as_mut() {
                w.close();
            }
        }
        for slot in &mut slots {
            if let Some(w) = slot.worker.as_mut() {
                w.reap();
            }
        }
    }
}

/// The interpreter a pool starts unless told otherwise: the `NXT_PYTHON` environment
/// variable if it is set, else `python3` (searched on `PATH`).
pub fn default_python() -> PathBuf {
    std::env::var_os("NXT_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("python3"))
}

/// Standard-library modules worth importing in a worker before it forks: those the
/// HumanEval and MBPP programs and tests use, so that a job importing them does not pay
/// for it. Importing them has no effect a program can observe.
pub const STDLIB_PRELOAD: &[&str] = &[
    "math",
    "re",
    "collections",
    "itertools",
    "functools",
    "heapq",
    "bisect",
    "string",
    "typing",
    "operator",
    "copy",
    "fractions",
    "decimal",
    "statistics",
    "hashlib",
    "array",
    "cmath",
    "datetime",
];
