//! `trtposeinfer`: runs a pose network on video frames and attaches the people found.

use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    pub struct TrtPoseInfer(ObjectSubclass<imp::TrtPoseInfer>)
        @extends gst_video::VideoFilter, gst_base::BaseTransform, gst::Element, gst::Object;
}

#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstTrtPoseModelFamily")]
pub enum ModelFamily {
    #[enum_value(name = "Detect from the model's inputs and outputs", nick = "auto")]
    Auto = 0,
    #[enum_value(
        name = "trt_pose (part confidence maps + part affinity fields)",
        nick = "trt-pose"
    )]
    TrtPose = 1,
    #[enum_value(name = "MoveNet (multipose or singlepose)", nick = "movenet")]
    MoveNet = 2,
    #[enum_value(name = "PoseNet (MobileNetV1, multi-person decoder)", nick = "posenet")]
    PoseNet = 3,
}

#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstTrtPoseResizeMode")]
pub enum ResizeMode {
    #[enum_value(
        name = "The family's default (trt_pose stretches, others letterbox)",
        nick = "auto"
    )]
    Auto = 0,
    #[enum_value(name = "Stretch the frame to the network input", nick = "stretch")]
    Stretch = 1,
    #[enum_value(name = "Keep the aspect ratio and pad with black", nick = "letterbox")]
    Letterbox = 2,
}

#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstTrtPoseBackend")]
pub enum Backend {
    #[enum_value(name = "Best available: TensorRT, then CUDA, then CPU", nick = "auto")]
    Auto = 0,
    #[enum_value(name = "CPU (ONNX Runtime)", nick = "cpu")]
    Cpu = 1,
    #[enum_value(
        name = "CUDA (ONNX Runtime CUDA provider), CPU if unavailable",
        nick = "cuda"
    )]
    Cuda = 2,
    #[enum_value(
        name = "TensorRT (ONNX Runtime TensorRT provider), then CUDA, then CPU",
        nick = "tensorrt"
    )]
    TensorRt = 3,
}

#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstTrtPosePrecision")]
pub enum Precision {
    #[enum_value(name = "Float32 everywhere", nick = "fp32")]
    Fp32 = 0,
    #[enum_value(
        name = "Float16 on the GPU: the MODEL.fp16.onnx copy from `trtposeconvert half` for CUDA, TensorRT's fp16 mode; the CPU stays fp32",
        nick = "fp16"
    )]
    Fp16 = 1,
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "trtposeinfer",
        gst::Rank::NONE,
        TrtPoseInfer::static_type(),
    )
}
