//! The worked examples of spec section 7 (the NExT paper's Figures 1 and 2), byte for
//! byte, from hand-written traces in `fixtures/paper`.

mod common;

use common::{fixtures, read, same_ast};
use nxt_core::{RenderOptions, Renderer, Trace};
use nxt_inline::{Formatter, Layout, strip_trace_comments};

fn load(name: &str) -> (String, Trace) {
    let dir = fixtures("paper");
    let source = read(&dir.join(format!("{name}.py")));
    let json = read(&dir.join(format!("{name}.trace.json")));
    let raw: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(raw["format"], "nxt-trace");
    assert_eq!(raw["version"], 1);
    assert_eq!(raw["interpreter"], "CPython 3.11.7");
    let trace = Trace::from_json(&json).expect("the trace reads");
    // The fixture is in the canonical pretty form, plus a final newline.
    assert_eq!(
        format!("{}\n", trace.to_json_pretty()),
        json,
        "{name}.trace.json"
    );
    (source, trace)
}

fn check(name: &str, expected: &str, options: &RenderOptions) {
    let (source, trace) = load(name);
    let expected = read(&fixtures("paper").join(expected));
    let text = Formatter::new().render(&source, &trace, options).unwrap();
    assert_eq!(text, expected);
    let rendering = Layout::new(&source)
        .unwrap()
        .render(&trace, options)
        .unwrap();
    assert_eq!(rendering.text, expected);
    assert_eq!(rendering.strip(), source);
    assert_eq!(strip_trace_comments(&expected), source);
    assert!(same_ast(&source, &expected));
}

#[test]
fn figure_2() {
    check("figure2", "figure2.expected.py", &RenderOptions::default());
}

#[test]
fn figure_2_keeping_three_first_steps() {
    let options = RenderOptions {
        keep_first: 3,
        ..RenderOptions::default()
    };
    check("figure2", "figure2.keep3.expected.py", &options);
}

#[test]
fn figure_1() {
    check("figure1", "figure1.expected.py", &RenderOptions::default());
}

#[test]
fn the_sources_are_the_expected_outputs_without_comments() {
    let (source, trace) = load("figure2");
    assert!(source.ends_with("[2,4,6,8,10]\n"));
    assert_eq!(trace.steps.len(), 24);
    assert_eq!(trace.steps[0].line, 1);
    assert_eq!(trace.steps[23].line, 9);
    let (source, trace) = load("figure1");
    assert!(source.starts_with("def extract_values(string):\n  str_list"));
    assert_eq!(trace.exception.as_deref(), Some("AssertionError()"));
}
