//! The core's randomness: a seeded splitmix64 stream (no clock, no OS entropy), and the exponential back-off with
//! jitter that the links draw from it.

/// A splitmix64 stream: the same seed gives the same numbers.
#[derive(Debug, Clone)]
pub(crate) struct SplitMix(u64);

impl SplitMix {
    /// A stream from `seed`.
    pub(crate) fn new(seed: u64) -> SplitMix {
        SplitMix(seed)
    }

    /// The next number.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// Exponential back-off: starts at `initial_ms`, doubles up to `max_ms`, each delay ±20 % jitter.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    next_ms: u64,
}

impl Backoff {
    /// A back-off whose next delay is the initial one.
    pub(crate) fn new() -> Backoff {
        Backoff { next_ms: 0 }
    }

    /// The next delay in milliseconds, with jitter from `rng`.
    pub(crate) fn next_delay(&mut self, initial_ms: u64, max_ms: u64, rng: &mut SplitMix) -> u64 {
        let max_ms = max_ms.max(1);
        let base = self.next_ms.max(initial_ms).clamp(1, max_ms);
        self.next_ms = base.saturating_mul(2).min(max_ms);
        let jitter = base / 5;
        if jitter == 0 { base } else { base - jitter + rng.next_u64() % (2 * jitter + 1) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_bounded_jitter_up_to_the_cap() {
        let mut rng = SplitMix::new(7);
        let mut b = Backoff::new();
        for base in [100u64, 200, 400, 800, 1000, 1000] {
            let d = b.next_delay(100, 1000, &mut rng);
            assert!(d >= base - base / 5 && d <= base + base / 5, "{d} vs {base}");
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_delays() {
        let delays = |seed| {
            let (mut rng, mut b) = (SplitMix::new(seed), Backoff::new());
            (0..8).map(|_| b.next_delay(200, 10_000, &mut rng)).collect::<Vec<_>>()
        };
        assert_eq!(delays(1), delays(1));
        assert_ne!(delays(1), delays(2));
    }
}
