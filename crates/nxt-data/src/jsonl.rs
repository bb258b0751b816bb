//! Reading JSONL files line by line with field-level errors, and writing them atomically.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use nxt_core::{CheckResult, Sample, Task, TestResult};
use serde::Serialize;
use serde_json::Value;

use crate::fields::{Bad, Fields, parse_json};
use crate::{DataError, InvalidLine, Loaded, OnInvalid};

/// The fields of a task line, in the order they are written.
pub(crate) const TASK_FIELDS: &[&str] = &[
    "task_id",
    "prompt",
    "code",
    "tests",
    "setup",
    "entry_point",
    "solution",
    "meta",
];

/// The fields of a sample line.
pub(crate) const SAMPLE_FIELDS: &[&str] = &["task_id", "sample_id", "code", "meta"];

/// Appended to the message of a bad last line that has no newline.
const TORN_HINT: &str = " (the last line has no newline: was the file cut short?)";

/// One physical line of a file.
pub(crate) struct Line<'a> {
    /// 1-based.
    pub(crate) number: usize,
    /// The line without its `\n` (and without a `\r` before it); `Err` if not UTF-8.
    pub(crate) text: Result<&'a str, Bad>,
    /// Whether the line ended with `\n` (only the last line of a file may not).
    pub(crate) terminated: bool,
}

/// Calls `f` with every line of `path` that is not blank; returns the number of bytes up
/// to and including the last `\n` (what a resumed append keeps).
pub(crate) fn each_line(
    path: &Path,
    mut f: impl FnMut(Line<'_>) -> Result<(), DataError>,
) -> Result<u64, DataError> {
    let file = File::open(path).map_err(DataError::io(path))?;
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let mut buf = Vec::new();
    let mut number = 0;
    let mut complete: u64 = 0;
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(DataError::io(path))?;
        if n == 0 {
            return Ok(complete);
        }
        number += 1;
        let terminated = buf.last() == Some(&b'\n');
        if terminated {
            complete += n as u64;
        }
        let mut bytes = buf.strip_suffix(b"\n").unwrap_or(&buf);
        bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
        if number == 1 {
            bytes = bytes.strip_prefix("\u{feff}".as_bytes()).unwrap_or(bytes);
        }
        let text = std::str::from_utf8(bytes).map_err(|e| {
            Bad::line(format!(
                "not UTF-8 text (invalid byte at column {})",
                e.valid_up_to() + 1
            ))
        });
        if matches!(text, Ok(t) if t.trim().is_empty()) {
            continue;
        }
        f(Line {
            number,
            text,
            terminated,
        })?;
    }
}

/// Gathers the items of one file: bad lines fail or are skipped, duplicate keys fail.
pub(crate) struct Collector<T> {
    path: PathBuf,
    on_invalid: OnInvalid,
    loaded: Loaded<T>,
    /// key → (line, index in a JSON array)
    seen: HashMap<String, (usize, Option<usize>)>,
}

impl<T> Collector<T> {
    pub(crate) fn new(path: &Path, on_invalid: OnInvalid) -> Collector<T> {
        Collector {
            path: path.to_owned(),
            on_invalid,
            loaded: Loaded {
                items: Vec::new(),
                skipped: Vec::new(),
            },
            seen: HashMap::new(),
        }
    }

    pub(crate) fn invalid_line(&self, line: usize, bad: Bad) -> InvalidLine {
        InvalidLine {
            path: self.path.clone(),
            line,
            field: bad.field,
            message: bad.message,
        }
    }

    /// A bad line: an error, or skipped with [`OnInvalid::Skip`].
    pub(crate) fn invalid(&mut self, line: usize, bad: Bad) -> Result<(), DataError> {
        let invalid = self.invalid_line(line, bad);
        match self.on_invalid {
            OnInvalid::Fail => Err(DataError::Invalid(invalid)),
            OnInvalid::Skip => {
                self.loaded.skipped.push(invalid);
                Ok(())
            }
        }
    }

    /// A bad line skipped whatever `on_invalid` says.
    pub(crate) fn skip(&mut self, line: usize, bad: Bad) {
        let invalid = self.invalid_line(line, bad);
        self.loaded.skipped.push(invalid);
    }

    /// The result of parsing the line `line` (the item `index` of an array).
    pub(crate) fn add(
        &mut self,
        line: usize,
        index: Option<usize>,
        parsed: Result<T, Bad>,
        key: impl FnOnce(&T) -> String,
    ) -> Result<(), DataError> {
        let item = match parsed {
            Ok(item) => item,
            Err(bad) => return self.invalid(line, bad),
        };
        let key = key(&item);
        if let Some(&(first_line, first_index)) = self.seen.get(&key) {
            let key = match (index, first_index) {
                (Some(i), Some(j)) => format!("{key} at [{i}] (first at [{j}])"),
                _ => key,
            };
            return Err(DataError::Duplicate {
                path: self.path.clone(),
                line,
                first_line,
                key,
            });
        }
        self.seen.insert(key, (line, index));
        self.loaded.items.push(item);
        Ok(())
    }

    pub(crate) fn finish(self) -> Loaded<T> {
        self.loaded
    }
}

/// Adds a hint to the error of a last line without a newline.
pub(crate) fn torn_hint<T>(parsed: Result<T, Bad>, terminated: bool) -> Result<T, Bad> {
    parsed.map_err(|mut bad| {
        if !terminated {
            bad.message.push_str(TORN_HINT);
        }
        bad
    })
}

/// `task_id "x"`.
pub(crate) fn task_key(task_id: &str) -> String {
    format!("task_id {}", quote(task_id))
}

/// `task_id "x", sample_id "y"`.
pub(crate) fn pair_key(task_id: &str, sample_id: &str) -> String {
    format!("task_id {}, sample_id {}", quote(task_id), quote(sample_id))
}

fn quote(s: &str) -> String {
    serde_json::to_string(s).expect("a string serializes")
}

/// Reads a JSONL file of items; `parse` checks one parsed line.
pub(crate) fn read_items<T>(
    path: &Path,
    on_invalid: OnInvalid,
    parse: impl Fn(Value) -> Result<T, Bad>,
    key: impl Fn(&T) -> String,
) -> Result<Loaded<T>, DataError> {
    let mut collector = Collector::new(path, on_invalid);
    each_line(path, |line| {
        let parsed = line.text.and_then(parse_json).and_then(&parse);
        collector.add(line.number, None, torn_hint(parsed, line.terminated), &key)
    })?;
    Ok(collector.finish())
}

/// Reads a tasks JSONL file (`docs/tasks-jsonl.md`).
///
/// Every line is checked field by field: a missing, unknown or mistyped field is an
/// error naming the file, the line and the field (or, with [`OnInvalid::Skip`], the line
/// is skipped and reported in [`Loaded::skipped`]). Blank lines are ignored. A task
/// needs at least one test block, and no block may be blank. A `task_id` seen on an
/// earlier line is always an error ([`DataError::Duplicate`]).
pub fn read_tasks(path: &Path, on_invalid: OnInvalid) -> Result<Loaded<Task>, DataError> {
    read_items(path, on_invalid, task_from_json, |t| task_key(&t.task_id))
}

/// Reads a samples JSONL file: like [`read_tasks`], keyed by (`task_id`, `sample_id`).
pub fn read_samples(path: &Path, on_invalid: OnInvalid) -> Result<Loaded<Sample>, DataError> {
    read_items(path, on_invalid, sample_from_json, |s| {
        pair_key(&s.task_id, &s.sample_id)
    })
}

/// Reads a results JSONL file, as written by [`write_jsonl`] or
/// [`ResultsWriter`](crate::ResultsWriter).
///
/// A bad line is an error, except the last line when it has no newline: a write cut
/// short, skipped and reported in [`Loaded::skipped`]. (A last line without a newline
/// that is a whole, valid result is kept.) Unknown fields are ignored, as
/// [`CheckResult`]'s own deserializer does. A (`task_id`, `sample_id`) seen on an
/// earlier line is an error.
pub fn read_results(path: &Path) -> Result<Loaded<CheckResult>, DataError> {
    read_results_counting(path).map(|(loaded, _)| loaded)
}

/// What [`read_results_counting`] found besides the results.
pub(crate) struct Tail {
    /// Bytes up to and including the last newline.
    pub(crate) complete: u64,
    /// Whether the last line had no newline yet was a whole result (and was kept).
    pub(crate) unterminated_kept: bool,
}

/// [`read_results`], and how the file ends.
pub(crate) fn read_results_counting(path: &Path) -> Result<(Loaded<CheckResult>, Tail), DataError> {
    let mut collector = Collector::new(path, OnInvalid::Fail);
    let mut unterminated_kept = false;
    let complete = each_line(path, |line| {
        let parsed = line.text.and_then(parse_json).and_then(result_from_json);
        match parsed {
            Err(mut bad) if !line.terminated => {
                bad.message = format!("ignored a torn last line (no newline): {}", bad.message);
                collector.skip(line.number, bad);
                Ok(())
            }
            parsed => {
                unterminated_kept = !line.terminated;
                collector.add(line.number, None, parsed, |r| {
                    pair_key(&r.task_id, &r.sample_id)
                })
            }
        }
    })?;
    let tail = Tail {
        complete,
        unterminated_kept,
    };
    Ok((collector.finish(), tail))
}

/// Checks one task line.
pub(crate) fn task_from_json(value: Value) -> Result<Task, Bad> {
    let mut f = Fields::new(value, "", "a task")?;
    f.deny_unknown(TASK_FIELDS)?;
    let task_id = f.id("task_id")?;
    let prompt = f.string("prompt")?;
    let code = f.string("code")?;
    let tests = f.strings("tests")?;
    check_tests(&tests, &f.name("tests"))?;
    Ok(Task {
        task_id,
        prompt,
        code,
        tests,
        setup: f.opt_string("setup")?,
        entry_point: f.opt_string("entry_point")?,
        solution: f.opt_string("solution")?,
        meta: f.object("meta")?,
    })
}

/// A task needs a test block, and a blank block would pass anything.
pub(crate) fn check_tests(tests: &[String], field: &str) -> Result<(), Bad> {
    if tests.is_empty() {
        return Err(Bad::field(field, "expected at least one test block"));
    }
    match tests.iter().position(|t| t.trim().is_empty()) {
        Some(i) => Err(Bad::field(
            format!("{field}[{i}]"),
            "a blank test block (it would pass any program)",
        )),
        None => Ok(()),
    }
}

fn sample_from_json(value: Value) -> Result<Sample, Bad> {
    let mut f = Fields::new(value, "", "a sample")?;
    f.deny_unknown(SAMPLE_FIELDS)?;
    Ok(Sample {
        task_id: f.id("task_id")?,
        sample_id: f.id("sample_id")?,
        code: f.string("code")?,
        meta: f.object("meta")?,
    })
}

fn result_from_json(value: Value) -> Result<CheckResult, Bad> {
    let mut f = Fields::new(value, "", "a result")?;
    let task_id = f.id("task_id")?;
    let sample_id = f.id("sample_id")?;
    let status = f.variant("status")?;
    let tests = f
        .list("tests")?
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let mut t = Fields::new(item, &f.name(&format!("tests[{i}]")), "a test result")?;
            Ok(TestResult {
                status: t.variant("status")?,
                exception: t.opt_string("exception")?,
                message: t.opt_string("message")?,
                line: t.opt_uint("line")?,
            })
        })
        .collect::<Result<Vec<_>, Bad>>()?;
    Ok(CheckResult {
        task_id,
        sample_id,
        status,
        tests,
        stdout: f.string("stdout")?,
        stderr: f.string("stderr")?,
        duration_ms: f.uint("duration_ms")?,
        meta: f.object("meta")?,
    })
}

/// Writes `items` as JSON Lines to `writer`: one compact JSON object per line, each
/// ending with `\n` (strings never hold a raw newline: JSON escapes it).
pub fn write_jsonl_to<W: Write, T: Serialize>(mut writer: W, items: &[T]) -> std::io::Result<()> {
    for item in items {
        serde_json::to_writer(&mut writer, item)?;
        writer.write_all(b"\n")?;
    }
    writer.flush()
}

/// Writes `items` to `path` as JSON Lines, atomically: into a temporary file in the same
/// directory, synced to disk, then renamed over `path`. A reader (or a crash) sees the
/// old file or the new one, never a part.
///
/// A file that already exists keeps its permissions; a new one gets `0o666` less the
/// umask (on Unix).
pub fn write_jsonl<T: Serialize>(path: &Path, items: &[T]) -> Result<(), DataError> {
    atomic_write(path, |writer| {
        for item in items {
            serde_json::to_writer(&mut *writer, item).map_err(|e| {
                if e.is_io() {
                    DataError::io(path)(e.into())
                } else {
                    DataError::Serialize {
                        path: path.to_owned(),
                        source: e,
                    }
                }
            })?;
            writer.write_all(b"\n").map_err(DataError::io(path))?;
        }
        Ok(())
    })
}

/// Writes through a temporary file in `path`'s directory and renames it into place.
pub(crate) fn atomic_write(
    path: &Path,
    fill: impl FnOnce(&mut BufWriter<&mut File>) -> Result<(), DataError>,
) -> Result<(), DataError> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let prefix = format!(".{name}.");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    let mut tmp = builder.tempfile_in(dir).map_err(DataError::io(path))?;
    {
        let mut writer = BufWriter::with_capacity(1 << 16, tmp.as_file_mut());
        fill(&mut writer)?;
        writer.flush().map_err(DataError::io(path))?;
    }
    tmp.as_file().sync_all().map_err(DataError::io(path))?;
    if let Ok(meta) = std::fs::metadata(path) {
        // Keep the permissions of the file being replaced.
        let _ = std::fs::set_permissions(tmp.path(), meta.permissions());
    }
    tmp.persist(path)
        .map_err(|e| DataError::io(path)(e.error))?;
    sync_dir(dir);
    Ok(())
}

/// Makes a rename or removal in `dir` durable (best effort; Unix only).
pub(crate) fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn task_json() -> Value {
        json!({"task_id": "t/1", "prompt": "p", "code": "x = 1\n", "tests": ["assert x == 1"]})
    }

    #[test]
    fn a_minimal_task_reads() {
        let task = task_from_json(task_json()).unwrap();
        assert_eq!(task.task_id, "t/1");
        assert_eq!(task.setup, None);
        assert!(task.meta.is_empty());
    }

    #[test]
    fn task_errors_name_the_field() {
        let mut v = task_json();
        v["tests"] = json!("assert x");
        assert_eq!(
            task_from_json(v).unwrap_err(),
            Bad::field("tests", "expected a list of strings, found a string")
        );
        let mut v = task_json();
        v["tests"] = json!([]);
        assert_eq!(
            task_from_json(v).unwrap_err(),
            Bad::field("tests", "expected at least one test block")
        );
        let mut v = task_json();
        v["tests"] = json!(["assert x", "  \n"]);
        assert_eq!(
            task_from_json(v).unwrap_err().field.as_deref(),
            Some("tests[1]")
        );
        let mut v = task_json();
        v["task_id"] = json!("");
        assert_eq!(
            task_from_json(v).unwrap_err(),
            Bad::field("task_id", "must not be empty")
        );
        let mut v = task_json();
        v["meta"] = json!([1]);
        assert_eq!(
            task_from_json(v).unwrap_err(),
            Bad::field("meta", "expected an object, found a list")
        );
        let mut v = task_json();
        v["canonical_solution"] = json!("");
        assert_eq!(
            task_from_json(v).unwrap_err().field.as_deref(),
            Some("canonical_solution")
        );
    }

    #[test]
    fn result_errors_name_nested_fields() {
        let v = json!({
            "task_id": "t", "sample_id": "s", "status": "passed",
            "tests": [{"status": "passed"}, {"status": "exploded"}],
            "stdout": "", "stderr": "", "duration_ms": 3
        });
        let err = result_from_json(v).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("tests[1].status"));
        assert!(
            err.message.starts_with("unknown variant `exploded`"),
            "{}",
            err.message
        );
        let v = json!({
            "task_id": "t", "sample_id": "s", "status": "passed", "tests": [],
            "stdout": "", "stderr": "", "duration_ms": 1.5
        });
        assert_eq!(
            result_from_json(v).unwrap_err().field.as_deref(),
            Some("duration_ms")
        );
    }

    #[test]
    fn keys_quote_their_values() {
        assert_eq!(task_key("a\"b"), r#"task_id "a\"b""#);
        assert_eq!(pair_key("t", "1"), r#"task_id "t", sample_id "1""#);
    }
}
