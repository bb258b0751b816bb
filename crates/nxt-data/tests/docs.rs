//! The example lines of `docs/tasks-jsonl.md` (its ```json task / sample / result
//! blocks) are read by the matching reader.

use std::path::Path;

use nxt_data::{OnInvalid, read_results, read_samples, read_tasks, write_jsonl};

#[test]
fn the_documented_examples_read_and_write_back_byte_for_byte() {
    let doc = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/tasks-jsonl.md");
    let text = std::fs::read_to_string(&doc).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut seen = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let Some(kind) = line.strip_prefix("```json ") else {
            continue;
        };
        let body: Vec<&str> = lines.by_ref().take_while(|l| *l != "```").collect();
        assert_eq!(body.len(), 1, "one example line per block");
        let input = dir.path().join(format!("{kind}.jsonl"));
        let output = dir.path().join(format!("{kind}.out.jsonl"));
        std::fs::write(&input, format!("{}\n", body[0])).unwrap();
        match kind {
            "task" => {
                let items = read_tasks(&input, OnInvalid::Fail).unwrap().items;
                write_jsonl(&output, &items).unwrap();
            }
            "sample" => {
                let items = read_samples(&input, OnInvalid::Fail).unwrap().items;
                write_jsonl(&output, &items).unwrap();
            }
            "result" => {
                let items = read_results(&input).unwrap().items;
                write_jsonl(&output, &items).unwrap();
            }
            other => panic!("unknown example kind {other:?}"),
        }
        // The examples are written as nxt writes them.
        assert_eq!(
            std::fs::read_to_string(&output).unwrap(),
            std::fs::read_to_string(&input).unwrap(),
            "{kind}"
        );
        seen.push(kind.to_owned());
    }
    assert_eq!(seen, ["task", "sample", "result"]);
}
