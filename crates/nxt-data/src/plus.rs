//! HumanEval+ and MBPP+ in evalplus's native format (`HumanEvalPlus.jsonl`,
//! `MbppPlus.jsonl`): inputs without expected outputs, which the reference program
//! gives (`docs/benchmarks-data.md`).
//!
//! An import has three steps, the middle one outside this crate (it runs Python):
//!
//! 1. [`read`] parses the file into [`Problem`]s: each input becomes the Python source of
//!    its call's arguments (`[1.0, 2.0], 0.3`), exactly as `json.loads` and evalplus's
//!    MBPP+ loader would make it (non-finite floats, integers of any size, tuples and
//!    sets included). [`Problems::sha256`] is the file's hash.
//! 2. Something runs each problem's [`Problem::program`] on its inputs and reports, per
//!    input, what [`Problem::encoder`]'s `encode(value)` made of the output and how long
//!    the call took ([`InputOracle::from_encoded`]); `nxt-verify`'s `ReferenceRunner`
//!    does it in the sandbox. [`OracleCache`] keeps the result on disk, keyed by the
//!    file's hash, so that a second import runs nothing.
//! 3. [`tasks`] turns problems and their oracles into [`Task`]s: one test block per
//!    input, compared as evalplus compares (`==`, floats within `atol`, the special
//!    oracles), each call under its own time limit.

use std::path::{Path, PathBuf};

use nxt_core::Task;
use serde_json::{Map, Value as Json, json};

use crate::fields::{Bad, Fields};
use crate::jsonl::{Collector, each_line, task_key, torn_hint};
use crate::pyjson::{self, Py};
use crate::{DataError, InvalidLine, OnInvalid, sha256};

/// Python source of `_nxt_digest(value)`: the canonical digest of large expected outputs.
pub const DIGEST_SOURCE: &str = include_str!("plus/digest.py");
/// Python source of the encoder's helpers (`_nxt_encode(value)`); needs
/// [`DIGEST_SOURCE`]. [`Problem::encoder`] puts them together.
pub const ENCODE_SOURCE: &str = include_str!("plus/encode.py");
/// Python source of the test blocks' helpers, in every task's `setup`.
pub const SETUP_SOURCE: &str = include_str!("plus/setup.py");
/// Python source of evalplus's special oracles (`_nxt_poly`, `_nxt_surface_Area`,
/// `_nxt_digit_distance_nums`), in the `setup` of the tasks that use one.
pub const ORACLES_SOURCE: &str = include_str!("plus/oracles.py");

const UNPICKLE_SOURCE: &str = "import base64 as _nxt_base64\nimport pickle as _nxt_pickle\n\n\n\
def _nxt_unpickle(text):\n    return _nxt_pickle.loads(_nxt_base64.b64decode(text))\n";

/// The version of the oracle encoding and of the cache's format; a change of either
/// makes old cache files unused.
pub const ORACLE_FORMAT: &str = "nxt-expected-outputs/1";

/// evalplus's per-input time limit: at least this many seconds...
pub const MIN_TIME_LIMIT: f64 = 1.0;
/// ...and this many times the reference's own time.
pub const TIME_LIMIT_FACTOR: f64 = 4.0;

/// How [`tasks`] sets each input's time limit: `max(min_time_limit,
/// time_limit_factor x the reference's time)`, rounded up to the millisecond.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlusOptions {
    /// By default, [`MIN_TIME_LIMIT`] (1 s), as evalplus.
    pub min_time_limit: f64,
    /// By default, [`TIME_LIMIT_FACTOR`] (4), as evalplus.
    pub time_limit_factor: f64,
}

impl Default for PlusOptions {
    fn default() -> PlusOptions {
        PlusOptions {
            min_time_limit: MIN_TIME_LIMIT,
            time_limit_factor: TIME_LIMIT_FACTOR,
        }
    }
}

impl PlusOptions {
    /// The time limit of an input whose reference call took `seconds`.
    pub fn input_time_limit(&self, seconds: f64) -> f64 {
        let limit = (self.time_limit_factor * seconds).max(self.min_time_limit);
        // Up to the next millisecond, not past it for a rounding error (1.2000000000000002).
        (limit * 1000.0 - 1e-6).ceil() / 1000.0
    }
}
/// evalplus caps the time of one set of inputs (base, plus) at this many seconds, plus
/// [`SET_MARGIN`].
pub const SET_TIME_CAP: f64 = 60.0;
/// Added to each set's capped time (evalplus adds 1 s, and 1 s more when it records
/// per-input details, as a check here does).
pub const SET_MARGIN: f64 = 2.0;

/// Which evalplus benchmark a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Benchmark {
    /// HumanEval+ (`HumanEvalPlus.jsonl`, ids `HumanEval/<n>`).
    HumanEvalPlus,
    /// MBPP+ (`MbppPlus.jsonl`, ids `Mbpp/<n>`).
    MbppPlus,
}

impl Benchmark {
    /// `humaneval-plus` or `mbpp-plus`: `meta.dataset` of the tasks, and the cache's
    /// name for it.
    pub fn dataset(self) -> &'static str {
        match self {
            Benchmark::HumanEvalPlus => "humaneval-plus",
            Benchmark::MbppPlus => "mbpp-plus",
        }
    }

    fn id_prefix(self) -> &'static str {
        match self {
            Benchmark::HumanEvalPlus => "HumanEval/",
            Benchmark::MbppPlus => "Mbpp/",
        }
    }
}

/// How a task's outputs are judged, beyond `==` and `atol`: evalplus's special oracles
/// (`evalplus/eval/__init__.py`, `unsafe_execute`, v0.3.1), chosen by entry point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpecialOracle {
    /// None: `==`, and floats within `atol`.
    None,
    /// HumanEval/32 `find_zero`: `|poly(xs, out)| <= atol`; the expected output is not
    /// used.
    FindZero,
    /// MBPP `are_equivalent` (Mbpp/164): any output passes.
    AnyOutput,
    /// MBPP `sum_div` (Mbpp/295): the expected output, or 0.
    SumDiv,
    /// MBPP `surface_Area` (Mbpp/581): the expected output, or within `atol` of
    /// evalplus's own formula.
    SurfaceArea,
    /// MBPP `digit_distance_nums` (Mbpp/558): the expected output, or evalplus's own
    /// formula's.
    DigitDistance,
    /// MBPP tasks whose output is compared as sets: `set(out) == set(expected)`.
    SetEquality,
    /// MBPP tasks whose output is only checked to be `None` or not (the reference
    /// returns `re.Match` objects): the expected output is `out is not None`.
    NotNone,
}

/// `MBPP_OUTPUT_SET_EQ_TASKS` of evalplus's `_special_oracle.py`.
const SET_EQ_TASKS: &[&str] = &[
    "similar_elements",
    "find_char_long",
    "common_in_nested_lists",
    "extract_singly",
    "larg_nnum",
    "intersection_array",
    "find_dissimilar",
    "Diff",
];

/// `MBPP_OUTPUT_NOT_NONE_TASKS` of evalplus's `_special_oracle.py`.
const NOT_NONE_TASKS: &[&str] = &["check_str", "text_match_three", "text_starta_endb"];

impl SpecialOracle {
    /// The oracle evalplus uses for `entry_point` in `benchmark`.
    pub fn of(benchmark: Benchmark, entry_point: &str) -> SpecialOracle {
        match benchmark {
            Benchmark::HumanEvalPlus if entry_point == "find_zero" => SpecialOracle::FindZero,
            Benchmark::HumanEvalPlus => SpecialOracle::None,
            Benchmark::MbppPlus => match entry_point {
                "are_equivalent" => SpecialOracle::AnyOutput,
                "sum_div" => SpecialOracle::SumDiv,
                "surface_Area" => SpecialOracle::SurfaceArea,
                "digit_distance_nums" => SpecialOracle::DigitDistance,
                e if SET_EQ_TASKS.contains(&e) => SpecialOracle::SetEquality,
                e if NOT_NONE_TASKS.contains(&e) => SpecialOracle::NotNone,
                _ => SpecialOracle::None,
            },
        }
    }
}

/// One problem of an evalplus file.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// As in the file: `HumanEval/0`, `Mbpp/2`.
    pub task_id: String,
    /// The prompt (HumanEval+: signature and docstring; MBPP+: a docstring with the
    /// task and one example).
    pub prompt: String,
    /// The function the inputs are passed to.
    pub entry_point: String,
    /// The reference body (HumanEval+) or program (MBPP+), after `prompt`.
    pub canonical_solution: String,
    /// The tolerance for float outputs (`atol`).
    pub atol: f64,
    /// `base_input`: each input as the Python source of its call's arguments, e.g.
    /// `[1.0, 2.0], 0.3`.
    pub base_inputs: Vec<String>,
    /// `plus_input`, the same way.
    pub plus_inputs: Vec<String>,
    /// evalplus's oracle for this problem.
    pub oracle: SpecialOracle,
    /// The other source fields, in file order (`contract`, `test`, `assertion`,
    /// `atol`).
    pub meta: Map<String, Json>,
}

impl Problem {
    /// The reference program: `prompt + canonical_solution`, as evalplus runs it.
    pub fn program(&self) -> String {
        format!("{}{}", self.prompt, self.canonical_solution)
    }

    /// Every input, base then plus.
    pub fn inputs(&self) -> impl Iterator<Item = &str> {
        self.base_inputs
            .iter()
            .chain(&self.plus_inputs)
            .map(String::as_str)
    }

    /// The Python source that defines `encode(value)` for this problem: what the
    /// reference runner calls on each output (for the "not None" tasks, on `output is
    /// not None`, as evalplus records them).
    pub fn encoder(&self) -> String {
        let wrapper = match self.oracle {
            SpecialOracle::NotNone => {
                "\n\ndef encode(value):\n    return _nxt_encode(value is not None)\n"
            }
            _ => "\n\nencode = _nxt_encode\n",
        };
        format!("{DIGEST_SOURCE}\n\n{ENCODE_SOURCE}{wrapper}")
    }
}

/// The problems of one file.
#[derive(Debug, Clone, PartialEq)]
pub struct Problems {
    /// The benchmark.
    pub benchmark: Benchmark,
    /// The file's name (for `meta.file`).
    pub file: String,
    /// The SHA-256 of the file's bytes: the cache key.
    pub sha256: String,
    /// The problems, in file order.
    pub items: Vec<Problem>,
    /// Lines skipped ([`OnInvalid::Skip`]).
    pub skipped: Vec<InvalidLine>,
}

impl Problems {
    /// How many inputs in all (base and plus).
    pub fn inputs(&self) -> usize {
        self.items
            .iter()
            .map(|p| p.base_inputs.len() + p.plus_inputs.len())
            .sum()
    }
}

/// Reads an evalplus file (`task_id`, `prompt`, `entry_point`, `canonical_solution`,
/// `base_input`, `plus_input`, `atol`, and any others, kept in `meta`).
///
/// Every input must be a list (the call's arguments); MBPP+ inputs are turned into
/// tuples, sets and complex numbers for the tasks evalplus's loader does it for. Errors
/// name the file, the line and the field (``MbppPlus.jsonl:4: field `plus_input[7]`:
/// expected a list of arguments, found an int``).
pub fn read(
    path: &Path,
    benchmark: Benchmark,
    on_invalid: OnInvalid,
) -> Result<Problems, DataError> {
    let file = path
        .file_name()
        .unwrap_or(path.as_os_str())
        .to_string_lossy()
        .into_owned();
    let sha = sha256::file_hex(path).map_err(DataError::io(path))?;
    let mut collector = Collector::new(path, on_invalid);
    each_line(path, |line| {
        let parsed = line.text.and_then(|text| problem(text, benchmark));
        let parsed = torn_hint(parsed, line.terminated);
        collector.add(line.number, None, parsed, |p| task_key(&p.task_id))
    })?;
    let loaded = collector.finish();
    Ok(Problems {
        benchmark,
        file,
        sha256: sha,
        items: loaded.items,
        skipped: loaded.skipped,
    })
}

fn problem(text: &str, benchmark: Benchmark) -> Result<Problem, Bad> {
    let value = pyjson::parse(text).map_err(|e| {
        Bad::line(format!(
            "invalid JSON at column {}: {}",
            e.column, e.message
        ))
    })?;
    let Py::Dict(pairs) = value else {
        return Err(Bad::line("expected an evalplus problem (a JSON object)"));
    };
    let mut plain = Map::new();
    let mut inputs: [Option<Py>; 2] = [None, None];
    for (key, value) in pairs {
        let Py::Str(key) = key else {
            unreachable!("JSON keys are strings")
        };
        let key = key.lossy();
        match key.as_str() {
            "base_input" => inputs[0] = Some(value),
            "plus_input" => inputs[1] = Some(value),
            _ => {
                let json = value
                    .to_json()
                    .map_err(|message| Bad::field(key.clone(), message))?;
                plain.insert(key, json);
            }
        }
    }
    let mut f = Fields::new(Json::Object(plain), "", "an evalplus problem")?;
    let task_id = f.id("task_id")?;
    let number = task_id
        .strip_prefix(benchmark.id_prefix())
        .and_then(|n| n.parse::<u64>().ok())
        .ok_or_else(|| {
            Bad::field(
                "task_id",
                format!(
                    "expected a {} id ({}<n>), found {task_id:?}",
                    benchmark.dataset(),
                    benchmark.id_prefix()
                ),
            )
        })?;
    let prompt = f.string("prompt")?;
    let entry_point = f.string("entry_point")?;
    if !crate::import::is_identifier(&entry_point) {
        return Err(Bad::field(
            "entry_point",
            format!("expected a Python identifier, found {entry_point:?}"),
        ));
    }
    let canonical_solution = f.string("canonical_solution")?;
    let atol = match f.peek("atol") {
        Some(Json::Number(n)) => n.as_f64().unwrap_or(0.0),
        Some(other) => {
            return Err(Bad::field(
                "atol",
                format!(
                    "expected a number, found {}",
                    crate::fields::describe(other)
                ),
            ));
        }
        None => return Err(Bad::field("atol", "missing")),
    };
    if !(atol.is_finite() && atol >= 0.0) {
        return Err(Bad::field(
            "atol",
            format!("expected a tolerance >= 0, found {atol}"),
        ));
    }
    let [base, plus] = inputs;
    let mut sources = Vec::new();
    for (name, value) in [("base_input", base), ("plus_input", plus)] {
        let Some(value) = value else {
            return Err(Bad::field(name, "missing"));
        };
        let items = match value {
            Py::List(items) => items,
            // MBPP+ v0.2.0 has `"plus_input": {}` (Mbpp/793): no inputs, as evalplus
            // reads it (an empty container).
            Py::Dict(pairs) if pairs.is_empty() => Vec::new(),
            _ => return Err(Bad::field(name, "expected a list of inputs")),
        };
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.into_iter().enumerate() {
            let field = format!("{name}[{i}]");
            let args = match item {
                Py::List(args) => args,
                _ => return Err(Bad::field(field, "expected a list of arguments")),
            };
            let args = match benchmark {
                Benchmark::HumanEvalPlus => args,
                Benchmark::MbppPlus => pyjson::mbpp_deserialize(number, args)
                    .map_err(|message| Bad::field(field.clone(), message))?,
            };
            let mut source = String::new();
            for (j, arg) in args.iter().enumerate() {
                if j > 0 {
                    source.push_str(", ");
                }
                arg.write_source(&mut source);
            }
            out.push(source);
        }
        sources.push(out);
    }
    let plus_inputs = sources.pop().expect("two lists");
    let base_inputs = sources.pop().expect("two lists");
    if base_inputs.is_empty() && plus_inputs.is_empty() {
        return Err(Bad::field("base_input", "no inputs at all"));
    }
    let oracle = SpecialOracle::of(benchmark, &entry_point);
    Ok(Problem {
        task_id,
        prompt,
        entry_point,
        canonical_solution,
        atol,
        base_inputs,
        plus_inputs,
        oracle,
        meta: f.rest(),
    })
}

/// How an expected output is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expected {
    /// Python source that evaluates to an equal value of the same types.
    Literal(String),
    /// The base64 of its pickle (types a literal cannot write, like
    /// `collections.deque`, or a literal over 64 KiB whose pickle is smaller).
    Pickle(String),
    /// `sha256:<hex>` of its canonical form (`DIGEST_SOURCE`): outputs too large to
    /// keep (over 64 KiB as source and as pickle). Compared with `==` semantics for the
    /// builtin types; usable only where the comparison is exact.
    Digest(String),
}

/// What the reference gave for one input.
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    /// Its output.
    pub expected: Expected,
    /// evalplus's `is_floats(output)`: a float, or a non-empty list or tuple of floats
    /// (then a tolerance of at least 1e-6 applies).
    pub floats: bool,
    /// How long the call took, in seconds.
    pub seconds: f64,
}

/// The oracle of one input: what the reference gave, or why the input is left out.
#[derive(Debug, Clone, PartialEq)]
pub enum InputOracle {
    /// The reference returned.
    Observed(Observed),
    /// The reference raised, ran out of time or memory, or its output could not be
    /// recorded: the input gets no test block (evalplus would have stopped here).
    Dropped(String),
}

impl InputOracle {
    /// The oracle of an input whose call took `seconds` and whose output the encoder
    /// (`encode(value)` of [`Problem::encoder`]) described as `encoded`: `{"enc":
    /// "literal" | "pickle" | "digest", "v": "...", "floats": bool}`. Anything else is
    /// [`InputOracle::Dropped`] with the reason.
    pub fn from_encoded(seconds: f64, encoded: &Map<String, Json>) -> InputOracle {
        let text = encoded.get("v").and_then(Json::as_str).map(str::to_owned);
        let expected = match (encoded.get("enc").and_then(Json::as_str), text) {
            (Some("literal"), Some(v)) => Expected::Literal(v),
            (Some("pickle"), Some(v)) => Expected::Pickle(v),
            (Some("digest"), Some(v)) if v.starts_with("sha256:") => Expected::Digest(v),
            _ => {
                return InputOracle::Dropped(format!(
                    "the encoder gave an unknown record: {}",
                    Json::Object(encoded.clone())
                ));
            }
        };
        let Some(floats) = encoded.get("floats").and_then(Json::as_bool) else {
            return InputOracle::Dropped("the encoder gave no `floats`".into());
        };
        if !(seconds.is_finite() && seconds >= 0.0) {
            return InputOracle::Dropped(format!("a bad time ({seconds})"));
        }
        InputOracle::Observed(Observed {
            expected,
            floats,
            seconds,
        })
    }

    fn to_json(&self) -> Json {
        match self {
            InputOracle::Observed(o) => {
                let (enc, v) = match &o.expected {
                    Expected::Literal(v) => ("literal", v),
                    Expected::Pickle(v) => ("pickle", v),
                    Expected::Digest(v) => ("digest", v),
                };
                json!({"t": o.seconds, "enc": enc, "v": v, "floats": o.floats})
            }
            InputOracle::Dropped(reason) => json!({"dropped": reason}),
        }
    }

    fn from_json(value: &Json) -> Option<InputOracle> {
        let map = value.as_object()?;
        if let Some(reason) = map.get("dropped") {
            return Some(InputOracle::Dropped(reason.as_str()?.to_owned()));
        }
        let seconds = map.get("t")?.as_f64()?;
        match InputOracle::from_encoded(seconds, map) {
            InputOracle::Dropped(_) => None,
            ok => Some(ok),
        }
    }
}

/// The oracles of one problem's inputs, base then plus.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskOracle {
    /// The problem.
    pub task_id: String,
    /// One per input, base then plus.
    pub inputs: Vec<InputOracle>,
}

/// Expected outputs on disk, one file per benchmark file's content:
/// `<dir>/evalplus/<dataset>-<sha256>.jsonl`, written atomically. The first line
/// describes the file (`format`, `benchmark`, `file`, `sha256`, `tasks`, `inputs`), each
/// other line is one problem's [`TaskOracle`].
///
/// The key is the benchmark file's hash only, as evalplus's own cache: outputs and
/// times from another machine or Python are used as they are (remove the file, or use
/// another directory, to compute them again).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OracleCache {
    dir: PathBuf,
}

impl OracleCache {
    /// A cache in `dir` (created when first written).
    pub fn new(dir: impl Into<PathBuf>) -> OracleCache {
        OracleCache { dir: dir.into() }
    }

    /// The default directory: `$XDG_CACHE_HOME/nxt`, else `$HOME/.cache/nxt`; `None`
    /// when neither variable is set.
    pub fn default_dir() -> Option<PathBuf> {
        let nonempty = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        if let Some(dir) = nonempty("XDG_CACHE_HOME") {
            return Some(PathBuf::from(dir).join("nxt"));
        }
        nonempty("HOME").map(|home| PathBuf::from(home).join(".cache").join("nxt"))
    }

    /// The cache's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file that holds (or will hold) the oracles of `problems`.
    pub fn path(&self, problems: &Problems) -> PathBuf {
        self.dir.join("evalplus").join(format!(
            "{}-{}.jsonl",
            problems.benchmark.dataset(),
            problems.sha256
        ))
    }

    /// The oracles of `problems`, if the cache has them: `Ok(None)` when there is no
    /// file; an error when there is one that cannot be read or does not fit
    /// `problems` (another format version, other tasks or input counts).
    pub fn load(&self, problems: &Problems) -> Result<Option<Vec<TaskOracle>>, DataError> {
        let path = self.path(problems);
        if !path.is_file() {
            return Ok(None);
        }
        let mut oracles = Vec::new();
        let mut header: Option<Json> = None;
        let mut bad = None;
        each_line(&path, |line| {
            if bad.is_some() {
                return Ok(());
            }
            let value: Option<Json> = line.text.ok().and_then(|t| serde_json::from_str(t).ok());
            let Some(value) = value else {
                bad = Some((line.number, "not a JSON line".to_owned()));
                return Ok(());
            };
            if header.is_none() {
                header = Some(value);
                return Ok(());
            }
            let task_id = value.get("task_id").and_then(Json::as_str);
            let inputs = value
                .get("inputs")
                .and_then(Json::as_array)
                .and_then(|items| {
                    items
                        .iter()
                        .map(InputOracle::from_json)
                        .collect::<Option<Vec<_>>>()
                });
            match (task_id, inputs) {
                (Some(task_id), Some(inputs)) => oracles.push(TaskOracle {
                    task_id: task_id.to_owned(),
                    inputs,
                }),
                _ => bad = Some((line.number, "not a task's oracles".to_owned())),
            }
            Ok(())
        })?;
        let invalid = |line: usize, message: String| {
            DataError::Invalid(InvalidLine {
                path: path.clone(),
                line,
                field: None,
                message,
            })
        };
        if let Some((line, message)) = bad {
            return Err(invalid(line, message));
        }
        let Some(header) = header else {
            return Err(invalid(1, "an empty cache file".into()));
        };
        if header.get("format").and_then(Json::as_str) != Some(ORACLE_FORMAT)
            || header.get("sha256").and_then(Json::as_str) != Some(problems.sha256.as_str())
        {
            return Err(invalid(
                1,
                format!("not a {ORACLE_FORMAT} cache of this file"),
            ));
        }
        check_fit(problems, &oracles).map_err(|message| invalid(1, message))?;
        Ok(Some(oracles))
    }

    /// Writes the oracles of `problems` (atomically; the directory is created); returns
    /// the file's path.
    pub fn store(&self, problems: &Problems, oracles: &[TaskOracle]) -> Result<PathBuf, DataError> {
        check_fit(problems, oracles).map_err(DataError::Inconsistent)?;
        let path = self.path(problems);
        let dir = path.parent().expect("a cache file has a directory");
        std::fs::create_dir_all(dir).map_err(DataError::io(dir))?;
        let header = json!({
            "format": ORACLE_FORMAT,
            "benchmark": problems.benchmark.dataset(),
            "file": problems.file,
            "sha256": problems.sha256,
            "tasks": oracles.len(),
            "inputs": problems.inputs(),
        });
        let mut lines = vec![header];
        for oracle in oracles {
            lines.push(json!({
                "task_id": oracle.task_id,
                "inputs": oracle.inputs.iter().map(InputOracle::to_json).collect::<Vec<_>>(),
            }));
        }
        crate::write_jsonl(&path, &lines)?;
        Ok(path)
    }
}

/// The oracles are those of `problems`: the same tasks, in order, with one oracle per
/// input.
fn check_fit(problems: &Problems, oracles: &[TaskOracle]) -> Result<(), String> {
    if problems.items.len() != oracles.len() {
        return Err(format!(
            "{} problems but oracles for {} tasks",
            problems.items.len(),
            oracles.len()
        ));
    }
    for (p, o) in problems.items.iter().zip(oracles) {
        let n = p.base_inputs.len() + p.plus_inputs.len();
        if p.task_id != o.task_id || n != o.inputs.len() {
            return Err(format!(
                "{} has {n} inputs, but the oracles are for {} with {}",
                p.task_id,
                o.task_id,
                o.inputs.len()
            ));
        }
    }
    Ok(())
}

/// An input that got no test block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DroppedInput {
    /// The task.
    pub task_id: String,
    /// The input: `base_input[3]`, `plus_input[12]`.
    pub input: String,
    /// Why.
    pub reason: String,
}

/// What [`tasks`] made.
#[derive(Debug, Clone, PartialEq)]
pub struct PlusTasks {
    /// One task per problem with at least one input left, in file order.
    pub tasks: Vec<Task>,
    /// The inputs left out, in order.
    pub dropped: Vec<DroppedInput>,
    /// Problems left out because no input was left.
    pub empty: Vec<String>,
    /// Test blocks whose expected output is a literal, a pickle, a digest, or that use
    /// no expected output (find_zero, are_equivalent).
    pub literals: usize,
    /// See `literals`.
    pub pickles: usize,
    /// See `literals`.
    pub digests: usize,
    /// See `literals`.
    pub oracle_only: usize,
}

/// Makes the tasks of `problems` from their oracles (in the same order, as
/// [`OracleCache::load`] returns them or the reference runner computes them).
///
/// Each task: `code` and `solution` are [`Problem::program`]; `tests` holds one block
/// per input that was not dropped, base inputs first, each call limited to
/// [`PlusOptions::input_time_limit`] of the reference's time:
///
/// ```python
/// # plus_input[12]
/// with _nxt_time_limit(1.0):
///     __out = has_close_elements([1.0, 2.5, 3.0], 0.4)
/// assert __out == False, _nxt_got(__out)
/// ```
///
/// `setup` defines the helpers ([`SETUP_SOURCE`], and [`DIGEST_SOURCE`],
/// `_nxt_unpickle` and [`ORACLES_SOURCE`] where needed). `meta` has `dataset`, `file`,
/// `base_tests` and `plus_tests` (how many blocks of each), `timeout` (the check's time
/// limit in seconds: per set, `min(60, sum of the per-input limits) + 2`),
/// `test_timeouts` (each block's limit), `dropped` (if any), and the other source
/// fields (`atol`, `contract`, `test`, `assertion`).
pub fn tasks(
    problems: &Problems,
    oracles: &[TaskOracle],
    options: &PlusOptions,
) -> Result<PlusTasks, DataError> {
    check_fit(problems, oracles).map_err(DataError::Inconsistent)?;
    let mut out = PlusTasks {
        tasks: Vec::new(),
        dropped: Vec::new(),
        empty: Vec::new(),
        literals: 0,
        pickles: 0,
        digests: 0,
        oracle_only: 0,
    };
    for (problem, oracle) in problems.items.iter().zip(oracles) {
        match task(problems, problem, oracle, options, &mut out) {
            Some(task) => out.tasks.push(task),
            None => out.empty.push(problem.task_id.clone()),
        }
    }
    Ok(out)
}

fn seconds_source(x: f64) -> String {
    format!("{x:?}")
}

fn task(
    problems: &Problems,
    problem: &Problem,
    oracle: &TaskOracle,
    options: &PlusOptions,
    out: &mut PlusTasks,
) -> Option<Task> {
    let entry = &problem.entry_point;
    let mut blocks = Vec::new();
    let mut limits: Vec<f64> = Vec::new();
    let mut dropped = Vec::new();
    let mut counts = [0usize; 2];
    let mut timeout = 0.0;
    let (mut needs_digest, mut needs_pickle) = (false, false);
    let n_base = problem.base_inputs.len();
    for (part, name, inputs, offset) in [
        (0, "base_input", &problem.base_inputs, 0),
        (1, "plus_input", &problem.plus_inputs, n_base),
    ] {
        let mut atol = problem.atol;
        let mut set_total = 0.0;
        for (j, args) in inputs.iter().enumerate() {
            let label = format!("{name}[{j}]");
            let observed = match &oracle.inputs[offset + j] {
                InputOracle::Observed(o) => o,
                InputOracle::Dropped(reason) => {
                    dropped.push((label, reason.clone()));
                    continue;
                }
            };
            // evalplus's atol: a task-wide variable of the loop over one set's inputs,
            // set to 1e-6 for good at the first float output (find_zero's branch
            // `continue`s before that).
            let before = atol;
            if problem.oracle != SpecialOracle::FindZero && atol == 0.0 && observed.floats {
                atol = 1e-6;
            }
            let after = atol;
            let check = match check_source(problem, args, &observed.expected, before, after) {
                Ok(check) => check,
                Err(reason) => {
                    dropped.push((label, reason));
                    continue;
                }
            };
            match (&observed.expected, problem.oracle) {
                (_, SpecialOracle::FindZero | SpecialOracle::AnyOutput) => out.oracle_only += 1,
                (Expected::Literal(_), _) => out.literals += 1,
                (Expected::Pickle(_), _) => {
                    out.pickles += 1;
                    needs_pickle = true;
                }
                (Expected::Digest(_), _) => {
                    out.digests += 1;
                    needs_digest = true;
                }
            }
            let limit = options.input_time_limit(observed.seconds);
            set_total += limit;
            limits.push(limit);
            counts[part] += 1;
            blocks.push(format!(
                "# {label}\nwith _nxt_time_limit({}):\n    __out = {entry}({args})\n{check}\n",
                seconds_source(limit)
            ));
        }
        if counts[part] > 0 {
            timeout += set_total.min(SET_TIME_CAP) + SET_MARGIN;
        }
    }
    for (input, reason) in &dropped {
        out.dropped.push(DroppedInput {
            task_id: problem.task_id.clone(),
            input: input.clone(),
            reason: reason.clone(),
        });
    }
    if blocks.is_empty() {
        return None;
    }

    let mut setup = SETUP_SOURCE.to_owned();
    if needs_digest {
        setup.push_str("\n\n");
        setup.push_str(DIGEST_SOURCE);
    }
    if needs_pickle {
        setup.push_str("\n\n");
        setup.push_str(UNPICKLE_SOURCE);
    }
    if matches!(
        problem.oracle,
        SpecialOracle::FindZero | SpecialOracle::SurfaceArea | SpecialOracle::DigitDistance
    ) {
        setup.push_str("\n\n");
        setup.push_str(ORACLES_SOURCE);
    }

    let mut meta = Map::new();
    meta.insert("dataset".into(), problems.benchmark.dataset().into());
    meta.insert("file".into(), problems.file.clone().into());
    meta.insert("base_tests".into(), counts[0].into());
    meta.insert("plus_tests".into(), counts[1].into());
    meta.insert("timeout".into(), json!((timeout * 1000.0).round() / 1000.0));
    meta.insert("test_timeouts".into(), json!(limits));
    if !dropped.is_empty() {
        meta.insert(
            "dropped".into(),
            Json::Array(
                dropped
                    .iter()
                    .map(|(input, reason)| json!({"input": input, "reason": reason}))
                    .collect(),
            ),
        );
    }
    for (key, value) in &problem.meta {
        meta.entry(key.clone()).or_insert_with(|| value.clone());
    }
    let program = problem.program();
    Some(Task {
        task_id: problem.task_id.clone(),
        prompt: problem.prompt.clone(),
        code: program.clone(),
        tests: blocks,
        setup: Some(setup),
        entry_point: Some(problem.entry_point.clone()),
        solution: Some(program),
        meta,
    })
}

/// The lines of a block after the call: the comparison of `__out` with the expected
/// output, as evalplus makes it for this problem.
fn check_source(
    problem: &Problem,
    args: &str,
    expected: &Expected,
    before: f64,
    after: f64,
) -> Result<String, String> {
    let oracle = problem.oracle;
    match oracle {
        SpecialOracle::FindZero => {
            return Ok(format!(
                "assert abs(_nxt_poly({args}, __out)) <= {}, _nxt_got(__out)",
                seconds_source(before)
            ));
        }
        SpecialOracle::AnyOutput => {
            return Ok("pass  # evalplus accepts any output of this function".into());
        }
        _ => {}
    }
    let value = match expected {
        Expected::Literal(source) => source.clone(),
        Expected::Pickle(data) => format!("_nxt_unpickle('{data}')"),
        Expected::Digest(digest) => {
            if oracle == SpecialOracle::None && after == 0.0 {
                return Ok(format!(
                    "assert _nxt_digest(__out) == '{digest}', _nxt_got(__out)"
                ));
            }
            return Err(
                "the expected output is too large to keep, and this comparison needs it".into(),
            );
        }
    };
    let atol = seconds_source(after);
    Ok(match oracle {
        SpecialOracle::None if after == 0.0 => {
            format!("assert __out == {value}, _nxt_got(__out)")
        }
        SpecialOracle::None => format!("_nxt_expect(__out, {value}, {atol})"),
        SpecialOracle::SumDiv => format!(
            "__exp = {value}\n_nxt_expect(__out, __exp, {atol}, __out == __exp or __out == 0)"
        ),
        SpecialOracle::SurfaceArea => format!(
            "__exp = {value}\n_nxt_expect(__out, __exp, {atol}, \
             __out == __exp or abs(__out - _nxt_surface_Area({args})) <= {})",
            seconds_source(before)
        ),
        SpecialOracle::DigitDistance => format!(
            "__exp = {value}\n_nxt_expect(__out, __exp, {atol}, \
             __out == __exp or __out == _nxt_digit_distance_nums({args}))"
        ),
        SpecialOracle::SetEquality => {
            format!("__exp = {value}\n_nxt_expect(__out, __exp, {atol}, set(__out) == set(__exp))")
        }
        SpecialOracle::NotNone => format!(
            "__exp = {value}\n_nxt_expect(__out, __exp, {atol}, \
             __out == __exp if isinstance(__out, bool) else __exp == (__out is not None))"
        ),
        SpecialOracle::FindZero | SpecialOracle::AnyOutput => unreachable!("handled above"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_limits_follow_evalplus() {
        let o = PlusOptions::default();
        assert_eq!(o.input_time_limit(0.0), 1.0);
        assert_eq!(o.input_time_limit(0.2), 1.0);
        assert_eq!(o.input_time_limit(0.25), 1.0);
        assert_eq!(o.input_time_limit(0.3), 1.2);
        assert_eq!(o.input_time_limit(10.0001), 40.001);
        let o = PlusOptions {
            min_time_limit: 2.0,
            time_limit_factor: 8.0,
        };
        assert_eq!(o.input_time_limit(0.1), 2.0);
        assert_eq!(o.input_time_limit(0.5), 4.0);
    }

    #[test]
    fn special_oracles_by_entry_point() {
        use Benchmark::*;
        assert_eq!(
            SpecialOracle::of(HumanEvalPlus, "find_zero"),
            SpecialOracle::FindZero
        );
        assert_eq!(
            SpecialOracle::of(MbppPlus, "find_zero"),
            SpecialOracle::None
        );
        assert_eq!(
            SpecialOracle::of(HumanEvalPlus, "sum_div"),
            SpecialOracle::None
        );
        assert_eq!(
            SpecialOracle::of(MbppPlus, "sum_div"),
            SpecialOracle::SumDiv
        );
        assert_eq!(
            SpecialOracle::of(MbppPlus, "Diff"),
            SpecialOracle::SetEquality
        );
        assert_eq!(
            SpecialOracle::of(MbppPlus, "check_str"),
            SpecialOracle::NotNone
        );
        assert_eq!(
            SpecialOracle::of(MbppPlus, "are_equivalent"),
            SpecialOracle::AnyOutput
        );
    }

    #[test]
    fn oracles_from_the_encoder() {
        let map = |v: Json| v.as_object().unwrap().clone();
        assert_eq!(
            InputOracle::from_encoded(
                0.5,
                &map(json!({"enc": "literal", "v": "[1]", "floats": false}))
            ),
            InputOracle::Observed(Observed {
                expected: Expected::Literal("[1]".into()),
                floats: false,
                seconds: 0.5
            })
        );
        assert!(matches!(
            InputOracle::from_encoded(
                0.5,
                &map(json!({"enc": "digest", "v": "x", "floats": false}))
            ),
            InputOracle::Dropped(_)
        ));
        assert!(matches!(
            InputOracle::from_encoded(
                f64::NAN,
                &map(json!({"enc": "literal", "v": "1", "floats": false}))
            ),
            InputOracle::Dropped(_)
        ));
        for oracle in [
            InputOracle::from_encoded(
                0.25,
                &map(json!({"enc": "pickle", "v": "gAN9cQA=", "floats": true})),
            ),
            InputOracle::Dropped("boom".into()),
        ] {
            assert_eq!(InputOracle::from_json(&oracle.to_json()), Some(oracle));
        }
    }
}
