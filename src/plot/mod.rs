//! Figures drawn with plotters, each rendered twice from one drawing routine: SVG (text kept as
//! text, so labels are searchable) and PNG (text rasterised from the font compiled into the
//! binary, so a machine with no fonts installed still gets labels).
//!
//! This module owns drawing only; which figures a report or a comparison needs, and the numbers
//! in them, are decided by [`crate::report`] and [`crate::compare`].
//!
//! House rules every figure follows: legends go in a band below the plot, never over data
//! ([`legend`]); text sizes are even (see [`TEXT_PX`] for the plotters quirk that turns "0.5"
//! into "0·5" at odd sizes); numbers are formatted by [`fmt_num`]; a log axis is a linear axis
//! over `log10` with ticks drawn here ([`Axis`], [`draw_log_ticks`]), so every figure draws on
//! one chart type.

mod breakdown;
mod cdf;
mod distribution;
mod fanout;
mod font;
mod legend;
mod outcomes;
mod progress;
mod shards;
mod sweep;
mod timeseries;

pub use breakdown::{Breakdown, BreakdownRow};
pub use cdf::{Cdf, CdfCurve};
pub use distribution::{Distribution, DistributionGroup};
pub use fanout::{FanOut, FanOutPanel};
pub use outcomes::{CellVerdict, Missed, NOT_RUN, OutcomeCell, OutcomeMatrix, verdict_colour};
pub use progress::{AttemptSegment, FailureMark, Progress, ProgressPanel, ProgressRun};
pub use shards::{ShardBar, ShardFault, ShardPanel, Shards};
pub use sweep::{Sweep, SweepSeries};
pub use timeseries::{Marker, MarkerKind, Run, Throughput, Window};

use std::{
    ops::Range,
    path::{Path, PathBuf},
};

use plotters::{
    coord::{Shift, cartesian::Cartesian2d, types::RangedCoordf64},
    prelude::{
        BLACK, BitMapBackend, ChartBuilder, ChartContext, Circle, Color, DrawingArea,
        DrawingBackend, IntoDrawingArea, IntoFont, PathElement, SVGBackend, ShapeStyle, Text,
        TriangleMarker,
    },
    style::{
        RGBColor,
        text_anchor::{HPos, Pos, VPos},
    },
};

use crate::export::write_atomic;

/// The family every figure's text uses; the embedded font is registered under it.
pub const FONT: &str = "sans-serif";

/// What a drawing routine returns on failure (plotters' errors are generic over the backend).
pub type DrawError = Box<dyn std::error::Error + Send + Sync>;

/// A figure could not be drawn or written.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// The embedded font did not load (a corrupt build).
    #[error("the embedded font did not load")]
    Font,
    /// Drawing failed.
    #[error("drawing {name}: {message}")]
    Draw {
        /// The figure.
        name: String,
        /// plotters' message.
        message: String,
    },
    /// Encoding the PNG.
    #[error("encoding {name}.png: {source}")]
    Png {
        /// The figure.
        name: String,
        /// The encoder's error.
        #[source]
        source: png::EncodingError,
    },
    /// Writing a file.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

/// Something that draws itself on any plotters backend.
pub trait Figure {
    /// Width and height in pixels.
    fn size(&self) -> (u32, u32) {
        (1000, 560)
    }

    /// Draws on `root` (already filled white).
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), DrawError>
    where
        DB::ErrorType: 'static;
}

/// The files a figure was written to.
#[derive(Clone, Debug)]
pub struct Rendered {
    /// File stem (`timeseries-c000`).
    pub name: String,
    /// `<dir>/<name>.svg`.
    pub svg: PathBuf,
    /// `<dir>/<name>.png`.
    pub png: PathBuf,
    /// The PNG's bytes (for embedding in HTML).
    pub png_bytes: Vec<u8>,
}

/// Draws `figure` into `<dir>/<name>.svg` and `<dir>/<name>.png`.
pub fn render(figure: &impl Figure, dir: &Path, name: &str) -> Result<Rendered, PlotError> {
    font::register()?;
    let (w, h) = figure.size();
    let draw_err = |e: DrawError| PlotError::Draw {
        name: name.to_string(),
        message: e.to_string(),
    };

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (w, h)).into_drawing_area();
        root.fill(&plotters::style::WHITE)
            .map_err(|e| draw_err(e.into()))?;
        figure.draw(&root).map_err(draw_err)?;
        root.present().map_err(|e| draw_err(e.into()))?;
    }
    let mut rgb = vec![0u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
        root.fill(&plotters::style::WHITE)
            .map_err(|e| draw_err(e.into()))?;
        figure.draw(&root).map_err(draw_err)?;
        root.present().map_err(|e| draw_err(e.into()))?;
    }
    let png_bytes = encode_png(&rgb, w, h).map_err(|source| PlotError::Png {
        name: name.to_string(),
        source,
    })?;
    let svg_path = dir.join(format!("{name}.svg"));
    let png_path = dir.join(format!("{name}.png"));
    for (path, bytes) in [(&svg_path, svg.as_bytes()), (&png_path, &png_bytes[..])] {
        write_atomic(path, bytes).map_err(|source| PlotError::Io {
            path: path.clone(),
            source,
        })?;
    }
    Ok(Rendered {
        name: name.to_string(),
        svg: svg_path,
        png: png_path,
        png_bytes,
    })
}

fn encode_png(rgb: &[u8], w: u32, h: u32) -> Result<Vec<u8>, png::EncodingError> {
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, w, h);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header()?;
        writer.write_image_data(rgb)?;
        writer.finish()?;
    }
    Ok(out)
}

/// Okabe–Ito colours: distinguishable with the common colour-vision deficiencies.
pub const PALETTE: [RGBColor; 8] = [
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(213, 94, 0),
    RGBColor(120, 120, 120),
    RGBColor(0, 0, 0),
];

/// The `i`th palette colour (cycling).
pub fn colour(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// The shape of a series' points: the palette has 8 colours, so series 8–15 repeat them
/// with triangles instead of circles (and 16–23 with circles again).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PointShape {
    /// Series 0–7, 16–23, ...
    Circle,
    /// Series 8–15, 24–31, ...
    Triangle,
}

/// The point shape of series `i`.
pub fn point_shape(i: usize) -> PointShape {
    if (i / PALETTE.len()).is_multiple_of(2) {
        PointShape::Circle
    } else {
        PointShape::Triangle
    }
}

/// Draws `points` as `shape`s in `style`.
pub(crate) fn draw_points<'a, DB>(
    chart: &mut Chart<'a, DB>,
    points: &[(f64, f64)],
    shape: PointShape,
    style: ShapeStyle,
) -> Result<(), DrawError>
where
    DB: DrawingBackend + 'a,
    DB::ErrorType: 'static,
{
    match shape {
        PointShape::Circle => {
            chart.draw_series(points.iter().map(|p| Circle::new(*p, 3, style)))?;
        }
        PointShape::Triangle => {
            chart.draw_series(points.iter().map(|p| TriangleMarker::new(*p, 4, style)))?;
        }
    }
    Ok(())
}

/// Red of fault windows and failure markers.
pub const FAULT: RGBColor = RGBColor(204, 37, 41);

/// Light grey of the minor grid lines (the major ones are plotters' default, darker).
pub(crate) const GRID: RGBColor = RGBColor(246, 246, 246);
/// Grey of the major grid lines a figure draws itself (a log axis' ticks).
pub(crate) const MAJOR_GRID: RGBColor = RGBColor(214, 214, 214);

/// Text sizes in pixels. Every one is even on purpose: plotters 0.3.7 places each glyph's
/// bitmap at `(size / 2 + top of its pixel box) as i32`, and `as` truncates toward zero, so at
/// an odd size glyphs that reach above mid-line (digits, letters) land one pixel lower than the
/// ones below it (the full stop, the comma): at 13 px "0.25" rasterises as "0·25". At an even
/// size `size / 2` is whole and every glyph sits on one baseline.
pub(crate) const TITLE_PX: u32 = 18;
/// Axis descriptions and panel titles.
pub(crate) const AXIS_PX: u32 = 14;
/// Tick labels, legends, annotations.
pub(crate) const TEXT_PX: u32 = 12;
/// Every size a figure uses (the baseline test renders each).
#[cfg(test)]
pub(crate) const TEXT_SIZES: [u32; 3] = [TITLE_PX, AXIS_PX, TEXT_PX];

/// The one chart type every figure draws on: linear in both pixel directions. A logarithmic
/// axis is drawn as a linear one over `log10` of the values (see [`Scale`]), with ticks placed
/// by [`draw_log_ticks`], so every figure shares the same drawing code.
pub(crate) type Chart<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// How values map onto an axis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scale {
    /// Evenly.
    Linear,
    /// By order of magnitude (only positive values; others sit at the bottom of the axis).
    Log,
}

/// An axis: its scale and its value range, mapped to the chart's linear coordinates.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Axis {
    pub scale: Scale,
    /// Lowest value shown (positive on a log axis).
    pub lo: f64,
    /// Highest value shown.
    pub hi: f64,
}

impl Axis {
    /// A linear axis over `lo..hi`.
    pub fn linear(lo: f64, hi: f64) -> Self {
        Self {
            scale: Scale::Linear,
            lo,
            hi,
        }
    }

    /// An axis over values in `lo..=hi` (data extremes) with some room around them; a log axis
    /// starts a little below the smallest positive value and a linear one at zero.
    pub fn fit(scale: Scale, lo: f64, hi: f64) -> Self {
        match scale {
            Scale::Log if lo.is_finite() && lo > 0.0 && hi >= lo => Self {
                scale,
                lo: lo / 1.6,
                hi: hi * 1.6,
            },
            _ => Self::linear(0.0, headroom(hi)),
        }
    }

    /// The chart coordinate of a value.
    pub fn map(&self, v: f64) -> f64 {
        match self.scale {
            Scale::Linear => v,
            Scale::Log => v.max(self.lo).log10(),
        }
    }

    /// The chart coordinate range.
    pub fn range(&self) -> Range<f64> {
        self.map(self.lo)..self.map(self.hi)
    }
}

/// Tick values for a log axis over `lo..hi`: 1, 2, 5 × 10ⁿ, thinned to whole decades when
/// there would be too many.
pub(crate) fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    if !(lo > 0.0 && hi > lo) {
        return Vec::new();
    }
    let ticks = |steps: &[f64]| {
        let mut out = Vec::new();
        let mut decade = 10f64.powf(lo.log10().floor());
        while decade <= hi {
            for s in steps {
                let v = decade * s;
                if v >= lo && v <= hi {
                    out.push(v);
                }
            }
            decade *= 10.0;
        }
        out
    };
    let fine = ticks(&[1.0, 2.0, 5.0]);
    if fine.len() > 10 {
        ticks(&[1.0])
    } else if fine.len() < 3 {
        ticks(&[1.0, 2.0, 3.0, 5.0, 7.0])
    } else {
        fine
    }
}

/// Which side of the plot a log axis is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LogSide {
    /// The y axis, labels left of it.
    Left,
    /// The x axis, labels under it.
    Bottom,
}

/// Grid lines and labels of a log axis (the mesh draws none for it): a light line across the
/// plot, a tick mark and a label outside the axis at every tick. `across` is the other axis's
/// range, which the grid lines span.
pub(crate) fn draw_log_ticks<'a, DB>(
    chart: &mut Chart<'a, DB>,
    root: &DrawingArea<DB, Shift>,
    axis: &Axis,
    across: Range<f64>,
    side: LogSide,
) -> Result<(), DrawError>
where
    DB: DrawingBackend + 'a,
    DB::ErrorType: 'static,
{
    let pos = match side {
        LogSide::Left => Pos::new(HPos::Right, VPos::Center),
        LogSide::Bottom => Pos::new(HPos::Center, VPos::Top),
    };
    let font = (FONT, TEXT_PX).into_font().color(&BLACK).pos(pos);
    for t in log_ticks(axis.lo, axis.hi) {
        let v = axis.map(t);
        let (grid, origin) = match side {
            LogSide::Left => (vec![(across.start, v), (across.end, v)], (across.start, v)),
            LogSide::Bottom => (vec![(v, across.start), (v, across.end)], (v, across.start)),
        };
        chart.draw_series(std::iter::once(PathElement::new(
            grid,
            MAJOR_GRID.stroke_width(1),
        )))?;
        let (px, py) = chart.backend_coord(&origin);
        let (ox, oy) = root.get_base_pixel();
        let (x, y) = (px - ox, py - oy);
        let (mark, label) = match side {
            LogSide::Left => (vec![(x - 5, y), (x, y)], (x - 8, y)),
            LogSide::Bottom => (vec![(x, y), (x, y + 5)], (x, y + 8)),
        };
        root.draw(&PathElement::new(mark, BLACK.stroke_width(1)))?;
        root.draw(&Text::new(fmt_num(t), label, font.clone()))?;
    }
    Ok(())
}

/// A number for a tick or a label: at most three significant digits, no trailing zeros, and a
/// full stop for the decimal point.
pub fn fmt_num(x: f64) -> String {
    if !x.is_finite() {
        return "–".into();
    }
    if x == 0.0 {
        return "0".into();
    }
    let magnitude = x.abs().log10().floor() as i32;
    let decimals = (2 - magnitude).clamp(0, 6) as usize;
    let s = format!("{x:.decimals$}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    };
    if s == "-0" { "0".into() } else { s }
}

/// A chart with the house layout on `area`: a title, 12 px margins, room for tick labels
/// (`y_area` px on the left), linear axes over `x` and `y` (chart coordinates: see [`Axis`]).
pub(crate) fn cartesian<'a, DB>(
    area: &'a DrawingArea<DB, Shift>,
    title: &str,
    y_area: u32,
    x: Range<f64>,
    y: Range<f64>,
) -> Result<Chart<'a, DB>, DrawError>
where
    DB: DrawingBackend,
    DB::ErrorType: 'static,
{
    let mut builder = ChartBuilder::on(area);
    if !title.is_empty() {
        builder.caption(title, (FONT, TITLE_PX));
    }
    Ok(builder
        .margin(12)
        .x_label_area_size(42)
        .y_label_area_size(y_area)
        .build_cartesian_2d(x, y)?)
}

/// The label of the category at tick `x` (categories sit at 0, 1, 2...); empty between them.
pub(crate) fn category_at(labels: &[String], x: f64) -> String {
    if (x - x.round()).abs() < 1e-6 && x.round() >= 0.0 {
        labels.get(x.round() as usize).cloned().unwrap_or_default()
    } else {
        String::new()
    }
}

/// An axis upper bound with some headroom, never zero.
pub(crate) fn headroom(max: f64) -> f64 {
    if max.is_finite() && max > 0.0 {
        max * 1.12
    } else {
        1.0
    }
}

/// The width `text` takes in `size` px of the embedded font (an estimate when the font is not
/// registered yet).
pub(crate) fn text_width(text: &str, size: u32) -> u32 {
    (FONT, size)
        .into_font()
        .box_size(text)
        .map(|(w, _)| w)
        .unwrap_or_else(|_| (text.chars().count() as u32 * size * 6).div_ceil(10))
}

/// Splits `text` at spaces into lines at most `width` px wide (a word wider than that stays on
/// a line of its own).
pub(crate) fn wrap_px(text: &str, size: u32, width: u32) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        match lines.last_mut() {
            Some(l) if text_width(&format!("{l} {word}"), size) <= width => {
                l.push(' ');
                l.push_str(word);
            }
            _ => lines.push(word.to_string()),
        }
    }
    lines
}

/// `text` cut to at most `width` px, with an ellipsis where it was cut.
pub(crate) fn truncate_px(text: &str, size: u32, width: u32) -> String {
    if text_width(text, size) <= width {
        return text.to_string();
    }
    let mut chars: Vec<char> = text.chars().collect();
    while !chars.is_empty() {
        chars.pop();
        let cut: String = chars.iter().collect::<String>() + "…";
        if text_width(&cut, size) <= width {
            return cut;
        }
    }
    "…".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_that_share_a_colour_differ_in_shape() {
        let style = |i| (colour(i), point_shape(i));
        for i in 0..24 {
            for j in (i + 1)..24 {
                if j - i == 16 {
                    continue; // 24 series would need a third shape; 16 apart repeat.
                }
                assert_ne!(style(i), style(j), "series {i} and {j}");
            }
        }
        assert_eq!(point_shape(7), PointShape::Circle);
        assert_eq!(point_shape(8), PointShape::Triangle);
    }

    struct Square;

    impl Figure for Square {
        fn size(&self) -> (u32, u32) {
            (200, 120)
        }

        fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), DrawError>
        where
            DB::ErrorType: 'static,
        {
            let mut chart = ChartBuilder::on(root)
                .caption("square", (FONT, 14))
                .x_label_area_size(20)
                .y_label_area_size(30)
                .build_cartesian_2d(0f64..1f64, 0f64..1f64)?;
            chart.configure_mesh().x_desc("x (s)").draw()?;
            Ok(())
        }
    }

    #[test]
    fn renders_svg_with_text_and_png_with_pixels_of_text() {
        let tmp = tempfile::tempdir().expect("tmp");
        let r = render(&Square, tmp.path(), "square").expect("render");
        let svg = std::fs::read_to_string(&r.svg).expect("svg");
        assert!(svg.contains("square") && svg.contains("x (s)"), "{svg}");
        assert_eq!(&r.png_bytes[1..4], b"PNG");
        assert_eq!(std::fs::read(&r.png).expect("png"), r.png_bytes);
    }
}
