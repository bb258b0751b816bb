//! Building prompts: the configuration, which tests to trace, token budgets, assembly.

use std::path::PathBuf;

use nxt_core::{
    CheckResult, Ending, Program, RenderOptions, Sample, Task, TestStatus, Trace, TraceOptions,
    Tracer, Verdict, Verifier, VerifyOptions,
};
use nxt_inline::{BudgetReport, InlineError, Layout, Measure};
use serde::{Deserialize, Serialize};

use crate::exemplars::{Exemplar, exemplars};
use crate::templates::Templates;
use crate::{PromptError, TokenCounter};

/// Tokens counted for each message of a chat prompt on top of its content, for the
/// role and the delimiters a server's chat template adds around it.
pub const MESSAGE_OVERHEAD_TOKENS: usize = 4;

/// Whether a prompt is one text or a list of chat messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// One text: the instructions, the exemplars and the problem, separated by
    /// `### Problem` and `### Answer` lines, ending where the answer begins.
    #[default]
    Text,
    /// Messages with `system`, `user` and `assistant` roles, as OpenAI-compatible chat
    /// servers take them.
    Chat,
}

/// Which tests of a task get a trace in the prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TraceTests {
    /// The first test block that fails (or raises, or at which the run ended), as the
    /// NExT paper does.
    #[default]
    FirstFailing,
    /// Every test block, each traced separately.
    All,
}

/// What to do with a task whose program passes all its tests (so no test fails).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum OnPassing {
    /// Trace the first test and say so: the prompt's trace header says the program
    /// passes it, and the output's trace has status `passed`.
    #[default]
    TraceFirst,
    /// Give the task no prompt: [`PromptError::Passes`].
    Fail,
}

/// A step of the token budget ladder (spec section 6) that was needed to meet the budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum BudgetAction {
    /// Loops were compressed harder: `keep_first` lowered towards 1.
    LoweredKeepFirst,
    /// Values were cut shorter: `max_value_chars` halved towards 20.
    HalvedMaxValueChars,
    /// The comments of the busiest lines were dropped.
    DroppedLines,
}

impl BudgetAction {
    fn of(measure: Measure) -> BudgetAction {
        match measure {
            Measure::LoweredKeepFirst => BudgetAction::LoweredKeepFirst,
            Measure::HalvedMaxValueChars => BudgetAction::HalvedMaxValueChars,
            _ => BudgetAction::DroppedLines,
        }
    }
}

/// The role of a chat message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The instructions.
    System,
    /// A problem.
    User,
    /// An exemplar's answer.
    Assistant,
}

/// One chat message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Who speaks.
    pub role: Role,
    /// What is said.
    pub content: String,
}

/// A prompt's content. In JSON, the field `prompt` (a string) or `messages` (a list of
/// `{"role", "content"}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PromptBody {
    /// A text prompt.
    #[serde(rename = "prompt")]
    Text(String),
    /// A chat prompt.
    #[serde(rename = "messages")]
    Chat(Vec<Message>),
}

/// A trace shown in a prompt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceInfo {
    /// The 0-based index of the traced test block.
    pub test_index: usize,
    /// How the test fared when the program was verified.
    pub status: TestStatus,
    /// Why the trace ended.
    pub ending: Ending,
    /// `keep_first` of the rendering (lower than asked when the budget needed it).
    pub keep_first: usize,
    /// `max_value_chars` of the rendering.
    pub max_value_chars: usize,
    /// The 1-based lines of the traced program whose comments were dropped.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dropped_lines: Vec<usize>,
    /// The budget ladder's steps taken on this trace.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub budget_actions: Vec<BudgetAction>,
}

/// A prompt for one task: one line of a prompts JSONL file.
///
/// ```json
/// {"task_id": "mbpp/12", "prompt": "...", "tokens": 812, "tokenizer": "estimate",
///  "budget_actions": [], "traces": [{"test_index": 0, "status": "failed",
///  "ending": {"kind": "complete"}, "keep_first": 2, "max_value_chars": 100}]}
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prompt {
    /// The task.
    pub task_id: String,
    /// The text or the messages.
    #[serde(flatten)]
    pub body: PromptBody,
    /// Tokens of the prompt: of the text, or of every message's content plus
    /// [`MESSAGE_OVERHEAD_TOKENS`] per message.
    pub tokens: usize,
    /// What counted them: a tokenizer file's path, or `estimate`.
    pub tokenizer: String,
    /// The budget ladder's steps taken on any trace, in ladder order; empty when the
    /// prompt fitted as asked (or there was no budget).
    pub budget_actions: Vec<BudgetAction>,
    /// The traces shown, in test order; empty for a prompt without trace.
    pub traces: Vec<TraceInfo>,
}

impl Prompt {
    /// The text of a text prompt.
    pub fn text(&self) -> Option<&str> {
        match &self.body {
            PromptBody::Text(t) => Some(t),
            PromptBody::Chat(_) => None,
        }
    }

    /// The messages of a chat prompt.
    pub fn messages(&self) -> Option<&[Message]> {
        match &self.body {
            PromptBody::Text(_) => None,
            PromptBody::Chat(m) => Some(m),
        }
    }

    /// The prompt as one line of JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a prompt always serializes")
    }
}

/// A trace of one test block of a task, captured by the caller, for
/// [`Prompter::assemble`].
#[derive(Debug, Clone, PartialEq)]
pub struct TracedTest {
    /// The 0-based test block; the trace is of [`traced_program`] at this index.
    pub test_index: usize,
    /// How the test fared when the program was verified.
    pub status: TestStatus,
    /// The trace.
    pub trace: Trace,
}

/// The program traced for test block `test_index` of `task`: the task's code, a blank
/// line, the setup (if any) and the test block, as the NExT paper shows a program
/// followed by its test. Trailing newlines of each part are dropped and the program
/// ends with one.
///
/// ```
/// use nxt_core::Task;
/// let task: Task = serde_json::from_str(r#"{"task_id": "t", "prompt": "",
///     "code": "def f(x):\n    return x\n", "tests": ["assert f(1) == 2", "assert f(2) == 2"]}"#)?;
/// let program = nxt_prompt::traced_program(&task, 0);
/// assert_eq!(program.source, "def f(x):\n    return x\n\nassert f(1) == 2\n");
/// assert_eq!(program.name, "t tests[0]");
/// # Ok::<(), serde_json::Error>(())
/// ```
///
/// # Panics
///
/// When the task has no test block `test_index`.
pub fn traced_program(task: &Task, test_index: usize) -> Program {
    let trim = |s: &str| s.trim_end_matches(['\n', '\r']).to_owned();
    let mut source = trim(&task.code);
    source.push_str("\n\n");
    if let Some(setup) = task.setup.as_deref().filter(|s| !s.trim().is_empty()) {
        source.push_str(&trim(setup));
        source.push('\n');
    }
    source.push_str(&trim(&task.tests[test_index]));
    source.push('\n');
    Program::new(format!("{} tests[{test_index}]", task.task_id), source)
}

/// Configures and builds a [`Prompter`].
///
/// ```
/// use nxt_prompt::{Format, PromptBuilder};
///
/// let prompter = PromptBuilder::new().shots(0).format(Format::Chat).trace(false).build()?;
/// assert_eq!(prompter.format(), Format::Chat);
/// # Ok::<(), nxt_prompt::PromptError>(())
/// ```
#[derive(Debug, Clone)]
pub struct PromptBuilder {
    shots: usize,
    with_trace: bool,
    format: Format,
    template_dir: Option<PathBuf>,
    counter: TokenCounter,
    max_prompt_tokens: Option<usize>,
    trace_tests: TraceTests,
    on_passing: OnPassing,
    render_options: RenderOptions,
    trace_options: TraceOptions,
    verify_options: VerifyOptions,
}

impl Default for PromptBuilder {
    fn default() -> PromptBuilder {
        PromptBuilder::new()
    }
}

impl PromptBuilder {
    /// A builder with the defaults.
    pub fn new() -> PromptBuilder {
        PromptBuilder {
            shots: 3,
            with_trace: true,
            format: Format::Text,
            template_dir: None,
            counter: TokenCounter::estimate(),
            max_prompt_tokens: None,
            trace_tests: TraceTests::FirstFailing,
            on_passing: OnPassing::TraceFirst,
            render_options: RenderOptions::default(),
            trace_options: TraceOptions::default(),
            verify_options: VerifyOptions::default(),
        }
    }

    /// How many exemplars the prompt shows before the problem (at most
    /// [`exemplars()`]`.len()`).
    ///
    /// By default, 3.
    pub fn shots(&mut self, n: usize) -> &mut PromptBuilder {
        self.shots = n;
        self
    }

    /// Whether prompts show execution traces: the task's, and the exemplars' (whose
    /// rationales then cite trace values; without traces they reason by hand). Off is
    /// the paper's "no trace at test time" ablation.
    ///
    /// By default, on.
    pub fn trace(&mut self, yes: bool) -> &mut PromptBuilder {
        self.with_trace = yes;
        self
    }

    /// Text or chat prompts.
    ///
    /// By default, [`Format::Text`].
    pub fn format(&mut self, format: Format) -> &mut PromptBuilder {
        self.format = format;
        self
    }

    /// A directory of templates: each of [`TEMPLATE_NAMES`](crate::TEMPLATE_NAMES) found
    /// there replaces the default of that name; any other `.j2` file is an error.
    ///
    /// By default, the templates shipped in the crate ([`default_templates`](crate::default_templates)).
    pub fn template_dir(&mut self, dir: impl Into<PathBuf>) -> &mut PromptBuilder {
        self.template_dir = Some(dir.into());
        self
    }

    /// What counts tokens, for the budget and each prompt's `tokens`.
    ///
    /// By default, [`TokenCounter::estimate`].
    pub fn token_counter(&mut self, counter: TokenCounter) -> &mut PromptBuilder {
        self.counter = counter;
        self
    }

    /// The most tokens a prompt may have. A prompt over it has its traces shortened by
    /// the ladder of the trace format (spec section 6: compress loops, cut values, drop
    /// the busiest lines' comments), and its `budget_actions` say which steps were
    /// taken; a prompt still over it is a [`PromptError::OverBudget`], never cut.
    ///
    /// By default, no budget.
    pub fn max_prompt_tokens(&mut self, max: Option<usize>) -> &mut PromptBuilder {
        self.max_prompt_tokens = max;
        self
    }

    /// Which tests get a trace.
    ///
    /// By default, [`TraceTests::FirstFailing`].
    pub fn trace_tests(&mut self, which: TraceTests) -> &mut PromptBuilder {
        self.trace_tests = which;
        self
    }

    /// What to do with a task whose program passes all its tests.
    ///
    /// By default, [`OnPassing::TraceFirst`].
    pub fn on_passing(&mut self, what: OnPassing) -> &mut PromptBuilder {
        self.on_passing = what;
        self
    }

    /// How traces are rendered (before any budget measure).
    ///
    /// By default, [`RenderOptions::default()`], the format's defaults.
    pub fn render_options(&mut self, options: RenderOptions) -> &mut PromptBuilder {
        self.render_options = options;
        self
    }

    /// How traces are captured.
    ///
    /// By default, [`TraceOptions::default()`].
    pub fn trace_options(&mut self, options: TraceOptions) -> &mut PromptBuilder {
        self.trace_options = options;
        self
    }

    /// How the task's program is verified to find its failing test.
    ///
    /// By default, [`VerifyOptions::default()`].
    pub fn verify_options(&mut self, options: VerifyOptions) -> &mut PromptBuilder {
        self.verify_options = options;
        self
    }

    /// Loads and compiles the templates and renders the parts every prompt shares (the
    /// instructions and the exemplars).
    ///
    /// # Errors
    ///
    /// [`PromptError::TooManyShots`], and the template errors
    /// ([`PromptError::Template`], [`PromptError::Io`], [`PromptError::UnknownTemplate`]).
    pub fn build(&self) -> Result<Prompter, PromptError> {
        let all = exemplars();
        if self.shots > all.len() {
            return Err(PromptError::TooManyShots {
                asked: self.shots,
                available: all.len(),
            });
        }
        let templates = Templates::load(self.template_dir.as_deref())?;
        let mut prompter = Prompter {
            config: self.clone(),
            templates,
            system: String::new(),
            examples: Vec::new(),
            fixed_chat_tokens: 0,
        };
        prompter.system = prompter.render_part(
            "system.j2",
            &SystemContext {
                with_trace: self.with_trace,
                shots: self.shots,
                format: self.format,
                all_tests: self.trace_tests == TraceTests::All,
            },
        )?;
        for ex in &all[..self.shots] {
            let problem = prompter.exemplar_problem(ex)?;
            let answer = prompter.render_part(
                "answer.j2",
                &AnswerContext {
                    rationale: if self.with_trace {
                        &ex.rationale
                    } else {
                        &ex.rationale_without_trace
                    },
                    fixed_code: ex.fixed.trim_end_matches(['\n', '\r']),
                    with_trace: self.with_trace,
                },
            )?;
            prompter.examples.push(Example { problem, answer });
        }
        let count = |s: &str| self.counter.count(s) + MESSAGE_OVERHEAD_TOKENS;
        prompter.fixed_chat_tokens = count(&prompter.system)
            + prompter
                .examples
                .iter()
                .map(|e| count(&e.problem) + count(&e.answer))
                .sum::<usize>();
        Ok(prompter)
    }
}

/// Builds NExT repair prompts. Make one with [`PromptBuilder`].
///
/// [`Prompter::prompt`] does everything for one task (verify, trace, render, fit the
/// budget, assemble); [`Prompter::prompt_all`] does it for many, verifying and tracing
/// in batches so that the verifier's and tracer's worker pools are used;
/// [`Prompter::assemble`] builds a prompt from traces the caller captured.
#[derive(Debug)]
pub struct Prompter {
    config: PromptBuilder,
    templates: Templates,
    system: String,
    examples: Vec<Example>,
    /// Tokens of the system and exemplar messages of a chat prompt, overhead included.
    fixed_chat_tokens: usize,
}

#[derive(Debug, Clone, Serialize)]
struct Example {
    problem: String,
    answer: String,
}

#[derive(Serialize)]
struct SystemContext {
    with_trace: bool,
    shots: usize,
    format: Format,
    all_tests: bool,
}

#[derive(Serialize)]
struct AnswerContext<'a> {
    rationale: &'a str,
    fixed_code: &'a str,
    with_trace: bool,
}

#[derive(Serialize)]
struct ProblemContext<'a> {
    task_id: &'a str,
    prompt: &'a str,
    code: &'a str,
    tests: Vec<&'a str>,
    setup: Option<&'a str>,
    entry_point: Option<&'a str>,
    with_trace: bool,
    exemplar: bool,
    traces: Vec<TraceContext<'a>>,
}

#[derive(Serialize)]
struct TraceContext<'a> {
    test_index: usize,
    test_number: usize,
    test: &'a str,
    status: TestStatus,
    failing: bool,
    ending: &'static str,
    text: &'a str,
}

#[derive(Serialize)]
struct TextContext<'a> {
    system: &'a str,
    examples: &'a [Example],
    problem: &'a str,
}

fn trim_newlines(s: &str) -> &str {
    s.trim_end_matches(['\n', '\r'])
}

fn ending_name(ending: &Ending) -> &'static str {
    match ending {
        Ending::Complete => "complete",
        Ending::StepLimit { .. } => "step_limit",
        Ending::TimeLimit { .. } => "time_limit",
        Ending::MemoryLimit => "memory_limit",
        Ending::TracerError { .. } => "tracer_error",
        _ => "other",
    }
}

impl Prompter {
    /// The format of the prompts.
    pub fn format(&self) -> Format {
        self.config.format
    }

    /// How many exemplars the prompts show.
    pub fn shots(&self) -> usize {
        self.config.shots
    }

    /// Whether the prompts show traces.
    pub fn with_trace(&self) -> bool {
        self.config.with_trace
    }

    /// What counts tokens.
    pub fn token_counter(&self) -> &TokenCounter {
        &self.config.counter
    }

    /// The token budget, if any.
    pub fn max_prompt_tokens(&self) -> Option<usize> {
        self.config.max_prompt_tokens
    }

    /// The prompt for one task: verifies its code with `verifier` to find the failing
    /// test, traces it with `tracer` and assembles the prompt. Without traces
    /// ([`PromptBuilder::trace`] off) neither is used.
    ///
    /// # Errors
    ///
    /// The per-task errors of [`PromptError`].
    pub fn prompt<T: Tracer, V: Verifier>(
        &self,
        task: &Task,
        tracer: &T,
        verifier: &V,
    ) -> Result<Prompt, PromptError> {
        let mut all = self.prompt_all(std::slice::from_ref(task), tracer, verifier);
        all.pop().expect("one result per task")
    }

    /// The prompts for many tasks, in the order of `tasks`: all programs are verified
    /// with one [`Verifier::verify_all`] and all chosen tests traced with one
    /// [`Tracer::trace_all`]. A task that fails does not stop the others.
    pub fn prompt_all<T: Tracer, V: Verifier>(
        &self,
        tasks: &[Task],
        tracer: &T,
        verifier: &V,
    ) -> Vec<Result<Prompt, PromptError>> {
        if !self.config.with_trace {
            return tasks.iter().map(|t| self.assemble(t, &[])).collect();
        }
        let samples: Vec<Sample> = tasks.iter().map(Sample::of_task).collect();
        let checked: Vec<usize> = (0..tasks.len())
            .filter(|&k| !tasks[k].tests.is_empty())
            .collect();
        let pairs: Vec<(&Task, &Sample)> =
            checked.iter().map(|&k| (&tasks[k], &samples[k])).collect();
        let checks = verifier.verify_all(&pairs, &self.config.verify_options);

        let mut plans: Vec<Result<Vec<(usize, TestStatus)>, PromptError>> = tasks
            .iter()
            .map(|t| {
                Err(PromptError::NoTests {
                    task_id: t.task_id.clone(),
                })
            })
            .collect();
        for (&k, check) in checked.iter().zip(checks) {
            plans[k] = match check {
                Ok(check) => self.tests_to_trace(&tasks[k], &check),
                Err(e) => Err(PromptError::Verify {
                    task_id: tasks[k].task_id.clone(),
                    source: Box::new(e),
                }),
            };
        }

        let mut programs = Vec::new();
        let mut owners = Vec::new();
        for (k, plan) in plans.iter().enumerate() {
            for &(i, status) in plan.iter().flatten() {
                programs.push(traced_program(&tasks[k], i));
                owners.push((k, i, status));
            }
        }
        let traces = tracer.trace_all(&programs, &self.config.trace_options);

        let mut traced: Vec<Vec<TracedTest>> = tasks.iter().map(|_| Vec::new()).collect();
        let mut failed: Vec<Option<PromptError>> = tasks.iter().map(|_| None).collect();
        for ((k, test_index, status), result) in owners.into_iter().zip(traces) {
            match result {
                Ok(trace) => traced[k].push(TracedTest {
                    test_index,
                    status,
                    trace,
                }),
                Err(e) => {
                    failed[k].get_or_insert(PromptError::Trace {
                        task_id: tasks[k].task_id.clone(),
                        test_index,
                        source: Box::new(e),
                    });
                }
            }
        }
        tasks
            .iter()
            .zip(plans)
            .zip(failed)
            .zip(traced)
            .map(|(((task, plan), failed), traced)| {
                plan?;
                match failed {
                    Some(e) => Err(e),
                    None => self.assemble(task, &traced),
                }
            })
            .collect()
    }

    /// The test blocks to trace, given the result of verifying the task's code, with
    /// their statuses:
    ///
    /// - [`TraceTests::FirstFailing`]: the first block that failed or raised; if none
    ///   did but the run did not pass (a timeout, a crash, an error in the program or
    ///   the setup), the first block that did not run; if the program passes,
    ///   [`OnPassing`] decides (the first block, or an error).
    /// - [`TraceTests::All`]: every block (an error if the program passes and
    ///   [`OnPassing::Fail`]).
    ///
    /// # Errors
    ///
    /// [`PromptError::NoTests`], [`PromptError::Passes`].
    pub fn tests_to_trace(
        &self,
        task: &Task,
        check: &CheckResult,
    ) -> Result<Vec<(usize, TestStatus)>, PromptError> {
        let n = task.tests.len();
        if n == 0 {
            return Err(PromptError::NoTests {
                task_id: task.task_id.clone(),
            });
        }
        let status = |i: usize| check.tests.get(i).map_or(TestStatus::NotRun, |r| r.status);
        let passes = check.status == Verdict::Passed;
        if passes && self.config.on_passing == OnPassing::Fail {
            return Err(PromptError::Passes {
                task_id: task.task_id.clone(),
            });
        }
        Ok(match self.config.trace_tests {
            TraceTests::All => (0..n).map(|i| (i, status(i))).collect(),
            TraceTests::FirstFailing => {
                let failing =
                    (0..n).find(|&i| matches!(status(i), TestStatus::Failed | TestStatus::Error));
                let i = match failing {
                    Some(i) => i,
                    None if !passes => (0..n)
                        .find(|&i| status(i) == TestStatus::NotRun)
                        .unwrap_or(0),
                    None => 0,
                };
                vec![(i, status(i))]
            }
        })
    }

    /// The prompt for `task` with traces the caller captured (each the trace of
    /// [`traced_program`] at its test index), rendered and fitted to the budget. The
    /// traces are ignored for prompts without traces.
    ///
    /// With a budget, each trace is fitted in turn by the budget ladder, counting the
    /// whole prompt with the traces before it as fitted and those after it at their
    /// smallest (no comments): the first traced test gets the most room.
    ///
    /// # Errors
    ///
    /// [`PromptError::NoSuchTest`], [`PromptError::Render`], [`PromptError::Template`],
    /// [`PromptError::OverBudget`].
    pub fn assemble(&self, task: &Task, traced: &[TracedTest]) -> Result<Prompt, PromptError> {
        let traced = if self.config.with_trace { traced } else { &[] };
        let render_error = |test_index: usize| {
            move |source: InlineError| PromptError::Render {
                task_id: task.task_id.clone(),
                test_index,
                source,
            }
        };
        let mut layouts = Vec::with_capacity(traced.len());
        for t in traced {
            if t.test_index >= task.tests.len() {
                return Err(PromptError::NoSuchTest {
                    task_id: task.task_id.clone(),
                    test_index: t.test_index,
                    tests: task.tests.len(),
                });
            }
            let program = traced_program(task, t.test_index);
            layouts.push(Layout::new(&program.source).map_err(render_error(t.test_index))?);
        }
        let options = &self.config.render_options;
        let mut texts = Vec::with_capacity(traced.len());
        let mut infos = Vec::with_capacity(traced.len());
        match self.config.max_prompt_tokens {
            None => {
                for (t, layout) in traced.iter().zip(&layouts) {
                    let rendering = layout
                        .render(&t.trace, options)
                        .map_err(render_error(t.test_index))?;
                    texts.push(rendering.text);
                    infos.push(trace_info(t, options, None));
                }
            }
            Some(budget) => {
                // Every trace at its smallest first: the source and the ending line.
                for (t, layout) in traced.iter().zip(&layouts) {
                    let bare = Trace {
                        steps: Vec::new(),
                        ..t.trace.clone()
                    };
                    let rendering = layout
                        .render(&bare, options)
                        .map_err(render_error(t.test_index))?;
                    texts.push(rendering.text);
                }
                for (i, (t, layout)) in traced.iter().zip(&layouts).enumerate() {
                    let mut failure = None;
                    let result = layout.render_within(&t.trace, options, budget, |candidate| {
                        let mut parts: Vec<&str> = texts.iter().map(String::as_str).collect();
                        parts[i] = candidate;
                        match self.body(task, traced, &parts) {
                            Ok(body) => self.count(&body),
                            Err(e) => {
                                failure.get_or_insert(e);
                                usize::MAX
                            }
                        }
                    });
                    if let Some(e) = failure {
                        return Err(e);
                    }
                    match result {
                        Ok((rendering, report)) => {
                            texts[i] = rendering.text;
                            infos.push(trace_info(t, options, Some(&report)));
                        }
                        Err(InlineError::OverBudget { tokens, .. }) => {
                            return Err(PromptError::OverBudget {
                                task_id: task.task_id.clone(),
                                tokens,
                                budget,
                                traces: traced.len(),
                            });
                        }
                        Err(e) => return Err(render_error(t.test_index)(e)),
                    }
                }
            }
        }
        let parts: Vec<&str> = texts.iter().map(String::as_str).collect();
        let body = self.body(task, traced, &parts)?;
        let tokens = self.count(&body);
        if let Some(budget) = self.config.max_prompt_tokens
            && tokens > budget
        {
            return Err(PromptError::OverBudget {
                task_id: task.task_id.clone(),
                tokens,
                budget,
                traces: traced.len(),
            });
        }
        let budget_actions = [
            BudgetAction::LoweredKeepFirst,
            BudgetAction::HalvedMaxValueChars,
            BudgetAction::DroppedLines,
        ]
        .into_iter()
        .filter(|a| {
            infos
                .iter()
                .any(|i: &TraceInfo| i.budget_actions.contains(a))
        })
        .collect();
        Ok(Prompt {
            task_id: task.task_id.clone(),
            body,
            tokens,
            tokenizer: self.config.counter.name().to_owned(),
            budget_actions,
            traces: infos,
        })
    }

    /// The prompt's content with the given trace renderings.
    fn body(
        &self,
        task: &Task,
        traced: &[TracedTest],
        texts: &[&str],
    ) -> Result<PromptBody, PromptError> {
        let traces = traced
            .iter()
            .zip(texts)
            .map(|(t, text)| TraceContext {
                test_index: t.test_index,
                test_number: t.test_index + 1,
                test: trim_newlines(&task.tests[t.test_index]),
                status: t.status,
                failing: t.status != TestStatus::Passed,
                ending: ending_name(&t.trace.ending),
                text: trim_newlines(text),
            })
            .collect();
        let problem = self.render_part(
            "problem.j2",
            &ProblemContext {
                task_id: &task.task_id,
                prompt: &task.prompt,
                code: trim_newlines(&task.code),
                tests: task.tests.iter().map(|t| trim_newlines(t)).collect(),
                setup: task
                    .setup
                    .as_deref()
                    .map(trim_newlines)
                    .filter(|s| !s.trim().is_empty()),
                entry_point: task.entry_point.as_deref(),
                with_trace: self.config.with_trace,
                exemplar: false,
                traces,
            },
        )?;
        Ok(match self.config.format {
            Format::Text => PromptBody::Text(self.templates.render(
                "text.j2",
                &TextContext {
                    system: &self.system,
                    examples: &self.examples,
                    problem: &problem,
                },
            )?),
            Format::Chat => {
                let mut messages = Vec::with_capacity(2 + 2 * self.examples.len());
                messages.push(Message {
                    role: Role::System,
                    content: self.system.clone(),
                });
                for e in &self.examples {
                    messages.push(Message {
                        role: Role::User,
                        content: e.problem.clone(),
                    });
                    messages.push(Message {
                        role: Role::Assistant,
                        content: e.answer.clone(),
                    });
                }
                messages.push(Message {
                    role: Role::User,
                    content: problem,
                });
                PromptBody::Chat(messages)
            }
        })
    }

    /// Tokens of a body made by [`Prompter::body`].
    fn count(&self, body: &PromptBody) -> usize {
        let counter = &self.config.counter;
        match body {
            PromptBody::Text(text) => counter.count(text),
            // The system and exemplar messages are the same in every prompt.
            PromptBody::Chat(messages) => {
                let last = messages.last().map_or("", |m| m.content.as_str());
                self.fixed_chat_tokens + counter.count(last) + MESSAGE_OVERHEAD_TOKENS
            }
        }
    }

    /// Renders a part of the prompt, without its trailing whitespace.
    fn render_part<C: Serialize>(&self, name: &str, context: &C) -> Result<String, PromptError> {
        let mut text = self.templates.render(name, context)?;
        text.truncate(text.trim_end().len());
        Ok(text)
    }

    fn exemplar_problem(&self, ex: &Exemplar) -> Result<String, PromptError> {
        let traces = if self.config.with_trace {
            vec![TraceContext {
                test_index: ex.test_index,
                test_number: ex.test_index + 1,
                test: &ex.tests[ex.test_index],
                status: ex.status,
                failing: true,
                ending: "complete",
                text: trim_newlines(&ex.traced),
            }]
        } else {
            Vec::new()
        };
        self.render_part(
            "problem.j2",
            &ProblemContext {
                task_id: &ex.task_id,
                prompt: &ex.prompt,
                code: trim_newlines(&ex.buggy),
                tests: ex.tests.iter().map(String::as_str).collect(),
                setup: None,
                entry_point: None,
                with_trace: self.config.with_trace,
                exemplar: true,
                traces,
            },
        )
    }
}

fn trace_info(t: &TracedTest, options: &RenderOptions, report: Option<&BudgetReport>) -> TraceInfo {
    TraceInfo {
        test_index: t.test_index,
        status: t.status,
        ending: t.trace.ending.clone(),
        keep_first: report.map_or(options.keep_first, |r| r.keep_first),
        max_value_chars: report.map_or(options.max_value_chars, |r| r.max_value_chars),
        dropped_lines: report.map(|r| r.dropped_lines.clone()).unwrap_or_default(),
        budget_actions: report
            .map(|r| r.measures.iter().map(|&m| BudgetAction::of(m)).collect())
            .unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{FakeTracer, FakeVerifier, check, task};
    use TestStatus::{Error as Raised, Failed, NotRun, Passed};

    fn prompter(builder: &mut PromptBuilder) -> Prompter {
        builder.shots(0).build().unwrap()
    }

    #[test]
    fn the_first_failing_or_raising_test_is_chosen() {
        let p = prompter(&mut PromptBuilder::new());
        let t = task(&["a", "b", "c"]);
        let choose = |verdict, statuses: &[TestStatus]| {
            p.tests_to_trace(&t, &check(&t, verdict, statuses)).unwrap()
        };
        assert_eq!(
            choose(Verdict::Failed, &[Passed, Failed, Failed]),
            [(1, Failed)]
        );
        assert_eq!(
            choose(Verdict::Error, &[Passed, Passed, Raised]),
            [(2, Raised)]
        );
        // A run that ended (timeout, crash, error in the program) before its tests.
        assert_eq!(
            choose(Verdict::Timeout, &[Passed, NotRun, NotRun]),
            [(1, NotRun)]
        );
        assert_eq!(
            choose(Verdict::Error, &[NotRun, NotRun, NotRun]),
            [(0, NotRun)]
        );
        // A short report counts its missing tests as not run.
        assert_eq!(choose(Verdict::Crashed, &[Passed]), [(1, NotRun)]);
        assert_eq!(choose(Verdict::SyntaxError, &[]), [(0, NotRun)]);
        // A pass: the first test.
        assert_eq!(
            choose(Verdict::Passed, &[Passed, Passed, Passed]),
            [(0, Passed)]
        );
    }

    #[test]
    fn passing_programs_can_be_refused_and_all_tests_chosen() {
        let t = task(&["a", "b"]);
        let p = prompter(PromptBuilder::new().on_passing(OnPassing::Fail));
        let err = p
            .tests_to_trace(&t, &check(&t, Verdict::Passed, &[Passed, Passed]))
            .unwrap_err();
        assert!(matches!(err, PromptError::Passes { .. }));
        let p = prompter(PromptBuilder::new().trace_tests(TraceTests::All));
        assert_eq!(
            p.tests_to_trace(&t, &check(&t, Verdict::Failed, &[Failed, Passed]))
                .unwrap(),
            [(0, Failed), (1, Passed)]
        );
        let err = p
            .tests_to_trace(&task(&[]), &check(&t, Verdict::Passed, &[]))
            .unwrap_err();
        assert!(matches!(err, PromptError::NoTests { .. }), "{err}");
    }

    #[test]
    fn the_failing_test_is_traced_after_the_program() {
        let p = prompter(&mut PromptBuilder::new());
        let tracer = FakeTracer::new();
        let verifier = FakeVerifier::new(Verdict::Failed, &[Passed, Failed]);
        let t = task(&["assert f(1) == 1", "assert f(1) == 2"]);
        let prompt = p.prompt(&t, &tracer, &verifier).unwrap();
        assert_eq!(
            *tracer.programs.lock().unwrap(),
            ["def f(x):\n    return x\n\nassert f(1) == 2\n"]
        );
        assert!(prompt.text().unwrap().contains(
            "def f(x):  # (0) x=1;\n    return x  # (1) __return__=1;\n\n\
             assert f(1) == 2  # (2) __exception__=AssertionError();\n\n### Answer\n"
        ));
        assert_eq!(prompt.traces[0].test_index, 1);
    }

    #[test]
    fn without_trace_nothing_is_verified_or_traced() {
        let p = prompter(PromptBuilder::new().trace(false));
        let tracer = FakeTracer::new();
        let verifier = FakeVerifier::new(Verdict::Failed, &[Failed]);
        let prompt = p
            .prompt(&task(&["assert f(1) == 2"]), &tracer, &verifier)
            .unwrap();
        assert!(prompt.traces.is_empty());
        assert!(!prompt.text().unwrap().contains("execution trace"));
        assert_eq!(*verifier.calls.lock().unwrap(), 0);
        assert!(tracer.programs.lock().unwrap().is_empty());
    }

    #[test]
    fn verifier_and_tracer_errors_are_per_task() {
        let p = prompter(&mut PromptBuilder::new());
        let t = task(&["assert f(1) == 2"]);
        let mut verifier = FakeVerifier::new(Verdict::Failed, &[Failed]);
        verifier.fail = true;
        let err = p.prompt(&t, &FakeTracer::new(), &verifier).unwrap_err();
        assert_eq!(
            err.to_string(),
            "fake/0: verification failed: fake failure: no interpreter"
        );
        assert!(std::error::Error::source(&err).is_some());

        let mut tracer = FakeTracer::new();
        tracer.fail = true;
        let verifier = FakeVerifier::new(Verdict::Failed, &[Failed]);
        let err = p.prompt(&t, &tracer, &verifier).unwrap_err();
        assert_eq!(
            err.to_string(),
            "fake/0: tracing tests[0] failed: fake failure: syntax error"
        );
    }

    #[test]
    fn assembled_traces_must_name_real_tests() {
        let p = prompter(&mut PromptBuilder::new());
        let traced = TracedTest {
            test_index: 3,
            status: Failed,
            trace: Trace::new("fake"),
        };
        let err = p
            .assemble(&task(&["assert f(1) == 2"]), &[traced])
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "fake/0: there is no tests[3] (the task has 1 tests)"
        );
    }

    #[test]
    fn a_trace_that_does_not_fit_its_program_is_a_render_error() {
        let p = prompter(&mut PromptBuilder::new());
        let mut trace = Trace::new("fake");
        trace.steps.push(nxt_core::Step {
            line: 3,
            event: nxt_core::Event::Line,
            frame: 0,
            vars: vec![nxt_core::Var::new("x", nxt_core::Value::repr("1"))],
        });
        let traced = TracedTest {
            test_index: 0,
            status: Failed,
            trace,
        };
        let err = p
            .assemble(&task(&["assert f(1) == 2"]), &[traced])
            .unwrap_err();
        assert!(
            matches!(err, PromptError::Render { test_index: 0, .. }),
            "{err}"
        );
    }

    #[test]
    fn too_many_shots_is_an_error() {
        let err = PromptBuilder::new().shots(4).build().unwrap_err();
        assert_eq!(
            err.to_string(),
            "4 shots asked for, but there are 3 exemplars"
        );
        for n in 0..=3 {
            let p = PromptBuilder::new()
                .shots(n)
                .format(Format::Chat)
                .trace(false)
                .build()
                .unwrap();
            let prompt = p.assemble(&task(&["assert f(1) == 2"]), &[]).unwrap();
            assert_eq!(prompt.messages().unwrap().len(), 2 + 2 * n);
        }
    }

    #[test]
    fn prompts_serialize_with_prompt_or_messages() {
        let p = prompter(PromptBuilder::new().trace(false));
        let json = p
            .assemble(&task(&["assert f(1) == 2"]), &[])
            .unwrap()
            .to_json();
        assert!(
            json.starts_with(r#"{"task_id":"fake/0","prompt":"You are"#),
            "{json}"
        );
        assert!(
            json.ends_with(r#""tokenizer":"estimate","budget_actions":[],"traces":[]}"#),
            "{json}"
        );
        let p = prompter(PromptBuilder::new().trace(false).format(Format::Chat));
        let json = p
            .assemble(&task(&["assert f(1) == 2"]), &[])
            .unwrap()
            .to_json();
        assert!(
            json.starts_with(
                r#"{"task_id":"fake/0","messages":[{"role":"system","content":"You are"#
            ),
            "{json}"
        );
    }

    #[test]
    fn a_custom_counter_drives_the_budget() {
        let chars = TokenCounter::custom("chars", |s: &str| s.chars().count());
        let mut builder = PromptBuilder::new();
        builder.token_counter(chars.clone()).shots(0);
        let t = task(&["assert f(1) == 2"]);
        let (tracer, verifier) = (
            FakeTracer::new(),
            FakeVerifier::new(Verdict::Failed, &[Failed]),
        );
        let full = builder
            .build()
            .unwrap()
            .prompt(&t, &tracer, &verifier)
            .unwrap();
        assert_eq!(full.tokenizer, "chars");
        assert_eq!(full.tokens, full.text().unwrap().chars().count());
        // Dropping the first line's comment saves `  # (0) x=1;` (12 characters). The
        // ladder's first two steps change nothing here (no line has more steps than it
        // keeps, no value is longer than 20 characters), so they are not reported.
        let p = builder
            .max_prompt_tokens(Some(full.tokens - 1))
            .build()
            .unwrap()
            .prompt(&t, &tracer, &verifier)
            .unwrap();
        assert_eq!(p.budget_actions, [BudgetAction::DroppedLines]);
        assert_eq!(p.traces[0].dropped_lines, [1]);
        assert_eq!(p.tokens, full.tokens - 12);
    }
}
