// SPDX-License-Identifier: MPL-2.0
//! The GStreamer-free core of gst-trtpose: frames, tensors, pre-processing, engines, model
//! families, pose decoding, drawing, board sensors and model conversion.
//!
//! This crate does not depend on GStreamer, so the compiler keeps the boundary: the plugin
//! (`gsttrtpose`) and the tools depend on it, never the reverse. See `docs/ARCHITECTURE.md`.

pub mod calibrate;
pub mod convert;
pub mod cpuset;
pub mod draw;
pub mod engine;
pub mod frame;
pub mod guard;
pub mod half;
pub mod locate;
pub mod model;
pub mod onnx_proto;
pub mod pose;
pub mod preprocess;
pub mod pth;
pub mod publish;
pub mod quantize;
pub mod tensor;
pub mod trace;
pub mod track;
