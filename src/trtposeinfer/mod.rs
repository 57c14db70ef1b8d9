// SPDX-License-Identifier: MPL-2.0
//! `trtposeinfer`: runs a pose network on video frames (or every Nth) and attaches the people
//! found as `GstVideoRegionOfInterestMeta` (one per person, with a `pose` structure: keypoints,
//! scores, links, box), posts them as element messages and can write them as JSON Lines.
//!
//! ```text
//! gst-launch-1.0 filesrc location=in.mp4 ! decodebin ! trtposeinfer ! poseoverlay ! autovideosink
//! ```
//!
//! Its enum properties use the core's request types (`BackendRequest`, `FamilyRequest`,
//! `ResizeRequest`, `Precision`), registered as GObject enums.

use gst::glib;
use gst::prelude::*;

mod imp;
mod objects;
mod settings;

glib::wrapper! {
    pub struct TrtPoseInfer(ObjectSubclass<imp::TrtPoseInfer>)
        @extends gst_video::VideoFilter, gst_base::BaseTransform, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "trtposeinfer",
        gst::Rank::NONE,
        TrtPoseInfer::static_type(),
    )
}
