// SPDX-License-Identifier: MPL-2.0
//! How fast frames arrive and how many pass while throttled.

/// Frame spacing assumed when neither caps nor timestamps tell it (30 fps).
const FALLBACK_FRAME_NS: u64 = 33_333_333;

/// The input's frame duration: from the caps' frame rate, else estimated from timestamps.
#[derive(Debug, Clone, Default)]
pub struct FrameTiming {
    caps_ns: Option<u64>,
    estimated_ns: Option<u64>,
    last_pts_ns: Option<u64>,
}

impl FrameTiming {
    /// Takes the caps' frame rate `(numerator, denominator)`; none, `0/1` (variable rate) and
    /// nonsense clear it.
    pub fn set_rate(&mut self, rate: Option<(i32, i32)>) {
        self.caps_ns = rate
            .filter(|&(n, d)| n > 0 && d > 0)
            .map(|(n, d)| 1_000_000_000u64 * d as u64 / n as u64);
    }

    /// Takes a buffer's timestamp; increasing ones refine the estimate.
    pub fn observe(&mut self, pts_ns: u64) {
        if let Some(prev) = self.last_pts_ns
            && pts_ns > prev
        {
            let d = pts_ns - prev;
            // A running average smooths jitter and follows rate changes within a few frames.
            self.estimated_ns = Some(self.estimated_ns.map_or(d, |e| (3 * e + d) / 4));
        }
        self.last_pts_ns = Some(pts_ns);
    }

    /// After a flush timestamps restart: the next one must not count as a frame gap.
    pub fn forget_last(&mut self) {
        self.last_pts_ns = None;
    }

    pub fn last_pts_ns(&self) -> Option<u64> {
        self.last_pts_ns
    }

    /// The caps' frame duration, else the estimate, in ns.
    pub fn frame_ns(&self) -> Option<u64> {
        self.caps_ns.or(self.estimated_ns)
    }

    /// Minimum spacing of passed frames while throttled, in ns: `fps` when above 0, else the
    /// input rate times `factor`.
    pub fn throttle_interval_ns(&self, fps: f64, factor: f64) -> u64 {
        if fps > 0.0 {
            return (1e9 / fps) as u64;
        }
        let frame = self.frame_ns().unwrap_or(FALLBACK_FRAME_NS);
        (frame as f64 / factor.max(0.01)) as u64
    }
}

/// Lets frames through evenly at most once per interval of running time.
#[derive(Debug, Clone, Default)]
pub struct Throttle {
    next: Option<u64>,
}

impl Throttle {
    /// Whether the frame at `time_ns` passes when at most one frame per `interval_ns` may.
    pub fn admit(&mut self, time_ns: u64, interval_ns: u64) -> bool {
        // A tenth of an interval of slack absorbs timestamp jitter.
        let slack = interval_ns / 10;
        match self.next {
            Some(next) if time_ns + slack < next => false,
            Some(next) => {
                // Keep the cadence, unless a gap left it far behind.
                let n = next + interval_ns;
                self.next = Some(if n + interval_ns < time_ns {
                    time_ns + interval_ns
                } else {
                    n
                });
                true
            }
            None => {
                self.next = Some(time_ns + interval_ns);
                true
            }
        }
    }

    pub fn reset(&mut self) {
        self.next = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_keeps_an_even_cadence() {
        let mut t = Throttle::default();
        let frame = 33_333_333u64; // 30 fps in
        let kept: Vec<u64> = (0..30u64)
            .filter(|i| t.admit(i * frame, 100_000_000))
            .collect();
        assert_eq!(kept, vec![0, 3, 6, 9, 12, 15, 18, 21, 24, 27]);
        // After a long gap the cadence restarts instead of letting a burst through.
        assert!(t.admit(10_000_000_000, 100_000_000));
        assert!(!t.admit(10_000_000_000 + frame, 100_000_000));
    }

    #[test]
    fn frame_duration_from_caps_else_timestamps() {
        let mut f = FrameTiming::default();
        assert_eq!(f.frame_ns(), None);
        // Unknown rate: 30 fps assumed, halved by the factor.
        assert_eq!(f.throttle_interval_ns(0.0, 0.5), 66_666_666);
        f.observe(0);
        f.observe(40_000_000);
        assert_eq!(f.frame_ns(), Some(40_000_000));
        // Smoothed, and timestamps going back are no frame gap.
        f.observe(60_000_000);
        assert_eq!(f.frame_ns(), Some(35_000_000));
        f.observe(10_000_000);
        assert_eq!(f.frame_ns(), Some(35_000_000));
        assert_eq!(f.last_pts_ns(), Some(10_000_000));
        f.forget_last();
        f.observe(500_000_000);
        assert_eq!(f.frame_ns(), Some(35_000_000));
        // The caps win over the estimate; 0/1 (variable) leaves the estimate in charge.
        f.set_rate(Some((25, 1)));
        assert_eq!(f.frame_ns(), Some(40_000_000));
        f.set_rate(Some((0, 1)));
        assert_eq!(f.frame_ns(), Some(35_000_000));
        f.set_rate(Some((25, 1)));
        f.set_rate(None);
        assert_eq!(f.frame_ns(), Some(35_000_000));
    }

    #[test]
    fn throttle_interval_from_fps_or_factor() {
        let mut f = FrameTiming::default();
        f.set_rate(Some((30000, 1001)));
        assert_eq!(f.frame_ns(), Some(33_366_666));
        assert_eq!(f.throttle_interval_ns(5.0, 0.5), 200_000_000);
        assert_eq!(f.throttle_interval_ns(0.0, 0.5), 66_733_332);
        // The factor never goes below 0.01 (100 times the frame duration).
        assert_eq!(
            f.throttle_interval_ns(0.0, 0.0),
            f.throttle_interval_ns(0.0, 0.01)
        );
    }
}
