//! Throughput over time for one condition: every repetition overlaid, fault windows shaded,
//! engine events marked, the model's throughput as a dashed line (Jepsen's perf graphs, flent's
//! time series). Also the fault-window shading the progress figure shares.

use plotters::{coord::Shift, prelude::*, style::text_anchor};

use super::{
    AXIS_PX, DrawError, FAULT, FONT, Figure, GRID, TEXT_PX, cartesian, colour, fmt_num, headroom,
    legend::{self, Dash, Entry, Swatch},
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
#[derive(Clone, Debug, PartialEq)]
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
    /// Faults on for the whole trial (a latency, a loss rate): named, not shaded.
    pub standing: Vec<String>,
    /// Failures and resets of every repetition.
    pub markers: Vec<Marker>,
    /// The model's throughput, MiB/s.
    pub model: Option<f64>,
}

impl Throughput {
    fn legend(&self) -> Vec<Entry> {
        let mut entries: Vec<Entry> = self
            .runs
            .iter()
            .enumerate()
            .map(|(i, r)| {
                Entry::new(
                    r.label.clone(),
                    Swatch::Line {
                        colour: colour(i),
                        width: 2,
                        dash: Dash::Solid,
                    },
                )
            })
            .collect();
        if let Some(model) = self.model {
            entries.push(Entry::new(
                format!("model {} MiB/s", fmt_num(model)),
                Swatch::Line {
                    colour: BLACK,
                    width: 1,
                    dash: Dash::Dashed,
                },
            ));
        }
        if !self.windows.is_empty() {
            entries.push(window_entry());
        }
        if self
            .markers
            .iter()
            .any(|m| m.kind == MarkerKind::AttemptFailed)
        {
            entries.push(Entry::new(
                "attempt failed",
                Swatch::Point {
                    colour: FAULT,
                    shape: super::PointShape::Triangle,
                    line: false,
                },
            ));
        }
        if self.markers.iter().any(|m| m.kind == MarkerKind::Reset) {
            entries.push(Entry::new(
                "connection reset (proxy)",
                Swatch::Cross { colour: BLACK },
            ));
        }
        entries
    }
}

/// The legend entry of a shaded fault window.
pub(crate) fn window_entry() -> Entry {
    Entry::new(
        "fault window",
        Swatch::Band {
            colour: FAULT,
            opacity: 0.14,
        },
    )
}

/// Shades fault windows over `0..y_top` and names each above its band (one line per window,
/// so windows that start together do not overprint).
pub(crate) fn shade_windows<'a, DB: DrawingBackend + 'a>(
    chart: &mut super::Chart<'a, DB>,
    windows: &[Window],
    t_end: f64,
    y_top: f64,
) -> Result<(), DrawError>
where
    DB::ErrorType: 'static,
{
    let shade = FAULT.mix(0.14).filled();
    let instant = t_end / 250.0;
    let mut named: Vec<&str> = Vec::new();
    for w in windows {
        let to = w.to.unwrap_or(t_end).max(w.from + instant);
        chart.draw_series(std::iter::once(Rectangle::new(
            [(w.from, 0.0), (to, y_top)],
            shade,
        )))?;
        // A periodic fault has many windows of one name: name it once.
        if named.contains(&w.label.as_str()) {
            continue;
        }
        chart.draw_series(std::iter::once(Text::new(
            w.label.clone(),
            (w.from, y_top * (0.985 - 0.04 * named.len() as f64)),
            (FONT, TEXT_PX).into_font().color(&FAULT),
        )))?;
        named.push(&w.label);
    }
    Ok(())
}

/// "on throughout: wan (latency), loss (loss)" or nothing.
pub(crate) fn standing_note(standing: &[String]) -> Option<String> {
    (!standing.is_empty()).then(|| format!("on throughout: {}", standing.join(", ")))
}

impl Figure for Throughput {
    fn size(&self) -> (u32, u32) {
        (1000, 560 + legend::height(&self.legend(), 1000))
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), DrawError>
    where
        DB::ErrorType: 'static,
    {
        let area = legend::below(root, &self.legend())?;
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
        let mut chart = cartesian(&area, &self.title, 64, 0f64..t_end, 0f64..y_top)?;
        chart
            .configure_mesh()
            .x_desc("time since trial start (s)")
            .y_desc("goodput (MiB/s)")
            .label_style((FONT, TEXT_PX))
            .axis_desc_style((FONT, AXIS_PX))
            .x_label_formatter(&|x| fmt_num(*x))
            .y_label_formatter(&|y| fmt_num(*y))
            .light_line_style(GRID)
            .draw()?;

        shade_windows(&mut chart, &self.windows, t_end, y_top)?;
        if let Some(note) = standing_note(&self.standing) {
            chart.draw_series(std::iter::once(Text::new(
                note,
                (t_end * 0.99, y_top * 0.985),
                (FONT, TEXT_PX)
                    .into_font()
                    .color(&FAULT)
                    .pos(text_anchor::Pos::new(
                        text_anchor::HPos::Right,
                        text_anchor::VPos::Top,
                    )),
            )))?;
        }

        for (i, run) in self.runs.iter().enumerate() {
            chart.draw_series(LineSeries::new(
                run.points.iter().copied(),
                colour(i).stroke_width(2),
            ))?;
        }

        if let Some(model) = self.model {
            chart.draw_series(DashedLineSeries::new(
                [(0.0, model), (t_end, model)],
                8,
                6,
                BLACK.stroke_width(1),
            ))?;
        }

        for m in &self.markers {
            let c = colour(m.run);
            match m.kind {
                MarkerKind::AttemptFailed => {
                    chart.draw_series(std::iter::once(PathElement::new(
                        vec![(m.t, 0.0), (m.t, y_top * 0.93)],
                        c.mix(0.5).stroke_width(1),
                    )))?;
                    chart.draw_series(std::iter::once(TriangleMarker::new(
                        (m.t, y_top * 0.93),
                        7,
                        FAULT.filled(),
                    )))?;
                }
                MarkerKind::Reset => {
                    chart.draw_series(std::iter::once(Cross::new(
                        (m.t, y_top * 0.86),
                        5,
                        c.stroke_width(2),
                    )))?;
                }
            }
        }
        Ok(())
    }
}
