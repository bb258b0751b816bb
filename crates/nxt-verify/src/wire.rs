//! Reads the harness's result channel (the wire format described atop `harness.py`).
//!
//! Only lines that carry the expected one-time token are accepted, in order: a line
//! the program wrote (it has no token), a replay of an earlier message (its token was
//! used) and anything after a malformed message are ignored.

use serde::Deserialize;

/// Where the program or its setup raised, or called `sys.exit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Stage {
    Program,
    Setup,
    Test,
}

impl Stage {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Stage::Program => "program",
            Stage::Setup => "setup",
            Stage::Test => "test",
        }
    }
}

/// How a test block fared, as the harness said.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Status {
    Passed,
    Failed,
    Error,
}

/// An exception the harness caught.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
pub(crate) struct Raised {
    #[serde(rename = "exc")]
    pub exception: Option<String>,
    #[serde(rename = "msg")]
    pub message: Option<String>,
    pub line: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "k", rename_all = "snake_case")]
enum Message {
    Start,
    Syntax {
        line: u32,
        col: u32,
        msg: String,
    },
    Error {
        stage: Stage,
        #[serde(flatten)]
        raised: Raised,
    },
    Ran,
    Test {
        i: usize,
        st: Status,
        #[serde(flatten)]
        raised: Raised,
    },
    Exit {
        stage: Stage,
        code: String,
    },
    Done,
}

/// The program does not compile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SyntaxInfo {
    pub line: u32,
    pub column: u32,
    pub message: String,
}

/// One test block's report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TestReport {
    pub status: Status,
    pub raised: Raised,
}

/// Everything the harness reported for one check.
#[derive(Debug, Default)]
pub(crate) struct Report {
    /// The harness read its payload.
    pub started: bool,
    pub syntax: Option<SyntaxInfo>,
    /// The program or the setup raised (tests did not run).
    pub stage_error: Option<(Stage, Raised)>,
    /// The program and the setup ran to their ends.
    pub ran: bool,
    /// Per test block, in order; `None` for blocks with no report.
    pub tests: Vec<Option<TestReport>>,
    /// `SystemExit` ended the run: its stage and code.
    pub exit: Option<(Stage, String)>,
    /// Every test block ran.
    pub done: bool,
    /// Messages accepted.
    pub accepted: usize,
    /// Lines given that were not accepted (written by the program, replays,
    /// malformed).
    pub rejected: usize,
}

/// The complete, non-empty lines of a channel (a last line without its newline was
/// cut off by a kill or the channel's cap), and whether there was such a cut line.
pub(crate) fn complete_lines(bytes: &[u8]) -> (Vec<&[u8]>, bool) {
    let (complete, cut) = match bytes.iter().rposition(|&b| b == b'\n') {
        Some(i) => (&bytes[..i], i + 1 < bytes.len()),
        None => (&[][..], !bytes.is_empty()),
    };
    let lines = complete
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    (lines, cut)
}

/// Parses the harness's messages of a check with `n_tests` test blocks from `lines`
/// (the channel's lines, with the job's secret already checked and stripped when there
/// is one), accepting the `k`-th message only with `tokens[k]`.
pub(crate) fn parse(lines: &[&[u8]], tokens: &[String], n_tests: usize) -> Report {
    let mut report = Report {
        tests: vec![None; n_tests],
        ..Report::default()
    };
    let mut next = 0usize;
    let mut broken = false;
    for line in lines {
        let accepted = !broken
            && !report.done
            && tokens.get(next).is_some_and(|token| {
                line.len() > token.len()
                    && line.starts_with(token.as_bytes())
                    && line[token.len()] == b' '
            });
        if !accepted {
            report.rejected += 1;
            continue;
        }
        let body = &line[tokens[next].len() + 1..];
        next += 1;
        let Ok(message) = serde_json::from_slice::<Message>(body) else {
            // Only the harness has the token: a malformed message of ours means the
            // stream was damaged. Trust nothing after it.
            broken = true;
            report.rejected += 1;
            continue;
        };
        report.accepted += 1;
        match message {
            Message::Start => report.started = true,
            Message::Syntax { line, col, msg } => {
                report.syntax = Some(SyntaxInfo {
                    line,
                    column: col,
                    message: msg,
                })
            }
            Message::Error { stage, raised } => report.stage_error = Some((stage, raised)),
            Message::Ran => report.ran = true,
            Message::Test { i, st, raised } => {
                if let Some(slot) = report.tests.get_mut(i)
                    && slot.is_none()
                {
                    *slot = Some(TestReport { status: st, raised });
                }
            }
            Message::Exit { stage, code } => report.exit = Some((stage, code)),
            Message::Done => report.done = true,
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> Vec<String> {
        (0..6).map(|i| format!("tok{i}")).collect()
    }

    fn parse(bytes: &[u8], tokens: &[String], n_tests: usize) -> Report {
        let (lines, cut) = complete_lines(bytes);
        let mut r = super::parse(&lines, tokens, n_tests);
        r.rejected += usize::from(cut);
        r
    }

    #[test]
    fn accepts_messages_in_token_order() {
        let bytes = b"\ntok0 {\"k\":\"start\"}\n\ntok1 {\"k\":\"ran\"}\n\ntok2 {\"k\":\"test\",\"i\":0,\"st\":\"failed\",\"exc\":\"AssertionError\",\"msg\":\"\",\"line\":2}\n\ntok3 {\"k\":\"done\"}\n";
        let r = parse(bytes, &tokens(), 1);
        assert!(r.started && r.ran && r.done);
        let t = r.tests[0].as_ref().unwrap();
        assert_eq!(t.status, Status::Failed);
        assert_eq!(t.raised.line, Some(2));
        assert_eq!(r.rejected, 0);
    }

    #[test]
    fn forged_replayed_and_cut_lines_are_rejected() {
        let bytes = b"{\"k\":\"done\"}\ntok0 {\"k\":\"start\"}\ntok0 {\"k\":\"start\"}\nnope {\"k\":\"done\"}\ntok1 {\"k\":\"ran\"}\ntok2 {\"k\":\"done\"";
        let r = parse(bytes, &tokens(), 0);
        assert!(r.started && r.ran);
        assert!(!r.done);
        assert_eq!(r.rejected, 4);
    }

    #[test]
    fn junk_before_a_message_does_not_break_it() {
        let bytes = b"garbage without newline\ntok0 {\"k\":\"start\"}\n\ntok1 {\"k\":\"done\"}\n";
        let r = parse(bytes, &tokens(), 0);
        assert!(r.started && r.done);
        assert_eq!(r.rejected, 1);
    }

    #[test]
    fn nothing_is_trusted_after_a_malformed_message() {
        let bytes = b"tok0 {\"k\":\"start\"}\ntok1 {\"k\":\ntok2 {\"k\":\"done\"}\n";
        let r = parse(bytes, &tokens(), 0);
        assert!(r.started);
        assert!(!r.done);
    }

    #[test]
    fn syntax_errors_and_exits() {
        let r = parse(
            b"tok0 {\"k\":\"start\"}\ntok1 {\"k\":\"syntax\",\"line\":3,\"col\":7,\"msg\":\"invalid syntax\"}\n",
            &tokens(),
            2,
        );
        assert_eq!(
            r.syntax,
            Some(SyntaxInfo {
                line: 3,
                column: 7,
                message: "invalid syntax".into()
            })
        );
        let r = parse(
            b"tok0 {\"k\":\"start\"}\ntok1 {\"k\":\"exit\",\"stage\":\"program\",\"code\":\"0\"}\n",
            &tokens(),
            2,
        );
        assert_eq!(r.exit, Some((Stage::Program, "0".into())));
    }
}
