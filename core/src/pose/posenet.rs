// SPDX-License-Identifier: MPL-2.0
//! PoseNet (MobileNetV1, NHWC outputs) multi-person decoder, the tfjs `decodeMultiplePoses`
//! method: local-maximum roots, greedy by score, pose-tree walk along displacements.

use super::{Keypoint, Person, Topology, below};

pub const NUM_KEYPOINTS: usize = 17;

/// Outputs whose sizes do not fit the grid they claim.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PoseNetError {
    #[error(
        "PoseNet output {name} has {got} values, expected {expected} for a {height}x{width} grid"
    )]
    OutputSize {
        name: &'static str,
        got: usize,
        expected: usize,
        height: usize,
        width: usize,
    },
}

/// Parent → child edges of the PoseNet pose tree (COCO-17 indices), in displacement channel
/// order.
pub const POSE_CHAIN: [(usize, usize); 16] = [
    (0, 1),
    (1, 3),
    (0, 2),
    (2, 4),
    (0, 5),
    (5, 7),
    (7, 9),
    (5, 11),
    (11, 13),
    (13, 15),
    (0, 6),
    (6, 8),
    (8, 10),
    (6, 12),
    (12, 14),
    (14, 16),
];

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PoseNetParams {
    pub output_stride: u32,
    pub max_poses: usize,
    /// Minimum sigmoid score of a root candidate.
    pub root_score_threshold: f32,
    /// Radius, in input pixels, inside which a candidate repeats an accepted pose.
    pub nms_radius: f32,
    pub local_maximum_radius: usize,
    pub refine_steps: usize,
    /// Poses scoring below this are dropped.
    pub min_pose_score: f32,
}

impl Default for PoseNetParams {
    fn default() -> Self {
        PoseNetParams {
            output_stride: 16,
            max_poses: 6,
            root_score_threshold: 0.5,
            nms_radius: 20.0,
            local_maximum_radius: 1,
            refine_steps: 2,
            min_pose_score: 0.25,
        }
    }
}

/// Borrowed PoseNet outputs of one image, all `[H][W][C]`.
#[derive(Debug, Clone, Copy)]
pub struct PoseNetOutputs<'a> {
    /// `[H, W, 17]` logits.
    pub heatmap: &'a [f32],
    /// `[H, W, 34]`: y offsets, then x offsets, in input pixels.
    pub offsets: &'a [f32],
    /// `[H, W, 32]`: dy of the 16 edges, then dx.
    pub displacement_fwd: &'a [f32],
    pub displacement_bwd: &'a [f32],
    pub height: usize,
    pub width: usize,
}

impl PoseNetOutputs<'_> {
    pub fn check(&self) -> Result<(), PoseNetError> {
        let cells = self.height * self.width;
        let expect = [
            ("heatmap", self.heatmap.len(), cells * NUM_KEYPOINTS),
            ("offsets", self.offsets.len(), cells * 2 * NUM_KEYPOINTS),
            ("displacement_fwd", self.displacement_fwd.len(), cells * 32),
            ("displacement_bwd", self.displacement_bwd.len(), cells * 32),
        ];
        for (name, got, want) in expect {
            if got != want {
                return Err(PoseNetError::OutputSize {
                    name,
                    got,
                    expected: want,
                    height: self.height,
                    width: self.width,
                });
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy)]
struct Candidate {
    score: f32,
    y: usize,
    x: usize,
    part: usize,
}

/// Decoder workspace (candidate list and sigmoid scores are reused).
#[derive(Debug, Default)]
pub struct PoseNetDecoder {
    pub params: PoseNetParams,
    scores: Vec<f32>,
    candidates: Vec<Candidate>,
    poses: Vec<[Keypoint; NUM_KEYPOINTS]>,
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

impl PoseNetDecoder {
    pub fn new(params: PoseNetParams) -> Self {
        PoseNetDecoder {
            params,
            ..Default::default()
        }
    }

    /// Decodes poses; keypoints come out normalized to the `input_w × input_h` network input.
    pub fn decode(
        &mut self,
        out: &PoseNetOutputs,
        input_w: u32,
        input_h: u32,
        topology: &Topology,
        min_keypoint_score: f32,
        people: &mut Vec<Person>,
    ) -> Result<(), PoseNetError> {
        out.check()?;
        people.clear();
        let (h, w) = (out.height, out.width);
        self.scores.clear();
        self.scores.extend(out.heatmap.iter().map(|&v| sigmoid(v)));
        self.find_candidates(h, w);
        self.poses.clear();
        let stride = self.params.output_stride as f32;
        let sq_nms = self.params.nms_radius * self.params.nms_radius;
        let mut pose_scores = Vec::new();
        for ci in 0..self.candidates.len() {
            if self.poses.len() >= self.params.max_poses {
                break;
            }
            let root = self.candidates[ci];
            let (ry, rx) = self.image_coords(out, root.y, root.x, root.part, stride);
            if self.within_nms(sq_nms, rx, ry, root.part) {
                continue;
            }
            let pose = self.decode_pose(out, root, (ry, rx), h, w, stride);
            let score = pose
                .iter()
                .enumerate()
                .filter(|(k, kp)| !self.within_nms(sq_nms, kp.x, kp.y, *k))
                .map(|(_, kp)| kp.score)
                .sum::<f32>()
                / NUM_KEYPOINTS as f32;
            self.poses.push(pose);
            pose_scores.push(score);
        }
        let (iw, ih) = (input_w.max(1) as f32, input_h.max(1) as f32);
        for (pose, &score) in self.poses.iter().zip(&pose_scores) {
            if below(score, self.params.min_pose_score) {
                continue;
            }
            let mut person = Person {
                keypoints: pose
                    .iter()
                    .map(|k| {
                        // Huge offsets or displacements can overflow a position to ±inf.
                        let kp = Keypoint {
                            x: k.x / iw,
                            y: k.y / ih,
                            score: k.score,
                        };
                        (kp.x.is_finite() && kp.y.is_finite()).then_some(kp)
                    })
                    .collect(),
                score,
                ..Default::default()
            };
            person.update_bbox(min_keypoint_score.max(0.0));
            person.drop_keypoints_below(min_keypoint_score, topology);
            people.push(person);
        }
        people.sort_by(|a, b| b.score.total_cmp(&a.score));
        Ok(())
    }

    fn find_candidates(&mut self, h: usize, w: usize) {
        self.candidates.clear();
        let r = self.params.local_maximum_radius;
        let threshold = self.params.root_score_threshold;
        let s = &self.scores;
        for y in 0..h {
            for x in 0..w {
                for part in 0..NUM_KEYPOINTS {
                    let score = s[(y * w + x) * NUM_KEYPOINTS + part];
                    if below(score, threshold) {
                        continue;
                    }
                    let mut is_max = true;
                    'win: for yy in y.saturating_sub(r)..(y + r + 1).min(h) {
                        for xx in x.saturating_sub(r)..(x + r + 1).min(w) {
                            if s[(yy * w + xx) * NUM_KEYPOINTS + part] > score {
                                is_max = false;
                                break 'win;
                            }
                        }
                    }
                    if is_max {
                        self.candidates.push(Candidate { score, y, x, part });
                    }
                }
            }
        }
        // Stable: equal scores keep raster order.
        self.candidates.sort_by(|a, b| b.score.total_cmp(&a.score));
    }

    fn image_coords(
        &self,
        out: &PoseNetOutputs,
        gy: usize,
        gx: usize,
        part: usize,
        stride: f32,
    ) -> (f32, f32) {
        let base = (gy * out.width + gx) * 2 * NUM_KEYPOINTS;
        (
            gy as f32 * stride + out.offsets[base + part],
            gx as f32 * stride + out.offsets[base + NUM_KEYPOINTS + part],
        )
    }

    fn within_nms(&self, sq_radius: f32, x: f32, y: f32, part: usize) -> bool {
        self.poses.iter().any(|p| {
            let (dx, dy) = (p[part].x - x, p[part].y - y);
            dx * dx + dy * dy <= sq_radius
        })
    }

    fn near_cell(y: f32, x: f32, stride: f32, h: usize, w: usize) -> (usize, usize) {
        let clamp = |v: f32, n: usize| {
            let r = (v / stride).round();
            if r.is_nan() || r < 0.0 {
                0
            } else {
                (r as usize).min(n - 1)
            }
        };
        (clamp(y, h), clamp(x, w))
    }

    fn decode_pose(
        &self,
        out: &PoseNetOutputs,
        root: Candidate,
        (ry, rx): (f32, f32),
        h: usize,
        w: usize,
        stride: f32,
    ) -> [Keypoint; NUM_KEYPOINTS] {
        let mut kps = [None::<Keypoint>; NUM_KEYPOINTS];
        kps[root.part] = Some(Keypoint {
            x: rx,
            y: ry,
            score: root.score,
        });
        let edges = POSE_CHAIN.len();
        // Towards the tree root first (backward displacements), then outwards (forward).
        for edge in (0..edges).rev() {
            let (parent, child) = POSE_CHAIN[edge];
            if let (Some(src), None) = (kps[child], kps[parent]) {
                kps[parent] =
                    Some(self.traverse(out, edge, src, parent, out.displacement_bwd, h, w, stride));
            }
        }
        for (edge, &(parent, child)) in POSE_CHAIN.iter().enumerate() {
            if let (Some(src), None) = (kps[parent], kps[child]) {
                kps[child] =
                    Some(self.traverse(out, edge, src, child, out.displacement_fwd, h, w, stride));
            }
        }
        kps.map(|k| k.unwrap_or_default())
    }

    #[allow(clippy::too_many_arguments)]
    fn traverse(
        &self,
        out: &PoseNetOutputs,
        edge: usize,
        source: Keypoint,
        target: usize,
        displacements: &[f32],
        h: usize,
        w: usize,
        stride: f32,
    ) -> Keypoint {
        let edges = POSE_CHAIN.len();
        let (sy, sx) = Self::near_cell(source.y, source.x, stride, h, w);
        let base = (sy * w + sx) * 2 * edges;
        let mut y = source.y + displacements[base + edge];
        let mut x = source.x + displacements[base + edges + edge];
        for _ in 0..self.params.refine_steps {
            let (ty, tx) = Self::near_cell(y, x, stride, h, w);
            (y, x) = self.image_coords(out, ty, tx, target, stride);
        }
        let (ty, tx) = Self::near_cell(y, x, stride, h, w);
        Keypoint {
            x,
            y,
            score: self.scores[(ty * w + tx) * NUM_KEYPOINTS + target],
        }
    }
}
