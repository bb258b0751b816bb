//! Writing steps into the source (spec sections 3–6).

use std::fmt::Write as _;
use std::ops::Range;

use nxt_core::{Ending, RenderOptions, Step, Trace};

use crate::{InlineError, Layout};

/// A trace written into its source, with a record of exactly what was appended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Rendering {
    /// The rendered program.
    pub text: String,
    /// The lines that received a trace comment, in line order.
    pub annotated: Vec<Annotation>,
    /// The bytes of [`Rendering::text`] taken by the ending line (spec section 6),
    /// including the newline added before it when the program does not end with one;
    /// `None` when the trace is complete.
    pub ending: Option<Range<usize>>,
}

/// One line that received a trace comment.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Annotation {
    /// The 1-based physical line.
    pub line: usize,
    /// The appended bytes in [`Rendering::text`]: `  # (K) ...;` up to, not including,
    /// the line's terminator.
    pub appended: Range<usize>,
    /// How many steps belong to the line.
    pub steps: usize,
    /// How many of them are written (fewer when the line is compressed).
    pub shown: usize,
}

impl Rendering {
    /// Whether the rendering ends with the ending line of an incomplete trace.
    pub fn has_ending_line(&self) -> bool {
        self.ending.is_some()
    }

    /// The original source: the rendering without what was appended to it, byte for
    /// byte.
    ///
    /// ```
    /// use nxt_core::{Event, RenderOptions, Step, Trace, Value, Var};
    ///
    /// let source = "x = 1  # one\r\ny = 2";
    /// let mut trace = Trace::new("CPython 3.11.7");
    /// trace.steps.push(Step {
    ///     line: 1,
    ///     event: Event::Line,
    ///     frame: 0,
    ///     vars: vec![Var::new("x", Value::repr("1"))],
    /// });
    /// let layout = nxt_inline::Layout::new(source)?;
    /// let rendering = layout.render(&trace, &RenderOptions::default())?;
    /// assert_eq!(rendering.text, "x = 1  # one  # (0) x=1;\r\ny = 2");
    /// assert_eq!(rendering.strip(), source);
    /// # Ok::<(), nxt_inline::InlineError>(())
    /// ```
    pub fn strip(&self) -> String {
        let mut out = String::with_capacity(self.text.len());
        let mut at = 0;
        let cuts = self
            .annotated
            .iter()
            .map(|a| a.appended.clone())
            .chain(self.ending.clone());
        for cut in cuts {
            out.push_str(&self.text[at..cut.start]);
            at = cut.end;
        }
        out.push_str(&self.text[at..]);
        out
    }
}

/// Checks [`RenderOptions`]: `keep_first >= 1` and `max_value_chars >= 5`
/// (`keep_last` may be 0).
pub(crate) fn validate(options: &RenderOptions) -> Result<(), InlineError> {
    if options.keep_first < 1 {
        return Err(InlineError::InvalidOption {
            option: "keep_first",
            value: options.keep_first,
            requirement: "it must be at least 1",
        });
    }
    if options.max_value_chars < 5 {
        return Err(InlineError::InvalidOption {
            option: "max_value_chars",
            value: options.max_value_chars,
            requirement: "it must be at least 5",
        });
    }
    Ok(())
}

/// The steps of a trace grouped by anchor line: `steps[offsets[i]..offsets[i + 1]]`
/// are the step numbers of `lines[i]`, in step order.
#[derive(Debug)]
pub(crate) struct Groups {
    /// 0-based anchor lines that have steps, ascending.
    pub(crate) lines: Vec<usize>,
    pub(crate) offsets: Vec<usize>,
    pub(crate) steps: Vec<usize>,
}

impl Groups {
    pub(crate) fn len(&self) -> usize {
        self.lines.len()
    }

    pub(crate) fn group(&self, i: usize) -> &[usize] {
        &self.steps[self.offsets[i]..self.offsets[i + 1]]
    }
}

impl Layout {
    /// Writes `trace` into the source with `options` (spec sections 3–6).
    ///
    /// # Errors
    ///
    /// [`InlineError::InvalidOption`] when `options.keep_first` is 0 or
    /// `options.max_value_chars` is below 5; [`InlineError::NoStatement`] when a step
    /// names a line that no statement covers.
    pub fn render(&self, trace: &Trace, options: &RenderOptions) -> Result<Rendering, InlineError> {
        validate(options)?;
        let groups = self.group(trace)?;
        Ok(self.write(trace, &groups, options, &[]))
    }

    /// Groups the steps of `trace` by anchor line (a counting sort: two passes).
    pub(crate) fn group(&self, trace: &Trace) -> Result<Groups, InlineError> {
        let mut anchor_of = Vec::with_capacity(trace.steps.len());
        let mut counts = vec![0usize; self.lines.len() + 1];
        for (k, step) in trace.steps.iter().enumerate() {
            let anchor = self
                .anchor_index(step.line)
                .ok_or(InlineError::NoStatement {
                    line: step.line,
                    step: k,
                })?;
            anchor_of.push(anchor);
            counts[anchor + 1] += 1;
        }
        let mut lines = Vec::new();
        let mut offsets = vec![0];
        for (line, &count) in counts[1..].iter().enumerate() {
            if count > 0 {
                lines.push(line);
                offsets.push(offsets.last().copied().unwrap_or(0) + count);
            }
        }
        // Start of each line's slot, by line.
        for i in 1..counts.len() {
            counts[i] += counts[i - 1];
        }
        let mut steps = vec![0; trace.steps.len()];
        for (k, &anchor) in anchor_of.iter().enumerate() {
            steps[counts[anchor]] = k;
            counts[anchor] += 1;
        }
        Ok(Groups {
            lines,
            offsets,
            steps,
        })
    }

    /// Renders in one pass. `dropped[i]` (when present) leaves out the comment of
    /// group `i`.
    pub(crate) fn write(
        &self,
        trace: &Trace,
        groups: &Groups,
        options: &RenderOptions,
        dropped: &[bool],
    ) -> Rendering {
        let keep = options.keep_first + options.keep_last;
        let shown_steps: usize = (0..groups.len())
            .filter(|&g| !dropped.get(g).copied().unwrap_or(false))
            .map(|g| groups.group(g).len().min(keep + 1))
            .sum();
        let mut text = String::with_capacity(self.source.len() + shown_steps * 48 + 64);
        let mut annotated = Vec::with_capacity(groups.len());
        let mut copied = 0;
        for g in 0..groups.len() {
            if dropped.get(g).copied().unwrap_or(false) {
                continue;
            }
            let line = groups.lines[g];
            let content_end = self.lines[line].content_end;
            text.push_str(&self.source[copied..content_end]);
            copied = content_end;
            let start = text.len();
            text.push_str("  #");
            let steps = groups.group(g);
            let shown = if steps.len() > keep {
                for &k in &steps[..options.keep_first] {
                    write_step(&mut text, k, &trace.steps[k], options.max_value_chars);
                }
                text.push_str(" ...;");
                for &k in &steps[steps.len() - options.keep_last..] {
                    write_step(&mut text, k, &trace.steps[k], options.max_value_chars);
                }
                keep
            } else {
                for &k in steps {
                    write_step(&mut text, k, &trace.steps[k], options.max_value_chars);
                }
                steps.len()
            };
            annotated.push(Annotation {
                line: line + 1,
                appended: start..text.len(),
                steps: steps.len(),
                shown,
            });
        }
        text.push_str(&self.source[copied..]);
        let ending = ending_line(&trace.ending).map(|line| {
            let start = text.len();
            if !self.source.is_empty() && !self.source.ends_with(['\n', '\r']) {
                text.push_str(self.newline);
            }
            text.push_str(&line);
            text.push_str(self.newline);
            start..text.len()
        });
        Rendering {
            text,
            annotated,
            ending,
        }
    }
}

/// Appends ` (K) name=value, name=value;` (with its leading space).
fn write_step(out: &mut String, k: usize, step: &Step, max_value_chars: usize) {
    // Writing into a String cannot fail.
    let _ = write!(out, " ({k})");
    for (i, var) in step.vars.iter().enumerate() {
        out.push_str(if i == 0 { " " } else { ", " });
        push_one_line(out, &var.name);
        out.push('=');
        push_one_line(out, &var.value.truncated(max_value_chars));
    }
    out.push(';');
}

/// Appends `s`, writing NUL and the characters at which `str.splitlines()` splits as
/// their Python escapes, so that the comment stays on its line. The tracer escapes
/// these already (spec section 3); this only guards against hand-made traces.
pub(crate) fn push_one_line(out: &mut String, s: &str) {
    let needs_escape = s.bytes().any(|b| {
        matches!(
            b,
            0 | b'\n' | 0x0b | 0x0c | b'\r' | 0x1c..=0x1e | 0xc2 | 0xe2
        )
    });
    if !needs_escape {
        out.push_str(s);
        return;
    }
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\0' | '\x0b' | '\x0c' | '\x1c'..='\x1e' | '\u{85}' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
}

/// The ending line of spec section 6, without its newline; `None` for a complete trace.
pub(crate) fn ending_line(ending: &Ending) -> Option<String> {
    Some(match ending {
        Ending::Complete => return None,
        Ending::StepLimit { max_steps } => format!("# (trace truncated after {max_steps} steps)"),
        // `{}` prints an f64 in its shortest form: 2.0 as `2`, 0.5 as `0.5`.
        Ending::TimeLimit { seconds } => format!("# (trace ended: time limit of {seconds} s)"),
        Ending::MemoryLimit => "# (trace ended: memory limit)".to_owned(),
        Ending::TracerError { .. } => "# (trace ended: tracer error)".to_owned(),
        // A kind this version does not know.
        _ => "# (trace ended)".to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{step_at, trace};
    use nxt_core::{Event, Value, Var};

    fn step(line: u32, vars: &[(&str, &str)]) -> Step {
        step_at(line, Event::Line, 0, vars)
    }

    fn render(source: &str, t: &Trace, options: &RenderOptions) -> String {
        let r = Layout::new(source).unwrap().render(t, options).unwrap();
        assert_eq!(r.strip(), source);
        r.text
    }

    #[test]
    fn steps_join_on_their_anchor_line() {
        let t = trace(vec![
            step(1, &[("x", "1"), ("y", "'a b'")]),
            step(2, &[("x", "<deleted>")]),
            step(1, &[("x", "2")]),
        ]);
        assert_eq!(
            render("x = 1\ny = 2\n", &t, &RenderOptions::default()),
            "x = 1  # (0) x=1, y='a b'; (2) x=2;\ny = 2  # (1) x=<deleted>;\n"
        );
    }

    #[test]
    fn deleted_values_render_as_deleted() {
        let mut t = trace(vec![step(1, &[])]);
        t.steps[0].vars.push(Var::new("x", Value::Deleted));
        assert_eq!(
            render("del x\n", &t, &RenderOptions::default()),
            "del x  # (0) x=<deleted>;\n"
        );
    }

    #[test]
    fn steps_without_variables_render_as_their_number() {
        let t = trace(vec![step(1, &[])]);
        assert_eq!(
            render("pass", &t, &RenderOptions::default()),
            "pass  # (0);"
        );
    }

    fn loop_trace(n: u32) -> Trace {
        trace((0..n).map(|i| step(1, &[("i", &i.to_string())])).collect())
    }

    #[test]
    fn long_lines_are_compressed() {
        let opts = RenderOptions::default();
        assert_eq!(
            render("for i in r: pass\n", &loop_trace(3), &opts),
            "for i in r: pass  # (0) i=0; (1) i=1; (2) i=2;\n"
        );
        assert_eq!(
            render("for i in r: pass\n", &loop_trace(4), &opts),
            "for i in r: pass  # (0) i=0; (1) i=1; ...; (3) i=3;\n"
        );
        let opts = RenderOptions {
            keep_first: 1,
            keep_last: 0,
            ..RenderOptions::default()
        };
        assert_eq!(
            render("for i in r: pass\n", &loop_trace(4), &opts),
            "for i in r: pass  # (0) i=0; ...;\n"
        );
        assert_eq!(
            render("for i in r: pass\n", &loop_trace(1), &opts),
            "for i in r: pass  # (0) i=0;\n"
        );
        let opts = RenderOptions {
            keep_first: 3,
            keep_last: 2,
            ..RenderOptions::default()
        };
        assert_eq!(
            render("for i in r: pass\n", &loop_trace(6), &opts),
            "for i in r: pass  # (0) i=0; (1) i=1; (2) i=2; ...; (4) i=4; (5) i=5;\n"
        );
    }

    #[test]
    fn annotations_record_counts() {
        let layout = Layout::new("for i in r: pass\nx = 1\n").unwrap();
        let mut t = loop_trace(5);
        t.steps.push(step(2, &[("x", "1")]));
        let r = layout.render(&t, &RenderOptions::default()).unwrap();
        assert_eq!(r.annotated.len(), 2);
        assert_eq!(
            (
                r.annotated[0].line,
                r.annotated[0].steps,
                r.annotated[0].shown
            ),
            (1, 5, 3)
        );
        assert_eq!(&r.text[r.annotated[1].appended.clone()], "  # (5) x=1;");
        assert!(!r.has_ending_line());
    }

    #[test]
    fn values_are_truncated() {
        let t = trace(vec![step(1, &[("s", "'abcdefghijklmnopqrstuvwxyz'")])]);
        let opts = RenderOptions {
            max_value_chars: 10,
            ..RenderOptions::default()
        };
        assert_eq!(render("s = 1", &t, &opts), "s = 1  # (0) s='abc...yz';");
    }

    #[test]
    fn line_breaks_in_values_are_escaped() {
        let t = trace(vec![step(1, &[("s", "a\nb\rc\0d\u{2028}e\u{85}f\x0cg")])]);
        assert_eq!(
            render("s = 1\n", &t, &RenderOptions::default()),
            "s = 1  # (0) s=a\\nb\\rc\\x00d\\u2028e\\x85f\\x0cg;\n"
        );
    }

    #[test]
    fn comments_follow_existing_comments_and_trailing_spaces() {
        let t = trace(vec![step(1, &[("x", "1")]), step(2, &[("y", "2")])]);
        assert_eq!(
            render(
                "x = 1  # one   \ny = 2   \r\n",
                &t,
                &RenderOptions::default()
            ),
            "x = 1  # one     # (0) x=1;\ny = 2     # (1) y=2;\r\n"
        );
    }

    #[test]
    fn ending_lines() {
        let mut t = trace(vec![step(1, &[("x", "1")])]);
        let opts = RenderOptions::default();
        t.ending = Ending::StepLimit { max_steps: 1 };
        assert_eq!(
            render("x = 1\r\ny = 2\n", &t, &opts),
            "x = 1  # (0) x=1;\r\ny = 2\n# (trace truncated after 1 steps)\r\n"
        );
        t.ending = Ending::TimeLimit { seconds: 2.0 };
        assert_eq!(
            render("x = 1", &t, &opts),
            "x = 1  # (0) x=1;\n# (trace ended: time limit of 2 s)\n"
        );
        t.ending = Ending::TimeLimit { seconds: 0.5 };
        assert_eq!(
            render("x = 1\ry = 2", &t, &opts),
            "x = 1  # (0) x=1;\ry = 2\r# (trace ended: time limit of 0.5 s)\r"
        );
        t.ending = Ending::MemoryLimit;
        assert_eq!(
            render("x = 1\n", &t, &opts),
            "x = 1  # (0) x=1;\n# (trace ended: memory limit)\n"
        );
        t.ending = Ending::TracerError {
            message: "recursion".into(),
        };
        assert_eq!(
            render("x = 1\n\n", &t, &opts),
            "x = 1  # (0) x=1;\n\n# (trace ended: tracer error)\n"
        );
        let empty = trace(vec![]);
        let mut t = empty.clone();
        t.ending = Ending::MemoryLimit;
        assert_eq!(render("", &t, &opts), "# (trace ended: memory limit)\n");
        assert_eq!(render("", &empty, &opts), "");
        let r = Layout::new("x = 1").unwrap().render(&t, &opts).unwrap();
        assert!(r.has_ending_line());
        assert_eq!(
            &r.text[r.ending.clone().unwrap()],
            "\n# (trace ended: memory limit)\n"
        );
    }

    #[test]
    fn steps_on_lines_without_statements_are_errors() {
        let layout = Layout::new("x = 1\n\ny = 2\n").unwrap();
        let opts = RenderOptions::default();
        for line in [0, 2, 4, 99] {
            let t = trace(vec![step(1, &[("x", "1")]), step(line, &[("x", "1")])]);
            assert_eq!(
                layout.render(&t, &opts).unwrap_err(),
                InlineError::NoStatement { line, step: 1 }
            );
        }
    }

    #[test]
    fn options_are_validated() {
        let layout = Layout::new("x = 1\n").unwrap();
        let t = trace(vec![]);
        let bad = RenderOptions {
            keep_first: 0,
            ..RenderOptions::default()
        };
        assert!(matches!(
            layout.render(&t, &bad),
            Err(InlineError::InvalidOption {
                option: "keep_first",
                value: 0,
                ..
            })
        ));
        let bad = RenderOptions {
            max_value_chars: 4,
            ..RenderOptions::default()
        };
        let err = layout.render(&t, &bad).unwrap_err();
        assert_eq!(
            err.to_string(),
            "render option `max_value_chars` is 4, but it must be at least 5"
        );
        let ok = RenderOptions {
            keep_first: 1,
            keep_last: 0,
            max_value_chars: 5,
        };
        assert!(layout.render(&t, &ok).is_ok());
    }
}
