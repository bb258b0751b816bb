//! Corpus check under the default limits: every HumanEval canonical solution passes,
//! every MBPP reference solution passes except those that need more time than the
//! default allows (exactly `mbpp/123`, which needs 3–4 s of CPU), and none of the
//! buggy programs of HumanEvalFix passes.
//!
//! Reads `$NXT_DATA_DIR` (default `../shared/data` beside the repository). Without the
//! data the test says so and passes, unless `CI` is set, where missing data fails. Run
//! with `--nocapture` to see the summary lines.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use nxt_core::{CheckResult, Sample, Task, Verdict, Verifier, VerifyOptions};
use nxt_verify::{PythonVerifier, PythonVerifierBuilder, Summary};

fn data_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("NXT_DATA_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"),
    };
    if dir.join("HumanEval.jsonl").is_file() {
        return Some(dir);
    }
    if std::env::var_os("CI").is_some() {
        panic!(
            "corpus data not found in {} (set NXT_DATA_DIR)",
            dir.display()
        );
    }
    println!(
        "skipping the corpus check: no data in {} (set NXT_DATA_DIR)",
        dir.display()
    );
    None
}

fn run(verifier: &PythonVerifier, name: &str, tasks: &[Task]) -> Vec<CheckResult> {
    let samples: Vec<Sample> = tasks.iter().map(Sample::of_task).collect();
    let pairs: Vec<(&Task, &Sample)> = tasks.iter().zip(&samples).collect();
    let start = Instant::now();
    let results: Vec<CheckResult> = verifier
        .verify_all(&pairs, &VerifyOptions::default())
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    let elapsed = start.elapsed().as_secs_f64();
    let summary: Summary = results.iter().collect();
    let by_verdict: Vec<String> = summary
        .counts()
        .filter(|(v, _)| !v.passed())
        .map(|(v, n)| format!("{n} {}", v.as_str()))
        .collect();
    println!(
        "{name}: {} passed, {} failed{} ({} checks in {elapsed:.2} s)",
        summary.passed(),
        summary.failed(),
        if by_verdict.is_empty() {
            String::new()
        } else {
            format!(" ({})", by_verdict.join(", "))
        },
        results.len()
    );
    let mut slow: Vec<&CheckResult> = results.iter().collect();
    slow.sort_by_key(|r| std::cmp::Reverse(r.duration_ms));
    let slow: Vec<String> = slow
        .iter()
        .take(3)
        .map(|r| format!("{} {} ms", r.task_id, r.duration_ms))
        .collect();
    println!("{name}: slowest: {}", slow.join(", "));
    results
}

fn not_passed(results: &[CheckResult]) -> BTreeMap<String, Verdict> {
    results
        .iter()
        .filter(|r| !r.status.passed())
        .map(|r| (r.task_id.clone(), r.status))
        .collect()
}

fn describe(results: &[CheckResult]) -> String {
    results
        .iter()
        .filter(|r| !r.status.passed())
        .map(|r| serde_json::to_string(r).unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn corpus_verdicts_under_default_limits() {
    let Some(dir) = data_dir() else { return };
    let verifier = PythonVerifierBuilder::new().workers(2).build().unwrap();

    let humaneval = nxt_data::import::humaneval(&dir.join("HumanEval.jsonl")).unwrap();
    assert_eq!(humaneval.len(), 164);
    let results = run(&verifier, "HumanEval canonical", &humaneval);
    assert!(not_passed(&results).is_empty(), "{}", describe(&results));

    let mbpp = nxt_data::import::mbpp(&dir.join("mbpp.jsonl")).unwrap();
    assert_eq!(mbpp.len(), 974);
    let results = run(&verifier, "MBPP reference", &mbpp);
    // mbpp/123 needs 3–4 s of CPU against the default 3 s: a timeout here, a pass on a
    // faster machine. Nothing else may fail.
    let mut missed = not_passed(&results);
    let slow = missed.remove("mbpp/123");
    assert!(
        matches!(slow, None | Some(Verdict::Timeout)),
        "mbpp/123: {slow:?}"
    );
    assert_eq!(missed, BTreeMap::new(), "{}", describe(&results));

    let mut fix = nxt_data::import::humaneval(&dir.join("humanevalpack_python.jsonl")).unwrap();
    assert_eq!(fix.len(), 164);
    for task in &mut fix {
        let part = |name: &str| task.meta[name].as_str().unwrap().to_owned();
        task.code = part("declaration") + &part("buggy_solution");
    }
    let results = run(&verifier, "HumanEvalFix buggy", &fix);
    let passed: Vec<&str> = results
        .iter()
        .filter(|r| r.status.passed())
        .map(|r| r.task_id.as_str())
        .collect();
    assert!(passed.is_empty(), "buggy programs passed: {passed:?}");
}
