//! Fakes of the nxt-core traits for unit tests: no Python runs.

use std::sync::Mutex;

use nxt_core::{
    CheckResult, Event, Program, Sample, Step, Task, TestResult, TestStatus, Trace, TraceOptions,
    Tracer, Value, Var, Verdict, Verifier, VerifyOptions,
};

/// An error of a fake.
#[derive(Debug, thiserror::Error)]
#[error("fake failure: {0}")]
pub(crate) struct FakeError(pub(crate) String);

/// A verifier that gives each task the statuses it was told, or an error.
pub(crate) struct FakeVerifier {
    pub(crate) verdict: Verdict,
    pub(crate) statuses: Vec<TestStatus>,
    pub(crate) fail: bool,
    pub(crate) calls: Mutex<usize>,
}

impl FakeVerifier {
    pub(crate) fn new(verdict: Verdict, statuses: &[TestStatus]) -> FakeVerifier {
        FakeVerifier {
            verdict,
            statuses: statuses.to_vec(),
            fail: false,
            calls: Mutex::new(0),
        }
    }
}

pub(crate) fn check(task: &Task, verdict: Verdict, statuses: &[TestStatus]) -> CheckResult {
    CheckResult {
        task_id: task.task_id.clone(),
        sample_id: Sample::TASK_CODE.into(),
        status: verdict,
        tests: statuses
            .iter()
            .map(|&status| TestResult {
                status,
                exception: None,
                message: None,
                line: None,
            })
            .collect(),
        stdout: String::new(),
        stderr: String::new(),
        duration_ms: 1,
        meta: Default::default(),
    }
}

impl Verifier for FakeVerifier {
    type Error = FakeError;
    fn verify(&self, task: &Task, _: &Sample, _: &VerifyOptions) -> Result<CheckResult, FakeError> {
        *self.calls.lock().unwrap() += 1;
        if self.fail {
            return Err(FakeError("no interpreter".into()));
        }
        Ok(check(task, self.verdict, &self.statuses))
    }
}

/// A tracer for the program `def f(x):\n    return x\n\n<test>\n`: a call, a return
/// and, on the test's line, an exception; or an error.
pub(crate) struct FakeTracer {
    pub(crate) fail: bool,
    pub(crate) programs: Mutex<Vec<String>>,
}

impl FakeTracer {
    pub(crate) fn new() -> FakeTracer {
        FakeTracer {
            fail: false,
            programs: Mutex::new(Vec::new()),
        }
    }
}

impl Tracer for FakeTracer {
    type Error = FakeError;
    fn trace(&self, program: &Program, _: &TraceOptions) -> Result<Trace, FakeError> {
        self.programs.lock().unwrap().push(program.source.clone());
        if self.fail {
            return Err(FakeError("syntax error".into()));
        }
        let mut t = Trace::new("fake");
        let step = |line, event, frame, name: &str, value: &str| Step {
            line,
            event,
            frame,
            vars: vec![Var::new(name, Value::repr(value))],
        };
        t.steps.push(step(1, Event::Call, 1, "x", "1"));
        t.steps.push(step(2, Event::Return, 1, "__return__", "1"));
        t.steps.push(step(
            4,
            Event::Exception,
            0,
            "__exception__",
            "AssertionError()",
        ));
        Ok(t)
    }
}

/// A task for the fakes, with the given tests (each one line).
pub(crate) fn task(tests: &[&str]) -> Task {
    Task {
        task_id: "fake/0".into(),
        prompt: "Write a function to return twice its argument.".into(),
        code: "def f(x):\n    return x\n".into(),
        tests: tests.iter().map(|t| (*t).to_owned()).collect(),
        setup: None,
        entry_point: Some("f".into()),
        solution: None,
        meta: Default::default(),
    }
}
