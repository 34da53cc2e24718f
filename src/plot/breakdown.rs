//! Where the time went: one stacked horizontal bar per condition, its recovery time split by what
//! the engine was doing (network, a rate limiter, storage, head-of-line blocking, connecting,
//! backing off...).

use plotters::{coord::Shift, prelude::*, style::text_anchor};

use super::{
    AXIS_PX, DrawError, FONT, Figure, GRID, TEXT_PX, cartesian, colour, fmt_num,
    legend::{self, Entry, Swatch},
    text_width, wrap_px,
};

/// One condition's bar.
#[derive(Clone, Debug, PartialEq)]
pub struct BreakdownRow {
    /// The condition.
    pub label: String,
    /// Seconds per segment, in [`Breakdown::segments`] order.
    pub seconds: Vec<f64>,
}

impl BreakdownRow {
    /// The bar's length.
    pub fn total(&self) -> f64 {
        self.seconds.iter().sum()
    }
}

/// The figure.
#[derive(Clone, Debug, PartialEq)]
pub struct Breakdown {
    /// Campaign.
    pub title: String,
    /// X axis description.
    pub x_label: String,
    /// What each segment is (legend text), in stacking order; segment `j` always has colour `j`,
    /// and only segments some bar has are in the legend.
    pub segments: Vec<String>,
    /// One bar per condition, top to bottom.
    pub rows: Vec<BreakdownRow>,
}

/// Height of a row with a one- or two-line label; each line past two adds [`LINE_H`].
const ROW_H: u32 = 40;
/// Height of one line of a row's label.
const LINE_H: u32 = 15;
/// Widest the label column gets; a longer label wraps onto more lines at its spaces.
const LABEL_AREA_MAX: u32 = 380;

impl Breakdown {
    fn legend(&self) -> Vec<Entry> {
        // Only the segments some bar has: an activity never charged needs no key.
        self.segments
            .iter()
            .enumerate()
            .filter(|(j, _)| {
                self.rows
                    .iter()
                    .any(|r| r.seconds.get(*j).is_some_and(|s| *s > 0.0))
            })
            .map(|(j, s)| {
                Entry::new(
                    s.clone(),
                    Swatch::Band {
                        colour: colour(j),
                        opacity: 1.0,
                    },
                )
            })
            .collect()
    }

    fn label_area(&self) -> u32 {
        let widest = self
            .rows
            .iter()
            .map(|r| text_width(&r.label, TEXT_PX))
            .max()
            .unwrap_or(0);
        (widest + 18).clamp(80, LABEL_AREA_MAX)
    }

    /// Each row's label as the lines it is drawn in: whole, never cut, so two conditions that
    /// differ only at the end of a long label still read apart.
    fn label_lines(&self) -> Vec<Vec<String>> {
        let width = self.label_area() - 14;
        self.rows
            .iter()
            .map(|r| wrap_px(&r.label, TEXT_PX, width))
            .collect()
    }

    /// The height of every row: enough for the longest label.
    fn row_height(&self) -> u32 {
        let lines = self.label_lines().iter().map(Vec::len).max().unwrap_or(1) as u32;
        ROW_H.max(lines * LINE_H + 10)
    }
}

impl Figure for Breakdown {
    fn size(&self) -> (u32, u32) {
        (
            1000,
            110 + self.row_height() * self.rows.len().max(1) as u32
                + legend::height(&self.legend(), 1000),
        )
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), DrawError>
    where
        DB::ErrorType: 'static,
    {
        let area = legend::below(root, &self.legend())?;
        let n = self.rows.len().max(1);
        let x_top = super::headroom(
            self.rows
                .iter()
                .map(BreakdownRow::total)
                .fold(0.0, f64::max),
        );
        let label_area = self.label_area();
        let mut chart = cartesian(
            &area,
            &self.title,
            label_area,
            0f64..x_top,
            -0.5f64..n as f64 - 0.5,
        )?;
        // The labels are drawn beside the axis below, wrapped; the axis itself shows none.
        let format_y = |_: &f64| String::new();
        chart
            .configure_mesh()
            .x_desc(self.x_label.as_str())
            .label_style((FONT, TEXT_PX))
            .axis_desc_style((FONT, AXIS_PX))
            .light_line_style(GRID)
            .disable_y_mesh()
            .y_labels(2 * n + 1)
            .y_label_formatter(&format_y)
            .x_label_formatter(&|x| fmt_num(*x))
            .draw()?;
        let inside = (FONT, TEXT_PX)
            .into_font()
            .color(&BLACK)
            .pos(text_anchor::Pos::new(
                text_anchor::HPos::Center,
                text_anchor::VPos::Center,
            ));
        let after = (FONT, TEXT_PX)
            .into_font()
            .color(&BLACK)
            .pos(text_anchor::Pos::new(
                text_anchor::HPos::Left,
                text_anchor::VPos::Center,
            ));
        let label_font = (FONT, TEXT_PX)
            .into_font()
            .color(&BLACK)
            .pos(text_anchor::Pos::new(
                text_anchor::HPos::Right,
                text_anchor::VPos::Center,
            ));
        let (plot_left, _) = chart.backend_coord(&(0.0, 0.0));
        for (i, lines) in self.label_lines().iter().enumerate() {
            // Row 0 at the top.
            let (_, centre) = chart.backend_coord(&(0.0, (n - 1 - i) as f64));
            let top = centre - (LINE_H as i32 * (lines.len() as i32 - 1)) / 2;
            for (k, line) in lines.iter().enumerate() {
                let at = (plot_left - 8, top + k as i32 * LINE_H as i32);
                root.draw(&Text::new(line.clone(), at, label_font.clone()))?;
            }
        }
        for (i, row) in self.rows.iter().enumerate() {
            let y = (n - 1 - i) as f64;
            let mut from = 0.0;
            for (j, s) in row.seconds.iter().enumerate() {
                if *s <= 0.0 {
                    continue;
                }
                let to = from + s;
                chart.draw_series(std::iter::once(Rectangle::new(
                    [(from, y - 0.32), (to, y + 0.32)],
                    colour(j).filled(),
                )))?;
                let text = format!("{} s", fmt_num(*s));
                let (x0, _) = chart.backend_coord(&(from, y));
                let (x1, _) = chart.backend_coord(&(to, y));
                if x1 - x0 > text_width(&text, TEXT_PX) as i32 + 8 {
                    let ink = if j == 7 || j == 0 { &WHITE } else { &BLACK };
                    chart.draw_series(std::iter::once(Text::new(
                        text,
                        ((from + to) / 2.0, y),
                        inside.clone().color(ink),
                    )))?;
                }
                from = to;
            }
            chart.draw_series(std::iter::once(
                EmptyElement::at((from, y))
                    + Text::new(format!("{} s", fmt_num(row.total())), (6, 0), after.clone()),
            ))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_labels_wrap_whole_so_rows_that_differ_at_the_end_read_apart() {
        let long = "stunnel.toxicity=1.0 connection_profile=intra-cluster max_bytes_per_sec=0 \
                    cut.toxicity=1.0 ping_schedule=500ms policy=";
        let row = |policy: &str| BreakdownRow {
            label: format!("{long}{policy}"),
            seconds: vec![1.0],
        };
        let figure = Breakdown {
            title: "t".into(),
            x_label: "s".into(),
            segments: vec!["network".into()],
            rows: vec![row("elasticsearch"), row("resumable")],
        };
        let lines = figure.label_lines();
        assert!(lines[0].len() > 1, "{lines:?}");
        assert_eq!(lines[0].join(" "), figure.rows[0].label, "nothing cut");
        assert_ne!(lines[0].last(), lines[1].last());
        let width = figure.label_area() - 14;
        assert!(
            lines
                .iter()
                .flatten()
                .all(|l| text_width(l, TEXT_PX) <= width)
        );
        assert!(figure.row_height() >= lines[0].len() as u32 * LINE_H);
    }
}
