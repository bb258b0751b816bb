//! Trace formats beside NExT's, rendered from the same captured [`Trace`], for ablations
//! that compare how an execution trace is shown to a model (`docs/trace-formats.md`).
//!
//! - [`semcoder`]: a SemCoder-style scratchpad (Ding et al., 2024): each step as its
//!   statement's source followed by `[STATE-k]{json}[/STATE-k]`, in execution order
//!   ([`Placement::Execution`]) or appended to the source lines
//!   ([`Placement::Inline`]).
//! - [`ldb`]: an LDB-style block listing (Zhong et al., 2024): the steps cut into
//!   blocks of straight-line code, each block's source lines followed by all the
//!   variables of its frame known at its end.
//!
//! Both are pure functions of (source, trace, options), deterministic, and parse the
//! source once through a [`Layout`] (the same anchor lines as the NExT format). Each
//! has a renderer that implements [`nxt_core::Renderer`] ([`SemcoderRenderer`],
//! [`LdbRenderer`]), and [`Format`] names the three formats so that callers can swap
//! them.
//!
//! # Example
//!
//! ```
//! use nxt_core::{Event, RenderOptions, Renderer, Step, Trace, Value, Var};
//! use nxt_inline::formats::{Format, LdbRenderer, SemcoderRenderer};
//!
//! let source = "x = 1\ny = [x]\n";
//! let mut trace = Trace::new("CPython 3.11.7");
//! for (line, name, value) in [(1, "x", "1"), (2, "y", "[1]")] {
//!     trace.steps.push(Step {
//!         line,
//!         event: Event::Line,
//!         frame: 0,
//!         vars: vec![Var::new(name, Value::repr(value))],
//!     });
//! }
//! let options = RenderOptions::default();
//!
//! assert_eq!(
//!     SemcoderRenderer::new().render(source, &trace, &options)?,
//!     "x = 1  # [STATE-0]{\"x\":\"1\"}[/STATE-0]\n\
//!      y = [x]  # [STATE-1]{\"y\":\"[1]\"}[/STATE-1]\n"
//! );
//! assert_eq!(
//!     LdbRenderer::new().render(source, &trace, &options)?,
//!     "[BLOCK-0]\nx = 1\ny = [x]\n# intermediate variable values: x=1, y=[1]\n"
//! );
//! // The same by name, as a command line would choose it.
//! let format: Format = "ldb".parse()?;
//! assert_eq!(
//!     format.renderer().render(source, &trace, &options)?,
//!     LdbRenderer::new().render(source, &trace, &options)?
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt::{self, Write as _};
use std::str::FromStr;

use nxt_core::{Ending, RenderOptions, Renderer, Trace};

use crate::render::ending_line;
pub(super) use crate::render::push_one_line;
use crate::{Formatter, InlineError, Layout};

pub mod ldb;
pub mod semcoder;

pub use ldb::{LdbOptions, LdbRenderer};
pub use semcoder::{Placement, SemcoderOptions, SemcoderRenderer};

/// One of the trace formats this crate writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Format {
    /// NExT's inline comments (`spec/inline-trace-format.md`): [`Formatter`].
    #[default]
    Next,
    /// The SemCoder-style scratchpad: [`semcoder`].
    Semcoder,
    /// The LDB-style block listing: [`ldb`].
    Ldb,
}

impl Format {
    /// Every format, in the order of their names in messages.
    pub const ALL: [Format; 3] = [Format::Next, Format::Semcoder, Format::Ldb];

    /// The format's name: `next`, `semcoder` or `ldb`.
    pub fn name(self) -> &'static str {
        match self {
            Format::Next => "next",
            Format::Semcoder => "semcoder",
            Format::Ldb => "ldb",
        }
    }

    /// Renders `trace` into the program of `layout` in this format. `options` are
    /// read as each format's renderer reads them: all three fields for NExT and
    /// SemCoder, only `max_value_chars` for LDB (which keeps its default blocks).
    ///
    /// # Errors
    ///
    /// The errors of [`Layout::render`], [`semcoder::render_layout`] and
    /// [`ldb::render_layout`].
    pub fn render_layout(
        self,
        layout: &Layout,
        trace: &Trace,
        options: &RenderOptions,
    ) -> Result<String, InlineError> {
        match self {
            Format::Next => Ok(layout.render(trace, options)?.text),
            Format::Semcoder => {
                semcoder::render_layout(layout, trace, &SemcoderOptions::from_render(options))
            }
            Format::Ldb => ldb::render_layout(layout, trace, &LdbOptions::from_render(options)),
        }
    }

    /// A renderer of this format with its defaults (NExT without a token budget).
    pub fn renderer(self) -> Box<dyn Renderer<Error = InlineError> + Send + Sync> {
        match self {
            Format::Next => Box::new(Formatter::new()),
            Format::Semcoder => Box::new(SemcoderRenderer::new()),
            Format::Ldb => Box::new(LdbRenderer::new()),
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = UnknownFormat;

    /// Reads a format's [name](Format::name), ignoring ASCII case.
    fn from_str(s: &str) -> Result<Format, UnknownFormat> {
        Format::ALL
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownFormat(s.to_owned()))
    }
}

/// A name that is not one of the [`Format`]s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown trace format `{0}` (expected next, semcoder or ldb)")]
pub struct UnknownFormat(pub String);

/// The 0-based anchor line of every step, or the error of the first step on a line no
/// statement covers (the same error as NExT's rendering).
fn step_anchors(layout: &Layout, trace: &Trace) -> Result<Vec<usize>, InlineError> {
    trace
        .steps
        .iter()
        .enumerate()
        .map(|(k, step)| {
            layout
                .anchor_index(step.line)
                .ok_or(InlineError::NoStatement {
                    line: step.line,
                    step: k,
                })
        })
        .collect()
}

/// Checks `max_value_chars >= 5`, as NExT's rendering does.
fn check_max_value_chars(max_value_chars: usize) -> Result<(), InlineError> {
    if max_value_chars < 5 {
        return Err(InlineError::InvalidOption {
            option: "max_value_chars",
            value: max_value_chars,
            requirement: "it must be at least 5",
        });
    }
    Ok(())
}

/// The source lines of statements, looked up by anchor line and remembered.
///
/// The lines of a statement with anchor line `A` are `A` and the lines right before
/// it whose anchor is also `A`: continuation lines, decorators, the lines of a
/// multi-line header (for a compound statement, its header up to the `:`; its body has
/// anchors of its own).
struct StatementLines<'a> {
    layout: &'a Layout,
    /// For each 0-based anchor line, the 0-based first line of its statement, once
    /// known (`u32::MAX` until then).
    first: Vec<u32>,
}

impl<'a> StatementLines<'a> {
    fn new(layout: &'a Layout) -> StatementLines<'a> {
        StatementLines {
            layout,
            first: vec![u32::MAX; layout.line_count()],
        }
    }

    /// The 0-based first line of the statement anchored on 0-based line `anchor`.
    fn first_line(&mut self, anchor: usize) -> usize {
        if self.first[anchor] == u32::MAX {
            let mut first = anchor;
            // Line `first - 1` (0-based) is line `first` (1-based).
            while first > 0 && self.layout.anchor_index(first as u32) == Some(anchor) {
                first -= 1;
            }
            self.first[anchor] = first as u32;
        }
        self.first[anchor] as usize
    }

    /// Appends the statement's lines, verbatim without their terminators, each but the
    /// last followed by `\n`.
    fn push(&mut self, out: &mut String, anchor: usize) {
        let first = self.first_line(anchor);
        for i in first..=anchor {
            let line = self.layout.lines[i];
            out.push_str(&self.layout.source[line.start..line.content_end]);
            if i < anchor {
                out.push('\n');
            }
        }
    }
}

/// Appends `s` as a JSON string: `"` and `\` escaped, control characters and the other
/// characters at which `str.splitlines()` splits (`\x85`, `\u2028`, `\u2029`) written
/// as escapes, and a `[` that starts `[STATE-` or `[/STATE-` written `\u005b`, so
/// that a value never holds text that reads as a state's tag; everything else as it
/// is. The result is always one line.
fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    for (i, c) in s.char_indices() {
        match c {
            '[' if s[i + 1..].starts_with("STATE-") || s[i + 1..].starts_with("/STATE-") => {
                out.push_str("\\u005b");
            }
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\0'..='\x1f' | '\u{85}' | '\u{2028}' | '\u{2029}' => {
                // Writing into a String cannot fail.
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Appends the ending line of an incomplete trace (spec section 6) and `\n`; nothing
/// for a complete one.
fn push_ending(out: &mut String, ending: &Ending) {
    if let Some(line) = ending_line(ending) {
        out.push_str(&line);
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_have_names() {
        for format in Format::ALL {
            assert_eq!(format.name().parse::<Format>(), Ok(format));
            assert_eq!(format.to_string(), format.name());
        }
        assert_eq!("LDB".parse::<Format>(), Ok(Format::Ldb));
        assert_eq!(Format::default(), Format::Next);
        let err = "scratchpad".parse::<Format>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown trace format `scratchpad` (expected next, semcoder or ldb)"
        );
    }

    fn json(s: &str) -> String {
        let mut out = String::new();
        push_json_string(&mut out, s);
        out
    }

    #[test]
    fn json_strings_are_one_line_and_exact() {
        assert_eq!(json("[1, 'a']"), "\"[1, 'a']\"");
        assert_eq!(json("\"\\"), "\"\\\"\\\\\"");
        assert_eq!(
            json("a\nb\rc\td\x08e\x0cf\0g\x1fh\x0bi"),
            "\"a\\nb\\rc\\td\\be\\ff\\u0000g\\u001fh\\u000bi\""
        );
        assert_eq!(
            json("\u{85}\u{2028}\u{2029}é✓\u{7f}"),
            "\"\\u0085\\u2028\\u2029é✓\u{7f}\""
        );
        assert_eq!(
            json("[STATE-1] [/STATE-2] [STATE [1, [2]]"),
            "\"\\u005bSTATE-1] \\u005b/STATE-2] [STATE [1, [2]]\""
        );
    }

    #[test]
    fn one_line_escapes_match_nexts() {
        let mut out = String::new();
        push_one_line(&mut out, "a\nb\rc\0d\u{2028}e\u{85}f\x0cg\th");
        assert_eq!(out, "a\\nb\\rc\\x00d\\u2028e\\x85f\\x0cg\th");
    }

    #[test]
    fn statement_lines_go_back_to_the_statement_start() {
        let source = "@dec\ndef f(a,\n      b):\n    x = (1,\n         2)\n\n    return x; y = 3\n";
        let layout = Layout::new(source).unwrap();
        let mut lines = StatementLines::new(&layout);
        let text = |lines: &mut StatementLines<'_>, anchor| {
            let mut out = String::new();
            lines.push(&mut out, anchor);
            out
        };
        assert_eq!(text(&mut lines, 2), "@dec\ndef f(a,\n      b):");
        assert_eq!(text(&mut lines, 4), "    x = (1,\n         2)");
        assert_eq!(text(&mut lines, 6), "    return x; y = 3");
        // Remembered.
        assert_eq!(text(&mut lines, 4), "    x = (1,\n         2)");
    }
}
