//! Seeds in JSON as strings: a u64 above 2^53 does not survive a reader that holds numbers as
//! doubles (jq before 1.7, JavaScript), and a seed that comes back changed replays another run.
//! Records written before this read back too: a number is accepted.

use serde::{Deserialize, Deserializer, Serializer, de::Error};

/// Writes `seed` as a decimal string.
pub fn serialize<S: Serializer>(seed: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(seed)
}

/// Reads a seed written as a string, or as a number by an older rrbench.
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Seed {
        Text(String),
        Number(u64),
    }
    match Seed::deserialize(d)? {
        Seed::Number(n) => Ok(n),
        Seed::Text(t) => t
            .parse()
            .map_err(|_| D::Error::custom(format!("seed {t:?} is not a whole number below 2^64"))),
    }
}

#[cfg(test)]
mod tests {
    #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    struct Holder {
        #[serde(with = "super")]
        seed: u64,
    }

    #[test]
    fn seeds_round_trip_as_strings_and_old_numbers_still_read() {
        let h = Holder { seed: u64::MAX };
        let text = serde_json::to_string(&h).expect("json");
        assert_eq!(text, r#"{"seed":"18446744073709551615"}"#);
        assert_eq!(serde_json::from_str::<Holder>(&text).expect("back"), h);
        let old: Holder = serde_json::from_str(r#"{"seed":7}"#).expect("a number");
        assert_eq!(old.seed, 7);
        assert!(serde_json::from_str::<Holder>(r#"{"seed":"x"}"#).is_err());
    }
}
