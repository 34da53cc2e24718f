//! The report as text, as an `elasticsearch.yml` snippet, as the body of a
//! `PUT _cluster/settings` request, and as one JSON document. Pure: strings in, strings out.

use std::fmt::Write as _;

use serde_json::{Map, Value, json};

use super::{ProbeReport, advice::Advice, grid::KindSummary};

/// The settings that need `elasticsearch.yml` (static) and those that may go there too,
/// one `name: value` a line.
pub fn elasticsearch_yml(advice: &Advice) -> String {
    let mut out = String::new();
    for s in &advice.settings {
        let _ = writeln!(out, "{}: {}", s.name, s.value);
    }
    out
}

/// The body of `PUT _cluster/settings`: the dynamic settings, persistent.
pub fn cluster_settings(advice: &Advice) -> Value {
    let mut persistent = Map::new();
    for s in advice.settings.iter().filter(|s| s.dynamic) {
        persistent.insert(s.name.clone(), Value::String(s.value.clone()));
    }
    json!({ "persistent": persistent })
}

/// The whole report as one JSON document, with the two renderings of the advice.
pub fn json_document(report: &ProbeReport) -> Value {
    let mut doc = serde_json::to_value(report).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut doc {
        map.insert(
            "elasticsearch_yml".into(),
            Value::String(elasticsearch_yml(&report.advice)),
        );
        map.insert("cluster_settings".into(), cluster_settings(&report.advice));
    }
    doc
}

fn secs(d: Option<std::time::Duration>) -> String {
    d.map_or_else(|| "-".into(), |d| format!("{:.2} s", d.as_secs_f64()))
}

fn kind_line(k: &KindSummary) -> String {
    let deaths: Vec<String> = k
        .deaths
        .iter()
        .map(|d| format!("{} x{}", d.death.describe(), d.count))
        .collect();
    let verdict = match (k.decided, k.dies) {
        (false, _) => "undecided",
        (true, true) => "dies",
        (true, false) => "survives",
    };
    format!(
        "  {:<10} {:<9} longest survived {:>9}  shortest died {:>9}  timeout {:>9}  {}{}{}",
        k.kind.name(),
        verdict,
        secs(k.longest_survived),
        secs(k.shortest_died),
        secs(k.timeout),
        if deaths.is_empty() {
            "no deaths".to_string()
        } else {
            deaths.join(", ")
        },
        if k.inconsistent {
            " (inconsistent: survived longer than one that died)"
        } else {
            ""
        },
        match k.not_opened {
            0 => String::new(),
            n => format!(" ({n} never opened: their idles are untested)"),
        }
    )
}

/// The human report.
pub fn text(report: &ProbeReport) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "probe of {} (index `{}`){}",
        report.to,
        report.index,
        if report.interrupted {
            ", interrupted: what was measured so far"
        } else {
            ""
        }
    );
    let _ = writeln!(o, "\nround trips");
    let _ = writeln!(
        o,
        "  connect (TCP + Hello)  {}",
        report
            .connect
            .map_or("-".into(), |d| format!("{:.2} ms", d.as_secs_f64() * 1e3))
    );
    match &report.rtt {
        Some(r) => {
            let _ = writeln!(
                o,
                "  ping/pong x{}         min {:.2} ms  median {:.2} ms  p99 {:.2} ms",
                r.samples,
                r.min.as_secs_f64() * 1e3,
                r.median.as_secs_f64() * 1e3,
                r.p99.as_secs_f64() * 1e3
            );
        }
        None => {
            let _ = writeln!(o, "  ping/pong              -");
        }
    }
    let _ = writeln!(o, "\nthroughput");
    if report.throughput.is_empty() {
        let _ = writeln!(o, "  -");
    }
    for t in &report.throughput {
        let _ = writeln!(
            o,
            "  {} connection(s)  {:>8.1} MiB/s  ({:.1} MiB in {:.1} s; BDP {}; requests waited {:.1} s in all on the leader's limiter)",
            t.connections,
            t.mib_per_sec,
            t.bytes as f64 / (1 << 20) as f64,
            t.elapsed.as_secs_f64(),
            t.bdp_bytes.map_or("-".into(), |b| format!(
                "{:.2} MiB",
                b as f64 / (1 << 20) as f64
            )),
            t.leader_throttled.as_secs_f64()
        );
    }
    let _ = writeln!(o, "\nidle timeout");
    match &report.idle {
        Some(i) => {
            let _ = writeln!(
                o,
                "  {} connections per kind, idle {:.2} s to {:.0} s (+{:.0} % a step), ran {:.1} s",
                i.grid_len,
                i.min_idle.as_secs_f64(),
                i.max_idle.as_secs_f64(),
                i.resolution * 100.0,
                i.elapsed.as_secs_f64()
            );
            for k in &i.kinds {
                let _ = writeln!(o, "{}", kind_line(k));
            }
        }
        None => {
            let _ = writeln!(o, "  - (not measured)");
        }
    }
    let _ = writeln!(
        o,
        "\npath: {}\n  {}",
        report.path.class.describe(),
        report.path.reason
    );
    let _ = writeln!(o, "\nadvice");
    for s in &report.advice.settings {
        let _ = writeln!(o, "  {}: {}\n      {}", s.name, s.value, s.reason);
    }
    for n in &report.advice.notes {
        let _ = writeln!(o, "  note: {n}");
    }
    if let Some(p) = report.advice.predicted_mib_s {
        let _ = writeln!(
            o,
            "  the window model predicts {p:.1} MiB/s per shard with these settings \
             (min(rate, window x chunk / RTT))"
        );
    }
    let _ = writeln!(
        o,
        "\nelasticsearch.yml:\n{}",
        elasticsearch_yml(&report.advice)
    );
    let body = serde_json::to_string_pretty(&cluster_settings(&report.advice)).unwrap_or_default();
    let _ = writeln!(o, "PUT _cluster/settings\n{body}");
    for n in &report.notes {
        let _ = writeln!(o, "\nnote: {n}");
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::advice::Setting;

    #[test]
    fn only_dynamic_settings_go_to_the_cluster_settings_api() {
        let advice = Advice {
            settings: vec![
                Setting {
                    name: "transport.ping_schedule".into(),
                    value: "1s".into(),
                    dynamic: false,
                    reason: String::new(),
                },
                Setting {
                    name: "cluster.remote.leader.transport.ping_schedule".into(),
                    value: "1s".into(),
                    dynamic: true,
                    reason: String::new(),
                },
            ],
            ..Advice::default()
        };
        assert_eq!(
            elasticsearch_yml(&advice),
            "transport.ping_schedule: 1s\ncluster.remote.leader.transport.ping_schedule: 1s\n"
        );
        assert_eq!(
            cluster_settings(&advice),
            json!({"persistent": {"cluster.remote.leader.transport.ping_schedule": "1s"}})
        );
    }
}
