//! Tricky programs with hand-made traces (`fixtures/inline/*.py` and their
//! `*.trace.json`): one snapshot per fixture, plus the invariants of spec section 5.

mod common;

use common::{fixtures, read, same_ast, visible};
use nxt_core::{RenderOptions, Trace};
use nxt_inline::{Layout, strip_trace_comments};

fn names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(fixtures("inline"))
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(".py").map(str::to_owned)
        })
        .collect();
    names.sort();
    names
}

#[test]
fn fixtures_render_as_snapshotted() {
    let names = names();
    assert!(names.len() >= 12, "{names:?}");
    for name in names {
        let dir = fixtures("inline");
        let source = read(&dir.join(format!("{name}.py")));
        let trace = Trace::from_json(&read(&dir.join(format!("{name}.trace.json"))))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let layout = Layout::new(&source).unwrap_or_else(|e| panic!("{name}: {e}"));
        let rendering = layout
            .render(&trace, &RenderOptions::default())
            .unwrap_or_else(|e| panic!("{name}: {e}"));

        assert_eq!(rendering.strip(), source, "{name}: strip");
        assert!(same_ast(&source, &rendering.text), "{name}: AST");
        assert_eq!(
            layout.render(&trace, &RenderOptions::default()).unwrap(),
            rendering,
            "{name}: twice"
        );
        // The text-only strip keeps the newline added before an ending line.
        let mut expected = source.clone();
        if rendering.has_ending_line() && !source.ends_with(['\n', '\r']) {
            expected.push_str(if source.contains("\r\n") {
                "\r\n"
            } else {
                "\n"
            });
        }
        assert_eq!(
            strip_trace_comments(&rendering.text),
            expected,
            "{name}: text strip"
        );

        insta::assert_snapshot!(name.clone(), visible(&rendering.text));
    }
}
