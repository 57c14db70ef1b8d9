// SPDX-License-Identifier: MPL-2.0
//! Model families: recognising a network from its inputs and outputs, preparing its input and
//! decoding its outputs into people. GStreamer-free, shared by the element and the CLI.
//!
//! Each family lives in its own module behind [`PoseFamily`], adapting a decoder of
//! [`crate::pose`]; [`REGISTRY`] is the only list of them. Adding a family is its module plus
//! one line there (and a [`FamilyRequest`] value if users should be able to force it).
//!
//! Inside, dependencies go one way: `request` ← `error` ← `family` (the contract) ← the
//! family modules ← this module (registry, plan, decoder) ← `estimator`.

pub mod detector;
mod error;
mod estimator;
mod family;
pub mod movenet;
pub mod posenet;
mod request;
#[cfg(test)]
mod tests;
pub mod trt_pose;

use crate::pose::{Geometry, Person, ResizeMode, Topology};
use crate::tensor::{ElementType, InputFormat, OutputBuffer, TensorSpec};

pub use error::{DecodeError, ModelError};
pub use estimator::{EstimatorConfig, Failover, FallbackLoader, PoseEstimator};
use family::describe;
pub use family::{
    Confidence, DecodeSettings, Family, FamilyDecoder, FamilyPlan, ImageInput, ImageOutputs,
    OutputPlan, PoseFamily,
};
pub use request::{FamilyRequest, ProcessMode};

/// Every family, tried on each model. The order only breaks ties between families that
/// recognise a model with the same [`Confidence`], and orders the "expected …" list of
/// [`ModelError::UnknownFamily`].
pub static REGISTRY: &[&dyn PoseFamily] = &[
    &trt_pose::TrtPose,
    &movenet::MULTIPOSE,
    &movenet::SINGLEPOSE,
    &posenet::PoseNet,
    &detector::BoxDetector,
];

/// Everything needed to feed and decode one model.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelPlan {
    pub family: Family,
    pub input: InputFormat,
    /// `(width, height)` when the model fixes it.
    pub fixed_size: Option<(u32, u32)>,
    pub outputs: OutputPlan,
    pub default_resize: ResizeMode,
    pub topology: Topology,
}

impl ModelPlan {
    /// Recognises the family among [`REGISTRY`] from inputs and outputs and checks them against
    /// the topology (the family's default when `topology` is `None`).
    pub fn new(
        inputs: &[TensorSpec],
        outputs: &[TensorSpec],
        request: FamilyRequest,
        topology: Option<Topology>,
    ) -> Result<Self, ModelError> {
        Self::with_families(REGISTRY, inputs, outputs, request, topology)
    }

    /// As [`ModelPlan::new`], choosing among `families` instead of the registry.
    pub fn with_families(
        families: &[&'static dyn PoseFamily],
        inputs: &[TensorSpec],
        outputs: &[TensorSpec],
        request: FamilyRequest,
        topology: Option<Topology>,
    ) -> Result<Self, ModelError> {
        let (input, layout) = ImageInput::find(inputs)?;
        let family = choose(families, input, outputs, request)?;
        let topology = topology.unwrap_or_else(|| family.default_topology());
        let image = ImageInput::new(input, layout)?;
        if let Some(o) = outputs.iter().find(|o| o.elem != ElementType::F32) {
            return Err(ModelError::BadOutputType { output: o.clone() });
        }
        let plan = family.plan(&image, outputs, &topology)?;
        Ok(ModelPlan {
            family,
            input: plan.input,
            fixed_size: plan.fixed_size,
            outputs: plan.outputs,
            default_resize: plan.default_resize,
            topology,
        })
    }

    /// Network input size for a frame: the model's own, or derived from `input_size` as the
    /// family says (the long side for MoveNet multipose, the square side otherwise; at least
    /// 32).
    pub fn input_size_for(&self, frame_w: u32, frame_h: u32, input_size: u32) -> (u32, u32) {
        match self.fixed_size {
            Some(size) => size,
            None => self
                .family
                .dynamic_input_size(frame_w, frame_h, input_size.max(32)),
        }
    }

    /// Where a frame goes in the network input, with `resize` or the family's default.
    pub fn geometry_for(
        &self,
        frame_w: u32,
        frame_h: u32,
        input_size: u32,
        resize: Option<ResizeMode>,
    ) -> Geometry {
        let (iw, ih) = self.input_size_for(frame_w, frame_h, input_size);
        Geometry::new(
            frame_w,
            frame_h,
            iw,
            ih,
            resize.unwrap_or(self.default_resize),
        )
    }
}

/// The family for a model: among those that recognise it, the most confident (the first
/// registered on a tie); with a request, the best of those it names.
fn choose(
    families: &[&'static dyn PoseFamily],
    input: &TensorSpec,
    outputs: &[TensorSpec],
    request: FamilyRequest,
) -> Result<Family, ModelError> {
    let mut claims: Vec<(Confidence, Family)> = families
        .iter()
        .filter_map(|&f| Some((f.recognise(input, outputs)?, Family::new(f))))
        .collect();
    // Stable: equal confidences keep registry order.
    claims.sort_by_key(|&(confidence, _)| std::cmp::Reverse(confidence));
    let Some(&(_, best)) = claims.first() else {
        let names: Vec<&str> = families.iter().map(|f| f.signature()).collect();
        let expected = match names.split_last() {
            Some((last, [])) => last.to_string(),
            Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
            None => "a registered family".into(),
        };
        return Err(ModelError::UnknownFamily {
            input: input.clone(),
            outputs: describe(outputs),
            expected,
        });
    };
    if request == FamilyRequest::Auto {
        return Ok(best);
    }
    claims
        .iter()
        .map(|&(_, f)| f)
        .find(|f| f.request() == Some(request))
        .ok_or(ModelError::FamilyMismatch {
            request,
            outputs: describe(outputs),
            family: best.name(),
        })
}

/// Turns raw outputs into people: the family's decoder, then the shared ranking.
#[derive(Debug)]
pub struct PoseDecoder {
    plan: ModelPlan,
    settings: DecodeSettings,
    decoder: Box<dyn FamilyDecoder>,
}

impl PoseDecoder {
    pub fn new(plan: ModelPlan, settings: DecodeSettings) -> Result<Self, ModelError> {
        let decoder = plan
            .family
            .decoder(&plan.outputs, &plan.topology, &settings)?;
        Ok(PoseDecoder {
            plan,
            settings,
            decoder,
        })
    }

    pub fn plan(&self) -> &ModelPlan {
        &self.plan
    }

    /// Decodes into people with coordinates normalized to the network input.
    pub fn decode(
        &mut self,
        outputs: &[OutputBuffer],
        input_w: u32,
        input_h: u32,
        people: &mut Vec<Person>,
    ) -> Result<(), DecodeError> {
        self.decode_item(outputs, 0, input_w, input_h, people)
    }

    /// Decodes image `item` of a run into people in frame pixels, for a frame placed in the
    /// network input as `geometry` says.
    pub fn decode_for_frame(
        &mut self,
        outputs: &[OutputBuffer],
        item: usize,
        geometry: &Geometry,
        people: &mut Vec<Person>,
    ) -> Result<(), DecodeError> {
        self.decode_item(outputs, item, geometry.input_w, geometry.input_h, people)?;
        for p in people.iter_mut() {
            p.map_to_frame(geometry);
        }
        Ok(())
    }

    /// Decodes image `item` of a batched run.
    pub fn decode_item(
        &mut self,
        outputs: &[OutputBuffer],
        item: usize,
        input_w: u32,
        input_h: u32,
        people: &mut Vec<Person>,
    ) -> Result<(), DecodeError> {
        self.decoder
            .decode(ImageOutputs::new(outputs, item), input_w, input_h, people)?;
        crate::pose::sort_and_truncate(people, self.settings.max_people);
        Ok(())
    }
}
