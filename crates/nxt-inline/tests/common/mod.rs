//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

use rustpython_ruff_python_ast::comparable::ComparableModModule;
use rustpython_ruff_python_parser::parse_module;

/// `fixtures/<dir>` of the workspace.
pub fn fixtures(dir: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(dir)
}

/// Reads a file byte for byte (no newline translation).
pub fn read(path: &std::path::Path) -> String {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    String::from_utf8(bytes).expect("fixtures are UTF-8")
}

/// Whether two programs parse to the same syntax tree (ranges and comments ignored).
pub fn same_ast(a: &str, b: &str) -> bool {
    let a = parse_module(a).expect("the first program parses");
    let b = match parse_module(b) {
        Ok(b) => b,
        Err(_) => return false,
    };
    ComparableModModule::from(a.syntax()) == ComparableModModule::from(b.syntax())
}

/// The text with its line terminators made visible, for snapshots: `\n` as `↵`,
/// `\r\n` as `␍↵`, a lone `\r` as `␍`, each followed by a real newline; a last line
/// without a terminator gets none.
pub fn visible(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' if chars.peek() == Some(&'\n') => {
                chars.next();
                out.push_str("␍↵\n");
            }
            '\r' => out.push_str("␍\n"),
            '\n' => out.push_str("↵\n"),
            c => out.push(c),
        }
    }
    out
}
