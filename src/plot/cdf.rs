//! Cumulative distributions, one curve per condition: the fraction of chunk requests answered
//! within a latency. Shows the tail a median hides (a window stalled behind one slow chunk, a
//! request that waited for a timeout).

use plotters::{coord::Shift, prelude::*};

use super::{
    AXIS_PX, Axis, DrawError, FONT, Figure, GRID, LogSide, Scale, TEXT_PX, cartesian, colour,
    draw_log_ticks, fmt_num,
    legend::{self, Entry, Swatch, dash_of},
};

/// One condition's curve.
#[derive(Clone, Debug, PartialEq)]
pub struct CdfCurve {
    /// Legend text (the condition, how many requests).
    pub label: String,
    /// (value, fraction at or below it), both non-decreasing, the last fraction 1.
    pub points: Vec<(f64, f64)>,
}

/// The figure.
#[derive(Clone, Debug, PartialEq)]
pub struct Cdf {
    /// Campaign and what is distributed.
    pub title: String,
    /// X axis description with its unit.
    pub x_label: String,
    /// The x axis' scale (logarithmic when the values span more than a decade or so).
    pub x_scale: Scale,
    /// The curves.
    pub curves: Vec<CdfCurve>,
}

impl Cdf {
    fn legend(&self) -> Vec<Entry> {
        self.curves
            .iter()
            .enumerate()
            .map(|(i, c)| {
                Entry::new(
                    c.label.clone(),
                    Swatch::Line {
                        colour: colour(i),
                        width: 2,
                        dash: dash_of(i),
                    },
                )
            })
            .collect()
    }

    fn x_axis(&self) -> Axis {
        let xs = || {
            self.curves
                .iter()
                .flat_map(|c| c.points.iter().map(|p| p.0))
        };
        let hi = xs().fold(0.0, f64::max);
        let lo = xs().filter(|x| *x > 0.0).fold(f64::INFINITY, f64::min);
        match self.x_scale {
            Scale::Log if lo.is_finite() => Axis {
                scale: Scale::Log,
                lo: lo / 1.3,
                hi: hi * 1.3,
            },
            _ => Axis::linear(0.0, super::headroom(hi) / 1.12 * 1.04),
        }
    }
}

impl Figure for Cdf {
    fn size(&self) -> (u32, u32) {
        (1000, 520 + legend::height(&self.legend(), 1000))
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), DrawError>
    where
        DB::ErrorType: 'static,
    {
        let area = legend::below(root, &self.legend())?;
        let x = self.x_axis();
        let mut chart = cartesian(&area, &self.title, 64, x.range(), 0f64..1.02)?;
        let x_desc = match x.scale {
            Scale::Linear => self.x_label.clone(),
            Scale::Log => format!("{} (log scale)", self.x_label),
        };
        let mut mesh = chart.configure_mesh();
        mesh.x_desc(x_desc)
            .y_desc("fraction of requests")
            .label_style((FONT, TEXT_PX))
            .axis_desc_style((FONT, AXIS_PX))
            .light_line_style(GRID)
            .x_label_formatter(&|v| fmt_num(*v))
            .y_label_formatter(&|v| fmt_num(*v));
        if x.scale == Scale::Log {
            mesh.x_labels(0).disable_x_mesh();
        }
        mesh.draw()?;
        if x.scale == Scale::Log {
            draw_log_ticks(&mut chart, &area, &x, 0.0..1.02, LogSide::Bottom)?;
        }
        for (i, c) in self.curves.iter().enumerate() {
            let style = colour(i).stroke_width(2);
            let points = c.points.iter().map(|p| (x.map(p.0), p.1));
            match dash_of(i) {
                legend::Dash::Solid => {
                    chart.draw_series(LineSeries::new(points, style))?;
                }
                legend::Dash::Dashed => {
                    chart.draw_series(DashedLineSeries::new(points, 7, 4, style))?;
                }
                legend::Dash::Dotted => {
                    chart.draw_series(DashedLineSeries::new(points, 2, 3, style))?;
                }
            }
        }
        Ok(())
    }
}
