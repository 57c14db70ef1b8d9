// SPDX-License-Identifier: MPL-2.0
//! Why a model does not fit (when planning) and why a run's outputs do not (when decoding).
//! The texts name the tensors, their shapes and what would fit, since they reach users as is.

use crate::pose::posenet::PoseNetError;
use crate::pose::trt_parse::{MapError, ParseParamsError};
use crate::tensor::{ElementType, TensorSpec};

use super::request::FamilyRequest;

/// A model (or a plan built by hand) that no registered family can feed and decode.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("model has {count} inputs ({inputs}); pose models take exactly one image")]
    InputCount { count: usize, inputs: String },
    #[error("input {input} is not an image: expected rank 4 (NCHW or NHWC)")]
    NotAnImage { input: TensorSpec },
    #[error("input {input} is not an RGB image: no dimension of size 3 at position 1 or 3")]
    NotRgb { input: TensorSpec },
    #[error("input {input} has element type {elem}; supported are float32 and int32")]
    BadInputType {
        input: TensorSpec,
        elem: ElementType,
    },
    #[error("output {output} is not float32")]
    BadOutputType { output: TensorSpec },
    /// No registered family recognises the outputs; `expected` lists what each looks for.
    #[error(
        "cannot tell the model family from input {input} and outputs [{outputs}]: expected {expected}"
    )]
    UnknownFamily {
        input: TensorSpec,
        outputs: String,
        expected: String,
    },
    /// `family` is the name of the family the outputs look like.
    #[error("model-family is {request:?} but the model's outputs ({outputs}) look like {family}")]
    FamilyMismatch {
        request: FamilyRequest,
        outputs: String,
        family: &'static str,
    },
    /// The topology's keypoints and links do not match the model's maps; `needs` ends the
    /// sentence with what the family needs and what the model has.
    #[error("topology '{topology}' has {keypoints} keypoints and {links} links, so {needs}")]
    TopologyMismatch {
        topology: String,
        keypoints: usize,
        links: usize,
        needs: String,
    },
    /// The family outputs a fixed set of keypoints and the topology has another count.
    #[error(
        "topology '{topology}' has {keypoints} keypoints; {family} outputs {expected} ({order} order)"
    )]
    KeypointCount {
        topology: String,
        keypoints: usize,
        family: &'static str,
        expected: usize,
        order: &'static str,
    },
    #[error("{family} needs {needs}; the outputs are {outputs}")]
    MissingOutput {
        family: &'static str,
        needs: String,
        outputs: String,
    },
    #[error("{first} and {second} outputs use different layouts")]
    MixedLayouts {
        first: &'static str,
        second: &'static str,
    },
    /// A plan (its fields are public) that lacks an output the family's decoder reads.
    #[error("the plan maps no model output to the '{role}' role")]
    MissingRole { role: &'static str },
    #[error(transparent)]
    ParseParams(#[from] ParseParamsError),
}

/// Outputs of a run that do not fit the plan they are decoded with.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("output {index} missing")]
    MissingOutput { index: usize },
    #[error("output {index} has shape {shape:?}: no image {item} in the batch")]
    NoImage {
        index: usize,
        shape: Vec<usize>,
        item: usize,
    },
    #[error("{role} output has per-image shape {shape:?}, expected {rank} dimensions")]
    Rank {
        role: &'static str,
        shape: Vec<usize>,
        rank: usize,
    },
    #[error(transparent)]
    Maps(#[from] MapError),
    #[error(transparent)]
    PoseNet(#[from] PoseNetError),
    /// A decoder's own error, for families whose decoders bring their own error type.
    #[error(transparent)]
    Family(Box<dyn std::error::Error + Send + Sync>),
}

impl ModelError {
    /// Checks that `topology` has the `expected` keypoints a family outputs (in `order`).
    pub fn check_keypoints(
        topology: &crate::pose::Topology,
        family: &'static str,
        expected: usize,
        order: &'static str,
    ) -> Result<(), ModelError> {
        if topology.num_parts() == expected {
            return Ok(());
        }
        Err(ModelError::KeypointCount {
            topology: topology.name.clone(),
            keypoints: topology.num_parts(),
            family,
            expected,
            order,
        })
    }
}
