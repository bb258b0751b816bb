//! Builders of hand-made traces for the unit tests of this crate.

use nxt_core::{Event, Step, Trace, Value, Var};

/// A step at `line` with `event` in `frame`, holding `vars` as `(name, repr)` pairs.
pub(crate) fn step_at(line: u32, event: Event, frame: u32, vars: &[(&str, &str)]) -> Step {
    Step {
        line,
        event,
        frame,
        vars: vars
            .iter()
            .map(|(n, v)| Var::new(*n, Value::repr(*v)))
            .collect(),
    }
}

/// A complete trace of `steps`, as CPython 3.11.7 would label it.
pub(crate) fn trace(steps: Vec<Step>) -> Trace {
    let mut t = Trace::new("CPython 3.11.7");
    t.steps = steps;
    t
}
