//! A comparison as text: a terminal table and `compare.md`.

use std::fmt::Write as _;

use super::{Comparison, Metric, Row};

/// A number with a precision that suits its size.
fn num(x: f64) -> String {
    let a = x.abs();
    if a >= 1e6 {
        format!("{x:.3e}")
    } else if a >= 100.0 {
        format!("{x:.1}")
    } else if a >= 1.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.3}")
    }
}

fn opt(x: Option<f64>) -> String {
    x.map_or("-".into(), num)
}

fn pct(x: Option<f64>) -> String {
    x.map_or("-".into(), |x| format!("{:+.1} %", 100.0 * x))
}

/// The cells of one row, shared by both renderings.
fn cells(r: &Row) -> [String; 9] {
    let n = |xs: &[f64]| {
        if xs.is_empty() {
            "-".into()
        } else {
            xs.len().to_string()
        }
    };
    [
        r.metric.name().to_string(),
        r.condition.label(),
        format!("{} (n={})", opt(r.baseline_median), n(&r.baseline)),
        format!("{} (n={})", opt(r.contender_median), n(&r.contender)),
        r.diff.map_or("-".into(), |d| {
            if d >= 0.0 {
                format!("+{}", num(d))
            } else {
                num(d)
            }
        }),
        pct(r.diff_relative),
        r.ci.map_or("-".into(), |ci| {
            format!("[{}, {}]", num(ci.low), num(ci.high))
        }),
        r.p.map_or("-".into(), |p| format!("{p:.3}")),
        r.verdict.to_string(),
    ]
}

const HEADER: [&str; 9] = [
    "metric",
    "condition",
    "baseline median",
    "contender median",
    "diff",
    "diff %",
    "95% CI of diff",
    "p (Mann-Whitney)",
    "verdict",
];

/// The comparison as an aligned table for a terminal.
pub fn terminal_table(c: &Comparison) -> String {
    let rows: Vec<[String; 9]> = c.rows.iter().map(cells).collect();
    let mut widths = HEADER.map(str::len);
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let line = |cells: &[String], out: &mut String| {
        let parts: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", parts.join("  ").trim_end());
    };
    line(&HEADER.map(String::from), &mut out);
    for r in &rows {
        line(r, &mut out);
    }
    out
}

/// `compare.md`: the runs, the method, the table, and where the plots are.
pub fn markdown(c: &Comparison, plots: &[(Metric, String)], ticks: &[String]) -> String {
    let o = &c.options;
    let mut out = String::from("# rrbench compare\n\n");
    let _ = writeln!(out, "- baseline: {}", c.baseline);
    let _ = writeln!(out, "- contender: {}", c.contender);
    let _ = writeln!(
        out,
        "- method: medians; diff = contender − baseline; 95 % percentile bootstrap interval of the \
         difference of medians ({} resamples, seed {}); two-sided Mann–Whitney U (exact up to 60 \
         pooled samples); verdict: no change when p ≥ {}, within noise when the interval reaches \
         into ±{:.1} % of the baseline median, otherwise improved or regressed.",
        o.resamples,
        o.seed,
        o.significance,
        100.0 * o.noise_threshold
    );
    for n in &c.notes {
        let _ = writeln!(out, "- note: {n}");
    }
    out.push('\n');
    let _ = writeln!(out, "| {} |", HEADER.join(" | "));
    let _ = writeln!(out, "|{}", "---|".repeat(HEADER.len()));
    for r in &c.rows {
        let _ = writeln!(out, "| {} |", cells(r).join(" | "));
    }
    if !plots.is_empty() {
        out.push_str("\n## Distributions\n\n");
        if !ticks.is_empty() {
            out.push_str("Conditions on the x axis:\n\n");
            for t in ticks {
                let _ = writeln!(out, "- {t}");
            }
            out.push('\n');
        }
        for (m, file) in plots {
            let _ = writeln!(out, "![{m}]({file})\n");
        }
    }
    out
}
