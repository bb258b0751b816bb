//! The inline formatter (`nxt_inline::Layout::new` and `Layout::render`) on a large
//! trace, against a peer baseline run in the same process tree: a straightforward Python
//! implementation of the same rendering (`benches/baseline/formatter.py`, stdlib `ast` +
//! `tokenize`) given the same program and trace JSON.
//!
//! The input is generated: a ~300-line program (functions with loops, branches,
//! `try`/`except`/`else`/`finally`, `while`, recursion, a generator, classes, a
//! decorator, a backslash continuation, multi-line calls, long strings and lists) whose
//! run is cut at the default 10,000 steps by the real tracer (`nxt_trace`), so the trace
//! has long values (some clipped at the 8,192-character capture limit), compressed
//! loop lines and an ending line.
//!
//! `cargo bench -p nxt-benches --bench formatter` runs criterion for `formatter/parse`,
//! `formatter/render` and `formatter/parse_render` (both, as `nxt_inline::Formatter`
//! does per program), then the Python baseline (which times its own loop), checks that
//! the baseline printed the same bytes as the Rust formatter, and prints a table with
//! the ratios. In criterion's test mode (`cargo bench -p nxt-benches --bench formatter
//! -- --test`, or `cargo test --benches`) every routine runs once and the baseline only
//! checks its output. See `docs/benchmarks.md`.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use criterion::Criterion;
use nxt_core::{Program, RenderOptions, Trace, TraceOptions, Tracer};
use nxt_inline::Layout;
use nxt_trace::CPythonTracerBuilder;

/// How many times each function template is instantiated (6 templates).
const COPIES: usize = 3;
/// Rounds of the driver loop: enough to run well past the 10,000-step limit.
const ROUNDS: usize = 12;

/// Function templates; `@K@` is replaced by the copy number.
const TEMPLATES: &[&str] = &[
    // Lists, dicts and an if/else in a counted loop.
    r#"def collect_@K@(n):
    squares = []
    evens = {}
    total = 0
    for i in range(n):
        sq = i * i + @K@
        squares.append(sq)
        if sq % 2 == 0:
            evens[i] = sq
        else:
            total += sq
    return squares, evens, total
"#,
    // Long strings (some past the 8,192-character capture limit), f-strings.
    r#"def build_text_@K@(words, times):
    text = ""
    sep = "-@K@-"
    for t in range(times):
        for w in words:
            text = text + w * (t + 1) * 12 + sep
        label = f"round {t}: {len(text)} chars"
    return text
"#,
    // A while loop, a set, a multi-line call with a lambda.
    r#"def collatz_@K@(start):
    steps = 0
    value = start
    seen = set()
    while value != 1 and steps < 60:
        seen.add(value)
        if value % 2:
            value = 3 * value + 1
        else:
            value //= 2
        steps += 1
    return max(steps,
               len(seen),
               key=lambda x: -x)
"#,
    // try/except/else/finally and a backslash continuation.
    r#"def parse_numbers_@K@(items):
    good = []
    bad = []
    for item in items:
        try:
            value = int(item) * \
                (@K@ + 1)
        except ValueError as err:
            bad.append(str(err))
        else:
            good.append(value)
        finally:
            last = item
    return good, bad
"#,
    // Recursion with a memo dict, elif, a generator.
    r#"def fib_@K@(n, memo=None):
    if memo is None:
        memo = {}
    if n in memo:
        return memo[n]
    elif n < 2:
        result = n
    else:
        result = fib_@K@(n - 1, memo) + fib_@K@(n - 2, memo)
    memo[n] = result
    return result


def windows_@K@(seq, size):
    for start in range(len(seq) - size + 1):
        window = seq[start:start + size]
        yield tuple(window)
"#,
    // A decorated class with methods, nested loops, objects without a __repr__.
    r#"@tagged
class Grid@K@:
    def __init__(self, rows, cols):
        self.rows = rows
        self.cols = cols
        self.cells = [[(r * cols + c) % 7 for c in range(cols)] for r in range(rows)]

    def transpose(self):
        out = []
        for c in range(self.cols):
            column = []
            for r in range(self.rows):
                column.append(self.cells[r][c])
            out.append(column)
        return out
"#,
];

/// The generated program: 316 lines.
fn generate_program() -> String {
    let mut src = String::from(
        "\"\"\"A generated program for the formatter benchmark.\"\"\"\n\n\n\
         def tagged(cls):\n    \
             cls.tagged = True\n    \
             return cls\n\n\n",
    );
    for k in 0..COPIES {
        for template in TEMPLATES {
            src.push_str(&template.replace("@K@", &k.to_string()));
            src.push_str("\n\n");
        }
    }
    src.push_str(
        "WORDS = [\"alpha\", \"beta\", \"gamma\", \"delta\", \"epsilon\", \"zeta\", \"eta\"]\n\
         MIXED = [\"1\", \"2\", \"x\", \"40\", \"5.5\", \"-6\", \"seven\", \"8\"]\n\
         summary = {}\n\
         for round_no in range(ROUNDS):\n",
    );
    let mut src = src.replace("ROUNDS", &ROUNDS.to_string());
    for k in 0..COPIES {
        let body = r#"    squares, evens, total = collect_@K@(30 + round_no)
    text = build_text_@K@(WORDS, 3 + round_no % 4)
    chain = collatz_@K@(27 + round_no + @K@)
    good, bad = parse_numbers_@K@(MIXED)
    fib = fib_@K@(15 + @K@)
    pairs = list(windows_@K@(squares[:8], 3))
    grid = Grid@K@(3 + @K@ % 2, 4)
    flipped = grid.transpose()
    summary[(round_no, @K@)] = (total, len(text), chain, fib, len(pairs))
"#;
        src.push_str(&body.replace("@K@", &k.to_string()));
    }
    src.push_str("print(len(summary))\n");
    src
}

/// The interpreter for the baseline: `NXT_PYTHON` if set (as the tracer), else `python3`.
fn python() -> PathBuf {
    std::env::var_os("NXT_PYTHON").map_or_else(|| PathBuf::from("python3"), PathBuf::from)
}

/// Criterion's mode from the command line, as criterion decides it: benchmarks only
/// with `--bench` and without `--test`, `--list` or `--profile-time`.
fn benchmarking() -> bool {
    let args: Vec<String> = std::env::args().collect();
    let has = |flag: &str| {
        args.iter()
            .any(|a| a == flag || a.starts_with(&format!("{flag}=")))
    };
    has("--bench") && !has("--test") && !has("--list") && !has("--profile-time")
}

/// What the Python baseline printed.
#[derive(Debug, Default)]
struct Baseline {
    parse: f64,
    render: f64,
    total: f64,
    iterations: u64,
    matches: bool,
}

/// Runs the baseline on the files in `dir`, for at least `seconds` (0: once, to check).
fn run_baseline(dir: &Path, expected: &str, seconds: f64) -> Option<Baseline> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("baseline/formatter.py");
    let out = dir.join("baseline_output.py");
    let result = Command::new(python())
        .arg(&script)
        .arg(dir.join("program.py"))
        .arg(dir.join("trace.json"))
        .arg("--out")
        .arg(&out)
        .arg("--seconds")
        .arg(seconds.to_string())
        .output();
    let output = match result {
        Ok(o) if o.status.success() => o,
        Ok(o) => {
            eprintln!(
                "WARNING: the Python baseline failed ({}):\n{}",
                o.status,
                String::from_utf8_lossy(&o.stderr)
            );
            return None;
        }
        Err(e) => {
            eprintln!("WARNING: could not run the Python baseline: {e}");
            return None;
        }
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let mut baseline = Baseline::default();
    // The baseline prints `key=value` lines.
    for line in stdout.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        match key.trim() {
            "parse_seconds" => baseline.parse = value.trim().parse().unwrap_or(f64::NAN),
            "render_seconds" => baseline.render = value.trim().parse().unwrap_or(f64::NAN),
            "total_seconds" => baseline.total = value.trim().parse().unwrap_or(f64::NAN),
            "iterations" => baseline.iterations = value.trim().parse().unwrap_or(0),
            _ => {}
        }
    }
    let text = std::fs::read(&out).unwrap_or_default();
    baseline.matches = text == expected.as_bytes();
    if !baseline.matches {
        let got = String::from_utf8_lossy(&text);
        let first = got
            .lines()
            .zip(expected.lines())
            .position(|(a, b)| a != b)
            .map_or_else(
                || format!("lengths {} vs {}", got.len(), expected.len()),
                |i| format!("line {}", i + 1),
            );
        eprintln!(
            "WARNING: the Python baseline's output differs from the Rust formatter's \
             (first difference: {first}); the comparison below is not like for like. \
             The inputs and both outputs are kept in {}",
            dir.display()
        );
    }
    Some(baseline)
}

/// Runs `f` `iters` times and records the time taken in `samples`.
fn timed(samples: &mut Vec<(u64, Duration)>, iters: u64, mut f: impl FnMut()) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        f();
    }
    let elapsed = start.elapsed();
    samples.push((iters, elapsed));
    elapsed
}

/// Criterion's point estimate for linear sampling: the slope (through the origin) of
/// time against iterations over the measured samples. `samples` holds every call of the
/// routine, warm-up first; the last `sample_size` are the measurement.
fn slope(samples: &[(u64, Duration)], sample_size: usize) -> f64 {
    let measured = &samples[samples.len().saturating_sub(sample_size)..];
    let (xy, xx) = measured.iter().fold((0.0, 0.0), |(xy, xx), &(n, d)| {
        let n = n as f64;
        (xy + n * d.as_secs_f64(), xx + n * n)
    });
    if xx == 0.0 { f64::NAN } else { xy / xx }
}

fn seconds(s: f64) -> String {
    if s.is_nan() {
        "n/a".to_owned()
    } else if s >= 1.0 {
        format!("{s:.3} s")
    } else if s >= 1e-3 {
        format!("{:.3} ms", s * 1e3)
    } else {
        format!("{:.1} µs", s * 1e6)
    }
}

const SAMPLE_SIZE: usize = 50;
/// Seconds the Python baseline loops for (it reports the median iteration).
const BASELINE_SECONDS: f64 = 5.0;

fn main() {
    let full = benchmarking();
    let source = generate_program();
    let program = Program::new("formatter_bench.py", source.clone());

    // Capture the trace once with the real tracer (default options: 10,000 steps).
    let tracer = CPythonTracerBuilder::new()
        .build()
        .expect("the benchmark needs CPython (python3 on PATH or NXT_PYTHON)");
    let trace: Trace = tracer
        .trace(&program, &TraceOptions::default())
        .expect("the generated program traces");
    drop(tracer);
    let options = RenderOptions::default();
    let layout = Layout::new(&source).expect("the generated program parses");
    let rendering = layout.render(&trace, &options).expect("the trace renders");
    assert_eq!(rendering.strip(), source);
    let trace_json = trace.to_json();

    let dir = tempfile::Builder::new()
        .prefix("nxt-bench-formatter-")
        .tempdir()
        .expect("a temporary directory");
    std::fs::write(dir.path().join("program.py"), &source).expect("writing the program");
    std::fs::write(dir.path().join("trace.json"), &trace_json).expect("writing the trace");
    std::fs::write(dir.path().join("rust_output.py"), &rendering.text)
        .expect("writing the rendering");

    let clipped = trace
        .steps
        .iter()
        .flat_map(|s| &s.vars)
        .filter(|v| matches!(v.value, nxt_core::Value::Clipped { .. }))
        .count();
    println!(
        "input: {} lines, {} bytes of source; trace: {} steps ({} clipped values, ending {:?}), \
         {} bytes of JSON; rendering: {} annotated lines, {} bytes",
        layout.line_count(),
        source.len(),
        trace.steps.len(),
        clipped,
        trace.ending,
        trace_json.len(),
        rendering.annotated.len(),
        rendering.text.len(),
    );

    let mut criterion = Criterion::default()
        .sample_size(SAMPLE_SIZE)
        .measurement_time(Duration::from_secs(5))
        .configure_from_args();
    // Every call of each routine, (iterations, time): criterion's own numbers, kept so
    // that the ratios below use exactly what criterion measured.
    let mut samples: [Vec<(u64, Duration)>; 3] = Default::default();
    {
        let [parse_samples, render_samples, both_samples] = &mut samples;
        let mut group = criterion.benchmark_group("formatter");
        group.bench_function("parse", |b| {
            b.iter_custom(|iters| {
                timed(parse_samples, iters, || {
                    black_box(Layout::new(black_box(&source)).expect("parses"));
                })
            });
        });
        group.bench_function("render", |b| {
            b.iter_custom(|iters| {
                timed(render_samples, iters, || {
                    black_box(layout.render(black_box(&trace), &options).expect("renders"));
                })
            });
        });
        // What `nxt_inline::Formatter` does per program: both.
        group.bench_function("parse_render", |b| {
            b.iter_custom(|iters| {
                timed(both_samples, iters, || {
                    let layout = Layout::new(black_box(&source)).expect("parses");
                    black_box(layout.render(black_box(&trace), &options).expect("renders"));
                })
            });
        });
        group.finish();
    }

    // The peer baseline, on the same program and trace JSON.
    let baseline = run_baseline(
        dir.path(),
        &rendering.text,
        if full { BASELINE_SECONDS } else { 0.0 },
    );
    if !baseline.as_ref().is_some_and(|b| b.matches) {
        // Keep the files for a look at the difference.
        let _ = dir.keep();
    }

    if !full {
        match &baseline {
            Some(b) if b.matches => println!(
                "formatter: the Python baseline's output equals the Rust formatter's ({} bytes)",
                rendering.text.len()
            ),
            _ => println!("formatter: see the warning above about the Python baseline"),
        }
        criterion.final_summary();
        return;
    }

    let sample_size = std::env::args()
        .skip_while(|a| a != "--sample-size")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(SAMPLE_SIZE);
    let [rust_parse, rust_render, rust_total] = samples.map(|s| slope(&s, sample_size));
    println!();
    println!(
        "formatter: Rust (criterion point estimate) vs Python baseline (median of its own loop)"
    );
    match &baseline {
        Some(b) => {
            println!(
                "  Python baseline: {} iterations; output {}",
                b.iterations,
                if b.matches {
                    "identical to the Rust formatter's"
                } else {
                    "DIFFERS from the Rust formatter's (see warning above)"
                }
            );
            println!(
                "  {:<22} {:>12} {:>12} {:>10}",
                "phase", "Rust", "Python", "ratio"
            );
            for (name, r, p) in [
                ("parse (Layout::new)", rust_parse, b.parse),
                ("render (Layout::render)", rust_render, b.render),
                ("parse + render", rust_total, b.total),
            ] {
                let ratio = p / r;
                let ratio = if ratio.is_finite() {
                    format!("{ratio:.1}x")
                } else {
                    "n/a".to_owned()
                };
                println!(
                    "  {:<22} {:>12} {:>12} {:>10}",
                    name,
                    seconds(r),
                    seconds(p),
                    ratio
                );
            }
        }
        None => {
            println!("  Rust parse {}", seconds(rust_parse));
            println!("  Rust render {}", seconds(rust_render));
            println!("  Rust parse + render {}", seconds(rust_total));
            println!("  (no Python baseline: see the warning above)");
        }
    }
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        let load = load.split_whitespace().next().unwrap_or("?");
        println!("  (1-minute load average {load}: other work on the machine skews both sides)");
    }
    criterion.final_summary();
}
