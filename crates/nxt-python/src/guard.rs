//! A tracer and a verifier that stop when the call is interrupted: they hand the work
//! to the real one a batch at a time and answer [`Interrupted`] for what is left once
//! Ctrl-C was pressed.

use nxt_core::{
    CheckResult, Program, Sample, Task, Trace, TraceOptions, Tracer, Verifier, VerifyOptions,
};

use crate::interrupt::Cancel;

/// The error of a unit of work skipped because the call was interrupted, or the real
/// tracer's or verifier's error.
#[derive(Debug)]
pub(crate) enum Guarded<E> {
    Inner(E),
    Interrupted,
}

impl<E: std::fmt::Display> std::fmt::Display for Guarded<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Guarded::Inner(e) => e.fmt(f),
            Guarded::Interrupted => f.write_str("interrupted"),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for Guarded<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Guarded::Inner(e) => Some(e),
            Guarded::Interrupted => None,
        }
    }
}

/// Wraps a tracer or a verifier with the call's [`Cancel`] flag.
pub(crate) struct Guard<'a, X> {
    pub(crate) inner: &'a X,
    pub(crate) cancel: &'a Cancel,
    /// Units handed to the real one at once (its workers, a few times over).
    pub(crate) batch: usize,
}

impl<X: Tracer> Tracer for Guard<'_, X> {
    type Error = Guarded<X::Error>;

    fn trace(&self, program: &Program, options: &TraceOptions) -> Result<Trace, Self::Error> {
        if self.cancel.is_set() {
            return Err(Guarded::Interrupted);
        }
        self.inner.trace(program, options).map_err(Guarded::Inner)
    }

    fn trace_all(
        &self,
        programs: &[Program],
        options: &TraceOptions,
    ) -> Vec<Result<Trace, Self::Error>> {
        let mut out = Vec::with_capacity(programs.len());
        for chunk in programs.chunks(self.batch.max(1)) {
            if self.cancel.is_set() {
                out.extend(chunk.iter().map(|_| Err(Guarded::Interrupted)));
                continue;
            }
            out.extend(
                self.inner
                    .trace_all(chunk, options)
                    .into_iter()
                    .map(|r| r.map_err(Guarded::Inner)),
            );
        }
        out
    }
}

impl<X: Verifier> Verifier for Guard<'_, X> {
    type Error = Guarded<X::Error>;

    fn verify(
        &self,
        task: &Task,
        sample: &Sample,
        options: &VerifyOptions,
    ) -> Result<CheckResult, Self::Error> {
        if self.cancel.is_set() {
            return Err(Guarded::Interrupted);
        }
        self.inner
            .verify(task, sample, options)
            .map_err(Guarded::Inner)
    }

    fn verify_all(
        &self,
        pairs: &[(&Task, &Sample)],
        options: &VerifyOptions,
    ) -> Vec<Result<CheckResult, Self::Error>> {
        let mut out = Vec::with_capacity(pairs.len());
        for chunk in pairs.chunks(self.batch.max(1)) {
            if self.cancel.is_set() {
                out.extend(chunk.iter().map(|_| Err(Guarded::Interrupted)));
                continue;
            }
            out.extend(
                self.inner
                    .verify_all(chunk, options)
                    .into_iter()
                    .map(|r| r.map_err(Guarded::Inner)),
            );
        }
        out
    }
}
