//! The long calls of a self-training run (`Run.step`, `Run.evaluate`): the sampler
//! (a Python callable or a checkpoint's `replay:`/`openai:` spec), the sandbox's
//! workers, progress, Ctrl-C, and the errors; plus the evaluation's result class.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use nxt_core::{CheckResult, Completion, Sample, Task, Verifier, VerifyOptions};
use nxt_selftrain::{
    Checkpoint, ConfiguredSampler, EvalResult, Pending, Phase, Progress, Run, SlotSampler,
};
use nxt_trace::CPythonTracer;
use nxt_verify::PythonVerifier;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

use crate::guard::{Guard, Guarded};
use crate::interrupt::{Cancel, durable};
use crate::selftrain::{PySampler, lock, store_err};

/// The sampler spec of a checkpoint served by a Python callable (the CLI cannot ask it).
pub(crate) const PYTHON_SPEC: &str = "python";

/// What answers a call's requests.
pub(crate) enum SamplerArg {
    /// A Python callable, or an object with `sample_batch`.
    Python(Py<PyAny>),
    /// A `replay:FILE` or `openai:BASE_URL` spec, and the model to ask.
    Spec(String, String),
}

impl SamplerArg {
    /// `sampler` as given (a callable or a spec), else the sampler of `checkpoint`.
    pub(crate) fn of(
        sampler: Option<&Bound<'_, PyAny>>,
        checkpoint: &Checkpoint,
    ) -> PyResult<Self> {
        let spec = match sampler {
            Some(s) if !s.is_none() => match s.cast::<PyString>() {
                Ok(spec) => spec.extract::<String>()?,
                Err(_) => return Ok(SamplerArg::Python(s.clone().unbind())),
            },
            _ => checkpoint.sampler.clone(),
        };
        if spec == PYTHON_SPEC {
            return Err(config(format!(
                "checkpoint {:?} is served from Python: pass its sampler",
                checkpoint.name
            )));
        }
        if spec.is_empty() {
            return Err(config(format!(
                "checkpoint {:?} names no sampler: pass one (a callable, replay:FILE or openai:URL)",
                checkpoint.name
            )));
        }
        Ok(SamplerArg::Spec(spec, checkpoint.model.clone()))
    }
}

fn config(message: String) -> PyErr {
    store_err(nxt_selftrain::Error::Config(message))
}

/// The sampler of a call, on its worker thread.
enum Sampling<'a> {
    Python(PySampler<'a>),
    Configured(ConfiguredSampler, &'a Cancel),
}

impl SlotSampler for Sampling<'_> {
    type Error = String;

    fn sample_slots(&self, pending: &[&Pending]) -> Vec<Result<Vec<Completion>, String>> {
        match self {
            Sampling::Python(s) => s
                .sample_slots(pending)
                .into_iter()
                .map(|r| r.map_err(|e| e.to_string()))
                .collect(),
            Sampling::Configured(_, cancel) if cancel.is_set() => pending
                .iter()
                .map(|_| Err("interrupted".to_owned()))
                .collect(),
            Sampling::Configured(s, _) => s
                .sample_slots(pending)
                .into_iter()
                .map(|r| r.map_err(|e| e.to_string()))
                .collect(),
        }
    }
}

/// The verifier of a call: it runs prompting to its end (a prompt cut short would
/// leave its task out of the iteration), and stops at Ctrl-C once the call samples
/// or verifies (`armed`); the run itself stops at its next transaction boundary.
struct Armed<'a, V> {
    guard: Guard<'a, V>,
    armed: &'a AtomicBool,
}

impl<V: Verifier> Verifier for Armed<'_, V> {
    type Error = Guarded<V::Error>;

    fn verify(
        &self,
        task: &Task,
        sample: &Sample,
        options: &VerifyOptions,
    ) -> Result<CheckResult, Self::Error> {
        if self.armed.load(Ordering::SeqCst) {
            self.guard.verify(task, sample, options)
        } else {
            self.guard
                .inner
                .verify(task, sample, options)
                .map_err(Guarded::Inner)
        }
    }

    fn verify_all(
        &self,
        pairs: &[(&Task, &Sample)],
        options: &VerifyOptions,
    ) -> Vec<Result<CheckResult, Self::Error>> {
        if self.armed.load(Ordering::SeqCst) {
            self.guard.verify_all(pairs, options)
        } else {
            self.guard
                .inner
                .verify_all(pairs, options)
                .into_iter()
                .map(|r| r.map_err(Guarded::Inner))
                .collect()
        }
    }
}

/// What a call's body gets.
pub(crate) struct Tools<'a> {
    pub(crate) tracer: &'a CPythonTracer,
    verifier: Armed<'a, PythonVerifier>,
    sampler: Sampling<'a>,
}

impl Tools<'_> {
    pub(crate) fn verifier(&self) -> &impl Verifier {
        &self.verifier
    }
    pub(crate) fn sampler(&self) -> &impl SlotSampler<Error = String> {
        &self.sampler
    }
}

/// The options of a call.
pub(crate) struct CallOptions {
    pub(crate) jobs: Option<usize>,
    pub(crate) on_progress: Option<Py<PyAny>>,
    pub(crate) python: Option<PathBuf>,
}

/// Runs `body` on the run with the call's tools, without the GIL, interruptible by
/// Ctrl-C and durable (an interrupted call still stores what it received; see
/// [`durable`]). A Python sampler's failure is a `SamplerError` whose `__cause__` is
/// its exception; an `on_progress` callback's exception is raised as it is.
pub(crate) fn run_call<R, F>(
    py: Python<'_>,
    run: Arc<Mutex<Run>>,
    sampler: SamplerArg,
    options: CallOptions,
    body: F,
) -> PyResult<R>
where
    R: Send + 'static,
    F: FnOnce(&mut Run, &Tools<'_>, &mut dyn FnMut(&Progress)) -> Result<R, nxt_selftrain::Error>
        + Send
        + 'static,
{
    let CallOptions {
        jobs,
        on_progress,
        python,
    } = options;
    let workers = crate::engines::workers(jobs);
    let (result, sampler_error, progress_error) = durable(py, move |cancel| {
        let tracer = crate::engines::tracer(python.clone(), workers)?;
        let verifier = crate::engines::verifier(python, workers)?;
        let armed = AtomicBool::new(false);
        let sampling = match &sampler {
            SamplerArg::Python(f) => Sampling::Python(PySampler {
                f,
                cancel,
                error: Mutex::new(None),
            }),
            SamplerArg::Spec(spec, model) => Sampling::Configured(
                ConfiguredSampler::from_spec(spec, model).map_err(store_err)?,
                cancel,
            ),
        };
        let tools = Tools {
            tracer: &tracer,
            verifier: Armed {
                guard: Guard {
                    inner: &*verifier,
                    cancel,
                    batch: workers * 4,
                },
                armed: &armed,
            },
            sampler: sampling,
        };
        let mut progress_error: Option<PyErr> = None;
        let mut progress = |p: &Progress| {
            if !matches!(p.phase, Phase::Prompting) {
                armed.store(true, Ordering::SeqCst);
            }
            if let Some(f) = &on_progress
                && progress_error.is_none()
                && let Err(e) = Python::attach(|py| f.call1(py, (p.to_string(),)).map(drop))
            {
                progress_error = Some(e);
            }
        };
        let result = {
            let mut run = lock(&run);
            run.set_interrupt(cancel.flag());
            body(&mut run, &tools, &mut progress)
        };
        let sampler_error = match &tools.sampler {
            Sampling::Python(s) => lock(&s.error).take(),
            Sampling::Configured(..) => None,
        };
        PyResult::Ok((result, sampler_error, progress_error))
    })??;
    if let Some(e) = progress_error {
        return Err(e);
    }
    result.map_err(|e| match sampler_error {
        Some(cause) => {
            let err = crate::errors::simple(py, "SamplerError", e.to_string());
            err.set_cause(py, Some(cause));
            err
        }
        None => store_err(e),
    })
}

/// A checkpoint as a dict: `iteration`, `name`, `sampler`, `model`, `registered_at`.
pub(crate) fn checkpoint_dict<'py>(
    py: Python<'py>,
    c: &Checkpoint,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("iteration", c.iteration)?;
    d.set_item("name", &c.name)?;
    d.set_item("sampler", &c.sampler)?;
    d.set_item("model", &c.model)?;
    d.set_item("registered_at", c.registered_at)?;
    Ok(d)
}

/// A checkpoint's sampler spec as stored: a replay file made absolute and checked
/// (as the CLI does), an `openai:` URL as it is, or `python`.
pub(crate) fn checked_spec(spec: &str) -> PyResult<String> {
    match spec.split_once(':') {
        _ if spec == PYTHON_SPEC => Ok(spec.to_owned()),
        Some(("replay", file)) if !file.is_empty() => {
            let path = std::fs::canonicalize(Path::new(file))
                .map_err(|e| crate::errors::invalid(format!("checkpoint sampler: {file}: {e}")))?;
            nxt_selftrain::ReplaySampler::open(&path).map_err(store_err)?;
            Ok(format!("replay:{}", path.display()))
        }
        Some(("openai", url)) if !url.is_empty() => Ok(spec.to_owned()),
        _ => Err(config(format!(
            "checkpoint sampler {spec:?}: expected replay:ANSWERS.jsonl, openai:BASE_URL or \
             \"python\" (served by a Python callable)"
        ))),
    }
}

/// A dev-set evaluation of one iteration's checkpoint and its end-to-end fix rates
/// (the unbiased pass@k averaged over the dev tasks with at least k samples).
#[pyclass(module = "nxt", name = "EvalResult", frozen)]
pub(crate) struct PyEvalResult {
    pub(crate) inner: EvalResult,
    /// Dev tasks without a prompt, with why (only for the call that evaluated).
    pub(crate) unprompted: Vec<(String, String)>,
    pub(crate) sampled: u64,
    pub(crate) verified: u64,
}

impl PyEvalResult {
    pub(crate) fn of(inner: EvalResult) -> PyEvalResult {
        PyEvalResult {
            inner,
            unprompted: Vec::new(),
            sampled: 0,
            verified: 0,
        }
    }
}

#[pymethods]
impl PyEvalResult {
    /// The evaluation's id in the store.
    #[getter]
    fn id(&self) -> u32 {
        self.inner.evaluation.id
    }
    /// The iteration whose checkpoint was evaluated (0: the base model).
    #[getter]
    fn iteration(&self) -> u32 {
        self.inner.evaluation.iteration
    }
    /// Whether the prompts showed execution traces.
    #[getter]
    fn trace(&self) -> bool {
        self.inner.evaluation.trace
    }
    /// The checkpoint's name (`base` for iteration 0).
    #[getter]
    fn checkpoint(&self) -> &str {
        &self.inner.evaluation.checkpoint
    }
    /// The checkpoint's sampler spec.
    #[getter]
    fn sampler(&self) -> &str {
        &self.inner.evaluation.sampler
    }
    /// The checkpoint's model.
    #[getter]
    fn model(&self) -> &str {
        &self.inner.evaluation.model
    }
    /// Samples asked per dev task.
    #[getter]
    fn samples_per_task(&self) -> u32 {
        self.inner.evaluation.samples
    }
    /// Dev tasks with answered samples.
    #[getter]
    fn tasks(&self) -> usize {
        self.inner.tasks
    }
    /// Samples answered.
    #[getter]
    fn samples(&self) -> u64 {
        self.inner.samples
    }
    /// Samples whose program passed every test.
    #[getter]
    fn passed(&self) -> u64 {
        self.inner.passed
    }
    /// `{k: pass@k}` for k = 1, 5, 10, 25 (None when no task has k samples).
    #[getter]
    fn pass_at(&self) -> std::collections::BTreeMap<u64, Option<f64>> {
        self.inner.pass_at.iter().copied().collect()
    }
    /// pass@k, for k among 1, 5, 10, 25 (None when no task has k samples).
    fn pass_at_k(&self, k: u64) -> PyResult<Option<f64>> {
        if !nxt_selftrain::EVAL_KS.contains(&k) {
            return Err(crate::errors::invalid(format!(
                "pass@{k} is not computed; ks: {:?}",
                nxt_selftrain::EVAL_KS
            )));
        }
        Ok(self.inner.pass_at(k))
    }
    /// Whether the evaluation is finished.
    #[getter]
    fn finished(&self) -> bool {
        self.inner.finished()
    }
    /// Dev tasks without a prompt, as `(task_id, why)` (from the call that evaluated).
    #[getter]
    fn unprompted(&self) -> Vec<(String, String)> {
        self.unprompted.clone()
    }
    /// Samples asked of the sampler by the call that evaluated (0 when read back).
    #[getter]
    fn sampled(&self) -> u64 {
        self.sampled
    }
    /// Samples judged by the call that evaluated (0 when read back).
    #[getter]
    fn verified(&self) -> u64 {
        self.verified
    }
    /// The result as a dict (`pass_at` keyed by k).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("id", self.id())?;
        d.set_item("iteration", self.iteration())?;
        d.set_item("trace", self.trace())?;
        d.set_item("checkpoint", self.checkpoint())?;
        d.set_item("sampler", self.sampler())?;
        d.set_item("model", self.model())?;
        d.set_item("samples_per_task", self.samples_per_task())?;
        d.set_item("tasks", self.tasks())?;
        d.set_item("samples", self.samples())?;
        d.set_item("passed", self.passed())?;
        let rates = PyDict::new(py);
        for (k, v) in &self.inner.pass_at {
            rates.set_item(k, v)?;
        }
        d.set_item("pass_at", rates)?;
        d.set_item("finished", self.finished())?;
        Ok(d)
    }
    fn __repr__(&self) -> String {
        let rates: Vec<String> = self
            .inner
            .pass_at
            .iter()
            .map(|(k, v)| match v {
                Some(v) => format!("pass@{k}={v:.3}"),
                None => format!("pass@{k}=None"),
            })
            .collect();
        format!(
            "EvalResult(iteration={}, trace={}, checkpoint={:?}, {})",
            self.iteration(),
            if self.trace() { "True" } else { "False" },
            self.checkpoint(),
            rates.join(", ")
        )
    }
}

/// Writes `bytes` to `path` through a temporary file in its directory, synced and
/// renamed into place: a reader sees the old file or the new one, never a part.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> PyResult<()> {
    use std::io::Write;
    let io = |e: std::io::Error| {
        crate::errors::data(nxt_data::DataError::Io {
            path: path.to_owned(),
            source: e,
        })
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| crate::errors::invalid(format!("{}: not a file name", path.display())))?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(io)
}
