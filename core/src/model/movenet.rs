// SPDX-License-Identifier: MPL-2.0
//! MoveNet: multipose (`[1, 6, 56]` rows of keypoints, box and score) and singlepose
//! (`[1, 1, 17, 3]`), two families sharing their input and topology and decoded by
//! [`crate::pose::movenet`].

use crate::pose::geometry::dynamic_input_size;
use crate::pose::movenet::{self as decode, MULTIPOSE_ROW, NUM_KEYPOINTS};
use crate::pose::{Person, ResizeMode, Topology};
use crate::tensor::{ElementType, Normalize, TensorSpec};

use super::error::{DecodeError, ModelError};
use super::family::{
    Confidence, DecodeSettings, FamilyDecoder, FamilyPlan, ImageInput, ImageOutputs, OutputPlan,
    PoseFamily, float_spec,
};
use super::request::FamilyRequest;

/// A MoveNet variant; the registry holds [`MULTIPOSE`] and [`SINGLEPOSE`].
#[derive(Debug)]
pub struct MoveNet {
    multipose: bool,
}

/// MoveNet multipose: up to six people, dynamic input size.
pub static MULTIPOSE: MoveNet = MoveNet { multipose: true };
/// MoveNet singlepose (Lightning, Thunder): one person, always reported.
pub static SINGLEPOSE: MoveNet = MoveNet { multipose: false };

impl PoseFamily for MoveNet {
    fn name(&self) -> &'static str {
        if self.multipose {
            "movenet (multipose)"
        } else {
            "movenet (singlepose)"
        }
    }

    fn signature(&self) -> &'static str {
        if self.multipose {
            "MoveNet multipose ([1, 6, 56])"
        } else {
            "MoveNet singlepose ([1, 1, 17, 3])"
        }
    }

    fn request(&self) -> Option<FamilyRequest> {
        Some(FamilyRequest::MoveNet)
    }

    fn recognise(&self, _input: &TensorSpec, outputs: &[TensorSpec]) -> Option<Confidence> {
        let [o] = outputs else { return None };
        let last = o.shape.last().copied().unwrap_or(0);
        let fits = if self.multipose {
            o.shape.len() == 3 && last == MULTIPOSE_ROW as i64
        } else {
            o.shape.len() == 4 && last == 3 && o.shape[2] == NUM_KEYPOINTS as i64
        };
        fits.then_some(Confidence::Strong)
    }

    fn example(&self) -> (TensorSpec, Vec<TensorSpec>) {
        let mut input = float_spec("input", &[1, -1, -1, 3]);
        input.elem = ElementType::I32;
        if self.multipose {
            (input, vec![float_spec("output_0", &[1, 6, 56])])
        } else {
            input.shape = vec![1, 192, 192, 3];
            (input, vec![float_spec("output_0", &[1, 1, 17, 3])])
        }
    }

    fn default_topology(&self) -> Topology {
        Topology::coco17()
    }

    fn default_person_threshold(&self) -> f32 {
        0.2
    }

    fn plan(
        &self,
        input: &ImageInput,
        _outputs: &[TensorSpec],
        topology: &Topology,
    ) -> Result<FamilyPlan, ModelError> {
        ModelError::check_keypoints(topology, "MoveNet", NUM_KEYPOINTS, "COCO")?;
        // Raw 0..255 pixels, letterboxed as in the TF Hub examples.
        Ok(FamilyPlan::for_image(
            input,
            Normalize::IDENTITY,
            ResizeMode::Letterbox,
            OutputPlan::new(&[("output", 0)], None),
        ))
    }

    fn dynamic_input_size(&self, frame_w: u32, frame_h: u32, input_size: u32) -> (u32, u32) {
        // Multipose keeps the frame's aspect ratio (multiples of 32); singlepose is square.
        if self.multipose {
            dynamic_input_size(frame_w, frame_h, input_size)
        } else {
            (input_size, input_size)
        }
    }

    fn decoder(
        &self,
        outputs: &OutputPlan,
        topology: &Topology,
        settings: &DecodeSettings,
    ) -> Result<Box<dyn FamilyDecoder>, ModelError> {
        Ok(Box::new(MoveNetDecoder {
            multipose: self.multipose,
            output: outputs.index("output")?,
            topology: topology.clone(),
            min_person: settings.person_threshold(self),
            min_keypoint: settings.min_keypoint_score,
        }))
    }
}

#[derive(Debug)]
struct MoveNetDecoder {
    multipose: bool,
    output: usize,
    topology: Topology,
    min_person: f32,
    min_keypoint: f32,
}

impl FamilyDecoder for MoveNetDecoder {
    fn decode(
        &mut self,
        outputs: ImageOutputs<'_>,
        _input_w: u32,
        _input_h: u32,
        people: &mut Vec<Person>,
    ) -> Result<(), DecodeError> {
        let (data, _) = outputs.get(self.output)?;
        let run = if self.multipose {
            decode::decode_multipose
        } else {
            decode::decode_singlepose
        };
        run(
            data,
            &self.topology,
            self.min_person,
            self.min_keypoint,
            people,
        );
        Ok(())
    }
}
