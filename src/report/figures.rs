//! From a results directory to the numbers each figure shows. Pure: no drawing, no I/O.

use std::collections::BTreeMap;

use crate::{
    follower::{
        Outcome, Sample,
        fault_times::{WINDOW, goodput_over},
    },
    plot::{
        Marker, MarkerKind, OutcomeCell, OutcomeMatrix, Run, Sweep, SweepSeries, Throughput, Window,
    },
    results::{Condition, LoadedTrial, ResultsDir, short_key},
    stats::median,
    units::{ByteSize, parse_duration},
};

const MIB: f64 = 1048576.0;
/// At most this many points per curve (a 60 s trial sampled at 20 Hz has 1200).
const MAX_POINTS: usize = 600;
/// The policy key of a matrix.
const POLICY: &str = "settings.policy";

/// Throughput over time for one condition, repetitions overlaid.
pub fn throughput(campaign: &str, condition: &Condition, trials: &[&LoadedTrial]) -> Throughput {
    let mut runs = Vec::new();
    let mut markers = Vec::new();
    for (i, t) in trials.iter().enumerate() {
        let rates = goodput_over(&t.series, goodput_window(&t.series));
        let step = rates.len().div_ceil(MAX_POINTS).max(1);
        runs.push(Run {
            label: format!(
                "rep {} ({})",
                t.record.repetition,
                outcome_word(t.record.outcome)
            ),
            points: rates
                .iter()
                .step_by(step)
                .map(|(at, rate)| (*at, rate / MIB))
                .collect(),
        });
        markers.extend(t.record.failures.iter().map(|f| Marker {
            t: f.t,
            kind: MarkerKind::AttemptFailed,
            run: i,
        }));
        markers.extend(t.resets.iter().map(|at| Marker {
            t: *at,
            kind: MarkerKind::Reset,
            run: i,
        }));
    }
    let windows = trials
        .first()
        .map(|t| {
            t.record
                .faults
                .iter()
                .map(|f| Window {
                    label: format!("{} ({})", f.fault, f.kind),
                    from: f.on,
                    // A reset fires at an instant; other faults stay on until turned off.
                    to: if f.kind == "reset" { Some(f.on) } else { f.off },
                })
                .collect()
        })
        .unwrap_or_default();
    let model = median(
        &trials
            .iter()
            .filter_map(|t| t.record.model_throughput_mib_s)
            .collect::<Vec<_>>(),
    );
    Throughput {
        title: format!("{campaign}: {}", condition.label()),
        runs,
        windows,
        markers,
        model,
    }
}

/// The goodput window for a curve: [`WINDOW`], or a twentieth of a shorter recovery, so a
/// sub-second trial still draws a curve.
fn goodput_window(series: &[Sample]) -> f64 {
    let span = match (series.first(), series.last()) {
        (Some(a), Some(b)) => b.t - a.t,
        _ => 0.0,
    };
    (span / 20.0).min(WINDOW)
}

fn outcome_word(o: Outcome) -> &'static str {
    match o {
        Outcome::Completed => "completed",
        Outcome::Failed => "failed",
    }
}

/// How a parameter's values sit on an axis.
#[derive(Debug, PartialEq)]
enum Axis {
    /// Every value is a number in this unit (`None`: plain number).
    Numeric(Option<&'static str>),
    /// Anything else: one tick per value, in first-seen order.
    Categorical(Vec<String>),
}

/// A value as a number on its axis: durations in ms, sizes in MiB.
fn numeric(value: &str) -> Option<(f64, Option<&'static str>)> {
    if let Ok(x) = value.parse::<f64>() {
        return Some((x, None));
    }
    if let Ok(d) = parse_duration(value) {
        return Some((d.as_secs_f64() * 1000.0, Some("ms")));
    }
    value
        .parse::<ByteSize>()
        .ok()
        .map(|b| (b.0 as f64 / MIB, Some("MiB")))
}

fn axis_of(values: &[String]) -> Axis {
    let parsed: Vec<_> = values.iter().map(|v| numeric(v)).collect();
    if let Some(Some((_, unit))) = parsed.first()
        && parsed.iter().all(|p| p.is_some_and(|(_, u)| u == *unit))
    {
        return Axis::Numeric(*unit);
    }
    Axis::Categorical(values.to_vec())
}

/// The parameters that take more than one value, with their values in first-seen order.
fn varying(conditions: &[Condition]) -> Vec<(String, Vec<String>)> {
    let mut values: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for c in conditions {
        for (k, v) in &c.0 {
            let seen = values.entry(k.clone()).or_default();
            if !seen.contains(v) {
                seen.push(v.clone());
            }
        }
    }
    values.into_iter().filter(|(_, v)| v.len() > 1).collect()
}

/// The axis a sweep runs along: latency first, then a rate, then the one with most values.
fn sweep_key(varying: &[(String, Vec<String>)]) -> Option<usize> {
    let rank = |k: &str| {
        let k = k.to_ascii_lowercase();
        if ["delay", "latency", "rtt"].iter().any(|w| k.contains(w)) {
            0
        } else if ["rate", "bytes_per_sec", "bandwidth"]
            .iter()
            .any(|w| k.contains(w))
        {
            1
        } else if k == POLICY {
            3
        } else {
            2
        }
    };
    (0..varying.len()).min_by_key(|&i| (rank(&varying[i].0), usize::MAX - varying[i].1.len(), i))
}

/// Throughput against the varying axis, one series per combination of the others.
pub fn sweep(results: &ResultsDir) -> Sweep {
    let groups = results.by_condition();
    let conditions: Vec<Condition> = groups.iter().map(|(c, _)| c.clone()).collect();
    let varying = varying(&conditions);
    let Some(xi) = sweep_key(&varying) else {
        // Nothing varies: one point per trial at a single tick.
        let trials: Vec<&LoadedTrial> = groups.iter().flat_map(|(_, t)| t.clone()).collect();
        return Sweep {
            title: format!("{}: throughput per trial", results.campaign),
            x_label: "condition".into(),
            y_label: "throughput (MiB/s)".into(),
            categories: Some(vec![
                conditions.first().map(Condition::label).unwrap_or_default(),
            ]),
            series: vec![series_of("all trials".into(), &trials, |_| Some(0.0))],
        };
    };
    let (x_key, x_values) = &varying[xi];
    let axis = axis_of(x_values);
    let position = |c: &Condition| -> Option<f64> {
        let v = c.get(x_key)?;
        match &axis {
            Axis::Numeric(_) => numeric(v).map(|(x, _)| x),
            Axis::Categorical(values) => values.iter().position(|x| x == v).map(|i| i as f64),
        }
    };
    let others: Vec<&str> = varying
        .iter()
        .filter(|(k, _)| k != x_key)
        .map(|(k, _)| k.as_str())
        .collect();
    let mut by_series: Vec<(String, Vec<&LoadedTrial>)> = Vec::new();
    for (c, trials) in &groups {
        let skip: Vec<&str> =
            c.0.keys()
                .map(String::as_str)
                .filter(|k| !others.contains(k))
                .collect();
        let label = if others.is_empty() {
            "throughput".to_string()
        } else {
            c.label_without(&skip)
        };
        match by_series.iter_mut().find(|(l, _)| *l == label) {
            Some((_, v)) => v.extend(trials.iter().copied()),
            None => by_series.push((label, trials.clone())),
        }
    }
    let unit = match &axis {
        Axis::Numeric(Some(u)) => format!(" ({u})"),
        _ => String::new(),
    };
    Sweep {
        title: format!("{}: throughput vs {}", results.campaign, short_key(x_key)),
        x_label: format!("{}{unit}", short_key(x_key)),
        y_label: "throughput (MiB/s)".into(),
        series: by_series
            .into_iter()
            .map(|(label, trials)| {
                series_of(label, &trials, |t| position(&Condition::of(&t.record)))
            })
            .collect(),
        categories: match axis {
            Axis::Categorical(v) => Some(v),
            Axis::Numeric(_) => None,
        },
    }
}

fn series_of(
    label: String,
    trials: &[&LoadedTrial],
    x_of: impl Fn(&LoadedTrial) -> Option<f64>,
) -> SweepSeries {
    let mut points = Vec::new();
    let mut at: BTreeMap<u64, (Vec<f64>, Vec<f64>)> = BTreeMap::new();
    for t in trials {
        let Some(x) = x_of(t) else { continue };
        points.push((x, t.record.throughput_mib_s));
        let slot = at.entry(x.to_bits()).or_default();
        slot.0.push(t.record.throughput_mib_s);
        slot.1.extend(t.record.model_throughput_mib_s);
    }
    let mut xs: Vec<(f64, Vec<f64>, Vec<f64>)> = at
        .into_iter()
        .map(|(bits, (ys, models))| (f64::from_bits(bits), ys, models))
        .collect();
    xs.sort_by(|a, b| a.0.total_cmp(&b.0));
    SweepSeries {
        label,
        points,
        medians: xs
            .iter()
            .filter_map(|(x, ys, _)| median(ys).map(|m| (*x, m)))
            .collect(),
        model: xs
            .iter()
            .filter_map(|(x, _, ms)| median(ms).map(|m| (*x, m)))
            .collect(),
    }
}

/// Policy × fault condition → success rate, time to recover, bytes wasted.
pub fn outcomes(results: &ResultsDir) -> OutcomeMatrix {
    let mut rows: Vec<String> = Vec::new();
    let mut columns: Vec<String> = Vec::new();
    let mut cells: BTreeMap<(usize, usize), Vec<&LoadedTrial>> = BTreeMap::new();
    for t in &results.trials {
        let r = &t.record;
        let column = match Condition::of(r).label_without(&[POLICY]) {
            l if l == "(no matrix)" => fault_names(t),
            l => l,
        };
        let i = index_of(&mut rows, &r.policy);
        let j = index_of(&mut columns, &column);
        cells.entry((i, j)).or_default().push(t);
    }
    let grid = (0..rows.len())
        .map(|i| {
            (0..columns.len())
                .map(|j| cells.get(&(i, j)).map(|ts| outcome_cell(ts)))
                .collect()
        })
        .collect();
    OutcomeMatrix {
        title: format!("{}: outcomes by policy and fault", results.campaign),
        rows,
        columns,
        cells: grid,
    }
}

fn fault_names(t: &LoadedTrial) -> String {
    let mut names: Vec<String> = t
        .record
        .faults
        .iter()
        .map(|f| format!("{} ({})", f.fault, f.kind))
        .collect();
    names.dedup();
    if names.is_empty() {
        "no fault fired".into()
    } else {
        names.join(", ")
    }
}

fn index_of(list: &mut Vec<String>, value: &str) -> usize {
    list.iter().position(|x| x == value).unwrap_or_else(|| {
        list.push(value.to_string());
        list.len() - 1
    })
}

fn outcome_cell(trials: &[&LoadedTrial]) -> OutcomeCell {
    let completed: Vec<&LoadedTrial> = trials
        .iter()
        .copied()
        .filter(|t| t.record.outcome == Outcome::Completed)
        .collect();
    let recover: Vec<f64> = trials
        .iter()
        .flat_map(|t| t.record.faults.iter().filter_map(|f| f.time_to_recover_s))
        .collect();
    OutcomeCell {
        completed: completed.len(),
        trials: trials.len(),
        median_time_to_recover_s: median(&recover),
        median_duration_s: median(
            &completed
                .iter()
                .map(|t| t.record.duration_s)
                .collect::<Vec<_>>(),
        ),
        median_wasted_mib: median(
            &trials
                .iter()
                .map(|t| t.record.bytes_wasted as f64 / MIB)
                .collect::<Vec<_>>(),
        )
        .unwrap_or(0.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cond(pairs: &[(&str, &str)]) -> Condition {
        Condition(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn axes_read_units() {
        assert_eq!(
            axis_of(&["0ms".into(), "10ms".into()]),
            Axis::Numeric(Some("ms"))
        );
        assert_eq!(axis_of(&["1".into(), "5".into()]), Axis::Numeric(None));
        assert_eq!(
            axis_of(&["256kb".into(), "1mb".into()]),
            Axis::Numeric(Some("MiB"))
        );
        assert_eq!(
            axis_of(&["-1".into(), "500ms".into()]),
            Axis::Categorical(vec!["-1".into(), "500ms".into()])
        );
    }

    #[test]
    fn latency_wins_the_x_axis() {
        let cs = [
            cond(&[
                ("settings.max_concurrent_file_chunks", "1"),
                ("faults.wan.delay", "0ms"),
            ]),
            cond(&[
                ("settings.max_concurrent_file_chunks", "5"),
                ("faults.wan.delay", "10ms"),
            ]),
            cond(&[
                ("settings.max_concurrent_file_chunks", "10"),
                ("faults.wan.delay", "0ms"),
            ]),
        ];
        let v = varying(&cs);
        assert_eq!(v.len(), 2);
        assert_eq!(v[sweep_key(&v).expect("axis")].0, "faults.wan.delay");
        assert_eq!(sweep_key(&[]), None);
    }
}
