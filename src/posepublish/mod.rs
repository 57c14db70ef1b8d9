// SPDX-License-Identifier: MPL-2.0
//! `posepublish`: sends each frame's people (JSON, the schema of `json-output` plus `stream`
//! and `timestamp`) to a JSON Lines file or an MQTT broker; the video passes untouched.
//!
//! ```text
//! gst-launch-1.0 v4l2src ! videoconvert ! trtposeinfer ! posetracker ! \
//!     posepublish location=mqtt://camera1@broker.lan/poses/cam1 password-env=MQTT_PASSWORD ! fakesink
//! ```
//!
//! Messages go through a bounded queue to a worker thread, so the video never waits for the
//! network; the queue keeps each message until the broker acknowledges it and sends it again
//! after a reconnection. The logic lives in `trtpose_core::publish`.

use gst::glib;
use gst::prelude::*;

mod imp;
mod settings;

glib::wrapper! {
    pub struct PosePublish(ObjectSubclass<imp::PosePublish>)
        @extends gst_base::BaseTransform, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "posepublish",
        gst::Rank::NONE,
        PosePublish::static_type(),
    )
}
