//! Reading tasks, samples and results from the fixtures in `fixtures/data`: good files,
//! and broken ones whose errors must name the file, the line and the field.

use std::path::{Path, PathBuf};

use nxt_core::{TestStatus, Verdict};
use nxt_data::{DataError, OnInvalid, read_results, read_samples, read_tasks, write_jsonl};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/data")
        .join(name)
}

/// Messages without the fixture directory, which depends on the checkout.
fn short(message: impl ToString) -> String {
    let dir = fixture("").display().to_string();
    message.to_string().replace(&dir, "")
}

#[test]
fn tasks_read_with_every_field() {
    let loaded = read_tasks(&fixture("tasks.jsonl"), OnInvalid::Fail).unwrap();
    assert!(loaded.skipped.is_empty());
    let ids: Vec<_> = loaded.items.iter().map(|t| t.task_id.as_str()).collect();
    assert_eq!(ids, ["repair/0", "repair/1", "gen/0"]);
    let repair = &loaded.items[0];
    assert_eq!(repair.tests.len(), 2);
    assert_eq!(repair.entry_point.as_deref(), Some("add"));
    assert!(repair.solution.as_deref().unwrap().contains("a + b"));
    // meta is kept as is, key order included.
    assert_eq!(
        serde_json::to_string(&repair.meta).unwrap(),
        r#"{"bug_type":"operator misuse","source":{"dataset":"fixture","line":1}}"#
    );
    assert_eq!(loaded.items[1].setup.as_deref(), Some("import math\n"));
    assert_eq!(loaded.items[2].solution, None);
}

#[test]
fn a_broken_tasks_file_fails_at_its_first_bad_line() {
    let err = read_tasks(&fixture("tasks-broken.jsonl"), OnInvalid::Fail).unwrap_err();
    assert_eq!(
        short(&err),
        "tasks-broken.jsonl:2: invalid JSON at column 79: EOF while parsing an object"
    );
    let DataError::Invalid(line) = err else {
        panic!("{err:?}")
    };
    assert_eq!((line.line, line.field), (2, None));
}

#[test]
fn skipping_reports_every_bad_line() {
    let loaded = read_tasks(&fixture("tasks-broken.jsonl"), OnInvalid::Skip).unwrap();
    let ids: Vec<_> = loaded.items.iter().map(|t| t.task_id.as_str()).collect();
    assert_eq!(ids, ["gen/1", "gen/3", "gen/10"]);
    let skipped: Vec<_> = loaded.skipped.iter().map(short).collect();
    assert_eq!(
        skipped,
        [
            "tasks-broken.jsonl:2: invalid JSON at column 79: EOF while parsing an object",
            "tasks-broken.jsonl:4: field `tests`: missing",
            "tasks-broken.jsonl:5: field `tests`: expected a list of strings, found a string",
            "tasks-broken.jsonl:6: field `test`: unknown field; expected one of `task_id`, \
             `prompt`, `code`, `tests`, `setup`, `entry_point`, `solution`, `meta`",
            "tasks-broken.jsonl:8: field `tests[1]`: expected a string, found a number (2)",
            "tasks-broken.jsonl:9: expected a task (a JSON object), found a list",
            "tasks-broken.jsonl:11: invalid JSON at column 40: EOF while parsing a string \
             (the last line has no newline: was the file cut short?)",
        ]
    );
    let lines: Vec<_> = loaded.skipped.iter().map(|s| s.line).collect();
    assert_eq!(lines, [2, 4, 5, 6, 8, 9, 11]);
}

#[test]
fn a_duplicate_task_id_names_both_lines() {
    for on_invalid in [OnInvalid::Fail, OnInvalid::Skip] {
        let err = read_tasks(&fixture("tasks-duplicate.jsonl"), on_invalid).unwrap_err();
        assert_eq!(
            short(&err),
            r#"tasks-duplicate.jsonl:4: duplicate task_id "gen/0"; first on line 2"#
        );
        assert!(matches!(
            err,
            DataError::Duplicate {
                line: 4,
                first_line: 2,
                ..
            }
        ));
    }
}

#[test]
fn samples_read_and_duplicates_are_pairs() {
    let loaded = read_samples(&fixture("samples.jsonl"), OnInvalid::Fail).unwrap();
    let keys: Vec<_> = loaded
        .items
        .iter()
        .map(|s| (s.task_id.as_str(), s.sample_id.as_str()))
        .collect();
    assert_eq!(
        keys,
        [("repair/0", "0"), ("repair/0", "1"), ("repair/1", "0")]
    );
    assert_eq!(loaded.items[1].meta["model"], "fixture-7b");

    let err = read_samples(&fixture("samples-duplicate.jsonl"), OnInvalid::Skip).unwrap_err();
    assert_eq!(
        short(&err),
        r#"samples-duplicate.jsonl:4: duplicate task_id "repair/0", sample_id "1"; first on line 2"#
    );
}

#[test]
fn a_task_line_is_not_a_sample() {
    let err = read_samples(&fixture("tasks.jsonl"), OnInvalid::Fail).unwrap_err();
    assert_eq!(
        short(&err),
        "tasks.jsonl:1: field `prompt`: unknown field; expected one of `task_id`, \
         `sample_id`, `code`, `meta`"
    );
}

#[test]
fn results_read() {
    let loaded = read_results(&fixture("results.jsonl")).unwrap();
    assert!(loaded.skipped.is_empty());
    let statuses: Vec<_> = loaded.items.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [Verdict::Passed, Verdict::Failed, Verdict::Error]);
    let error = &loaded.items[2];
    assert_eq!(error.tests[0].exception.as_deref(), Some("NameError"));
    assert_eq!(error.tests[0].line, Some(1));
    assert_eq!(error.tests[1].status, TestStatus::NotRun);
    assert_eq!(error.meta["network"], "namespace");
}

#[test]
fn a_torn_last_result_line_is_skipped_not_an_error() {
    let loaded = read_results(&fixture("results-torn.jsonl")).unwrap();
    assert_eq!(loaded.items.len(), 3);
    assert_eq!(loaded.skipped.len(), 1);
    assert_eq!(loaded.skipped[0].line, 4);
    assert!(
        short(&loaded.skipped[0]).starts_with(
            "results-torn.jsonl:4: ignored a torn last line (no newline): invalid JSON"
        ),
        "{}",
        loaded.skipped[0]
    );
}

#[test]
fn a_bad_result_line_that_is_not_last_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("results.jsonl");
    let good = std::fs::read_to_string(fixture("results.jsonl")).unwrap();
    let mut lines: Vec<&str> = good.lines().collect();
    lines.insert(
        1,
        r#"{"task_id": "t", "sample_id": "s", "status": "passd"}"#,
    );
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let err = read_results(&path).unwrap_err();
    let DataError::Invalid(line) = err else {
        panic!("{err:?}")
    };
    assert_eq!(line.line, 2);
    assert_eq!(line.field.as_deref(), Some("status"));
    assert!(
        line.message
            .starts_with("unknown variant `passd`, expected one of `passed`")
    );
}

#[test]
fn a_whole_last_result_without_newline_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("results.jsonl");
    let good = std::fs::read_to_string(fixture("results.jsonl")).unwrap();
    std::fs::write(&path, good.trim_end()).unwrap();
    let loaded = read_results(&path).unwrap();
    assert_eq!((loaded.items.len(), loaded.skipped.len()), (3, 0));
}

#[test]
fn crlf_bom_and_blank_lines_are_fine() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tasks.jsonl");
    let good = std::fs::read_to_string(fixture("tasks.jsonl")).unwrap();
    let text = format!(
        "\u{feff}{}\r\n\r\n   \r\n",
        good.trim_end().replace('\n', "\r\n")
    );
    std::fs::write(&path, text).unwrap();
    let loaded = read_tasks(&path, OnInvalid::Fail).unwrap();
    assert_eq!(loaded.items.len(), 3);
    assert_eq!(
        loaded.items,
        read_tasks(&fixture("tasks.jsonl"), OnInvalid::Fail)
            .unwrap()
            .items
    );
}

#[test]
fn bytes_that_are_not_utf8_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("samples.jsonl");
    std::fs::write(
        &path,
        b"{\"task_id\": \"t\", \"sample_id\": \"0\", \"code\": \"\"}\n{\"code\": \"\xff\"}\n",
    )
    .unwrap();
    let err = read_samples(&path, OnInvalid::Fail).unwrap_err();
    assert!(
        err.to_string()
            .ends_with("samples.jsonl:2: not UTF-8 text (invalid byte at column 11)"),
        "{err}"
    );
}

#[test]
fn a_missing_file_is_an_io_error_naming_it() {
    let err = read_tasks(&fixture("no-such-file.jsonl"), OnInvalid::Skip).unwrap_err();
    assert!(matches!(err, DataError::Io { .. }));
    assert!(short(&err).starts_with("no-such-file.jsonl: "), "{err}");
}

#[test]
fn write_jsonl_replaces_atomically_and_keeps_permissions() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tasks.jsonl");
    let tasks = read_tasks(&fixture("tasks.jsonl"), OnInvalid::Fail)
        .unwrap()
        .items;
    write_jsonl(&path, &tasks).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), 3);
    assert!(text.ends_with("}\n"));
    // The fixture is written with Python's separators; ours are compact, fields in the
    // struct's order.
    assert!(text.starts_with(r#"{"task_id":"repair/0","prompt":"#));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_ne!(
            mode & 0o044,
            0,
            "readable by others, umask permitting: {mode:o}"
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        write_jsonl(&path, &tasks[..1]).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 1);
    // No temporary file is left behind.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["tasks.jsonl"]);
}

#[test]
fn write_jsonl_into_a_missing_directory_fails_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope/tasks.jsonl");
    let err = write_jsonl::<u8>(&path, &[1]).unwrap_err();
    assert!(matches!(err, DataError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("nope/tasks.jsonl: "), "{err}");
}
