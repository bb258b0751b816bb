//! The SemCoder-style scratchpad: every step as `[STATE-k]{json}[/STATE-k]` after its
//! statement's source (`docs/trace-formats.md`, after Ding et al., 2024, "SemCoder:
//! Training Code Language Models with Comprehensive Semantics Reasoning").
//!
//! `k` is the step's number and `json` a compact JSON object of the variables the step
//! recorded, name to rendered value (truncated to `max_value_chars` as in NExT's
//! format; `__return__`, `__yield__` and `__exception__` included, last). Steps on
//! the same anchor line are compressed like NExT's: the first `keep_first` and the last
//! `keep_last` are written, so both formats show the same steps.
//!
//! With [`Placement::Execution`] (the default) the result is a listing, one entry per
//! step in the order the steps happened, a run of left-out steps as one `...` line:
//!
//! ```text
//!     for n in lst:  # [STATE-3]{"n":"1"}[/STATE-3]
//!             even_list.append(n)  # [STATE-4]{"even_list":"[1]"}[/STATE-4]
//! ```
//!
//! With [`Placement::Inline`] the states are appended to their anchor lines as NExT's
//! comments are, and the program stays as it was:
//!
//! ```text
//!     for n in lst:  # [STATE-3]{"n":"1"}[/STATE-3] [STATE-5]{"n":"2"}[/STATE-5] ... [STATE-21]{"n":"10"}[/STATE-21]
//! ```

use nxt_core::{RenderOptions, Renderer, Step, Trace};

use super::{StatementLines, push_ending, push_json_string, step_anchors};
use crate::render::{ending_line, validate};
use crate::{InlineError, Layout};

/// Where the states of a SemCoder-style scratchpad go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Placement {
    /// A listing in execution order: for each step, its statement's source lines with
    /// `  # [STATE-k]{json}[/STATE-k]` after the last of them.
    #[default]
    Execution,
    /// The program with each anchor line's states appended to it, in step order and
    /// separated by spaces, as SemCoder's own scratchpad traces are written.
    Inline,
}

/// Options of the SemCoder-style scratchpad.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SemcoderOptions {
    /// States of one anchor line kept from its first steps, at least 1. By default, 2.
    pub keep_first: usize,
    /// States of one anchor line kept from its last steps. By default, 1.
    pub keep_last: usize,
    /// Longest rendering of one value, at least 5. By default, 100.
    pub max_value_chars: usize,
    /// Where the states go. By default, [`Placement::Execution`].
    pub placement: Placement,
}

impl Default for SemcoderOptions {
    fn default() -> SemcoderOptions {
        SemcoderOptions::from_render(&RenderOptions::default())
    }
}

impl SemcoderOptions {
    /// The options with NExT's `keep_first`, `keep_last` and `max_value_chars`, in
    /// execution order.
    pub fn from_render(options: &RenderOptions) -> SemcoderOptions {
        SemcoderOptions {
            keep_first: options.keep_first,
            keep_last: options.keep_last,
            max_value_chars: options.max_value_chars,
            placement: Placement::Execution,
        }
    }
}

/// Renders `trace` of the program `source` as a SemCoder-style scratchpad.
///
/// # Errors
///
/// The errors of [`Layout::new`] and [`render_layout`].
pub fn render(
    source: &str,
    trace: &Trace,
    options: &SemcoderOptions,
) -> Result<String, InlineError> {
    render_layout(&Layout::new(source)?, trace, options)
}

/// Renders `trace` of the program of `layout` as a SemCoder-style scratchpad.
///
/// ```
/// use nxt_core::{Event, Step, Trace, Value, Var};
/// use nxt_inline::formats::semcoder::{self, Placement, SemcoderOptions};
///
/// let layout = nxt_inline::Layout::new("for i in range(4):\n    pass\n")?;
/// let mut trace = Trace::new("CPython 3.11.7");
/// for i in 0..4 {
///     trace.steps.push(Step {
///         line: 1,
///         event: Event::Line,
///         frame: 0,
///         vars: vec![Var::new("i", Value::repr(i.to_string()))],
///     });
/// }
/// let options = SemcoderOptions::default();
/// assert_eq!(
///     semcoder::render_layout(&layout, &trace, &options)?,
///     "for i in range(4):  # [STATE-0]{\"i\":\"0\"}[/STATE-0]\n\
///      for i in range(4):  # [STATE-1]{\"i\":\"1\"}[/STATE-1]\n\
///      ...\n\
///      for i in range(4):  # [STATE-3]{\"i\":\"3\"}[/STATE-3]\n"
/// );
/// let inline = SemcoderOptions { placement: Placement::Inline, ..options };
/// assert_eq!(
///     semcoder::render_layout(&layout, &trace, &inline)?,
///     "for i in range(4):  # [STATE-0]{\"i\":\"0\"}[/STATE-0] \
///      [STATE-1]{\"i\":\"1\"}[/STATE-1] ... [STATE-3]{\"i\":\"3\"}[/STATE-3]\n    pass\n"
/// );
/// # Ok::<(), nxt_inline::InlineError>(())
/// ```
///
/// # Errors
///
/// [`InlineError::InvalidOption`] when `keep_first` is 0 or `max_value_chars` is below
/// 5; [`InlineError::NoStatement`] when a step names a line that no statement covers.
pub fn render_layout(
    layout: &Layout,
    trace: &Trace,
    options: &SemcoderOptions,
) -> Result<String, InlineError> {
    validate(&RenderOptions {
        keep_first: options.keep_first,
        keep_last: options.keep_last,
        max_value_chars: options.max_value_chars,
    })?;
    match options.placement {
        Placement::Execution => execution(layout, trace, options),
        Placement::Inline => inline(layout, trace, options),
    }
}

/// The listing in execution order.
fn execution(
    layout: &Layout,
    trace: &Trace,
    options: &SemcoderOptions,
) -> Result<String, InlineError> {
    let anchors = step_anchors(layout, trace)?;
    let mut count = vec![0usize; layout.line_count()];
    for &a in &anchors {
        count[a] += 1;
    }
    let mut seen = vec![0usize; layout.line_count()];
    let mut lines = StatementLines::new(layout);
    let mut out = String::with_capacity(trace.steps.len().min(4096) * 64);
    let mut in_gap = false;
    for (k, (step, &a)) in trace.steps.iter().zip(&anchors).enumerate() {
        let i = seen[a];
        seen[a] += 1;
        // NExT's rule: when a line has more than keep_first + keep_last steps, only the
        // first keep_first and the last keep_last are written.
        let shown = i < options.keep_first || i >= count[a].saturating_sub(options.keep_last);
        if !shown {
            if !in_gap {
                out.push_str("...\n");
                in_gap = true;
            }
            continue;
        }
        in_gap = false;
        lines.push(&mut out, a);
        out.push_str("  # ");
        push_state(&mut out, k, step, options.max_value_chars);
        out.push('\n');
    }
    push_ending(&mut out, &trace.ending);
    Ok(out)
}

/// The program with the states appended to their anchor lines.
fn inline(
    layout: &Layout,
    trace: &Trace,
    options: &SemcoderOptions,
) -> Result<String, InlineError> {
    let groups = layout.group(trace)?;
    let keep = options.keep_first.saturating_add(options.keep_last);
    let source = layout.source();
    let mut out = String::with_capacity(source.len() + trace.steps.len().min(4096) * 48 + 64);
    let mut copied = 0;
    for g in 0..groups.len() {
        let content_end = layout.lines[groups.lines[g]].content_end;
        out.push_str(&source[copied..content_end]);
        copied = content_end;
        out.push_str("  #");
        let steps = groups.group(g);
        let state = |out: &mut String, k: usize| {
            out.push(' ');
            push_state(out, k, &trace.steps[k], options.max_value_chars);
        };
        if steps.len() > keep {
            for &k in &steps[..options.keep_first] {
                state(&mut out, k);
            }
            out.push_str(" ...");
            for &k in &steps[steps.len() - options.keep_last..] {
                state(&mut out, k);
            }
        } else {
            for &k in steps {
                state(&mut out, k);
            }
        }
    }
    out.push_str(&source[copied..]);
    // As NExT's ending line: in the program's newline style, after a newline.
    if let Some(line) = ending_line(&trace.ending) {
        if !source.is_empty() && !source.ends_with(['\n', '\r']) {
            out.push_str(layout.newline);
        }
        out.push_str(&line);
        out.push_str(layout.newline);
    }
    Ok(out)
}

/// Appends `[STATE-k]{"name":"value",...}[/STATE-k]`.
fn push_state(out: &mut String, k: usize, step: &Step, max_value_chars: usize) {
    let tag = k.to_string();
    out.push_str("[STATE-");
    out.push_str(&tag);
    out.push_str("]{");
    for (i, var) in step.vars.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_json_string(out, &var.name);
        out.push(':');
        push_json_string(out, &var.value.truncated(max_value_chars));
    }
    out.push_str("}[/STATE-");
    out.push_str(&tag);
    out.push(']');
}

/// Renders traces as SemCoder-style scratchpads through [`nxt_core::Renderer`]:
/// `keep_first`, `keep_last` and `max_value_chars` come from the [`RenderOptions`],
/// the placement from the renderer.
///
/// ```
/// use nxt_core::Renderer;
/// use nxt_inline::formats::{Placement, SemcoderRenderer};
///
/// let renderer = SemcoderRenderer::new().with_placement(Placement::Inline);
/// assert_eq!(renderer.placement(), Placement::Inline);
/// let text = renderer.render("x = 1\n", &nxt_core::Trace::new("CPython 3.11.7"), &Default::default())?;
/// assert_eq!(text, "x = 1\n");
/// # Ok::<(), nxt_inline::InlineError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SemcoderRenderer {
    placement: Placement,
}

impl SemcoderRenderer {
    /// A renderer of the listing in execution order.
    pub fn new() -> SemcoderRenderer {
        SemcoderRenderer::default()
    }

    /// The renderer with `placement`.
    ///
    /// By default, [`Placement::Execution`].
    pub fn with_placement(self, placement: Placement) -> SemcoderRenderer {
        SemcoderRenderer { placement }
    }

    /// Where this renderer puts the states.
    pub fn placement(&self) -> Placement {
        self.placement
    }
}

impl Renderer for SemcoderRenderer {
    type Error = InlineError;

    fn render(
        &self,
        source: &str,
        trace: &Trace,
        options: &RenderOptions,
    ) -> Result<String, InlineError> {
        let options = SemcoderOptions {
            placement: self.placement,
            ..SemcoderOptions::from_render(options)
        };
        render(source, trace, &options)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{step_at, trace};
    use nxt_core::{Ending, Event, Value, Var};

    fn step(line: u32, event: Event, vars: &[(&str, &str)]) -> Step {
        step_at(line, event, 0, vars)
    }

    fn options(placement: Placement) -> SemcoderOptions {
        SemcoderOptions {
            placement,
            ..SemcoderOptions::default()
        }
    }

    #[test]
    fn states_are_compact_json_objects() {
        let mut t = trace(vec![step(
            1,
            Event::Return,
            &[("s", "'a\"b'"), ("__return__", "None")],
        )]);
        t.steps[0].vars.insert(1, Var::new("d", Value::Deleted));
        let text = render("s = 1\n", &t, &SemcoderOptions::default()).unwrap();
        assert_eq!(
            text,
            "s = 1  # [STATE-0]{\"s\":\"'a\\\"b'\",\"d\":\"<deleted>\",\"__return__\":\"None\"}[/STATE-0]\n"
        );
        let t = trace(vec![step(1, Event::Line, &[])]);
        assert_eq!(
            render("pass", &t, &SemcoderOptions::default()).unwrap(),
            "pass  # [STATE-0]{}[/STATE-0]\n"
        );
    }

    #[test]
    fn values_are_truncated_like_nexts() {
        let t = trace(vec![step(
            1,
            Event::Line,
            &[("s", "'abcdefghijklmnopqrstuvwxyz'")],
        )]);
        let o = SemcoderOptions {
            max_value_chars: 10,
            ..SemcoderOptions::default()
        };
        assert_eq!(
            render("s = 1\n", &t, &o).unwrap(),
            "s = 1  # [STATE-0]{\"s\":\"'abc...yz'\"}[/STATE-0]\n"
        );
    }

    #[test]
    fn the_listing_is_in_execution_order_with_gaps() {
        let source = "for i in r:\n    x = i\n";
        let mut steps = Vec::new();
        for i in 0..5 {
            steps.push(step(1, Event::Line, &[("i", &i.to_string())]));
            steps.push(step(2, Event::Line, &[("x", &i.to_string())]));
        }
        let t = trace(steps);
        let text = render(source, &t, &SemcoderOptions::default()).unwrap();
        assert_eq!(
            text,
            "for i in r:  # [STATE-0]{\"i\":\"0\"}[/STATE-0]\n\
             \x20   x = i  # [STATE-1]{\"x\":\"0\"}[/STATE-1]\n\
             for i in r:  # [STATE-2]{\"i\":\"1\"}[/STATE-2]\n\
             \x20   x = i  # [STATE-3]{\"x\":\"1\"}[/STATE-3]\n\
             ...\n\
             for i in r:  # [STATE-8]{\"i\":\"4\"}[/STATE-8]\n\
             \x20   x = i  # [STATE-9]{\"x\":\"4\"}[/STATE-9]\n"
        );
        let all = SemcoderOptions {
            keep_first: 5,
            keep_last: 0,
            ..SemcoderOptions::default()
        };
        let text = render(source, &t, &all).unwrap();
        assert_eq!(text.lines().count(), 10);
        assert!(!text.contains("..."));
        let first_only = SemcoderOptions {
            keep_first: 1,
            keep_last: 0,
            ..SemcoderOptions::default()
        };
        assert_eq!(
            render(source, &t, &first_only).unwrap(),
            "for i in r:  # [STATE-0]{\"i\":\"0\"}[/STATE-0]\n\
             \x20   x = i  # [STATE-1]{\"x\":\"0\"}[/STATE-1]\n\
             ...\n"
        );
    }

    #[test]
    fn multi_line_statements_are_written_whole() {
        let source = "x = f(1,\n      2)  # c\n";
        let t = trace(vec![step(1, Event::Line, &[("x", "3")])]);
        assert_eq!(
            render(source, &t, &SemcoderOptions::default()).unwrap(),
            "x = f(1,\n      2)  # c  # [STATE-0]{\"x\":\"3\"}[/STATE-0]\n"
        );
    }

    #[test]
    fn inline_placement_keeps_the_program_and_its_newlines() {
        let source = "x = 1\r\nfor i in r:  # loop\r\n    pass";
        let mut t = trace(vec![step(1, Event::Line, &[("x", "1")])]);
        for i in 0..4 {
            t.steps.push(step(2, Event::Line, &[("i", &i.to_string())]));
        }
        let o = options(Placement::Inline);
        assert_eq!(
            render(source, &t, &o).unwrap(),
            "x = 1  # [STATE-0]{\"x\":\"1\"}[/STATE-0]\r\n\
             for i in r:  # loop  # [STATE-1]{\"i\":\"0\"}[/STATE-1] [STATE-2]{\"i\":\"1\"}[/STATE-2] \
             ... [STATE-4]{\"i\":\"3\"}[/STATE-4]\r\n    pass"
        );
        t.ending = Ending::StepLimit { max_steps: 5 };
        assert!(
            render(source, &t, &o)
                .unwrap()
                .ends_with("    pass\r\n# (trace truncated after 5 steps)\r\n")
        );
        let keep_last_0 = SemcoderOptions {
            keep_first: 1,
            keep_last: 0,
            ..o
        };
        assert!(
            render(source, &t, &keep_last_0)
                .unwrap()
                .contains("# loop  # [STATE-1]{\"i\":\"0\"}[/STATE-1] ...\r\n")
        );
    }

    #[test]
    fn endings_close_the_listing() {
        let mut t = trace(vec![step(1, Event::Line, &[("x", "1")])]);
        t.ending = Ending::TimeLimit { seconds: 0.5 };
        assert_eq!(
            render("x = 1", &t, &SemcoderOptions::default()).unwrap(),
            "x = 1  # [STATE-0]{\"x\":\"1\"}[/STATE-0]\n# (trace ended: time limit of 0.5 s)\n"
        );
        let mut empty = trace(vec![]);
        assert_eq!(render("", &empty, &SemcoderOptions::default()).unwrap(), "");
        empty.ending = Ending::MemoryLimit;
        for placement in [Placement::Execution, Placement::Inline] {
            assert_eq!(
                render("", &empty, &options(placement)).unwrap(),
                "# (trace ended: memory limit)\n"
            );
        }
    }

    #[test]
    fn errors_are_nexts() {
        let t = trace(vec![step(1, Event::Line, &[]), step(2, Event::Line, &[])]);
        for placement in [Placement::Execution, Placement::Inline] {
            assert_eq!(
                render("x = 1\n\n", &t, &options(placement)).unwrap_err(),
                InlineError::NoStatement { line: 2, step: 1 }
            );
            let bad = SemcoderOptions {
                keep_first: 0,
                ..options(placement)
            };
            assert!(matches!(
                render("x = 1\n", &trace(vec![]), &bad),
                Err(InlineError::InvalidOption {
                    option: "keep_first",
                    ..
                })
            ));
            let bad = SemcoderOptions {
                max_value_chars: 4,
                ..options(placement)
            };
            assert!(matches!(
                render("x = 1\n", &trace(vec![]), &bad),
                Err(InlineError::InvalidOption {
                    option: "max_value_chars",
                    ..
                })
            ));
        }
        assert!(matches!(
            render("x = (\n", &trace(vec![]), &SemcoderOptions::default()),
            Err(InlineError::Syntax { line: 1, .. })
        ));
    }

    #[test]
    fn the_renderer_reads_render_options() {
        let t = trace(
            (0..4)
                .map(|i| step(1, Event::Line, &[("i", &i.to_string())]))
                .collect(),
        );
        let o = RenderOptions {
            keep_first: 1,
            keep_last: 0,
            max_value_chars: 5,
        };
        let text = SemcoderRenderer::new()
            .render("for i in r: pass\n", &t, &o)
            .unwrap();
        assert_eq!(
            text,
            "for i in r: pass  # [STATE-0]{\"i\":\"0\"}[/STATE-0]\n...\n"
        );
        let text = SemcoderRenderer::new()
            .with_placement(Placement::Inline)
            .render("for i in r: pass\n", &t, &o)
            .unwrap();
        assert_eq!(
            text,
            "for i in r: pass  # [STATE-0]{\"i\":\"0\"}[/STATE-0] ...\n"
        );
    }
}
