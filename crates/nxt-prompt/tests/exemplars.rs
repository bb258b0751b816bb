//! The shipped exemplars stay true: each fixed program passes its tests, each buggy one
//! fails first at the traced test, and each stored trace equals a fresh trace and
//! rendering. `NXT_BLESS=1 cargo test -p nxt-prompt --test exemplars` rewrites the
//! `traced.py` files from fresh traces.

use std::path::Path;

use nxt_core::{
    RenderOptions, Sample, TestStatus, TraceOptions, Tracer, Verdict, Verifier, VerifyOptions,
};
use nxt_prompt::{PromptBuilder, exemplars, parse_response};
use nxt_trace::CPythonTracerBuilder;
use nxt_verify::PythonVerifierBuilder;

#[test]
fn fixed_programs_pass_and_buggy_ones_fail_at_the_traced_test() {
    let verifier = PythonVerifierBuilder::new().workers(2).build().unwrap();
    let prompter = PromptBuilder::new().build().unwrap();
    let options = VerifyOptions::default();
    for ex in exemplars() {
        let task = ex.task();
        let fixed = Sample {
            code: ex.fixed.clone(),
            ..Sample::of_task(&task)
        };
        let result = verifier.verify(&task, &fixed, &options).unwrap();
        assert_eq!(result.status, Verdict::Passed, "{}: {result:?}", ex.dir);

        let result = verifier
            .verify(&task, &Sample::of_task(&task), &options)
            .unwrap();
        assert_ne!(result.status, Verdict::Passed, "{}", ex.dir);
        let chosen = prompter.tests_to_trace(&task, &result).unwrap();
        assert_eq!(
            chosen,
            [(ex.test_index, ex.status)],
            "{}: {result:?}",
            ex.dir
        );
        assert_ne!(ex.status, TestStatus::Passed);
    }
}

#[test]
fn stored_traces_equal_fresh_ones() {
    let tracer = CPythonTracerBuilder::new().build().unwrap();
    let bless = std::env::var_os("NXT_BLESS").is_some();
    let mut stale = Vec::new();
    for ex in exemplars() {
        let program = ex.traced_program();
        let trace = tracer.trace(&program, &TraceOptions::default()).unwrap();
        assert!(trace.is_complete(), "{}", ex.dir);
        let layout = nxt_inline::Layout::new(&program.source).unwrap();
        let fresh = layout
            .render(&trace, &RenderOptions::default())
            .unwrap()
            .text;
        if fresh != ex.traced {
            if bless {
                let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("exemplars")
                    .join(ex.dir)
                    .join("traced.py");
                std::fs::write(&path, &fresh).unwrap();
            }
            stale.push(format!("{}:\n{fresh}", ex.dir));
        }
    }
    assert!(
        stale.is_empty() || bless,
        "stale traced.py (NXT_BLESS=1 rewrites them):\n{}",
        stale.join("\n")
    );
}

#[test]
fn exemplar_answers_parse_back_to_their_fixed_programs() {
    for with_trace in [true, false] {
        let prompter = PromptBuilder::new()
            .format(nxt_prompt::Format::Chat)
            .trace(with_trace)
            .build()
            .unwrap();
        let task: nxt_core::Task = serde_json::from_str(
            r#"{"task_id": "t", "prompt": "p", "code": "x = 1\n", "tests": ["assert x == 1"]}"#,
        )
        .unwrap();
        let prompt = prompter.assemble(&task, &[]).unwrap();
        let messages = prompt.messages().unwrap();
        for (ex, answer) in exemplars().iter().zip(messages[2..].iter().step_by(2)) {
            let parsed = parse_response(&answer.content).unwrap();
            assert_eq!(parsed.code, ex.fixed, "{}", ex.dir);
            let rationale = if with_trace {
                &ex.rationale
            } else {
                &ex.rationale_without_trace
            };
            assert!(
                parsed.rationale.starts_with(rationale.as_str()),
                "{}",
                ex.dir
            );
            assert!(
                parsed
                    .rationale
                    .ends_with("Here is a fixed version of the program:")
            );
        }
    }
}

#[test]
fn rationales_are_written_and_differ_without_trace() {
    for ex in exemplars() {
        assert!(ex.rationale.len() > 200, "{}", ex.dir);
        assert!(ex.rationale_without_trace.len() > 200, "{}", ex.dir);
        // The traced rationale cites step numbers; the other has no trace to cite.
        assert!(ex.rationale.contains("step ("), "{}", ex.dir);
        assert!(!ex.rationale_without_trace.contains("step ("), "{}", ex.dir);
        assert!(!ex.rationale_without_trace.contains("trace"), "{}", ex.dir);
    }
}
