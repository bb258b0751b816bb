//! Requests to a language model and the completions it returns: the data of the
//! [`Sampler`](crate::Sampler) trait.

use serde::{Deserialize, Serialize};

/// One message of a chat prompt.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ChatMessage {
    /// `system`, `user` or `assistant`.
    pub role: String,
    /// The message's text.
    pub content: String,
}

impl ChatMessage {
    /// A message with the given role and content.
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> ChatMessage {
        ChatMessage {
            role: role.into(),
            content: content.into(),
        }
    }
}

/// What the model is asked to continue: chat messages or a plain text prompt.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PromptInput {
    /// Chat messages (an OpenAI-compatible server's `/v1/chat/completions`).
    Chat(Vec<ChatMessage>),
    /// A text prompt (an OpenAI-compatible server's `/v1/completions`).
    Text(String),
}

/// A request for `n` completions of one prompt of one task.
///
/// The request names its task ([`SampleRequest::task_id`]): HTTP samplers ignore it,
/// replay samplers answer by it. Build one with [`SampleRequest::chat`] or
/// [`SampleRequest::text`], then set the sampling parameters on the fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SampleRequest {
    /// The task the prompt is about.
    pub task_id: String,
    /// The prompt.
    pub input: PromptInput,
    /// How many completions to return. By default, 1.
    pub n: u32,
    /// Sampling temperature; `None` leaves the server's default. By default, `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Nucleus sampling mass; `None` leaves the server's default. By default, `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Most tokens per completion; `None` leaves the server's default. By default,
    /// `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Strings that end a completion. By default, none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop: Vec<String>,
    /// Seed of the server's sampler, where it has one. By default, `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
}

impl SampleRequest {
    /// A request for one completion of chat `messages`.
    pub fn chat(task_id: impl Into<String>, messages: Vec<ChatMessage>) -> SampleRequest {
        SampleRequest::new(task_id.into(), PromptInput::Chat(messages))
    }

    /// A request for one completion of a text `prompt`.
    pub fn text(task_id: impl Into<String>, prompt: impl Into<String>) -> SampleRequest {
        SampleRequest::new(task_id.into(), PromptInput::Text(prompt.into()))
    }

    fn new(task_id: String, input: PromptInput) -> SampleRequest {
        SampleRequest {
            task_id,
            input,
            n: 1,
            temperature: None,
            top_p: None,
            max_tokens: None,
            stop: Vec::new(),
            seed: None,
        }
    }
}

/// One completion returned by a model.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Completion {
    /// The generated text (the answer, without the prompt).
    pub text: String,
    /// Why generation stopped (`stop`, `length`, ...), as the server says it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<String>,
}

impl Completion {
    /// A completion with the given text and finish reason.
    pub fn new(text: impl Into<String>, finish_reason: Option<String>) -> Completion {
        Completion {
            text: text.into(),
            finish_reason,
        }
    }
}
