//! Baseline against contender for one metric: per condition, two box plots (quartiles, median,
//! whiskers to the extremes) with every sample drawn on top, as criterion's and Rally's
//! comparisons show them.

use plotters::{coord::Shift, prelude::*};

use super::{DrawError, FONT, Figure, cartesian, category_at, colour, draw_legend, headroom};
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

impl Figure for Distribution {
    fn size(&self) -> (u32, u32) {
        ((260 + 150 * self.groups.len()).clamp(700, 2400) as u32, 520)
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
        let n = self.groups.len().max(1);
        let x = -0.5f64..n as f64 - 0.5;
        let mut chart = cartesian(root, &self.title, 17, 70, x, 0f64..y_top)?;
        let labels: Vec<String> = self.groups.iter().map(|g| g.label.clone()).collect();
        let format_x = move |x: &f64| category_at(&labels, *x);
        chart
            .configure_mesh()
            .x_desc("condition")
            .y_desc(self.y_label.as_str())
            .label_style((FONT, 12))
            .axis_desc_style((FONT, 14))
            .x_labels(2 * n + 1)
            .x_label_formatter(&format_x)
            .light_line_style(RGBColor(235, 235, 235))
            .draw()?;
        for (side, offset) in [(0usize, -0.18f64), (1, 0.18)] {
            let c = colour(side);
            let mut first = true;
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
                let drawn = chart.draw_series(std::iter::once(Rectangle::new(
                    [(x - half, q1), (x + half, q3)],
                    c.mix(0.25).filled(),
                )))?;
                if first {
                    first = false;
                    drawn
                        .label(self.names[side].clone())
                        .legend(move |(px, py)| {
                            Rectangle::new([(px, py - 5), (px + 18, py + 5)], c.mix(0.5).filled())
                        });
                }
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
        draw_legend(&mut chart, 13)
    }
}
