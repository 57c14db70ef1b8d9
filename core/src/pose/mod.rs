// SPDX-License-Identifier: MPL-2.0
//! GStreamer-free pose logic: topologies, decoders of network outputs into people, and the
//! geometry that maps network coordinates back onto frames.

pub mod crop;
pub mod detect;
pub mod geometry;
pub mod movenet;
pub mod munkres;
pub mod posenet;
pub mod topology;
pub mod trt_parse;

pub use geometry::{Geometry, ResizeMode, ResizeRequest};
pub use topology::{Topology, TopologyError};

/// One detected keypoint. Coordinates are normalized to the network input until
/// [`Person::map_to_frame`] turns them into frame pixels.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Keypoint {
    pub x: f32,
    pub y: f32,
    pub score: f32,
}

/// Axis-aligned box, `x0 <= x1`, `y0 <= y1`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct BBox {
    pub x0: f32,
    pub y0: f32,
    pub x1: f32,
    pub y1: f32,
}

impl BBox {
    pub fn width(&self) -> f32 {
        self.x1 - self.x0
    }
    pub fn height(&self) -> f32 {
        self.y1 - self.y0
    }
    pub fn area(&self) -> f32 {
        self.width().max(0.0) * self.height().max(0.0)
    }
    pub fn iou(&self, other: &BBox) -> f32 {
        let inter = BBox {
            x0: self.x0.max(other.x0),
            y0: self.y0.max(other.y0),
            x1: self.x1.min(other.x1),
            y1: self.y1.min(other.y1),
        };
        let i = inter.area();
        let union = self.area() + other.area() - i;
        if union > 0.0 { i / union } else { 0.0 }
    }
}

/// One person: a slot per topology keypoint (`None` = not found), the indices of the topology
/// links whose two ends are present, a box and a score.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Person {
    pub keypoints: Vec<Option<Keypoint>>,
    pub links: Vec<usize>,
    pub bbox: BBox,
    pub score: f32,
}

impl Person {
    /// Sets the box to the extent of the keypoints scoring at least `min_score`.
    pub fn update_bbox(&mut self, min_score: f32) {
        let mut b = BBox {
            x0: f32::INFINITY,
            y0: f32::INFINITY,
            x1: f32::NEG_INFINITY,
            y1: f32::NEG_INFINITY,
        };
        for k in self.keypoints.iter().flatten() {
            if k.score >= min_score {
                b.x0 = b.x0.min(k.x);
                b.y0 = b.y0.min(k.y);
                b.x1 = b.x1.max(k.x);
                b.y1 = b.y1.max(k.y);
            }
        }
        self.bbox = if b.x0.is_finite() { b } else { BBox::default() };
    }

    /// Recomputes `links` from which keypoints are present.
    pub fn update_links(&mut self, topology: &Topology) {
        self.links.clear();
        for (k, &(a, b)) in topology.links.iter().enumerate() {
            let present = |i: usize| self.keypoints.get(i).is_some_and(|k| k.is_some());
            if present(a) && present(b) {
                self.links.push(k);
            }
        }
    }

    /// Maps keypoints and box from network-normalized coordinates to frame pixels.
    ///
    /// Keypoints keep the position the network predicts, which can lie outside the frame (a
    /// hand cut off by the frame edge, or a keypoint in letterbox padding); the box is clipped
    /// to the frame (`0..=width`, `0..=height`), so it agrees with the ROI rectangle.
    pub fn map_to_frame(&mut self, geometry: &Geometry) {
        for k in self.keypoints.iter_mut().flatten() {
            (k.x, k.y) = geometry.to_frame(k.x, k.y);
        }
        let (x0, y0) = geometry.to_frame(self.bbox.x0, self.bbox.y0);
        let (x1, y1) = geometry.to_frame(self.bbox.x1, self.bbox.y1);
        let (w, h) = (geometry.frame_w as f32, geometry.frame_h as f32);
        self.bbox = BBox {
            x0: x0.clamp(0.0, w),
            y0: y0.clamp(0.0, h),
            x1: x1.clamp(0.0, w),
            y1: y1.clamp(0.0, h),
        };
    }

    /// Drops keypoints below `min_score` and updates the links accordingly.
    pub fn drop_keypoints_below(&mut self, min_score: f32, topology: &Topology) {
        for slot in self.keypoints.iter_mut() {
            if slot.is_some_and(|k| below(k.score, min_score)) {
                *slot = None;
            }
        }
        self.update_links(topology);
    }
}

/// True unless `v >= threshold`: NaN counts as below, so it never passes a threshold.
#[inline]
#[allow(clippy::neg_cmp_op_on_partial_ord)]
pub fn below(v: f32, threshold: f32) -> bool {
    !(v >= threshold)
}

/// Sorts people by score, best first, and keeps at most `max`.
pub fn sort_and_truncate(people: &mut Vec<Person>, max: usize) {
    people.sort_by(|a, b| b.score.total_cmp(&a.score));
    people.truncate(max);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn box_is_clipped_to_the_frame_and_keypoints_are_not() {
        // A 641x479 frame stretched into 256x256; a keypoint predicted below the frame.
        let g = Geometry::new(641, 479, 256, 256, ResizeMode::Stretch);
        let mut p = Person {
            keypoints: vec![
                Some(Keypoint {
                    x: 0.5,
                    y: 0.5,
                    score: 0.9,
                }),
                Some(Keypoint {
                    x: 0.9,
                    y: 1.004,
                    score: 0.8,
                }),
            ],
            ..Default::default()
        };
        p.update_bbox(0.0);
        p.map_to_frame(&g);
        let below = p.keypoints[1].unwrap();
        assert!(below.y > 479.0, "{below:?}");
        assert_eq!(p.bbox.y1, 479.0);
        assert!((p.bbox.x1 - 0.9 * 641.0).abs() < 1e-3, "{:?}", p.bbox);
    }
}
