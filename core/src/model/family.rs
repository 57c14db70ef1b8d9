// SPDX-License-Identifier: MPL-2.0
//! What a model family is to the rest of the model layer: the [`PoseFamily`] trait, its
//! decoder, and the plain data they exchange (the checked image input, the plan of inputs and
//! outputs, decode settings, one image's outputs). Families depend on this module only, never
//! on the registry or [`super::ModelPlan`], so the layer has no cycle.

use std::fmt;
use std::ops::Deref;

use crate::pose::trt_parse::ParseParams;
use crate::pose::{Person, ResizeMode, Topology};
use crate::tensor::{
    ElementType, InputElem, InputFormat, Normalize, OutputBuffer, TensorLayout, TensorSpec,
};

use super::error::{DecodeError, ModelError};
use super::request::FamilyRequest;

/// How sure a family is that a model is one of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Confidence {
    /// The outputs fit, but they are generic enough to fit another family too.
    Weak,
    /// The outputs have this family's exact shapes.
    Strong,
}

/// One model family: how to recognise its networks, feed them and decode their outputs.
///
/// Nothing here assumes several people or particular maps: a family decodes its outputs into
/// zero or more [`Person`]s (keypoints, a box, a score) however it likes.
pub trait PoseFamily: Sync {
    /// Unique, stable name, shown in logs and written to conversion sidecars.
    fn name(&self) -> &'static str;
    /// What [`PoseFamily::recognise`] looks for, in words, for the error when no family fits.
    fn signature(&self) -> &'static str;
    /// The `model-family` value that forces this family; `None` if it is only detected.
    fn request(&self) -> Option<FamilyRequest>;
    /// Whether a model with this input and these outputs looks like one of this family's.
    /// Only shapes and names: the topology is checked by [`PoseFamily::plan`].
    fn recognise(&self, input: &TensorSpec, outputs: &[TensorSpec]) -> Option<Confidence>;
    /// Input and outputs of a typical model of the family, which `recognise` must claim and
    /// `plan` accept (the registry's tests run every family against every other's).
    fn example(&self) -> (TensorSpec, Vec<TensorSpec>);
    /// The topology used when the user names none.
    fn default_topology(&self) -> Topology;
    /// The minimum person score used when the user sets none.
    fn default_person_threshold(&self) -> f32;
    /// Whether its people are regions without keypoints (a detector), for a pose network in
    /// `process-mode=objects` to run on.
    fn is_detector(&self) -> bool {
        false
    }
    /// Plans the input (format, size, default resize) and finds the outputs the decoder reads,
    /// checking them against `topology`.
    fn plan(
        &self,
        input: &ImageInput,
        outputs: &[TensorSpec],
        topology: &Topology,
    ) -> Result<FamilyPlan, ModelError>;
    /// Network input size for a frame when the model leaves it dynamic; `input_size` (at least
    /// 32) is the user's `input-size`. A square by default.
    fn dynamic_input_size(&self, frame_w: u32, frame_h: u32, input_size: u32) -> (u32, u32) {
        let _ = (frame_w, frame_h);
        (input_size, input_size)
    }
    /// A decoder for the outputs `plan` found (by this family's `plan`), with its workspace
    /// allocated once.
    fn decoder(
        &self,
        outputs: &OutputPlan,
        topology: &Topology,
        settings: &DecodeSettings,
    ) -> Result<Box<dyn FamilyDecoder>, ModelError>;
}

/// A family's decoder with its reusable workspace, built by [`PoseFamily::decoder`].
pub trait FamilyDecoder: Send + fmt::Debug {
    /// Replaces `people` with the people of one image, coordinates normalized to the
    /// `input_w × input_h` network input. The caller sorts them and keeps `max_people`.
    fn decode(
        &mut self,
        outputs: ImageOutputs<'_>,
        input_w: u32,
        input_h: u32,
        people: &mut Vec<Person>,
    ) -> Result<(), DecodeError>;
}

/// A recognised family: a handle on its registry entry, compared by name.
#[derive(Clone, Copy)]
pub struct Family(&'static dyn PoseFamily);

impl Family {
    pub fn new(family: &'static dyn PoseFamily) -> Self {
        Family(family)
    }
}

impl Deref for Family {
    type Target = dyn PoseFamily;
    fn deref(&self) -> &Self::Target {
        self.0
    }
}

impl PartialEq for Family {
    fn eq(&self, other: &Self) -> bool {
        self.name() == other.name()
    }
}

impl Eq for Family {}

impl fmt::Debug for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Family({:?})", self.name())
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The model's one input, checked to be an RGB image of a supported element type.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageInput {
    pub spec: TensorSpec,
    pub layout: TensorLayout,
    pub elem: InputElem,
    /// `(width, height)` when the model fixes it.
    pub size: Option<(u32, u32)>,
}

impl ImageInput {
    /// The single rank-4 RGB input and its layout. The element type is checked later, so that
    /// a model of no known family is reported as such first.
    pub(super) fn find(inputs: &[TensorSpec]) -> Result<(&TensorSpec, TensorLayout), ModelError> {
        let [input] = inputs else {
            return Err(ModelError::InputCount {
                count: inputs.len(),
                inputs: describe(inputs),
            });
        };
        if input.shape.len() != 4 {
            return Err(ModelError::NotAnImage {
                input: input.clone(),
            });
        }
        if input.shape[1] == 3 {
            Ok((input, TensorLayout::Nchw))
        } else if input.shape[3] == 3 {
            Ok((input, TensorLayout::Nhwc))
        } else {
            Err(ModelError::NotRgb {
                input: input.clone(),
            })
        }
    }

    pub(super) fn new(spec: &TensorSpec, layout: TensorLayout) -> Result<Self, ModelError> {
        let elem = match spec.elem {
            ElementType::F32 => InputElem::F32,
            ElementType::I32 => InputElem::I32,
            other => {
                return Err(ModelError::BadInputType {
                    input: spec.clone(),
                    elem: other,
                });
            }
        };
        let (h, w) = match layout {
            TensorLayout::Nchw => (spec.shape[2], spec.shape[3]),
            TensorLayout::Nhwc => (spec.shape[1], spec.shape[2]),
        };
        Ok(ImageInput {
            spec: spec.clone(),
            layout,
            elem,
            size: (h > 0 && w > 0).then_some((w as u32, h as u32)),
        })
    }

    /// The input format with the model's layout and element type.
    pub fn format(&self, normalize: Normalize) -> InputFormat {
        InputFormat {
            layout: self.layout,
            elem: self.elem,
            normalize,
        }
    }
}

/// What a family plans for a model, before [`super::ModelPlan`] adds the family and topology.
#[derive(Debug, Clone, PartialEq)]
pub struct FamilyPlan {
    pub input: InputFormat,
    /// `(width, height)` when the model fixes it.
    pub fixed_size: Option<(u32, u32)>,
    pub default_resize: ResizeMode,
    pub outputs: OutputPlan,
}

impl FamilyPlan {
    /// The usual plan: the image's own layout, element type and size.
    pub fn for_image(
        image: &ImageInput,
        normalize: Normalize,
        default_resize: ResizeMode,
        outputs: OutputPlan,
    ) -> Self {
        FamilyPlan {
            input: image.format(normalize),
            fixed_size: image.size,
            default_resize,
            outputs,
        }
    }
}

/// Which model outputs a family's decoder reads.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OutputPlan {
    /// `(role, output index)` in the family's order, e.g. `[("cmap", 0), ("paf", 1)]`.
    pub roles: Vec<(&'static str, usize)>,
    /// Where the channels of map outputs are; `None` for outputs that are not maps.
    pub maps: Option<TensorLayout>,
}

impl OutputPlan {
    pub fn new(roles: &[(&'static str, usize)], maps: Option<TensorLayout>) -> Self {
        OutputPlan {
            roles: roles.to_vec(),
            maps,
        }
    }

    /// Index of the output playing `role`.
    pub fn index(&self, role: &'static str) -> Result<usize, ModelError> {
        self.roles
            .iter()
            .find(|(r, _)| *r == role)
            .map(|&(_, i)| i)
            .ok_or(ModelError::MissingRole { role })
    }
}

/// Decoding thresholds shared by all families.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DecodeSettings {
    /// trt_pose's parse parameters.
    pub parse: ParseParams,
    /// Minimum person score; negative = the family's default (MoveNet 0.2, PoseNet 0.25,
    /// trt_pose 0).
    pub min_person_score: f32,
    pub min_keypoint_score: f32,
    pub max_people: usize,
}

impl Default for DecodeSettings {
    fn default() -> Self {
        DecodeSettings {
            parse: ParseParams::default(),
            min_person_score: -1.0,
            min_keypoint_score: 0.0,
            max_people: 100,
        }
    }
}

impl DecodeSettings {
    /// The user's minimum person score, else the family's.
    pub fn person_threshold(&self, family: &dyn PoseFamily) -> f32 {
        if self.min_person_score >= 0.0 {
            self.min_person_score
        } else {
            family.default_person_threshold()
        }
    }
}

/// The outputs of one run, seen from one image of its batch.
#[derive(Debug, Clone, Copy)]
pub struct ImageOutputs<'a> {
    outputs: &'a [OutputBuffer],
    item: usize,
}

impl<'a> ImageOutputs<'a> {
    pub fn new(outputs: &'a [OutputBuffer], item: usize) -> Self {
        ImageOutputs { outputs, item }
    }

    /// Output `index` of this image: its values and its shape without the batch dimension.
    pub fn get(&self, index: usize) -> Result<(&'a [f32], &'a [usize]), DecodeError> {
        let o = self
            .outputs
            .get(index)
            .ok_or(DecodeError::MissingOutput { index })?;
        let batch = o.shape.first().copied().unwrap_or(1).max(1);
        if self.item >= batch {
            return Err(DecodeError::NoImage {
                index,
                shape: o.shape.clone(),
                item: self.item,
            });
        }
        let len = o.data.len() / batch;
        Ok((
            &o.data[self.item * len..(self.item + 1) * len],
            &o.shape[1.min(o.shape.len())..],
        ))
    }
}

/// Tensors as a comma-separated list, for messages.
pub(crate) fn describe(specs: &[TensorSpec]) -> String {
    specs
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A float32 tensor description (families' examples).
pub(crate) fn float_spec(name: &str, shape: &[i64]) -> TensorSpec {
    TensorSpec {
        name: name.into(),
        elem: ElementType::F32,
        shape: shape.to_vec(),
    }
}
