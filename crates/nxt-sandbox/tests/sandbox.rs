//! The sandbox through its public API, against the `python3` on `PATH`.
//!
//! No test asserts a timing: limits are asserted through statuses only.

use std::time::Duration;

use nxt_sandbox::{
    Isolation, Job, Limits, Measure, Outcome, Pool, PoolBuilder, SandboxError, Status,
};

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
    // Sizes around the worker's receive buffer (16 KiB, with an 81-byte header), one
    // job after another on the same worker.
    let pool = PoolBuilder::new(
        "import os, zlib\ndef main(payload):\n    os.write(3, b'%d %d' % (len(payload), zlib.crc32(payload)))\n",
    )
    .build()
    .unwrap();
    for size in [0, 1, 16302, 16303, 16304, 16384, 16385, 65536, 70001] {
        let payload: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
        let out = pool.run(&Job::new(&payload)).unwrap();
        let crc = {
            // CRC-32 (IEEE), as zlib.crc32.
            let mut crc = !0u32;
            for &b in &payload {
                crc ^= u32::from(b);
                for _ in 0..8 {
                    crc = if crc & 1 != 0 {
                        (crc >> 1) ^ 0xEDB8_8320
                    } else {
                        crc >> 1
                    };
                }
            }
            !crc
        };
        assert_eq!(out.channel.text(), format!("{size} {crc}"), "{out:?}");
    }
}

#[test]
fn uncaught_exceptions_print_as_in_a_plain_script() {
    let pool = PoolBuilder::new(
        "def main(payload):\n    exec(compile(payload, '<string>', 'exec'), {'__name__': '__main__'})\n",
    )
    .build()
    .unwrap();
    let src = "def f(d):\n    return d['k'] + 1\ntry:\n    f({})\nexcept KeyError as e:\n    raise ValueError('bad ' + str(1)) from e\n";
    let out = run(&pool, src);
    assert_eq!(out.status, Status::Exited(1), "{out:?}");
    let plain = std::process::Command::new("python3")
        .args(["-c", src])
        .output()
        .unwrap();
    // The same but for the harness's own frame; the zygote's is left out.
    let job: String = out
        .stderr
        .text()
        .lines()
        .filter(|l| !l.contains("<harness>"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(job, String::from_utf8_lossy(&plain.stderr), "{out:?}");
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

/// The CPythons 3.9+ of a pyenv installation (`$PYENV_ROOT` or `~/.pyenv`), if any:
/// on a machine without one, only the default interpreter is checked.
fn other_pythons() -> Vec<std::path::PathBuf> {
    let root = std::env::var_os("PYENV_ROOT")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".pyenv")));
    let Some(Ok(dirs)) = root.map(|r| std::fs::read_dir(r.join("versions"))) else {
        return Vec::new();
    };
    let mut found: Vec<std::path::PathBuf> = dirs
        .flatten()
        .filter(|d| {
            let name = d.file_name().to_string_lossy().into_owned();
            let mut parts = name.split('.').map(|p| p.parse::<u32>().ok());
            matches!((parts.next(), parts.next()), (Some(Some(3)), Some(Some(minor))) if minor >= 9)
        })
        .map(|d| d.path().join("bin").join("python3"))
        .filter(|p| p.is_file())
        .collect();
    found.sort();
    found
}

#[test]
fn every_supported_cpython_gives_jobs_clean_fds_and_a_fresh_session() {
    // Before 3.10, os.closerange closes fd by fd; the zygote uses close_range(2)
    // there. Each version must give a job the same process as the default one does.
    // The default interpreter always, and every other one found.
    let mut pythons = vec![nxt_sandbox::default_python()];
    pythons.extend(other_pythons());
    for python in pythons {
        let pool = PoolBuilder::new(EXEC)
            .python(&python)
            .build()
            .unwrap_or_else(|e| panic!("{}: {e}", python.display()));
        let out = run(
            &pool,
            "import os\nprint(os.getsid(0) == os.getpid(), sorted(int(fd) for fd in os.listdir('/proc/self/fd')))",
        );
        assert_eq!(
            out.status,
            Status::Exited(0),
            "{}: {out:?}",
            python.display()
        );
        assert_eq!(
            out.stdout.text(),
            "True [0, 1, 2, 3, 4]\n",
            "{}",
            python.display()
        );
        println!("{}: {}", python.display(), pool.interpreter());
    }
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
fn stdout_and_stderr_keep_their_end_the_channel_its_start() {
    let pool = pool();
    // 3 MiB of numbered lines on stdout (in writes of many sizes), a traceback's worth
    // on stderr after 2 MiB of noise, and a channel over its cap.
    let src = r#"
import os, sys
n = 0
written = 0
while written < 3 << 20:
    line = '%08d %s\n' % (n, 'y' * (n % 97))
    sys.stdout.write(line)
    written += len(line)
    n += 1
print('last line %d' % n)
sys.stdout.flush()
os.write(2, b'z' * (2 << 20))
os.write(3, b'first' + b'c' * 1000 + b'after the cap')
raise ValueError('the end of stderr')
"#;
    let limits = Limits {
        wall_time: Duration::from_secs(30),
        channel_bytes: 100,
        ..Limits::default()
    };
    let out = run_with(&pool, src, limits);
    assert_eq!(out.status, Status::Exited(1), "{out:?}");
    let cap = Limits::default().output_bytes;
    assert!(out.stdout.total > 3 << 20, "{}", out.stdout.total);
    assert_eq!(out.stdout.bytes.len(), cap);
    assert!(out.stdout.truncated());
    let text = out.stdout.text();
    let last = text.lines().last().unwrap();
    assert!(last.starts_with("last line "), "{last}");
    let n: usize = last["last line ".len()..].parse().unwrap();
    // The kept lines are consecutive up to the last one written.
    let numbered: Vec<usize> = text
        .lines()
        .skip(1) // may be cut
        .filter_map(|l| l.split(' ').next()?.parse().ok())
        .collect();
    assert!(numbered.len() > 1000, "{}", numbered.len());
    assert_eq!(*numbered.last().unwrap(), n - 1);
    assert!(numbered.windows(2).all(|w| w[1] == w[0] + 1));
    assert!(numbered[0] > 0, "the start was kept");
    assert!(
        out.stderr
            .text()
            .ends_with("ValueError: the end of stderr\n"),
        "{out:?}"
    );
    assert_eq!(out.stderr.bytes.len(), cap);
    assert!(out.stderr.total > 2 << 20);
    assert_eq!(out.channel.total, 1018);
    assert_eq!(&out.channel.bytes[..5], b"first");
    assert_eq!(out.channel.bytes.len(), 100);
}

/// What a program could notice of how its interpreter was started.
const STARTUP_PROBE: &str = r#"
import builtins, json, os, sys
print(json.dumps({
    'flags': repr(sys.flags),
    'path': sys.path,
    'builtins': sorted(n for n in dir(builtins) if n in ('exit', 'quit', 'help', 'copyright', 'credits', 'license')),
    'site': 'site' in sys.modules,
    'bind_now': 'LD_BIND_NOW' in os.environ,
    'pth_ran': os.environ.get('NXT_PTH_RAN'),
}))
"#;

#[test]
fn jobs_see_an_interpreter_started_as_a_plain_one() {
    let mut isolation = Isolation::default();
    isolation.inherit_env = true;
    let pool = PoolBuilder::new(EXEC).isolation(isolation).build().unwrap();
    let out = run(&pool, STARTUP_PROBE);
    assert_eq!(out.status, Status::Exited(0), "{out:?}");
    let job: serde_json::Value = serde_json::from_str(&out.stdout.text()).unwrap();
    let plain = std::process::Command::new("python3")
        .args(["-c", STARTUP_PROBE])
        .env_remove("LD_BIND_NOW")
        .output()
        .unwrap();
    let plain: serde_json::Value = serde_json::from_slice(&plain.stdout).unwrap();
    // The same flags (no_site 0 included), sys.path, site's builtins; the worker's
    // start-up variable is gone. Only `.pth` files' import lines were not run (see
    // below): on this machine they set no variable.
    assert_eq!(job["flags"], plain["flags"]);
    assert_eq!(job["path"], plain["path"]);
    assert_eq!(job["builtins"], plain["builtins"]);
    assert_eq!(job["site"], true);
    assert_eq!(job["bind_now"], false);
}

#[test]
fn pth_files_import_lines_run_only_when_asked() {
    // A user site with a .pth file: a directory line and an import line.
    let base = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("nxt-user-base");
    let user_site = std::process::Command::new("python3")
        .args(["-c", "import site; print(site.getusersitepackages())"])
        .env("PYTHONUSERBASE", &base)
        .output()
        .unwrap();
    let user_site = std::path::PathBuf::from(String::from_utf8(user_site.stdout).unwrap().trim());
    std::fs::create_dir_all(user_site.join("extra_dir")).unwrap();
    std::fs::write(
        user_site.join("nxt_test.pth"),
        "extra_dir\nimport os; os.environ['NXT_PTH_RAN'] = '1'\n",
    )
    .unwrap();
    let extra = user_site.join("extra_dir").to_string_lossy().into_owned();
    for on in [false, true] {
        let pool = PoolBuilder::new(EXEC)
            .env("PYTHONUSERBASE", base.to_string_lossy())
            .pth_imports(on)
            .build()
            .unwrap();
        let out = run(&pool, STARTUP_PROBE);
        assert_eq!(out.status, Status::Exited(0), "{out:?}");
        let job: serde_json::Value = serde_json::from_str(&out.stdout.text()).unwrap();
        let path: Vec<&str> = job["path"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap())
            .collect();
        assert!(path.contains(&extra.as_str()), "{path:?}");
        assert!(path.contains(&user_site.to_str().unwrap()), "{path:?}");
        let ran = if on {
            serde_json::json!("1")
        } else {
            serde_json::Value::Null
        };
        assert_eq!(job["pth_ran"], ran, "pth_imports({on})");
    }
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
fn each_job_gets_a_fresh_working_directory_removed_after_it() {
    let pool = pool();
    let probe = r#"
import os, json, fractions, decimal, statistics
cwd = os.getcwd()
st = os.stat(cwd)
before = os.listdir('.')
with open('x.txt', 'w') as f:
    f.write('hello')
os.mkdir('sub')
open('sub/y', 'w').close()
os.chmod('sub', 0)  # removed all the same
print(json.dumps({'cwd': cwd, 'uid': st.st_uid, 'mode': st.st_mode & 0o777,
                  'before': before, 'me': os.getuid()}))
"#;
    let first = run(&pool, probe);
    assert_eq!(first.status, Status::Exited(0), "{first:?}");
    let first: serde_json::Value = serde_json::from_str(&first.stdout.text()).unwrap();
    assert_eq!(first["before"], serde_json::json!([]));
    assert_eq!(first["mode"], 0o700);
    assert_eq!(first["uid"], first["me"], "the job owns its directory");
    let second = run(&pool, probe);
    assert_eq!(second.status, Status::Exited(0), "{second:?}");
    let second: serde_json::Value = serde_json::from_str(&second.stdout.text()).unwrap();
    assert_ne!(first["cwd"], second["cwd"]);
    assert_eq!(second["before"], serde_json::json!([]));
    // Gone, seen from the next job (the private /tmp is only visible from inside)...
    let gone = run(
        &pool,
        &format!("import os\nprint(os.path.exists({}))", first["cwd"]),
    );
    assert_eq!(gone.stdout.text(), "False\n", "{gone:?}");
    // ... and from here.
    let cwd = first["cwd"].as_str().unwrap();
    if !pool.isolation_report().tmp.is_active() {
        assert!(!std::path::Path::new(cwd).exists(), "{cwd} was left behind");
    }
}

#[test]
fn private_tmp_is_emptied_after_each_job() {
    let pool = pool();
    if !pool.isolation_report().tmp.is_active() {
        eprintln!(
            "skipped: no private /tmp here: {}",
            pool.isolation_report().tmp
        );
        return;
    }
    let marker = format!("nxt-sandbox-test-{}", std::process::id());
    let out = run(
        &pool,
        &format!(
            r#"
import os
for d in ('/tmp', '/var/tmp', '/dev/shm'):
    if os.path.isdir(d):
        with open(os.path.join(d, '{marker}'), 'w') as f:
            f.write('x' * 1000)
os.makedirs('/tmp/{marker}.d/a/b')
os.chmod('/tmp/{marker}.d', 0)
print(sorted(os.listdir('/tmp')))
"#
        ),
    );
    assert_eq!(out.status, Status::Exited(0), "{out:?}");
    assert!(out.stdout.text().contains(&marker), "{out:?}");
    assert!(!std::path::Path::new("/tmp").join(&marker).exists());
    let out = run(
        &pool,
        "import os\nprint(sorted(os.listdir('/tmp')) == [os.path.basename(os.getcwd())], os.listdir('/var/tmp') == os.listdir('/tmp'))",
    );
    assert_eq!(out.stdout.text(), "True True\n", "{out:?}");
}

#[test]
fn isolation_report_says_what_is_in_force() {
    let pool = pool();
    let report = pool.isolation_report().clone();
    let keys: Vec<&str> = report.pairs().iter().map(|(k, _)| *k).collect();
    assert_eq!(
        keys,
        ["user", "network", "tmp", "ipc", "workdir", "subreaper"]
    );
    assert!(report.workdir.is_active());
    for (key, value) in report.pairs() {
        assert!(!value.is_empty(), "{key}");
    }
    if runs_as_root() {
        // What these machines give (docs/sandbox.md).
        assert!(report.user.is_active(), "{report:?}");
        assert!(report.network.is_active(), "{report:?}");
        assert!(report.tmp.is_active(), "{report:?}");
        assert!(report.ipc.is_active(), "{report:?}");
    } else {
        assert!(!report.user.is_active(), "{report:?}");
    }
    let pool = PoolBuilder::new(EXEC)
        .isolation(Isolation::none())
        .build()
        .unwrap();
    let report = pool.isolation_report();
    assert_eq!(report.user, Measure::Off);
    assert_eq!(report.network, Measure::Off);
    assert_eq!(report.tmp, Measure::Off);
    assert_eq!(report.ipc, Measure::Off);
    assert_eq!(report.network.to_string(), "off");
    assert!(report.workdir.is_active());
    // A job still gets a fresh directory of its own.
    let out = run(pool_ref(&pool), "import os\nprint(os.listdir('.'))");
    assert_eq!(out.stdout.text(), "[]\n", "{out:?}");
}

#[test]
fn isolation_report_pairs_are_short_codes_and_details_explain_them() {
    let pool = pool();
    let report = pool.isolation_report();
    let pairs = report.pairs();
    let details = report.details();
    let names = |v: &[(&'static str, String)]| v.iter().map(|(k, _)| *k).collect::<Vec<_>>();
    assert_eq!(names(&pairs), names(&details));
    // Short, one word each: cheap to copy into every result.
    let bytes: usize = pairs.iter().map(|(k, v)| k.len() + v.len()).sum();
    assert!(bytes < 120, "{pairs:?}");
    for ((_, code), (name, detail)) in pairs.iter().zip(&details) {
        assert!(!code.is_empty() && !code.contains(' '), "{name}: {code:?}");
        assert!(detail.len() > code.len(), "{name}: {detail:?}");
        let measure = match *name {
            "user" => &report.user,
            "network" => &report.network,
            "tmp" => &report.tmp,
            "ipc" => &report.ipc,
            "workdir" => &report.workdir,
            _ => &report.subreaper,
        };
        assert_eq!(*detail, measure.to_string());
        match measure {
            Measure::Active(_) => assert!(!code.starts_with("unavailable") && code != "off"),
            Measure::Off => assert_eq!(code, "off"),
            _ => assert!(code.starts_with("unavailable:"), "{code}"),
        }
    }
    if runs_as_root() {
        // What these machines give (docs/sandbox.md).
        let expected = [
            ("user", "uid"),
            ("network", "netns"),
            ("tmp", "tmpfs"),
            ("ipc", "ipcns"),
            ("workdir", "fresh-in-private-tmp"),
            ("subreaper", "subreaper"),
        ];
        let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        assert_eq!(pairs, expected);
    }
    let pool = PoolBuilder::new(EXEC)
        .isolation(Isolation::none())
        .build()
        .unwrap();
    let pairs = pool.isolation_report().pairs();
    let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(
        pairs,
        [
            ("user", "off"),
            ("network", "off"),
            ("tmp", "off"),
            ("ipc", "off"),
            ("workdir", "fresh-in-pool-dir"),
            ("subreaper", "subreaper"),
        ]
    );
}

fn pool_ref(pool: &Pool) -> &Pool {
    pool
}

#[test]
fn no_network_where_a_namespace_is_possible() {
    let pool = pool();
    let report = pool.isolation_report();
    if !report.network.is_active() {
        eprintln!("skipped: {}", report.network);
        return;
    }
    let out = run(
        &pool,
        r#"
import socket
print([name for _, name in socket.if_nameindex()])
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.settimeout(5)
try:
    s.connect(('1.1.1.1', 53))
    print('connected')
except OSError as e:
    print(type(e).__name__, e.errno)
"#,
    );
    assert_eq!(out.status, Status::Exited(0), "{out:?}");
    let text = out.stdout.text();
    assert!(text.starts_with("['lo']\n"), "{text}");
    assert!(text.contains("OSError 101"), "ENETUNREACH expected: {text}");
}

#[test]
fn system_v_ipc_is_refused() {
    let pool = pool();
    if !pool.isolation_report().ipc.is_active() || !pool.isolation_report().user.is_active() {
        eprintln!("skipped: {}", pool.isolation_report().ipc);
        return;
    }
    let out = run(
        &pool,
        r#"
import ctypes, resource
libc = ctypes.CDLL(None, use_errno=True)
print(libc.shmget(0, 4096, 0o1666), ctypes.get_errno())
print(resource.getrlimit(resource.RLIMIT_MSGQUEUE))
"#,
    );
    assert_eq!(out.stdout.text(), "-1 28\n(0, 0)\n", "{out:?}");
}

#[test]
fn rlimits_of_a_job() {
    let pool = pool();
    let limits = Limits {
        open_files: Some(100),
        file_size: Some(1 << 20),
        cpu_time: Some(Duration::from_millis(2500)),
        address_space: Some(1 << 30),
        ..Limits::default()
    };
    let out = run_with(
        &pool,
        r#"
import resource, os
for r in ('AS', 'CPU', 'NOFILE', 'FSIZE', 'CORE'):
    print(r, resource.getrlimit(getattr(resource, 'RLIMIT_' + r)))
fds = []
try:
    for _ in range(200):
        fds.append(os.open('/dev/null', os.O_RDONLY))
except OSError as e:
    print('open', e.errno, len(fds) < 100)
for fd in fds:
    os.close(fd)
try:
    with open('big', 'wb') as f:
        f.write(b'x' * (2 << 20))
except OSError as e:
    print('write', e.errno)
print('size', os.path.getsize('big'))
"#,
        limits,
    );
    assert_eq!(out.status, Status::Exited(0), "{out:?}");
    assert_eq!(
        out.stdout.text(),
        format!(
            "AS ({0}, {0})\nCPU (3, 4)\nNOFILE (100, 100)\nFSIZE ({1}, {1})\nCORE (0, 0)\n\
             open 24 True\nwrite 27\nsize {1}\n",
            1u64 << 30,
            1u64 << 20
        ),
        "{out:?}"
    );
    // The defaults.
    let d = Limits::default();
    assert_eq!(d.cpu_seconds(), 3);
    assert_eq!(short(300).cpu_seconds(), 2);
    assert_eq!(d.open_files, Some(1024));
    assert_eq!(d.file_size, Some(64 << 20));
    assert_eq!(d.processes, None);
}

#[test]
fn cpu_time_limit_ends_the_job_with_sigxcpu() {
    let pool = PoolBuilder::new(EXEC).workers(2).build().unwrap();
    let limits = Limits {
        wall_time: Duration::from_secs(20),
        cpu_time: Some(Duration::from_secs(1)),
        ..Limits::default()
    };
    std::thread::scope(|s| {
        let plain = s.spawn(|| run_with(&pool, "while True:\n    pass\n", limits));
        // Ignores SIGXCPU: the kernel's SIGKILL at the hard limit (1 s later) ends it,
        // reported the same way. Two threads burn the two seconds in about one.
        let stubborn = s.spawn(|| {
            run_with(
                &pool,
                r#"
import signal, threading
signal.signal(signal.SIGXCPU, signal.SIG_IGN)
def burn():
    while True:
        pass
threading.Thread(target=burn, daemon=True).start()
burn()
"#,
                limits,
            )
        });
        for out in [plain.join().unwrap(), stubborn.join().unwrap()] {
            assert_eq!(out.status, Status::Signaled(24), "{out:?}");
            assert!(out.status.cpu_time_exceeded());
            // (How much CPU time wait4 reports then varies: no threshold here.)
            assert!(out.cpu_time.is_some(), "{out:?}");
        }
    });
    assert_healthy(&pool);
    let out = run(&pool, "print(1)");
    assert_eq!(out.status, Status::Exited(0), "{out:?}");
    assert!(out.cpu_time.is_some(), "{out:?}");
}

#[test]
fn per_job_process_limit() {
    let pool = pool();
    if pool.job_uids().is_empty() {
        eprintln!("skipped: jobs do not run as an unprivileged uid here (not root?)");
        return;
    }
    let limits = Limits {
        processes: Some(4),
        ..Limits::default()
    };
    let out = run_with(
        &pool,
        r#"
import os, time, resource
print(resource.getrlimit(resource.RLIMIT_NPROC))
n = 0
for _ in range(10):
    try:
        if os.fork() == 0:
            time.sleep(30)
            os._exit(0)
        n += 1
    except BlockingIOError:
        break
print(n)
"#,
        limits,
    );
    assert_eq!(out.status, Status::Exited(0), "{out:?}");
    assert_eq!(out.stdout.text(), "(4, 4)\n3\n", "{out:?}");
    assert_eq!(processes_of(pool.job_uids()[0]), Vec::<u32>::new());
}

#[test]
fn a_harness_that_asks_for_the_secret_gets_it() {
    let pool = PoolBuilder::new(
        "import os\ndef main(payload, secret):\n    exec(payload, {})\n    os.write(3, f'\\n{secret} passed\\n'.encode())\n",
    )
    .build()
    .unwrap();
    let out = pool
        .run(&Job::new(
            b"import os\nos.write(3, b'0123 passed\\nforged passed\\n')",
        ))
        .unwrap();
    assert_eq!(out.status, Status::Exited(0), "{out:?}");
    assert_eq!(out.secret.len(), 32);
    assert!(out.secret.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(out.tagged_lines(), vec![&b"passed"[..]], "{out:?}");
    // A program that ends the process before the harness's verdict leaves none.
    let out = pool.run(&Job::new(b"import os\nos._exit(0)")).unwrap();
    assert_eq!(out.status, Status::Exited(0));
    assert!(out.tagged_lines().is_empty(), "{out:?}");
    // Every job has its own.
    let again = pool.run(&Job::new(b"")).unwrap();
    assert_ne!(again.secret, out.secret);
    // Harnesses without such a parameter are called as before, extra ones included.
    let pool = PoolBuilder::new(
        "import os\ndef main(payload, fd=3):\n    os.write(fd, repr(payload).encode())\n",
    )
    .build()
    .unwrap();
    let out = pool.run(&Job::new(b"x")).unwrap();
    assert_eq!(out.channel.text(), "b'x'", "{out:?}");
    assert!(out.tagged_lines().is_empty());
}

#[test]
fn the_worker_keeps_no_payload_or_secret_under_a_name() {
    // The harness looks where a program could, by name: the globals of the frame
    // that calls main (the worker's), and what they hold one level down.
    let harness = r#"
import os, sys
_write = os.write
def main(payload, secret):
    caller = sys._getframe(1)
    found = []
    for name, value in list(caller.f_globals.items()) + list(caller.f_locals.items()):
        values = [value]
        if isinstance(value, (list, tuple, set, frozenset)):
            values += list(value)
        elif isinstance(value, dict) and name not in ('__builtins__',):
            values += list(value.keys()) + list(value.values())
        for v in values:
            if isinstance(v, str):
                v = v.encode('utf-8', 'replace')
            if isinstance(v, memoryview):
                v = v.tobytes()
            if isinstance(v, (bytes, bytearray)) and (secret.encode() in v or b'PAYLOAD' + b'-MARK' in v):
                found.append(name)
    _write(3, repr(sorted(set(found))).encode())
"#;
    let pool = PoolBuilder::new(harness).workers(1).build().unwrap();
    for _ in 0..3 {
        let out = pool.run(&Job::new(b"PAYLOAD-MARK 12345")).unwrap();
        assert_eq!(out.status, Status::Exited(0), "{out:?}");
        assert_eq!(out.channel.text(), "[]", "{out:?}");
    }
}

#[test]
fn no_core_file_and_no_leftovers_after_a_crash() {
    let pool = pool();
    let out = run(
        &pool,
        "import ctypes, os\nos.write(3, os.getcwd().encode())\nctypes.string_at(0)\n",
    );
    assert_eq!(out.status, Status::Signaled(11), "{out:?}");
    let cwd = out.channel.text().into_owned();
    let out = run(&pool, &format!("import os\nprint(os.path.exists({cwd:?}))"));
    assert_eq!(out.stdout.text(), "False\n", "{out:?}");
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

#[test]
fn jobs_hold_no_capabilities() {
    // As root the uid drop clears them; without root the worker's user namespace
    // gives it capabilities that jobs must not keep (they could undo the mounts).
    let pool = pool();
    if runs_as_root() && pool.job_uids().is_empty() {
        return;
    }
    let out = run(
        &pool,
        r#"
import ctypes, os
caps = {l.split(':')[0]: l.split()[1] for l in open('/proc/self/status') if l.startswith('Cap')}
print(caps['CapEff'], caps['CapPrm'])
libc = ctypes.CDLL(None, use_errno=True)
print(libc.umount2(b'/tmp', 2), ctypes.get_errno())
print(libc.unshare(0x00020000), ctypes.get_errno())
"#,
    );
    assert_eq!(out.status, Status::Exited(0), "{out:?}");
    assert_eq!(
        out.stdout.text(),
        "0000000000000000 0000000000000000\n-1 1\n-1 1\n",
        "{out:?}"
    );
}

#[test]
fn working_directory_outside_a_private_tmp_is_removed_whatever_it_holds() {
    let mut isolation = Isolation::default();
    isolation.private_tmp = false;
    let pool = PoolBuilder::new(EXEC).isolation(isolation).build().unwrap();
    assert_eq!(pool.isolation_report().tmp, Measure::Off);
    // On the machine's disk, shared with others: no tight time limit.
    let out = run_with(
        &pool,
        r#"
import os
cwd = os.getcwd()
print(cwd)
os.makedirs('locked/inner')
open('locked/inner/f', 'w').close()
os.chmod('locked/inner', 0)
os.chmod('locked', 0)
# Deeper than Python's recursion limit, for a recursive remover.
for _ in range(1500):
    os.mkdir('d')
    os.chdir('d')
open('bottom', 'w').close()
os.chdir(cwd)
"#,
        Limits {
            wall_time: Duration::from_secs(120),
            ..Limits::default()
        },
    );
    assert_eq!(out.status, Status::Exited(0), "{out:?}");
    let cwd = out.stdout.text().trim().to_string();
    assert!(
        !std::path::Path::new(&cwd).exists(),
        "{cwd} was left behind"
    );
    // Its parent, the pool's directory, is empty: no other job directory was left.
    let parent = std::path::Path::new(&cwd).parent().unwrap();
    assert_eq!(std::fs::read_dir(parent).unwrap().count(), 0);
    assert_healthy(&pool);
}

/// Run in a child process by `a_pool_never_dropped_leaves_no_directory`: builds a pool
/// (say, one in a `static`), tells where its directory is, and exits without
/// dropping it.
#[test]
fn helper_exits_without_dropping_a_pool() {
    if std::env::var_os("NXT_SANDBOX_EXIT_HELPER").is_none() {
        return;
    }
    let mut isolation = Isolation::default();
    isolation.private_tmp = false; // the job directory then shows the pool's
    let pool = PoolBuilder::new(EXEC)
        .isolation(isolation)
        .workers(2)
        .build()
        .unwrap();
    let out = run(&pool, "import os\nprint(os.path.dirname(os.getcwd()))");
    println!("POOL_DIR={}", out.stdout.text().trim());
    // With a private /tmp (the default) too: the pool's directory is its workers'
    // working directory.
    let pool = PoolBuilder::new(EXEC).workers(2).build().unwrap();
    let zygote = run(&pool, "import os\nprint(os.getppid())");
    let cwd = std::fs::read_link(format!("/proc/{}/cwd", zygote.stdout.text().trim())).unwrap();
    println!("POOL_DIR={}", cwd.display());
    std::process::exit(0);
}

#[test]
fn a_pool_never_dropped_leaves_no_directory() {
    let child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "helper_exits_without_dropping_a_pool",
            "--nocapture",
        ])
        .env("NXT_SANDBOX_EXIT_HELPER", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&child.stdout);
    let dirs: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("POOL_DIR="))
        .collect();
    assert_eq!(
        dirs.len(),
        2,
        "{stdout}{}",
        String::from_utf8_lossy(&child.stderr)
    );
    // Its workers see their socket close without a goodbye and exit; the last one
    // removes the directory (through an fd opened before a private /tmp hid it).
    for dir in dirs {
        assert!(dir.contains("nxt-sandbox-"), "{dir}");
        let gone = (0..500).any(|_| {
            std::thread::sleep(Duration::from_millis(20));
            !std::path::Path::new(dir).exists()
        });
        assert!(gone, "{dir} was left behind");
    }
}

/// An empty `PYTHONPATH` entry (`:/x`, `/x:`) means the current directory to
/// CPython: for a worker, the pool's private directory, which the jobs' uid cannot
/// read (the pool failed to start, "not readable by uid ..."). The sandbox drops empty
/// entries: the pool starts, the other entries stay, and jobs see neither the pool's
/// directory on `sys.path` nor the empty entries in their environment.
#[test]
fn empty_python_path_entries_are_dropped() {
    for value in [":/usr", "/usr:", "/usr::/nonexistent-nxt", "::"] {
        let pool = PoolBuilder::new(EXEC)
            .workers(1)
            .env("PYTHONPATH", value)
            .build()
            .unwrap_or_else(|e| panic!("PYTHONPATH={value:?}: {e}"));
        let out = run(
            &pool,
            "import os, sys\n\
             print(os.environ.get('PYTHONPATH'))\n\
             print([p for p in sys.path if 'nxt-sandbox-' in p])\n\
             print('/usr' in sys.path)\n",
        );
        assert_eq!(out.status, Status::Exited(0), "{value:?}: {out:?}");
        let expected = match value {
            "::" => "None\n[]\nFalse\n",
            "/usr::/nonexistent-nxt" => "/usr:/nonexistent-nxt\n[]\nTrue\n",
            _ => "/usr\n[]\nTrue\n",
        };
        assert_eq!(out.stdout.text(), expected, "PYTHONPATH={value:?}");
    }
}
