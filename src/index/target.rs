//! The follower's target directory: verified writes, temporary names, fsync, rename.
//!
//! File number `i` of the session is written as `.rrbench-parts/i.part` and renamed to its real
//! name only after its length and CRC-32C match the session's metadata and it has been fsynced,
//! so a crash or a failed attempt never leaves a file that looks complete but is not. The parts
//! live in a hidden directory and are named by position, not by name: no name a leader can list
//! (hidden names are refused) can be another file's temporary name, so one file's rename can
//! never move or replace another's bytes. After the rename, the file under the real name is
//! checked to be the very inode that was written and checksummed, with the expected length: that
//! is what "verified" means. Names come from the network, so each is checked with
//! [`is_safe_file_name`] and joined to the target directory, never used as a path.

use std::{
    fs::{self, File, OpenOptions},
    os::unix::fs::{FileExt, MetadataExt},
    path::{Path, PathBuf},
    sync::Mutex,
};

use super::{IndexError, names::is_safe_file_name};
use crate::protocol::FileMeta;

/// A file rrbench puts in every target directory it owns; without it, rrbench will not delete
/// anything there.
pub const MARKER: &str = ".rrbench-target";
/// The directory, inside the target, of files still being written (`PARTS/<i>.part`).
pub const PARTS: &str = ".rrbench-parts";

/// A directory the follower recovers into.
#[derive(Clone, Debug)]
pub struct TargetDir {
    path: PathBuf,
}

impl TargetDir {
    /// Creates `path` if needed and claims it. A directory that holds files but no marker is
    /// refused, so a typo in `--dir` cannot wipe someone's home directory.
    pub fn prepare(path: &Path) -> Result<Self, IndexError> {
        fs::create_dir_all(path).map_err(IndexError::io(path))?;
        let marker = path.join(MARKER);
        let empty = fs::read_dir(path)
            .map_err(IndexError::io(path))?
            .next()
            .is_none();
        if !empty && !marker.exists() {
            return Err(IndexError::ForeignTarget(path.to_path_buf()));
        }
        fs::write(
            &marker,
            b"written by rrbench recover; its contents may be replaced\n",
        )
        .map_err(IndexError::io(&marker))?;
        Ok(Self {
            path: path.to_path_buf(),
        })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Readies the target of an index of `shards` shards (in `0/`, `1/`, ...): removes its own
    /// files but the marker (a one-shard recovery's) and the directories of shards it no longer
    /// has, when rrbench wrote them; anything else is refused.
    pub fn remove_files_but_shards(&self, shards: u32) -> Result<(), IndexError> {
        // Everything is judged before anything is removed: a foreign entry leaves all as it was.
        let mut files = Vec::new();
        let mut old_shards = Vec::new();
        for entry in fs::read_dir(&self.path).map_err(IndexError::io(&self.path))? {
            let entry = entry.map_err(IndexError::io(&self.path))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            if name == MARKER || name == PARTS {
                continue;
            }
            if !entry.file_type().map_err(IndexError::io(&path))?.is_dir() {
                files.push(path);
                continue;
            }
            match name.parse::<u32>() {
                Ok(n) if n.to_string() == name && n < shards => {}
                Ok(n) if n.to_string() == name && path.join(MARKER).exists() => {
                    old_shards.push(path)
                }
                _ => return Err(IndexError::ForeignTarget(path)),
            }
        }
        self.remove_parts()?;
        for path in files {
            fs::remove_file(&path).map_err(IndexError::io(&path))?;
        }
        for path in old_shards {
            fs::remove_dir_all(&path).map_err(IndexError::io(&path))?;
        }
        Ok(())
    }

    /// Deletes every file but the marker, and every part file: an Elasticsearch attempt starts
    /// from an empty store.
    pub fn clear(&self) -> Result<(), IndexError> {
        self.remove_parts()?;
        for entry in fs::read_dir(&self.path).map_err(IndexError::io(&self.path))? {
            let entry = entry.map_err(IndexError::io(&self.path))?;
            if entry.file_name() == MARKER {
                continue;
            }
            let path = entry.path();
            if entry.file_type().map_err(IndexError::io(&path))?.is_dir() {
                return Err(IndexError::ForeignTarget(self.path.clone()));
            }
            fs::remove_file(&path).map_err(IndexError::io(&path))?;
        }
        Ok(())
    }

    /// Deletes the files still being written (after a failed attempt of a policy that will not
    /// reuse them: a part file is sized to its final length, so a leader that declared a huge
    /// file must not leave a huge sparse file behind).
    pub fn remove_parts(&self) -> Result<(), IndexError> {
        let parts = self.path.join(PARTS);
        match fs::remove_dir_all(&parts) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(IndexError::Io {
                path: parts,
                source: e,
            }),
            _ => Ok(()),
        }
    }

    /// Creates the temporary file of file number `index`, `meta`, sized to its final length.
    pub fn create_part(&self, index: usize, meta: &FileMeta) -> Result<PartFile, IndexError> {
        self.open_part(index, meta, true)
    }

    /// Opens the temporary file of file number `index` keeping what it holds (a resumed
    /// recovery), or creates it.
    pub fn reopen_part(&self, index: usize, meta: &FileMeta) -> Result<PartFile, IndexError> {
        self.open_part(index, meta, false)
    }

    /// Whether `meta`'s finished file is present with the right length and CRC-32C.
    pub fn has_verified(&self, meta: &FileMeta) -> bool {
        if !is_safe_file_name(&meta.name) {
            return false;
        }
        let path = self.path.join(&meta.name);
        fs::metadata(&path).is_ok_and(|m| m.len() == meta.len)
            && super::crc32c_file(&path).is_ok_and(|crc| crc == meta.crc32c)
    }

    fn open_part(
        &self,
        index: usize,
        meta: &FileMeta,
        truncate: bool,
    ) -> Result<PartFile, IndexError> {
        if !is_safe_file_name(&meta.name) {
            return Err(IndexError::UnsafeName(meta.name.clone()));
        }
        let final_path = self.path.join(&meta.name);
        let parts = self.path.join(PARTS);
        fs::create_dir_all(&parts).map_err(IndexError::io(&parts))?;
        let part_path = parts.join(format!("{index}.part"));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(truncate)
            .open(&part_path)
            .map_err(IndexError::io(&part_path))?;
        file.set_len(meta.len).map_err(IndexError::io(&part_path))?;
        Ok(PartFile {
            file,
            write_lock: Mutex::new(()),
            part_path,
            final_path,
            meta: meta.clone(),
        })
    }

    /// Refuses to start writing `bytes` more than the filesystem can hold (part files are
    /// sized to their final length up front, so a full disk would otherwise surface as a
    /// confusing write error half-way).
    pub fn ensure_room_for(&self, bytes: u64) -> Result<(), IndexError> {
        super::space::room_for(&self.path, bytes, |dir, size, needed, free| {
            IndexError::TargetFull {
                dir,
                size,
                needed,
                free,
            }
        })
    }

    /// Fsyncs the directory so renames are durable.
    pub fn sync(&self) -> Result<(), IndexError> {
        File::open(&self.path)
            .and_then(|d| d.sync_all())
            .map_err(IndexError::io(&self.path))
    }
}

/// A file being received, written at arbitrary offsets (chunks arrive out of order).
#[derive(Debug)]
pub struct PartFile {
    file: File,
    /// Serialises writes to this file. The kernel takes the inode's lock for each write anyway;
    /// contending there spins on it (perf showed `rwsem_spin_on_owner` at 9% of a loopback
    /// recovery on tmpfs), while a user-space mutex puts the waiter to sleep.
    write_lock: Mutex<()>,
    part_path: PathBuf,
    final_path: PathBuf,
    meta: FileMeta,
}

impl PartFile {
    /// Writes `data` at `offset`. Callers may write different ranges from several threads.
    pub fn write_at(&self, offset: u64, data: &[u8]) -> Result<(), IndexError> {
        let _one_writer = self.write_lock.lock().unwrap_or_else(|p| p.into_inner());
        self.file
            .write_all_at(data, offset)
            .map_err(IndexError::io(&self.part_path))
    }

    /// Reads `len` bytes at `offset` (to re-verify a journaled chunk).
    pub fn read_at(&self, offset: u64, len: u64) -> Result<Vec<u8>, IndexError> {
        let mut buf = vec![0u8; len as usize];
        std::os::unix::fs::FileExt::read_exact_at(&self.file, &mut buf, offset)
            .map_err(IndexError::io(&self.part_path))?;
        Ok(buf)
    }

    /// Checks what was received against the metadata, then fsyncs and renames to the real name.
    pub fn finish(&self, received_len: u64, received_crc: u32) -> Result<(), IndexError> {
        if received_len != self.meta.len {
            return Err(IndexError::LengthMismatch {
                name: self.meta.name.clone(),
                expected: self.meta.len,
                actual: received_len,
            });
        }
        if received_crc != self.meta.crc32c {
            return Err(IndexError::ChecksumMismatch {
                name: self.meta.name.clone(),
                expected: self.meta.crc32c,
                actual: received_crc,
            });
        }
        self.file
            .sync_all()
            .map_err(IndexError::io(&self.part_path))?;
        fs::rename(&self.part_path, &self.final_path).map_err(IndexError::io(&self.final_path))?;
        self.check_in_place()
    }

    /// Proves that the file now under the real name is the inode this part wrote and
    /// checksummed, with the expected length (not some other file moved there by path).
    fn check_in_place(&self) -> Result<(), IndexError> {
        let written = self
            .file
            .metadata()
            .map_err(IndexError::io(&self.part_path))?;
        let in_place =
            fs::symlink_metadata(&self.final_path).map_err(IndexError::io(&self.final_path))?;
        if (in_place.dev(), in_place.ino()) != (written.dev(), written.ino()) {
            return Err(IndexError::Replaced(self.final_path.clone()));
        }
        if in_place.len() != self.meta.len {
            return Err(IndexError::LengthMismatch {
                name: self.meta.name.clone(),
                expected: self.meta.len,
                actual: in_place.len(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(name: &str, data: &[u8]) -> FileMeta {
        FileMeta {
            name: name.into(),
            len: data.len() as u64,
            crc32c: crc32c::crc32c(data),
        }
    }

    #[test]
    fn a_sharded_target_keeps_its_shards_and_refuses_what_is_not_rrbenchs_before_removing_anything()
    {
        let dir = tempfile::tempdir().expect("dir");
        let root = TargetDir::prepare(dir.path()).expect("claim");
        fs::write(dir.path().join("_0.cfs"), b"a one-shard run's file").expect("file");
        for shard in ["0", "5"] {
            TargetDir::prepare(&dir.path().join(shard)).expect("shard");
        }
        fs::create_dir(dir.path().join("photos")).expect("foreign");
        let refused = root.remove_files_but_shards(3).expect_err("foreign");
        assert!(matches!(refused, IndexError::ForeignTarget(p) if p.ends_with("photos")));
        assert!(
            dir.path().join("_0.cfs").exists(),
            "nothing removed before the refusal"
        );
        assert!(dir.path().join("5").exists());
        fs::remove_dir(dir.path().join("photos")).expect("rmdir");
        root.remove_files_but_shards(3).expect("cleared");
        assert!(
            !dir.path().join("_0.cfs").exists(),
            "the old one-shard files go"
        );
        assert!(
            !dir.path().join("5").exists(),
            "a shard the index no longer has goes"
        );
        assert!(
            dir.path().join("0").join(MARKER).exists(),
            "shard 0 stays for its recovery"
        );
    }

    #[test]
    fn out_of_order_writes_verify_and_rename() {
        let tmp = tempfile::tempdir().expect("tmp");
        let target = TargetDir::prepare(&tmp.path().join("out")).expect("prepare");
        let data = b"hello, remote recovery";
        let part = target.create_part(0, &meta("_0.fdt", data)).expect("part");
        part.write_at(7, &data[7..]).expect("tail");
        part.write_at(0, &data[..7]).expect("head");
        part.finish(data.len() as u64, crc32c::crc32c(data))
            .expect("finish");
        assert_eq!(fs::read(target.path().join("_0.fdt")).expect("read"), data);
        assert!(!target.path().join(PARTS).join("0.part").exists());
    }

    #[test]
    fn a_wrong_checksum_or_length_never_gets_the_real_name() {
        let tmp = tempfile::tempdir().expect("tmp");
        let target = TargetDir::prepare(tmp.path()).expect("prepare");
        let part = target.create_part(0, &meta("a", b"abc")).expect("part");
        part.write_at(0, b"abd").expect("write");
        let err = part.finish(3, crc32c::crc32c(b"abd")).expect_err("corrupt");
        assert!(matches!(err, IndexError::ChecksumMismatch { .. }), "{err}");
        assert!(matches!(
            part.finish(2, 0),
            Err(IndexError::LengthMismatch { .. })
        ));
        assert!(!target.path().join("a").exists());
    }

    /// What "verified" rests on: the file under the real name is the inode that was written.
    #[test]
    fn another_file_under_the_real_name_is_not_verified() {
        let tmp = tempfile::tempdir().expect("tmp");
        let target = TargetDir::prepare(tmp.path()).expect("prepare");
        let data = b"the leader's bytes";
        let part = target.create_part(0, &meta("a", data)).expect("part");
        part.write_at(0, data).expect("write");
        let impostor = tmp.path().join("impostor");
        fs::write(&impostor, b"someone else's bytes").expect("impostor");
        fs::rename(&impostor, target.path().join("a")).expect("swap in");
        assert!(matches!(
            part.check_in_place(),
            Err(IndexError::Replaced(_))
        ));
    }

    #[test]
    fn unsafe_names_are_refused() {
        let tmp = tempfile::tempdir().expect("tmp");
        let target = TargetDir::prepare(&tmp.path().join("t")).expect("prepare");
        for bad in ["../escape", "/etc/passwd", ".rrbench-target", ""] {
            assert!(matches!(
                target.create_part(0, &meta(bad, b"x")),
                Err(IndexError::UnsafeName(_))
            ));
        }
        assert!(!tmp.path().join("escape").exists());
    }

    #[test]
    fn a_foreign_directory_is_never_cleared() {
        let tmp = tempfile::tempdir().expect("tmp");
        fs::write(tmp.path().join("precious.txt"), b"keep me").expect("write");
        assert!(matches!(
            TargetDir::prepare(tmp.path()),
            Err(IndexError::ForeignTarget(_))
        ));
        assert!(tmp.path().join("precious.txt").exists());
    }

    #[test]
    fn an_owned_directory_is_cleared_but_keeps_its_marker() {
        let tmp = tempfile::tempdir().expect("tmp");
        let target = TargetDir::prepare(tmp.path()).expect("prepare");
        fs::write(tmp.path().join("old"), b"x").expect("write");
        let again = TargetDir::prepare(tmp.path()).expect("reclaim");
        again.clear().expect("clear");
        assert!(!tmp.path().join("old").exists());
        assert!(tmp.path().join(MARKER).exists());
        drop(target);
    }
}
