//! `jetsonguard`: a pass-through element that watches temperature, memory and load, throttles
//! or pauses the stream with hysteresis, and reports what it sees.

use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    pub struct JetsonGuard(ObjectSubclass<imp::JetsonGuard>)
        @extends gst_base::BaseTransform, gst::Element, gst::Object;
}

#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstJetsonGuardMode")]
pub enum Mode {
    #[enum_value(
        name = "Drop frames evenly down to throttle-fps while over a limit (live sources)",
        nick = "drop"
    )]
    Drop = 0,
    #[enum_value(
        name = "Block the stream until back under the resume levels, losing nothing (files)",
        nick = "pause"
    )]
    Pause = 1,
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "jetsonguard",
        gst::Rank::NONE,
        JetsonGuard::static_type(),
    )
}
