//! Reading a results directory back: trials, their time series and events, grouped by
//! condition. What `rrbench report` and `rrbench compare` start from.

use std::{
    collections::BTreeMap,
    fs,
    path::{Path, PathBuf},
};

use super::{TrialRecord, read_trials};
use crate::{
    chaos::{EventKind, events::read_json_lines},
    follower::{RequestSample, Sample},
};

/// A results directory could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Not a directory with `trials.jsonl`.
    #[error(
        "{0}: no trials.jsonl here; pass a campaign results directory such as \
         results/<campaign>/<stamp>-<seed>/"
    )]
    NotResults(PathBuf),
    /// `trials.jsonl` has no complete trial.
    #[error("{0}: trials.jsonl holds no finished trial")]
    Empty(PathBuf),
    /// Reading a file.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

impl LoadError {
    /// Whether the path given is not results (rather than a file failing to read).
    pub fn is_bad_input(&self) -> bool {
        matches!(self, Self::NotResults(_) | Self::Empty(_))
    }
}

/// One trial with what was recorded next to it.
#[derive(Clone, Debug)]
pub struct LoadedTrial {
    /// The `trials.jsonl` line.
    pub record: TrialRecord,
    /// `timeseries/<id>.csv` (empty when missing).
    pub series: Vec<Sample>,
    /// Times (clock seconds) the chaos proxy reset a connection, from `events/<id>.jsonl`.
    pub resets: Vec<f64>,
    /// Every chunk request, from `requests/<id>.csv` (empty when missing).
    pub requests: Vec<RequestSample>,
}

/// A campaign's results as written by `rrbench campaign run`.
#[derive(Clone, Debug)]
pub struct ResultsDir {
    /// The directory.
    pub dir: PathBuf,
    /// Campaign name (from the trials).
    pub campaign: String,
    /// The campaign's description (from `campaign.toml`, empty when missing).
    pub description: String,
    /// Trials ordered by id.
    pub trials: Vec<LoadedTrial>,
}

impl ResultsDir {
    /// Reads `dir`; a torn last line of `trials.jsonl` is ignored, a missing time series or event
    /// file leaves that part empty.
    pub fn open(dir: &Path) -> Result<Self, LoadError> {
        let trials_path = dir.join("trials.jsonl");
        if !trials_path.is_file() {
            return Err(LoadError::NotResults(dir.to_path_buf()));
        }
        let mut records = read_trials(&trials_path).map_err(|source| LoadError::Io {
            path: trials_path.clone(),
            source,
        })?;
        if records.is_empty() {
            return Err(LoadError::Empty(dir.to_path_buf()));
        }
        records.sort_by(|a, b| a.trial.cmp(&b.trial));
        let campaign = records[0].campaign.clone();
        let description = fs::read_to_string(dir.join("campaign.toml"))
            .ok()
            .and_then(|text| {
                toml::from_str::<toml::Table>(&text)
                    .ok()?
                    .get("description")?
                    .as_str()
                    .map(str::to_owned)
            })
            .unwrap_or_default();
        let trials = records
            .into_iter()
            .map(|record| {
                let series = fs::read_to_string(
                    dir.join("timeseries").join(format!("{}.csv", record.trial)),
                )
                .map(|t| parse_timeseries(&t))
                .unwrap_or_default();
                let resets =
                    fs::read_to_string(dir.join("events").join(format!("{}.jsonl", record.trial)))
                        .map(|t| reset_times(&t))
                        .unwrap_or_default();
                let requests =
                    fs::read_to_string(dir.join("requests").join(format!("{}.csv", record.trial)))
                        .map(|t| parse_requests(&t))
                        .unwrap_or_default();
                LoadedTrial {
                    record,
                    series,
                    resets,
                    requests,
                }
            })
            .collect();
        Ok(Self {
            dir: dir.to_path_buf(),
            campaign,
            description,
            trials,
        })
    }

    /// Trials grouped by condition (their matrix values), in the order conditions first appear.
    pub fn by_condition(&self) -> Vec<(Condition, Vec<&LoadedTrial>)> {
        let mut groups: Vec<(Condition, Vec<&LoadedTrial>)> = Vec::new();
        for t in &self.trials {
            let c = Condition::of(&t.record);
            match groups.iter_mut().find(|(k, _)| *k == c) {
                Some((_, v)) => v.push(t),
                None => groups.push((c, vec![t])),
            }
        }
        groups.sort_by_key(|(_, v)| v.first().map(|t| t.record.cell));
        groups
    }
}

/// A matrix cell's values, the key trials are grouped and matched by.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Condition(pub BTreeMap<String, String>);

impl Condition {
    /// The condition of a trial.
    pub fn of(record: &TrialRecord) -> Self {
        Self(
            record
                .params
                .iter()
                .map(|(k, v)| (k.clone(), plain(v)))
                .collect(),
        )
    }

    /// The value of one parameter.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// `key=value` pairs with the common prefixes (`settings.`, `faults.`) dropped, or
    /// `(no matrix)`.
    pub fn label(&self) -> String {
        self.label_without(&[])
    }

    /// Like [`Condition::label`] but leaving out `skip` keys.
    /// A key keeps its prefix where two keys would read the same without it
    /// (`leader.max_bytes_per_sec` and `settings.max_bytes_per_sec`).
    pub fn label_without(&self, skip: &[&str]) -> String {
        let alike = |short: &str| self.0.keys().filter(|k| short_key(k) == short).count();
        let parts: Vec<String> = self
            .0
            .iter()
            .filter(|(k, _)| !skip.contains(&k.as_str()))
            .map(|(k, v)| match short_key(k) {
                short if alike(short) > 1 => format!("{k}={v}"),
                short => format!("{short}={v}"),
            })
            .collect();
        if parts.is_empty() {
            "(no matrix)".into()
        } else {
            parts.join(" ")
        }
    }
}

/// A parameter key without its `settings.` / `leader.` / `faults.` prefix.
pub fn short_key(key: &str) -> &str {
    ["settings.", "leader.", "faults.", "index."]
        .iter()
        .find_map(|p| key.strip_prefix(p))
        .unwrap_or(key)
}

/// A JSON value as a user wrote it: strings without quotes.
fn plain(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn parse_timeseries(text: &str) -> Vec<Sample> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let mut parts = line.split(',');
            Some(Sample {
                t: parts.next()?.parse().ok()?,
                bytes: parts.next()?.parse().ok()?,
                attempt: parts.next()?.parse().ok()?,
                verified: parts.next().and_then(|v| v.parse().ok()).unwrap_or(0),
            })
        })
        .collect()
}

fn parse_requests(text: &str) -> Vec<RequestSample> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let mut parts = line.split(',');
            Some(RequestSample {
                t: parts.next()?.parse().ok()?,
                latency_s: parts.next()?.parse().ok()?,
                attempt: parts.next()?.parse().ok()?,
                bytes: parts.next()?.parse().ok()?,
                ok: parts.next()?.parse().ok()?,
            })
        })
        .collect()
}

/// Reset times from an events file (the engine's lines, which are not chaos events, are skipped).
fn reset_times(text: &str) -> Vec<f64> {
    read_json_lines(text, 0.0)
        .into_iter()
        .filter(|e| matches!(e.kind, EventKind::ConnReset { .. }))
        .map(|e| e.t)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_series_and_resets() {
        let s = parse_timeseries("t,bytes,attempt\n0.1000,5,1\nbad\n0.2000,9,2\n");
        assert_eq!(s.len(), 2);
        assert_eq!((s[1].bytes, s[1].attempt), (9, 2));
        // As the proxy and the engine write them: a reset, an open, an engine failure.
        let r = reset_times(concat!(
            r#"{"t":1.5,"source":"chaos","event":"conn_reset","conn":1,"fault":"flap","bytes_up":10,"bytes_down":20}"#,
            "\n",
            r#"{"t":2.0,"source":"chaos","event":"conn_open","conn":2,"peer":"127.0.0.1:1"}"#,
            "\n",
            r#"{"t":2.1,"source":"engine","event":"attempt_failed","attempt":1,"kind":"reset"}"#,
            "\n",
        ));
        assert_eq!(r, vec![1.5]);
    }

    #[test]
    fn labels_drop_prefixes() {
        let c = Condition(BTreeMap::from([
            ("faults.wan.delay".to_string(), "10ms".to_string()),
            ("settings.policy".to_string(), "resumable".to_string()),
        ]));
        assert_eq!(c.label(), "wan.delay=10ms policy=resumable");
        assert_eq!(c.label_without(&["settings.policy"]), "wan.delay=10ms");
        assert_eq!(Condition::default().label(), "(no matrix)");
        // Two keys that would read the same keep their prefixes.
        let both = Condition(BTreeMap::from([
            ("leader.max_bytes_per_sec".to_string(), "10mb".to_string()),
            ("settings.max_bytes_per_sec".to_string(), "0b".to_string()),
            ("leaders".to_string(), "4".to_string()),
        ]));
        assert_eq!(
            both.label(),
            "leader.max_bytes_per_sec=10mb leaders=4 settings.max_bytes_per_sec=0b"
        );
    }
}
