//! What differs between two runs, besides their numbers: the campaign file's settings (with the
//! `--set` overrides and `--seed` the run recorded), its faults, the rrbench version and the
//! machine (`env.json`, as [`crate::results::capture_env`] writes it).
//!
//! Reading a run's files is [`RunInfo::read`]; everything else is pure: [`RunInfo::parse`]
//! flattens the files into `key -> value`, [`diff`] lists the keys whose values differ.

use std::{collections::BTreeMap, fmt, fs, path::Path};

use super::select::RunName;

/// The comment line `rrbench campaign run` appends to `campaign.toml` per `--set`.
const SET_COMMENT: &str = "# rrbench campaign run --set ";

/// Where a difference is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Section {
    /// A value of the campaign file other than a fault.
    Campaign,
    /// A `faults.*` value of the campaign file.
    Faults,
    /// The rrbench version or git revision.
    Version,
    /// The machine: CPU, cores, memory, kernel, host.
    Machine,
}

impl fmt::Display for Section {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Section::Campaign => "campaign",
            Section::Faults => "faults",
            Section::Version => "rrbench",
            Section::Machine => "machine",
        })
    }
}

/// One key whose value differs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Difference {
    /// Where it is.
    pub section: Section,
    /// The key (`settings.max_concurrent_file_chunks`, `cores`).
    pub key: String,
    /// The baseline's value, as written (`5`, `"2ms"`), with where it came from when not the file.
    pub baseline: String,
    /// The contender's value.
    pub contender: String,
}

/// Everything that differs between two runs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Differences {
    /// The keys that differ, by section then key.
    pub items: Vec<Difference>,
    /// Files neither run recorded (or both recorded unreadably), so nothing in them could be
    /// compared.
    pub unrecorded: Vec<&'static str>,
}

impl Differences {
    /// Nothing differs, and everything was recorded on both sides.
    pub fn identical(&self) -> bool {
        self.items.is_empty() && self.unrecorded.is_empty()
    }
}

/// Where a setting's value came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Via {
    File,
    Set,
    SeedOption,
}

/// A flattened value: `5`, `"2ms"`, `["0ms","5ms"]` (JSON, as the campaign errors show them).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Setting {
    value: String,
    via: Via,
}

impl fmt::Display for Setting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.value)?;
        match self.via {
            Via::File => Ok(()),
            Via::Set => f.write_str(" (--set)"),
            Via::SeedOption => f.write_str(" (--seed)"),
        }
    }
}

/// A file of a run that could not be compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Absent {
    Missing,
    Unreadable,
}

impl fmt::Display for Absent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Absent::Missing => "(no file)",
            Absent::Unreadable => "(unreadable)",
        })
    }
}

/// What a run recorded about how it ran.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunInfo {
    settings: Result<BTreeMap<String, Setting>, Absent>,
    env: Result<BTreeMap<String, String>, Absent>,
}

impl RunInfo {
    /// Reads `campaign.toml` and `env.json` of run directory `dir`.
    pub fn read(dir: &Path) -> Self {
        let text = |name: &str| fs::read_to_string(dir.join(name)).ok();
        let name = dir.file_name().and_then(|n| n.to_str());
        Self::parse(
            text("campaign.toml").as_deref(),
            text("env.json").as_deref(),
            name,
        )
    }

    /// From the two files' text (`None`: missing) and the run directory's name, whose seed is
    /// the one the run used (`--seed` overrides the file's).
    pub fn parse(campaign_toml: Option<&str>, env_json: Option<&str>, run: Option<&str>) -> Self {
        let settings = campaign_toml.ok_or(Absent::Missing).and_then(|text| {
            let table: toml::Table = toml::from_str(text).map_err(|_| Absent::Unreadable)?;
            let mut flat = BTreeMap::new();
            flatten(&mut Vec::new(), &table, &mut flat);
            for line in text.lines() {
                let Some((key, value)) = line
                    .strip_prefix(SET_COMMENT)
                    .and_then(|o| o.split_once('='))
                else {
                    continue;
                };
                let key = key.trim().split('.').map(quote_key).collect::<Vec<_>>();
                let setting = Setting {
                    value: show(&override_value(value.trim())),
                    via: Via::Set,
                };
                flat.insert(key.join("."), setting);
            }
            if let Some(seed) = run.and_then(RunName::parse).map(|n| n.seed.to_string())
                && flat.get("seed").is_none_or(|s| s.value != seed)
            {
                let setting = Setting {
                    value: seed,
                    via: Via::SeedOption,
                };
                flat.insert("seed".into(), setting);
            }
            Ok(flat)
        });
        let env = env_json.ok_or(Absent::Missing).and_then(|text| {
            let value: serde_json::Value =
                serde_json::from_str(text).map_err(|_| Absent::Unreadable)?;
            let object = value.as_object().ok_or(Absent::Unreadable)?;
            Ok(object
                .iter()
                .filter(|(k, _)| *k != "schema")
                .map(|(k, v)| {
                    let v = match v {
                        serde_json::Value::String(s) => s.clone(),
                        serde_json::Value::Null => "(unknown)".into(),
                        other => other.to_string(),
                    };
                    (k.clone(), v)
                })
                .collect())
        });
        Self { settings, env }
    }
}

/// The keys whose values differ between `a` (the baseline) and `b` (the contender).
pub fn diff(a: &RunInfo, b: &RunInfo) -> Differences {
    let mut out = Differences::default();
    match (&a.settings, &b.settings) {
        (Ok(x), Ok(y)) => out.items.extend(diff_maps(x, y, "(not set)", |k| {
            if k.starts_with("faults.") {
                Section::Faults
            } else {
                Section::Campaign
            }
        })),
        (Err(x), Err(y)) if x == y => out.unrecorded.push("campaign.toml"),
        (x, y) => out
            .items
            .push(whole_file(Section::Campaign, "campaign.toml", x, y)),
    }
    match (&a.env, &b.env) {
        (Ok(x), Ok(y)) => out.items.extend(diff_maps(x, y, "(unknown)", |k| {
            if matches!(k, "rrbench_version" | "git_revision") {
                Section::Version
            } else {
                Section::Machine
            }
        })),
        (Err(x), Err(y)) if x == y => out.unrecorded.push("env.json"),
        (x, y) => out
            .items
            .push(whole_file(Section::Machine, "env.json", x, y)),
    }
    out.items
        .sort_by(|x, y| (x.section, &x.key).cmp(&(y.section, &y.key)));
    out
}

/// The part of a value two runs are compared by (a setting's value, not where it came from).
trait Compared: fmt::Display {
    fn compared(&self) -> &str;
}

impl Compared for Setting {
    fn compared(&self) -> &str {
        &self.value
    }
}

impl Compared for String {
    fn compared(&self) -> &str {
        self
    }
}

fn diff_maps<V: Compared>(
    a: &BTreeMap<String, V>,
    b: &BTreeMap<String, V>,
    none: &str,
    section: impl Fn(&str) -> Section,
) -> Vec<Difference> {
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    let same = |x: Option<&V>, y: Option<&V>| match (x, y) {
        (Some(x), Some(y)) => x.compared() == y.compared(),
        (None, None) => true,
        _ => false,
    };
    keys.into_iter()
        .filter(|k| !same(a.get(*k), b.get(*k)))
        .map(|k| {
            let show = |v: Option<&V>| v.map_or(none.to_string(), V::to_string);
            Difference {
                section: section(k),
                key: k.clone(),
                baseline: show(a.get(k)),
                contender: show(b.get(k)),
            }
        })
        .collect()
}

fn whole_file<T>(
    section: Section,
    file: &str,
    a: &Result<T, Absent>,
    b: &Result<T, Absent>,
) -> Difference {
    let show = |x: &Result<T, Absent>| match x {
        Ok(_) => "(recorded)".to_string(),
        Err(e) => e.to_string(),
    };
    Difference {
        section,
        key: file.to_string(),
        baseline: show(a),
        contender: show(b),
    }
}

/// Leaves of `table` as `a.b.c -> value`; arrays are one value.
fn flatten(path: &mut Vec<String>, table: &toml::Table, out: &mut BTreeMap<String, Setting>) {
    for (k, v) in table {
        path.push(quote_key(k));
        match v {
            toml::Value::Table(t) => flatten(path, t, out),
            leaf => {
                let setting = Setting {
                    value: show(leaf),
                    via: Via::File,
                };
                out.insert(path.join("."), setting);
            }
        }
        path.pop();
    }
}

/// A key part as TOML writes it: bare when it can be, quoted otherwise (matrix axes such as
/// `"faults.wan.delay"`).
fn quote_key(k: &str) -> String {
    let bare = !k.is_empty()
        && k.bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-');
    if bare {
        k.to_string()
    } else {
        format!("{k:?}")
    }
}

/// A `--set` value as the campaign reads it: TOML when it is (`1`, `true`, `"x"`), a string
/// otherwise (`25ms`).
fn override_value(value: &str) -> toml::Value {
    toml::from_str::<toml::Table>(&format!("v = {value}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(value.to_string()))
}

fn show(v: &toml::Value) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| format!("{v:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "name = \"smoke\"\nseed = 1\nrepetitions = 1\n\n[settings]\n\
                        max_concurrent_file_chunks = 5\n\n[faults.wan]\ntype = \"latency\"\n\
                        delay = \"2ms\"\n\n[matrix]\n\"settings.policy\" = [\"a\", \"b\"]\n";

    fn env(cores: u32, version: &str) -> String {
        let env = serde_json::json!({
            "schema": "rrbench.env/1", "cores": cores, "cpu": null, "rrbench_version": version
        });
        env.to_string()
    }

    fn info(toml: &str, env: &str, run: &str) -> RunInfo {
        RunInfo::parse(Some(toml), Some(env), Some(run))
    }

    #[test]
    fn the_same_files_are_identical() {
        let a = info(FILE, &env(4, "0.1.0"), "20260101T000000Z-1");
        let b = info(FILE, &env(4, "0.1.0"), "20260102T000000Z-1");
        let d = diff(&a, &b);
        assert!(d.identical(), "{d:?}");
    }

    #[test]
    fn settings_faults_version_and_machine_are_each_listed() {
        let a = info(FILE, &env(4, "0.1.0"), "x");
        let other = FILE
            .replace("delay = \"2ms\"", "delay = \"5ms\"")
            .replace("repetitions = 1", "repetitions = 3")
            .replace("[\"a\", \"b\"]", "[\"a\"]");
        let b = info(&other, &env(8, "0.2.0"), "x");
        let d = diff(&a, &b);
        let rows: Vec<(Section, &str, &str, &str)> = d
            .items
            .iter()
            .map(|i| {
                (
                    i.section,
                    i.key.as_str(),
                    i.baseline.as_str(),
                    i.contender.as_str(),
                )
            })
            .collect();
        assert_eq!(
            rows,
            vec![
                (
                    Section::Campaign,
                    "matrix.\"settings.policy\"",
                    "[\"a\",\"b\"]",
                    "[\"a\"]"
                ),
                (Section::Campaign, "repetitions", "1", "3"),
                (Section::Faults, "faults.wan.delay", "\"2ms\"", "\"5ms\""),
                (Section::Version, "rrbench_version", "0.1.0", "0.2.0"),
                (Section::Machine, "cores", "4", "8"),
            ]
        );
        assert!(!d.identical());
    }

    #[test]
    fn recorded_overrides_and_the_seed_of_the_run_count() {
        let one = format!("{FILE}\n{SET_COMMENT}settings.max_concurrent_file_chunks=1");
        let five = format!("{FILE}\n{SET_COMMENT}settings.max_concurrent_file_chunks=5");
        let e = env(4, "0.1.0");
        let d = diff(&info(&one, &e, "x"), &info(&five, &e, "x"));
        assert_eq!(d.items.len(), 1, "{d:?}");
        assert_eq!(d.items[0].key, "settings.max_concurrent_file_chunks");
        assert_eq!(
            (d.items[0].baseline.as_str(), d.items[0].contender.as_str()),
            ("1 (--set)", "5 (--set)")
        );
        // The file already says 5: the same value, however it was given.
        assert!(diff(&info(FILE, &e, "x"), &info(&five, &e, "x")).identical());
        let d = diff(
            &info(FILE, &e, "20260101T000000Z-1"),
            &info(FILE, &e, "20260101T000000Z-ff"),
        );
        assert_eq!(d.items[0].key, "seed");
        assert_eq!(
            (d.items[0].baseline.as_str(), d.items[0].contender.as_str()),
            ("1", "255 (--seed)")
        );
    }

    #[test]
    fn missing_files_are_said_not_taken_for_identical() {
        let none = RunInfo::parse(None, None, None);
        let d = diff(&none, &none);
        assert!(d.items.is_empty() && !d.identical());
        assert_eq!(d.unrecorded, vec!["campaign.toml", "env.json"]);
        let d = diff(
            &none,
            &RunInfo::parse(Some("name = \"unterminated"), Some(&env(1, "0")), None),
        );
        assert_eq!(d.items[0].baseline, "(no file)", "{d:?}");
        assert_eq!(d.items[0].contender, "(unreadable)", "{d:?}");
        assert_eq!(d.items[1].contender, "(recorded)");
    }
}
