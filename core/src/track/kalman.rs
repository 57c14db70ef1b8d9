// SPDX-License-Identifier: MPL-2.0
//! Constant-velocity Kalman filter on one coordinate. A person's box centre and each of their
//! keypoints get one per axis: the axes are independent under this model, so a 2×2 filter per
//! axis gives the same estimate as a 4×4 one at a fraction of the cost.

/// State `(position, velocity)` with its covariance, positions in pixels and times in seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cv1 {
    pub pos: f32,
    pub vel: f32,
    /// Covariance `[pp, pv, vv]` (symmetric).
    cov: [f32; 3],
}

impl Cv1 {
    /// A filter at `pos`, at rest, with the given position and velocity variances.
    pub fn new(pos: f32, pos_var: f32, vel_var: f32) -> Self {
        Cv1 {
            pos,
            vel: 0.0,
            cov: [pos_var, 0.0, vel_var],
        }
    }

    /// Advances by `dt` seconds; `accel_var` is the variance of the (white) acceleration.
    pub fn predict(&mut self, dt: f32, accel_var: f32) {
        let [pp, pv, vv] = self.cov;
        self.pos += self.vel * dt;
        // F P Fᵀ + Q with F = [[1, dt], [0, 1]] and the discrete white-noise acceleration Q.
        let (dt2, dt3, dt4) = (dt * dt, dt * dt * dt, dt * dt * dt * dt);
        self.cov = [
            pp + 2.0 * dt * pv + dt2 * vv + accel_var * dt4 / 4.0,
            pv + dt * vv + accel_var * dt3 / 2.0,
            vv + accel_var * dt2,
        ];
    }

    /// Folds in a measured position with variance `meas_var`.
    pub fn update(&mut self, z: f32, meas_var: f32) {
        let [pp, pv, vv] = self.cov;
        let s = pp + meas_var;
        if s <= 0.0 || !s.is_finite() || !z.is_finite() {
            return;
        }
        let (kp, kv) = (pp / s, pv / s);
        let innovation = z - self.pos;
        self.pos += kp * innovation;
        self.vel += kv * innovation;
        self.cov = [(1.0 - kp) * pp, (1.0 - kp) * pv, vv - kv * pv];
    }

    /// Position variance (how sure the filter is of where the point is).
    pub fn pos_var(&self) -> f32 {
        self.cov[0]
    }
}

/// A point: one filter per axis.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cv2 {
    pub x: Cv1,
    pub y: Cv1,
}

impl Cv2 {
    pub fn new(x: f32, y: f32, pos_var: f32, vel_var: f32) -> Self {
        Cv2 {
            x: Cv1::new(x, pos_var, vel_var),
            y: Cv1::new(y, pos_var, vel_var),
        }
    }

    pub fn predict(&mut self, dt: f32, accel_var: f32) {
        self.x.predict(dt, accel_var);
        self.y.predict(dt, accel_var);
    }

    pub fn update(&mut self, x: f32, y: f32, meas_var: f32) {
        self.x.update(x, meas_var);
        self.y.update(y, meas_var);
    }

    pub fn pos(&self) -> (f32, f32) {
        (self.x.pos, self.y.pos)
    }

    pub fn vel(&self) -> (f32, f32) {
        (self.x.vel, self.y.vel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_a_constant_velocity_and_extrapolates_it() {
        let mut f = Cv1::new(0.0, 100.0, 1e4);
        let dt = 0.1;
        for i in 1..=30 {
            f.predict(dt, 1.0);
            f.update(50.0 * i as f32 * dt, 1.0);
        }
        assert!((f.vel - 50.0).abs() < 1.0, "velocity {}", f.vel);
        f.predict(0.5, 1.0);
        assert!((f.pos - 175.0).abs() < 1.0, "position {}", f.pos);
    }

    #[test]
    fn uncertainty_grows_without_measurements_and_shrinks_with_them() {
        let mut f = Cv1::new(0.0, 4.0, 4.0);
        let before = f.pos_var();
        f.predict(1.0, 1.0);
        let grown = f.pos_var();
        assert!(grown > before);
        f.update(0.0, 1.0);
        assert!(f.pos_var() < grown.min(1.0));
    }

    #[test]
    fn non_finite_measurements_are_ignored() {
        let mut f = Cv2::new(1.0, 2.0, 1.0, 1.0);
        f.update(f32::NAN, f32::INFINITY, 1.0);
        assert_eq!(f.pos(), (1.0, 2.0));
    }
}
