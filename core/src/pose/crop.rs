// SPDX-License-Identifier: MPL-2.0
//! Top-down pose: where a person's square crop lies in the frame and in the network input, and
//! how the crop model's person joins the region it was run on.

use super::{BBox, Geometry, Person};

/// A square crop around a region, as run through a pose network.
///
/// The square may reach past the frame; only its part inside the frame (`x, y, w, h`, aligned
/// for the pixel format) is read, and the rest of the network input stays black, so a person at
/// the border keeps the scale and centring of one in the middle.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Crop {
    /// The part of the square inside the frame, in frame pixels.
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
    /// Where that part goes in the network input (its "frame" is the `w × h` part).
    pub geometry: Geometry,
    frame_w: u32,
    frame_h: u32,
}

impl Crop {
    /// The square of side `margin × max(box width, box height)` centred on `region`, fitted
    /// into an `input_w × input_h` network input (centred when the input is not square).
    /// `align` is the pixel format's crop alignment. `None` when the square misses the frame
    /// or the region is degenerate.
    pub fn square(
        region: &BBox,
        margin: f32,
        frame_w: u32,
        frame_h: u32,
        align: u32,
        input_w: u32,
        input_h: u32,
    ) -> Option<Crop> {
        let finite = [region.x0, region.y0, region.x1, region.y1]
            .iter()
            .all(|v| v.is_finite());
        if !finite || frame_w == 0 || frame_h == 0 || input_w == 0 || input_h == 0 {
            return None;
        }
        let side = (region.width().max(region.height()) * margin.max(0.01)).max(1.0);
        let cx = (region.x0 + region.x1) / 2.0;
        let cy = (region.y0 + region.y1) / 2.0;
        let (sx, sy) = (cx - side / 2.0, cy - side / 2.0);
        let a = align.max(1);
        let down = |v: f32, max: u32| ((v.max(0.0).floor() as u32).min(max) / a) * a;
        let up = |v: f32, max: u32| ((v.max(0.0).ceil() as u32).div_ceil(a) * a).min(max);
        let (x0, y0) = (down(sx, frame_w), down(sy, frame_h));
        let (x1, y1) = (up(sx + side, frame_w), up(sy + side, frame_h));
        if x1 <= x0 || y1 <= y0 {
            return None;
        }
        // Input pixels per frame pixel; the square sits centred in the input.
        let scale = input_w.min(input_h) as f32 / side;
        let (ox, oy) = (
            (input_w as f32 - side * scale) / 2.0,
            (input_h as f32 - side * scale) / 2.0,
        );
        let place = |start: u32, end: u32, s: f32, o: f32, limit: u32| {
            let a = ((o + (start as f32 - s) * scale).round().max(0.0) as u32).min(limit - 1);
            let b = ((o + (end as f32 - s) * scale).round() as u32).clamp(a + 1, limit);
            (a, b - a)
        };
        let (pad_x, content_w) = place(x0, x1, sx, ox, input_w);
        let (pad_y, content_h) = place(y0, y1, sy, oy, input_h);
        let (w, h) = (x1 - x0, y1 - y0);
        Some(Crop {
            x: x0,
            y: y0,
            w,
            h,
            geometry: Geometry {
                frame_w: w,
                frame_h: h,
                input_w,
                input_h,
                // The part is resized to exactly its content size.
                scale_x: content_w as f32 / w as f32,
                scale_y: content_h as f32 / h as f32,
                pad_x,
                pad_y,
                content_w,
                content_h,
            },
            frame_w,
            frame_h,
        })
    }

    /// Moves a person decoded on this crop (already mapped through [`Crop::geometry`], so in
    /// the crop's pixels) into frame pixels; the box is clipped to the frame.
    pub fn to_frame(&self, person: &mut Person) {
        let (dx, dy) = (self.x as f32, self.y as f32);
        for k in person.keypoints.iter_mut().flatten() {
            k.x += dx;
            k.y += dy;
        }
        let (w, h) = (self.frame_w as f32, self.frame_h as f32);
        let b = person.bbox;
        person.bbox = BBox {
            x0: (b.x0 + dx).clamp(0.0, w),
            y0: (b.y0 + dy).clamp(0.0, h),
            x1: (b.x1 + dx).clamp(0.0, w),
            y1: (b.y1 + dy).clamp(0.0, h),
        };
    }
}

/// The person of a region once the crop model has run: the crop model's keypoints and links,
/// the region's box (a detector's box holds the whole person; keypoints can miss limbs), and
/// the [`combined_score`].
pub fn join(region: &BBox, region_score: f32, found: Person) -> Person {
    Person {
        bbox: *region,
        score: combined_score(region_score, found.score),
        ..found
    }
}

/// The score of a person found in a region: the geometric mean of the region's (detector's)
/// score and the crop model's person score. It ranks as their product does, and stays on the
/// scale of either, so one `min-person-score` reads the same with or without a crop model.
pub fn combined_score(region_score: f32, pose_score: f32) -> f32 {
    let (a, b) = (region_score.clamp(0.0, 1.0), pose_score.clamp(0.0, 1.0));
    if a.is_finite() && b.is_finite() {
        (a * b).sqrt()
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pose::Keypoint;

    fn bbox(x0: f32, y0: f32, x1: f32, y1: f32) -> BBox {
        BBox { x0, y0, x1, y1 }
    }

    #[test]
    fn a_region_inside_the_frame_maps_back_exactly() {
        // 100x200 box in a 640x480 frame, margin 1.25: a 250 px square into 256x256.
        let c = Crop::square(
            &bbox(200.0, 100.0, 300.0, 300.0),
            1.25,
            640,
            480,
            1,
            256,
            256,
        )
        .unwrap();
        assert_eq!((c.x, c.y, c.w, c.h), (125, 75, 250, 250));
        assert_eq!((c.geometry.pad_x, c.geometry.pad_y), (0, 0));
        assert_eq!((c.geometry.content_w, c.geometry.content_h), (256, 256));
        // The input's centre is the box's centre.
        let (x, y) = c.geometry.to_frame(0.5, 0.5);
        let mut p = Person {
            keypoints: vec![Some(Keypoint { x, y, score: 1.0 })],
            ..Default::default()
        };
        c.to_frame(&mut p);
        let k = p.keypoints[0].unwrap();
        assert!(
            (k.x - 250.0).abs() < 1e-3 && (k.y - 200.0).abs() < 1e-3,
            "{k:?}"
        );
    }

    #[test]
    fn a_square_past_the_border_keeps_scale_and_pads_the_missing_part() {
        // A person at the left edge: the square starts 40 px left of the frame.
        let c = Crop::square(&bbox(0.0, 100.0, 80.0, 260.0), 1.25, 640, 480, 2, 200, 200).unwrap();
        // side 200, centre (40, 180): square x -60..140, y 80..280.
        assert_eq!((c.x, c.y, c.w, c.h), (0, 80, 140, 200));
        assert_eq!(c.geometry.pad_x, 60, "the missing 60 px stay black");
        assert_eq!(c.geometry.content_w, 140);
        assert!((c.geometry.scale_x - 1.0).abs() < 1e-6);
        // The frame's left edge lands at input x 60.
        let (x, _) = c.geometry.to_frame(60.0 / 200.0, 0.5);
        assert!(x.abs() < 1e-3, "{x}");
    }

    #[test]
    fn subsampled_formats_get_even_origins_and_sizes() {
        let c = Crop::square(&bbox(11.3, 21.7, 51.1, 61.9), 1.0, 99, 99, 2, 64, 64).unwrap();
        assert_eq!((c.x % 2, c.y % 2), (0, 0));
        assert!(c.w.is_multiple_of(2) || c.x + c.w == 99);
        assert!(c.h.is_multiple_of(2) || c.y + c.h == 99);
    }

    #[test]
    fn degenerate_regions_give_no_crop() {
        assert!(Crop::square(&bbox(f32::NAN, 0.0, 1.0, 1.0), 1.25, 64, 64, 1, 32, 32).is_none());
        // Entirely outside the frame.
        assert!(Crop::square(&bbox(500.0, 500.0, 600.0, 600.0), 1.0, 64, 64, 1, 32, 32).is_none());
        // A zero-size box still gets a 1 px crop rather than dividing by zero.
        let c = Crop::square(&bbox(10.0, 10.0, 10.0, 10.0), 1.25, 64, 64, 1, 32, 32).unwrap();
        assert!(c.geometry.scale_x.is_finite());
    }

    #[test]
    fn combined_score_is_the_geometric_mean_and_never_nan() {
        assert!((combined_score(0.81, 0.25) - 0.45).abs() < 1e-6);
        assert_eq!(combined_score(f32::NAN, 0.5), 0.0);
        assert_eq!(combined_score(2.0, 1.0), 1.0);
    }
}
