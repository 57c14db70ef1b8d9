// SPDX-License-Identifier: MPL-2.0
//! `jetsonguard`: a pass-through element that watches temperature, memory and load, throttles
//! or pauses the stream with hysteresis, and reports what it sees.

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
