//! The LDB-style block listing (`docs/trace-formats.md`, after Zhong et al., 2024,
//! "Debug like a Human: A Large Language Model Debugger via Verifying Runtime Execution
//! Step-by-step").
//!
//! The steps are cut into *blocks*: runs of consecutive steps of one frame through
//! straight-line code. A step starts a new block when it is the first step, when its
//! frame differs from the previous step's, when it is a `call`, when the previous step
//! was a `return`, `yield` or `exception`, or when its statement's anchor line is not
//! below the previous step's (a jump backwards, or the same statement again) unless the
//! previous step was the frame's `call`. Each block is written as
//!
//! ```text
//! [BLOCK-k]
//! <the source lines of its steps' statements, in step order>
//! # intermediate variable values: name=value, name=value
//! ```
//!
//! listing *all* the variables of the block's frame known after its last step (built up
//! from the steps of that frame so far, in order of first appearance), then the
//! `__return__`, `__yield__` or `__exception__` its steps recorded. When there are more
//! than `keep_first_blocks + keep_last_blocks` blocks, only the first and last ones are
//! written, with a `...` line between them; blocks keep their numbers.

use std::collections::HashMap;

use nxt_core::{RenderOptions, Renderer, Trace, Value, Var};

use super::{StatementLines, check_max_value_chars, push_ending, push_one_line, step_anchors};
use crate::{InlineError, Layout};

/// Options of the LDB-style block listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LdbOptions {
    /// Blocks written from the start of a long listing, at least 1. By default, 5 (as
    /// LDB, which keeps 10 blocks: the first 5 and the last 5).
    pub keep_first_blocks: usize,
    /// Blocks written from the end of a long listing. By default, 5.
    pub keep_last_blocks: usize,
    /// Longest rendering of one value, at least 5. By default, 100.
    pub max_value_chars: usize,
}

impl Default for LdbOptions {
    fn default() -> LdbOptions {
        LdbOptions {
            keep_first_blocks: 5,
            keep_last_blocks: 5,
            max_value_chars: 100,
        }
    }
}

impl LdbOptions {
    /// The default options with NExT's `max_value_chars` (`keep_first` and `keep_last`
    /// are about lines, not blocks, and are not read).
    pub fn from_render(options: &RenderOptions) -> LdbOptions {
        LdbOptions {
            max_value_chars: options.max_value_chars,
            ..LdbOptions::default()
        }
    }
}

/// Renders `trace` of the program `source` as an LDB-style block listing.
///
/// # Errors
///
/// The errors of [`Layout::new`] and [`render_layout`].
pub fn render(source: &str, trace: &Trace, options: &LdbOptions) -> Result<String, InlineError> {
    render_layout(&Layout::new(source)?, trace, options)
}

/// Renders `trace` of the program of `layout` as an LDB-style block listing.
///
/// ```
/// use nxt_core::{Event, Step, Trace, Value, Var};
/// use nxt_inline::formats::ldb::{self, LdbOptions};
///
/// let layout = nxt_inline::Layout::new("n = 0\nwhile n < 3:\n    n += 1\n")?;
/// let mut trace = Trace::new("CPython 3.11.7");
/// for (line, n) in [(1, "0"), (3, "1"), (3, "2"), (3, "3")] {
///     trace.steps.push(Step {
///         line,
///         event: Event::Line,
///         frame: 0,
///         vars: vec![Var::new("n", Value::repr(n))],
///     });
/// }
/// let options = LdbOptions { keep_first_blocks: 1, keep_last_blocks: 1, ..LdbOptions::default() };
/// assert_eq!(
///     ldb::render_layout(&layout, &trace, &options)?,
///     "[BLOCK-0]\nn = 0\n    n += 1\n# intermediate variable values: n=1\n\
///      ...\n\
///      [BLOCK-2]\n    n += 1\n# intermediate variable values: n=3\n"
/// );
/// # Ok::<(), nxt_inline::InlineError>(())
/// ```
///
/// # Errors
///
/// [`InlineError::InvalidOption`] when `keep_first_blocks` is 0 or `max_value_chars`
/// is below 5; [`InlineError::NoStatement`] when a step names a line that no statement
/// covers.
pub fn render_layout(
    layout: &Layout,
    trace: &Trace,
    options: &LdbOptions,
) -> Result<String, InlineError> {
    if options.keep_first_blocks < 1 {
        return Err(InlineError::InvalidOption {
            option: "keep_first_blocks",
            value: options.keep_first_blocks,
            requirement: "it must be at least 1",
        });
    }
    check_max_value_chars(options.max_value_chars)?;
    let anchors = step_anchors(layout, trace)?;
    let blocks = blocks(trace, &anchors);
    let compressed = blocks.len()
        > options
            .keep_first_blocks
            .saturating_add(options.keep_last_blocks);
    let shown = |b: usize| {
        !compressed || b < options.keep_first_blocks || b >= blocks.len() - options.keep_last_blocks
    };

    let mut lines = StatementLines::new(layout);
    let mut frames: HashMap<u32, FrameState<'_>> = HashMap::new();
    let mut out = String::new();
    for (b, block) in blocks.iter().enumerate() {
        let frame = frames.entry(trace.steps[block.start].frame).or_default();
        let mut specials: Vec<&Var> = Vec::new();
        for step in &trace.steps[block.clone()] {
            for var in &step.vars {
                if is_special(&var.name) {
                    specials.push(var);
                } else {
                    frame.set(&var.name, &var.value, b);
                }
            }
        }
        if !shown(b) {
            if b == options.keep_first_blocks {
                out.push_str("...\n");
            }
            continue;
        }
        out.push_str("[BLOCK-");
        out.push_str(&b.to_string());
        out.push_str("]\n");
        for k in block.clone() {
            // A statement's lines are written once per block (a one-line function's
            // call and return are both on its `def`).
            if k == block.start || anchors[k] != anchors[k - 1] {
                lines.push(&mut out, anchors[k]);
                out.push('\n');
            }
        }
        out.push_str("# intermediate variable values:");
        let mut first = true;
        let mut pair = |out: &mut String, name: &str, value: &Value| {
            out.push_str(if first { " " } else { ", " });
            first = false;
            push_one_line(out, name);
            out.push('=');
            push_one_line(out, &value.truncated(options.max_value_chars));
        };
        for &(name, value, changed_in) in &frame.vars {
            // A deleted variable is listed in the block that deleted it, then no more.
            if *value != Value::Deleted || changed_in == b {
                pair(&mut out, name, value);
            }
        }
        for var in specials {
            pair(&mut out, &var.name, &var.value);
        }
        out.push('\n');
    }
    push_ending(&mut out, &trace.ending);
    Ok(out)
}

/// Whether `name` is not a variable but the return value, yielded value or exception of
/// its step.
fn is_special(name: &str) -> bool {
    matches!(name, "__return__" | "__yield__" | "__exception__")
}

/// The blocks of a trace, as ranges of step numbers (see the module's documentation).
fn blocks(trace: &Trace, anchors: &[usize]) -> Vec<std::ops::Range<usize>> {
    use nxt_core::Event;
    let mut blocks = Vec::new();
    let mut start = 0;
    for k in 1..trace.steps.len() {
        let (prev, step) = (&trace.steps[k - 1], &trace.steps[k]);
        let new_block = step.frame != prev.frame
            || step.event == Event::Call
            || matches!(prev.event, Event::Return | Event::Yield | Event::Exception)
            || (prev.event != Event::Call && anchors[k] <= anchors[k - 1]);
        if new_block {
            blocks.push(start..k);
            start = k;
        }
    }
    if !trace.steps.is_empty() {
        blocks.push(start..trace.steps.len());
    }
    blocks
}

/// The variables of one frame known so far: name, last value, and the block that last
/// set it, in order of first appearance.
#[derive(Default)]
struct FrameState<'t> {
    vars: Vec<(&'t str, &'t Value, usize)>,
    index: HashMap<&'t str, usize>,
}

impl<'t> FrameState<'t> {
    fn set(&mut self, name: &'t str, value: &'t Value, block: usize) {
        match self.index.get(name) {
            Some(&i) => self.vars[i] = (name, value, block),
            None => {
                self.index.insert(name, self.vars.len());
                self.vars.push((name, value, block));
            }
        }
    }
}

/// Renders traces as LDB-style block listings through [`nxt_core::Renderer`]:
/// `max_value_chars` comes from the [`RenderOptions`] (`keep_first` and `keep_last`
/// are not read), the blocks to keep from the renderer.
///
/// ```
/// use nxt_inline::formats::LdbRenderer;
///
/// assert_eq!(LdbRenderer::new().blocks(), (5, 5));
/// assert_eq!(LdbRenderer::new().with_blocks(3, 1).blocks(), (3, 1));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LdbRenderer {
    keep_first_blocks: usize,
    keep_last_blocks: usize,
}

impl Default for LdbRenderer {
    fn default() -> LdbRenderer {
        let o = LdbOptions::default();
        LdbRenderer {
            keep_first_blocks: o.keep_first_blocks,
            keep_last_blocks: o.keep_last_blocks,
        }
    }
}

impl LdbRenderer {
    /// A renderer that keeps the first 5 and the last 5 blocks of a long listing.
    pub fn new() -> LdbRenderer {
        LdbRenderer::default()
    }

    /// The renderer keeping the first `keep_first_blocks` (at least 1, checked when
    /// rendering) and the last `keep_last_blocks` blocks of a long listing;
    /// `usize::MAX` keeps all.
    ///
    /// By default, 5 and 5.
    pub fn with_blocks(self, keep_first_blocks: usize, keep_last_blocks: usize) -> LdbRenderer {
        LdbRenderer {
            keep_first_blocks,
            keep_last_blocks,
        }
    }

    /// The blocks this renderer keeps: `(keep_first_blocks, keep_last_blocks)`.
    pub fn blocks(&self) -> (usize, usize) {
        (self.keep_first_blocks, self.keep_last_blocks)
    }
}

impl Renderer for LdbRenderer {
    type Error = InlineError;

    fn render(
        &self,
        source: &str,
        trace: &Trace,
        options: &RenderOptions,
    ) -> Result<String, InlineError> {
        let options = LdbOptions {
            keep_first_blocks: self.keep_first_blocks,
            keep_last_blocks: self.keep_last_blocks,
            max_value_chars: options.max_value_chars,
        };
        render(source, trace, &options)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{step_at as step, trace};
    use nxt_core::{Ending, Event};

    fn all() -> LdbOptions {
        LdbOptions {
            keep_first_blocks: usize::MAX,
            ..LdbOptions::default()
        }
    }

    const PROGRAM: &str = "\
def f(xs):
    total = 0
    for x in xs:
        total += x
    return total

r = f([1, 2])
";

    fn program_trace() -> Trace {
        use Event::*;
        trace(vec![
            step(1, Call, 1, &[("xs", "[1, 2]")]),
            step(2, Line, 1, &[("total", "0")]),
            step(3, Line, 1, &[("x", "1")]),
            step(4, Line, 1, &[("total", "1")]),
            step(3, Line, 1, &[("x", "2")]),
            step(4, Line, 1, &[("total", "3")]),
            step(5, Return, 1, &[("__return__", "3")]),
            step(7, Line, 0, &[("r", "3")]),
        ])
    }

    #[test]
    fn blocks_cut_at_frames_and_backward_jumps() {
        let t = program_trace();
        let layout = Layout::new(PROGRAM).unwrap();
        let anchors = step_anchors(&layout, &t).unwrap();
        assert_eq!(blocks(&t, &anchors), [0..4, 4..7, 7..8]);
        assert_eq!(
            render(PROGRAM, &t, &all()).unwrap(),
            "[BLOCK-0]\n\
             def f(xs):\n    total = 0\n    for x in xs:\n        total += x\n\
             # intermediate variable values: xs=[1, 2], total=1, x=1\n\
             [BLOCK-1]\n\
             \x20   for x in xs:\n        total += x\n    return total\n\
             # intermediate variable values: xs=[1, 2], total=3, x=2, __return__=3\n\
             [BLOCK-2]\n\
             r = f([1, 2])\n\
             # intermediate variable values: r=3\n"
        );
    }

    #[test]
    fn calls_returns_and_exceptions_end_blocks() {
        use Event::*;
        let source = "def f(): return g()\ntry:\n    x = f()\nexcept E:\n    y = 1\n";
        let t = trace(vec![
            step(1, Call, 1, &[]),
            step(1, Line, 1, &[("a", "1")]),
            step(1, Exception, 1, &[("__exception__", "E()")]),
            step(3, Exception, 0, &[("__exception__", "E()")]),
            step(5, Line, 0, &[("y", "1")]),
            step(5, Line, 0, &[("y", "2")]),
        ]);
        let layout = Layout::new(source).unwrap();
        let anchors = step_anchors(&layout, &t).unwrap();
        // The call continues into its one-line body; the repeated line cuts.
        assert_eq!(blocks(&t, &anchors), [0..2, 2..3, 3..4, 4..5, 5..6]);
        let text = render(source, &t, &all()).unwrap();
        assert!(
            text.starts_with(
                "[BLOCK-0]\ndef f(): return g()\n# intermediate variable values: a=1\n\
                 [BLOCK-1]\ndef f(): return g()\n\
                 # intermediate variable values: a=1, __exception__=E()\n\
                 [BLOCK-2]\n    x = f()\n# intermediate variable values: __exception__=E()\n\
                 [BLOCK-3]\n    y = 1\n# intermediate variable values: y=1\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn frames_keep_their_own_variables() {
        use Event::*;
        let source = "def f(n):\n    m = n\n    return m\n";
        let t = trace(vec![
            step(1, Call, 1, &[("n", "1")]),
            step(1, Call, 2, &[("n", "2")]),
            step(2, Line, 2, &[("m", "2")]),
            step(2, Line, 1, &[("m", "1")]),
            step(3, Line, 2, &[("k", "0")]),
        ]);
        let text = render(source, &t, &all()).unwrap();
        assert_eq!(
            text.lines()
                .filter(|l| l.starts_with("# "))
                .collect::<Vec<_>>(),
            [
                "# intermediate variable values: n=1",
                "# intermediate variable values: n=2, m=2",
                "# intermediate variable values: n=1, m=1",
                "# intermediate variable values: n=2, m=2, k=0",
            ]
        );
    }

    #[test]
    fn deleted_variables_show_once() {
        use Event::*;
        let source = "x = 1\ndel x\ny = 2\nx = 3\n";
        let mut t = trace(vec![
            step(1, Line, 0, &[("x", "1")]),
            step(2, Line, 0, &[]),
            step(3, Line, 0, &[("y", "2")]),
            step(1, Line, 0, &[("x", "1")]),
            step(2, Line, 0, &[]),
            step(3, Line, 0, &[("y", "2")]),
            step(4, Line, 0, &[("x", "3")]),
        ]);
        t.steps[1].vars.push(Var::new("x", Value::Deleted));
        t.steps[4].vars.push(Var::new("x", Value::Deleted));
        let text = render(source, &t, &all()).unwrap();
        assert_eq!(
            text,
            "[BLOCK-0]\nx = 1\ndel x\ny = 2\n# intermediate variable values: x=<deleted>, y=2\n\
             [BLOCK-1]\nx = 1\ndel x\ny = 2\nx = 3\n# intermediate variable values: x=3, y=2\n"
        );
        // Deleted in an earlier block: gone.
        let mut t2 = trace(t.steps[..2].to_vec());
        t2.steps.push(step(1, Line, 0, &[("z", "0")]));
        let text = render(source, &t2, &all()).unwrap();
        assert!(
            text.ends_with("[BLOCK-1]\nx = 1\n# intermediate variable values: z=0\n"),
            "{text}"
        );
    }

    fn loop_trace(n: usize) -> Trace {
        trace(
            (0..n)
                .map(|i| step(1, Event::Line, 0, &[("i", &i.to_string())]))
                .collect(),
        )
    }

    #[test]
    fn long_listings_keep_first_and_last_blocks() {
        let t = loop_trace(12);
        let text = render("for i in r: pass\n", &t, &LdbOptions::default()).unwrap();
        let headers: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with('[') || *l == "...")
            .collect();
        assert_eq!(
            headers,
            [
                "[BLOCK-0]",
                "[BLOCK-1]",
                "[BLOCK-2]",
                "[BLOCK-3]",
                "[BLOCK-4]",
                "...",
                "[BLOCK-7]",
                "[BLOCK-8]",
                "[BLOCK-9]",
                "[BLOCK-10]",
                "[BLOCK-11]"
            ]
        );
        // Exactly keep_first + keep_last blocks: no gap.
        let text = render(
            "for i in r: pass\n",
            &loop_trace(10),
            &LdbOptions::default(),
        )
        .unwrap();
        assert!(!text.contains("..."));
        assert!(text.contains("[BLOCK-9]\n"));
        let last_0 = LdbOptions {
            keep_first_blocks: 1,
            keep_last_blocks: 0,
            ..LdbOptions::default()
        };
        assert_eq!(
            render("for i in r: pass\n", &t, &last_0).unwrap(),
            "[BLOCK-0]\nfor i in r: pass\n# intermediate variable values: i=0\n...\n"
        );
    }

    #[test]
    fn values_are_truncated_and_kept_on_one_line() {
        let t = trace(vec![step(
            1,
            Event::Line,
            0,
            &[("s", "'abcdefghijklmnopqrstuvwxyz'"), ("t", "a\nb")],
        )]);
        let o = LdbOptions {
            max_value_chars: 10,
            ..LdbOptions::default()
        };
        assert_eq!(
            render("s = 1\n", &t, &o).unwrap(),
            "[BLOCK-0]\ns = 1\n# intermediate variable values: s='abc...yz', t=a\\nb\n"
        );
    }

    #[test]
    fn endings_and_empty_traces() {
        let mut t = trace(vec![]);
        assert_eq!(render("x = 1\n", &t, &LdbOptions::default()).unwrap(), "");
        t.ending = Ending::StepLimit { max_steps: 3 };
        assert_eq!(
            render("x = 1\n", &t, &LdbOptions::default()).unwrap(),
            "# (trace truncated after 3 steps)\n"
        );
    }

    #[test]
    fn errors() {
        let t = trace(vec![step(2, Event::Line, 0, &[])]);
        assert_eq!(
            render("x = 1\n\n", &t, &LdbOptions::default()).unwrap_err(),
            InlineError::NoStatement { line: 2, step: 0 }
        );
        let bad = LdbOptions {
            keep_first_blocks: 0,
            ..LdbOptions::default()
        };
        assert_eq!(
            render("x = 1\n", &trace(vec![]), &bad)
                .unwrap_err()
                .to_string(),
            "render option `keep_first_blocks` is 0, but it must be at least 1"
        );
        let bad = LdbOptions {
            max_value_chars: 4,
            ..LdbOptions::default()
        };
        assert!(matches!(
            render("x = 1\n", &trace(vec![]), &bad),
            Err(InlineError::InvalidOption {
                option: "max_value_chars",
                ..
            })
        ));
    }

    #[test]
    fn the_renderer_reads_max_value_chars_only() {
        let t = loop_trace(3);
        let o = RenderOptions {
            keep_first: 1,
            keep_last: 0,
            max_value_chars: 5,
        };
        let text = LdbRenderer::new()
            .with_blocks(1, 1)
            .render("for i in r: pass\n", &t, &o)
            .unwrap();
        assert_eq!(
            text,
            "[BLOCK-0]\nfor i in r: pass\n# intermediate variable values: i=0\n...\n\
             [BLOCK-2]\nfor i in r: pass\n# intermediate variable values: i=2\n"
        );
    }
}
