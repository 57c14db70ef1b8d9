// SPDX-License-Identifier: MPL-2.0
//! gst-trtpose: GStreamer elements for real-time multi-person pose estimation.
//!
//! - `trtposeinfer` runs a pose network (trt_pose, MoveNet, PoseNet) and attaches people as
//!   `GstVideoRegionOfInterestMeta` (see [`meta`]).
//! - `poseoverlay` draws them.
//! - `posetracker` gives them ids that persist across frames and smooths their keypoints.
//! - `posepublish` sends them as JSON to a JSON Lines file or an MQTT broker.
//!
//! The GStreamer-free logic lives in the `trtpose-core` crate (re-exported here as [`pose`],
//! [`draw`], [`preprocess`], [`model`], [`engine`]…); the elements are thin wrappers.

pub use trtpose_core::{
    calibrate, convert, cpuset, draw, engine, frame, guard, half, locate, model, onnx_proto, pose,
    preprocess, pth, publish, quantize, tensor, trace, track,
};

pub mod meta;
pub mod video;

mod jetsonguard;
mod poseoverlay;
mod posepublish;
mod posetracker;
mod trtposeinfer;

static GPU_CAT: std::sync::LazyLock<gst::DebugCategory> = std::sync::LazyLock::new(|| {
    gst::DebugCategory::new(
        "trtpose-gpu",
        gst::DebugColorFlags::empty(),
        Some("Steps of the GPU path (uploads, kernel, bindings, runs)"),
    )
});

fn plugin_init(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    trace::set_sink(|step| gst::trace!(GPU_CAT, "{step}"));
    trtposeinfer::register(plugin)?;
    poseoverlay::register(plugin)?;
    posetracker::register(plugin)?;
    posepublish::register(plugin)?;
    jetsonguard::register(plugin)?;
    Ok(())
}

gst::plugin_define!(
    trtpose,
    env!("CARGO_PKG_DESCRIPTION"),
    plugin_init,
    concat!(env!("CARGO_PKG_VERSION"), "-", env!("COMMIT_ID")),
    "MPL",
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_NAME"),
    // GStreamer's own default origin: the project has no public URL yet, and this field is a URL.
    "Unknown package origin",
    env!("BUILD_REL_DATE")
);
