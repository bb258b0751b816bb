//! The few-shot exemplars shipped with the crate (`exemplars/` in the crate).

use std::sync::OnceLock;

use nxt_core::{Program, Task, TestStatus};
use serde::Deserialize;

/// One worked repair problem for few-shot prompts: a buggy program for an MBPP task of
/// the few-shot prompting split (tasks 1–10, never evaluated on), its trace on the
/// first failing test, a rationale in the NExT style and the fixed program.
///
/// Each is a directory of files under `exemplars/` in the crate: `task.json` (the
/// task's text and tests, the index and status of the traced test), `buggy.py`,
/// `traced.py` (the traced program as rendered with the default options), `rationale.md`,
/// `rationale-no-trace.md` (the same reasoning without trace values, for prompts
/// without traces) and `fixed.py`. The crate's tests check that each fixed program
/// passes its tests, that each buggy one fails at `test_index`, and that `traced.py`
/// equals a fresh trace and rendering.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Exemplar {
    /// The directory under `exemplars/`, e.g. `mbpp-3`.
    pub dir: &'static str,
    /// The MBPP task, e.g. `mbpp/3`.
    pub task_id: String,
    /// The task's text, as in MBPP.
    pub prompt: String,
    /// The task's tests, as in MBPP (trailing spaces removed).
    pub tests: Vec<String>,
    /// The 0-based index of the first failing test, the one traced.
    pub test_index: usize,
    /// How that test fails.
    pub status: TestStatus,
    /// The buggy program.
    pub buggy: String,
    /// The buggy program followed by the failing test, with its inline trace.
    pub traced: String,
    /// The rationale, citing the trace.
    pub rationale: String,
    /// The rationale for prompts without traces: the same reasoning, by hand.
    pub rationale_without_trace: String,
    /// The fixed program.
    pub fixed: String,
}

impl Exemplar {
    /// The exemplar as a repair task: `code` is the buggy program, `solution` the fixed
    /// one.
    pub fn task(&self) -> Task {
        Task {
            task_id: self.task_id.clone(),
            prompt: self.prompt.clone(),
            code: self.buggy.clone(),
            tests: self.tests.clone(),
            setup: None,
            entry_point: None,
            solution: Some(self.fixed.clone()),
            meta: Default::default(),
        }
    }

    /// The program whose trace is [`Exemplar::traced`]:
    /// [`traced_program`](crate::traced_program) of [`Exemplar::task`] at
    /// [`Exemplar::test_index`].
    pub fn traced_program(&self) -> Program {
        crate::traced_program(&self.task(), self.test_index)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Meta {
    task_id: String,
    prompt: String,
    tests: Vec<String>,
    test_index: usize,
    status: TestStatus,
}

macro_rules! exemplar {
    ($dir:literal) => {
        (
            $dir,
            [
                include_str!(concat!("../exemplars/", $dir, "/task.json")),
                include_str!(concat!("../exemplars/", $dir, "/buggy.py")),
                include_str!(concat!("../exemplars/", $dir, "/traced.py")),
                include_str!(concat!("../exemplars/", $dir, "/rationale.md")),
                include_str!(concat!("../exemplars/", $dir, "/rationale-no-trace.md")),
                include_str!(concat!("../exemplars/", $dir, "/fixed.py")),
            ],
        )
    };
}

/// The files of each exemplar, in prompt order.
const FILES: [(&str, [&str; 6]); 3] = [
    exemplar!("mbpp-3"),
    exemplar!("mbpp-6"),
    exemplar!("mbpp-5"),
];

/// The exemplars shipped with the crate, in the order few-shot prompts use them: the
/// first `n` make an `n`-shot prompt.
///
/// ```
/// let ex = nxt_prompt::exemplars();
/// assert_eq!(ex.len(), 3);
/// assert!(ex.iter().all(|e| e.task_id.strip_prefix("mbpp/").unwrap().parse::<u32>().unwrap() <= 10));
/// ```
pub fn exemplars() -> &'static [Exemplar] {
    static EXEMPLARS: OnceLock<Vec<Exemplar>> = OnceLock::new();
    EXEMPLARS.get_or_init(|| {
        FILES
            .iter()
            .map(|(dir, [task, buggy, traced, rationale, no_trace, fixed])| {
                let meta: Meta = serde_json::from_str(task)
                    .unwrap_or_else(|e| panic!("exemplars/{dir}/task.json: {e}"));
                Exemplar {
                    dir,
                    task_id: meta.task_id,
                    prompt: meta.prompt,
                    tests: meta.tests,
                    test_index: meta.test_index,
                    status: meta.status,
                    buggy: (*buggy).to_owned(),
                    traced: (*traced).to_owned(),
                    rationale: rationale.trim_end().to_owned(),
                    rationale_without_trace: no_trace.trim_end().to_owned(),
                    fixed: (*fixed).to_owned(),
                }
            })
            .collect()
    })
}
