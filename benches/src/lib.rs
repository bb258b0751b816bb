//! Benchmarks of nxt's hot paths; the code is in `benches/` (see `docs/benchmarks.md`).
