//! The terms of a campaign trial's model, as its record keeps them (computed by
//! [`crate::campaign::model`]).

use serde::{Deserialize, Serialize};

/// Where the model's time goes, in seconds.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelTerms {
    /// The reference: the same cell without the added delay (service, fsyncs, ramp).
    pub reference_s: f64,
    /// Two round trips to greet and open the session.
    pub setup_s: f64,
    /// One round trip per window of chunk requests.
    pub round_trips_s: f64,
}

impl ModelTerms {
    /// The model's duration.
    pub fn total(&self) -> f64 {
        self.reference_s + self.setup_s + self.round_trips_s
    }

    /// The largest term's name.
    pub fn largest(&self) -> &'static str {
        let terms = [
            ("round trips", self.round_trips_s),
            (
                "reference (the machine: service, fsync, ramp)",
                self.reference_s,
            ),
            ("set-up round trips", self.setup_s),
        ];
        terms
            .iter()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map_or("round trips", |t| t.0)
    }
}
