//! Prompts of the fixture repair tasks (`fixtures/prompt/tasks.jsonl`), traced and
//! verified with CPython: snapshots of every variant, the choice of the traced test,
//! token budgets with the shipped tokenizer, and errors.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use nxt_core::{Task, TestStatus};
use nxt_data::{OnInvalid, read_tasks};
use nxt_prompt::{
    BudgetAction, Format, MESSAGE_OVERHEAD_TOKENS, OnPassing, Prompt, PromptBuilder, PromptError,
    Role, TokenCounter, TraceTests,
};
use nxt_trace::{CPythonTracer, CPythonTracerBuilder};
use nxt_verify::{PythonVerifier, PythonVerifierBuilder};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/prompt")
}

fn tasks() -> Vec<Task> {
    read_tasks(&fixtures().join("tasks.jsonl"), OnInvalid::Fail)
        .unwrap()
        .items
}

fn task(id: &str) -> Task {
    tasks().into_iter().find(|t| t.task_id == id).unwrap()
}

fn tools() -> &'static (CPythonTracer, PythonVerifier) {
    static TOOLS: OnceLock<(CPythonTracer, PythonVerifier)> = OnceLock::new();
    TOOLS.get_or_init(|| {
        (
            CPythonTracerBuilder::new().workers(2).build().unwrap(),
            PythonVerifierBuilder::new().workers(2).build().unwrap(),
        )
    })
}

fn prompt(builder: &PromptBuilder, task: &Task) -> Result<Prompt, PromptError> {
    let (tracer, verifier) = tools();
    builder.build().unwrap().prompt(task, tracer, verifier)
}

/// The shipped tokenizer, named by its path in the repository (snapshots hold no
/// absolute path).
fn tokenizer() -> TokenCounter {
    let file = tokenizers::Tokenizer::from_file(fixtures().join("tokenizer.json")).unwrap();
    TokenCounter::from_tokenizer("fixtures/prompt/tokenizer.json", file).unwrap()
}

/// The prompt's metadata, then its text or its messages.
fn show(prompt: &Prompt) -> String {
    let mut meta = serde_json::to_value(prompt).unwrap();
    let map = meta.as_object_mut().unwrap();
    map.remove("prompt");
    map.remove("messages");
    let mut out = format!("{}\n", serde_json::to_string(&meta).unwrap());
    match (prompt.text(), prompt.messages()) {
        (Some(text), _) => out.push_str(text),
        (_, Some(messages)) => {
            for m in messages {
                out.push_str(&format!("=== {:?} ===\n{}\n", m.role, m.content));
            }
        }
        _ => unreachable!(),
    }
    out
}

#[test]
fn snapshots_of_every_variant() {
    let tasks = tasks();
    let (tracer, verifier) = tools();
    for format in [Format::Text, Format::Chat] {
        for shots in [0, 3] {
            for with_trace in [true, false] {
                let prompter = PromptBuilder::new()
                    .format(format)
                    .shots(shots)
                    .trace(with_trace)
                    .build()
                    .unwrap();
                let prompts = prompter.prompt_all(&tasks, tracer, verifier);
                for (task, prompt) in tasks.iter().zip(prompts) {
                    let prompt = prompt.unwrap();
                    let name = format!(
                        "{}-{}-{shots}shot-{}",
                        task.task_id.trim_start_matches("fixture/"),
                        if format == Format::Text {
                            "text"
                        } else {
                            "chat"
                        },
                        if with_trace { "trace" } else { "notrace" }
                    );
                    insta::assert_snapshot!(name, show(&prompt));
                }
            }
        }
    }
}

#[test]
fn the_first_failing_test_is_traced() {
    let builder = PromptBuilder::new();
    let cases = [
        ("fixture/running-max", 1, TestStatus::Failed),
        ("fixture/count-vowels", 1, TestStatus::Failed),
        ("fixture/parse-pairs", 1, TestStatus::Error),
    ];
    for (id, index, status) in cases {
        let p = prompt(&builder, &task(id)).unwrap();
        assert_eq!(p.traces.len(), 1, "{id}");
        assert_eq!(
            (p.traces[0].test_index, p.traces[0].status),
            (index, status),
            "{id}"
        );
        assert!(p.text().unwrap().contains("on the failing test:\n"), "{id}");
    }
    // The multi-statement test block is traced with the setup before it.
    let p = prompt(&builder, &task("fixture/count-vowels")).unwrap();
    assert!(p.text().unwrap().contains(
        "    return sum(1 for ch in text if ch in \"aeiou\")  # (2) __return__=2; (4) __return__=3;\n\
         \n\
         import string\n\
         words = [\"Umbrella\", \"idea\"]  # (0) words=['Umbrella', 'idea'];\n"
    ));
}

#[test]
fn all_tests_can_be_traced_each_on_its_own() {
    let mut builder = PromptBuilder::new();
    builder.trace_tests(TraceTests::All).shots(0);
    let p = prompt(&builder, &task("fixture/running-max")).unwrap();
    let statuses: Vec<_> = p.traces.iter().map(|t| (t.test_index, t.status)).collect();
    assert_eq!(
        statuses,
        [
            (0, TestStatus::Passed),
            (1, TestStatus::Failed),
            (2, TestStatus::Passed)
        ]
    );
    let text = p.text().unwrap();
    assert!(text.contains("on test 1 (passes):\n"));
    assert!(text.contains("on test 2 (fails):\n"));
    assert!(
        text.contains("assert running_max([]) == []  # (3) __return__=[];\n")
            || text.contains("on test 3 (passes):\n")
    );
    insta::assert_snapshot!("running-max-text-0shot-all-tests", show(&p));
}

#[test]
fn a_passing_program_is_traced_on_its_first_test_or_refused() {
    let mut t = task("fixture/running-max");
    t.code = t.solution.clone().unwrap();
    let p = prompt(PromptBuilder::new().shots(0), &t).unwrap();
    assert_eq!(
        (p.traces[0].test_index, p.traces[0].status),
        (0, TestStatus::Passed)
    );
    assert!(
        p.text()
            .unwrap()
            .contains("on the first test (the program passes it):\n")
    );

    let err = prompt(PromptBuilder::new().on_passing(OnPassing::Fail), &t).unwrap_err();
    assert!(matches!(err, PromptError::Passes { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        "fixture/running-max: the program passes all its tests; there is no failing test to trace"
    );
}

#[test]
fn a_program_that_does_not_compile_is_a_trace_error() {
    let mut t = task("fixture/parse-pairs");
    t.code = "def parse_pairs(text)\n    return {}\n".into();
    let err = prompt(&PromptBuilder::new(), &t).unwrap_err();
    let PromptError::Trace { test_index, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(*test_index, 0);
    assert!(err.to_string().contains("syntax error"), "{err}");
    // Without a trace it still gets a prompt.
    assert!(prompt(PromptBuilder::new().trace(false), &t).is_ok());
}

#[test]
fn the_tokenizer_counts_and_names_the_prompt() {
    let path = fixtures().join("tokenizer.json");
    let counter = TokenCounter::from_file(&path).unwrap();
    let p = prompt(
        PromptBuilder::new().token_counter(counter.clone()),
        &task("fixture/running-max"),
    )
    .unwrap();
    assert_eq!(p.tokens, counter.count(p.text().unwrap()));
    assert_eq!(p.tokenizer, path.display().to_string());
    assert_eq!(
        counter.count(p.text().unwrap()),
        tokenizer().count(p.text().unwrap())
    );

    let err = TokenCounter::from_file(fixtures().join("tasks.jsonl")).unwrap_err();
    assert!(matches!(err, PromptError::Tokenizer { .. }), "{err}");
    assert!(err.to_string().starts_with("tokenizer "), "{err}");

    let p = prompt(
        PromptBuilder::new()
            .token_counter(counter.clone())
            .format(Format::Chat),
        &task("fixture/running-max"),
    )
    .unwrap();
    let messages = p.messages().unwrap();
    let expected: usize = messages
        .iter()
        .map(|m| counter.count(&m.content) + MESSAGE_OVERHEAD_TOKENS)
        .sum();
    assert_eq!(p.tokens, expected);
    assert_eq!(messages.len(), 8);
    assert_eq!(messages[0].role, Role::System);
    assert_eq!(messages[7].role, Role::User);
}

#[test]
fn over_budget_the_ladder_shortens_the_trace_and_says_so() {
    let t = task("fixture/running-max");
    let mut builder = PromptBuilder::new();
    builder.token_counter(tokenizer()).shots(0);
    let full = prompt(&builder, &t).unwrap();
    assert!(full.budget_actions.is_empty());

    // Exactly the budget: untouched.
    let same = prompt(builder.max_prompt_tokens(Some(full.tokens)), &t).unwrap();
    assert_eq!(same.text(), full.text());
    assert!(same.budget_actions.is_empty());

    // A little less: loops are compressed harder first.
    let less = prompt(builder.max_prompt_tokens(Some(full.tokens - 1)), &t).unwrap();
    assert!(less.tokens < full.tokens);
    assert_eq!(less.budget_actions, [BudgetAction::LoweredKeepFirst]);
    assert_eq!(less.traces[0].keep_first, 1);
    insta::assert_snapshot!("running-max-budget-keep-first", show(&less));

    // The smallest prompt (every trace comment dropped) is what the error reports.
    let smallest = match prompt(builder.max_prompt_tokens(Some(0)), &t) {
        Err(PromptError::OverBudget {
            tokens,
            budget: 0,
            traces: 1,
            ..
        }) => tokens,
        other => panic!("{other:?}"),
    };
    let at_smallest = prompt(builder.max_prompt_tokens(Some(smallest)), &t).unwrap();
    assert_eq!(at_smallest.tokens, smallest);
    assert_eq!(at_smallest.traces[0].dropped_lines, [4, 7, 1, 2, 3, 8, 10]);
    let traced = at_smallest
        .text()
        .unwrap()
        .split("failing test:\n")
        .nth(1)
        .unwrap();
    assert!(!traced.contains("  # ("), "{traced}"); // no comment left
    assert!(
        at_smallest
            .text()
            .unwrap()
            .contains("# Here is the execution trace of the program on the failing test:\ndef running_max(nums):\n")
    );

    // Much less: values are cut, then lines dropped.
    let budget = smallest + 60;
    let tight = prompt(builder.max_prompt_tokens(Some(budget)), &t).unwrap();
    assert!(tight.tokens <= budget);
    assert_eq!(
        tight.budget_actions,
        [
            BudgetAction::LoweredKeepFirst,
            BudgetAction::HalvedMaxValueChars,
            BudgetAction::DroppedLines
        ]
    );
    assert!(!tight.traces[0].dropped_lines.is_empty());
    assert_eq!(tight.traces[0].max_value_chars, 20);
    let json = tight.to_json();
    assert!(
        json.contains(
            r#""budget_actions":["lowered_keep_first","halved_max_value_chars","dropped_lines"]"#
        ),
        "{json}"
    );
    insta::assert_snapshot!("running-max-budget-tight", show(&tight));

    // Too little even with every comment dropped: a clear error, not a cut.
    let err = prompt(builder.max_prompt_tokens(Some(smallest - 1)), &t).unwrap_err();
    assert!(
        matches!(err, PromptError::OverBudget { tokens, .. } if tokens == smallest),
        "{err}"
    );
    let err = prompt(builder.max_prompt_tokens(Some(10)), &t).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("fixture/running-max: the prompt has ")
            && err
                .to_string()
                .ends_with(", over the budget of 10, even with every comment of its trace dropped"),
        "{err}"
    );
    // Without a trace there is nothing to shorten.
    let err = prompt(builder.trace(false), &t).unwrap_err();
    assert!(
        err.to_string().ends_with("and has no trace to shorten"),
        "{err}"
    );
}

#[test]
fn with_several_traces_the_first_gets_the_room() {
    let t = task("fixture/running-max");
    let mut builder = PromptBuilder::new();
    builder
        .token_counter(tokenizer())
        .shots(0)
        .trace_tests(TraceTests::All);
    let full = prompt(&builder, &t).unwrap();
    let p = prompt(builder.max_prompt_tokens(Some(full.tokens - 40)), &t).unwrap();
    assert!(p.tokens <= full.tokens - 40);
    // The later traces gave way before the first one did.
    assert!(p.traces[0].budget_actions.len() <= p.traces[1].budget_actions.len());
    assert!(!p.budget_actions.is_empty());
}

#[test]
fn prompt_all_keeps_order_and_isolates_errors() {
    let mut tasks = tasks();
    tasks[1].tests.clear();
    let (tracer, verifier) = tools();
    let prompter = PromptBuilder::new().shots(0).build().unwrap();
    let results = prompter.prompt_all(&tasks, tracer, verifier);
    assert_eq!(results.len(), 3);
    assert_eq!(results[0].as_ref().unwrap().task_id, "fixture/running-max");
    assert!(
        matches!(&results[1], Err(PromptError::NoTests { task_id }) if task_id == "fixture/count-vowels")
    );
    assert_eq!(results[2].as_ref().unwrap().task_id, "fixture/parse-pairs");
}

#[test]
fn templates_from_a_directory_shape_the_prompt() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("problem.j2"),
        "TASK {{ task_id }}: {{ prompt }}\n{% for t in traces %}[{{ t.test_number }} {{ t.status }} {{ t.ending }}]\n{{ t.text }}\n{% endfor %}",
    )
    .unwrap();
    std::fs::write(dir.path().join("text.j2"), "{{ problem }}").unwrap();
    let p = prompt(
        PromptBuilder::new().template_dir(dir.path()).shots(0),
        &task("fixture/parse-pairs"),
    )
    .unwrap();
    let text = p.text().unwrap();
    assert!(
        text.starts_with("TASK fixture/parse-pairs: Write a function"),
        "{text}"
    );
    assert!(
        text.contains("[2 error complete]\ndef parse_pairs(text):  # (0) text='x=10;';\n"),
        "{text}"
    );
}

#[test]
fn prompts_are_json_lines() {
    let p = prompt(PromptBuilder::new().shots(0), &task("fixture/parse-pairs")).unwrap();
    let json = p.to_json();
    assert!(!json.contains('\n'));
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    let keys: Vec<&str> = value
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "task_id",
            "prompt",
            "tokens",
            "tokenizer",
            "budget_actions",
            "traces"
        ]
    );
    assert_eq!(value["traces"][0]["ending"]["kind"], "complete");
    assert_eq!(value["traces"][0]["status"], "error");
    let back: Prompt = serde_json::from_str(&json).unwrap();
    assert_eq!(back, p);

    let p = prompt(
        PromptBuilder::new().shots(1).format(Format::Chat),
        &task("fixture/parse-pairs"),
    )
    .unwrap();
    let value: serde_json::Value = serde_json::from_str(&p.to_json()).unwrap();
    assert_eq!(value["messages"][1]["role"], "user");
    assert_eq!(value["messages"][2]["role"], "assistant");
    assert_eq!(serde_json::from_value::<Prompt>(value).unwrap(), p);
}
