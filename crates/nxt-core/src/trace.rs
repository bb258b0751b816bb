//! The trace data model: what a run of a program did, step by step.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer};
use serde::ser::{SerializeTuple, Serializer};
use serde::{Deserialize, Serialize};

/// The value of the `format` field of every trace JSON document.
pub const FORMAT_NAME: &str = "nxt-trace";
/// The version of the trace JSON format this crate reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// What one run of a program did: its steps in order, and why the record ended.
///
/// Step `K` of the inline format is `steps[K]`: the numbering is the position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trace {
    /// Always [`FORMAT_NAME`].
    pub format: String,
    /// Always [`FORMAT_VERSION`] for traces this crate writes.
    pub version: u32,
    /// The interpreter that ran the program, e.g. `CPython 3.11.7`.
    pub interpreter: String,
    /// The recorded steps, in the order they happened, across all frames.
    pub steps: Vec<Step>,
    /// Why recording ended.
    pub ending: Ending,
    /// The `repr()` of the exception that escaped the module, if the program ended with one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exception: Option<String>,
}

impl Trace {
    /// An empty, complete trace from the named interpreter.
    pub fn new(interpreter: impl Into<String>) -> Trace {
        Trace {
            format: FORMAT_NAME.to_owned(),
            version: FORMAT_VERSION,
            interpreter: interpreter.into(),
            steps: Vec::new(),
            ending: Ending::Complete,
            exception: None,
        }
    }

    /// Whether the run was recorded to its end (no limit cut it short).
    pub fn is_complete(&self) -> bool {
        self.ending == Ending::Complete
    }

    /// The trace as one line of JSON (the interchange format of `docs/trace-json.md`).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a trace always serializes")
    }

    /// The trace as indented JSON.
    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(self).expect("a trace always serializes")
    }

    /// Reads a trace from JSON, checking its format name and version.
    pub fn from_json(text: &str) -> Result<Trace, TraceJsonError> {
        let trace: Trace = serde_json::from_str(text).map_err(|e| TraceJsonError::Json {
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        })?;
        if trace.format != FORMAT_NAME {
            return Err(TraceJsonError::Format(trace.format));
        }
        if trace.version != FORMAT_VERSION {
            return Err(TraceJsonError::Version(trace.version));
        }
        Ok(trace)
    }
}

/// Why a trace JSON document could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TraceJsonError {
    /// The text is not a trace document.
    #[error("line {line}, column {column}: {message}")]
    Json {
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// What serde_json said.
        message: String,
    },
    /// The `format` field is not `nxt-trace`.
    #[error("field `format`: expected \"{FORMAT_NAME}\", found {0:?}")]
    Format(String),
    /// The `version` field names a version this build cannot read.
    #[error("field `version`: this build reads version {FORMAT_VERSION}, found {0}")]
    Version(u32),
}

/// One step: the changes one statement made in one frame, or a call, return, yield or
/// exception there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// The 1-based source line the interpreter reported: for a call, the first line of
    /// the function's `def` (or of its first decorator); otherwise the line that ran.
    pub line: u32,
    /// What kind of event produced the step.
    pub event: Event,
    /// The frame the step belongs to: frames are numbered 0, 1, 2, ... in the order
    /// they were first seen (the module frame is 0).
    pub frame: u32,
    /// The variables the step records, in the frame's order; `__return__`, `__yield__`
    /// and `__exception__` come last.
    pub vars: Vec<Var>,
}

/// The kind of event that produced a [`Step`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Event {
    /// A function frame was entered; the step holds its arguments and free variables.
    Call,
    /// A line finished executing; the step holds what it changed.
    Line,
    /// A function frame returned; the step ends with `__return__`.
    Return,
    /// A generator or coroutine suspended; the step ends with `__yield__`.
    Yield,
    /// An exception was raised in or passed through the frame; the step ends with
    /// `__exception__`.
    Exception,
}

/// A variable recorded in a step: its name and its rendered value.
///
/// In JSON a variable is the pair `["name", value]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Var {
    /// The variable's name, or `__return__`, `__yield__`, `__exception__`.
    pub name: String,
    /// Its value as rendered by the tracer.
    pub value: Value,
}

impl Var {
    /// A variable with the given name and value.
    pub fn new(name: impl Into<String>, value: Value) -> Var {
        Var {
            name: name.into(),
            value,
        }
    }
}

impl Serialize for Var {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut t = serializer.serialize_tuple(2)?;
        t.serialize_element(&self.name)?;
        t.serialize_element(&self.value)?;
        t.end()
    }
}

impl<'de> Deserialize<'de> for Var {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Var, D::Error> {
        let (name, value) = <(String, Value)>::deserialize(deserializer)?;
        Ok(Var { name, value })
    }
}

/// A rendered value: the `repr()` after the spec's substitutions and escapes, before
/// truncation to `max_value_chars`.
///
/// In JSON: a string ([`Value::Repr`]), `null` ([`Value::Deleted`]), or
/// `{"head": ..., "tail": ..., "chars": N}` ([`Value::Clipped`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// The whole rendering.
    Repr(String),
    /// A rendering longer than the tracer's capture limit: its first and last
    /// characters and its full length in characters (Unicode scalar values). Any
    /// truncation to `max_value_chars <= 2 * min(head, tail) + 3` is still exact.
    Clipped {
        /// The first characters of the rendering.
        head: String,
        /// The last characters of the rendering.
        tail: String,
        /// The length of the whole rendering, in characters.
        chars: u64,
    },
    /// The variable was deleted: rendered `<deleted>`.
    Deleted,
}

impl Value {
    /// A whole rendering.
    pub fn repr(text: impl Into<String>) -> Value {
        Value::Repr(text.into())
    }

    /// The length of the whole rendering in characters.
    pub fn chars(&self) -> u64 {
        match self {
            Value::Repr(s) => s.chars().count() as u64,
            Value::Clipped { chars, .. } => *chars,
            Value::Deleted => "<deleted>".len() as u64,
        }
    }

    /// The rendering cut to at most `max_value_chars` characters (spec section 3): a
    /// longer one keeps its first `ceil(n/2)` and last `floor(n/2)` characters, where
    /// `n = max_value_chars - 3`, joined by `...`. `max_value_chars` below 5 counts as 5.
    pub fn truncated(&self, max_value_chars: usize) -> Cow<'_, str> {
        let max = max_value_chars.max(5);
        let n = max - 3;
        let (first, last) = (n.div_ceil(2), n / 2);
        match self {
            Value::Deleted => Cow::Borrowed("<deleted>"),
            Value::Repr(s) => {
                // Fast path: byte length bounds the character count.
                if s.len() <= max {
                    return Cow::Borrowed(s);
                }
                let count = s.chars().count();
                if count <= max {
                    return Cow::Borrowed(s);
                }
                let head_end = s.char_indices().nth(first).map_or(s.len(), |(i, _)| i);
                let tail_start = s
                    .char_indices()
                    .nth(count - last)
                    .map_or(s.len(), |(i, _)| i);
                Cow::Owned(format!("{}...{}", &s[..head_end], &s[tail_start..]))
            }
            Value::Clipped { head, tail, chars } => {
                if *chars as usize <= max {
                    // Only a malformed document clips a short value; show what it has.
                    return Cow::Owned(format!("{head}{tail}"));
                }
                let head_end = head
                    .char_indices()
                    .nth(first)
                    .map_or(head.len(), |(i, _)| i);
                let tail_count = tail.chars().count();
                let tail_start = tail
                    .char_indices()
                    .nth(tail_count.saturating_sub(last))
                    .map_or(tail.len(), |(i, _)| i);
                Cow::Owned(format!("{}...{}", &head[..head_end], &tail[tail_start..]))
            }
        }
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Clip<'a> {
            head: &'a str,
            tail: &'a str,
            chars: u64,
        }
        match self {
            Value::Repr(s) => serializer.serialize_str(s),
            Value::Deleted => serializer.serialize_none(),
            Value::Clipped { head, tail, chars } => Clip {
                head,
                tail,
                chars: *chars,
            }
            .serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Value, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Clip {
            head: String,
            tail: String,
            chars: u64,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Repr(String),
            Clipped(Clip),
            Deleted(()),
        }
        match Option::<Raw>::deserialize(deserializer)? {
            None | Some(Raw::Deleted(())) => Ok(Value::Deleted),
            Some(Raw::Repr(s)) => Ok(Value::Repr(s)),
            Some(Raw::Clipped(c)) => {
                if (c.head.chars().count() + c.tail.chars().count()) as u64 > c.chars {
                    return Err(de::Error::custom(
                        "clipped value: head and tail are longer than `chars`",
                    ));
                }
                Ok(Value::Clipped {
                    head: c.head,
                    tail: c.tail,
                    chars: c.chars,
                })
            }
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Repr(s) => f.write_str(s),
            Value::Deleted => f.write_str("<deleted>"),
            Value::Clipped { head, tail, .. } => write!(f, "{head}...{tail}"),
        }
    }
}

/// Why recording ended (spec section 6). Everything but [`Ending::Complete`] adds the
/// ending line to a rendering.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Ending {
    /// The program ran to its end (normally or with an exception) and every step was
    /// recorded.
    Complete,
    /// `max_steps` steps were recorded and a further one would have been.
    StepLimit {
        /// The step budget that was reached.
        max_steps: u64,
    },
    /// The run was stopped at its wall-clock limit.
    TimeLimit {
        /// The limit as given, in seconds.
        seconds: f64,
    },
    /// The run was stopped by its memory limit.
    MemoryLimit,
    /// The tracer itself failed (for example at the recursion limit).
    TracerError {
        /// What went wrong, for people; not part of the rendering.
        message: String,
    },
}

/// Options for capturing a trace (spec section 6).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TraceOptions {
    /// Stop recording after this many steps. By default, 10,000.
    pub max_steps: u64,
    /// Wall-clock limit of the run, in seconds. By default, 2.
    pub timeout: f64,
    /// Address-space limit of the run, in bytes; `None` for none. By default, 2 GiB.
    pub memory_limit: Option<u64>,
    /// Renderings longer than this many characters are stored clipped (head and tail
    /// of half this length each), which keeps truncation exact for every
    /// `max_value_chars` up to this value. By default, 8,192.
    pub value_capture_chars: u64,
}

impl Default for TraceOptions {
    fn default() -> TraceOptions {
        TraceOptions {
            max_steps: 10_000,
            timeout: 2.0,
            memory_limit: Some(2 << 30),
            value_capture_chars: 8192,
        }
    }
}

/// Options for writing a trace into the source (spec sections 3–5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RenderOptions {
    /// Steps kept at the start of a compressed line. By default, 2.
    pub keep_first: usize,
    /// Steps kept at the end of a compressed line. By default, 1.
    pub keep_last: usize,
    /// Longest rendering of one value, at least 5. By default, 100.
    pub max_value_chars: usize,
}

impl Default for RenderOptions {
    fn default() -> RenderOptions {
        RenderOptions {
            keep_first: 2,
            keep_last: 1,
            max_value_chars: 100,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_keeps_head_and_tail() {
        let v = Value::repr("abcdefghij");
        assert_eq!(v.truncated(10), "abcdefghij");
        // n = 6: first 3, last 3.
        assert_eq!(v.truncated(9), "abc...hij");
        // n = 5: first 3, last 2.
        assert_eq!(v.truncated(8), "abc...ij");
        assert_eq!(v.truncated(5), "a...j");
        assert_eq!(v.truncated(1), "a...j");
    }

    #[test]
    fn truncation_counts_characters_not_bytes() {
        let v = Value::repr("ééééééééé");
        assert_eq!(v.truncated(9), "ééééééééé");
        assert_eq!(v.truncated(8), "ééé...éé");
    }

    #[test]
    fn clipped_values_truncate_like_whole_ones() {
        let whole: String = (0..100)
            .map(|i| char::from(b'a' + (i % 26) as u8))
            .collect();
        let clipped = Value::Clipped {
            head: whole[..20].to_owned(),
            tail: whole[80..].to_owned(),
            chars: 100,
        };
        for max in 5..=43 {
            assert_eq!(
                clipped.truncated(max),
                Value::repr(whole.clone()).truncated(max),
                "max {max}"
            );
        }
    }

    #[test]
    fn values_round_trip_through_json() {
        for v in [
            Value::repr("[1, 2]"),
            Value::Deleted,
            Value::Clipped {
                head: "ab".into(),
                tail: "yz".into(),
                chars: 10,
            },
        ] {
            let json = serde_json::to_string(&Var::new("x", v.clone())).unwrap();
            let back: Var = serde_json::from_str(&json).unwrap();
            assert_eq!(back.value, v, "{json}");
        }
        assert_eq!(
            serde_json::to_string(&Var::new("x", Value::Deleted)).unwrap(),
            r#"["x",null]"#
        );
    }

    #[test]
    fn bad_documents_are_named() {
        let err = Trace::from_json(r#"{"format":"other","version":1,"interpreter":"x","steps":[],"ending":{"kind":"complete"}}"#).unwrap_err();
        assert_eq!(err, TraceJsonError::Format("other".into()));
        let err = Trace::from_json(r#"{"format":"nxt-trace","version":9,"interpreter":"x","steps":[],"ending":{"kind":"complete"}}"#).unwrap_err();
        assert_eq!(err, TraceJsonError::Version(9));
        let err = Trace::from_json("{\"format\":").unwrap_err();
        assert!(matches!(err, TraceJsonError::Json { line: 1, .. }), "{err}");
        let err = Trace::from_json(r#"{"format":"nxt-trace","version":1,"interpreter":"x","steps":[{"line":1,"event":"call","frame":0,"vars":[["x",{"head":"abc","tail":"d","chars":2}]]}],"ending":{"kind":"complete"}}"#).unwrap_err();
        assert!(err.to_string().contains("clipped"), "{err}");
    }

    #[test]
    fn endings_serialize_with_a_kind() {
        let e = Ending::TimeLimit { seconds: 0.5 };
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"kind":"time_limit","seconds":0.5}"#
        );
    }
}
