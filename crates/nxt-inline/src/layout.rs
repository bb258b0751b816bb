//! Where each line's steps go: physical lines, their statements and anchor lines
//! (spec section 5). Computed once per source, then reused by every rendering.

use std::ops::Range;

use ruff_python_ast::token::{TokenKind, Tokens};
use ruff_python_ast::{ExceptHandler, Stmt};
use ruff_text_size::{Ranged, TextSize};

use crate::InlineError;

/// No statement covers the line.
const NONE: u32 = u32::MAX;

/// One physical line: `start..content_end` is its text, `content_end..end` its
/// terminator (`\n`, `\r\n`, `\r`, or nothing for a last line without one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Line {
    pub(crate) start: usize,
    pub(crate) content_end: usize,
    pub(crate) end: usize,
}

/// Splits `source` into physical lines: they end only at `\n`, `\r\n` or `\r`. A source
/// that ends with a terminator has no empty line after it; the empty source has none.
pub(crate) fn physical_lines(source: &str) -> Vec<Line> {
    let bytes = source.as_bytes();
    let mut lines = Vec::with_capacity(bytes.len() / 32 + 1);
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => {
                lines.push(Line {
                    start,
                    content_end: i,
                    end: i + 1,
                });
                i += 1;
                start = i;
            }
            b'\r' => {
                let end = if bytes.get(i + 1) == Some(&b'\n') {
                    i + 2
                } else {
                    i + 1
                };
                lines.push(Line {
                    start,
                    content_end: i,
                    end,
                });
                i = end;
                start = i;
            }
            _ => i += 1,
        }
    }
    if start < bytes.len() {
        lines.push(Line {
            start,
            content_end: bytes.len(),
            end: bytes.len(),
        });
    }
    lines
}

/// A source parsed once and laid out for rendering: its physical lines and, for each
/// line, the anchor line that receives the comments of steps reported on it.
///
/// Build it with [`Layout::new`], then render any number of traces of the program with
/// [`Layout::render`](crate::Layout::render) or
/// [`Layout::render_within`](crate::Layout::render_within).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub(crate) source: String,
    pub(crate) lines: Vec<Line>,
    /// For each physical line (0-based), the 0-based anchor line of the statement it
    /// belongs to, or [`NONE`].
    anchors: Vec<u32>,
    /// The program's first line terminator, `\n` if it has none.
    pub(crate) newline: &'static str,
}

impl Layout {
    /// Parses `source` and works out which line each statement's comment goes to.
    ///
    /// # Errors
    ///
    /// [`InlineError::Syntax`] when the source does not parse.
    pub fn new(source: &str) -> Result<Layout, InlineError> {
        let lines = physical_lines(source);
        let parsed = ruff_python_parser::parse_module(source).map_err(|err| {
            let offset = usize::from(err.location.start()).min(source.len());
            let (line, column) = line_column(source, &lines, offset);
            InlineError::Syntax {
                line,
                column,
                message: err.error.to_string(),
            }
        })?;
        let mut walker = Walker {
            source_len: source.len(),
            lines: &lines,
            tokens: parsed.tokens(),
            owners: vec![(0, NONE); lines.len()],
        };
        walker.suite(parsed.suite(), 1);
        let anchors = walker.owners.into_iter().map(|(_, a)| a).collect();
        let newline = lines
            .iter()
            .map(|l| &source[l.content_end..l.end])
            .find(|t| !t.is_empty())
            .map_or("\n", |t| match t {
                "\r\n" => "\r\n",
                "\r" => "\r",
                _ => "\n",
            });
        Ok(Layout {
            source: source.to_owned(),
            lines,
            anchors,
            newline,
        })
    }

    /// The source this layout was made from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The number of physical lines of the source (lines end only at `\n`, `\r\n` or
    /// `\r`; a final terminator does not start another line).
    pub fn line_count(&self) -> usize {
        self.lines.len()
    }

    /// The 1-based anchor line of the statement that 1-based physical `line` belongs
    /// to, or `None` when no statement covers it (or it is past the end).
    ///
    /// ```
    /// let layout = nxt_inline::Layout::new("x = (1,\n     2)\n\ny = 3\n")?;
    /// assert_eq!(layout.anchor_line(1), Some(2));
    /// assert_eq!(layout.anchor_line(2), Some(2));
    /// assert_eq!(layout.anchor_line(3), None);
    /// assert_eq!(layout.anchor_line(4), Some(4));
    /// # Ok::<(), nxt_inline::InlineError>(())
    /// ```
    pub fn anchor_line(&self, line: usize) -> Option<usize> {
        let a = *self.anchors.get(line.checked_sub(1)?)?;
        (a != NONE).then_some(a as usize + 1)
    }

    /// The 0-based anchor line for a 1-based step line.
    pub(crate) fn anchor_index(&self, line: u32) -> Option<usize> {
        let a = *self.anchors.get((line as usize).checked_sub(1)?)?;
        (a != NONE).then_some(a as usize)
    }
}

/// 1-based line and character column of a byte offset.
fn line_column(source: &str, lines: &[Line], offset: usize) -> (usize, usize) {
    if lines.is_empty() {
        return (1, 1);
    }
    let i = line_index(lines, offset);
    let start = lines[i].start.min(offset);
    let column = source
        .get(start..offset)
        .map_or(offset - start, |s| s.chars().count());
    (i + 1, column + 1)
}

/// The 0-based line holding byte `offset` (a terminator belongs to its line; the end of
/// the source to the last line).
fn line_index(lines: &[Line], offset: usize) -> usize {
    lines
        .partition_point(|l| l.start <= offset)
        .saturating_sub(1)
        .min(lines.len().saturating_sub(1))
}

/// Walks the statements in source order and records, for every physical line, the
/// deepest statement or clause covering it (the first one at that depth).
struct Walker<'a> {
    source_len: usize,
    lines: &'a [Line],
    tokens: &'a Tokens,
    /// (depth, anchor line) per physical line; depth 0 = no statement yet.
    owners: Vec<(u32, u32)>,
}

impl Walker<'_> {
    fn suite(&mut self, body: &[Stmt], depth: u32) {
        for stmt in body {
            self.stmt(stmt, depth);
        }
    }

    fn stmt(&mut self, stmt: &Stmt, depth: u32) {
        let range = stmt.range();
        let (start, end) = (range.start(), range.end());
        match stmt {
            Stmt::FunctionDef(def) => {
                // A decorated definition covers its decorator lines.
                let start = def
                    .decorator_list
                    .first()
                    .map_or(start, |d| d.start().min(start));
                self.compound(start..end, &def.body, depth);
                self.suite(&def.body, depth + 1);
            }
            Stmt::ClassDef(class) => {
                let start = class
                    .decorator_list
                    .first()
                    .map_or(start, |d| d.start().min(start));
                self.compound(start..end, &class.body, depth);
                self.suite(&class.body, depth + 1);
            }
            Stmt::For(s) => {
                self.compound(start..end, &s.body, depth);
                self.suite(&s.body, depth + 1);
                self.keyword_clause(TokenKind::Else, &s.orelse, depth + 1);
            }
            Stmt::While(s) => {
                self.compound(start..end, &s.body, depth);
                self.suite(&s.body, depth + 1);
                self.keyword_clause(TokenKind::Else, &s.orelse, depth + 1);
            }
            Stmt::If(s) => {
                self.compound(start..end, &s.body, depth);
                self.suite(&s.body, depth + 1);
                for clause in &s.elif_else_clauses {
                    self.compound(clause.start()..clause.end(), &clause.body, depth + 1);
                    self.suite(&clause.body, depth + 2);
                }
            }
            Stmt::With(s) => {
                self.compound(start..end, &s.body, depth);
                self.suite(&s.body, depth + 1);
            }
            Stmt::Match(s) => {
                let first_case = s.cases.first().map_or(end, Ranged::start);
                self.header(start..end, first_case, depth);
                for case in &s.cases {
                    self.compound(case.start()..case.end(), &case.body, depth + 1);
                    self.suite(&case.body, depth + 2);
                }
            }
            Stmt::Try(s) => {
                self.compound(start..end, &s.body, depth);
                self.suite(&s.body, depth + 1);
                for handler in &s.handlers {
                    let ExceptHandler::ExceptHandler(h) = handler;
                    self.compound(h.start()..h.end(), &h.body, depth + 1);
                    self.suite(&h.body, depth + 2);
                }
                self.keyword_clause(TokenKind::Else, &s.orelse, depth + 1);
                self.keyword_clause(TokenKind::Finally, &s.finalbody, depth + 1);
            }
            _ => {
                let anchor = self.logical_end(end);
                self.cover(start..end, depth, anchor);
            }
        }
    }

    /// A compound statement or clause spanning `range` whose body is `body`.
    fn compound(&mut self, range: Range<TextSize>, body: &[Stmt], depth: u32) {
        let body_start = body.first().map_or(range.end, Ranged::start);
        self.header(range, body_start, depth);
    }

    /// Covers `range` at `depth`, anchored where the header ends: the logical line of
    /// the last `:` before `body_start`.
    fn header(&mut self, range: Range<TextSize>, body_start: TextSize, depth: u32) {
        let before = &self.tokens[..self.tokens.partition_point(|t| t.start() < body_start)];
        let anchor = match before.iter().rposition(|t| t.kind() == TokenKind::Colon) {
            Some(colon) => self.logical_end(before[colon].start()),
            // Not reachable for a module that parsed; anchor on the first line.
            None => self.line_of(range.start),
        };
        self.cover(range, depth, anchor);
    }

    /// An `else` or `finally` clause, which has no node of its own: it starts at the
    /// last `keyword` token before its body.
    fn keyword_clause(&mut self, keyword: TokenKind, body: &[Stmt], depth: u32) {
        let (Some(first), Some(last)) = (body.first(), body.last()) else {
            return;
        };
        let before = &self.tokens[..self.tokens.partition_point(|t| t.start() < first.start())];
        let start = before
            .iter()
            .rev()
            .find(|t| t.kind() == keyword)
            .map_or(first.start(), Ranged::start);
        self.compound(start..last.end(), body, depth);
        self.suite(body, depth + 1);
    }

    /// The 0-based physical line on which the logical line holding `offset` ends: the
    /// line of the first `Newline` token at or after `offset`, else the line of the
    /// last token before it.
    fn logical_end(&self, offset: TextSize) -> u32 {
        let from = self.tokens.partition_point(|t| t.start() < offset);
        match self.tokens[from..]
            .iter()
            .find(|t| t.kind() == TokenKind::Newline)
        {
            Some(newline) => self.line_of(newline.start()),
            None => self.line_of(
                self.tokens[..from]
                    .last()
                    .map_or(offset, |t| t.end() - TextSize::from(1)),
            ),
        }
    }

    fn line_of(&self, offset: TextSize) -> u32 {
        line_index(self.lines, usize::from(offset).min(self.source_len)) as u32
    }

    /// Records `anchor` for every line of `range` not yet owned by a deeper (or an
    /// earlier equally deep) statement.
    fn cover(&mut self, range: Range<TextSize>, depth: u32, anchor: u32) {
        if self.lines.is_empty() {
            return;
        }
        let first = self.line_of(range.start) as usize;
        let last_offset = if range.end > range.start {
            range.end - TextSize::from(1)
        } else {
            range.end
        };
        let last = self.line_of(last_offset) as usize;
        for owner in &mut self.owners[first..=last] {
            if owner.0 < depth {
                *owner = (depth, anchor);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(s: &str) -> Vec<&str> {
        physical_lines(s)
            .iter()
            .map(|l| &s[l.start..l.end])
            .collect()
    }

    #[test]
    fn lines_end_only_at_cr_and_lf() {
        assert_eq!(split(""), Vec::<&str>::new());
        assert_eq!(split("a"), ["a"]);
        assert_eq!(split("a\n"), ["a\n"]);
        assert_eq!(split("a\r\nb\rc\nd"), ["a\r\n", "b\r", "c\n", "d"]);
        assert_eq!(split("\n\n"), ["\n", "\n"]);
        assert_eq!(split("\r\r\n"), ["\r", "\r\n"]);
        assert_eq!(
            split("a\x0bb\x0cc\u{2028}d\u{85}e\n"),
            ["a\x0bb\x0cc\u{2028}d\u{85}e\n"]
        );
    }

    /// The 1-based anchor line of every 1-based line, `0` for none.
    fn anchors(source: &str) -> Vec<usize> {
        let layout = Layout::new(source).unwrap();
        (1..=layout.line_count())
            .map(|l| layout.anchor_line(l).unwrap_or(0))
            .collect()
    }

    #[test]
    fn simple_statements_anchor_on_their_line() {
        assert_eq!(anchors("x = 1\ny = 2\n"), [1, 2]);
        assert_eq!(anchors("x = 1\n\n# c\ny = 2"), [1, 0, 0, 4]);
    }

    #[test]
    fn semicolons_share_a_line() {
        assert_eq!(anchors("x = 1; y = 2\nz = 3;\n"), [1, 2]);
    }

    #[test]
    fn backslash_continuations_anchor_where_the_logical_line_ends() {
        assert_eq!(anchors("x = 1 + \\\n    2\ny = 3\n"), [2, 2, 3]);
        // The statement ends on line 1, but its logical line goes on.
        assert_eq!(anchors("x = 1 \\\n\ny = 3\n"), [2, 0, 3]);
        assert_eq!(anchors("if x: \\\n    y = 1\n"), [2, 2]);
    }

    #[test]
    fn multi_line_calls_and_strings_anchor_on_their_last_line() {
        assert_eq!(anchors("f(\n    1,\n    2,\n)\n"), [4, 4, 4, 4]);
        assert_eq!(anchors("s = '''a\n# b\nc'''\nt = 1\n"), [3, 3, 3, 4]);
        assert_eq!(anchors("x = [1,  # one\n     2]  # two\n"), [2, 2]);
    }

    #[test]
    fn multi_line_signatures_anchor_on_the_colon() {
        let src = "def f(a,\n      b: int = 2,\n      ) -> int:\n    return a\n";
        assert_eq!(anchors(src), [3, 3, 3, 4]);
    }

    #[test]
    fn decorators_belong_to_their_definition() {
        let src = "@dec\n@other(1,\n  2)\ndef f(x):\n    return x\n\n@dec\nclass C:\n    y = 1\n";
        assert_eq!(anchors(src), [4, 4, 4, 4, 5, 0, 8, 8, 9]);
    }

    #[test]
    fn clauses_are_headers_of_their_own() {
        let src = "if a:\n    x = 1\nelif b:\n    x = 2\nelse:\n    x = 3\n";
        assert_eq!(anchors(src), [1, 2, 3, 4, 5, 6]);
        let src = "try:\n    x = 1\nexcept ValueError as e:\n    x = 2\nexcept (\n  KeyError):\n    pass\nelse:\n    x = 3\nfinally:\n    x = 4\n";
        assert_eq!(anchors(src), [1, 2, 3, 4, 6, 6, 7, 8, 9, 10, 11]);
        let src = "for i in r:\n    pass\nelse:\n    pass\nwhile c:\n    pass\nelse:\n    pass\n";
        assert_eq!(anchors(src), [1, 2, 3, 4, 5, 6, 7, 8]);
    }

    #[test]
    fn match_and_case() {
        let src = "match x:\n    case 1:\n        y = 1\n    case {'a': b} if b:\n        y = 2\n    case _:\n        pass\n";
        assert_eq!(anchors(src), [1, 2, 3, 4, 5, 6, 7]);
    }

    #[test]
    fn with_statements() {
        let src = "with open(p) as f, \\\n     open(q) as g:\n    data = f.read()\n";
        assert_eq!(anchors(src), [2, 2, 3]);
        let src = "with (\n    open(p) as f,\n):\n    pass\n";
        assert_eq!(anchors(src), [3, 3, 3, 4]);
    }

    #[test]
    fn one_line_compound_statements() {
        assert_eq!(anchors("if x: y = 1\nelse: y = 2\n"), [1, 2]);
        assert_eq!(anchors("def f(): return 1\n"), [1]);
        assert_eq!(anchors("for i in r: a = 1; b = 2\n"), [1]);
    }

    #[test]
    fn colons_in_headers_do_not_confuse_the_anchor() {
        let src = "def f(x: dict[str, int] = {'a': 1}, g=lambda: 1) -> int:\n    return x[1:2]\n";
        assert_eq!(anchors(src), [1, 2]);
        let src = "if f'{x:>10}':\n    pass\n";
        assert_eq!(anchors(src), [1, 2]);
        let src = "x = 1 if a else 2\nfor i in r:\n    y = 3 if b else 4\nelse:\n    z = 5\n";
        assert_eq!(anchors(src), [1, 2, 3, 4, 5]);
    }

    #[test]
    fn blank_lines_inside_blocks_belong_to_the_block() {
        let src = "def f():\n    x = 1\n\n    # c\n    return x\n";
        assert_eq!(anchors(src), [1, 2, 1, 1, 5]);
    }

    #[test]
    fn line_endings_and_no_final_newline() {
        assert_eq!(anchors("if a:\r\n    b = 1\r\nc = 2"), [1, 2, 3]);
        assert_eq!(anchors("if a:\r    b = (1,\r2)\rc = 2\r"), [1, 3, 3, 4]);
        let layout = Layout::new("a = 1\r\nb = 2\n").unwrap();
        assert_eq!(layout.newline, "\r\n");
        let layout = Layout::new("a = 1").unwrap();
        assert_eq!(layout.newline, "\n");
        let layout = Layout::new("a = 1\rb = 2\r\n").unwrap();
        assert_eq!(layout.newline, "\r");
    }

    #[test]
    fn form_feeds_and_unicode_separators_do_not_end_lines() {
        assert_eq!(anchors("x = 1\x0c\ny = '\u{2028}'\n"), [1, 2]);
    }

    #[test]
    fn syntax_errors_have_line_and_column() {
        let err = Layout::new("x = 1\r\né = (\r\n").unwrap_err();
        assert!(
            matches!(err, InlineError::Syntax { line: 2.., .. }),
            "{err}"
        );
        let err = Layout::new("x = 1\ny = é +\n").unwrap_err();
        let InlineError::Syntax { line, column, .. } = err else {
            panic!("{err}")
        };
        assert_eq!((line, column), (2, 8));
    }

    #[test]
    fn the_grammar_is_ruffs() {
        assert_eq!(
            anchors("type X = int\ndef f[T](x: T) -> T: return x\n"),
            [1, 2]
        );
        // A semantic error for CPython, but a syntax tree all the same.
        assert_eq!(anchors("return 1\n"), [1]);
        // A byte order mark is not part of the first statement's line number.
        assert_eq!(anchors("\u{feff}x = 1\ny = 2\n"), [1, 2]);
    }

    #[test]
    fn empty_sources_have_no_lines() {
        let layout = Layout::new("").unwrap();
        assert_eq!(layout.line_count(), 0);
        assert_eq!(layout.anchor_line(1), None);
        assert_eq!(anchors("\n\n# only a comment\n"), [0, 0, 0]);
    }
}
