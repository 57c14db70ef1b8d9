//! `poseoverlay`: draws the skeletons attached by `trtposeinfer` onto the frames.

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
