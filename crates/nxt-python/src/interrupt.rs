//! Long calls: run the work on a thread of its own with the GIL released, and keep
//! the calling thread polling for signals, so that Ctrl-C interrupts the call.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex};
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

struct Done<T> {
    value: Mutex<Option<std::thread::Result<T>>>,
    ready: Condvar,
}

/// Runs `work` on a new thread without the GIL while this thread waits, looking for
/// signals every 50 ms. On a signal whose handler raises (`KeyboardInterrupt` for
/// Ctrl-C) the [`Cancel`] flag is set, the work is waited for (it stops at its next
/// unit) and the handler's exception is raised. A panic of the work is a
/// `RuntimeError`.
pub(crate) fn interruptible<T, F>(py: Python<'_>, work: F) -> PyResult<T>
where
    T: Send,
    F: FnOnce(&Cancel) -> T + Send,
{
    let cancel = Cancel(AtomicBool::new(false));
    let done: Done<T> = Done {
        value: Mutex::new(None),
        ready: Condvar::new(),
    };
    let mut interrupted: Option<PyErr> = None;
    let outcome = std::thread::scope(|s| {
        let (cancel, done) = (&cancel, &done);
        s.spawn(move || {
            let value = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(cancel)));
            *done.value.lock().unwrap_or_else(|e| e.into_inner()) = Some(value);
            done.ready.notify_all();
        });
        loop {
            let finished = py.detach(|| {
                let guard = done.value.lock().unwrap_or_else(|e| e.into_inner());
                let (mut guard, _) = done
                    .ready
                    .wait_timeout_while(guard, POLL, |v| v.is_none())
                    .unwrap_or_else(|e| e.into_inner());
                guard.take()
            });
            if let Some(outcome) = finished {
                break outcome;
            }
            if interrupted.is_none()
                && let Err(e) = py.check_signals()
            {
                cancel.0.store(true, Ordering::Relaxed);
                interrupted = Some(e);
            }
        }
    });
    match (interrupted, outcome) {
        (Some(e), _) => Err(e),
        (None, Ok(value)) => Ok(value),
        (None, Err(payload)) => Err(crate::errors::panic(payload)),
    }
}
