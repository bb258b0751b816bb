//! The seams between crates: capturing a trace, rendering it, verifying a program and
//! sampling a model.

use crate::{
    CheckResult, Completion, Program, RenderOptions, Sample, SampleRequest, Task, Trace,
    TraceOptions, VerifyOptions,
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

/// Asks a language model for completions.
///
/// One required method, [`Sampler::sample`]; [`Sampler::sample_all`] has a sequential
/// default that implementations with concurrency override. A sampler answers a
/// [`SampleRequest`] with exactly `request.n` completions, in order, or an error: it
/// never returns fewer. The request names its task, so samplers that replay recorded
/// answers can answer by task; samplers that call a model ignore the name.
pub trait Sampler {
    /// Why no completions came back (the server refused, the network failed, a
    /// recorded answer is missing).
    type Error: std::error::Error + Send + Sync + 'static;

    /// Asks for `request.n` completions of `request.input`.
    fn sample(&self, request: &SampleRequest) -> Result<Vec<Completion>, Self::Error>;

    /// Answers many requests; results come in the order of `requests`.
    ///
    /// By default, one after the other with [`Sampler::sample`].
    fn sample_all(&self, requests: &[SampleRequest]) -> Vec<Result<Vec<Completion>, Self::Error>> {
        requests.iter().map(|r| self.sample(r)).collect()
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

macro_rules! forward_sampler {
    ($($ty:ty),*) => {$(
        impl<S: Sampler + ?Sized> Sampler for $ty {
            type Error = S::Error;
            fn sample(&self, request: &SampleRequest) -> Result<Vec<Completion>, Self::Error> {
                (**self).sample(request)
            }
            fn sample_all(&self, requests: &[SampleRequest]) -> Vec<Result<Vec<Completion>, Self::Error>> {
                (**self).sample_all(requests)
            }
        }
    )*};
}
forward_sampler!(&S, &mut S, Box<S>, std::sync::Arc<S>);

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
    /// A sampler that answers with the task id and the completion's index.
    struct Echo;

    impl Sampler for Echo {
        type Error = Never;
        fn sample(&self, request: &SampleRequest) -> Result<Vec<Completion>, Never> {
            Ok((0..request.n)
                .map(|i| Completion::new(format!("{}#{i}", request.task_id), None))
                .collect())
        }
    }

    fn texts<S: Sampler>(s: S) -> Vec<Vec<String>> {
        let mut two = SampleRequest::text("b", "prompt");
        two.n = 2;
        let requests = [SampleRequest::chat("a", vec![]), two];
        s.sample_all(&requests)
            .into_iter()
            .map(|r| r.unwrap().into_iter().map(|c| c.text).collect())
            .collect()
    }

    #[test]
    fn references_boxes_and_arcs_are_samplers() {
        let want = [vec!["a#0"], vec!["b#0", "b#1"]];
        assert_eq!(texts(Echo), want);
        assert_eq!(texts(&Echo), want);
        assert_eq!(texts(&mut Echo), want);
        assert_eq!(texts(std::sync::Arc::new(Echo)), want);
        let boxed: Box<dyn Sampler<Error = Never>> = Box::new(Echo);
        assert_eq!(texts(boxed), want);
    }

    #[test]
    fn a_sample_request_round_trips_through_json() {
        let mut r = SampleRequest::chat("t/1", vec![crate::ChatMessage::new("user", "hi")]);
        r.n = 3;
        r.temperature = Some(0.8);
        r.stop = vec!["```".into()];
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(
            json,
            r#"{"task_id":"t/1","input":{"chat":[{"role":"user","content":"hi"}]},"n":3,"temperature":0.8,"stop":["```"]}"#
        );
        assert_eq!(serde_json::from_str::<SampleRequest>(&json).unwrap(), r);
    }
}
