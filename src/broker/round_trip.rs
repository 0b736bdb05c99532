//! Sizing windows from the round trip to the broker.
//!
//! A pipeline with `n` requests in flight moves at most `n` per round trip,
//! so a window that keeps a loopback broker busy is `rtt / LOOPBACK` times
//! too small for one 20 ms away. Each backend times a cheap call at the
//! start (after the connection is up, so handshakes do not count), and
//! scales its windows, pipelines and concurrent calls by that factor within
//! its own memory bound. The factor never falls below 1, so a near broker
//! gets the windows tuned on loopback.
//!
//! A call can also be slow because the server is: an emulator that serves
//! one call at a time (moto, LocalStack) takes tens of milliseconds each, and
//! more calls in flight there only wait longer, until they time out.
//! [`RoundTrip::probe`] tells the two apart by timing a few calls at once as
//! well: only the part concurrency hides widens a window, and a server that
//! spends over `SLOW` on each call, one at a time, gets narrower windows.

use std::future::Future;
use std::time::Duration;

use futures::future::join_all;
use tokio::time::Instant;

/// The round trip the loopback-tuned windows were sized for: one call to a
/// local broker, with its own service time.
const LOOPBACK: Duration = Duration::from_millis(1);

/// A server's own time per call, one call at a time, beyond which the
/// loopback windows only queue calls on it.
const SLOW: Duration = Duration::from_millis(5);

/// How many calls [`RoundTrip::probe`] makes at once.
const PROBE_CALLS: u32 = 4;

/// The round trip of a call: the time it spends on the way (`far`), which
/// calls in flight side by side hide, and the time the server spends on it
/// while others wait (`queued`), which they do not.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RoundTrip {
    pub far: Duration,
    pub queued: Duration,
}

impl Default for RoundTrip {
    fn default() -> Self {
        RoundTrip::of(LOOPBACK)
    }
}

impl RoundTrip {
    /// A round trip spent on the way alone.
    pub fn of(far: Duration) -> RoundTrip {
        RoundTrip {
            far,
            queued: Duration::ZERO,
        }
    }

    /// Runs `call` and times it.
    pub async fn time<T>(call: impl Future<Output = T>) -> (T, RoundTrip) {
        let t0 = Instant::now();
        let out = call.await;
        (out, RoundTrip::of(t0.elapsed()))
    }

    /// Times a call alone and `PROBE_CALLS` at once, each the fastest of two
    /// tries (the first batch also opens the connections the second one
    /// uses). With far + queued = alone and far + n·queued = together,
    /// queued = (together − alone) / (n − 1): a server that serves calls
    /// side by side shows none, one that serves them in turn shows its whole
    /// service time.
    pub async fn probe<F, Fut, T>(mut call: F) -> RoundTrip
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = T>,
    {
        let mut alone = Duration::MAX;
        let mut together = Duration::MAX;
        for _ in 0..2 {
            alone = alone.min(RoundTrip::time(call()).await.1.far);
            let batch: Vec<Fut> = (0..PROBE_CALLS).map(|_| call()).collect();
            together = together.min(RoundTrip::time(join_all(batch)).await.1.far);
        }
        RoundTrip::split(alone, together)
    }

    fn split(alone: Duration, together: Duration) -> RoundTrip {
        let queued = together.saturating_sub(alone) / (PROBE_CALLS - 1);
        RoundTrip {
            far: alone.saturating_sub(queued),
            queued,
        }
    }

    /// How many loopback windows this round trip needs: more as it is
    /// farther, fewer as the server queues longer; at least 1 when it does
    /// not queue.
    pub fn factor(&self) -> f64 {
        let far = (self.far.as_secs_f64() / LOOPBACK.as_secs_f64()).max(1.0);
        far / (self.queued.as_secs_f64() / SLOW.as_secs_f64()).max(1.0)
    }

    /// A window of `base` (right on loopback) scaled to this round trip,
    /// at most `max` (the caller's memory bound), at least `base.min(max)`
    /// unless the server is slow, and at least 1.
    pub fn scale(&self, base: usize, max: usize) -> usize {
        let floor = if self.queued > SLOW { 1 } else { base.min(max) };
        let scaled = (base as f64 * self.factor()).ceil();
        (scaled.min(max as f64) as usize).max(floor).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn near_keeps_the_base_far_scales_within_the_bound() {
        let near = RoundTrip::of(Duration::from_micros(300));
        assert_eq!(near.scale(8, 64), 8);
        let far = RoundTrip::of(ms(20));
        assert_eq!(far.scale(8, 1000), 160);
        assert_eq!(far.scale(8, 64), 64);
        assert_eq!(far.scale(100, 50), 50);
        assert_eq!(RoundTrip::of(Duration::ZERO).scale(0, 10), 1);
    }

    #[test]
    fn split_keeps_what_concurrency_hides() {
        assert_eq!(RoundTrip::split(ms(20), ms(20)), RoundTrip::of(ms(20)));
        let queueing = RoundTrip::split(ms(60), ms(240));
        assert_eq!((queueing.far, queueing.queued), (ms(0), ms(60)));
        let both = RoundTrip::split(ms(23), ms(32));
        assert_eq!((both.far, both.queued), (ms(20), ms(3)));
        assert_eq!(RoundTrip::split(ms(5), ms(4)), RoundTrip::of(ms(5)));
    }

    #[test]
    fn a_slow_server_gets_narrower_windows() {
        let slow = RoundTrip::split(ms(50), ms(200));
        assert_eq!(slow.scale(16, 64), 2);
        let busy_far = RoundTrip::split(ms(30), ms(60));
        assert_eq!(busy_far.scale(8, 64), 64);
        let quick_near = RoundTrip::split(ms(2), ms(5));
        assert_eq!(quick_near.scale(16, 64), 16);
    }

    /// A server `far` away that serves one call at a time, each in `service`.
    async fn call(far: Duration, service: Duration, server: &tokio::sync::Mutex<()>) {
        tokio::time::sleep(far / 2).await;
        {
            let _one_at_a_time = server.lock().await;
            tokio::time::sleep(service).await;
        }
        tokio::time::sleep(far / 2).await;
    }

    #[tokio::test(start_paused = true)]
    async fn probe_tells_distance_from_a_queueing_server() {
        let server = tokio::sync::Mutex::new(());
        let slow_near = RoundTrip::probe(|| call(ms(0), ms(60), &server)).await;
        assert_eq!((slow_near.far, slow_near.queued), (ms(0), ms(60)));
        assert_eq!(slow_near.scale(16, 64), 2);
        let fast_far = RoundTrip::probe(|| call(ms(20), ms(1), &server)).await;
        assert_eq!((fast_far.far, fast_far.queued), (ms(20), ms(1)));
        assert_eq!(fast_far.scale(8, 1000), 160);
    }
}
