// SPDX-License-Identifier: MPL-2.0
//! Person detectors whose network ends in rows of `[x1, y1, x2, y2, score, class]` in input
//! pixels (CenterNet's `detections`, COCO-80 classes, person = 0): people without keypoints,
//! the regions a pose network in `process-mode=objects` then runs on.

use crate::pose::detect::{self, DetectParams};
use crate::pose::{Person, ResizeMode, Topology};
use crate::tensor::{Normalize, TensorSpec};

use super::error::{DecodeError, ModelError};
use super::family::{
    Confidence, DecodeSettings, FamilyDecoder, FamilyPlan, ImageInput, ImageOutputs, OutputPlan,
    PoseFamily, float_spec,
};
use super::request::FamilyRequest;

/// Values per detection row.
const ROW: i64 = 6;
/// COCO-80 index of "person".
const PERSON_CLASS: u32 = 0;
/// IoU above which a weaker box of the same person is dropped (CenterNet has no NMS inside).
const NMS_IOU: f32 = 0.5;

/// CenterNet-style detector: one `[1, N, 6]` output of box rows, raw 0..255 RGB input.
#[derive(Debug)]
pub struct BoxDetector;

impl BoxDetector {
    /// The output holding the rows: rank 3 ending in 6 (the other outputs are maps).
    fn rows_output(outputs: &[TensorSpec]) -> Option<usize> {
        outputs
            .iter()
            .position(|o| o.shape.len() == 3 && o.shape[2] == ROW)
    }
}

impl PoseFamily for BoxDetector {
    fn name(&self) -> &'static str {
        "detector (box rows)"
    }

    fn signature(&self) -> &'static str {
        "a person detector ([1, N, 6] rows of x1, y1, x2, y2, score, class)"
    }

    fn request(&self) -> Option<FamilyRequest> {
        Some(FamilyRequest::Detector)
    }

    fn recognise(&self, _input: &TensorSpec, outputs: &[TensorSpec]) -> Option<Confidence> {
        Self::rows_output(outputs).map(|_| Confidence::Strong)
    }

    fn example(&self) -> (TensorSpec, Vec<TensorSpec>) {
        (
            float_spec("image", &[1, 512, 512, 3]),
            vec![
                float_spec("detections", &[1, 100, 6]),
                float_spec("heatmap", &[1, 128, 128, 80]),
                float_spec("wh", &[1, 128, 128, 4]),
            ],
        )
    }

    fn default_topology(&self) -> Topology {
        Topology::boxes()
    }

    fn default_person_threshold(&self) -> f32 {
        // CenterNet's person rows: 0.1 already finds flag stripes, 0.3 keeps real people.
        0.3
    }

    fn is_detector(&self) -> bool {
        true
    }

    fn plan(
        &self,
        input: &ImageInput,
        outputs: &[TensorSpec],
        topology: &Topology,
    ) -> Result<FamilyPlan, ModelError> {
        ModelError::check_keypoints(topology, "a person detector", 0, "boxes")?;
        let rows = Self::rows_output(outputs).ok_or(ModelError::MissingRole { role: "rows" })?;
        // Raw pixels (the network scales them itself), letterboxed as upstream's demo does.
        Ok(FamilyPlan::for_image(
            input,
            Normalize::IDENTITY,
            ResizeMode::Letterbox,
            OutputPlan::new(&[("rows", rows)], None),
        ))
    }

    fn decoder(
        &self,
        outputs: &OutputPlan,
        _topology: &Topology,
        settings: &DecodeSettings,
    ) -> Result<Box<dyn FamilyDecoder>, ModelError> {
        Ok(Box::new(BoxDecoder {
            rows: outputs.index("rows")?,
            params: DetectParams {
                class: PERSON_CLASS,
                min_score: settings.person_threshold(self),
                nms_iou: NMS_IOU,
            },
        }))
    }
}

#[derive(Debug)]
struct BoxDecoder {
    rows: usize,
    params: DetectParams,
}

impl FamilyDecoder for BoxDecoder {
    fn decode(
        &mut self,
        outputs: ImageOutputs<'_>,
        input_w: u32,
        input_h: u32,
        people: &mut Vec<Person>,
    ) -> Result<(), DecodeError> {
        let (data, _) = outputs.get(self.rows)?;
        detect::decode_box_rows(data, input_w, input_h, &self.params, people);
        Ok(())
    }
}
