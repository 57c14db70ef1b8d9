//! Glue between GStreamer video frames and the GStreamer-free modules.

use gst_video::prelude::*;

use crate::draw::{PixelFormat, YuvMatrix};

/// Raw formats every element of this plugin accepts.
pub const FORMATS: [gst_video::VideoFormat; 18] = [
    gst_video::VideoFormat::Rgb,
    gst_video::VideoFormat::Bgr,
    gst_video::VideoFormat::Rgba,
    gst_video::VideoFormat::Bgra,
    gst_video::VideoFormat::Argb,
    gst_video::VideoFormat::Abgr,
    gst_video::VideoFormat::Rgbx,
    gst_video::VideoFormat::Bgrx,
    gst_video::VideoFormat::Xrgb,
    gst_video::VideoFormat::Xbgr,
    gst_video::VideoFormat::I420,
    gst_video::VideoFormat::Yv12,
    gst_video::VideoFormat::Nv12,
    gst_video::VideoFormat::Nv21,
    gst_video::VideoFormat::Yuy2,
    gst_video::VideoFormat::Uyvy,
    gst_video::VideoFormat::Yvyu,
    gst_video::VideoFormat::Gray8,
];

/// Always-present `src` and `sink` templates with the same caps, as every element here has.
pub fn always_pad_templates(caps: &gst::Caps) -> Vec<gst::PadTemplate> {
    [
        ("src", gst::PadDirection::Src),
        ("sink", gst::PadDirection::Sink),
    ]
    .into_iter()
    .map(|(name, dir)| {
        gst::PadTemplate::new(name, dir, gst::PadPresence::Always, caps)
            .expect("valid pad template")
    })
    .collect()
}

pub fn caps() -> gst::Caps {
    gst_video::VideoCapsBuilder::new()
        .format_list(FORMATS)
        .build()
}

pub fn pixel_format(f: gst_video::VideoFormat) -> Option<PixelFormat> {
    use gst_video::VideoFormat as V;
    Some(match f {
        V::Rgb => PixelFormat::Rgb,
        V::Bgr => PixelFormat::Bgr,
        V::Rgba => PixelFormat::Rgba,
        V::Bgra => PixelFormat::Bgra,
        V::Argb => PixelFormat::Argb,
        V::Abgr => PixelFormat::Abgr,
        V::Rgbx => PixelFormat::Rgbx,
        V::Bgrx => PixelFormat::Bgrx,
        V::Xrgb => PixelFormat::Xrgb,
        V::Xbgr => PixelFormat::Xbgr,
        V::I420 => PixelFormat::I420,
        V::Yv12 => PixelFormat::Yv12,
        V::Nv12 => PixelFormat::Nv12,
        V::Nv21 => PixelFormat::Nv21,
        V::Yuy2 => PixelFormat::Yuy2,
        V::Uyvy => PixelFormat::Uyvy,
        V::Yvyu => PixelFormat::Yvyu,
        V::Gray8 => PixelFormat::Gray8,
        _ => return None,
    })
}

pub fn matrix(info: &gst_video::VideoInfo) -> YuvMatrix {
    match info.colorimetry().matrix() {
        gst_video::VideoColorMatrix::Bt709 => YuvMatrix::Bt709,
        _ => YuvMatrix::Bt601,
    }
}

/// Planes of a mapped frame as `(bytes, stride)` pairs.
pub fn planes<'a>(frame: &'a gst_video::VideoFrameRef<&gst::BufferRef>) -> Vec<(&'a [u8], usize)> {
    (0..frame.n_planes())
        .map(|i| {
            (
                frame.plane_data(i).unwrap_or(&[]),
                frame.plane_stride()[i as usize].max(0) as usize,
            )
        })
        .collect()
}
