//! What a follower accepts as a leader's file list, before it creates a single file.
//!
//! The list comes from the network: a leader (or anything pretending to be one) may name a file
//! twice, name one that is not a plain file name, or declare more files or bytes than any index
//! has. Each is refused here with the limit it broke, so the follower never sizes a part file
//! to a terabyte or writes two files under one name.

use std::collections::HashSet;

use super::{IndexError, names::is_safe_file_name};
use crate::{protocol::FileMeta, units::ByteSize};

/// The most a leader may declare.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListingLimits {
    /// Files in one session's list.
    pub max_files: u32,
    /// Bytes of any one file.
    pub max_file_size: ByteSize,
}

/// Checks a session's file list: every name plain and unique, the count and each length within
/// `limits`.
pub fn check_listing(files: &[FileMeta], limits: ListingLimits) -> Result<(), IndexError> {
    if files.len() > limits.max_files as usize {
        return Err(IndexError::TooManyFiles {
            files: files.len(),
            max: limits.max_files,
        });
    }
    let mut seen = HashSet::with_capacity(files.len());
    for f in files {
        if !is_safe_file_name(&f.name) {
            return Err(IndexError::UnsafeName(f.name.clone()));
        }
        if !seen.insert(f.name.as_str()) {
            return Err(IndexError::DuplicateName(f.name.clone()));
        }
        if f.len > limits.max_file_size.bytes() {
            return Err(IndexError::FileTooLarge {
                name: f.name.clone(),
                len: f.len,
                max: limits.max_file_size,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: ListingLimits = ListingLimits {
        max_files: 3,
        max_file_size: ByteSize(100),
    };

    fn meta(name: &str, len: u64) -> FileMeta {
        FileMeta {
            name: name.into(),
            len,
            crc32c: 0,
        }
    }

    #[test]
    fn a_plain_list_within_limits_passes() {
        let files = [meta("a", 100), meta("a.rrbench-part", 0), meta("b", 1)];
        check_listing(&files, LIMITS).expect("fine");
    }

    #[test]
    fn duplicates_unsafe_names_and_oversize_are_refused() {
        let err = |files: &[FileMeta]| check_listing(files, LIMITS).expect_err("refused");
        assert!(matches!(
            err(&[meta("a", 1), meta("a", 2)]),
            IndexError::DuplicateName(n) if n == "a"
        ));
        assert!(matches!(
            err(&[meta(".rrbench-parts", 1)]),
            IndexError::UnsafeName(_)
        ));
        assert!(matches!(
            err(&[meta("big", 101)]),
            IndexError::FileTooLarge { len: 101, .. }
        ));
        let many: Vec<_> = (0..4).map(|i| meta(&i.to_string(), 1)).collect();
        let e = err(&many);
        assert!(e.to_string().contains("max_files"), "{e}");
    }
}
