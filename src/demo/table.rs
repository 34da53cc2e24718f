//! The demo's table: one row per run of the story, every value from the run's trial record.
//! Pure: rows in, aligned text out.

use rrbench::{follower::Outcome, results::TrialRecord};

use super::story::Step;

/// One run as the table shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// `1a`, `2`, ...
    pub step: String,
    /// The policy.
    pub policy: String,
    /// The condition, in words.
    pub condition: String,
    /// `completed` or `failed`.
    pub outcome: String,
    /// Attempts.
    pub attempts: u32,
    /// Seconds.
    pub duration_s: f64,
    /// MiB/s, `None` for a recovery that failed (it moved bytes, but recovered nothing).
    pub mib_s: Option<f64>,
    /// MiB transferred and thrown away.
    pub wasted_mib: f64,
    /// The largest term of the time breakdown, with its seconds and share.
    pub largest: String,
}

impl Row {
    /// The row of `record`, a run of `step` under `policy`.
    pub fn of(step: &Step, policy: &str, record: &TrialRecord) -> Self {
        let largest = record
            .time_breakdown
            .as_ref()
            .and_then(|b| {
                let a = b.largest()?;
                Some(format!(
                    "{} {:.0}%",
                    a.name(),
                    100.0 * b.get(a) / b.total().max(f64::MIN_POSITIVE)
                ))
            })
            .unwrap_or_else(|| "-".into());
        Self {
            step: step.label.clone(),
            policy: policy.to_string(),
            condition: step.condition.clone(),
            outcome: match record.outcome {
                Outcome::Completed => "completed".into(),
                Outcome::Failed => "failed".into(),
            },
            attempts: record.attempts,
            duration_s: record.duration_s,
            mib_s: (record.outcome == Outcome::Completed).then_some(record.throughput_mib_s),
            wasted_mib: record.bytes_wasted as f64 / 1048576.0,
            largest,
        }
    }

    fn cells(&self) -> [String; 9] {
        [
            self.step.clone(),
            self.policy.clone(),
            self.condition.clone(),
            self.outcome.clone(),
            self.attempts.to_string(),
            format!("{:.2} s", self.duration_s),
            self.mib_s.map_or("-".into(), |m| format!("{m:.1}")),
            format!("{:.1}", self.wasted_mib),
            self.largest.clone(),
        ]
    }
}

const HEADER: [&str; 9] = [
    "step",
    "policy",
    "condition",
    "outcome",
    "attempts",
    "duration",
    "MiB/s",
    "wasted MiB",
    "largest time term",
];

/// Columns aligned right (numbers) rather than left (words).
const RIGHT: [bool; 9] = [false, false, false, false, true, true, true, true, false];

/// Column widths that fit the header and every row.
fn widths(rows: &[Row]) -> [usize; 9] {
    let mut w = HEADER.map(str::len);
    for row in rows {
        for (i, cell) in row.cells().iter().enumerate() {
            w[i] = w[i].max(cell.chars().count());
        }
    }
    w
}

fn line(cells: &[String; 9], widths: &[usize; 9]) -> String {
    let mut out = String::new();
    for (i, cell) in cells.iter().enumerate() {
        if i > 0 {
            out.push_str("  ");
        }
        let pad = widths[i].saturating_sub(cell.chars().count());
        if RIGHT[i] {
            out.push_str(&" ".repeat(pad));
            out.push_str(cell);
        } else {
            out.push_str(cell);
            if i + 1 < cells.len() {
                out.push_str(&" ".repeat(pad));
            }
        }
    }
    out
}

/// The header line, laid out for `rows`.
pub fn header(rows: &[Row]) -> String {
    line(&HEADER.map(String::from), &widths(rows))
}

/// One row, laid out for `rows` (so a row printed as it ends lines up with the others when
/// every row is known up front, or at least with itself).
pub fn row_line(row: &Row, rows: &[Row]) -> String {
    line(&row.cells(), &widths(rows))
}

/// The whole table: the header, then a line per row.
pub fn render(rows: &[Row]) -> String {
    let mut out = header(rows);
    for row in rows {
        out.push('\n');
        out.push_str(&row_line(row, rows));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(step: &str, mib_s: Option<f64>) -> Row {
        Row {
            step: step.into(),
            policy: "elasticsearch".into(),
            condition: "40mb/s, clean".into(),
            outcome: if mib_s.is_some() {
                "completed"
            } else {
                "failed"
            }
            .into(),
            attempts: 1,
            duration_s: 1.5,
            mib_s,
            wasted_mib: 0.0,
            largest: "follower_throttle 90%".into(),
        }
    }

    #[test]
    fn columns_line_up_and_numbers_align_right() {
        let rows = vec![row("1a", Some(39.87)), row("3a", None)];
        let text = render(&rows);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("step  policy"), "{text}");
        let at = |l: &str, s: &str| l.find(s).expect(s);
        assert_eq!(at(lines[1], "completed"), at(lines[2], "failed"));
        assert_eq!(
            at(lines[0], "MiB/s") + "MiB/s".len(),
            at(lines[1], "39.9") + 4
        );
        assert!(
            lines[2].contains("     -  "),
            "a failed run has no throughput: {text}"
        );
        assert!(lines.iter().all(|l| !l.ends_with(' ')), "{text}");
    }
}
