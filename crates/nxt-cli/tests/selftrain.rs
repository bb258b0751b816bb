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

#[test]
fn the_demo_command_runs_the_whole_loop() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("demo");
    let out_arg = out_dir.to_str().unwrap();
    let demo = || {
        nxt()
            .args(["selftrain", "demo", "--out", out_arg, "--workers", "2"])
            .output()
            .unwrap()
    };
    let out = demo();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stdout.contains("hard problems: 6"), "{stdout}");
    assert!(
        stdout.contains("best iteration on the dev set: 2 (pass@1 60.0%)"),
        "{stdout}"
    );
    let lines = |name: &str| {
        std::fs::read_to_string(out_dir.join(name))
            .unwrap()
            .lines()
            .count()
    };
    // Iteration 2 samples from iteration 1's checkpoint and keeps more.
    assert_eq!(lines("export-1.chat.jsonl"), 5);
    assert_eq!(lines("export-2.chat.jsonl"), 10);
    assert_eq!(lines("export-2.completion.jsonl"), 10);
    let html = std::fs::read_to_string(out_dir.join("report.html")).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") && html.contains("<svg"));

    let db = out_dir.join("demo.db");
    let db = db.to_str().unwrap();
    let run = |args: &[&str]| {
        let out = nxt().args(args).output().unwrap();
        (
            out.status.code(),
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    };
    // The report of the stored run is the demo's table.
    let html2 = dir.path().join("r.html");
    let (code, table, err) = run(&["selftrain", "report", db, "--html", html2.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{err}");
    assert!(stdout.starts_with(&table), "{stdout}\n{table}");
    assert_eq!(std::fs::read_to_string(&html2).unwrap(), html);
    let (code, status, _) = run(&["selftrain", "status", db]);
    assert_eq!(code, Some(0));
    assert!(
        status.contains("checkpoint of iteration 1: demo-ft-1"),
        "{status}"
    );
    assert!(
        status.contains("dev evaluation of iteration 2 (with traces, demo-ft-2): pass@1 60.0%"),
        "{status}"
    );
    let (code, rows, _) = run(&["selftrain", "dump", db, "evaluations"]);
    assert_eq!(code, Some(0));
    assert_eq!(rows.lines().count(), 6);
    let (code, _, err) = run(&["selftrain", "dump", db, "nope"]);
    assert_eq!(code, Some(2), "{err}");
    // Evaluating again samples nothing new.
    let (code, again, err) = run(&[
        "selftrain",
        "eval",
        db,
        "--iteration",
        "1",
        "--workers",
        "2",
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert!(again.contains("100 samples (0 new)"), "{again}");
    // No checkpoint for iteration 3; iteration 0 is the base model.
    let (code, _, err) = run(&["selftrain", "eval", db, "--iteration", "3"]);
    assert_eq!(code, Some(2), "{err}");
    let (code, _, err) = run(&[
        "selftrain",
        "checkpoint",
        db,
        "--iteration",
        "0",
        "--checkpoint",
        "openai:http://127.0.0.1:9/v1",
    ]);
    assert_eq!(code, Some(2), "{err}");

    // A second demo in the same place starts afresh and ends the same.
    let again = demo();
    assert_eq!(again.status.code(), Some(0));
    assert_eq!(String::from_utf8(again.stdout).unwrap(), stdout);
}

/// An OpenAI-compatible server on loopback that answers every chat request after a
/// delay, with `n` answers without code; counts the requests.
fn slow_server(delay_ms: u64) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    let count = std::sync::Arc::new(AtomicUsize::new(0));
    let seen = std::sync::Arc::clone(&count);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let seen = std::sync::Arc::clone(&seen);
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let lower = line.to_ascii_lowercase();
                    if let Some(v) = lower.strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap();
                    }
                    if line == "\r\n" {
                        break;
                    }
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                seen.fetch_add(1, Ordering::SeqCst);
                let request: serde_json::Value = serde_json::from_slice(&body).unwrap();
                let n = request["n"].as_u64().unwrap_or(1);
                std::thread::sleep(std::time::Duration::from_millis(delay_ms));
                let choices: Vec<serde_json::Value> = (0..n)
                    .map(|i| {
                        serde_json::json!({"index": i, "finish_reason": "stop",
                            "message": {"role": "assistant", "content": "I cannot tell."}})
                    })
                    .collect();
                let body = serde_json::json!({ "choices": choices }).to_string();
                let mut stream = stream;
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    (url, count)
}

#[test]
fn ctrl_c_stops_a_run_cleanly_and_the_run_continues() {
    use std::sync::atomic::Ordering;
    let dir = tempfile::tempdir().unwrap();
    let (url, requests) = slow_server(600);
    let (train, dev) = (demo("train.jsonl"), demo("dev.jsonl"));
    let status = nxt()
        .current_dir(dir.path())
        .args([
            "selftrain",
            "init",
            "r.db",
            "--train",
            &train,
            "--dev",
            &dev,
            "--sampler",
            &format!("openai:{url}"),
            "--model",
            "m",
            "--samples-per-task",
            "4",
            "--hard-threshold",
            "1",
            "--iterations",
            "3",
        ])
        .status()
        .unwrap();
    assert!(status.success());
    let child = nxt()
        .current_dir(dir.path())
        .args(["selftrain", "run", "r.db", "--workers", "1"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Interrupt while the first batch of requests is at the server.
    let started = std::time::Instant::now();
    while requests.load(Ordering::SeqCst) == 0 {
        assert!(started.elapsed().as_secs() < 60, "no request came");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(150));
    let kill = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("Run `nxt selftrain run r.db` to continue"),
        "{stderr}"
    );
    // The batch in flight was stored; nothing after it was asked.
    let (code, status) = {
        let out = nxt()
            .current_dir(dir.path())
            .args(["selftrain", "status", "r.db"])
            .output()
            .unwrap();
        (out.status.code(), String::from_utf8(out.stdout).unwrap())
    };
    assert_eq!(code, Some(0));
    assert!(
        status.contains("iteration 1: finished; 32/32 sampled"),
        "{status}"
    );
    assert!(!status.contains("iteration 3"), "{status}");
    let asked = requests.load(Ordering::SeqCst);
    assert_eq!(asked, 8, "one request per train task");
    let out = nxt()
        .current_dir(dir.path())
        .args(["selftrain", "run", "r.db", "--workers", "1"])
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for k in 1..=3 {
        assert!(
            stdout.contains(&format!("iteration {k}: finished; 32/32 sampled")),
            "{stdout}"
        );
    }
    assert_eq!(requests.load(Ordering::SeqCst), 24, "nothing asked twice");
}
