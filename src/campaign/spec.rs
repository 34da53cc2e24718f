//! A campaign file: what to recover, with which settings and faults, crossed over a matrix.
//!
//! ```toml
//! name = "wan-latency-sweep"
//! seed = 7
//! repetitions = 3
//! time_limit = "60s"
//!
//! [index]
//! size = "64mb"
//! files = 12
//!
//! [settings]                 # the follower's settings, Elasticsearch names; defaults otherwise
//! max_bytes_per_sec = "0"
//!
//! [chaos]                    # where faults act: l4 proxies (default) or the l3 link (root)
//! layer = "l4"
//!
//! [faults.wan]
//! type = "latency"
//! delay = "25ms"
//!
//! [matrix]                   # any setting or fault parameter, by its dotted path
//! "faults.wan.delay" = ["0ms", "25ms", "50ms"]
//! "settings.max_concurrent_file_chunks" = [1, 5, 10]
//! ```
//!
//! Parsing checks everything before anything runs: the file itself (errors give the line and
//! key), every matrix key (it must name a setting, a leader setting or a field of a declared
//! fault), and every matrix cell applied to the file (errors name the key and the value).

use std::{collections::BTreeMap, time::Duration};

use serde::{Deserialize, Serialize};
use toml::Value;

use super::{
    expect::{ExpectWhen, Expectations},
    hosts::Hosts,
    matrix::{Trial, expand, set_path},
};
use crate::{
    chaos::{Fault, fault::name_uniquely},
    settings::{LeaderSettings, OutOfRange, RecoverySettings},
    units::{ByteSize, duration_serde},
    vocabulary::{ChaosLayer, Transport},
};

/// A campaign file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CampaignError {
    /// Not TOML, or a key with a wrong value (the message has the line and the key).
    /// Transparent: the TOML error is this error, not also its cause to be told again.
    #[error(transparent)]
    Parse(#[from] toml::de::Error),
    /// A matrix key that names nothing that can vary.
    #[error("matrix key `{key}`: {problem}")]
    MatrixKey {
        /// The key.
        key: String,
        /// What is wrong and what was expected.
        problem: String,
    },
    /// A matrix value that does not fit where it goes.
    #[error("matrix key `{key}` = {value}: {problem}")]
    MatrixValue {
        /// The key.
        key: String,
        /// The value, as written.
        value: String,
        /// What is wrong.
        problem: String,
    },
    /// A `--set KEY=VALUE` that cannot apply.
    #[error("--set {text}: {problem}")]
    Override {
        /// The override as given.
        text: String,
        /// What is wrong.
        problem: String,
    },
    /// A campaign name that cannot name a results directory (`<out>/<name>/`).
    #[error(
        "name = {name:?} {problem}: the name becomes the results directory <out>/<name>/, so \
         use 1 to {MAX_NAME_LEN} of A-Z a-z 0-9 . _ - and do not start with `.`"
    )]
    Name {
        /// The name as written.
        name: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A value that parses but leaves nothing to run (zero files, repetitions or time).
    #[error("{context}{key} = {value}: {problem}")]
    Value {
        /// Where (empty for the file itself, `matrix cell ...: ` for a cell).
        context: String,
        /// The key.
        key: &'static str,
        /// The value, as read.
        value: String,
        /// What is wrong and what would work.
        problem: String,
    },
    /// A setting out of its range (in the file or in a matrix cell).
    #[error("{context}{source}")]
    Settings {
        /// Where (empty for the file itself, `matrix cell ...: ` for a cell).
        context: String,
        /// The setting.
        source: OutOfRange,
    },
}

/// The index a campaign recovers (generated once, cached by size, files and seed).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexSpec {
    /// Total size.
    pub size: ByteSize,
    /// Number of files.
    pub files: u32,
    /// Seed of sizes and bytes.
    #[serde(default)]
    pub seed: u64,
    /// Shards (`index.number_of_shards`), each of `size` bytes in `files` files; the follower
    /// restores `settings.node_initial_primaries_recoveries` of them at once.
    #[serde(default = "one_shard")]
    pub shards: u32,
}

fn one_shard() -> u32 {
    1
}

/// Where the faults are injected.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChaosSpec {
    /// `l4` (default) or `l3`.
    #[serde(default)]
    pub layer: ChaosLayer,
}

/// The resolved contents of a campaign file (or of one matrix cell applied to it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CampaignSpec {
    /// Campaign name (names the results directory).
    pub name: String,
    /// What real story it reproduces and what to expect.
    #[serde(default)]
    pub description: String,
    /// Seed of run order and every random choice.
    #[serde(default)]
    pub seed: u64,
    /// Runs of each matrix cell.
    #[serde(default = "one")]
    pub repetitions: u32,
    /// Bound on each trial.
    #[serde(default = "a_minute", with = "duration_serde")]
    pub time_limit: Duration,
    /// Followers recovering from the one leader at once in each trial (fan-out: one catalogue
    /// replicated to many datacenters), each a node of its own with its own rate limiter.
    #[serde(default = "one")]
    pub followers: u32,
    /// Leader clusters one follower node restores from at once in each trial (fan-in: one node
    /// pulling several leader indices), each leader with its own copy of the index, its own
    /// path and faults; the follower node's one limiter and its
    /// `node_initial_primaries_recoveries` slots are shared by all of them.
    #[serde(default = "one")]
    pub leaders: u32,
    /// Nodes of the (each) leader cluster, the primary of shard `s` on node `s % leader_nodes`,
    /// each node with its own listener and its own `max_bytes_per_sec` limiter, reached as
    /// `settings.mode` says: in sniff mode through the first `settings.node_connections`
    /// gateway nodes (one injector per node), in proxy mode through one injector in front of
    /// every node (a load balancer). TCP only.
    #[serde(default = "one")]
    pub leader_nodes: u32,
    /// The index.
    pub index: IndexSpec,
    /// Leader settings.
    #[serde(default)]
    pub leader: LeaderSettings,
    /// Follower settings: what the table gives, the rest its policy's defaults.
    #[serde(default, deserialize_with = "policy_defaulted")]
    pub settings: RecoverySettings,
    /// Which injector carries the faults.
    #[serde(default)]
    pub chaos: ChaosSpec,
    /// Faults at the proxy (or on the link), by name.
    #[serde(default)]
    pub faults: BTreeMap<String, Fault>,
    /// Values to cross, by dotted path.
    #[serde(default)]
    pub matrix: BTreeMap<String, Vec<Value>>,
    /// What every trial should show.
    #[serde(default)]
    pub expect: Expectations,
    /// What the trials of matching cells should show instead.
    #[serde(default)]
    pub expect_when: Vec<ExpectWhen>,
    /// Where the leader and the chaos run (here, or on an agent).
    #[serde(default)]
    pub hosts: Hosts,
}

/// Most followers a trial may start: each holds a leader connection per channel, and the
/// leader's default `max_connections` (1024) must not be what a fan-out trial measures.
pub const MAX_FOLLOWERS: u32 = 128;

/// Most leader clusters a fan-in trial may start (each its own leader, injector and
/// certificate).
pub const MAX_LEADERS: u32 = 32;

/// Most nodes of a trial's leader cluster (as `rrbench leader --nodes`).
pub const MAX_LEADER_NODES: u32 = crate::rig::MAX_LEADER_NODES as u32;

pub use crate::follower::index_recovery::MAX_SHARDS;

/// Reads `[settings]` and fills what it leaves out with the defaults of its policy
/// ([`RecoverySettings::defaults_for`]): an opensearch cell without a chunk_size gets the
/// plugin's 10mb and no rate limit, an elasticsearch one 1mb and 40mb.
fn policy_defaulted<'de, D: serde::Deserializer<'de>>(d: D) -> Result<RecoverySettings, D::Error> {
    let table = toml::Table::deserialize(d)?;
    let mut settings = RecoverySettings::deserialize(Value::Table(table.clone()))
        .map_err(|e| serde::de::Error::custom(e.message()))?;
    settings.fill_policy_defaults(|key| table.contains_key(key));
    Ok(settings)
}

/// Longest campaign name: it is one path component, and stays readable in listings.
pub const MAX_NAME_LEN: usize = 100;

/// Checks that a campaign name is one plain path component: `[A-Za-z0-9._-]{1,100}`, not
/// starting with `.` (no `..`, no hidden directories, no `.index-cache`).
fn check_name(name: &str) -> Result<(), CampaignError> {
    let problem = if name.is_empty() {
        Some("is empty".to_string())
    } else if name.chars().count() > MAX_NAME_LEN {
        Some(format!("is {} characters long", name.chars().count()))
    } else if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        Some(format!("contains {c:?}"))
    } else if name.starts_with('.') {
        Some("starts with `.`".to_string())
    } else {
        None
    };
    match problem {
        Some(problem) => Err(CampaignError::Name {
            name: name.to_string(),
            problem,
        }),
        None => Ok(()),
    }
}

fn one() -> u32 {
    1
}

fn a_minute() -> Duration {
    Duration::from_secs(60)
}

/// A parsed campaign: the file, and each matrix cell resolved into a full spec.
#[derive(Clone, Debug)]
pub struct Campaign {
    /// The file as written (defaults filled in).
    pub spec: CampaignSpec,
    /// One resolved spec per matrix cell, in cell order.
    pub cells: Vec<CampaignSpec>,
    /// Every trial, in run order.
    pub trials: Vec<Trial>,
    /// Each cell's table as it was read into `cells` (what an agent is sent, to read the cell
    /// with this same parser: [`CampaignSpec::from_cell_table`]).
    pub tables: Vec<toml::Table>,
}

impl CampaignSpec {
    /// Faults in a list, each named after its table key unless it has a name of its own. A
    /// fault at `toxicity = 0` is off: left out, so it is checked against no injector (a matrix
    /// switches between an L4 and an L3 middlebox by the toxicity of each).
    pub fn fault_list(&self) -> Vec<Fault> {
        self.faults
            .iter()
            .filter(|(_, f)| f.toxicity > 0.0)
            .map(|(key, f)| {
                let mut f = f.clone();
                if f.name == f.kind.type_name() {
                    f.name = key.clone();
                }
                f
            })
            .collect()
    }

    /// A matrix cell from its table (see [`Campaign::tables`]), with the campaign's `seed`,
    /// checked as the campaign's own cells are.
    pub fn from_cell_table(table: toml::Table, seed: u64) -> Result<Self, CampaignError> {
        let mut cell: CampaignSpec = Value::Table(table).try_into()?;
        cell.seed = seed;
        cell.matrix = BTreeMap::new();
        cell.validate("")?;
        Ok(cell)
    }

    fn validate(&self, context: &str) -> Result<(), CampaignError> {
        let wrap = |source| CampaignError::Settings {
            context: context.to_string(),
            source,
        };
        self.check_runnable(context)?;
        self.settings.validate().map_err(wrap)?;
        self.leader.validate().map_err(wrap)?;
        let mut faults = self.fault_list();
        name_uniquely(&mut faults).map_err(|e| CampaignError::MatrixValue {
            key: "faults".into(),
            value: String::new(),
            problem: e.to_string(),
        })?;
        Ok(())
    }

    /// Refuses values that parse but leave nothing to run: zero files (or fewer bytes than
    /// files), a zero time limit, zero repetitions.
    fn check_runnable(&self, context: &str) -> Result<(), CampaignError> {
        let bad = |key, value: String, problem: &str| CampaignError::Value {
            context: context.to_string(),
            key,
            value,
            problem: problem.to_string(),
        };
        if self.index.files == 0 {
            return Err(bad(
                "index.files",
                "0".into(),
                "an index needs at least one file",
            ));
        }
        if self.index.size.bytes() < u64::from(self.index.files) {
            return Err(bad(
                "index.size",
                format!("{:?}", self.index.size.to_string()),
                &format!(
                    "smaller than index.files = {}: every file needs at least one byte",
                    self.index.files
                ),
            ));
        }
        if !(1..=MAX_SHARDS).contains(&self.index.shards) {
            return Err(bad(
                "index.shards",
                self.index.shards.to_string(),
                &format!("an index has 1 to {MAX_SHARDS} shards"),
            ));
        }
        if self.time_limit.is_zero() {
            return Err(bad(
                "time_limit",
                "\"0s\"".into(),
                "a trial needs time to run (e.g. \"60s\")",
            ));
        }
        if !(1..=MAX_FOLLOWERS).contains(&self.followers) {
            return Err(bad(
                "followers",
                self.followers.to_string(),
                &format!(
                    "a trial runs 1 to {MAX_FOLLOWERS} followers against its leader (1, the \
                     default, is one follower)"
                ),
            ));
        }
        if self.followers > 1 && self.index.shards > 1 {
            return Err(bad(
                "followers",
                self.followers.to_string(),
                &format!(
                    "a fan-out trial recovers an index of one shard (this cell has index.shards = \
                     {}): the trial record keeps one set of shard lines, not one per follower",
                    self.index.shards
                ),
            ));
        }
        if !(1..=MAX_LEADERS).contains(&self.leaders) {
            return Err(bad(
                "leaders",
                self.leaders.to_string(),
                &format!(
                    "a trial restores from 1 to {MAX_LEADERS} leader clusters at once (1, the \
                     default, is one leader)"
                ),
            ));
        }
        if self.leaders > 1 && self.followers > 1 {
            return Err(bad(
                "leaders",
                self.leaders.to_string(),
                &format!(
                    "a trial is fan-in (leaders > 1) or fan-out (followers > 1), not both (this \
                     cell has followers = {})",
                    self.followers
                ),
            ));
        }
        if self.leaders > 1 && self.index.shards > 1 {
            return Err(bad(
                "leaders",
                self.leaders.to_string(),
                &format!(
                    "a fan-in trial recovers indices of one shard (this cell has index.shards = \
                     {}): the trial record keeps one set of shard lines, not one per leader",
                    self.index.shards
                ),
            ));
        }
        if !(1..=MAX_LEADER_NODES).contains(&self.leader_nodes) {
            return Err(bad(
                "leader_nodes",
                self.leader_nodes.to_string(),
                &format!("a leader cluster has 1 to {MAX_LEADER_NODES} nodes"),
            ));
        }
        if self.leader_nodes > 1 && self.settings.transport != Transport::Tcp {
            return Err(bad(
                "leader_nodes",
                self.leader_nodes.to_string(),
                "a leader cluster of several nodes is reached over TCP (settings.transport = \
                 \"tcp\"), as Elasticsearch's remote clusters are",
            ));
        }
        if let Err((key, value, problem)) = super::hosts::check(self) {
            return Err(bad(key, value, &problem));
        }
        if self.repetitions == 0 {
            return Err(bad(
                "repetitions",
                "0".into(),
                "every matrix cell needs at least one run",
            ));
        }
        Ok(())
    }
}

/// Checks that a matrix key names something that can vary.
fn check_key(spec: &CampaignSpec, key: &str) -> Result<(), CampaignError> {
    let bad = |problem: String| CampaignError::MatrixKey {
        key: key.to_string(),
        problem,
    };
    match key.split('.').collect::<Vec<_>>().as_slice() {
        ["settings" | "leader" | "index" | "chaos", _]
        | ["followers" | "leaders" | "leader_nodes"] => Ok(()),
        ["faults", name, _field] if spec.faults.contains_key(*name) => Ok(()),
        ["faults", name, _] => Err(bad(format!(
            "no fault `{name}` is declared (declared: {})",
            spec.faults.keys().cloned().collect::<Vec<_>>().join(", ")
        ))),
        _ => Err(bad(
            "expected followers, leaders, leader_nodes, settings.NAME, leader.NAME, index.NAME, \
             chaos.layer or faults.FAULT.FIELD"
                .into(),
        )),
    }
}

/// Checks a matrix axis: its key, or, when its values are tables of keys set together (see
/// [`super::matrix::cells`]), every key of every table (the axis's key is then a label).
fn check_axis(spec: &CampaignSpec, key: &str, values: &[Value]) -> Result<(), CampaignError> {
    let tables = values.iter().filter(|v| v.is_table()).count();
    if tables == 0 {
        return check_key(spec, key);
    }
    if tables != values.len() {
        return Err(CampaignError::MatrixKey {
            key: key.to_string(),
            problem: "mixes tables of keys set together with plain values; use one or the other"
                .into(),
        });
    }
    for value in values {
        let table = value.as_table().expect("counted");
        if table.is_empty() {
            return Err(CampaignError::MatrixValue {
                key: key.to_string(),
                value: show(value),
                problem: "an empty table sets nothing".into(),
            });
        }
        for inner in table.keys() {
            check_key(spec, inner)?;
        }
    }
    Ok(())
}

/// Sets one `KEY=VALUE` override in the file's table.
fn apply_override(raw: &mut toml::Table, text: &str) -> Result<(), CampaignError> {
    let bad = |problem: String| CampaignError::Override {
        text: text.to_string(),
        problem,
    };
    let (key, value) = text
        .split_once('=')
        .ok_or_else(|| bad("expected KEY=VALUE".into()))?;
    let key = key.trim();
    let top = [
        "name",
        "description",
        "seed",
        "repetitions",
        "time_limit",
        "followers",
        "leaders",
        "leader_nodes",
    ];
    let shape_ok = match key.split('.').collect::<Vec<_>>().as_slice() {
        [one] => top.contains(one),
        ["settings" | "leader" | "index" | "expect" | "chaos", _] => true,
        ["faults", name, _] => raw.get("faults").and_then(|f| f.get(*name)).is_some(),
        _ => false,
    };
    if !shape_ok {
        return Err(bad(format!(
            "expected {}, settings.NAME, leader.NAME, index.NAME, expect.NAME, chaos.layer \
             or faults.FAULT.FIELD of a declared fault",
            top.join(", ")
        )));
    }
    if raw
        .get("matrix")
        .and_then(|m| m.as_table())
        .is_some_and(|m| m.contains_key(key))
    {
        return Err(bad(format!(
            "`{key}` is a matrix axis; its values come from [matrix]"
        )));
    }
    let value = value.trim();
    let parsed = toml::from_str::<toml::Table>(&format!("v = {value}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| Value::String(value.to_string()));
    super::matrix::set_path(raw, key, parsed).map_err(bad)
}

/// A value as written in the file (`"25ms"`, `5`).
fn show(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| format!("{v:?}"))
}

/// Finds which of a cell's values breaks the file (trying each alone) and says so.
fn blame(
    raw: &toml::Table,
    params: &[(String, Value)],
    cell_error: toml::de::Error,
) -> CampaignError {
    for (key, value) in params {
        let mut table = raw.clone();
        table.remove("matrix");
        if set_path(&mut table, key, value.clone()).is_err() {
            continue;
        }
        if let Err(e) = CampaignSpec::deserialize(Value::Table(table)) {
            return CampaignError::MatrixValue {
                key: key.clone(),
                value: show(value),
                problem: e.message().to_string(),
            };
        }
    }
    CampaignError::MatrixValue {
        key: params
            .iter()
            .map(|(k, _)| k.as_str())
            .collect::<Vec<_>>()
            .join(" + "),
        value: params
            .iter()
            .map(|(_, v)| show(v))
            .collect::<Vec<_>>()
            .join(" + "),
        problem: cell_error.message().to_string(),
    }
}

impl Campaign {
    /// Parses and checks a campaign file; `seed` overrides the file's seed.
    pub fn parse(text: &str, seed: Option<u64>) -> Result<Self, CampaignError> {
        Self::parse_with(text, seed, &[])
    }

    /// Like [`Campaign::parse`], with `KEY=VALUE` overrides applied to the file first
    /// (`settings.max_concurrent_file_chunks=1`, `faults.wan.delay=25ms`, `repetitions=5`). A
    /// value is read as TOML when it is one (`1`, `true`, `"x"`) and as a string otherwise.
    pub fn parse_with(
        text: &str,
        seed: Option<u64>,
        overrides: &[String],
    ) -> Result<Self, CampaignError> {
        let mut raw: toml::Table = toml::from_str(text)?;
        for o in overrides {
            apply_override(&mut raw, o)?;
        }
        // From the text when nothing is overridden: its errors carry line numbers.
        let mut spec: CampaignSpec = if overrides.is_empty() {
            toml::from_str(text)?
        } else {
            Value::Table(raw.clone()).try_into()?
        };
        if let Some(seed) = seed {
            spec.seed = seed;
        }
        check_name(&spec.name)?;
        match spec.validate("") {
            // The file's settings are checked against its own policy; when the matrix varies
            // the policy, each cell is checked against the one it runs instead.
            Err(CampaignError::Settings { .. }) if spec.matrix.contains_key("settings.policy") => {}
            checked => checked?,
        }
        for (key, values) in &spec.matrix {
            check_axis(&spec, key, values)?;
        }
        let trials = expand(&spec.matrix, spec.repetitions, spec.seed);
        let mut cells = Vec::new();
        let mut tables = Vec::new();
        for params in super::matrix::cells(&spec.matrix) {
            let mut table = raw.clone();
            table.remove("matrix");
            for (key, value) in &params {
                set_path(&mut table, key, value.clone()).map_err(|problem| {
                    CampaignError::MatrixKey {
                        key: key.clone(),
                        problem,
                    }
                })?;
            }
            let describe = || {
                params
                    .iter()
                    .map(|(k, v)| format!("{k} = {}", show(v)))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let mut cell: CampaignSpec = Value::Table(table.clone())
                .try_into()
                .map_err(|e: toml::de::Error| blame(&raw, &params, e))?;
            cell.seed = spec.seed;
            cell.matrix = BTreeMap::new();
            cell.validate(&format!("matrix cell {}: ", describe()))?;
            cells.push(cell);
            tables.push(table);
        }
        Ok(Self {
            spec,
            cells,
            trials,
            tables,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocabulary::Policy;

    const WAN: &str = r#"
name = "wan"
seed = 7
repetitions = 2

[index]
size = "8mb"
files = 4

[settings]
max_bytes_per_sec = "0"

[faults.wan]
type = "latency"
delay = "25ms"

[matrix]
"faults.wan.delay" = ["0ms", "25ms", "50ms"]
"settings.policy" = ["elasticsearch", "resumable"]

[expect]
outcome = "completed"
"#;

    #[test]
    fn overrides_set_values_and_refuse_what_they_cannot_set() {
        let sets = |o: &[&str]| {
            let o: Vec<String> = o.iter().map(|s| s.to_string()).collect();
            Campaign::parse_with(WAN, None, &o)
        };
        let c = sets(&["settings.max_concurrent_file_chunks=1", "repetitions=3"]).expect("ok");
        assert_eq!(c.spec.repetitions, 3);
        assert!(
            c.cells
                .iter()
                .all(|cell| cell.settings.max_concurrent_file_chunks == 1)
        );
        assert_eq!(c.trials.len(), 18);
        let c = sets(&["settings.chunk_size=512kb"]).expect("a string value");
        assert_eq!(c.cells[0].settings.chunk_size.bytes(), 512 << 10);
        for (bad, says) in [
            ("settings.max_concurrent_file_chunks", "KEY=VALUE"),
            ("faults.wan.delay=1ms", "matrix axis"),
            ("faults.lan.delay=1ms", "declared fault"),
            ("settings.bogus=1", "bogus"),
            (
                "settings.max_concurrent_file_chunks=0",
                "max_concurrent_file_chunks",
            ),
        ] {
            let e = sets(&[bad]).expect_err(bad).to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn the_chaos_layer_defaults_to_l4_and_can_be_set_varied_or_overridden() {
        let c = Campaign::parse(WAN, None).expect("parses");
        assert!(
            c.cells
                .iter()
                .all(|cell| cell.chaos.layer == ChaosLayer::L4)
        );
        let file = WAN.replace("[faults.wan]", "[chaos]\nlayer = \"l3\"\n\n[faults.wan]");
        let c = Campaign::parse(&file, None).expect("l3");
        assert!(
            c.cells
                .iter()
                .all(|cell| cell.chaos.layer == ChaosLayer::L3)
        );
        let c = Campaign::parse_with(WAN, None, &["chaos.layer=l3".to_string()]).expect("--set");
        assert!(
            c.cells
                .iter()
                .all(|cell| cell.chaos.layer == ChaosLayer::L3)
        );
        let both = WAN.replace("[matrix]", "[matrix]\n\"chaos.layer\" = [\"l4\", \"l3\"]");
        let c = Campaign::parse(&both, None).expect("an axis");
        assert_eq!(c.cells.len(), 12);
        let e = error(&WAN.replace("[faults.wan]", "[chaos]\nlayer = \"l2\"\n\n[faults.wan]"));
        assert!(e.contains("l2") && e.contains("l3"), "{e}");
    }

    #[test]
    fn a_campaign_expands_into_resolved_cells_and_trials() {
        let c = Campaign::parse(WAN, None).expect("parses");
        assert_eq!(c.cells.len(), 6);
        assert_eq!(c.trials.len(), 12);
        let policies: Vec<Policy> = c.cells.iter().map(|s| s.settings.policy).collect();
        assert!(policies.contains(&Policy::Resumable) && policies.contains(&Policy::Elasticsearch));
        let delays: std::collections::BTreeSet<String> = c
            .cells
            .iter()
            .map(|s| {
                serde_json::to_value(&s.fault_list()[0]).expect("json")["delay"]
                    .as_str()
                    .expect("delay")
                    .to_string()
            })
            .collect();
        assert_eq!(
            delays.into_iter().collect::<Vec<_>>(),
            vec!["0s", "25ms", "50ms"]
        );
        assert_eq!(c.cells[0].fault_list()[0].name, "wan");
        assert_eq!(c.cells[0].settings.max_bytes_per_sec, ByteSize(0));
        assert_eq!(
            c.cells[0].settings.chunk_size,
            ByteSize::mib(1),
            "defaults fill the rest"
        );
    }

    #[test]
    fn the_seed_option_overrides_the_file() {
        let a = Campaign::parse(WAN, None).expect("a");
        let b = Campaign::parse(WAN, Some(8)).expect("b");
        let order = |c: &Campaign| c.trials.iter().map(|t| t.id.clone()).collect::<Vec<_>>();
        assert_ne!(order(&a), order(&b));
        assert_eq!(
            order(&a),
            order(&Campaign::parse(WAN, None).expect("again"))
        );
    }

    fn error(text: &str) -> String {
        Campaign::parse(text, None)
            .expect_err("bad campaign")
            .to_string()
    }

    #[test]
    fn bad_files_name_the_key_and_line() {
        let typo = WAN.replace("max_bytes_per_sec = \"0\"", "max_bytes_per_secs = \"0\"");
        let msg = error(&typo);
        assert!(
            msg.contains("max_bytes_per_secs") && msg.contains("line"),
            "{msg}"
        );
        let bad_size = WAN.replace("size = \"8mb\"", "size = \"8 parsecs\"");
        let msg = error(&bad_size);
        assert!(msg.contains("size") && msg.contains("parsecs"), "{msg}");
        let msg = error(&WAN.replace("name = \"wan\"\n", ""));
        assert!(msg.contains("name"), "{msg}");
    }

    #[test]
    fn names_that_are_not_a_plain_directory_name_are_refused() {
        for bad in [
            "../../../escape",
            "/abs",
            "a/b",
            "",
            ".hidden",
            "..",
            "tab\there",
            &"x".repeat(101),
        ] {
            let file = WAN.replace("name = \"wan\"", &format!("name = {bad:?}"));
            let msg = error(&file);
            assert!(
                msg.contains("name") && msg.contains(&format!("{bad:?}")),
                "{bad:?}: {msg}"
            );
            let set = Campaign::parse_with(WAN, None, &[format!("name={bad:?}")])
                .expect_err(bad)
                .to_string();
            assert!(set.contains("name"), "--set name={bad:?}: {set}");
        }
        for good in ["wan", "wan-latency_sweep.v2", "A1", &"x".repeat(100)] {
            let file = WAN.replace("name = \"wan\"", &format!("name = {good:?}"));
            assert!(Campaign::parse(&file, None).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn zero_files_time_limit_or_repetitions_are_refused_naming_the_key() {
        for (from, to, key) in [
            ("files = 4", "files = 0", "index.files"),
            ("repetitions = 2", "repetitions = 0", "repetitions"),
            (
                "repetitions = 2",
                "repetitions = 2\ntime_limit = \"0s\"",
                "time_limit",
            ),
            ("size = \"8mb\"", "size = \"3b\"", "index.size"),
        ] {
            let msg = error(&WAN.replace(from, to));
            assert!(msg.contains(key), "{to}: {msg}");
        }
        let msg = error(&WAN.replace("[matrix]", "[matrix]\n\"index.files\" = [4, 0]"));
        assert!(
            msg.contains("index.files") && msg.contains("matrix cell"),
            "{msg}"
        );
        let set = Campaign::parse_with(WAN, None, &["repetitions=0".to_string()])
            .expect_err("--set repetitions=0")
            .to_string();
        assert!(set.contains("repetitions"), "{set}");
    }

    #[test]
    fn unknown_expectations_are_refused() {
        let msg = error(&WAN.replace(
            "outcome = \"completed\"",
            "outcome = \"completed\"\nmin_speed = 3",
        ));
        assert!(msg.contains("min_speed"), "{msg}");
    }

    #[test]
    fn bad_matrix_keys_and_values_are_named() {
        let msg = error(&WAN.replace("\"faults.wan.delay\"", "\"faults.lan.delay\""));
        assert!(
            msg.contains("faults.lan.delay") && msg.contains("no fault `lan`"),
            "{msg}"
        );
        let msg = error(&WAN.replace("\"faults.wan.delay\"", "\"speed\""));
        assert!(msg.contains("matrix key `speed`"), "{msg}");
        let msg = error(&WAN.replace("\"50ms\"]", "\"fast\"]"));
        assert!(
            msg.contains("faults.wan.delay") && msg.contains("fast"),
            "{msg}"
        );
        let msg = error(&WAN.replace("\"resumable\"]", "\"raft\"]"));
        assert!(
            msg.contains("settings.policy") && msg.contains("raft"),
            "{msg}"
        );
        let msg = error(&WAN.replace(
            "\"settings.policy\" = [",
            "\"settings.max_concurrent_file_chunks\" = [5, 11]\n\"settings.policy\" = [",
        ));
        assert!(
            msg.contains("max_concurrent_file_chunks") && msg.contains("1 and 10"),
            "{msg}"
        );
    }

    #[test]
    fn each_cell_gets_its_policys_defaults_unless_the_file_sets_them() {
        let file = WAN.replace("max_bytes_per_sec = \"0\"\n", "").replace(
            "\"settings.policy\" = [\"elasticsearch\", \"resumable\"]",
            "\"settings.policy\" = [\"elasticsearch\", \"opensearch\"]",
        );
        let c = Campaign::parse(&file, None).expect("parses");
        let of = |policy| {
            c.cells
                .iter()
                .find(|cell| cell.settings.policy == policy)
                .expect("a cell")
                .settings
                .clone()
        };
        let os = of(Policy::Opensearch);
        assert_eq!(os.chunk_size, ByteSize::mib(10));
        assert_eq!(os.max_bytes_per_sec, ByteSize(0), "no rate limit");
        assert_eq!(os.max_concurrent_file_chunks, 5);
        let es = of(Policy::Elasticsearch);
        assert_eq!(es.chunk_size, ByteSize::mib(1));
        assert_eq!(es.max_bytes_per_sec, ByteSize::mib(40));
        // A value the file gives wins, whatever the policy.
        let set = file.replace("[settings]\n", "[settings]\nchunk_size = \"2mb\"\n");
        let c = Campaign::parse(&set, None).expect("parses");
        assert!(
            c.cells
                .iter()
                .all(|cell| cell.settings.chunk_size == ByteSize::mib(2))
        );
        // The policy's own range: 20 chunks are fine for opensearch, not for elasticsearch.
        let wide = file.replace(
            "[settings]\n",
            "[settings]\nmax_concurrent_file_chunks = 20\n",
        );
        let e = error(&wide);
        assert!(
            e.contains("matrix cell")
                && e.contains("settings.policy = \"elasticsearch\"")
                && e.contains("1 and 10"),
            "{e}"
        );
        let only_os = wide.replace("[\"elasticsearch\", \"opensearch\"]", "[\"opensearch\"]");
        let c = Campaign::parse(&only_os, None).expect("opensearch takes 20");
        assert_eq!(c.cells[0].settings.max_concurrent_file_chunks, 20);
    }

    #[test]
    fn the_remote_mode_and_its_sockets_are_settings() {
        let file = WAN.replace(
            "[settings]\n",
            "[settings]\nmode = \"proxy\"\nproxy_socket_connections = 12\n",
        );
        let c = Campaign::parse(&file, None).expect("parses");
        assert!(
            c.cells
                .iter()
                .all(|cell| cell.settings.channel_types().len() == 12)
        );
        let e = error(&file.replace("= 12", "= 0"));
        assert!(
            e.contains("proxy_socket_connections") && e.contains("1 and 1000"),
            "{e}"
        );
        let e = error(&file.replace("\"proxy\"", "\"direct\""));
        assert!(e.contains("direct") && e.contains("sniff"), "{e}");
    }

    #[test]
    fn a_matrix_axis_can_pair_values_that_belong_together() {
        let file = WAN.replace(
            "\"settings.policy\" = [\"elasticsearch\", \"resumable\"]",
            "stack = [\n  { \"settings.policy\" = \"elasticsearch\", \"leader.flavor\" = \"elasticsearch\" },\n  \
             { \"settings.policy\" = \"opensearch\", \"leader.flavor\" = \"opensearch\" },\n]",
        );
        let c = Campaign::parse(&file, None).expect("parses");
        assert_eq!(c.cells.len(), 6, "3 delays x 2 pairs");
        for cell in &c.cells {
            let flavor = cell.leader.flavor.to_string();
            assert_eq!(cell.settings.policy.to_string(), flavor);
        }
        let os = c
            .cells
            .iter()
            .find(|cell| cell.settings.policy == Policy::Opensearch)
            .expect("an opensearch cell");
        assert_eq!(
            os.settings.chunk_size,
            ByteSize::mib(10),
            "its policy's defaults"
        );
        let e = error(&file.replace(
            "\"leader.flavor\" = \"opensearch\"",
            "\"leader.flavour\" = \"x\"",
        ));
        assert!(e.contains("leader.flavour") || e.contains("flavour"), "{e}");
        let e = error(&file.replace("\"leader.flavor\" = \"opensearch\"", "\"speed\" = 1"));
        assert!(e.contains("matrix key `speed`"), "{e}");
        let e = error(&file.replace("},\n]", "},\n \"plain\"\n]"));
        assert!(e.contains("mixes tables"), "{e}");
    }
}
