//! A Python program to run.

use serde::{Deserialize, Serialize};

/// One Python source text, executed top to bottom as the module `__main__`.
///
/// The source is kept byte for byte (line endings, trailing spaces, a missing final
/// newline), because a rendering must give it back exactly.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Program {
    /// A name for messages and output files (usually the file name); not the source.
    pub name: String,
    /// The program text.
    pub source: String,
}

impl Program {
    /// A program with the given name and source.
    pub fn new(name: impl Into<String>, source: impl Into<String>) -> Program {
        Program {
            name: name.into(),
            source: source.into(),
        }
    }
}
