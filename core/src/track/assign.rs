// SPDX-License-Identifier: MPL-2.0
//! Association of detections with tracks: a similarity per (track, detection) pair mixing
//! keypoint similarity (OKS-style, weighted by keypoint scores) with box overlap, solved as an
//! assignment with the project's Munkres solver and gated by a threshold.

use crate::pose::munkres::Munkres;
use crate::pose::{BBox, Keypoint};

/// COCO keypoint sigmas by name (the OKS constants); other names get [`DEFAULT_SIGMA`].
const COCO_SIGMAS: [(&str, f32); 18] = [
    ("nose", 0.026),
    ("left_eye", 0.025),
    ("right_eye", 0.025),
    ("left_ear", 0.035),
    ("right_ear", 0.035),
    ("left_shoulder", 0.079),
    ("right_shoulder", 0.079),
    ("left_elbow", 0.072),
    ("right_elbow", 0.072),
    ("left_wrist", 0.062),
    ("right_wrist", 0.062),
    ("left_hip", 0.107),
    ("right_hip", 0.107),
    ("left_knee", 0.087),
    ("right_knee", 0.087),
    ("left_ankle", 0.089),
    ("right_ankle", 0.089),
    ("neck", 0.079),
];

pub const DEFAULT_SIGMA: f32 = 0.08;

/// Per-keypoint OKS sigmas for a topology's keypoint names.
pub fn sigmas_for<S: AsRef<str>>(names: &[S]) -> Vec<f32> {
    names
        .iter()
        .map(|n| {
            let n = n.as_ref();
            COCO_SIGMAS
                .iter()
                .find(|(k, _)| *k == n)
                .map_or(DEFAULT_SIGMA, |&(_, s)| s)
        })
        .collect()
}

/// What a track offers for matching: its predicted keypoints, each with a confidence (the
/// last score, decayed while unseen), and its predicted box.
#[derive(Debug, Clone, Default)]
pub struct Predicted {
    pub keypoints: Vec<Option<Keypoint>>,
    pub bbox: BBox,
}

/// Keypoint similarity in 0..=1: COCO's OKS with the object scale taken from the detection's
/// box, each keypoint weighted by the product of the two scores (so weak keypoints count
/// less). 0 when the two share no keypoint.
pub fn oks(
    track: &[Option<Keypoint>],
    det: &[Option<Keypoint>],
    bbox: &BBox,
    sigmas: &[f32],
) -> f32 {
    let area = bbox.area().max(1.0);
    let (mut num, mut den) = (0.0f32, 0.0f32);
    for (c, (t, d)) in track.iter().zip(det).enumerate() {
        let (Some(t), Some(d)) = (t, d) else { continue };
        let w = (t.score * d.score).max(0.0);
        if w.is_nan() || w <= 0.0 {
            continue;
        }
        let kappa = 2.0 * sigmas.get(c).copied().unwrap_or(DEFAULT_SIGMA);
        let d2 = (t.x - d.x).powi(2) + (t.y - d.y).powi(2);
        num += w * (-d2 / (2.0 * area * kappa * kappa)).exp();
        den += w;
    }
    if den > 0.0 { num / den } else { 0.0 }
}

/// How the two cues combine.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Similarity {
    /// Share of the keypoint similarity; the rest is box IoU.
    pub oks_weight: f32,
}

impl Similarity {
    pub fn score(
        &self,
        track: &Predicted,
        det_keypoints: &[Option<Keypoint>],
        det_box: &BBox,
        sigmas: &[f32],
    ) -> f32 {
        let k = oks(&track.keypoints, det_keypoints, det_box, sigmas);
        let b = track.bbox.iou(det_box);
        let s = self.oks_weight * k + (1.0 - self.oks_weight) * b;
        if s.is_finite() { s } else { 0.0 }
    }
}

/// Solves the assignment of `rows × cols` similarities (row-major) and keeps the pairs at or
/// above `threshold`, as `(row, col)`.
pub fn associate(
    solver: &mut Munkres,
    scores: &[f32],
    rows: usize,
    cols: usize,
    threshold: f32,
) -> Vec<(usize, usize)> {
    if rows == 0 || cols == 0 {
        return Vec::new();
    }
    solver
        .solve_max(scores, rows, cols)
        .iter()
        .enumerate()
        .filter_map(|(r, &c)| {
            (c >= 0 && scores[r * cols + c as usize] >= threshold).then_some((r, c as usize))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kp(x: f32, y: f32) -> Option<Keypoint> {
        Some(Keypoint { x, y, score: 0.9 })
    }

    fn bbox(x0: f32, y0: f32, x1: f32, y1: f32) -> BBox {
        BBox { x0, y0, x1, y1 }
    }

    #[test]
    fn oks_is_one_for_identical_poses_and_falls_with_distance() {
        let b = bbox(0.0, 0.0, 50.0, 150.0);
        let s = sigmas_for(&["left_hip", "right_hip"]);
        let a = [kp(10.0, 80.0), kp(40.0, 80.0)];
        assert!((oks(&a, &a, &b, &s) - 1.0).abs() < 1e-6);
        let near = [kp(12.0, 82.0), kp(42.0, 82.0)];
        let far = [kp(40.0, 120.0), kp(70.0, 120.0)];
        let (n, f) = (oks(&a, &near, &b, &s), oks(&a, &far, &b, &s));
        assert!(n > 0.9 && f < 0.3 && n > f, "{n} {f}");
    }

    #[test]
    fn oks_ignores_keypoints_missing_on_either_side() {
        let b = bbox(0.0, 0.0, 50.0, 150.0);
        let s = sigmas_for(&["nose", "neck"]);
        assert_eq!(
            oks(&[kp(1.0, 1.0), None], &[None, kp(1.0, 1.0)], &b, &s),
            0.0
        );
        assert!(
            oks(
                &[kp(1.0, 1.0), None],
                &[kp(1.0, 1.0), kp(500.0, 1.0)],
                &b,
                &s
            ) > 0.99
        );
    }

    #[test]
    fn unknown_names_get_the_default_sigma() {
        assert_eq!(sigmas_for(&["nose", "tail"]), vec![0.026, DEFAULT_SIGMA]);
    }

    #[test]
    fn association_takes_the_best_total_and_drops_pairs_below_threshold() {
        // Greedy would give row 0 column 0 (0.9) and leave row 1 with 0.1.
        let scores = [0.9, 0.8, 0.7, 0.1];
        let mut m = Munkres::new();
        assert_eq!(associate(&mut m, &scores, 2, 2, 0.3), vec![(0, 1), (1, 0)]);
        assert_eq!(associate(&mut m, &scores, 2, 2, 0.75), vec![(0, 1)]);
        assert!(associate(&mut m, &[], 0, 3, 0.0).is_empty());
        // More tracks than detections.
        assert_eq!(associate(&mut m, &[0.2, 0.6, 0.5], 3, 1, 0.3), vec![(1, 0)]);
    }
}
