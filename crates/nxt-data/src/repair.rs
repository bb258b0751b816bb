//! Repair tasks from failing samples, as NExT built MBPP-R (`docs/benchmarks-data.md`):
//! given tasks, samples and the verdict on each sample, every sample that did not pass
//! becomes a task whose `code` is that sample and whose `solution` is the task's
//! reference.
//!
//! Choice and order are deterministic: tasks in the order of the tasks file, samples in
//! the order of the samples file; within a task, samples whose programs are the same
//! once normalized ([`normalize`]) count once (the first is kept), and at most
//! [`RepairOptions::max_per_task`] are kept (the first ones).

use std::collections::{HashMap, HashSet};

use nxt_core::{CheckResult, Sample, Task, TestStatus, Verdict};
use serde_json::{Map, Value as Json, json};

use crate::DataError;

/// What to keep.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepairOptions {
    /// The most repair tasks made from one task (the first failing samples in file
    /// order, after removing duplicates); `None` for no limit. By default, `None`.
    pub max_per_task: Option<usize>,
}

/// What [`repair_tasks`] made, and what it left out.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RepairSet {
    /// The repair tasks, in order.
    pub tasks: Vec<Task>,
    /// Samples that were checked.
    pub samples: usize,
    /// Samples that passed (not repair tasks).
    pub passed: usize,
    /// Failing samples left out as duplicates of an earlier one of the same task.
    pub duplicates: usize,
    /// Failing samples left out by [`RepairOptions::max_per_task`].
    pub over_cap: usize,
    /// Samples without a result, or whose task has no usable reference (see
    /// [`repair_tasks`]).
    pub skipped: usize,
}

/// A program normalized for finding duplicates: `\r\n` and `\r` become `\n`, trailing
/// whitespace is removed from every line, and blank lines at the end are dropped.
/// Nothing else changes (indentation, comments and blank lines inside stay).
pub fn normalize(code: &str) -> String {
    let unified = code.replace("\r\n", "\n").replace('\r', "\n");
    let mut out: Vec<&str> = unified.lines().map(str::trim_end).collect();
    while out.last().is_some_and(|l| l.is_empty()) {
        out.pop();
    }
    out.join("\n")
}

/// The separator of a repair task's id: `<task_id>/<sample_id>`.
pub const ID_SEPARATOR: char = '/';

/// Makes repair tasks from the samples that did not pass.
///
/// `results` holds the verdict on each sample (matched by `task_id` and `sample_id`; in
/// any order). `reference_failed` names tasks whose `solution` did not pass its own
/// tests: their samples are skipped, since their repair tasks would have no working
/// reference.
///
/// Each repair task: `task_id` `<task_id>/<sample_id>`; `code` the sample's program;
/// `prompt`, `tests`, `setup`, `entry_point`, `solution` the task's; `meta` the task's
/// `meta` with `origin` added: `{"task_id", "sample_id", "verdict", "failed_test"
/// (the first block that did not pass: `index`, `status`, `exception`, `message`,
/// `line`, when there is one), "sample_meta" (the sample's `meta`, when not empty)}`.
///
/// Two repair tasks with the same id (a task `a/b` with sample `c`, and a task `a` with
/// sample `b/c`) are an error ([`DataError::Inconsistent`]).
pub fn repair_tasks(
    tasks: &[Task],
    samples: &[Sample],
    results: &[CheckResult],
    reference_failed: &HashSet<String>,
    options: &RepairOptions,
) -> Result<RepairSet, DataError> {
    let verdicts: HashMap<(&str, &str), &CheckResult> = results
        .iter()
        .map(|r| ((r.task_id.as_str(), r.sample_id.as_str()), r))
        .collect();
    let mut by_task: HashMap<&str, Vec<&Sample>> = HashMap::new();
    for sample in samples {
        by_task
            .entry(sample.task_id.as_str())
            .or_default()
            .push(sample);
    }
    let mut set = RepairSet {
        samples: samples.len(),
        ..RepairSet::default()
    };
    let known: HashSet<&str> = tasks.iter().map(|t| t.task_id.as_str()).collect();
    set.skipped += samples
        .iter()
        .filter(|s| !known.contains(s.task_id.as_str()))
        .count();
    let mut ids: HashSet<String> = HashSet::new();
    for task in tasks {
        let Some(candidates) = by_task.get(task.task_id.as_str()) else {
            continue;
        };
        if reference_failed.contains(&task.task_id) {
            set.skipped += candidates.len();
            continue;
        }
        let mut seen: HashSet<String> = HashSet::new();
        let mut kept = 0usize;
        for sample in candidates {
            let Some(result) = verdicts.get(&(sample.task_id.as_str(), sample.sample_id.as_str()))
            else {
                set.skipped += 1;
                continue;
            };
            if result.status == Verdict::Passed {
                set.passed += 1;
                continue;
            }
            if !seen.insert(normalize(&sample.code)) {
                set.duplicates += 1;
                continue;
            }
            if options.max_per_task.is_some_and(|max| kept >= max) {
                set.over_cap += 1;
                continue;
            }
            kept += 1;
            let task_id = format!("{}{ID_SEPARATOR}{}", task.task_id, sample.sample_id);
            if !ids.insert(task_id.clone()) {
                return Err(DataError::Inconsistent(format!(
                    "two repair tasks would have the id {task_id:?}"
                )));
            }
            let mut meta = task.meta.clone();
            meta.insert("origin".into(), origin(sample, result));
            set.tasks.push(Task {
                task_id,
                prompt: task.prompt.clone(),
                code: sample.code.clone(),
                tests: task.tests.clone(),
                setup: task.setup.clone(),
                entry_point: task.entry_point.clone(),
                solution: task.solution.clone(),
                meta,
            });
        }
    }
    Ok(set)
}

fn origin(sample: &Sample, result: &CheckResult) -> Json {
    let mut origin = Map::new();
    origin.insert("task_id".into(), sample.task_id.clone().into());
    origin.insert("sample_id".into(), sample.sample_id.clone().into());
    origin.insert(
        "verdict".into(),
        serde_json::to_value(result.status).expect("a verdict serializes"),
    );
    if let Some((index, test)) = result
        .tests
        .iter()
        .enumerate()
        .find(|(_, t)| matches!(t.status, TestStatus::Failed | TestStatus::Error))
    {
        let mut failed = json!({
            "index": index,
            "status": serde_json::to_value(test.status).expect("a status serializes"),
        });
        for (name, value) in [("exception", &test.exception), ("message", &test.message)] {
            if let Some(value) = value {
                failed[name] = value.clone().into();
            }
        }
        if let Some(line) = test.line {
            failed["line"] = line.into();
        }
        origin.insert("failed_test".into(), failed);
    }
    if !sample.meta.is_empty() {
        origin.insert("sample_meta".into(), Json::Object(sample.meta.clone()));
    }
    Json::Object(origin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizing_ignores_line_endings_and_trailing_space() {
        assert_eq!(normalize("a = 1  \r\nb = 2\r\n\r\n  \n"), "a = 1\nb = 2");
        assert_eq!(normalize("a = 1\rb = 2"), "a = 1\nb = 2");
        assert_ne!(normalize("  a = 1"), normalize("a = 1"));
        assert_ne!(normalize("a = 1\n\nb"), normalize("a = 1\nb"));
    }
}
