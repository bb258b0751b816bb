//! The NExT inline trace formatter: writes a [`Trace`] back into its Python source as
//! comments, one comment per line that ran, in the format of
//! `spec/inline-trace-format.md` (sections 3–6).
//!
//! ```text
//! def separate_odd_and_even(lst):  # (0) lst=[1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
//!     odd_list = []  # (1) odd_list=[];
//!     even_list = []  # (2) even_list=[];
//!     for n in lst:  # (3) n=1; (5) n=2; ...; (21) n=10;
//! ```
//!
//! The work is split in two so that a program is parsed once and rendered many times
//! (with other traces, options or budgets):
//!
//! - [`Layout::new`] parses the source with ruff's parser and works out, for every
//!   physical line, the *anchor line* of its statement: where the statement's logical
//!   line ends, or where the `:` of a compound statement's header is.
//! - [`Layout::render`] writes a trace in one pass and returns a [`Rendering`]: the text
//!   and a record of what was appended, so [`Rendering::strip`] gives back the original
//!   bytes. [`Layout::render_within`] meets a token budget by compressing loops harder,
//!   cutting values shorter and, last, dropping whole comments, and says what it did in
//!   a [`BudgetReport`].
//!
//! [`Formatter`] puts both behind the [`nxt_core::Renderer`] trait, and
//! [`strip_trace_comments`] removes trace comments from text alone, best effort.
//!
//! [`formats`] writes the same trace in two other formats, for ablations: a
//! SemCoder-style scratchpad ([`formats::semcoder`]) and an LDB-style block listing
//! ([`formats::ldb`]) (`docs/trace-formats.md`); [`formats::Format`] names all three.
//!
//! # Example
//!
//! ```
//! use nxt_core::{Ending, Event, RenderOptions, Step, Trace, Value, Var};
//!
//! let source = "total = 0\nfor n in [1, 2, 3, 4]:\n    total += n\n";
//! let mut trace = Trace::new("CPython 3.11.7");
//! let mut step = |line, name: &str, value: &str| {
//!     trace.steps.push(Step {
//!         line,
//!         event: Event::Line,
//!         frame: 0,
//!         vars: vec![Var::new(name, Value::repr(value))],
//!     })
//! };
//! step(1, "total", "0");
//! for (n, total) in [("1", "1"), ("2", "3"), ("3", "6"), ("4", "10")] {
//!     step(2, "n", n);
//!     step(3, "total", total);
//! }
//!
//! let layout = nxt_inline::Layout::new(source)?;
//! let rendering = layout.render(&trace, &RenderOptions::default())?;
//! assert_eq!(
//!     rendering.text,
//!     "total = 0  # (0) total=0;\n\
//!      for n in [1, 2, 3, 4]:  # (1) n=1; (3) n=2; ...; (7) n=4;\n    \
//!          total += n  # (2) total=1; (4) total=3; ...; (8) total=10;\n"
//! );
//! assert_eq!(rendering.strip(), source);
//!
//! // The same through the `Renderer` trait.
//! use nxt_core::Renderer;
//! let text = nxt_inline::Formatter::new().render(source, &trace, &RenderOptions::default())?;
//! assert_eq!(text, rendering.text);
//! # Ok::<(), nxt_inline::InlineError>(())
//! ```
#![deny(missing_docs)]

use std::fmt;
use std::sync::Arc;

use nxt_core::{RenderOptions, Renderer, Trace};

// The parser crates are published by RustPython under prefixed names; call them by
// ruff's names everywhere in the crate.
extern crate rustpython_ruff_python_ast as ruff_python_ast;
extern crate rustpython_ruff_python_parser as ruff_python_parser;
extern crate rustpython_ruff_text_size as ruff_text_size;

mod budget;
mod error;
pub mod formats;
mod layout;
mod render;
mod strip;
#[cfg(test)]
mod testutil;

pub use budget::{BudgetReport, Measure};
pub use error::InlineError;
pub use layout::Layout;
pub use render::{Annotation, Rendering};
pub use strip::strip_trace_comments;

/// Counts the tokens of a text, for a token budget.
type Counter = Arc<dyn Fn(&str) -> usize + Send + Sync>;

/// Renders traces into their sources: [`Layout::new`] then [`Layout::render`], or
/// [`Layout::render_within`] when the formatter has a token budget.
///
/// Implements [`nxt_core::Renderer`]. Build one with [`Formatter::new`] (no budget) or
/// [`FormatterBuilder`]. Cloning is cheap.
#[derive(Clone, Default)]
pub struct Formatter {
    budget: Option<(usize, Counter)>,
}

impl fmt::Debug for Formatter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Formatter")
            .field("token_budget", &self.budget.as_ref().map(|(n, _)| n))
            .finish()
    }
}

impl Formatter {
    /// A formatter without a token budget.
    pub fn new() -> Formatter {
        Formatter::default()
    }

    /// The token budget this formatter renders within, if any.
    pub fn token_budget(&self) -> Option<usize> {
        self.budget.as_ref().map(|(n, _)| *n)
    }

    /// Renders `trace` into `source`. With a token budget, also says what was done to
    /// meet it.
    ///
    /// # Errors
    ///
    /// The errors of [`Layout::new`], [`Layout::render`] and
    /// [`Layout::render_within`].
    pub fn format(
        &self,
        source: &str,
        trace: &Trace,
        options: &RenderOptions,
    ) -> Result<(Rendering, Option<BudgetReport>), InlineError> {
        let layout = Layout::new(source)?;
        match &self.budget {
            None => Ok((layout.render(trace, options)?, None)),
            Some((max, count)) => {
                let (rendering, report) =
                    layout.render_within(trace, options, *max, |s| count(s))?;
                Ok((rendering, Some(report)))
            }
        }
    }
}

impl Renderer for Formatter {
    type Error = InlineError;

    fn render(
        &self,
        source: &str,
        trace: &Trace,
        options: &RenderOptions,
    ) -> Result<String, InlineError> {
        Ok(self.format(source, trace, options)?.0.text)
    }
}

/// Builds a [`Formatter`].
///
/// ```
/// let formatter = nxt_inline::FormatterBuilder::new()
///     .token_budget(2048, |text: &str| text.split_whitespace().count())
///     .build();
/// assert_eq!(formatter.token_budget(), Some(2048));
/// ```
#[derive(Clone, Default)]
pub struct FormatterBuilder {
    budget: Option<(usize, Counter)>,
}

impl fmt::Debug for FormatterBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FormatterBuilder")
            .field("token_budget", &self.budget.as_ref().map(|(n, _)| n))
            .finish()
    }
}

impl FormatterBuilder {
    /// A builder with the defaults.
    pub fn new() -> FormatterBuilder {
        FormatterBuilder::default()
    }

    /// Renders within `max_tokens` tokens as counted by `count` (for example a
    /// tokenizer's encoding length), with the ladder of [`Layout::render_within`].
    ///
    /// By default, there is no token budget.
    pub fn token_budget<F>(&mut self, max_tokens: usize, count: F) -> &mut FormatterBuilder
    where
        F: Fn(&str) -> usize + Send + Sync + 'static,
    {
        self.budget = Some((max_tokens, Arc::new(count)));
        self
    }

    /// Renders without a token budget.
    ///
    /// By default, there is no token budget.
    pub fn no_token_budget(&mut self) -> &mut FormatterBuilder {
        self.budget = None;
        self
    }

    /// The formatter.
    pub fn build(&self) -> Formatter {
        Formatter {
            budget: self.budget.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nxt_core::{Event, Step, Value, Var};

    fn trace() -> Trace {
        let mut t = Trace::new("CPython 3.11.7");
        for i in 0..4 {
            t.steps.push(Step {
                line: 1,
                event: Event::Line,
                frame: 0,
                vars: vec![Var::new("i", Value::repr(i.to_string()))],
            });
        }
        t
    }

    #[test]
    fn the_formatter_is_a_renderer() {
        fn render<R: Renderer>(r: R) -> Result<String, R::Error> {
            r.render("for i in r: pass\n", &trace(), &RenderOptions::default())
        }
        assert_eq!(
            render(Formatter::new()).unwrap(),
            "for i in r: pass  # (0) i=0; (1) i=1; ...; (3) i=3;\n"
        );
        let boxed: Box<dyn Renderer<Error = InlineError>> = Box::new(Formatter::new());
        assert!(render(boxed).is_ok());
        let err = Formatter::new()
            .render("for i in r:\n", &trace(), &RenderOptions::default())
            .unwrap_err();
        assert!(matches!(err, InlineError::Syntax { line: 1, .. }), "{err}");
    }

    #[test]
    fn a_formatter_with_a_budget_uses_it() {
        let formatter = FormatterBuilder::new()
            .token_budget(11, |s: &str| s.split_whitespace().count())
            .build();
        assert_eq!(formatter.token_budget(), Some(11));
        assert!(format!("{formatter:?}").contains("Some(11)"));
        let (rendering, report) = formatter
            .format("for i in r: pass\n", &trace(), &RenderOptions::default())
            .unwrap();
        assert_eq!(
            rendering.text,
            "for i in r: pass  # (0) i=0; ...; (3) i=3;\n"
        );
        assert_eq!(report.unwrap().measures, [Measure::LoweredKeepFirst]);
        let plain = FormatterBuilder::new()
            .token_budget(1, |_: &str| 0)
            .no_token_budget()
            .build();
        assert_eq!(plain.token_budget(), None);
    }

    fn is_send_sync<T: Send + Sync>() {}

    #[test]
    fn the_types_are_send_and_sync() {
        is_send_sync::<Formatter>();
        is_send_sync::<Layout>();
        is_send_sync::<Rendering>();
        is_send_sync::<InlineError>();
    }
}
