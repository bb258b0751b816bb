//! Long calls: run the work on a thread of its own with the GIL released, and keep
//! the calling thread polling for signals, so that Ctrl-C interrupts the call at once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use pyo3::prelude::*;

/// How often the calling thread looks for signals while the work runs.
const POLL: Duration = Duration::from_millis(50);

/// Whether the call was interrupted; the work checks it between units (a check, a
/// program, a request) and stops handing out new ones when it is set.
pub(crate) struct Cancel(AtomicBool);

impl Cancel {
    pub(crate) fn is_set(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

struct Shared<T> {
    cancel: Cancel,
    value: Mutex<Option<std::thread::Result<T>>>,
    ready: Condvar,
}

/// Runs `work` on a new thread without the GIL while this thread waits, looking for
/// signals every 50 ms. On a signal whose handler raises (`KeyboardInterrupt` for
/// Ctrl-C) the [`Cancel`] flag is set and the handler's exception is raised at once:
/// the work hands out no new unit and ends in the background when the units already
/// running end (each within its own time limit; the sandbox reaps their processes),
/// and its result is dropped. A panic of the work is a `RuntimeError`.
pub(crate) fn interruptible<T, F>(py: Python<'_>, work: F) -> PyResult<T>
where
    T: Send + 'static,
    F: FnOnce(&Cancel) -> T + Send + 'static,
{
    let shared = Arc::new(Shared {
        cancel: Cancel(AtomicBool::new(false)),
        value: Mutex::new(None),
        ready: Condvar::new(),
    });
    let theirs = shared.clone();
    std::thread::Builder::new()
        .name("nxt-call".into())
        .spawn(move || {
            let value =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(&theirs.cancel)));
            *theirs.value.lock().unwrap_or_else(|e| e.into_inner()) = Some(value);
            theirs.ready.notify_all();
        })
        .map_err(|e| {
            pyo3::exceptions::PyRuntimeError::new_err(format!("nxt: cannot start a thread: {e}"))
        })?;
    loop {
        let finished = py.detach(|| {
            let guard = shared.value.lock().unwrap_or_else(|e| e.into_inner());
            let (mut guard, _) = shared
                .ready
                .wait_timeout_while(guard, POLL, |v| v.is_none())
                .unwrap_or_else(|e| e.into_inner());
            guard.take()
        });
        match finished {
            Some(Ok(value)) => return Ok(value),
            Some(Err(payload)) => return Err(crate::errors::panic(payload)),
            None => {}
        }
        if let Err(e) = py.check_signals() {
            shared.cancel.0.store(true, Ordering::Relaxed);
            return Err(e);
        }
    }
}
