//! Shards: how the shards of one index recovery shared their time. One panel per trial, a Gantt
//! row per shard from its start to its end, coloured by whether it was verified, with its
//! attempts and wasted bytes written beside it, and the trial's faults as red lines, so a reset
//! that restarts every shard in flight reads as a column of "×2" bars crossing one line.
//!
//! Which trials get a panel and the numbers in it are [`crate::report::figures`]' business.

use plotters::{coord::Shift, prelude::*, style::text_anchor};

use super::{
    AXIS_PX, DrawError, FAULT, FONT, Figure, GRID, TEXT_PX, fmt_num,
    legend::{self, Dash, Entry, Swatch},
    text_width, truncate_px,
};

/// One shard's row.
#[derive(Clone, Debug, PartialEq)]
pub struct ShardBar {
    /// The shard's number.
    pub shard: u32,
    /// When it started, trial seconds (`None`: it never started).
    pub started_at: Option<f64>,
    /// Start to end, seconds.
    pub duration_s: f64,
    /// Verified.
    pub verified: bool,
    /// Attempts it made.
    pub attempts: u32,
    /// Bytes received then thrown away, MiB.
    pub wasted_mib: f64,
    /// Those bytes over every byte it received, 0 to 1.
    pub wasted_share: f64,
}

impl ShardBar {
    /// When it ended (its start when it never started).
    pub fn end(&self) -> f64 {
        self.started_at
            .map_or(0.0, |s| s + self.duration_s.max(0.0))
    }

    /// The text beside the bar: `×2 · 2.8 MiB wasted`, `×1`, `never started`.
    pub fn label(&self) -> String {
        if self.started_at.is_none() {
            return "never started".into();
        }
        let mut out = format!("×{}", self.attempts);
        if !self.verified {
            out.push_str(" · failed");
        }
        if self.wasted_mib > 0.0 {
            out.push_str(&format!(" · {} MiB wasted", fmt_num(self.wasted_mib)));
        }
        out
    }
}

/// A fault of the trial, trial seconds.
#[derive(Clone, Debug, PartialEq)]
pub struct ShardFault {
    /// `cut (reset)`.
    pub name: String,
    /// When it turned on.
    pub on: f64,
    /// When it turned off (`None`: it never did).
    pub off: Option<f64>,
}

/// One trial.
#[derive(Clone, Debug, PartialEq)]
pub struct ShardPanel {
    /// Trial, its parameters and what happened.
    pub title: String,
    /// Its shards, in shard order (drawn top to bottom).
    pub shards: Vec<ShardBar>,
    /// Its faults.
    pub faults: Vec<ShardFault>,
}

/// The figure.
#[derive(Clone, Debug, PartialEq)]
pub struct Shards {
    /// Campaign and what is shown.
    pub title: String,
    /// One panel per trial shown, all on one time axis.
    pub panels: Vec<ShardPanel>,
}

const WIDTH: u32 = 1000;
const HEAD_H: u32 = 40;
/// A panel's caption and the margins around its plot.
const CAPTION_H: u32 = 30;
/// A panel's tick labels (and the last one's axis description under them).
const TICKS_H: u32 = 26;
const FOOT_H: u32 = 22;
const MARGIN_L: u32 = 12;
const MARGIN_R: u32 = 20;
const Y_AREA: u32 = 70;
/// Between a bar's end and its label.
const LABEL_GAP: u32 = 6;

/// Pixels per shard row: roomy for a few shards, tighter (never below a line of text) for many.
pub(crate) fn row_height(shards: usize) -> u32 {
    match shards {
        0..=8 => 26,
        9..=16 => 20,
        _ => 16,
    }
}

fn panel_height(panel: &ShardPanel) -> u32 {
    CAPTION_H + TICKS_H + row_height(panel.shards.len()) * panel.shards.len().max(1) as u32
}

/// The end of a time axis `plot_w` px wide on which every bar's label fits beside it: a bar
/// ending at `end` s with a label `w` px wide needs `end / hi * plot_w + gap + w <= plot_w`.
/// Never less than the last fault time or a little past the last end.
pub(crate) fn time_extent(ends: &[(f64, u32)], faults: &[f64], plot_w: u32) -> f64 {
    let plot_w = plot_w.max(1) as f64;
    let mut hi = faults.iter().copied().fold(0.0, f64::max) * 1.04;
    for (end, w) in ends {
        // Past half the plot a label cannot fit at any scale: let it take the other half.
        let room = (plot_w - (*w + LABEL_GAP) as f64).max(plot_w / 2.0);
        hi = hi.max(end * 1.04).max(end * plot_w / room);
    }
    if hi.is_finite() && hi > 0.0 { hi } else { 1.0 }
}

impl Shards {
    fn legend(&self) -> Vec<Entry> {
        let bars = self.panels.iter().flat_map(|p| &p.shards);
        let mut entries = vec![Entry::new(
            "a verified shard, start to end (×N: its attempts)",
            Swatch::Band {
                colour: VERIFIED,
                opacity: 1.0,
            },
        )];
        if bars.clone().any(|b| b.wasted_share > 0.0) {
            entries.push(Entry::new(
                "darker: its bytes received then thrown away, as a share of the bar",
                Swatch::Band {
                    colour: darker(VERIFIED),
                    opacity: 1.0,
                },
            ));
        }
        if bars.clone().any(|b| !b.verified) {
            entries.push(Entry::new(
                "a shard that failed",
                Swatch::Band {
                    colour: FAULT,
                    opacity: 1.0,
                },
            ));
        }
        let mut names: Vec<&str> = Vec::new();
        for f in self.panels.iter().flat_map(|p| &p.faults) {
            if !names.contains(&f.name.as_str()) {
                names.push(&f.name);
            }
        }
        if !names.is_empty() {
            entries.push(Entry::new(
                format!("fault turned on: {}", names.join(", ")),
                Swatch::Line {
                    colour: FAULT,
                    width: 2,
                    dash: Dash::Solid,
                },
            ));
        }
        // A reset is on for microseconds: its window would be a band nobody sees.
        if self
            .panels
            .iter()
            .flat_map(|p| &p.faults)
            .any(|f| f.off.is_none_or(|off| off - f.on >= 0.01))
        {
            entries.push(Entry::new(
                "fault window",
                Swatch::Band {
                    colour: FAULT,
                    opacity: 0.15,
                },
            ));
        }
        entries
    }

    /// The shared time axis' end.
    fn x_hi(&self) -> f64 {
        let plot_w = WIDTH - MARGIN_L - MARGIN_R - Y_AREA;
        let ends: Vec<(f64, u32)> = self
            .panels
            .iter()
            .flat_map(|p| &p.shards)
            .map(|b| (b.end(), text_width(&b.label(), TEXT_PX)))
            .collect();
        let faults: Vec<f64> = self
            .panels
            .iter()
            .flat_map(|p| &p.faults)
            .flat_map(|f| [Some(f.on), f.off])
            .flatten()
            .collect();
        time_extent(&ends, &faults, plot_w)
    }
}

/// Okabe–Ito bluish green: a verified shard.
const VERIFIED: RGBColor = super::PALETTE[2];

/// The shade of `c` for its wasted part.
fn darker(c: RGBColor) -> RGBColor {
    let d = |v: u8| (v as f64 * 0.5) as u8;
    RGBColor(d(c.0), d(c.1), d(c.2))
}

impl Figure for Shards {
    fn size(&self) -> (u32, u32) {
        let panels: u32 = self.panels.iter().map(panel_height).sum();
        (
            WIDTH,
            HEAD_H + panels.max(80) + FOOT_H + legend::height(&self.legend(), WIDTH),
        )
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), DrawError>
    where
        DB::ErrorType: 'static,
    {
        let area = legend::titled_below(root, &self.title, HEAD_H, &self.legend())?;
        let (w, _) = area.dim_in_pixel();
        let x_hi = self.x_hi();
        let mut top = HEAD_H as i32;
        for (k, panel) in self.panels.iter().enumerate() {
            let last = k + 1 == self.panels.len();
            let height = panel_height(panel) + if last { FOOT_H } else { 0 };
            let this = area.clone().shrink((0, top), (w, height));
            draw_panel(&this, panel, x_hi, last)?;
            top += panel_height(panel) as i32;
        }
        Ok(())
    }
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    panel: &ShardPanel,
    x_hi: f64,
    last: bool,
) -> Result<(), DrawError>
where
    DB::ErrorType: 'static,
{
    let n = panel.shards.len().max(1);
    let caption_w = WIDTH - 2 * MARGIN_L;
    let mut chart = ChartBuilder::on(area)
        .caption(
            truncate_px(&panel.title, AXIS_PX, caption_w),
            (FONT, AXIS_PX),
        )
        .margin_left(MARGIN_L)
        .margin_right(MARGIN_R)
        .margin_top(4)
        .margin_bottom(4)
        .x_label_area_size(if last { TICKS_H + FOOT_H } else { TICKS_H })
        .y_label_area_size(Y_AREA)
        .build_cartesian_2d(0f64..x_hi, -0.5f64..n as f64 - 0.5)?;
    let mut mesh = chart.configure_mesh();
    mesh.label_style((FONT, TEXT_PX))
        .axis_desc_style((FONT, AXIS_PX))
        .x_labels(10)
        .x_label_formatter(&|x| fmt_num(*x))
        .y_labels(0)
        .max_light_lines(2)
        .disable_y_mesh()
        .light_line_style(GRID);
    if last {
        mesh.x_desc("seconds since the trial started");
    }
    mesh.draw()?;

    // Shard k (in list order) on row n-1-k: the first shard on top.
    let row = |k: usize| (n - 1 - k) as f64;
    for f in &panel.faults {
        let off = f.off.unwrap_or(x_hi).min(x_hi);
        if off > f.on {
            chart.draw_series(std::iter::once(Rectangle::new(
                [(f.on, -0.5), (off, n as f64 - 0.5)],
                FAULT.mix(0.15).filled(),
            )))?;
        }
    }
    let (ox, oy) = area.get_base_pixel();
    let font = (FONT, TEXT_PX).into_font().color(&BLACK);
    for (k, bar) in panel.shards.iter().enumerate() {
        let y = row(k);
        let (lx, ly) = chart.backend_coord(&(0.0, y));
        area.draw(&Text::new(
            format!("shard {}", bar.shard),
            (lx - ox - 8, ly - oy),
            font.clone().pos(text_anchor::Pos::new(
                text_anchor::HPos::Right,
                text_anchor::VPos::Center,
            )),
        ))?;
        let ink = if bar.verified { VERIFIED } else { FAULT };
        let (label_at, label_ink) = match bar.started_at {
            Some(start) => {
                let end = bar.end();
                chart.draw_series(std::iter::once(Rectangle::new(
                    [(start, y - 0.32), (end, y + 0.32)],
                    ink.filled(),
                )))?;
                let wasted = start + (end - start) * bar.wasted_share.clamp(0.0, 1.0);
                if wasted > start {
                    chart.draw_series(std::iter::once(Rectangle::new(
                        [(start, y - 0.32), (wasted, y + 0.32)],
                        darker(ink).filled(),
                    )))?;
                }
                (end, BLACK)
            }
            None => (0.0, FAULT),
        };
        let (px, py) = chart.backend_coord(&(label_at, y));
        area.draw(&Text::new(
            bar.label(),
            (px - ox + LABEL_GAP as i32, py - oy),
            font.clone().color(&label_ink).pos(text_anchor::Pos::new(
                text_anchor::HPos::Left,
                text_anchor::VPos::Center,
            )),
        ))?;
    }
    // Fault lines last, over the bars: the eye reads which bars they cross.
    for f in &panel.faults {
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(f.on, -0.5), (f.on, n as f64 - 0.5)],
            FAULT.stroke_width(2),
        )))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(start: Option<f64>, attempts: u32, wasted_mib: f64) -> ShardBar {
        ShardBar {
            shard: 0,
            started_at: start,
            duration_s: 1.0,
            verified: true,
            attempts,
            wasted_mib,
            wasted_share: 0.0,
        }
    }

    #[test]
    fn labels_name_attempts_failure_and_waste() {
        assert_eq!(bar(Some(0.0), 2, 2.84).label(), "×2 · 2.84 MiB wasted");
        assert_eq!(bar(Some(0.0), 1, 0.0).label(), "×1");
        assert_eq!(bar(None, 0, 0.0).label(), "never started");
        let mut failed = bar(Some(0.0), 5, 0.0);
        failed.verified = false;
        assert_eq!(failed.label(), "×5 · failed");
        assert_eq!(bar(None, 0, 0.0).end(), 0.0);
        assert_eq!(bar(Some(0.5), 1, 0.0).end(), 1.5);
    }

    #[test]
    fn the_time_axis_leaves_room_for_every_label() {
        let plot_w = 900;
        let ends = [(1.4, 150), (1.65, 20), (0.3, 400)];
        let hi = time_extent(&ends, &[0.4], plot_w);
        for (end, w) in ends {
            let px = end / hi * plot_w as f64;
            assert!(
                px + (w + LABEL_GAP) as f64 <= plot_w as f64 + 1e-9,
                "{end} {w} {hi}"
            );
        }
        // A fault after every bar still shows; nothing at all still gives an axis.
        assert!(time_extent(&[(1.0, 10)], &[5.0], plot_w) >= 5.0);
        assert_eq!(time_extent(&[], &[], plot_w), 1.0);
        // A label wider than the plot takes at most its right half.
        assert!((time_extent(&[(1.0, 5000)], &[], plot_w) - 2.0).abs() < 1e-9);
        assert!(row_height(5) * 5 > row_height(30) * 5);
        assert!(row_height(100) >= TEXT_PX + 4);
    }

    #[test]
    fn many_shards_and_panels_render_with_every_row_labelled() {
        let shards: Vec<ShardBar> = (0..20)
            .map(|n| ShardBar {
                shard: n,
                started_at: (n != 19).then_some(n as f64 * 0.1),
                duration_s: 1.0 + n as f64 * 0.05,
                verified: n % 7 != 3,
                attempts: 1 + n % 3,
                wasted_mib: (n % 3) as f64 * 1.5,
                wasted_share: (n % 3) as f64 * 0.2,
            })
            .collect();
        let panel = |k: usize| ShardPanel {
            title: format!(
                "t000{k} policy=elasticsearch (rep 1): a long title {}",
                "x".repeat(200)
            ),
            shards: shards.clone(),
            faults: vec![ShardFault {
                name: "cut (reset)".into(),
                on: 0.4,
                off: Some(0.9),
            }],
        };
        let fig = Shards {
            title: "many".into(),
            panels: (0..3).map(panel).collect(),
        };
        let tmp = tempfile::tempdir().expect("tmp");
        let r = super::super::render(&fig, tmp.path(), "shards").expect("render");
        let svg = std::fs::read_to_string(&r.svg).expect("svg");
        for needle in [
            "shard 0",
            "shard 19",
            "never started",
            "×3 · 3 MiB wasted",
            "…",
        ] {
            assert!(svg.contains(needle), "{needle}");
        }
    }
}
