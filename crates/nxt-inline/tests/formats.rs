//! The SemCoder-style and LDB-style formats (`docs/trace-formats.md`) over the paper's
//! figures, hand-made traces (`fixtures/inline`) and traces captured by `nxt trace
//! --json` (`fixtures/formats`): one snapshot per program and format, plus what the
//! formats promise beside their text.

mod common;

use common::{fixtures, read, same_ast, visible};
use nxt_core::{RenderOptions, Renderer, Trace};
use nxt_inline::Layout;
use nxt_inline::formats::{
    self, Format, LdbOptions, LdbRenderer, Placement, SemcoderOptions, SemcoderRenderer, ldb,
    semcoder,
};

/// The programs with snapshots: `(directory, name)`.
const SNAPSHOTTED: &[(&str, &str)] = &[
    ("paper", "figure1"),
    ("paper", "figure2"),
    ("inline", "crlf"),
    ("inline", "decorators"),
    ("inline", "multiline_calls"),
    ("inline", "step_limit_no_final_newline"),
    ("inline", "try_except"),
    ("formats", "bubble_sort"),
    ("formats", "recursion_and_errors"),
];

fn load(dir: &str, name: &str) -> (String, Trace) {
    let dir = fixtures(dir);
    let source = read(&dir.join(format!("{name}.py")));
    let trace = Trace::from_json(&read(&dir.join(format!("{name}.trace.json"))))
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    (source, trace)
}

/// Every program of `fixtures/inline`, `fixtures/paper` and `fixtures/formats` that has
/// a trace.
fn all_programs() -> Vec<(String, String)> {
    let mut all = Vec::new();
    for dir in ["paper", "inline", "formats"] {
        let mut names: Vec<String> = std::fs::read_dir(fixtures(dir))
            .unwrap()
            .filter_map(|e| {
                let name = e.unwrap().file_name().into_string().unwrap();
                name.strip_suffix(".trace.json").map(str::to_owned)
            })
            .collect();
        names.sort();
        all.extend(names.into_iter().map(|n| (dir.to_owned(), n)));
    }
    all
}

fn inline_options() -> SemcoderOptions {
    SemcoderOptions {
        placement: Placement::Inline,
        ..SemcoderOptions::default()
    }
}

#[test]
fn formats_render_as_snapshotted() {
    for &(dir, name) in SNAPSHOTTED {
        let (source, trace) = load(dir, name);
        let layout = Layout::new(&source).unwrap();
        let semcoder = semcoder::render_layout(&layout, &trace, &SemcoderOptions::default())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        insta::assert_snapshot!(format!("semcoder__{name}"), visible(&semcoder));
        let ldb = ldb::render_layout(&layout, &trace, &LdbOptions::default())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        insta::assert_snapshot!(format!("ldb__{name}"), visible(&ldb));
        if dir != "inline" {
            let inline = semcoder::render_layout(&layout, &trace, &inline_options()).unwrap();
            insta::assert_snapshot!(format!("semcoder_inline__{name}"), visible(&inline));
        }
    }
}

#[test]
fn figure_2_with_fewer_blocks_and_three_first_states() {
    let (source, trace) = load("paper", "figure2");
    let options = LdbOptions {
        keep_first_blocks: 2,
        keep_last_blocks: 1,
        ..LdbOptions::default()
    };
    insta::assert_snapshot!(
        "ldb__figure2_keep_2_1",
        ldb::render(&source, &trace, &options).unwrap()
    );
    let options = SemcoderOptions {
        keep_first: 3,
        ..SemcoderOptions::default()
    };
    insta::assert_snapshot!(
        "semcoder__figure2_keep3",
        semcoder::render(&source, &trace, &options).unwrap()
    );
}

/// The step numbers `(K)` a NExT rendering writes, in line order.
fn next_steps(text: &str) -> Vec<usize> {
    let mut steps = Vec::new();
    for line in text.split(['\n', '\r']) {
        let Some(at) = line.find("  # (") else {
            continue;
        };
        for part in line[at + 4..].split("; ") {
            if let Some(rest) = part.trim_start().strip_prefix('(')
                && let Some((k, _)) = rest.split_once(')')
                && let Ok(k) = k.parse()
            {
                steps.push(k);
            }
        }
    }
    steps.sort_unstable();
    steps
}

/// The step numbers `[STATE-k]` a SemCoder-style rendering writes, in text order.
fn state_steps(text: &str) -> Vec<usize> {
    text.split("[STATE-")
        .skip(1)
        .filter_map(|s| s.split_once(']').and_then(|(k, _)| k.parse().ok()))
        .collect()
}

#[test]
fn every_fixture_renders_in_every_format_and_keeps_its_promises() {
    let all = all_programs();
    assert!(all.len() >= 17, "{all:?}");
    for (dir, name) in all {
        let (source, trace) = load(&dir, &name);
        let layout = Layout::new(&source).unwrap();
        let next = layout.render(&trace, &RenderOptions::default()).unwrap();

        // The listing shows the steps NExT shows, in execution order.
        let listing =
            semcoder::render_layout(&layout, &trace, &SemcoderOptions::default()).unwrap();
        let listed = state_steps(&listing);
        assert!(listed.windows(2).all(|w| w[0] < w[1]), "{name}: {listed:?}");
        assert_eq!(listed, next_steps(&next.text), "{name}: listing");
        // Every state is valid JSON with string values.
        for line in listing.lines().filter(|l| l.contains("[STATE-")) {
            let json = &line[line.find("]{").unwrap() + 1..line.rfind("}[/STATE-").unwrap() + 1];
            let value: serde_json::Value =
                serde_json::from_str(json).unwrap_or_else(|e| panic!("{name}: {e}: {json}"));
            assert!(
                value
                    .as_object()
                    .unwrap()
                    .values()
                    .all(serde_json::Value::is_string),
                "{name}: {json}"
            );
        }

        // Inline, the states stand where NExT's comments stand, and the program stays.
        let inline = semcoder::render_layout(&layout, &trace, &inline_options()).unwrap();
        assert!(same_ast(&source, &inline), "{name}: AST");
        let mut inline_steps = state_steps(&inline);
        inline_steps.sort_unstable();
        assert_eq!(inline_steps, next_steps(&next.text), "{name}: inline");
        assert_eq!(
            inline.lines().count(),
            next.text.lines().count(),
            "{name}: lines"
        );

        // LDB: every block has a header and a values line; the full listing numbers
        // them 0, 1, 2, ...; the ending line is the same as NExT's.
        let all_blocks = LdbOptions {
            keep_first_blocks: usize::MAX,
            ..LdbOptions::default()
        };
        let full = ldb::render_layout(&layout, &trace, &all_blocks).unwrap();
        let headers: Vec<&str> = full.lines().filter(|l| l.starts_with("[BLOCK-")).collect();
        let values = full
            .lines()
            .filter(|l| l.starts_with("# intermediate variable values:"))
            .count();
        assert_eq!(headers.len(), values, "{name}");
        for (b, header) in headers.iter().enumerate() {
            assert_eq!(*header, format!("[BLOCK-{b}]"), "{name}");
        }
        assert!(headers.len() <= trace.steps.len());
        assert_eq!(headers.is_empty(), trace.steps.is_empty());
        if let Some(range) = &next.ending {
            let ending = next.text[range.clone()].trim_start_matches(['\r', '\n']);
            let ending = ending.trim_end_matches(['\r', '\n']);
            assert!(full.ends_with(&format!("{ending}\n")), "{name}: ending");
            assert!(listing.ends_with(&format!("{ending}\n")), "{name}: ending");
        }
        // The kept blocks are the full listing's first and last ones, word for word.
        let kept = ldb::render_layout(&layout, &trace, &LdbOptions::default()).unwrap();
        if headers.len() <= 10 {
            assert_eq!(kept, full, "{name}");
        } else {
            let blocks: Vec<&str> = full.split("[BLOCK-").collect();
            assert!(kept.starts_with(&blocks[..6].join("[BLOCK-")), "{name}");
            assert!(kept.contains("\n...\n[BLOCK-"), "{name}");
            let tail = blocks[blocks.len() - 5..].join("[BLOCK-");
            assert!(kept.ends_with(&tail), "{name}");
        }

        // Deterministic, also from a fresh layout and through the Renderer trait.
        for format in [Format::Semcoder, Format::Ldb] {
            let a = format
                .render_layout(&layout, &trace, &RenderOptions::default())
                .unwrap();
            let b = format
                .renderer()
                .render(&source, &trace, &RenderOptions::default())
                .unwrap();
            assert_eq!(a, b, "{name}: {format}");
        }
        assert_eq!(
            semcoder::render(&source, &trace, &SemcoderOptions::default()).unwrap(),
            listing
        );
        assert_eq!(
            ldb::render(&source, &trace, &all_blocks).unwrap(),
            full,
            "{name}"
        );
    }
}

#[test]
fn captured_traces_are_canonical() {
    for name in ["bubble_sort", "recursion_and_errors"] {
        let json = read(&fixtures("formats").join(format!("{name}.trace.json")));
        let trace = Trace::from_json(&json).unwrap();
        assert!(trace.interpreter.starts_with("CPython 3.11"), "{name}");
        assert!(trace.is_complete(), "{name}");
        // As `nxt trace --json` prints it: the pretty form and a final newline.
        assert_eq!(format!("{}\n", trace.to_json_pretty()), json, "{name}");
    }
}

#[test]
fn formats_swap_behind_the_renderer_trait() {
    let (source, trace) = load("paper", "figure2");
    let options = RenderOptions::default();
    let renderers: Vec<(Format, Box<dyn Renderer<Error = nxt_inline::InlineError>>)> = vec![
        (Format::Next, Box::new(nxt_inline::Formatter::new())),
        (Format::Semcoder, Box::new(SemcoderRenderer::new())),
        (Format::Ldb, Box::new(LdbRenderer::new())),
    ];
    let layout = Layout::new(&source).unwrap();
    for (format, renderer) in renderers {
        let text = renderer.render(&source, &trace, &options).unwrap();
        assert_eq!(
            text,
            format.render_layout(&layout, &trace, &options).unwrap()
        );
        assert_eq!(
            text,
            format.renderer().render(&source, &trace, &options).unwrap()
        );
    }
    assert_eq!(
        Format::Next
            .render_layout(&layout, &trace, &options)
            .unwrap(),
        read(&fixtures("paper").join("figure2.expected.py"))
    );
    // The module's re-exports are the submodules' types.
    let _: formats::SemcoderOptions = semcoder::SemcoderOptions::default();
}
