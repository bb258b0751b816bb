//! A sampler that calls an OpenAI-compatible HTTP server (OpenAI, vLLM, llama.cpp's
//! server, Ollama).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use nxt_core::{Completion, PromptInput, SampleRequest, Sampler};
use serde::Deserialize;
use serde_json::{Map, Value as Json, json};

use crate::Error;

/// The answer to one request.
type Answer = Result<Vec<Completion>, Error>;

/// The longest wait a `Retry-After` header is honoured for.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// Configures and builds an [`OpenAiSampler`].
#[derive(Debug, Clone)]
pub struct OpenAiSamplerBuilder {
    base_url: String,
    model: Option<String>,
    api_key: Option<String>,
    api_key_env: Option<String>,
    timeout: Duration,
    concurrency: usize,
    max_retries: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
    n_per_request: Option<u32>,
}

impl Default for OpenAiSamplerBuilder {
    fn default() -> OpenAiSamplerBuilder {
        OpenAiSamplerBuilder::new()
    }
}

impl OpenAiSamplerBuilder {
    /// A builder with the defaults.
    pub fn new() -> OpenAiSamplerBuilder {
        OpenAiSamplerBuilder {
            base_url: "https://api.openai.com/v1".into(),
            model: None,
            api_key: None,
            api_key_env: Some("OPENAI_API_KEY".into()),
            timeout: Duration::from_secs(600),
            concurrency: 8,
            max_retries: 5,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(60),
            n_per_request: None,
        }
    }

    /// The server's base URL, up to and including `/v1`: requests go to
    /// `{base_url}/chat/completions` and `{base_url}/completions` (for vLLM,
    /// `http://localhost:8000/v1`; llama.cpp, `http://localhost:8080/v1`; Ollama,
    /// `http://localhost:11434/v1`). By default, `https://api.openai.com/v1`.
    pub fn base_url(&mut self, url: impl Into<String>) -> &mut OpenAiSamplerBuilder {
        self.base_url = url.into();
        self
    }

    /// The model to ask for (the request's `model`). Required; by default, none.
    pub fn model(&mut self, model: impl Into<String>) -> &mut OpenAiSamplerBuilder {
        self.model = Some(model.into());
        self
    }

    /// The environment variable holding the API key, read when the sampler is built;
    /// an unset or empty variable means no `Authorization` header (local servers need
    /// none). `None` reads no variable. By default, `OPENAI_API_KEY`.
    pub fn api_key_env(&mut self, name: Option<String>) -> &mut OpenAiSamplerBuilder {
        self.api_key_env = name;
        self
    }

    /// An API key given directly, which wins over [`OpenAiSamplerBuilder::api_key_env`].
    /// By default, none.
    pub fn api_key(&mut self, key: Option<String>) -> &mut OpenAiSamplerBuilder {
        self.api_key = key;
        self
    }

    /// The limit of one HTTP request, from connecting to the end of the response. By
    /// default, 600 seconds.
    pub fn timeout(&mut self, timeout: Duration) -> &mut OpenAiSamplerBuilder {
        self.timeout = timeout;
        self
    }

    /// The most requests in flight at once, over every thread using the sampler. By
    /// default, 8.
    pub fn concurrency(&mut self, limit: usize) -> &mut OpenAiSamplerBuilder {
        self.concurrency = limit;
        self
    }

    /// How many times a request that failed with 408, 429, 5xx, a timeout or a
    /// connection error is sent again. By default, 5.
    pub fn max_retries(&mut self, retries: u32) -> &mut OpenAiSamplerBuilder {
        self.max_retries = retries;
        self
    }

    /// The backoff between retries: the `k`-th retry waits between half and all of
    /// `min(max, initial * 2^(k-1))` (random jitter), or what the server's
    /// `Retry-After` header says (seconds, up to 300). By default, 0.5 and 60 seconds.
    pub fn backoff(&mut self, initial: Duration, max: Duration) -> &mut OpenAiSamplerBuilder {
        self.initial_backoff = initial;
        self.max_backoff = max;
        self
    }

    /// The most completions asked for in one HTTP request: a request for more is split
    /// into several (with seeds `seed`, `seed + 1`, ... when a seed is set). Servers
    /// that ignore `n` (Ollama, llama.cpp's server) need `Some(1)`. `None` sends `n`
    /// as it is. By default, `None`.
    pub fn n_per_request(&mut self, limit: Option<u32>) -> &mut OpenAiSamplerBuilder {
        self.n_per_request = limit;
        self
    }

    /// Builds the sampler, reading the API key's environment variable.
    pub fn build(&self) -> Result<OpenAiSampler, Error> {
        let model = match &self.model {
            Some(m) if !m.is_empty() => m.clone(),
            _ => return Err(Error::Config("no model given".into())),
        };
        let base = self.base_url.trim_end_matches('/');
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(Error::Config(format!(
                "base URL {:?} is not http(s)",
                self.base_url
            )));
        }
        if self.concurrency == 0 {
            return Err(Error::Config("concurrency must be at least 1".into()));
        }
        if self.n_per_request == Some(0) {
            return Err(Error::Config("n_per_request must be at least 1".into()));
        }
        let api_key = self.api_key.clone().or_else(|| {
            let name = self.api_key_env.as_deref()?;
            std::env::var(name).ok().filter(|k| !k.is_empty())
        });
        let agent = ureq::AgentBuilder::new()
            .timeout(self.timeout)
            .user_agent(concat!("nxt-selftrain/", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(OpenAiSampler {
            agent,
            base_url: base.to_owned(),
            model,
            api_key,
            timeout: self.timeout,
            slots: Semaphore::new(self.concurrency),
            concurrency: self.concurrency,
            max_retries: self.max_retries,
            initial_backoff: self.initial_backoff,
            max_backoff: self.max_backoff,
            n_per_request: self.n_per_request,
        })
    }
}

/// A [`Sampler`] over an OpenAI-compatible HTTP server: chat requests go to
/// `/chat/completions`, text requests to `/completions`.
///
/// Blocking; share one across threads (it is `Sync`) and the concurrency limit holds
/// over all of them. [`Sampler::sample_all`] runs up to the limit at once.
pub struct OpenAiSampler {
    agent: ureq::Agent,
    base_url: String,
    model: String,
    api_key: Option<String>,
    timeout: Duration,
    slots: Semaphore,
    concurrency: usize,
    max_retries: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
    n_per_request: Option<u32>,
}

impl std::fmt::Debug for OpenAiSampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiSampler")
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "<set>"))
            .field("concurrency", &self.concurrency)
            .finish_non_exhaustive()
    }
}

impl OpenAiSampler {
    /// The model asked for.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// The endpoint a request goes to.
    pub fn endpoint(&self, request: &SampleRequest) -> String {
        match request.input {
            PromptInput::Chat(_) => format!("{}/chat/completions", self.base_url),
            PromptInput::Text(_) => format!("{}/completions", self.base_url),
        }
    }

    /// The JSON body of one HTTP request for `n` completions.
    fn body(&self, request: &SampleRequest, n: u32, seed: Option<u64>) -> String {
        let mut body = Map::new();
        body.insert("model".into(), json!(self.model));
        match &request.input {
            PromptInput::Chat(messages) => {
                body.insert("messages".into(), json!(messages));
            }
            PromptInput::Text(prompt) => {
                body.insert("prompt".into(), json!(prompt));
            }
        }
        body.insert("n".into(), json!(n));
        if let Some(t) = request.temperature {
            body.insert("temperature".into(), json!(t));
        }
        if let Some(p) = request.top_p {
            body.insert("top_p".into(), json!(p));
        }
        if let Some(m) = request.max_tokens {
            body.insert("max_tokens".into(), json!(m));
        }
        if !request.stop.is_empty() {
            body.insert("stop".into(), json!(request.stop));
        }
        if let Some(s) = seed {
            body.insert("seed".into(), json!(s));
        }
        Json::Object(body).to_string()
    }

    /// Sends `body`, retrying what may succeed on retry.
    fn post(&self, url: &str, body: &str) -> Result<String, Error> {
        let mut attempts = 0;
        loop {
            attempts += 1;
            let result = {
                let _slot = self.slots.acquire();
                self.post_once(url, body)
            };
            match result {
                Ok(text) => return Ok(text),
                Err((err, retry_after)) if err.is_retryable() => {
                    if attempts > self.max_retries {
                        return Err(if attempts == 1 {
                            err
                        } else {
                            Error::GaveUp {
                                attempts,
                                last: Box::new(err),
                            }
                        });
                    }
                    let wait = match retry_after {
                        Some(wait) => wait.min(MAX_RETRY_AFTER),
                        None => backoff(self.initial_backoff, self.max_backoff, attempts),
                    };
                    std::thread::sleep(wait);
                }
                Err((err, _)) => return Err(err),
            }
        }
    }

    /// One HTTP request; a failure comes with the server's `Retry-After`, if any.
    fn post_once(&self, url: &str, body: &str) -> Result<String, (Error, Option<Duration>)> {
        let mut req = self.agent.post(url).set("Content-Type", "application/json");
        if let Some(key) = &self.api_key {
            req = req.set("Authorization", &format!("Bearer {key}"));
        }
        let io = |e: std::io::Error| {
            let err = if is_timeout(&e) {
                self.timeout_error(url)
            } else {
                Error::Transport {
                    url: url.to_owned(),
                    message: format!("reading the response: {e}"),
                }
            };
            (err, None)
        };
        match req.send_string(body) {
            Ok(response) => response.into_string().map_err(io),
            Err(ureq::Error::Status(status, response)) => {
                let retry_after = response
                    .header("Retry-After")
                    .and_then(|v| v.trim().parse::<f64>().ok())
                    .filter(|s| s.is_finite() && *s >= 0.0)
                    .map(|s| Duration::from_secs_f64(s.min(MAX_RETRY_AFTER.as_secs_f64())));
                let text = response.into_string().unwrap_or_default();
                let err = Error::Status {
                    url: url.to_owned(),
                    status,
                    message: error_message(&text),
                };
                Err((err, retry_after))
            }
            Err(ureq::Error::Transport(t)) => {
                let timed_out = std::error::Error::source(&t)
                    .and_then(|s| s.downcast_ref::<std::io::Error>())
                    .is_some_and(is_timeout);
                let err = match t.kind() {
                    _ if timed_out => self.timeout_error(url),
                    ureq::ErrorKind::InvalidUrl | ureq::ErrorKind::UnknownScheme => {
                        Error::Config(t.to_string())
                    }
                    _ => Error::Transport {
                        url: url.to_owned(),
                        message: t.to_string(),
                    },
                };
                Err((err, None))
            }
        }
    }

    fn timeout_error(&self, url: &str) -> Error {
        Error::Timeout {
            url: url.to_owned(),
            seconds: self.timeout.as_secs_f64(),
        }
    }
}

impl Sampler for OpenAiSampler {
    type Error = Error;

    fn sample(&self, request: &SampleRequest) -> Result<Vec<Completion>, Error> {
        let url = self.endpoint(request);
        let chat = matches!(request.input, PromptInput::Chat(_));
        let per = self.n_per_request.unwrap_or(request.n).max(1);
        let mut out = Vec::with_capacity(request.n as usize);
        let mut chunk = 0u64;
        while out.len() < request.n as usize {
            let n = per.min(request.n - out.len() as u32);
            let seed = request.seed.map(|s| s.wrapping_add(chunk));
            let text = self.post(&url, &self.body(request, n, seed))?;
            let completions =
                parse_completions(&text, chat).map_err(|message| Error::Malformed {
                    url: url.clone(),
                    message,
                })?;
            if completions.len() != n as usize {
                return Err(Error::Malformed {
                    url,
                    message: format!(
                        "asked for {n} choices, got {} (a server that ignores `n` needs \
                         n_per_request(Some(1)))",
                        completions.len()
                    ),
                });
            }
            out.extend(completions);
            chunk += 1;
        }
        Ok(out)
    }

    /// Up to the concurrency limit at once, on scoped threads.
    fn sample_all(&self, requests: &[SampleRequest]) -> Vec<Answer> {
        let next = AtomicUsize::new(0);
        let results: Mutex<Vec<Option<Answer>>> =
            Mutex::new((0..requests.len()).map(|_| None).collect());
        std::thread::scope(|scope| {
            for _ in 0..self.concurrency.min(requests.len()) {
                scope.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(request) = requests.get(i) else {
                            break;
                        };
                        let result = self.sample(request);
                        results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(result);
                    }
                });
            }
        });
        results
            .into_inner()
            .unwrap_or_else(|e| e.into_inner())
            .into_iter()
            .map(|r| r.expect("every request is answered"))
            .collect()
    }
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
    )
}

/// The `k`-th retry's wait: between half and all of `min(max, initial * 2^(k-1))`.
fn backoff(initial: Duration, max: Duration, attempt: u32) -> Duration {
    let exp = initial
        .saturating_mul(1u32 << (attempt.saturating_sub(1)).min(20))
        .min(max);
    exp / 2 + exp.mul_f64(random_unit() / 2.0)
}

/// A random number in `[0, 1)`, from the standard library's random hash keys.
fn random_unit() -> f64 {
    use std::hash::{BuildHasher, RandomState};
    let bits = RandomState::new().hash_one(std::time::SystemTime::now());
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

/// The server's error message: `error.message`, `error` or `message` of a JSON body,
/// else the body itself (capped).
fn error_message(body: &str) -> String {
    if let Ok(json) = serde_json::from_str::<Json>(body) {
        let found = match &json {
            Json::Object(map) => match map.get("error") {
                Some(Json::Object(e)) => e.get("message").and_then(Json::as_str),
                Some(Json::String(s)) => Some(s.as_str()),
                _ => map.get("message").and_then(Json::as_str),
            },
            _ => None,
        };
        if let Some(message) = found {
            return message.to_owned();
        }
    }
    let body = body.trim();
    if body.is_empty() {
        return "(empty body)".into();
    }
    match body.char_indices().nth(500) {
        Some((i, _)) => format!("{}...", &body[..i]),
        None => body.to_owned(),
    }
}

#[derive(Deserialize)]
struct Response {
    choices: Vec<Choice>,
}

#[derive(Deserialize)]
struct Choice {
    #[serde(default)]
    index: Option<u64>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    message: Option<ChoiceMessage>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct ChoiceMessage {
    #[serde(default)]
    content: Option<String>,
}

/// The completions of a 2xx body, in `index` order.
fn parse_completions(body: &str, chat: bool) -> Result<Vec<Completion>, String> {
    let response: Response = serde_json::from_str(body).map_err(|e| e.to_string())?;
    let mut choices: Vec<(u64, Completion)> = Vec::with_capacity(response.choices.len());
    for (i, choice) in response.choices.into_iter().enumerate() {
        let text = if chat {
            let message = choice
                .message
                .ok_or_else(|| format!("choice {i} has no `message`"))?;
            message.content.unwrap_or_default()
        } else {
            choice
                .text
                .ok_or_else(|| format!("choice {i} has no `text`"))?
        };
        let index = choice.index.unwrap_or(i as u64);
        choices.push((index, Completion::new(text, choice.finish_reason)));
    }
    choices.sort_by_key(|(index, _)| *index);
    Ok(choices.into_iter().map(|(_, c)| c).collect())
}

/// A counting semaphore: at most `n` holders at once.
#[derive(Debug)]
struct Semaphore {
    free: Mutex<usize>,
    released: Condvar,
}

struct Permit<'a>(&'a Semaphore);

impl Semaphore {
    fn new(n: usize) -> Semaphore {
        Semaphore {
            free: Mutex::new(n),
            released: Condvar::new(),
        }
    }

    fn acquire(&self) -> Permit<'_> {
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        while *free == 0 {
            free = self.released.wait(free).unwrap_or_else(|e| e.into_inner());
        }
        *free -= 1;
        Permit(self)
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        *self.0.free.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        self.0.released.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_semaphore_holds_its_limit() {
        let sem = Semaphore::new(2);
        let inside = AtomicUsize::new(0);
        let most = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    let _permit = sem.acquire();
                    let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(20));
                    inside.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        assert_eq!(most.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn backoff_doubles_with_jitter_up_to_its_cap() {
        let ms = Duration::from_millis;
        for _ in 0..50 {
            let first = backoff(ms(100), ms(1000), 1);
            assert!(first >= ms(50) && first <= ms(100), "{first:?}");
            let third = backoff(ms(100), ms(1000), 3);
            assert!(third >= ms(200) && third <= ms(400), "{third:?}");
            let tenth = backoff(ms(100), ms(1000), 10);
            assert!(tenth >= ms(500) && tenth <= ms(1000), "{tenth:?}");
        }
    }

    #[test]
    fn error_messages_are_found_in_the_usual_shapes() {
        let cases = [
            (
                r#"{"error": {"message": "bad model", "type": "x"}}"#,
                "bad model",
            ),
            (r#"{"error": "model not found"}"#, "model not found"),
            (r#"{"object": "error", "message": "too long"}"#, "too long"),
            ("plain text", "plain text"),
            ("", "(empty body)"),
        ];
        for (body, want) in cases {
            assert_eq!(error_message(body), want);
        }
        assert_eq!(error_message(&"x".repeat(600)).len(), 503);
    }

    #[test]
    fn choices_are_put_in_index_order() {
        let body = r#"{"choices": [
            {"index": 1, "text": "b", "finish_reason": "length"},
            {"index": 0, "text": "a", "finish_reason": "stop"}]}"#;
        let got = parse_completions(body, false).unwrap();
        assert_eq!(
            got,
            [
                Completion::new("a", Some("stop".into())),
                Completion::new("b", Some("length".into()))
            ]
        );
        assert_eq!(
            parse_completions(body, true).unwrap_err(),
            "choice 0 has no `message`"
        );
    }
}
