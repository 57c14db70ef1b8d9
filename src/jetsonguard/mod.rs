// SPDX-License-Identifier: MPL-2.0
//! `jetsonguard`: a pass-through element that watches temperature, memory and load, throttles
//! or pauses the stream with hysteresis, and reports what it sees. Put it in front of
//! `trtposeinfer` so that frames are dropped before they cost inference time.
//!
//! ```text
//! gst-launch-1.0 nvarguscamerasrc ! nvvidconv ! video/x-raw,format=NV12 ! \
//!   jetsonguard temp-limit=75 throttle-fps=10 print-stats=true ! trtposeinfer ! fakesink
//! ```

use gst::glib;
use gst::prelude::*;

mod imp;
mod messages;
mod settings;

glib::wrapper! {
    pub struct JetsonGuard(ObjectSubclass<imp::JetsonGuard>)
        @extends gst_base::BaseTransform, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "jetsonguard",
        gst::Rank::NONE,
        JetsonGuard::static_type(),
    )
}
