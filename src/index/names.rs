//! What a file name from the wire may look like before the follower writes it.

/// A plain, visible file name: no directory part, no `..`, no NUL, not empty, not hidden, at most
/// 255 bytes. The follower writes only such names, and only inside its target directory.
pub fn is_safe_file_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && !name.starts_with('.')
        && !name.contains(['/', '\\', '\0'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_names_are_safe() {
        for ok in ["_0.cfs", "segments_3", "_1_Lucene90_0.doc"] {
            assert!(is_safe_file_name(ok), "{ok}");
        }
        for bad in [
            "",
            ".",
            "..",
            "../etc/passwd",
            "/etc/passwd",
            "a/b",
            "a\\b",
            ".hidden",
            "a\0b",
        ] {
            assert!(!is_safe_file_name(bad), "{bad:?}");
        }
        assert!(!is_safe_file_name(&"x".repeat(256)));
    }
}
