//! Trace capture through the public API, end to end with the formatter.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use nxt_core::{Ending, Event, Program, RenderOptions, Trace, TraceOptions, Tracer};
use nxt_inline::Layout;
use nxt_trace::{CPythonTracer, CPythonTracerBuilder, TraceError};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

/// One pool of two workers shared by every test in this file.
fn tracer() -> &'static CPythonTracer {
    static TRACER: OnceLock<CPythonTracer> = OnceLock::new();
    TRACER.get_or_init(|| {
        CPythonTracerBuilder::new()
            .workers(2)
            .build()
            .expect("python3 is on PATH")
    })
}

fn program(path: &Path) -> Program {
    let source = std::fs::read_to_string(path).unwrap();
    Program::new(path.file_name().unwrap().to_string_lossy(), source)
}

fn trace_source(source: &str, options: &TraceOptions) -> Trace {
    tracer()
        .trace(&Program::new("t.py", source), options)
        .expect("a trace")
}

fn render(source: &str, trace: &Trace, options: &RenderOptions) -> String {
    let rendering = Layout::new(source).unwrap().render(trace, options).unwrap();
    assert_eq!(rendering.strip(), source, "stripping gives back the source");
    rendering.text
}

#[test]
fn paper_figures_come_out_byte_for_byte() {
    let dir = fixtures().join("paper");
    for (name, keep_first, expected) in [
        ("figure2", 2, "figure2.expected.py"),
        ("figure2", 3, "figure2.keep3.expected.py"),
        ("figure1", 2, "figure1.expected.py"),
    ] {
        let program = program(&dir.join(format!("{name}.py")));
        let trace = tracer().trace(&program, &TraceOptions::default()).unwrap();
        // The captured steps are exactly the reference trace's.
        let reference = Trace::from_json(
            &std::fs::read_to_string(dir.join(format!("{name}.trace.json"))).unwrap(),
        )
        .unwrap();
        assert_eq!(trace.steps, reference.steps, "{name}");
        assert_eq!(trace.ending, Ending::Complete);
        let options = RenderOptions {
            keep_first,
            ..RenderOptions::default()
        };
        let text = render(&program.source, &trace, &options);
        let want = std::fs::read_to_string(dir.join(expected)).unwrap();
        assert_eq!(text, want, "{expected}");
    }
}

#[test]
fn fixture_programs_render_as_snapshotted() {
    let dir = fixtures().join("programs");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "py"))
        .collect();
    paths.sort();
    assert!(
        paths.len() >= 10,
        "fixtures/programs holds the semantic fixtures"
    );
    let programs: Vec<Program> = paths.iter().map(|p| program(p)).collect();
    let options = TraceOptions {
        timeout: 5.0,
        memory_limit: Some(1 << 30),
        ..TraceOptions::default()
    };
    let traces = tracer().trace_all(&programs, &options);
    for (program, trace) in programs.iter().zip(traces) {
        let trace = trace.unwrap();
        let text = render(&program.source, &trace, &RenderOptions::default());
        let name = program.name.trim_end_matches(".py").to_owned();
        insta::assert_snapshot!(name, text);
    }
}

#[test]
fn an_endless_loop_ends_at_the_time_limit() {
    let source = "def spin():\n    while True:\n        pass\n\nspin()\n";
    let trace = trace_source(
        source,
        &TraceOptions {
            timeout: 0.3,
            ..TraceOptions::default()
        },
    );
    assert_eq!(trace.ending, Ending::TimeLimit { seconds: 0.3 });
    // The entry step was streamed before the kill.
    assert_eq!(
        trace.steps.len(),
        0,
        "spin() has no arguments and binds nothing"
    );
    let text = render(source, &trace, &RenderOptions::default());
    assert!(
        text.ends_with("spin()\n# (trace ended: time limit of 0.3 s)\n"),
        "{text}"
    );

    // Steps recorded before the kill are kept.
    let source = "i = 0\nwhile True:\n    i += 1\n    if i == 5:\n        sum(range(10**12))\n";
    let trace = trace_source(
        source,
        &TraceOptions {
            timeout: 0.3,
            ..TraceOptions::default()
        },
    );
    assert_eq!(trace.ending, Ending::TimeLimit { seconds: 0.3 });
    assert_eq!(trace.steps.len(), 6, "{:?}", trace.steps);
}

#[test]
fn the_step_limit_truncates_only_when_another_step_would_come() {
    let source = "a = 1\nb = 2\nc = 3\n";
    let exactly = trace_source(
        source,
        &TraceOptions {
            max_steps: 3,
            ..TraceOptions::default()
        },
    );
    assert_eq!(exactly.ending, Ending::Complete);
    assert_eq!(exactly.steps.len(), 3);
    let fewer = trace_source(
        source,
        &TraceOptions {
            max_steps: 2,
            ..TraceOptions::default()
        },
    );
    assert_eq!(fewer.ending, Ending::StepLimit { max_steps: 2 });
    assert_eq!(fewer.steps.len(), 2);
    assert!(
        render(source, &fewer, &RenderOptions::default())
            .ends_with("c = 3\n# (trace truncated after 2 steps)\n")
    );
}

#[test]
fn memory_and_recursion_endings() {
    let memory = trace_source(
        "x = [0] * 10**11\n",
        &TraceOptions {
            memory_limit: Some(1 << 30),
            ..TraceOptions::default()
        },
    );
    assert_eq!(memory.ending, Ending::MemoryLimit);
    assert_eq!(memory.exception.as_deref(), Some("MemoryError()"));

    // A MemoryError the program handles is an ordinary exception.
    let handled = trace_source(
        "try:\n    x = [0] * 10**11\nexcept MemoryError:\n    ok = True\n",
        &TraceOptions {
            memory_limit: Some(1 << 30),
            ..TraceOptions::default()
        },
    );
    assert_eq!(handled.ending, Ending::Complete);
    assert_eq!(handled.steps[0].vars[0].value.to_string(), "MemoryError()");

    let runaway = trace_source(
        "def f(n):\n    return f(n + 1)\n\nf(0)\n",
        &TraceOptions::default(),
    );
    assert!(
        matches!(runaway.ending, Ending::TracerError { .. }),
        "{:?}",
        runaway.ending
    );
    // The program still met its own RecursionError, as it would untraced.
    assert!(
        runaway
            .exception
            .as_deref()
            .unwrap()
            .starts_with("RecursionError(")
    );
}

#[test]
fn syntax_errors_name_the_line_and_column() {
    // ruff accepts this; CPython rejects it when compiling.
    let err = tracer()
        .trace(
            &Program::new("bad.py", "x = 1\nreturn x\n"),
            &TraceOptions::default(),
        )
        .unwrap_err();
    match err {
        TraceError::Syntax {
            name,
            line,
            column,
            message,
        } => {
            assert_eq!((name.as_str(), line, column), ("bad.py", 2, 1));
            assert!(message.contains("outside function"), "{message}");
        }
        other => panic!("{other}"),
    }
}

#[test]
fn a_missing_interpreter_says_what_was_tried() {
    let err = CPythonTracerBuilder::new()
        .python("/nonexistent/python3")
        .build()
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("/nonexistent/python3"), "{text}");
    assert!(
        text.contains("--python") && text.contains("NXT_PYTHON"),
        "{text}"
    );
}

#[test]
fn tracing_is_deterministic() {
    let source = "s = {'pear', 'apple', 'fig', 'kiwi'}\nd = {w: hash(w) % 7 for w in s}\nclass C: pass\nobjs = [C(), C()]\nf = lambda: 0\nlabel = repr(f)\n";
    let a = trace_source(source, &TraceOptions::default());
    let b = trace_source(source, &TraceOptions::default());
    assert_eq!(a.to_json(), b.to_json());
    // No memory address reaches the trace.
    assert!(!a.to_json().contains("0x"), "{}", a.to_json());
}

#[test]
fn values_are_rendered_as_the_spec_says() {
    let source = "class Bad:\n    def __repr__(self):\n        raise ValueError\n\nclass Lines:\n    def __repr__(self):\n        return 'a\\nb\\x00c'\n\nb = Bad()\nl = Lines()\nimport math\nfn = len\nz = 1\ndel z\n";
    let trace = trace_source(source, &TraceOptions::default());
    let vars: Vec<(String, String)> = trace
        .steps
        .iter()
        .flat_map(|s| s.vars.iter().map(|v| (v.name.clone(), v.value.to_string())))
        .collect();
    assert_eq!(
        vars,
        [
            ("b".into(), "<unrepresentable Bad>".into()),
            ("l".into(), "a\\nb\\x00c".into()),
            ("z".into(), "1".into()),
            ("z".into(), "<deleted>".into()),
        ]
    );
    assert!(trace.steps.iter().all(|s| s.event == Event::Line));
}

#[test]
fn long_values_are_clipped_but_truncate_exactly() {
    let source = "x = 'ab' * 10000\n";
    let trace = trace_source(
        source,
        &TraceOptions {
            value_capture_chars: 1000,
            ..TraceOptions::default()
        },
    );
    let value = &trace.steps[0].vars[0].value;
    assert_eq!(value.chars(), 20002);
    let whole = nxt_core::Value::repr(format!("'{}'", "ab".repeat(10000)));
    for max in [5, 100, 1000] {
        assert_eq!(value.truncated(max), whole.truncated(max));
    }
}

#[test]
fn many_programs_keep_their_order() {
    let programs: Vec<Program> = (0..20)
        .map(|i| Program::new(format!("p{i}.py"), format!("x = {i}\n")))
        .collect();
    let traces = tracer().trace_all(&programs, &TraceOptions::default());
    for (i, t) in traces.into_iter().enumerate() {
        assert_eq!(t.unwrap().steps[0].vars[0].value.to_string(), i.to_string());
    }
}

#[test]
fn tracing_does_not_change_what_the_program_does() {
    use nxt_sandbox::{Job, PoolBuilder};
    // The program prints, measures how deep it can recurse, reads its recursion limit
    // and hash order, and fails with an exception.
    let source = r#"import sys
def depth(n):
    try:
        return depth(n + 1)
    except RecursionError:
        return n
print("limit", sys.getrecursionlimit())
print("depth", depth(0))
print("order", list({"pear", "apple", "fig"}))
for i in range(3):
    print(i, end=" ")
raise KeyError("boom")
"#;
    let payload = serde_json::json!({"source": source, "filename": "p.py"}).to_string();
    let run = |harness: &str| {
        let pool = PoolBuilder::new(harness)
            .env("PYTHONHASHSEED", "0")
            .build()
            .unwrap();
        pool.run(&Job::new(payload.as_bytes())).unwrap()
    };
    let plain = run(
        "import json\ndef main(payload):\n    exec(compile(json.loads(payload)['source'], 'p.py', 'exec'), {'__name__': '__main__'})\n",
    );
    let traced = run(nxt_trace::TRACER_SOURCE);
    assert_eq!(traced.stdout.text(), plain.stdout.text());
    assert!(
        plain.stdout.text().contains("depth 9"),
        "{}",
        plain.stdout.text()
    );
    assert_eq!(traced.status, plain.status);
    assert!(
        traced.stderr.text().ends_with("KeyError: 'boom'\n"),
        "{}",
        traced.stderr.text()
    );
}

#[test]
fn changes_inside_large_containers_are_never_missed() {
    // Containers of 16+ immutable items take a fast path (same object, same items by
    // identity = same rendering); every kind of change must still be seen.
    let source = r#"xs = list(range(20))
xs[3] = 3.0
xs[4] = True
xs[5] = 5
xs.append(20)
xs.sort(reverse=True)
d = {i: i for i in range(20)}
d[1] = 1.0
d[2] = 2
del d[0]; d[0] = 0
s = set(range(20))
s.add(100)
s.discard(100)
t = [(i, i) for i in range(20)]
t[0] = (0, 0)
t[1] = (1, 1.0)
nested = [[0]] * 20
nested[0].append(1)
tup = tuple(range(20))
tup = tuple(range(20))
"#;
    let trace = trace_source(source, &TraceOptions::default());
    let changed: Vec<(u32, String)> = trace
        .steps
        .iter()
        .flat_map(|s| s.vars.iter().map(move |v| (s.line, v.name.clone())))
        .collect();
    let expected: Vec<(u32, String)> = [
        (1, "xs"),
        (2, "xs"),
        (3, "xs"),
        (5, "xs"),
        (6, "xs"),
        (7, "d"),
        (8, "d"),
        (10, "d"),
        (11, "s"),
        (12, "s"),
        (13, "s"),
        (14, "t"),
        (16, "t"),
        (17, "nested"),
        (18, "nested"),
        (19, "tup"),
    ]
    .iter()
    .map(|(l, n)| (*l, (*n).to_owned()))
    .collect();
    assert_eq!(changed, expected);
    let last_xs = &trace.steps[4].vars[0].value.to_string();
    assert_eq!(
        last_xs,
        "[20, 19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 3.0, 2, 1, True, 0]"
    );
}
