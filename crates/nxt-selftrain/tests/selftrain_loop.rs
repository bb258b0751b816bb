//! The self-training loop on the offline demo (`fixtures/selftrain/demo`): replay
//! answers, CPython verification and tracing.

use std::cell::Cell;
use std::path::PathBuf;

use nxt_core::{SampleRequest, Sampler, Task};
use nxt_selftrain::{
    BoxError, Error, ExportFormat, FnSampler, Next, ReplaySampler, Run, RunConfig,
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

fn config(iterations: u32) -> RunConfig {
    RunConfig {
        sampler: "replay:answers.jsonl".into(),
        model: "replay".into(),
        samples_per_task: 4,
        selection_samples: 4,
        hard_threshold: 0.6,
        iterations,
        ..RunConfig::default()
    }
}

fn python() -> (CPythonTracer, PythonVerifier) {
    (
        CPythonTracerBuilder::new().build().unwrap(),
        PythonVerifierBuilder::new().workers(2).build().unwrap(),
    )
}

fn quiet(_: &str) {}

#[test]
fn the_demo_runs_selects_filters_and_exports() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("demo.db");
    let (tracer, verifier) = python();
    let sampler = ReplaySampler::open(demo("answers.jsonl")).unwrap();
    let mut run = Run::init(&db, &config(2), &tasks("train.jsonl"), &tasks("dev.jsonl")).unwrap();
    assert_eq!(run.next().unwrap(), Next::Select);
    assert_eq!(run.hard_tasks().unwrap(), None);

    let report = run.step(&sampler, &tracer, &verifier, &mut quiet).unwrap();
    assert_eq!(report.iteration, Some(0));
    assert!(report.finished);
    assert_eq!((report.tasks, report.sampled), (8, 32));
    assert!(report.unprompted.is_empty(), "{:?}", report.unprompted);
    // pass@1 from 4 samples: add 2/4, larger 2/4, neg 4/4, reverse 1/4, vowels 1/4,
    // factorial 1/4, is_even 0/4, first 4/4; below 0.6 is hard.
    assert_eq!(
        run.hard_tasks().unwrap().unwrap(),
        [
            "demo/add",
            "demo/factorial",
            "demo/is_even",
            "demo/larger",
            "demo/reverse",
            "demo/vowels"
        ]
    );
    assert_eq!(run.next().unwrap(), Next::Iteration(1));

    let report = run.step(&sampler, &tracer, &verifier, &mut quiet).unwrap();
    assert_eq!(
        (report.iteration, report.tasks, report.sampled),
        (Some(1), 6, 24)
    );
    let report = run.step(&sampler, &tracer, &verifier, &mut quiet).unwrap();
    assert_eq!(report.iteration, Some(2));
    assert_eq!(run.next().unwrap(), Next::Done);
    // Nothing more to do.
    assert_eq!(
        run.step(&sampler, &tracer, &verifier, &mut quiet)
            .unwrap()
            .iteration,
        None
    );

    let status = run.status().unwrap();
    let one = &status.iterations[1];
    // 24 answers: 4 without code, 2 whose code does not parse (factorial, is_even).
    assert_eq!((one.planned, one.filled), (24, 24));
    assert_eq!((one.parsed, one.verified), (18, 18));
    assert_eq!(one.passed, 7);
    assert_eq!(one.kept, 6);
    assert_eq!(
        one.rejected,
        [
            ("passes-all-tests".to_owned(), 17),
            ("dedupe".to_owned(), 1)
        ]
    );
    let text = status.to_string();
    assert!(
        text.contains("iteration 1: finished; 24/24 sampled"),
        "{text}"
    );
    assert!(text.contains("hard tasks: 6"), "{text}");

    // Exports: this iteration only by default, deterministic.
    let chat = run.export_records(1, ExportFormat::Chat, false).unwrap();
    assert_eq!(chat.len(), 6);
    let first: serde_json::Value = serde_json::from_str(&chat[0]).unwrap();
    let messages = first["messages"].as_array().unwrap();
    assert_eq!(messages.last().unwrap()["role"], "assistant");
    assert!(
        messages.last().unwrap()["content"]
            .as_str()
            .unwrap()
            .contains("return a + b")
    );
    assert_eq!(messages[messages.len() - 2]["role"], "user");
    assert!(
        messages[messages.len() - 2]["content"]
            .as_str()
            .unwrap()
            .contains("def add(a, b):")
    );
    let completion = run
        .export_records(1, ExportFormat::Completion, false)
        .unwrap();
    let first: serde_json::Value = serde_json::from_str(&completion[0]).unwrap();
    assert!(
        first["prompt"]
            .as_str()
            .unwrap()
            .contains("assert add(2, 3) == 5")
    );
    assert!(
        first["completion"]
            .as_str()
            .unwrap()
            .contains("return a + b")
    );
    assert_eq!(first.as_object().unwrap().len(), 2);
    assert_eq!(
        run.export_records(2, ExportFormat::Chat, true)
            .unwrap()
            .len(),
        12
    );
    assert!(run.export_records(0, ExportFormat::Chat, false).is_err());

    let out = dir.path().join("x.jsonl");
    assert_eq!(run.export(1, ExportFormat::Chat, false, &out).unwrap(), 6);
    let bytes = std::fs::read(&out).unwrap();
    assert_eq!(bytes, (chat.join("\n") + "\n").into_bytes());
    let exports = run.store().exports().unwrap();
    assert_eq!(
        (exports.len(), exports[0].kind.as_str(), exports[0].count),
        (1, "chat", 6)
    );

    // Reopened, the run reads the same.
    drop(run);
    let run = Run::open(&db).unwrap();
    assert_eq!(run.status().unwrap(), status);
    run.store().check_integrity().unwrap();
}

#[test]
fn a_failed_step_resumes_without_sampling_again() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("run.db");
    let (tracer, verifier) = python();
    let replay = ReplaySampler::open(demo("answers.jsonl")).unwrap();
    let asked = Cell::new(0u32);
    let broken = FnSampler::new(|request: &SampleRequest| -> Result<_, BoxError> {
        if request.task_id == "demo/neg" {
            return Err("the server went away".into());
        }
        asked.set(asked.get() + request.n);
        Ok(replay.sample(request)?)
    });
    let mut run = Run::init(&db, &config(1), &tasks("train.jsonl"), &[]).unwrap();
    let err = run
        .step(&broken, &tracer, &verifier, &mut quiet)
        .unwrap_err();
    assert!(
        matches!(err, Error::Run(ref m) if m.contains("the server went away")),
        "{err}"
    );
    assert_eq!(asked.get(), 28);
    assert_eq!(run.store().progress(0).unwrap(), (32, 28));
    assert_eq!(run.next().unwrap(), Next::Select);
    let verified = run.status().unwrap().iterations[0].verified;
    assert!(verified > 0);

    // Again, with a sampler that works: only the 4 empty slots are asked for.
    let good = FnSampler::new(|request: &SampleRequest| -> Result<_, BoxError> {
        asked.set(asked.get() + request.n);
        Ok(replay.sample(request)?)
    });
    let report = run.step(&good, &tracer, &verifier, &mut quiet).unwrap();
    assert_eq!((report.iteration, report.sampled), (Some(0), 4));
    assert_eq!(asked.get(), 32);
    assert!(report.verified > 0 && report.verified < 8);
    assert_eq!(run.store().progress(0).unwrap(), (32, 32));
    assert_eq!(run.hard_tasks().unwrap().unwrap().len(), 6);
}

#[test]
fn trace_consistency_flags_a_rationale_the_trace_contradicts() {
    let dir = tempfile::tempdir().unwrap();
    let (tracer, verifier) = python();
    let sampler = ReplaySampler::open(demo("answers.jsonl")).unwrap();
    let config = RunConfig {
        trace_consistency: true,
        cap_per_task: Some(1),
        ..config(1)
    };
    let mut run = Run::init(dir.path().join("t.db"), &config, &tasks("train.jsonl"), &[]).unwrap();
    while run
        .step(&sampler, &tracer, &verifier, &mut quiet)
        .unwrap()
        .iteration
        .is_some()
    {}
    let status = run.status().unwrap();
    let one = &status.iterations[1];
    // demo/reverse's passing answer says "the return value is [3, 2, 1]" where the
    // trace shows __return__=[1, 2, 3]; demo/factorial's "the return value is 6" agrees.
    // The cap of 1 then drops demo/add's second answer.
    assert_eq!(
        one.rejected,
        [
            ("passes-all-tests".to_owned(), 17),
            ("dedupe".to_owned(), 1),
            ("trace-consistency".to_owned(), 1),
            ("cap-per-task".to_owned(), 1)
        ]
    );
    assert_eq!(one.kept, 4);
    let (kept, _) = run.kept(1).unwrap();
    let tasks: Vec<&str> = kept.iter().map(|k| k.task_id.as_str()).collect();
    assert_eq!(
        tasks,
        ["demo/add", "demo/factorial", "demo/larger", "demo/vowels"]
    );
}

#[test]
fn a_threshold_of_one_keeps_every_task_without_sampling() {
    let dir = tempfile::tempdir().unwrap();
    let (tracer, verifier) = python();
    let sampler = ReplaySampler::open(demo("answers.jsonl")).unwrap();
    let config = RunConfig {
        hard_threshold: 1.0,
        ..config(1)
    };
    let mut run = Run::init(dir.path().join("r.db"), &config, &tasks("train.jsonl"), &[]).unwrap();
    let report = run.step(&sampler, &tracer, &verifier, &mut quiet).unwrap();
    assert_eq!((report.iteration, report.sampled), (Some(0), 0));
    assert_eq!(run.hard_tasks().unwrap().unwrap().len(), 8);
    let report = run.step(&sampler, &tracer, &verifier, &mut quiet).unwrap();
    assert_eq!((report.tasks, report.sampled), (8, 32));
}

#[test]
fn bad_configurations_and_stores_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let train = tasks("train.jsonl");
    let bad = RunConfig {
        format: "html".into(),
        ..config(1)
    };
    assert!(matches!(
        Run::init(dir.path().join("a.db"), &bad, &train, &[]),
        Err(Error::Config(_))
    ));
    let zero = RunConfig {
        samples_per_task: 0,
        ..config(1)
    };
    assert!(Run::init(dir.path().join("b.db"), &zero, &train, &[]).is_err());
    assert!(Run::init(dir.path().join("c.db"), &config(1), &[], &[]).is_err());
    Run::init(dir.path().join("d.db"), &config(1), &train, &[]).unwrap();
    assert!(Run::init(dir.path().join("d.db"), &config(1), &train, &[]).is_err());
}

#[test]
fn configurations_read_from_toml() {
    let text = std::fs::read_to_string(demo("run.toml")).unwrap();
    let config = RunConfig::from_toml(&text).unwrap();
    assert_eq!(
        config,
        RunConfig {
            sampler: "replay:answers.jsonl".into(),
            model: "replay".into(),
            samples_per_task: 4,
            selection_samples: 4,
            hard_threshold: 0.6,
            iterations: 2,
            trace_consistency: true,
            ..RunConfig::default()
        }
    );
    let Err(Error::Config(m)) = RunConfig::from_toml("samples = 4\n") else {
        panic!("an unknown field")
    };
    assert!(m.contains("samples"), "{m}");
    assert!(matches!(
        RunConfig::from_toml("iterations = \"two\"\n"),
        Err(Error::Config(_))
    ));
    assert!(matches!(
        RunConfig::from_toml("iterations = \n"),
        Err(Error::Config(_))
    ));
    assert_eq!(RunConfig::from_toml("").unwrap(), RunConfig::default());
}

#[test]
fn streaming_passes_agree_with_the_stored_samples() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("stream.db");
    let (tracer, verifier) = python();
    let sampler = ReplaySampler::open(demo("answers.jsonl")).unwrap();
    let mut run = Run::init(&db, &config(1), &tasks("train.jsonl"), &tasks("dev.jsonl")).unwrap();
    run.step(&sampler, &tracer, &verifier, &mut quiet).unwrap();
    run.step(&sampler, &tracer, &verifier, &mut quiet).unwrap();
    assert_eq!(run.next().unwrap(), Next::Done);

    // The streamed samples, with their verdicts, are the stored ones in order; task by
    // task too.
    let samples = run.store().samples(1).unwrap();
    let verdicts = run.store().verdicts(1).unwrap();
    let mut streamed = Vec::new();
    run.store()
        .for_each_sample(1, |s, v| {
            streamed.push((s, v));
            Ok(())
        })
        .unwrap();
    assert_eq!(streamed.len(), 24);
    assert_eq!(
        streamed.iter().map(|(s, _)| s.clone()).collect::<Vec<_>>(),
        samples
    );
    let judged: Vec<_> = streamed
        .iter()
        .filter_map(|(s, v)| v.clone().map(|v| (s.slot.clone(), v)))
        .collect();
    assert_eq!(judged, verdicts);
    let tasks_sampled = run.store().sampled_tasks(1).unwrap();
    assert_eq!(tasks_sampled.len(), 6);
    let by_task: Vec<_> = tasks_sampled
        .iter()
        .flat_map(|t| run.store().task_samples(1, t).unwrap())
        .collect();
    assert_eq!(by_task, streamed);

    // Candidates: the filled samples with their programs and verdicts.
    let mut candidates = Vec::new();
    run.for_each_candidate(1, |c| {
        candidates.push(c);
        Ok(())
    })
    .unwrap();
    assert_eq!(candidates, run.candidates(1).unwrap());
    assert_eq!(candidates.len(), 24);
    for (c, (s, v)) in candidates.iter().zip(&streamed) {
        assert_eq!((&c.task_id, c.index), (&s.slot.task_id, s.slot.index));
        assert_eq!(c.code, s.answer.as_ref().unwrap().code);
        assert_eq!(&c.verdict, v);
        assert!(c.prompt.as_ref().unwrap().contains(&s.slot.task_id[5..]));
    }

    // Kept: what the filters keep, streamed or collected alike, and the status counts
    // agree with a count over the stored samples.
    let mut kept = Vec::new();
    let rejected = run
        .for_each_kept(1, |k| {
            kept.push(k);
            Ok(())
        })
        .unwrap();
    assert_eq!((kept.clone(), rejected.clone()), run.kept(1).unwrap());
    let passed = verdicts.iter().filter(|(_, r)| r.status.passed()).count() as u64;
    let status = run.status().unwrap();
    let one = &status.iterations[1];
    assert_eq!(
        (one.parsed, one.verified, one.passed, one.kept),
        (18, verdicts.len() as u64, passed, kept.len() as u64)
    );
    assert_eq!(one.rejected, rejected);

    // The callback's first error stops the walk and is returned.
    let mut calls = 0;
    let err = run
        .for_each_kept(1, |_| {
            calls += 1;
            Err(Error::Run("stop".into()))
        })
        .unwrap_err();
    assert_eq!((calls, err.to_string().contains("stop")), (1, true));

    // A failed export leaves the file it would replace as it was and no temporary
    // file, and records nothing.
    let out = dir.path().join("out.jsonl");
    std::fs::write(&out, "before\n").unwrap();
    assert!(run.export(2, ExportFormat::Chat, false, &out).is_err());
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "before\n");
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-"))
        .collect();
    assert!(names.is_empty(), "{names:?}");
    assert!(run.store().exports().unwrap().is_empty());
    assert_eq!(
        run.export(1, ExportFormat::Completion, false, &out)
            .unwrap(),
        kept.len() as u64
    );
    let records = run
        .export_records(1, ExportFormat::Completion, false)
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        records.join("\n") + "\n"
    );
}
