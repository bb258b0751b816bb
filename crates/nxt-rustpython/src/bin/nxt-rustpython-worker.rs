//! The RustPython worker as a binary of its own: `nxt-rustpython-worker trace|verify|exec`
//! runs one job read from stdin (see `nxt_rustpython::worker_main`). The `nxt` binary
//! has the same entry point as a hidden subcommand.

fn main() {
    let arg = std::env::args().nth(1).unwrap_or_default();
    match nxt_rustpython::Harness::from_name(&arg) {
        Some(harness) => nxt_rustpython::worker_main(harness),
        None => {
            eprintln!("usage: nxt-rustpython-worker trace|verify|exec  (a job on stdin)");
            std::process::exit(2);
        }
    }
}
