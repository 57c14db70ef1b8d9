// SPDX-License-Identifier: MPL-2.0
//! The family the user asks for, apart from the families themselves so that errors can name it
//! without depending on the family contract.

/// What the user asked for (`model-family` property).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "glib", derive(glib::Enum))]
#[cfg_attr(feature = "glib", enum_type(name = "GstTrtPoseModelFamily"))]
#[repr(u32)]
pub enum FamilyRequest {
    #[default]
    #[cfg_attr(
        feature = "glib",
        enum_value(name = "Detect from the model's inputs and outputs", nick = "auto")
    )]
    Auto = 0,
    #[cfg_attr(
        feature = "glib",
        enum_value(
            name = "trt_pose (part confidence maps + part affinity fields)",
            nick = "trt-pose"
        )
    )]
    TrtPose = 1,
    #[cfg_attr(
        feature = "glib",
        enum_value(name = "MoveNet (multipose or singlepose)", nick = "movenet")
    )]
    MoveNet = 2,
    #[cfg_attr(
        feature = "glib",
        enum_value(name = "PoseNet (MobileNetV1, multi-person decoder)", nick = "posenet")
    )]
    PoseNet = 3,
    #[cfg_attr(
        feature = "glib",
        enum_value(
            name = "Person detector (CenterNet-style rows of boxes, scores and classes)",
            nick = "detector"
        )
    )]
    Detector = 4,
}

/// What the network runs on (`process-mode` property).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "glib", derive(glib::Enum))]
#[cfg_attr(feature = "glib", enum_type(name = "GstTrtPoseProcessMode"))]
#[repr(u32)]
pub enum ProcessMode {
    #[default]
    #[cfg_attr(
        feature = "glib",
        enum_value(name = "The whole frame; the people found are added", nick = "frame")
    )]
    Frame = 0,
    #[cfg_attr(
        feature = "glib",
        enum_value(
            name = "A square crop around each upstream person region; its keypoints are written into that region",
            nick = "objects"
        )
    )]
    Objects = 1,
}
