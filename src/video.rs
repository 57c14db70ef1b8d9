// SPDX-License-Identifier: MPL-2.0
//! Glue between GStreamer video frames and the GStreamer-free modules.

use gst_video::prelude::*;

use crate::frame::{ChromaSiting, ColorRange, Colorimetry, PixelFormat, YuvMatrix};

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

/// The frame's colorimetry from its caps. `VideoInfo` already fills in GStreamer's defaults
/// for caps that name none (BT.601 up to 576 lines, BT.709 above); what is still unknown
/// falls back to the same defaults, as `videoconvert` does.
pub fn colorimetry(info: &gst_video::VideoInfo) -> Colorimetry {
    use gst_video::{VideoChromaSite as Site, VideoColorMatrix as M, VideoColorRange as R};
    let fallback = Colorimetry::default_for_height(info.height() as usize);
    let c = info.colorimetry();
    let matrix = match c.matrix() {
        M::Bt601 => YuvMatrix::Bt601,
        M::Bt709 => YuvMatrix::Bt709,
        M::Bt2020 => YuvMatrix::Bt2020,
        M::Smpte240m => YuvMatrix::Smpte240m,
        M::Fcc => YuvMatrix::Fcc,
        _ => fallback.matrix,
    };
    let range = match c.range() {
        R::Range0_255 => ColorRange::Full,
        R::Range16_235 => ColorRange::Limited,
        _ => fallback.range,
    };
    let site = info.chroma_site();
    let siting = if site.is_empty() {
        fallback.siting
    } else {
        ChromaSiting {
            h_cosited: site.contains(Site::H_COSITED),
            v_cosited: site.contains(Site::V_COSITED),
        }
    };
    Colorimetry {
        matrix,
        range,
        siting,
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

/// What the elements need from negotiated caps, worked out once per caps rather than per
/// frame: the info to map buffers, our pixel format and the colorimetry.
#[derive(Debug, Clone)]
pub struct Negotiated {
    pub info: gst_video::VideoInfo,
    pub format: PixelFormat,
    pub colorimetry: Colorimetry,
}

impl Negotiated {
    /// `None` for formats the plugin does not handle.
    pub fn new(info: &gst_video::VideoInfo) -> Option<Self> {
        Some(Negotiated {
            format: pixel_format(info.format())?,
            colorimetry: colorimetry(info),
            info: info.clone(),
        })
    }
}
