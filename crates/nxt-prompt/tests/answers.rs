//! The response parser on a corpus of messy answers (`fixtures/prompt/answers/`): each
//! `NAME.txt` is an answer; `expected.json` says what parsing it gives, and `NAME.py`
//! holds the expected code when it succeeds.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use nxt_prompt::{CodeSource, ParseError, parse_response};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(tag = "result", rename_all = "snake_case", deny_unknown_fields)]
enum Expected {
    Ok {
        source: CodeSource,
        rationale_start: String,
        rationale_end: String,
    },
    NoCode,
    CodeDoesNotParse {
        line: usize,
        column: usize,
    },
}

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/prompt/answers")
}

#[test]
fn the_corpus_parses_as_expected() {
    let expected: BTreeMap<String, Expected> =
        serde_json::from_str(&std::fs::read_to_string(dir().join("expected.json")).unwrap())
            .unwrap();
    let mut answers: Vec<String> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter_map(|n| n.strip_suffix(".txt").map(str::to_owned))
        .collect();
    answers.sort();
    assert_eq!(
        answers,
        expected.keys().cloned().collect::<Vec<_>>(),
        "every answer has an expectation"
    );
    assert!(answers.len() >= 15);

    for (name, want) in &expected {
        let answer = std::fs::read_to_string(dir().join(format!("{name}.txt"))).unwrap();
        let got = parse_response(&answer);
        match want {
            Expected::Ok {
                source,
                rationale_start,
                rationale_end,
            } => {
                let parsed = got.unwrap_or_else(|e| panic!("{name}: {e}"));
                let code = std::fs::read_to_string(dir().join(format!("{name}.py"))).unwrap();
                assert_eq!(parsed.code, code, "{name}");
                assert_eq!(parsed.source, *source, "{name}");
                assert!(
                    parsed.rationale.starts_with(rationale_start.as_str()),
                    "{name}: {:?}",
                    parsed.rationale
                );
                assert!(
                    parsed.rationale.ends_with(rationale_end.as_str()),
                    "{name}: {:?}",
                    parsed.rationale
                );
                assert!(!parsed.rationale.contains('\r'), "{name}");
                assert!(
                    !parsed.rationale.contains(code.trim()),
                    "{name}: the fix is not rationale"
                );
            }
            Expected::NoCode => assert_eq!(got, Err(ParseError::NoCode), "{name}"),
            Expected::CodeDoesNotParse { line, column } => match got {
                Err(ParseError::CodeDoesNotParse {
                    line: l,
                    column: c,
                    ref message,
                    ref code,
                }) => {
                    assert_eq!((l, c), (*line, *column), "{name}: {message}");
                    assert!(!message.is_empty());
                    assert!(code.starts_with("def parse_pairs(text)"), "{name}");
                }
                other => panic!("{name}: {other:?}"),
            },
        }
    }
}

#[test]
fn errors_read_well() {
    assert_eq!(ParseError::NoCode.to_string(), "the answer holds no code");
    let err = parse_response("```python\nx = (\n```").unwrap_err();
    assert!(
        err.to_string()
            .starts_with("the code does not parse: line "),
        "{err}"
    );
}

#[test]
fn an_empty_answer_has_no_code() {
    for answer in ["", "\n\n", "```\n```", "```python\n\n```\n", "\u{feff}"] {
        assert_eq!(
            parse_response(answer),
            Err(ParseError::NoCode),
            "{answer:?}"
        );
    }
}
