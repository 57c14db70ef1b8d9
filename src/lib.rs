//! gst-trtpose: GStreamer elements for real-time multi-person pose estimation.

pub mod pose;
pub mod draw;
