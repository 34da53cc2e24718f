//! `--format`: the units `rrbench recover` writes rates and sizes in, as iperf3's `-f` does
//! (k, m, g: bits per second, decimal; K, M, G: bytes per second, binary), and iperf3's
//! three-significant-digit numbers. Formatting only; nothing here measures.

use std::str::FromStr;

/// A letter of `--format`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Units {
    /// `k`: Kbits/s (1000 bits); sizes in KiB.
    Kbits,
    /// `m`: Mbits/s (10^6 bits); sizes in MiB.
    Mbits,
    /// `g`: Gbits/s (10^9 bits); sizes in GiB.
    Gbits,
    /// `K`: KiB/s; sizes in KiB.
    Kib,
    /// `M`: MiB/s; sizes in MiB (what rrbench always printed).
    #[default]
    Mib,
    /// `G`: GiB/s; sizes in GiB.
    Gib,
}

/// A `--format` that is none of the six letters.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "`{0}` is not a format: k, m or g for Kbits/s, Mbits/s, Gbits/s; K, M or G for KiB/s, \
     MiB/s, GiB/s (as iperf3's -f)"
)]
pub struct BadFormat(pub String);

impl FromStr for Units {
    type Err = BadFormat;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(match text.trim() {
            "k" => Self::Kbits,
            "m" => Self::Mbits,
            "g" => Self::Gbits,
            "K" => Self::Kib,
            "M" => Self::Mib,
            "G" => Self::Gib,
            _ => return Err(BadFormat(text.to_string())),
        })
    }
}

const KIB: f64 = 1024.0;
const MIB: f64 = 1024.0 * 1024.0;
const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

impl Units {
    /// The letter, as given to `--format`.
    pub fn letter(self) -> &'static str {
        match self {
            Self::Kbits => "k",
            Self::Mbits => "m",
            Self::Gbits => "g",
            Self::Kib => "K",
            Self::Mib => "M",
            Self::Gib => "G",
        }
    }

    /// A rate given in bytes per second: `944 Mbits/s`, `39.9 MiB/s`.
    pub fn rate(self, bytes_per_s: f64) -> String {
        let (per_unit, name) = match self {
            Self::Kbits => (1e3 / 8.0, "Kbits/s"),
            Self::Mbits => (1e6 / 8.0, "Mbits/s"),
            Self::Gbits => (1e9 / 8.0, "Gbits/s"),
            Self::Kib => (KIB, "KiB/s"),
            Self::Mib => (MIB, "MiB/s"),
            Self::Gib => (GIB, "GiB/s"),
        };
        format!("{} {name}", significant(bytes_per_s / per_unit))
    }

    /// A size in bytes, in the binary unit of the letter (iperf3 too writes transfers in bytes
    /// when it writes rates in bits): `1.10 GiB`, `256 MiB`.
    pub fn size(self, bytes: u64) -> String {
        let (per_unit, name) = match self {
            Self::Kbits | Self::Kib => (KIB, "KiB"),
            Self::Mbits | Self::Mib => (MIB, "MiB"),
            Self::Gbits | Self::Gib => (GIB, "GiB"),
        };
        format!("{} {name}", significant(bytes as f64 / per_unit))
    }
}

/// Three significant digits as iperf3 writes them: `9.99`, `99.9`, `999` (and `1234`).
pub fn significant(x: f64) -> String {
    if !x.is_finite() {
        return "-".into();
    }
    let a = x.abs();
    if a < 9.995 {
        format!("{x:.2}")
    } else if a < 99.95 {
        format!("{x:.1}")
    } else {
        format!("{x:.0}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters_pick_bits_or_bytes() {
        let ten_mib = 10.0 * MIB;
        let cases = [
            ("k", "83886 Kbits/s", "10240 KiB"),
            ("m", "83.9 Mbits/s", "10.0 MiB"),
            ("g", "0.08 Gbits/s", "0.01 GiB"),
            ("K", "10240 KiB/s", "10240 KiB"),
            ("M", "10.0 MiB/s", "10.0 MiB"),
            ("G", "0.01 GiB/s", "0.01 GiB"),
        ];
        for (letter, rate, size) in cases {
            let units: Units = letter.parse().expect(letter);
            assert_eq!(units.letter(), letter);
            assert_eq!(units.rate(ten_mib), rate, "{letter}");
            assert_eq!(units.size(10 << 20), size, "{letter}");
        }
        assert_eq!(Units::default(), Units::Mib);
    }

    #[test]
    fn anything_else_is_refused_naming_the_letters() {
        let e = "x".parse::<Units>().expect_err("not a letter");
        assert!(e.to_string().contains("`x`") && e.to_string().contains("Mbits/s"));
        assert!("mb".parse::<Units>().is_err());
    }

    #[test]
    fn three_significant_digits() {
        assert_eq!(significant(9.994), "9.99");
        assert_eq!(significant(9.996), "10.0");
        assert_eq!(significant(99.94), "99.9");
        assert_eq!(significant(944.4), "944");
        assert_eq!(significant(f64::NAN), "-");
    }
}
