//! Benchmarks of nxt's hot paths, each against a peer baseline measured in the same run
//! (see `docs/benchmarks.md` for how to run them and the numbers).
//!
//! This crate has no library code: it exists for its targets.
//!
//! - `benches/formatter.rs` (criterion): `nxt_inline::Layout::new` and `Layout::render`
//!   on a generated 316-line program with a 10,000-step trace, against
//!   `baseline/formatter.py`, the same rendering written with Python's `ast` and
//!   `tokenize`; it checks that both print the same bytes and prints the ratios.
//! - `trace_throughput` (script): `nxt trace --out-dir --jobs 2` over the 164 HumanEval
//!   programs against a PySnooper pipeline (a fresh process per program), untraced runs
//!   and the tracer run in-process.
//!
//! # Example
//!
//! ```text
//! cargo bench -p nxt-benches --bench formatter
//! benches/trace_throughput
//! ```
#![deny(missing_docs)]
