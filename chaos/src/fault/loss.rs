//! `loss` (datagrams only): drop datagrams, independently (Bernoulli, `probability`) or in bursts
//! (Gilbert–Elliott: a good and a bad state; `p` is the chance per datagram of going bad, `r` of
//! recovering; a datagram is lost with `bad_loss` in the bad state and `good_loss` in the good).

use serde::Serialize;

use super::verdict::{Behaviour, Context, Verdict};
use crate::rng::SeededRng;

/// Parameters of a loss fault.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(tag = "model", rename_all = "snake_case")]
pub enum Loss {
    /// Each datagram is lost with `probability`.
    Bernoulli {
        /// Loss probability.
        probability: f64,
    },
    /// Two-state bursty loss.
    GilbertElliott {
        /// Good → bad, per datagram.
        p: f64,
        /// Bad → good, per datagram.
        r: f64,
        /// Loss probability in the bad state.
        bad_loss: f64,
        /// Loss probability in the good state.
        good_loss: f64,
    },
}

impl Loss {
    /// The long-run loss rate.
    pub fn mean_loss(&self) -> f64 {
        match *self {
            Loss::Bernoulli { probability } => probability,
            Loss::GilbertElliott {
                p,
                r,
                bad_loss,
                good_loss,
            } => {
                if p + r == 0.0 {
                    return good_loss;
                }
                let bad = p / (p + r);
                bad * bad_loss + (1.0 - bad) * good_loss
            }
        }
    }
}

impl Behaviour for Loss {
    fn on_datagram(&self, _datagram: &mut [u8], cx: &mut Context<'_>) -> Verdict {
        if cx.state.loss.drop_next(self, cx.rng) {
            Verdict::Drop
        } else {
            Verdict::Pass
        }
    }
}

/// The state of one direction's loss process.
#[derive(Debug, Default)]
pub struct LossState {
    bad: bool,
}

impl LossState {
    /// Whether the next datagram is lost.
    pub fn drop_next(&mut self, loss: &Loss, rng: &mut SeededRng) -> bool {
        match *loss {
            Loss::Bernoulli { probability } => rng.chance(probability),
            Loss::GilbertElliott {
                p,
                r,
                bad_loss,
                good_loss,
            } => {
                self.bad = if self.bad {
                    !rng.chance(r)
                } else {
                    rng.chance(p)
                };
                rng.chance(if self.bad { bad_loss } else { good_loss })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(loss: Loss, n: usize) -> (f64, usize) {
        let mut rng = SeededRng::new(7, 1);
        let mut state = LossState::default();
        let drops: Vec<bool> = (0..n).map(|_| state.drop_next(&loss, &mut rng)).collect();
        let rate = drops.iter().filter(|d| **d).count() as f64 / n as f64;
        let longest = drops.split(|d| !*d).map(<[bool]>::len).max().unwrap_or(0);
        (rate, longest)
    }

    #[test]
    fn bernoulli_and_bursts_have_their_mean_and_bursts_are_longer() {
        let b = Loss::Bernoulli { probability: 0.05 };
        let (rate, b_burst) = run(b, 200_000);
        assert!((rate - 0.05).abs() < 0.005, "{rate}");
        let ge = Loss::GilbertElliott {
            p: 0.01,
            r: 0.2,
            bad_loss: 1.0,
            good_loss: 0.0,
        };
        let (rate, ge_burst) = run(ge, 200_000);
        assert!(
            (rate - ge.mean_loss()).abs() < 0.01,
            "{rate} vs {}",
            ge.mean_loss()
        );
        assert!(ge_burst > b_burst, "bursts {ge_burst} vs {b_burst}");
    }
}
