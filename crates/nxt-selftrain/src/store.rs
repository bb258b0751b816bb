//! The run store: one SQLite database per run, the source of truth of a self-training
//! run (`docs/selftrain.md`).

use std::path::{Path, PathBuf};

use nxt_core::{CheckResult, Completion, PromptInput, SampleRequest, Task};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde_json::{Value as Json, json};
use sha2::{Digest, Sha256};

use crate::Error;

/// The version of the store's schema, kept in its `meta` table.
pub const SCHEMA_VERSION: u32 = 1;

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
        let conn = Connection::open(path)?;
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
        if version != SCHEMA_VERSION.to_string() {
            return Err(state(format!(
                "{}: schema version {version}, this build reads {SCHEMA_VERSION}",
                path.display()
            )));
        }
        let run_id = meta("run_id")?.unwrap_or_default();
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
        let same = "iteration = ?1 AND task_id = ?2 AND prompt_hash = ?3 AND params = ?4 \
                    AND model = ?5 AND checkpoint IS ?6";
        let have: u32 = tx.query_row(
            &format!("SELECT COUNT(*) FROM samples WHERE {same}"),
            params![iteration, request.task_id, hash, params, model, checkpoint],
            |r| r.get(0),
        )?;
        if have < request.n {
            let next: u32 = tx.query_row(
                "SELECT COALESCE(MAX(idx) + 1, 0) FROM samples WHERE iteration = ?1 AND task_id = ?2",
                params![iteration, request.task_id],
                |r| r.get(0),
            )?;
            let mut insert = tx.prepare(
                "INSERT INTO samples (iteration, task_id, idx, prompt_hash, model, checkpoint, params) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            for idx in next..next + (request.n - have) {
                insert
                    .execute(params![iteration, request.task_id, idx, hash, model, checkpoint, params])
                    .map_err(|e| match e.sqlite_error_code() {
                        Some(rusqlite::ErrorCode::ConstraintViolation) => state(format!(
                            "cannot plan task {:?} at iteration {iteration}: unknown task or iteration",
                            request.task_id
                        )),
                        _ => e.into(),
                    })?;
            }
        }
        let slots = {
            let mut stmt = tx.prepare(&format!(
                "SELECT idx FROM samples WHERE {same} ORDER BY idx"
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
        let mut stmt = self.conn.prepare(
            "SELECT s.task_id, s.idx, s.prompt_hash, p.json, s.params, s.model, s.checkpoint \
             FROM samples s JOIN prompts p ON p.hash = s.prompt_hash \
             WHERE s.iteration = ?1 AND s.answer IS NULL ORDER BY s.task_id, s.idx",
        )?;
        type Row = (String, u32, String, String, String, String, Option<String>);
        let rows = stmt.query_map([iteration], |r| {
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
        let mut keys: Vec<(String, String, String, String, Option<String>)> = Vec::new();
        for row in rows {
            let (task_id, idx, hash, prompt, params, model, checkpoint): Row = row?;
            let slot = Slot {
                iteration,
                task_id: task_id.clone(),
                index: idx,
            };
            let key = (task_id, hash, params, model, checkpoint);
            if let Some(i) = keys.iter().position(|k| *k == key) {
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
            keys.push(key);
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
            let mut update = tx.prepare(
                "UPDATE samples SET answer = ?4, finish_reason = ?5, rationale = ?6, code = ?7, \
                 parse_error = ?8, sampled_at = ?9 \
                 WHERE iteration = ?1 AND task_id = ?2 AND idx = ?3 AND answer IS NULL",
            )?;
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
                        "slot {} of task {:?} at iteration {} is filled or does not exist",
                        slot.index, slot.task_id, slot.iteration
                    )));
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// The samples of an iteration, filled or not, by task and index.
    pub fn samples(&self, iteration: u32) -> Result<Vec<StoredSample>, Error> {
        let mut stmt = self.conn.prepare(
            "SELECT task_id, idx, prompt_hash, model, checkpoint, params, answer, \
             finish_reason, rationale, code, parse_error \
             FROM samples WHERE iteration = ?1 ORDER BY task_id, idx",
        )?;
        let rows = stmt.query_map([iteration], |r| {
            let answer: Option<String> = r.get(6)?;
            Ok((
                Slot {
                    iteration,
                    task_id: r.get(0)?,
                    index: r.get(1)?,
                },
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, String>(5)?,
                answer.map(|text| -> rusqlite::Result<SlotAnswer> {
                    Ok(SlotAnswer {
                        completion: Completion::new(text, r.get(7)?),
                        rationale: r.get(8)?,
                        code: r.get(9)?,
                        parse_error: r.get(10)?,
                    })
                }),
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (slot, prompt_hash, model, checkpoint, params, answer) = row?;
            out.push(StoredSample {
                slot,
                prompt_hash,
                model,
                checkpoint,
                params: serde_json::from_str(&params)
                    .map_err(|e| state(format!("stored params: {e}")))?,
                answer: answer.transpose()?,
            });
        }
        Ok(out)
    }

    /// How many slots an iteration has, and how many are filled.
    pub fn progress(&self, iteration: u32) -> Result<(u64, u64), Error> {
        Ok(self.conn.query_row(
            "SELECT COUNT(*), COUNT(answer) FROM samples WHERE iteration = ?1",
            [iteration],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?)
    }

    /// Stores the verdict on a filled slot, replacing an earlier one (verifying
    /// again after a restart is harmless).
    pub fn record_verdict(&mut self, slot: &Slot, result: &CheckResult) -> Result<(), Error> {
        let status = serde_json::to_value(result.status).expect("serializes");
        let status = status.as_str().unwrap_or_default().to_owned();
        let json = serde_json::to_string(result).expect("a result serializes");
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let filled: Option<Option<String>> = tx
            .query_row(
                "SELECT answer FROM samples WHERE iteration = ?1 AND task_id = ?2 AND idx = ?3",
                params![slot.iteration, slot.task_id, slot.index],
                |r| r.get(0),
            )
            .optional()?;
        if !matches!(filled, Some(Some(_))) {
            return Err(state(format!(
                "slot {} of task {:?} at iteration {} has no sample to judge",
                slot.index, slot.task_id, slot.iteration
            )));
        }
        tx.execute(
            "INSERT OR REPLACE INTO verdicts (iteration, task_id, idx, status, json) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![slot.iteration, slot.task_id, slot.index, status, json],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// The verdicts of an iteration, by task and index.
    pub fn verdicts(&self, iteration: u32) -> Result<Vec<(Slot, CheckResult)>, Error> {
        let mut stmt = self.conn.prepare(
            "SELECT task_id, idx, json FROM verdicts WHERE iteration = ?1 ORDER BY task_id, idx",
        )?;
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
