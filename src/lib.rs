//! gst-trtpose: GStreamer elements for real-time multi-person pose estimation.
//!
//! - `trtposeinfer` runs a pose network (trt_pose, MoveNet, PoseNet) and attaches people as
//!   `GstVideoRegionOfInterestMeta` (see [`meta`]).
//! - `poseoverlay` draws them.
//!
//! The GStreamer-free logic lives in [`pose`], [`draw`], [`preprocess`], [`model`] and
//! [`engine`]; the elements are thin wrappers.

pub mod calibrate;
pub mod convert;
pub mod draw;
pub mod engine;
pub mod guard;
pub mod half;
pub mod meta;
pub mod model;
pub mod onnx_proto;
pub mod pose;
pub mod preprocess;
pub mod video;

mod jetsonguard;
mod poseoverlay;
mod trtposeinfer;

fn plugin_init(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    trtposeinfer::register(plugin)?;
    poseoverlay::register(plugin)?;
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
    "gst-trtpose",
    env!("BUILD_REL_DATE")
);
