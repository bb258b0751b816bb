//! The benchmark importers over the real files in `$NXT_DATA_DIR` (default
//! `../shared/data` beside the repository), with their programs run: HumanEvalFix's
//! buggy programs fail and its fixed ones pass; HumanEval+ and MBPP+ expected outputs
//! are computed by the reference runner and each reference passes its own tests; HEFix+
//! likewise. Without the data the tests say so and pass, unless `CI` is set.
//!
//! The normal run checks HumanEval+ and MBPP+ on a deterministic subset (every tenth
//! problem and every problem with a special oracle); `full_plus_benchmarks` (ignored:
//! `cargo test -p nxt-verify --test benchmarks -- --ignored --nocapture`) runs all of
//! them, twice (the second import from the cache), and prints the numbers
//! `docs/benchmarks-data.md` reports.

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::Instant;

use nxt_core::{CheckResult, Sample, Task, Verdict, Verifier, VerifyOptions};
use nxt_data::OnInvalid;
use nxt_data::import::{hefix_plus, humanevalfix};
use nxt_data::plus::{
    self, Benchmark, InputOracle, OracleCache, PlusOptions, Problems, SpecialOracle, TaskOracle,
};
use nxt_verify::reference::{ReferenceRunner, ReferenceRunnerBuilder};
use nxt_verify::{PythonVerifier, PythonVerifierBuilder};

fn data_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("NXT_DATA_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"),
    };
    if dir.join("HumanEvalPlus.jsonl").is_file() {
        return Some(dir);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI needs the benchmark data at {} (set NXT_DATA_DIR)",
        dir.display()
    );
    println!(
        "benchmark test skipped: no data at {} (set NXT_DATA_DIR)",
        dir.display()
    );
    None
}

/// What the CLI does between `plus::read` and `plus::tasks`.
fn compute(runner: &ReferenceRunner, problems: &Problems) -> Vec<TaskOracle> {
    runner
        .oracles(problems, || ControlFlow::Continue(()))
        .unwrap()
        .unwrap()
}

fn verify_all(
    verifier: &PythonVerifier,
    tasks: &[Task],
    code: impl Fn(&Task) -> String,
) -> Vec<CheckResult> {
    let samples: Vec<Sample> = tasks
        .iter()
        .map(|t| Sample {
            code: code(t),
            ..Sample::of_task(t)
        })
        .collect();
    let pairs: Vec<(&Task, &Sample)> = tasks.iter().zip(&samples).collect();
    verifier
        .verify_all(&pairs, &VerifyOptions::default())
        .into_iter()
        .map(|r| r.unwrap())
        .collect()
}

fn not_passed(results: &[CheckResult]) -> BTreeMap<String, String> {
    results
        .iter()
        .filter(|r| !r.status.passed())
        .map(|r| {
            let test = r
                .tests
                .iter()
                .enumerate()
                .find(|(_, t)| t.exception.is_some() || t.message.is_some());
            let detail = match test {
                Some((i, t)) => format!(
                    "{:?} at test {i}: {} {}",
                    r.status,
                    t.exception.as_deref().unwrap_or(""),
                    t.message.as_deref().unwrap_or("")
                ),
                None => format!(
                    "{:?} {}",
                    r.status,
                    serde_json::Value::Object(r.meta.clone())
                ),
            };
            (r.task_id.clone(), detail.chars().take(300).collect())
        })
        .collect()
}

/// The references that did not pass, after checking again, one at a time, those that
/// ran out of time: the per-input limits are wall-clock time (4 x the reference's own,
/// as evalplus sets them), which a loaded machine can exceed.
fn references_not_passed(
    verifier: &PythonVerifier,
    tasks: &[Task],
    results: &[CheckResult],
) -> BTreeMap<String, String> {
    let mut failed = not_passed(results);
    let slow: Vec<String> = failed
        .iter()
        .filter(|(_, why)| why.contains("TimeLimitExceeded") || why.starts_with("Timeout"))
        .map(|(id, _)| id.clone())
        .collect();
    for id in slow {
        let task = tasks.iter().find(|t| t.task_id == id).unwrap();
        let sample = Sample {
            code: task.solution.clone().unwrap(),
            ..Sample::of_task(task)
        };
        for attempt in 1..=2 {
            let result = verifier
                .verify(task, &sample, &VerifyOptions::default())
                .unwrap();
            if result.status.passed() {
                println!(
                    "  {id}: passed when checked again alone (attempt {attempt}): {}",
                    failed[&id]
                );
                failed.remove(&id);
                break;
            }
        }
    }
    failed
}

/// The problems kept in the normal run: every tenth, and every one with a special
/// oracle or a tolerance.
fn subset(problems: &Problems) -> Problems {
    let items = problems
        .items
        .iter()
        .enumerate()
        .filter(|(i, p)| i % 10 == 0 || p.oracle != SpecialOracle::None || p.atol != 0.0)
        .map(|(_, p)| p.clone())
        .collect();
    Problems {
        items,
        ..problems.clone()
    }
}

fn summary(name: &str, made: &plus::PlusTasks) {
    println!(
        "{name}: {} tasks, {} blocks ({} literal, {} pickle, {} digest, {} oracle only), {} inputs dropped",
        made.tasks.len(),
        made.tasks.iter().map(|t| t.tests.len()).sum::<usize>(),
        made.literals,
        made.pickles,
        made.digests,
        made.oracle_only,
        made.dropped.len()
    );
    for d in &made.dropped {
        println!("  dropped {} {}: {}", d.task_id, d.input, d.reason);
    }
}

#[test]
fn humanevalfix_buggy_programs_fail_and_fixed_ones_pass() {
    let Some(dir) = data_dir() else { return };
    let tasks = humanevalfix(&dir.join("humanevalpack_python.jsonl")).unwrap();
    assert_eq!(tasks.len(), 164);
    let verifier = PythonVerifierBuilder::new().workers(2).build().unwrap();

    let buggy = verify_all(&verifier, &tasks, |t| t.code.clone());
    let passed: Vec<&str> = buggy
        .iter()
        .filter(|r| r.status.passed())
        .map(|r| r.task_id.as_str())
        .collect();
    assert!(passed.is_empty(), "buggy programs passed: {passed:?}");
    let fixed = verify_all(&verifier, &tasks, |t| t.solution.clone().unwrap());
    assert_eq!(not_passed(&fixed), BTreeMap::new());

    // HumanEvalFixTests' context, `declaration + buggy_solution` (no docstring), fails
    // the same way.
    let pack: Vec<serde_json::Value> =
        std::fs::read_to_string(dir.join("humanevalpack_python.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
    let declared = verify_all(&verifier, &tasks, |t| {
        let n: usize = t.task_id.rsplit('/').next().unwrap().parse().unwrap();
        format!(
            "{}{}",
            pack[n]["declaration"].as_str().unwrap(),
            pack[n]["buggy_solution"].as_str().unwrap()
        )
    });
    assert!(declared.iter().all(|r| !r.status.passed()));
    let mut verdicts: BTreeMap<Verdict, usize> = BTreeMap::new();
    for r in &buggy {
        *verdicts.entry(r.status).or_default() += 1;
    }
    println!("HumanEvalFix buggy: {verdicts:?}; fixed: 164 passed");
}

fn check_plus(benchmark: Benchmark, file: &str, counts: (usize, usize, usize)) {
    let Some(dir) = data_dir() else { return };
    let problems = plus::read(&dir.join(file), benchmark, OnInvalid::Fail).unwrap();
    let base: usize = problems.items.iter().map(|p| p.base_inputs.len()).sum();
    let extra: usize = problems.items.iter().map(|p| p.plus_inputs.len()).sum();
    assert_eq!((problems.items.len(), base, extra), counts);

    let problems = subset(&problems);
    let runner = ReferenceRunnerBuilder::new().workers(2).build().unwrap();
    let started = Instant::now();
    let oracles = compute(&runner, &problems);
    let computed = started.elapsed();
    let made = plus::tasks(&problems, &oracles, &PlusOptions::default()).unwrap();
    summary(file, &made);
    assert!(made.empty.is_empty(), "{:?}", made.empty);
    assert_eq!(made.tasks.len(), problems.items.len());

    let verifier = PythonVerifierBuilder::new().workers(2).build().unwrap();
    let started = Instant::now();
    let results = verify_all(&verifier, &made.tasks, |t| t.solution.clone().unwrap());
    println!(
        "{file}: {} problems, oracles in {:.1} s, references verified in {:.1} s",
        problems.items.len(),
        computed.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    assert_eq!(
        references_not_passed(&verifier, &made.tasks, &results),
        BTreeMap::new()
    );
}

#[test]
fn humaneval_plus_references_pass_their_tests() {
    check_plus(
        Benchmark::HumanEvalPlus,
        "HumanEvalPlus.jsonl",
        (164, 1570, 122_683),
    );
}

#[test]
fn mbpp_plus_references_pass_their_tests() {
    check_plus(Benchmark::MbppPlus, "MbppPlus.jsonl", (378, 1174, 39_841));
}

/// Everything: all HumanEval+ and MBPP+ problems, imported twice (the second time from
/// the cache), every reference verified, and HEFix+.
#[test]
#[ignore = "minutes of CPU: run with --ignored"]
fn full_plus_benchmarks() {
    let Some(dir) = data_dir() else { return };
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = OracleCache::new(cache_dir.path());
    let runner = ReferenceRunnerBuilder::new().workers(2).build().unwrap();
    let verifier = PythonVerifierBuilder::new().workers(2).build().unwrap();
    let mut humaneval_plus = Vec::new();
    for (benchmark, file) in [
        (Benchmark::HumanEvalPlus, "HumanEvalPlus.jsonl"),
        (Benchmark::MbppPlus, "MbppPlus.jsonl"),
    ] {
        let started = Instant::now();
        let problems = plus::read(&dir.join(file), benchmark, OnInvalid::Fail).unwrap();
        let read = started.elapsed().as_secs_f64();
        let started = Instant::now();
        let oracles = compute(&runner, &problems);
        let computed = started.elapsed().as_secs_f64();
        cache.store(&problems, &oracles).unwrap();
        let made = plus::tasks(&problems, &oracles, &PlusOptions::default()).unwrap();
        let first = read + started.elapsed().as_secs_f64();

        let started = Instant::now();
        let again = plus::read(&dir.join(file), benchmark, OnInvalid::Fail).unwrap();
        let cached = cache.load(&again).unwrap().expect("the cache has them");
        let remade = plus::tasks(&again, &cached, &PlusOptions::default()).unwrap();
        let second = started.elapsed().as_secs_f64();
        assert_eq!(remade.tasks.len(), made.tasks.len());
        let reference_seconds: f64 = oracles
            .iter()
            .flat_map(|o| &o.inputs)
            .map(|i| match i {
                InputOracle::Observed(o) => o.seconds,
                InputOracle::Dropped(_) => 0.0,
            })
            .sum();
        summary(file, &made);
        println!(
            "{file}: read {read:.1} s, expected outputs {computed:.1} s (reference calls {reference_seconds:.1} s), \
             first import {first:.1} s, cached import {second:.1} s"
        );

        let started = Instant::now();
        let results = verify_all(&verifier, &made.tasks, |t| t.solution.clone().unwrap());
        let mut slow: Vec<&CheckResult> = results.iter().collect();
        slow.sort_by_key(|r| std::cmp::Reverse(r.duration_ms));
        println!(
            "{file}: references verified in {:.1} s; slowest: {}",
            started.elapsed().as_secs_f64(),
            slow.iter()
                .take(5)
                .map(|r| format!("{} {} ms", r.task_id, r.duration_ms))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let failed = references_not_passed(&verifier, &made.tasks, &results);
        for (task, why) in &failed {
            println!("  reference not passed: {task}: {why}");
        }
        assert_eq!(failed, BTreeMap::new());
        if benchmark == Benchmark::HumanEvalPlus {
            humaneval_plus = made.tasks;
        }
    }

    let fix = humanevalfix(&dir.join("humanevalpack_python.jsonl")).unwrap();
    let hefix = hefix_plus(&fix, &humaneval_plus).unwrap();
    assert_eq!(hefix.len(), 164);
    let started = Instant::now();
    let buggy = verify_all(&verifier, &hefix, |t| t.code.clone());
    let passed: Vec<&str> = buggy
        .iter()
        .filter(|r| r.status.passed())
        .map(|r| r.task_id.as_str())
        .collect();
    assert!(
        passed.is_empty(),
        "HEFix+ buggy programs passed: {passed:?}"
    );
    let fixed = verify_all(&verifier, &hefix, |t| t.solution.clone().unwrap());
    assert_eq!(
        references_not_passed(&verifier, &hefix, &fixed),
        BTreeMap::new()
    );
    let mut verdicts: BTreeMap<Verdict, usize> = BTreeMap::new();
    for r in &buggy {
        *verdicts.entry(r.status).or_default() += 1;
    }
    println!(
        "HEFix+: buggy {verdicts:?}, references 164/164, in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    for (task, why) in not_passed(&buggy) {
        if !why.starts_with("Failed") {
            println!("  HEFix+ buggy {task}: {why}");
        }
    }
}
