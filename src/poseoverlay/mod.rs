// SPDX-License-Identifier: MPL-2.0
//! `poseoverlay`: draws the skeletons attached by `trtposeinfer` (keypoints, links, boxes)
//! onto the frames, in place, in every raw format the plugin accepts, honouring each plane's
//! stride and the frame's colour range and matrix. Frames without pose metadata pass
//! untouched.
//!
//! ```text
//! gst-launch-1.0 filesrc location=in.mp4 ! decodebin ! trtposeinfer ! \
//!   poseoverlay thickness=3 min-score=0.3 ! videoconvert ! autovideosink
//! ```

use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    pub struct PoseOverlay(ObjectSubclass<imp::PoseOverlay>)
        @extends gst_video::VideoFilter, gst_base::BaseTransform, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "poseoverlay",
        gst::Rank::NONE,
        PoseOverlay::static_type(),
    )
}
