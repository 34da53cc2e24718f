//! Exporters: the one trait every document writer implements (hyperfine's `export::Exporter`),
//! and the one way an export reaches the disk, whole or not at all.
//!
//! Each exporter lives with what it exports: the report's Markdown and HTML
//! ([`crate::report::Markdown`], [`crate::report::Html`]), `compare.md`
//! ([`crate::compare::CompareMarkdown`]) and a campaign run's `summary.md`
//! ([`crate::results::SummaryMarkdown`]). This module knows none of them and imports nothing
//! from the crate, so all of them can use it; it does not decide what goes into a document.

use std::{
    fs, io,
    path::{Path, PathBuf},
};

/// Writes one kind of input in one format. The input is the exporter's own (a report's
/// document, a comparison, trial records); what a format needs besides (where the plots are, a
/// title) is in the exporter's value.
pub trait Exporter {
    /// What it exports.
    type Input: ?Sized;
    /// The file the export goes to, relative to the output directory.
    fn file_name(&self) -> &'static str;
    /// `input` in this format.
    fn export(&self, input: &Self::Input) -> String;
}

/// Writes `exporter`'s export of `input` to `dir/<file name>` (atomically, as
/// [`write_atomic`]) and returns the path.
pub fn write<E: Exporter + ?Sized>(
    dir: &Path,
    exporter: &E,
    input: &E::Input,
) -> io::Result<PathBuf> {
    let path = dir.join(exporter.file_name());
    write_atomic(&path, exporter.export(input).as_bytes())?;
    Ok(path)
}

/// Writes `bytes` to `path` through a temporary name and a rename, so a reader (or a run
/// stopped by Ctrl-C) never sees half a file. Creates the parent directories.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    fs::write(&tmp, bytes)?;
    fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Words, one per line.
    struct Lines;

    impl Exporter for Lines {
        type Input = [&'static str];
        fn file_name(&self) -> &'static str {
            "lines.txt"
        }
        fn export(&self, input: &[&'static str]) -> String {
            input.iter().map(|w| format!("{w}\n")).collect()
        }
    }

    #[test]
    fn write_puts_the_export_under_its_file_name() {
        let tmp = tempfile::tempdir().expect("tmp");
        let dir = tmp.path().join("out");
        let path = write(&dir, &Lines, &["a", "b"]).expect("write");
        assert_eq!(path, dir.join("lines.txt"));
        assert_eq!(fs::read_to_string(&path).expect("read"), "a\nb\n");
        assert!(
            !dir.join("lines.txt.tmp").exists(),
            "the temporary name is gone"
        );
        let again = write(&dir, &Lines, &["c"]).expect("overwrite");
        assert_eq!(fs::read_to_string(again).expect("read"), "c\n");
    }
}
