//! The OpenAI-compatible sampler against a local HTTP server that speaks the protocol
//! (loopback only; every loop is bounded and every wait has a timeout).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nxt_selftrain::{
    ChatMessage, Error, OpenAiSampler, OpenAiSamplerBuilder, SampleRequest, Sampler,
};
use serde_json::{Value as Json, json};

/// What the server answers to one connection.
enum Reply {
    /// A status, extra headers and a body, after a delay.
    Canned {
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: String,
        delay: Duration,
    },
    /// A completions body whose one choice's text is the request's prompt.
    Echo,
}

fn ok(body: Json) -> Reply {
    status(200, body.to_string())
}

fn status(status: u16, body: impl Into<String>) -> Reply {
    Reply::Canned {
        status,
        headers: vec![],
        body: body.into(),
        delay: Duration::ZERO,
    }
}

/// A request as the server saw it.
#[derive(Debug)]
struct Seen {
    request_line: String,
    headers: Vec<(String, String)>,
    body: Json,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

struct Server {
    base_url: String,
    handle: JoinHandle<Vec<Seen>>,
}

impl Server {
    /// Serves `replies`, one per connection in the order of acceptance; gives up waiting for a
    /// connection after 10 seconds.
    fn start(replies: Vec<Reply>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base_url = format!("http://{}/v1", listener.local_addr().unwrap());
        listener.set_nonblocking(true).unwrap();
        let handle = std::thread::spawn(move || {
            let mut served = Vec::new();
            for reply in replies {
                let deadline = Instant::now() + Duration::from_secs(10);
                let stream = loop {
                    match listener.accept() {
                        Ok((stream, _)) => break Some(stream),
                        Err(_) if Instant::now() < deadline => {
                            std::thread::sleep(Duration::from_millis(5))
                        }
                        Err(_) => break None,
                    }
                };
                let Some(stream) = stream else { break };
                // One thread per connection, so a slow reply does not hold up the next.
                served.push(std::thread::spawn(move || serve_one(stream, reply)));
            }
            served
                .into_iter()
                .filter_map(|h| h.join().unwrap())
                .collect()
        });
        Server { base_url, handle }
    }

    fn sampler(&self) -> OpenAiSamplerBuilder {
        let mut b = OpenAiSamplerBuilder::new();
        b.base_url(&self.base_url)
            .model("test-model")
            .api_key_env(None)
            .timeout(Duration::from_secs(5))
            .backoff(Duration::from_millis(10), Duration::from_millis(50));
        b
    }

    fn finish(self) -> Vec<Seen> {
        self.handle.join().unwrap()
    }
}

fn serve_one(mut stream: TcpStream, reply: Reply) -> Option<Seen> {
    stream.set_nonblocking(false).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let header_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 || buf.len() > 1 << 20 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..header_end]).into_owned();
    let mut lines = head.split("\r\n");
    let request_line = lines.next()?.to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[header_end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    let body: Json = serde_json::from_slice(&body).unwrap_or(Json::Null);
    let (code, extra, text, delay) = match reply {
        Reply::Canned {
            status,
            headers,
            body,
            delay,
        } => (status, headers, body, delay),
        Reply::Echo => {
            let text =
                json!({"choices": [{"index": 0, "text": body["prompt"], "finish_reason": "stop"}]});
            (200, vec![], text.to_string(), Duration::ZERO)
        }
    };
    std::thread::sleep(delay);
    let mut response = format!(
        "HTTP/1.1 {code} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        text.len()
    );
    for (k, v) in extra {
        response.push_str(&format!("{k}: {v}\r\n"));
    }
    response.push_str("\r\n");
    response.push_str(&text);
    let _ = stream.write_all(response.as_bytes()); // the client may have given up
    Some(Seen {
        request_line,
        headers,
        body,
    })
}

fn texts(sampler: &OpenAiSampler, request: &SampleRequest) -> Result<Vec<String>, Error> {
    Ok(sampler
        .sample(request)?
        .into_iter()
        .map(|c| c.text)
        .collect())
}

fn chat_request() -> SampleRequest {
    let mut r = SampleRequest::chat(
        "demo/add",
        vec![
            ChatMessage::new("system", "You fix programs."),
            ChatMessage::new("user", "Fix add."),
        ],
    );
    r.n = 2;
    r.temperature = Some(0.8);
    r.top_p = Some(0.95);
    r.max_tokens = Some(256);
    r.stop = vec!["###".into()];
    r.seed = Some(7);
    r
}

#[test]
fn chat_requests_send_every_parameter_and_read_every_choice() {
    let server = Server::start(vec![ok(json!({
        "id": "x", "object": "chat.completion",
        "choices": [
            {"index": 1, "message": {"role": "assistant", "content": "two"}, "finish_reason": "length"},
            {"index": 0, "message": {"role": "assistant", "content": "one"}, "finish_reason": "stop"}
        ]
    }))]);
    let sampler = server
        .sampler()
        .api_key(Some("sk-test".into()))
        .build()
        .unwrap();
    let got = sampler.sample(&chat_request()).unwrap();
    assert_eq!(got[0].text, "one");
    assert_eq!(got[0].finish_reason.as_deref(), Some("stop"));
    assert_eq!(got[1].text, "two");
    assert_eq!(got[1].finish_reason.as_deref(), Some("length"));

    let seen = server.finish();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].request_line, "POST /v1/chat/completions HTTP/1.1");
    assert_eq!(seen[0].header("authorization"), Some("Bearer sk-test"));
    assert_eq!(seen[0].header("content-type"), Some("application/json"));
    assert_eq!(
        seen[0].body,
        json!({
            "model": "test-model",
            "messages": [
                {"role": "system", "content": "You fix programs."},
                {"role": "user", "content": "Fix add."}
            ],
            "n": 2, "temperature": 0.8, "top_p": 0.95, "max_tokens": 256,
            "stop": ["###"], "seed": 7
        })
    );
}

#[test]
fn text_requests_go_to_completions_without_a_key() {
    let server = Server::start(vec![ok(json!({
        "choices": [{"index": 0, "text": " return a + b", "finish_reason": "stop"}]
    }))]);
    let sampler = server.sampler().build().unwrap();
    let request = SampleRequest::text("demo/add", "def add(a, b):\n");
    assert_eq!(texts(&sampler, &request).unwrap(), [" return a + b"]);
    let seen = server.finish();
    assert_eq!(seen[0].request_line, "POST /v1/completions HTTP/1.1");
    assert_eq!(seen[0].header("authorization"), None);
    assert_eq!(
        seen[0].body,
        json!({"model": "test-model", "prompt": "def add(a, b):\n", "n": 1})
    );
}

#[test]
fn n_is_split_over_requests_when_the_server_takes_one_at_a_time() {
    let one = |t: &str| ok(json!({"choices": [{"message": {"content": t}}]}));
    let server = Server::start(vec![one("a"), one("b")]);
    let sampler = server.sampler().n_per_request(Some(1)).build().unwrap();
    assert_eq!(texts(&sampler, &chat_request()).unwrap(), ["a", "b"]);
    let seen = server.finish();
    let seeds: Vec<&Json> = seen.iter().map(|s| &s.body["seed"]).collect();
    assert_eq!(seeds, [&json!(7), &json!(8)]);
    assert!(seen.iter().all(|s| s.body["n"] == json!(1)));
}

#[test]
fn fewer_choices_than_asked_is_an_error() {
    let server = Server::start(vec![ok(
        json!({"choices": [{"message": {"content": "a"}}]}),
    )]);
    let sampler = server.sampler().build().unwrap();
    let err = sampler.sample(&chat_request()).unwrap_err();
    assert!(matches!(err, Error::Malformed { .. }), "{err}");
    assert!(
        err.to_string().contains("asked for 2 choices, got 1"),
        "{err}"
    );
    server.finish();
}

#[test]
fn a_429_is_retried_after_what_retry_after_says() {
    let server = Server::start(vec![
        Reply::Canned {
            status: 429,
            headers: vec![("Retry-After", "1".into())],
            body: r#"{"error": {"message": "slow down"}}"#.into(),
            delay: Duration::ZERO,
        },
        ok(json!({"choices": [{"text": "fine"}]})),
    ]);
    let sampler = server.sampler().build().unwrap();
    let start = Instant::now();
    assert_eq!(
        texts(&sampler, &SampleRequest::text("t", "p")).unwrap(),
        ["fine"]
    );
    // The backoff alone would wait at most 50 ms.
    assert!(
        start.elapsed() >= Duration::from_millis(900),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(server.finish().len(), 2);
}

#[test]
fn a_500_is_retried() {
    let server = Server::start(vec![
        status(500, "internal error"),
        status(503, ""),
        ok(json!({"choices": [{"text": "fine"}]})),
    ]);
    let sampler = server.sampler().build().unwrap();
    assert_eq!(
        texts(&sampler, &SampleRequest::text("t", "p")).unwrap(),
        ["fine"]
    );
    assert_eq!(server.finish().len(), 3);
}

#[test]
fn retries_run_out() {
    let server = Server::start(vec![
        status(502, "bad gateway"),
        status(502, "bad gateway"),
        status(502, "bad gateway"),
    ]);
    let sampler = server.sampler().max_retries(2).build().unwrap();
    let err = sampler.sample(&SampleRequest::text("t", "p")).unwrap_err();
    let Error::GaveUp { attempts, last } = &err else {
        panic!("{err}");
    };
    assert_eq!(*attempts, 3);
    assert!(
        matches!(**last, Error::Status { status: 502, ref message, .. } if message == "bad gateway"),
        "{last}"
    );
    assert_eq!(server.finish().len(), 3);
}

#[test]
fn a_400_is_not_retried_and_carries_the_servers_message() {
    let server = Server::start(vec![status(
        400,
        r#"{"error": {"message": "This model's maximum context length is 4096 tokens", "type": "invalid_request_error"}}"#,
    )]);
    let sampler = server.sampler().build().unwrap();
    let err = sampler.sample(&SampleRequest::text("t", "p")).unwrap_err();
    match &err {
        Error::Status {
            status, message, ..
        } => {
            assert_eq!(*status, 400);
            assert_eq!(
                message,
                "This model's maximum context length is 4096 tokens"
            );
        }
        other => panic!("{other}"),
    }
    assert!(!err.is_retryable());
    assert!(
        err.to_string().ends_with(
            "/v1/completions: HTTP 400: This model's maximum context length is 4096 tokens"
        ),
        "{err}"
    );
    assert_eq!(server.finish().len(), 1);
}

#[test]
fn a_slow_server_times_out_and_is_retried() {
    let slow = || Reply::Canned {
        status: 200,
        headers: vec![],
        body: json!({"choices": [{"text": "late"}]}).to_string(),
        delay: Duration::from_millis(1500),
    };
    let server = Server::start(vec![slow(), ok(json!({"choices": [{"text": "fine"}]}))]);
    let sampler = server
        .sampler()
        .timeout(Duration::from_millis(300))
        .max_retries(1)
        .build()
        .unwrap();
    assert_eq!(
        texts(&sampler, &SampleRequest::text("t", "p")).unwrap(),
        ["fine"]
    );
    server.finish();

    let server = Server::start(vec![slow()]);
    let sampler = server
        .sampler()
        .timeout(Duration::from_millis(300))
        .max_retries(0)
        .build()
        .unwrap();
    let err = sampler.sample(&SampleRequest::text("t", "p")).unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    server.finish();
}

#[test]
fn a_malformed_body_is_an_error_not_a_retry() {
    let server = Server::start(vec![status(200, "{\"choices\": [{\"text\": ")]);
    let sampler = server.sampler().build().unwrap();
    let err = sampler.sample(&SampleRequest::text("t", "p")).unwrap_err();
    assert!(matches!(err, Error::Malformed { .. }), "{err:?}");
    assert_eq!(server.finish().len(), 1);

    let server = Server::start(vec![ok(
        json!({"choices": [{"message": {"content": "x"}}]}),
    )]);
    let sampler = server.sampler().build().unwrap();
    let err = sampler.sample(&SampleRequest::text("t", "p")).unwrap_err();
    assert!(err.to_string().contains("choice 0 has no `text`"), "{err}");
    server.finish();
}

#[test]
fn a_refused_connection_is_retried_then_given_up() {
    // A port that was just free: nothing listens there.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let sampler = OpenAiSamplerBuilder::new()
        .base_url(format!("http://127.0.0.1:{port}/v1"))
        .model("m")
        .api_key_env(None)
        .max_retries(1)
        .backoff(Duration::from_millis(1), Duration::from_millis(1))
        .build()
        .unwrap();
    let err = sampler.sample(&SampleRequest::text("t", "p")).unwrap_err();
    assert!(
        matches!(&err, Error::GaveUp { attempts: 2, last } if matches!(**last, Error::Transport { .. })),
        "{err:?}"
    );
}

#[test]
fn sample_all_keeps_the_order_of_the_requests() {
    let server = Server::start((0..6).map(|_| Reply::Echo).collect());
    let sampler = server.sampler().concurrency(3).build().unwrap();
    let requests: Vec<SampleRequest> = (0..6)
        .map(|i| SampleRequest::text(format!("t{i}"), format!("p{i}")))
        .collect();
    let got: Vec<String> = sampler
        .sample_all(&requests)
        .into_iter()
        .map(|r| r.unwrap().remove(0).text)
        .collect();
    assert_eq!(got, ["p0", "p1", "p2", "p3", "p4", "p5"]);
    assert_eq!(server.finish().len(), 6);
}

#[test]
fn bad_configurations_are_refused() {
    let err = OpenAiSamplerBuilder::new().build().unwrap_err();
    assert_eq!(err.to_string(), "bad configuration: no model given");
    let err = OpenAiSamplerBuilder::new()
        .model("m")
        .base_url("ftp://x")
        .build()
        .unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err}");
    let err = OpenAiSamplerBuilder::new()
        .model("m")
        .concurrency(0)
        .build()
        .unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err}");
}
