//! Sizes and durations written the way Elasticsearch settings write them.
//!
//! Sizes are binary, as in Elasticsearch: `1kb` is 1024 bytes and `1mb` is 1 MiB; the IEC
//! spellings (`512KiB`, `1MiB`) mean the same. A bare number is refused (Elasticsearch says "unit
//! is missing"), except `0`. Durations take Elasticsearch's units: `nanos`, `micros`, `ms`, `s`,
//! `m` (minutes), `h`, `d`. This module owns parsing and printing only; ranges belong to
//! [`crate::settings`].

use std::{fmt, str::FromStr, time::Duration};

use serde::{Deserialize, Serialize};

/// A value that does not parse as a size or a duration.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UnitError {
    /// Not a size: the offending text is kept so the message can name it.
    #[error(
        "`{0}` is not a size: write a number and a unit, such as 512kb, 1mb, 40mb or 1gb \
         (units b, kb, mb, gb, tb; 1kb = 1024 bytes)"
    )]
    BadSize(String),
    /// Not a duration: the offending text is kept so the message can name it.
    #[error(
        "`{0}` is not a duration: write a number and a unit, such as 500ms, 60s, 5m or 1h \
         (units nanos, micros, ms, s, m, h, d)"
    )]
    BadDuration(String),
}

const KIB: u64 = 1 << 10;
const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;
const TIB: u64 = 1 << 40;
const PIB: u64 = 1 << 50;

/// A number of bytes, parsed from and printed as an Elasticsearch size (`1mb`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteSize(pub u64);

impl ByteSize {
    /// `n` kibibytes.
    pub const fn kib(n: u64) -> Self {
        Self(n * KIB)
    }
    /// `n` mebibytes.
    pub const fn mib(n: u64) -> Self {
        Self(n * MIB)
    }
    /// `n` gibibytes.
    pub const fn gib(n: u64) -> Self {
        Self(n * GIB)
    }
    /// The size in bytes.
    pub const fn bytes(self) -> u64 {
        self.0
    }
    /// The size in MiB, for reports.
    pub fn as_mib_f64(self) -> f64 {
        self.0 as f64 / MIB as f64
    }
}

/// Splits `"40mb"` into `("40", "mb")`, lower-casing the unit.
fn split_number_unit(s: &str) -> (&str, String) {
    let s = s.trim();
    let end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    (&s[..end], s[end..].trim().to_ascii_lowercase())
}

/// `number × scale`, where `number` may have a fraction (`1.5mb`); `None` if it does not fit.
fn scale(number: &str, scale: u64) -> Option<u64> {
    if number.is_empty() {
        return None;
    }
    if number.contains('.') {
        let v: f64 = number.parse().ok()?;
        let scaled = (v * scale as f64).round();
        (scaled.is_finite() && scaled >= 0.0 && scaled <= u64::MAX as f64).then_some(scaled as u64)
    } else {
        number.parse::<u64>().ok()?.checked_mul(scale)
    }
}

impl FromStr for ByteSize {
    type Err = UnitError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || UnitError::BadSize(text.to_string());
        let (number, unit) = split_number_unit(text);
        let factor = match unit.as_str() {
            "" if number == "0" => 1,
            "b" => 1,
            "k" | "kb" | "kib" => KIB,
            "m" | "mb" | "mib" => MIB,
            "g" | "gb" | "gib" => GIB,
            "t" | "tb" | "tib" => TIB,
            "p" | "pb" | "pib" => PIB,
            _ => return Err(bad()),
        };
        scale(number, factor).map(ByteSize).ok_or_else(bad)
    }
}

impl fmt::Display for ByteSize {
    /// The largest unit that divides the size exactly: `1mb`, `1536b`, `0b`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0;
        for (unit, size) in [
            ("pb", PIB),
            ("tb", TIB),
            ("gb", GIB),
            ("mb", MIB),
            ("kb", KIB),
        ] {
            if n != 0 && n.is_multiple_of(size) {
                return write!(f, "{}{unit}", n / size);
            }
        }
        write!(f, "{n}b")
    }
}

impl Serialize for ByteSize {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    /// Accepts `"1mb"` or a plain number of bytes.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Bytes(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Bytes(n) => Ok(ByteSize(n)),
            Raw::Text(t) => t.parse().map_err(serde::de::Error::custom),
        }
    }
}

/// Parses an Elasticsearch duration (`60s`, `500ms`, `5m`).
pub fn parse_duration(text: &str) -> Result<Duration, UnitError> {
    let bad = || UnitError::BadDuration(text.to_string());
    let (number, unit) = split_number_unit(text);
    let nanos_per_unit: u64 = match unit.as_str() {
        "" if number == "0" => 1,
        "nanos" => 1,
        "micros" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        "d" => 86_400_000_000_000,
        _ => return Err(bad()),
    };
    scale(number, nanos_per_unit)
        .map(Duration::from_nanos)
        .ok_or_else(bad)
}

/// Prints a duration in the largest Elasticsearch unit that divides it exactly (`60s`, `1500ms`).
pub fn format_duration(d: Duration) -> String {
    let n = d.as_nanos();
    if n == 0 {
        return "0s".into();
    }
    for (unit, size) in [
        ("d", 86_400_000_000_000u128),
        ("h", 3_600_000_000_000),
        ("m", 60_000_000_000),
        ("s", 1_000_000_000),
        ("ms", 1_000_000),
        ("micros", 1_000),
    ] {
        if n != 0 && n.is_multiple_of(size) {
            return format!("{}{unit}", n / size);
        }
    }
    format!("{n}nanos")
}

/// serde helpers for a `Duration` stored as an Elasticsearch duration string.
pub mod duration_serde {
    use super::{format_duration, parse_duration};
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    /// Writes `60s`.
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_duration(*d))
    }

    /// Reads `60s`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        parse_duration(&text).map_err(serde::de::Error::custom)
    }
}

/// serde helpers for an optional `Duration` stored as an Elasticsearch duration string.
pub mod option_duration_serde {
    use super::{format_duration, parse_optional_duration};
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    /// Writes `60s`, or null.
    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_str(&format_duration(*d)),
            None => s.serialize_none(),
        }
    }

    /// Reads `60s`, or null / `-1` for none.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(None),
            Some(text) => parse_optional_duration(&text).map_err(serde::de::Error::custom),
        }
    }
}

/// Parses a duration where `-1` means "off", as in `transport.ping_schedule: -1`.
pub fn parse_optional_duration(text: &str) -> Result<Option<Duration>, UnitError> {
    if text.trim() == "-1" {
        return Ok(None);
    }
    parse_duration(text).map(Some)
}

/// Bytes per second in MiB/s; zero when no time has passed.
pub fn mib_per_sec(bytes: u64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 {
        bytes as f64 / MIB as f64 / secs
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn size(s: &str) -> u64 {
        s.parse::<ByteSize>().expect(s).bytes()
    }

    #[test]
    fn sizes_are_binary_like_elasticsearch() {
        assert_eq!(size("1mb"), 1 << 20);
        assert_eq!(size("512kb"), 512 << 10);
        assert_eq!(size("40MB"), 40 << 20);
        assert_eq!(size("512KiB"), 512 << 10);
        assert_eq!(size("1gb"), 1 << 30);
        assert_eq!(size("1.5mb"), 3 << 19);
        assert_eq!(size("0"), 0);
        assert_eq!(size("17b"), 17);
        assert_eq!(size(" 2 mb "), 2 << 20);
    }

    #[test]
    fn bad_sizes_are_refused_with_the_text() {
        for bad in [
            "",
            "12",
            "mb",
            "12parsecs",
            "-1mb",
            "1..2mb",
            "99999999999999999999pb",
        ] {
            let err = bad.parse::<ByteSize>().expect_err(bad);
            assert_eq!(err, UnitError::BadSize(bad.to_string()));
        }
    }

    #[test]
    fn sizes_print_in_the_largest_exact_unit_and_round_trip() {
        for (n, text) in [
            (0, "0b"),
            (1 << 20, "1mb"),
            (1536, "1536b"),
            (40 << 20, "40mb"),
        ] {
            assert_eq!(ByteSize(n).to_string(), text);
            assert_eq!(size(text), n);
        }
    }

    #[test]
    fn durations_parse_elasticsearch_units() {
        let d = |s| parse_duration(s).expect(s);
        assert_eq!(d("60s"), Duration::from_secs(60));
        assert_eq!(d("500ms"), Duration::from_millis(500));
        assert_eq!(d("5m"), Duration::from_secs(300));
        assert_eq!(d("1h"), Duration::from_secs(3600));
        assert_eq!(d("1.5s"), Duration::from_millis(1500));
        assert_eq!(d("250micros"), Duration::from_micros(250));
        assert!(parse_duration("60").is_err());
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn durations_print_and_round_trip() {
        for text in ["0s", "1m", "90s", "500ms", "5m", "1h", "1500ms", "7nanos"] {
            assert_eq!(format_duration(parse_duration(text).expect(text)), text);
        }
    }

    #[test]
    fn mib_per_sec_handles_zero_time() {
        assert_eq!(mib_per_sec(1 << 20, Duration::ZERO), 0.0);
        assert_eq!(mib_per_sec(10 << 20, Duration::from_secs(2)), 5.0);
    }
}
