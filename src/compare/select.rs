//! Which run a `compare` argument means, like esrally's race ids:
//!
//! - a run directory (`results/smoke/20260101T120000Z-1`, it has `trials.jsonl`): that run;
//! - a campaign directory (`results/smoke`, holding runs `<stamp>-<seed>`): its newest run, by the
//!   start time in the run's name;
//! - `results/smoke@ID`: the run of `results/smoke` named `ID`, or whose name starts with `ID`.
//!
//! Choosing among run names is pure ([`choose`]); [`resolve`] only lists the directory. When no
//! run is the obvious one (names without a stamp, two runs started in the same second, an id
//! prefix matching several) the error lists the candidates rather than guessing.

use std::{
    fs,
    path::{Path, PathBuf},
};

use super::CompareError;

/// The run an argument resolved to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selected {
    /// The run directory.
    pub dir: PathBuf,
    /// How it was picked, when it was not given directly ("newest of 3 runs in results/smoke").
    pub how: Option<String>,
}

/// Resolves a command-line argument to a run directory (see the module documentation). A path
/// that does not exist is passed through, for [`crate::results::ResultsDir::open`] to refuse.
pub fn resolve(arg: &Path) -> Result<Selected, CompareError> {
    let (dir, id) = split_id(arg);
    let is_run = |d: &Path| d.join("trials.jsonl").is_file();
    if is_run(&dir) {
        return match id {
            None => Ok(Selected { dir, how: None }),
            Some(id) => Err(CompareError::IdOnRun { dir, id }),
        };
    }
    if !dir.is_dir() {
        return Ok(Selected {
            dir: arg.to_path_buf(),
            how: None,
        });
    }
    let entries = fs::read_dir(&dir).map_err(|source| CompareError::Io {
        path: dir.clone(),
        source,
    })?;
    let mut runs: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|e| is_run(&e.path()))
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    runs.sort();
    let name = choose(&dir, &runs, id.as_deref())?;
    let how = match &id {
        Some(id) => format!("run {id}... of {}", dir.display()),
        None if runs.len() == 1 => format!("the only run in {}", dir.display()),
        None => format!("newest of {} runs in {}", runs.len(), dir.display()),
    };
    Ok(Selected {
        dir: dir.join(name),
        how: Some(how),
    })
}

/// `DIR@ID` split into the directory and the id, unless the whole argument exists (a path may
/// hold an `@`).
fn split_id(arg: &Path) -> (PathBuf, Option<String>) {
    if arg.exists() {
        return (arg.to_path_buf(), None);
    }
    match arg.to_str().and_then(|s| s.rsplit_once('@')) {
        Some((dir, id)) => (PathBuf::from(dir), Some(id.to_string())),
        None => (arg.to_path_buf(), None),
    }
}

/// The run of campaign directory `dir` to compare, out of the names of its `runs`: the one
/// `id` names (exactly, or as the only name starting with it), or without an id the newest.
pub fn choose<'a>(
    dir: &Path,
    runs: &'a [String],
    id: Option<&str>,
) -> Result<&'a str, CompareError> {
    let ambiguous = |why: String, runs: Vec<String>| CompareError::AmbiguousRun {
        dir: dir.to_path_buf(),
        why,
        runs,
    };
    if let Some(id) = id {
        if let Some(exact) = runs.iter().find(|r| *r == id) {
            return Ok(exact);
        }
        let matching: Vec<&String> = runs.iter().filter(|r| r.starts_with(id)).collect();
        return match matching.as_slice() {
            [one] => Ok(one.as_str()),
            [] => Err(CompareError::NoSuchRun {
                dir: dir.to_path_buf(),
                id: id.to_string(),
                runs: runs.to_vec(),
            }),
            many => Err(ambiguous(
                format!("{} runs start with {id:?}", many.len()),
                many.iter().map(|r| r.to_string()).collect(),
            )),
        };
    }
    match runs {
        [] => return Err(CompareError::NoRuns(dir.to_path_buf())),
        [one] => return Ok(one),
        _ => {}
    }
    let mut named = Vec::with_capacity(runs.len());
    for r in runs {
        let Some(n) = RunName::parse(r) else {
            return Err(ambiguous(
                format!(
                    "it holds {} runs and {r:?} is not named <stamp>-<seed>, so which is newest \
                     is unknown",
                    runs.len()
                ),
                runs.to_vec(),
            ));
        };
        named.push((n, r));
    }
    named.sort_by(|(a, _), (b, _)| a.order().cmp(&b.order()));
    let (newest, name) = &named[named.len() - 1];
    let tied: Vec<String> = named
        .iter()
        .filter(|(n, _)| n.order() == newest.order())
        .map(|(_, r)| r.to_string())
        .collect();
    if tied.len() > 1 {
        return Err(ambiguous(
            format!("{} runs started in the same second", tied.len()),
            tied,
        ));
    }
    Ok(name)
}

/// A run directory's name as `create_run_dir` makes it: `<stamp>-<seed hex>[-<n>]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunName {
    /// UTC start, `YYYYMMDDTHHMMSSZ` (sorts as time does).
    pub stamp: String,
    /// The campaign seed.
    pub seed: u64,
    /// 1, or the `-n` of a run started in the same second as another of the same seed.
    pub n: u32,
}

impl RunName {
    /// Reads a run directory's name; `None` when it is not one `rrbench campaign run` made.
    pub fn parse(name: &str) -> Option<Self> {
        let (stamp, rest) = name.split_at_checked(16)?;
        let b = stamp.as_bytes();
        let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
        if !(digits(0..8) && b[8] == b'T' && digits(9..15) && b[15] == b'Z') {
            return None;
        }
        let rest = rest.strip_prefix('-')?;
        let (seed, n) = match rest.split_once('-') {
            Some((seed, n)) => (seed, n.parse().ok().filter(|n| *n >= 2)?),
            None => (rest, 1),
        };
        // from_str_radix alone would take a leading `+`.
        if seed.is_empty() || !seed.bytes().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        Some(Self {
            stamp: stamp.to_string(),
            seed: u64::from_str_radix(seed, 16).ok()?,
            n,
        })
    }

    fn order(&self) -> (&str, u32) {
        (&self.stamp, self.n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn run_names_are_read_as_create_run_dir_writes_them() {
        let n = RunName::parse("20260101T120000Z-1f-3").expect("parse");
        assert_eq!((n.stamp.as_str(), n.seed, n.n), ("20260101T120000Z", 31, 3));
        assert_eq!(RunName::parse("20260101T120000Z-7").map(|n| n.n), Some(1));
        for bad in [
            "A",
            "20260101T120000Z",
            "20260101T120000Z-",
            "20260101X120000Z-1",
            "20260101T120000Z-zz",
            "20260101T120000Z-1-1",
            "20260101T120000Z-+1",
            "2026010éT12000Z-1",
        ] {
            assert_eq!(RunName::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_newest_run_is_chosen_by_its_stamp_then_its_same_second_number() {
        let dir = Path::new("results/smoke");
        let runs = names(&[
            "20260101T120000Z-1",
            "20260102T000000Z-1",
            "20260102T000000Z-1-10",
            "20260102T000000Z-1-9",
        ]);
        assert_eq!(
            choose(dir, &runs, None).expect("newest"),
            "20260102T000000Z-1-10"
        );
        assert_eq!(
            choose(dir, &runs[..1], None).expect("only"),
            "20260101T120000Z-1"
        );
    }

    #[test]
    fn ids_pick_by_exact_name_or_a_unique_prefix() {
        let dir = Path::new("results/smoke");
        let runs = names(&[
            "20260101T120000Z-1",
            "20260101T120000Z-1-2",
            "20260102T000000Z-1",
        ]);
        assert_eq!(
            choose(dir, &runs, Some("20260102")).expect("prefix"),
            "20260102T000000Z-1"
        );
        assert_eq!(
            choose(dir, &runs, Some("20260101T120000Z-1")).expect("exact"),
            "20260101T120000Z-1"
        );
        let e = choose(dir, &runs, Some("202601"))
            .expect_err("ambiguous")
            .to_string();
        assert!(
            e.contains("3 runs start with \"202601\"") && e.contains("20260101T120000Z-1-2"),
            "{e}"
        );
        let e = choose(dir, &runs, Some("2027"))
            .expect_err("none")
            .to_string();
        assert!(
            e.contains("results/smoke@2027") && e.contains("20260102T000000Z-1"),
            "{e}"
        );
    }

    #[test]
    fn runs_without_an_order_are_listed_not_guessed() {
        let dir = Path::new("results/smoke");
        let e = choose(dir, &names(&["A", "B"]), None)
            .expect_err("no stamps")
            .to_string();
        assert!(
            e.contains("\"A\" is not named <stamp>-<seed>") && e.contains("A, B"),
            "{e}"
        );
        let same = names(&["20260101T120000Z-1", "20260101T120000Z-2"]);
        let e = choose(dir, &same, None)
            .expect_err("same second")
            .to_string();
        assert!(
            e.contains("2 runs started in the same second") && e.contains("results/smoke@ID"),
            "{e}"
        );
        assert!(matches!(
            choose(dir, &[], None),
            Err(CompareError::NoRuns(_))
        ));
    }

    #[test]
    fn resolve_lists_the_directory() {
        let tmp = tempfile::tempdir().expect("tmp");
        let campaign = tmp.path().join("smoke");
        for run in ["20260101T120000Z-1", "20260102T120000Z-1"] {
            fs::create_dir_all(campaign.join(run)).expect("dir");
            fs::write(campaign.join(run).join("trials.jsonl"), "").expect("trials");
        }
        fs::create_dir_all(campaign.join("20270101T120000Z-1")).expect("not a run");
        let s = resolve(&campaign).expect("newest");
        assert_eq!(s.dir, campaign.join("20260102T120000Z-1"));
        assert!(s.how.expect("how").starts_with("newest of 2 runs"));
        let at = PathBuf::from(format!("{}@20260101", campaign.display()));
        assert_eq!(
            resolve(&at).expect("id").dir,
            campaign.join("20260101T120000Z-1")
        );
        let run = campaign.join("20260101T120000Z-1");
        assert_eq!(
            resolve(&run).expect("run"),
            Selected {
                dir: run.clone(),
                how: None
            }
        );
        let on_run = PathBuf::from(format!("{}@x", run.display()));
        assert!(matches!(
            resolve(&on_run),
            Err(CompareError::IdOnRun { .. })
        ));
        assert!(matches!(resolve(tmp.path()), Err(CompareError::NoRuns(_))));
    }
}
