//! HumanEvalFix, HumanEval+, MBPP+, HEFix+ and MBPP-R over the small fixtures in
//! `fixtures/data`, without running anything: the expected outputs are written by hand
//! here, as the reference runner would report them.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use nxt_core::{CheckResult, Sample, Task, TestResult, TestStatus, Verdict};
use nxt_data::import::{hefix_plus, humanevalfix};
use nxt_data::plus::{
    self, Benchmark, Expected, InputOracle, Observed, OracleCache, PlusOptions, Problems,
    SpecialOracle, TaskOracle,
};
use nxt_data::repair::{RepairOptions, repair_tasks};
use nxt_data::{DataError, OnInvalid, read_tasks, write_jsonl};
use serde_json::json;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/data")
        .join(name)
}

fn literal(source: &str, floats: bool, seconds: f64) -> InputOracle {
    InputOracle::Observed(Observed {
        expected: Expected::Literal(source.into()),
        floats,
        seconds,
    })
}

/// The oracles of `fixtures/data/humanevalplus.jsonl`, as the reference gives them.
fn humaneval_plus_oracles() -> Vec<TaskOracle> {
    vec![
        TaskOracle {
            task_id: "HumanEval/0".into(),
            inputs: vec![
                literal("1.5", true, 1e-6),
                literal("0.5", true, 1e-6),
                literal("-0.25", true, 1e-6),
                literal("5e+299", true, 1e-6),
                literal("5.0", true, 0.3),
                InputOracle::Dropped("the reference raised TypeError: unsupported".into()),
            ],
        },
        TaskOracle {
            task_id: "HumanEval/1".into(),
            inputs: vec![
                literal("-0.5", true, 1e-4),
                literal("1.0", true, 1e-4),
                literal("-1.0", true, 1e-4),
            ],
        },
        TaskOracle {
            task_id: "HumanEval/2".into(),
            inputs: vec![
                literal("'0 1 2 3'", false, 1e-6),
                literal("'0'", false, 1e-6),
                InputOracle::Observed(Observed {
                    expected: Expected::Digest(format!("sha256:{}", "ab".repeat(32))),
                    floats: false,
                    seconds: 0.002,
                }),
                InputOracle::Observed(Observed {
                    expected: Expected::Pickle("gASVCwAAAAAAAACMBzAgMSAyIDOULg==".into()),
                    floats: false,
                    seconds: 1e-6,
                }),
            ],
        },
    ]
}

fn humaneval_plus() -> Problems {
    plus::read(
        &fixture("humanevalplus.jsonl"),
        Benchmark::HumanEvalPlus,
        OnInvalid::Fail,
    )
    .unwrap()
}

#[test]
fn evalplus_inputs_become_python_sources() {
    let problems = humaneval_plus();
    assert_eq!(problems.items.len(), 3);
    assert_eq!(problems.inputs(), 6 + 3 + 4);
    assert_eq!(problems.sha256.len(), 64);
    let p = &problems.items[0];
    assert_eq!(p.base_inputs, ["3", "1.0"]);
    assert_eq!(p.plus_inputs, ["-0.5", "1e+300", "10", "'a'"]);
    assert_eq!(p.program(), format!("{}{}", p.prompt, p.canonical_solution));
    assert_eq!(p.meta["atol"], 0);
    assert!(
        p.meta["contract"]
            .as_str()
            .unwrap()
            .contains("$_CONTRACT_$")
    );
    assert!(p.encoder().contains("\nencode = _nxt_encode\n"));
    assert_eq!(problems.items[1].oracle, SpecialOracle::FindZero);
    assert_eq!(problems.items[1].base_inputs, ["[1, 2]", "[-6, 11, -6, 1]"]);

    let mbpp = plus::read(
        &fixture("mbppplus.jsonl"),
        Benchmark::MbppPlus,
        OnInvalid::Fail,
    )
    .unwrap();
    let ids: Vec<&str> = mbpp.items.iter().map(|p| p.task_id.as_str()).collect();
    assert_eq!(ids, ["Mbpp/2", "Mbpp/404", "Mbpp/737", "Mbpp/82"]);
    // evalplus's loader makes tuples of Mbpp/2's lists.
    assert_eq!(mbpp.items[0].base_inputs[0], "(3, 4, 5, 6), (5, 7, 4, 10)");
    assert_eq!(mbpp.items[0].plus_inputs[0], "(), ()");
    assert_eq!(mbpp.items[0].oracle, SpecialOracle::SetEquality);
    // Infinity and integers past 64 bits, as json.loads reads them.
    assert_eq!(
        mbpp.items[1].plus_inputs,
        [
            "float('-inf'), float('inf')",
            "1e-30, float('-inf')",
            "99999999999999999999999999999, 1"
        ]
    );
    // `"plus_input": {}` means none.
    assert!(mbpp.items[2].plus_inputs.is_empty());
    assert_eq!(mbpp.items[2].oracle, SpecialOracle::NotNone);
    assert!(
        mbpp.items[2]
            .encoder()
            .contains("return _nxt_encode(value is not None)")
    );
    assert_eq!(mbpp.items[3].atol, 0.0001);
}

#[test]
fn evalplus_errors_name_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.jsonl");
    let good = std::fs::read_to_string(fixture("humanevalplus.jsonl")).unwrap();
    let first = good.lines().next().unwrap();
    for (line, message) in [
        (
            first.replace("\"plus_input\": [[-0.5]", "\"plus_input\": [-0.5"),
            "bad.jsonl:2: field `plus_input[0]`: expected a list of arguments",
        ),
        (
            first.replace("HumanEval/0", "Mbpp/0"),
            "bad.jsonl:2: field `task_id`: expected a humaneval-plus id (HumanEval/<n>), found \"Mbpp/0\"",
        ),
        (
            first.replace("\"atol\": 0", "\"atol\": \"0\""),
            "bad.jsonl:2: field `atol`: expected a number, found a string",
        ),
        (
            first.replace("\"base_input\"", "\"base_inputs\""),
            "bad.jsonl:2: field `base_input`: missing",
        ),
        (
            first.replace("[[3], [1.0]]", "[[3], [1.0]"),
            "bad.jsonl:2: invalid JSON at column",
        ),
    ] {
        std::fs::write(&path, format!("{}\n{line}\n", good.lines().nth(1).unwrap())).unwrap();
        let err = plus::read(&path, Benchmark::HumanEvalPlus, OnInvalid::Fail).unwrap_err();
        let text = err
            .to_string()
            .replace(&format!("{}/", dir.path().display()), "");
        assert!(text.starts_with(message), "{text}");
        let loaded = plus::read(&path, Benchmark::HumanEvalPlus, OnInvalid::Skip).unwrap();
        assert_eq!((loaded.items.len(), loaded.skipped.len()), (1, 1));
    }
}

#[test]
fn one_block_per_input_compared_as_evalplus_does() {
    let problems = humaneval_plus();
    let made = plus::tasks(
        &problems,
        &humaneval_plus_oracles(),
        &PlusOptions::default(),
    )
    .unwrap();
    assert_eq!(made.tasks.len(), 3);
    assert_eq!(
        (made.literals, made.pickles, made.digests, made.oracle_only),
        (7, 1, 1, 3)
    );
    assert_eq!(made.dropped.len(), 1);
    assert_eq!(made.dropped[0].input, "plus_input[3]");

    let halve = &made.tasks[0];
    assert_eq!(halve.task_id, "HumanEval/0");
    assert_eq!(halve.code, problems.items[0].program());
    assert_eq!(halve.solution.as_ref(), Some(&halve.code));
    assert_eq!(halve.entry_point.as_deref(), Some("halve"));
    assert_eq!(halve.tests.len(), 5);
    // A float output: a tolerance of 1e-6 (atol is 0).
    assert_eq!(
        halve.tests[0],
        "# base_input[0]\nwith _nxt_time_limit(1.0):\n    __out = halve(3)\n_nxt_expect(__out, 1.5, 1e-6)\n"
    );
    // 0.3 s of reference time: 4 x that.
    assert_eq!(
        halve.tests[4],
        "# plus_input[2]\nwith _nxt_time_limit(1.2):\n    __out = halve(10)\n_nxt_expect(__out, 5.0, 1e-6)\n"
    );
    assert_eq!(halve.meta["dataset"], "humaneval-plus");
    assert_eq!(halve.meta["file"], "humanevalplus.jsonl");
    assert_eq!(halve.meta["base_tests"], 2);
    assert_eq!(halve.meta["plus_tests"], 3);
    assert_eq!(
        halve.meta["test_timeouts"],
        json!([1.0, 1.0, 1.0, 1.0, 1.2])
    );
    // Per set: min(60, sum of limits) + 2.
    assert_eq!(halve.meta["timeout"], json!(4.0 + 5.2));
    assert_eq!(
        halve.meta["dropped"],
        json!([{"input": "plus_input[3]", "reason": "the reference raised TypeError: unsupported"}])
    );
    let setup = halve.setup.as_deref().unwrap();
    assert!(setup.contains("class _nxt_time_limit:"));
    assert!(!setup.contains("def _nxt_digest("));

    let zero = &made.tasks[1];
    assert_eq!(
        zero.tests[1],
        "# base_input[1]\nwith _nxt_time_limit(1.0):\n    __out = find_zero([-6, 11, -6, 1])\n\
         assert abs(_nxt_poly([-6, 11, -6, 1], __out)) <= 0.0001, _nxt_got(__out)\n"
    );
    assert!(zero.setup.as_deref().unwrap().contains("def _nxt_poly("));

    let words = &made.tasks[2];
    assert_eq!(
        words.tests[0],
        "# base_input[0]\nwith _nxt_time_limit(1.0):\n    __out = words(3)\nassert __out == '0 1 2 3', _nxt_got(__out)\n"
    );
    assert!(words.tests[2].ends_with(&format!(
        "assert _nxt_digest(__out) == 'sha256:{}', _nxt_got(__out)\n",
        "ab".repeat(32)
    )));
    assert!(words.tests[3].ends_with(
        "assert __out == _nxt_unpickle('gASVCwAAAAAAAACMBzAgMSAyIDOULg=='), _nxt_got(__out)\n"
    ));
    let setup = words.setup.as_deref().unwrap();
    assert!(setup.contains("def _nxt_digest(") && setup.contains("def _nxt_unpickle("));

    // Tasks round-trip through JSONL.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tasks.jsonl");
    write_jsonl(&path, &made.tasks).unwrap();
    assert_eq!(
        read_tasks(&path, OnInvalid::Fail).unwrap().items,
        made.tasks
    );

    // Other limits.
    let slow = plus::tasks(
        &problems,
        &humaneval_plus_oracles(),
        &PlusOptions {
            min_time_limit: 2.0,
            time_limit_factor: 10.0,
        },
    )
    .unwrap();
    assert!(slow.tasks[0].tests[4].contains("with _nxt_time_limit(3.0):"));
}

#[test]
fn special_oracles_and_sticky_tolerance() {
    let problems = plus::read(
        &fixture("mbppplus.jsonl"),
        Benchmark::MbppPlus,
        OnInvalid::Fail,
    )
    .unwrap();
    let oracles = vec![
        TaskOracle {
            task_id: "Mbpp/2".into(),
            inputs: vec![
                literal("(4, 5)", false, 1e-6),
                literal("(3, 4)", false, 1e-6),
                literal("()", false, 1e-6),
                InputOracle::Observed(Observed {
                    expected: Expected::Digest(format!("sha256:{}", "00".repeat(32))),
                    floats: false,
                    seconds: 1e-6,
                }),
            ],
        },
        TaskOracle {
            task_id: "Mbpp/404".into(),
            inputs: vec![
                literal("1", false, 1e-6),
                literal("-5", false, 1e-6),
                literal("float('-inf')", true, 1e-6),
                literal("float('-inf')", true, 1e-6),
                literal("1", false, 1e-6),
            ],
        },
        TaskOracle {
            task_id: "Mbpp/737".into(),
            inputs: vec![literal("True", false, 1e-6), literal("False", false, 1e-6)],
        },
        TaskOracle {
            task_id: "Mbpp/82".into(),
            inputs: vec![
                literal("4188.790204786391", true, 1e-6),
                literal("65449.84694978735", true, 1e-6),
                literal("0.0", true, 1e-6),
                literal("14.137166941154069", true, 1e-6),
            ],
        },
    ];
    let made = plus::tasks(&problems, &oracles, &PlusOptions::default()).unwrap();
    let set_eq = &made.tasks[0];
    assert!(
        set_eq.tests[0].ends_with(
            "__exp = (4, 5)\n_nxt_expect(__out, __exp, 0.0, set(__out) == set(__exp))\n"
        )
    );
    // A set comparison needs the value: a digest cannot do.
    assert_eq!(set_eq.tests.len(), 3);
    assert_eq!(made.dropped[0].input, "plus_input[1]");
    let minimum = &made.tasks[1];
    assert!(minimum.tests[1].ends_with("assert __out == -5, _nxt_got(__out)\n"));
    // The first float output sets the tolerance for the rest of the set.
    assert!(minimum.tests[2].ends_with("_nxt_expect(__out, float('-inf'), 1e-6)\n"));
    assert!(minimum.tests[4].ends_with("_nxt_expect(__out, 1, 1e-6)\n"));
    let not_none = &made.tasks[2];
    assert!(not_none.tests[0].ends_with(
        "__exp = True\n_nxt_expect(__out, __exp, 0.0, __out == __exp if isinstance(__out, bool) \
         else __exp == (__out is not None))\n"
    ));
    assert_eq!(not_none.meta["plus_tests"], 0);
    assert_eq!(not_none.meta["timeout"], json!(4.0));
    let volume = &made.tasks[3];
    assert!(volume.tests[0].ends_with("_nxt_expect(__out, 4188.790204786391, 0.0001)\n"));
}

#[test]
fn oracles_must_fit_their_problems() {
    let problems = humaneval_plus();
    let mut oracles = humaneval_plus_oracles();
    oracles[1].inputs.pop();
    let err = plus::tasks(&problems, &oracles, &PlusOptions::default()).unwrap_err();
    assert!(matches!(err, DataError::Inconsistent(_)), "{err}");
    assert_eq!(
        err.to_string(),
        "HumanEval/1 has 3 inputs, but the oracles are for HumanEval/1 with 2"
    );
    // A problem whose every input was dropped makes no task.
    let mut oracles = humaneval_plus_oracles();
    for input in &mut oracles[1].inputs {
        *input = InputOracle::Dropped("no".into());
    }
    let made = plus::tasks(&problems, &oracles, &PlusOptions::default()).unwrap();
    assert_eq!(made.tasks.len(), 2);
    assert_eq!(made.empty, ["HumanEval/1"]);
}

#[test]
fn the_cache_is_keyed_by_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let cache = OracleCache::new(dir.path().join("cache"));
    let problems = humaneval_plus();
    assert_eq!(cache.load(&problems).unwrap(), None);
    let oracles = humaneval_plus_oracles();
    let path = cache.store(&problems, &oracles).unwrap();
    assert_eq!(
        path,
        dir.path()
            .join("cache/evalplus")
            .join(format!("humaneval-plus-{}.jsonl", problems.sha256))
    );
    assert_eq!(cache.load(&problems).unwrap(), Some(oracles.clone()));

    // Another file (one byte more): another key, nothing cached.
    let copy = dir.path().join("HumanEvalPlus.jsonl");
    let mut bytes = std::fs::read(fixture("humanevalplus.jsonl")).unwrap();
    bytes.push(b'\n');
    std::fs::write(&copy, &bytes).unwrap();
    let other = plus::read(&copy, Benchmark::HumanEvalPlus, OnInvalid::Fail).unwrap();
    assert_ne!(other.sha256, problems.sha256);
    assert_eq!(cache.load(&other).unwrap(), None);

    // A damaged cache file is an error (the caller computes again).
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replace("nxt-expected-outputs/1", "nxt-expected-outputs/0"),
    )
    .unwrap();
    let err = cache.load(&problems).unwrap_err();
    assert!(
        err.to_string()
            .contains("not a nxt-expected-outputs/1 cache"),
        "{err}"
    );
    std::fs::write(&path, &text[..text.len() - 20]).unwrap();
    assert!(cache.load(&problems).is_err());

    // Oracles that do not fit are not stored.
    let mut short = oracles;
    short.pop();
    assert!(matches!(
        cache.store(&problems, &short),
        Err(DataError::Inconsistent(_))
    ));
}

#[test]
fn humanevalfix_makes_repair_tasks() {
    let tasks = humanevalfix(&fixture("humanevalpack.jsonl")).unwrap();
    let ids: Vec<&str> = tasks.iter().map(|t| t.task_id.as_str()).collect();
    assert_eq!(ids, ["HumanEvalFix/0", "HumanEvalFix/1", "HumanEvalFix/2"]);
    let t = &tasks[0];
    assert_eq!(t.code, format!("{}    return x // 2\n", t.prompt));
    assert_eq!(t.solution, Some(format!("{}    return x / 2\n", t.prompt)));
    // The test already calls check(halve): it is not called twice.
    assert_eq!(
        t.tests,
        [
            "\n\ndef check(halve):\n    assert halve(3) == 1.5\n    assert halve(1.0) == 0.5\n\ncheck(halve)\n"
        ]
    );
    assert_eq!(
        serde_json::Value::Object(t.meta.clone()),
        json!({
            "dataset": "humanevalfix", "file": "humanevalpack.jsonl", "source_id": "Python/0",
            "bug_type": "operator misuse", "failure_symptoms": "incorrect output",
            "example_test": "def check(halve):\n    assert halve(3) == 1.5\ncheck(halve)\n"
        })
    );
    // Python/1's test does not call check: the call is added.
    assert!(
        tasks[1].tests[0].ends_with("    assert math.fabs(1 + 2 * x) < 1e-4\n\ncheck(find_zero)\n")
    );
}

#[test]
fn hefix_plus_pairs_buggy_programs_with_plus_tests() {
    let fix = humanevalfix(&fixture("humanevalpack.jsonl")).unwrap();
    let problems = humaneval_plus();
    let plus_tasks = plus::tasks(
        &problems,
        &humaneval_plus_oracles(),
        &PlusOptions::default(),
    )
    .unwrap()
    .tasks;
    let tasks = hefix_plus(&fix, &plus_tasks).unwrap();
    assert_eq!(tasks.len(), 3);
    let t = &tasks[0];
    assert_eq!(t.task_id, "HEFix+/0");
    assert_eq!(t.code, fix[0].code);
    assert_eq!(t.prompt, fix[0].prompt);
    assert_eq!(t.tests, plus_tasks[0].tests);
    assert_eq!(t.setup, plus_tasks[0].setup);
    assert_eq!(t.solution, plus_tasks[0].solution);
    assert_eq!(t.meta["dataset"], "hefix-plus");
    assert_eq!(t.meta["humanevalfix"], "HumanEvalFix/0");
    assert_eq!(t.meta["humaneval_plus"], "HumanEval/0");
    assert_eq!(t.meta["bug_type"], "operator misuse");
    assert_eq!(t.meta["timeout"], plus_tasks[0].meta["timeout"]);

    let err = hefix_plus(&fix, &plus_tasks[..2]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "HumanEvalFix/2: no HumanEval+ task HumanEval/2"
    );
    let mut renamed = plus_tasks.clone();
    renamed[0].entry_point = Some("other".into());
    assert!(hefix_plus(&fix, &renamed).is_err());
}

fn result(task_id: &str, sample_id: &str, status: Verdict) -> CheckResult {
    let tests = match status {
        Verdict::Passed => vec![TestResult {
            status: TestStatus::Passed,
            exception: None,
            message: None,
            line: None,
        }],
        _ => vec![
            TestResult {
                status: TestStatus::Passed,
                exception: None,
                message: None,
                line: None,
            },
            TestResult {
                status: TestStatus::Failed,
                exception: Some("AssertionError".into()),
                message: Some("got 4".into()),
                line: Some(3),
            },
        ],
    };
    CheckResult {
        task_id: task_id.into(),
        sample_id: sample_id.into(),
        status,
        tests,
        stdout: String::new(),
        stderr: String::new(),
        duration_ms: 1,
        meta: Default::default(),
    }
}

fn task(id: &str) -> Task {
    Task {
        task_id: id.into(),
        prompt: "p".into(),
        code: "ref".into(),
        tests: vec!["assert f() == 1".into()],
        setup: None,
        entry_point: Some("f".into()),
        solution: Some("def f():\n    return 1\n".into()),
        meta: json!({"dataset": "toy"}).as_object().unwrap().clone(),
    }
}

fn sample(task_id: &str, sample_id: &str, code: &str) -> Sample {
    Sample {
        task_id: task_id.into(),
        sample_id: sample_id.into(),
        code: code.into(),
        meta: Default::default(),
    }
}

#[test]
fn repair_tasks_are_distinct_capped_and_ordered() {
    let tasks = [task("t/1"), task("t/2"), task("t/3")];
    let samples = [
        sample("t/2", "a", "def f():\n    return 2\n"),
        sample("t/1", "0", "def f():\n    return 1\n"),
        sample("t/1", "1", "def f():\n    return 0\n"),
        sample("t/1", "2", "def f():\r\n    return 0  \r\n"),
        sample("t/1", "3", "def f():\n    return 3\n"),
        sample("t/1", "4", "def f():\n    return 4\n"),
        sample("t/3", "x", "def f():\n    return 5\n"),
        sample("t/9", "x", "def f():\n    return 5\n"),
        sample("t/1", "5", "no result"),
    ];
    let results: Vec<CheckResult> = [
        ("t/1", "4", Verdict::Timeout),
        ("t/1", "0", Verdict::Passed),
        ("t/1", "1", Verdict::Failed),
        ("t/1", "2", Verdict::Failed),
        ("t/1", "3", Verdict::Error),
        ("t/2", "a", Verdict::Failed),
        ("t/3", "x", Verdict::Failed),
    ]
    .iter()
    .map(|(t, s, v)| result(t, s, *v))
    .collect();
    let reference_failed: HashSet<String> = ["t/3".to_owned()].into();
    let options = RepairOptions {
        max_per_task: Some(2),
    };
    let set = repair_tasks(&tasks, &samples, &results, &reference_failed, &options).unwrap();
    let ids: Vec<&str> = set.tasks.iter().map(|t| t.task_id.as_str()).collect();
    assert_eq!(ids, ["t/1/1", "t/1/3", "t/2/a"]);
    assert_eq!(
        (
            set.samples,
            set.passed,
            set.duplicates,
            set.over_cap,
            set.skipped
        ),
        (9, 1, 1, 1, 3)
    );
    let t = &set.tasks[0];
    assert_eq!(t.code, "def f():\n    return 0\n");
    assert_eq!(t.solution.as_deref(), Some("def f():\n    return 1\n"));
    assert_eq!(t.tests, tasks[0].tests);
    assert_eq!(
        serde_json::Value::Object(t.meta.clone()),
        json!({"dataset": "toy", "origin": {
            "task_id": "t/1", "sample_id": "1", "verdict": "failed",
            "failed_test": {"index": 1, "status": "failed", "exception": "AssertionError",
                            "message": "got 4", "line": 3}
        }})
    );
    let all = repair_tasks(
        &tasks,
        &samples,
        &results,
        &reference_failed,
        &RepairOptions::default(),
    )
    .unwrap();
    assert_eq!(all.tasks.len(), 4);
    assert_eq!(all.tasks[2].meta["origin"]["verdict"], "timeout");

    // Ids must stay unique.
    let clash_tasks = [task("a/b"), task("a")];
    let clash_samples = [sample("a/b", "c", "x"), sample("a", "b/c", "y")];
    let clash_results = [
        result("a/b", "c", Verdict::Failed),
        result("a", "b/c", Verdict::Failed),
    ];
    let err = repair_tasks(
        &clash_tasks,
        &clash_samples,
        &clash_results,
        &HashSet::new(),
        &RepairOptions::default(),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "two repair tasks would have the id \"a/b/c\""
    );
}
