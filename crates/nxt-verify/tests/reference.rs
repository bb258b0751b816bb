//! The reference runner: outputs, times and failures of a trusted program on many
//! inputs, and a job that survives its process dying.

use std::ops::ControlFlow;
use std::time::Duration;

use nxt_verify::reference::{ReferenceJob, ReferenceOutcome, ReferenceRunnerBuilder};

const ENCODER: &str =
    "def encode(value):\n    return {'repr': repr(value), 'type': type(value).__name__}\n";

fn returned(outcome: &ReferenceOutcome) -> (&str, f64) {
    match outcome {
        ReferenceOutcome::Returned { seconds, value } => {
            (value["repr"].as_str().unwrap(), *seconds)
        }
        other => panic!("not returned: {other:?}"),
    }
}

#[test]
fn outputs_exceptions_and_timeouts_per_input() {
    let runner = ReferenceRunnerBuilder::new()
        .input_timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let program = "import time\n\ndef f(x, y=0):\n    if x == 'sleep':\n        time.sleep(5)\n    if x == 'loop':\n        while True:\n            pass\n    return x + y\n\nstate = []\n";
    let job = ReferenceJob {
        program,
        entry_point: "f",
        encoder: ENCODER,
        inputs: vec![
            "1, 2",
            "[1], [2]",
            "'a', 1",
            "'sleep'",
            "'loop'",
            "(1,)",
            "undefined_name",
            "2.5",
        ],
    };
    let outcomes = runner.run(&job).unwrap();
    assert_eq!(outcomes.len(), 8);
    assert_eq!(returned(&outcomes[0]).0, "3");
    assert_eq!(returned(&outcomes[1]).0, "[1, 2]");
    assert!(
        matches!(&outcomes[2], ReferenceOutcome::Raised { exception, message } if exception == "TypeError" && message.contains("str")),
        "{:?}",
        outcomes[2]
    );
    for i in [3, 4] {
        match &outcomes[i] {
            ReferenceOutcome::TimedOut { seconds } => {
                assert!((0.4..2.0).contains(seconds), "{seconds}")
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(
        matches!(&outcomes[5], ReferenceOutcome::Raised { exception, .. } if exception == "TypeError")
    );
    assert!(
        matches!(&outcomes[6], ReferenceOutcome::Failed { reason } if reason.contains("NameError")),
        "{:?}",
        outcomes[6]
    );
    let (repr, seconds) = returned(&outcomes[7]);
    assert_eq!(repr, "2.5");
    assert!((0.0..0.5).contains(&seconds));
}

#[test]
fn a_dying_process_costs_only_its_input() {
    let runner = ReferenceRunnerBuilder::new().build().unwrap();
    let program = "import os\n\ndef f(x):\n    if x == 2:\n        os._exit(3)\n    if x == 4:\n        os.kill(os.getpid(), 9)\n    return x * 10\n";
    let job = ReferenceJob {
        program,
        entry_point: "f",
        encoder: ENCODER,
        inputs: vec!["1", "2", "3", "4", "5"],
    };
    let outcomes = runner.run(&job).unwrap();
    assert_eq!(returned(&outcomes[0]).0, "10");
    assert!(
        matches!(&outcomes[1], ReferenceOutcome::Failed { reason } if reason == "the process exited with code 3"),
        "{:?}",
        outcomes[1]
    );
    assert_eq!(returned(&outcomes[2]).0, "30");
    assert!(
        matches!(&outcomes[3], ReferenceOutcome::Failed { reason } if reason.contains("signal 9")),
        "{:?}",
        outcomes[3]
    );
    assert_eq!(returned(&outcomes[4]).0, "50");
}

#[test]
fn program_entry_point_and_encoder_failures() {
    let runner = ReferenceRunnerBuilder::new().workers(2).build().unwrap();
    let jobs = [
        ReferenceJob {
            program: "raise ValueError('broken')\n",
            entry_point: "f",
            encoder: ENCODER,
            inputs: vec!["1", "2"],
        },
        ReferenceJob {
            program: "def g(x):\n    return x\n",
            entry_point: "f",
            encoder: ENCODER,
            inputs: vec!["1"],
        },
        ReferenceJob {
            program: "def f(x):\n    return x\n",
            entry_point: "f",
            encoder: "def encode(value):\n    return {'half': 1 / value}\n",
            inputs: vec!["2", "0"],
        },
        ReferenceJob {
            program: "def f(x):\n    return x\n",
            entry_point: "f",
            encoder: "syntax error here",
            inputs: vec!["2"],
        },
    ];
    let mut outcomes = vec![None; jobs.len()];
    let handed = runner.run_each(&jobs, |i, r| {
        outcomes[i] = Some(r.unwrap());
        ControlFlow::Continue(())
    });
    assert_eq!(handed, 4);
    let outcomes: Vec<Vec<ReferenceOutcome>> = outcomes.into_iter().map(Option::unwrap).collect();
    for o in &outcomes[0] {
        assert!(
            matches!(o, ReferenceOutcome::Failed { reason } if reason == "the program failed: ValueError: broken"),
            "{o:?}"
        );
    }
    assert!(
        matches!(&outcomes[1][0], ReferenceOutcome::Failed { reason } if reason.starts_with("the entry point failed: NameError")),
        "{:?}",
        outcomes[1][0]
    );
    match &outcomes[2][0] {
        ReferenceOutcome::Returned { value, .. } => assert_eq!(value["half"], 0.5),
        other => panic!("{other:?}"),
    }
    assert!(
        matches!(&outcomes[2][1], ReferenceOutcome::Failed { reason } if reason.starts_with("the output could not be recorded: ZeroDivisionError")),
        "{:?}",
        outcomes[2][1]
    );
    assert!(
        matches!(&outcomes[3][0], ReferenceOutcome::Failed { reason } if reason.starts_with("the encoder failed: SyntaxError")),
        "{:?}",
        outcomes[3][0]
    );
}

#[test]
fn programs_run_as_main_with_a_fixed_seed() {
    let runner = ReferenceRunnerBuilder::new().build().unwrap();
    let program = "import random\n\nNAME = __name__\nFIRST = random.random()\n\ndef f():\n    return (NAME, FIRST, hash('abc'))\n";
    let job = ReferenceJob {
        program,
        entry_point: "f",
        encoder: ENCODER,
        inputs: vec![""],
    };
    let first = runner.run(&job).unwrap();
    let second = runner.run(&job).unwrap();
    assert_eq!(first.len(), 1);
    assert!(
        returned(&first[0])
            .0
            .starts_with("('__main__', 0.8444218515250481, ")
    );
    assert_eq!(returned(&first[0]).0, returned(&second[0]).0);
}
