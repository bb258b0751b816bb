//! Counting tokens: a Hugging Face tokenizer file, or a documented estimate.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use crate::PromptError;

/// The name a [`TokenCounter::estimate`] reports.
pub const ESTIMATE: &str = "estimate";

/// Counts the tokens of a text, for token budgets and the `tokens` of a
/// [`Prompt`](crate::Prompt).
///
/// - [`TokenCounter::from_file`]: any Hugging Face `tokenizer.json`, loaded offline with
///   the `tokenizers` crate; tokens are the length of the encoding without special
///   tokens, with the file's truncation and padding turned off.
/// - [`TokenCounter::estimate`]: no tokenizer, [`estimate_tokens`].
/// - [`TokenCounter::custom`]: any function.
///
/// Cloning is cheap.
#[derive(Clone)]
pub struct TokenCounter {
    name: String,
    kind: Kind,
}

#[derive(Clone)]
enum Kind {
    Estimate,
    Tokenizer(Arc<tokenizers::Tokenizer>),
    Custom(Arc<dyn Fn(&str) -> usize + Send + Sync>),
}

impl fmt::Debug for TokenCounter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("TokenCounter").field(&self.name).finish()
    }
}

impl Default for TokenCounter {
    fn default() -> TokenCounter {
        TokenCounter::estimate()
    }
}

impl TokenCounter {
    /// The estimate of [`estimate_tokens`], named [`ESTIMATE`].
    pub fn estimate() -> TokenCounter {
        TokenCounter {
            name: ESTIMATE.to_owned(),
            kind: Kind::Estimate,
        }
    }

    /// Loads a Hugging Face tokenizer file (`tokenizer.json`). The counter is named
    /// after the path as given.
    ///
    /// # Errors
    ///
    /// [`PromptError::Tokenizer`] when the file cannot be read or is not a tokenizer
    /// (or uses a part this build leaves out, such as the `onig` regex engine's
    /// syntax, which `fancy-regex` does not read).
    pub fn from_file(path: impl AsRef<Path>) -> Result<TokenCounter, PromptError> {
        let path = path.as_ref();
        let err = |message: String| PromptError::Tokenizer {
            path: path.to_owned(),
            message,
        };
        let tokenizer = tokenizers::Tokenizer::from_file(path).map_err(|e| err(e.to_string()))?;
        let counter = TokenCounter::from_tokenizer(path.display().to_string(), tokenizer)
            .map_err(|e| err(e.to_string()))?;
        Ok(counter)
    }

    /// A counter with a tokenizer already loaded. Its truncation and padding are turned
    /// off, so that long texts are counted whole.
    ///
    /// # Errors
    ///
    /// The tokenizer's error when it cannot encode a short probe text.
    pub fn from_tokenizer(
        name: impl Into<String>,
        mut tokenizer: tokenizers::Tokenizer,
    ) -> Result<TokenCounter, tokenizers::Error> {
        tokenizer.with_truncation(None)?;
        tokenizer.with_padding(None);
        tokenizer.encode("def f(x):  # (0) x=1;\n", false)?;
        Ok(TokenCounter {
            name: name.into(),
            kind: Kind::Tokenizer(Arc::new(tokenizer)),
        })
    }

    /// A counter that calls `count`.
    pub fn custom<F>(name: impl Into<String>, count: F) -> TokenCounter
    where
        F: Fn(&str) -> usize + Send + Sync + 'static,
    {
        TokenCounter {
            name: name.into(),
            kind: Kind::Custom(Arc::new(count)),
        }
    }

    /// The counter's name: [`ESTIMATE`], the tokenizer file's path, or the custom name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether this is the estimate.
    pub fn is_estimate(&self) -> bool {
        matches!(self.kind, Kind::Estimate)
    }

    /// The tokens of `text`. A tokenizer that fails to encode it (which a tokenizer that
    /// encoded the probe text of [`TokenCounter::from_tokenizer`] does not do in
    /// practice) is counted with the estimate.
    pub fn count(&self, text: &str) -> usize {
        match &self.kind {
            Kind::Estimate => estimate_tokens(text),
            Kind::Tokenizer(t) => t
                .encode(text, false)
                .map_or_else(|_| estimate_tokens(text), |e| e.len()),
            Kind::Custom(f) => f(text),
        }
    }
}

/// Estimates the tokens of `text` without a tokenizer.
///
/// The text is cut into pieces, each worth:
///
/// - a *word* (an ASCII letter or `_`, then ASCII letters, digits and `_`): one token per
///   5 characters or part of 5; a single space just before a word is part of it, free;
/// - a digit (outside a word): one token;
/// - a run of spaces (less the one a word takes): one token;
/// - any other character (punctuation, a newline, a tab, each non-ASCII character): one
///   token.
///
/// Calibrated with `examples/calibrate_estimate.rs` on 200 text prompts of MBPP tasks
/// 11–110 (traced, 0- and 3-shot) against the byte-level BPE tokenizer shipped for
/// tests (`fixtures/prompt/tokenizer.json`, 4,096 tokens): the estimate is 1.03 to 1.39
/// times the tokenizer's count (1.16 on average) and never lower. The tokenizers of
/// large models (32k–200k tokens) have longer tokens still, so a budget met by the
/// estimate is usually met by the model's tokenizer too; text in other scripts than
/// Latin is the exception (one token per character here, often more in a byte-level
/// tokenizer). See `docs/prompts.md`.
///
/// ```
/// use nxt_prompt::estimate_tokens;
///
/// assert_eq!(estimate_tokens(""), 0);
/// // "def", " add", "(", "a", ",", " b", ")", ":"
/// assert_eq!(estimate_tokens("def add(a, b):"), 8);
/// // "    " + " return" (2: 6 letters), " x", "  ", "#", " ", "(", "1", "2", ")", " counter" (2), "=", "1", ";"
/// assert_eq!(estimate_tokens("     return x  # (12) counter=1;"), 16);
/// ```
pub fn estimate_tokens(text: &str) -> usize {
    let is_word_start = |c: char| c.is_ascii_alphabetic() || c == '_';
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut tokens = 0;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == ' ' {
            let mut run: usize = 1;
            while chars.peek() == Some(&' ') {
                chars.next();
                run += 1;
            }
            if chars.peek().is_some_and(|&n| is_word_start(n)) {
                run -= 1;
            }
            tokens += usize::from(run > 0);
        } else if is_word_start(c) {
            let mut len: usize = 1;
            while chars.next_if(|&n| is_word(n)).is_some() {
                len += 1;
            }
            tokens += len.div_ceil(5);
        } else {
            tokens += 1;
        }
    }
    tokens
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_estimate_counts_pieces() {
        assert_eq!(estimate_tokens("abcde"), 1);
        assert_eq!(estimate_tokens("abcdef"), 2);
        assert_eq!(estimate_tokens("x1_y2"), 1);
        assert_eq!(estimate_tokens("1234"), 4);
        assert_eq!(estimate_tokens(" x"), 1);
        assert_eq!(estimate_tokens("        x"), 2);
        assert_eq!(estimate_tokens("x  "), 2);
        assert_eq!(estimate_tokens("a\n\nb"), 4);
        assert_eq!(estimate_tokens("\t= é"), 4);
    }

    #[test]
    fn custom_counters_are_called() {
        let c = TokenCounter::custom("words", |s: &str| s.split_whitespace().count());
        assert_eq!(c.count("a b c"), 3);
        assert_eq!(c.name(), "words");
        assert!(!c.is_estimate());
        assert!(TokenCounter::default().is_estimate());
        assert_eq!(
            format!("{:?}", TokenCounter::estimate()),
            "TokenCounter(\"estimate\")"
        );
    }
}
