//! Verified bytes over time, attempt by attempt: what a recovery has actually kept. A policy that
//! restarts from scratch drops to zero at every new attempt; one that resumes carries on from
//! where it stopped. One panel per policy (or per value of the campaign's one axis), all on one
//! time axis, fault windows shaded and every failure marked with its kind.

use plotters::{coord::Shift, prelude::*, style::text_anchor};

use super::{
    AXIS_PX, DrawError, FAULT, FONT, Figure, GRID, TEXT_PX, colour, fmt_num, headroom,
    legend::{self, Dash, Entry, Swatch},
    text_width,
    timeseries::{self, Window},
};

/// One attempt's stretch of a run's curve.
#[derive(Clone, Debug, PartialEq)]
pub struct AttemptSegment {
    /// The attempt, from 1.
    pub attempt: u64,
    /// (seconds, verified MiB).
    pub points: Vec<(f64, f64)>,
}

/// One repetition.
#[derive(Clone, Debug, PartialEq)]
pub struct ProgressRun {
    /// Legend text (`rep 1`).
    pub label: String,
    /// Its attempts in order; a new attempt starts a new segment, and the step from one to the
    /// next is drawn dotted (a drop to zero is a restart).
    pub segments: Vec<AttemptSegment>,
}

impl ProgressRun {
    /// Every plotted point, attempt after attempt.
    pub fn points(&self) -> impl Iterator<Item = (f64, f64)> + '_ {
        self.segments.iter().flat_map(|s| s.points.iter().copied())
    }
}

/// A failed attempt.
#[derive(Clone, Debug, PartialEq)]
pub struct FailureMark {
    /// Seconds.
    pub t: f64,
    /// The run (its index in the panel).
    pub run: usize,
    /// What failed (`reset`, `timeout`, `session_expired`...).
    pub kind: String,
    /// Verified MiB of that run at that moment (where the mark sits).
    pub verified_mib: f64,
}

/// One policy (or one value of the campaign's axis).
#[derive(Clone, Debug, PartialEq)]
pub struct ProgressPanel {
    /// `elasticsearch: 0/2 completed, 12 attempts; failures: reset ×10`.
    pub title: String,
    /// The repetitions.
    pub runs: Vec<ProgressRun>,
    /// Fault windows (of the first repetition).
    pub windows: Vec<Window>,
    /// Faults on for the whole trial, named instead of shaded.
    pub standing: Vec<String>,
    /// Every failed attempt of every run.
    pub failures: Vec<FailureMark>,
}

/// The figure.
#[derive(Clone, Debug, PartialEq)]
pub struct Progress {
    /// Campaign and condition.
    pub title: String,
    /// The panels, top to bottom, on one time axis and one byte axis.
    pub panels: Vec<ProgressPanel>,
    /// The index's size, MiB (a dashed line: where a completed recovery ends).
    pub target_mib: Option<f64>,
}

const WIDTH: u32 = 1000;
const PANEL_H: u32 = 230;
const HEAD_H: u32 = 36;
/// Extra room under the last panel for the x axis' description.
const FOOT_H: u32 = 20;

impl Progress {
    /// The pixel rows (top, bottom) panel `k` occupies in the rendered figure.
    pub fn panel_bounds(&self, k: usize) -> (i32, i32) {
        let last = k + 1 >= self.panels.len();
        let top = HEAD_H + PANEL_H * k as u32;
        let bottom = top + PANEL_H + if last { FOOT_H } else { 0 };
        (top as i32, bottom as i32)
    }

    fn legend(&self) -> Vec<Entry> {
        let runs = self.panels.iter().map(|p| p.runs.len()).max().unwrap_or(0);
        let mut entries: Vec<Entry> = (0..runs)
            .map(|i| {
                let label = self
                    .panels
                    .iter()
                    .find_map(|p| p.runs.get(i))
                    .map_or_else(|| format!("rep {}", i + 1), |r| r.label.clone());
                Entry::new(
                    label,
                    Swatch::Line {
                        colour: colour(i),
                        width: 2,
                        dash: Dash::Solid,
                    },
                )
            })
            .collect();
        entries.push(Entry::new(
            "next attempt (a drop to 0 is a restart)",
            Swatch::Line {
                colour: RGBColor(90, 90, 90),
                width: 1,
                dash: Dash::Dotted,
            },
        ));
        if self.panels.iter().any(|p| !p.failures.is_empty()) {
            entries.push(Entry::new(
                "attempt failed (its kind above)",
                Swatch::Cross { colour: FAULT },
            ));
        }
        if self.panels.iter().any(|p| !p.windows.is_empty()) {
            entries.push(timeseries::window_entry());
        }
        if self.target_mib.is_some() {
            entries.push(Entry::new(
                "index size",
                Swatch::Line {
                    colour: BLACK,
                    width: 1,
                    dash: Dash::Dashed,
                },
            ));
        }
        entries
    }

    fn t_end(&self) -> f64 {
        let t = self
            .panels
            .iter()
            .flat_map(|p| {
                p.runs
                    .iter()
                    .flat_map(|r| r.points().map(|q| q.0))
                    .chain(p.failures.iter().map(|f| f.t))
                    .chain(p.windows.iter().map(|w| w.to.unwrap_or(w.from)))
                    .collect::<Vec<_>>()
            })
            .fold(0.0, f64::max);
        headroom(t) / 1.12 * 1.02
    }

    fn y_top(&self) -> f64 {
        let top = self
            .panels
            .iter()
            .flat_map(|p| p.runs.iter().flat_map(|r| r.points().map(|q| q.1)))
            .chain(self.target_mib)
            .fold(0.0, f64::max);
        // Room above the curves for the fault names and the failure labels.
        if top > 0.0 { top * 1.5 } else { 1.0 }
    }
}

impl Figure for Progress {
    fn size(&self) -> (u32, u32) {
        let panels = self.panels.len().max(1) as u32;
        (
            WIDTH,
            HEAD_H + PANEL_H * panels + FOOT_H + legend::height(&self.legend(), WIDTH),
        )
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), DrawError>
    where
        DB::ErrorType: 'static,
    {
        let area = legend::titled_below(root, &self.title, HEAD_H, &self.legend())?;
        let (t_end, y_top) = (self.t_end(), self.y_top());
        for (k, panel) in self.panels.iter().enumerate() {
            let (top, bottom) = self.panel_bounds(k);
            let (w, _) = area.dim_in_pixel();
            let this = area.clone().shrink((0, top), (w, (bottom - top) as u32));
            self.draw_panel(&this, panel, k + 1 == self.panels.len(), t_end, y_top)?;
        }
        Ok(())
    }
}

impl Progress {
    fn draw_panel<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        panel: &ProgressPanel,
        last: bool,
        t_end: f64,
        y_top: f64,
    ) -> Result<(), DrawError>
    where
        DB::ErrorType: 'static,
    {
        let mut chart = ChartBuilder::on(area)
            .caption(panel.title.clone(), (FONT, AXIS_PX))
            .margin_left(12)
            .margin_right(20)
            .margin_top(4)
            .margin_bottom(4)
            .x_label_area_size(if last { 40 } else { 22 })
            .y_label_area_size(64)
            .build_cartesian_2d(0f64..t_end, 0f64..y_top)?;
        let mut mesh = chart.configure_mesh();
        mesh.y_desc("verified (MiB)")
            .label_style((FONT, TEXT_PX))
            .axis_desc_style((FONT, AXIS_PX))
            .x_label_formatter(&|x| fmt_num(*x))
            .y_label_formatter(&|y| fmt_num(*y))
            .y_labels(6)
            .light_line_style(GRID);
        if last {
            mesh.x_desc("time since trial start (s)");
        }
        mesh.draw()?;

        timeseries::shade_windows(&mut chart, &panel.windows, t_end, y_top)?;
        if let Some(note) = timeseries::standing_note(&panel.standing) {
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
        if let Some(target) = self.target_mib {
            chart.draw_series(DashedLineSeries::new(
                [(0.0, target), (t_end, target)],
                8,
                6,
                BLACK.stroke_width(1),
            ))?;
        }

        for (i, run) in panel.runs.iter().enumerate() {
            let c = colour(i);
            for pair in run.segments.windows(2) {
                if let (Some(a), Some(b)) = (pair[0].points.last(), pair[1].points.first()) {
                    chart.draw_series(DashedLineSeries::new(
                        [*a, *b],
                        2,
                        3,
                        c.mix(0.8).stroke_width(1),
                    ))?;
                }
            }
            for s in &run.segments {
                chart.draw_series(LineSeries::new(s.points.iter().copied(), c.stroke_width(2)))?;
            }
        }

        // Failure labels in up to three rows above the curves; a label that finds no room is
        // left out (the panel's title counts every failure by kind).
        let mut failures: Vec<&FailureMark> = panel.failures.iter().collect();
        failures.sort_by(|a, b| a.t.total_cmp(&b.t));
        // Rows in pixels below the top of the plot, under the fault windows' names.
        let (_, plot_h) = chart.plotting_area().dim_in_pixel();
        let rows = [28.0, 42.0, 56.0].map(|px: f64| y_top * (1.0 - px / plot_h.max(1) as f64));
        let mut row_end = [i32::MIN; 3];
        let mut placed: Vec<(i32, &str)> = Vec::new();
        let font = (FONT, TEXT_PX).into_font().color(&FAULT);
        for f in failures {
            chart.draw_series(std::iter::once(Cross::new(
                (f.t, f.verified_mib),
                5,
                FAULT.stroke_width(2),
            )))?;
            let (px, _) = chart.backend_coord(&(f.t, 0.0));
            let w = text_width(&f.kind, TEXT_PX) as i32;
            // Repetitions fail at about the same moment: one label per kind there.
            if placed
                .iter()
                .any(|(x, kind)| *kind == f.kind && (x - px).abs() < w)
            {
                continue;
            }
            let Some(row) = (0..rows.len()).find(|&r| row_end[r] + 6 <= px - w / 2) else {
                continue;
            };
            row_end[row] = px + w - w / 2;
            placed.push((px, &f.kind));
            let label_y = rows[row];
            chart.draw_series(std::iter::once(PathElement::new(
                vec![(f.t, f.verified_mib), (f.t, label_y)],
                FAULT.mix(0.3).stroke_width(1),
            )))?;
            // Kept inside the plot: a failure at either end is labelled to its inner side.
            let (x_px, _) = chart.plotting_area().get_pixel_range();
            let h = if px + w / 2 > x_px.end {
                text_anchor::HPos::Right
            } else if px - w / 2 < x_px.start {
                text_anchor::HPos::Left
            } else {
                text_anchor::HPos::Center
            };
            chart.draw_series(std::iter::once(Text::new(
                f.kind.clone(),
                (f.t, label_y),
                font.clone()
                    .pos(text_anchor::Pos::new(h, text_anchor::VPos::Bottom)),
            )))?;
        }
        Ok(())
    }
}
