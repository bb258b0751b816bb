//! A run's report: per iteration, the problems, samples, kept and flagged samples and
//! the dev-set fix rates, as a text table and as a self-contained HTML page with an SVG
//! plot (`nxt selftrain report`). Both are deterministic: the same store gives the same
//! bytes (no times, no paths).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::filter::{Chain, Dedupe, Filter, PassesAllTests, TraceConsistency};
use crate::{EVAL_KS, Error, EvalResult, Run};

/// One iteration's line of the report.
#[derive(Debug, Clone, PartialEq)]
pub struct IterationRow {
    /// The iteration (0: the hard-problem selection and the base model).
    pub iteration: u32,
    /// The model its samples came from (`base`, or a checkpoint's name).
    pub sampled_from: String,
    /// Whether it is finished (false also for an iteration not begun, shown for its
    /// evaluation).
    pub finished: bool,
    /// Problems sampled (all train tasks at 0, the hard ones after).
    pub problems: usize,
    /// Samples answered.
    pub samples: u64,
    /// Samples whose program passed every test.
    pub passed: u64,
    /// Samples the filters keep (iterations from 1).
    pub kept: u64,
    /// Samples that pass their tests and would be kept but for a rationale the trace
    /// contradicts ([`TraceConsistency`]): dropped when the run enables that filter,
    /// counted either way.
    pub flagged: u64,
    /// The checkpoint evaluated for this iteration (`base` at 0), when evaluated.
    pub checkpoint: Option<String>,
    /// The dev-set evaluation with traces in the prompts.
    pub dev_trace: Option<EvalResult>,
    /// The dev-set evaluation without traces.
    pub dev_plain: Option<EvalResult>,
}

/// A run's report ([`Run::report`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The base model.
    pub model: String,
    /// Train and dev tasks.
    pub tasks: (usize, usize),
    /// The hard problems, once selected.
    pub hard: Option<usize>,
    /// Whether the trace-consistency filter drops what it flags.
    pub trace_consistency: bool,
    /// Per iteration.
    pub rows: Vec<IterationRow>,
    /// The best iteration on the dev set and its pass@1 ([`Run::best_iteration`]).
    pub best: Option<(u32, f64)>,
}

impl Run {
    /// The run's report.
    pub fn report(&self) -> Result<Report, Error> {
        let status = self.status()?;
        let evals = self.eval_results()?;
        let mut rows: BTreeMap<u32, IterationRow> = BTreeMap::new();
        let begun = self.store().iterations()?;
        for (it, st) in begun.iter().zip(&status.iterations) {
            let problems = self.store().sampled_tasks(it.iteration)?.len();
            let flagged = if it.iteration == 0 {
                0
            } else {
                self.flagged(it.iteration)?
            };
            rows.insert(
                it.iteration,
                IterationRow {
                    iteration: it.iteration,
                    sampled_from: it.checkpoint.clone().unwrap_or_else(|| "base".into()),
                    finished: it.finished_at.is_some(),
                    problems,
                    samples: st.filled,
                    passed: st.passed,
                    kept: st.kept,
                    flagged,
                    checkpoint: None,
                    dev_trace: None,
                    dev_plain: None,
                },
            );
        }
        for r in evals {
            let row = rows
                .entry(r.evaluation.iteration)
                .or_insert_with(|| IterationRow {
                    iteration: r.evaluation.iteration,
                    sampled_from: "-".into(),
                    finished: false,
                    problems: 0,
                    samples: 0,
                    passed: 0,
                    kept: 0,
                    flagged: 0,
                    checkpoint: None,
                    dev_trace: None,
                    dev_plain: None,
                });
            row.checkpoint = Some(r.evaluation.checkpoint.clone());
            if r.evaluation.trace {
                row.dev_trace = Some(r);
            } else {
                row.dev_plain = Some(r);
            }
        }
        let rows: Vec<IterationRow> = rows.into_values().collect();
        let results: Vec<EvalResult> = rows
            .iter()
            .flat_map(|r| r.dev_trace.iter().chain(r.dev_plain.iter()).cloned())
            .collect();
        Ok(Report {
            model: self.config().model.clone(),
            tasks: status.tasks,
            hard: status.hard.as_ref().map(Vec::len),
            trace_consistency: self.config().trace_consistency,
            rows,
            best: crate::run::best_of(&results),
        })
    }

    /// How many samples of an iteration the trace-consistency filter flags among those
    /// that pass their tests (and dedupe, when enabled).
    pub fn flagged(&self, iteration: u32) -> Result<u64, Error> {
        let mut chain = Chain::new().with(PassesAllTests);
        if self.config().dedupe {
            chain = chain.with(Dedupe::new());
        }
        let mut consistency = TraceConsistency;
        let mut flagged = 0;
        self.for_each_candidate(iteration, |c| {
            flagged += u64::from(chain.keep(&c) && !consistency.keep(&c));
            Ok(())
        })?;
        Ok(flagged)
    }
}

fn percent(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| format!("{:.1}", v * 100.0))
}

fn rates(r: &Option<EvalResult>) -> Vec<String> {
    EVAL_KS
        .iter()
        .map(|&k| percent(r.as_ref().and_then(|r| r.pass_at(k))))
        .collect()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

impl Report {
    fn header(&self) -> String {
        format!(
            "model {}; {} train / {} dev tasks; hard problems: {}; trace-consistency filter: {}",
            self.model,
            self.tasks.0,
            self.tasks.1,
            self.hard
                .map_or_else(|| "not selected yet".to_owned(), |h| h.to_string()),
            if self.trace_consistency {
                "on (flagged samples are dropped)"
            } else {
                "off (flagged samples are counted, kept)"
            }
        )
    }

    fn cells(&self) -> (Vec<&'static str>, Vec<Vec<String>>) {
        let head = vec![
            "iter", "from", "problems", "samples", "passed", "kept", "flagged", "dev", "trace@1",
            "@5", "@10", "@25", "plain@1", "@5", "@10", "@25",
        ];
        let body = self
            .rows
            .iter()
            .map(|r| {
                let mut row = vec![
                    format!(
                        "{}{}",
                        r.iteration,
                        if self.best.is_some_and(|(b, _)| b == r.iteration) {
                            "*"
                        } else {
                            ""
                        }
                    ),
                    r.sampled_from.clone(),
                    r.problems.to_string(),
                    r.samples.to_string(),
                    r.passed.to_string(),
                    if r.iteration == 0 {
                        "-".into()
                    } else {
                        r.kept.to_string()
                    },
                    if r.iteration == 0 {
                        "-".into()
                    } else {
                        r.flagged.to_string()
                    },
                    r.checkpoint.clone().unwrap_or_else(|| "-".into()),
                ];
                row.extend(rates(&r.dev_trace));
                row.extend(rates(&r.dev_plain));
                row
            })
            .collect();
        (head, body)
    }

    /// The report as a text table: one line per iteration, the dev-set fix rates in
    /// percent (pass@1, 5, 10, 25 with traces in the prompt, then without), `*` on the
    /// best iteration.
    pub fn text(&self) -> String {
        let (head, body) = self.cells();
        let mut widths: Vec<usize> = head.iter().map(|h| h.len()).collect();
        for row in &body {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let line = |cells: Vec<String>| -> String {
            let mut out = String::new();
            for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
                if i > 0 {
                    out.push_str("  ");
                }
                // Names left, numbers right.
                if i == 1 || i == 7 {
                    let _ = write!(out, "{cell:<w$}");
                } else {
                    let _ = write!(out, "{cell:>w$}");
                }
            }
            out.trim_end().to_owned()
        };
        let mut out = String::new();
        let _ = writeln!(out, "{}", self.header());
        let _ = writeln!(
            out,
            "{}",
            line(head.iter().map(|h| h.to_string()).collect())
        );
        for row in body {
            let _ = writeln!(out, "{}", line(row));
        }
        let _ = writeln!(
            out,
            "dev: the checkpoint evaluated; trace@k / plain@k: end-to-end fix rate (unbiased \
             pass@k, %) on the dev set with / without traces in the prompt"
        );
        match self.best {
            Some((k, p)) => {
                let _ = writeln!(
                    out,
                    "best iteration on the dev set: {k} (pass@1 {:.1}%)",
                    p * 100.0
                );
            }
            None => {
                let _ = writeln!(out, "best iteration on the dev set: none evaluated yet");
            }
        }
        out
    }

    /// The SVG plot: dev-set pass@1 and pass@10 per iteration, with and without
    /// traces, on a 0 to 100% axis; deterministic bytes.
    pub fn svg(&self) -> String {
        let (w, h) = (680.0, 320.0);
        let (left, right, top, bottom) = (56.0, 180.0, 20.0, 40.0);
        let (pw, ph) = (w - left - right, h - top - bottom);
        let last = self
            .rows
            .iter()
            .map(|r| r.iteration)
            .max()
            .unwrap_or(0)
            .max(1);
        let x = |k: u32| left + pw * f64::from(k) / f64::from(last);
        let y = |v: f64| top + ph * (1.0 - v);
        let mut s = String::new();
        let _ = writeln!(
            s,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" \
             viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"dev-set fix rate per iteration\">"
        );
        let _ = writeln!(
            s,
            "<rect x=\"0\" y=\"0\" width=\"{w}\" height=\"{h}\" fill=\"#ffffff\"/>"
        );
        for tick in 0..=4 {
            let v = f64::from(tick) / 4.0;
            let _ = writeln!(
                s,
                "<line x1=\"{left:.1}\" y1=\"{yy:.1}\" x2=\"{x2:.1}\" y2=\"{yy:.1}\" stroke=\"#dddddd\"/>\
                 <text x=\"{tx:.1}\" y=\"{ty:.1}\" font-size=\"11\" text-anchor=\"end\">{p}%</text>",
                yy = y(v),
                x2 = left + pw,
                tx = left - 6.0,
                ty = y(v) + 4.0,
                p = tick * 25
            );
        }
        for k in 0..=last {
            let _ = writeln!(
                s,
                "<text x=\"{xx:.1}\" y=\"{ty:.1}\" font-size=\"11\" text-anchor=\"middle\">{k}</text>",
                xx = x(k),
                ty = top + ph + 16.0
            );
        }
        let _ = writeln!(
            s,
            "<text x=\"{xx:.1}\" y=\"{ty:.1}\" font-size=\"12\" text-anchor=\"middle\">iteration</text>",
            xx = left + pw / 2.0,
            ty = h - 6.0
        );
        let series: [(&str, &str, &str, bool, u64); 4] = [
            ("pass@1 with traces", "#1f77b4", "", true, 1),
            ("pass@1 without traces", "#d62728", "", false, 1),
            (
                "pass@10 with traces",
                "#1f77b4",
                " stroke-dasharray=\"5 3\"",
                true,
                10,
            ),
            (
                "pass@10 without traces",
                "#d62728",
                " stroke-dasharray=\"5 3\"",
                false,
                10,
            ),
        ];
        for (i, (name, color, dash, trace, k)) in series.iter().enumerate() {
            let points: Vec<(f64, f64)> = self
                .rows
                .iter()
                .filter_map(|r| {
                    let e = if *trace { &r.dev_trace } else { &r.dev_plain };
                    e.as_ref()
                        .and_then(|e| e.pass_at(*k))
                        .map(|v| (x(r.iteration), y(v)))
                })
                .collect();
            if points.len() > 1 {
                let path: Vec<String> = points
                    .iter()
                    .map(|(a, b)| format!("{a:.1},{b:.1}"))
                    .collect();
                let _ = writeln!(
                    s,
                    "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"{dash} points=\"{}\"/>",
                    path.join(" ")
                );
            }
            for (a, b) in &points {
                let _ = writeln!(
                    s,
                    "<circle cx=\"{a:.1}\" cy=\"{b:.1}\" r=\"3\" fill=\"{color}\"/>"
                );
            }
            let ly = top + 14.0 + 18.0 * i as f64;
            let lx = left + pw + 12.0;
            let _ = writeln!(
                s,
                "<line x1=\"{lx:.1}\" y1=\"{ly:.1}\" x2=\"{x2:.1}\" y2=\"{ly:.1}\" stroke=\"{color}\" \
                 stroke-width=\"2\"{dash}/><text x=\"{tx:.1}\" y=\"{ty:.1}\" font-size=\"11\">{name}</text>",
                x2 = lx + 20.0,
                tx = lx + 24.0,
                ty = ly + 4.0
            );
        }
        s.push_str("</svg>\n");
        s
    }

    /// The report as one self-contained HTML page (inline CSS and SVG, no scripts, no
    /// external resources).
    pub fn html(&self) -> String {
        let (head, body) = self.cells();
        let mut s = String::new();
        s.push_str(
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <title>nxt selftrain report</title>\n<style>\n\
             body { font-family: sans-serif; margin: 2em; color: #222; }\n\
             table { border-collapse: collapse; font-size: 14px; }\n\
             th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }\n\
             td.name { text-align: left; white-space: nowrap; }\n\
             tr.best { background: #eef6ee; font-weight: bold; }\n\
             </style>\n</head>\n<body>\n<h1>Self-training report</h1>\n",
        );
        let _ = writeln!(s, "<p id=\"summary\">{}</p>", escape(&self.header()));
        let _ = writeln!(
            s,
            "<figure>\n{}<figcaption>End-to-end fix rate on the dev set \
             (unbiased pass@k) per iteration, with and without execution traces in the \
             prompt.</figcaption>\n</figure>",
            self.svg()
        );
        s.push_str("<table id=\"iterations\">\n<thead>\n<tr>");
        for h in &head {
            let _ = write!(s, "<th>{}</th>", escape(h));
        }
        s.push_str("</tr>\n</thead>\n<tbody>\n");
        for (row, r) in body.iter().zip(&self.rows) {
            let best = self.best.is_some_and(|(b, _)| b == r.iteration);
            s.push_str(if best { "<tr class=\"best\">" } else { "<tr>" });
            for (i, cell) in row.iter().enumerate() {
                if i == 1 || i == 7 {
                    let _ = write!(s, "<td class=\"name\">{}</td>", escape(cell));
                } else {
                    let _ = write!(s, "<td>{}</td>", escape(cell));
                }
            }
            s.push_str("</tr>\n");
        }
        s.push_str("</tbody>\n</table>\n");
        let best = match self.best {
            Some((k, p)) => format!(
                "Best iteration on the dev set: {k} (pass@1 {:.1}% with traces).",
                p * 100.0
            ),
            None => "No iteration is evaluated on the dev set yet.".into(),
        };
        let _ = writeln!(s, "<p id=\"best\">{}</p>", escape(&best));
        s.push_str(
            "<p>Columns: <i>from</i>, the model sampled; <i>flagged</i>, samples that pass \
             their tests but whose rationale quotes a value the trace contradicts; \
             <i>dev</i>, the checkpoint evaluated; <i>trace@k</i> and <i>plain@k</i>, \
             pass@k in percent with and without traces in the prompt.</p>\n</body>\n</html>\n",
        );
        s
    }
}
