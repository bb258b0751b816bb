//! Checkpoints, dev-set evaluation, the report, replay by slot, interruption, dump and
//! import, on the offline demo (`fixtures/selftrain/demo`).

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use nxt_core::{Completion, Task};
use nxt_selftrain::{
    Error, Next, Pending, Progress, ReplaySampler, Run, RunConfig, SlotReplay, SlotSampler, Split,
    Store,
};
use nxt_trace::{CPythonTracer, CPythonTracerBuilder};
use nxt_verify::{PythonVerifier, PythonVerifierBuilder};

fn demo(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../../fixtures/selftrain/demo/{name}"))
}

fn tasks(name: &str) -> Vec<Task> {
    std::fs::read_to_string(demo(name))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn replay(name: &str) -> SlotReplay {
    ReplaySampler::open(demo(name)).unwrap().by_slot()
}

fn spec(name: &str) -> String {
    format!("replay:{}", demo(name).display())
}

fn config() -> RunConfig {
    let mut config =
        RunConfig::from_toml(&std::fs::read_to_string(demo("run.toml")).unwrap()).unwrap();
    config.sampler = spec("answers.jsonl");
    config
}

fn python() -> (CPythonTracer, PythonVerifier) {
    (
        CPythonTracerBuilder::new().build().unwrap(),
        PythonVerifierBuilder::new().workers(2).build().unwrap(),
    )
}

fn quiet(_: &Progress) {}

fn percent(v: Option<f64>) -> String {
    format!("{:.1}", v.unwrap() * 100.0)
}

/// The demo as `nxt selftrain demo` runs it: select, iteration 1, evaluations of the
/// base model and of iteration 1's checkpoint, iteration 2 from that checkpoint, its
/// evaluation.
fn run_demo(db: &Path) -> Run {
    let (tracer, verifier) = python();
    let mut run = Run::init(db, &config(), &tasks("train.jsonl"), &tasks("dev.jsonl")).unwrap();
    let base = replay("answers.jsonl");
    for _ in 0..2 {
        assert_eq!(run.next_checkpoint().unwrap().name, "base");
        run.step_with(&base, &tracer, &verifier, &mut quiet)
            .unwrap();
    }
    for trace in [true, false] {
        run.evaluate(0, trace, 25, &base, &tracer, &verifier, &mut quiet)
            .unwrap();
    }
    run.register_checkpoint(1, "ft-1", &spec("checkpoint-1.jsonl"), "replay")
        .unwrap();
    let one = replay("checkpoint-1.jsonl");
    for trace in [true, false] {
        run.evaluate(1, trace, 25, &one, &tracer, &verifier, &mut quiet)
            .unwrap();
    }
    assert_eq!(run.next().unwrap(), Next::Iteration(2));
    assert_eq!(run.next_checkpoint().unwrap().name, "ft-1");
    run.step_with(&one, &tracer, &verifier, &mut quiet).unwrap();
    run.register_checkpoint(2, "ft-2", &spec("checkpoint-2.jsonl"), "replay")
        .unwrap();
    let two = replay("checkpoint-2.jsonl");
    for trace in [true, false] {
        run.evaluate(2, trace, 25, &two, &tracer, &verifier, &mut quiet)
            .unwrap();
    }
    run
}

#[test]
fn the_demo_evaluates_checkpoints_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let run = run_demo(&dir.path().join("demo.db"));

    // Dev pass@k, with traces then without, per iteration. The replayed checkpoints
    // answer 5 distinct answers per dev task and prompt kind, cycled over 25 samples.
    let results = run.eval_results().unwrap();
    assert_eq!(results.len(), 6);
    let table: Vec<(u32, bool, Vec<String>)> = results
        .iter()
        .map(|r| {
            assert!(r.finished());
            assert_eq!((r.tasks, r.samples), (4, 100));
            (
                r.evaluation.iteration,
                r.evaluation.trace,
                [1, 5, 10, 25]
                    .iter()
                    .map(|&k| percent(r.pass_at(k)))
                    .collect(),
            )
        })
        .collect();
    let row = |k: u32, trace: bool| {
        table
            .iter()
            .find(|(kk, t, _)| *kk == k && *t == trace)
            .unwrap()
            .2
            .clone()
    };
    assert_eq!(row(0, true), ["20.0", "59.0", "72.2", "75.0"]);
    assert_eq!(row(0, false)[0], "10.0");
    assert_eq!(row(1, true)[0], "45.0");
    assert_eq!(row(1, false)[0], "25.0");
    assert_eq!(row(2, true), ["60.0", "98.3", "100.0", "100.0"]);
    assert_eq!(row(2, false)[0], "35.0");
    let (best, p) = run.best_iteration().unwrap().unwrap();
    assert_eq!(best, 2);
    assert!((p - 0.6).abs() < 1e-12);

    // Iteration 2 sampled from iteration 1's checkpoint, and differs.
    let samples = run.store().samples(2).unwrap();
    assert!(
        samples
            .iter()
            .all(|s| s.checkpoint.as_deref() == Some("ft-1"))
    );
    assert!(
        run.store()
            .samples(1)
            .unwrap()
            .iter()
            .all(|s| s.checkpoint.is_none())
    );
    assert_eq!(
        run.store().iterations().unwrap()[2].checkpoint.as_deref(),
        Some("ft-1")
    );
    let status = run.status().unwrap();
    assert_eq!(
        (status.iterations[1].kept, status.iterations[2].kept),
        (5, 10)
    );
    // The trace-consistency filter (on in the demo) flags and drops some.
    assert_eq!((run.flagged(1).unwrap(), run.flagged(2).unwrap()), (1, 3));
    assert!(
        status.iterations[2]
            .rejected
            .contains(&("trace-consistency".to_owned(), 3))
    );

    // The report: a text table and an HTML page, snapshotted (no times, no paths).
    let report = run.report().unwrap();
    assert_eq!(report.best.map(|b| b.0), Some(2));
    insta::assert_snapshot!("demo_report_text", report.text());
    insta::assert_snapshot!("demo_report_html", report.html());
    let svg = report.svg();
    assert!(svg.starts_with("<svg ") && svg.ends_with("</svg>\n"));
    assert_eq!(svg.matches("<polyline").count(), 4);
    chromium_renders(&report.html(), dir.path());
}

/// Renders the page in headless Chromium, when installed, and checks the DOM it built.
fn chromium_renders(html: &str, dir: &Path) {
    let Some(browser) = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| {
            std::process::Command::new(b)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
    else {
        println!("skipped: no chromium, chromium-browser or google-chrome on PATH");
        return;
    };
    let page = dir.join("report.html");
    std::fs::write(&page, html).unwrap();
    let out = std::process::Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--dump-dom",
            &format!("file://{}", page.display()),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dom = String::from_utf8_lossy(&out.stdout);
    // The parsed page: the plot as SVG elements, the table, the best iteration.
    assert!(dom.contains("<svg"), "{dom}");
    assert_eq!(dom.matches("<polyline").count(), 4, "{dom}");
    assert_eq!(dom.matches("<tr").count(), 4, "{dom}");
    assert!(dom.contains("Best iteration on the dev set: 2"), "{dom}");
    let shot = dir.join("report.png");
    let out = std::process::Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            &format!("--screenshot={}", shot.display()),
            "--window-size=900,900",
            &format!("file://{}", page.display()),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let png = std::fs::read(&shot).unwrap();
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    println!("rendered with {browser}: {} bytes of PNG", png.len());
}

/// A slot sampler that sets an interrupt flag after its first call, and can fail a
/// task once.
struct Flaky<'a> {
    inner: &'a SlotReplay,
    flag: Option<Arc<AtomicBool>>,
    fail_once: Option<&'a str>,
    failed: Cell<bool>,
}

impl SlotSampler for Flaky<'_> {
    type Error = String;

    fn sample_slots(&self, pending: &[&Pending]) -> Vec<Result<Vec<Completion>, String>> {
        if let Some(flag) = &self.flag {
            flag.store(true, Ordering::SeqCst);
        }
        self.inner
            .sample_slots(pending)
            .into_iter()
            .zip(pending)
            .map(|(r, p)| {
                if self.fail_once == Some(p.request.task_id.as_str()) && !self.failed.get() {
                    self.failed.set(true);
                    return Err("the server went away".into());
                }
                r.map_err(|e| e.to_string())
            })
            .collect()
    }
}

fn answers(store: &Store, evaluation: Option<u32>, iteration: u32) -> Vec<(String, u32, String)> {
    let samples = match evaluation {
        Some(id) => store.eval_samples(id).unwrap(),
        None => store.samples(iteration).unwrap(),
    };
    samples
        .into_iter()
        .map(|s| {
            (
                s.slot.task_id,
                s.slot.index,
                s.answer.unwrap().completion.text,
            )
        })
        .collect()
}

#[test]
fn an_interrupted_evaluation_continues_where_it_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let (tracer, verifier) = python();
    let base = replay("answers.jsonl");
    let dev = tasks("dev.jsonl");
    let mut run = Run::init(
        dir.path().join("a.db"),
        &config(),
        &tasks("train.jsonl"),
        &dev,
    )
    .unwrap();
    let flag = Arc::new(AtomicBool::new(false));
    run.set_interrupt(Arc::clone(&flag));
    let flaky = Flaky {
        inner: &base,
        flag: Some(Arc::clone(&flag)),
        fail_once: None,
        failed: Cell::new(false),
    };
    // 4 dev tasks x 30 samples: one request per task, sampled 8 at a time, so the
    // flag set during the first batch stops the evaluation before it verifies.
    let err = run
        .evaluate(0, true, 30, &flaky, &tracer, &verifier, &mut quiet)
        .unwrap_err();
    assert!(
        matches!(err, Error::Interrupted(ref w) if w.contains("dev evaluation of iteration 0")),
        "{err}"
    );
    let id = run.store().evaluations().unwrap()[0].id;
    assert_eq!(run.store().eval_progress(id).unwrap(), (120, 120));
    assert!(run.store().eval_verdicts(id).unwrap().is_empty());
    assert!(
        run.eval_results().unwrap()[0]
            .evaluation
            .finished_at
            .is_none()
    );
    flag.store(false, Ordering::SeqCst);
    let report = run
        .evaluate(0, true, 30, &base, &tracer, &verifier, &mut quiet)
        .unwrap();
    // 4 of each 5 answers hold a program: 96 to judge.
    assert_eq!((report.sampled, report.verified), (0, 96));
    assert!(report.result.finished());
    // More samples add slots; the same again adds nothing.
    let more = run
        .evaluate(0, true, 40, &base, &tracer, &verifier, &mut quiet)
        .unwrap();
    assert_eq!((more.sampled, more.result.samples), (40, 160));
    let again = run
        .evaluate(0, true, 40, &base, &tracer, &verifier, &mut quiet)
        .unwrap();
    assert_eq!((again.sampled, again.verified), (0, 0));
    assert_eq!(again.result, more.result);
    // Another checkpoint for an evaluated iteration is refused; iteration 1 is not
    // finished; iteration 0 is the base model.
    assert!(
        run.evaluate(1, true, 5, &base, &tracer, &verifier, &mut quiet)
            .is_err()
    );
    assert!(run.register_checkpoint(0, "x", "replay:/x", "m").is_err());
    assert!(run.register_checkpoint(1, "x", "gpt:x", "m").is_err());
}

#[test]
fn replay_by_slot_serves_a_resumed_run_like_one_that_ran_through() {
    // 3 answers per task for 4 samples: a replay by cursor would shift a resumed task's
    // answers; by slot, the resumed run is the same as the straight one.
    let dir = tempfile::tempdir().unwrap();
    let (tracer, verifier) = python();
    let file = dir.path().join("answers.jsonl");
    let text: String = std::fs::read_to_string(demo("answers.jsonl"))
        .unwrap()
        .lines()
        .filter(|l| !l.contains("I am not sure"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&file, text).unwrap();
    let sampler = ReplaySampler::open(&file).unwrap().by_slot();
    let mut cfg = config();
    cfg.sampler = format!("replay:{}", file.display());
    let train = tasks("train.jsonl");

    let mut straight = Run::init(dir.path().join("a.db"), &cfg, &train, &[]).unwrap();
    straight
        .step(&sampler, &tracer, &verifier, &mut |_| {})
        .unwrap();

    let mut resumed = Run::init(dir.path().join("b.db"), &cfg, &train, &[]).unwrap();
    let flaky = Flaky {
        inner: &sampler,
        flag: None,
        fail_once: Some("demo/add"),
        failed: Cell::new(false),
    };
    let err = resumed
        .step(&flaky, &tracer, &verifier, &mut |_| {})
        .unwrap_err();
    assert!(err.to_string().contains("the server went away"), "{err}");
    assert_eq!(resumed.store().progress(0).unwrap(), (32, 28));
    resumed
        .step(&flaky, &tracer, &verifier, &mut |_| {})
        .unwrap();
    assert_eq!(
        answers(resumed.store(), None, 0),
        answers(straight.store(), None, 0)
    );
    assert_eq!(
        resumed.hard_tasks().unwrap(),
        straight.hard_tasks().unwrap()
    );
}

#[test]
fn samples_dumped_from_one_run_import_into_another() {
    let dir = tempfile::tempdir().unwrap();
    let (tracer, verifier) = python();
    let base = replay("answers.jsonl");
    let train = tasks("train.jsonl");
    let mut a = Run::init(dir.path().join("a.db"), &config(), &train, &[]).unwrap();
    a.step(&base, &tracer, &verifier, &mut |_| {}).unwrap();
    let mut dump = Vec::new();
    assert_eq!(a.store().dump("samples", &mut dump).unwrap(), 32);
    let first: serde_json::Value =
        serde_json::from_str(std::str::from_utf8(&dump).unwrap().lines().next().unwrap()).unwrap();
    assert_eq!(first["task_id"], "demo/add");
    assert_eq!(first["idx"], 0);
    assert!(first["params"].is_object(), "{first}");

    // Run b plans the same slots, but its sampler fails: the samples come from a's dump
    // (an external batch job), then b verifies them and selects the same hard tasks.
    let mut b = Run::init(dir.path().join("b.db"), &config(), &train, &[]).unwrap();
    let down = nxt_selftrain::FnSampler::new(|_: &nxt_core::SampleRequest| Err("offline".into()));
    assert!(b.step(&down, &tracer, &verifier, &mut |_| {}).is_err());
    assert_eq!(b.store().progress(0).unwrap(), (32, 0));

    let name = Path::new("a.samples.jsonl");
    // A conflicting or malformed record imports nothing, and says where.
    let err = b
        .import_samples(
            &b"{\"iteration\": 0, \"task_id\": \"demo/add\"}\n"[..],
            name,
        )
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "a.samples.jsonl:1: field `idx`: expected a non-negative integer"
    );
    let err = b
        .import_samples(
            &b"{\"iteration\": 0, \"task_id\": \"demo/add\", \"idx\": 0, \"answer\": \"x\"}\n{\"iteration\": 5, \"task_id\": \"demo/add\", \"idx\": 0, \"answer\": \"x\"}\n"[..],
            name,
        )
        .unwrap_err();
    assert!(
        err.to_string().contains("record 2: no iteration 5"),
        "{err}"
    );
    assert_eq!(b.store().progress(0).unwrap(), (32, 0));

    assert_eq!(b.import_samples(&dump[..], name).unwrap(), (0, 32));
    assert_eq!(
        b.import_samples(&dump[..], name).unwrap(),
        (0, 0),
        "again: nothing"
    );
    let never = nxt_selftrain::FnSampler::new(|_: &nxt_core::SampleRequest| {
        panic!("everything is imported")
    });
    b.step(&never, &tracer, &verifier, &mut |_| {}).unwrap();
    assert_eq!(b.hard_tasks().unwrap(), a.hard_tasks().unwrap());
    assert_eq!(answers(b.store(), None, 0), answers(a.store(), None, 0));
    // A finished iteration takes no more samples; train tasks come before selection.
    assert!(b.import_samples(&dump[..], name).is_err());
    let extra: Task = serde_json::from_str(
        r#"{"task_id": "x/new", "prompt": "p", "code": "def f(): pass", "tests": []}"#,
    )
    .unwrap();
    assert!(
        b.import_tasks(Split::Train, std::slice::from_ref(&extra))
            .is_err()
    );
    assert_eq!(b.import_tasks(Split::Dev, &[extra]).unwrap(), 1);
    // Every table dumps; an unknown one is an error.
    for table in nxt_selftrain::DUMP_TABLES {
        b.store().dump(table, &mut Vec::new()).unwrap();
    }
    assert!(b.store().dump("sqlite_master", &mut Vec::new()).is_err());
}

#[test]
fn a_version_1_store_is_migrated_when_opened() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("old.db");
    drop(Store::create(&db, &serde_json::json!({})).unwrap());
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch(
            "DROP TABLE eval_verdicts; DROP TABLE eval_samples; DROP TABLE evaluations; \
             DROP TABLE checkpoints; UPDATE meta SET value = '1' WHERE key = 'schema_version';",
        )
        .unwrap();
    }
    let store = Store::open(&db).unwrap();
    assert!(store.evaluations().unwrap().is_empty());
    assert!(store.checkpoints().unwrap().is_empty());
    store.check_integrity().unwrap();
    drop(store);
    let conn = rusqlite::Connection::open(&db).unwrap();
    let version: String = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(version, "2");
}
