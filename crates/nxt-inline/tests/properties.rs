//! Property tests of the invariant of spec section 5 over generated programs and
//! traces: the rendering parses to the same syntax tree, stripping what was appended
//! gives back the original bytes, and rendering is deterministic.

mod common;

use common::same_ast;
use nxt_core::{Ending, Event, RenderOptions, Step, Trace, Value, Var};
use nxt_inline::{Layout, strip_trace_comments};
use proptest::prelude::*;

/// Simple-statement templates, one entry per line. The first line and unmarked lines
/// get the current indentation; `+` lines are continuation lines, written with the
/// current indentation plus four spaces; `=` lines are written as they are.
const SIMPLE: &[&[&str]] = &[
    &["x = 1"],
    &["y = 'a # b'  # a comment"],
    &["s = \"it's \\\" # \"; t = '#'"],
    &["x = 1; y = 2"],
    &["z = 1 + \\", "+2"],
    &["f(", "+1,", "+'two',  # c", ")"],
    &["t = \"\"\"line", "=# not a comment", "=  end\"\"\""],
    &["pass"],
    &["x += 1   "],
    &["if x: y = 1"],
    &["if x: \\", "+y = 1"],
    &["k = lambda a: a[1:2]"],
    &["d = {'k': 1, **e}  # {'#': 2}"],
    &["print(f\"{x:>3} # {y!r}\")"],
    &["w = [i for i in r if i]"],
    &["assert x, 'msg #'"],
    &["import os; from a import b as c;"],
    &["u = 'é\u{2028}'  # ünïcode ✓"],
    &["v = (1,", "+2)  # tuple", "=   # more"],
];

/// Blank and comment lines that may come between statements.
const FILLER: &[&str] = &["", "# comment", "   ", "\t# tabbed comment", "#"];

#[derive(Debug, Clone)]
enum Node {
    Simple(usize),
    /// A compound statement of kind `.0` with its bodies (as many as it uses).
    Compound(usize, Vec<Vec<Node>>),
    Filler(usize),
}

fn node() -> impl Strategy<Value = Node> {
    let leaf = prop_oneof![
        4 => (0..SIMPLE.len()).prop_map(Node::Simple),
        1 => (0..FILLER.len()).prop_map(Node::Filler),
    ];
    leaf.prop_recursive(3, 32, 4, |inner| {
        (
            0..9usize,
            prop::collection::vec(prop::collection::vec(inner, 1..4), 1..5),
        )
            .prop_map(|(kind, bodies)| Node::Compound(kind, bodies))
    })
}

#[derive(Debug, Clone)]
struct Program {
    nodes: Vec<Node>,
    indent: &'static str,
    /// Line terminators, used in turn (one entry: a single style).
    newlines: Vec<&'static str>,
    final_newline: bool,
}

fn program() -> impl Strategy<Value = Program> {
    (
        prop::collection::vec(node(), 1..8),
        prop::sample::select(vec!["    ", "  ", "\t"]),
        prop_oneof![
            3 => prop::sample::select(vec!["\n", "\r\n", "\r"]).prop_map(|n| vec![n]),
            1 => prop::collection::vec(prop::sample::select(vec!["\n", "\r\n", "\r"]), 1..5),
        ],
        any::<bool>(),
    )
        .prop_map(|(nodes, indent, newlines, final_newline)| Program {
            nodes,
            indent,
            newlines,
            final_newline,
        })
}

struct Writer<'a> {
    program: &'a Program,
    lines: Vec<String>,
}

impl Writer<'_> {
    fn line(&mut self, depth: usize, text: &str) {
        self.lines
            .push(format!("{}{text}", self.program.indent.repeat(depth)));
    }

    fn raw(&mut self, text: &str) {
        self.lines.push(text.to_owned());
    }

    fn body(&mut self, depth: usize, body: &[Node]) {
        // A body must hold a statement: fillers alone are not enough.
        if body.iter().all(|n| matches!(n, Node::Filler(_))) {
            self.line(depth, "pass");
        }
        for node in body {
            self.node(depth, node);
        }
    }

    fn node(&mut self, depth: usize, node: &Node) {
        match node {
            Node::Filler(i) => self.raw(FILLER[*i]),
            Node::Simple(i) => {
                for (n, part) in SIMPLE[*i].iter().enumerate() {
                    if n == 0 {
                        self.line(depth, part);
                    } else if let Some(rest) = part.strip_prefix('+') {
                        self.line(depth, &format!("    {rest}"));
                    } else if let Some(rest) = part.strip_prefix('=') {
                        self.raw(rest);
                    } else {
                        self.line(depth, part);
                    }
                }
            }
            Node::Compound(kind, bodies) => {
                let b = |i: usize| &bodies[i.min(bodies.len() - 1)];
                let d = depth;
                match kind {
                    0 => {
                        self.line(d, "if a and (b or");
                        self.line(d, "        c):  # test");
                        self.body(d + 1, b(0));
                        if bodies.len() > 2 {
                            self.line(d, "elif d: \\");
                            self.line(d, "        # not a comment? it is one");
                            self.body(d + 1, b(1));
                        }
                        if bodies.len() > 1 {
                            self.line(d, "else:");
                            self.body(d + 1, b(bodies.len() - 1));
                        }
                    }
                    1 => {
                        self.line(d, "for i in range(3):");
                        self.body(d + 1, b(0));
                        if bodies.len() > 1 {
                            self.line(d, "else:  # no break");
                            self.body(d + 1, b(1));
                        }
                    }
                    2 => {
                        self.line(d, "while n < 3: \\");
                        self.line(d, "    ");
                        self.body(d + 1, b(0));
                        if bodies.len() > 1 {
                            self.line(d, "else:");
                            self.body(d + 1, b(1));
                        }
                    }
                    3 => {
                        self.line(d, "try:");
                        self.body(d + 1, b(0));
                        if bodies.len() > 1 {
                            self.line(d, "except (ValueError,");
                            self.line(d, "        KeyError) as e:");
                            self.body(d + 1, b(1));
                            self.line(d, "except Exception:");
                            self.body(d + 1, b(1));
                        }
                        if bodies.len() > 2 {
                            self.line(d, "else:");
                            self.body(d + 1, b(2));
                        }
                        if bodies.len() != 3 {
                            self.line(d, "finally:");
                            self.body(d + 1, b(3));
                        }
                    }
                    4 => {
                        self.line(d, "with open(p) as f, \\");
                        self.line(d, "        open(q) as g:");
                        self.body(d + 1, b(0));
                    }
                    5 => {
                        self.line(d, "match x:");
                        self.line(d + 1, "case 1 | 2:");
                        self.body(d + 2, b(0));
                        self.line(d + 1, "case {'k': [a, *rest]} if rest:");
                        self.body(d + 2, b(1));
                        self.line(d + 1, "case _:");
                        self.body(d + 2, b(2));
                    }
                    6 => {
                        self.line(d, "@dec");
                        self.line(d, "@dec2(1,");
                        self.line(d, "      2)");
                        self.line(d, "def f(a,");
                        self.line(d, "      b: int = 2, *args,");
                        self.line(d, "      c=lambda: 1, **kw) -> dict[str, int]:");
                        self.body(d + 1, b(0));
                    }
                    7 => {
                        self.line(d, "class C(Base, metaclass=M):  # a class");
                        self.body(d + 1, b(0));
                    }
                    _ => {
                        self.line(d, "async def g(x): await x; y = 1");
                        self.line(d, "def h(): return 1");
                        self.line(d, "with a: pass");
                    }
                }
            }
        }
    }
}

impl Program {
    fn source(&self) -> String {
        let mut w = Writer {
            program: self,
            lines: Vec::new(),
        };
        for node in &self.nodes {
            w.node(0, node);
        }
        let mut out = String::new();
        let count = w.lines.len();
        for (i, line) in w.lines.iter().enumerate() {
            out.push_str(line);
            if i + 1 < count || self.final_newline {
                out.push_str(self.newlines[i % self.newlines.len()]);
            }
        }
        out
    }
}

/// Values with spaces, quotes, `#`, line breaks, unicode and trace-like text.
fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => "[a-z0-9 ,\\[\\]]{0,12}".prop_map(Value::Repr),
        2 => any::<String>().prop_map(Value::Repr),
        2 => "['\"# ;()\\\\\n\r\u{b}\u{c}\u{85}\u{2028}é✓0-9]{0,12}".prop_map(Value::Repr),
        1 => Just(Value::repr("'a  # (3) x=1; ...;'")),
        1 => Just(Value::Deleted),
        1 => ("[a-z]{3,8}", "[a-z]{3,8}", 16u64..200)
            .prop_map(|(head, tail, chars)| Value::Clipped { head, tail, chars }),
    ]
}

fn var() -> impl Strategy<Value = Var> {
    (
        prop::sample::select(vec!["x", "lst", "_", "é", "__return__", "__exception__"]),
        value(),
    )
        .prop_map(|(name, value)| Var::new(name, value))
}

fn ending() -> impl Strategy<Value = Ending> {
    prop_oneof![
        3 => Just(Ending::Complete),
        1 => (1u64..100_000).prop_map(|max_steps| Ending::StepLimit { max_steps }),
        1 => prop::sample::select(vec![2.0, 0.5, 1.25, 10.0])
            .prop_map(|seconds| Ending::TimeLimit { seconds }),
        1 => Just(Ending::MemoryLimit),
        1 => Just(Ending::TracerError { message: "x".into() }),
    ]
}

/// Raw steps: which of the program's statement lines (an index, taken modulo their
/// count), the event, the frame and the variables.
type RawStep = (usize, Event, u32, Vec<Var>);

fn raw_steps() -> impl Strategy<Value = Vec<RawStep>> {
    let event = prop::sample::select(vec![
        Event::Call,
        Event::Line,
        Event::Return,
        Event::Yield,
        Event::Exception,
    ]);
    prop::collection::vec(
        (
            any::<usize>(),
            event,
            0u32..4,
            prop::collection::vec(var(), 0..4),
        ),
        0..40,
    )
}

fn options() -> impl Strategy<Value = RenderOptions> {
    (1usize..5, 0usize..4, 5usize..120).prop_map(|(keep_first, keep_last, max_value_chars)| {
        RenderOptions {
            keep_first,
            keep_last,
            max_value_chars,
        }
    })
}

/// A trace of `raw` steps on the statement lines of `layout`.
fn trace(layout: &Layout, raw: Vec<RawStep>, ending: Ending) -> Trace {
    let lines: Vec<u32> = (1..=layout.line_count())
        .filter(|&l| layout.anchor_line(l).is_some())
        .map(|l| l as u32)
        .collect();
    let mut trace = Trace::new("CPython 3.11.7");
    trace.ending = ending;
    if lines.is_empty() {
        return trace;
    }
    trace.steps = raw
        .into_iter()
        .map(|(i, event, frame, vars)| Step {
            line: lines[i % lines.len()],
            event,
            frame,
            vars,
        })
        .collect();
    trace
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        // Failures go to `tests/properties.proptest-regressions`.
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::WithSource("proptest-regressions"),
        )),
        ..ProptestConfig::default()
    })]

    #[test]
    fn renderings_keep_the_program(
        program in program(),
        raw in raw_steps(),
        ending in ending(),
        options in options(),
    ) {
        let source = program.source();
        let layout = Layout::new(&source)
            .unwrap_or_else(|e| panic!("generated program does not parse: {e}\n{source:?}"));
        let trace = trace(&layout, raw, ending);
        let rendering = layout.render(&trace, &options).unwrap();

        // (a) The same syntax tree.
        prop_assert!(same_ast(&source, &rendering.text), "{:?}", rendering.text);
        // (b) Stripping what was appended gives back the original bytes.
        prop_assert_eq!(&rendering.strip(), &source);
        // (c) Rendering is deterministic, also from a fresh layout.
        prop_assert_eq!(&layout.render(&trace, &options).unwrap(), &rendering);
        prop_assert_eq!(
            &Layout::new(&source).unwrap().render(&trace, &options).unwrap().text,
            &rendering.text
        );
        // No line is added but the ending line; every annotated line is an anchor.
        let added = usize::from(rendering.has_ending_line());
        prop_assert_eq!(
            Layout::new(&rendering.text).unwrap().line_count(),
            layout.line_count() + added
        );
        for a in &rendering.annotated {
            prop_assert_eq!(layout.anchor_line(a.line), Some(a.line));
        }
        // The text-only strip agrees, but for the newline added before an ending line.
        let mut expected = source.clone();
        if rendering.has_ending_line() && !source.is_empty() && !source.ends_with(['\n', '\r']) {
            expected.push_str(layout_newline(&source));
        }
        prop_assert_eq!(strip_trace_comments(&rendering.text), expected);
    }

    #[test]
    fn budgets_give_renderings_that_keep_the_program(
        program in program(),
        raw in raw_steps(),
        options in options(),
        slack in 0usize..200,
    ) {
        let source = program.source();
        let layout = Layout::new(&source).unwrap();
        let trace = trace(&layout, raw, Ending::Complete);
        let words = |s: &str| s.split_whitespace().count();
        let budget = words(&source) + slack;
        let (rendering, report) = layout.render_within(&trace, &options, budget, words).unwrap();
        prop_assert!(report.tokens <= budget);
        prop_assert_eq!(report.tokens, words(&rendering.text));
        prop_assert_eq!(&rendering.strip(), &source);
        prop_assert!(same_ast(&source, &rendering.text));
        let again = RenderOptions {
            keep_first: report.keep_first,
            max_value_chars: report.max_value_chars,
            ..options.clone()
        };
        if report.dropped_lines.is_empty() {
            prop_assert_eq!(layout.render(&trace, &again).unwrap(), rendering);
        }
    }
}

/// The first line terminator of `source`, `\n` if it has none.
fn layout_newline(source: &str) -> &'static str {
    match source.find(['\n', '\r']) {
        Some(i) if source[i..].starts_with("\r\n") => "\r\n",
        Some(i) if source[i..].starts_with('\r') => "\r",
        _ => "\n",
    }
}
