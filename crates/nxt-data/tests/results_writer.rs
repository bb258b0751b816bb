//! `ResultsWriter`: appended results survive a crash, a resumed run loses nothing and
//! duplicates nothing, and `finish` writes `<out>` atomically and sorted.

use std::io::Write;
use std::path::{Path, PathBuf};

use nxt_core::{CheckResult, TestResult, TestStatus, Verdict};
use nxt_data::{DataError, ResultsWriter, read_results};

fn result(task: usize, sample: usize) -> CheckResult {
    CheckResult {
        task_id: format!("t/{task}"),
        sample_id: sample.to_string(),
        status: if (task + sample).is_multiple_of(2) {
            Verdict::Passed
        } else {
            Verdict::Failed
        },
        tests: vec![TestResult {
            status: TestStatus::Passed,
            exception: None,
            message: None,
            line: None,
        }],
        stdout: format!("out {task} {sample}\n"),
        stderr: String::new(),
        duration_ms: (task * 10 + sample) as u64,
        meta: Default::default(),
    }
}

/// The order a run would sort by: the task's index, then the sample's.
fn order(r: &CheckResult) -> (usize, usize) {
    let task = r.task_id.strip_prefix("t/").unwrap().parse().unwrap();
    (task, r.sample_id.parse().unwrap())
}

fn partial(out: &Path) -> PathBuf {
    PathBuf::from(format!("{}.partial", out.display()))
}

fn keys(results: &[CheckResult]) -> Vec<(usize, usize)> {
    results.iter().map(order).collect()
}

/// Every pair of a 4 × 3 run, in the order a pool of workers might finish them.
fn all_pairs() -> Vec<(usize, usize)> {
    let mut pairs: Vec<_> = (0..4).flat_map(|t| (0..3).map(move |s| (t, s))).collect();
    pairs.reverse();
    pairs.swap(1, 7);
    pairs
}

fn sorted_pairs() -> Vec<(usize, usize)> {
    let mut pairs = all_pairs();
    pairs.sort();
    pairs
}

#[test]
fn a_run_without_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("results.jsonl");
    let (mut writer, resumed) = ResultsWriter::create(&out, false).unwrap();
    assert!(resumed.is_empty());
    assert_eq!(writer.partial(), partial(&out));
    for (t, s) in all_pairs() {
        writer.append(&result(t, s)).unwrap();
        // Each result is on disk (in the page cache) as soon as append returns.
        let lines = std::fs::read_to_string(partial(&out))
            .unwrap()
            .lines()
            .count();
        assert_eq!(lines, writer.results().len());
    }
    assert!(!out.exists());
    assert_eq!(writer.finish(order).unwrap(), out);
    assert!(!partial(&out).exists());
    let loaded = read_results(&out).unwrap();
    assert_eq!(keys(&loaded.items), sorted_pairs());
    assert_eq!(loaded.items[5], result(1, 2));
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["results.jsonl"], "no temporary file left behind");
}

#[test]
fn resuming_after_a_crash_with_a_torn_line_loses_and_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("results.jsonl");
    let pairs = all_pairs();

    // First run: five results appended, then the process dies in the middle of the
    // sixth line.
    let (mut writer, _) = ResultsWriter::create(&out, false).unwrap();
    for &(t, s) in &pairs[..5] {
        writer.append(&result(t, s)).unwrap();
    }
    drop(writer);
    let torn = serde_json::to_string(&result(pairs[5].0, pairs[5].1)).unwrap();
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(partial(&out))
        .unwrap();
    file.write_all(&torn.as_bytes()[..torn.len() / 2]).unwrap();
    drop(file);

    // Without --resume, the earlier run is not overwritten.
    let err = ResultsWriter::create(&out, false).unwrap_err();
    assert!(matches!(err, DataError::Exists { .. }), "{err:?}");
    assert!(
        err.to_string().ends_with(
            "results.jsonl.partial already exists: resume the run (--resume) to keep its \
             results, or remove it"
        ),
        "{err}"
    );

    // Second run: resumes with the five whole results and does the rest.
    let (mut writer, resumed) = ResultsWriter::create(&out, true).unwrap();
    assert_eq!(keys(&resumed), pairs[..5]);
    for &(t, s) in &pairs {
        if resumed.iter().any(|r| order(r) == (t, s)) {
            continue;
        }
        writer.append(&result(t, s)).unwrap();
    }
    // The torn half line was cut off, so the partial file reads back whole.
    let partial_results = read_results(&partial(&out)).unwrap();
    assert!(partial_results.skipped.is_empty());
    assert_eq!(partial_results.items.len(), pairs.len());

    writer.finish(order).unwrap();
    let loaded = read_results(&out).unwrap();
    assert_eq!(keys(&loaded.items), sorted_pairs());
    for r in &loaded.items {
        let (t, s) = order(r);
        assert_eq!(r, &result(t, s));
    }
}

#[test]
fn a_whole_last_line_without_its_newline_is_kept_and_terminated() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("results.jsonl");
    let line = serde_json::to_string(&result(0, 0)).unwrap();
    std::fs::write(partial(&out), line).unwrap();
    let (mut writer, resumed) = ResultsWriter::create(&out, true).unwrap();
    assert_eq!(keys(&resumed), [(0, 0)]);
    writer.append(&result(0, 1)).unwrap();
    drop(writer);
    let loaded = read_results(&partial(&out)).unwrap();
    assert_eq!(keys(&loaded.items), [(0, 0), (0, 1)]);
}

#[test]
fn resuming_a_finished_run_and_a_crash_inside_finish() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("results.jsonl");
    let (mut writer, _) = ResultsWriter::create(&out, false).unwrap();
    for (t, s) in [(1, 0), (0, 0)] {
        writer.append(&result(t, s)).unwrap();
    }
    writer.finish(order).unwrap();

    // Resuming a finished run returns everything; finishing again keeps it.
    let (mut writer, resumed) = ResultsWriter::create(&out, true).unwrap();
    assert_eq!(keys(&resumed), [(0, 0), (1, 0)]);
    writer.append(&result(2, 0)).unwrap();
    // A crash after `<out>` was renamed into place but before `<out>.partial` was
    // removed: both hold (2, 0).
    let partial_text = std::fs::read(partial(&out)).unwrap();
    writer.finish(order).unwrap();
    std::fs::write(partial(&out), &partial_text).unwrap();

    let (writer, resumed) = ResultsWriter::create(&out, true).unwrap();
    assert_eq!(keys(&resumed), [(0, 0), (1, 0), (2, 0)], "counted once");
    writer.finish(order).unwrap();
    assert_eq!(
        keys(&read_results(&out).unwrap().items),
        [(0, 0), (1, 0), (2, 0)]
    );
}

#[test]
fn appending_a_recorded_pair_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("results.jsonl");
    let (mut writer, _) = ResultsWriter::create(&out, false).unwrap();
    writer.append(&result(0, 0)).unwrap();
    let err = writer.append(&result(0, 0)).unwrap_err();
    assert!(matches!(err, DataError::AlreadyRecorded { .. }), "{err:?}");
    assert!(
        err.to_string().ends_with(
            r#"results.jsonl: a result for task_id "t/0", sample_id "0" is already recorded"#
        ),
        "{err}"
    );
    drop(writer);
    assert_eq!(read_results(&partial(&out)).unwrap().items.len(), 1);
}

#[test]
fn an_existing_out_file_needs_resume() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("results.jsonl");
    std::fs::write(&out, "").unwrap();
    let err = ResultsWriter::create(&out, false).unwrap_err();
    let DataError::Exists { path } = err else {
        panic!("{err:?}")
    };
    assert_eq!(path, out);
    assert!(!partial(&out).exists());
}

#[test]
fn finish_replaces_out_atomically() {
    // `<out>` is written through a temporary file and renamed: a reader holding the old
    // file keeps reading the old content, whole.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("results.jsonl");
    let (mut writer, _) = ResultsWriter::create(&out, false).unwrap();
    writer.append(&result(0, 0)).unwrap();
    writer.finish(order).unwrap();
    let old = std::fs::File::open(&out).unwrap();

    let (mut writer, _) = ResultsWriter::create(&out, true).unwrap();
    for s in 1..50 {
        writer.append(&result(0, s)).unwrap();
    }
    writer.finish(order).unwrap();
    let old_text = std::io::read_to_string(old).unwrap();
    assert_eq!(old_text.lines().count(), 1);
    assert_eq!(read_results(&out).unwrap().items.len(), 50);
}

#[test]
fn a_corrupt_line_inside_the_partial_file_stops_the_resume() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("results.jsonl");
    let good = serde_json::to_string(&result(0, 0)).unwrap();
    std::fs::write(partial(&out), format!("{{oops\n{good}\n")).unwrap();
    let err = ResultsWriter::create(&out, true).unwrap_err();
    let DataError::Invalid(line) = err else {
        panic!("{err:?}")
    };
    assert_eq!(line.line, 1);
    assert_eq!(line.path, partial(&out));
}
