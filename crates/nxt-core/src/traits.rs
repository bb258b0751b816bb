//! The seams between crates: capturing a trace and rendering it.

use crate::{
    CheckResult, Program, RenderOptions, Sample, Task, Trace, TraceOptions, VerifyOptions,
};

/// Captures what a program does, step by step.
///
/// One required method, [`Tracer::trace`]; [`Tracer::trace_all`] has a sequential
/// default that implementations with a worker pool override.
pub trait Tracer {
    /// The error of a run that gave no trace at all (a syntax error, no interpreter).
    /// A program that fails, loops or eats memory still gives a trace.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Runs `program` once and records its trace.
    fn trace(&self, program: &Program, options: &TraceOptions) -> Result<Trace, Self::Error>;

    /// Traces many programs; the results come in the order of `programs`.
    ///
    /// By default, one after the other with [`Tracer::trace`].
    fn trace_all(
        &self,
        programs: &[Program],
        options: &TraceOptions,
    ) -> Vec<Result<Trace, Self::Error>> {
        programs.iter().map(|p| self.trace(p, options)).collect()
    }
}

/// Writes a trace back into its program's source as inline comments.
pub trait Renderer {
    /// Why a trace could not be rendered (the source does not parse, the trace names
    /// lines the source does not have).
    type Error: std::error::Error + Send + Sync + 'static;

    /// The source with the trace's steps appended to their anchor lines.
    fn render(
        &self,
        source: &str,
        trace: &Trace,
        options: &RenderOptions,
    ) -> Result<String, Self::Error>;

    /// Renders a [`Program`]'s source. By default, [`Renderer::render`] on
    /// `program.source`.
    fn render_program(
        &self,
        program: &Program,
        trace: &Trace,
        options: &RenderOptions,
    ) -> Result<String, Self::Error> {
        self.render(&program.source, trace, options)
    }
}

/// Runs a program against a task's tests and gives a verdict.
///
/// One required method, [`Verifier::verify`]; [`Verifier::verify_all`] has a
/// sequential default that implementations with a worker pool override.
pub trait Verifier {
    /// The error of a check that could not be run at all (no interpreter, a broken
    /// worker). A program that fails, crashes or loops still gets a [`CheckResult`].
    type Error: std::error::Error + Send + Sync + 'static;

    /// Verifies `sample` against the tests of `task`.
    fn verify(
        &self,
        task: &Task,
        sample: &Sample,
        options: &VerifyOptions,
    ) -> Result<CheckResult, Self::Error>;

    /// Verifies many (task, sample) pairs; results come in the order of `pairs`.
    ///
    /// By default, one after the other with [`Verifier::verify`].
    fn verify_all(
        &self,
        pairs: &[(&Task, &Sample)],
        options: &VerifyOptions,
    ) -> Vec<Result<CheckResult, Self::Error>> {
        pairs
            .iter()
            .map(|(task, sample)| self.verify(task, sample, options))
            .collect()
    }
}

macro_rules! forward_verifier {
    ($($ty:ty),*) => {$(
        impl<V: Verifier + ?Sized> Verifier for $ty {
            type Error = V::Error;
            fn verify(&self, task: &Task, sample: &Sample, options: &VerifyOptions) -> Result<CheckResult, Self::Error> {
                (**self).verify(task, sample, options)
            }
            fn verify_all(&self, pairs: &[(&Task, &Sample)], options: &VerifyOptions) -> Vec<Result<CheckResult, Self::Error>> {
                (**self).verify_all(pairs, options)
            }
        }
    )*};
}
forward_verifier!(&V, &mut V, Box<V>, std::sync::Arc<V>);

macro_rules! forward_tracer {
    ($($ty:ty),*) => {$(
        impl<T: Tracer + ?Sized> Tracer for $ty {
            type Error = T::Error;
            fn trace(&self, program: &Program, options: &TraceOptions) -> Result<Trace, Self::Error> {
                (**self).trace(program, options)
            }
            fn trace_all(&self, programs: &[Program], options: &TraceOptions) -> Vec<Result<Trace, Self::Error>> {
                (**self).trace_all(programs, options)
            }
        }
    )*};
}
forward_tracer!(&T, &mut T, Box<T>, std::sync::Arc<T>);

macro_rules! forward_renderer {
    ($($ty:ty),*) => {$(
        impl<R: Renderer + ?Sized> Renderer for $ty {
            type Error = R::Error;
            fn render(&self, source: &str, trace: &Trace, options: &RenderOptions) -> Result<String, Self::Error> {
                (**self).render(source, trace, options)
            }
            fn render_program(&self, program: &Program, trace: &Trace, options: &RenderOptions) -> Result<String, Self::Error> {
                (**self).render_program(program, trace, options)
            }
        }
    )*};
}
forward_renderer!(&R, &mut R, Box<R>, std::sync::Arc<R>);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Event, Step, Value, Var};

    /// A tracer that records one call step per program, named after the program.
    struct Fake;

    #[derive(Debug, thiserror::Error)]
    #[error("never")]
    struct Never;

    impl Tracer for Fake {
        type Error = Never;
        fn trace(&self, program: &Program, _: &TraceOptions) -> Result<Trace, Never> {
            let mut t = Trace::new("fake");
            t.steps.push(Step {
                line: 1,
                event: Event::Call,
                frame: 0,
                vars: vec![Var::new("name", Value::repr(program.name.clone()))],
            });
            Ok(t)
        }
    }

    fn names<T: Tracer>(t: T) -> Vec<String> {
        let programs = [Program::new("a", ""), Program::new("b", "")];
        t.trace_all(&programs, &TraceOptions::default())
            .into_iter()
            .map(|r| r.unwrap().steps[0].vars[0].value.to_string())
            .collect()
    }

    #[test]
    fn references_and_boxes_are_tracers() {
        assert_eq!(names(&Fake), ["a", "b"]);
        let boxed: Box<dyn Tracer<Error = Never>> = Box::new(Fake);
        assert_eq!(names(boxed), ["a", "b"]);
    }
}
