//! gst-trtpose: GStreamer elements for real-time multi-person pose estimation.

pub mod pose;
pub mod draw;
pub mod engine;
pub mod model;
pub mod preprocess;
