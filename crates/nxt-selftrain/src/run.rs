//! The self-training loop over a [`Store`] (Algorithm 1 of the NExT paper).
//!
//! Iteration 0 selects the hard problems: the base model answers
//! [`RunConfig::selection_samples`] prompts per train task, and a task is hard when
//! its pass@1 (passing samples / samples) is below [`RunConfig::hard_threshold`]
//! (the paper: < 0.1 from 32 samples; a threshold of 1 or more keeps every task and
//! samples nothing). Iterations 1 to [`RunConfig::iterations`] each sample
//! [`RunConfig::samples_per_task`] answers per hard task, read them, verify the
//! programs and keep what the filters keep; [`Run::export`] writes the kept samples
//! as fine-tuning JSONL.
//!
//! Everything a step does lands in the store first: the slots are planned before any
//! request, filled one request at a time, and verdicts are recorded as they come, so
//! a step killed at any point continues where it stopped when run again (only empty
//! slots are sampled, only unjudged samples verified).

use std::collections::{BTreeMap, HashMap};
use std::io::Write as _;
use std::path::Path;

use nxt_core::{
    ChatMessage, CheckResult, PromptInput, Sample, SampleRequest, Sampler, Task, Tracer, Verifier,
    VerifyOptions,
};
use nxt_prompt::{Format, PromptBody, PromptBuilder, Prompter, parse_response};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::filter::{
    Candidate, CapPerTask, Chain, Dedupe, Filter, PassesAllTests, Rejected, TraceConsistency,
};
use crate::{Error, SlotAnswer, Split, Store};

fn run_error(message: impl Into<String>) -> Error {
    Error::Run(message.into())
}

/// A run's configuration, stored in its database as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RunConfig {
    /// The sampler, as given (`replay:FILE` or `openai:BASE_URL`); recorded, not used
    /// by the library.
    pub sampler: String,
    /// The model asked (recorded with every sample).
    pub model: String,
    /// Samples per hard task in every iteration.
    pub samples_per_task: u32,
    /// Samples per train task when selecting the hard problems.
    pub selection_samples: u32,
    /// A task is hard when its pass@1 is below this; 1 or more keeps every task.
    pub hard_threshold: f64,
    /// How many self-training iterations (not counting the selection).
    pub iterations: u32,
    /// Sampling temperature.
    pub temperature: Option<f64>,
    /// Most tokens per answer.
    pub max_tokens: Option<u32>,
    /// `chat` or `text` prompts.
    pub format: String,
    /// Few-shot exemplars in each prompt.
    pub shots: usize,
    /// Whether the prompt shows the execution trace.
    pub trace: bool,
    /// Drop samples with the same normalized program and rationale.
    pub dedupe: bool,
    /// Keep at most this many samples per task and iteration.
    pub cap_per_task: Option<usize>,
    /// Drop samples whose rationale quotes a value the prompt's trace contradicts
    /// ([`TraceConsistency`]; not in the paper).
    pub trace_consistency: bool,
}

impl Default for RunConfig {
    fn default() -> RunConfig {
        RunConfig {
            sampler: String::new(),
            model: "model".into(),
            samples_per_task: 32,
            selection_samples: 32,
            hard_threshold: 0.1,
            iterations: 1,
            temperature: Some(0.8),
            max_tokens: None,
            format: "chat".into(),
            shots: 0,
            trace: true,
            dedupe: true,
            cap_per_task: None,
            trace_consistency: false,
        }
    }
}

impl RunConfig {
    fn check(&self) -> Result<(), Error> {
        if self.samples_per_task == 0 {
            return Err(Error::Config("samples per task must be at least 1".into()));
        }
        if self.selection_samples == 0 && self.hard_threshold < 1.0 {
            return Err(Error::Config(
                "selection samples must be at least 1 (or the hard threshold 1)".into(),
            ));
        }
        if self.hard_threshold.is_nan() || self.hard_threshold < 0.0 {
            return Err(Error::Config("the hard threshold must be >= 0".into()));
        }
        if self.format != "chat" && self.format != "text" {
            return Err(Error::Config(format!(
                "format {:?}: expected chat or text",
                self.format
            )));
        }
        Ok(())
    }

    /// Reads a configuration from TOML: the fields of [`RunConfig`] at the top level,
    /// those not given keeping their defaults; an unknown field is an error.
    pub fn from_toml(text: &str) -> Result<RunConfig, Error> {
        let doc: toml_edit::DocumentMut = text
            .parse()
            .map_err(|e: toml_edit::TomlError| Error::Config(e.to_string()))?;
        let json = toml_table(doc.as_table());
        serde_json::from_value(json).map_err(|e| Error::Config(e.to_string()))
    }

    /// The prompter this configuration asks for.
    pub fn prompter(&self) -> Result<Prompter, Error> {
        PromptBuilder::new()
            .format(if self.format == "text" {
                Format::Text
            } else {
                Format::Chat
            })
            .shots(self.shots)
            .trace(self.trace)
            .build()
            .map_err(|e| run_error(format!("prompts: {e}")))
    }

    /// The filters of an iteration, in order: passes all tests, then dedupe, trace
    /// consistency and the cap per task when configured.
    pub fn filters(&self) -> Chain {
        let mut chain = Chain::new().with(PassesAllTests);
        if self.dedupe {
            chain = chain.with(Dedupe::new());
        }
        if self.trace_consistency {
            chain = chain.with(TraceConsistency);
        }
        if let Some(cap) = self.cap_per_task {
            chain = chain.with(CapPerTask::new(cap));
        }
        chain
    }
}

/// What a step did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StepReport {
    /// The iteration worked on; `None` when the run was already done.
    pub iteration: Option<u32>,
    /// Tasks prompted.
    pub tasks: usize,
    /// Tasks without a prompt (their buggy program passes, or it cannot be traced),
    /// with why.
    pub unprompted: Vec<(String, String)>,
    /// Samples asked of the sampler in this step (0 when resuming a sampled
    /// iteration).
    pub sampled: u64,
    /// Programs verified in this step.
    pub verified: u64,
    /// Whether the iteration is finished.
    pub finished: bool,
}

/// Where one iteration stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IterationStatus {
    /// Its number (0: the selection).
    pub iteration: u32,
    /// Whether it is finished.
    pub finished: bool,
    /// Slots planned.
    pub planned: u64,
    /// Slots filled.
    pub filled: u64,
    /// Answers a program could be read from.
    pub parsed: u64,
    /// Programs verified.
    pub verified: u64,
    /// Programs that passed every test.
    pub passed: u64,
    /// Samples the filters keep (iterations from 1).
    pub kept: u64,
    /// Per filter, how many it rejected (iterations from 1).
    pub rejected: Vec<(String, u64)>,
}

/// Where a run stands.
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    /// The configuration.
    pub config: RunConfig,
    /// Train and dev tasks.
    pub tasks: (usize, usize),
    /// The hard tasks, once the selection is finished.
    pub hard: Option<Vec<String>>,
    /// The iterations begun.
    pub iterations: Vec<IterationStatus>,
    /// What `step` does next.
    pub next: Next,
}

/// What comes next in a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Select the hard problems (iteration 0).
    Select,
    /// Run (or continue) this iteration.
    Iteration(u32),
    /// Nothing: every iteration is finished.
    Done,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let c = &self.config;
        writeln!(
            f,
            "model {} via {}; {} train / {} dev tasks",
            c.model, c.sampler, self.tasks.0, self.tasks.1
        )?;
        match &self.hard {
            Some(hard) => writeln!(
                f,
                "hard tasks: {} (pass@1 < {} from {} samples)",
                hard.len(),
                c.hard_threshold,
                c.selection_samples
            )?,
            None => writeln!(f, "hard tasks: not selected yet")?,
        }
        for it in &self.iterations {
            let name = if it.iteration == 0 {
                "selection".to_owned()
            } else {
                format!("iteration {}", it.iteration)
            };
            write!(
                f,
                "{name}: {}; {}/{} sampled, {} parsed, {} verified, {} passed",
                if it.finished {
                    "finished"
                } else {
                    "unfinished"
                },
                it.filled,
                it.planned,
                it.parsed,
                it.verified,
                it.passed
            )?;
            if it.iteration > 0 {
                write!(f, ", {} kept", it.kept)?;
                for (name, n) in &it.rejected {
                    write!(f, "; {name} rejected {n}")?;
                }
            }
            writeln!(f)?;
        }
        match self.next {
            Next::Select => writeln!(f, "next: select the hard problems"),
            Next::Iteration(k) => writeln!(f, "next: iteration {k} of {}", c.iterations),
            Next::Done => writeln!(f, "next: nothing, the run is done"),
        }
    }
}

/// A kept sample, ready for export.
#[derive(Debug, Clone, PartialEq)]
pub struct Kept {
    /// Its iteration.
    pub iteration: u32,
    /// Its task.
    pub task_id: String,
    /// Its index.
    pub index: u32,
    /// The prompt it answers.
    pub prompt: PromptInput,
    /// The model's answer, as given.
    pub answer: String,
}

/// The form of the fine-tuning records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// `{"messages": [{"role", "content"}, ...]}`: the prompt's messages (a text
    /// prompt as one user message), then the answer as the assistant's.
    Chat,
    /// `{"prompt": ..., "completion": ...}`: a chat prompt's contents joined by blank
    /// lines.
    Completion,
}

/// One self-training run: a [`Store`] and its [`RunConfig`].
#[derive(Debug)]
pub struct Run {
    store: Store,
    config: RunConfig,
}

impl Run {
    /// Creates a run's database at `path` with its configuration and task sets.
    pub fn init(
        path: impl AsRef<Path>,
        config: &RunConfig,
        train: &[Task],
        dev: &[Task],
    ) -> Result<Run, Error> {
        config.check()?;
        if train.is_empty() {
            return Err(Error::Config("no train tasks".into()));
        }
        let json = serde_json::to_value(config).expect("a config serializes");
        let mut store = Store::create(path, &json)?;
        store.add_tasks(Split::Train, train)?;
        store.add_tasks(Split::Dev, dev)?;
        Ok(Run {
            store,
            config: config.clone(),
        })
    }

    /// Opens a run's database.
    pub fn open(path: impl AsRef<Path>) -> Result<Run, Error> {
        let store = Store::open(path)?;
        let config: RunConfig = serde_json::from_value(store.config()?)
            .map_err(|e| Error::Config(format!("stored configuration: {e}")))?;
        Ok(Run { store, config })
    }

    /// The configuration.
    pub fn config(&self) -> &RunConfig {
        &self.config
    }

    /// Sets how many iterations the run has (not counting the selection); fewer than
    /// the iterations already begun is an error.
    pub fn set_iterations(&mut self, iterations: u32) -> Result<(), Error> {
        let begun = self.store.iterations()?.last().map_or(0, |it| it.iteration);
        if iterations < begun {
            return Err(Error::Config(format!(
                "the run has begun iteration {begun}; it cannot stop at {iterations}"
            )));
        }
        let mut config = self.config.clone();
        config.iterations = iterations;
        self.store
            .set_config(&serde_json::to_value(&config).expect("a config serializes"))?;
        self.config = config;
        Ok(())
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// What [`Run::step`] does next.
    pub fn next(&self) -> Result<Next, Error> {
        let iterations = self.store.iterations()?;
        Ok(match iterations.last() {
            None => Next::Select,
            Some(it) if it.finished_at.is_none() && it.iteration == 0 => Next::Select,
            Some(it) if it.finished_at.is_none() => Next::Iteration(it.iteration),
            Some(it) if it.iteration < self.config.iterations => Next::Iteration(it.iteration + 1),
            Some(_) => Next::Done,
        })
    }

    /// The hard tasks, once the selection (iteration 0) is finished, by task id.
    pub fn hard_tasks(&self) -> Result<Option<Vec<String>>, Error> {
        let finished = self
            .store
            .iterations()?
            .first()
            .is_some_and(|it| it.finished_at.is_some());
        if !finished {
            return Ok(None);
        }
        let train = self.store.tasks(Split::Train)?;
        if self.config.hard_threshold >= 1.0 {
            return Ok(Some(train.into_iter().map(|t| t.task_id).collect()));
        }
        let mut tally: HashMap<String, (u64, u64)> = HashMap::new();
        let verdicts: HashMap<(String, u32), bool> = self
            .store
            .verdicts(0)?
            .into_iter()
            .map(|(slot, r)| ((slot.task_id, slot.index), r.status.passed()))
            .collect();
        for sample in self.store.samples(0)? {
            if sample.answer.is_none() {
                continue;
            }
            let passed = verdicts
                .get(&(sample.slot.task_id.clone(), sample.slot.index))
                .copied()
                .unwrap_or(false);
            let entry = tally.entry(sample.slot.task_id).or_default();
            entry.0 += 1;
            entry.1 += u64::from(passed);
        }
        Ok(Some(
            train
                .into_iter()
                .filter(|t| {
                    tally
                        .get(&t.task_id)
                        .is_some_and(|&(n, c)| (c as f64) / (n as f64) < self.config.hard_threshold)
                })
                .map(|t| t.task_id)
                .collect(),
        ))
    }

    /// Runs what comes next (the selection, or the next or an unfinished iteration)
    /// to its end; continues an interrupted step without sampling again what is
    /// stored. Sampler failures leave their slots empty: the step stores what it
    /// could, then fails, and running it again asks only for the missing answers.
    pub fn step<S, T, V>(
        &mut self,
        sampler: &S,
        tracer: &T,
        verifier: &V,
        on_progress: &mut dyn FnMut(&str),
    ) -> Result<StepReport, Error>
    where
        S: Sampler,
        T: Tracer,
        V: Verifier,
    {
        let iteration = match self.next()? {
            Next::Done => return Ok(StepReport::default()),
            Next::Select => match self.store.iterations()?.first() {
                Some(_) => 0,
                None => self.store.begin_iteration(None)?,
            },
            Next::Iteration(k) => {
                if self.store.iterations()?.iter().any(|it| it.iteration == k) {
                    k
                } else {
                    self.store.begin_iteration(None)?
                }
            }
        };
        let mut report = StepReport {
            iteration: Some(iteration),
            ..StepReport::default()
        };
        let (tasks, n) = if iteration == 0 {
            if self.config.hard_threshold >= 1.0 {
                (Vec::new(), 0)
            } else {
                (
                    self.store.tasks(Split::Train)?,
                    self.config.selection_samples,
                )
            }
        } else {
            let hard = self
                .hard_tasks()?
                .ok_or_else(|| run_error("the hard problems are not selected"))?;
            let train = self.store.tasks(Split::Train)?;
            let tasks: Vec<Task> = train
                .into_iter()
                .filter(|t| hard.contains(&t.task_id))
                .collect();
            (tasks, self.config.samples_per_task)
        };
        report.tasks = tasks.len();

        // Prompts, then slots.
        if !tasks.is_empty() {
            on_progress(&format!(
                "iteration {iteration}: prompting {} tasks",
                tasks.len()
            ));
            let prompter = self.config.prompter()?;
            let prompts = prompter.prompt_all(&tasks, tracer, verifier);
            for (task, prompt) in tasks.iter().zip(prompts) {
                let prompt = match prompt {
                    Ok(p) => p,
                    Err(e) => {
                        report
                            .unprompted
                            .push((task.task_id.clone(), e.to_string()));
                        continue;
                    }
                };
                let mut request = match prompt.body {
                    PromptBody::Text(text) => SampleRequest::text(&task.task_id, text),
                    PromptBody::Chat(messages) => SampleRequest::chat(
                        &task.task_id,
                        messages
                            .into_iter()
                            .map(|m| ChatMessage::new(role_name(m.role), m.content))
                            .collect(),
                    ),
                };
                request.n = n;
                request.temperature = self.config.temperature;
                request.max_tokens = self.config.max_tokens;
                self.store
                    .plan(iteration, &request, &self.config.model, None)?;
            }
        }

        // Sampling, a few requests at a time, each request's answers in one
        // transaction.
        let pending = self.store.pending(iteration)?;
        let mut failure: Option<String> = None;
        for chunk in pending.chunks(8) {
            let requests: Vec<SampleRequest> = chunk.iter().map(|p| p.request.clone()).collect();
            let results = sampler.sample_all(&requests);
            for (pending, result) in chunk.iter().zip(results) {
                match result {
                    Ok(completions) if completions.len() == pending.slots.len() => {
                        let answers: Vec<SlotAnswer> =
                            completions.into_iter().map(read_answer).collect();
                        self.store.fill(&pending.slots, &answers)?;
                        report.sampled += answers.len() as u64;
                    }
                    Ok(completions) => {
                        failure.get_or_insert(format!(
                            "task {:?}: the sampler gave {} answers for {} asked",
                            pending.request.task_id,
                            completions.len(),
                            pending.slots.len()
                        ));
                    }
                    Err(e) => {
                        failure.get_or_insert(format!(
                            "task {:?}: sampler: {e}",
                            pending.request.task_id
                        ));
                    }
                }
            }
            let (planned, filled) = self.store.progress(iteration)?;
            on_progress(&format!(
                "iteration {iteration}: {filled}/{planned} sampled"
            ));
        }

        // Verification of what is read and not yet judged.
        report.verified = self.verify_pending(iteration, verifier, on_progress)?;
        if let Some(failure) = failure {
            return Err(run_error(format!(
                "iteration {iteration} is unfinished: {failure}; run the step again to \
                 sample what is missing"
            )));
        }
        self.store.finish_iteration(iteration)?;
        report.finished = true;
        Ok(report)
    }

    fn verify_pending<V: Verifier>(
        &mut self,
        iteration: u32,
        verifier: &V,
        on_progress: &mut dyn FnMut(&str),
    ) -> Result<u64, Error> {
        let judged: std::collections::HashSet<(String, u32)> = self
            .store
            .verdicts(iteration)?
            .into_iter()
            .map(|(s, _)| (s.task_id, s.index))
            .collect();
        let tasks: HashMap<String, Task> = self
            .store
            .tasks(Split::Train)?
            .into_iter()
            .map(|t| (t.task_id.clone(), t))
            .collect();
        let todo: Vec<(crate::Slot, Sample)> = self
            .store
            .samples(iteration)?
            .into_iter()
            .filter(|s| !judged.contains(&(s.slot.task_id.clone(), s.slot.index)))
            .filter_map(|s| {
                let code = s.answer.as_ref()?.code.clone()?;
                let sample = Sample {
                    task_id: s.slot.task_id.clone(),
                    sample_id: s.slot.index.to_string(),
                    code,
                    meta: Default::default(),
                };
                Some((s.slot, sample))
            })
            .collect();
        let options = VerifyOptions::default();
        let mut verified = 0;
        for chunk in todo.chunks(64) {
            let pairs: Vec<(&Task, &Sample)> = chunk
                .iter()
                .map(|(slot, sample)| {
                    tasks
                        .get(&slot.task_id)
                        .map(|t| (t, sample))
                        .ok_or_else(|| run_error(format!("unknown task {:?}", slot.task_id)))
                })
                .collect::<Result<_, _>>()?;
            let results = verifier.verify_all(&pairs, &options);
            for ((slot, _), result) in chunk.iter().zip(results) {
                let result: CheckResult =
                    result.map_err(|e| run_error(format!("verification: {e}")))?;
                self.store.record_verdict(slot, &result)?;
                verified += 1;
            }
            on_progress(&format!(
                "iteration {iteration}: {verified}/{} verified",
                todo.len()
            ));
        }
        Ok(verified)
    }

    /// The candidates of an iteration, in order (by task, then index), filled slots
    /// only.
    pub fn candidates(&self, iteration: u32) -> Result<Vec<Candidate>, Error> {
        let mut verdicts: HashMap<(String, u32), CheckResult> = self
            .store
            .verdicts(iteration)?
            .into_iter()
            .map(|(s, r)| ((s.task_id, s.index), r))
            .collect();
        let mut prompts: HashMap<String, String> = HashMap::new();
        let mut out = Vec::new();
        for s in self.store.samples(iteration)? {
            let Some(answer) = s.answer else {
                continue;
            };
            let prompt = match prompts.get(&s.prompt_hash) {
                Some(p) => p.clone(),
                None => {
                    let text = self
                        .store
                        .prompt(&s.prompt_hash)?
                        .map(|p| prompt_text(&p))
                        .unwrap_or_default();
                    prompts.insert(s.prompt_hash.clone(), text.clone());
                    text
                }
            };
            out.push(Candidate {
                verdict: verdicts.remove(&(s.slot.task_id.clone(), s.slot.index)),
                task_id: s.slot.task_id,
                index: s.slot.index,
                rationale: answer.rationale,
                code: answer.code,
                prompt: Some(prompt),
            });
        }
        Ok(out)
    }

    /// The samples of an iteration the run's filters keep, in order, and how many
    /// each filter rejected.
    pub fn kept(&self, iteration: u32) -> Result<(Vec<Kept>, Rejected), Error> {
        let mut chain = self.config.filters();
        let keep: std::collections::HashSet<(String, u32)> = self
            .candidates(iteration)?
            .into_iter()
            .filter(|c| chain.keep(c))
            .map(|c| (c.task_id, c.index))
            .collect();
        let mut prompts: BTreeMap<String, PromptInput> = BTreeMap::new();
        let mut out = Vec::new();
        for s in self.store.samples(iteration)? {
            if !keep.contains(&(s.slot.task_id.clone(), s.slot.index)) {
                continue;
            }
            let prompt = match prompts.get(&s.prompt_hash) {
                Some(p) => p.clone(),
                None => {
                    let p = self
                        .store
                        .prompt(&s.prompt_hash)?
                        .ok_or_else(|| run_error(format!("prompt {} is missing", s.prompt_hash)))?;
                    prompts.insert(s.prompt_hash.clone(), p.clone());
                    p
                }
            };
            out.push(Kept {
                iteration,
                task_id: s.slot.task_id,
                index: s.slot.index,
                prompt,
                answer: s.answer.map(|a| a.completion.text).unwrap_or_default(),
            });
        }
        Ok((out, chain.rejected()))
    }

    /// Where the run stands.
    pub fn status(&self) -> Result<Status, Error> {
        let mut iterations = Vec::new();
        for it in self.store.iterations()? {
            let (planned, filled) = self.store.progress(it.iteration)?;
            let candidates = self.candidates(it.iteration)?;
            let parsed = candidates.iter().filter(|c| c.code.is_some()).count() as u64;
            let verified = candidates.iter().filter(|c| c.verdict.is_some()).count() as u64;
            let passed = candidates
                .iter()
                .filter(|c| c.verdict.as_ref().is_some_and(|v| v.status.passed()))
                .count() as u64;
            let (kept, rejected) = if it.iteration == 0 {
                (0, Vec::new())
            } else {
                let (kept, rejected) = self.kept(it.iteration)?;
                (kept.len() as u64, rejected)
            };
            iterations.push(IterationStatus {
                iteration: it.iteration,
                finished: it.finished_at.is_some(),
                planned,
                filled,
                parsed,
                verified,
                passed,
                kept,
                rejected,
            });
        }
        Ok(Status {
            config: self.config.clone(),
            tasks: (
                self.store.tasks(Split::Train)?.len(),
                self.store.tasks(Split::Dev)?.len(),
            ),
            hard: self.hard_tasks()?,
            iterations,
            next: self.next()?,
        })
    }

    /// The fine-tuning records of an iteration (from 1), or of iterations 1 to
    /// `iteration` when `accumulate`, one JSON object per line, in order. The paper
    /// trains every iteration from the base checkpoint on that iteration's data only:
    /// `accumulate = false`.
    pub fn export_records(
        &self,
        iteration: u32,
        format: ExportFormat,
        accumulate: bool,
    ) -> Result<Vec<String>, Error> {
        if iteration == 0 {
            return Err(run_error(
                "iteration 0 selects the hard problems; export iterations from 1",
            ));
        }
        let finished = self
            .store
            .iterations()?
            .iter()
            .any(|it| it.iteration == iteration && it.finished_at.is_some());
        if !finished {
            return Err(run_error(format!("iteration {iteration} is not finished")));
        }
        let first = if accumulate { 1 } else { iteration };
        let mut lines = Vec::new();
        for k in first..=iteration {
            for kept in self.kept(k)?.0 {
                lines.push(record(&kept, format).to_string());
            }
        }
        Ok(lines)
    }

    /// Writes [`Run::export_records`] to `out` (replacing it) and records the export
    /// in the store; returns how many records were written.
    pub fn export(
        &mut self,
        iteration: u32,
        format: ExportFormat,
        accumulate: bool,
        out: &Path,
    ) -> Result<u64, Error> {
        let lines = self.export_records(iteration, format, accumulate)?;
        let mut bytes = Vec::new();
        for line in &lines {
            bytes.extend_from_slice(line.as_bytes());
            bytes.push(b'\n');
        }
        let io = |source| Error::Io {
            path: out.to_owned(),
            source,
        };
        let dir = out
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let tmp = dir.join(format!(
            ".{}.tmp-{}",
            out.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            std::process::id()
        ));
        let mut file = std::fs::File::create(&tmp).map_err(io)?;
        file.write_all(&bytes).map_err(io)?;
        file.sync_all().map_err(io)?;
        drop(file);
        std::fs::rename(&tmp, out).map_err(io)?;
        let sha: String = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let kind = format!(
            "{}{}",
            match format {
                ExportFormat::Chat => "chat",
                ExportFormat::Completion => "completion",
            },
            if accumulate { "-accumulated" } else { "" }
        );
        self.store.record_export(
            Some(iteration),
            &kind,
            &out.to_string_lossy(),
            lines.len() as u64,
            &sha,
        )?;
        Ok(lines.len() as u64)
    }
}

fn toml_table(table: &toml_edit::Table) -> serde_json::Value {
    serde_json::Value::Object(
        table
            .iter()
            .map(|(key, item)| (key.to_owned(), toml_item(item)))
            .collect(),
    )
}

fn toml_item(item: &toml_edit::Item) -> serde_json::Value {
    match item {
        toml_edit::Item::None => serde_json::Value::Null,
        toml_edit::Item::Value(v) => toml_value(v),
        toml_edit::Item::Table(t) => toml_table(t),
        toml_edit::Item::ArrayOfTables(a) => a.iter().map(toml_table).collect(),
    }
}

fn toml_value(value: &toml_edit::Value) -> serde_json::Value {
    use serde_json::json;
    match value {
        toml_edit::Value::String(s) => json!(s.value()),
        toml_edit::Value::Integer(i) => json!(i.value()),
        toml_edit::Value::Float(f) => json!(f.value()),
        toml_edit::Value::Boolean(b) => json!(b.value()),
        toml_edit::Value::Datetime(d) => json!(d.value().to_string()),
        toml_edit::Value::Array(a) => a.iter().map(toml_value).collect(),
        toml_edit::Value::InlineTable(t) => serde_json::Value::Object(
            t.iter()
                .map(|(k, v)| (k.to_owned(), toml_value(v)))
                .collect(),
        ),
    }
}

fn role_name(role: nxt_prompt::Role) -> String {
    serde_json::to_value(role)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| "user".into())
}

/// Reads an answer into its rationale and program, or why it cannot be read.
fn read_answer(completion: nxt_core::Completion) -> SlotAnswer {
    match parse_response(&completion.text) {
        Ok(parsed) => SlotAnswer {
            rationale: Some(parsed.rationale),
            code: Some(parsed.code),
            parse_error: None,
            completion,
        },
        Err(e) => SlotAnswer {
            parse_error: Some(e.to_string()),
            ..SlotAnswer::unparsed(completion)
        },
    }
}

/// A prompt as one text: a chat prompt's contents joined by blank lines.
fn prompt_text(prompt: &PromptInput) -> String {
    match prompt {
        PromptInput::Chat(messages) => messages
            .iter()
            .map(|m| m.content.as_str())
            .collect::<Vec<_>>()
            .join("\n\n"),
        PromptInput::Text(text) => text.clone(),
    }
}

fn record(kept: &Kept, format: ExportFormat) -> serde_json::Value {
    use serde_json::json;
    match format {
        ExportFormat::Chat => {
            let mut messages: Vec<serde_json::Value> = match &kept.prompt {
                PromptInput::Chat(messages) => messages
                    .iter()
                    .map(|m| json!({"role": m.role, "content": m.content}))
                    .collect(),
                PromptInput::Text(text) => vec![json!({"role": "user", "content": text})],
            };
            messages.push(json!({"role": "assistant", "content": kept.answer}));
            json!({ "messages": messages })
        }
        ExportFormat::Completion => {
            json!({ "prompt": prompt_text(&kept.prompt), "completion": kept.answer })
        }
    }
}
