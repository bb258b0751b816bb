//! A sampler made of a function: the hook for samplers written elsewhere (Python).

use nxt_core::{Completion, SampleRequest, Sampler};

use crate::Error;

/// The error a [`FnSampler`]'s function returns.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A [`Sampler`] that calls a function: how callers plug in a model this crate does not
/// know (the Python bindings wrap a Python callable in one).
///
/// The function's errors become [`Error::Custom`]; a function that returns other than
/// `request.n` completions breaks the [`Sampler`] contract and is an
/// [`Error::Custom`] too.
pub struct FnSampler<F> {
    f: F,
}

impl<F> FnSampler<F>
where
    F: Fn(&SampleRequest) -> Result<Vec<Completion>, BoxError>,
{
    /// A sampler calling `f`.
    pub fn new(f: F) -> FnSampler<F> {
        FnSampler { f }
    }
}

impl<F> std::fmt::Debug for FnSampler<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FnSampler")
    }
}

impl<F> Sampler for FnSampler<F>
where
    F: Fn(&SampleRequest) -> Result<Vec<Completion>, BoxError>,
{
    type Error = Error;

    fn sample(&self, request: &SampleRequest) -> Result<Vec<Completion>, Error> {
        let out = (self.f)(request).map_err(Error::Custom)?;
        if out.len() != request.n as usize {
            return Err(Error::Custom(
                format!(
                    "asked for {} completions of task {:?}, got {}",
                    request.n,
                    request.task_id,
                    out.len()
                )
                .into(),
            ));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_function_is_a_sampler_and_its_errors_are_typed() {
        let s = FnSampler::new(|r: &SampleRequest| {
            if r.task_id == "bad" {
                return Err("model offline".into());
            }
            Ok((0..r.n.min(2))
                .map(|i| Completion::new(format!("{}{i}", r.task_id), None))
                .collect())
        });
        let mut r = SampleRequest::text("t", "");
        r.n = 2;
        let texts: Vec<String> = s.sample(&r).unwrap().into_iter().map(|c| c.text).collect();
        assert_eq!(texts, ["t0", "t1"]);

        let err = s.sample(&SampleRequest::text("bad", "")).unwrap_err();
        assert_eq!(err.to_string(), "sampler: model offline");

        r.n = 3;
        let err = s.sample(&r).unwrap_err();
        assert_eq!(
            err.to_string(),
            "sampler: asked for 3 completions of task \"t\", got 2"
        );
    }
}
