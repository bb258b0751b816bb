//! Removing trace comments from text alone, without the record of a [`Rendering`].
//!
//! [`Rendering`]: crate::Rendering

use ruff_python_ast::token::TokenKind;
use ruff_python_parser::{Mode, ParseOptions};
use ruff_text_size::Ranged;

use crate::layout::physical_lines;

/// Removes trace comments from a rendered program, best effort, for callers that have
/// only the text. When you have the [`Rendering`](crate::Rendering), use
/// [`Rendering::strip`](crate::Rendering::strip) instead: it is exact.
///
/// On every line, the trace comment is the part of the line's last comment that starts
/// at the first `  # (K)` (two spaces, `#`, a space, a step number in parentheses
/// followed by a space or `;`) and runs to the end of the line, which must end with
/// `;`. Python's tokenizer finds the comments, so a `#` inside a string is never taken
/// for one. A last line that reads `# (trace truncated after N steps)` or
/// `# (trace ended: ...)` is removed as the ending line.
///
/// The text alone is ambiguous, so this can be wrong where the original program was
/// unusual:
/// - an original comment that itself contains `  # (K) ` is cut from there;
/// - an original last line that looks like an ending line is removed;
/// - when the renderer added a newline before the ending line (the program did not end
///   with one), that newline is kept: the text cannot tell it from an original one.
///
/// Text that is not valid Python is handled too (the tokenizer recovers), with the same
/// caveats.
///
/// ```
/// let rendered = "x = '  # (9)'  # (0) x='  # (9)';\nfor i in r:  # note  # (1) i=0; ...; (5) i=2;\n";
/// assert_eq!(
///     nxt_inline::strip_trace_comments(rendered),
///     "x = '  # (9)'\nfor i in r:  # note\n"
/// );
/// ```
pub fn strip_trace_comments(rendered: &str) -> String {
    let parsed = ruff_python_parser::parse_unchecked(rendered, ParseOptions::from(Mode::Module));
    let comments: Vec<(usize, usize)> = parsed
        .tokens()
        .iter()
        .filter(|t| t.kind() == TokenKind::Comment)
        .map(|t| (usize::from(t.start()), usize::from(t.end())))
        .collect();
    let lines = physical_lines(rendered);
    let mut keep = lines.len();
    if let Some(last) = lines.last()
        && last.end > last.content_end
        && is_ending_line(&rendered[last.start..last.content_end])
    {
        keep -= 1;
    }
    let mut out = String::with_capacity(rendered.len());
    for line in &lines[..keep] {
        let mut cut = line.content_end;
        // The line's last comment is the one that ends where the line does.
        let i = comments.partition_point(|&(_, end)| end < line.content_end);
        if let Some(&(start, end)) = comments.get(i)
            && end == line.content_end
            && start >= line.start
            && rendered[..end].ends_with(';')
        {
            let from = start.saturating_sub(2).max(line.start);
            if let Some(p) = rendered[from..end]
                .match_indices("  # (")
                .map(|(p, _)| from + p)
                .find(|&p| is_step_start(&rendered[p + 5..end]))
            {
                cut = p;
            }
        }
        out.push_str(&rendered[line.start..cut]);
        out.push_str(&rendered[line.content_end..line.end]);
    }
    out
}

/// Whether `s` starts with `K) ` or `K);` for a number `K`.
fn is_step_start(s: &str) -> bool {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    digits > 0 && matches!(s.as_bytes().get(digits..digits + 2), Some(b") " | b");"))
}

/// Whether `line` is one of the ending lines of spec section 6.
fn is_ending_line(line: &str) -> bool {
    if let Some(rest) = line.strip_prefix("# (trace truncated after ") {
        return rest
            .strip_suffix(" steps)")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    }
    line.strip_prefix("# (trace ended")
        .is_some_and(|rest| rest.ends_with(')'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_lines_lose_their_trace_comments() {
        assert_eq!(
            strip_trace_comments("x = 1  # (0) x=1; (3) x=2;\r\ny = 2\rz = 3  # (1);"),
            "x = 1\r\ny = 2\rz = 3"
        );
        assert_eq!(
            strip_trace_comments("for i in r:  # (3) n=1; (5) n=2; ...; (21) n=10;\n    pass\n"),
            "for i in r:\n    pass\n"
        );
    }

    #[test]
    fn original_comments_and_strings_stay() {
        let text = "x = 1  # keep me   # (0) x=1;\ns = '#  # (1) s=1;'\nt = 1  # (2);x\n";
        assert_eq!(
            strip_trace_comments(text),
            "x = 1  # keep me \ns = '#  # (1) s=1;'\nt = 1  # (2);x\n"
        );
        // Values may contain anything, `  # (K)` included.
        let text = "s = 1  # (0) s='a  # (7) b';\n";
        assert_eq!(strip_trace_comments(text), "s = 1\n");
        // Multi-line strings are not comments.
        let text = "s = '''\n  # (0) s=1;\n'''  # (0) s='\\n  # (0) s=1;\\n';\n";
        assert_eq!(strip_trace_comments(text), "s = '''\n  # (0) s=1;\n'''\n");
    }

    #[test]
    fn ending_lines_go() {
        assert_eq!(
            strip_trace_comments("x = 1  # (0) x=1;\n# (trace truncated after 1 steps)\n"),
            "x = 1\n"
        );
        assert_eq!(
            strip_trace_comments("x = 1\r\n# (trace ended: time limit of 0.5 s)\r\n"),
            "x = 1\r\n"
        );
        // Not the last line, or no newline: not an ending line.
        let text = "# (trace ended: memory limit)\nx = 1\n";
        assert_eq!(strip_trace_comments(text), text);
        assert_eq!(
            strip_trace_comments("# (trace ended: memory limit)"),
            "# (trace ended: memory limit)"
        );
        assert_eq!(
            strip_trace_comments("# (trace truncated after many steps)\n"),
            "# (trace truncated after many steps)\n"
        );
    }

    #[test]
    fn invalid_python_is_tolerated() {
        assert_eq!(strip_trace_comments("x = (  # (0) x=1;\n"), "x = (\n");
        assert_eq!(strip_trace_comments(""), "");
    }
}
