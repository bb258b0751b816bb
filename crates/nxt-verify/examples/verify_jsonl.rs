//! Verifies the tasks of a tasks JSONL file (their own code) and prints one result
//! per line, then on stderr a summary and where the CPU time went: this process (the
//! Rust side), the workers (zygotes) and the checks' processes. A development aid for
//! profiling; `nxt verify` is the tool.
//!
//! `cargo run --release -p nxt-verify --example verify_jsonl -- TASKS.jsonl [WORKERS]`

use std::time::Instant;

use nxt_core::{Sample, Task, Verifier, VerifyOptions};
use nxt_verify::{PythonVerifierBuilder, Summary};

/// utime + stime and cutime + cstime of a process, in seconds.
fn cpu_of(pid: &str) -> (f64, f64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(") ").map_or("", |(_, rest)| rest);
    let f: Vec<f64> = after
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    let tick = 100.0; // USER_HZ
    if f.len() < 15 {
        return (0.0, 0.0);
    }
    ((f[11] + f[12]) / tick, (f[13] + f[14]) / tick)
}

/// The pids of this process's children (the workers).
fn children() -> Vec<String> {
    let mut pids = Vec::new();
    for task in std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten()
    {
        let path = task.path().join("children");
        if let Ok(text) = std::fs::read_to_string(path) {
            pids.extend(text.split_whitespace().map(str::to_owned));
        }
    }
    pids
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .ok_or("usage: verify_jsonl TASKS.jsonl [WORKERS]")?;
    let workers: usize = args.next().map(|w| w.parse()).transpose()?.unwrap_or(2);
    let tasks: Vec<Task> = std::fs::read_to_string(&path)?
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    let samples: Vec<Sample> = tasks.iter().map(Sample::of_task).collect();
    let pairs: Vec<(&Task, &Sample)> = tasks.iter().zip(&samples).collect();
    let mut builder = PythonVerifierBuilder::new();
    builder.workers(workers);
    if std::env::var_os("NXT_ISOLATION").is_some_and(|v| v == "none") {
        // What the isolation costs: the same checks without any of it.
        builder.isolation(nxt_sandbox::Isolation::none());
    }
    let verifier = builder.build()?;
    let zygotes = children();
    let before: Vec<(f64, f64)> = zygotes.iter().map(|z| cpu_of(z)).collect();
    let own_before = cpu_of("self").0;
    let start = Instant::now();
    let results = verifier.verify_all(&pairs, &VerifyOptions::default());
    let elapsed = start.elapsed().as_secs_f64();
    let own = cpu_of("self").0 - own_before;
    let (mut zygote, mut checks) = (0.0, 0.0);
    for (z, (own0, kids0)) in zygotes.iter().zip(before) {
        let (own1, kids1) = cpu_of(z);
        zygote += own1 - own0;
        checks += kids1 - kids0;
    }
    let mut summary = Summary::new();
    for r in results {
        let r = r?;
        summary.add(&r);
        println!("{}", serde_json::to_string(&r)?);
    }
    let n = summary.checks() as f64;
    eprintln!("{} passed, {} failed", summary.passed(), summary.failed());
    eprintln!(
        "{} checks in {elapsed:.2} s: {:.1} checks/s; CPU per check: rust {:.3} ms, \
         workers {:.3} ms, checks {:.3} ms, total {:.3} ms",
        summary.checks(),
        n / elapsed,
        own * 1000.0 / n,
        zygote * 1000.0 / n,
        checks * 1000.0 / n,
        (own + zygote + checks) * 1000.0 / n,
    );
    Ok(())
}
