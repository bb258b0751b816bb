//! `nxt selftrain` through the binary: the offline demo of `fixtures/selftrain/demo`.

use std::process::Command;

fn nxt() -> Command {
    Command::new(env!("CARGO_BIN_EXE_nxt"))
}

fn demo(name: &str) -> String {
    format!(
        "{}/../../fixtures/selftrain/demo/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

#[test]
fn the_offline_demo_runs_through_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let (train, dev) = (demo("train.jsonl"), demo("dev.jsonl"));
    let sampler = format!("replay:{}", demo("answers.jsonl"));
    let run = |args: &[&str]| {
        let out = nxt().current_dir(dir.path()).args(args).output().unwrap();
        (
            out.status.code(),
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    };
    let (code, _, err) = run(&[
        "selftrain",
        "init",
        "demo.db",
        "--train",
        &train,
        "--dev",
        &dev,
        "--sampler",
        &sampler,
        "--samples-per-task",
        "4",
        "--hard-threshold",
        "0.6",
    ]);
    assert_eq!(code, Some(0), "{err}");
    let (code, out, err) = run(&["selftrain", "run", "demo.db", "--iterations", "2"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("hard tasks: 6"), "{out}");
    assert!(
        out.contains("iteration 2: finished; 24/24 sampled"),
        "{out}"
    );
    let (code, _, err) = run(&[
        "selftrain",
        "export",
        "demo.db",
        "--iteration",
        "1",
        "--format",
        "chat",
        "--out",
        "x.jsonl",
    ]);
    assert_eq!(code, Some(0), "{err}");
    let chat = std::fs::read_to_string(dir.path().join("x.jsonl")).unwrap();
    assert_eq!(chat.lines().count(), 6);
    let (code, out, _) = run(&["selftrain", "status", "demo.db"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("next: nothing, the run is done"), "{out}");
    // Bad input exits with 2.
    let (code, _, err) = run(&["selftrain", "status", "missing.db"]);
    assert_eq!(code, Some(2), "{err}");
    let (code, _, err) = run(&[
        "selftrain",
        "export",
        "demo.db",
        "--iteration",
        "0",
        "--out",
        "y.jsonl",
    ]);
    assert_eq!(code, Some(2), "{err}");
}
