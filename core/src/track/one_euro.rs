// SPDX-License-Identifier: MPL-2.0
//! One-Euro filter (Casiez, Roussel, Vogel, CHI 2012): a low-pass filter whose cutoff rises
//! with speed, so a still keypoint stops jittering while a moving one does not lag.

use std::f32::consts::PI;

/// Tuning shared by every keypoint of a tracker.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OneEuroParams {
    /// Cutoff (Hz) at rest: lower = steadier still keypoints.
    pub min_cutoff: f32,
    /// Cutoff increase per pixel/second of speed: higher = less lag when moving.
    pub beta: f32,
    /// Cutoff (Hz) of the speed estimate.
    pub d_cutoff: f32,
}

impl Default for OneEuroParams {
    fn default() -> Self {
        OneEuroParams {
            min_cutoff: 1.0,
            beta: 0.05,
            d_cutoff: 1.0,
        }
    }
}

/// Smoothing factor of an exponential filter with cutoff `cutoff` Hz sampled every `dt` s.
fn alpha(cutoff: f32, dt: f32) -> f32 {
    let tau = 1.0 / (2.0 * PI * cutoff);
    1.0 / (1.0 + tau / dt)
}

/// One scalar signal.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct OneEuro {
    /// `(filtered value, filtered derivative)` once the first sample arrived.
    last: Option<(f32, f32)>,
}

impl OneEuro {
    /// Filters sample `x` taken `dt` seconds after the previous one.
    pub fn filter(&mut self, x: f32, dt: f32, p: &OneEuroParams) -> f32 {
        let Some((prev, dprev)) = self.last else {
            self.last = Some((x, 0.0));
            return x;
        };
        if dt.is_nan() || dt <= 0.0 || !x.is_finite() {
            return prev;
        }
        let dx = (x - prev) / dt;
        let dx_hat = dprev + alpha(p.d_cutoff, dt) * (dx - dprev);
        let cutoff = p.min_cutoff + p.beta * dx_hat.abs();
        let x_hat = prev + alpha(cutoff, dt) * (x - prev);
        self.last = Some((x_hat, dx_hat));
        x_hat
    }

    /// Forgets the signal: the next sample passes unchanged.
    pub fn reset(&mut self) {
        self.last = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic noise source (xorshift), in ±amplitude.
    fn noise(seed: &mut u32, amplitude: f32) -> f32 {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 17;
        *seed ^= *seed << 5;
        (*seed as f32 / u32::MAX as f32 * 2.0 - 1.0) * amplitude
    }

    #[test]
    fn still_signal_jitters_less_after_filtering() {
        let (p, dt, mut seed) = (OneEuroParams::default(), 1.0 / 30.0, 7u32);
        let mut f = OneEuro::default();
        let (mut raw_motion, mut smooth_motion) = (0.0, 0.0);
        let (mut prev_raw, mut prev_smooth) = (100.0, 100.0);
        for _ in 0..300 {
            let x = 100.0 + noise(&mut seed, 3.0);
            let y = f.filter(x, dt, &p);
            raw_motion += (x - prev_raw).abs();
            smooth_motion += (y - prev_smooth).abs();
            (prev_raw, prev_smooth) = (x, y);
        }
        assert!(
            smooth_motion < raw_motion / 4.0,
            "{smooth_motion} vs {raw_motion}"
        );
    }

    #[test]
    fn fast_motion_lags_little() {
        let (p, dt) = (OneEuroParams::default(), 1.0 / 30.0);
        let mut f = OneEuro::default();
        let mut y = 0.0;
        let mut x = 0.0;
        for i in 0..60 {
            x = 600.0 * i as f32 * dt; // 600 px/s
            y = f.filter(x, dt, &p);
        }
        assert!((x - y).abs() < 8.0, "lag {} px", x - y);
    }

    #[test]
    fn first_sample_and_reset_pass_unchanged() {
        let p = OneEuroParams::default();
        let mut f = OneEuro::default();
        assert_eq!(f.filter(5.0, 0.1, &p), 5.0);
        assert_ne!(f.filter(50.0, 0.1, &p), 50.0);
        f.reset();
        assert_eq!(f.filter(50.0, 0.1, &p), 50.0);
    }
}
