//! A metric against the matrix axis that varies (RTT, a rate limit, a policy...), one series per
//! value of the other axes, each with its model dashed. Along a numeric axis the medians are
//! joined by a line; along a categorical one nothing is joined (an order between policies means
//! nothing): each series sits at its own offset within the category, its median a short bar.
//! Failed trials are red crosses, never ordinary points.

use plotters::{coord::Shift, prelude::*};

use super::{
    AXIS_PX, Axis, DrawError, FAULT, FONT, Figure, GRID, LogSide, Scale, TEXT_PX, cartesian,
    category_at, colour, draw_log_ticks, draw_points, fmt_num,
    legend::{self, Dash, Entry, Swatch},
    point_shape,
};

/// One series (one combination of the other axes).
#[derive(Clone, Debug, PartialEq)]
pub struct SweepSeries {
    /// Legend text (`max_concurrent_file_chunks=5 chunk_size=1mb`).
    pub label: String,
    /// Every trial that completed: (x, y).
    pub points: Vec<(f64, f64)>,
    /// Every trial that failed: (x, y), drawn as crosses.
    pub failed: Vec<(f64, f64)>,
    /// Median of the completed trials per x.
    pub medians: Vec<(f64, f64)>,
    /// The model per x (dashed); empty when the model bounds nothing.
    pub model: Vec<(f64, f64)>,
}

/// The figure.
#[derive(Clone, Debug, PartialEq)]
pub struct Sweep {
    /// Campaign and what varies.
    pub title: String,
    /// X axis description with its unit.
    pub x_label: String,
    /// Y axis description with its unit.
    pub y_label: String,
    /// Tick labels when the axis is categorical (x = 0, 1, 2...); `None` for a numeric axis.
    pub categories: Option<Vec<String>>,
    /// The y axis' scale (logarithmic when the values span more than a decade).
    pub y_scale: Scale,
    /// The series.
    pub series: Vec<SweepSeries>,
}

impl Sweep {
    /// Whether the medians are joined by lines: only along a numeric axis.
    pub fn joins_points(&self) -> bool {
        self.categories.is_none()
    }

    /// Where series `i` sits within a category (its offset from the category's centre) and the
    /// width it has there.
    fn dodge(&self, i: usize) -> (f64, f64) {
        if self.categories.is_none() {
            return (0.0, 0.0);
        }
        let n = self.series.len().max(1) as f64;
        let width = (0.8 / n).min(0.3);
        (width * (i as f64 - (n - 1.0) / 2.0), width)
    }

    fn legend(&self) -> Vec<Entry> {
        let mut entries: Vec<Entry> = self
            .series
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let (colour, shape) = (colour(i), point_shape(i));
                let swatch = if self.joins_points() {
                    Swatch::Point {
                        colour,
                        shape,
                        line: true,
                    }
                } else {
                    Swatch::Median { colour, shape }
                };
                Entry::new(s.label.clone(), swatch)
            })
            .collect();
        if self.series.iter().any(|s| !s.failed.is_empty()) {
            entries.push(Entry::new("failed trial", Swatch::Cross { colour: FAULT }));
        }
        if self.series.iter().any(|s| !s.model.is_empty()) {
            entries.push(Entry::new(
                "model",
                Swatch::Line {
                    colour: BLACK,
                    width: 1,
                    dash: Dash::Dashed,
                },
            ));
        }
        entries
    }

    fn y_axis(&self) -> Axis {
        let ys = || {
            self.series
                .iter()
                .flat_map(|s| s.points.iter().chain(&s.failed).chain(&s.model))
                .map(|p| p.1)
        };
        let hi = ys().fold(0.0, f64::max);
        let lo = ys().filter(|y| *y > 0.0).fold(f64::INFINITY, f64::min);
        Axis::fit(self.y_scale, lo, hi)
    }
}

impl Figure for Sweep {
    fn size(&self) -> (u32, u32) {
        (1000, 560 + legend::height(&self.legend(), 1000))
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), DrawError>
    where
        DB::ErrorType: 'static,
    {
        let area = legend::below(root, &self.legend())?;
        let xs = || {
            self.series.iter().flat_map(|s| {
                s.points
                    .iter()
                    .chain(&s.failed)
                    .chain(&s.model)
                    .map(|p| p.0)
            })
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
        let y = self.y_axis();
        let mut chart = cartesian(&area, &self.title, 64, x_min..x_max, y.range())?;
        let categories = self.categories.clone();
        let format_x = move |x: &f64| match &categories {
            Some(c) => category_at(c, *x),
            None => fmt_num(*x),
        };
        let y_desc = match y.scale {
            Scale::Linear => self.y_label.clone(),
            Scale::Log => format!("{} (log scale)", self.y_label),
        };
        let mut mesh = chart.configure_mesh();
        mesh.x_desc(self.x_label.as_str())
            .y_desc(y_desc)
            .label_style((FONT, TEXT_PX))
            .axis_desc_style((FONT, AXIS_PX))
            .light_line_style(GRID)
            .x_label_formatter(&format_x)
            .y_label_formatter(&|v| fmt_num(*v));
        if let Some(c) = &self.categories {
            mesh.x_labels(c.len() * 2 + 1).disable_x_mesh();
        }
        if y.scale == Scale::Log {
            mesh.y_labels(0).disable_y_mesh();
        }
        mesh.draw()?;
        if y.scale == Scale::Log {
            draw_log_ticks(&mut chart, &area, &y, x_min..x_max, LogSide::Left)?;
        }

        let at = |p: &(f64, f64), offset: f64| (p.0 + offset, y.map(p.1));
        for (i, s) in self.series.iter().enumerate() {
            let (c, shape) = (colour(i), point_shape(i));
            let (offset, width) = self.dodge(i);
            let points: Vec<(f64, f64)> = s.points.iter().map(|p| at(p, offset)).collect();
            if self.joins_points() {
                chart.draw_series(LineSeries::new(
                    s.medians.iter().map(|p| at(p, 0.0)),
                    c.stroke_width(2),
                ))?;
                if s.model.len() > 1 {
                    chart.draw_series(DashedLineSeries::new(
                        s.model.iter().map(|p| at(p, 0.0)),
                        6,
                        5,
                        c.stroke_width(1),
                    ))?;
                } else if let Some(p) = s.model.first() {
                    let half = (x_max - x_min) * 0.02;
                    let (mx, my) = at(p, 0.0);
                    chart.draw_series(DashedLineSeries::new(
                        [(mx - half, my), (mx + half, my)],
                        4,
                        3,
                        c.stroke_width(1),
                    ))?;
                }
            } else {
                // A median and a model per category, each only as wide as the series' slot.
                let half = width * 0.42;
                for p in &s.medians {
                    let (mx, my) = at(p, offset);
                    chart.draw_series(std::iter::once(PathElement::new(
                        vec![(mx - half, my), (mx + half, my)],
                        c.stroke_width(3),
                    )))?;
                }
                for p in &s.model {
                    let (mx, my) = at(p, offset);
                    chart.draw_series(DashedLineSeries::new(
                        [(mx - half, my), (mx + half, my)],
                        4,
                        3,
                        c.stroke_width(1),
                    ))?;
                }
            }
            draw_points(&mut chart, &points, shape, c.mix(0.75).stroke_width(1))?;
            chart.draw_series(
                s.failed
                    .iter()
                    .map(|p| Cross::new(at(p, offset), 6, FAULT.stroke_width(2))),
            )?;
        }
        Ok(())
    }
}
