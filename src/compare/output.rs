//! Writing a comparison: one distribution plot per metric, `compare.md`, `compare.json` and
//! `compare.csv`, each through [`export::write`].

use std::path::{Path, PathBuf};

use super::{CompareCsv, CompareError, CompareJson, CompareMarkdown, Comparison, Metric};
use crate::{
    export::{self, Exporter},
    plot::{self, Distribution, DistributionGroup},
};

/// Tick labels longer than this become `#k` (the Markdown table names every condition).
const LONG_LABEL: usize = 28;

/// What [`write()`] wrote.
#[derive(Clone, Debug)]
pub struct CompareFiles {
    /// `compare.md`.
    pub markdown: PathBuf,
    /// `compare.json`.
    pub json: PathBuf,
    /// `compare.csv`.
    pub csv: PathBuf,
    /// One SVG per metric (a PNG sits next to each).
    pub plots: Vec<PathBuf>,
}

/// Writes `<out>/plots/compare-<metric>.{svg,png}` and `<out>/compare.{md,json,csv}`.
pub fn write(c: &Comparison, out: &Path, names: [String; 2]) -> Result<CompareFiles, CompareError> {
    let mut plots = Vec::new();
    let mut links: Vec<(Metric, String)> = Vec::new();
    let mut ticks: Vec<String> = Vec::new();
    for &metric in &c.options.metrics {
        let rows: Vec<_> = c.rows.iter().filter(|r| r.metric == metric).collect();
        let long = rows.len() > 6 || rows.iter().any(|r| r.condition.label().len() > LONG_LABEL);
        if long && ticks.is_empty() {
            ticks = rows
                .iter()
                .enumerate()
                .map(|(k, r)| format!("#{} = {}", k + 1, r.condition.label()))
                .collect();
        }
        let groups = rows
            .iter()
            .enumerate()
            .map(|(k, r)| DistributionGroup {
                label: if long {
                    format!("#{}", k + 1)
                } else {
                    r.condition.label()
                },
                baseline: r.baseline.clone(),
                contender: r.contender.clone(),
            })
            .collect();
        let figure = Distribution {
            title: format!("{}: {metric}, {} vs {}", c.campaign, names[0], names[1]),
            y_label: metric.axis().to_string(),
            names: names.clone(),
            groups,
        };
        let name = format!("compare-{metric}");
        let r = plot::render(&figure, &out.join("plots"), &name)?;
        links.push((metric, format!("plots/{name}.svg")));
        plots.push(r.svg);
    }
    let exporter = CompareMarkdown {
        plots: &links,
        ticks: &ticks,
    };
    let markdown = write_one(out, &exporter, c)?;
    let json = write_one(out, &CompareJson, c)?;
    let csv = write_one(out, &CompareCsv, c)?;
    Ok(CompareFiles {
        markdown,
        json,
        csv,
        plots,
    })
}

fn write_one<E: Exporter<Input = Comparison>>(
    out: &Path,
    exporter: &E,
    c: &Comparison,
) -> Result<PathBuf, CompareError> {
    export::write(out, exporter, c).map_err(|source| CompareError::Io {
        path: out.join(exporter.file_name()),
        source,
    })
}
