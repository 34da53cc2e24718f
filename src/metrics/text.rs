//! The one place metrics are written: counters and gauges, plain or in labelled families, onto
//! `prometheus-client`'s Prometheus-text (0.0.4) encoder, which writes the `# HELP` and
//! `# TYPE` lines and escapes help text and label values. What the metrics are is the
//! components' files' business.
//!
//! Names are given as they appear on the wire, `_total` included for a counter (so the
//! source can be searched for them); the encoder adds `_total` itself, so it is taken off here.

use prometheus_client::{
    encoding::{DescriptorEncoder, EncodeMetric},
    metrics::{counter::ConstCounter, gauge::ConstGauge},
};

/// A label set: (name, value) pairs, written in order.
pub(crate) type Labels = Vec<(&'static str, String)>;

/// Writes metrics for one scrape.
pub(crate) struct Writer<'a> {
    encoder: DescriptorEncoder<'a>,
}

/// The name the encoder is given for counter `name` (`x_total` → `x`; it appends `_total`).
fn counter_stem(name: &str) -> &str {
    debug_assert!(
        name.ends_with("_total"),
        "counter {name} must end in _total"
    );
    name.strip_suffix("_total").unwrap_or(name)
}

impl<'a> Writer<'a> {
    pub(crate) fn new(encoder: DescriptorEncoder<'a>) -> Self {
        Self { encoder }
    }

    /// A counter of whole things (bytes, requests).
    pub(crate) fn counter(&mut self, name: &str, help: &str, value: u64) -> std::fmt::Result {
        let metric = ConstCounter::new(value);
        let encoder =
            self.encoder
                .encode_descriptor(counter_stem(name), help, None, metric.metric_type())?;
        metric.encode(encoder)
    }

    /// A counter of seconds.
    pub(crate) fn counter_seconds(
        &mut self,
        name: &str,
        help: &str,
        value: f64,
    ) -> std::fmt::Result {
        let metric = ConstCounter::new(value);
        let encoder =
            self.encoder
                .encode_descriptor(counter_stem(name), help, None, metric.metric_type())?;
        metric.encode(encoder)
    }

    /// A gauge.
    pub(crate) fn gauge(&mut self, name: &str, help: &str, value: u64) -> std::fmt::Result {
        let metric = ConstGauge::new(value);
        let encoder = self
            .encoder
            .encode_descriptor(name, help, None, metric.metric_type())?;
        metric.encode(encoder)
    }

    /// A counter with one sample per label set (none written when `samples` is empty, as
    /// Prometheus clients do for a family not yet seen).
    pub(crate) fn counter_family(
        &mut self,
        name: &str,
        help: &str,
        samples: &[(Labels, u64)],
    ) -> std::fmt::Result {
        let mut family = self.encoder.encode_descriptor(
            counter_stem(name),
            help,
            None,
            ConstCounter::new(0u64).metric_type(),
        )?;
        for (labels, value) in samples {
            ConstCounter::new(*value).encode(family.encode_family(labels)?)?;
        }
        Ok(())
    }

    /// A gauge with one sample per label set.
    pub(crate) fn gauge_family(
        &mut self,
        name: &str,
        help: &str,
        samples: &[(Labels, u64)],
    ) -> std::fmt::Result {
        let mut family = self.encoder.encode_descriptor(
            name,
            help,
            None,
            ConstGauge::new(0u64).metric_type(),
        )?;
        for (labels, value) in samples {
            ConstGauge::new(*value).encode(family.encode_family(labels)?)?;
        }
        Ok(())
    }
}
