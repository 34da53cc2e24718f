//! The font compiled into the binary (a Latin-1 subset of DejaVu Sans, 22 KB; see
//! `assets/fonts/README.md`), registered with plotters once per process so bitmaps get text
//! without any system font.

use std::sync::OnceLock;

use plotters::style::FontStyle;

use super::{FONT, PlotError};

static DEJAVU_SANS: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans-subset.ttf");

/// Registers the embedded font under [`FONT`] for every style plotters asks for.
pub fn register() -> Result<(), PlotError> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = REGISTERED.get_or_init(|| {
        [
            FontStyle::Normal,
            FontStyle::Bold,
            FontStyle::Italic,
            FontStyle::Oblique,
        ]
        .into_iter()
        .all(|style| plotters::style::register_font(FONT, style, DEJAVU_SANS).is_ok())
    });
    if *ok { Ok(()) } else { Err(PlotError::Font) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use plotters::prelude::*;

    #[test]
    fn text_reaches_the_bitmap_without_system_fonts() {
        register().expect("font");
        let (w, h) = (160u32, 40u32);
        let mut rgb = vec![0u8; (w * h * 3) as usize];
        {
            let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
            root.fill(&WHITE).expect("fill");
            root.draw(&Text::new("MiB/s µ ≥ 5", (4, 8), (FONT, 20).into_font()))
                .expect("text");
            root.present().expect("present");
        }
        let inked = rgb.chunks(3).filter(|px| px[0] < 128).count();
        assert!(inked > 100, "only {inked} dark pixels: text did not render");
    }

    /// The lowest row with ink of `text` drawn at (4, 4) in `size` px.
    fn bottom_row(text: &str, size: u32) -> usize {
        register().expect("font");
        let (w, h) = (60u32, 60u32);
        let mut rgb = vec![0u8; (w * h * 3) as usize];
        {
            let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
            root.fill(&WHITE).expect("fill");
            root.draw(&Text::new(text, (4, 4), (FONT, size).into_font()))
                .expect("text");
            root.present().expect("present");
        }
        rgb.chunks(3)
            .enumerate()
            .filter(|(_, px)| px[0] < 140)
            .map(|(i, _)| i / w as usize)
            .max()
            .expect("some ink")
    }

    #[test]
    fn a_full_stop_sits_on_the_baseline_of_the_digits() {
        for size in super::super::TEXT_SIZES {
            assert_eq!(
                bottom_row(".", size),
                bottom_row("1", size),
                "at {size} px the full stop floats above the digits (\"0·5\")"
            );
        }
        // At 13 px (the old tick size) they part by a pixel: row 9 against row 10.
    }
}
