//! The run store: schema, planning, filling, verdicts, exports, isolation.

use std::path::{Path, PathBuf};

use nxt_core::{CheckResult, Completion, SampleRequest, Sampler, Task, Verdict};
use nxt_selftrain::{ReplaySampler, Slot, SlotAnswer, Split, Store, prompt_hash};
use serde_json::json;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/selftrain")
        .join(name)
}

fn tasks() -> Vec<Task> {
    std::fs::read_to_string(fixture("tasks.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn request(task: &Task, n: u32) -> SampleRequest {
    let mut r = SampleRequest::text(&task.task_id, format!("# {}\n{}", task.prompt, task.code));
    r.n = n;
    r.temperature = Some(0.8);
    r
}

/// A store with the fixture's tasks (train: the first two; dev: the last) and
/// iteration 0.
fn new_store(dir: &Path) -> Store {
    let mut store = Store::create(dir.join("run.db"), &json!({"model": "m", "n": 3})).unwrap();
    let tasks = tasks();
    assert_eq!(store.add_tasks(Split::Train, &tasks[..2]).unwrap(), 2);
    assert_eq!(store.add_tasks(Split::Dev, &tasks[2..]).unwrap(), 1);
    assert_eq!(store.begin_iteration(Some("ckpt-0")).unwrap(), 0);
    store
}

#[test]
fn a_run_keeps_its_config_tasks_and_iterations() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = new_store(dir.path());
    let run_id = store.run_id().to_owned();
    assert_eq!(run_id.len(), 32);
    // Adding the same tasks again adds nothing; moving one to another set is refused.
    let tasks = tasks();
    assert_eq!(store.add_tasks(Split::Train, &tasks[..2]).unwrap(), 0);
    let err = store.add_tasks(Split::Dev, &tasks[..1]).unwrap_err();
    assert!(
        err.to_string()
            .contains("\"demo/add\" is already in the train set"),
        "{err}"
    );
    store.finish_iteration(0).unwrap();
    assert_eq!(store.begin_iteration(None).unwrap(), 1);
    drop(store);

    let store = Store::open(dir.path().join("run.db")).unwrap();
    assert_eq!(store.run_id(), run_id);
    assert_eq!(store.config().unwrap(), json!({"model": "m", "n": 3}));
    assert_eq!(store.tasks(Split::Train).unwrap(), tasks[..2]);
    assert_eq!(store.tasks(Split::Dev).unwrap(), tasks[2..]);
    let its = store.iterations().unwrap();
    assert_eq!(its.len(), 2);
    assert_eq!(its[0].checkpoint.as_deref(), Some("ckpt-0"));
    assert!(its[0].finished_at.is_some());
    assert!(its[1].finished_at.is_none());
}

#[test]
fn two_runs_never_share_a_store() {
    let dir = tempfile::tempdir().unwrap();
    let a = new_store(dir.path());
    let err = Store::create(dir.path().join("run.db"), &json!({})).unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
    let b = Store::create(dir.path().join("other.db"), &json!({})).unwrap();
    assert_ne!(a.run_id(), b.run_id());
    assert!(b.tasks(Split::Train).unwrap().is_empty());

    std::fs::write(
        dir.path().join("junk.db"),
        "not sqlite at all, just text....",
    )
    .unwrap();
    assert!(Store::open(dir.path().join("junk.db")).is_err());
    assert!(Store::open(dir.path().join("missing.db")).is_err());
}

#[test]
fn planning_is_idempotent_and_pending_slots_come_back_as_requests() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = new_store(dir.path());
    let tasks = tasks();
    let slots = store
        .plan(0, &request(&tasks[0], 3), "m", Some("ckpt-0"))
        .unwrap();
    let indexes: Vec<u32> = slots.iter().map(|s| s.index).collect();
    assert_eq!(indexes, [0, 1, 2]);
    // Again: nothing new.
    assert_eq!(
        store
            .plan(0, &request(&tasks[0], 3), "m", Some("ckpt-0"))
            .unwrap(),
        slots
    );
    // Another prompt for the same task continues the indexes.
    let mut other = request(&tasks[0], 2);
    other.temperature = Some(0.2);
    let more = store.plan(0, &other, "m", Some("ckpt-0")).unwrap();
    assert_eq!(more.iter().map(|s| s.index).collect::<Vec<_>>(), [3, 4]);
    store.plan(0, &request(&tasks[1], 1), "m", None).unwrap();
    assert_eq!(store.progress(0).unwrap(), (6, 0));

    let pending = store.pending(0).unwrap();
    assert_eq!(pending.len(), 3);
    assert_eq!(pending[0].request, request(&tasks[0], 3));
    assert_eq!(pending[0].slots, slots);
    assert_eq!(pending[0].checkpoint.as_deref(), Some("ckpt-0"));
    assert_eq!(pending[1].request, other);
    assert_eq!(pending[2].request.task_id, "demo/max");
    assert_eq!(pending[2].checkpoint, None);
    // By pages of tasks: the same requests, in order.
    let first = store.pending_page(0, None, 1).unwrap();
    assert_eq!(first, pending[..2]);
    let second = store
        .pending_page(0, Some(&first[1].request.task_id), 1)
        .unwrap();
    assert_eq!(second, pending[2..]);
    assert!(
        store
            .pending_page(0, Some(&second[0].request.task_id), 1)
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.pending_page(0, None, 5).unwrap(), pending);

    // Unknown tasks and iterations are refused.
    let mut stranger = request(&tasks[0], 1);
    stranger.task_id = "nope".into();
    assert!(store.plan(0, &stranger, "m", None).is_err());
    assert!(store.plan(9, &request(&tasks[0], 1), "m", None).is_err());

    let prompt = store.prompt(&prompt_hash(&other.input)).unwrap();
    assert_eq!(prompt, Some(other.input.clone()));
}

#[test]
fn filling_is_all_or_nothing_and_never_twice() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = new_store(dir.path());
    let tasks = tasks();
    let sampler = ReplaySampler::open(fixture("answers.jsonl")).unwrap();
    store.plan(0, &request(&tasks[0], 2), "m", None).unwrap();
    store.plan(0, &request(&tasks[2], 3), "m", None).unwrap();

    let pending = store.pending(0).unwrap();
    let first = &pending[0];
    let answers: Vec<SlotAnswer> = sampler
        .sample(&first.request)
        .unwrap()
        .into_iter()
        .map(|c| {
            let mut a = SlotAnswer::unparsed(c);
            a.code = Some("def add(a, b):\n    return a + b\n".into());
            a.rationale = Some("r".into());
            a
        })
        .collect();
    store.fill(&first.slots, &answers).unwrap();
    assert_eq!(store.progress(0).unwrap(), (5, 2));

    // Filling again is refused, and so is a batch with one filled slot: nothing changes.
    let err = store.fill(&first.slots[..1], &answers[..1]).unwrap_err();
    assert!(
        err.to_string().contains("is filled or does not exist"),
        "{err}"
    );
    let second = &pending[1];
    let mut mixed = second.slots.clone();
    mixed.push(first.slots[0].clone());
    let texts = vec![SlotAnswer::unparsed(Completion::new("x", None)); 4];
    assert!(store.fill(&mixed, &texts).is_err());
    assert_eq!(store.progress(0).unwrap(), (5, 2));
    let ghost = Slot {
        iteration: 0,
        task_id: "demo/neg".into(),
        index: 99,
    };
    assert!(store.fill(&[ghost], &texts[..1]).is_err());

    let samples = store.samples(0).unwrap();
    let filled = samples[0].answer.as_ref().unwrap();
    assert!(filled.completion.text.starts_with("The function subtracts"));
    assert_eq!(filled.completion.finish_reason.as_deref(), Some("stop"));
    assert_eq!(filled.rationale.as_deref(), Some("r"));
    assert_eq!(samples[0].params, json!({"temperature": 0.8}));
    assert_eq!(samples[0].model, "m");
    assert!(samples[2].answer.is_none());

    // The rest of the iteration, then nothing is pending.
    for p in store.pending(0).unwrap() {
        let answers: Vec<SlotAnswer> = sampler
            .sample(&p.request)
            .unwrap()
            .into_iter()
            .map(SlotAnswer::unparsed)
            .collect();
        store.fill(&p.slots, &answers).unwrap();
    }
    assert!(store.pending(0).unwrap().is_empty());
    assert_eq!(store.progress(0).unwrap(), (5, 5));
    store.check_integrity().unwrap();
}

#[test]
fn verdicts_and_exports_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = new_store(dir.path());
    let tasks = tasks();
    let slots = store.plan(0, &request(&tasks[0], 2), "m", None).unwrap();
    let result = CheckResult {
        task_id: "demo/add".into(),
        sample_id: "0".into(),
        status: Verdict::Passed,
        tests: vec![],
        stdout: String::new(),
        stderr: String::new(),
        duration_ms: 3,
        meta: Default::default(),
    };
    // No verdict on an empty slot.
    assert!(store.record_verdict(&slots[0], &result).is_err());
    let answer = SlotAnswer::unparsed(Completion::new("a", None));
    store.fill(&slots[..1], &[answer]).unwrap();
    store.record_verdict(&slots[0], &result).unwrap();
    let mut failed = result.clone();
    failed.status = Verdict::Failed;
    store.record_verdict(&slots[0], &failed).unwrap(); // replaces
    assert_eq!(store.verdicts(0).unwrap(), [(slots[0].clone(), failed)]);

    let id = store
        .record_export(Some(0), "train-jsonl", "out/train.jsonl", 1, "ab12")
        .unwrap();
    let exports = store.exports().unwrap();
    assert_eq!(exports.len(), 1);
    assert_eq!(exports[0].id, id);
    assert_eq!(exports[0].kind, "train-jsonl");
    assert_eq!(exports[0].count, 1);
    store.check_integrity().unwrap();
}
