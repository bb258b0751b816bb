//! Tidy checks over the workspace's sources (rust-analyzer style).

use std::path::Path;

/// Every library crate's `lib.rs` opens with a `//!` overview that has an `# Example`,
/// and denies missing docs.
#[test]
fn every_library_opens_with_an_overview_and_an_example() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut checked = 0;
    for entry in std::fs::read_dir(&crates).unwrap() {
        let lib = entry.unwrap().path().join("src/lib.rs");
        let Ok(text) = std::fs::read_to_string(&lib) else {
            continue; // a binary-only crate
        };
        assert!(
            text.starts_with("//!"),
            "{} must open with a //! overview",
            lib.display()
        );
        let header: String = text
            .lines()
            .take_while(|l| l.starts_with("//!") || l.is_empty())
            .collect::<Vec<_>>()
            .join("\n");
        assert!(
            header.contains("# Example"),
            "{}: the overview needs a runnable `# Example`",
            lib.display()
        );
        assert!(
            text.contains("#![deny(missing_docs)]"),
            "{}: add #![deny(missing_docs)]",
            lib.display()
        );
        checked += 1;
    }
    assert!(checked >= 5, "found only {checked} library crates");
}
