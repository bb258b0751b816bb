//! What the engine cannot run like CPython 3.11: found before a run (imports of
//! modules RustPython lacks, constructs whose trace it cannot give) and after it (a
//! run that failed importing such a module).

use rustpython_ruff_python_ast::visitor::{Visitor, walk_expr, walk_stmt};
use rustpython_ruff_python_ast::{Expr, Stmt};

/// Modules of CPython 3.11's standard library that RustPython 0.5.0's frozen
/// standard library cannot import (measured: `sys.stdlib_module_names` of CPython
/// 3.11 imported one by one in the engine; `tests/engine.rs` checks the list).
/// A program that imports one of them is `unsupported`.
pub const MISSING_MODULES: &[&str] = &[
    "_bootsubprocess",
    "_codecs_cn",
    "_codecs_hk",
    "_codecs_iso2022",
    "_codecs_jp",
    "_codecs_kr",
    "_codecs_tw",
    "_compression",
    "_crypt",
    "_curses",
    "_curses_panel",
    "_datetime",
    "_dbm",
    "_decimal",
    "_elementtree",
    "_gdbm",
    "_heapq",
    "_lsprof",
    "_msi",
    "_multibytecodec",
    "_overlapped",
    "_pickle",
    "_queue",
    "_scproxy",
    "_sqlite3",
    "_ssl",
    "_tkinter",
    "_tracemalloc",
    "_winapi",
    "_zoneinfo",
    "aifc",
    "asynchat",
    "asyncore",
    "audioop",
    "cProfile",
    "cgi",
    "cgitb",
    "chunk",
    "crypt",
    "curses",
    "distutils",
    "idlelib",
    "imghdr",
    "imp",
    "lib2to3",
    "mailcap",
    "msilib",
    "msvcrt",
    "nis",
    "nntplib",
    "nt",
    "ossaudiodev",
    "pipes",
    "profile",
    "pstats",
    "readline",
    "rlcompleter",
    "smtpd",
    "sndhdr",
    "spwd",
    "sqlite3",
    "ssl",
    "sunau",
    "telnetlib",
    "tkinter",
    "tracemalloc",
    "turtle",
    "turtledemo",
    "uu",
    "winreg",
    "winsound",
    "xdrlib",
];

/// What a program is run for: tracing needs more of the engine than verifying.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// Recording a trace (`sys.settrace`).
    Trace,
    /// Running it against tests.
    Verify,
}

/// Why the engine cannot run `source` as CPython 3.11 would, if it can tell before
/// running it: an import of a module in [`MISSING_MODULES`], or, for tracing, a
/// construct whose events RustPython 0.5.0 does not give (`yield from`, `await`,
/// `async` functions). `None` when nothing stands in the way (a source that does not
/// parse is left to the run, which reports the syntax error).
pub fn unsupported_reason(source: &str, purpose: Purpose) -> Option<String> {
    let parsed = rustpython_ruff_python_parser::parse_module(source).ok()?;
    let mut finder = Finder {
        purpose,
        reason: None,
    };
    for stmt in parsed.suite() {
        finder.visit_stmt(stmt);
        if finder.reason.is_some() {
            break;
        }
    }
    finder.reason
}

/// Whether `source` builds sets (a set display or comprehension, or any use of the
/// names `set` or `frozenset`). RustPython 0.5.0 iterates sets in another order than CPython
/// (insertion order, where CPython's follows the hash table), so what such a program
/// prints, returns or renders may differ.
pub fn uses_sets(source: &str) -> bool {
    let Ok(parsed) = rustpython_ruff_python_parser::parse_module(source) else {
        return false;
    };
    let mut finder = SetFinder(false);
    for stmt in parsed.suite() {
        finder.visit_stmt(stmt);
    }
    finder.0
}

struct SetFinder(bool);

impl<'a> Visitor<'a> for SetFinder {
    fn visit_expr(&mut self, expr: &'a Expr) {
        match expr {
            Expr::Set(_) | Expr::SetComp(_) => self.0 = true,
            // `set(...)`, `map(set, ...)`, `set.intersection(...)`
            Expr::Name(name) if matches!(name.id.as_str(), "set" | "frozenset") => self.0 = true,
            _ => {}
        }
        if !self.0 {
            walk_expr(self, expr);
        }
    }
}

/// Why a trace of `source` cannot be trusted to match CPython's, beyond
/// [`unsupported_reason`]: it builds sets ([`uses_sets`]).
pub fn trace_caveat(source: &str) -> Option<String> {
    uses_sets(source)
        .then(|| "builds sets, which RustPython iterates in another order than CPython".to_owned())
}

/// The missing module a run's error names (`No module named 'zlib'`, or `cannot
/// import name ... from 'X'` for a module of the list), if any.
pub fn missing_module_in(text: &str) -> Option<&'static str> {
    let start = text.find("No module named '")? + "No module named '".len();
    let rest = &text[start..];
    let name = &rest[..rest.find('\'')?];
    let top = name.split('.').next().unwrap_or(name);
    MISSING_MODULES.iter().copied().find(|m| *m == top)
}

fn missing(module: &str) -> Option<&'static str> {
    let top = module.split('.').next().unwrap_or(module);
    MISSING_MODULES.iter().copied().find(|m| *m == top)
}

struct Finder {
    purpose: Purpose,
    reason: Option<String>,
}

impl<'a> Visitor<'a> for Finder {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        if self.reason.is_some() {
            return;
        }
        match stmt {
            Stmt::Import(import) => {
                for alias in &import.names {
                    if let Some(m) = missing(alias.name.as_str()) {
                        self.reason = Some(format!("imports `{m}`, which RustPython lacks"));
                        return;
                    }
                }
            }
            Stmt::ImportFrom(import) if import.level == 0 => {
                if let Some(m) = import.module.as_ref().and_then(|m| missing(m.as_str())) {
                    self.reason = Some(format!("imports `{m}`, which RustPython lacks"));
                    return;
                }
            }
            Stmt::FunctionDef(def) if def.is_async && self.purpose == Purpose::Trace => {
                self.reason = Some("an `async` function (its trace is not supported)".into());
                return;
            }
            _ => {}
        }
        walk_stmt(self, stmt);
    }

    fn visit_expr(&mut self, expr: &'a Expr) {
        if self.reason.is_some() {
            return;
        }
        if self.purpose == Purpose::Trace {
            match expr {
                Expr::YieldFrom(_) => {
                    self.reason = Some("`yield from` (its trace is not supported)".into());
                    return;
                }
                Expr::Await(_) => {
                    self.reason = Some("`await` (its trace is not supported)".into());
                    return;
                }
                _ => {}
            }
        }
        walk_expr(self, expr);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imports_of_missing_modules_are_unsupported() {
        let r = unsupported_reason("import os\nimport sqlite3\n", Purpose::Verify);
        assert_eq!(
            r.as_deref(),
            Some("imports `sqlite3`, which RustPython lacks")
        );
        let r = unsupported_reason("def f():\n    from tkinter.ttk import x\n", Purpose::Trace);
        assert!(r.unwrap().contains("`tkinter`"));
        assert_eq!(
            unsupported_reason("import math, re\n", Purpose::Trace),
            None
        );
        // relative imports are the program's own
        assert_eq!(
            unsupported_reason("from .ssl import x\n", Purpose::Trace),
            None
        );
    }

    #[test]
    fn constructs_without_a_trace_are_unsupported_for_tracing_only() {
        let src = "def g():\n    yield from range(3)\n";
        assert!(
            unsupported_reason(src, Purpose::Trace)
                .unwrap()
                .contains("yield from")
        );
        assert_eq!(unsupported_reason(src, Purpose::Verify), None);
        let src = "async def f():\n    await g()\n";
        assert!(
            unsupported_reason(src, Purpose::Trace)
                .unwrap()
                .contains("async")
        );
        assert_eq!(unsupported_reason("x = (\n", Purpose::Trace), None);
    }

    #[test]
    fn sets_are_found() {
        assert!(uses_sets("x = {1, 2}\n"));
        assert!(uses_sets("def f(a):\n    return len(set(a))\n"));
        assert!(uses_sets("y = {c for c in 'ab'}\n"));
        assert!(uses_sets("r = list(set.intersection(*map(set, x)))\n"));
        assert!(!uses_sets("d = {1: 2}\nt = sorted(d)\n"));
        assert!(trace_caveat("s = frozenset()\n").is_some());
    }

    #[test]
    fn missing_modules_are_found_in_error_text() {
        assert_eq!(
            missing_module_in("ModuleNotFoundError(\"No module named 'sqlite3.dbapi2'\")"),
            Some("sqlite3")
        );
        assert_eq!(missing_module_in("No module named 'numpy'"), None);
        assert_eq!(missing_module_in("KeyError: 3"), None);
    }
}
