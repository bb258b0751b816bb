//! [`ResultsWriter`]: results of a long run, appended as they come and finished
//! atomically.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nxt_core::CheckResult;

use crate::DataError;
use crate::jsonl::{pair_key, read_results, read_results_counting, sync_dir, write_jsonl};

/// Appended lines between two syncs to disk, at most.
const SYNC_EVERY_LINES: usize = 64;
/// Time between two syncs to disk, at most (checked when a line is appended).
const SYNC_EVERY: Duration = Duration::from_secs(1);

/// Results of a long run: appended as they come, never lost, resumable, finished
/// atomically.
///
/// Each [`append`](ResultsWriter::append) writes one line to `<out>.partial` and flushes
/// it (a crash of the process loses nothing appended); the file is synced to disk every
/// 64 lines or every second. [`finish`](ResultsWriter::finish) writes `<out>` atomically
/// with every result, sorted, and removes `<out>.partial`. A run that was interrupted is
/// continued with `resume`: what `<out>` and `<out>.partial` hold is read back (a torn
/// last line is dropped) and returned, so that the caller skips those pairs.
///
/// ```
/// use nxt_core::{CheckResult, Verdict};
/// use nxt_data::ResultsWriter;
///
/// # let dir = tempfile::tempdir()?;
/// let out = dir.path().join("results.jsonl");
/// let result = |task: &str| CheckResult {
///     task_id: task.into(),
///     sample_id: "code".into(),
///     status: Verdict::Passed,
///     tests: vec![],
///     stdout: String::new(),
///     stderr: String::new(),
///     duration_ms: 5,
///     meta: Default::default(),
/// };
///
/// let (mut writer, done) = ResultsWriter::create(&out, false)?;
/// assert!(done.is_empty());
/// writer.append(&result("t/1"))?;
/// drop(writer); // interrupted: results.jsonl.partial holds t/1
///
/// let (mut writer, done) = ResultsWriter::create(&out, true)?;
/// assert_eq!(done.len(), 1); // t/1 is not checked again
/// writer.append(&result("t/0"))?;
/// let order = |r: &CheckResult| (if r.task_id == "t/0" { 0 } else { 1 }, 0);
/// assert_eq!(writer.finish(order)?, out);
///
/// let loaded = nxt_data::read_results(&out)?;
/// let ids: Vec<_> = loaded.items.iter().map(|r| r.task_id.as_str()).collect();
/// assert_eq!(ids, ["t/0", "t/1"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct ResultsWriter {
    out: PathBuf,
    partial: PathBuf,
    file: File,
    /// Bytes in `partial` up to the end of the last whole line.
    len: u64,
    /// Every result: resumed, then appended.
    results: Vec<CheckResult>,
    keys: HashSet<(String, String)>,
    unsynced: usize,
    last_sync: Instant,
}

/// `<out>.partial`.
fn partial_path(out: &Path) -> PathBuf {
    let mut name = OsString::from(out.as_os_str());
    name.push(".partial");
    PathBuf::from(name)
}

impl ResultsWriter {
    /// Opens `<out>.partial` for appending.
    ///
    /// With `resume`, first reads what `out` and `<out>.partial` already hold (complete
    /// lines only: a torn last line of `<out>.partial` is cut off) and returns those
    /// results so that the caller skips their (`task_id`, `sample_id`) pairs; a pair in
    /// both files (a crash during [`finish`](ResultsWriter::finish)) counts once.
    /// Without `resume`, an existing `<out>` or `<out>.partial` is
    /// [`DataError::Exists`].
    pub fn create(
        out: &Path,
        resume: bool,
    ) -> Result<(ResultsWriter, Vec<CheckResult>), DataError> {
        let partial = partial_path(out);
        if !resume {
            for path in [out, partial.as_path()] {
                if std::fs::symlink_metadata(path).is_ok() {
                    return Err(DataError::Exists {
                        path: path.to_owned(),
                    });
                }
            }
            let file = OpenOptions::new()
                .append(true)
                .create_new(true)
                .open(&partial)
                .map_err(|e| match e.kind() {
                    std::io::ErrorKind::AlreadyExists => DataError::Exists {
                        path: partial.clone(),
                    },
                    _ => DataError::io(&partial)(e),
                })?;
            let writer = ResultsWriter::new(out, partial, file, 0);
            return Ok((writer, Vec::new()));
        }

        let mut results = Vec::new();
        if out.exists() {
            results = read_results(out)?.items;
        }
        let mut len = 0;
        let mut tail_kept = false;
        let mut from_partial = Vec::new();
        if partial.exists() {
            let (loaded, tail) = read_results_counting(&partial)?;
            len = tail.complete;
            tail_kept = tail.unterminated_kept;
            from_partial = loaded.items;
        }
        let mut file = OpenOptions::new()
            .append(true)
            .create(true)
            .open(&partial)
            .map_err(DataError::io(&partial))?;
        let size = file.metadata().map_err(DataError::io(&partial))?.len();
        if size > len {
            // The last line has no newline. Keep it if it is a whole result (it was
            // read back), else cut it off; either way the next line starts afresh.
            if tail_kept {
                file.write_all(b"\n").map_err(DataError::io(&partial))?;
                len = size + 1;
            } else {
                file.set_len(len).map_err(DataError::io(&partial))?;
            }
            file.sync_data().map_err(DataError::io(&partial))?;
        }

        let mut writer = ResultsWriter::new(out, partial, file, len);
        for result in results.into_iter().chain(from_partial) {
            if writer.keys.insert(key(&result)) {
                writer.results.push(result);
            }
        }
        let resumed = writer.results.clone();
        Ok((writer, resumed))
    }

    fn new(out: &Path, partial: PathBuf, file: File, len: u64) -> ResultsWriter {
        ResultsWriter {
            out: out.to_owned(),
            partial,
            file,
            len,
            keys: HashSet::new(),
            results: Vec::new(),
            unsynced: 0,
            last_sync: Instant::now(),
        }
    }

    /// The final results file, `<out>`.
    pub fn out(&self) -> &Path {
        &self.out
    }

    /// The file appended to, `<out>.partial`.
    pub fn partial(&self) -> &Path {
        &self.partial
    }

    /// Every result so far: resumed, then appended.
    pub fn results(&self) -> &[CheckResult] {
        &self.results
    }

    /// Appends one result as one line of `<out>.partial`, written whole and flushed;
    /// synced to disk every 64 lines or every second.
    ///
    /// A (`task_id`, `sample_id`) already recorded is [`DataError::AlreadyRecorded`]. If
    /// the write fails, the file is cut back to its last whole line.
    pub fn append(&mut self, result: &CheckResult) -> Result<(), DataError> {
        let key = key(result);
        if self.keys.contains(&key) {
            return Err(DataError::AlreadyRecorded {
                path: self.out.clone(),
                key: pair_key(&key.0, &key.1),
            });
        }
        let mut line = serde_json::to_vec(result).map_err(|source| DataError::Serialize {
            path: self.partial.clone(),
            source,
        })?;
        line.push(b'\n');
        let written = self.file.write_all(&line).and_then(|()| self.file.flush());
        if let Err(e) = written {
            // Do not leave a torn line for the next one to be glued to.
            let _ = self.file.set_len(self.len);
            return Err(DataError::io(&self.partial)(e));
        }
        self.len += line.len() as u64;
        self.unsynced += 1;
        if self.unsynced >= SYNC_EVERY_LINES || self.last_sync.elapsed() >= SYNC_EVERY {
            self.sync()?;
        }
        self.keys.insert(key);
        self.results.push(result.clone());
        Ok(())
    }

    /// Syncs `<out>.partial` to disk now.
    pub fn sync(&mut self) -> Result<(), DataError> {
        self.file
            .sync_data()
            .map_err(DataError::io(&self.partial))?;
        self.unsynced = 0;
        self.last_sync = Instant::now();
        Ok(())
    }

    /// Writes `<out>` atomically with all results (resumed and new), sorted by `order`
    /// (a stable sort: equal keys keep the order they came in), then removes
    /// `<out>.partial`. Returns `<out>`.
    ///
    /// A crash before the rename leaves `<out>.partial` whole; a crash after it leaves
    /// both files, and resuming counts each result once.
    pub fn finish(
        mut self,
        order: impl Fn(&CheckResult) -> (usize, usize),
    ) -> Result<PathBuf, DataError> {
        self.sync()?;
        self.results.sort_by_cached_key(|r| order(r));
        write_jsonl(&self.out, &self.results)?;
        std::fs::remove_file(&self.partial).map_err(DataError::io(&self.partial))?;
        if let Some(dir) = self.partial.parent() {
            sync_dir(if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            });
        }
        Ok(self.out.clone())
    }
}

impl Drop for ResultsWriter {
    fn drop(&mut self) {
        if self.unsynced > 0 {
            let _ = self.file.sync_data();
        }
    }
}

fn key(result: &CheckResult) -> (String, String) {
    (result.task_id.clone(), result.sample_id.clone())
}
