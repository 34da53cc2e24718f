//! The outcome matrix: policy × fault condition → success rate, median time to recover, bytes
//! wasted. A table drawn as a figure, each cell coloured by its success rate.

use plotters::{coord::Shift, prelude::*};

use super::{DrawError, FONT, Figure};

/// What the trials of one (policy, condition) did.
#[derive(Clone, Debug, PartialEq)]
pub struct OutcomeCell {
    /// Trials that completed.
    pub completed: usize,
    /// Trials.
    pub trials: usize,
    /// Median seconds from a fault ending to goodput being back (over fault windows measured).
    pub median_time_to_recover_s: Option<f64>,
    /// Median seconds the completed trials took.
    pub median_duration_s: Option<f64>,
    /// Median MiB received and thrown away.
    pub median_wasted_mib: f64,
}

/// The figure.
#[derive(Clone, Debug)]
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
const HEAD_H: i32 = 64;
const CELL_W: i32 = 200;
const CELL_H: i32 = 86;

/// Red (0 %) → amber (50 %) → green (100 %), pale enough for black text.
fn success_colour(rate: f64) -> RGBColor {
    let (a, b, t) = if rate < 0.5 {
        ((244, 165, 160), (253, 224, 150), rate * 2.0)
    } else {
        ((253, 224, 150), (166, 219, 160), (rate - 0.5) * 2.0)
    };
    let mix = |x: u8, y: u8| (x as f64 + (y as f64 - x as f64) * t).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// Splits `text` at spaces into lines of at most `width` characters.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for word in text.split(' ') {
        match lines.last_mut() {
            Some(l) if l.len() + 1 + word.len() <= width => {
                l.push(' ');
                l.push_str(word);
            }
            _ => lines.push(word.to_string()),
        }
    }
    lines
}

impl Figure for OutcomeMatrix {
    fn size(&self) -> (u32, u32) {
        let w = HEAD_W + CELL_W * self.columns.len().max(1) as i32 + 24;
        let h = 40 + HEAD_H + CELL_H * self.rows.len().max(1) as i32 + 16;
        (w.max(480) as u32, h as u32)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), DrawError>
    where
        DB::ErrorType: 'static,
    {
        let title = (FONT, 18).into_font();
        let head = (FONT, 13).into_font();
        let body = (FONT, 13).into_font();
        let grid = RGBColor(190, 190, 190);
        root.draw(&Text::new(self.title.clone(), (12, 10), title))?;
        let top = 40;
        root.draw(&Text::new(
            "policy \\ fault",
            (12, top + HEAD_H / 2 - 7),
            head.clone(),
        ))?;
        for (j, col) in self.columns.iter().enumerate() {
            let x = HEAD_W + CELL_W * j as i32;
            for (k, line) in wrap(col, 26).iter().take(4).enumerate() {
                root.draw(&Text::new(
                    line.clone(),
                    (x + 8, top + 6 + 15 * k as i32),
                    head.clone(),
                ))?;
            }
        }
        for (i, row) in self.rows.iter().enumerate() {
            let y = top + HEAD_H + CELL_H * i as i32;
            root.draw(&Text::new(
                row.clone(),
                (12, y + CELL_H / 2 - 7),
                head.clone(),
            ))?;
            for j in 0..self.columns.len() {
                let x = HEAD_W + CELL_W * j as i32;
                let rect = [(x, y), (x + CELL_W, y + CELL_H)];
                let cell = self
                    .cells
                    .get(i)
                    .and_then(|r| r.get(j))
                    .and_then(Option::as_ref);
                let Some(cell) = cell else {
                    root.draw(&Rectangle::new(rect, RGBColor(245, 245, 245).filled()))?;
                    root.draw(&Rectangle::new(rect, grid.stroke_width(1)))?;
                    root.draw(&Text::new("not run", (x + 8, y + 8), body.clone()))?;
                    continue;
                };
                let rate = cell.completed as f64 / cell.trials.max(1) as f64;
                root.draw(&Rectangle::new(rect, success_colour(rate).filled()))?;
                root.draw(&Rectangle::new(rect, grid.stroke_width(1)))?;
                let lines = [
                    format!(
                        "{}/{} completed ({:.0} %)",
                        cell.completed,
                        cell.trials,
                        rate * 100.0
                    ),
                    match cell.median_time_to_recover_s {
                        Some(s) => format!("time to recover {s:.2} s"),
                        None => "time to recover –".into(),
                    },
                    match cell.median_duration_s {
                        Some(s) => format!("recovery took {s:.2} s"),
                        None => "never completed".into(),
                    },
                    format!("wasted {:.1} MiB", cell.median_wasted_mib),
                ];
                for (k, line) in lines.into_iter().enumerate() {
                    root.draw(&Text::new(
                        line,
                        (x + 8, y + 8 + 19 * k as i32),
                        body.clone(),
                    ))?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_at_spaces() {
        assert_eq!(wrap("a bb ccc dddd", 6), vec!["a bb", "ccc", "dddd"]);
        assert_eq!(wrap("longerthanwidth", 4), vec!["longerthanwidth"]);
    }

    #[test]
    fn colours_run_red_to_green() {
        assert_eq!(success_colour(0.0), RGBColor(244, 165, 160));
        assert_eq!(success_colour(1.0), RGBColor(166, 219, 160));
    }
}
