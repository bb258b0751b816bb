//! Measures the per-job overhead of a pool: many trivial jobs on 1 and 2 workers,
//! with the CPU time they cost split between this process (the Rust side), the
//! zygotes and the jobs' children.
//!
//! `cargo run --release -p nxt-sandbox --example overhead -- [jobs] [--no-isolation]
//! [--preload mod1,mod2,...]`
//!
//! On a machine shared with other work the jobs/s figure is noisy; the CPU times per
//! job are steadier (when every core is busy, throughput is cores / CPU per job).

use std::collections::BTreeSet;
use std::time::Instant;

use nix::unistd::{SysconfVar, sysconf};
use nxt_sandbox::{Isolation, Job, PoolBuilder};

/// Own and waited-for children's CPU time of a process, in seconds.
fn cpu_of(pid: &str) -> (f64, f64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<f64> = stat
        .rsplit_once(") ")
        .map(|(_, rest)| rest.split(' ').map(|f| f.parse().unwrap_or(0.0)).collect())
        .unwrap_or_default();
    let tick = sysconf(SysconfVar::CLK_TCK).ok().flatten().unwrap_or(100) as f64;
    let get = |i: usize| fields.get(i).copied().unwrap_or(0.0) / tick;
    // After "pid (comm) ": state is field 0; utime 11, stime 12, cutime 13, cstime 14.
    (get(11) + get(12), get(13) + get(14))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let jobs: usize = args.iter().find_map(|a| a.parse().ok()).unwrap_or(1000);
    let isolation = if args.iter().any(|a| a == "--no-isolation") {
        Isolation::none()
    } else {
        Isolation::default()
    };
    let preload: Vec<&str> = args
        .iter()
        .position(|a| a == "--preload")
        .and_then(|i| args.get(i + 1))
        .map(|m| m.split(',').collect())
        .unwrap_or_default();
    for workers in [1, 2] {
        let started = Instant::now();
        let pool =
            PoolBuilder::new("def main(payload):\n    exec(payload, {'__name__': '__main__'})\n")
                .workers(workers)
                .isolation(isolation.clone())
                .preload(&preload)
                .build()?;
        let startup = started.elapsed();
        if workers == 1 {
            for (key, value) in pool.isolation_report().details() {
                println!("  {key}: {value}");
            }
        }
        // The zygotes' pids, from jobs on every worker at once.
        let zygotes: BTreeSet<String> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..workers * 4)
                .map(|_| {
                    let pool = &pool;
                    s.spawn(move || {
                        let job = Job::new(b"import os, time\nos.write(3, str(os.getppid()).encode())\ntime.sleep(0.05)\n");
                        pool.run(&job).map(|o| o.channel.text().into_owned())
                    })
                })
                .collect();
            handles
                .into_iter()
                .filter_map(|h| h.join().ok()?.ok())
                .collect()
        });
        let before: Vec<(f64, f64)> = zygotes.iter().map(|z| cpu_of(z)).collect();
        let (own_before, _) = cpu_of("self");

        let payload = b"x = 1 + 1\n";
        let started = Instant::now();
        std::thread::scope(|s| {
            for t in 0..workers {
                let pool = &pool;
                s.spawn(move || {
                    for _ in (t..jobs).step_by(workers) {
                        let outcome = pool.run(&Job::new(payload)).expect("a job runs");
                        assert!(outcome.status.success(), "{outcome:?}");
                    }
                });
            }
        });
        let elapsed = started.elapsed();

        let (own_after, _) = cpu_of("self");
        let (mut zygote, mut children) = (0.0, 0.0);
        for (z, (own, kids)) in zygotes.iter().zip(before) {
            let (own2, kids2) = cpu_of(z);
            zygote += own2 - own;
            children += kids2 - kids;
        }
        let per_job = |seconds: f64| seconds * 1000.0 / jobs as f64;
        println!(
            "{} ({} uids), {workers} worker(s): start {:.0?}, {jobs} jobs in {:.2?}: {:.0} jobs/s, \
             {:.2} ms/job; CPU per job: rust {:.3} ms, zygote {:.3} ms, child {:.3} ms, \
             total {:.3} ms",
            pool.interpreter(),
            pool.job_uids().len(),
            startup,
            elapsed,
            jobs as f64 / elapsed.as_secs_f64(),
            elapsed.as_secs_f64() * 1000.0 / jobs as f64,
            per_job(own_after - own_before),
            per_job(zygote),
            per_job(children),
            per_job(own_after - own_before + zygote + children),
        );
    }
    Ok(())
}
