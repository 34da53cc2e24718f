//! A deterministic, incompressible file set shaped like a Lucene index.
//!
//! Real shards are a few large merged segments and many small files: the tiered merge policy
//! leaves segments of geometrically shrinking size, and inside a segment stored fields (`.fdt`),
//! postings (`.doc`, `.pos`) and terms (`.tim`) dominate while `.si` and `.fdx` are tiny. The
//! generator draws that shape from a seed: segment `j` gets a weight of about 0.45^j, each file a
//! share by extension, and a `segments_N` commit file closes the list. Contents come from ChaCha8,
//! one stream per file, so the same seed always gives the same bytes and the data cannot be
//! compressed away by a link or a filesystem.
//!
//! Before writing, the generator checks that the index fits (with headroom) on the target's
//! filesystem; it can be cancelled between 1 MiB blocks, and never leaves a partial index.

use std::{
    fs::{self, File},
    io::{BufWriter, Write},
    path::Path,
    sync::atomic::{AtomicBool, Ordering},
};

use rand_chacha::{
    ChaCha8Rng,
    rand_core::{Rng, SeedableRng},
};

use super::IndexError;
use crate::protocol::FileMeta;

/// What to generate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GenerateSpec {
    /// Total bytes over all files.
    pub size: u64,
    /// Number of files.
    pub files: u32,
    /// Seed for sizes and contents.
    pub seed: u64,
}

/// One generated file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GeneratedFile {
    /// File name.
    pub name: String,
    /// Length in bytes.
    pub len: u64,
}

/// Extensions of one segment and their share of its bytes, largest first.
const SEGMENT_FILES: [(&str, f64); 8] = [
    ("fdt", 0.34),
    ("doc", 0.20),
    ("pos", 0.20),
    ("tim", 0.12),
    ("dvd", 0.10),
    ("fdx", 0.02),
    ("tip", 0.015),
    ("si", 0.005),
];
/// Each segment is about this fraction of the one before it.
const SEGMENT_DECAY: f64 = 0.45;
/// The commit point's weight relative to a whole first segment.
const COMMIT_WEIGHT: f64 = 1e-5;

/// A uniform draw in `[lo, hi)`.
fn uniform(rng: &mut ChaCha8Rng, lo: f64, hi: f64) -> f64 {
    let unit = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    lo + (hi - lo) * unit
}

/// Lucene names segments `_0`, `_1`, … `_a`, … in base 36.
fn segment_name(mut n: u32) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    format!("_{}", String::from_utf8_lossy(&out))
}

/// `SEGMENT_DECAY` to the power `n`, by square-and-multiply in plain IEEE multiplications (as
/// compiler-rt's `__powidf2`, which `f64::powi` calls here), so every host plans the same
/// lengths: a campaign checks an agent's index against its own plan, and `powi`'s precision
/// is documented to vary by platform and Rust version.
fn decay_to(mut n: u32) -> f64 {
    let (mut base, mut power) = (SEGMENT_DECAY, 1.0);
    loop {
        if n & 1 == 1 {
            power *= base;
        }
        n /= 2;
        if n == 0 {
            return power;
        }
        base *= base;
    }
}

/// Names and sizes, without writing anything. Sizes sum to `spec.size` exactly and every file has
/// at least one byte.
pub fn plan_files(spec: &GenerateSpec) -> Result<Vec<GeneratedFile>, IndexError> {
    if spec.files == 0 {
        return Err(IndexError::NoFiles);
    }
    if spec.size < u64::from(spec.files) {
        return Err(IndexError::TooSmall {
            size: spec.size,
            files: spec.files,
        });
    }
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    let segment_files = spec.files - 1;
    let mut names = Vec::with_capacity(spec.files as usize);
    let mut weights = Vec::with_capacity(spec.files as usize);
    for i in 0..segment_files {
        let (segment, slot) = (
            i / SEGMENT_FILES.len() as u32,
            i as usize % SEGMENT_FILES.len(),
        );
        let (ext, share) = SEGMENT_FILES[slot];
        let segment_weight = decay_to(segment);
        names.push(format!("{}.{ext}", segment_name(segment)));
        weights.push(segment_weight * share * uniform(&mut rng, 0.8, 1.2));
    }
    let generation = segment_files.div_ceil(SEGMENT_FILES.len() as u32).max(1);
    names.push(format!(
        "segments_{}",
        segment_name(generation).trim_start_matches('_')
    ));
    weights.push(COMMIT_WEIGHT);

    // One byte each, then the rest in proportion; rounding leftovers go to the largest file.
    let spare = spec.size - u64::from(spec.files);
    let total_weight: f64 = weights.iter().sum();
    let mut lens: Vec<u64> = weights
        .iter()
        .map(|w| 1 + (spare as f64 * w / total_weight).floor() as u64)
        .collect();
    let assigned: u64 = lens.iter().sum();
    let largest = (0..lens.len()).max_by_key(|&i| lens[i]).unwrap_or(0);
    // Float rounding may over- or under-shoot by a few bytes; settle it on the largest file.
    lens[largest] = (lens[largest] + spec.size).saturating_sub(assigned).max(1);
    Ok(names
        .into_iter()
        .zip(lens)
        .map(|(name, len)| GeneratedFile { name, len })
        .collect())
}

/// Writes the planned files into `dir` (created if missing, must be empty) and returns their
/// metadata. `progress` is called with the bytes written so far. Cannot be cancelled: see
/// [`generate_cancellable`], which this is with a flag never set.
pub fn generate(
    dir: &Path,
    spec: &GenerateSpec,
    progress: impl FnMut(u64),
) -> Result<Vec<FileMeta>, IndexError> {
    generate_cancellable(dir, spec, &AtomicBool::new(false), progress)
}

/// Like [`generate`], stopping with [`IndexError::Cancelled`] when `cancel` is set (checked
/// before each 1 MiB block).
///
/// Refuses with [`IndexError::NoSpace`] before creating anything when `spec.size`, with
/// headroom, does not fit on `dir`'s filesystem. When it fails after writing began (cancelled,
/// or an I/O error), the files it wrote are removed, and `dir` too if this call created it: a
/// partial index is never left behind.
pub fn generate_cancellable(
    dir: &Path,
    spec: &GenerateSpec,
    cancel: &AtomicBool,
    mut progress: impl FnMut(u64),
) -> Result<Vec<FileMeta>, IndexError> {
    let plan = plan_files(spec)?;
    super::space::ensure_room(dir, spec.size)?;
    let created = claim_empty_dir(dir)?;
    let written = write_plan(dir, spec.seed, &plan, cancel, &mut progress);
    if written.is_err() {
        remove_partial(dir, &plan, created);
    }
    written
}

/// Creates `dir` if missing and refuses it unless it is empty; returns whether it was created
/// (so a failed generator knows to remove it too).
pub(super) fn claim_empty_dir(dir: &Path) -> Result<bool, IndexError> {
    let created = !dir.exists();
    fs::create_dir_all(dir).map_err(IndexError::io(dir))?;
    if fs::read_dir(dir)
        .map_err(IndexError::io(dir))?
        .next()
        .is_some()
    {
        return Err(IndexError::NotEmpty(dir.to_path_buf()));
    }
    Ok(created)
}

/// Writes every planned file into `dir`, each from its own ChaCha8 stream.
fn write_plan(
    dir: &Path,
    seed: u64,
    plan: &[GeneratedFile],
    cancel: &AtomicBool,
    progress: &mut impl FnMut(u64),
) -> Result<Vec<FileMeta>, IndexError> {
    let mut buf = vec![0u8; 1 << 20];
    let mut written = 0;
    let mut metas = Vec::with_capacity(plan.len());
    for (stream, file) in plan.iter().enumerate() {
        let path = dir.join(&file.name);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(stream as u64 + 1);
        let mut out = BufWriter::new(File::create(&path).map_err(IndexError::io(&path))?);
        let mut crc = 0;
        let mut left = file.len;
        while left > 0 {
            if cancel.load(Ordering::Relaxed) {
                return Err(IndexError::Cancelled);
            }
            let n = left.min(buf.len() as u64) as usize;
            rng.fill_bytes(&mut buf[..n]);
            crc = crc32c::crc32c_append(crc, &buf[..n]);
            out.write_all(&buf[..n]).map_err(IndexError::io(&path))?;
            left -= n as u64;
            written += n as u64;
            progress(written);
        }
        out.into_inner()
            .map_err(|e| IndexError::Io {
                path: path.clone(),
                source: e.into_error(),
            })?
            .sync_all()
            .map_err(IndexError::io(&path))?;
        metas.push(FileMeta {
            name: file.name.clone(),
            len: file.len,
            crc32c: crc,
        });
    }
    Ok(metas)
}

/// Removes what a failed [`write_plan`] may have written: the planned names (the directory was
/// empty before), and the directory when it did not exist before. Best effort.
fn remove_partial(dir: &Path, plan: &[GeneratedFile], created: bool) {
    for file in plan {
        let _ = fs::remove_file(dir.join(&file.name));
    }
    if created {
        let _ = fs::remove_dir(dir);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_segment_decay_is_the_same_power_powi_gave_on_this_host() {
        for n in 0..300 {
            assert_eq!(
                super::decay_to(n).to_bits(),
                super::SEGMENT_DECAY.powi(n as i32).to_bits(),
                "{n}"
            );
        }
    }

    use super::*;

    fn spec(size: u64, files: u32, seed: u64) -> GenerateSpec {
        GenerateSpec { size, files, seed }
    }

    #[test]
    fn plan_sums_exactly_and_every_file_has_bytes() {
        for (size, files) in [
            (1 << 30, 40),
            (64 << 20, 12),
            (100, 100),
            (12345, 7),
            (1, 1),
        ] {
            let plan = plan_files(&spec(size, files, 7)).expect("plan");
            assert_eq!(plan.len(), files as usize);
            assert_eq!(
                plan.iter().map(|f| f.len).sum::<u64>(),
                size,
                "{size}/{files}"
            );
            assert!(plan.iter().all(|f| f.len >= 1));
        }
    }

    #[test]
    fn plan_is_lucene_shaped_a_few_large_many_small() {
        let plan = plan_files(&spec(1 << 30, 40, 7)).expect("plan");
        let mut lens: Vec<u64> = plan.iter().map(|f| f.len).collect();
        lens.sort_unstable_by(|a, b| b.cmp(a));
        let top5: u64 = lens[..5].iter().sum();
        assert!(
            top5 > (1 << 30) / 2,
            "the five largest files hold most bytes"
        );
        assert!(
            lens[20] < (1 << 30) / 100,
            "half the files are under 1% each"
        );
        assert_eq!(plan[0].name, "_0.fdt");
        assert!(plan.last().expect("files").name.starts_with("segments_"));
        let names: std::collections::HashSet<_> = plan.iter().map(|f| &f.name).collect();
        assert_eq!(names.len(), plan.len(), "names are unique");
    }

    #[test]
    fn same_seed_same_plan_other_seed_other_plan() {
        let a = plan_files(&spec(1 << 20, 10, 1)).expect("plan");
        assert_eq!(a, plan_files(&spec(1 << 20, 10, 1)).expect("plan"));
        assert_ne!(a, plan_files(&spec(1 << 20, 10, 2)).expect("plan"));
    }

    #[test]
    fn impossible_specs_are_refused() {
        assert!(matches!(
            plan_files(&spec(10, 0, 1)),
            Err(IndexError::NoFiles)
        ));
        assert!(matches!(
            plan_files(&spec(3, 4, 1)),
            Err(IndexError::TooSmall { size: 3, files: 4 })
        ));
    }

    #[test]
    fn segment_names_count_in_base_36() {
        assert_eq!(segment_name(0), "_0");
        assert_eq!(segment_name(10), "_a");
        assert_eq!(segment_name(36), "_10");
    }

    #[test]
    fn generation_refuses_a_size_larger_than_free_space() {
        let tmp = tempfile::tempdir().expect("tmp");
        let dir = tmp.path().join("index");
        let exbibyte = 1 << 60;
        let e = generate(&dir, &spec(exbibyte, 4, 1), |_| {}).expect_err("1 EiB does not fit");
        let IndexError::NoSpace { needed, free, .. } = &e else {
            panic!("{e}");
        };
        assert!(*needed > exbibyte && free < needed, "{e}");
        let msg = e.to_string();
        assert!(msg.contains("1.0 EiB") && msg.contains("free"), "{msg}");
        assert!(!dir.exists(), "nothing is created before the check");
    }

    #[test]
    fn a_cancelled_generation_stops_early_and_leaves_no_partial_index() {
        let tmp = tempfile::tempdir().expect("tmp");
        let dir = tmp.path().join("index");
        let s = spec(64 << 20, 6, 3);
        let first = plan_files(&s).expect("plan")[0].len;
        let cancel = AtomicBool::new(false);
        let mut last = 0;
        let result = generate_cancellable(&dir, &s, &cancel, |written| {
            last = written;
            if written >= first {
                cancel.store(true, Ordering::Relaxed);
            }
        });
        assert!(matches!(result, Err(IndexError::Cancelled)), "{result:?}");
        assert!(last < s.size, "stopped early: {last} of {} bytes", s.size);
        assert!(!dir.exists(), "the directory it created is removed");

        // A directory that existed (empty) is kept, emptied of what was written.
        fs::create_dir(&dir).expect("mkdir");
        cancel.store(false, Ordering::Relaxed);
        let result = generate_cancellable(&dir, &s, &cancel, |written| {
            if written >= first {
                cancel.store(true, Ordering::Relaxed);
            }
        });
        assert!(matches!(result, Err(IndexError::Cancelled)), "{result:?}");
        assert_eq!(fs::read_dir(&dir).expect("dir").count(), 0);
    }

    #[test]
    fn generated_bytes_are_deterministic_and_checksummed() {
        let (a, b) = (
            tempfile::tempdir().expect("tmp"),
            tempfile::tempdir().expect("tmp"),
        );
        let s = spec(3 << 20, 5, 9);
        let ma = generate(a.path(), &s, |_| {}).expect("gen a");
        let mb = generate(b.path(), &s, |_| {}).expect("gen b");
        assert_eq!(ma, mb);
        for m in &ma {
            let bytes = fs::read(a.path().join(&m.name)).expect("read");
            assert_eq!(bytes, fs::read(b.path().join(&m.name)).expect("read"));
            assert_eq!(bytes.len() as u64, m.len);
            assert_eq!(crc32c::crc32c(&bytes), m.crc32c);
        }
        assert!(matches!(
            generate(a.path(), &s, |_| {}),
            Err(IndexError::NotEmpty(_))
        ));
    }
}
