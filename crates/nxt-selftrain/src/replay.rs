//! A sampler that serves recorded answers.

use std::collections::HashMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use nxt_core::{Completion, SampleRequest, Sampler};
use serde_json::Value as Json;

use crate::Error;

/// Serves answers recorded in JSONL, one `{"task_id": ..., "answer": ...}` per line.
///
/// Requests are keyed by [`SampleRequest::task_id`]; the prompt and the sampling
/// parameters are ignored. Each task's answers are served in file order, cycling: a
/// task with answers `a, b` answers three requests for one completion with `a`, `b`,
/// `a`, and one request for three with `[a, b, a]`. Each task has its own cursor, so
/// the answers depend only on the order of the requests for that task. Other fields
/// of a line are ignored, and blank lines are skipped; an optional boolean `trace`
/// field restricts an answer to prompts that show (`true`) or do not show (`false`) an
/// execution trace, for [`ReplaySampler::by_slot`] (this sampler ignores it).
#[derive(Debug)]
pub struct ReplaySampler {
    answers: HashMap<String, Vec<String>>,
    /// Per task, the answers for prompts with traces and for prompts without (the
    /// optional `trace` field of a record); the same as `answers` when no record has one.
    kinds: HashMap<String, [Vec<String>; 2]>,
    cursors: Mutex<HashMap<String, usize>>,
}

impl ReplaySampler {
    /// Reads a replay file.
    pub fn open(path: impl AsRef<Path>) -> Result<ReplaySampler, Error> {
        let path = path.as_ref();
        let io = |source| Error::Io {
            path: path.to_owned(),
            source,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        ReplaySampler::from_reader(std::io::BufReader::new(file), path)
    }

    /// Reads replay records from `reader`; `name` names it in errors.
    pub fn from_reader(
        reader: impl BufRead,
        name: impl AsRef<Path>,
    ) -> Result<ReplaySampler, Error> {
        let name: PathBuf = name.as_ref().to_owned();
        let mut answers: HashMap<String, Vec<String>> = HashMap::new();
        let mut kinds: HashMap<String, [Vec<String>; 2]> = HashMap::new();
        for (i, line) in reader.lines().enumerate() {
            let line = line.map_err(|source| Error::Io {
                path: name.clone(),
                source,
            })?;
            if line.trim().is_empty() {
                continue;
            }
            let bad = |message: String| Error::Replay {
                path: name.clone(),
                line: i + 1,
                message,
            };
            let record: Json =
                serde_json::from_str(&line).map_err(|e| bad(format!("not JSON: {e}")))?;
            let Json::Object(map) = record else {
                return Err(bad("expected a JSON object".into()));
            };
            let field = |key: &str| match map.get(key) {
                Some(Json::String(s)) => Ok(s.clone()),
                Some(other) => Err(bad(format!(
                    "field `{key}`: expected a string, found {}",
                    kind(other)
                ))),
                None => Err(bad(format!("missing field `{key}`"))),
            };
            let task_id = field("task_id")?;
            let answer = field("answer")?;
            let trace = match map.get("trace") {
                None | Some(Json::Null) => None,
                Some(Json::Bool(b)) => Some(*b),
                Some(other) => {
                    return Err(bad(format!(
                        "field `trace`: expected a boolean, found {}",
                        kind(other)
                    )));
                }
            };
            let entry = kinds.entry(task_id.clone()).or_default();
            if trace != Some(false) {
                entry[1].push(answer.clone());
            }
            if trace != Some(true) {
                entry[0].push(answer.clone());
            }
            answers.entry(task_id).or_default().push(answer);
        }
        let mut sampler = ReplaySampler::from_answers(answers);
        sampler.kinds = kinds;
        Ok(sampler)
    }

    /// A replay sampler over answers already in memory, by task.
    pub fn from_answers(answers: HashMap<String, Vec<String>>) -> ReplaySampler {
        let answers = answers.into_iter().filter(|(_, a)| !a.is_empty()).collect();
        ReplaySampler {
            answers,
            kinds: HashMap::new(),
            cursors: Mutex::new(HashMap::new()),
        }
    }

    /// The answers of a task for prompts that show a trace (`trace`) or do not: the
    /// records with that `trace` field or none; `None` when there are none.
    pub fn answers_for(&self, task_id: &str, trace: bool) -> Option<&[String]> {
        match self.kinds.get(task_id) {
            Some(kinds) => Some(kinds[usize::from(trace)].as_slice()).filter(|a| !a.is_empty()),
            None => self.answers(task_id),
        }
    }

    /// The recorded answers of a task, in file order.
    pub fn answers(&self, task_id: &str) -> Option<&[String]> {
        self.answers.get(task_id).map(Vec::as_slice)
    }

    /// The tasks with recorded answers, sorted.
    pub fn task_ids(&self) -> Vec<&str> {
        let mut ids: Vec<&str> = self.answers.keys().map(String::as_str).collect();
        ids.sort_unstable();
        ids
    }

    /// Serves every task from its first answer again.
    pub fn reset(&self) {
        self.cursors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

fn kind(value: &Json) -> &'static str {
    match value {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

impl Sampler for ReplaySampler {
    type Error = Error;

    fn sample(&self, request: &SampleRequest) -> Result<Vec<Completion>, Error> {
        let answers = self
            .answers
            .get(&request.task_id)
            .ok_or_else(|| Error::UnknownTask {
                task_id: request.task_id.clone(),
            })?;
        let mut cursors = self.cursors.lock().unwrap_or_else(|e| e.into_inner());
        let cursor = cursors.entry(request.task_id.clone()).or_insert(0);
        let out = (0..request.n as usize)
            .map(|i| {
                Completion::new(
                    answers[(*cursor + i) % answers.len()].clone(),
                    Some("stop".into()),
                )
            })
            .collect();
        *cursor = (*cursor + request.n as usize) % answers.len();
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replay(text: &str) -> Result<ReplaySampler, Error> {
        ReplaySampler::from_reader(text.as_bytes(), "answers.jsonl")
    }

    fn ask(s: &ReplaySampler, task: &str, n: u32) -> Vec<String> {
        let mut r = SampleRequest::text(task, "ignored");
        r.n = n;
        s.sample(&r).unwrap().into_iter().map(|c| c.text).collect()
    }

    const ANSWERS: &str = r#"{"task_id": "a", "answer": "a1"}
{"task_id": "b", "answer": "b1", "model": "ignored"}

{"task_id": "a", "answer": "a2"}
{"task_id": "a", "answer": "a3"}
"#;

    #[test]
    fn answers_come_in_file_order_per_task_and_cycle() {
        let s = replay(ANSWERS).unwrap();
        assert_eq!(s.task_ids(), ["a", "b"]);
        assert_eq!(ask(&s, "a", 1), ["a1"]);
        assert_eq!(ask(&s, "b", 2), ["b1", "b1"]);
        assert_eq!(ask(&s, "a", 4), ["a2", "a3", "a1", "a2"]);
        assert_eq!(ask(&s, "a", 1), ["a3"]);
        assert_eq!(ask(&s, "a", 0), Vec::<String>::new());
        s.reset();
        assert_eq!(ask(&s, "a", 2), ["a1", "a2"]);
    }

    #[test]
    fn the_same_requests_give_the_same_answers() {
        let run = || {
            let s = replay(ANSWERS).unwrap();
            [ask(&s, "a", 2), ask(&s, "b", 1), ask(&s, "a", 2)]
        };
        assert_eq!(run(), run());
    }

    #[test]
    fn an_unknown_task_is_an_error() {
        let s = replay(ANSWERS).unwrap();
        let err = s.sample(&SampleRequest::text("zzz", "")).unwrap_err();
        assert!(matches!(err, Error::UnknownTask { ref task_id } if task_id == "zzz"));
    }

    #[test]
    fn errors_name_the_file_the_line_and_the_field() {
        let cases = [
            (
                "{\"task_id\": \"a\"}",
                "answers.jsonl:1: missing field `answer`",
            ),
            (
                "\n{\"task_id\": 3, \"answer\": \"x\"}",
                "answers.jsonl:2: field `task_id`: expected a string, found a number",
            ),
            (
                "{\"task_id\": \"a\", \"answer\": null}",
                "answers.jsonl:1: field `answer`: expected a string, found null",
            ),
            ("[1]", "answers.jsonl:1: expected a JSON object"),
        ];
        for (text, want) in cases {
            assert_eq!(replay(text).unwrap_err().to_string(), want, "{text}");
        }
        let err = replay("{oops").unwrap_err().to_string();
        assert!(err.starts_with("answers.jsonl:1: not JSON: "), "{err}");
    }

    #[test]
    fn a_missing_file_names_its_path() {
        let err = ReplaySampler::open("/nonexistent/answers.jsonl").unwrap_err();
        assert!(
            err.to_string().starts_with("/nonexistent/answers.jsonl: "),
            "{err}"
        );
    }
}
