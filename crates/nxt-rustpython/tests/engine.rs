//! The engine end to end (needs `--features engine`): traces against CPython's,
//! limits and outcomes, unsupported programs, the missing-module list.
#![cfg(feature = "engine")]

use std::path::Path;
use std::time::Duration;

use nxt_core::{
    Ending, Program, Sample, Task, TraceOptions, Tracer, Verdict, Verifier, VerifyOptions,
};
use nxt_rustpython::{
    EngineError, Harness, MISSING_MODULES, RustPythonTracer, RustPythonTracerBuilder,
    RustPythonVerifierBuilder, Worker,
};
use nxt_sandbox::{ExecPoolBuilder, Job, Limits, Status};

fn worker() -> Worker {
    Worker::new(env!("CARGO_BIN_EXE_nxt-rustpython-worker"))
}

fn tracer() -> RustPythonTracer {
    RustPythonTracerBuilder::new()
        .worker(worker())
        .build()
        .unwrap()
}

fn task(code: &str, tests: &[&str]) -> (Task, Sample) {
    let task: Task = serde_json::from_value(serde_json::json!({
        "task_id": "t", "prompt": "", "code": code, "tests": tests,
    }))
    .unwrap();
    let sample = Sample::of_task(&task);
    (task, sample)
}

#[test]
fn traces_match_cpython_including_returns_yields_and_one_line_loops() {
    let source = "def f(x):\n    y = x * 2\n    return y + 1\n\n\
        def g(n):\n    for i in range(n):\n        if i == 2:\n            break\n    return i\n\n\
        def gen(n):\n    for i in range(n):\n        yield i * i\n\n\
        def h(s):\n    return [c for c in s if c != 'b']\n\n\
        s = 0\nfor i in range(3): s += i\nk = 0\nwhile k < 3: k += 1\n\
        z = f(3) + g(5)\nw = list(gen(3))\nq = h('abc')\n";
    let program = Program::new("p.py", source);
    let options = TraceOptions::default();
    let cpython = nxt_trace::CPythonTracerBuilder::new().build().unwrap();
    let want = cpython.trace(&program, &options).unwrap();
    let got = tracer().trace(&program, &options).unwrap();
    assert_eq!(got.interpreter, "RustPython 0.5.0");
    assert_eq!(got.steps, want.steps);
    assert_eq!(got.ending, Ending::Complete);
}

#[test]
fn deep_recursion_is_a_recursion_error_not_a_crash() {
    let got = tracer()
        .trace(
            &Program::new("r.py", "def f(n):\n    return f(n + 1)\n\nf(0)\n"),
            &TraceOptions {
                max_steps: 100,
                ..TraceOptions::default()
            },
        )
        .unwrap();
    assert!(
        got.exception
            .as_deref()
            .is_some_and(|e| e.starts_with("RecursionError")),
        "{:?} {:?}",
        got.exception,
        got.ending
    );
}

#[test]
fn exceptions_and_syntax_errors() {
    let t = tracer();
    let got = t
        .trace(
            &Program::new("e.py", "def f(d):\n    return d['x']\n\nf({})\n"),
            &TraceOptions::default(),
        )
        .unwrap();
    assert_eq!(got.exception.as_deref(), Some("KeyError('x')"));
    assert!(
        got.steps
            .iter()
            .all(|s| s.vars.iter().all(|v| v.name != "__return__"))
    );
    let err = t
        .trace(
            &Program::new("bad.py", "def f(:\n"),
            &TraceOptions::default(),
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            EngineError::Trace(nxt_trace::TraceError::Syntax { line: 1, .. })
        ),
        "{err}"
    );
}

#[test]
fn limits_end_runs_as_with_cpython() {
    let t = tracer();
    let options = TraceOptions {
        timeout: 0.5,
        ..TraceOptions::default()
    };
    let got = t
        .trace(
            &Program::new("loop.py", "while True:\n    pass\n"),
            &options,
        )
        .unwrap();
    assert!(
        matches!(got.ending, Ending::TimeLimit { .. }),
        "{:?}",
        got.ending
    );

    let options = TraceOptions {
        memory_limit: Some(1 << 30),
        ..TraceOptions::default()
    };
    let got = t
        .trace(&Program::new("mem.py", "x = [0] * (1 << 31)\n"), &options)
        .unwrap();
    assert_eq!(got.ending, Ending::MemoryLimit);

    let v = RustPythonVerifierBuilder::new()
        .worker(worker())
        .build()
        .unwrap();
    let opts = VerifyOptions {
        timeout: 0.5,
        ..VerifyOptions::default()
    };
    // A timeout is no verdict: RustPython is much slower than CPython.
    let (tk, s) = task("def f():\n    while True: pass\n", &["f()"]);
    let r = v.verify(&tk, &s, &opts).unwrap();
    assert_eq!(r.status, Verdict::Unsupported);
    assert_eq!(r.meta["engine_status"], "timeout");
    let reason = r.meta["reason"].as_str().unwrap();
    assert!(reason.contains("time limit"), "{reason}");
    let (tk, s) = task("import os\n", &["os.kill(os.getpid(), 9)"]);
    assert_eq!(v.verify(&tk, &s, &opts).unwrap().status, Verdict::Crashed);
    let (tk, s) = task(
        "def add(a, b):\n    return a - b\n",
        &["assert add(1, 1) == 2", "assert add(0, 0) == 0"],
    );
    let r = v.verify(&tk, &s, &VerifyOptions::default()).unwrap();
    assert_eq!(r.status, Verdict::Failed);
    assert_eq!(r.tests[0].exception.as_deref(), Some("AssertionError"));
    let (tk, s) = task(
        "def add(a, b):\n    return a + b\n",
        &["assert add(1, 1) == 2"],
    );
    let r = v.verify(&tk, &s, &VerifyOptions::default()).unwrap();
    assert_eq!(r.status, Verdict::Passed);
    assert_eq!(r.meta["engine"], "RustPython 0.5.0");
    // A program that exits before the tests never passes.
    let (tk, s) = task("import sys\nsys.exit(0)\n", &["assert True"]);
    assert_eq!(
        v.verify(&tk, &s, &VerifyOptions::default()).unwrap().status,
        Verdict::Crashed
    );
}

#[test]
fn unsupported_programs_get_no_trace_and_the_unsupported_verdict() {
    let err = tracer()
        .trace(
            &Program::new("db.py", "import sqlite3\n"),
            &TraceOptions::default(),
        )
        .unwrap_err();
    assert!(matches!(err, EngineError::Unsupported { .. }), "{err}");
    // found at run time too: an import the static check cannot see
    let v = RustPythonVerifierBuilder::new()
        .worker(worker())
        .build()
        .unwrap();
    let (tk, s) = task("m = __import__('ss' + 'l')\n", &["assert m"]);
    let r = v.verify(&tk, &s, &VerifyOptions::default()).unwrap();
    assert_eq!(r.status, Verdict::Unsupported);
    assert_eq!(r.meta["engine_status"], "error");
    let reason = r.meta["reason"].as_str().unwrap();
    assert!(reason.contains("ssl`, which RustPython lacks"), "{reason}");
    // and before the run, from the source
    let (tk, s) = task("import sqlite3\n", &["assert True"]);
    let r = v.verify(&tk, &s, &VerifyOptions::default()).unwrap();
    assert_eq!(r.status, Verdict::Unsupported);
    assert!(r.meta["reason"].as_str().unwrap().contains("sqlite3"));
}

#[test]
fn the_missing_module_list_is_what_the_engine_lacks() {
    let mut b = ExecPoolBuilder::new(env!("CARGO_BIN_EXE_nxt-rustpython-worker"));
    b.arg(Harness::Exec.name());
    let pool = b.build().unwrap();
    let program = format!(
        "imported = []\nfor name in {MISSING_MODULES:?}:\n    try:\n        __import__(name)\n        \
         imported.append(name)\n    except BaseException:\n        pass\nprint(imported)\n"
    );
    let out = pool
        .run(&Job {
            payload: program.as_bytes(),
            limits: Limits {
                wall_time: Duration::from_secs(30),
                ..Limits::default()
            },
        })
        .unwrap();
    assert_eq!(out.status, Status::Exited(0), "{}", out.stderr.text());
    assert_eq!(out.stdout.text(), "[]\n");
}

#[test]
fn jobs_are_isolated_as_zygote_jobs_are() {
    let mut b = ExecPoolBuilder::new(env!("CARGO_BIN_EXE_nxt-rustpython-worker"));
    b.arg(Harness::Exec.name());
    let pool = b.build().unwrap();
    // A name of this run's own: with the system's /tmp (see below) the file is there.
    let left = format!(
        "/tmp/nxt-left-behind-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let program = format!(
        "import os, socket\n\
        print(os.getuid())\n\
        print(sorted(os.listdir('/tmp')), os.getcwd())\n\
        try:\n    socket.create_connection(('192.0.2.1', 80), timeout=1)\n    print('net')\n\
        except OSError:\n    print('no net')\n\
        open({left:?}, 'w').write('x')\n"
    );
    let out = pool.run(&Job::new(program.as_bytes())).unwrap();
    assert_eq!(out.status, Status::Exited(0), "{}", out.stderr.text());
    let text = out.stdout.text();
    let lines: Vec<&str> = text.lines().collect();
    let report = pool.isolation_report();
    // A worker program under /tmp (a checkout or target dir there) would be hidden by
    // a private /tmp: the pool then keeps the system's (and says so in its report).
    let worker_in_tmp = Path::new(env!("CARGO_BIN_EXE_nxt-rustpython-worker")).starts_with("/tmp");
    if nix::unistd::geteuid().is_root() && worker_in_tmp {
        assert!(report.user.is_active() && report.network.is_active());
        assert!(!report.tmp.is_active());
        assert_ne!(lines[0], "0");
        assert_eq!(lines[2], "no net");
        // the job wrote into the system's /tmp, as the uid of its slot
        let left = Path::new(&left);
        assert_ne!(
            std::os::unix::fs::MetadataExt::uid(&left.metadata().unwrap()),
            0
        );
        std::fs::remove_file(left).unwrap();
    } else if nix::unistd::geteuid().is_root() {
        assert!(report.user.is_active() && report.network.is_active() && report.tmp.is_active());
        assert_ne!(lines[0], "0");
        assert_eq!(lines[1], "['nxt-job'] /tmp/nxt-job");
        assert_eq!(lines[2], "no net");
        // the next job's /tmp is fresh
        let again = pool
            .run(&Job::new(b"import os\nprint(sorted(os.listdir('/tmp')))\n"))
            .unwrap();
        assert_eq!(again.stdout.text(), "['nxt-job']\n");
    } else {
        assert!(!report.user.is_active());
    }
}
