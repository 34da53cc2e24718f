//! `compare.csv` ([`CompareCsv`]): one line per row of the comparison, with a column per matrix
//! parameter, for spreadsheets and data frames. Numbers at full precision, empty when unknown.

use std::collections::BTreeSet;

use super::Comparison;
use crate::export::Exporter;

/// Writes `compare.csv`.
#[derive(Clone, Copy, Debug, Default)]
pub struct CompareCsv;

/// The columns after the metric, the condition and its parameters.
const STATS: [&str; 11] = [
    "baseline_n",
    "baseline_median",
    "contender_n",
    "contender_median",
    "diff",
    "diff_relative",
    "ci95_low",
    "ci95_high",
    "p",
    "verdict",
    "verdict_text",
];

/// A field quoted as RFC 4180 wants when it holds a comma, a quote or a line break.
fn field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn num(x: Option<f64>) -> String {
    x.map_or(String::new(), |x| x.to_string())
}

impl Exporter for CompareCsv {
    type Input = Comparison;

    fn file_name(&self) -> &'static str {
        "compare.csv"
    }

    fn export(&self, c: &Comparison) -> String {
        let params: BTreeSet<&String> = c.rows.iter().flat_map(|r| r.condition.0.keys()).collect();
        let mut header = vec!["metric".to_string(), "condition".to_string()];
        header.extend(params.iter().map(|p| p.to_string()));
        header.extend(STATS.map(String::from));
        let mut out = header
            .iter()
            .map(|h| field(h))
            .collect::<Vec<_>>()
            .join(",");
        out.push('\n');
        for r in &c.rows {
            let mut cells = vec![r.metric.name().to_string(), r.condition.label()];
            cells.extend(
                params
                    .iter()
                    .map(|p| r.condition.get(p).unwrap_or_default().to_string()),
            );
            cells.extend([
                r.baseline.len().to_string(),
                num(r.baseline_median),
                r.contender.len().to_string(),
                num(r.contender_median),
                num(r.diff),
                num(r.diff_relative),
                num(r.ci.map(|ci| ci.low)),
                num(r.ci.map(|ci| ci.high)),
                num(r.p),
                r.verdict.key().to_string(),
                r.verdict.to_string(),
            ]);
            out.push_str(&cells.iter().map(|c| field(c)).collect::<Vec<_>>().join(","));
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::fixture::comparison;

    #[test]
    fn compare_csv_has_a_column_per_parameter_and_a_line_per_row() {
        assert_eq!(CompareCsv.file_name(), "compare.csv");
        assert_eq!(
            CompareCsv.export(&comparison()),
            "metric,condition,settings.policy,baseline_n,baseline_median,contender_n,\
             contender_median,diff,diff_relative,ci95_low,ci95_high,p,verdict,verdict_text\n\
             throughput_mib_s,policy=resumable,resumable,2,11,2,21,10,0.9090909090909091,8,12,\
             0.1,no_change,no change\n"
        );
    }

    #[test]
    fn fields_with_commas_or_quotes_are_quoted() {
        assert_eq!(field("a b"), "a b");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(num(None), "");
        assert_eq!(num(Some(0.1)), "0.1");
    }
}
