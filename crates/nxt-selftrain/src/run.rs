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

use std::collections::HashMap;
use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use nxt_core::{
    ChatMessage, CheckResult, PromptInput, Sample, SampleRequest, Task, Tracer, Verifier,
    VerifyOptions,
};
use nxt_prompt::{Format, PromptBody, PromptBuilder, Prompter, parse_response};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::filter::{
    Candidate, CapPerTask, Chain, Dedupe, Filter, PassesAllTests, Rejected, TraceConsistency,
};
use crate::sampling::SlotSampler;
use crate::{Checkpoint, Error, SlotAnswer, Split, Store};

/// How many distinct programs are verified together (see `Run::verify_pending_in`).
const VERIFY_BATCH: usize = 256;

/// How many tasks are prompted together (see `Run::prompt_and_plan`).
const PROMPT_BATCH: usize = 512;

/// How many tasks' empty slots are read from the store together (see
/// `Run::sample_pending`).
const PENDING_PAGE: usize = 256;

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

/// What a step or an evaluation is working on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// A self-training iteration (0: the selection).
    Iteration(u32),
    /// A dev-set evaluation.
    Evaluation {
        /// Its id in the store.
        id: u32,
        /// The iteration whose checkpoint is evaluated.
        iteration: u32,
        /// Whether the prompts show traces.
        trace: bool,
    },
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scope::Iteration(k) => write!(f, "iteration {k}"),
            Scope::Evaluation {
                iteration, trace, ..
            } => write!(
                f,
                "dev evaluation of iteration {iteration} ({} traces)",
                if *trace { "with" } else { "without" }
            ),
        }
    }
}

impl Scope {
    fn tables(self) -> (crate::store::Tables, u32) {
        match self {
            Scope::Iteration(k) => (crate::store::TRAIN, k),
            Scope::Evaluation { id, .. } => (crate::store::EVAL, id),
        }
    }

    fn progress(self, store: &Store) -> Result<(u64, u64), Error> {
        match self {
            Scope::Iteration(k) => store.progress(k),
            Scope::Evaluation { id, .. } => store.eval_progress(id),
        }
    }

    fn fill(
        self,
        store: &mut Store,
        slots: &[crate::Slot],
        answers: &[SlotAnswer],
    ) -> Result<(), Error> {
        match self {
            Scope::Iteration(_) => store.fill(slots, answers),
            Scope::Evaluation { .. } => store.fill_eval(slots, answers),
        }
    }

    fn record_verdicts(
        self,
        store: &mut Store,
        slots: &[crate::Slot],
        results: &[CheckResult],
    ) -> Result<(), Error> {
        match self {
            Scope::Iteration(_) => store.record_verdicts(slots, results),
            Scope::Evaluation { .. } => store.record_eval_verdicts(slots, results),
        }
    }
}

/// The phase of a step or an evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Building prompts (`total` tasks).
    Prompting,
    /// Sampling (`done` of `total` slots filled).
    Sampling,
    /// Verifying (`done` of `total` programs judged).
    Verifying,
}

/// How far a step or an evaluation is; its `Display` is the progress line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// What is being worked on.
    pub scope: Scope,
    /// The phase.
    pub phase: Phase,
    /// Done so far.
    pub done: u64,
    /// In all.
    pub total: u64,
}

impl std::fmt::Display for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.phase {
            Phase::Prompting => write!(f, "{}: prompting {} tasks", self.scope, self.total),
            Phase::Sampling => write!(f, "{}: {}/{} sampled", self.scope, self.done, self.total),
            Phase::Verifying => {
                write!(f, "{}: {}/{} verified", self.scope, self.done, self.total)
            }
        }
    }
}

/// The ks of the dev-set fix rates (pass@k).
pub const EVAL_KS: [u64; 4] = [1, 5, 10, 25];

/// What a dev-set evaluation did.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalReport {
    /// The evaluation's result so far.
    pub result: EvalResult,
    /// Dev tasks without a prompt, with why.
    pub unprompted: Vec<(String, String)>,
    /// Samples asked of the sampler in this call.
    pub sampled: u64,
    /// Samples judged in this call.
    pub verified: u64,
}

/// A dev-set evaluation and its end-to-end fix rates.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalResult {
    /// The evaluation.
    pub evaluation: crate::Evaluation,
    /// Dev tasks with samples.
    pub tasks: usize,
    /// Samples answered.
    pub samples: u64,
    /// Samples whose program passed every test.
    pub passed: u64,
    /// For each k of [`EVAL_KS`], the mean unbiased pass@k over the tasks with at
    /// least k samples (`None` when none has); an answer without a program counts as
    /// a failed sample.
    pub pass_at: Vec<(u64, Option<f64>)>,
}

impl EvalResult {
    /// pass@k, if computed.
    pub fn pass_at(&self, k: u64) -> Option<f64> {
        self.pass_at
            .iter()
            .find(|(kk, _)| *kk == k)
            .and_then(|(_, v)| *v)
    }

    /// Whether the evaluation is finished.
    pub fn finished(&self) -> bool {
        self.evaluation.finished_at.is_some()
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
    interrupt: Option<Arc<AtomicBool>>,
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
            interrupt: None,
        })
    }

    /// Opens a run's database.
    pub fn open(path: impl AsRef<Path>) -> Result<Run, Error> {
        let store = Store::open(path)?;
        let config: RunConfig = serde_json::from_value(store.config()?)
            .map_err(|e| Error::Config(format!("stored configuration: {e}")))?;
        Ok(Run {
            store,
            config,
            interrupt: None,
        })
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
        let tally = self.store.pass_counts_in(crate::store::TRAIN, 0)?;
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
    ///
    /// `sampler` must be the model [`Run::next_checkpoint`] names (the base model,
    /// or the checkpoint registered for the previous iteration); its name and model
    /// are recorded with every sample.
    pub fn step<S, T, V>(
        &mut self,
        sampler: &S,
        tracer: &T,
        verifier: &V,
        on_progress: &mut dyn FnMut(&str),
    ) -> Result<StepReport, Error>
    where
        S: SlotSampler + ?Sized,
        T: Tracer,
        V: Verifier,
    {
        self.step_with(sampler, tracer, verifier, &mut |p: &Progress| {
            on_progress(&p.to_string())
        })
    }

    /// [`Run::step`], reporting progress as numbers (for progress bars).
    pub fn step_with<S, T, V>(
        &mut self,
        sampler: &S,
        tracer: &T,
        verifier: &V,
        on_progress: &mut dyn FnMut(&Progress),
    ) -> Result<StepReport, Error>
    where
        S: SlotSampler + ?Sized,
        T: Tracer,
        V: Verifier,
    {
        let checkpoint = self.next_checkpoint()?;
        let recorded = (checkpoint.iteration > 0).then(|| checkpoint.name.clone());
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
                    self.store.begin_iteration(recorded.as_deref())?
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
        let scope = Scope::Iteration(iteration);

        // Prompts, then slots.
        let prompter = self.config.prompter()?;
        report.unprompted = self.prompt_and_plan(
            scope,
            &prompter,
            &tasks,
            n,
            &checkpoint.model,
            recorded.as_deref(),
            tracer,
            verifier,
            on_progress,
        )?;

        // Sampling, then verification of what is read and not yet judged.
        let failure;
        (report.sampled, failure) = self.sample_pending(scope, sampler, on_progress)?;
        let train: HashMap<String, Task> = self
            .store
            .tasks(Split::Train)?
            .into_iter()
            .map(|t| (t.task_id.clone(), t))
            .collect();
        report.verified = self.verify_pending_in(scope, &train, verifier, on_progress)?;
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

    /// Stops the loop at the next transaction boundary when `flag` is set (a Ctrl-C
    /// handler sets it): [`Run::step`] and [`Run::evaluate`] then return
    /// [`Error::Interrupted`], with everything sampled or judged so far stored.
    pub fn set_interrupt(&mut self, flag: Arc<AtomicBool>) {
        self.interrupt = Some(flag);
    }

    fn check_interrupt(&self, scope: Scope) -> Result<(), Error> {
        if self
            .interrupt
            .as_ref()
            .is_some_and(|f| f.load(Ordering::SeqCst))
        {
            return Err(Error::Interrupted(scope.to_string()));
        }
        Ok(())
    }

    /// Builds the prompts of `tasks` and plans their slots, `n` per task, a batch of
    /// tasks at a time (only one batch's prompts in memory); the tasks without a
    /// prompt, and why.
    #[allow(clippy::too_many_arguments)]
    fn prompt_and_plan<T: Tracer, V: Verifier>(
        &mut self,
        scope: Scope,
        prompter: &Prompter,
        tasks: &[Task],
        n: u32,
        model: &str,
        checkpoint: Option<&str>,
        tracer: &T,
        verifier: &V,
        on_progress: &mut dyn FnMut(&Progress),
    ) -> Result<Vec<(String, String)>, Error> {
        if tasks.is_empty() {
            return Ok(Vec::new());
        }
        on_progress(&Progress {
            scope,
            phase: Phase::Prompting,
            done: 0,
            total: tasks.len() as u64,
        });
        let mut unprompted = Vec::new();
        for chunk in tasks.chunks(PROMPT_BATCH) {
            let prompts = prompter.prompt_all(chunk, tracer, verifier);
            for (task, prompt) in chunk.iter().zip(prompts) {
                let prompt = match prompt {
                    Ok(prompt) => prompt,
                    Err(e) => {
                        unprompted.push((task.task_id.clone(), e.to_string()));
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
                match scope {
                    Scope::Iteration(k) => self.store.plan(k, &request, model, checkpoint)?,
                    Scope::Evaluation { id, .. } => {
                        self.store.plan_eval(id, &request, model, checkpoint)?
                    }
                };
            }
        }
        Ok(unprompted)
    }

    /// Samples the empty slots of `scope`, a few requests at a time, each request's
    /// answers in one transaction; the number sampled and the first failure.
    fn sample_pending<S: SlotSampler + ?Sized>(
        &mut self,
        scope: Scope,
        sampler: &S,
        on_progress: &mut dyn FnMut(&Progress),
    ) -> Result<(u64, Option<String>), Error> {
        let mut failure: Option<String> = None;
        let mut sampled = 0;
        let (planned, mut filled) = scope.progress(&self.store)?;
        // A page of tasks at a time from the store (only one page's prompts in memory);
        // a failed request leaves its slots empty, for the next step.
        let (tables, key) = scope.tables();
        let mut after: Option<String> = None;
        loop {
            let pending =
                self.store
                    .pending_page_in(tables, key, after.as_deref(), Some(PENDING_PAGE))?;
            let Some(last) = pending.last() else {
                break;
            };
            if after.is_none() {
                on_progress(&Progress {
                    scope,
                    phase: Phase::Sampling,
                    done: filled,
                    total: planned,
                });
            }
            after = Some(last.request.task_id.clone());
            self.sample_page(
                scope,
                sampler,
                &pending,
                &mut sampled,
                &mut filled,
                &mut failure,
                planned,
                on_progress,
            )?;
        }
        Ok((sampled, failure))
    }

    /// Samples one page of pending requests, 8 at a time.
    #[allow(clippy::too_many_arguments)]
    fn sample_page<S: SlotSampler + ?Sized>(
        &mut self,
        scope: Scope,
        sampler: &S,
        pending: &[crate::Pending],
        sampled: &mut u64,
        filled: &mut u64,
        failure: &mut Option<String>,
        planned: u64,
        on_progress: &mut dyn FnMut(&Progress),
    ) -> Result<(), Error> {
        for chunk in pending.chunks(8) {
            self.check_interrupt(scope)?;
            let requests: Vec<&crate::Pending> = chunk.iter().collect();
            let results = sampler.sample_slots(&requests);
            for (pending, result) in chunk.iter().zip(results) {
                match result {
                    Ok(completions) if completions.len() == pending.slots.len() => {
                        let answers: Vec<SlotAnswer> =
                            completions.into_iter().map(read_answer).collect();
                        scope.fill(&mut self.store, &pending.slots, &answers)?;
                        *sampled += answers.len() as u64;
                        *filled += answers.len() as u64;
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
            on_progress(&Progress {
                scope,
                phase: Phase::Sampling,
                done: *filled,
                total: planned,
            });
        }
        Ok(())
    }

    /// Verifies the read and unjudged programs of `scope`, each distinct (task,
    /// program) once, and records the verdicts, one transaction per batch; how many
    /// samples were judged.
    fn verify_pending_in<V: Verifier>(
        &mut self,
        scope: Scope,
        tasks: &HashMap<String, Task>,
        verifier: &V,
        on_progress: &mut dyn FnMut(&Progress),
    ) -> Result<u64, Error> {
        // Task by task from the store (memory stays bounded whatever the run's
        // size), each distinct (task, program) once with the slots that hold it; a
        // batch is verified once it has enough programs.
        let (tables, key) = scope.tables();
        let todo = self.store.unjudged_in(tables, key)?;
        let options = VerifyOptions::default();
        let mut verified = 0;
        if todo == 0 {
            return Ok(0);
        }
        on_progress(&Progress {
            scope,
            phase: Phase::Verifying,
            done: 0,
            total: todo,
        });
        let mut programs: Vec<(String, String, Vec<crate::Slot>)> = Vec::new();
        let task_ids = self.store.sampled_tasks_in(tables, key)?;
        for (n, task_id) in task_ids.iter().enumerate() {
            let mut seen: HashMap<String, usize> = HashMap::new();
            for (s, verdict) in self.store.task_samples_in(tables, key, task_id)? {
                if verdict.is_some() {
                    continue;
                }
                let Some(code) = s.answer.and_then(|a| a.code) else {
                    continue;
                };
                match seen.get(&code) {
                    Some(&i) => programs[i].2.push(s.slot),
                    None => {
                        seen.insert(code.clone(), programs.len());
                        programs.push((s.slot.task_id.clone(), code, vec![s.slot]));
                    }
                }
            }
            let last = n + 1 == task_ids.len();
            // Batches wide enough that a program running into its time limit does not
            // leave the other workers idle for long (a batch ends with its slowest
            // check).
            while programs.len() >= VERIFY_BATCH || (last && !programs.is_empty()) {
                let rest = programs.split_off(VERIFY_BATCH.min(programs.len()));
                let chunk = std::mem::replace(&mut programs, rest);
                self.check_interrupt(scope)?;
                verified += self.verify_batch(scope, &chunk, tasks, verifier, &options)?;
                on_progress(&Progress {
                    scope,
                    phase: Phase::Verifying,
                    done: verified,
                    total: todo,
                });
            }
        }
        Ok(verified)
    }

    /// Verifies one batch of distinct programs and records their verdicts on every
    /// slot holding them, in one transaction; how many slots were judged.
    fn verify_batch<V: Verifier>(
        &mut self,
        scope: Scope,
        chunk: &[(String, String, Vec<crate::Slot>)],
        tasks: &HashMap<String, Task>,
        verifier: &V,
        options: &VerifyOptions,
    ) -> Result<u64, Error> {
        let samples: Vec<Sample> = chunk
            .iter()
            .map(|(task_id, code, slots)| Sample {
                task_id: task_id.clone(),
                sample_id: slots[0].index.to_string(),
                code: code.clone(),
                meta: Default::default(),
            })
            .collect();
        let pairs: Vec<(&Task, &Sample)> = samples
            .iter()
            .map(|sample| {
                tasks
                    .get(&sample.task_id)
                    .map(|t| (t, sample))
                    .ok_or_else(|| run_error(format!("unknown task {:?}", sample.task_id)))
            })
            .collect::<Result<_, _>>()?;
        let results = verifier.verify_all(&pairs, options);
        let mut slots = Vec::new();
        let mut verdicts = Vec::new();
        for ((_, _, owners), result) in chunk.iter().zip(results) {
            let result: CheckResult =
                result.map_err(|e| run_error(format!("verification: {e}")))?;
            for slot in owners {
                slots.push(slot.clone());
                verdicts.push(result.clone());
            }
        }
        scope.record_verdicts(&mut self.store, &slots, &verdicts)?;
        Ok(slots.len() as u64)
    }

    /// The checkpoint of an iteration: for 0 the base model (the configuration's
    /// sampler and model, named `base`), for k the one registered for k, if any.
    pub fn checkpoint(&self, iteration: u32) -> Result<Option<Checkpoint>, Error> {
        if iteration == 0 {
            return Ok(Some(Checkpoint {
                iteration: 0,
                name: "base".into(),
                sampler: self.config.sampler.clone(),
                model: self.config.model.clone(),
                registered_at: 0,
            }));
        }
        self.store.checkpoint(iteration)
    }

    /// Registers the checkpoint trained on iteration `iteration`'s export (see
    /// [`Store::register_checkpoint`]); `sampler` is `replay:FILE` or
    /// `openai:BASE_URL`. Iteration `iteration + 1` samples from it, and
    /// [`Run::evaluate`] of `iteration` asks it.
    pub fn register_checkpoint(
        &mut self,
        iteration: u32,
        name: &str,
        sampler: &str,
        model: &str,
    ) -> Result<(), Error> {
        match sampler.split_once(':') {
            Some(("replay" | "openai", rest)) if !rest.is_empty() => {}
            _ => {
                return Err(Error::Config(format!(
                    "checkpoint sampler {sampler:?}: expected replay:ANSWERS.jsonl or \
                     openai:BASE_URL"
                )));
            }
        }
        self.store.register_checkpoint(&Checkpoint {
            iteration,
            name: name.into(),
            sampler: sampler.into(),
            model: model.into(),
            registered_at: 0,
        })
    }

    /// The model the next [`Run::step`] samples from: the base model for the
    /// selection and iteration 1; for iteration k the checkpoint registered for
    /// iteration k - 1 when there is one (else the base model), or, when iteration k is
    /// begun, the one it began with.
    pub fn next_checkpoint(&self) -> Result<Checkpoint, Error> {
        let base = self.checkpoint(0)?.expect("the base model");
        let k = match self.next()? {
            Next::Select | Next::Done => return Ok(base),
            Next::Iteration(k) => k,
        };
        let begun = self
            .store
            .iterations()?
            .into_iter()
            .find(|it| it.iteration == k);
        match begun {
            Some(it) => match it.checkpoint {
                None => Ok(base),
                Some(name) => self
                    .store
                    .checkpoints()?
                    .into_iter()
                    .find(|c| c.name == name)
                    .ok_or_else(|| {
                        run_error(format!(
                            "iteration {k} began with checkpoint {name:?}, now unknown"
                        ))
                    }),
            },
            None => Ok(self.checkpoint(k - 1)?.unwrap_or(base)),
        }
    }

    /// Evaluates the checkpoint of `iteration` (0: the base model; k: the one
    /// registered for k, whose iteration must be finished) on the dev set: `samples`
    /// answers per dev task to the NExT prompt with (`trace`) or without traces, each
    /// program verified; the end-to-end fix rate is the unbiased pass@k over the dev
    /// tasks. Resumable like a step: only empty slots are sampled, only unjudged
    /// programs verified; asking for more samples adds slots. `sampler` must be the
    /// checkpoint's ([`Run::checkpoint`]).
    #[allow(clippy::too_many_arguments)]
    pub fn evaluate<S, T, V>(
        &mut self,
        iteration: u32,
        trace: bool,
        samples: u32,
        sampler: &S,
        tracer: &T,
        verifier: &V,
        on_progress: &mut dyn FnMut(&Progress),
    ) -> Result<EvalReport, Error>
    where
        S: SlotSampler + ?Sized,
        T: Tracer,
        V: Verifier,
    {
        if samples == 0 {
            return Err(Error::Config(
                "an evaluation needs at least 1 sample".into(),
            ));
        }
        if iteration > 0 {
            let finished = self
                .store
                .iterations()?
                .iter()
                .any(|it| it.iteration == iteration && it.finished_at.is_some());
            if !finished {
                return Err(Error::Config(format!(
                    "iteration {iteration} is not finished; its checkpoint is trained on its export"
                )));
            }
        }
        let checkpoint = self.checkpoint(iteration)?.ok_or_else(|| {
            Error::Config(format!(
                "no checkpoint is registered for iteration {iteration}"
            ))
        })?;
        let dev = self.store.tasks(Split::Dev)?;
        if dev.is_empty() {
            return Err(Error::Config("the run has no dev tasks".into()));
        }
        let id = self
            .store
            .begin_evaluation(iteration, trace, &checkpoint, samples)?;
        let scope = Scope::Evaluation {
            id,
            iteration,
            trace,
        };
        let config = RunConfig {
            trace,
            ..self.config.clone()
        };
        let prompter = config.prompter()?;
        let recorded = (iteration > 0).then(|| checkpoint.name.clone());
        let unprompted = self.prompt_and_plan(
            scope,
            &prompter,
            &dev,
            samples,
            &checkpoint.model,
            recorded.as_deref(),
            tracer,
            verifier,
            on_progress,
        )?;
        let (sampled, failure) = self.sample_pending(scope, sampler, on_progress)?;
        let tasks: HashMap<String, Task> =
            dev.into_iter().map(|t| (t.task_id.clone(), t)).collect();
        let verified = self.verify_pending_in(scope, &tasks, verifier, on_progress)?;
        if let Some(failure) = failure {
            return Err(run_error(format!(
                "the {scope} is unfinished: {failure}; run it again to sample what is missing"
            )));
        }
        self.store.finish_evaluation(id)?;
        let result = self
            .eval_results()?
            .into_iter()
            .find(|r| r.evaluation.id == id)
            .expect("the evaluation just finished");
        Ok(EvalReport {
            result,
            unprompted,
            sampled,
            verified,
        })
    }

    /// Every dev-set evaluation with its fix rates, by iteration, without traces first.
    pub fn eval_results(&self) -> Result<Vec<EvalResult>, Error> {
        let mut out = Vec::new();
        for evaluation in self.store.evaluations()? {
            let tally = self
                .store
                .pass_counts_in(crate::store::EVAL, evaluation.id)?;
            let pass_at = EVAL_KS
                .iter()
                .map(|&k| {
                    let counted: Vec<f64> = tally
                        .values()
                        .filter(|(n, _)| *n >= k)
                        .map(|&(n, c)| nxt_verify::pass_at_k(n, c, k))
                        .collect();
                    let mean = (!counted.is_empty())
                        .then(|| counted.iter().sum::<f64>() / counted.len() as f64);
                    (k, mean)
                })
                .collect();
            out.push(EvalResult {
                tasks: tally.len(),
                samples: tally.values().map(|t| t.0).sum(),
                passed: tally.values().map(|t| t.1).sum(),
                pass_at,
                evaluation,
            });
        }
        Ok(out)
    }

    /// The iteration with the best dev-set fix rate: the highest pass@1 of the
    /// finished evaluations with traces (without, when no evaluation has traces),
    /// ties going to the earlier iteration; `None` before any evaluation finished.
    pub fn best_iteration(&self) -> Result<Option<(u32, f64)>, Error> {
        Ok(best_of(&self.eval_results()?))
    }

    /// Adds tasks to the train or dev set (as `init` does; the same task again is
    /// nothing, a conflicting one an error); train tasks only before the hard-problem
    /// selection has begun. Returns how many were new.
    pub fn import_tasks(&mut self, split: Split, tasks: &[Task]) -> Result<usize, Error> {
        if split == Split::Train && !self.store.iterations()?.is_empty() {
            let known: std::collections::HashSet<String> = self
                .store
                .tasks(Split::Train)?
                .into_iter()
                .map(|t| t.task_id)
                .collect();
            if tasks.iter().any(|t| !known.contains(&t.task_id)) {
                return Err(Error::Config(
                    "the hard problems are being selected; train tasks can only be added before"
                        .into(),
                ));
            }
        }
        self.store.add_tasks(split, tasks)
    }

    /// Imports samples made elsewhere from JSON Lines (one object per line, in the
    /// form `nxt selftrain dump RUN.db samples` writes: `iteration`, `task_id`, `idx`,
    /// `answer` (a string, or null for an empty slot), and for a new slot `prompt`
    /// (chat messages or a text, as in [`PromptInput`]), `model`, `checkpoint` and
    /// `params`); answers are read as the loop reads them. All or nothing; the errors
    /// name the file, line and field. Returns (slots added, slots filled).
    pub fn import_samples(
        &mut self,
        reader: impl std::io::BufRead,
        name: &Path,
    ) -> Result<(u64, u64), Error> {
        let mut records = Vec::new();
        for (i, line) in reader.lines().enumerate() {
            let line = line.map_err(|source| Error::Io {
                path: name.to_owned(),
                source,
            })?;
            if line.trim().is_empty() {
                continue;
            }
            let bad = |message: String| Error::Replay {
                path: name.to_owned(),
                line: i + 1,
                message,
            };
            let record: serde_json::Value =
                serde_json::from_str(&line).map_err(|e| bad(format!("not JSON: {e}")))?;
            let field = |key: &str| record.get(key).filter(|v| !v.is_null());
            let int = |key: &str| -> Result<u32, Error> {
                field(key)
                    .and_then(|v| v.as_u64())
                    .and_then(|v| u32::try_from(v).ok())
                    .ok_or_else(|| bad(format!("field `{key}`: expected a non-negative integer")))
            };
            let string = |key: &str| -> Result<Option<String>, Error> {
                match field(key) {
                    None => Ok(None),
                    Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
                    Some(_) => Err(bad(format!("field `{key}`: expected a string"))),
                }
            };
            let slot = crate::Slot {
                iteration: int("iteration")?,
                task_id: string("task_id")?.ok_or_else(|| bad("missing field `task_id`".into()))?,
                index: int("idx")?,
            };
            let prompt = match field("prompt") {
                None => None,
                Some(p) => Some(
                    serde_json::from_value::<PromptInput>(p.clone())
                        .map_err(|e| bad(format!("field `prompt`: {e}")))?,
                ),
            };
            let answer = string("answer")?.map(|text| {
                read_answer(nxt_core::Completion::new(
                    text,
                    string("finish_reason").ok().flatten(),
                ))
            });
            records.push(crate::ImportedSample {
                slot,
                prompt,
                model: string("model")?.unwrap_or_else(|| self.config.model.clone()),
                checkpoint: string("checkpoint")?,
                params: field("params")
                    .cloned()
                    .unwrap_or_else(|| serde_json::json!({})),
                answer,
            });
        }
        self.store.import_samples(&records).map_err(|e| match e {
            Error::StoreState(m) => Error::StoreState(format!("{}: {m}", name.display())),
            other => other,
        })
    }

    /// The candidates of an iteration, in order (by task, then index), filled slots
    /// only. All in memory: [`Run::for_each_candidate`] streams them.
    pub fn candidates(&self, iteration: u32) -> Result<Vec<Candidate>, Error> {
        let mut out = Vec::new();
        self.for_each_candidate(iteration, |c| {
            out.push(c);
            Ok(())
        })?;
        Ok(out)
    }

    /// Calls `f` on every candidate of an iteration, in order (by task, then index),
    /// filled slots only, reading them from the store as it goes: memory stays bounded
    /// whatever the iteration's size. `f`'s first error stops the walk.
    pub fn for_each_candidate(
        &self,
        iteration: u32,
        mut f: impl FnMut(Candidate) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let mut prompt = PromptCache::default();
        self.store.for_each_sample(iteration, |s, verdict| {
            let Some(answer) = s.answer else {
                return Ok(());
            };
            prompt.load(&self.store, &s.prompt_hash)?;
            f(Candidate {
                verdict,
                task_id: s.slot.task_id,
                index: s.slot.index,
                rationale: answer.rationale,
                code: answer.code,
                prompt: Some(prompt.text.clone()),
            })
        })
    }

    /// The samples of an iteration the run's filters keep, in order, and how many
    /// each filter rejected. All in memory: [`Run::for_each_kept`] streams them.
    pub fn kept(&self, iteration: u32) -> Result<(Vec<Kept>, Rejected), Error> {
        let mut out = Vec::new();
        let rejected = self.for_each_kept(iteration, |k| {
            out.push(k);
            Ok(())
        })?;
        Ok((out, rejected))
    }

    /// Calls `f` on every sample of an iteration the run's filters keep, in order,
    /// reading the candidates from the store as it goes (memory stays bounded
    /// whatever the iteration's size); how many each filter rejected. `f`'s first
    /// error stops the walk.
    pub fn for_each_kept(
        &self,
        iteration: u32,
        mut f: impl FnMut(Kept) -> Result<(), Error>,
    ) -> Result<Rejected, Error> {
        let mut chain = self.config.filters();
        self.walk(iteration, Some(&mut chain), &mut f)?;
        Ok(chain.rejected())
    }

    /// One pass over the filled samples of an iteration: counts them, and with a
    /// chain, gives `on_kept` each sample the chain keeps.
    fn walk(
        &self,
        iteration: u32,
        mut chain: Option<&mut Chain>,
        on_kept: &mut dyn FnMut(Kept) -> Result<(), Error>,
    ) -> Result<Tally, Error> {
        let mut tally = Tally::default();
        let mut prompt = PromptCache::default();
        self.store.for_each_sample(iteration, |s, verdict| {
            let Some(answer) = s.answer else {
                return Ok(());
            };
            tally.parsed += u64::from(answer.code.is_some());
            tally.verified += u64::from(verdict.is_some());
            tally.passed += u64::from(verdict.as_ref().is_some_and(|v| v.status.passed()));
            let Some(chain) = chain.as_deref_mut() else {
                return Ok(());
            };
            prompt.load(&self.store, &s.prompt_hash)?;
            let candidate = Candidate {
                verdict,
                task_id: s.slot.task_id,
                index: s.slot.index,
                rationale: answer.rationale,
                code: answer.code,
                prompt: Some(prompt.text.clone()),
            };
            if !chain.keep(&candidate) {
                return Ok(());
            }
            let input = prompt
                .input
                .clone()
                .ok_or_else(|| run_error(format!("prompt {} is missing", s.prompt_hash)))?;
            on_kept(Kept {
                iteration,
                task_id: candidate.task_id,
                index: candidate.index,
                prompt: input,
                answer: answer.completion.text,
            })
        })?;
        Ok(tally)
    }

    /// Where the run stands. One streaming pass over each iteration's samples: memory
    /// stays bounded whatever the run's size.
    pub fn status(&self) -> Result<Status, Error> {
        let mut iterations = Vec::new();
        for it in self.store.iterations()? {
            let (planned, filled) = self.store.progress(it.iteration)?;
            let (tally, kept, rejected) = if it.iteration == 0 {
                (self.walk(0, None, &mut |_| Ok(()))?, 0, Vec::new())
            } else {
                let mut chain = self.config.filters();
                let mut kept = 0u64;
                let tally = self.walk(it.iteration, Some(&mut chain), &mut |_| {
                    kept += 1;
                    Ok(())
                })?;
                (tally, kept, chain.rejected())
            };
            iterations.push(IterationStatus {
                iteration: it.iteration,
                finished: it.finished_at.is_some(),
                planned,
                filled,
                parsed: tally.parsed,
                verified: tally.verified,
                passed: tally.passed,
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
    /// `accumulate = false`. All in memory: [`Run::export`] streams them to a file.
    pub fn export_records(
        &self,
        iteration: u32,
        format: ExportFormat,
        accumulate: bool,
    ) -> Result<Vec<String>, Error> {
        let mut lines = Vec::new();
        self.for_each_record(iteration, format, accumulate, &mut |line| {
            lines.push(line);
            Ok(())
        })?;
        Ok(lines)
    }

    fn for_each_record(
        &self,
        iteration: u32,
        format: ExportFormat,
        accumulate: bool,
        f: &mut dyn FnMut(String) -> Result<(), Error>,
    ) -> Result<(), Error> {
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
        for k in first..=iteration {
            self.for_each_kept(k, |kept| f(record(&kept, format).to_string()))?;
        }
        Ok(())
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
        // The records go to a temporary file as they are read (memory stays bounded),
        // which replaces `out` only once complete.
        let written = (|| {
            let file = std::fs::File::create(&tmp).map_err(io)?;
            let mut writer = std::io::BufWriter::new(file);
            let mut hasher = Sha256::new();
            let mut count = 0u64;
            self.for_each_record(iteration, format, accumulate, &mut |mut line| {
                line.push('\n');
                hasher.update(line.as_bytes());
                count += 1;
                writer.write_all(line.as_bytes()).map_err(io)
            })?;
            let file = writer.into_inner().map_err(|e| io(e.into_error()))?;
            file.sync_all().map_err(io)?;
            drop(file);
            std::fs::rename(&tmp, out).map_err(io)?;
            Ok::<_, Error>((count, hasher.finalize()))
        })();
        let (count, digest) = match written {
            Ok(done) => done,
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
        };
        let sha: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        let kind = format!(
            "{}{}",
            match format {
                ExportFormat::Chat => "chat",
                ExportFormat::Completion => "completion",
            },
            if accumulate { "-accumulated" } else { "" }
        );
        self.store
            .record_export(Some(iteration), &kind, &out.to_string_lossy(), count, &sha)?;
        Ok(count)
    }
}

/// Counts of one pass over an iteration's filled samples.
#[derive(Debug, Default)]
struct Tally {
    parsed: u64,
    verified: u64,
    passed: u64,
}

/// The prompt of the samples being read: read once per task (a task's samples share
/// it and come together), not kept beyond.
#[derive(Debug, Default)]
struct PromptCache {
    hash: Option<String>,
    input: Option<PromptInput>,
    text: String,
}

impl PromptCache {
    fn load(&mut self, store: &Store, hash: &str) -> Result<(), Error> {
        if self.hash.as_deref() != Some(hash) {
            self.input = store.prompt(hash)?;
            self.text = self.input.as_ref().map(prompt_text).unwrap_or_default();
            self.hash = Some(hash.to_owned());
        }
        Ok(())
    }
}

/// The best iteration among evaluation results (see [`Run::best_iteration`]).
pub(crate) fn best_of(results: &[EvalResult]) -> Option<(u32, f64)> {
    let finished: Vec<&EvalResult> = results.iter().filter(|r| r.finished()).collect();
    let traced = finished.iter().any(|r| r.evaluation.trace);
    let mut best: Option<(u32, f64)> = None;
    for r in finished {
        if r.evaluation.trace != traced {
            continue;
        }
        let Some(p) = r.pass_at(1) else { continue };
        if best.is_none_or(|(_, b)| p > b) {
            best = Some((r.evaluation.iteration, p));
        }
    }
    best
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
