//! Legends drawn beside the plot, never on it: entries flow left to right in a band below the
//! chart and wrap onto as many rows as they need, so no series is ever hidden behind its key.

use plotters::{coord::Shift, prelude::*, style::text_anchor};

use super::{DrawError, FONT, PointShape, TEXT_PX, text_width};

/// How a legend entry is drawn.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Swatch {
    /// A line (`dash`: dashed; `dotted`: short dots).
    Line {
        colour: RGBColor,
        width: u32,
        dash: Dash,
    },
    /// A point shape, with a line through it when `line`.
    Point {
        colour: RGBColor,
        shape: PointShape,
        line: bool,
    },
    /// A short thick horizontal bar (a median on a categorical axis) with a point.
    Median { colour: RGBColor, shape: PointShape },
    /// A cross.
    Cross { colour: RGBColor },
    /// A filled box (`opacity` of `colour`).
    Band { colour: RGBColor, opacity: f64 },
}

/// A line's pattern.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dash {
    Solid,
    Dashed,
    Dotted,
}

/// The pattern of series `i` when colours repeat: solid, then dashed, then dotted.
pub(crate) fn dash_of(i: usize) -> Dash {
    match (i / super::PALETTE.len()) % 3 {
        0 => Dash::Solid,
        1 => Dash::Dashed,
        _ => Dash::Dotted,
    }
}

/// One entry.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Entry {
    pub label: String,
    pub swatch: Swatch,
}

impl Entry {
    pub fn new(label: impl Into<String>, swatch: Swatch) -> Self {
        Self {
            label: label.into(),
            swatch,
        }
    }
}

const PAD: i32 = 14;
const SWATCH_W: i32 = 24;
const GAP: i32 = 22;
const ROW_H: i32 = 20;

/// Where each entry goes in a band `width` px wide: (x, row).
fn layout(entries: &[Entry], width: u32) -> Vec<(i32, i32)> {
    let mut at = Vec::with_capacity(entries.len());
    let (mut x, mut row) = (PAD, 0);
    for e in entries {
        let w = SWATCH_W + 6 + text_width(&e.label, TEXT_PX) as i32;
        if x > PAD && x + w > width as i32 - PAD {
            x = PAD;
            row += 1;
        }
        at.push((x, row));
        x += w + GAP;
    }
    at
}

/// The height of the band `entries` need at `width` px (0 with no entries).
pub(crate) fn height(entries: &[Entry], width: u32) -> u32 {
    match layout(entries, width).last() {
        None => 0,
        Some((_, rows)) => ((rows + 1) * ROW_H + 10) as u32,
    }
}

/// Splits `root` into the chart's area and the legend's band below it, and draws the legend.
pub(crate) fn below<'a, DB>(
    root: &DrawingArea<DB, Shift>,
    entries: &[Entry],
) -> Result<DrawingArea<DB, Shift>, DrawError>
where
    DB: DrawingBackend + 'a,
    DB::ErrorType: 'static,
{
    let (w, h) = root.dim_in_pixel();
    let band = height(entries, w);
    if band == 0 {
        return Ok(root.clone());
    }
    let (chart, legend) = root.split_vertically(h.saturating_sub(band));
    draw(&legend, entries)?;
    Ok(chart)
}

/// A figure of panels under one title: `entries` as a legend band at the bottom of `root`, and
/// `title` centred in the top `head_h` pixels; returns the area above the legend.
pub(crate) fn titled_below<'a, DB>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    head_h: u32,
    entries: &[Entry],
) -> Result<DrawingArea<DB, Shift>, DrawError>
where
    DB: DrawingBackend + 'a,
    DB::ErrorType: 'static,
{
    let area = below(root, entries)?;
    let (w, _) = root.dim_in_pixel();
    area.draw(&Text::new(
        title.to_owned(),
        (w as i32 / 2, head_h as i32 / 2 + 2),
        (FONT, super::TITLE_PX)
            .into_font()
            .color(&BLACK)
            .pos(text_anchor::Pos::new(
                text_anchor::HPos::Center,
                text_anchor::VPos::Center,
            )),
    ))?;
    Ok(area)
}

/// Draws `entries` into `area` (a band as wide as the figure).
pub(crate) fn draw<DB>(area: &DrawingArea<DB, Shift>, entries: &[Entry]) -> Result<(), DrawError>
where
    DB: DrawingBackend,
    DB::ErrorType: 'static,
{
    let (w, _) = area.dim_in_pixel();
    let font = (FONT, TEXT_PX).into_font();
    for (e, (x, row)) in entries.iter().zip(layout(entries, w)) {
        let y = 4 + row * ROW_H + ROW_H / 2;
        swatch(area, e.swatch, x, y)?;
        area.draw(&Text::new(
            e.label.clone(),
            (x + SWATCH_W + 6, y),
            font.clone().color(&BLACK).pos(text_anchor::Pos::new(
                text_anchor::HPos::Left,
                text_anchor::VPos::Center,
            )),
        ))?;
    }
    Ok(())
}

fn swatch<DB>(area: &DrawingArea<DB, Shift>, s: Swatch, x: i32, y: i32) -> Result<(), DrawError>
where
    DB: DrawingBackend,
    DB::ErrorType: 'static,
{
    let mid = x + SWATCH_W / 2;
    match s {
        Swatch::Line {
            colour,
            width,
            dash,
        } => line(area, colour, width, dash, (x, y), (x + SWATCH_W, y))?,
        Swatch::Point {
            colour,
            shape,
            line: through,
        } => {
            if through {
                line(area, colour, 2, Dash::Solid, (x, y), (x + SWATCH_W, y))?;
            }
            point(area, colour, shape, (mid, y))?;
        }
        Swatch::Median { colour, shape } => {
            area.draw(&Rectangle::new(
                [(x + 2, y - 2), (x + SWATCH_W - 2, y + 1)],
                colour.filled(),
            ))?;
            point(area, colour, shape, (mid, y))?;
        }
        Swatch::Cross { colour } => {
            area.draw(&Cross::new((mid, y), 5, colour.stroke_width(2)))?;
        }
        Swatch::Band { colour, opacity } => {
            area.draw(&Rectangle::new(
                [(x, y - 6), (x + SWATCH_W, y + 6)],
                colour.mix(opacity).filled(),
            ))?;
        }
    }
    Ok(())
}

fn point<DB>(
    area: &DrawingArea<DB, Shift>,
    colour: RGBColor,
    shape: PointShape,
    at: (i32, i32),
) -> Result<(), DrawError>
where
    DB: DrawingBackend,
    DB::ErrorType: 'static,
{
    match shape {
        PointShape::Circle => area.draw(&Circle::new(at, 3, colour.stroke_width(1)))?,
        PointShape::Triangle => area.draw(&TriangleMarker::new(at, 4, colour.stroke_width(1)))?,
    }
    Ok(())
}

/// A line from `a` to `b` in pixels, solid, dashed or dotted.
pub(crate) fn line<DB>(
    area: &DrawingArea<DB, Shift>,
    colour: RGBColor,
    width: u32,
    dash: Dash,
    a: (i32, i32),
    b: (i32, i32),
) -> Result<(), DrawError>
where
    DB: DrawingBackend,
    DB::ErrorType: 'static,
{
    let style = colour.stroke_width(width);
    match dash {
        Dash::Solid => area.draw(&PathElement::new(vec![a, b], style))?,
        Dash::Dashed => area.draw(&plotters::element::DashedPathElement::new(
            vec![a, b],
            6,
            4,
            style,
        ))?,
        Dash::Dotted => area.draw(&plotters::element::DashedPathElement::new(
            vec![a, b],
            2,
            3,
            style,
        ))?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(label: &str) -> Entry {
        Entry::new(
            label,
            Swatch::Cross {
                colour: RGBColor(0, 0, 0),
            },
        )
    }

    #[test]
    fn entries_wrap_onto_rows_and_the_band_grows() {
        let few = [entry("a"), entry("b")];
        assert_eq!(layout(&few, 1000).iter().map(|p| p.1).max(), Some(0));
        let many: Vec<Entry> = (0..30).map(|i| entry(&format!("series {i}"))).collect();
        let rows = layout(&many, 600).iter().map(|p| p.1).max().expect("rows");
        assert!(rows >= 3, "{rows}");
        assert!(height(&many, 600) > height(&few, 600));
        assert_eq!(height(&[], 600), 0);
        for (x, _) in layout(&many, 600) {
            assert!((PAD..600).contains(&x));
        }
    }
}
