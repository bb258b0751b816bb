//! Meeting a token budget (spec section 6, last bullet).

use nxt_core::{RenderOptions, Trace};

use crate::render::validate;
use crate::{InlineError, Layout, Rendering};

/// A measure of the token budget ladder, in the order they are tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Measure {
    /// `keep_first` was lowered, one at a time, towards 1.
    LoweredKeepFirst,
    /// `max_value_chars` was halved, towards 20.
    HalvedMaxValueChars,
    /// The comments of the anchor lines with the most steps were dropped, one line at
    /// a time.
    DroppedLines,
}

/// What [`Layout::render_within`] did to meet its budget.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BudgetReport {
    /// Tokens of the returned rendering, as counted by the caller's counter.
    pub tokens: usize,
    /// The budget that was asked for.
    pub budget: usize,
    /// The measures that were needed, in the order they were applied; empty when the
    /// rendering fitted as asked.
    pub measures: Vec<Measure>,
    /// The `keep_first` of the returned rendering.
    pub keep_first: usize,
    /// The `max_value_chars` of the returned rendering.
    pub max_value_chars: usize,
    /// The 1-based anchor lines whose comments were dropped, in the order they were.
    pub dropped_lines: Vec<usize>,
}

impl BudgetReport {
    /// Whether the rendering is the one that was asked for (no measure was needed).
    pub fn is_untouched(&self) -> bool {
        self.measures.is_empty()
    }
}

/// The smallest `max_value_chars` the ladder halves down to.
const MIN_VALUE_CHARS: usize = 20;

impl Layout {
    /// Renders `trace` in at most `max_tokens` tokens as counted by `count`, shrinking
    /// the rendering step by step until it fits:
    ///
    /// 1. lower `keep_first` one at a time, down to 1;
    /// 2. halve `max_value_chars` (rounding down, never below 20; a value already at
    ///    or below 20 is left alone);
    /// 3. drop the comments of the anchor lines with the most steps (ties: the
    ///    earliest line first), one line at a time.
    ///
    /// The first rendering that fits is returned with a report of what was done. The
    /// source is parsed once (this [`Layout`]); each try is one rendering pass and one
    /// call of `count`.
    ///
    /// ```
    /// use nxt_core::{Event, RenderOptions, Step, Trace, Value, Var};
    ///
    /// let layout = nxt_inline::Layout::new("for i in range(9):\n    pass\n")?;
    /// let mut trace = Trace::new("CPython 3.11.7");
    /// for i in 0..9 {
    ///     trace.steps.push(Step {
    ///         line: 1,
    ///         event: Event::Line,
    ///         frame: 0,
    ///         vars: vec![Var::new("i", Value::repr(i.to_string()))],
    ///     });
    /// }
    /// let words = |s: &str| s.split_whitespace().count();
    /// let (rendering, report) =
    ///     layout.render_within(&trace, &RenderOptions::default(), 11, words)?;
    /// assert_eq!(rendering.text, "for i in range(9):  # (0) i=0; ...; (8) i=8;\n    pass\n");
    /// assert_eq!(report.keep_first, 1);
    /// assert_eq!(report.measures, [nxt_inline::Measure::LoweredKeepFirst]);
    /// # Ok::<(), nxt_inline::InlineError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`InlineError::OverBudget`] when even the source with every comment dropped is
    /// over the budget, and the errors of [`Layout::render`].
    pub fn render_within<F>(
        &self,
        trace: &Trace,
        options: &RenderOptions,
        max_tokens: usize,
        mut count: F,
    ) -> Result<(Rendering, BudgetReport), InlineError>
    where
        F: FnMut(&str) -> usize,
    {
        validate(options)?;
        let groups = self.group(trace)?;
        let mut opts = options.clone();
        let mut dropped = vec![false; groups.len()];
        let mut report = BudgetReport {
            tokens: 0,
            budget: max_tokens,
            measures: Vec::new(),
            keep_first: opts.keep_first,
            max_value_chars: opts.max_value_chars,
            dropped_lines: Vec::new(),
        };
        let mut attempt = |opts: &RenderOptions, dropped: &[bool], report: &mut BudgetReport| {
            let rendering = self.write(trace, &groups, opts, dropped);
            report.tokens = count(&rendering.text);
            report.keep_first = opts.keep_first;
            report.max_value_chars = opts.max_value_chars;
            (report.tokens <= max_tokens).then_some(rendering)
        };
        if let Some(r) = attempt(&opts, &dropped, &mut report) {
            return Ok((r, report));
        }

        // 1. keep_first, one at a time. A try that cannot change the text (no line has
        // more steps than the new keep_first + keep_last) is not rendered.
        let most = (0..groups.len())
            .map(|g| groups.group(g).len())
            .max()
            .unwrap_or(0);
        // A measure is reported only when it changed the text.
        while opts.keep_first > 1 {
            opts.keep_first -= 1;
            if most <= opts.keep_first + opts.keep_last {
                report.keep_first = opts.keep_first;
                continue;
            }
            use_measure(&mut report, Measure::LoweredKeepFirst);
            if let Some(r) = attempt(&opts, &dropped, &mut report) {
                return Ok((r, report));
            }
        }

        // 2. max_value_chars, halved down to 20. A halving that cuts no value (none is
        // longer than the new width) cannot change the text and is not rendered.
        let longest = trace
            .steps
            .iter()
            .flat_map(|s| s.vars.iter())
            .map(|v| v.value.chars())
            .max()
            .unwrap_or(0);
        while opts.max_value_chars > MIN_VALUE_CHARS {
            opts.max_value_chars = (opts.max_value_chars / 2).max(MIN_VALUE_CHARS);
            if longest <= opts.max_value_chars as u64 {
                report.max_value_chars = opts.max_value_chars;
                continue;
            }
            use_measure(&mut report, Measure::HalvedMaxValueChars);
            if let Some(r) = attempt(&opts, &dropped, &mut report) {
                return Ok((r, report));
            }
        }

        // 3. whole lines, the ones with the most steps first.
        let mut order: Vec<usize> = (0..groups.len()).collect();
        order.sort_by_key(|&g| (std::cmp::Reverse(groups.group(g).len()), groups.lines[g]));
        for g in order {
            dropped[g] = true;
            report.dropped_lines.push(groups.lines[g] + 1);
            use_measure(&mut report, Measure::DroppedLines);
            if let Some(r) = attempt(&opts, &dropped, &mut report) {
                return Ok((r, report));
            }
        }
        Err(InlineError::OverBudget {
            tokens: report.tokens,
            budget: max_tokens,
        })
    }
}

fn use_measure(report: &mut BudgetReport, measure: Measure) {
    if report.measures.last() != Some(&measure) {
        report.measures.push(measure);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nxt_core::{Ending, Event, Step, Value, Var};

    fn words(s: &str) -> usize {
        s.split_whitespace().count()
    }

    /// `for` on line 1 with `n` steps, a long value on line 2, one step on line 3.
    fn setup(n: u32) -> (Layout, Trace) {
        let layout = Layout::new("for i in r:\n    s = i\nz = 0\n").unwrap();
        let mut t = Trace::new("CPython 3.11.7");
        for i in 0..n {
            t.steps.push(Step {
                line: 1,
                event: Event::Line,
                frame: 0,
                vars: vec![Var::new("i", Value::repr(i.to_string()))],
            });
        }
        t.steps.push(Step {
            line: 2,
            event: Event::Line,
            frame: 0,
            vars: vec![Var::new("s", Value::repr("x".repeat(300)))],
        });
        t.steps.push(Step {
            line: 3,
            event: Event::Line,
            frame: 0,
            vars: vec![Var::new("z", Value::repr("0"))],
        });
        (layout, t)
    }

    fn opts(keep_first: usize, max_value_chars: usize) -> RenderOptions {
        RenderOptions {
            keep_first,
            keep_last: 1,
            max_value_chars,
        }
    }

    #[test]
    fn a_rendering_that_fits_is_untouched() {
        let (layout, t) = setup(5);
        let plain = layout.render(&t, &opts(3, 200)).unwrap();
        let (r, report) = layout
            .render_within(&t, &opts(3, 200), words(&plain.text), words)
            .unwrap();
        assert_eq!(r, plain);
        assert!(report.is_untouched());
        assert_eq!((report.keep_first, report.max_value_chars), (3, 200));
        assert_eq!(report.tokens, words(&plain.text));
    }

    #[test]
    fn keep_first_goes_first() {
        let (layout, t) = setup(5);
        let target = layout.render(&t, &opts(2, 200)).unwrap();
        let (r, report) = layout
            .render_within(&t, &opts(3, 200), words(&target.text), words)
            .unwrap();
        assert_eq!(r, target);
        assert_eq!(report.measures, [Measure::LoweredKeepFirst]);
        assert_eq!(report.keep_first, 2);
    }

    #[test]
    fn then_values_are_halved_down_to_twenty() {
        let (layout, t) = setup(5);
        // Characters, so that shorter values count.
        let chars = |s: &str| s.chars().count();
        for (max, expected) in [(100, 100), (50, 50), (25, 25), (20, 20)] {
            let target = layout.render(&t, &opts(1, max)).unwrap();
            let (r, report) = layout
                .render_within(&t, &opts(3, 200), chars(&target.text), chars)
                .unwrap();
            assert_eq!(r, target, "{max}");
            assert_eq!(report.max_value_chars, expected);
            assert_eq!(
                report.measures,
                [Measure::LoweredKeepFirst, Measure::HalvedMaxValueChars]
            );
        }
        // 200 -> 100 -> 50 -> 25 -> 20: there is no 30.
        let target = layout.render(&t, &opts(1, 30)).unwrap();
        let (_, report) = layout
            .render_within(&t, &opts(3, 200), chars(&target.text), chars)
            .unwrap();
        assert_eq!(report.max_value_chars, 25);
    }

    #[test]
    fn then_the_busiest_lines_are_dropped() {
        let (layout, t) = setup(5);
        let source = layout.source().to_owned();
        let all = words(&layout.render(&t, &opts(1, 20)).unwrap().text);
        // Dropping line 1 (5 steps) saves 9 words ("#", 2 steps of 2, "...;").
        let (r, report) = layout
            .render_within(&t, &opts(2, 100), all - 1, words)
            .unwrap();
        assert_eq!(report.dropped_lines, [1]);
        assert_eq!(
            report.measures,
            [
                Measure::LoweredKeepFirst,
                Measure::HalvedMaxValueChars,
                Measure::DroppedLines
            ]
        );
        assert_eq!(
            r.text,
            "for i in r:\n    s = i  # (5) s=xxxxxxxxx...xxxxxxxx;\nz = 0  # (6) z=0;\n"
        );
        // Lines 2 and 3 have one step each: the earlier one goes first.
        let (r, report) = layout
            .render_within(&t, &opts(2, 100), words(&source) + 3, words)
            .unwrap();
        assert_eq!(report.dropped_lines, [1, 2]);
        assert_eq!(r.text, "for i in r:\n    s = i\nz = 0  # (6) z=0;\n");
        let (r, report) = layout
            .render_within(&t, &opts(2, 100), words(&source), words)
            .unwrap();
        assert_eq!(report.dropped_lines, [1, 2, 3]);
        assert_eq!(r.text, source);
        assert_eq!(r.strip(), source);
    }

    #[test]
    fn nothing_fits() {
        let (layout, mut t) = setup(5);
        t.ending = Ending::MemoryLimit;
        let err = layout
            .render_within(&t, &opts(2, 100), 3, words)
            .unwrap_err();
        // The source's 10 words and the ending line's 5.
        assert_eq!(
            err,
            InlineError::OverBudget {
                tokens: 15,
                budget: 3
            }
        );
    }

    #[test]
    fn small_values_are_not_raised() {
        let (layout, t) = setup(5);
        let source_words = words(layout.source());
        let (_, report) = layout
            .render_within(&t, &opts(1, 10), source_words, words)
            .unwrap();
        assert_eq!(report.max_value_chars, 10);
        assert_eq!(report.measures, [Measure::DroppedLines]);
    }

    #[test]
    fn options_and_lines_are_checked_first() {
        let (layout, mut t) = setup(1);
        assert!(matches!(
            layout.render_within(&t, &opts(0, 100), 100, words),
            Err(InlineError::InvalidOption { .. })
        ));
        t.steps[0].line = 9;
        assert!(matches!(
            layout.render_within(&t, &opts(1, 100), 100, words),
            Err(InlineError::NoStatement { line: 9, step: 0 })
        ));
    }
}
