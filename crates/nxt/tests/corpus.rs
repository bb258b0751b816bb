//! Corpus check: every HumanEval canonical solution with its `check(...)` call and every
//! MBPP reference solution with its tests is traced and rendered; each rendering must
//! keep the program's syntax tree, strip back to the original bytes, and come out
//! byte-identical when traced and rendered a second time.
//!
//! Reads `$NXT_DATA_DIR` (default `../shared/data` from the repository root). Without
//! the data the test says so and passes, unless `CI` is set, where missing data fails.

extern crate rustpython_ruff_python_ast as ruff_python_ast;
extern crate rustpython_ruff_python_parser as ruff_python_parser;

use std::path::{Path, PathBuf};

use nxt::inline::Layout;
use nxt::trace::CPythonTracerBuilder;
use nxt::{Program, RenderOptions, TraceOptions, Tracer};
use ruff_python_ast::comparable::ComparableModModule;
use serde_json::Value as Json;

fn data_dir() -> PathBuf {
    match std::env::var_os("NXT_DATA_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"),
    }
}

fn jsonl(path: &Path) -> Vec<Json> {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("{}:{}: {e}", path.display(), i + 1))
        })
        .collect()
}

fn field<'a>(row: &'a Json, name: &str) -> &'a str {
    row[name]
        .as_str()
        .unwrap_or_else(|| panic!("field `{name}` missing in {row}"))
}

fn corpus(dir: &Path) -> Vec<Program> {
    let mut programs = Vec::new();
    for row in jsonl(&dir.join("HumanEval.jsonl")) {
        let source = format!(
            "{}{}\n{}\ncheck({})\n",
            field(&row, "prompt"),
            field(&row, "canonical_solution"),
            field(&row, "test"),
            field(&row, "entry_point")
        );
        programs.push(Program::new(field(&row, "task_id"), source));
    }
    for row in jsonl(&dir.join("mbpp.jsonl")) {
        let tests: Vec<&str> = row["test_list"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap())
            .collect();
        let source = format!(
            "{}\n{}\n{}\n",
            field(&row, "code"),
            field(&row, "test_setup_code"),
            tests.join("\n")
        );
        programs.push(Program::new(format!("mbpp/{}", row["task_id"]), source));
    }
    programs
}

fn same_ast(a: &str, b: &str) -> bool {
    let (Ok(pa), Ok(pb)) = (
        ruff_python_parser::parse_module(a),
        ruff_python_parser::parse_module(b),
    ) else {
        return false;
    };
    ComparableModModule::from(pa.syntax()) == ComparableModModule::from(pb.syntax())
}

#[test]
fn every_benchmark_program_traces_and_renders_faithfully() {
    let dir = data_dir();
    if !dir.join("HumanEval.jsonl").exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI needs the benchmark data at {} (set NXT_DATA_DIR)",
            dir.display()
        );
        eprintln!(
            "corpus check skipped: no data at {} (set NXT_DATA_DIR)",
            dir.display()
        );
        return;
    }
    let programs = corpus(&dir);
    assert_eq!(programs.len(), 164 + 974);

    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let tracer = CPythonTracerBuilder::new()
        .workers(workers)
        .build()
        .unwrap();
    let options = TraceOptions::default();
    let first = tracer.trace_all(&programs, &options);
    let second = tracer.trace_all(&programs, &options);

    let mut failures = Vec::new();
    let mut endings = std::collections::BTreeMap::<String, usize>::new();
    for ((program, a), b) in programs.iter().zip(first).zip(second) {
        let check = || -> Result<(), String> {
            let a = a.map_err(|e| format!("trace: {e}"))?;
            let b = b.map_err(|e| format!("second trace: {e}"))?;
            *endings
                .entry(
                    format!("{:?}", a.ending)
                        .split([' ', '{'])
                        .next()
                        .unwrap()
                        .to_owned(),
                )
                .or_default() += 1;
            let layout = Layout::new(&program.source).map_err(|e| format!("layout: {e}"))?;
            let ra = layout
                .render(&a, &RenderOptions::default())
                .map_err(|e| format!("render: {e}"))?;
            let rb = layout
                .render(&b, &RenderOptions::default())
                .map_err(|e| format!("second render: {e}"))?;
            // A run killed by the wall clock stops at a machine-dependent point; all
            // other traces must be byte-identical.
            let timed = matches!(a.ending, nxt::Ending::TimeLimit { .. })
                || matches!(b.ending, nxt::Ending::TimeLimit { .. });
            if ra.text != rb.text && !timed {
                return Err("the second trace rendered differently".into());
            }
            if ra.strip() != program.source {
                return Err("stripping the comments does not give back the source".into());
            }
            if !same_ast(&program.source, &ra.text) {
                return Err("the rendering parses to another syntax tree".into());
            }
            Ok(())
        };
        if let Err(e) = check() {
            failures.push(format!("{}: {e}", program.name));
        }
    }
    for f in &failures {
        eprintln!("corpus: {f}");
    }
    eprintln!("corpus endings: {endings:?}");
    println!(
        "corpus: {} passed, {} failed",
        programs.len() - failures.len(),
        failures.len()
    );
    assert!(failures.is_empty(), "{} programs failed", failures.len());
}
