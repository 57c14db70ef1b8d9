// SPDX-License-Identifier: MPL-2.0
//! Where the network input sits inside a frame, and the mapping between the two.

/// How a frame is fitted into the network input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ResizeMode {
    /// Scale each axis independently (trt_pose's training and demo).
    Stretch,
    /// Keep the aspect ratio, centre the image and pad with black (MoveNet, PoseNet).
    #[default]
    Letterbox,
}

/// How the user asks for frames to be fitted: the family's default or a [`ResizeMode`] (the
/// element's `resize-mode` property, `GstTrtPoseResizeMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "glib", derive(glib::Enum))]
#[cfg_attr(feature = "glib", enum_type(name = "GstTrtPoseResizeMode"))]
#[repr(u32)]
pub enum ResizeRequest {
    #[default]
    #[cfg_attr(
        feature = "glib",
        enum_value(
            name = "The family's default (trt_pose stretches, others letterbox)",
            nick = "auto"
        )
    )]
    Auto = 0,
    #[cfg_attr(
        feature = "glib",
        enum_value(name = "Stretch the frame to the network input", nick = "stretch")
    )]
    Stretch = 1,
    #[cfg_attr(
        feature = "glib",
        enum_value(name = "Keep the aspect ratio and pad with black", nick = "letterbox")
    )]
    Letterbox = 2,
}

impl ResizeRequest {
    /// The mode asked for; `None` leaves it to the family.
    pub fn mode(self) -> Option<ResizeMode> {
        match self {
            ResizeRequest::Auto => None,
            ResizeRequest::Stretch => Some(ResizeMode::Stretch),
            ResizeRequest::Letterbox => Some(ResizeMode::Letterbox),
        }
    }
}

/// Placement of a `frame_w × frame_h` frame inside a `input_w × input_h` network input.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Geometry {
    pub frame_w: u32,
    pub frame_h: u32,
    pub input_w: u32,
    pub input_h: u32,
    /// Input pixels per frame pixel along x and y.
    pub scale_x: f32,
    pub scale_y: f32,
    /// Offset of the image content inside the input, in input pixels.
    pub pad_x: u32,
    pub pad_y: u32,
    /// Size of the image content inside the input, in input pixels.
    pub content_w: u32,
    pub content_h: u32,
}

impl Geometry {
    pub fn new(frame_w: u32, frame_h: u32, input_w: u32, input_h: u32, mode: ResizeMode) -> Self {
        let (fw, fh) = (frame_w.max(1) as f32, frame_h.max(1) as f32);
        let (iw, ih) = (input_w as f32, input_h as f32);
        match mode {
            ResizeMode::Stretch => Geometry {
                frame_w,
                frame_h,
                input_w,
                input_h,
                scale_x: iw / fw,
                scale_y: ih / fh,
                pad_x: 0,
                pad_y: 0,
                content_w: input_w,
                content_h: input_h,
            },
            ResizeMode::Letterbox => {
                let scale = (iw / fw).min(ih / fh);
                let content_w = ((fw * scale).round() as u32).clamp(1, input_w.max(1));
                let content_h = ((fh * scale).round() as u32).clamp(1, input_h.max(1));
                Geometry {
                    frame_w,
                    frame_h,
                    input_w,
                    input_h,
                    scale_x: scale,
                    scale_y: scale,
                    pad_x: (input_w - content_w) / 2,
                    pad_y: (input_h - content_h) / 2,
                    content_w,
                    content_h,
                }
            }
        }
    }

    /// Maps a point normalized to the network input (`0..1` over the whole input, padding
    /// included) to frame pixels.
    ///
    /// Results are clamped to ±1e9 px, so a huge but finite network output (garbage, or a
    /// keypoint far outside the input) cannot overflow to infinity.
    pub fn to_frame(&self, x_norm: f32, y_norm: f32) -> (f32, f32) {
        const LIMIT: f32 = 1.0e9;
        (
            ((x_norm * self.input_w as f32 - self.pad_x as f32) / self.scale_x)
                .clamp(-LIMIT, LIMIT),
            ((y_norm * self.input_h as f32 - self.pad_y as f32) / self.scale_y)
                .clamp(-LIMIT, LIMIT),
        )
    }
}

/// Network input size for models with dynamic input (MoveNet multipose): the longer frame side
/// becomes `long_side`, the other is scaled and rounded up to a multiple of 32.
pub fn dynamic_input_size(frame_w: u32, frame_h: u32, long_side: u32) -> (u32, u32) {
    let long_side = long_side.max(32).div_ceil(32) * 32;
    let (fw, fh) = (frame_w.max(1) as f64, frame_h.max(1) as f64);
    let round_up = |v: f64| ((v / 32.0).ceil() as u32).max(1) * 32;
    if fw >= fh {
        (
            long_side,
            round_up(fh * long_side as f64 / fw).min(long_side),
        )
    } else {
        (
            round_up(fw * long_side as f64 / fh).min(long_side),
            long_side,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letterbox_matches_reference_numbers() {
        // basketball1 640x480 into 256x256: scale 0.4, pad_y 32 (expected/basketball1.json).
        let g = Geometry::new(640, 480, 256, 256, ResizeMode::Letterbox);
        assert_eq!(
            (g.pad_x, g.pad_y, g.content_w, g.content_h),
            (0, 32, 256, 192)
        );
        assert!((g.scale_x - 0.4).abs() < 1e-6);
        let (x, y) = g.to_frame(0.5, 0.5);
        assert!((x - 320.0).abs() < 1e-3 && (y - 240.0).abs() < 1e-3);
    }

    #[test]
    fn stretch_maps_corners() {
        let g = Geometry::new(1920, 1080, 224, 224, ResizeMode::Stretch);
        assert_eq!(g.to_frame(1.0, 1.0), (1920.0, 1080.0));
        assert_eq!(g.to_frame(0.0, 0.0), (0.0, 0.0));
    }

    #[test]
    fn dynamic_sizes_match_reference_runs() {
        assert_eq!(dynamic_input_size(640, 480, 256), (256, 192));
        assert_eq!(dynamic_input_size(548, 342, 256), (256, 160));
        assert_eq!(dynamic_input_size(512, 600, 256), (224, 256));
        assert_eq!(dynamic_input_size(768, 576, 512), (512, 384));
        assert_eq!(dynamic_input_size(1, 1000, 256), (32, 256));
    }
}
