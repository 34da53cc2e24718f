//! A comparison as text: what differs between the runs and a table for a terminal, and
//! `compare.md` ([`CompareMarkdown`]).

use std::fmt::Write as _;

use super::{Comparison, Differences, Metric, Row};
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

/// What differs between the runs, for a terminal: `identical` when nothing does.
pub fn differences_text(d: &Differences) -> String {
    let mut out = String::from("what differs between the runs:");
    if d.items.is_empty() {
        out.push_str(if d.identical() {
            " identical (campaign settings, faults, rrbench version, machine)"
        } else {
            " nothing found in what was recorded"
        });
    }
    out.push('\n');
    let width = |f: fn(&super::Difference) -> usize| d.items.iter().map(f).max().unwrap_or(0);
    let (ws, wk, wb) = (
        width(|i| i.section.to_string().len()),
        width(|i| i.key.chars().count()),
        width(|i| i.baseline.chars().count()),
    );
    for i in &d.items {
        let _ = writeln!(
            out,
            "  {:<ws$}  {:<wk$}  {:<wb$}  ->  {}",
            i.section.to_string(),
            i.key,
            i.baseline,
            i.contender
        );
    }
    if !d.unrecorded.is_empty() {
        let _ = writeln!(
            out,
            "  not compared: neither run recorded {}",
            d.unrecorded.join(" or ")
        );
    }
    out
}

/// The Markdown section of what differs between the runs.
fn differences_md(d: &Differences, out: &mut String) {
    out.push_str("## What differs between the runs\n\n");
    if d.identical() {
        out.push_str("Identical: campaign settings, faults, rrbench version and machine.\n");
    } else if d.items.is_empty() {
        out.push_str("Nothing found in what was recorded.\n");
    } else {
        out.push_str("| section | key | baseline | contender |\n|---|---|---|---|\n");
        for i in &d.items {
            let cell = |s: &str| s.replace('|', "\\|");
            let _ = writeln!(
                out,
                "| {} | `{}` | {} | {} |",
                i.section,
                i.key,
                cell(&i.baseline),
                cell(&i.contender)
            );
        }
    }
    if !d.unrecorded.is_empty() {
        let _ = writeln!(
            out,
            "\nNot compared: neither run recorded {}.",
            d.unrecorded.join(" or ")
        );
    }
    out.push('\n');
}

/// `compare.md`: the runs, what differs between them, the method, the warnings, the table with
/// its tally, and where the plots are.
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
        for w in &c.warnings {
            let _ = writeln!(out, "- **warning**: {w}");
        }
        out.push('\n');
        differences_md(&c.differences, &mut out);
        out.push_str("## Results\n\n");
        let _ = writeln!(out, "| {} |", HEADER.join(" | "));
        let _ = writeln!(out, "|{}", "---|".repeat(HEADER.len()));
        for r in &c.rows {
            let _ = writeln!(out, "| {} |", cells(r).join(" | "));
        }
        let _ = writeln!(out, "\n{}", c.tally());
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
    use super::*;
    use crate::compare::fixture::comparison;

    #[test]
    fn the_terminal_says_what_differs_or_identical() {
        let c = comparison();
        assert_eq!(
            differences_text(&c.differences),
            "what differs between the runs:\n  \
             campaign  settings.max_concurrent_file_chunks  1 (--set)  ->  5 (--set)\n  \
             not compared: neither run recorded env.json\n"
        );
        assert_eq!(
            differences_text(&Differences::default()),
            "what differs between the runs: identical (campaign settings, faults, rrbench \
             version, machine)\n"
        );
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
             - baseline: smoke (base/)\n\
             - contender: smoke (new/)\n\
             - method: medians; diff = contender − baseline; 95 % percentile bootstrap interval \
             of the difference of medians (10000 resamples, seed 0); two-sided Mann–Whitney U \
             (exact up to 60 pooled samples); verdict: no change when p ≥ 0.05, within noise \
             when the interval reaches into ±2.0 % of the baseline median, otherwise improved \
             or regressed.\n\
             - note: the campaigns differ\n\
             - **warning**: trials are short\n\
             \n\
             ## What differs between the runs\n\
             \n\
             | section | key | baseline | contender |\n\
             |---|---|---|---|\n\
             | campaign | `settings.max_concurrent_file_chunks` | 1 (--set) | 5 (--set) |\n\
             \n\
             Not compared: neither run recorded env.json.\n\
             \n\
             ## Results\n\
             \n\
             | metric | condition | baseline median | contender median | diff | diff % | \
             95% CI of diff | p (Mann-Whitney) | verdict |\n\
             |---|---|---|---|---|---|---|---|---|\n\
             | throughput_mib_s | policy=resumable | 11.00 (n=2) | 21.00 (n=2) | +10.00 | \
             +90.9 % | [8.00, 12.00] | 0.100 | no change |\n\
             \n\
             1 row: 0 improved, 0 regressed, 1 no change, 0 within noise, 0 too few samples, \
             0 only in baseline, 0 only in contender\n\
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
            without_plots.ends_with("0 only in contender\n"),
            "{without_plots}"
        );
    }
}
