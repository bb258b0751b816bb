//! NExT self-training (Ni et al., 2024, arXiv 2404.14662): the samplers that ask a
//! model for repairs, the store that keeps a run, the loop ([`Run`]: hard-problem
//! selection, then per iteration prompt, sample, parse, verify, filter), the
//! [`filter`]s and the fine-tuning exports (`docs/selftrain.md`).
//!
//! Every sampler implements [`nxt_core::Sampler`]: a [`SampleRequest`] names its task
//! and carries chat messages or a text prompt with the sampling parameters (`n`,
//! temperature, top_p, max_tokens, stop, seed); the answer is `n` [`Completion`]s.
//!
//! - [`OpenAiSampler`] (built by [`OpenAiSamplerBuilder`]) calls an OpenAI-compatible
//!   server (OpenAI, vLLM, llama.cpp's server, Ollama) over blocking HTTP, with a
//!   concurrency limit, retries with exponential backoff and jitter on 408, 429, 5xx,
//!   timeouts and connection errors (honouring `Retry-After`), and a typed
//!   [`Error::Status`] with the server's message on other 4xx.
//! - [`ReplaySampler`] serves answers recorded in JSONL (`{"task_id": ..., "answer":
//!   ...}` per line), each task's in file order, cycling: for offline runs and tests.
//! - [`FnSampler`] wraps a function, the hook for samplers written elsewhere (the Python
//!   bindings wrap a Python callable).
//!
//! A run lives in one SQLite database, its [`Store`]: configuration, task sets,
//! iterations, checkpoints, prompts by SHA-256, samples, verdicts, dev-set evaluations
//! and exports. [`Run::evaluate`] measures a checkpoint's end-to-end fix rate on the
//! dev set (unbiased pass@1, 5, 10, 25, with and without traces in the prompt),
//! [`Run::best_iteration`] picks the best, [`Run::report`] renders the run as a text
//! table or an HTML page with an SVG plot. The loop samples through [`SlotSampler`]:
//! every [`Sampler`] is one, and [`SlotReplay`] answers by slot, so a resumed replay
//! run is served exactly like one that ran through. Samples live in
//! *slots* planned before sampling and filled in one transaction per request, so a run
//! killed at any moment continues without losing a sample or storing one twice.
//!
//! # Example
//!
//! ```
//! use nxt_core::{ChatMessage, SampleRequest, Sampler};
//! use nxt_selftrain::ReplaySampler;
//!
//! let answers = r#"{"task_id": "demo/add", "answer": "first"}
//! {"task_id": "demo/add", "answer": "second"}
//! "#;
//! let sampler = ReplaySampler::from_reader(answers.as_bytes(), "answers.jsonl")?;
//!
//! let mut request = SampleRequest::chat("demo/add", vec![ChatMessage::new("user", "Fix it.")]);
//! request.n = 3;
//! request.temperature = Some(0.8);
//! let texts: Vec<String> = sampler.sample(&request)?.into_iter().map(|c| c.text).collect();
//! assert_eq!(texts, ["first", "second", "first"]);
//!
//! // The same request against a vLLM server would be:
//! let http = nxt_selftrain::OpenAiSamplerBuilder::new()
//!     .base_url("http://localhost:8000/v1")
//!     .model("deepseek-coder-6.7b-instruct")
//!     .build()?;
//! assert_eq!(http.endpoint(&request), "http://localhost:8000/v1/chat/completions");
//!
//! // A run's store: plan the slots, then fill what is pending (again after a restart).
//! use nxt_selftrain::{SlotAnswer, Split, Store};
//! let dir = tempfile::tempdir().unwrap();
//! let mut store = Store::create(dir.path().join("run.db"), &serde_json::json!({"n": 3}))?;
//! let task: nxt_core::Task = serde_json::from_str(
//!     r#"{"task_id": "demo/add", "prompt": "Add.", "code": "def add(a, b): return a - b", "tests": []}"#,
//! ).unwrap();
//! store.add_tasks(Split::Train, &[task])?;
//! let iteration = store.begin_iteration(None)?;
//! store.plan(iteration, &request, "replay", None)?;
//! for pending in store.pending(iteration)? {
//!     let answers: Vec<SlotAnswer> = sampler
//!         .sample(&pending.request)?
//!         .into_iter()
//!         .map(SlotAnswer::unparsed)
//!         .collect();
//!     store.fill(&pending.slots, &answers)?;
//! }
//! assert_eq!(store.progress(iteration)?, (3, 3)); // (planned, filled)
//! # Ok::<(), nxt_selftrain::Error>(())
//! ```
#![deny(missing_docs)]

mod custom;
mod error;
pub mod filter;
mod openai;
mod replay;
mod report;
mod run;
mod sampling;
mod store;

pub use custom::{BoxError, FnSampler};
pub use error::Error;
pub use nxt_core::{ChatMessage, Completion, PromptInput, SampleRequest, Sampler};
pub use openai::{OpenAiSampler, OpenAiSamplerBuilder};
pub use replay::ReplaySampler;
pub use report::{IterationRow, Report};
pub use run::{
    EVAL_KS, EvalReport, EvalResult, ExportFormat, IterationStatus, Kept, Next, Phase, Progress,
    Run, RunConfig, Scope, Status, StepReport,
};
pub use sampling::{ConfiguredSampler, SlotReplay, SlotSampler, shows_trace};
pub use store::{
    Checkpoint, DUMP_TABLES, Evaluation, Export, ImportedSample, Iteration, Pending,
    SCHEMA_VERSION, Slot, SlotAnswer, Split, Store, StoredSample, prompt_hash,
};
