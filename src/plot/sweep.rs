//! A metric against the matrix axis that varies (RTT, a rate limit...), one series per value of
//! the other axes, each with its model curve dashed.

use plotters::{coord::Shift, prelude::*};

use super::{
    DrawError, FONT, Figure, cartesian, category_at, colour, draw_legend, draw_points, headroom,
    labelled_line, line_swatch, point_shape,
};

/// One series (one combination of the other axes).
#[derive(Clone, Debug)]
pub struct SweepSeries {
    /// Legend text (`max_concurrent_file_chunks=5 chunk_size=1mb`).
    pub label: String,
    /// Every trial: (x, y).
    pub points: Vec<(f64, f64)>,
    /// Median per x, joined by a line.
    pub medians: Vec<(f64, f64)>,
    /// The model per x (dashed); empty when the model bounds nothing.
    pub model: Vec<(f64, f64)>,
}

/// The figure.
#[derive(Clone, Debug)]
pub struct Sweep {
    /// Campaign and what varies.
    pub title: String,
    /// X axis description with its unit.
    pub x_label: String,
    /// Y axis description with its unit.
    pub y_label: String,
    /// Tick labels when the axis is categorical (x = 0, 1, 2...); `None` for a numeric axis.
    pub categories: Option<Vec<String>>,
    /// The series.
    pub series: Vec<SweepSeries>,
}

impl Figure for Sweep {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), DrawError>
    where
        DB::ErrorType: 'static,
    {
        let xs = || {
            self.series
                .iter()
                .flat_map(|s| s.points.iter().chain(&s.model).map(|p| p.0))
        };
        let (x_min, x_max) = match &self.categories {
            Some(c) => (-0.5, c.len() as f64 - 0.5),
            None => {
                let lo = xs().fold(f64::INFINITY, f64::min);
                let hi = xs().fold(f64::NEG_INFINITY, f64::max);
                if lo.is_finite() && hi > lo {
                    let pad = (hi - lo) * 0.05;
                    (lo - pad, hi + pad)
                } else if lo.is_finite() {
                    (lo - 1.0, lo + 1.0)
                } else {
                    (0.0, 1.0)
                }
            }
        };
        let y_top = headroom(
            self.series
                .iter()
                .flat_map(|s| s.points.iter().chain(&s.model).map(|p| p.1))
                .fold(0.0, f64::max),
        );
        let mut chart = cartesian(root, &self.title, 18, 64, x_min..x_max, 0f64..y_top)?;
        let categories = self.categories.clone();
        let format_x = move |x: &f64| match &categories {
            Some(c) => category_at(c, *x),
            None => format!("{x}"),
        };
        let mut mesh = chart.configure_mesh();
        mesh.x_desc(self.x_label.as_str())
            .y_desc(self.y_label.as_str())
            .label_style((FONT, 13))
            .axis_desc_style((FONT, 14))
            .light_line_style(RGBColor(235, 235, 235))
            .x_label_formatter(&format_x);
        if let Some(c) = &self.categories {
            mesh.x_labels(c.len() * 2 + 1);
        }
        mesh.draw()?;

        let mut model_labelled = false;
        for (i, s) in self.series.iter().enumerate() {
            let (c, shape) = (colour(i), point_shape(i));
            labelled_line(&mut chart, &s.medians, c, &s.label, Some(shape))?;
            draw_points(&mut chart, &s.points, shape, c.mix(0.7).stroke_width(1))?;
            if s.model.len() > 1 {
                let drawn = chart.draw_series(DashedLineSeries::new(
                    s.model.iter().copied(),
                    6,
                    5,
                    c.stroke_width(1),
                ))?;
                if !model_labelled {
                    model_labelled = true;
                    drawn
                        .label("model (dashed; × where one point)")
                        .legend(line_swatch(BLACK.into()));
                }
            } else if let Some(p) = s.model.first() {
                let drawn =
                    chart.draw_series(std::iter::once(Cross::new(*p, 6, c.stroke_width(2))))?;
                if !model_labelled {
                    model_labelled = true;
                    drawn
                        .label("model (dashed; × where one point)")
                        .legend(line_swatch(BLACK.into()));
                }
            }
        }
        draw_legend(&mut chart, 12)
    }
}
