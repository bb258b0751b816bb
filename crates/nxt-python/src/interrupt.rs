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
pub(crate) struct Cancel(Arc<AtomicBool>);

impl Cancel {
    pub(crate) fn is_set(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// The flag itself, for work that checks one of its own (`Run::set_interrupt`).
    pub(crate) fn flag(&self) -> Arc<AtomicBool> {
        self.0.clone()
    }
}

struct Shared<T> {
    cancel: Cancel,
    value: Mutex<Option<std::thread::Result<T>>>,
    ready: Condvar,
}

/// Calls still writing to a store after they were interrupted (see [`durable`]).
static DURABLE: Mutex<usize> = Mutex::new(0);
static DURABLE_DONE: Condvar = Condvar::new();

/// [`interruptible`] for work that writes what it did to a store as it goes (a
/// self-training step): interrupted, it still stores what it finished, and the
/// package's `atexit` hook ([`_wait_for_calls`]) waits for it, so that a Ctrl-C that
/// ends the program does not lose answers already received.
pub(crate) fn durable<T, F>(py: Python<'_>, work: F) -> PyResult<T>
where
    T: Send + 'static,
    F: FnOnce(&Cancel) -> T + Send + 'static,
{
    *DURABLE.lock().unwrap_or_else(|e| e.into_inner()) += 1;
    interruptible(py, move |cancel| {
        struct Done;
        impl Drop for Done {
            fn drop(&mut self) {
                *DURABLE.lock().unwrap_or_else(|e| e.into_inner()) -= 1;
                DURABLE_DONE.notify_all();
            }
        }
        let _done = Done;
        work(cancel)
    })
}

/// Waits, at most `timeout` seconds, for interrupted calls that are still storing
/// what they did; a second Ctrl-C stops the wait. Returns whether none is left.
#[pyfunction]
pub(crate) fn _wait_for_calls(py: Python<'_>, timeout: f64) -> bool {
    let deadline = std::time::Instant::now() + Duration::from_secs_f64(timeout.max(0.0));
    loop {
        let left = py.detach(|| {
            let guard = DURABLE.lock().unwrap_or_else(|e| e.into_inner());
            let (guard, _) = DURABLE_DONE
                .wait_timeout_while(guard, POLL, |n| *n > 0)
                .unwrap_or_else(|e| e.into_inner());
            *guard
        });
        if left == 0 {
            return true;
        }
        if std::time::Instant::now() >= deadline || py.check_signals().is_err() {
            return false;
        }
    }
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
        cancel: Cancel(Arc::new(AtomicBool::new(false))),
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
            shared.cancel.0.store(true, Ordering::SeqCst);
            return Err(e);
        }
    }
}
