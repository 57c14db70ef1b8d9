// SPDX-License-Identifier: MPL-2.0
//! One track: a constant-velocity Kalman filter on the person's box (centre and size), and per
//! keypoint its place relative to the box, its confidence and its One-Euro filters.
//!
//! Keypoints are predicted by moving them with the box rather than by a filter of their own:
//! limbs swing with the gait, so a per-keypoint velocity overshoots when extrapolated, while
//! the box moves steadily (and its size follows people walking towards the camera).

use super::assign::Predicted;
use super::kalman::Cv2;
use super::one_euro::{OneEuro, OneEuroParams};
use crate::pose::{BBox, Keypoint, Person};

/// Confidence kept per update a keypoint is missing from its matched person; below [`FORGET`]
/// it is dropped.
const DECAY: f32 = 0.6;
const FORGET: f32 = 0.02;

/// Noise model, relative to the person's size (so it holds near and far from the camera).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Motion {
    /// Acceleration noise of the box centre, in box heights per s².
    pub accel: f32,
    /// Measurement noise of the box centre and size, in box heights.
    pub measurement: f32,
}

impl Default for Motion {
    fn default() -> Self {
        Motion {
            accel: 2.0,
            measurement: 0.05,
        }
    }
}

#[derive(Debug, Clone)]
struct KeypointState {
    /// Raw position relative to the box: `(x - cx) / w`, `(y - cy) / h`.
    raw: (f32, f32),
    /// Smoothed position, relative the same way.
    smooth: (f32, f32),
    conf: f32,
    /// Seen at the last update (predicted frames show only those).
    fresh: bool,
    /// Seconds since the last sample, for the One-Euro filters.
    since_sample: f32,
    euro: [OneEuro; 2],
}

#[derive(Debug, Clone)]
pub(super) struct Track {
    pub key: u64,
    /// Public id, given when the track is confirmed (`min-hits`).
    pub id: Option<u32>,
    pub hits: u32,
    /// Updates in a row without a detection.
    pub misses: u32,
    center: Cv2,
    size: Cv2,
    keypoints: Vec<Option<KeypointState>>,
}

fn scale(b: &BBox) -> f32 {
    b.width().max(b.height()).max(10.0)
}

fn center(b: &BBox) -> (f32, f32) {
    ((b.x0 + b.x1) / 2.0, (b.y0 + b.y1) / 2.0)
}

impl Track {
    pub fn new(key: u64, det: &Person, motion: &Motion, euro: Option<&OneEuroParams>) -> Self {
        let s = scale(&det.bbox);
        let (cx, cy) = center(&det.bbox);
        let pos_var = (motion.measurement * s).powi(2);
        // A new person's speed is unknown: up to about one height per second either way.
        let vel_var = s * s;
        let mut t = Track {
            key,
            id: None,
            hits: 0,
            misses: 0,
            center: Cv2::new(cx, cy, pos_var, vel_var),
            size: Cv2::new(
                det.bbox.width().max(1.0),
                det.bbox.height().max(1.0),
                pos_var,
                vel_var / 16.0,
            ),
            keypoints: vec![None; det.keypoints.len()],
        };
        t.observe_keypoints(det, 0.0, euro);
        t.hits = 1;
        t
    }

    pub fn predict(&mut self, dt: f32, motion: &Motion) {
        let h = self.size.y.pos.max(10.0);
        let accel_var = (motion.accel * h).powi(2);
        self.center.predict(dt, accel_var);
        self.size.predict(dt, accel_var / 16.0);
        for k in self.keypoints.iter_mut().flatten() {
            k.since_sample += dt;
        }
    }

    /// Folds in a matched detection; returns its keypoints, smoothed when `euro` is given.
    pub fn update(
        &mut self,
        det: &Person,
        dt_hint: f32,
        motion: &Motion,
        euro: Option<&OneEuroParams>,
    ) -> Vec<Option<Keypoint>> {
        let s = scale(&det.bbox);
        let (cx, cy) = center(&det.bbox);
        // Weak people are trusted less.
        let meas_var = (motion.measurement * s).powi(2) / det.score.clamp(0.1, 1.0);
        self.center.update(cx, cy, meas_var);
        self.size.update(
            det.bbox.width().max(1.0),
            det.bbox.height().max(1.0),
            meas_var,
        );
        self.hits += 1;
        self.misses = 0;
        self.observe_keypoints(det, dt_hint, euro)
    }

    fn observe_keypoints(
        &mut self,
        det: &Person,
        dt_hint: f32,
        euro: Option<&OneEuroParams>,
    ) -> Vec<Option<Keypoint>> {
        let (cx, cy) = self.center.pos();
        let (w, h) = self.size_now();
        let mut out = Vec::with_capacity(det.keypoints.len());
        for (slot, k) in self.keypoints.iter_mut().zip(&det.keypoints) {
            let Some(k) = k else {
                if let Some(st) = slot.as_mut() {
                    st.conf *= DECAY;
                    st.fresh = false;
                }
                if slot.as_ref().is_some_and(|st| st.conf < FORGET) {
                    *slot = None;
                }
                out.push(None);
                continue;
            };
            let st = slot.get_or_insert_with(|| KeypointState {
                raw: (0.0, 0.0),
                smooth: (0.0, 0.0),
                conf: 0.0,
                fresh: true,
                since_sample: dt_hint,
                euro: [OneEuro::default(); 2],
            });
            let (sx, sy) = match euro {
                Some(p) => {
                    let dt = st.since_sample.max(1e-4);
                    (st.euro[0].filter(k.x, dt, p), st.euro[1].filter(k.y, dt, p))
                }
                None => (k.x, k.y),
            };
            st.raw = ((k.x - cx) / w, (k.y - cy) / h);
            st.smooth = ((sx - cx) / w, (sy - cy) / h);
            st.conf = k.score;
            st.fresh = true;
            st.since_sample = 0.0;
            out.push(Some(Keypoint {
                x: sx,
                y: sy,
                score: k.score,
            }));
        }
        out
    }

    /// A miss: the whole person went unseen. Their keypoints keep their confidence (the
    /// shape is still what matching needs when they come back); only freshness is lost.
    pub fn miss(&mut self) {
        self.misses += 1;
        for st in self.keypoints.iter_mut().flatten() {
            st.fresh = false;
        }
    }

    fn size_now(&self) -> (f32, f32) {
        (self.size.x.pos.max(1.0), self.size.y.pos.max(1.0))
    }

    pub fn bbox(&self) -> BBox {
        let (cx, cy) = self.center.pos();
        let (w, h) = self.size_now();
        BBox {
            x0: cx - w / 2.0,
            y0: cy - h / 2.0,
            x1: cx + w / 2.0,
            y1: cy + h / 2.0,
        }
    }

    fn place(&self, (u, v): (f32, f32), score: f32) -> Keypoint {
        let (cx, cy) = self.center.pos();
        let (w, h) = self.size_now();
        Keypoint {
            x: cx + u * w,
            y: cy + v * h,
            score,
        }
    }

    /// Where the track expects the person now, for matching.
    pub fn predicted(&self) -> Predicted {
        Predicted {
            keypoints: self
                .keypoints
                .iter()
                .map(|s| s.as_ref().map(|s| self.place(s.raw, s.conf)))
                .collect(),
            bbox: self.bbox(),
        }
    }

    /// The smoothed keypoints seen at the last update, moved with the box to now (frames
    /// without inference).
    pub fn coasted(&self) -> Vec<Option<Keypoint>> {
        self.keypoints
            .iter()
            .map(|s| {
                s.as_ref()
                    .filter(|s| s.fresh)
                    .map(|s| self.place(s.smooth, s.conf))
            })
            .collect()
    }
}
