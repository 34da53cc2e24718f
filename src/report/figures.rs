//! From a results directory to the numbers each figure shows. Pure: no drawing, no I/O.
//!
//! Every figure that needs data a results directory may lack (the time breakdown, the per-request
//! log, the verified-bytes column) returns `None` or leaves the condition out rather than
//! drawing an empty or misleading plot.

use std::collections::BTreeMap;

use crate::{
    follower::{
        Activity, Outcome, Sample,
        fault_times::{WINDOW, goodput_over},
    },
    plot::{
        AttemptSegment, Breakdown, BreakdownRow, Cdf, CdfCurve, FailureMark, FanOut, FanOutPanel,
        Marker, MarkerKind, Missed, OutcomeCell, OutcomeMatrix, Progress, ProgressPanel,
        ProgressRun, Run, Scale, ShardBar, ShardFault, ShardPanel, Shards, Sweep, SweepSeries,
        Throughput, Window,
    },
    results::{Condition, LoadedTrial, ResultsDir, TrialRecord, short_key},
    stats::{median, quantile},
    units::{ByteSize, parse_duration},
};

const MIB: f64 = 1048576.0;
/// At most this many points per curve (a 60 s trial sampled at 20 Hz has 1200).
const MAX_POINTS: usize = 600;
/// At most this many points per CDF curve.
const CDF_POINTS: usize = 400;
/// The policy key of a matrix.
const POLICY: &str = "settings.policy";
/// Values spanning this ratio or more go on a log axis.
const LOG_SPAN: f64 = 10.0;

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
    let (windows, standing) = trials.first().map(|t| windows_of(t)).unwrap_or_default();
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
        standing,
        markers,
        model,
    }
}

/// A trial's fault windows to shade, and the names of the faults on for its whole run (a
/// latency or a loss rate: shading all of the plot would hide the windows that matter).
pub fn windows_of(t: &LoadedTrial) -> (Vec<Window>, Vec<String>) {
    let start = t.series.first().map_or(0.0, |s| s.t);
    let mut windows = Vec::new();
    let mut standing: Vec<String> = Vec::new();
    for f in &t.record.faults {
        let label = format!("{} ({})", f.fault, f.kind);
        // A reset fires at an instant; other faults stay on until turned off.
        if f.kind == "reset" {
            windows.push(Window {
                label,
                from: f.on,
                to: Some(f.on),
            });
        } else if f.off.is_none() && f.on <= start + 0.25 {
            if !standing.contains(&label) {
                standing.push(label);
            }
        } else {
            windows.push(Window {
                label,
                from: f.on,
                to: f.off,
            });
        }
    }
    (windows, standing)
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

/// The matrix key whose values become the panels of a progress figure: the policy when it
/// varies, else the campaign's only axis; `None` when conditions differ in several other ways
/// (each then has a figure of its own).
fn panel_key(varying: &[(String, Vec<String>)]) -> Option<&str> {
    if varying.iter().any(|(k, _)| k == POLICY) {
        Some(POLICY)
    } else if let [(k, _)] = varying {
        Some(k.as_str())
    } else {
        None
    }
}

/// Whether anything in these trials is worth a progress figure: a failure, a second attempt, a
/// reset or a fault window. A condition where every trial went straight through has a line
/// from 0 to the index size and nothing else; the throughput figure shows it already.
fn eventful(trials: &[&LoadedTrial]) -> bool {
    trials.iter().any(|t| {
        !t.record.failures.is_empty()
            || t.record.attempts > 1
            || t.record.outcome == Outcome::Failed
            || !t.resets.is_empty()
            || !windows_of(t).0.is_empty()
    })
}

/// Whether the series carry the verified column (results written before it have zeros there).
fn has_verified(trials: &[&LoadedTrial]) -> bool {
    let any_bytes = trials.iter().any(|t| t.series.iter().any(|s| s.bytes > 0));
    let any_verified = trials
        .iter()
        .any(|t| t.series.iter().any(|s| s.verified > 0));
    any_verified || !any_bytes
}

/// A progress figure and what it covers.
pub struct ProgressFigure {
    /// The cell of its first condition (its file is `progress-c<cell>`).
    pub cell: usize,
    /// What its conditions share (`wan.delay=10ms`), `(no matrix)` when only the panel key
    /// varies.
    pub group: String,
    /// The figure.
    pub figure: Progress,
}

/// Verified bytes over time, one figure per group of conditions that differ only in the panel
/// key (see [`panel_key`]), one panel per value; groups where nothing happened are left out.
pub fn progress(results: &ResultsDir) -> Vec<ProgressFigure> {
    let groups = results.by_condition();
    let conditions: Vec<Condition> = groups.iter().map(|(c, _)| c.clone()).collect();
    let varying = varying(&conditions);
    let key = panel_key(&varying);
    // (group label, its panels: (panel label, trials)).
    type Panels<'a> = Vec<(String, Vec<&'a LoadedTrial>)>;
    let mut figures: Vec<(String, Panels)> = Vec::new();
    for (c, trials) in &groups {
        let (group, panel) = match key.and_then(|k| c.get(k).map(|v| (k, v))) {
            Some((k, v)) => (
                c.label_without(&[k]),
                if k == POLICY {
                    v.to_string()
                } else {
                    format!("{}={v}", short_key(k))
                },
            ),
            None => (c.label(), String::new()),
        };
        match figures.iter_mut().find(|(g, _)| *g == group) {
            Some((_, panels)) => panels.push((panel, trials.clone())),
            None => figures.push((group, vec![(panel, trials.clone())])),
        }
    }
    figures
        .into_iter()
        .filter(|(_, panels)| {
            let all: Vec<&LoadedTrial> = panels.iter().flat_map(|(_, t)| t.clone()).collect();
            eventful(&all) && has_verified(&all)
        })
        .map(|(group, panels)| {
            let cell = panels
                .iter()
                .flat_map(|(_, t)| t.iter().map(|t| t.record.cell))
                .min()
                .unwrap_or(0);
            let target = panels
                .iter()
                .flat_map(|(_, t)| t.iter().map(|t| t.record.bytes_needed))
                .max()
                .filter(|b| *b > 0)
                .map(|b| b as f64 / MIB);
            let title = match group.as_str() {
                "(no matrix)" => format!("{}: verified bytes over time", results.campaign),
                g => format!("{}: verified bytes over time, {g}", results.campaign),
            };
            let panels = panels
                .into_iter()
                .map(|(label, trials)| progress_panel(&label, &trials))
                .collect();
            ProgressFigure {
                cell,
                group,
                figure: Progress {
                    title,
                    panels,
                    target_mib: target,
                },
            }
        })
        .collect()
}

fn progress_panel(label: &str, trials: &[&LoadedTrial]) -> ProgressPanel {
    let mut runs = Vec::new();
    let mut failures = Vec::new();
    let mut kinds: Vec<(String, usize)> = Vec::new();
    for (i, t) in trials.iter().enumerate() {
        runs.push(ProgressRun {
            label: format!("rep {}", t.record.repetition),
            segments: attempt_segments(&t.series),
        });
        for f in &t.record.failures {
            let kind = f.kind.to_string();
            match kinds.iter_mut().find(|(k, _)| *k == kind) {
                Some((_, n)) => *n += 1,
                None => kinds.push((kind.clone(), 1)),
            }
            let verified = t
                .series
                .iter()
                .take_while(|s| s.t <= f.t)
                .last()
                .map_or(0, |s| s.verified);
            failures.push(FailureMark {
                t: f.t,
                run: i,
                kind,
                verified_mib: verified as f64 / MIB,
            });
        }
    }
    let completed = trials
        .iter()
        .filter(|t| t.record.outcome == Outcome::Completed)
        .count();
    let attempts: Vec<String> = trials
        .iter()
        .map(|t| t.record.attempts.to_string())
        .collect();
    let mut title = format!(
        "{}{completed}/{} completed, attempts {}",
        if label.is_empty() {
            String::new()
        } else {
            format!("{label}: ")
        },
        trials.len(),
        attempts.join(", ")
    );
    if !kinds.is_empty() {
        let kinds: Vec<String> = kinds.iter().map(|(k, n)| format!("{k} ×{n}")).collect();
        title.push_str(&format!("; failures: {}", kinds.join(", ")));
    }
    let (windows, standing) = trials.first().map(|t| windows_of(t)).unwrap_or_default();
    ProgressPanel {
        title,
        runs,
        windows,
        standing,
        failures,
    }
}

/// A series cut where the attempt changes, verified bytes in MiB, each stretch thinned to at
/// most its share of [`MAX_POINTS`] while keeping every stretch's lowest and highest points (so
/// a drop to zero survives the thinning).
fn attempt_segments(series: &[Sample]) -> Vec<AttemptSegment> {
    let mut segments: Vec<AttemptSegment> = Vec::new();
    for s in series {
        let p = (s.t, s.verified as f64 / MIB);
        // A sample taken before the first attempt began says attempt 0: it is the first's start.
        let attempt = s.attempt.max(1);
        match segments.last_mut() {
            Some(seg) if seg.attempt == attempt => seg.points.push(p),
            _ => segments.push(AttemptSegment {
                attempt,
                points: vec![p],
            }),
        }
    }
    let budget = (MAX_POINTS / segments.len().max(1)).max(8);
    for seg in &mut segments {
        seg.points = decimate(&seg.points, budget);
    }
    segments
}

/// At most about `max` points of `points`: per bucket, its first and last point and its lowest
/// and highest, in time order.
fn decimate(points: &[(f64, f64)], max: usize) -> Vec<(f64, f64)> {
    if points.len() <= max {
        return points.to_vec();
    }
    let bucket = points.len().div_ceil((max / 4).max(1));
    let mut out: Vec<(f64, f64)> = Vec::with_capacity(max + 4);
    for chunk in points.chunks(bucket) {
        let lowest = chunk
            .iter()
            .enumerate()
            .min_by(|a, b| a.1.1.total_cmp(&b.1.1))
            .map_or(0, |(i, _)| i);
        let highest = chunk
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.1.total_cmp(&b.1.1))
            .map_or(0, |(i, _)| i);
        let mut keep = vec![0, lowest, highest, chunk.len() - 1];
        keep.sort_unstable();
        keep.dedup();
        out.extend(keep.into_iter().map(|i| chunk[i]));
    }
    out
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
        let series = vec![series_of("all trials".into(), &trials, |_| Some(0.0))];
        return Sweep {
            title: format!("{}: throughput per trial", results.campaign),
            x_label: "condition".into(),
            y_label: "throughput (MiB/s)".into(),
            categories: Some(vec![
                conditions.first().map(Condition::label).unwrap_or_default(),
            ]),
            y_scale: scale_of(&series),
            series,
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
    let series: Vec<SweepSeries> = by_series
        .into_iter()
        .map(|(label, trials)| series_of(label, &trials, |t| position(&Condition::of(&t.record))))
        .collect();
    Sweep {
        title: format!("{}: throughput vs {}", results.campaign, short_key(x_key)),
        x_label: format!("{}{unit}", short_key(x_key)),
        y_label: "throughput (MiB/s)".into(),
        y_scale: scale_of(&series),
        series,
        categories: match axis {
            Axis::Categorical(v) => Some(v),
            Axis::Numeric(_) => None,
        },
    }
}

/// Log when the completed trials and the model span [`LOG_SPAN`] or more (a 0 ms cell at
/// hundreds of MiB/s next to latency-bound ones at a few).
fn scale_of(series: &[SweepSeries]) -> Scale {
    let ys: Vec<f64> = series
        .iter()
        .flat_map(|s| s.points.iter().chain(&s.model).map(|p| p.1))
        .filter(|y| *y > 0.0)
        .collect();
    let lo = ys.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = ys.iter().copied().fold(0.0, f64::max);
    if lo.is_finite() && hi / lo >= LOG_SPAN {
        Scale::Log
    } else {
        Scale::Linear
    }
}

fn series_of(
    label: String,
    trials: &[&LoadedTrial],
    x_of: impl Fn(&LoadedTrial) -> Option<f64>,
) -> SweepSeries {
    let mut points = Vec::new();
    let mut failed = Vec::new();
    let mut at: BTreeMap<u64, (Vec<f64>, Vec<f64>)> = BTreeMap::new();
    for t in trials {
        let Some(x) = x_of(t) else { continue };
        let y = t.record.throughput_mib_s;
        let slot = at.entry(x.to_bits()).or_default();
        slot.1.extend(t.record.model_throughput_mib_s);
        if t.record.outcome == Outcome::Completed {
            points.push((x, y));
            slot.0.push(y);
        } else {
            failed.push((x, y));
        }
    }
    let mut xs: Vec<(f64, Vec<f64>, Vec<f64>)> = at
        .into_iter()
        .map(|(bits, (ys, models))| (f64::from_bits(bits), ys, models))
        .collect();
    xs.sort_by(|a, b| a.0.total_cmp(&b.0));
    SweepSeries {
        label,
        points,
        failed,
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

/// Policy × fault condition → expectation verdict, completions, time to recover, bytes wasted.
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
        title: format!("{}: outcomes by policy and condition", results.campaign),
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
    // Only completed trials: a time to recover next to "never completed" says nothing.
    let recover: Vec<f64> = completed
        .iter()
        .flat_map(|t| t.record.faults.iter().filter_map(|f| f.time_to_recover_s))
        .collect();
    let judged: Vec<&LoadedTrial> = trials
        .iter()
        .copied()
        .filter(|t| !t.record.expectations.is_empty())
        .collect();
    let mut missed: Vec<Missed> = Vec::new();
    for t in &judged {
        for v in t.record.expectations.iter().filter(|v| !v.pass) {
            match missed.iter_mut().find(|m| m.name == v.name) {
                Some(m) => m.trials += 1,
                None => missed.push(Missed {
                    name: v.name.clone(),
                    // `0.537 (26.9 of 50.0 MiB/s)`: the ratio is what the expectation is about.
                    actual: match v.actual.split_whitespace().next() {
                        Some(first) if v.actual.len() > 12 => first.to_string(),
                        _ => v.actual.clone(),
                    },
                    expected: v.expected.clone(),
                    trials: 1,
                }),
            }
        }
    }
    OutcomeCell {
        completed: completed.len(),
        trials: trials.len(),
        judged: judged.len(),
        passed: judged.iter().filter(|t| t.record.passed).count(),
        missed,
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

/// The fraction of chunk requests answered within a latency, one curve per condition, from
/// the answered requests of every repetition; `None` when no trial logged its requests.
pub fn latency_cdf(results: &ResultsDir) -> Option<Cdf> {
    let mut curves = Vec::new();
    for (condition, trials) in results.by_condition() {
        let mut ms: Vec<f64> = trials
            .iter()
            .flat_map(|t| t.requests.iter().filter(|r| r.ok))
            .map(|r| r.latency_s * 1000.0)
            .filter(|x| x.is_finite())
            .collect();
        let unanswered = trials
            .iter()
            .flat_map(|t| t.requests.iter().filter(|r| !r.ok))
            .count();
        if ms.is_empty() {
            continue;
        }
        ms.sort_by(f64::total_cmp);
        let mut label = format!("{} (n={}", condition.label(), ms.len());
        if unanswered > 0 {
            label.push_str(&format!(", {unanswered} unanswered"));
        }
        label.push(')');
        curves.push(CdfCurve {
            label,
            points: cdf_points(&ms, CDF_POINTS),
        });
    }
    if curves.is_empty() {
        return None;
    }
    let xs: Vec<f64> = curves
        .iter()
        .flat_map(|c| c.points.iter().map(|p| p.0))
        .collect();
    let lo = xs
        .iter()
        .copied()
        .filter(|x| *x > 0.0)
        .fold(f64::INFINITY, f64::min);
    let hi = xs.iter().copied().fold(0.0, f64::max);
    Some(Cdf {
        title: format!("{}: chunk request latency", results.campaign),
        x_label: "latency (ms)".into(),
        x_scale: if lo.is_finite() && hi / lo >= 2.0 * LOG_SPAN {
            Scale::Log
        } else {
            Scale::Linear
        },
        curves,
    })
}

/// The empirical CDF of `sorted` (ascending) at no more than `max` evenly spaced ranks; the
/// last point is the largest value at fraction 1.
fn cdf_points(sorted: &[f64], max: usize) -> Vec<(f64, f64)> {
    let n = sorted.len();
    if n == 0 {
        return Vec::new();
    }
    let m = n.min(max.max(1));
    (1..=m)
        .map(|k| {
            let rank = (k * n).div_ceil(m); // 1..=n, the last one n
            (sorted[rank - 1], rank as f64 / n as f64)
        })
        .collect()
}

/// Per condition, the median seconds per activity over the repetitions that measured them.
pub struct BreakdownMedians {
    /// The condition.
    pub condition: String,
    /// Repetitions with a breakdown.
    pub trials: usize,
    /// Median seconds per activity, in [`Activity::ALL`] order.
    pub seconds: [f64; 8],
    /// Median recovery time of those repetitions.
    pub median_duration_s: f64,
}

/// The time breakdown of every condition that has one; empty when no trial measured it.
pub fn breakdown_medians(results: &ResultsDir) -> Vec<BreakdownMedians> {
    let groups = results.by_condition();
    // A parameter every condition has with the same value tells no bar from another: left out
    // of the labels (one that only some conditions have still tells them apart).
    let conditions: Vec<Condition> = groups.iter().map(|(c, _)| c.clone()).collect();
    let shared: Vec<String> = conditions
        .first()
        .map(|first| {
            first
                .0
                .iter()
                .filter(|(k, v)| conditions.iter().all(|c| c.get(k) == Some(v.as_str())))
                .map(|(k, _)| k.clone())
                .collect()
        })
        .unwrap_or_default();
    let shared: Vec<&str> = shared.iter().map(String::as_str).collect();
    groups
        .into_iter()
        .filter_map(|(condition, trials)| {
            let measured: Vec<(&LoadedTrial, crate::follower::TimeBreakdown)> = trials
                .iter()
                // All zeros is what a run that did not measure it writes.
                .filter_map(|t| t.record.time_breakdown.map(|b| (*t, b)))
                .filter(|(_, b)| b.total() > 0.0)
                .collect();
            if measured.is_empty() {
                return None;
            }
            let mut seconds = [0.0; 8];
            for (slot, a) in seconds.iter_mut().zip(Activity::ALL) {
                *slot = median(&measured.iter().map(|(_, b)| b.get(a)).collect::<Vec<_>>())
                    .unwrap_or(0.0);
            }
            Some(BreakdownMedians {
                condition: match conditions.len() {
                    1 => condition.label(),
                    _ => condition.label_without(&shared),
                },
                trials: measured.len(),
                seconds,
                median_duration_s: median(
                    &measured
                        .iter()
                        .map(|(t, _)| t.record.duration_s)
                        .collect::<Vec<_>>(),
                )
                .unwrap_or(0.0),
            })
        })
        .collect()
}

/// The activities any condition spent time on, in [`Activity::ALL`] order.
pub fn breakdown_terms(medians: &[BreakdownMedians]) -> Vec<Activity> {
    Activity::ALL
        .iter()
        .enumerate()
        .filter(|(j, _)| medians.iter().any(|m| m.seconds[*j] > 0.0))
        .map(|(_, a)| *a)
        .collect()
}

/// Where the time went: one stacked bar per condition; `None` when no trial measured it.
pub fn breakdown(results: &ResultsDir) -> Option<Breakdown> {
    let medians = breakdown_medians(results);
    if medians.is_empty() {
        return None;
    }
    // Every activity keeps its place (and so its colour) whether or not it is charged here.
    Some(Breakdown {
        title: format!("{}: where the time went", results.campaign),
        x_label: "seconds (median per activity over repetitions)".into(),
        segments: Activity::ALL
            .iter()
            .map(|a| a.describe().to_string())
            .collect(),
        rows: medians
            .iter()
            .map(|m| BreakdownRow {
                label: m.condition.clone(),
                seconds: m.seconds.to_vec(),
            })
            .collect(),
    })
}

/// Most panels in the fan-out figure (one per trial): past it, the table still lists every trial.
pub const FAN_OUT_PANELS: usize = 12;

/// The matrix key of the follower count.
const FOLLOWERS: &str = "followers";

/// The matrix key of the leader count (fan-in).
const LEADERS: &str = "leaders";

/// A trial's several recoveries: a fan-out's followers or a fan-in's leader indices (empty
/// with one of each).
fn recoveries(r: &crate::results::TrialRecord) -> &[crate::results::FollowerRecord] {
    if r.leaders.is_empty() {
        &r.followers
    } else {
        &r.leaders
    }
}

/// What one of a trial's recoveries is called: `follower`, or `leader index` in fan-in.
fn recovery_unit(r: &crate::results::TrialRecord) -> &'static str {
    if r.leaders.is_empty() {
        "follower"
    } else {
        "leader index"
    }
}

/// `unit` in the plural.
pub fn plural(unit: &str) -> String {
    match unit {
        "leader index" => "leader indices".into(),
        "recovery" => "recoveries".into(),
        other => format!("{other}s"),
    }
}

/// What the fan-out figure and table call one recovery: the unit every such trial shares, or
/// `recovery` when fan-out and fan-in trials are mixed.
pub fn fan_unit(results: &ResultsDir) -> &'static str {
    let mut units = results
        .trials
        .iter()
        .filter(|t| recoveries(&t.record).len() > 1)
        .map(|t| recovery_unit(&t.record));
    match units.next() {
        Some(first) if units.all(|u| u == first) => first,
        Some(_) => "recovery",
        None => "follower",
    }
}

/// One trial of a campaign with fan-out, as the report's table lists it (a trial with one
/// follower counts as its own aggregate, minimum and maximum).
#[derive(Clone, Debug, PartialEq)]
pub struct FanOutRow {
    /// Trial id.
    pub trial: String,
    /// Its condition.
    pub condition: String,
    /// Followers.
    pub followers: usize,
    /// Followers that completed, verified.
    pub completed: usize,
    /// Every follower's bytes over the wall time, MiB/s.
    pub aggregate_mib_s: f64,
    /// Jain's index (`None` with one follower).
    pub jain_index: Option<f64>,
    /// Slowest, median and fastest follower, MiB/s.
    pub min_mib_s: f64,
    /// See `min_mib_s`.
    pub median_mib_s: f64,
    /// See `min_mib_s`.
    pub max_mib_s: f64,
    /// Aggregate over the median throughput of the trials with one follower in the same
    /// condition otherwise (`None` when there are none, or for those trials themselves).
    pub vs_one: Option<f64>,
    /// Sessions still open on the leader at the end.
    pub leader_sessions_open: u64,
}

/// The throughputs of a trial's followers or leader indices (its own, with one).
fn follower_throughputs(t: &LoadedTrial) -> Vec<f64> {
    match recoveries(&t.record) {
        [] => vec![t.record.throughput_mib_s],
        several => several.iter().map(|f| f.throughput_mib_s).collect(),
    }
}

/// A row per trial when any trial ran more than one follower (or leader); empty otherwise.
pub fn fan_out_rows(results: &ResultsDir) -> Vec<FanOutRow> {
    if results
        .trials
        .iter()
        .all(|t| recoveries(&t.record).len() <= 1)
    {
        return Vec::new();
    }
    let alike = |t: &LoadedTrial| Condition::of(&t.record).label_without(&[FOLLOWERS, LEADERS]);
    let mut alone: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for t in results
        .trials
        .iter()
        .filter(|t| recoveries(&t.record).is_empty())
    {
        alone
            .entry(alike(t))
            .or_default()
            .push(t.record.throughput_mib_s);
    }
    results
        .trials
        .iter()
        .map(|t| {
            let r = &t.record;
            let xs = follower_throughputs(t);
            let many = !recoveries(r).is_empty();
            let completed = if many {
                recoveries(r)
                    .iter()
                    .filter(|f| f.outcome == Outcome::Completed)
                    .count()
            } else {
                usize::from(r.outcome == Outcome::Completed)
            };
            let aggregate = r.aggregate_throughput_mib_s.unwrap_or(r.throughput_mib_s);
            FanOutRow {
                trial: r.trial.clone(),
                condition: Condition::of(r).label(),
                followers: xs.len(),
                completed,
                aggregate_mib_s: aggregate,
                jain_index: r.jain_index,
                min_mib_s: quantile(&xs, 0.0).unwrap_or(0.0),
                median_mib_s: quantile(&xs, 0.5).unwrap_or(0.0),
                max_mib_s: quantile(&xs, 1.0).unwrap_or(0.0),
                vs_one: alone
                    .get(&alike(t))
                    .and_then(|one| median(one))
                    .filter(|one| many && *one > 0.0)
                    .map(|one| aggregate / one),
                leader_sessions_open: r.leader_sessions_open,
            }
        })
        .collect()
}

/// Each fan-out trial's followers, sorted fastest first, with the fair share; `None` when no
/// trial ran more than one follower. At most [`FAN_OUT_PANELS`] trials, in id order.
pub fn fan_out(results: &ResultsDir) -> Option<FanOut> {
    let panels: Vec<FanOutPanel> = results
        .trials
        .iter()
        .filter(|t| recoveries(&t.record).len() > 1)
        .take(FAN_OUT_PANELS)
        .map(|t| {
            let r = &t.record;
            let mut followers: Vec<(f64, bool)> = recoveries(r)
                .iter()
                .map(|f| (f.throughput_mib_s, f.outcome == Outcome::Completed))
                .collect();
            followers.sort_by(|a, b| b.0.total_cmp(&a.0));
            let aggregate = r.aggregate_throughput_mib_s.unwrap_or(r.throughput_mib_s);
            let jain = r.jain_index.map_or("–".to_string(), |j| format!("{j:.3}"));
            let condition = match Condition::of(r).label_without(&[FOLLOWERS, LEADERS]) {
                c if c == "(no matrix)" => String::new(),
                c => format!(" | {c}"),
            };
            // The figures first: a long condition is what the panel cuts short.
            FanOutPanel {
                title: format!(
                    "{}: {} {}, Jain {jain}, aggregate {} MiB/s, fair share {} MiB/s{condition}",
                    r.trial,
                    followers.len(),
                    plural(recovery_unit(r)),
                    crate::plot::fmt_num(aggregate),
                    crate::plot::fmt_num(aggregate / followers.len() as f64)
                ),
                fair_share: aggregate / followers.len() as f64,
                followers,
            }
        })
        .collect();
    let unit = fan_unit(results);
    (!panels.is_empty()).then(|| FanOut {
        title: match unit {
            "follower" => format!(
                "{}: throughput of each follower of one leader",
                results.campaign
            ),
            "leader index" => format!(
                "{}: throughput of each leader index one follower node restored",
                results.campaign
            ),
            _ => format!(
                "{}: throughput of each follower (fan-out) or leader index (fan-in)",
                results.campaign
            ),
        },
        unit: unit.to_string(),
        units: plural(unit),
        panels,
    })
}

/// Most panels in the shards figure: past it, the first repetition of each condition, and
/// past that the first of those (the table still lists every trial).
pub const SHARD_PANELS: usize = 12;

/// Which trials the shards figure shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShardSelection {
    /// Every trial with shards.
    All,
    /// The first repetition of each condition with shards (there were too many trials).
    FirstRepetitions,
}

/// The shards figure and what it left out.
pub struct ShardsFigure {
    /// The figure.
    pub figure: Shards,
    /// Which trials it shows.
    pub selection: ShardSelection,
    /// Trials with shards.
    pub sharded: usize,
}

/// The trials the shards figure shows: every trial with shards when they fit in
/// [`SHARD_PANELS`], otherwise the first repetition of each condition, at most that many.
pub fn shard_trials(results: &ResultsDir) -> (Vec<&LoadedTrial>, ShardSelection) {
    let sharded: Vec<&LoadedTrial> = results
        .trials
        .iter()
        .filter(|t| !t.record.shards.is_empty())
        .collect();
    if sharded.len() <= SHARD_PANELS {
        return (sharded, ShardSelection::All);
    }
    let mut cells: Vec<usize> = Vec::new();
    let mut firsts: Vec<&LoadedTrial> = sharded
        .into_iter()
        .filter(|t| {
            let fresh = !cells.contains(&t.record.cell);
            cells.push(t.record.cell);
            fresh
        })
        .collect();
    firsts.sort_by_key(|t| t.record.cell);
    firsts.truncate(SHARD_PANELS);
    (firsts, ShardSelection::FirstRepetitions)
}

/// Shards whose attempts were more than one (the expectation `min_shards_restarted` counts the
/// same way; an index of one shard counts the trial's attempts).
fn shards_restarted(r: &TrialRecord) -> usize {
    match r.shards.len() {
        0 => usize::from(r.attempts > 1),
        _ => r.shards.iter().filter(|s| s.attempts > 1).count(),
    }
}

/// Shards drawn per panel at most (a figure of 12 panels stays a few thousand pixels tall); the
/// table lists every shard's attempts.
const MAX_SHARD_ROWS: usize = 32;

/// Per shard timelines of the trials with shards; `None` when no trial has any.
pub fn shards(results: &ResultsDir) -> Option<ShardsFigure> {
    let sharded = results
        .trials
        .iter()
        .filter(|t| !t.record.shards.is_empty())
        .count();
    let (trials, selection) = shard_trials(results);
    let panels: Vec<ShardPanel> = trials
        .iter()
        .map(|t| {
            let r = &t.record;
            let condition = match Condition::of(r).label() {
                c if c == "(no matrix)" => format!("policy={}", r.policy),
                c => c,
            };
            let verified = r
                .shards
                .iter()
                .filter(|s| s.outcome == Outcome::Completed)
                .count();
            let outcome = if verified == r.shards.len() {
                "completed".to_string()
            } else {
                format!("failed, {verified} of {} verified", r.shards.len())
            };
            let drawn = match r.shards.len() {
                n if n > MAX_SHARD_ROWS => format!(" (first {MAX_SHARD_ROWS} drawn)"),
                _ => String::new(),
            };
            ShardPanel {
                title: format!(
                    "{} {condition} (rep {}): {outcome}, {} of {} shards restarted{drawn}, {} \
                     MiB wasted, {} s",
                    r.trial,
                    r.repetition,
                    shards_restarted(r),
                    r.shards.len(),
                    crate::plot::fmt_num(r.bytes_wasted as f64 / MIB),
                    crate::plot::fmt_num(r.duration_s),
                ),
                shards: r
                    .shards
                    .iter()
                    .take(MAX_SHARD_ROWS)
                    .map(|s| ShardBar {
                        shard: s.shard,
                        started_at: s.started_at,
                        duration_s: s.duration_s,
                        verified: s.outcome == Outcome::Completed,
                        attempts: s.attempts,
                        wasted_mib: s.bytes_wasted as f64 / MIB,
                        wasted_share: if s.bytes_transferred > 0 {
                            s.bytes_wasted as f64 / s.bytes_transferred as f64
                        } else {
                            0.0
                        },
                    })
                    .collect(),
                faults: r
                    .faults
                    .iter()
                    .map(|f| ShardFault {
                        name: format!("{} ({})", f.fault, f.kind),
                        on: f.on,
                        off: f.off,
                    })
                    .collect(),
            }
        })
        .collect();
    if panels.is_empty() {
        return None;
    }
    let shown = match selection {
        ShardSelection::All => String::new(),
        ShardSelection::FirstRepetitions => format!(
            " (first repetition of {} conditions; {sharded} trials in the table)",
            panels.len()
        ),
    };
    Some(ShardsFigure {
        figure: Shards {
            title: format!("{}: each shard's recovery{shown}", results.campaign),
            panels,
        },
        selection,
        sharded,
    })
}

/// One trial as the shards table lists it.
#[derive(Clone, Debug, PartialEq)]
pub struct ShardRow {
    /// Trial id.
    pub trial: String,
    /// Its condition.
    pub condition: String,
    /// Its policy.
    pub policy: String,
    /// Completed or failed.
    pub outcome: Outcome,
    /// Shards verified.
    pub verified: usize,
    /// Shards (1 for an index without shard lines).
    pub shards: usize,
    /// Each shard's attempts, in shard order.
    pub attempts: Vec<u32>,
    /// Shards with more than one attempt.
    pub restarted: usize,
    /// Bytes received then thrown away, MiB.
    pub wasted_mib: f64,
    /// Seconds.
    pub duration_s: f64,
}

/// A row per trial when any trial has shards (a trial of one shard is its own only shard);
/// empty otherwise.
pub fn shard_rows(results: &ResultsDir) -> Vec<ShardRow> {
    if results.trials.iter().all(|t| t.record.shards.is_empty()) {
        return Vec::new();
    }
    results
        .trials
        .iter()
        .map(|t| {
            let r = &t.record;
            let (verified, shards, attempts) = if r.shards.is_empty() {
                (
                    usize::from(r.outcome == Outcome::Completed),
                    1,
                    vec![r.attempts],
                )
            } else {
                (
                    r.shards
                        .iter()
                        .filter(|s| s.outcome == Outcome::Completed)
                        .count(),
                    r.shards.len(),
                    r.shards.iter().map(|s| s.attempts).collect(),
                )
            };
            ShardRow {
                trial: r.trial.clone(),
                condition: Condition::of(r).label(),
                policy: r.policy.clone(),
                outcome: r.outcome,
                verified,
                shards,
                attempts,
                restarted: shards_restarted(r),
                wasted_mib: r.bytes_wasted as f64 / MIB,
                duration_s: r.duration_s,
            }
        })
        .collect()
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

    use crate::{
        follower::{FailureKind, FailureRecord, FaultTimes, RequestSample, TimeBreakdown},
        plot::CellVerdict,
        results::{TRIAL_SCHEMA, TrialRecord, Verdict},
    };

    const INDEX: f64 = 32.0 * MIB;
    const RATE: f64 = 16.0 * MIB;

    /// A recovery at 16 MiB/s of a 32 MiB index, its connection reset at 1 s and a second
    /// attempt from 1.2 s that starts from nothing (`restart`) or from what the first kept.
    fn series(restart: bool) -> Vec<Sample> {
        (0..=70)
            .map(|i| {
                let t = i as f64 * 0.05;
                let (attempt, verified, bytes) = if t < 1.0 {
                    (1, RATE * t, RATE * t)
                } else if t < 1.2 {
                    (1, RATE, RATE)
                } else {
                    let kept = if restart { 0.0 } else { RATE };
                    (2, (kept + RATE * (t - 1.2)).min(INDEX), RATE * (t - 0.2))
                };
                Sample {
                    t,
                    bytes: bytes as u64,
                    attempt,
                    verified: verified as u64,
                }
            })
            .collect()
    }

    fn record(cell: usize, rep: u32, params: &[(&str, &str)]) -> TrialRecord {
        let params: BTreeMap<String, serde_json::Value> = params
            .iter()
            .map(|(k, v)| (k.to_string(), serde_json::Value::from(*v)))
            .collect();
        let policy = params
            .get(POLICY)
            .and_then(|v| v.as_str())
            .unwrap_or("elasticsearch")
            .to_string();
        TrialRecord {
            schema: TRIAL_SCHEMA.into(),
            campaign: "synthetic".into(),
            trial: format!("t{:04}", cell * 10 + rep as usize),
            cell,
            repetition: rep,
            seed: 1,
            params,
            policy,
            outcome: Outcome::Completed,
            failure: None,
            bytes_needed: INDEX as u64,
            bytes_transferred: INDEX as u64,
            bytes_wasted: 0,
            duration_s: 3.0,
            throughput_mib_s: 10.0,
            model_throughput_mib_s: None,
            throughput_vs_model: None,
            model_terms: None,
            warnings: Vec::new(),
            attempts: 1,
            failures: Vec::new(),
            faults: Vec::new(),
            time_breakdown: None,
            steady_throughput_mib_s: None,
            connections_reset: 0,
            leader_sessions_open: 0,
            leader_pinned_bytes: 0,
            leader_requests_forwarded: 0,
            followers: Vec::new(),
            leaders: Vec::new(),
            shards: Vec::new(),
            aggregate_throughput_mib_s: None,
            jain_index: None,
            tls: None,
            leader_clock: None,
            expectations: Vec::new(),
            passed: true,
        }
    }

    fn loaded(record: TrialRecord, series: Vec<Sample>) -> LoadedTrial {
        LoadedTrial {
            record,
            series,
            resets: Vec::new(),
            requests: Vec::new(),
        }
    }

    /// A reset half-way through, under a policy that restarts and one that resumes.
    fn reset_results() -> ResultsDir {
        let trial = |cell, policy: &str, restart| {
            let mut r = record(cell, 1, &[(POLICY, policy)]);
            r.attempts = 2;
            r.failures = vec![FailureRecord {
                attempt: 1,
                t: 1.0,
                kind: FailureKind::Reset,
                channel: None,
                channel_type: None,
                message: "connection reset".into(),
                then: String::new(),
            }];
            r.faults = vec![FaultTimes {
                fault: "cut".into(),
                kind: "reset".into(),
                on: 1.0,
                off: None,
                time_to_detect_s: Some(0.0),
                time_to_recover_s: Some(0.2),
            }];
            loaded(r, series(restart))
        };
        ResultsDir {
            dir: "/nonexistent".into(),
            campaign: "synthetic".into(),
            description: String::new(),
            trials: vec![
                trial(0, "elasticsearch", true),
                trial(1, "resumable", false),
            ],
        }
    }

    /// How often a curve falls to zero after having been above it.
    fn drops_to_zero(points: impl Iterator<Item = (f64, f64)>) -> usize {
        let mut drops = 0;
        let mut high = 0.0f64;
        for (_, y) in points {
            if y <= 0.0 && high > 0.0 {
                drops += 1;
                high = 0.0;
            }
            high = high.max(y);
        }
        drops
    }

    #[test]
    fn a_restart_drops_to_zero_and_a_resume_does_not() {
        let figures = progress(&reset_results());
        assert_eq!(
            figures.len(),
            1,
            "one condition once the policy is left out"
        );
        let (cell, fig) = (figures[0].cell, &figures[0].figure);
        assert_eq!(cell, 0);
        assert_eq!(figures[0].group, "(no matrix)");
        assert_eq!(fig.panels.len(), 2);
        let (es, resumable) = (&fig.panels[0], &fig.panels[1]);
        assert!(es.title.starts_with("elasticsearch: "), "{}", es.title);
        assert!(
            resumable.title.starts_with("resumable: "),
            "{}",
            resumable.title
        );
        assert!(es.title.contains("reset ×1"), "{}", es.title);

        let run = &es.runs[0];
        assert_eq!(run.segments.len(), 2, "one segment per attempt");
        assert_eq!(drops_to_zero(run.points()), 1);
        assert_eq!(
            run.segments[1].points[0].1, 0.0,
            "attempt 2 starts from nothing"
        );

        let run = &resumable.runs[0];
        assert_eq!(drops_to_zero(run.points()), 0);
        let ys: Vec<f64> = run.points().map(|p| p.1).collect();
        assert!(ys.windows(2).all(|w| w[1] >= w[0]), "never loses bytes");
        assert!(
            run.segments[1].points[0].1 >= 15.9,
            "attempt 2 starts from 16 MiB"
        );

        for panel in [es, resumable] {
            assert_eq!(panel.failures.len(), 1);
            assert_eq!(panel.failures[0].kind, "reset");
            assert!((panel.failures[0].verified_mib - 16.0).abs() < 0.1);
            assert_eq!(panel.windows.len(), 1, "the reset is shaded");
        }
        assert_eq!(fig.target_mib, Some(32.0));
    }

    #[test]
    fn thinning_keeps_a_drop_to_zero() {
        let mut points: Vec<(f64, f64)> = (0..5000).map(|i| (i as f64, 1.0 + i as f64)).collect();
        points[2345].1 = 0.0;
        let thin = decimate(&points, 200);
        assert!(thin.len() <= 220, "{}", thin.len());
        assert!(thin.contains(&(2345.0, 0.0)));
        assert_eq!(thin.first(), points.first());
        assert_eq!(thin.last(), points.last());
        assert!(thin.windows(2).all(|w| w[0].0 < w[1].0), "in time order");
    }

    #[test]
    fn a_condition_that_went_straight_through_has_no_progress_figure() {
        let results = ResultsDir {
            dir: "/nonexistent".into(),
            campaign: "synthetic".into(),
            description: String::new(),
            trials: vec![loaded(
                record(0, 1, &[(POLICY, "resumable")]),
                series(false),
            )],
        };
        assert!(progress(&results).is_empty());
    }

    #[test]
    fn the_only_axis_becomes_the_panels() {
        let mut off = record(0, 1, &[("settings.ping_schedule", "-1")]);
        off.outcome = Outcome::Failed;
        let on = record(1, 1, &[("settings.ping_schedule", "500ms")]);
        let results = ResultsDir {
            dir: "/nonexistent".into(),
            campaign: "synthetic".into(),
            description: String::new(),
            trials: vec![loaded(off, series(true)), loaded(on, series(false))],
        };
        let figures = progress(&results);
        assert_eq!(figures.len(), 1);
        let titles: Vec<&str> = figures[0]
            .figure
            .panels
            .iter()
            .map(|p| p.title.as_str())
            .collect();
        assert!(
            titles[0].starts_with("ping_schedule=-1: 0/1 completed"),
            "{titles:?}"
        );
        assert!(
            titles[1].starts_with("ping_schedule=500ms: 1/1 completed"),
            "{titles:?}"
        );
    }

    #[test]
    fn results_without_the_verified_column_have_no_progress_figure() {
        let mut results = reset_results();
        for t in &mut results.trials {
            for s in &mut t.series {
                s.verified = 0;
            }
        }
        assert!(progress(&results).is_empty());
    }

    #[test]
    fn a_categorical_sweep_joins_nothing_and_marks_failed_trials() {
        let mut results = reset_results();
        results.trials[0].record.outcome = Outcome::Failed;
        results.trials[0].record.throughput_mib_s = 2.0;
        let sweep = sweep(&results);
        assert_eq!(
            sweep.categories,
            Some(vec!["elasticsearch".to_string(), "resumable".to_string()])
        );
        assert!(!sweep.joins_points());
        let s = &sweep.series[0];
        assert_eq!(s.failed, vec![(0.0, 2.0)]);
        assert_eq!(s.points, vec![(1.0, 10.0)], "a failed trial is not a point");
        assert_eq!(s.medians, vec![(1.0, 10.0)], "nor part of a median");
    }

    #[test]
    fn zero_latency_cells_put_the_sweep_on_a_log_axis() {
        let trial = |cell, delay: &str, mib_s| {
            let mut r = record(cell, 1, &[("faults.wan.delay", delay)]);
            r.throughput_mib_s = mib_s;
            loaded(r, Vec::new())
        };
        let mut results = ResultsDir {
            dir: "/nonexistent".into(),
            campaign: "synthetic".into(),
            description: String::new(),
            trials: vec![
                trial(0, "0ms", 900.0),
                trial(1, "10ms", 40.0),
                trial(2, "25ms", 16.0),
            ],
        };
        let s = sweep(&results);
        assert_eq!(s.y_scale, Scale::Log);
        assert!(s.joins_points(), "a numeric axis is joined");
        results.trials.remove(0);
        assert_eq!(sweep(&results).y_scale, Scale::Linear);
    }

    #[test]
    fn a_failed_expectation_colours_its_cell_red_even_when_the_trial_completed() {
        let mut results = reset_results();
        let r = &mut results.trials[0].record;
        r.expectations = vec![
            Verdict {
                name: "outcome".into(),
                expected: "completed".into(),
                actual: "completed".into(),
                pass: true,
            },
            Verdict {
                name: "max_bytes_wasted".into(),
                expected: "<= 5mb".into(),
                actual: "16mb".into(),
                pass: false,
            },
        ];
        r.passed = false;
        let r = &mut results.trials[1].record;
        r.expectations = vec![Verdict {
            name: "outcome".into(),
            expected: "completed".into(),
            actual: "completed".into(),
            pass: true,
        }];
        let m = outcomes(&results);
        assert_eq!(m.rows, vec!["elasticsearch", "resumable"]);
        let es = m.cells[0][0].as_ref().expect("a cell");
        assert_eq!(es.completed, 1);
        assert_eq!(es.verdict(), CellVerdict::Fail);
        assert_eq!(
            es.missed,
            vec![Missed {
                name: "max_bytes_wasted".into(),
                actual: "16mb".into(),
                expected: "<= 5mb".into(),
                trials: 1,
            }]
        );
        assert!(es.lines().contains(&"max_bytes_wasted 16mb".to_string()));
        assert_eq!(
            m.cell_colour(0, 0),
            crate::plot::verdict_colour(CellVerdict::Fail)
        );
        assert_eq!(
            m.cell_colour(1, 0),
            crate::plot::verdict_colour(CellVerdict::Pass)
        );
        results.trials[1].record.expectations.clear();
        let m = outcomes(&results);
        assert_eq!(
            m.cell_colour(1, 0),
            crate::plot::verdict_colour(CellVerdict::NoExpectation)
        );
    }

    #[test]
    fn a_cell_that_never_completed_has_no_time_to_recover() {
        let mut results = reset_results();
        results.trials[0].record.outcome = Outcome::Failed;
        let m = outcomes(&results);
        let es = m.cells[0][0].as_ref().expect("a cell");
        assert_eq!(es.median_time_to_recover_s, None);
        assert_eq!(es.median_duration_s, None);
        let resumable = m.cells[1][0].as_ref().expect("a cell");
        assert_eq!(resumable.median_time_to_recover_s, Some(0.2));
    }

    fn requests(latencies_ms: &[f64]) -> Vec<RequestSample> {
        latencies_ms
            .iter()
            .enumerate()
            .map(|(i, ms)| RequestSample {
                t: i as f64 * 0.01,
                latency_s: ms / 1000.0,
                attempt: 1,
                bytes: 1 << 20,
                ok: *ms < 1000.0,
            })
            .collect()
    }

    #[test]
    fn latency_cdf_is_monotone_and_ends_at_1() {
        let mut results = reset_results();
        // 1000 answered requests from 0.2 to 80 ms, out of order, and one never answered.
        let mut ms: Vec<f64> = (0..1000)
            .map(|i| 0.2 + (i * 7919 % 1000) as f64 * 0.08)
            .collect();
        ms.push(5000.0);
        results.trials[0].requests = requests(&ms);
        results.trials[1].requests = requests(&[3.0, 1.0, 2.0]);
        let cdf = latency_cdf(&results).expect("a CDF");
        assert_eq!(cdf.curves.len(), 2);
        assert_eq!(cdf.x_scale, Scale::Log, "0.2 to 80 ms spans decades");
        for c in &cdf.curves {
            assert!(c.points.len() <= CDF_POINTS);
            assert!(
                c.points
                    .windows(2)
                    .all(|w| w[1].0 >= w[0].0 && w[1].1 >= w[0].1),
                "{}: not monotone",
                c.label
            );
            assert_eq!(c.points.last().map(|p| p.1), Some(1.0), "{}", c.label);
            assert!(c.points.iter().all(|p| p.1 > 0.0 && p.1 <= 1.0));
        }
        assert!(
            cdf.curves[0].label.contains("n=1000, 1 unanswered"),
            "{}",
            cdf.curves[0].label
        );
        assert_eq!(
            cdf.curves[1].points,
            vec![(1.0, 1.0 / 3.0), (2.0, 2.0 / 3.0), (3.0, 1.0)]
        );
        let last = cdf.curves[0].points.last().expect("a point");
        assert!(
            (last.0 - 0.2 - 999.0 * 0.08).abs() < 1e-9,
            "ends at the slowest answered"
        );
    }

    #[test]
    fn without_requests_or_breakdowns_those_figures_are_left_out() {
        let mut results = reset_results();
        assert!(latency_cdf(&results).is_none());
        assert!(breakdown(&results).is_none());
        assert!(breakdown_medians(&results).is_empty());
        // What an engine that does not measure it yet writes: every term zero.
        results.trials[0].record.time_breakdown = Some(TimeBreakdown::default());
        assert!(breakdown(&results).is_none());
    }

    #[test]
    fn the_breakdown_is_the_median_of_each_activity() {
        let mut results = reset_results();
        let b = |network, storage, backoff| TimeBreakdown {
            network_s: network,
            storage_s: storage,
            backoff_s: backoff,
            ..TimeBreakdown::default()
        };
        let mut second = results.trials[0].clone();
        second.record.repetition = 2;
        results.trials.insert(1, second);
        let mut third = results.trials[0].clone();
        third.record.repetition = 3;
        results.trials.insert(1, third);
        results.trials[0].record.time_breakdown = Some(b(1.0, 0.5, 0.2));
        results.trials[1].record.time_breakdown = Some(b(2.0, 0.1, 0.4));
        results.trials[2].record.time_breakdown = Some(b(3.0, 0.3, 0.0));
        // resumable has none: its bar is left out, not drawn empty.
        let fig = breakdown(&results).expect("a breakdown");
        assert_eq!(fig.rows.len(), 1);
        assert_eq!(fig.rows[0].label, "policy=elasticsearch");
        let at = |a: Activity| Activity::ALL.iter().position(|x| *x == a).expect("known");
        assert_eq!(fig.rows[0].seconds[at(Activity::Network)], 2.0);
        assert_eq!(fig.rows[0].seconds[at(Activity::Storage)], 0.3);
        assert_eq!(fig.rows[0].seconds[at(Activity::Backoff)], 0.2);
        assert_eq!(fig.segments.len(), Activity::ALL.len());
        let medians = breakdown_medians(&results);
        assert_eq!(medians[0].trials, 3);
        assert_eq!(
            breakdown_terms(&medians),
            vec![Activity::Network, Activity::Storage, Activity::Backoff]
        );
    }

    #[test]
    fn standing_faults_are_named_not_shaded() {
        let mut results = reset_results();
        results.trials[0].record.faults.push(FaultTimes {
            fault: "wan".into(),
            kind: "latency".into(),
            on: 0.0,
            off: None,
            time_to_detect_s: None,
            time_to_recover_s: None,
        });
        let (windows, standing) = windows_of(&results.trials[0]);
        assert_eq!(windows.len(), 1, "the reset");
        assert_eq!(standing, vec!["wan (latency)"]);
    }

    #[test]
    fn shard_panels_fall_back_to_first_repetitions_and_one_shard_trials_get_a_row() {
        let shard = |n: u32| crate::follower::ShardReport {
            shard: n,
            outcome: Outcome::Completed,
            failure: None,
            attempts: 1 + u32::from(n < 2),
            bytes: 1,
            bytes_needed: 1,
            bytes_transferred: 1,
            bytes_wasted: 0,
            started_at: Some(0.0),
            duration_s: 1.0,
            throughput_mib_s: 1.0,
        };
        let results = |cells: usize, reps: u32| ResultsDir {
            dir: "/nonexistent".into(),
            campaign: "synthetic".into(),
            description: String::new(),
            trials: (0..cells)
                .flat_map(|c| (1..=reps).map(move |rep| (c, rep)))
                .map(|(c, rep)| {
                    let mut r = record(c, rep, &[("index.shards", &c.to_string())]);
                    r.shards = if c == 0 {
                        Vec::new()
                    } else {
                        (0..3).map(shard).collect()
                    };
                    loaded(r, Vec::new())
                })
                .collect(),
        };
        let few = results(3, 2);
        let (shown, selection) = shard_trials(&few);
        assert_eq!((shown.len(), selection), (4, ShardSelection::All));
        let rows = shard_rows(&few);
        assert_eq!(rows.len(), 6, "every trial, the one-shard ones too");
        assert_eq!((rows[0].shards, rows[0].attempts.clone()), (1, vec![1]));
        assert_eq!(
            (rows[2].attempts.clone(), rows[2].restarted),
            (vec![2, 2, 1], 2)
        );

        let many = results(20, 2);
        let (shown, selection) = shard_trials(&many);
        assert_eq!(selection, ShardSelection::FirstRepetitions);
        assert_eq!(shown.len(), SHARD_PANELS);
        assert!(shown.iter().all(|t| t.record.repetition == 1));
        let cells: Vec<usize> = shown.iter().map(|t| t.record.cell).collect();
        assert_eq!(cells, (1..=SHARD_PANELS).collect::<Vec<_>>());
        let fig = shards(&many).expect("a figure");
        assert_eq!(fig.sharded, 38);
        assert!(
            fig.figure.title.contains("first repetition"),
            "{}",
            fig.figure.title
        );

        assert!(shards(&results(1, 2)).is_none(), "no shards, no figure");
        assert!(shard_rows(&results(1, 2)).is_empty());
    }
}
