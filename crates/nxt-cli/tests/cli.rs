//! The `nxt` binary, run as a user runs it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn nxt() -> Command {
    Command::new(env!("CARGO_BIN_EXE_nxt"))
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

fn run(args: &[&str]) -> Output {
    nxt().args(args).output().expect("nxt runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

fn paper(name: &str) -> String {
    fixtures()
        .join("paper")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

#[test]
fn trace_prints_the_paper_examples() {
    for (args, expected) in [
        (vec![paper("figure2.py")], "figure2.expected.py"),
        (
            vec![paper("figure2.py"), "--keep-first".into(), "3".into()],
            "figure2.keep3.expected.py",
        ),
        (vec![paper("figure1.py")], "figure1.expected.py"),
    ] {
        let mut full = vec!["trace".to_owned()];
        full.extend(args);
        let out = nxt().args(&full).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert_eq!(
            stdout(&out),
            std::fs::read_to_string(paper(expected)).unwrap()
        );
    }
}

#[test]
fn stdin_and_json_round_trip() {
    let source = "def inc(x):\n    return x + 1\n\ny = inc(1)\n";
    let mut child = nxt()
        .args(["trace", "-", "--json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(source.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let json = stdout(&out);
    assert!(json.contains("\"format\": \"nxt-trace\""), "{json}");

    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("inc.py");
    let trace = dir.path().join("inc.json");
    std::fs::write(&src, source).unwrap();
    std::fs::write(&trace, &json).unwrap();
    let rendered = run(&[
        "trace",
        src.to_str().unwrap(),
        "--from-json",
        trace.to_str().unwrap(),
    ]);
    assert_eq!(rendered.status.code(), Some(0), "{}", stderr(&rendered));
    let direct = run(&["trace", src.to_str().unwrap()]);
    assert_eq!(stdout(&rendered), stdout(&direct));
    assert_eq!(
        stdout(&direct),
        "def inc(x):  # (0) x=1;\n    return x + 1  # (1) __return__=2;\n\ny = inc(1)  # (2) y=2;\n"
    );
}

#[test]
fn bad_input_exits_with_2_and_says_where() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.py");
    std::fs::write(&bad, "x = 1\ndef f(:\n    pass\n").unwrap();
    let out = run(&["trace", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("bad.py:2:7: syntax error"),
        "{}",
        stderr(&out)
    );
    assert!(out.stdout.is_empty());

    let json = dir.path().join("t.json");
    std::fs::write(
        &json,
        "{\n  \"format\": \"nxt-trace\",\n  \"version\": 1,\n  oops\n}",
    )
    .unwrap();
    let out = run(&[
        "trace",
        bad.to_str().unwrap(),
        "--from-json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));

    let good = dir.path().join("good.py");
    std::fs::write(&good, "x = 1\n").unwrap();
    let out = run(&[
        "trace",
        good.to_str().unwrap(),
        "--from-json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("t.json: line 4, column 3"),
        "{}",
        stderr(&out)
    );

    let out = run(&["trace", "/nonexistent/prog.py"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("/nonexistent/prog.py"),
        "{}",
        stderr(&out)
    );

    let out = run(&["trace", good.to_str().unwrap(), "--max-value-chars", "3"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_missing_interpreter_names_the_path_and_the_way_out() {
    let out = nxt()
        .args(["trace", &paper("figure1.py")])
        .env("NXT_PYTHON", "/nonexistent/bin/python3")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("/nonexistent/bin/python3"), "{err}");
    assert!(err.contains("--python PATH"), "{err}");
}

#[test]
fn limits_end_the_rendering_with_the_spec_line() {
    let dir = tempfile::tempdir().unwrap();
    let spin = dir.path().join("spin.py");
    std::fs::write(&spin, "while True:\n    pass").unwrap();
    let out = run(&["trace", spin.to_str().unwrap(), "--timeout", "0.25"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "while True:\n    pass\n# (trace ended: time limit of 0.25 s)\n"
    );
    let count = dir.path().join("count.py");
    std::fs::write(&count, "i = 0\nwhile True:\n    i += 1\n").unwrap();
    let out = run(&[
        "trace",
        count.to_str().unwrap(),
        "--max-steps",
        "5",
        "--max-value-chars",
        "5",
    ]);
    assert_eq!(
        stdout(&out),
        "i = 0  # (0) i=0;\nwhile True:\n    i += 1  # (1) i=1; (2) i=2; ...; (4) i=4;\n# (trace truncated after 5 steps)\n"
    );
}

#[test]
fn out_dir_traces_many_and_counts() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = dir.path().join("in");
    std::fs::create_dir(&inputs).unwrap();
    std::fs::write(inputs.join("a.py"), "a = 1\n").unwrap();
    std::fs::write(inputs.join("b.py"), "b = [1]\nb.append(2)\n").unwrap();
    std::fs::write(inputs.join("c.py"), "def (:\n").unwrap();
    let out_dir = dir.path().join("out");
    let files: Vec<String> = ["a", "b", "c"]
        .iter()
        .map(|n| {
            inputs
                .join(format!("{n}.py"))
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    let mut args = vec![
        "trace",
        "--json",
        "--jobs",
        "2",
        "--out-dir",
        out_dir.to_str().unwrap(),
    ];
    args.extend(files.iter().map(String::as_str));
    let out = run(&args);
    assert_eq!(out.status.code(), Some(1), "one program failed");
    assert_eq!(stdout(&out), "2 passed, 1 failed\n");
    assert!(
        stderr(&out).contains("c.py:1:5: syntax error"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read_to_string(out_dir.join("b.py")).unwrap(),
        "b = [1]  # (0) b=[1];\nb.append(2)  # (1) b=[1, 2];\n"
    );
    assert!(out_dir.join("a.json").exists());
    assert!(!out_dir.join("c.py").exists());
    // No temporary files are left behind.
    let mut names: Vec<_> = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["a.json", "a.py", "b.json", "b.py"]);

    // Two inputs that would write the same file are refused before any work.
    let other = dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("a.py"), "z = 1\n").unwrap();
    let out = run(&[
        "trace",
        "--out-dir",
        out_dir.to_str().unwrap(),
        &files[0],
        other.join("a.py").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("would both be written"),
        "{}",
        stderr(&out)
    );
}

fn formats_fixture(name: &str) -> String {
    fixtures()
        .join("formats")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

#[test]
fn format_chooses_the_trace_format() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("inc.py");
    std::fs::write(&src, "def inc(x):\n    return x + 1\n\ny = inc(1)\n").unwrap();
    let src = src.to_str().unwrap();
    let next = run(&["trace", src]);
    assert_eq!(
        stdout(&run(&["trace", src, "--format", "next"])),
        stdout(&next)
    );
    let out = run(&["trace", src, "--format", "semcoder"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "def inc(x):  # [STATE-0]{\"x\":\"1\"}[/STATE-0]\n\
         \x20   return x + 1  # [STATE-1]{\"__return__\":\"2\"}[/STATE-1]\n\
         y = inc(1)  # [STATE-2]{\"y\":\"2\"}[/STATE-2]\n"
    );
    let out = run(&["trace", src, "--format", "ldb"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "[BLOCK-0]\ndef inc(x):\n    return x + 1\n\
         # intermediate variable values: x=1, __return__=2\n\
         [BLOCK-1]\ny = inc(1)\n# intermediate variable values: y=2\n"
    );

    // An unknown format is bad input, and the message names the known ones.
    let out = run(&["trace", src, "--format", "xml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("next, semcoder, ldb"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn format_renders_captured_traces_as_the_library_does() {
    use nxt::Renderer;
    use nxt::inline::formats::Format;

    for (source, trace) in [
        (paper("figure2.py"), paper("figure2.trace.json")),
        (
            formats_fixture("bubble_sort.py"),
            formats_fixture("bubble_sort.trace.json"),
        ),
    ] {
        let program = std::fs::read_to_string(&source).unwrap();
        let captured = nxt::Trace::from_json(&std::fs::read_to_string(&trace).unwrap()).unwrap();
        for format in Format::ALL {
            let out = run(&[
                "trace",
                &source,
                "--from-json",
                &trace,
                "--format",
                format.name(),
                "--max-value-chars",
                "12",
            ]);
            assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
            let options = nxt::RenderOptions {
                max_value_chars: 12,
                ..nxt::RenderOptions::default()
            };
            let expected = format
                .renderer()
                .render(&program, &captured, &options)
                .unwrap();
            assert_eq!(stdout(&out), expected, "{source} {format}");
        }
    }
}

#[test]
fn the_captured_fixtures_are_what_nxt_trace_captures() {
    for name in ["bubble_sort", "recursion_and_errors"] {
        let source = formats_fixture(&format!("{name}.py"));
        let out = run(&["trace", &source, "--json"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let expected =
            std::fs::read_to_string(formats_fixture(&format!("{name}.trace.json"))).unwrap();
        assert_eq!(stdout(&out), expected, "{name}");
        // Rendering while tracing gives what rendering the captured trace gives.
        for format in ["semcoder", "ldb"] {
            let live = run(&["trace", &source, "--format", format]);
            let from_json = run(&[
                "trace",
                &source,
                "--from-json",
                &formats_fixture(&format!("{name}.trace.json")),
                "--format",
                format,
            ]);
            assert_eq!(live.status.code(), Some(0), "{}", stderr(&live));
            assert_eq!(stdout(&live), stdout(&from_json), "{name} {format}");
        }
    }
}

#[test]
fn out_dir_writes_text_files_for_other_formats() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("b.py");
    std::fs::write(&input, "b = [1]\nb.append(2)\n").unwrap();
    let out_dir = dir.path().join("out");
    let out = run(&[
        "trace",
        "--format",
        "ldb",
        "--out-dir",
        out_dir.to_str().unwrap(),
        input.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "1 passed, 0 failed\n");
    assert_eq!(
        std::fs::read_to_string(out_dir.join("b.txt")).unwrap(),
        "[BLOCK-0]\nb = [1]\nb.append(2)\n# intermediate variable values: b=[1, 2]\n"
    );
    assert!(!out_dir.join("b.py").exists());
}
