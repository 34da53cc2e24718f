//! An index of several shards on disk: one directory per shard, `D/0/`, `D/1/`, ..., each an
//! [`IndexSnapshot`] of its own. An index of one shard may also be a plain directory of files
//! (the layout every earlier rrbench wrote), and that is how a follower writes one.

use std::{
    fs,
    path::{Path, PathBuf},
    sync::atomic::AtomicBool,
};

use super::{
    GenerateSpec, IndexError, IndexSnapshot, generate_cancellable, names::is_safe_file_name,
};
use crate::protocol::FileMeta;

/// The seed of shard `shard`'s files: shard 0 keeps the index's seed (so a one-shard index is
/// the same bytes as before shards existed), the others are spread by a fixed odd constant.
pub fn shard_seed(seed: u64, shard: u32) -> u64 {
    seed.wrapping_add(u64::from(shard).wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// The directory of shard `shard` of an index of `shards` shards at `dir`.
pub fn shard_dir(dir: &Path, shard: u32, shards: u32) -> PathBuf {
    if shards <= 1 {
        dir.to_path_buf()
    } else {
        dir.join(shard.to_string())
    }
}

/// Writes an index of `shards` shards, each of `spec.size` bytes in `spec.files` files, into
/// `dir`: one shard is written into `dir` itself, more into `dir/0`, `dir/1`, .... The same
/// seed always writes the same bytes. Stops with [`IndexError::Cancelled`] when `cancel` is set;
/// on any failure nothing it wrote is left behind.
pub fn generate_shards(
    dir: &Path,
    spec: &GenerateSpec,
    shards: u32,
    cancel: &AtomicBool,
    mut progress: impl FnMut(u64),
) -> Result<Vec<Vec<FileMeta>>, IndexError> {
    if shards == 0 {
        return Err(IndexError::NoShards);
    }
    if shards == 1 {
        return Ok(vec![generate_cancellable(dir, spec, cancel, progress)?]);
    }
    super::space::ensure_room(dir, spec.size.saturating_mul(u64::from(shards)))?;
    let created = super::generate::claim_empty_dir(dir)?;
    let mut written = Vec::with_capacity(shards as usize);
    let mut done = 0;
    for shard in 0..shards {
        let spec = GenerateSpec {
            seed: shard_seed(spec.seed, shard),
            ..*spec
        };
        match generate_cancellable(&shard_dir(dir, shard, shards), &spec, cancel, |n| {
            progress(done + n)
        }) {
            Ok(metas) => written.push(metas),
            Err(e) => {
                for earlier in 0..shard {
                    let _ = fs::remove_dir_all(shard_dir(dir, earlier, shards));
                }
                if created {
                    let _ = fs::remove_dir(dir);
                }
                return Err(e);
            }
        }
        done += spec.size;
    }
    Ok(written)
}

/// How many shard directories `dir` holds: `Some(n)` when it holds no index file of its own and
/// its only numbered subdirectories are exactly `0..n`; `None` when it is a plain index
/// directory (or holds nothing numbered). Numbered directories with a gap are an error: an
/// index missing a shard must not be served as a smaller one.
pub fn shard_count(dir: &Path) -> Result<Option<u32>, IndexError> {
    let mut numbered = Vec::new();
    for entry in fs::read_dir(dir).map_err(IndexError::io(dir))? {
        let entry = entry.map_err(IndexError::io(dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let kind = entry.file_type().map_err(IndexError::io(entry.path()))?;
        if kind.is_file() && is_safe_file_name(&name) {
            return Ok(None);
        }
        // Only the canonical spelling: "01" is not shard 1.
        if kind.is_dir()
            && let Ok(n) = name.parse::<u32>()
            && n.to_string() == name
        {
            numbered.push(n);
        }
    }
    if numbered.is_empty() {
        return Ok(None);
    }
    numbered.sort_unstable();
    if let Some(missing) = (0u32..).zip(&numbered).find(|(want, got)| want != *got) {
        return Err(IndexError::MissingShard {
            dir: dir.to_path_buf(),
            shard: missing.0,
            found: numbered.len() as u32,
        });
    }
    Ok(Some(numbered.len() as u32))
}

/// The leader's view of every shard of its index.
#[derive(Clone, Debug)]
pub struct IndexShards {
    dir: PathBuf,
    shards: Vec<IndexSnapshot>,
}

impl IndexShards {
    /// Loads `dir`: its shard directories if it has them ([`shard_count`]), else the directory
    /// itself as the one shard.
    pub fn load(dir: &Path) -> Result<Self, IndexError> {
        let shards = match shard_count(dir)? {
            Some(n) => (0..n)
                .map(|s| IndexSnapshot::load(&shard_dir(dir, s, n)))
                .collect::<Result<_, _>>()?,
            None => vec![IndexSnapshot::load(dir)?],
        };
        Ok(Self {
            dir: dir.to_path_buf(),
            shards,
        })
    }

    /// The directory it was read from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Number of shards (at least one).
    pub fn count(&self) -> u32 {
        self.shards.len() as u32
    }

    /// Shard `shard`, if the index has it.
    pub fn shard(&self, shard: u32) -> Option<&IndexSnapshot> {
        self.shards.get(shard as usize)
    }

    /// Every shard, in order.
    pub fn iter(&self) -> impl Iterator<Item = &IndexSnapshot> {
        self.shards.iter()
    }

    /// Bytes over all shards.
    pub fn total_bytes(&self) -> u64 {
        self.shards.iter().map(IndexSnapshot::total_bytes).sum()
    }

    /// Files over all shards.
    pub fn total_files(&self) -> usize {
        self.shards.iter().map(|s| s.files().len()).sum()
    }
}

impl From<IndexSnapshot> for IndexShards {
    fn from(snapshot: IndexSnapshot) -> Self {
        Self {
            dir: snapshot.dir().to_path_buf(),
            shards: vec![snapshot],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> GenerateSpec {
        GenerateSpec {
            size: 64 << 10,
            files: 5,
            seed: 11,
        }
    }

    #[test]
    fn shards_are_numbered_directories_with_the_same_bytes_for_the_same_seed() {
        let (a, b) = (
            tempfile::tempdir().expect("dir"),
            tempfile::tempdir().expect("dir"),
        );
        let never = AtomicBool::new(false);
        let first = generate_shards(a.path(), &spec(), 3, &never, |_| {}).expect("generate");
        let again = generate_shards(b.path(), &spec(), 3, &never, |_| {}).expect("generate");
        assert_eq!(first, again, "same seed, same bytes");
        assert_ne!(first[0], first[1], "shards differ from each other");
        let flat = tempfile::tempdir().expect("dir");
        let one = generate_shards(flat.path(), &spec(), 1, &never, |_| {}).expect("generate");
        assert_eq!(one[0], first[0], "shard 0 is the one-shard index");
        let loaded = IndexShards::load(a.path()).expect("load");
        assert_eq!(loaded.count(), 3);
        assert_eq!(loaded.total_bytes(), 3 * (64 << 10));
        let mut listed = first[2].clone();
        listed.sort_by(|a, b| a.name.cmp(&b.name));
        assert_eq!(loaded.shard(2).expect("shard 2").metas(), listed);
        assert_eq!(IndexShards::load(flat.path()).expect("load").count(), 1);
    }

    #[test]
    fn a_missing_shard_directory_is_an_error_naming_it() {
        let dir = tempfile::tempdir().expect("dir");
        let never = AtomicBool::new(false);
        generate_shards(dir.path(), &spec(), 3, &never, |_| {}).expect("generate");
        fs::remove_dir_all(dir.path().join("1")).expect("remove");
        let err = IndexShards::load(dir.path()).expect_err("gap");
        assert!(err.to_string().contains("shard 1"), "{err}");
        assert!(matches!(
            generate_shards(dir.path(), &spec(), 0, &never, |_| {}),
            Err(IndexError::NoShards)
        ));
    }
}
