// SPDX-License-Identifier: MPL-2.0
use std::sync::{LazyLock, Mutex};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::subclass::prelude::*;
use gst_video::prelude::*;
use gst_video::subclass::prelude::*;

use crate::draw::{self, FrameMut, PlaneMut, Rgb, Style};
use crate::meta;
use crate::video;

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "poseoverlay",
        gst::DebugColorFlags::empty(),
        Some("Pose skeleton overlay"),
    )
});

/// Parses `"ff0000,00ff00"` (optionally `#` or `0x` prefixed) into colours.
pub(crate) fn parse_colors(s: &str) -> Result<Vec<Rgb>, String> {
    s.split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(|c| {
            let hex = c.trim_start_matches('#').trim_start_matches("0x");
            if hex.len() != 6 {
                return Err(format!("colour '{c}' is not RRGGBB hex"));
            }
            u32::from_str_radix(hex, 16)
                .map(Rgb::from_u32)
                .map_err(|_| format!("colour '{c}' is not RRGGBB hex"))
        })
        .collect()
}

/// `keypoint-color` value meaning "a palette colour per keypoint" (the default).
const KEYPOINT_PALETTE: u32 = u32::MAX;

#[derive(Debug, Clone)]
struct Settings {
    style: Style,
    link_colors: String,
    /// `keypoint-color` as set, so it reads back as written: every value above 0xFFFFFF
    /// selects the palette, but only 0xFFFFFFFF would come back from `style`.
    keypoint_color: u32,
}

impl Default for Settings {
    fn default() -> Self {
        let style = Style::default();
        let keypoint_color = style.keypoint_color.map_or(KEYPOINT_PALETTE, Rgb::to_u32);
        Settings {
            style,
            link_colors: String::new(),
            keypoint_color,
        }
    }
}

#[derive(Default)]
pub struct PoseOverlay {
    settings: Mutex<Settings>,
    caps: Mutex<Option<video::Negotiated>>,
    /// Warn once per stream about malformed metadata instead of once per frame.
    warned: Mutex<bool>,
}

#[glib::object_subclass]
impl ObjectSubclass for PoseOverlay {
    const NAME: &'static str = "GstPoseOverlay";
    type Type = super::PoseOverlay;
    type ParentType = gst_video::VideoFilter;
}

impl ObjectImpl for PoseOverlay {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            let d = Style::default();
            vec![
                glib::ParamSpecBoolean::builder("draw-keypoints")
                    .nick("Draw keypoints")
                    .blurb("Draw a filled circle at each keypoint")
                    .default_value(d.draw_keypoints)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("draw-links")
                    .nick("Draw links")
                    .blurb("Draw the skeleton links between keypoints")
                    .default_value(d.draw_links)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("draw-boxes")
                    .nick("Draw boxes")
                    .blurb("Draw each person's bounding box")
                    .default_value(d.draw_boxes)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("thickness")
                    .nick("Thickness")
                    .blurb("Width of links and box edges in pixels")
                    .minimum(1)
                    .maximum(100)
                    .default_value(d.thickness as u32)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("keypoint-radius")
                    .nick("Keypoint radius")
                    .blurb("Radius of keypoint circles in pixels")
                    .minimum(1)
                    .maximum(100)
                    .default_value(d.keypoint_radius as u32)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecFloat::builder("min-score")
                    .nick("Minimum score")
                    .blurb("Keypoints scoring below this, and links touching them, are not drawn")
                    .minimum(0.0)
                    .maximum(1.0)
                    .default_value(d.min_score)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecString::builder("link-colors")
                    .nick("Link colours")
                    .blurb("Comma-separated RRGGBB colours; link k uses entry k modulo the count. Empty = built-in palette")
                    .default_value(Some(""))
                    .mutable_playing()
                    .build(),
                // No maximum: a GParamSpec range cannot hold 0..=0xFFFFFF plus the sentinel
                // alone, so larger values are accepted, read back as set, and mean the palette.
                glib::ParamSpecUInt::builder("keypoint-color")
                    .nick("Keypoint colour")
                    .blurb("0xRRGGBB colour of keypoints; 0xFFFFFFFF (the default), or any value above 0xFFFFFF, = a palette colour per keypoint")
                    .default_value(KEYPOINT_PALETTE)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("box-color")
                    .nick("Box colour")
                    .blurb("0xRRGGBB colour of bounding boxes")
                    .maximum(0xffffff)
                    .default_value(d.box_color.to_u32())
                    .mutable_playing()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = self.settings.lock().unwrap();
        match pspec.name() {
            "draw-keypoints" => s.style.draw_keypoints = value.get().expect("type checked"),
            "draw-links" => s.style.draw_links = value.get().expect("type checked"),
            "draw-boxes" => s.style.draw_boxes = value.get().expect("type checked"),
            "thickness" => s.style.thickness = value.get::<u32>().expect("type checked") as f32,
            "keypoint-radius" => {
                s.style.keypoint_radius = value.get::<u32>().expect("type checked") as f32
            }
            "min-score" => s.style.min_score = value.get().expect("type checked"),
            "link-colors" => {
                let text: String = value
                    .get::<Option<String>>()
                    .expect("type checked")
                    .unwrap_or_default();
                match parse_colors(&text) {
                    Ok(colors) => {
                        s.style.link_colors = colors;
                        s.link_colors = text;
                    }
                    Err(e) => {
                        drop(s);
                        gst::element_imp_warning!(
                            self,
                            gst::LibraryError::Settings,
                            (
                                "Invalid link-colors '{}': {}; keeping the previous colours",
                                text,
                                e
                            )
                        );
                    }
                }
            }
            "keypoint-color" => {
                let v: u32 = value.get().expect("type checked");
                s.keypoint_color = v;
                s.style.keypoint_color = (v <= 0xffffff).then(|| Rgb::from_u32(v));
            }
            "box-color" => s.style.box_color = Rgb::from_u32(value.get().expect("type checked")),
            other => unimplemented!("property {other}"),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = self.settings.lock().unwrap();
        match pspec.name() {
            "draw-keypoints" => s.style.draw_keypoints.to_value(),
            "draw-links" => s.style.draw_links.to_value(),
            "draw-boxes" => s.style.draw_boxes.to_value(),
            "thickness" => (s.style.thickness as u32).to_value(),
            "keypoint-radius" => (s.style.keypoint_radius as u32).to_value(),
            "min-score" => s.style.min_score.to_value(),
            "link-colors" => s.link_colors.to_value(),
            "keypoint-color" => s.keypoint_color.to_value(),
            "box-color" => s.style.box_color.to_u32().to_value(),
            other => unimplemented!("property {other}"),
        }
    }
}

impl GstObjectImpl for PoseOverlay {}

impl ElementImpl for PoseOverlay {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static ELEMENT_METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Pose overlay",
                "Filter/Effect/Video",
                "Draws the skeletons from pose region-of-interest metadata onto video frames",
                "gst-trtpose developers",
            )
        });
        Some(&*ELEMENT_METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static PAD_TEMPLATES: LazyLock<Vec<gst::PadTemplate>> =
            LazyLock::new(|| crate::video::always_pad_templates(&video::caps()));
        PAD_TEMPLATES.as_ref()
    }
}

impl BaseTransformImpl for PoseOverlay {
    const MODE: gst_base::subclass::BaseTransformMode =
        gst_base::subclass::BaseTransformMode::AlwaysInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        *self.warned.lock().unwrap() = false;
        Ok(())
    }

    fn transform_ip(&self, buf: &mut gst::BufferRef) -> Result<gst::FlowSuccess, gst::FlowError> {
        let records = meta::read(buf);
        if records.is_empty() {
            // Nothing to draw: leave the frame (and its memory) untouched.
            return Ok(gst::FlowSuccess::Ok);
        }
        let mut people = Vec::with_capacity(records.len());
        for r in records {
            match r {
                Ok(r) => people.push(r),
                Err(e) => {
                    let mut warned = self.warned.lock().unwrap();
                    if !*warned {
                        *warned = true;
                        gst::element_imp_warning!(
                            self,
                            gst::StreamError::Decode,
                            ("Skipping malformed pose metadata: {}", e)
                        );
                    }
                }
            }
        }
        let caps = self
            .caps
            .lock()
            .unwrap()
            .clone()
            .ok_or(gst::FlowError::NotNegotiated)?;
        let (info, format) = (&caps.info, caps.format);
        let style = self.settings.lock().unwrap().style.clone();
        let mut frame =
            gst_video::VideoFrameRef::from_buffer_ref_writable(buf, info).map_err(|_| {
                gst::element_imp_error!(
                    self,
                    gst::StreamError::Format,
                    (
                        "Buffer is too small for a {}x{} {} frame",
                        info.width(),
                        info.height(),
                        info.format().to_str()
                    )
                );
                gst::FlowError::Error
            })?;
        let strides: Vec<usize> = frame
            .plane_stride()
            .iter()
            .map(|&s| s.max(0) as usize)
            .collect();
        let n = format.num_planes();
        let planes: Vec<PlaneMut> = frame
            .planes_data_mut()
            .into_iter()
            .take(n)
            .zip(strides)
            .map(|(data, stride)| PlaneMut { data, stride })
            .collect();
        let mut target = match FrameMut::new(
            format,
            info.width() as usize,
            info.height() as usize,
            planes,
        ) {
            Ok(f) => f.with_colorimetry(caps.colorimetry),
            Err(e) => {
                gst::element_imp_error!(self, gst::StreamError::Format, ("Bad frame: {}", e));
                return Err(gst::FlowError::Error);
            }
        };
        for r in &people {
            let mut style = style.clone();
            if style.link_colors.is_empty() {
                // Colour by topology link so colours stay stable when links come and go.
                style.link_colors = r
                    .link_ids
                    .iter()
                    .map(|&k| draw::DEFAULT_PALETTE[k % draw::DEFAULT_PALETTE.len()])
                    .collect();
            } else {
                let chosen = style.link_colors.clone();
                style.link_colors = r
                    .link_ids
                    .iter()
                    .map(|&k| chosen[k % chosen.len()])
                    .collect();
            }
            if style.link_colors.is_empty() {
                style.link_colors.push(draw::DEFAULT_PALETTE[0]);
            }
            draw::draw_people(
                &mut target,
                std::slice::from_ref(&r.person),
                &r.link_pairs,
                &style,
            );
        }
        gst::trace!(CAT, imp = self, "drew {} people", people.len());
        Ok(gst::FlowSuccess::Ok)
    }
}

impl VideoFilterImpl for PoseOverlay {
    fn set_info(
        &self,
        incaps: &gst::Caps,
        in_info: &gst_video::VideoInfo,
        outcaps: &gst::Caps,
        out_info: &gst_video::VideoInfo,
    ) -> Result<(), gst::LoggableError> {
        let Some(caps) = video::Negotiated::new(in_info) else {
            return Err(gst::loggable_error!(
                CAT,
                "Unsupported format {}",
                in_info.format()
            ));
        };
        *self.caps.lock().unwrap() = Some(caps);
        self.parent_set_info(incaps, in_info, outcaps, out_info)
    }
}
