//! HumanEval+ and MBPP+ tasks, run: the Python helpers their setup defines (digests,
//! literals, evalplus's comparison, per-input time limits), expected outputs computed
//! by the reference runner for the fixtures in `fixtures/data`, and candidates judged
//! as evalplus judges them. Also a task's own time limit (`meta.timeout`).

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use nxt_core::{CheckResult, Sample, Task, TestStatus, Verdict, Verifier, VerifyOptions};
use nxt_data::OnInvalid;
use nxt_data::plus::{self, Benchmark, DIGEST_SOURCE, ENCODE_SOURCE, PlusOptions, SETUP_SOURCE};
use nxt_verify::reference::ReferenceRunnerBuilder;
use nxt_verify::{PythonVerifier, PythonVerifierBuilder, check_timeout};
use serde_json::json;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/data")
        .join(name)
}

fn verifier() -> PythonVerifier {
    PythonVerifierBuilder::new().workers(2).build().unwrap()
}

fn task(setup: &str, tests: &[&str]) -> Task {
    Task {
        task_id: "helpers".into(),
        prompt: String::new(),
        code: String::new(),
        tests: tests.iter().map(|t| t.to_string()).collect(),
        setup: Some(setup.to_owned()),
        entry_point: None,
        solution: None,
        meta: Default::default(),
    }
}

fn failures(result: &CheckResult) -> Vec<(usize, String)> {
    result
        .tests
        .iter()
        .enumerate()
        .filter(|(_, t)| t.status != TestStatus::Passed)
        .map(|(i, t)| {
            (
                i,
                format!(
                    "{} {}",
                    t.exception.as_deref().unwrap_or(""),
                    t.message.as_deref().unwrap_or("")
                ),
            )
        })
        .collect()
}

fn check(verifier: &PythonVerifier, task: &Task, code: &str) -> CheckResult {
    let sample = Sample {
        code: code.to_owned(),
        ..Sample::of_task(task)
    };
    verifier
        .verify(task, &sample, &VerifyOptions::default())
        .unwrap()
}

#[test]
fn digests_agree_exactly_when_values_are_equal() {
    let setup = format!("{DIGEST_SOURCE}\nd = _nxt_digest\n");
    let t = task(
        &setup,
        &[
            "assert d([1, 2.0, True]) == d([1.0, 2, 1])",
            "assert d(-0.0) == d(0) == d(False)",
            "assert d({'a': 1, 'b': [2]}) == d({'b': [2], 'a': 1})",
            "assert d({3, 1, 2}) == d(frozenset([2, 3, 1]))",
            "assert d([('x', 'y'), 'z']) == d([('x', 'y'), 'z'])",
            "assert d(1 + 0j) == d(1) and d(1 + 2j) != d(1)",
            "import collections\nassert d(collections.Counter('aab')) == d({'a': 2, 'b': 1})",
            "assert d(10**5000) == d(10**5000) != d(10**5000 + 1)",
            "assert d(2**60) == d(float(2**60)) and d(2**53 + 1) != d(float(2**53 + 1))",
            "assert d([1, 2]) != d((1, 2))",
            "assert d('a') != d(b'a') and d(b'a') == d(bytearray(b'a'))",
            "assert d(['ab', 'c']) != d(['a', 'bc'])",
            "assert d([0.1, 0.2]) != d([0.1, 0.2000001])",
            "assert d(None) != d(0) and d([]) != d(())",
            "assert d(float('nan')) == d(float('nan'))",
            "assert d('x' * (65 << 20)) == 'too large'",
            "assert d(['s' * 100] * 1000) == d(['s' * 100] * 1000)",
        ],
    );
    let result = check(&verifier(), &t, "");
    assert_eq!(failures(&result), []);
}

#[test]
fn literals_round_trip_with_their_types() {
    let setup = format!(
        "{DIGEST_SOURCE}\n{ENCODE_SOURCE}\n\n\
         def same(a, b):\n    \
             if type(a) is not type(b):\n        return False\n    \
             if isinstance(a, (list, tuple)):\n        return len(a) == len(b) and all(map(same, a, b))\n    \
             if isinstance(a, dict):\n        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)\n    \
             if isinstance(a, float) and a != a:\n        return b != b\n    \
             return a == b\n\n\
         def round_trip(value, kind='literal'):\n    \
             e = _nxt_encode(value)\n    \
             assert e['enc'] == kind, e\n    \
             back = eval(e['v']) if kind == 'literal' else None\n    \
             assert kind != 'literal' or same(back, value), (back, value)\n    \
             return e\n"
    );
    let t = task(
        &setup,
        &[
            "round_trip([1, 2.5, -0.0, 'a\\n', b'\\x00', None, True, (1,), {'k': {1, 2}}])",
            "round_trip([float('inf'), float('-inf'), complex(1, float('inf')), 1j])",
            "import math\nassert math.isnan(eval(round_trip(float('nan'))['v']))",
            "round_trip(frozenset({1}))\nround_trip(set())\nround_trip(frozenset())",
            "import collections\nround_trip(collections.Counter('hello'))\nround_trip(collections.OrderedDict(a=1))",
            "e = round_trip(10**5000)\nassert e['v'].startswith('0x')",
            "import collections\nround_trip(collections.deque([1, 2]), 'pickle')",
            "round_trip(list(range(100000)), 'digest')",
            "assert round_trip(1.0)['floats'] and round_trip([1.0, 2.0])['floats']",
            "assert not round_trip([])['floats'] and not round_trip([1.0, 2])['floats'] and not round_trip(1)['floats']",
        ],
    );
    let result = check(&verifier(), &t, "");
    assert_eq!(failures(&result), []);
}

#[test]
fn evalplus_comparison_and_time_limits() {
    let t = task(
        SETUP_SOURCE,
        &[
            // Exact, then the tolerance: type, length, |a - b| <= atol + rtol * |b|.
            "_nxt_expect(1.0, 1.0, 0)\n_nxt_expect([1.0, 2.0], [1.0, 2.0000001], 1e-6)",
            "_nxt_expect(1e9 + 50, 1e9, 1e-6)",
            "_nxt_expect(1e9 + 200, 1e9, 1e-6)",
            "_nxt_expect([1.0], (1.0,), 1e-6)",
            "_nxt_expect([1.0], [1.0, 1.0], 1e-6)",
            "_nxt_expect(float('inf'), float('inf'), 1e-6)",
            "_nxt_expect(float('nan'), float('nan'), 1e-6)",
            "_nxt_expect(1.5, 1.0, 0)",
            "_nxt_expect(3, 1.0, 0, exact=True)",
            // The time limit: a slow call fails, and so do the later ones at once.
            "import time\nwith _nxt_time_limit(0.2):\n    time.sleep(2)",
            "import time\nstart = time.time()\nwith _nxt_time_limit(5):\n    pass",
        ],
    );
    let verifier = verifier();
    let result = check(&verifier, &t, "");
    let got = failures(&result);
    let failed: Vec<usize> = got.iter().map(|(i, _)| *i).collect();
    assert_eq!(failed, [2, 3, 4, 6, 7, 9, 10], "{got:?}");
    assert!(got[0].1.starts_with("AssertionError"), "{got:?}");
    assert_eq!(
        got[5].1,
        "TimeLimitExceeded the call took longer than 0.2 s"
    );
    assert_eq!(
        got[6].1,
        "TimeLimitExceeded not run: an earlier input ran out of time"
    );
    assert_eq!(result.status, Verdict::Failed);

    // A program that catches the alarm's exception still runs out of time.
    let swallow = task(
        SETUP_SOURCE,
        &["with _nxt_time_limit(0.2):\n    f()", "assert True"],
    );
    let result = check(
        &verifier,
        &swallow,
        "import time\n\ndef f():\n    try:\n        time.sleep(2)\n    except BaseException:\n        pass\n",
    );
    let got = failures(&result);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(
        got[0].1,
        "TimeLimitExceeded the call took longer than 0.2 s"
    );
}

/// Expected outputs of a fixture, computed by the reference runner.
fn tasks_of(file: &str, benchmark: Benchmark) -> Vec<Task> {
    let problems = plus::read(&fixture(file), benchmark, OnInvalid::Fail).unwrap();
    let runner = ReferenceRunnerBuilder::new().workers(2).build().unwrap();
    let oracles = runner
        .oracles(&problems, || ControlFlow::Continue(()))
        .unwrap()
        .unwrap();
    plus::tasks(&problems, &oracles, &PlusOptions::default())
        .unwrap()
        .tasks
}

fn verdict(verifier: &PythonVerifier, task: &Task, code: &str) -> (Verdict, Vec<(usize, String)>) {
    let result = check(verifier, task, code);
    (result.status, failures(&result))
}

#[test]
fn humaneval_plus_fixture_judges_as_evalplus() {
    let tasks = tasks_of("humanevalplus.jsonl", Benchmark::HumanEvalPlus);
    let verifier = verifier();
    for t in &tasks {
        let (v, why) = verdict(&verifier, t, t.solution.as_deref().unwrap());
        assert_eq!(v, Verdict::Passed, "{}: {why:?}", t.task_id);
    }
    let [halve, zero, words] = &tasks[..] else {
        panic!()
    };
    assert_eq!(halve.meta["dropped"][0]["input"], "plus_input[3]");
    let with = |body: &str| format!("{}{body}", halve.prompt);
    // Within the tolerance (a relative 1e-7): passes.
    assert_eq!(
        verdict(&verifier, halve, &with("    return x * 0.50000001\n")).0,
        Verdict::Passed
    );
    let (v, why) = verdict(&verifier, halve, &with("    return x // 2\n"));
    assert_eq!(v, Verdict::Failed);
    assert_eq!(why[0], (0, "AssertionError got 1".to_owned()));
    // An int where a float is expected: equal values pass (`==`).
    assert_eq!(
        verdict(
            &verifier,
            halve,
            &with("    return x / 2 if x % 2 else x // 2\n")
        )
        .0,
        Verdict::Passed
    );

    // find_zero: any root within atol passes, the expected one or not.
    let newton = "    x = 1.0\n    for _ in range(200):\n        d = sum(i * c * x ** (i - 1) for i, c in enumerate(xs) if i)\n        x = x - poly(xs, x) / d\n    return x\n";
    assert_eq!(
        verdict(&verifier, zero, &format!("{}{newton}", zero.prompt)).0,
        Verdict::Passed
    );
    assert_eq!(
        verdict(&verifier, zero, &format!("{}    return 0.0\n", zero.prompt)).0,
        Verdict::Failed
    );

    // The large output is compared by digest: equal is equal, however it was built.
    let built = "    out = ''\n    for i in range(n + 1):\n        out += (' ' if i else '') + str(i)\n    return out\n";
    assert_eq!(
        verdict(&verifier, words, &format!("{}{built}", words.prompt)).0,
        Verdict::Passed
    );
    let (v, why) = verdict(
        &verifier,
        words,
        &format!(
            "{}    return ' '.join(str(i) for i in range(min(n, 10000) + 1))\n",
            words.prompt
        ),
    );
    assert_eq!(v, Verdict::Failed);
    assert_eq!(why.len(), 1);
    assert!(
        why[0].1.starts_with("AssertionError got '0 1 2 3"),
        "{why:?}"
    );

    // A slow program: the first input over its limit, the rest at once.
    let (v, why) = verdict(
        &verifier,
        words,
        &format!(
            "{}    import time\n    time.sleep(3)\n    return ''\n",
            words.prompt
        ),
    );
    assert_eq!(v, Verdict::Error);
    assert_eq!(
        why[0].1,
        "TimeLimitExceeded the call took longer than 1.0 s"
    );
    assert!(
        why[1..]
            .iter()
            .all(|(_, m)| m == "TimeLimitExceeded not run: an earlier input ran out of time")
    );
}

#[test]
fn mbpp_plus_fixture_judges_as_evalplus() {
    let tasks = tasks_of("mbppplus.jsonl", Benchmark::MbppPlus);
    let verifier = verifier();
    for t in &tasks {
        let (v, why) = verdict(&verifier, t, t.solution.as_deref().unwrap());
        assert_eq!(v, Verdict::Passed, "{}: {why:?}", t.task_id);
    }
    let [similar, minimum, check_str, volume] = &tasks[..] else {
        panic!()
    };
    // Set equality: any order, any iterable.
    for body in [
        "def similar_elements(a, b):\n    return tuple(sorted(set(a) & set(b), reverse=True))\n",
        "def similar_elements(a, b):\n    return [x for x in a if x in b]\n",
    ] {
        assert_eq!(
            verdict(&verifier, similar, body).0,
            Verdict::Passed,
            "{body}"
        );
    }
    assert_eq!(
        verdict(
            &verifier,
            similar,
            "def similar_elements(a, b):\n    return a\n"
        )
        .0,
        Verdict::Failed
    );
    // Infinities are expected outputs like any other.
    assert_eq!(
        verdict(
            &verifier,
            minimum,
            "def minimum(a, b):\n    return a if a < b else b\n"
        )
        .0,
        Verdict::Passed
    );
    assert_eq!(
        verdict(
            &verifier,
            minimum,
            "def minimum(a, b):\n    return max(a, b)\n"
        )
        .0,
        Verdict::Failed
    );
    // "Not None" tasks: a bool or a match object.
    for body in [
        "def check_str(s):\n    return s[0] in 'aeiouAEIOU'\n",
        "import re\n\ndef check_str(s):\n    return re.match('[aeiou]', s)\n",
    ] {
        assert_eq!(
            verdict(&verifier, check_str, body).0,
            Verdict::Passed,
            "{body}"
        );
    }
    assert_eq!(
        verdict(&verifier, check_str, "def check_str(s):\n    return s\n").0,
        Verdict::Failed
    );
    // atol 0.0001.
    assert_eq!(
        verdict(
            &verifier,
            volume,
            "import math\n\ndef volume_sphere(r):\n    return 4 * math.pi * r * r * r / 3\n"
        )
        .0,
        Verdict::Passed
    );
    assert_eq!(
        verdict(
            &verifier,
            volume,
            "def volume_sphere(r):\n    return 4 / 3 * 3.1416 * r ** 3\n"
        )
        .0,
        Verdict::Failed
    );
}

#[test]
fn a_task_may_carry_a_longer_time_limit() {
    let mut t = task("", &["import time\ntime.sleep(1.5)"]);
    let options = VerifyOptions {
        timeout: 1.0,
        ..VerifyOptions::default()
    };
    assert_eq!(check_timeout(&t, &options), 1.0);
    let verifier = verifier();
    let sample = Sample::of_task(&t);
    assert_eq!(
        verifier.verify(&t, &sample, &options).unwrap().status,
        Verdict::Timeout
    );
    t.meta.insert("timeout".into(), json!(4.0));
    assert_eq!(check_timeout(&t, &options), 4.0);
    assert_eq!(
        verifier.verify(&t, &sample, &options).unwrap().status,
        Verdict::Passed
    );
    // Never shorter than the options' limit.
    t.meta.insert("timeout".into(), json!(0.1));
    assert_eq!(check_timeout(&t, &options), 1.0);
}
