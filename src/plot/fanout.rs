//! Fan-out (and fan-in): how the followers of one leader shared it, or the leader indices one
//! follower node restored at once shared that node. One panel per trial, each recovery's
//! throughput as a bar, fastest first, with the fair share (aggregate / recoveries) dashed across,
//! so an unfair leader shows as a staircase and a fair one as a flat row at the line.

use plotters::{coord::Shift, prelude::*};

use super::{
    AXIS_PX, DrawError, FAULT, FONT, Figure, GRID, TEXT_PX, colour, fmt_num, headroom,
    legend::{self, Dash, Entry, Swatch},
    truncate_px,
};

/// One trial's followers.
#[derive(Clone, Debug, PartialEq)]
pub struct FanOutPanel {
    /// Panel title (trial, condition, Jain's index).
    pub title: String,
    /// Each follower's throughput in MiB/s with whether it completed, fastest first.
    pub followers: Vec<(f64, bool)>,
    /// Aggregate / followers, MiB/s.
    pub fair_share: f64,
}

/// The figure.
#[derive(Clone, Debug, PartialEq)]
pub struct FanOut {
    /// Campaign and what is shown.
    pub title: String,
    /// What one bar is: `follower` (fan-out), `leader index` (fan-in) or `recovery` (both
    /// kinds of trial in one figure).
    pub unit: String,
    /// `unit` in the plural.
    pub units: String,
    /// One panel per trial with more than one follower (or leader).
    pub panels: Vec<FanOutPanel>,
}

const WIDTH: u32 = 1000;
const HEAD_H: u32 = 40;
const PANEL_H: u32 = 240;
const FOOT_H: u32 = 24;

impl FanOut {
    fn legend(&self) -> Vec<Entry> {
        let mut entries = vec![
            Entry::new(
                format!("one {}'s throughput (sorted, fastest first)", self.unit),
                Swatch::Band {
                    colour: colour(0),
                    opacity: 0.8,
                },
            ),
            Entry::new(
                format!("fair share: aggregate / {}", self.units),
                Swatch::Line {
                    colour: BLACK,
                    width: 2,
                    dash: Dash::Dashed,
                },
            ),
        ];
        if self
            .panels
            .iter()
            .any(|p| p.followers.iter().any(|(_, ok)| !ok))
        {
            entries.push(Entry::new(
                format!("a {} that failed", self.unit),
                Swatch::Band {
                    colour: FAULT,
                    opacity: 0.8,
                },
            ));
        }
        entries
    }
}

impl Figure for FanOut {
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
        let (w, _) = area.dim_in_pixel();
        for (k, panel) in self.panels.iter().enumerate() {
            let last = k + 1 == self.panels.len();
            let top = HEAD_H as i32 + PANEL_H as i32 * k as i32;
            let height = PANEL_H + if last { FOOT_H } else { 0 };
            let this = area.clone().shrink((0, top), (w, height));
            draw_panel(&this, panel, last, &self.unit)?;
        }
        Ok(())
    }
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    panel: &FanOutPanel,
    last: bool,
    unit: &str,
) -> Result<(), DrawError>
where
    DB::ErrorType: 'static,
{
    let n = panel.followers.len().max(1);
    let y_top = headroom(
        panel
            .followers
            .iter()
            .map(|(t, _)| *t)
            .chain([panel.fair_share])
            .fold(0.0, f64::max),
    );
    let mut chart = ChartBuilder::on(area)
        .caption(
            truncate_px(&panel.title, AXIS_PX, WIDTH - 40),
            (FONT, AXIS_PX),
        )
        .margin_left(12)
        .margin_right(20)
        .margin_top(4)
        .margin_bottom(4)
        .x_label_area_size(if last { 44 } else { 26 })
        .y_label_area_size(64)
        .build_cartesian_2d(0.5f64..n as f64 + 0.5, 0f64..y_top)?;
    // About ten rank ticks, on whole followers: every one up to 16, then every 2nd, 4th...
    let every = n.div_ceil(16).next_power_of_two();
    let rank = move |x: &f64| {
        let r = x.round();
        if (x - r).abs() < 1e-6 && r >= 1.0 && (r as usize - 1).is_multiple_of(every) {
            format!("{r:.0}")
        } else {
            String::new()
        }
    };
    let mut mesh = chart.configure_mesh();
    mesh.y_desc("MiB/s")
        .label_style((FONT, TEXT_PX))
        .axis_desc_style((FONT, AXIS_PX))
        .x_labels(n + 1)
        .x_label_formatter(&rank)
        .y_label_formatter(&|y| fmt_num(*y))
        .y_labels(5)
        .disable_x_mesh()
        .light_line_style(GRID);
    if last {
        mesh.x_desc(format!("{unit}, by throughput (fastest first)"));
    }
    mesh.draw()?;
    chart.draw_series(panel.followers.iter().enumerate().map(|(i, (t, ok))| {
        let x = (i + 1) as f64;
        let ink = if *ok { colour(0) } else { FAULT };
        Rectangle::new([(x - 0.38, 0.0), (x + 0.38, *t)], ink.mix(0.8).filled())
    }))?;
    chart.draw_series(DashedLineSeries::new(
        [(0.5, panel.fair_share), (n as f64 + 0.5, panel.fair_share)],
        8,
        6,
        BLACK.stroke_width(2),
    ))?;
    Ok(())
}
