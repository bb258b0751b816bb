//! Property: any task, sample or result round-trips through `write_jsonl` and the
//! matching reader unchanged.

use nxt_core::{CheckResult, Sample, Task, TestResult, TestStatus, Verdict};
use nxt_data::{OnInvalid, read_results, read_samples, read_tasks, write_jsonl};
use proptest::prelude::*;
use serde_json::{Map, Value};

/// Any text, newlines, quotes, control characters and astral planes included.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[ -~\n\r\t\"\\\\]{0,40}",
        Just(String::new()),
        Just("\u{2028}\u{feff}\u{0}é😀".to_owned()),
    ]
}

/// Text with something other than whitespace in it (ids, test blocks).
fn solid_text() -> impl Strategy<Value = String> {
    (text(), "[a-z0-9/_]", text()).prop_map(|(a, b, c)| format!("{a}{b}{c}"))
}

/// JSON values without floats (serde_json reads floats back to the nearest double,
/// which need not be the one written unless its `float_roundtrip` feature is on).
fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((text(), inner), 0..4)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

fn meta() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::vec((text(), json()), 0..4).prop_map(|kv| kv.into_iter().collect())
}

fn task() -> impl Strategy<Value = Task> {
    (
        solid_text(),
        text(),
        text(),
        prop::collection::vec(solid_text(), 1..4),
        prop::option::of(text()),
        prop::option::of(text()),
        prop::option::of(text()),
        meta(),
    )
        .prop_map(
            |(task_id, prompt, code, tests, setup, entry_point, solution, meta)| Task {
                task_id,
                prompt,
                code,
                tests,
                setup,
                entry_point,
                solution,
                meta,
            },
        )
}

fn sample() -> impl Strategy<Value = Sample> {
    (solid_text(), solid_text(), text(), meta()).prop_map(|(task_id, sample_id, code, meta)| {
        Sample {
            task_id,
            sample_id,
            code,
            meta,
        }
    })
}

fn verdict() -> impl Strategy<Value = Verdict> {
    prop::sample::select(vec![
        Verdict::Passed,
        Verdict::Failed,
        Verdict::Error,
        Verdict::SyntaxError,
        Verdict::Timeout,
        Verdict::Memory,
        Verdict::Crashed,
    ])
}

fn test_result() -> impl Strategy<Value = TestResult> {
    (
        prop::sample::select(vec![
            TestStatus::Passed,
            TestStatus::Failed,
            TestStatus::Error,
            TestStatus::NotRun,
        ]),
        prop::option::of(text()),
        prop::option::of(text()),
        prop::option::of(any::<u32>()),
    )
        .prop_map(|(status, exception, message, line)| TestResult {
            status,
            exception,
            message,
            line,
        })
}

fn check_result() -> impl Strategy<Value = CheckResult> {
    (
        solid_text(),
        solid_text(),
        verdict(),
        prop::collection::vec(test_result(), 0..4),
        text(),
        text(),
        any::<u64>(),
        meta(),
    )
        .prop_map(
            |(task_id, sample_id, status, tests, stdout, stderr, duration_ms, meta)| CheckResult {
                task_id,
                sample_id,
                status,
                tests,
                stdout,
                stderr,
                duration_ms,
                meta,
            },
        )
}

/// Distinct by `key`, as a file must be.
fn dedup<T>(mut items: Vec<T>, key: impl Fn(&T) -> (String, String)) -> Vec<T> {
    let mut seen = std::collections::HashSet::new();
    items.retain(|item| seen.insert(key(item)));
    items
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn tasks_round_trip(tasks in prop::collection::vec(task(), 0..5)) {
        let tasks = dedup(tasks, |t| (t.task_id.clone(), String::new()));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tasks.jsonl");
        write_jsonl(&path, &tasks).unwrap();
        let loaded = read_tasks(&path, OnInvalid::Fail).unwrap();
        prop_assert!(loaded.skipped.is_empty());
        prop_assert_eq!(loaded.items, tasks);
    }

    #[test]
    fn samples_round_trip(samples in prop::collection::vec(sample(), 0..5)) {
        let samples = dedup(samples, |s| (s.task_id.clone(), s.sample_id.clone()));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("samples.jsonl");
        write_jsonl(&path, &samples).unwrap();
        let loaded = read_samples(&path, OnInvalid::Fail).unwrap();
        prop_assert_eq!(loaded.items, samples);
    }

    #[test]
    fn results_round_trip(results in prop::collection::vec(check_result(), 0..5)) {
        let results = dedup(results, |r| (r.task_id.clone(), r.sample_id.clone()));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results.jsonl");
        write_jsonl(&path, &results).unwrap();
        let loaded = read_results(&path).unwrap();
        prop_assert!(loaded.skipped.is_empty());
        prop_assert_eq!(loaded.items, results);
    }
}
