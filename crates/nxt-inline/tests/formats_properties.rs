//! Property tests of the SemCoder-style and LDB-style formats over the fixture
//! programs with generated traces: both are deterministic, the scratchpad shows exactly
//! the steps NExT's format shows with values that read back as JSON, the inline
//! scratchpad keeps the program, and a compressed LDB listing is the full listing's
//! first and last blocks.

mod common;

use common::{fixtures, read, same_ast};
use nxt_core::{Ending, Event, RenderOptions, Step, Trace, Value, Var};
use nxt_inline::Layout;
use nxt_inline::formats::{LdbOptions, Placement, SemcoderOptions, ldb, semcoder};
use proptest::prelude::*;

/// The sources of every fixture program.
fn sources() -> Vec<String> {
    let mut all = Vec::new();
    for dir in ["paper", "inline", "formats"] {
        let mut paths: Vec<_> = std::fs::read_dir(fixtures(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "py"))
            .collect();
        paths.sort();
        all.extend(paths.iter().map(|p| read(p)));
    }
    all
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => "[a-z0-9 ,\\[\\]]{0,12}".prop_map(Value::Repr),
        2 => any::<String>().prop_map(Value::Repr),
        2 => "['\"# ;{}()\\\\\n\r\t\u{0}\u{b}\u{c}\u{85}\u{2028}é✓0-9]{0,12}".prop_map(Value::Repr),
        1 => Just(Value::repr("'[/STATE-1]{\"x\":1}[STATE-2]'")),
        1 => Just(Value::Deleted),
        1 => ("[a-z]{3,8}", "[a-z]{3,8}", 16u64..200)
            .prop_map(|(head, tail, chars)| Value::Clipped { head, tail, chars }),
    ]
}

/// Variables with distinct names (a JSON object has one value per name).
fn vars() -> impl Strategy<Value = Vec<Var>> {
    prop::collection::vec(
        (
            prop::sample::select(vec!["x", "lst", "_", "é", "__return__", "__exception__"]),
            value(),
        ),
        0..4,
    )
    .prop_map(|pairs| {
        let mut vars: Vec<Var> = Vec::new();
        for (name, value) in pairs {
            if !vars.iter().any(|v| v.name == name) {
                vars.push(Var::new(name, value));
            }
        }
        vars
    })
}

fn ending() -> impl Strategy<Value = Ending> {
    prop_oneof![
        3 => Just(Ending::Complete),
        1 => (1u64..100_000).prop_map(|max_steps| Ending::StepLimit { max_steps }),
        1 => Just(Ending::TimeLimit { seconds: 0.5 }),
        1 => Just(Ending::MemoryLimit),
    ]
}

type RawStep = (usize, Event, u32, Vec<Var>);

fn raw_steps() -> impl Strategy<Value = Vec<RawStep>> {
    let event = prop::sample::select(vec![
        Event::Call,
        Event::Line,
        Event::Return,
        Event::Yield,
        Event::Exception,
    ]);
    prop::collection::vec((any::<usize>(), event, 0u32..4, vars()), 0..60)
}

/// A trace of `raw` steps on the statement lines of `layout`.
fn trace(layout: &Layout, raw: Vec<RawStep>, ending: Ending) -> Trace {
    let lines: Vec<u32> = (1..=layout.line_count())
        .filter(|&l| layout.anchor_line(l).is_some())
        .map(|l| l as u32)
        .collect();
    let mut trace = Trace::new("CPython 3.11.7");
    trace.ending = ending;
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

/// Splits at `\n`, `\r\n` and `\r`, as physical lines end.
fn physical(text: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        match rest.find(['\n', '\r']) {
            Some(i) => {
                lines.push(&rest[..i]);
                let skip = if rest[i..].starts_with("\r\n") { 2 } else { 1 };
                rest = &rest[i + skip..];
            }
            None => {
                lines.push(rest);
                rest = "";
            }
        }
    }
    lines
}

/// The JSON object of state `k` in `text`, read from just after `[STATE-k]`, and
/// checked to be followed by `[/STATE-k]`.
fn state(text: &str, k: usize) -> Option<serde_json::Map<String, serde_json::Value>> {
    let open = format!("[STATE-{k}]");
    let at = text.find(&open)? + open.len();
    let mut stream =
        serde_json::Deserializer::from_str(&text[at..]).into_iter::<serde_json::Value>();
    let value = stream.next()?.ok()?;
    let end = at + stream.byte_offset();
    assert!(text[end..].starts_with(&format!("[/STATE-{k}]")));
    value.as_object().cloned()
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 192,
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::WithSource("proptest-regressions"),
        )),
        ..ProptestConfig::default()
    })]

    #[test]
    fn scratchpads_show_nexts_steps_as_json(
        program in any::<prop::sample::Index>(),
        raw in raw_steps(),
        ending in ending(),
        keep_first in 1usize..4,
        keep_last in 0usize..3,
        max_value_chars in 5usize..40,
    ) {
        let sources = sources();
        let source = program.get(&sources);
        let layout = Layout::new(source).unwrap();
        let trace = trace(&layout, raw, ending);
        let render = RenderOptions { keep_first, keep_last, max_value_chars };
        let options = SemcoderOptions::from_render(&render);
        let listing = semcoder::render_layout(&layout, &trace, &options).unwrap();
        let inline_options = SemcoderOptions { placement: Placement::Inline, ..options.clone() };
        let inline = semcoder::render_layout(&layout, &trace, &inline_options).unwrap();
        let next = layout.render(&trace, &render).unwrap();

        // Deterministic, also from a fresh layout.
        prop_assert_eq!(&semcoder::render(source, &trace, &options).unwrap(), &listing);
        prop_assert_eq!(&semcoder::render(source, &trace, &inline_options).unwrap(), &inline);

        // The steps NExT shows, each once, as JSON objects of the truncated values.
        let shown: usize = next.annotated.iter().map(|a| a.shown).sum();
        let mut found = 0;
        for (k, step) in trace.steps.iter().enumerate() {
            let in_listing = state(&listing, k);
            prop_assert_eq!(in_listing.is_some(), state(&inline, k).is_some());
            let Some(object) = in_listing else { continue };
            found += 1;
            let expected: Vec<(String, String)> = step
                .vars
                .iter()
                .map(|v| (v.name.clone(), v.value.truncated(max_value_chars).into_owned()))
                .collect();
            let got: Vec<(String, String)> = object
                .into_iter()
                .map(|(n, v)| (n, v.as_str().unwrap().to_owned()))
                .collect();
            prop_assert_eq!(got, expected);
        }
        prop_assert_eq!(found, shown);
        // Every line of the listing is one line (JSON escapes every line break).
        let entries = physical(&listing).len();
        prop_assert!(entries >= shown);

        // Inline, the program stays: same tree, same lines, states appended.
        prop_assert!(same_ast(source, &inline), "{:?}", inline);
        let (src_lines, out_lines) = (physical(source), physical(&inline));
        prop_assert_eq!(out_lines.len(), src_lines.len() + usize::from(next.has_ending_line()));
        for (src, out) in src_lines.iter().zip(&out_lines) {
            prop_assert!(out.starts_with(src));
            let rest = &out[src.len()..];
            prop_assert!(rest.is_empty() || rest.starts_with("  # [STATE-"), "{:?}", rest);
        }
    }

    #[test]
    fn ldb_listings_are_blocks_of_the_source(
        program in any::<prop::sample::Index>(),
        raw in raw_steps(),
        ending in ending(),
        keep_first_blocks in 1usize..4,
        keep_last_blocks in 0usize..3,
    ) {
        let sources = sources();
        let source = program.get(&sources);
        let layout = Layout::new(source).unwrap();
        let trace = trace(&layout, raw, ending);
        let full_options = LdbOptions { keep_first_blocks: usize::MAX, ..LdbOptions::default() };
        let full = ldb::render_layout(&layout, &trace, &full_options).unwrap();
        prop_assert_eq!(&ldb::render(source, &trace, &full_options).unwrap(), &full);

        // Every line is a header, a values line, the ending line or a source line.
        let src_lines = physical(source);
        let mut blocks = 0;
        let mut values = 0;
        for line in full.split('\n').filter(|l| !l.is_empty()) {
            if line.starts_with("[BLOCK-") {
                prop_assert_eq!(line, format!("[BLOCK-{blocks}]"));
                blocks += 1;
            } else if line.starts_with("# intermediate variable values:") {
                values += 1;
                prop_assert_eq!(values, blocks);
            } else if !line.starts_with("# (trace ") {
                prop_assert!(src_lines.contains(&line), "{:?}", line);
            }
        }
        prop_assert_eq!(values, blocks);
        prop_assert!(blocks <= trace.steps.len());
        prop_assert_eq!(blocks == 0, trace.steps.is_empty());

        // A compressed listing is the full one's first and last blocks.
        let options = LdbOptions { keep_first_blocks, keep_last_blocks, ..LdbOptions::default() };
        let kept = ldb::render_layout(&layout, &trace, &options).unwrap();
        if blocks <= keep_first_blocks + keep_last_blocks {
            prop_assert_eq!(kept, full);
        } else {
            let parts: Vec<&str> = full.split("[BLOCK-").collect();
            let head = format!("{}...\n", parts[..=keep_first_blocks].join("[BLOCK-"));
            prop_assert!(kept.starts_with(&head));
            if keep_last_blocks > 0 {
                let tail =
                    format!("...\n[BLOCK-{}", parts[parts.len() - keep_last_blocks..].join("[BLOCK-"));
                prop_assert!(kept.ends_with(&tail));
            }
            prop_assert_eq!(kept.matches("\n...\n").count(), 1);
        }
    }
}
