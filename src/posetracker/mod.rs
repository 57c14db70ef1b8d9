// SPDX-License-Identifier: MPL-2.0
//! `posetracker`: gives every person found by `trtposeinfer` an id that persists across frames
//! (`track-id` in their `pose` structure), smooths their keypoints (`x`/`y`; the positions
//! found stay in `raw-x`/`raw-y`) and, on frames `trtposeinfer` carried over (`interval` > 1),
//! moves them to where their track predicts them (`predicted=true`). Posts `posetracker`
//! element messages when a track starts and ends; can write JSON Lines with `track_id`.
//!
//! ```text
//! gst-launch-1.0 filesrc location=in.mp4 ! decodebin ! trtposeinfer ! posetracker ! poseoverlay ! autovideosink
//! ```
//!
//! The tracking itself is `trtpose_core::track`; this element reads and rewrites metadata.

use gst::glib;
use gst::prelude::*;

mod imp;
mod settings;

glib::wrapper! {
    pub struct PoseTracker(ObjectSubclass<imp::PoseTracker>)
        @extends gst_base::BaseTransform, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "posetracker",
        gst::Rank::NONE,
        PoseTracker::static_type(),
    )
}
