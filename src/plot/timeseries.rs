//! Throughput over time for one condition: every repetition overlaid, fault windows shaded,
//! engine events marked, the model's throughput as a dashed line (Jepsen's perf graphs, flent's
//! time series).

use plotters::{coord::Shift, prelude::*};

use super::{
    DrawError, FAULT, FONT, Figure, cartesian, colour, draw_legend, headroom, labelled_line,
    line_swatch,
};

/// One repetition's goodput curve.
#[derive(Clone, Debug)]
pub struct Run {
    /// Legend text (`rep 1`).
    pub label: String,
    /// (seconds, MiB/s).
    pub points: Vec<(f64, f64)>,
}

/// A fault window on the trial's clock.
#[derive(Clone, Debug)]
pub struct Window {
    /// Fault name and type.
    pub label: String,
    /// Seconds.
    pub from: f64,
    /// Seconds; `None` while still on at the end. An instant fault (a reset) has `to == from`
    /// and is drawn as a thin band.
    pub to: Option<f64>,
}

/// What a marker shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MarkerKind {
    /// An attempt failed (the engine's view: reset, timeout, expired session...).
    AttemptFailed,
    /// The chaos proxy reset a connection.
    Reset,
}

/// An engine or chaos event.
#[derive(Clone, Debug)]
pub struct Marker {
    /// Seconds.
    pub t: f64,
    /// What happened.
    pub kind: MarkerKind,
    /// The repetition it belongs to (its colour).
    pub run: usize,
}

/// The figure.
#[derive(Clone, Debug)]
pub struct Throughput {
    /// Campaign and condition.
    pub title: String,
    /// The repetitions.
    pub runs: Vec<Run>,
    /// Fault windows (of the first repetition; every repetition runs the same schedule).
    pub windows: Vec<Window>,
    /// Failures and resets of every repetition.
    pub markers: Vec<Marker>,
    /// The model's throughput, MiB/s.
    pub model: Option<f64>,
}

impl Figure for Throughput {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), DrawError>
    where
        DB::ErrorType: 'static,
    {
        let t_end = self
            .runs
            .iter()
            .flat_map(|r| r.points.iter().map(|p| p.0))
            .chain(self.markers.iter().map(|m| m.t))
            .chain(self.windows.iter().map(|w| w.to.unwrap_or(w.from)))
            .fold(0.0, f64::max);
        let t_end = headroom(t_end) / 1.12 * 1.02;
        let y_top = headroom(
            self.runs
                .iter()
                .flat_map(|r| r.points.iter().map(|p| p.1))
                .chain(self.model)
                .fold(0.0, f64::max),
        );
        let mut chart = cartesian(root, &self.title, 18, 64, 0f64..t_end, 0f64..y_top)?;
        chart
            .configure_mesh()
            .x_desc("time since trial start (s)")
            .y_desc("goodput (MiB/s)")
            .label_style((FONT, 13))
            .axis_desc_style((FONT, 14))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()?;

        let shade = FAULT.mix(0.14).filled();
        let instant = t_end / 250.0;
        for (i, w) in self.windows.iter().enumerate() {
            let to = w.to.unwrap_or(t_end).max(w.from + instant);
            let drawn = chart.draw_series(std::iter::once(Rectangle::new(
                [(w.from, 0.0), (to, y_top)],
                shade,
            )))?;
            if i == 0 {
                drawn
                    .label("fault window")
                    .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 18, y + 5)], shade));
            }
            chart.draw_series(std::iter::once(Text::new(
                w.label.clone(),
                // One line per window, so windows that start together do not overprint.
                (w.from, y_top * (0.985 - 0.035 * i as f64)),
                (FONT, 12).into_font().color(&FAULT),
            )))?;
        }

        for (i, run) in self.runs.iter().enumerate() {
            let c = colour(i);
            labelled_line(&mut chart, &run.points, c, &run.label, None)?;
        }

        if let Some(model) = self.model {
            chart
                .draw_series(DashedLineSeries::new(
                    [(0.0, model), (t_end, model)],
                    8,
                    6,
                    BLACK.stroke_width(1),
                ))?
                .label(format!("model {model:.1} MiB/s"))
                .legend(line_swatch(BLACK.into()));
        }

        let mut failed_labelled = false;
        let mut reset_labelled = false;
        for m in &self.markers {
            let c = colour(m.run);
            match m.kind {
                MarkerKind::AttemptFailed => {
                    chart.draw_series(std::iter::once(PathElement::new(
                        vec![(m.t, 0.0), (m.t, y_top * 0.93)],
                        c.mix(0.5).stroke_width(1),
                    )))?;
                    let drawn = chart.draw_series(std::iter::once(TriangleMarker::new(
                        (m.t, y_top * 0.93),
                        7,
                        FAULT.filled(),
                    )))?;
                    if !failed_labelled {
                        failed_labelled = true;
                        drawn
                            .label("attempt failed")
                            .legend(|(x, y)| TriangleMarker::new((x + 9, y), 6, FAULT.filled()));
                    }
                }
                MarkerKind::Reset => {
                    let drawn = chart.draw_series(std::iter::once(Cross::new(
                        (m.t, y_top * 0.86),
                        5,
                        c.stroke_width(2),
                    )))?;
                    if !reset_labelled {
                        reset_labelled = true;
                        drawn
                            .label("connection reset (proxy)")
                            .legend(|(x, y)| Cross::new((x + 9, y), 5, BLACK.stroke_width(2)));
                    }
                }
            }
        }

        draw_legend(&mut chart, 13)
    }
}
