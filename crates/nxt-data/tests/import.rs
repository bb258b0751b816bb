//! The HumanEval and MBPP importers over the small fixtures in `fixtures/data`.

use std::path::{Path, PathBuf};

use nxt_data::import::{humaneval, humaneval_with, mbpp, mbpp_with};
use nxt_data::{DataError, OnInvalid, read_tasks, write_jsonl};
use serde_json::{Value, json};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/data")
        .join(name)
}

fn short(message: impl ToString) -> String {
    let dir = fixture("").display().to_string();
    message.to_string().replace(&dir, "")
}

#[test]
fn humaneval_problems_become_tasks() {
    let tasks = humaneval(&fixture("humaneval.jsonl")).unwrap();
    let ids: Vec<_> = tasks.iter().map(|t| t.task_id.as_str()).collect();
    assert_eq!(ids, ["HumanEval/0", "HumanEval/1", "HumanEval/2"]);
    let t = &tasks[0];
    assert!(t.prompt.starts_with("def add(a: int, b: int) -> int:\n"));
    assert_eq!(
        t.code,
        format!("{}    return a + b\n", t.prompt),
        "code = prompt + canonical_solution"
    );
    assert_eq!(t.solution.as_ref(), Some(&t.code));
    assert_eq!(t.entry_point.as_deref(), Some("add"));
    assert_eq!(t.tests.len(), 1);
    assert!(t.tests[0].starts_with("\n\nMETADATA = {"));
    assert!(t.tests[0].ends_with("    assert candidate(-1, 1) == 0\n\n\ncheck(add)\n"));
    assert_eq!(t.setup, None);
    assert_eq!(
        Value::Object(t.meta.clone()),
        json!({"dataset": "humaneval", "file": "humaneval.jsonl"})
    );
}

#[test]
fn humaneval_errors_name_line_and_field() {
    let err = humaneval(&fixture("humaneval-broken.jsonl")).unwrap_err();
    assert_eq!(
        short(&err),
        "humaneval-broken.jsonl:2: field `test`: missing"
    );
    let loaded = humaneval_with(&fixture("humaneval-broken.jsonl"), OnInvalid::Skip).unwrap();
    assert_eq!(loaded.items.len(), 1);
    let skipped: Vec<_> = loaded.skipped.iter().map(short).collect();
    assert_eq!(
        skipped,
        [
            "humaneval-broken.jsonl:2: field `test`: missing",
            "humaneval-broken.jsonl:3: field `entry_point`: expected a Python identifier, \
             found \"shout()\"",
        ]
    );
}

#[test]
fn mbpp_jsonl_problems_become_tasks() {
    let tasks = mbpp(&fixture("mbpp.jsonl")).unwrap();
    let ids: Vec<_> = tasks.iter().map(|t| t.task_id.as_str()).collect();
    assert_eq!(ids, ["mbpp/2", "mbpp/367", "mbpp/600", "mbpp/601"]);
    let splits: Vec<_> = tasks.iter().map(|t| t.meta["split"].clone()).collect();
    assert_eq!(splits, ["prompt", "test", "validation", "train"]);

    let first = &tasks[0];
    assert_eq!(first.prompt, "Write a function to add two numbers.");
    assert_eq!(
        first.code, "def add(a, b):\r\n  return a + b",
        "kept byte for byte"
    );
    assert_eq!(first.solution.as_ref(), Some(&first.code));
    assert_eq!(
        first.tests,
        [
            "assert add(1, 2) == 3",
            "assert add(0, 0) == 0",
            "assert add(-1, 1) == 0"
        ]
    );
    assert_eq!(first.setup, None, "an empty test_setup_code is no setup");
    assert_eq!(first.entry_point, None);
    assert_eq!(
        Value::Object(first.meta.clone()),
        json!({"dataset": "mbpp", "file": "mbpp.jsonl", "split": "prompt",
               "challenge_test_list": []})
    );

    assert!(
        tasks[1]
            .setup
            .as_deref()
            .unwrap()
            .starts_with("root = Node(1)")
    );
    assert_eq!(
        tasks[2].meta["challenge_test_list"],
        json!(["assert square(10**10) == 10**20"])
    );
}

#[test]
fn sanitized_mbpp_is_a_json_array() {
    let tasks = mbpp(&fixture("sanitized-mbpp.json")).unwrap();
    let ids: Vec<_> = tasks.iter().map(|t| t.task_id.as_str()).collect();
    assert_eq!(ids, ["mbpp/2", "mbpp/11", "mbpp/601"]);
    assert_eq!(tasks[0].prompt, "Write a function to add two numbers.");
    assert_eq!(tasks[0].setup, None);
    assert_eq!(tasks[1].setup.as_deref(), Some("import math"));
    assert_eq!(tasks[2].tests.len(), 4);
    assert_eq!(
        Value::Object(tasks[1].meta.clone()),
        json!({"dataset": "mbpp-sanitized", "file": "sanitized-mbpp.json", "split": "test",
               "source_file": "Benchmark Questions Verification V2.ipynb"})
    );
    // Pretty-printed, the same tasks (but for the file name).
    let pretty = mbpp(&fixture("sanitized-mbpp-pretty.json")).unwrap();
    let strip = |mut t: nxt_core::Task| {
        t.meta.shift_remove("file");
        t
    };
    assert_eq!(
        pretty.into_iter().map(strip).collect::<Vec<_>>(),
        tasks.into_iter().map(strip).collect::<Vec<_>>()
    );
}

#[test]
fn mbpp_errors_name_line_and_field() {
    let err = mbpp(&fixture("mbpp-broken.jsonl")).unwrap_err();
    assert_eq!(
        short(&err),
        "mbpp-broken.jsonl:2: field `test_list`: expected a list of strings, found a string"
    );
    // Skipping goes on to the duplicate, which is always an error.
    let err = mbpp_with(&fixture("mbpp-broken.jsonl"), OnInvalid::Skip).unwrap_err();
    assert_eq!(
        short(&err),
        r#"mbpp-broken.jsonl:4: duplicate task_id "mbpp/2"; first on line 1"#
    );
}

#[test]
fn sanitized_errors_name_the_item() {
    let err = mbpp(&fixture("sanitized-mbpp-broken.json")).unwrap_err();
    assert_eq!(
        short(&err),
        "sanitized-mbpp-broken.json:13: field `[1].test_list`: missing"
    );
    let loaded = mbpp_with(&fixture("sanitized-mbpp-broken.json"), OnInvalid::Skip).unwrap();
    assert_eq!(loaded.items.len(), 2);
    assert_eq!(loaded.skipped.len(), 1);

    let err = mbpp(&fixture("sanitized-mbpp-duplicate.json")).unwrap_err();
    assert_eq!(
        short(&err),
        r#"sanitized-mbpp-duplicate.json:1: duplicate task_id "mbpp/2" at [2] (first at [0]); first on line 1"#
    );
}

#[test]
fn broken_arrays_are_errors_even_when_skipping() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cut.json");
    let text = std::fs::read_to_string(fixture("sanitized-mbpp.json")).unwrap();
    std::fs::write(&path, &text[..text.len() / 2]).unwrap();
    let err = mbpp_with(&path, OnInvalid::Skip).unwrap_err();
    let DataError::Invalid(line) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(line.line, 1);
    assert!(line.message.starts_with("invalid JSON at column "), "{err}");
}

#[test]
fn imported_tasks_read_back_as_tasks() {
    let dir = tempfile::tempdir().unwrap();
    for (name, tasks) in [
        ("he.jsonl", humaneval(&fixture("humaneval.jsonl")).unwrap()),
        ("mbpp.jsonl", mbpp(&fixture("mbpp.jsonl")).unwrap()),
        ("san.jsonl", mbpp(&fixture("sanitized-mbpp.json")).unwrap()),
    ] {
        let path = dir.path().join(name);
        write_jsonl(&path, &tasks).unwrap();
        assert_eq!(read_tasks(&path, OnInvalid::Fail).unwrap().items, tasks);
    }
}

#[test]
fn a_torn_last_line_gets_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mbpp.jsonl");
    let text = std::fs::read_to_string(fixture("mbpp.jsonl")).unwrap();
    std::fs::write(&path, &text[..text.len() - 40]).unwrap();
    let err = mbpp(&path).unwrap_err();
    assert!(
        err.to_string()
            .ends_with("(the last line has no newline: was the file cut short?)"),
        "{err}"
    );
    let loaded = mbpp_with(&path, OnInvalid::Skip).unwrap();
    assert_eq!((loaded.items.len(), loaded.skipped.len()), (3, 1));
    assert_eq!(loaded.skipped[0].line, 4);
}
