//! The store survives `SIGKILL`: a child process fills slots in a loop, is killed
//! mid-run three times, and a fourth finishes the run. After each kill the database is
//! intact, each task's filled slots are a whole number of the child's transactions,
//! nothing stored before is lost or changed, and at the end every slot holds exactly
//! its own answer.
//!
//! A test without the standard harness: run with `--child <db>`, the binary is the
//! child.

use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use nxt_core::{Completion, SampleRequest};
use nxt_selftrain::{SlotAnswer, Split, Store, StoredSample};
use serde_json::json;

const TASKS: u32 = 3;
const SLOTS_PER_TASK: u32 = 150;
/// Slots per transaction of the child.
const CHUNK: usize = 5;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() == 3 && args[1] == "--child" {
        child(Path::new(&args[2]));
        return;
    }
    if args.iter().any(|a| a == "--list") {
        println!("kill: test");
        return;
    }
    parent();
    println!("test kill ... ok");
}

/// What the child stores in a slot.
fn answer_of(task_id: &str, index: u32) -> String {
    format!("{task_id}:{index}")
}

fn child(db: &Path) {
    let mut store = Store::open(db).unwrap();
    loop {
        let pending = store.pending(0).unwrap();
        if pending.is_empty() {
            break;
        }
        for p in pending {
            for chunk in p.slots.chunks(CHUNK) {
                std::thread::sleep(Duration::from_millis(8)); // "sampling"
                let answers: Vec<SlotAnswer> = chunk
                    .iter()
                    .map(|s| {
                        SlotAnswer::unparsed(Completion::new(
                            answer_of(&s.task_id, s.index),
                            Some("stop".into()),
                        ))
                    })
                    .collect();
                store.fill(chunk, &answers).unwrap();
            }
        }
    }
}

fn spawn(db: &Path) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .arg("--child")
        .arg(db)
        .spawn()
        .unwrap()
}

fn filled(samples: &[StoredSample]) -> Vec<&StoredSample> {
    samples.iter().filter(|s| s.answer.is_some()).collect()
}

fn parent() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("run.db");
    {
        let mut store = Store::create(&db, &json!({"test": "kill"})).unwrap();
        let tasks: Vec<nxt_core::Task> = (0..TASKS)
            .map(|i| {
                serde_json::from_value(json!({
                    "task_id": format!("t{i}"), "prompt": "p", "code": "c", "tests": []
                }))
                .unwrap()
            })
            .collect();
        store.add_tasks(Split::Train, &tasks).unwrap();
        store.begin_iteration(None).unwrap();
        for t in &tasks {
            let mut r = SampleRequest::text(&t.task_id, "prompt");
            r.n = SLOTS_PER_TASK;
            store.plan(0, &r, "m", None).unwrap();
        }
    }
    let total = u64::from(TASKS * SLOTS_PER_TASK);
    let mut before: Vec<StoredSample> = Vec::new();
    // Thresholds off the transactions' boundaries, and kills a little after them: a
    // store that committed slot by slot would be caught with a partial transaction.
    for (round, (threshold, delay)) in [(52u64, 0), (153, 3), (254, 7)].into_iter().enumerate() {
        let mut child = spawn(&db);
        let watcher = Store::open(&db).unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (_, done) = watcher.progress(0).unwrap();
            if done >= threshold {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "round {round}: the child made no progress"
            );
            assert!(
                child.try_wait().unwrap().is_none(),
                "round {round}: the child exited early"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        drop(watcher);
        std::thread::sleep(Duration::from_millis(delay));
        assert!(
            child.try_wait().unwrap().is_none(),
            "round {round}: the child finished before the kill"
        );
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();

        let store = Store::open(&db).unwrap();
        store.check_integrity().unwrap();
        let samples = store.samples(0).unwrap();
        assert_eq!(samples.len() as u64, total, "round {round}: slots lost");
        let now = filled(&samples);
        assert!(
            (now.len() as u64) < total,
            "round {round}: not killed mid-run"
        );
        for t in 0..TASKS {
            let id = format!("t{t}");
            let n = now.iter().filter(|s| s.slot.task_id == id).count();
            assert_eq!(n % CHUNK, 0, "round {round}: a transaction was cut in half");
        }
        for old in &before {
            assert!(
                now.contains(&old),
                "round {round}: {:?} lost or changed",
                old.slot
            );
        }
        before = now.into_iter().cloned().collect();
    }

    let mut child = spawn(&db);
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("the last child did not finish");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(status.success());

    let store = Store::open(&db).unwrap();
    store.check_integrity().unwrap();
    assert!(store.pending(0).unwrap().is_empty());
    let samples = store.samples(0).unwrap();
    assert_eq!(samples.len() as u64, total);
    for s in &samples {
        let a = s.answer.as_ref().expect("every slot is filled");
        assert_eq!(a.completion.text, answer_of(&s.slot.task_id, s.slot.index));
    }
    for old in &before {
        assert!(samples.contains(old), "{:?} lost or changed", old.slot);
    }
}
