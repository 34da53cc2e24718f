//! What the demo leaves behind: its results directory with the report, and nothing else unless
//! `--keep`.
//!
//! The campaign runner generates the index under `OUT/.index-cache/` (where a campaign keeps it
//! for its next run) and writes results under `OUT/demo-story/<run>/`; the recovered copies are
//! the runner's scratch, removed after each trial whatever happens. [`Temporary`] removes the
//! index this run generated, and a results directory that did not get its report (an error, a
//! panic, Ctrl-C), when dropped; what was there before the demo started is left alone.

use std::{
    collections::HashSet,
    ffi::OsString,
    path::{Path, PathBuf},
};

/// The paths a demo run creates that are not its output; removed on drop unless kept.
pub struct Temporary {
    keep: bool,
    /// `OUT`, `OUT/.index-cache` and `OUT/demo-story`, with whether each existed at the start.
    dirs: Vec<(PathBuf, bool)>,
    cache: PathBuf,
    /// What `OUT/.index-cache` held at the start.
    cached_before: HashSet<OsString>,
    /// The results directory while it has no report yet.
    unfinished_run: Option<PathBuf>,
}

impl Temporary {
    /// Notes what exists under `out` now, for a campaign named `campaign`.
    pub fn new(out: &Path, campaign: &str, keep: bool) -> Self {
        let cache = out.join(".index-cache");
        let cached_before = entries(&cache);
        let dirs = [out.to_path_buf(), cache.clone(), out.join(campaign)]
            .into_iter()
            .map(|d| {
                let existed = d.exists();
                (d, existed)
            })
            .collect();
        Self {
            keep,
            dirs,
            cache,
            cached_before,
            unfinished_run: None,
        }
    }

    /// The run writes its results into `dir`; it is removed unless [`Temporary::finished`].
    pub fn started(&mut self, dir: &Path) {
        self.unfinished_run = Some(dir.to_path_buf());
    }

    /// The run's results have their report: they are the demo's output and stay.
    pub fn finished(&mut self) {
        self.unfinished_run = None;
    }

    /// The indexes this run generated (what `--keep` keeps).
    pub fn generated(&self) -> Vec<PathBuf> {
        let mut new: Vec<PathBuf> = entries(&self.cache)
            .difference(&self.cached_before)
            .map(|name| self.cache.join(name))
            .collect();
        new.sort();
        new
    }

    /// Removes what this run made and does not keep, now; returns what it removed.
    pub fn remove(&mut self) -> Vec<PathBuf> {
        if self.keep {
            return Vec::new();
        }
        let mut removed = Vec::new();
        let doomed = self
            .generated()
            .into_iter()
            .chain(self.unfinished_run.take());
        for path in doomed {
            if std::fs::remove_dir_all(&path).is_ok() {
                removed.push(path);
            }
        }
        // Directories this run created and left empty, innermost first.
        for (dir, existed) in self.dirs.iter().rev() {
            if !existed && std::fs::remove_dir(dir).is_ok() {
                removed.push(dir.clone());
            }
        }
        removed
    }
}

impl Drop for Temporary {
    fn drop(&mut self) {
        self.remove();
    }
}

fn entries(dir: &Path) -> HashSet<OsString> {
    std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_was_there_stays_and_what_the_run_made_goes() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let out = tmp.path().join("out");
        let cache = out.join(".index-cache");
        std::fs::create_dir_all(cache.join("old-index")).expect("mkdir");
        let mut t = Temporary::new(&out, "demo-story", false);
        std::fs::create_dir_all(cache.join("new-index")).expect("mkdir");
        let run = out.join("demo-story").join("run-1");
        std::fs::create_dir_all(&run).expect("mkdir");
        t.started(&run);
        assert_eq!(t.generated(), vec![cache.join("new-index")]);
        drop(t);
        assert!(cache.join("old-index").is_dir());
        assert!(!cache.join("new-index").exists());
        assert!(!out.join("demo-story").exists(), "an unfinished run goes");

        let mut t = Temporary::new(&out, "demo-story", false);
        std::fs::create_dir_all(&run).expect("mkdir");
        t.started(&run);
        t.finished();
        drop(t);
        assert!(run.is_dir(), "a finished run stays");

        let t = Temporary::new(&out, "demo-story", true);
        std::fs::create_dir_all(cache.join("kept")).expect("mkdir");
        drop(t);
        assert!(cache.join("kept").is_dir(), "--keep");
    }
}
