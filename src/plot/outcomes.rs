//! The outcome grid: policy × fault condition → whether the trials met their expectations,
//! how many completed, how long they took, how long goodput took to come back after a fault and
//! what they threw away. A table drawn as a figure; each cell is coloured by its expectation
//! verdict (what the campaign said should happen), not by completion: a campaign can expect a
//! recovery to fail. Conditions wrap onto as many bands as the width needs.

use plotters::{coord::Shift, prelude::*};

use super::{
    AXIS_PX, DrawError, FONT, Figure, TEXT_PX, TITLE_PX, fmt_num,
    legend::{self, Entry, Swatch},
    truncate_px, wrap_px,
};

/// Whether a cell's trials met what the campaign expected of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CellVerdict {
    /// Every trial met every expectation.
    Pass,
    /// At least one trial missed one.
    Fail,
    /// No expectation applies to these trials.
    NoExpectation,
}

/// An expectation some of a cell's trials missed.
#[derive(Clone, Debug, PartialEq)]
pub struct Missed {
    /// The expectation (`min_throughput_vs_model`).
    pub name: String,
    /// What the first trial to miss it measured (`0.537`).
    pub actual: String,
    /// What was wanted (`>= 0.90`).
    pub expected: String,
    /// How many of the judged trials missed it.
    pub trials: usize,
}

/// What the trials of one (policy, condition) did.
#[derive(Clone, Debug, PartialEq)]
pub struct OutcomeCell {
    /// Trials that completed.
    pub completed: usize,
    /// Trials.
    pub trials: usize,
    /// Trials judged against at least one expectation.
    pub judged: usize,
    /// Judged trials that met every expectation.
    pub passed: usize,
    /// The expectations missed.
    pub missed: Vec<Missed>,
    /// Median seconds from a fault ending to goodput being back, over the completed trials'
    /// fault windows (`None`: no completed trial, or no window measured).
    pub median_time_to_recover_s: Option<f64>,
    /// Median seconds the completed trials took.
    pub median_duration_s: Option<f64>,
    /// Median MiB received and thrown away.
    pub median_wasted_mib: f64,
}

impl OutcomeCell {
    /// The cell's verdict.
    pub fn verdict(&self) -> CellVerdict {
        if self.judged == 0 {
            CellVerdict::NoExpectation
        } else if self.passed == self.judged {
            CellVerdict::Pass
        } else {
            CellVerdict::Fail
        }
    }

    /// The text of the cell, line by line: the verdict first, then what happened; "–" where a
    /// figure does not exist.
    pub fn lines(&self) -> Vec<String> {
        let mut lines = vec![match self.verdict() {
            CellVerdict::Pass => format!("expectations met ({}/{})", self.passed, self.judged),
            CellVerdict::Fail => {
                format!("expectations FAILED ({}/{} met)", self.passed, self.judged)
            }
            CellVerdict::NoExpectation => "no expectations".into(),
        }];
        for m in &self.missed {
            let wants = m.expected.replace(">=", "≥").replace("<=", "≤");
            lines.push(format!("{} {}", m.name, m.actual));
            lines.push(if self.judged > 1 {
                format!("   wants {wants}; missed in {}/{}", m.trials, self.judged)
            } else {
                format!("   wants {wants}")
            });
        }
        lines.push(format!("completed {}/{}", self.completed, self.trials));
        lines.push(format!(
            "recovery took {}",
            self.median_duration_s.map_or("–".into(), seconds)
        ));
        lines.push(format!(
            "back after fault {}",
            self.median_time_to_recover_s.map_or("–".into(), seconds)
        ));
        lines.push(format!("wasted {} MiB", fmt_num(self.median_wasted_mib)));
        lines
    }
}

fn seconds(s: f64) -> String {
    if s < 0.005 {
        "< 0.01 s".into()
    } else {
        format!("{s:.2} s")
    }
}

/// The fill of a cell with this verdict (pale enough for black text).
pub fn verdict_colour(v: CellVerdict) -> RGBColor {
    match v {
        CellVerdict::Pass => RGBColor(166, 219, 160),
        CellVerdict::Fail => RGBColor(244, 165, 160),
        CellVerdict::NoExpectation => RGBColor(224, 224, 224),
    }
}

/// The fill of a cell where no trial ran.
pub const NOT_RUN: RGBColor = RGBColor(250, 250, 250);

/// The figure.
#[derive(Clone, Debug, PartialEq)]
pub struct OutcomeMatrix {
    /// Campaign.
    pub title: String,
    /// Policies (rows).
    pub rows: Vec<String>,
    /// Fault conditions (columns).
    pub columns: Vec<String>,
    /// `cells[row][column]`; `None` where no trial ran.
    pub cells: Vec<Vec<Option<OutcomeCell>>>,
}

const HEAD_W: i32 = 150;
const CELL_W: i32 = 214;
const LINE_H: i32 = 17;
const HEAD_LINES: usize = 4;
const HEAD_H: i32 = 12 + 15 * HEAD_LINES as i32;
/// Columns fit in this many pixels (the report shows figures up to about 1060 px wide).
const MAX_W: i32 = 1060;
const TOP: i32 = 40 + 28;
const BAND_GAP: i32 = 18;
/// Missed expectations shown in a cell (the rest are counted).
const SHOWN_MISSED: usize = 2;

impl OutcomeMatrix {
    /// Columns per band: as many as fit in [`MAX_W`], spread evenly over the bands.
    pub fn columns_per_band(&self) -> usize {
        let fit = ((MAX_W - HEAD_W - 12) / CELL_W).max(1) as usize;
        let n = self.columns.len().max(1);
        let bands = n.div_ceil(fit);
        n.div_ceil(bands)
    }

    fn bands(&self) -> usize {
        self.columns.len().max(1).div_ceil(self.columns_per_band())
    }

    fn cell(&self, row: usize, column: usize) -> Option<&OutcomeCell> {
        self.cells
            .get(row)
            .and_then(|r| r.get(column))
            .and_then(Option::as_ref)
    }

    /// The text lines of a cell as drawn (missed expectations capped).
    fn cell_lines(cell: &OutcomeCell) -> Vec<String> {
        let mut lines = cell.lines();
        let missed = cell.missed.len();
        if missed > SHOWN_MISSED {
            lines.drain(1 + 2 * SHOWN_MISSED..1 + 2 * missed);
            lines.insert(
                1 + 2 * SHOWN_MISSED,
                format!("and {} more missed", missed - SHOWN_MISSED),
            );
        }
        lines
    }

    fn cell_h(&self) -> i32 {
        let lines = self
            .cells
            .iter()
            .flatten()
            .flatten()
            .map(|c| Self::cell_lines(c).len())
            .max()
            .unwrap_or(1);
        12 + LINE_H * lines as i32
    }

    fn band_h(&self) -> i32 {
        HEAD_H + self.cell_h() * self.rows.len().max(1) as i32 + BAND_GAP
    }

    /// A cell's pixel rectangle in the figure: (left, top, right, bottom).
    pub fn cell_rect(&self, row: usize, column: usize) -> (i32, i32, i32, i32) {
        let per = self.columns_per_band();
        let (band, c) = (column / per, column % per);
        let x = HEAD_W + CELL_W * c as i32;
        let y = TOP + self.band_h() * band as i32 + HEAD_H + self.cell_h() * row as i32;
        (x, y, x + CELL_W, y + self.cell_h())
    }

    /// A cell's fill colour: its verdict's, or [`NOT_RUN`].
    pub fn cell_colour(&self, row: usize, column: usize) -> RGBColor {
        self.cell(row, column)
            .map_or(NOT_RUN, |c| verdict_colour(c.verdict()))
    }

    fn legend() -> Vec<Entry> {
        let band = |label: &str, colour| {
            Entry::new(
                label,
                Swatch::Band {
                    colour,
                    opacity: 1.0,
                },
            )
        };
        vec![
            band("every expectation met", verdict_colour(CellVerdict::Pass)),
            band("an expectation failed", verdict_colour(CellVerdict::Fail)),
            band(
                "no expectations",
                verdict_colour(CellVerdict::NoExpectation),
            ),
        ]
    }
}

impl Figure for OutcomeMatrix {
    fn size(&self) -> (u32, u32) {
        let w = HEAD_W + CELL_W * self.columns_per_band() as i32 + 16;
        let h = TOP + self.band_h() * self.bands() as i32;
        (w.max(560) as u32, h as u32)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), DrawError>
    where
        DB::ErrorType: 'static,
    {
        let head = (FONT, TEXT_PX).into_font();
        let body = (FONT, TEXT_PX).into_font();
        let grid = RGBColor(170, 170, 170);
        root.draw(&Text::new(
            self.title.clone(),
            (12, 10),
            (FONT, TITLE_PX).into_font(),
        ))?;
        let (w, _) = root.dim_in_pixel();
        legend::draw(&root.clone().shrink((0, 36), (w, 28)), &Self::legend())?;
        let per = self.columns_per_band();
        for band in 0..self.bands() {
            let top = TOP + self.band_h() * band as i32;
            root.draw(&Text::new(
                "policy \\ condition",
                (12, top + HEAD_H - 18),
                (FONT, AXIS_PX).into_font(),
            ))?;
            let columns = (band * per)..((band + 1) * per).min(self.columns.len());
            for (c, j) in columns.clone().enumerate() {
                let x = HEAD_W + CELL_W * c as i32;
                let mut lines = wrap_px(&self.columns[j], TEXT_PX, (CELL_W - 12) as u32);
                if lines.len() > HEAD_LINES {
                    lines.truncate(HEAD_LINES);
                    let last = format!("{} …", lines[HEAD_LINES - 1]);
                    lines[HEAD_LINES - 1] = truncate_px(&last, TEXT_PX, (CELL_W - 12) as u32);
                }
                // Bottom-aligned, so every header ends just above its cells.
                let first = HEAD_LINES - lines.len();
                for (k, line) in lines.iter().enumerate() {
                    root.draw(&Text::new(
                        line.clone(),
                        (x + 6, top + 6 + 15 * (first + k) as i32),
                        head.clone(),
                    ))?;
                }
            }
            for (i, row) in self.rows.iter().enumerate() {
                let (_, y, _, _) = self.cell_rect(i, band * per);
                root.draw(&Text::new(
                    truncate_px(row, AXIS_PX, (HEAD_W - 20) as u32),
                    (12, y + self.cell_h() / 2 - 8),
                    (FONT, AXIS_PX).into_font(),
                ))?;
                for j in columns.clone() {
                    let (x0, y0, x1, y1) = self.cell_rect(i, j);
                    let rect = [(x0, y0), (x1, y1)];
                    root.draw(&Rectangle::new(rect, self.cell_colour(i, j).filled()))?;
                    root.draw(&Rectangle::new(rect, grid.stroke_width(1)))?;
                    let Some(cell) = self.cell(i, j) else {
                        root.draw(&Text::new("not run", (x0 + 8, y0 + 8), body.clone()))?;
                        continue;
                    };
                    for (k, line) in Self::cell_lines(cell).into_iter().enumerate() {
                        root.draw(&Text::new(
                            truncate_px(&line, TEXT_PX, (CELL_W - 14) as u32),
                            (x0 + 8, y0 + 7 + LINE_H * k as i32),
                            body.clone(),
                        ))?;
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(judged: usize, passed: usize) -> OutcomeCell {
        OutcomeCell {
            completed: 2,
            trials: 2,
            judged,
            passed,
            missed: Vec::new(),
            median_time_to_recover_s: None,
            median_duration_s: Some(1.5),
            median_wasted_mib: 0.0,
        }
    }

    #[test]
    fn the_verdict_colours_the_cell() {
        assert_eq!(cell(2, 2).verdict(), CellVerdict::Pass);
        assert_eq!(cell(2, 1).verdict(), CellVerdict::Fail);
        assert_eq!(cell(0, 0).verdict(), CellVerdict::NoExpectation);
        let m = OutcomeMatrix {
            title: "t".into(),
            rows: vec!["p".into()],
            columns: vec!["a".into(), "b".into()],
            cells: vec![vec![Some(cell(2, 1)), None]],
        };
        assert_eq!(m.cell_colour(0, 0), verdict_colour(CellVerdict::Fail));
        assert_eq!(m.cell_colour(0, 1), NOT_RUN);
    }

    #[test]
    fn eighteen_conditions_wrap_onto_bands() {
        let m = OutcomeMatrix {
            title: "t".into(),
            rows: vec!["p".into()],
            columns: (0..18).map(|i| format!("c{i}")).collect(),
            cells: vec![(0..18).map(|_| Some(cell(1, 1))).collect()],
        };
        let per = m.columns_per_band();
        assert!((2..=5).contains(&per), "{per}");
        assert!(m.size().0 <= MAX_W as u32, "{:?}", m.size());
        let (_, top0, _, _) = m.cell_rect(0, 0);
        let (_, top_last, _, bottom) = m.cell_rect(0, 17);
        assert!(top_last > top0, "the last condition is on a later band");
        assert!(bottom <= m.size().1 as i32);
        // No two cells overlap.
        for a in 0..18 {
            for b in (a + 1)..18 {
                let (ra, rb) = (m.cell_rect(0, a), m.cell_rect(0, b));
                let apart = ra.2 <= rb.0 || rb.2 <= ra.0 || ra.3 <= rb.1 || rb.3 <= ra.1;
                assert!(apart, "cells {a} and {b}: {ra:?} {rb:?}");
            }
        }
    }

    #[test]
    fn a_cell_never_says_a_time_it_does_not_have() {
        let never = OutcomeCell {
            completed: 0,
            trials: 2,
            judged: 2,
            passed: 2,
            missed: Vec::new(),
            median_time_to_recover_s: None,
            median_duration_s: None,
            median_wasted_mib: 3.25,
        };
        let lines = never.lines();
        assert_eq!(lines[0], "expectations met (2/2)");
        assert!(lines.contains(&"recovery took –".to_string()), "{lines:?}");
        assert!(
            lines.contains(&"back after fault –".to_string()),
            "{lines:?}"
        );
        assert!(lines.contains(&"wasted 3.25 MiB".to_string()), "{lines:?}");
        assert!(!lines.iter().any(|l| l.contains("0.00")), "{lines:?}");
    }
}
