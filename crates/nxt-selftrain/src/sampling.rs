//! How the loop asks for answers: slot-aware sampling, replay keyed by slot, and the
//! samplers a run's configuration names.

use nxt_core::{Completion, PromptInput, Sampler};

use crate::{Error, OpenAiSampler, OpenAiSamplerBuilder, Pending, ReplaySampler};

/// What the loop asks of a sampler: answers for pending slots ([`Pending`]: a request
/// and the slots its completions fill).
///
/// Every [`Sampler`] is a `SlotSampler` (it sees the requests only); a sampler that
/// answers by slot, like [`SlotReplay`], sees the slots too, so that a restarted run
/// gets the same answer for the same slot.
pub trait SlotSampler {
    /// Why a request failed.
    type Error: std::fmt::Display;

    /// The completions of each pending request, in order: `pending[i].slots.len()` of
    /// them, or an error.
    fn sample_slots(&self, pending: &[&Pending]) -> Vec<Result<Vec<Completion>, Self::Error>>;
}

impl<S: Sampler + ?Sized> SlotSampler for S {
    type Error = S::Error;

    fn sample_slots(&self, pending: &[&Pending]) -> Vec<Result<Vec<Completion>, S::Error>> {
        let requests: Vec<_> = pending.iter().map(|p| p.request.clone()).collect();
        self.sample_all(&requests)
    }
}

/// Whether a prompt shows an execution trace for its problem (the last message of a
/// chat prompt, the text after the last `### Problem` line of a text prompt): the
/// line nxt-prompt writes before a trace, `# Here is the execution trace`.
pub fn shows_trace(prompt: &PromptInput) -> bool {
    let problem = match prompt {
        PromptInput::Chat(messages) => messages.last().map_or("", |m| m.content.as_str()),
        PromptInput::Text(text) => text
            .rfind("### Problem")
            .map_or(text.as_str(), |i| &text[i..]),
    };
    problem.contains("# Here is the execution trace")
}

/// A [`ReplaySampler`] that answers by slot: the slot with index `i` of a task gets
/// the task's `i`-th answer (cycling) among those for its prompt kind (records with
/// `"trace": true` serve only prompts that show a trace, `"trace": false` only those
/// that do not, records without the field both). Answers depend on the slot alone, not
/// on the order of requests, so a run killed and restarted is served exactly as one
/// that ran through. Build one with [`ReplaySampler::by_slot`].
#[derive(Debug)]
pub struct SlotReplay {
    replay: ReplaySampler,
}

impl SlotReplay {
    /// The answer for slot `index` of `task_id` for a prompt that does or does not
    /// show a trace.
    pub fn answer(&self, task_id: &str, trace: bool, index: u32) -> Result<&str, Error> {
        let answers =
            self.replay
                .answers_for(task_id, trace)
                .ok_or_else(|| Error::UnknownTask {
                    task_id: task_id.to_owned(),
                })?;
        Ok(&answers[index as usize % answers.len()])
    }

    /// The replay file's sampler.
    pub fn replay(&self) -> &ReplaySampler {
        &self.replay
    }
}

impl ReplaySampler {
    /// This replay, answering by slot ([`SlotReplay`]).
    pub fn by_slot(self) -> SlotReplay {
        SlotReplay { replay: self }
    }
}

impl SlotSampler for SlotReplay {
    type Error = Error;

    fn sample_slots(&self, pending: &[&Pending]) -> Vec<Result<Vec<Completion>, Error>> {
        pending
            .iter()
            .map(|p| {
                let trace = shows_trace(&p.request.input);
                p.slots
                    .iter()
                    .map(|slot| {
                        self.answer(&p.request.task_id, trace, slot.index)
                            .map(|a| Completion::new(a, Some("stop".into())))
                    })
                    .collect()
            })
            .collect()
    }
}

/// The sampler a run's configuration (or a checkpoint) names: `replay:FILE` (a
/// [`SlotReplay`]) or `openai:BASE_URL` (an [`OpenAiSampler`] for `model`, its API key
/// from `OPENAI_API_KEY`).
#[derive(Debug)]
pub enum ConfiguredSampler {
    /// Recorded answers, by slot.
    Replay(SlotReplay),
    /// An OpenAI-compatible server.
    OpenAi(OpenAiSampler),
}

impl ConfiguredSampler {
    /// The sampler `spec` names (`replay:FILE` or `openai:BASE_URL`), asking `model`.
    pub fn from_spec(spec: &str, model: &str) -> Result<ConfiguredSampler, Error> {
        match spec.split_once(':') {
            Some(("replay", file)) if !file.is_empty() => Ok(ConfiguredSampler::Replay(
                ReplaySampler::open(file)?.by_slot(),
            )),
            Some(("openai", url)) if !url.is_empty() => Ok(ConfiguredSampler::OpenAi(
                OpenAiSamplerBuilder::new()
                    .base_url(url)
                    .model(model)
                    .build()?,
            )),
            _ => Err(Error::Config(format!(
                "sampler {spec:?}: expected replay:ANSWERS.jsonl or openai:BASE_URL"
            ))),
        }
    }
}

impl SlotSampler for ConfiguredSampler {
    type Error = Error;

    fn sample_slots(&self, pending: &[&Pending]) -> Vec<Result<Vec<Completion>, Error>> {
        match self {
            ConfiguredSampler::Replay(r) => r.sample_slots(pending),
            ConfiguredSampler::OpenAi(s) => s.sample_slots(pending),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Slot;
    use nxt_core::{ChatMessage, SampleRequest};

    fn pending(task: &str, prompt: &str, indexes: &[u32]) -> Pending {
        let mut request =
            SampleRequest::chat(task, vec![ChatMessage::new("user", prompt.to_owned())]);
        request.n = indexes.len() as u32;
        Pending {
            request,
            model: "m".into(),
            checkpoint: None,
            slots: indexes
                .iter()
                .map(|&index| Slot {
                    iteration: 1,
                    task_id: task.into(),
                    index,
                })
                .collect(),
        }
    }

    const ANSWERS: &str = r#"{"task_id": "a", "answer": "a0"}
{"task_id": "a", "answer": "a1", "trace": true}
{"task_id": "a", "answer": "a2", "trace": false}
{"task_id": "b", "answer": "b0"}
"#;

    fn texts(r: &Result<Vec<Completion>, Error>) -> Vec<&str> {
        r.as_ref()
            .unwrap()
            .iter()
            .map(|c| c.text.as_str())
            .collect()
    }

    #[test]
    fn answers_depend_on_the_slot_and_the_prompt_kind_only() {
        let s = ReplaySampler::from_reader(ANSWERS.as_bytes(), "answers.jsonl")
            .unwrap()
            .by_slot();
        let traced = "def f(): pass\n# Here is the execution trace of the program:\n";
        let plain = "def f(): pass\n";
        let a = pending("a", traced, &[0, 1, 2]);
        let b = pending("a", plain, &[0, 1, 2]);
        let c = pending("a", traced, &[1]);
        let d = pending("b", plain, &[5]);
        let out = s.sample_slots(&[&a, &b, &c, &d]);
        assert_eq!(texts(&out[0]), ["a0", "a1", "a0"]);
        assert_eq!(texts(&out[1]), ["a0", "a2", "a0"]);
        // The same slot again (a restart): the same answer, whatever came before.
        assert_eq!(texts(&out[2]), ["a1"]);
        assert_eq!(texts(&out[3]), ["b0"]);
        let unknown = pending("zzz", plain, &[0]);
        assert!(matches!(
            s.sample_slots(&[&unknown])[0],
            Err(Error::UnknownTask { .. })
        ));
    }

    #[test]
    fn every_sampler_is_a_slot_sampler_over_its_requests() {
        let s = ReplaySampler::from_reader(ANSWERS.as_bytes(), "answers.jsonl").unwrap();
        let a = pending("a", "x", &[7, 8]);
        // The plain replay ignores slots: its cursor starts at the first answer.
        assert_eq!(texts(&s.sample_slots(&[&a])[0]), ["a0", "a1"]);
    }

    #[test]
    fn a_text_prompt_shows_a_trace_in_its_last_problem() {
        let exemplar = "### Problem\n# Here is the execution trace of x\n### Answer\nok\n";
        assert!(!shows_trace(&PromptInput::Text(format!(
            "{exemplar}### Problem\ndef f(): pass\n### Answer\n"
        ))));
        assert!(shows_trace(&PromptInput::Text(format!(
            "{exemplar}### Problem\n# Here is the execution trace of f\n### Answer\n"
        ))));
    }

    #[test]
    fn specs_name_their_sampler() {
        assert!(matches!(
            ConfiguredSampler::from_spec("openai:http://127.0.0.1:9/v1", "m"),
            Ok(ConfiguredSampler::OpenAi(_))
        ));
        for bad in ["replay:", "gpt:x", "openai:", "x"] {
            assert!(
                matches!(
                    ConfiguredSampler::from_spec(bad, "m"),
                    Err(Error::Config(_))
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            ConfiguredSampler::from_spec("replay:/no/such/file.jsonl", "m"),
            Err(Error::Io { .. })
        ));
    }
}
