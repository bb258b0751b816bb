//! Tasks, samples and verdicts: the data of test-based verification
//! (`docs/tasks-jsonl.md`).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};

/// A programming task with executable tests, one line of a tasks JSONL file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Task {
    /// Unique id, e.g. `HumanEval/0` or `mbpp/11`.
    pub task_id: String,
    /// The natural-language specification.
    pub prompt: String,
    /// The program under test: a buggy program for a repair task, or a solution.
    pub code: String,
    /// Test blocks: each is Python source (one or more statements) and passes when it
    /// runs to its end without an exception.
    pub tests: Vec<String>,
    /// Source run after the program and before the tests (for example fixtures the
    /// tests use).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub setup: Option<String>,
    /// The name of the function under test, where there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry_point: Option<String>,
    /// A reference program that passes the tests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub solution: Option<String>,
    /// Anything else, kept as is (key order included).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub meta: Map<String, Json>,
}

/// A candidate program for a task, one line of a samples JSONL file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sample {
    /// The task it answers.
    pub task_id: String,
    /// Unique within its task.
    pub sample_id: String,
    /// The candidate program.
    pub code: String,
    /// Anything else, kept as is.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub meta: Map<String, Json>,
}

impl Sample {
    /// The sample id used when a task's own `code` is verified (no samples file).
    pub const TASK_CODE: &'static str = "code";

    /// The task's own `code` as a sample (id [`Sample::TASK_CODE`]).
    pub fn of_task(task: &Task) -> Sample {
        Sample {
            task_id: task.task_id.clone(),
            sample_id: Sample::TASK_CODE.to_owned(),
            code: task.code.clone(),
            meta: Map::new(),
        }
    }
}

/// The verdict on one program against one task's tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every test block ran to its end.
    Passed,
    /// A test block raised `AssertionError` (and none raised anything else first).
    Failed,
    /// The program, the setup or a test block raised another exception.
    Error,
    /// The program does not compile.
    SyntaxError,
    /// The wall-clock or CPU limit was reached.
    Timeout,
    /// The memory limit was reached (`MemoryError` escaped, or the process died of it).
    Memory,
    /// Killed by a signal, or exited on its own before the tests finished
    /// (`sys.exit(0)` and `os._exit(0)` included): never a pass.
    Crashed,
    /// The engine cannot judge this program faithfully (an embedded engine that lacks a
    /// module it imports, or behaves otherwise than CPython where the program depends
    /// on it: `docs/engines.md`). Never a pass, and no verdict on the program itself:
    /// `meta.reason` says why. The CPython engine never gives it.
    Unsupported,
}

impl Verdict {
    /// Whether this verdict is a pass.
    pub fn passed(self) -> bool {
        self == Verdict::Passed
    }

    /// The verdict's name in results files: `passed`, `failed`, `error`,
    /// `syntax_error`, `timeout`, `memory`, `crashed`, `unsupported`.
    ///
    /// ```
    /// assert_eq!(nxt_core::Verdict::SyntaxError.as_str(), "syntax_error");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Passed => "passed",
            Verdict::Failed => "failed",
            Verdict::Error => "error",
            Verdict::SyntaxError => "syntax_error",
            Verdict::Timeout => "timeout",
            Verdict::Memory => "memory",
            Verdict::Crashed => "crashed",
            Verdict::Unsupported => "unsupported",
        }
    }
}

/// How one test block fared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TestStatus {
    /// Ran to its end.
    Passed,
    /// Raised `AssertionError`.
    Failed,
    /// Raised another exception.
    Error,
    /// Did not run (an earlier failure with fail-fast, or the run ended first).
    NotRun,
}

impl TestStatus {
    /// The status's name in results files: `passed`, `failed`, `error`, `not_run`.
    pub fn as_str(self) -> &'static str {
        match self {
            TestStatus::Passed => "passed",
            TestStatus::Failed => "failed",
            TestStatus::Error => "error",
            TestStatus::NotRun => "not_run",
        }
    }
}

/// The result of one test block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestResult {
    /// How it fared.
    pub status: TestStatus,
    /// The exception's type name, e.g. `AssertionError`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exception: Option<String>,
    /// The exception's message (`str(exc)`), capped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The 1-based line within the test block where it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
}

/// The result of verifying one sample: one line of a results JSONL file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    /// The task.
    pub task_id: String,
    /// The sample ([`Sample::TASK_CODE`] for a task's own code).
    pub sample_id: String,
    /// The verdict.
    pub status: Verdict,
    /// One entry per test block, in order.
    pub tests: Vec<TestResult>,
    /// The end of what the program printed to stdout (capped).
    pub stdout: String,
    /// The end of what it printed to stderr (capped).
    pub stderr: String,
    /// Wall-clock time of the check, in milliseconds.
    pub duration_ms: u64,
    /// How the check was isolated and anything else worth keeping (for example
    /// `{"network": "namespace"}`).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub meta: Map<String, Json>,
}

/// Options for verification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct VerifyOptions {
    /// Wall-clock limit of one check, in seconds. By default, 3.
    pub timeout: f64,
    /// Address-space limit of one check, in bytes; `None` for none. By default, 4 GiB.
    pub memory_limit: Option<u64>,
    /// Stop a check at its first failing test block (the rest are `not_run`). By
    /// default, off.
    pub fail_fast: bool,
    /// How much of stdout and of stderr a result keeps (the end), in bytes. By
    /// default, 2,048.
    pub output_tail: usize,
}

impl Default for VerifyOptions {
    fn default() -> VerifyOptions {
        VerifyOptions {
            timeout: 3.0,
            memory_limit: Some(4 << 30),
            fail_fast: false,
            output_tail: 2048,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_serialized_forms() {
        use Verdict::*;
        for v in [
            Passed,
            Failed,
            Error,
            SyntaxError,
            Timeout,
            Memory,
            Crashed,
            Unsupported,
        ] {
            assert_eq!(serde_json::to_value(v).unwrap(), v.as_str());
        }
        for s in [
            TestStatus::Passed,
            TestStatus::Failed,
            TestStatus::Error,
            TestStatus::NotRun,
        ] {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
    }
}
