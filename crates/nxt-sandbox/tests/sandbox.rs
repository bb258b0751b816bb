//! The sandbox through its public API, against the `python3` on `PATH`.
//!
//! No test asserts a timing: limits are asserted through statuses only.

use std::time::Duration;

use nxt_sandbox::{Isolation, Job, Limits, Outcome, Pool, PoolBuilder, SandboxError, Status};

/// Runs the payload as a script.
const EXEC: &str = "def main(payload):\n    exec(payload, {'__name__': '__main__'})\n";

fn pool() -> Pool {
    PoolBuilder::new(EXEC).build().expect("the pool starts")
}

fn run_with(pool: &Pool, src: &str, limits: Limits) -> Outcome {
    pool.run(&Job {
        payload: src.as_bytes(),
        limits,
    })
    .expect("the job runs")
}

fn run(pool: &Pool, src: &str) -> Outcome {
    run_with(pool, src, Limits::default())
}

fn short(ms: u64) -> Limits {
    Limits {
        wall_time: Duration::from_millis(ms),
        ..Limits::default()
    }
}

/// Checks the pool still runs an ordinary job.
fn assert_healthy(pool: &Pool) {
    let out = run(pool, "print('still here')");
    assert_eq!(out.status, Status::Exited(0), "{out:?}");
    assert_eq!(out.stdout.text(), "still here\n");
}

/// Pids of live processes whose real uid is `uid`.
fn processes_of(uid: u32) -> Vec<u32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(status) = std::fs::read_to_string(entry.path().join("status")) else {
            continue;
        };
        let real = status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|l| l.split_whitespace().next())
            .and_then(|u| u.parse::<u32>().ok());
        if real == Some(uid) {
            pids.push(pid);
        }
    }
    pids
}

fn is_alive(pid: u32) -> bool {
    // A zombie still has a /proc entry: count it as alive.
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

#[test]
fn pool_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Pool>();
    check::<Outcome>();
    check::<SandboxError>();
}

#[test]
fn normal_exit_captures_stdout_stderr_and_channel() {
    let pool = pool();
    assert!(
        pool.interpreter().starts_with("CPython 3."),
        "{}",
        pool.interpreter()
    );
    assert_eq!(pool.workers(), 1);
    let out = run(
        &pool,
        "import os, sys\nprint('hello')\nprint('oops', file=sys.stderr)\nos.write(3, b'{\"k\": 1}')\n",
    );
    assert_eq!(out.status, Status::Exited(0), "{out:?}");
    assert!(out.status.success());
    assert_eq!(out.stdout.text(), "hello\n");
    assert_eq!(out.stderr.text(), "oops\n");
    assert_eq!(out.channel.bytes, b"{\"k\": 1}");
    assert_eq!(out.channel.total, 8);
    assert!(!out.stdout.truncated());
}

#[test]
fn payload_reaches_main_as_bytes() {
    let pool = PoolBuilder::new(
        "import os\ndef main(payload):\n    os.write(3, repr(payload).encode())\n",
    )
    .build()
    .unwrap();
    let out = pool.run(&Job::new(b"\x00\xffabc")).unwrap();
    assert_eq!(out.status, Status::Exited(0), "{out:?}");
    assert_eq!(out.channel.text(), r"b'\x00\xffabc'");
    // A large payload goes through too.
    let big = vec![b'a'; 3 << 20];
    let out = pool.run(&Job::new(&big)).unwrap();
    assert_eq!(out.channel.total, 3 * (1 << 20) + 3);
}

#[test]
fn exit_codes_and_exceptions() {
    let pool = pool();
    assert_eq!(
        run(&pool, "import sys\nsys.exit(3)").status,
        Status::Exited(3)
    );
    assert_eq!(run(&pool, "raise SystemExit").status, Status::Exited(0));
    let out = run(&pool, "import sys\nsys.exit('bye')");
    assert_eq!(out.status, Status::Exited(1));
    assert_eq!(out.stderr.text(), "bye\n");

    let out = run(&pool, "print('before')\ndef f():\n    1 / 0\nf()\n");
    assert_eq!(out.status, Status::Exited(1), "{out:?}");
    assert_eq!(
        out.stdout.text(),
        "before\n",
        "stdout is flushed on failure"
    );
    let err = out.stderr.text();
    assert!(
        err.starts_with("Traceback (most recent call last):\n"),
        "{err}"
    );
    assert!(err.contains("ZeroDivisionError: division by zero"), "{err}");
    assert!(err.contains("in f\n"), "{err}");

    let out = run(
        &pool,
        "import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)",
    );
    assert_eq!(out.status, Status::Signaled(11), "{out:?}");
}

#[test]
fn the_job_process_is_a_fresh_session_with_clean_fds() {
    let pool = pool();
    let out = run(
        &pool,
        r#"
import os, sys, signal
print(os.getsid(0) == os.getpid(), os.getpgid(0) == os.getpid())
print(sys.stdin.read() == '')
print(sorted(int(fd) for fd in os.listdir('/proc/self/fd')))
print(signal.getsignal(signal.SIGINT) is signal.default_int_handler)
print(len(__import__('inspect').stack()))
"#,
    );
    assert_eq!(out.status, Status::Exited(0), "{out:?}");
    let text = out.stdout.text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "True True");
    assert_eq!(lines[1], "True");
    // 0-3 and the fd listdir itself opened.
    assert_eq!(lines[2], "[0, 1, 2, 3, 4]");
    assert_eq!(lines[3], "True");
    // The zygote's module level, the harness's main, the program's module level.
    assert_eq!(lines[4], "3");
}

#[test]
fn infinite_loop_times_out() {
    let pool = pool();
    let out = run_with(
        &pool,
        "print('start', flush=True)\nwhile True:\n    pass\n",
        short(300),
    );
    assert_eq!(out.status, Status::TimedOut, "{out:?}");
    assert_eq!(out.stdout.text(), "start\n");
    assert_healthy(&pool);
}

#[test]
fn c_level_loop_times_out() {
    let pool = pool();
    let out = run_with(&pool, "sum(range(10**12))", short(300));
    assert_eq!(out.status, Status::TimedOut, "{out:?}");
    assert_healthy(&pool);
}

#[test]
fn channel_keeps_what_a_killed_run_wrote() {
    let pool = pool();
    let out = run_with(
        &pool,
        "import os, time\nos.write(3, b'step 1\\n')\ntime.sleep(60)\n",
        short(300),
    );
    assert_eq!(out.status, Status::TimedOut);
    assert_eq!(out.channel.text(), "step 1\n");
}

#[test]
fn memory_bomb_is_a_memory_error() {
    let pool = pool();
    let limits = Limits {
        address_space: Some(1 << 30),
        ..Limits::default()
    };
    let out = run_with(&pool, "x = bytearray(10**10)", limits);
    assert_eq!(out.status, Status::Exited(1), "{out:?}");
    assert!(out.stderr.text().contains("MemoryError"), "{out:?}");
    assert_healthy(&pool);
}

#[test]
fn flood_of_stdout_is_capped_and_drained() {
    let pool = pool();
    let limits = Limits {
        wall_time: Duration::from_millis(500),
        output_bytes: 100_000,
        ..Limits::default()
    };
    let out = run_with(
        &pool,
        "import sys\nwhile True:\n    sys.stdout.write('x' * 65536)\n",
        limits,
    );
    assert!(
        matches!(out.status, Status::TimedOut | Status::Signaled(_)),
        "{:?}",
        out.status
    );
    assert_eq!(out.stdout.bytes.len(), 100_000);
    assert!(out.stdout.total > 100_000);
    assert!(out.stdout.truncated());
    assert!(out.stdout.bytes.iter().all(|&b| b == b'x'));
    assert_healthy(&pool);
}

#[test]
fn stderr_and_channel_are_capped_too() {
    let pool = pool();
    let limits = Limits {
        output_bytes: 10,
        channel_bytes: 5,
        ..Limits::default()
    };
    let out = run_with(
        &pool,
        "import os, sys\nsys.stderr.write('e' * 1000)\nos.write(3, b'c' * 1000)\n",
        limits,
    );
    assert_eq!(out.status, Status::Exited(0));
    assert_eq!(out.stderr.bytes, b"eeeeeeeeee");
    assert_eq!(out.stderr.total, 1000);
    assert_eq!(out.channel.bytes, b"ccccc");
    assert_eq!(out.channel.total, 1000);
}

#[test]
fn killing_the_worker_is_survived() {
    // Without privilege dropping the program can kill its parent, the zygote.
    let pool = PoolBuilder::new(EXEC)
        .isolation(Isolation::none())
        .build()
        .unwrap();
    let out = run(
        &pool,
        "import os, time\nos.write(3, str(os.getpid()).encode())\nos.kill(os.getppid(), 9)\ntime.sleep(30)\n",
    );
    assert_eq!(out.status, Status::WorkerLost, "{out:?}");
    // The orphaned child was killed; init reaps it in its own time.
    let child: u32 = out.channel.text().parse().unwrap();
    let gone = (0..200).any(|_| {
        std::thread::sleep(Duration::from_millis(10));
        !is_alive(child)
    });
    assert!(
        gone,
        "the orphaned job {child} is still alive: {:?}",
        std::fs::read_to_string(format!("/proc/{child}/status")).map(|s| s
            .lines()
            .take(8)
            .collect::<Vec<_>>()
            .join(" / "))
    );
    assert_healthy(&pool);
    assert_healthy(&pool);
}

#[test]
fn killing_the_worker_is_refused_or_survived_by_default() {
    let pool = pool();
    let out = run(&pool, "import os\nos.kill(os.getppid(), 9)\n");
    if pool.job_uids().is_empty() {
        assert_eq!(out.status, Status::WorkerLost, "{out:?}");
    } else {
        // As an unprivileged uid the program may not signal the root zygote.
        assert_eq!(out.status, Status::Exited(1), "{out:?}");
        assert!(out.stderr.text().contains("PermissionError"), "{out:?}");
    }
    assert_healthy(&pool);
}

#[test]
fn fork_bomb_is_contained() {
    let pool = pool();
    let [uid] = pool.job_uids() else {
        eprintln!("skipped: jobs do not run as an unprivileged uid here (not root?)");
        return;
    };
    // Only ever runs as that uid, whose RLIMIT_NPROC caps the bomb.
    let bomb = format!(
        "import os\nassert os.getuid() == {uid}\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    );
    let out = run_with(&pool, &bomb, short(500));
    assert!(
        matches!(out.status, Status::TimedOut | Status::Exited(_)),
        "{out:?}"
    );
    assert_eq!(processes_of(*uid), Vec::<u32>::new());
    assert_healthy(&pool);
    assert_eq!(processes_of(*uid), Vec::<u32>::new());
}

const DAEMON: &str = r#"
import os, sys, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.write(3, str(os.getpid()).encode())
        time.sleep(60)
    os._exit(0)
os.wait()
time.sleep(0.2)
print('parent done')
"#;

#[test]
fn double_forked_daemon_dies_with_the_job() {
    let pool = pool();
    let out = run(&pool, DAEMON);
    assert_eq!(out.status, Status::Exited(0), "{out:?}");
    assert_eq!(out.stdout.text(), "parent done\n");
    let daemon: u32 = out.channel.text().parse().expect("the daemon's pid");
    assert!(!is_alive(daemon), "daemon {daemon} outlived its job");
    for uid in pool.job_uids() {
        assert_eq!(processes_of(*uid), Vec::<u32>::new());
    }
    assert_healthy(&pool);
}

#[test]
fn double_forked_daemon_dies_without_privilege_dropping() {
    let pool = PoolBuilder::new(EXEC)
        .isolation(Isolation::none())
        .build()
        .unwrap();
    let out = run(&pool, DAEMON);
    assert_eq!(out.status, Status::Exited(0), "{out:?}");
    let daemon: u32 = out.channel.text().parse().expect("the daemon's pid");
    assert!(!is_alive(daemon), "daemon {daemon} outlived its job");
}

#[test]
fn unprivileged_job_can_import_but_not_write_its_cwd() {
    let pool = pool();
    let out = run(
        &pool,
        r#"
import os, json, fractions, decimal, statistics
print(os.listdir('.'))
try:
    open('x.txt', 'w')
    print('wrote')
except PermissionError:
    print('refused')
"#,
    );
    assert_eq!(out.status, Status::Exited(0), "{out:?}");
    let text = out.stdout.text();
    assert!(text.starts_with("[]\n"), "{text}");
    if !pool.job_uids().is_empty() {
        assert!(text.ends_with("refused\n"), "{text}");
    }
}

#[test]
fn hash_seed_from_env_reaches_the_program() {
    let hash_of_a = |seed: &str| {
        let pool = PoolBuilder::new(EXEC)
            .env("PYTHONHASHSEED", seed)
            .build()
            .unwrap();
        let out = run(&pool, "print(hash('a'))");
        assert_eq!(out.status, Status::Exited(0), "{out:?}");
        out.stdout.text().into_owned()
    };
    let first = hash_of_a("0");
    assert_eq!(first, hash_of_a("0"));
    assert_ne!(first, hash_of_a("1"));
}

#[test]
fn preload_and_harness_state_are_shared_by_forks() {
    let pool = PoolBuilder::new(
        "import os\nCOUNT = 0\ndef main(payload):\n    global COUNT\n    COUNT += 1\n    os.write(3, str(COUNT).encode())\n",
    )
    .preload(&["json", "collections"])
    .build()
    .unwrap();
    for _ in 0..3 {
        // Every job starts from the zygote's state, not the previous job's.
        assert_eq!(pool.run(&Job::new(b"")).unwrap().channel.text(), "1");
    }
}

#[test]
fn many_jobs_from_many_threads() {
    let pool = PoolBuilder::new(EXEC).workers(2).build().unwrap();
    assert_eq!(pool.workers(), 2);
    std::thread::scope(|s| {
        for t in 0..4 {
            let pool = &pool;
            s.spawn(move || {
                for i in 0..25 {
                    let out = run(pool, &format!("print({t} * 1000 + {i})"));
                    assert_eq!(out.status, Status::Exited(0), "{out:?}");
                    assert_eq!(out.stdout.text(), format!("{}\n", t * 1000 + i));
                }
            });
        }
    });
}

#[test]
fn missing_interpreter_says_how_to_choose_another() {
    let err = PoolBuilder::new(EXEC)
        .python("/nope/python3")
        .build()
        .unwrap_err();
    assert!(
        matches!(&err, SandboxError::InterpreterNotFound { path, .. } if path.as_os_str() == "/nope/python3"),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(message.contains("/nope/python3"), "{message}");
    assert!(message.contains("--python PATH"), "{message}");
    assert!(message.contains("NXT_PYTHON"), "{message}");
}

#[test]
fn harness_that_raises_fails_the_build() {
    let err = PoolBuilder::new("print('loading')\nraise ValueError('bad harness')\n")
        .build()
        .unwrap_err();
    match err {
        SandboxError::HarnessFailed { stderr } => {
            assert!(stderr.contains("ValueError: bad harness"), "{stderr}");
        }
        other => panic!("{other:?}"),
    }
    let err = PoolBuilder::new("x = 1\n").build().unwrap_err();
    assert!(
        matches!(&err, SandboxError::HarnessFailed { stderr } if stderr.contains("main")),
        "{err:?}"
    );
    let err = PoolBuilder::new(EXEC)
        .preload(&["no_such_module_nxt"])
        .build()
        .unwrap_err();
    assert!(matches!(err, SandboxError::HarnessFailed { .. }), "{err:?}");
}

#[test]
fn not_a_python_fails_the_build() {
    let err = PoolBuilder::new(EXEC)
        .python("/bin/false")
        .build()
        .unwrap_err();
    assert!(matches!(err, SandboxError::StartFailed { .. }), "{err:?}");
}

#[test]
fn dropping_the_pool_reaps_the_workers() {
    let pool = PoolBuilder::new(
        "import os\ndef main(payload):\n    os.write(3, str(os.getppid()).encode())\n",
    )
    .workers(2)
    .build()
    .unwrap();
    let zygote: u32 = pool
        .run(&Job::new(b""))
        .unwrap()
        .channel
        .text()
        .parse()
        .unwrap();
    assert!(is_alive(zygote));
    let uids = pool.job_uids().to_vec();
    drop(pool);
    assert!(!is_alive(zygote), "zygote {zygote} survived its pool");
    for uid in uids {
        assert_eq!(processes_of(uid), Vec::<u32>::new());
    }
}

#[test]
fn environment_is_filtered_unless_inherited() {
    // cargo sets CARGO_MANIFEST_DIR for test processes; it must not reach jobs.
    assert!(std::env::var_os("CARGO_MANIFEST_DIR").is_some());
    let probe = "import os\nprint('CARGO_MANIFEST_DIR' in os.environ, os.environ.get('NXT_TEST_VAR'), 'PATH' in os.environ)";
    let pool = PoolBuilder::new(EXEC)
        .env("NXT_TEST_VAR", "yes")
        .build()
        .unwrap();
    assert_eq!(run(&pool, probe).stdout.text(), "False yes True\n");
    let mut isolation = Isolation::default();
    isolation.inherit_env = true;
    let pool = PoolBuilder::new(EXEC).isolation(isolation).build().unwrap();
    assert_eq!(run(&pool, probe).stdout.text(), "True None True\n");
}

#[test]
fn uid_range_must_fit() {
    let mut isolation = Isolation::default();
    isolation.uid_base = u32::MAX - 10;
    let result = PoolBuilder::new(EXEC).isolation(isolation).build();
    if runs_as_root() {
        assert!(
            matches!(result, Err(SandboxError::Isolation(_))),
            "{result:?}"
        );
    }
}

fn runs_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"))
}
