//! Reads the tracer's output stream (the wire format described atop `tracer.py`).

use nxt_core::{Event, Step, Var};
use serde::Deserialize;

/// Why recording stopped early, as the tracer said.
#[derive(Debug, PartialEq)]
pub(crate) enum End {
    Steps,
    Memory,
    TracerError(String),
}

#[derive(Debug, Deserialize)]
pub(crate) struct SyntaxError {
    pub message: String,
    pub line: u32,
    pub column: u32,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Done {
    pub exception: Option<String>,
    #[allow(dead_code)]
    pub exit_code: i64,
}

#[derive(Debug, Default)]
pub(crate) struct Stream {
    pub started: bool,
    pub steps: Vec<Step>,
    pub end: Option<End>,
    pub syntax_error: Option<SyntaxError>,
    pub done: Option<Done>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Message {
    Step(u32, String, u32, Vec<Var>),
    Start {
        #[allow(dead_code)]
        start: u8,
    },
    Syntax {
        syntax_error: SyntaxError,
    },
    End {
        end: String,
        message: String,
    },
    Done {
        #[allow(dead_code)]
        done: u8,
        exception: Option<String>,
        exit_code: i64,
    },
}

/// Parses the stream. A last line without its newline was cut off by a kill and is
/// ignored; any other malformed line is an error.
pub(crate) fn parse(bytes: &[u8]) -> Result<Stream, String> {
    let mut stream = Stream::default();
    let complete = match bytes.iter().rposition(|&b| b == b'\n') {
        Some(i) => &bytes[..=i],
        None => &[][..],
    };
    for (n, line) in complete.split(|&b| b == b'\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        let msg: Message = serde_json::from_slice(line)
            .map_err(|e| format!("line {} of the trace stream: {e}", n + 1))?;
        match msg {
            Message::Step(line, event, frame, vars) => {
                let event = match event.as_str() {
                    "c" => Event::Call,
                    "l" => Event::Line,
                    "r" => Event::Return,
                    "y" => Event::Yield,
                    "e" => Event::Exception,
                    other => return Err(format!("unknown event {other:?} in the trace stream")),
                };
                if stream.end.is_none() {
                    stream.steps.push(Step {
                        line,
                        event,
                        frame,
                        vars,
                    });
                }
            }
            Message::Start { .. } => stream.started = true,
            Message::Syntax { syntax_error } => stream.syntax_error = Some(syntax_error),
            Message::End { end, message } => {
                if stream.end.is_none() {
                    stream.end = Some(match end.as_str() {
                        "steps" => End::Steps,
                        "memory" => End::Memory,
                        _ => End::TracerError(message),
                    });
                }
            }
            Message::Done {
                exception,
                exit_code,
                ..
            } => {
                stream.done = Some(Done {
                    exception,
                    exit_code,
                })
            }
        }
    }
    Ok(stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_steps_and_ignores_a_cut_last_line() {
        let s = parse(
            b"{\"start\":1}\n[1,\"c\",1,[[\"x\",\"1\"]]]\n[2,\"l\",1,[[\"y\",null]]]\n[3,\"l\"",
        )
        .unwrap();
        assert!(s.started);
        assert_eq!(s.steps.len(), 2);
        assert_eq!(s.steps[1].event, Event::Line);
        assert!(s.done.is_none());
    }

    #[test]
    fn the_first_end_wins() {
        let s = parse(
            b"{\"start\":1}\n{\"end\":\"steps\",\"message\":\"m\"}\n{\"end\":\"memory\",\"message\":\"m\"}\n{\"done\":1,\"exception\":null,\"exit_code\":0}\n",
        )
        .unwrap();
        assert_eq!(s.end, Some(End::Steps));
        assert!(s.done.is_some());
    }

    #[test]
    fn garbage_is_an_error_naming_the_line() {
        let err = parse(b"{\"start\":1}\nnot json\n").unwrap_err();
        assert!(err.starts_with("line 2 of the trace stream"), "{err}");
    }
}
