//! Reading a model's answer: the rationale and the fixed program.

use serde::{Deserialize, Serialize};

use crate::ParseError;

/// Where the code of an answer was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CodeSource {
    /// A fenced block marked as Python (` ```python `, ` ```py `, ` ```python3 `).
    PythonBlock,
    /// A fenced block with another or no language.
    OtherBlock,
    /// Lines after the rationale, without a fence.
    Bare,
}

/// A model's answer, split.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Parsed {
    /// The text before the code (trimmed; newlines normalized to `\n`). It ends with
    /// the "Here is a fixed version ...:" line when the answer has one.
    pub rationale: String,
    /// The program: valid Python with at least one statement, newlines normalized to
    /// `\n`, a common indentation removed, ending with one newline.
    pub code: String,
    /// Where the code was found.
    pub source: CodeSource,
}

/// Splits a model's answer into its rationale and its program.
///
/// The rules, in order (`docs/prompts.md`):
///
/// 1. Newlines are normalized (`\r\n` and `\r` become `\n`) and a byte-order mark dropped.
/// 2. Fenced blocks are found: a line of three or more backticks or tildes, indented or
///    not, opens a block that the next line of at least as many of the same characters
///    closes (or a line ending in them, for code glued to its fence), or the end of the
///    answer (a cut-off answer). The info string's first word is the language.
/// 3. The candidates are the blocks marked as Python that hold code (a statement, or
///    text that does not parse), or, without any, all blocks that hold code. The code
///    is the last candidate that defines a function or class at its top level (the
///    fix, rather than a usage example or an output after it); else the last that
///    parses; else the last, reported as not parsing.
/// 4. Without any block: a bare program, from the first line that starts a top-level
///    `def`, `class`, `import`, `from ... import`, `async def` or decorator to the
///    furthest line that still leaves valid Python (so trailing chatter is dropped).
/// 5. The rationale is the text before the code's block (or first line), trimmed.
///
/// ```
/// use nxt_prompt::{CodeSource, ParseError, parse_response};
///
/// let answer = "The loop stops one short.\nHere is a fixed version of the program:\n\
///               ```python\ndef f(n):\n    return list(range(n + 1))\n```\nHope this helps!";
/// let parsed = parse_response(answer)?;
/// assert_eq!(parsed.code, "def f(n):\n    return list(range(n + 1))\n");
/// assert!(parsed.rationale.ends_with("program:"));
/// assert_eq!(parsed.source, CodeSource::PythonBlock);
///
/// assert_eq!(parse_response("I don't know."), Err(ParseError::NoCode));
/// let err = parse_response("```python\ndef f(:\n```").unwrap_err();
/// assert!(matches!(err, ParseError::CodeDoesNotParse { line: 1, .. }), "{err}");
/// # Ok::<(), ParseError>(())
/// ```
///
/// # Errors
///
/// [`ParseError::NoCode`] when there is no code; [`ParseError::CodeDoesNotParse`] when
/// the code found is not valid Python.
pub fn parse_response(text: &str) -> Result<Parsed, ParseError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let lines: Vec<&str> = text.split('\n').collect();
    // Blocks with code in them (a statement, or something that fails to parse).
    let blocks: Vec<Block> = fenced_blocks(&lines)
        .into_iter()
        .filter(|b| check(&b.code) != Err(ParseError::NoCode))
        .collect();

    let rationale_before = |line: usize| lines[..line].join("\n").trim().to_owned();
    if !blocks.is_empty() {
        let python: Vec<&Block> = blocks.iter().filter(|b| b.is_python()).collect();
        let (candidates, source) = if python.is_empty() {
            (blocks.iter().collect(), CodeSource::OtherBlock)
        } else {
            (python, CodeSource::PythonBlock)
        };
        // The fix rather than a usage example or an output after it: the last block
        // that defines something; else the last that parses; else the last.
        let block = candidates
            .iter()
            .rev()
            .find(|b| defines(&b.code))
            .or_else(|| candidates.iter().rev().find(|b| check(&b.code).is_ok()))
            .or(candidates.last())
            .expect("not empty");
        check(&block.code)?;
        return Ok(Parsed {
            rationale: rationale_before(block.open),
            code: block.code.clone(),
            source,
        });
    }

    // A bare program: the first code-like line from which some prefix parses.
    let starts: Vec<usize> = (0..lines.len())
        .filter(|&i| starts_program(lines[i]))
        .collect();
    for &start in &starts {
        // Ends: after the last line, or before any later line at column 0 or blank
        // (where chatter may begin); the furthest that parses wins.
        let ends = (start + 1..lines.len())
            .filter(|&e| lines[e].trim().is_empty() || !lines[e].starts_with([' ', '\t']))
            .chain(std::iter::once(lines.len()));
        let mut ends: Vec<usize> = ends.collect();
        ends.reverse();
        for end in ends {
            let code = finish(&lines[start..end].join("\n"));
            if matches!(check(&code), Ok(())) {
                return Ok(Parsed {
                    rationale: rationale_before(start),
                    code,
                    source: CodeSource::Bare,
                });
            }
        }
    }
    match starts.first() {
        // Report why the most likely program does not parse.
        Some(&start) => {
            let code = finish(&lines[start..].join("\n"));
            check(&code)?;
            unreachable!("a program that parses was accepted above")
        }
        None => Err(ParseError::NoCode),
    }
}

/// A fenced block: the line of its opening fence, its language and its content.
#[derive(Debug)]
struct Block {
    open: usize,
    lang: String,
    code: String,
}

impl Block {
    fn is_python(&self) -> bool {
        matches!(self.lang.as_str(), "python" | "py" | "python3" | "py3")
    }
}

/// The fence that opens a block on this line, if any: its character, its length, its
/// indentation and its language.
fn opening_fence(line: &str) -> Option<(char, usize, usize, String)> {
    let indent = line.len() - line.trim_start_matches(' ').len();
    let rest = &line[indent..];
    let c = rest.chars().next().filter(|&c| c == '`' || c == '~')?;
    let len = rest.chars().take_while(|&x| x == c).count();
    if len < 3 {
        return None;
    }
    let info = rest[len..].trim();
    // A backtick fence's info string has no backtick (else it is inline code).
    if c == '`' && info.contains('`') {
        return None;
    }
    let lang = info
        .trim_start_matches('{')
        .trim_start_matches('.')
        .split(|ch: char| ch.is_whitespace() || ch == '}' || ch == ',')
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    Some((c, len, indent, lang))
}

fn fenced_blocks(lines: &[&str]) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let Some((c, len, indent, lang)) = opening_fence(lines[i]) else {
            i += 1;
            continue;
        };
        let fence: String = std::iter::repeat_n(c, len).collect();
        let mut content: Vec<&str> = Vec::new();
        let mut j = i + 1;
        while j < lines.len() {
            let line = lines[j];
            let trimmed = line.trim();
            if trimmed.len() >= len && trimmed.chars().all(|x| x == c) {
                break;
            }
            // Code glued to its closing fence: `    return x````.
            if let Some(code) = line.trim_end().strip_suffix(fence.as_str())
                && !code.trim().is_empty()
                && !code.trim_end().ends_with(c)
            {
                content.push(code);
                break;
            }
            content.push(line);
            j += 1;
        }
        let content: Vec<&str> = content
            .into_iter()
            .map(|l| {
                let strip = (l.len() - l.trim_start_matches(' ').len()).min(indent);
                &l[strip..]
            })
            .collect();
        blocks.push(Block {
            open: i,
            lang,
            code: finish(&content.join("\n")),
        });
        i = j + 1;
    }
    blocks
}

/// Whether code defines a function or a class at its top level.
fn defines(code: &str) -> bool {
    code.lines()
        .any(|l| l.starts_with("def ") || l.starts_with("class ") || l.starts_with("async def "))
}

/// Whether a line starts a top-level program statement that prose rarely starts with.
fn starts_program(line: &str) -> bool {
    let first = |prefix: &str| line.starts_with(prefix);
    if first("def ") || first("class ") || first("async def ") || first("import ") {
        return true;
    }
    // A decorator: `@dotted.name`, then nothing or a call.
    if let Some(rest) = line.strip_prefix('@') {
        let name_end = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.'))
            .unwrap_or(rest.len());
        let after = rest[name_end..].trim_end();
        return rest.starts_with(|c: char| c.is_alphabetic() || c == '_')
            && (after.is_empty() || after.starts_with('('));
    }
    // `from x import y`, not "from the trace we see".
    if let Some(rest) = line.strip_prefix("from ") {
        let mut words = rest.split_whitespace();
        return words.next().is_some() && words.next() == Some("import");
    }
    false
}

/// The code with trailing whitespace lines dropped, a common indentation removed and
/// one final newline.
fn finish(code: &str) -> String {
    let lines: Vec<&str> = code.split('\n').collect();
    let first = lines.iter().position(|l| !l.trim().is_empty()).unwrap_or(0);
    let last = lines
        .iter()
        .rposition(|l| !l.trim().is_empty())
        .map_or(0, |i| i + 1);
    let lines = &lines[first..last.max(first)];
    let indent = lines
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start_matches([' ', '\t']).len())
        .min()
        .unwrap_or(0);
    let mut out = String::new();
    for l in lines {
        let strip = indent.min(l.len() - l.trim_start_matches([' ', '\t']).len());
        out.push_str(l[strip..].trim_end_matches([' ', '\t']));
        out.push('\n');
    }
    out
}

/// Whether `code` parses as a Python module with at least one statement.
fn check(code: &str) -> Result<(), ParseError> {
    match ruff_python_parser::parse_module(code) {
        Ok(parsed) if parsed.syntax().body.is_empty() => Err(ParseError::NoCode),
        Ok(_) => Ok(()),
        Err(err) => {
            let offset = usize::from(err.location.start()).min(code.len());
            let before = &code[..offset];
            let line = before.matches('\n').count() + 1;
            let line_start = before.rfind('\n').map_or(0, |i| i + 1);
            let column = code[line_start..offset].chars().count() + 1;
            Err(ParseError::CodeDoesNotParse {
                line,
                column,
                message: err.error.to_string(),
                code: code.to_owned(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fences_open_and_close() {
        let lines: Vec<&str> = "a\n```py\nx = 1\n```\n~~~~\ny = 2\n~~~~\n```\nz = 3"
            .split('\n')
            .collect();
        let blocks = fenced_blocks(&lines);
        assert_eq!(blocks.len(), 3);
        assert_eq!(
            (
                blocks[0].open,
                blocks[0].lang.as_str(),
                blocks[0].code.as_str()
            ),
            (1, "py", "x = 1\n")
        );
        assert_eq!(
            (blocks[1].lang.as_str(), blocks[1].code.as_str()),
            ("", "y = 2\n")
        );
        // Unclosed: runs to the end.
        assert_eq!(blocks[2].code, "z = 3\n");
    }

    #[test]
    fn languages_in_braces_and_attributes() {
        assert_eq!(
            opening_fence("```{.python .numberLines}").unwrap().3,
            "python"
        );
        assert_eq!(opening_fence("  ```Python3 title=x").unwrap().3, "python3");
        assert!(opening_fence("``py``").is_none());
        assert!(opening_fence("```x``` inline").is_none());
    }

    #[test]
    fn program_starts() {
        assert!(starts_program("from math import sqrt"));
        assert!(!starts_program("from the trace, we see"));
        assert!(starts_program("@functools.cache"));
        assert!(starts_program("@lru_cache(maxsize=None)"));
        assert!(!starts_program("@user thanks"));
        assert!(!starts_program("    def f():"));
    }

    #[test]
    fn code_is_dedented_and_ends_with_one_newline() {
        assert_eq!(
            finish("\n\n    def f():\n        return 1  \n\n"),
            "def f():\n    return 1\n"
        );
    }

    #[test]
    fn only_comments_is_no_code() {
        assert_eq!(
            parse_response("```python\n# nothing to fix\n```"),
            Err(ParseError::NoCode)
        );
    }
}
