//! The run store: one SQLite database per run, the source of truth of a self-training
//! run (`docs/selftrain.md`).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use nxt_core::{CheckResult, Completion, PromptInput, SampleRequest, Task};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde_json::{Value as Json, json};
use sha2::{Digest, Sha256};

use crate::Error;

/// The version of the store's schema, kept in its `meta` table.
pub const SCHEMA_VERSION: u32 = 2;

const SCHEMA: &str = "
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
CREATE TABLE config (id INTEGER PRIMARY KEY CHECK (id = 1), json TEXT NOT NULL) STRICT;
CREATE TABLE tasks (
    task_id TEXT PRIMARY KEY,
    split TEXT NOT NULL CHECK (split IN ('train', 'dev')),
    json TEXT NOT NULL
) STRICT;
CREATE TABLE iterations (
    iteration INTEGER PRIMARY KEY,
    checkpoint TEXT,
    started_at INTEGER NOT NULL,
    finished_at INTEGER
) STRICT;
CREATE TABLE prompts (hash TEXT PRIMARY KEY, json TEXT NOT NULL) STRICT;
CREATE TABLE samples (
    iteration INTEGER NOT NULL REFERENCES iterations,
    task_id TEXT NOT NULL REFERENCES tasks,
    idx INTEGER NOT NULL,
    prompt_hash TEXT NOT NULL REFERENCES prompts,
    model TEXT NOT NULL,
    checkpoint TEXT,
    params TEXT NOT NULL,
    answer TEXT,
    finish_reason TEXT,
    rationale TEXT,
    code TEXT,
    parse_error TEXT,
    sampled_at INTEGER,
    PRIMARY KEY (iteration, task_id, idx)
) STRICT;
CREATE INDEX samples_pending ON samples (iteration, task_id, idx) WHERE answer IS NULL;
CREATE TABLE verdicts (
    iteration INTEGER NOT NULL,
    task_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    status TEXT NOT NULL,
    json TEXT NOT NULL,
    PRIMARY KEY (iteration, task_id, idx),
    FOREIGN KEY (iteration, task_id, idx) REFERENCES samples
) STRICT;
CREATE TABLE exports (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    iteration INTEGER REFERENCES iterations,
    kind TEXT NOT NULL,
    path TEXT NOT NULL,
    count INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;
";

/// What version 2 added: checkpoints and dev-set evaluations (a version 1 store gets
/// them when it is opened).
const SCHEMA_V2: &str = "
CREATE TABLE checkpoints (
    iteration INTEGER PRIMARY KEY CHECK (iteration >= 1),
    name TEXT NOT NULL,
    sampler TEXT NOT NULL,
    model TEXT NOT NULL,
    registered_at INTEGER NOT NULL
) STRICT;
CREATE TABLE evaluations (
    id INTEGER PRIMARY KEY,
    iteration INTEGER NOT NULL,
    trace INTEGER NOT NULL CHECK (trace IN (0, 1)),
    checkpoint TEXT NOT NULL,
    sampler TEXT NOT NULL,
    model TEXT NOT NULL,
    samples INTEGER NOT NULL,
    started_at INTEGER NOT NULL,
    finished_at INTEGER,
    UNIQUE (iteration, trace)
) STRICT;
CREATE TABLE eval_samples (
    evaluation INTEGER NOT NULL REFERENCES evaluations,
    task_id TEXT NOT NULL REFERENCES tasks,
    idx INTEGER NOT NULL,
    prompt_hash TEXT NOT NULL REFERENCES prompts,
    model TEXT NOT NULL,
    checkpoint TEXT,
    params TEXT NOT NULL,
    answer TEXT,
    finish_reason TEXT,
    rationale TEXT,
    code TEXT,
    parse_error TEXT,
    sampled_at INTEGER,
    PRIMARY KEY (evaluation, task_id, idx)
) STRICT;
CREATE INDEX eval_samples_pending ON eval_samples (evaluation, task_id, idx) WHERE answer IS NULL;
CREATE TABLE eval_verdicts (
    evaluation INTEGER NOT NULL,
    task_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    status TEXT NOT NULL,
    json TEXT NOT NULL,
    PRIMARY KEY (evaluation, task_id, idx),
    FOREIGN KEY (evaluation, task_id, idx) REFERENCES eval_samples
) STRICT;
";

/// The tables of a kind of slot: the self-training samples (keyed by iteration) or the
/// dev-set evaluation samples (keyed by evaluation id).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tables {
    samples: &'static str,
    verdicts: &'static str,
    key: &'static str,
}

pub(crate) const TRAIN: Tables = Tables {
    samples: "samples",
    verdicts: "verdicts",
    key: "iteration",
};

pub(crate) const EVAL: Tables = Tables {
    samples: "eval_samples",
    verdicts: "eval_verdicts",
    key: "evaluation",
};

/// The set a task belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Split {
    /// Tasks the model is trained on.
    Train,
    /// Tasks it is evaluated on.
    Dev,
}

impl Split {
    /// `train` or `dev`.
    pub fn as_str(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Dev => "dev",
        }
    }
}

/// One sample's place in a run: the `index`-th sample of a task at an iteration.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Slot {
    /// The iteration.
    pub iteration: u32,
    /// The task.
    pub task_id: String,
    /// 0-based, unique within the task and iteration.
    pub index: u32,
}

/// What fills a slot: the model's answer and how it was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotAnswer {
    /// The completion.
    pub completion: Completion,
    /// The rationale read from it, if it was read.
    pub rationale: Option<String>,
    /// The program read from it, if it was read.
    pub code: Option<String>,
    /// Why no program could be read, if none could.
    pub parse_error: Option<String>,
}

impl SlotAnswer {
    /// An answer not (yet) read.
    pub fn unparsed(completion: Completion) -> SlotAnswer {
        SlotAnswer {
            completion,
            rationale: None,
            code: None,
            parse_error: None,
        }
    }
}

/// A stored sample.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSample {
    /// Where it is.
    pub slot: Slot,
    /// The SHA-256 (hex) of its prompt ([`Store::prompt`] gives the prompt).
    pub prompt_hash: String,
    /// The model asked.
    pub model: String,
    /// The model's checkpoint, where there is one.
    pub checkpoint: Option<String>,
    /// The sampling parameters (temperature, top_p, max_tokens, stop, seed), as JSON.
    pub params: Json,
    /// The answer; `None` while the slot waits to be sampled.
    pub answer: Option<SlotAnswer>,
}

/// Slots waiting for answers, as the request that fills them.
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    /// The request, with `n` the number of slots.
    pub request: SampleRequest,
    /// The model to ask.
    pub model: String,
    /// Its checkpoint, where there is one.
    pub checkpoint: Option<String>,
    /// The slots, in index order; the `i`-th completion fills the `i`-th.
    pub slots: Vec<Slot>,
}

/// An iteration of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Iteration {
    /// Its number, from 0.
    pub iteration: u32,
    /// The checkpoint sampled, where there is one.
    pub checkpoint: Option<String>,
    /// When it began (seconds since the Unix epoch).
    pub started_at: i64,
    /// When it finished, if it has.
    pub finished_at: Option<i64>,
}

/// A file written from the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Export {
    /// Its id, in order of recording.
    pub id: i64,
    /// The iteration it is about, if one.
    pub iteration: Option<u32>,
    /// What it is (e.g. `train-jsonl`).
    pub kind: String,
    /// Where it was written.
    pub path: String,
    /// How many records it holds.
    pub count: u64,
    /// The SHA-256 (hex) of its bytes.
    pub sha256: String,
    /// When it was recorded (seconds since the Unix epoch).
    pub created_at: i64,
}

/// A model trained on an iteration's data, registered with
/// [`Store::register_checkpoint`]: iteration `k + 1` samples from the checkpoint of
/// iteration `k`, and the dev-set evaluation of iteration `k` asks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The iteration whose data it was trained on (from 1; 0 is the base model).
    pub iteration: u32,
    /// Its name, recorded with every sample drawn from it.
    pub name: String,
    /// How to ask it: `replay:FILE` or `openai:BASE_URL`.
    pub sampler: String,
    /// The model name sent to the server.
    pub model: String,
    /// When it was registered (seconds since the Unix epoch; 0 when not stored yet).
    pub registered_at: i64,
}

/// A dev-set evaluation of one iteration's checkpoint, with or without traces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    /// Its id (the key of its slots).
    pub id: u32,
    /// The iteration evaluated (0: the base model).
    pub iteration: u32,
    /// Whether the prompts show execution traces.
    pub trace: bool,
    /// The checkpoint's name.
    pub checkpoint: String,
    /// The checkpoint's sampler.
    pub sampler: String,
    /// The checkpoint's model.
    pub model: String,
    /// Samples per dev task.
    pub samples: u32,
    /// When it began (seconds since the Unix epoch).
    pub started_at: i64,
    /// When it finished, if it has.
    pub finished_at: Option<i64>,
}

/// A sample made elsewhere, for [`Store::import_samples`].
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedSample {
    /// Its slot.
    pub slot: Slot,
    /// Its prompt; needed for a new slot, checked against an existing one.
    pub prompt: Option<PromptInput>,
    /// The model asked (for a new slot).
    pub model: String,
    /// Its checkpoint (for a new slot).
    pub checkpoint: Option<String>,
    /// The sampling parameters (for a new slot).
    pub params: Json,
    /// The answer, read; `None` plans an empty slot.
    pub answer: Option<SlotAnswer>,
}

/// The tables [`Store::dump`] writes.
pub const DUMP_TABLES: &[&str] = &[
    "meta",
    "config",
    "tasks",
    "iterations",
    "checkpoints",
    "prompts",
    "samples",
    "verdicts",
    "evaluations",
    "eval_samples",
    "eval_verdicts",
    "exports",
];

/// A run's SQLite database.
///
/// Every write is one transaction, and the database is in WAL mode, so a process
/// killed at any moment leaves it as it was after the last finished write. Samples
/// live in *slots*: [`Store::plan`] inserts a task's slots before anything is asked of
/// a model, [`Store::pending`] gives the slots still empty as requests, and
/// [`Store::fill`] stores a request's answers in its slots in one transaction, refusing
/// a slot already filled. A run killed between asking and storing finds the same slots
/// empty when it restarts and asks again: no slot is lost, none is filled twice, and
/// the run never holds more samples than it planned.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    path: PathBuf,
    run_id: String,
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The SHA-256 (hex) of a prompt's canonical JSON: the key of the `prompts` table.
pub fn prompt_hash(input: &PromptInput) -> String {
    let json = serde_json::to_string(input).expect("a prompt serializes");
    hex(&Sha256::digest(json.as_bytes()))
}

/// The sampling parameters of a request, without its task, prompt and `n`.
fn params_of(request: &SampleRequest) -> String {
    let mut json = serde_json::to_value(request).expect("a request serializes");
    if let Json::Object(map) = &mut json {
        map.remove("task_id");
        map.remove("input");
        map.remove("n");
    }
    json.to_string()
}

fn fill_one(
    tx: &rusqlite::Transaction<'_>,
    t: Tables,
    slot: &Slot,
    a: &SlotAnswer,
) -> Result<(), Error> {
    let changed = tx.execute(
        &format!(
            "UPDATE {} SET answer = ?4, finish_reason = ?5, rationale = ?6, code = ?7, \
             parse_error = ?8, sampled_at = ?9 \
             WHERE {} = ?1 AND task_id = ?2 AND idx = ?3 AND answer IS NULL",
            t.samples, t.key
        ),
        params![
            slot.iteration,
            slot.task_id,
            slot.index,
            a.completion.text,
            a.completion.finish_reason,
            a.rationale,
            a.code,
            a.parse_error,
            now()
        ],
    )?;
    if changed != 1 {
        return Err(state(format!(
            "slot {} of task {:?} at {} {} is filled or does not exist",
            slot.index, slot.task_id, t.key, slot.iteration
        )));
    }
    Ok(())
}

fn state(message: impl Into<String>) -> Error {
    Error::StoreState(message.into())
}

fn configure(conn: &Connection) -> Result<(), Error> {
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(())
}

impl Store {
    /// Creates the database of a new run at `path` with its configuration; a file
    /// already there is an error (two runs never share a store).
    pub fn create(path: impl AsRef<Path>, config: &Json) -> Result<Store, Error> {
        let path = path.as_ref();
        if path.exists() {
            return Err(state(format!(
                "{} already exists; open it to continue its run",
                path.display()
            )));
        }
        let mut conn = Connection::open(path)?;
        configure(&conn)?;
        let run_id = {
            use std::hash::{BuildHasher, RandomState};
            let a = RandomState::new().hash_one(now());
            let b = RandomState::new().hash_one(std::process::id());
            format!("{a:016x}{b:016x}")
        };
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute_batch(SCHEMA)?;
        tx.execute_batch(SCHEMA_V2)?;
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('format', 'nxt-selftrain'), \
             ('schema_version', ?1), ('run_id', ?2), ('created_at', ?3)",
            params![SCHEMA_VERSION.to_string(), run_id, now().to_string()],
        )?;
        tx.execute(
            "INSERT INTO config (id, json) VALUES (1, ?1)",
            [config.to_string()],
        )?;
        tx.commit()?;
        Ok(Store {
            conn,
            path: path.to_owned(),
            run_id,
        })
    }

    /// Opens the database of an existing run.
    pub fn open(path: impl AsRef<Path>) -> Result<Store, Error> {
        let path = path.as_ref();
        if !path.exists() {
            return Err(state(format!("{}: no such store", path.display())));
        }
        let mut conn = Connection::open(path)?;
        configure(&conn)?;
        let meta = |key: &str| -> Result<Option<String>, Error> {
            let found = conn
                .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
                .optional();
            match found {
                Ok(v) => Ok(v),
                Err(_) => Ok(None), // no meta table: not a store
            }
        };
        if meta("format")?.as_deref() != Some("nxt-selftrain") {
            return Err(state(format!(
                "{} is not an nxt-selftrain store",
                path.display()
            )));
        }
        let version = meta("schema_version")?.unwrap_or_default();
        let run_id = meta("run_id")?.unwrap_or_default();
        if version == "1" {
            // Version 2 only adds tables: checkpoints and evaluations.
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute_batch(SCHEMA_V2)?;
            tx.execute(
                "UPDATE meta SET value = ?1 WHERE key = 'schema_version'",
                [SCHEMA_VERSION.to_string()],
            )?;
            tx.commit()?;
        } else if version != SCHEMA_VERSION.to_string() {
            return Err(state(format!(
                "{}: schema version {version}, this build reads {SCHEMA_VERSION}",
                path.display()
            )));
        }
        Ok(Store {
            conn,
            path: path.to_owned(),
            run_id,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The run's random id, set at creation.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// The run's configuration, as given to [`Store::create`].
    pub fn config(&self) -> Result<Json, Error> {
        let text: String =
            self.conn
                .query_row("SELECT json FROM config WHERE id = 1", [], |r| r.get(0))?;
        serde_json::from_str(&text).map_err(|e| state(format!("stored config: {e}")))
    }

    /// Replaces the run's configuration (for example to run more iterations).
    pub fn set_config(&mut self, config: &Json) -> Result<(), Error> {
        self.conn.execute(
            "UPDATE config SET json = ?1 WHERE id = 1",
            [config.to_string()],
        )?;
        Ok(())
    }

    /// Adds tasks to a set; returns how many were new. Adding a task again with the
    /// same content and set does nothing; a different content or set is an error.
    pub fn add_tasks(&mut self, split: Split, tasks: &[Task]) -> Result<usize, Error> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut added = 0;
        for task in tasks {
            let json = serde_json::to_string(task).expect("a task serializes");
            let existing: Option<(String, String)> = tx
                .query_row(
                    "SELECT split, json FROM tasks WHERE task_id = ?1",
                    [&task.task_id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            match existing {
                None => {
                    tx.execute(
                        "INSERT INTO tasks (task_id, split, json) VALUES (?1, ?2, ?3)",
                        params![task.task_id, split.as_str(), json],
                    )?;
                    added += 1;
                }
                Some((s, j)) if s == split.as_str() && j == json => {}
                Some((s, _)) => {
                    return Err(state(format!(
                        "task {:?} is already in the {s} set with other content or set",
                        task.task_id
                    )));
                }
            }
        }
        tx.commit()?;
        Ok(added)
    }

    /// The tasks of a set, by id.
    pub fn tasks(&self, split: Split) -> Result<Vec<Task>, Error> {
        let mut stmt = self
            .conn
            .prepare("SELECT json FROM tasks WHERE split = ?1 ORDER BY task_id")?;
        let rows = stmt.query_map([split.as_str()], |r| r.get::<_, String>(0))?;
        rows.map(|row| serde_json::from_str(&row?).map_err(|e| state(format!("stored task: {e}"))))
            .collect()
    }

    /// Begins the next iteration (0 first) and returns its number.
    pub fn begin_iteration(&mut self, checkpoint: Option<&str>) -> Result<u32, Error> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let next: u32 = tx.query_row(
            "SELECT COALESCE(MAX(iteration) + 1, 0) FROM iterations",
            [],
            |r| r.get(0),
        )?;
        tx.execute(
            "INSERT INTO iterations (iteration, checkpoint, started_at) VALUES (?1, ?2, ?3)",
            params![next, checkpoint, now()],
        )?;
        tx.commit()?;
        Ok(next)
    }

    /// Marks an iteration finished.
    pub fn finish_iteration(&mut self, iteration: u32) -> Result<(), Error> {
        let changed = self.conn.execute(
            "UPDATE iterations SET finished_at = ?2 WHERE iteration = ?1",
            params![iteration, now()],
        )?;
        if changed == 0 {
            return Err(state(format!("no iteration {iteration}")));
        }
        Ok(())
    }

    /// The iterations, in order.
    pub fn iterations(&self) -> Result<Vec<Iteration>, Error> {
        let mut stmt = self.conn.prepare(
            "SELECT iteration, checkpoint, started_at, finished_at FROM iterations \
             ORDER BY iteration",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(Iteration {
                iteration: r.get(0)?,
                checkpoint: r.get(1)?,
                started_at: r.get(2)?,
                finished_at: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The prompt stored under a hash.
    pub fn prompt(&self, hash: &str) -> Result<Option<PromptInput>, Error> {
        let text: Option<String> = self
            .conn
            .query_row("SELECT json FROM prompts WHERE hash = ?1", [hash], |r| {
                r.get(0)
            })
            .optional()?;
        text.map(|t| serde_json::from_str(&t).map_err(|e| state(format!("stored prompt: {e}"))))
            .transpose()
    }

    /// Makes sure `request.task_id` has `request.n` slots at `iteration` for this
    /// prompt, sampling parameters, model and checkpoint, inserting the missing ones
    /// (with the next free indexes); returns them all, in index order. Planning the
    /// same request again adds nothing, so a restarted run can plan as it did.
    pub fn plan(
        &mut self,
        iteration: u32,
        request: &SampleRequest,
        model: &str,
        checkpoint: Option<&str>,
    ) -> Result<Vec<Slot>, Error> {
        self.plan_in(TRAIN, iteration, request, model, checkpoint)
    }

    /// [`Store::plan`] for the dev-set evaluation `evaluation` ([`Store::begin_evaluation`]);
    /// the slots' `iteration` field holds the evaluation's id.
    pub fn plan_eval(
        &mut self,
        evaluation: u32,
        request: &SampleRequest,
        model: &str,
        checkpoint: Option<&str>,
    ) -> Result<Vec<Slot>, Error> {
        self.plan_in(EVAL, evaluation, request, model, checkpoint)
    }

    fn plan_in(
        &mut self,
        t: Tables,
        iteration: u32,
        request: &SampleRequest,
        model: &str,
        checkpoint: Option<&str>,
    ) -> Result<Vec<Slot>, Error> {
        let hash = prompt_hash(&request.input);
        let params = params_of(request);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "INSERT OR IGNORE INTO prompts (hash, json) VALUES (?1, ?2)",
            params![
                hash,
                serde_json::to_string(&request.input).expect("serializes")
            ],
        )?;
        let (table, key) = (t.samples, t.key);
        let same = format!(
            "{key} = ?1 AND task_id = ?2 AND prompt_hash = ?3 AND params = ?4 \
             AND model = ?5 AND checkpoint IS ?6"
        );
        let have: u32 = tx.query_row(
            &format!("SELECT COUNT(*) FROM {table} WHERE {same}"),
            params![iteration, request.task_id, hash, params, model, checkpoint],
            |r| r.get(0),
        )?;
        if have < request.n {
            let next: u32 = tx.query_row(
                &format!(
                    "SELECT COALESCE(MAX(idx) + 1, 0) FROM {table} WHERE {key} = ?1 AND task_id = ?2"
                ),
                params![iteration, request.task_id],
                |r| r.get(0),
            )?;
            let mut insert = tx.prepare(&format!(
                "INSERT INTO {table} ({key}, task_id, idx, prompt_hash, model, checkpoint, params) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
            ))?;
            for idx in next..next + (request.n - have) {
                insert
                    .execute(params![
                        iteration,
                        request.task_id,
                        idx,
                        hash,
                        model,
                        checkpoint,
                        params
                    ])
                    .map_err(|e| match e.sqlite_error_code() {
                        Some(rusqlite::ErrorCode::ConstraintViolation) => state(format!(
                            "cannot plan task {:?} at {key} {iteration}: unknown task or {key}",
                            request.task_id
                        )),
                        _ => e.into(),
                    })?;
            }
        }
        let slots = {
            let mut stmt = tx.prepare(&format!(
                "SELECT idx FROM {table} WHERE {same} ORDER BY idx"
            ))?;
            let rows = stmt.query_map(
                params![iteration, request.task_id, hash, params, model, checkpoint],
                |r| r.get::<_, u32>(0),
            )?;
            rows.map(|idx| {
                Ok(Slot {
                    iteration,
                    task_id: request.task_id.clone(),
                    index: idx?,
                })
            })
            .collect::<Result<Vec<_>, Error>>()?
        };
        tx.commit()?;
        Ok(slots)
    }

    /// The empty slots of an iteration, grouped into requests (one per task, prompt,
    /// parameters, model and checkpoint), by task and index.
    pub fn pending(&self, iteration: u32) -> Result<Vec<Pending>, Error> {
        self.pending_in(TRAIN, iteration)
    }

    /// A page of [`Store::pending`]: the requests of at most `tasks` tasks with empty
    /// slots, those after the task `after` (from the first when `None`), so that a
    /// caller can go through them with bounded memory.
    pub fn pending_page(
        &self,
        iteration: u32,
        after: Option<&str>,
        tasks: usize,
    ) -> Result<Vec<Pending>, Error> {
        self.pending_page_in(TRAIN, iteration, after, Some(tasks))
    }

    /// [`Store::pending`] for an evaluation.
    pub fn pending_eval(&self, evaluation: u32) -> Result<Vec<Pending>, Error> {
        self.pending_in(EVAL, evaluation)
    }

    fn pending_in(&self, t: Tables, iteration: u32) -> Result<Vec<Pending>, Error> {
        self.pending_page_in(t, iteration, None, None)
    }

    /// [`Store::pending`] for at most `tasks` tasks (all when `None`), those after the
    /// task `after` (from the first when `None`): a page of the pending requests.
    pub(crate) fn pending_page_in(
        &self,
        t: Tables,
        iteration: u32,
        after: Option<&str>,
        tasks: Option<usize>,
    ) -> Result<Vec<Pending>, Error> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT s.task_id, s.idx, s.prompt_hash, p.json, s.params, s.model, s.checkpoint \
             FROM {samples} s JOIN prompts p ON p.hash = s.prompt_hash \
             WHERE s.{key} = ?1 AND s.answer IS NULL AND s.task_id IN \
             (SELECT DISTINCT task_id FROM {samples} WHERE {key} = ?1 AND answer IS NULL \
             AND (?2 IS NULL OR task_id > ?2) ORDER BY task_id LIMIT ?3) \
             ORDER BY s.task_id, s.idx",
            samples = t.samples,
            key = t.key
        ))?;
        type Row = (String, u32, String, String, String, String, Option<String>);
        let limit = tasks.map_or(-1, |n| i64::try_from(n).unwrap_or(i64::MAX));
        let rows = stmt.query_map(params![iteration, after, limit], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
            ))
        })?;
        let mut out: Vec<Pending> = Vec::new();
        let mut keys: HashMap<(String, String, String, String, Option<String>), usize> =
            HashMap::new();
        for row in rows {
            let (task_id, idx, hash, prompt, params, model, checkpoint): Row = row?;
            let slot = Slot {
                iteration,
                task_id: task_id.clone(),
                index: idx,
            };
            let key = (task_id, hash, params, model, checkpoint);
            if let Some(&i) = keys.get(&key) {
                out[i].slots.push(slot);
                out[i].request.n += 1;
                continue;
            }
            let (task_id, _, params, model, checkpoint) = key.clone();
            let mut request: Json =
                serde_json::from_str(&params).map_err(|e| state(format!("stored params: {e}")))?;
            let input: Json =
                serde_json::from_str(&prompt).map_err(|e| state(format!("stored prompt: {e}")))?;
            if let Json::Object(map) = &mut request {
                map.insert("task_id".into(), json!(task_id));
                map.insert("input".into(), input);
                map.insert("n".into(), json!(1));
            }
            let request: SampleRequest = serde_json::from_value(request)
                .map_err(|e| state(format!("stored request: {e}")))?;
            keys.insert(key, out.len());
            out.push(Pending {
                request,
                model,
                checkpoint,
                slots: vec![slot],
            });
        }
        Ok(out)
    }

    /// Stores answers in slots, the `i`-th answer in the `i`-th slot, in one
    /// transaction: all are stored or none. A slot that does not exist or is already
    /// filled is an error, and nothing is stored.
    pub fn fill(&mut self, slots: &[Slot], answers: &[SlotAnswer]) -> Result<(), Error> {
        self.fill_in(TRAIN, slots, answers)
    }

    /// [`Store::fill`] for evaluation slots.
    pub fn fill_eval(&mut self, slots: &[Slot], answers: &[SlotAnswer]) -> Result<(), Error> {
        self.fill_in(EVAL, slots, answers)
    }

    fn fill_in(&mut self, t: Tables, slots: &[Slot], answers: &[SlotAnswer]) -> Result<(), Error> {
        if slots.len() != answers.len() {
            return Err(state(format!(
                "{} slots but {} answers",
                slots.len(),
                answers.len()
            )));
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        {
            let mut update = tx.prepare(&format!(
                "UPDATE {} SET answer = ?4, finish_reason = ?5, rationale = ?6, code = ?7, \
                 parse_error = ?8, sampled_at = ?9 \
                 WHERE {} = ?1 AND task_id = ?2 AND idx = ?3 AND answer IS NULL",
                t.samples, t.key
            ))?;
            let at = now();
            for (slot, a) in slots.iter().zip(answers) {
                let changed = update.execute(params![
                    slot.iteration,
                    slot.task_id,
                    slot.index,
                    a.completion.text,
                    a.completion.finish_reason,
                    a.rationale,
                    a.code,
                    a.parse_error,
                    at
                ])?;
                if changed != 1 {
                    return Err(state(format!(
                        "slot {} of task {:?} at {} {} is filled or does not exist",
                        slot.index, slot.task_id, t.key, slot.iteration
                    )));
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// The samples of an iteration, filled or not, by task and index.
    pub fn samples(&self, iteration: u32) -> Result<Vec<StoredSample>, Error> {
        self.samples_in(TRAIN, iteration)
    }

    /// The samples of an evaluation, filled or not, by task and index.
    pub fn eval_samples(&self, evaluation: u32) -> Result<Vec<StoredSample>, Error> {
        self.samples_in(EVAL, evaluation)
    }

    fn samples_in(&self, t: Tables, iteration: u32) -> Result<Vec<StoredSample>, Error> {
        let mut out = Vec::new();
        self.visit_in(t, iteration, false, &mut |sample, _| {
            out.push(sample);
            Ok(())
        })?;
        Ok(out)
    }

    /// Calls `f` on every sample of an iteration, filled or not, by task and index,
    /// with its verdict when it has one. The samples are read from the database as
    /// `f` goes, so memory stays bounded whatever the iteration's size (unlike
    /// [`Store::samples`] and [`Store::verdicts`]); `f`'s first error stops the walk
    /// and is returned.
    pub fn for_each_sample(
        &self,
        iteration: u32,
        mut f: impl FnMut(StoredSample, Option<CheckResult>) -> Result<(), Error>,
    ) -> Result<(), Error> {
        self.visit_in(TRAIN, iteration, true, &mut f)
    }

    /// [`Store::for_each_sample`] for an evaluation.
    pub fn for_each_eval_sample(
        &self,
        evaluation: u32,
        mut f: impl FnMut(StoredSample, Option<CheckResult>) -> Result<(), Error>,
    ) -> Result<(), Error> {
        self.visit_in(EVAL, evaluation, true, &mut f)
    }

    /// Per task, how many samples of an iteration (`TRAIN`) or an evaluation
    /// (`EVAL`) hold an answer, and how many of those passed. Streams like
    /// [`Store::for_each_sample`].
    pub(crate) fn pass_counts_in(
        &self,
        t: Tables,
        key: u32,
    ) -> Result<BTreeMap<String, (u64, u64)>, Error> {
        let mut tally: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        self.visit_in(t, key, true, &mut |sample, verdict| {
            if sample.answer.is_some() {
                let entry = tally.entry(sample.slot.task_id).or_default();
                entry.0 += 1;
                entry.1 += u64::from(verdict.is_some_and(|v| v.status.passed()));
            }
            Ok(())
        })?;
        Ok(tally)
    }

    /// The samples of one task at an iteration, filled or not, by index, each with
    /// its verdict when it has one.
    pub fn task_samples(
        &self,
        iteration: u32,
        task_id: &str,
    ) -> Result<Vec<(StoredSample, Option<CheckResult>)>, Error> {
        self.task_samples_in(TRAIN, iteration, task_id)
    }

    pub(crate) fn task_samples_in(
        &self,
        t: Tables,
        iteration: u32,
        task_id: &str,
    ) -> Result<Vec<(StoredSample, Option<CheckResult>)>, Error> {
        let mut out = Vec::new();
        self.query_samples(t, iteration, Some(task_id), true, &mut |s, v| {
            out.push((s, v));
            Ok(())
        })?;
        Ok(out)
    }

    /// The tasks with samples at an iteration, in order.
    pub fn sampled_tasks(&self, iteration: u32) -> Result<Vec<String>, Error> {
        self.sampled_tasks_in(TRAIN, iteration)
    }

    pub(crate) fn sampled_tasks_in(&self, t: Tables, iteration: u32) -> Result<Vec<String>, Error> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT DISTINCT task_id FROM {} WHERE {} = ?1 ORDER BY task_id",
            t.samples, t.key
        ))?;
        let rows = stmt.query_map([iteration], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<Vec<String>>>()?)
    }

    /// How many samples of an iteration hold a program and have no verdict yet.
    pub(crate) fn unjudged_in(&self, t: Tables, iteration: u32) -> Result<u64, Error> {
        Ok(self.conn.query_row(
            &format!(
                "SELECT COUNT(*) FROM {s} x WHERE x.{k} = ?1 AND x.answer IS NOT NULL \
                 AND x.code IS NOT NULL AND NOT EXISTS (SELECT 1 FROM {v} v \
                 WHERE v.{k} = x.{k} AND v.task_id = x.task_id AND v.idx = x.idx)",
                s = t.samples,
                v = t.verdicts,
                k = t.key
            ),
            [iteration],
            |r| r.get(0),
        )?)
    }

    fn visit_in(
        &self,
        t: Tables,
        iteration: u32,
        verdicts: bool,
        f: &mut dyn FnMut(StoredSample, Option<CheckResult>) -> Result<(), Error>,
    ) -> Result<(), Error> {
        self.query_samples(t, iteration, None, verdicts, f)
    }

    fn query_samples(
        &self,
        t: Tables,
        iteration: u32,
        task_id: Option<&str>,
        verdicts: bool,
        f: &mut dyn FnMut(StoredSample, Option<CheckResult>) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let (verdict, join) = if verdicts {
            (
                "v.json",
                format!(
                    "LEFT JOIN {v} v ON v.{k} = s.{k} AND v.task_id = s.task_id AND v.idx = s.idx",
                    v = t.verdicts,
                    k = t.key
                ),
            )
        } else {
            ("NULL", String::new())
        };
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT s.task_id, s.idx, s.prompt_hash, s.model, s.checkpoint, s.params, s.answer, \
             s.finish_reason, s.rationale, s.code, s.parse_error, {verdict} \
             FROM {} s {join} WHERE s.{k} = ?1 AND (?2 IS NULL OR s.task_id = ?2) \
             ORDER BY s.task_id, s.idx",
            t.samples,
            k = t.key
        ))?;
        let mut rows = stmt.query(params![iteration, task_id])?;
        while let Some(r) = rows.next()? {
            let answer: Option<String> = r.get(6)?;
            let answer = match answer {
                Some(text) => Some(SlotAnswer {
                    completion: Completion::new(text, r.get(7)?),
                    rationale: r.get(8)?,
                    code: r.get(9)?,
                    parse_error: r.get(10)?,
                }),
                None => None,
            };
            let params: String = r.get(5)?;
            let sample = StoredSample {
                slot: Slot {
                    iteration,
                    task_id: r.get(0)?,
                    index: r.get(1)?,
                },
                prompt_hash: r.get(2)?,
                model: r.get(3)?,
                checkpoint: r.get(4)?,
                params: serde_json::from_str(&params)
                    .map_err(|e| state(format!("stored params: {e}")))?,
                answer,
            };
            let verdict: Option<String> = r.get(11)?;
            let verdict = verdict
                .map(|json| {
                    serde_json::from_str(&json).map_err(|e| state(format!("stored verdict: {e}")))
                })
                .transpose()?;
            f(sample, verdict)?;
        }
        Ok(())
    }

    /// How many slots an iteration has, and how many are filled.
    pub fn progress(&self, iteration: u32) -> Result<(u64, u64), Error> {
        self.progress_in(TRAIN, iteration)
    }

    /// How many slots an evaluation has, and how many are filled.
    pub fn eval_progress(&self, evaluation: u32) -> Result<(u64, u64), Error> {
        self.progress_in(EVAL, evaluation)
    }

    fn progress_in(&self, t: Tables, iteration: u32) -> Result<(u64, u64), Error> {
        Ok(self.conn.query_row(
            &format!(
                "SELECT COUNT(*), COUNT(answer) FROM {} WHERE {} = ?1",
                t.samples, t.key
            ),
            [iteration],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?)
    }

    /// Stores the verdict on a filled slot, replacing an earlier one (verifying
    /// again after a restart is harmless).
    pub fn record_verdict(&mut self, slot: &Slot, result: &CheckResult) -> Result<(), Error> {
        self.record_verdicts_in(
            TRAIN,
            std::slice::from_ref(slot),
            std::slice::from_ref(result),
        )
    }

    /// Stores the verdicts on many filled slots in one transaction (all or none), each
    /// replacing an earlier one.
    pub fn record_verdicts(
        &mut self,
        slots: &[Slot],
        results: &[CheckResult],
    ) -> Result<(), Error> {
        self.record_verdicts_in(TRAIN, slots, results)
    }

    /// [`Store::record_verdicts`] for evaluation slots.
    pub fn record_eval_verdicts(
        &mut self,
        slots: &[Slot],
        results: &[CheckResult],
    ) -> Result<(), Error> {
        self.record_verdicts_in(EVAL, slots, results)
    }

    fn record_verdicts_in(
        &mut self,
        t: Tables,
        slots: &[Slot],
        results: &[CheckResult],
    ) -> Result<(), Error> {
        if slots.len() != results.len() {
            return Err(state(format!(
                "{} slots but {} verdicts",
                slots.len(),
                results.len()
            )));
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        {
            let mut filled = tx.prepare(&format!(
                "SELECT answer FROM {} WHERE {} = ?1 AND task_id = ?2 AND idx = ?3",
                t.samples, t.key
            ))?;
            let mut insert = tx.prepare(&format!(
                "INSERT OR REPLACE INTO {} ({}, task_id, idx, status, json) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                t.verdicts, t.key
            ))?;
            for (slot, result) in slots.iter().zip(results) {
                let status = serde_json::to_value(result.status).expect("serializes");
                let status = status.as_str().unwrap_or_default().to_owned();
                let json = serde_json::to_string(result).expect("a result serializes");
                let answer: Option<Option<String>> = filled
                    .query_row(params![slot.iteration, slot.task_id, slot.index], |r| {
                        r.get(0)
                    })
                    .optional()?;
                if !matches!(answer, Some(Some(_))) {
                    return Err(state(format!(
                        "slot {} of task {:?} at {} {} has no sample to judge",
                        slot.index, slot.task_id, t.key, slot.iteration
                    )));
                }
                insert.execute(params![
                    slot.iteration,
                    slot.task_id,
                    slot.index,
                    status,
                    json
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// The verdicts of an iteration, by task and index.
    pub fn verdicts(&self, iteration: u32) -> Result<Vec<(Slot, CheckResult)>, Error> {
        self.verdicts_in(TRAIN, iteration)
    }

    /// The verdicts of an evaluation, by task and index.
    pub fn eval_verdicts(&self, evaluation: u32) -> Result<Vec<(Slot, CheckResult)>, Error> {
        self.verdicts_in(EVAL, evaluation)
    }

    fn verdicts_in(&self, t: Tables, iteration: u32) -> Result<Vec<(Slot, CheckResult)>, Error> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT task_id, idx, json FROM {} WHERE {} = ?1 ORDER BY task_id, idx",
            t.verdicts, t.key
        ))?;
        let rows = stmt.query_map([iteration], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, u32>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (task_id, index, json) = row?;
            let result =
                serde_json::from_str(&json).map_err(|e| state(format!("stored verdict: {e}")))?;
            out.push((
                Slot {
                    iteration,
                    task_id,
                    index,
                },
                result,
            ));
        }
        Ok(out)
    }

    /// Registers the checkpoint trained on iteration `iteration`'s data (from 1): the
    /// model that iteration `iteration + 1` samples from and that the dev-set evaluation
    /// of `iteration` asks. Registering the same again does nothing; replacing a
    /// checkpoint is refused once something was sampled from it.
    pub fn register_checkpoint(&mut self, checkpoint: &Checkpoint) -> Result<(), Error> {
        if checkpoint.iteration == 0 {
            return Err(state(
                "iteration 0 is the base model, the run's configured sampler and model",
            ));
        }
        if checkpoint.name.is_empty() || checkpoint.sampler.is_empty() {
            return Err(state("a checkpoint needs a name and a sampler"));
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let old: Option<(String, String, String)> = tx
            .query_row(
                "SELECT name, sampler, model FROM checkpoints WHERE iteration = ?1",
                [checkpoint.iteration],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let new = (
            checkpoint.name.clone(),
            checkpoint.sampler.clone(),
            checkpoint.model.clone(),
        );
        if old.as_ref() == Some(&new) {
            return Ok(());
        }
        if let Some((name, ..)) = &old {
            let used: u32 = tx.query_row(
                "SELECT (SELECT COUNT(*) FROM evaluations WHERE iteration = ?1) + \
                 (SELECT COUNT(*) FROM samples WHERE iteration = ?2 AND checkpoint = ?3)",
                params![checkpoint.iteration, checkpoint.iteration + 1, name],
                |r| r.get(0),
            )?;
            if used > 0 {
                return Err(state(format!(
                    "iteration {}'s checkpoint {name:?} has been sampled; it cannot be replaced",
                    checkpoint.iteration
                )));
            }
        }
        tx.execute(
            "INSERT OR REPLACE INTO checkpoints (iteration, name, sampler, model, registered_at) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                checkpoint.iteration,
                checkpoint.name,
                checkpoint.sampler,
                checkpoint.model,
                now()
            ],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// The registered checkpoints, by iteration.
    pub fn checkpoints(&self) -> Result<Vec<Checkpoint>, Error> {
        let mut stmt = self.conn.prepare(
            "SELECT iteration, name, sampler, model, registered_at FROM checkpoints \
             ORDER BY iteration",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(Checkpoint {
                iteration: r.get(0)?,
                name: r.get(1)?,
                sampler: r.get(2)?,
                model: r.get(3)?,
                registered_at: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The checkpoint registered for an iteration, if one is.
    pub fn checkpoint(&self, iteration: u32) -> Result<Option<Checkpoint>, Error> {
        Ok(self
            .checkpoints()?
            .into_iter()
            .find(|c| c.iteration == iteration))
    }

    /// Begins (or continues) the dev-set evaluation of `iteration`'s checkpoint with
    /// or without traces in the prompts, for `samples` samples per task; returns its
    /// id. An evaluation of the same iteration and prompt kind continues (asking for
    /// more samples reopens it); one begun with another checkpoint is an error.
    pub fn begin_evaluation(
        &mut self,
        iteration: u32,
        trace: bool,
        checkpoint: &Checkpoint,
        samples: u32,
    ) -> Result<u32, Error> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let old: Option<(u32, String, String, String, u32)> = tx
            .query_row(
                "SELECT id, checkpoint, sampler, model, samples FROM evaluations \
                 WHERE iteration = ?1 AND trace = ?2",
                params![iteration, trace],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .optional()?;
        let id = match old {
            Some((id, name, sampler, model, had)) => {
                if (&name, &sampler, &model)
                    != (&checkpoint.name, &checkpoint.sampler, &checkpoint.model)
                {
                    return Err(state(format!(
                        "iteration {iteration} was evaluated with checkpoint {name:?} \
                         ({sampler}, model {model:?}), not {:?}",
                        checkpoint.name
                    )));
                }
                if samples > had {
                    tx.execute(
                        "UPDATE evaluations SET samples = ?2, finished_at = NULL WHERE id = ?1",
                        params![id, samples],
                    )?;
                }
                id
            }
            None => {
                tx.execute(
                    "INSERT INTO evaluations (iteration, trace, checkpoint, sampler, model, \
                     samples, started_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![
                        iteration,
                        trace,
                        checkpoint.name,
                        checkpoint.sampler,
                        checkpoint.model,
                        samples,
                        now()
                    ],
                )?;
                tx.last_insert_rowid() as u32
            }
        };
        tx.commit()?;
        Ok(id)
    }

    /// Marks an evaluation finished.
    pub fn finish_evaluation(&mut self, id: u32) -> Result<(), Error> {
        let changed = self.conn.execute(
            "UPDATE evaluations SET finished_at = ?2 WHERE id = ?1",
            params![id, now()],
        )?;
        if changed == 0 {
            return Err(state(format!("no evaluation {id}")));
        }
        Ok(())
    }

    /// The evaluations, by iteration, without traces first.
    pub fn evaluations(&self) -> Result<Vec<Evaluation>, Error> {
        let mut stmt = self.conn.prepare(
            "SELECT id, iteration, trace, checkpoint, sampler, model, samples, started_at, \
             finished_at FROM evaluations ORDER BY iteration, trace",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(Evaluation {
                id: r.get(0)?,
                iteration: r.get(1)?,
                trace: r.get(2)?,
                checkpoint: r.get(3)?,
                sampler: r.get(4)?,
                model: r.get(5)?,
                samples: r.get(6)?,
                started_at: r.get(7)?,
                finished_at: r.get(8)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Writes a table as JSON Lines, one object per row in key order, columns by name;
    /// the columns holding JSON (`json`, `params`) are embedded as JSON values. Tables:
    /// [`DUMP_TABLES`]. Returns how many rows were written.
    pub fn dump(&self, table: &str, out: &mut dyn std::io::Write) -> Result<u64, Error> {
        let order = match table {
            "meta" | "config" | "prompts" | "exports" | "checkpoints" | "iterations" => "1",
            "tasks" => "split DESC, task_id",
            "evaluations" => "iteration, trace",
            "samples" | "verdicts" => "iteration, task_id, idx",
            "eval_samples" | "eval_verdicts" => "evaluation, task_id, idx",
            _ => {
                return Err(state(format!(
                    "no table {table:?}; tables: {}",
                    DUMP_TABLES.join(", ")
                )));
            }
        };
        let mut stmt = self
            .conn
            .prepare(&format!("SELECT * FROM {table} ORDER BY {order}"))?;
        let names: Vec<String> = stmt.column_names().iter().map(|s| s.to_string()).collect();
        let mut rows = stmt.query([])?;
        let mut n = 0;
        while let Some(row) = rows.next()? {
            let mut object = serde_json::Map::new();
            for (i, name) in names.iter().enumerate() {
                use rusqlite::types::ValueRef;
                let value = match row.get_ref(i)? {
                    ValueRef::Null => Json::Null,
                    ValueRef::Integer(v) => json!(v),
                    ValueRef::Real(v) => json!(v),
                    ValueRef::Text(t) => {
                        let text = String::from_utf8_lossy(t).into_owned();
                        if name == "json" || name == "params" {
                            serde_json::from_str(&text).unwrap_or(Json::String(text))
                        } else {
                            Json::String(text)
                        }
                    }
                    ValueRef::Blob(b) => json!(hex(b)),
                };
                object.insert(name.clone(), value);
            }
            let line = Json::Object(object).to_string();
            out.write_all(line.as_bytes())
                .and_then(|()| out.write_all(b"\n"))
                .map_err(|source| Error::Io {
                    path: PathBuf::from(table),
                    source,
                })?;
            n += 1;
        }
        Ok(n)
    }

    /// Stores samples made elsewhere in an iteration that is begun and not finished, in
    /// one transaction (all or none): a slot that exists and is empty is filled (its
    /// prompt, when given, must be the slot's); a slot that does not exist is added
    /// with its prompt, model, checkpoint and parameters (filled or empty); a slot
    /// already holding the same answer is left as it is (importing again does nothing).
    /// Returns how many slots were added and how many filled. The errors name the
    /// record (its 0-based position).
    pub fn import_samples(&mut self, samples: &[ImportedSample]) -> Result<(u64, u64), Error> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let (mut added, mut filled) = (0, 0);
        for (i, s) in samples.iter().enumerate() {
            let at = |m: String| state(format!("record {}: {m}", i + 1));
            let finished: Option<Option<i64>> = tx
                .query_row(
                    "SELECT finished_at FROM iterations WHERE iteration = ?1",
                    [s.slot.iteration],
                    |r| r.get(0),
                )
                .optional()?;
            match finished {
                None => return Err(at(format!("no iteration {}", s.slot.iteration))),
                Some(Some(_)) => {
                    return Err(at(format!(
                        "iteration {} is finished; samples go into an unfinished one",
                        s.slot.iteration
                    )));
                }
                Some(None) => {}
            }
            let existing: Option<(String, Option<String>)> = tx
                .query_row(
                    "SELECT prompt_hash, answer FROM samples \
                     WHERE iteration = ?1 AND task_id = ?2 AND idx = ?3",
                    params![s.slot.iteration, s.slot.task_id, s.slot.index],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            let hash = s.prompt.as_ref().map(prompt_hash);
            match existing {
                Some((have, answer)) => {
                    if hash.as_ref().is_some_and(|h| *h != have) {
                        return Err(at(format!(
                            "field `prompt`: slot {} of task {:?} has another prompt",
                            s.slot.index, s.slot.task_id
                        )));
                    }
                    match (answer, &s.answer) {
                        (_, None) => {}
                        (Some(old), Some(new)) if old == new.completion.text => {}
                        (Some(_), Some(_)) => {
                            return Err(at(format!(
                                "field `answer`: slot {} of task {:?} holds another answer",
                                s.slot.index, s.slot.task_id
                            )));
                        }
                        (None, Some(a)) => {
                            fill_one(&tx, TRAIN, &s.slot, a)?;
                            filled += 1;
                        }
                    }
                }
                None => {
                    let (Some(prompt), Some(hash)) = (&s.prompt, &hash) else {
                        return Err(at(format!(
                            "field `prompt`: slot {} of task {:?} is new and needs its prompt",
                            s.slot.index, s.slot.task_id
                        )));
                    };
                    tx.execute(
                        "INSERT OR IGNORE INTO prompts (hash, json) VALUES (?1, ?2)",
                        params![hash, serde_json::to_string(prompt).expect("serializes")],
                    )?;
                    tx.execute(
                        "INSERT INTO samples (iteration, task_id, idx, prompt_hash, model, \
                         checkpoint, params) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                        params![
                            s.slot.iteration,
                            s.slot.task_id,
                            s.slot.index,
                            hash,
                            s.model,
                            s.checkpoint,
                            s.params.to_string()
                        ],
                    )
                    .map_err(|e| match e.sqlite_error_code() {
                        Some(rusqlite::ErrorCode::ConstraintViolation) => at(format!(
                            "field `task_id`: unknown task {:?}",
                            s.slot.task_id
                        )),
                        _ => e.into(),
                    })?;
                    added += 1;
                    if let Some(a) = &s.answer {
                        fill_one(&tx, TRAIN, &s.slot, a)?;
                        filled += 1;
                    }
                }
            }
        }
        tx.commit()?;
        Ok((added, filled))
    }

    /// Records a file written from the store; returns its id.
    pub fn record_export(
        &mut self,
        iteration: Option<u32>,
        kind: &str,
        path: &str,
        count: u64,
        sha256: &str,
    ) -> Result<i64, Error> {
        self.conn.execute(
            "INSERT INTO exports (iteration, kind, path, count, sha256, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![iteration, kind, path, count as i64, sha256, now()],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    /// The recorded exports, in order.
    pub fn exports(&self) -> Result<Vec<Export>, Error> {
        let mut stmt = self.conn.prepare(
            "SELECT id, iteration, kind, path, count, sha256, created_at FROM exports ORDER BY id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(Export {
                id: r.get(0)?,
                iteration: r.get(1)?,
                kind: r.get(2)?,
                path: r.get(3)?,
                count: r.get::<_, i64>(4)? as u64,
                sha256: r.get(5)?,
                created_at: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Runs SQLite's integrity and foreign-key checks.
    pub fn check_integrity(&self) -> Result<(), Error> {
        let ok: String = self
            .conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
        if ok != "ok" {
            return Err(state(format!("integrity check: {ok}")));
        }
        let broken: Option<String> = self
            .conn
            .query_row("PRAGMA foreign_key_check", [], |r| r.get(0))
            .optional()?;
        if let Some(table) = broken {
            return Err(state(format!("foreign key check fails in table {table}")));
        }
        Ok(())
    }
}
