//! Filters: which sampled rationales and repairs are kept for fine-tuning.
//!
//! A [`Filter`] sees candidates one at a time, in a fixed order (by task, then by
//! sample index), and says whether to keep each; filters with memory ([`Dedupe`],
//! [`CapPerTask`]) remember what they kept. A [`Chain`] applies filters in order: a
//! candidate is kept when every filter keeps it, and a filter only sees what the
//! filters before it kept. The chain counts, per filter, how many candidates it
//! rejected.

use std::collections::{HashMap, HashSet};

use nxt_core::CheckResult;
use sha2::{Digest, Sha256};

/// One sampled answer, as the filters see it.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// The task it answers.
    pub task_id: String,
    /// Its index among the task's samples at its iteration.
    pub index: u32,
    /// The rationale read from the answer; `None` when the answer could not be read.
    pub rationale: Option<String>,
    /// The program read from the answer; `None` when the answer could not be read.
    pub code: Option<String>,
    /// The verdict on the program, when it was verified.
    pub verdict: Option<CheckResult>,
    /// The prompt's text (a chat prompt's messages joined), for filters that read
    /// the trace shown to the model.
    pub prompt: Option<String>,
}

/// Decides whether a candidate is kept.
pub trait Filter {
    /// The filter's name, in reports.
    fn name(&self) -> &str;

    /// Whether to keep `candidate`. Called once per candidate, in order; a filter may
    /// remember what it kept.
    fn keep(&mut self, candidate: &Candidate) -> bool;
}

impl<F: Filter + ?Sized> Filter for Box<F> {
    fn name(&self) -> &str {
        (**self).name()
    }

    fn keep(&mut self, candidate: &Candidate) -> bool {
        (**self).keep(candidate)
    }
}

/// Keeps the candidates whose program passed every test (the paper's filter).
#[derive(Debug, Clone, Copy, Default)]
pub struct PassesAllTests;

impl Filter for PassesAllTests {
    fn name(&self) -> &str {
        "passes-all-tests"
    }

    fn keep(&mut self, candidate: &Candidate) -> bool {
        candidate.code.is_some()
            && candidate
                .verdict
                .as_ref()
                .is_some_and(|v| v.status.passed())
    }
}

/// Keeps the first of the candidates of a task with the same normalized program and
/// rationale. Normalizing drops trailing whitespace of every line, blank lines and
/// comment-only lines of the program, and folds every run of whitespace of the
/// rationale into one space.
///
/// It remembers a SHA-256 digest of each (task, program, rationale) it keeps, not
/// the texts: 32 bytes per kept candidate.
#[derive(Debug, Clone, Default)]
pub struct Dedupe {
    seen: HashSet<[u8; 32]>,
}

impl Dedupe {
    /// A filter that has seen nothing yet.
    pub fn new() -> Dedupe {
        Dedupe::default()
    }
}

/// A program without trailing whitespace, blank lines and comment-only lines.
pub fn normalize_program(code: &str) -> String {
    code.lines()
        .map(str::trim_end)
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A text with every run of whitespace folded into one space, trimmed.
pub fn normalize_text(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl Filter for Dedupe {
    fn name(&self) -> &str {
        "dedupe"
    }

    fn keep(&mut self, candidate: &Candidate) -> bool {
        let mut digest = Sha256::new();
        for part in [
            candidate.task_id.clone(),
            normalize_program(candidate.code.as_deref().unwrap_or("")),
            normalize_text(candidate.rationale.as_deref().unwrap_or("")),
        ] {
            // Length-prefixed, so that no two triples give the same bytes.
            digest.update((part.len() as u64).to_le_bytes());
            digest.update(part.as_bytes());
        }
        self.seen.insert(digest.finalize().into())
    }
}

/// Keeps at most `n` candidates per task (the first ones it sees).
#[derive(Debug, Clone)]
pub struct CapPerTask {
    cap: usize,
    kept: HashMap<String, usize>,
}

impl CapPerTask {
    /// At most `cap` per task.
    pub fn new(cap: usize) -> CapPerTask {
        CapPerTask {
            cap,
            kept: HashMap::new(),
        }
    }
}

impl Filter for CapPerTask {
    fn name(&self) -> &str {
        "cap-per-task"
    }

    fn keep(&mut self, candidate: &Candidate) -> bool {
        let kept = self.kept.entry(candidate.task_id.clone()).or_insert(0);
        if *kept < self.cap {
            *kept += 1;
            true
        } else {
            false
        }
    }
}

/// Flags a rationale that quotes a variable's value the trace shown in the prompt
/// contradicts: `name=value`, `` `name` is value ``, "the return value is value" or
/// "returns value", for a `name` the trace shows, with a value (spaces ignored) the
/// trace never gives that name (`__return__` for the return value). Only the trace
/// after the prompt's last `# Here is the execution trace` line is read, so the
/// exemplars' traces do not count. A heuristic, off by default: a rationale that talks
/// about the fixed program's values can be flagged too.
#[derive(Debug, Clone, Copy, Default)]
pub struct TraceConsistency;

/// The values a trace gives each variable: `# (k) a=2, b=[1, 2]; (k+1) __return__=3;`.
pub fn trace_values(prompt: &str) -> HashMap<String, HashSet<String>> {
    let trace = prompt
        .rfind("# Here is the execution trace")
        .map_or(prompt, |i| &prompt[i..]);
    let mut out: HashMap<String, HashSet<String>> = HashMap::new();
    for line in trace.lines() {
        let Some(at) = line.find("# (") else {
            continue;
        };
        let comment = &line[at + 2..];
        for step in comment.split("; ") {
            let step = step.trim().trim_end_matches(';');
            let body = match step.strip_prefix('(').and_then(|r| r.split_once(") ")) {
                Some((_, body)) => body,
                None => step,
            };
            // Assignments start at `name=` at the start or after ", ".
            let mut starts = Vec::new();
            let bytes = body.as_bytes();
            let mut i = 0;
            while i < body.len() {
                if i == 0 || body[..i].ends_with(", ") {
                    let name_len = body[i..]
                        .bytes()
                        .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
                        .count();
                    if name_len > 0 && bytes.get(i + name_len) == Some(&b'=') {
                        starts.push((i, i + name_len));
                    }
                }
                i += 1;
            }
            for (k, &(start, eq)) in starts.iter().enumerate() {
                let end = starts.get(k + 1).map_or(body.len(), |&(next, _)| next - 2);
                let value = squash(&body[eq + 1..end.max(eq + 1)]);
                out.entry(body[start..eq].to_owned())
                    .or_default()
                    .insert(value);
            }
        }
    }
    out
}

fn squash(value: &str) -> String {
    value.chars().filter(|c| !c.is_whitespace()).collect()
}

/// A value quoted at the start of `text`: a bracketed or quoted literal, else a token.
fn quoted_value(text: &str) -> Option<String> {
    let text = text.trim_start_matches('`');
    let first = text.chars().next()?;
    let close = match first {
        '[' => Some(']'),
        '(' => Some(')'),
        '{' => Some('}'),
        '\'' | '"' => Some(first),
        _ => None,
    };
    let value = match close {
        Some(close) => {
            let mut depth = 0usize;
            let mut end = None;
            for (i, c) in text.char_indices() {
                if i > 0 && c == close && (first == '\'' || first == '"') {
                    end = Some(i + 1);
                    break;
                }
                if c == first && first != '\'' && first != '"' {
                    depth += 1;
                } else if c == close && first != '\'' && first != '"' {
                    depth -= 1;
                    if depth == 0 {
                        end = Some(i + 1);
                        break;
                    }
                }
            }
            &text[..end?]
        }
        None => {
            let len = text
                .char_indices()
                .take_while(|(_, c)| c.is_alphanumeric() || "_.-+".contains(*c))
                .last()
                .map(|(i, c)| i + c.len_utf8())?;
            text[..len].trim_end_matches('.')
        }
    };
    (!value.is_empty()).then(|| squash(value))
}

/// The (name, value) claims of a rationale.
pub fn rationale_claims(rationale: &str) -> Vec<(String, String)> {
    let mut claims = Vec::new();
    for phrase in ["the return value is ", "returns "] {
        let lower = rationale.to_lowercase();
        let mut from = 0;
        while let Some(i) = lower[from..].find(phrase) {
            let at = from + i + phrase.len();
            if let Some(v) = quoted_value(&rationale[at..]) {
                claims.push(("__return__".to_owned(), v));
            }
            from = at;
        }
    }
    let bytes = rationale.as_bytes();
    for (i, _) in rationale.match_indices('=') {
        if bytes.get(i + 1) == Some(&b'=') || (i > 0 && b"=!<>".contains(&bytes[i - 1])) {
            continue;
        }
        let start = rationale[..i]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .map_or(0, |k| k + 1);
        if start < i
            && let Some(v) = quoted_value(&rationale[i + 1..])
        {
            claims.push((rationale[start..i].to_owned(), v));
        }
    }
    let mut from = 0;
    while let Some(i) = rationale[from..].find("` is ") {
        let at = from + i;
        if let Some(open) = rationale[..at].rfind('`') {
            let name = &rationale[open + 1..at];
            if !name.is_empty()
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && let Some(v) = quoted_value(&rationale[at + 5..])
            {
                claims.push((name.to_owned(), v));
            }
        }
        from = at + 5;
    }
    claims
}

impl TraceConsistency {
    /// The claims of `rationale` that the trace in `prompt` contradicts.
    pub fn contradictions(prompt: &str, rationale: &str) -> Vec<(String, String)> {
        let values = trace_values(prompt);
        rationale_claims(rationale)
            .into_iter()
            .filter(|(name, value)| values.get(name).is_some_and(|seen| !seen.contains(value)))
            .collect()
    }
}

impl Filter for TraceConsistency {
    fn name(&self) -> &str {
        "trace-consistency"
    }

    fn keep(&mut self, candidate: &Candidate) -> bool {
        match (&candidate.prompt, &candidate.rationale) {
            (Some(prompt), Some(rationale)) => {
                TraceConsistency::contradictions(prompt, rationale).is_empty()
            }
            _ => true,
        }
    }
}

/// How many candidates each filter of a [`Chain`] rejected, by filter name, in the
/// chain's order.
pub type Rejected = Vec<(String, u64)>;

/// Filters applied in order; see the [module](self) documentation.
#[derive(Default)]
pub struct Chain {
    filters: Vec<(Box<dyn Filter>, u64)>,
}

impl std::fmt::Debug for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.filters.iter().map(|(f, n)| (f.name().to_owned(), n)))
            .finish()
    }
}

impl Chain {
    /// A chain without filters: it keeps everything.
    pub fn new() -> Chain {
        Chain::default()
    }

    /// Appends a filter.
    pub fn with(mut self, filter: impl Filter + 'static) -> Chain {
        self.filters.push((Box::new(filter), 0));
        self
    }

    /// How many candidates each filter rejected, in the chain's order.
    pub fn rejected(&self) -> Rejected {
        self.filters
            .iter()
            .map(|(f, n)| (f.name().to_owned(), *n))
            .collect()
    }
}

impl Filter for Chain {
    fn name(&self) -> &str {
        "chain"
    }

    fn keep(&mut self, candidate: &Candidate) -> bool {
        for (filter, rejected) in &mut self.filters {
            if !filter.keep(candidate) {
                *rejected += 1;
                return false;
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nxt_core::Verdict;

    fn verdict(status: Verdict) -> CheckResult {
        serde_json::from_value(serde_json::json!({
            "task_id": "t", "sample_id": "0", "status": status, "tests": [],
            "stdout": "", "stderr": "", "duration_ms": 0
        }))
        .unwrap()
    }

    fn cand(task: &str, index: u32, rationale: &str, code: &str, status: Verdict) -> Candidate {
        Candidate {
            task_id: task.into(),
            index,
            rationale: Some(rationale.into()),
            code: Some(code.into()),
            verdict: Some(verdict(status)),
            prompt: None,
        }
    }

    #[test]
    fn passes_all_tests_needs_a_passing_verdict_and_code() {
        let mut f = PassesAllTests;
        assert!(f.keep(&cand("a", 0, "r", "x = 1", Verdict::Passed)));
        assert!(!f.keep(&cand("a", 1, "r", "x = 1", Verdict::Failed)));
        assert!(!f.keep(&cand("a", 2, "r", "x = 1", Verdict::Timeout)));
        let mut unverified = cand("a", 3, "r", "x = 1", Verdict::Passed);
        unverified.verdict = None;
        assert!(!f.keep(&unverified));
        let mut unparsed = cand("a", 4, "r", "x = 1", Verdict::Passed);
        unparsed.code = None;
        assert!(!f.keep(&unparsed));
    }

    #[test]
    fn dedupe_normalizes_program_and_rationale_per_task() {
        let mut f = Dedupe::new();
        assert!(f.keep(&cand(
            "a",
            0,
            "It  subtracts.\n",
            "def f():\n    return 1\n",
            Verdict::Passed
        )));
        // Same after normalization: comment line, trailing spaces, blank lines.
        assert!(!f.keep(&cand(
            "a",
            1,
            " It subtracts. ",
            "# fixed\ndef f():   \n\n    return 1",
            Verdict::Passed
        )));
        // Another rationale, another task, another program: kept.
        assert!(f.keep(&cand(
            "a",
            2,
            "It adds.",
            "def f():\n    return 1\n",
            Verdict::Passed
        )));
        assert!(f.keep(&cand(
            "b",
            0,
            "It subtracts.",
            "def f():\n    return 1\n",
            Verdict::Passed
        )));
        assert!(f.keep(&cand(
            "a",
            3,
            "It subtracts.",
            "def f():\n    return 2\n",
            Verdict::Passed
        )));
        // The parts do not run into each other: the same letters, split otherwise.
        assert!(f.keep(&cand("ab", 0, "x", "y", Verdict::Passed)));
        assert!(f.keep(&cand("a", 0, "x", "by", Verdict::Passed)));
        assert!(f.keep(&cand("a", 1, "yx", "b", Verdict::Passed)));
        assert!(!f.keep(&cand("a", 2, "yx", "b", Verdict::Passed)));
    }

    const PROMPT: &str = "# (0) a=9;\n# Here is the execution trace of the program on the failing test:\n\
        def f(xs, n):  # (0) xs=[1, 2], n=2;\n\
            return xs[::-1]  # (1) __return__=[2, 1];\n\
        assert f([1, 2], 2) == [1, 2]  # (2) __exception__=AssertionError();\n";

    #[test]
    fn trace_values_read_the_last_trace_only() {
        let values = trace_values(PROMPT);
        assert_eq!(values["xs"], HashSet::from(["[1,2]".to_owned()]));
        assert_eq!(values["n"], HashSet::from(["2".to_owned()]));
        assert_eq!(values["__return__"], HashSet::from(["[2,1]".to_owned()]));
        assert!(!values.contains_key("a"), "an exemplar's trace");
    }

    #[test]
    fn trace_consistency_flags_contradicted_values() {
        let flagged = |r: &str| TraceConsistency::contradictions(PROMPT, r);
        assert_eq!(
            flagged("The return value is [1, 2], so the test fails."),
            [("__return__".to_owned(), "[1,2]".to_owned())]
        );
        assert_eq!(
            flagged("With xs=[1, 2] and n=3 the loop ends early."),
            [("n".to_owned(), "3".to_owned())]
        );
        assert_eq!(
            flagged("Here `xs` is [2, 1]."),
            [("xs".to_owned(), "[2,1]".to_owned())]
        );
        assert!(flagged("The function returns [2, 1]; the test expects [1, 2].").is_empty());
        assert!(flagged("__return__=[2, 1] where n == 5 and m=4 (m is not traced).").is_empty());
        let mut filter = TraceConsistency;
        let mut c = cand(
            "a",
            0,
            "The return value is [1, 2].",
            "x = 1",
            Verdict::Passed,
        );
        assert!(filter.keep(&c), "no prompt, nothing to check");
        c.prompt = Some(PROMPT.into());
        assert!(!filter.keep(&c));
        c.rationale = Some("The return value is [2, 1].".into());
        assert!(filter.keep(&c));
    }

    #[test]
    fn cap_per_task_keeps_the_first_n() {
        let mut f = CapPerTask::new(2);
        let kept: Vec<bool> = ["a", "a", "b", "a", "b", "b"]
            .iter()
            .enumerate()
            .map(|(i, t)| f.keep(&cand(t, i as u32, "r", "c", Verdict::Passed)))
            .collect();
        assert_eq!(kept, [true, true, true, false, true, false]);
        assert!(!CapPerTask::new(0).keep(&cand("a", 0, "r", "c", Verdict::Passed)));
    }

    #[test]
    fn chain_applies_in_order_and_counts_rejections() {
        let mut chain = Chain::new()
            .with(PassesAllTests)
            .with(Dedupe::new())
            .with(CapPerTask::new(1));
        let candidates = [
            cand("a", 0, "r", "x = 1", Verdict::Failed), // tests
            cand("a", 1, "r", "x = 2", Verdict::Passed), // kept
            cand("a", 2, "r", "x = 2", Verdict::Passed), // dedupe
            cand("a", 3, "r", "x = 3", Verdict::Passed), // cap
            cand("b", 0, "r", "x = 2", Verdict::Passed), // kept
        ];
        let kept: Vec<u32> = candidates
            .iter()
            .filter(|c| chain.keep(c))
            .map(|c| c.index)
            .collect();
        assert_eq!(kept, [1, 0]);
        assert_eq!(
            chain.rejected(),
            [
                ("passes-all-tests".to_owned(), 1),
                ("dedupe".to_owned(), 1),
                ("cap-per-task".to_owned(), 1)
            ]
        );
        // A failing candidate never reaches the cap: the cap counts kept ones only.
        assert!(Chain::new().keep(&candidates[0]));
    }
}
