//! Sizing windows from the round trip to the broker.
//!
//! A pipeline with `n` requests in flight moves at most `n` per round trip,
//! so a window that keeps a loopback broker busy is `rtt / LOOPBACK` times
//! too small for one 20 ms away. Each backend times one cheap call made
//! anyway at the start (after the connection is up, so handshakes do not
//! count), and scales its windows, pipelines and concurrent calls by that
//! factor within its own memory bound. The factor never falls below 1, so a
//! near broker gets the windows tuned on loopback.

use std::future::Future;
use std::time::{Duration, Instant};

/// The round trip the loopback-tuned windows were sized for: one call to a
/// local broker, with its own service time.
const LOOPBACK: Duration = Duration::from_millis(1);

/// The measured round trip of one call.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RoundTrip(pub Duration);

impl Default for RoundTrip {
    fn default() -> Self {
        RoundTrip(LOOPBACK)
    }
}

impl RoundTrip {
    /// Runs `call` and times it.
    pub async fn time<T>(call: impl Future<Output = T>) -> (T, RoundTrip) {
        let t0 = Instant::now();
        let out = call.await;
        (out, RoundTrip(t0.elapsed()))
    }

    /// Times a blocking call.
    pub fn time_blocking<T>(call: impl FnOnce() -> T) -> (T, RoundTrip) {
        let t0 = Instant::now();
        let out = call();
        (out, RoundTrip(t0.elapsed()))
    }

    /// How many loopback round trips this one is worth, at least 1.
    pub fn factor(&self) -> f64 {
        (self.0.as_secs_f64() / LOOPBACK.as_secs_f64()).max(1.0)
    }

    /// A window of `base` (right on loopback) scaled to this round trip,
    /// at most `max` (the caller's memory bound), at least `base.min(max)`.
    pub fn scale(&self, base: usize, max: usize) -> usize {
        let scaled = (base as f64 * self.factor()).ceil();
        (scaled.min(max as f64) as usize).max(base.min(max)).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_keeps_the_base_far_scales_within_the_bound() {
        let near = RoundTrip(Duration::from_micros(300));
        assert_eq!(near.scale(8, 64), 8);
        let far = RoundTrip(Duration::from_millis(20));
        assert_eq!(far.scale(8, 1000), 160);
        assert_eq!(far.scale(8, 64), 64);
        assert_eq!(far.scale(100, 50), 50);
        assert_eq!(RoundTrip(Duration::ZERO).scale(0, 10), 1);
    }
}
