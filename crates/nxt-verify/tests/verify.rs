//! Behaviour of the verifier on the fixture tasks of `fixtures/verify/tasks.jsonl`:
//! each task's `meta` says the verdict (`expect`), the per-block statuses
//! (`expect_tests`) and the options (`options`) it is checked with.

use std::path::PathBuf;
use std::sync::OnceLock;

use nxt_core::{CheckResult, Sample, Task, TestStatus, Verdict, Verifier, VerifyOptions};
use nxt_verify::{PythonVerifier, PythonVerifierBuilder};
use serde_json::Value as Json;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/verify")
}

fn tasks() -> Vec<Task> {
    let text = std::fs::read_to_string(fixtures().join("tasks.jsonl")).unwrap();
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn task(name: &str) -> Task {
    let id = format!("verify/{name}");
    tasks()
        .into_iter()
        .find(|t| t.task_id == id)
        .unwrap_or_else(|| panic!("no fixture task {id}"))
}

fn verifier() -> &'static PythonVerifier {
    static V: OnceLock<PythonVerifier> = OnceLock::new();
    V.get_or_init(|| PythonVerifierBuilder::new().workers(2).build().unwrap())
}

fn options_of(task: &Task) -> VerifyOptions {
    let mut options = VerifyOptions::default();
    if let Some(o) = task.meta.get("options") {
        let mut merged = serde_json::to_value(&options).unwrap();
        for (k, v) in o.as_object().unwrap() {
            merged[k] = v.clone();
        }
        options = serde_json::from_value(merged).unwrap();
    }
    options
}

fn check(task: &Task) -> CheckResult {
    verifier()
        .verify(task, &Sample::of_task(task), &options_of(task))
        .unwrap()
}

fn status_name(s: TestStatus) -> String {
    serde_json::to_value(s)
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn every_fixture_gets_its_expected_verdict() {
    let tasks = tasks();
    let pairs: Vec<(Task, Sample, VerifyOptions)> = tasks
        .iter()
        .map(|t| (t.clone(), Sample::of_task(t), options_of(t)))
        .collect();
    let mut failures = Vec::new();
    for (task, sample, options) in &pairs {
        let result = verifier().verify(task, sample, options).unwrap();
        let expect = task.meta["expect"].as_str().unwrap();
        let got = result.status.as_str();
        let ok = if expect == "not_passed" {
            !result.status.passed()
        } else {
            got == expect
        };
        if !ok {
            failures.push(format!(
                "{}: expected {expect}, got {got}: {}",
                task.task_id,
                serde_json::to_string(&result).unwrap()
            ));
            continue;
        }
        if let Some(Json::Array(want)) = task.meta.get("expect_tests") {
            let got: Vec<String> = result.tests.iter().map(|t| status_name(t.status)).collect();
            let want: Vec<String> = want
                .iter()
                .map(|w| w.as_str().unwrap().to_owned())
                .collect();
            if got != want {
                failures.push(format!(
                    "{}: expected tests {want:?}, got {got:?}: {}",
                    task.task_id,
                    serde_json::to_string(&result).unwrap()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn verify_all_keeps_the_input_order_and_agrees_with_verify() {
    let tasks = tasks();
    let options = VerifyOptions {
        timeout: 0.5,
        memory_limit: Some(1 << 30),
        ..VerifyOptions::default()
    };
    let samples: Vec<Sample> = tasks.iter().map(Sample::of_task).collect();
    let pairs: Vec<(&Task, &Sample)> = tasks.iter().zip(&samples).collect();
    let results = verifier().verify_all(&pairs, &options);
    assert_eq!(results.len(), tasks.len());
    for (task, result) in tasks.iter().zip(results) {
        let result = result.unwrap();
        assert_eq!(result.task_id, task.task_id);
        assert_eq!(result.sample_id, Sample::TASK_CODE);
        if !task.task_id.contains("timeout") && !task.task_id.contains("memory") {
            let expect = task.meta["expect"].as_str().unwrap();
            if expect != "not_passed" {
                assert_eq!(result.status.as_str(), expect, "{}", task.task_id);
            }
        }
    }
}

#[test]
fn failing_tests_name_the_exception_message_and_line() {
    let r = check(&task("failing_assert"));
    let t = &r.tests[1];
    assert_eq!(t.exception.as_deref(), Some("AssertionError"));
    assert_eq!(t.message.as_deref(), Some("add(1, 2)"));
    assert_eq!(t.line, Some(3));
    assert_eq!(r.tests[0].exception, None);
    assert_eq!(r.tests[0].line, None);

    let r = check(&task("erroring_test"));
    assert_eq!(r.tests[1].exception.as_deref(), Some("ZeroDivisionError"));
    assert_eq!(r.tests[1].message.as_deref(), Some("division by zero"));
    assert_eq!(r.tests[1].line, Some(1));
    assert_eq!(r.tests[2].exception.as_deref(), Some("AssertionError"));
    assert_eq!(r.tests[2].message, None);
}

#[test]
fn the_line_is_the_deepest_frame_of_the_block() {
    // HumanEval style: the failing assert is inside check(), line 8 of the block.
    let r = check(&task("humaneval_style_lines"));
    assert_eq!(r.status, Verdict::Failed);
    assert_eq!(r.tests[0].line, Some(8));
    // And the traceback on stderr shows the test's source line.
    assert!(
        r.stderr
            .contains("assert candidate([3, 2, 1]) == [4, 3, 2]"),
        "{}",
        r.stderr
    );
}

#[test]
fn program_and_setup_errors_are_described_in_meta() {
    let r = check(&task("erroring_program"));
    let e = &r.meta["error"];
    assert_eq!(e["stage"], "program");
    assert_eq!(e["exception"], "NameError");
    assert_eq!(e["line"], 2);
    assert!(r.stderr.contains("NameError"), "{}", r.stderr);

    let r = check(&task("setup_raises"));
    assert_eq!(r.meta["error"]["stage"], "setup");
    assert_eq!(r.meta["error"]["exception"], "ModuleNotFoundError");
}

#[test]
fn syntax_errors_have_line_and_column() {
    let r = check(&task("syntax_error"));
    assert_eq!(r.status, Verdict::SyntaxError);
    let s = &r.meta["syntax_error"];
    assert_eq!(s["line"], 1);
    assert_eq!(s["column"], 7);
    assert!(
        s["message"].as_str().unwrap().contains("invalid syntax")
            || s["message"].as_str().unwrap().contains("'('"),
        "{s}"
    );

    let r = check(&task("syntax_error_in_a_test"));
    assert_eq!(r.tests[1].exception.as_deref(), Some("SyntaxError"));
    assert_eq!(r.tests[1].line, Some(1));
}

#[test]
fn stdout_keeps_its_end_within_the_cap() {
    let r = check(&task("stdout_tail"));
    assert!(r.stdout.len() <= 100, "{}", r.stdout.len());
    assert!(r.stdout.ends_with("line 9999\n"), "{:?}", r.stdout);
    assert!(r.stdout.len() > 80);
}

#[test]
fn output_is_utf8() {
    let r = check(&task("unicode_output"));
    assert_eq!(r.stdout, "héllo wörld ✓\n");
    assert_eq!(r.stderr, "ошибка\n");
    let o = VerifyOptions {
        output_tail: 5, // "✓\n" is 4 bytes
        ..VerifyOptions::default()
    };
    let t = task("unicode_output");
    let r = verifier().verify(&t, &Sample::of_task(&t), &o).unwrap();
    assert!(r.stdout.len() <= 5);
    assert!(r.stdout.ends_with("✓\n"), "{:?}", r.stdout);
}

#[test]
fn exits_before_the_tests_finished_are_crashes() {
    for name in [
        "sys_exit_0_in_program",
        "os_exit_0_in_program",
        "sys_exit_0_in_test",
        "os_exit_0_in_test",
        "raise_system_exit",
    ] {
        let r = check(&task(name));
        assert_eq!(r.status, Verdict::Crashed, "{name}: {r:?}");
    }
    let r = check(&task("sys_exit_0_in_test"));
    assert_eq!(r.tests[1].exception.as_deref(), Some("SystemExit"));
    assert_eq!(r.meta["exit"]["stage"], "test");
}

#[test]
fn forged_messages_are_rejected() {
    let r = check(&task("forged_messages_then_exit"));
    assert_eq!(r.status, Verdict::Crashed, "{r:?}");
    assert!(r.meta["channel_rejected"].as_u64().unwrap() > 0, "{r:?}");
    let r = check(&task("forged_messages_then_failing_test"));
    assert_eq!(r.status, Verdict::Failed, "{r:?}");
    // What the program printed is still there, as stdout.
    assert!(r.stdout.contains("{\"k\":\"done\"}"));
}

#[test]
fn timeouts_mark_the_running_block() {
    let r = check(&task("timeout_in_a_test"));
    assert_eq!(r.status, Verdict::Timeout);
    assert_eq!(r.tests[0].status, TestStatus::Passed);
    assert_eq!(r.tests[1].status, TestStatus::Error);
    assert!(
        r.tests[1]
            .message
            .as_deref()
            .unwrap()
            .contains("time limit")
    );
    assert_eq!(r.meta["ended_in"], "test 1");
    assert!(r.duration_ms >= 400, "{}", r.duration_ms);
}

#[test]
fn memory_errors_are_memory() {
    let r = check(&task("memory_in_a_test"));
    assert_eq!(r.status, Verdict::Memory);
    assert_eq!(r.tests[0].exception.as_deref(), Some("MemoryError"));
}

#[test]
fn the_next_check_is_unaffected_by_a_hostile_one() {
    let good = task("passing");
    for name in [
        "monkeypatches_builtins",
        "closes_every_fd",
        "kills_its_parent",
        "forging_thread",
        "segfault",
    ] {
        let _ = check(&task(name));
        let r = check(&good);
        assert_eq!(r.status, Verdict::Passed, "after {name}: {r:?}");
    }
}

#[test]
fn checks_are_deterministic() {
    let t = task("deterministic_random_and_hash");
    let mut sample = Sample::of_task(&t);
    sample.code.push_str("print(R, H)\n");
    let a = verifier()
        .verify(&t, &sample, &VerifyOptions::default())
        .unwrap();
    let b = verifier()
        .verify(&t, &sample, &VerifyOptions::default())
        .unwrap();
    assert_eq!(a.status, Verdict::Passed);
    assert_eq!(a.stdout, b.stdout);
    assert!(a.stdout.starts_with("0.8444218515250481 "), "{}", a.stdout);
}

#[test]
fn samples_are_verified_against_the_tasks_tests() {
    let t = task("failing_assert");
    let fixed = Sample {
        task_id: t.task_id.clone(),
        sample_id: "fixed".into(),
        code: "def add(a, b):\n    return a + b\n".into(),
        meta: Default::default(),
    };
    let r = verifier()
        .verify(&t, &fixed, &VerifyOptions::default())
        .unwrap();
    assert_eq!(r.status, Verdict::Passed);
    assert_eq!(r.sample_id, "fixed");
}
