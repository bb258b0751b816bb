//! Importers: benchmark files in their published formats to [`Task`]s whose `code` (and
//! `solution`) is the reference solution.
//!
//! | source | `task_id` | `prompt` | `code` | `tests` | `setup` |
//! | --- | --- | --- | --- | --- | --- |
//! | HumanEval (`HumanEval.jsonl`) | as is (`HumanEval/0`) | `prompt` | `prompt + canonical_solution` | one block: `test + "\ncheck(<entry_point>)\n"` | none |
//! | MBPP (`mbpp.jsonl`) | `mbpp/<task_id>` | `text` | `code` | one block per `test_list` assert | `test_setup_code`, if not blank |
//! | sanitized MBPP (`sanitized-mbpp.json`, a JSON array) | `mbpp/<task_id>` | `prompt` | `code` | one block per `test_list` assert | `test_imports`, one per line, if any |
//! | HumanEvalFix (`humanevalpack_python.jsonl`, [`humanevalfix`]) | `HumanEvalFix/<n>` | `prompt` | `prompt + buggy_solution` (`solution`: `prompt + canonical_solution`) | one block: `test` (it calls `check`) | none |
//!
//! [`hefix_plus`] pairs HumanEvalFix's buggy programs with HumanEval+'s tests; HumanEval+
//! and MBPP+ themselves, whose expected outputs must be computed, are in
//! [`crate::plus`].
//!
//! `meta` records `dataset` (`humaneval`, `mbpp` or `mbpp-sanitized`), `file` (the
//! source file's name) and, for MBPP, `split` ([`mbpp_split`]); every source field not
//! mapped above is kept in `meta` under its own name, as is (MBPP's
//! `challenge_test_list`, sanitized MBPP's `source_file`, HumanEval+'s `base_input`,
//! ...). See `docs/tasks-jsonl.md`.

use std::path::Path;

use nxt_core::Task;
use serde_json::{Map, Value};

use crate::fields::{Bad, Fields};
use crate::jsonl::{Collector, check_tests, read_items, task_key};
use crate::{DataError, InvalidLine, Loaded, OnInvalid};

/// Reads a HumanEval-format JSONL file (`task_id`, `prompt`, `canonical_solution`,
/// `test`, `entry_point`); a bad line is an error naming its file, line and field.
///
/// HumanEval+ (`HumanEvalPlus*.jsonl`) and HumanEvalPack files have these fields too and
/// import the same way, their other fields kept in `meta`.
pub fn humaneval(path: &Path) -> Result<Vec<Task>, DataError> {
    humaneval_with(path, OnInvalid::Fail).map(|loaded| loaded.items)
}

/// [`humaneval`], with a choice of what to do with bad lines.
pub fn humaneval_with(path: &Path, on_invalid: OnInvalid) -> Result<Loaded<Task>, DataError> {
    let file = file_name(path);
    read_items(
        path,
        on_invalid,
        |value| humaneval_task(value, &file),
        |t| task_key(&t.task_id),
    )
}

fn humaneval_task(value: Value, file: &str) -> Result<Task, Bad> {
    let mut f = Fields::new(value, "", "a HumanEval problem")?;
    let task_id = f.id("task_id")?;
    let prompt = f.string("prompt")?;
    let canonical_solution = f.string("canonical_solution")?;
    let test = f.string("test")?;
    if test.trim().is_empty() {
        return Err(Bad::field(
            f.name("test"),
            "a blank test (it would pass any program)",
        ));
    }
    let entry_point = f.string("entry_point")?;
    if !is_identifier(&entry_point) {
        return Err(Bad::field(
            f.name("entry_point"),
            format!("expected a Python identifier, found {entry_point:?}"),
        ));
    }
    let code = format!("{prompt}{canonical_solution}");
    let mut meta = Map::new();
    meta.insert("dataset".into(), "humaneval".into());
    meta.insert("file".into(), file.into());
    keep_rest(&mut meta, f);
    Ok(Task {
        task_id,
        prompt,
        tests: vec![format!("{test}\ncheck({entry_point})\n")],
        setup: None,
        entry_point: Some(entry_point),
        solution: Some(code.clone()),
        code,
        meta,
    })
}

/// Reads HumanEvalFix: the Python part of HumanEvalPack (`humanevalpack_python.jsonl`,
/// ids `Python/<n>`) as repair tasks.
///
/// | task field | from |
/// | --- | --- |
/// | `task_id` | `HumanEvalFix/<n>` |
/// | `prompt` | `prompt` (imports, signature, docstring) |
/// | `code` | `prompt + buggy_solution`: the buggy program (HumanEvalFixDocs' context; HumanEvalFixTests shows `declaration + buggy_solution`, the same code without the docstring) |
/// | `solution` | `prompt + canonical_solution` |
/// | `tests` | one block: `test` (which ends by calling `check(<entry_point>)`; the call is added if it does not) |
/// | `entry_point` | `entry_point` |
/// | `meta` | `dataset` (`humanevalfix`), `file`, `source_id` (`Python/<n>`), `bug_type`, `failure_symptoms`, `example_test` |
///
/// The other source fields (`declaration`, `text`, `docstring`, `instruction`,
/// `signature`) are not kept: they repeat parts of `prompt`.
pub fn humanevalfix(path: &Path) -> Result<Vec<Task>, DataError> {
    humanevalfix_with(path, OnInvalid::Fail).map(|loaded| loaded.items)
}

/// [`humanevalfix`], with a choice of what to do with bad lines.
pub fn humanevalfix_with(path: &Path, on_invalid: OnInvalid) -> Result<Loaded<Task>, DataError> {
    let file = file_name(path);
    read_items(
        path,
        on_invalid,
        |value| humanevalfix_task(value, &file),
        |t| task_key(&t.task_id),
    )
}

/// The prefix of HumanEvalFix task ids.
pub const HUMANEVALFIX_PREFIX: &str = "HumanEvalFix/";
/// The prefix of HEFix+ task ids.
pub const HEFIX_PLUS_PREFIX: &str = "HEFix+/";

fn humanevalfix_task(value: Value, file: &str) -> Result<Task, Bad> {
    let mut f = Fields::new(value, "", "a HumanEvalPack problem")?;
    let source_id = f.id("task_id")?;
    let number: u64 = source_id
        .strip_prefix("Python/")
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| {
            Bad::field(
                "task_id",
                format!("expected a HumanEvalPack Python id (Python/<n>), found {source_id:?}"),
            )
        })?;
    let prompt = f.string("prompt")?;
    let buggy = f.string("buggy_solution")?;
    let canonical = f.string("canonical_solution")?;
    let test = f.string("test")?;
    if test.trim().is_empty() {
        return Err(Bad::field(
            "test",
            "a blank test (it would pass any program)",
        ));
    }
    let entry_point = f.string("entry_point")?;
    if !is_identifier(&entry_point) {
        return Err(Bad::field(
            "entry_point",
            format!("expected a Python identifier, found {entry_point:?}"),
        ));
    }
    let call = format!("check({entry_point})");
    let block = if test.trim_end().ends_with(&call) {
        format!("{}\n", test.trim_end())
    } else {
        format!("{test}\n{call}\n")
    };
    let mut meta = Map::new();
    meta.insert("dataset".into(), "humanevalfix".into());
    meta.insert("file".into(), file.into());
    meta.insert("source_id".into(), source_id.into());
    for name in ["bug_type", "failure_symptoms", "example_test"] {
        if let Some(value) = f.opt_string(name)? {
            meta.insert(name.into(), value.into());
        }
    }
    Ok(Task {
        task_id: format!("{HUMANEVALFIX_PREFIX}{number}"),
        code: format!("{prompt}{buggy}"),
        solution: Some(format!("{prompt}{canonical}")),
        prompt,
        tests: vec![block],
        setup: None,
        entry_point: Some(entry_point),
        meta,
    })
}

/// HEFix+ (NExT's name): HumanEvalFix's buggy programs with HumanEval+'s tests. `fix`
/// are [`humanevalfix`] tasks and `plus` the HumanEval+ tasks
/// ([`crate::plus::tasks`]); task `HumanEvalFix/<n>` is paired with `HumanEval/<n>`.
///
/// Each task: `task_id` `HEFix+/<n>`; `prompt`, `code` (the buggy program) and
/// `entry_point` from HumanEvalFix; `tests`, `setup` and `solution` (HumanEval+'s
/// reference, which its tests were computed from) from HumanEval+; `meta` has `dataset`
/// (`hefix-plus`), `humanevalfix` and `humaneval_plus` (the two ids), `bug_type`,
/// `failure_symptoms`, and HumanEval+'s `base_tests`, `plus_tests`, `timeout`,
/// `test_timeouts` and `dropped`.
///
/// A HumanEvalFix task without its HumanEval+ task, or whose entry point differs, is
/// an error ([`DataError::Inconsistent`]).
pub fn hefix_plus(fix: &[Task], plus: &[Task]) -> Result<Vec<Task>, DataError> {
    let by_id: std::collections::HashMap<&str, &Task> =
        plus.iter().map(|t| (t.task_id.as_str(), t)).collect();
    let mut out = Vec::with_capacity(fix.len());
    for task in fix {
        let number = task
            .task_id
            .strip_prefix(HUMANEVALFIX_PREFIX)
            .ok_or_else(|| {
                DataError::Inconsistent(format!("{} is not a HumanEvalFix task", task.task_id))
            })?;
        let plus_id = format!("HumanEval/{number}");
        let Some(&twin) = by_id.get(plus_id.as_str()) else {
            return Err(DataError::Inconsistent(format!(
                "{}: no HumanEval+ task {plus_id}",
                task.task_id
            )));
        };
        if twin.entry_point != task.entry_point {
            return Err(DataError::Inconsistent(format!(
                "{}: entry point {:?}, but {plus_id} has {:?}",
                task.task_id, task.entry_point, twin.entry_point
            )));
        }
        let mut meta = Map::new();
        meta.insert("dataset".into(), "hefix-plus".into());
        meta.insert("humanevalfix".into(), task.task_id.clone().into());
        meta.insert("humaneval_plus".into(), plus_id.clone().into());
        for name in ["bug_type", "failure_symptoms"] {
            if let Some(value) = task.meta.get(name) {
                meta.insert(name.into(), value.clone());
            }
        }
        for name in [
            "base_tests",
            "plus_tests",
            "timeout",
            "test_timeouts",
            "dropped",
        ] {
            if let Some(value) = twin.meta.get(name) {
                meta.insert(name.into(), value.clone());
            }
        }
        out.push(Task {
            task_id: format!("{HEFIX_PLUS_PREFIX}{number}"),
            prompt: task.prompt.clone(),
            code: task.code.clone(),
            tests: twin.tests.clone(),
            setup: twin.setup.clone(),
            entry_point: task.entry_point.clone(),
            solution: twin.solution.clone(),
            meta,
        });
    }
    Ok(out)
}

/// Reads an MBPP file: the full `mbpp.jsonl` (JSON Lines with `text`, `code`,
/// `task_id`, `test_setup_code`, `test_list`, `challenge_test_list`) or the sanitized
/// `sanitized-mbpp.json` (one JSON array of objects with `source_file`, `task_id`,
/// `prompt`, `code`, `test_imports`, `test_list`), told apart by content: a file whose
/// first character is `[` is an array. Each line (or item) may be in either shape.
///
/// Errors name the file, the line and the field; in an array, the field is prefixed with
/// the item's index, e.g. ``sanitized-mbpp.json:1: field `[17].test_list`: missing``.
pub fn mbpp(path: &Path) -> Result<Vec<Task>, DataError> {
    mbpp_with(path, OnInvalid::Fail).map(|loaded| loaded.items)
}

/// [`mbpp`], with a choice of what to do with bad lines or items. JSON that cannot be
/// parsed inside an array is always an error: the items after it cannot be found.
pub fn mbpp_with(path: &Path, on_invalid: OnInvalid) -> Result<Loaded<Task>, DataError> {
    let file = file_name(path);
    let bytes = std::fs::read(path).map_err(DataError::io(path))?;
    let body = bytes.strip_prefix("\u{feff}".as_bytes()).unwrap_or(&bytes);
    if body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        let text = std::str::from_utf8(&bytes).map_err(|e| {
            let line = 1 + bytes[..e.valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            DataError::Invalid(InvalidLine {
                path: path.to_owned(),
                line,
                field: None,
                message: "not UTF-8 text".into(),
            })
        })?;
        let mut collector = Collector::new(path, on_invalid);
        each_item(path, text, |line, index, value| {
            let prefix = format!("[{index}]");
            let parsed = mbpp_task(value, &prefix, &file);
            collector.add(line, Some(index), parsed, |t| task_key(&t.task_id))
        })?;
        Ok(collector.finish())
    } else {
        drop(bytes);
        read_items(
            path,
            on_invalid,
            |value| mbpp_task(value, "", &file),
            |t| task_key(&t.task_id),
        )
    }
}

/// The MBPP split of a task id, as the MBPP README defines them: `prompt` (1–10, for
/// few-shot prompting), `test` (11–510), `validation` (511–600), `train` (601–974);
/// `None` outside 1–974.
pub fn mbpp_split(id: u64) -> Option<&'static str> {
    match id {
        1..=10 => Some("prompt"),
        11..=510 => Some("test"),
        511..=600 => Some("validation"),
        601..=974 => Some("train"),
        _ => None,
    }
}

fn mbpp_task(value: Value, prefix: &str, file: &str) -> Result<Task, Bad> {
    let mut f = Fields::new(value, prefix, "an MBPP problem")?;
    let id: u64 = f.uint("task_id")?;
    let (prompt, dataset) = match (f.opt_string("text")?, f.opt_string("prompt")?) {
        (Some(text), None) => (text, "mbpp"),
        (None, Some(prompt)) => (prompt, "mbpp-sanitized"),
        (Some(_), Some(_)) => {
            return Err(Bad::field(
                f.name("prompt"),
                "expected `text` (mbpp.jsonl) or `prompt` (sanitized-mbpp.json), not both",
            ));
        }
        (None, None) => {
            return Err(Bad::field(
                f.name("text"),
                "missing (the problem statement: `text`, or `prompt` in sanitized-mbpp.json)",
            ));
        }
    };
    let code = f.string("code")?;
    let tests = f.strings("test_list")?;
    check_tests(&tests, &f.name("test_list"))?;
    let imports = f.opt_strings("test_imports")?;
    let setup_code = f.opt_string("test_setup_code")?;
    if let Some(challenge) = f.peek("challenge_test_list") {
        // Checked here, kept in `meta` as is (below, with the other fields).
        f.as_strings("challenge_test_list", challenge.clone())?;
    }

    let mut setup = imports.join("\n");
    if let Some(code) = setup_code.filter(|s| !s.trim().is_empty()) {
        if !setup.is_empty() {
            setup.push('\n');
        }
        setup.push_str(&code);
    }

    let mut meta = Map::new();
    meta.insert("dataset".into(), dataset.into());
    meta.insert("file".into(), file.into());
    if let Some(split) = mbpp_split(id) {
        meta.insert("split".into(), split.into());
    }
    keep_rest(&mut meta, f);
    Ok(Task {
        task_id: format!("mbpp/{id}"),
        prompt,
        code: code.clone(),
        tests,
        setup: (!setup.trim().is_empty()).then_some(setup),
        entry_point: None,
        solution: Some(code),
        meta,
    })
}

/// Copies the fields not taken into `meta`, in their order; a name already in `meta`
/// keeps the importer's value.
fn keep_rest(meta: &mut Map<String, Value>, f: Fields) {
    for (key, value) in f.rest() {
        meta.entry(key).or_insert(value);
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .unwrap_or(path.as_os_str())
        .to_string_lossy()
        .into_owned()
}

/// A Python identifier (ASCII or Unicode letters, digits, `_`; not starting with a
/// digit).
pub(crate) fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_alphabetic())
        && chars.all(|c| c == '_' || c.is_alphanumeric())
}

/// Calls `f` with every item of the JSON array `text`: its line (where it starts), its
/// index and its value. Broken JSON is an error: items after it cannot be found.
fn each_item(
    path: &Path,
    text: &str,
    mut f: impl FnMut(usize, usize, Value) -> Result<(), DataError>,
) -> Result<(), DataError> {
    let bytes = text.as_bytes();
    let mut pos = 0;
    let mut lines = LineCounter::default();
    let fatal = |lines: &mut LineCounter, pos: usize, message: String| {
        DataError::Invalid(InvalidLine {
            path: path.to_owned(),
            line: lines.line_at(bytes, pos),
            field: None,
            message,
        })
    };
    let skip_ws = |pos: &mut usize| {
        while matches!(bytes.get(*pos), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            *pos += 1;
        }
    };
    if text.starts_with('\u{feff}') {
        pos = '\u{feff}'.len_utf8();
    }
    skip_ws(&mut pos);
    debug_assert_eq!(bytes.get(pos), Some(&b'['));
    pos += 1;
    skip_ws(&mut pos);
    if bytes.get(pos) == Some(&b']') {
        pos += 1;
    } else {
        let mut index = 0;
        loop {
            let line = lines.line_at(bytes, pos);
            let mut stream = serde_json::Deserializer::from_str(&text[pos..]).into_iter::<Value>();
            match stream.next() {
                Some(Ok(value)) => {
                    pos += stream.byte_offset();
                    f(line, index, value)?;
                }
                Some(Err(e)) => {
                    let column = if e.line() == 1 {
                        lines.column_at(bytes, pos) + e.column() - 1
                    } else {
                        e.column()
                    };
                    let at = format!(" at line {} column {}", e.line(), e.column());
                    let full = e.to_string();
                    let reason = full.strip_suffix(&at).unwrap_or(&full);
                    return Err(DataError::Invalid(InvalidLine {
                        path: path.to_owned(),
                        line: line + e.line() - 1,
                        field: Some(format!("[{index}]")),
                        message: format!("invalid JSON at column {column}: {reason}"),
                    }));
                }
                None => {
                    return Err(fatal(
                        &mut lines,
                        pos,
                        "the JSON array is not closed (was the file cut short?)".into(),
                    ));
                }
            }
            skip_ws(&mut pos);
            match bytes.get(pos) {
                Some(b',') => {
                    pos += 1;
                    skip_ws(&mut pos);
                    index += 1;
                }
                Some(b']') => {
                    pos += 1;
                    break;
                }
                Some(_) => {
                    return Err(fatal(
                        &mut lines,
                        pos,
                        format!("expected `,` or `]` after item [{index}]"),
                    ));
                }
                None => {
                    return Err(fatal(
                        &mut lines,
                        pos,
                        "the JSON array is not closed (was the file cut short?)".into(),
                    ));
                }
            }
        }
    }
    skip_ws(&mut pos);
    if pos < bytes.len() {
        return Err(fatal(
            &mut lines,
            pos,
            "unexpected text after the JSON array".into(),
        ));
    }
    Ok(())
}

/// Line numbers of byte offsets, for offsets that only grow.
#[derive(Default)]
struct LineCounter {
    /// Offsets before this are counted.
    counted: usize,
    /// Newlines before `counted`.
    newlines: usize,
}

impl LineCounter {
    fn line_at(&mut self, bytes: &[u8], pos: usize) -> usize {
        let pos = pos.min(bytes.len());
        if pos >= self.counted {
            self.newlines += bytes[self.counted..pos]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            self.counted = pos;
            self.newlines + 1
        } else {
            1 + bytes[..pos].iter().filter(|&&b| b == b'\n').count()
        }
    }

    /// 1-based column (in bytes) of `pos` in its line.
    fn column_at(&self, bytes: &[u8], pos: usize) -> usize {
        let start = bytes[..pos]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        pos - start + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn splits_follow_the_mbpp_readme() {
        assert_eq!(mbpp_split(0), None);
        assert_eq!(mbpp_split(1), Some("prompt"));
        assert_eq!(mbpp_split(10), Some("prompt"));
        assert_eq!(mbpp_split(11), Some("test"));
        assert_eq!(mbpp_split(510), Some("test"));
        assert_eq!(mbpp_split(511), Some("validation"));
        assert_eq!(mbpp_split(600), Some("validation"));
        assert_eq!(mbpp_split(601), Some("train"));
        assert_eq!(mbpp_split(974), Some("train"));
        assert_eq!(mbpp_split(975), None);
    }

    #[test]
    fn identifiers() {
        assert!(is_identifier("has_close_elements"));
        assert!(is_identifier("_f2"));
        assert!(is_identifier("größe"));
        assert!(!is_identifier(""));
        assert!(!is_identifier("2f"));
        assert!(!is_identifier("f(x)"));
    }

    #[test]
    fn a_humaneval_problem_becomes_one_block() {
        let task = humaneval_task(
            json!({
                "task_id": "HumanEval/9", "prompt": "def f(x):\n    \"\"\"Double.\"\"\"\n",
                "canonical_solution": "    return 2 * x\n",
                "test": "def check(candidate):\n    assert candidate(2) == 4\n",
                "entry_point": "f", "extra": [1]
            }),
            "he.jsonl",
        )
        .unwrap();
        assert_eq!(
            task.code,
            "def f(x):\n    \"\"\"Double.\"\"\"\n    return 2 * x\n"
        );
        assert_eq!(
            task.tests,
            ["def check(candidate):\n    assert candidate(2) == 4\n\ncheck(f)\n"]
        );
        assert_eq!(task.solution.as_deref(), Some(task.code.as_str()));
        assert_eq!(
            Value::Object(task.meta),
            json!({"dataset": "humaneval", "file": "he.jsonl", "extra": [1]})
        );
    }

    #[test]
    fn mbpp_shapes() {
        let full = mbpp_task(
            json!({"text": "t", "code": "c", "task_id": 2, "test_setup_code": "",
                   "test_list": ["assert 1"], "challenge_test_list": ["assert 2"]}),
            "",
            "mbpp.jsonl",
        )
        .unwrap();
        assert_eq!(full.task_id, "mbpp/2");
        assert_eq!(full.setup, None);
        assert_eq!(
            Value::Object(full.meta),
            json!({"dataset": "mbpp", "file": "mbpp.jsonl", "split": "prompt",
                   "challenge_test_list": ["assert 2"]})
        );
        let sanitized = mbpp_task(
            json!({"source_file": "nb", "task_id": 600, "prompt": "p", "code": "c",
                   "test_imports": ["import math", "import re"], "test_list": ["assert 1"]}),
            "[0]",
            "s.json",
        )
        .unwrap();
        assert_eq!(sanitized.setup.as_deref(), Some("import math\nimport re"));
        assert_eq!(
            Value::Object(sanitized.meta),
            json!({"dataset": "mbpp-sanitized", "file": "s.json", "split": "validation",
                   "source_file": "nb"})
        );
        let err = mbpp_task(
            json!({"task_id": 3, "code": "c", "test_list": ["assert 1"]}),
            "[4]",
            "s.json",
        )
        .unwrap_err();
        assert_eq!(err.field.as_deref(), Some("[4].text"));
        let err = mbpp_task(
            json!({"task_id": "3", "text": "t", "code": "c", "test_list": ["assert 1"]}),
            "",
            "m.jsonl",
        )
        .unwrap_err();
        assert_eq!(err.field.as_deref(), Some("task_id"));
        let err = mbpp_task(
            json!({"task_id": 3, "text": "t", "code": "c", "test_list": ["assert 1"],
                   "challenge_test_list": [1]}),
            "",
            "m.jsonl",
        )
        .unwrap_err();
        assert_eq!(err.field.as_deref(), Some("challenge_test_list[0]"));
    }

    #[test]
    fn array_items_know_their_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.json");
        let text = "[\n  {\"a\": 1},\n  {\"b\": 2}, {\"c\": 3}\n]\n";
        let mut seen = Vec::new();
        each_item(&path, text, |line, index, value| {
            seen.push((line, index, value));
            Ok(())
        })
        .unwrap();
        assert_eq!(
            seen,
            [
                (2, 0, json!({"a": 1})),
                (3, 1, json!({"b": 2})),
                (3, 2, json!({"c": 3}))
            ]
        );
        let mut count = 0;
        each_item(&path, " [ ] ", |_, _, _| {
            count += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!(count, 0);
        for (text, line, message) in [
            ("[{\"a\": 1},\n {\"a\": }]", 2, "invalid JSON at column 8"),
            (
                "[{\"a\": 1}\n {\"a\": 2}]",
                2,
                "expected `,` or `]` after item [0]",
            ),
            ("[{\"a\": 1},\n", 2, "the JSON array is not closed"),
            (
                "[{\"a\": 1}]\n[]",
                2,
                "unexpected text after the JSON array",
            ),
            ("[{\"a\": 1},]", 1, "invalid JSON at column 11"),
        ] {
            let err = each_item(&path, text, |_, _, _| Ok(())).unwrap_err();
            let DataError::Invalid(invalid) = err else {
                panic!("{err}")
            };
            assert_eq!(invalid.line, line, "{text:?}: {invalid}");
            assert!(invalid.message.starts_with(message), "{text:?}: {invalid}");
        }
    }
}
