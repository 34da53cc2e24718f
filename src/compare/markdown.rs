//! A comparison as text: a terminal table and `compare.md` ([`CompareMarkdown`]).

use std::fmt::Write as _;

use super::{Comparison, Metric, Row};
use crate::export::Exporter;

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
#[derive(Clone, Copy, Debug)]
pub struct CompareMarkdown<'a> {
    /// Each metric's distribution plot, relative to `compare.md`.
    pub plots: &'a [(Metric, String)],
    /// What the plots' `#k` ticks stand for (empty when the ticks are the conditions).
    pub ticks: &'a [String],
}

impl Exporter for CompareMarkdown<'_> {
    type Input = Comparison;

    fn file_name(&self) -> &'static str {
        "compare.md"
    }

    fn export(&self, c: &Comparison) -> String {
        let (plots, ticks) = (self.plots, self.ticks);
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
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::{
        compare::{ChangeVerdict, CompareOptions},
        results::Condition,
        stats::Interval,
    };

    fn comparison() -> Comparison {
        Comparison {
            campaign: "smoke".into(),
            baseline: "smoke at base/".into(),
            contender: "smoke at new/".into(),
            rows: vec![Row {
                metric: Metric::ThroughputMibS,
                condition: Condition(BTreeMap::from([(
                    "settings.policy".to_string(),
                    "resumable".to_string(),
                )])),
                baseline: vec![10.0, 12.0],
                contender: vec![20.0, 22.0],
                baseline_median: Some(11.0),
                contender_median: Some(21.0),
                diff: Some(10.0),
                diff_relative: Some(10.0 / 11.0),
                ci: Some(Interval {
                    low: 8.0,
                    high: 12.0,
                }),
                p: Some(0.1),
                verdict: ChangeVerdict::NoChange,
            }],
            notes: vec!["the campaigns differ".into()],
            options: CompareOptions::default(),
        }
    }

    #[test]
    fn compare_md_has_the_runs_the_method_the_table_and_the_plots() {
        let plots = [(
            Metric::ThroughputMibS,
            "plots/compare-throughput_mib_s.svg".to_string(),
        )];
        let ticks = ["#1 = policy=resumable".to_string()];
        let md = CompareMarkdown {
            plots: &plots,
            ticks: &ticks,
        };
        assert_eq!(md.file_name(), "compare.md");
        assert_eq!(
            md.export(&comparison()),
            "# rrbench compare\n\
             \n\
             - baseline: smoke at base/\n\
             - contender: smoke at new/\n\
             - method: medians; diff = contender − baseline; 95 % percentile bootstrap interval \
             of the difference of medians (10000 resamples, seed 0); two-sided Mann–Whitney U \
             (exact up to 60 pooled samples); verdict: no change when p ≥ 0.05, within noise \
             when the interval reaches into ±2.0 % of the baseline median, otherwise improved \
             or regressed.\n\
             - note: the campaigns differ\n\
             \n\
             | metric | condition | baseline median | contender median | diff | diff % | \
             95% CI of diff | p (Mann-Whitney) | verdict |\n\
             |---|---|---|---|---|---|---|---|---|\n\
             | throughput_mib_s | policy=resumable | 11.00 (n=2) | 21.00 (n=2) | +10.00 | \
             +90.9 % | [8.00, 12.00] | 0.100 | no change |\n\
             \n\
             ## Distributions\n\
             \n\
             Conditions on the x axis:\n\
             \n\
             - #1 = policy=resumable\n\
             \n\
             ![throughput_mib_s](plots/compare-throughput_mib_s.svg)\n\
             \n"
        );
        let without_plots = CompareMarkdown {
            plots: &[],
            ticks: &[],
        }
        .export(&comparison());
        assert!(
            without_plots.ends_with("| no change |\n"),
            "{without_plots}"
        );
    }
}
