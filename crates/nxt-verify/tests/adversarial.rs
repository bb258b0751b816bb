//! The adversarial suite (`fixtures/adversarial/*.py`): each program is verified as a
//! task's code, and must get the verdict of the table in
//! `fixtures/adversarial/README.md`; the next check on the same verifier must be
//! unaffected. The program's trailing top-level `assert` lines (a wrong solution's
//! check, say) are its test block; a program without them gets `assert True`.
//!
//! `fork_bomb.py`, `thread_bomb.py` and `write_outside.py` run only when checks run as
//! an unprivileged uid (they refuse to run as root, and must not run unconstrained);
//! `socket_connect.py` only when the network is isolated, and `kill_parent.py`'s
//! verdict depends on the uid drop (error with it, crashed without it).

use std::path::PathBuf;

use nxt_core::{Sample, Task, Verdict, Verifier, VerifyOptions};
use nxt_verify::PythonVerifierBuilder;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/adversarial")
}

/// (file, expected verdict) from the README's table.
fn table() -> Vec<(String, String)> {
    let readme = std::fs::read_to_string(dir().join("README.md")).unwrap();
    readme
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let file = cells[1].trim_matches('`').to_owned();
            let verdict = cells[3]
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned();
            (file, verdict)
        })
        .collect()
}

/// The program without its trailing top-level asserts, and those asserts.
fn split_tests(source: &str) -> (String, String) {
    let lines: Vec<&str> = source.lines().collect();
    let mut start = lines.len();
    while start > 0 && (lines[start - 1].starts_with("assert ") || lines[start - 1].is_empty()) {
        start -= 1;
    }
    let tests = lines[start..].join("\n").trim().to_owned();
    let code = lines[..start].join("\n") + "\n";
    if tests.is_empty() {
        (code, "assert True".to_owned())
    } else {
        (code, tests + "\n")
    }
}

fn task(id: &str, source: &str) -> Task {
    let (code, test) = split_tests(source);
    Task {
        task_id: id.to_owned(),
        prompt: String::new(),
        code,
        tests: vec![test],
        setup: None,
        entry_point: None,
        solution: None,
        meta: Default::default(),
    }
}

#[test]
fn every_adversarial_program_gets_its_verdict_and_the_next_check_is_unaffected() {
    let rows = table();
    assert!(rows.len() >= 15, "the README table has {} rows", rows.len());
    let verifier = PythonVerifierBuilder::new().build().unwrap();
    let report = verifier.isolation_report().clone();
    let unprivileged = report.user.is_active();
    let options = VerifyOptions {
        timeout: 1.5,
        memory_limit: Some(1 << 30),
        ..VerifyOptions::default()
    };
    let good = task(
        "adversarial/next",
        "def add(a, b):\n    return a + b\n\nassert add(2, 3) == 5\n",
    );
    let mut failures = Vec::new();
    let mut ran = 0;
    for (file, mut expected) in rows {
        let needs_uid_drop = matches!(
            file.as_str(),
            "fork_bomb.py" | "thread_bomb.py" | "write_outside.py"
        );
        if needs_uid_drop && !unprivileged {
            println!("skipping {file}: checks do not run as an unprivileged uid here");
            continue;
        }
        if file == "socket_connect.py" && !report.network.is_active() {
            println!("skipping {file}: the network is not isolated here");
            continue;
        }
        if file == "kill_parent.py" && !unprivileged {
            expected = "crashed".to_owned();
        }
        let code = std::fs::read_to_string(dir().join(&file)).unwrap();
        let t = task(&format!("adversarial/{file}"), &code);
        let r = verifier.verify(&t, &Sample::of_task(&t), &options).unwrap();
        ran += 1;
        if r.status.as_str() != expected {
            failures.push(format!(
                "{file}: expected {expected}, got {}: {}",
                r.status.as_str(),
                serde_json::to_string(&r).unwrap()
            ));
        }
        let next = verifier
            .verify(&good, &Sample::of_task(&good), &options)
            .unwrap();
        if next.status != Verdict::Passed {
            failures.push(format!(
                "the check after {file} did not pass: {}",
                serde_json::to_string(&next).unwrap()
            ));
        }
    }
    println!("{ran} adversarial programs verified");
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}
