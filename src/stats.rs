//! Statistics over a handful of samples: medians and quantiles, a percentile bootstrap
//! confidence interval of the difference of medians, and the Mann–Whitney U test. Pure: no I/O,
//! seeded. [`crate::compare`] judges changes with them, [`crate::report`] takes medians and
//! [`crate::plot`] draws quartiles; it depends on none of them.
//!
//! Campaigns run few repetitions (3–10), so the U test's p-value is computed exactly (by
//! counting rank sums over every split of the pooled sample, ties kept as mid-ranks) whenever
//! the pooled sample is small enough, and from the normal approximation with a tie correction
//! otherwise.

use rand_chacha::{
    ChaCha8Rng,
    rand_core::{Rng, SeedableRng},
};

/// Above this pooled size the p-value comes from the normal approximation.
const EXACT_LIMIT: usize = 60;

/// The median (mean of the two middle values for an even count); `None` when empty.
pub fn median(xs: &[f64]) -> Option<f64> {
    quantile(xs, 0.5)
}

/// The `q` quantile by linear interpolation between order statistics; `None` when empty.
pub fn quantile(xs: &[f64], q: f64) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    let mut sorted = xs.to_vec();
    sorted.sort_by(f64::total_cmp);
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    Some(sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64))
}

/// Jain's fairness index of `xs` (per-follower throughputs): `(Σx)² / (n · Σx²)`, from `1/n`
/// (one gets everything) to 1 (all equal). `None` when empty, when every value is zero (nothing
/// was shared, so fairness is undefined) or when a value is negative or not finite.
pub fn jain_index(xs: &[f64]) -> Option<f64> {
    if xs.is_empty() || xs.iter().any(|x| !x.is_finite() || *x < 0.0) {
        return None;
    }
    let sum: f64 = xs.iter().sum();
    let squares: f64 = xs.iter().map(|x| x * x).sum();
    (squares > 0.0).then(|| (sum * sum / (xs.len() as f64 * squares)).min(1.0))
}

/// A confidence interval.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Interval {
    /// Lower bound.
    pub low: f64,
    /// Upper bound.
    pub high: f64,
}

impl Interval {
    /// Whether `x` lies inside (bounds included).
    pub fn contains(&self, x: f64) -> bool {
        self.low <= x && x <= self.high
    }
}

/// Percentile bootstrap interval at `level` (0.95) of `median(contender) − median(baseline)`,
/// resampling each side with replacement `resamples` times from a ChaCha8 stream seeded with
/// `seed`. `None` when either side is empty.
pub fn bootstrap_median_diff(
    baseline: &[f64],
    contender: &[f64],
    resamples: usize,
    level: f64,
    seed: u64,
) -> Option<Interval> {
    if baseline.is_empty() || contender.is_empty() || resamples == 0 {
        return None;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut scratch_a = vec![0.0; baseline.len()];
    let mut scratch_b = vec![0.0; contender.len()];
    let mut diffs = Vec::with_capacity(resamples);
    for _ in 0..resamples {
        resample(&mut rng, baseline, &mut scratch_a);
        resample(&mut rng, contender, &mut scratch_b);
        diffs.push(sorted_median(&mut scratch_b) - sorted_median(&mut scratch_a));
    }
    let tail = (1.0 - level) / 2.0;
    Some(Interval {
        low: quantile(&diffs, tail)?,
        high: quantile(&diffs, 1.0 - tail)?,
    })
}

fn resample(rng: &mut ChaCha8Rng, from: &[f64], into: &mut [f64]) {
    let n = from.len() as u64;
    for slot in into.iter_mut() {
        // Rejection-free modulo: the bias for n of a few dozen is below 1e-17.
        *slot = from[(rng.next_u64() % n) as usize];
    }
}

fn sorted_median(xs: &mut [f64]) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    }
}

/// The result of a two-sided Mann–Whitney U test.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MannWhitney {
    /// U of the first sample (the number of pairs where it is larger, ties counting half).
    pub u: f64,
    /// Two-sided p-value.
    pub p: f64,
    /// Whether `p` is exact (counted) rather than from the normal approximation.
    pub exact: bool,
}

/// Two-sided Mann–Whitney U test of `a` against `b`; `None` when either is empty.
pub fn mann_whitney(a: &[f64], b: &[f64]) -> Option<MannWhitney> {
    if a.is_empty() || b.is_empty() {
        return None;
    }
    let (n1, n2) = (a.len(), b.len());
    let ranks2 = doubled_midranks(a, b);
    let r1_doubled: u64 = ranks2[..n1].iter().sum();
    // U1 = R1 − n1(n1+1)/2; in doubled units to stay in integers.
    let u1_doubled = r1_doubled as i64 - (n1 * (n1 + 1)) as i64;
    let u = u1_doubled as f64 / 2.0;
    let mean = (n1 * n2) as f64 / 2.0;
    let p = if n1 + n2 <= EXACT_LIMIT {
        exact_p(&ranks2, n1, r1_doubled)
    } else {
        normal_p(&ranks2, n1, n2, u, mean)
    };
    Some(MannWhitney {
        u,
        p: p.min(1.0),
        exact: n1 + n2 <= EXACT_LIMIT,
    })
}

/// Mid-ranks (1-based) of the pooled sample, doubled so ties stay integers: `a`'s first, then
/// `b`'s.
fn doubled_midranks(a: &[f64], b: &[f64]) -> Vec<u64> {
    let pooled: Vec<f64> = a.iter().chain(b).copied().collect();
    let mut order: Vec<usize> = (0..pooled.len()).collect();
    order.sort_by(|&i, &j| pooled[i].total_cmp(&pooled[j]));
    let mut ranks = vec![0u64; pooled.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start;
        while end + 1 < order.len() && pooled[order[end + 1]] == pooled[order[start]] {
            end += 1;
        }
        // Ranks start+1 ..= end+1 share their mean; doubled: (start+1 + end+1).
        let doubled = (start + end + 2) as u64;
        for &i in &order[start..=end] {
            ranks[i] = doubled;
        }
        start = end + 1;
    }
    ranks
}

/// P(|R1 − E R1| ≥ |observed − E R1|) over every way to pick `n1` of the pooled ranks, counted by
/// dynamic programming over (items picked, doubled rank sum).
fn exact_p(ranks2: &[u64], n1: usize, observed: u64) -> f64 {
    let max_sum: usize = ranks2.iter().sum::<u64>() as usize;
    // ways[k][s]: subsets of size k with doubled rank sum s.
    let mut ways = vec![vec![0f64; max_sum + 1]; n1 + 1];
    ways[0][0] = 1.0;
    for &r in ranks2 {
        let r = r as usize;
        for k in (1..=n1).rev() {
            let (lower, upper) = ways.split_at_mut(k);
            let prev = &lower[k - 1];
            let row = &mut upper[0];
            for s in (r..=max_sum).rev() {
                row[s] += prev[s - r];
            }
        }
    }
    let total: f64 = ways[n1].iter().sum();
    let n = ranks2.len() as f64;
    let expected = n1 as f64 * (n + 1.0); // doubled mean rank sum
    let distance = (observed as f64 - expected).abs();
    let extreme: f64 = ways[n1]
        .iter()
        .enumerate()
        .filter(|(s, _)| (*s as f64 - expected).abs() >= distance - 1e-9)
        .map(|(_, w)| w)
        .sum();
    extreme / total
}

/// Normal approximation with the tie-corrected variance and a continuity correction.
fn normal_p(ranks2: &[u64], n1: usize, n2: usize, u: f64, mean: f64) -> f64 {
    let n = (n1 + n2) as f64;
    let mut sorted = ranks2.to_vec();
    sorted.sort_unstable();
    let ties: f64 = sorted
        .chunk_by(|x, y| x == y)
        .map(|g| {
            let t = g.len() as f64;
            t * t * t - t
        })
        .sum();
    let variance = (n1 * n2) as f64 / 12.0 * ((n + 1.0) - ties / (n * (n - 1.0)));
    if variance <= 0.0 {
        return 1.0;
    }
    let z = ((u - mean).abs() - 0.5).max(0.0) / variance.sqrt();
    2.0 * upper_normal_tail(z)
}

/// P(Z > z) for a standard normal, from the complementary error function (Numerical Recipes'
/// Chebyshev fit, relative error below 1.2e-7).
fn upper_normal_tail(z: f64) -> f64 {
    let x = z / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.5 * x.abs());
    let poly = -x * x - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let erfc = t * poly.exp();
    let erfc = if x >= 0.0 { erfc } else { 2.0 - erfc };
    erfc / 2.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_quantiles() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
        assert_eq!(quantile(&[0.0, 10.0], 0.25), Some(2.5));
    }

    #[test]
    fn jain_index_spans_one_over_n_to_one() {
        assert_eq!(jain_index(&[7.5; 32]), Some(1.0), "equal shares");
        let mut one = vec![0.0; 8];
        one[3] = 40.0;
        assert!((jain_index(&one).expect("one") - 1.0 / 8.0).abs() < 1e-12);
        assert_eq!(jain_index(&[]), None);
        assert_eq!(jain_index(&[0.0, 0.0]), None, "nothing shared");
        assert_eq!(jain_index(&[1.0, f64::NAN]), None);
        // Two at 1 and two at 3: 64 / (4 · 20) = 0.8.
        assert!((jain_index(&[1.0, 1.0, 3.0, 3.0]).expect("mixed") - 0.8).abs() < 1e-12);
    }

    #[test]
    fn exact_p_matches_tables() {
        // 3 vs 3, completely separated: 2 of the 20 splits are as extreme → p = 0.1.
        let r = mann_whitney(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]).expect("test");
        assert!(r.exact);
        assert_eq!(r.u, 0.0);
        assert!((r.p - 0.1).abs() < 1e-12, "{}", r.p);
        // 5 vs 5 separated: 2 / C(10,5) = 2/252.
        let r = mann_whitney(&[1.0, 2.0, 3.0, 4.0, 5.0], &[6.0, 7.0, 8.0, 9.0, 10.0]).expect("t");
        assert!((r.p - 2.0 / 252.0).abs() < 1e-12, "{}", r.p);
        // Identical samples: nothing is more extreme than no difference.
        let same = [5.0, 5.0, 6.0, 7.0];
        let r = mann_whitney(&same, &same).expect("test");
        assert!((r.p - 1.0).abs() < 1e-12, "{}", r.p);
    }

    #[test]
    fn normal_approximation_agrees_with_exact_counting_near_the_limit() {
        let a: Vec<f64> = (0..30).map(|i| i as f64).collect();
        let b: Vec<f64> = (0..30).map(|i| i as f64 + 6.5).collect();
        let exact = mann_whitney(&a, &b).expect("test");
        assert!(exact.exact);
        let ranks = doubled_midranks(&a, &b);
        let approx = normal_p(&ranks, 30, 30, exact.u, 450.0);
        assert!(
            (exact.p - approx).abs() < 0.01,
            "exact {} vs normal {approx}",
            exact.p
        );
        let big_a: Vec<f64> = (0..40).map(|i| i as f64).collect();
        let big_b: Vec<f64> = (0..40).map(|i| i as f64 + 20.0).collect();
        let r = mann_whitney(&big_a, &big_b).expect("test");
        assert!(!r.exact && r.p < 1e-4, "{r:?}");
    }

    #[test]
    fn normal_tail_is_right() {
        assert!((upper_normal_tail(0.0) - 0.5).abs() < 1e-7);
        assert!((upper_normal_tail(1.959_964) - 0.025).abs() < 1e-6);
    }

    #[test]
    fn bootstrap_interval_brackets_a_known_shift_and_is_seeded() {
        let base: Vec<f64> = (0..10).map(|i| 100.0 + i as f64).collect();
        let cont: Vec<f64> = base.iter().map(|x| x - 20.0).collect();
        let ci = bootstrap_median_diff(&base, &cont, 2000, 0.95, 7).expect("test");
        assert!(ci.contains(-20.0) && !ci.contains(0.0), "{ci:?}");
        assert_eq!(
            Some(ci),
            bootstrap_median_diff(&base, &cont, 2000, 0.95, 7),
            "same seed, same interval"
        );
        let same = bootstrap_median_diff(&base, &base, 2000, 0.95, 7).expect("test");
        assert!(same.contains(0.0), "{same:?}");
    }
}
