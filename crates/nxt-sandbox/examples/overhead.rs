//! Measures the per-job overhead of a pool: many trivial jobs on 1 and 2 workers.
//!
//! `cargo run -p nxt-sandbox --example overhead -- [jobs]`

use std::time::Instant;

use nxt_sandbox::{Isolation, Job, PoolBuilder};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let jobs: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(1000);
    let isolation = if std::env::args().any(|a| a == "--no-isolation") {
        Isolation::none()
    } else {
        Isolation::default()
    };
    for workers in [1, 2] {
        let started = Instant::now();
        let pool =
            PoolBuilder::new("def main(payload):\n    exec(payload, {'__name__': '__main__'})\n")
                .workers(workers)
                .isolation(isolation.clone())
                .build()?;
        let startup = started.elapsed();
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
        println!(
            "{} ({} uids), {workers} worker(s): start {:.0?}, {jobs} jobs in {:.2?}: {:.0} jobs/s, {:.2} ms/job",
            pool.interpreter(),
            pool.job_uids().len(),
            startup,
            elapsed,
            jobs as f64 / elapsed.as_secs_f64(),
            elapsed.as_secs_f64() * 1000.0 / jobs as f64,
        );
    }
    Ok(())
}
