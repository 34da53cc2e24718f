//! Figures drawn with plotters, each rendered twice from one drawing routine: SVG (text kept as
//! text, so labels are searchable) and PNG (text rasterised from the font compiled into the
//! binary, so a machine with no fonts installed still gets labels).
//!
//! This module owns drawing only; which figures a report or a comparison needs, and the numbers
//! in them, are decided by [`crate::report`] and [`crate::compare`].

mod distribution;
mod font;
mod outcomes;
mod sweep;
mod timeseries;

pub use distribution::{Distribution, DistributionGroup};
pub use outcomes::{OutcomeCell, OutcomeMatrix};
pub use sweep::{Sweep, SweepSeries};
pub use timeseries::{Marker, MarkerKind, Run, Throughput, Window};

use std::{
    ops::Range,
    path::{Path, PathBuf},
};

use plotters::{
    coord::{
        CoordTranslate, Shift, cartesian::Cartesian2d, ranged1d::Ranged, types::RangedCoordf64,
    },
    prelude::{
        BitMapBackend, ChartBuilder, ChartContext, Circle, Color, DrawingArea, DrawingBackend,
        EmptyElement, IntoDrawingArea, LineSeries, PathElement, SVGBackend, SeriesLabelPosition,
        ShapeStyle, TriangleMarker, WHITE,
    },
    style::RGBColor,
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
    if (i / PALETTE.len()) % 2 == 0 {
        PointShape::Circle
    } else {
        PointShape::Triangle
    }
}

/// Draws `points` as `shape`s in `style`.
pub(crate) fn draw_points<'a, DB, X, Y>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<X, Y>>,
    points: &[(f64, f64)],
    shape: PointShape,
    style: ShapeStyle,
) -> Result<(), DrawError>
where
    DB: DrawingBackend + 'a,
    DB::ErrorType: 'static,
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
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

/// A chart with the house layout: a title of `title_size`, 12 px margins, room for tick labels
/// (`y_area` px on the left), linear axes over `x` and `y`.
pub(crate) fn cartesian<'a, DB>(
    root: &'a DrawingArea<DB, Shift>,
    title: &str,
    title_size: u32,
    y_area: u32,
    x: Range<f64>,
    y: Range<f64>,
) -> Result<ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>, DrawError>
where
    DB: DrawingBackend,
    DB::ErrorType: 'static,
{
    Ok(ChartBuilder::on(root)
        .caption(title, (FONT, title_size))
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

/// A legend swatch: a short line in `style`.
pub(crate) fn line_swatch(style: ShapeStyle) -> impl Fn((i32, i32)) -> PathElement<(i32, i32)> {
    move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], style)
}

/// Draws a 2 px line in colour `c` with a legend entry; with `shape`, the entry shows the
/// series' point shape on its swatch, so series that share a colour stay apart.
pub(crate) fn labelled_line<'a, DB, X, Y>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<X, Y>>,
    points: &[(f64, f64)],
    c: RGBColor,
    label: &str,
    shape: Option<PointShape>,
) -> Result<(), DrawError>
where
    DB: DrawingBackend + 'a,
    DB::ErrorType: 'static,
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    let style = c.stroke_width(2);
    let line = chart
        .draw_series(LineSeries::new(points.iter().copied(), style))?
        .label(label);
    let swatch = move |(x, y): (i32, i32)| {
        EmptyElement::at((x, y)) + PathElement::new(vec![(0, 0), (18, 0)], style)
    };
    match shape {
        None => line.legend(line_swatch(style)),
        Some(PointShape::Circle) => {
            line.legend(move |at| swatch(at) + Circle::new((9, 0), 3, c.stroke_width(1)))
        }
        Some(PointShape::Triangle) => {
            line.legend(move |at| swatch(at) + TriangleMarker::new((9, 0), 4, c.stroke_width(1)))
        }
    };
    Ok(())
}

/// Draws the series legend in the upper right, on a translucent white box.
pub(crate) fn draw_legend<'a, DB, CT>(
    chart: &mut ChartContext<'a, DB, CT>,
    font_size: u32,
) -> Result<(), DrawError>
where
    DB: DrawingBackend + 'a,
    DB::ErrorType: 'static,
    CT: CoordTranslate,
{
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .label_font((FONT, font_size))
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(180, 180, 180))
        .draw()?;
    Ok(())
}

/// An axis upper bound with some headroom, never zero.
pub(crate) fn headroom(max: f64) -> f64 {
    if max.is_finite() && max > 0.0 {
        max * 1.12
    } else {
        1.0
    }
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
