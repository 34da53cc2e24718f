//! Baseline against contender for one metric: per condition, two box plots (quartiles, median,
//! whiskers to the extremes) with every sample drawn on top, as criterion's and Rally's
//! comparisons show them.

use plotters::{coord::Shift, prelude::*};

use super::{
    AXIS_PX, DrawError, FONT, Figure, GRID, TEXT_PX, cartesian, category_at, colour, fmt_num,
    headroom,
    legend::{self, Entry, Swatch},
};
use crate::stats::quantile;

/// One condition's two samples.
#[derive(Clone, Debug)]
pub struct DistributionGroup {
    /// Tick label.
    pub label: String,
    /// Baseline samples.
    pub baseline: Vec<f64>,
    /// Contender samples.
    pub contender: Vec<f64>,
}

/// The figure.
#[derive(Clone, Debug)]
pub struct Distribution {
    /// Metric and the two runs.
    pub title: String,
    /// Metric with unit.
    pub y_label: String,
    /// Legend names of the two sides.
    pub names: [String; 2],
    /// Conditions.
    pub groups: Vec<DistributionGroup>,
}

impl Distribution {
    fn legend(&self) -> Vec<Entry> {
        (0..2)
            .map(|side| {
                Entry::new(
                    self.names[side].clone(),
                    Swatch::Band {
                        colour: colour(side),
                        opacity: 0.5,
                    },
                )
            })
            .collect()
    }
}

impl Figure for Distribution {
    fn size(&self) -> (u32, u32) {
        let w = (260 + 150 * self.groups.len()).clamp(700, 2400) as u32;
        (w, 520 + legend::height(&self.legend(), w))
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), DrawError>
    where
        DB::ErrorType: 'static,
    {
        let y_top = headroom(
            self.groups
                .iter()
                .flat_map(|g| g.baseline.iter().chain(&g.contender))
                .copied()
                .fold(0.0, f64::max),
        );
        let area = legend::below(root, &self.legend())?;
        let n = self.groups.len().max(1);
        let x = -0.5f64..n as f64 - 0.5;
        let mut chart = cartesian(&area, &self.title, 70, x, 0f64..y_top)?;
        let labels: Vec<String> = self.groups.iter().map(|g| g.label.clone()).collect();
        let format_x = move |x: &f64| category_at(&labels, *x);
        chart
            .configure_mesh()
            .x_desc("condition")
            .y_desc(self.y_label.as_str())
            .label_style((FONT, TEXT_PX))
            .axis_desc_style((FONT, AXIS_PX))
            .x_labels(2 * n + 1)
            .x_label_formatter(&format_x)
            .y_label_formatter(&|y| fmt_num(*y))
            .disable_x_mesh()
            .light_line_style(GRID)
            .draw()?;
        for (side, offset) in [(0usize, -0.18f64), (1, 0.18)] {
            let c = colour(side);
            for (i, g) in self.groups.iter().enumerate() {
                let xs = if side == 0 { &g.baseline } else { &g.contender };
                let (Some(q1), Some(q2), Some(q3)) =
                    (quantile(xs, 0.25), quantile(xs, 0.5), quantile(xs, 0.75))
                else {
                    continue;
                };
                let lo = xs.iter().copied().fold(f64::INFINITY, f64::min);
                let hi = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let x = i as f64 + offset;
                let half = 0.13;
                chart.draw_series(std::iter::once(Rectangle::new(
                    [(x - half, q1), (x + half, q3)],
                    c.mix(0.25).filled(),
                )))?;
                chart.draw_series([
                    PathElement::new(vec![(x - half, q1), (x + half, q1)], c.stroke_width(1)),
                    PathElement::new(vec![(x - half, q3), (x + half, q3)], c.stroke_width(1)),
                    PathElement::new(vec![(x - half, q2), (x + half, q2)], c.stroke_width(3)),
                    PathElement::new(vec![(x, lo), (x, q1)], c.stroke_width(1)),
                    PathElement::new(vec![(x, q3), (x, hi)], c.stroke_width(1)),
                ])?;
                chart.draw_series(xs.iter().map(|y| Circle::new((x, *y), 3, c.filled())))?;
            }
        }
        Ok(())
    }
}
