//! The prompt's templates: the defaults shipped in the crate, or a directory of files
//! that replace some of them.

use std::path::Path;

use minijinja::value::Serde;
use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde::Serialize;

use crate::PromptError;

/// The file names of the prompt's templates, in the order they are described in
/// `docs/prompts.md`.
pub const TEMPLATE_NAMES: [&str; 4] = ["system.j2", "problem.j2", "answer.j2", "text.j2"];

const DEFAULTS: [(&str, &str); 4] = [
    ("system.j2", include_str!("../templates/system.j2")),
    ("problem.j2", include_str!("../templates/problem.j2")),
    ("answer.j2", include_str!("../templates/answer.j2")),
    ("text.j2", include_str!("../templates/text.j2")),
];

/// The default templates shipped in the crate, as `(file name, source)` pairs: a
/// starting point for a template directory.
///
/// ```
/// let names: Vec<&str> = nxt_prompt::default_templates().iter().map(|(n, _)| *n).collect();
/// assert_eq!(names, nxt_prompt::TEMPLATE_NAMES);
/// ```
pub fn default_templates() -> &'static [(&'static str, &'static str)] {
    &DEFAULTS
}

/// The compiled templates.
#[derive(Debug)]
pub(crate) struct Templates {
    env: Environment<'static>,
}

impl Templates {
    /// The defaults, each replaced by the file of the same name in `dir` if there is one.
    pub(crate) fn load(dir: Option<&Path>) -> Result<Templates, PromptError> {
        let mut sources: Vec<(String, String)> = DEFAULTS
            .iter()
            .map(|(n, s)| ((*n).to_owned(), (*s).to_owned()))
            .collect();
        if let Some(dir) = dir {
            let io = |path: &Path, source| PromptError::Io {
                path: path.to_owned(),
                source,
            };
            let entries = std::fs::read_dir(dir).map_err(|e| io(dir, e))?;
            for entry in entries {
                let path = entry.map_err(|e| io(dir, e))?.path();
                if path.extension().is_none_or(|e| e != "j2") {
                    continue;
                }
                let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
                let Some(slot) = sources.iter_mut().find(|(n, _)| n == name) else {
                    return Err(PromptError::UnknownTemplate { path });
                };
                slot.1 = std::fs::read_to_string(&path).map_err(|e| io(&path, e))?;
            }
        }
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_auto_escape_callback(|_| AutoEscape::None);
        env.set_debug(false);
        let syntax = env
            .syntax()
            .to_builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .keep_trailing_newline(true)
            .build()
            .expect("the default syntax with whitespace options builds");
        env.set_syntax(syntax);
        env.add_filter("comment", comment);
        for (name, source) in sources {
            env.add_template_owned(name.clone(), source)
                .map_err(|e| template_error(&name, &e))?;
        }
        Ok(Templates { env })
    }

    /// Renders the template `name` with `context`.
    pub(crate) fn render<C: Serialize>(
        &self,
        name: &str,
        context: &C,
    ) -> Result<String, PromptError> {
        let template = self
            .env
            .get_template(name)
            .map_err(|e| template_error(name, &e))?;
        template
            .render(Serde(context))
            .map_err(|e| template_error(name, &e))
    }
}

fn template_error(name: &str, err: &minijinja::Error) -> PromptError {
    let mut message = err.to_string();
    // minijinja says where ("(in problem.j2:3)"); keep that, say nothing twice.
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    PromptError::Template {
        name: name.to_owned(),
        message,
    }
}

/// The `comment` filter: every line of the text as a Python comment (`# ` before it;
/// an empty line becomes `#`).
fn comment(text: &str) -> String {
    text.trim_end_matches(['\n', '\r'])
        .split('\n')
        .map(|line| {
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() {
                "#".to_owned()
            } else {
                format!("# {line}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_comment_filter_prefixes_every_line() {
        assert_eq!(
            comment("Write a function.\n\nIt adds.\n"),
            "# Write a function.\n#\n# It adds."
        );
        assert_eq!(comment("a\r\nb"), "# a\n# b");
    }

    #[test]
    fn templates_in_a_directory_replace_the_defaults() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("answer.j2"), "ANSWER {{ rationale }}").unwrap();
        std::fs::write(dir.path().join("notes.txt"), "not a template").unwrap();
        let t = Templates::load(Some(dir.path())).unwrap();
        #[derive(Serialize)]
        struct A {
            rationale: &'static str,
        }
        assert_eq!(
            t.render("answer.j2", &A { rationale: "r" }).unwrap(),
            "ANSWER r"
        );

        std::fs::write(dir.path().join("sytem.j2"), "").unwrap();
        let err = Templates::load(Some(dir.path())).unwrap_err();
        assert!(matches!(err, PromptError::UnknownTemplate { .. }), "{err}");
        assert!(err.to_string().contains("system.j2, problem.j2"), "{err}");
    }

    #[test]
    fn template_errors_name_the_template_and_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("problem.j2"), "ok\n{% for x in %}\n").unwrap();
        let err = Templates::load(Some(dir.path())).unwrap_err();
        let PromptError::Template { name, message } = &err else {
            panic!("{err}")
        };
        assert_eq!(name, "problem.j2");
        assert!(message.contains("problem.j2:2"), "{message}");

        // Unknown variables are errors, not empty strings.
        std::fs::write(dir.path().join("problem.j2"), "{{ promt }}").unwrap();
        let t = Templates::load(Some(dir.path())).unwrap();
        let err = t.render("problem.j2", &()).unwrap_err();
        assert!(err.to_string().contains("undefined"), "{err}");
    }

    #[test]
    fn a_missing_directory_is_an_io_error() {
        let err = Templates::load(Some(Path::new("/nonexistent/templates"))).unwrap_err();
        assert!(matches!(err, PromptError::Io { .. }), "{err}");
    }
}
