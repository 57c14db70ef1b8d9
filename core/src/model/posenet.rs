// SPDX-License-Identifier: MPL-2.0
//! PoseNet (MobileNetV1): heatmap, offsets and two displacement maps, all NHWC, decoded by
//! [`crate::pose::posenet`].

use crate::pose::posenet::{NUM_KEYPOINTS, PoseNetDecoder, PoseNetOutputs, PoseNetParams};
use crate::pose::{Person, ResizeMode, Topology};
use crate::tensor::{Normalize, TensorLayout, TensorSpec};

use super::error::{DecodeError, ModelError};
use super::family::{
    Confidence, DecodeSettings, FamilyDecoder, FamilyPlan, ImageInput, ImageOutputs, OutputPlan,
    PoseFamily, describe, float_spec,
};
use super::request::FamilyRequest;

/// Channels of each displacement output: dy and dx of the 16 pose-tree edges.
const DISPLACEMENT_CHANNELS: i64 = 32;

/// The PoseNet family (tfjs MobileNetV1 exports).
#[derive(Debug)]
pub struct PoseNet;

impl PoseFamily for PoseNet {
    fn name(&self) -> &'static str {
        "posenet"
    }

    fn signature(&self) -> &'static str {
        "PoseNet (heatmap, offsets, two displacements)"
    }

    fn request(&self) -> Option<FamilyRequest> {
        Some(FamilyRequest::PoseNet)
    }

    fn recognise(&self, _input: &TensorSpec, outputs: &[TensorSpec]) -> Option<Confidence> {
        let lasts: Vec<i64> = outputs
            .iter()
            .map(|o| o.shape.last().copied().unwrap_or(0))
            .collect();
        let channels = [17, 34, DISPLACEMENT_CHANNELS];
        let fits = outputs.len() == 4 && channels.iter().all(|c| lasts.contains(c));
        fits.then_some(Confidence::Strong)
    }

    fn example(&self) -> (TensorSpec, Vec<TensorSpec>) {
        let grid = |name: &str, c: i64| float_spec(name, &[1, 33, 33, c]);
        (
            float_spec("image", &[1, 513, 513, 3]),
            vec![
                grid("heatmap", 17),
                grid("offsets", 34),
                grid("displacement_fwd", 32),
                grid("displacement_bwd", 32),
            ],
        )
    }

    fn default_topology(&self) -> Topology {
        Topology::coco17()
    }

    fn default_person_threshold(&self) -> f32 {
        0.25
    }

    fn plan(
        &self,
        input: &ImageInput,
        outputs: &[TensorSpec],
        topology: &Topology,
    ) -> Result<FamilyPlan, ModelError> {
        ModelError::check_keypoints(topology, "PoseNet", NUM_KEYPOINTS, "COCO")?;
        let missing = |needs: &str| ModelError::MissingOutput {
            family: "PoseNet",
            needs: needs.into(),
            outputs: describe(outputs),
        };
        let by_channels = |c: i64| outputs.iter().position(|o| o.shape.last() == Some(&c));
        let named = |needle: &str| outputs.iter().position(|o| o.name.contains(needle));
        let heatmap = by_channels(17).ok_or_else(|| missing("a heatmap output (17 channels)"))?;
        let offsets = by_channels(34).ok_or_else(|| missing("an offsets output (34 channels)"))?;
        let disp: Vec<usize> = (0..outputs.len())
            .filter(|&i| outputs[i].shape.last() == Some(&DISPLACEMENT_CHANNELS))
            .collect();
        // By name when the export kept them, else the two 32-channel outputs in order.
        let fwd = named("fwd")
            .or_else(|| disp.first().copied())
            .ok_or_else(|| missing("a forward displacement output (32 channels)"))?;
        let bwd = named("bwd")
            .or_else(|| disp.iter().copied().find(|&i| i != fwd))
            .filter(|&i| i != fwd)
            .ok_or_else(|| {
                missing("two displacement outputs of 32 channels (forward and backward)")
            })?;
        let roles = [
            ("heatmap", heatmap),
            ("offsets", offsets),
            ("displacement_fwd", fwd),
            ("displacement_bwd", bwd),
        ];
        // Pixels to [-1, 1], letterboxed as in the tfjs demo.
        Ok(FamilyPlan::for_image(
            input,
            Normalize {
                scale: [1.0 / 127.5; 3],
                offset: [-1.0; 3],
            },
            ResizeMode::Letterbox,
            OutputPlan::new(&roles, Some(TensorLayout::Nhwc)),
        ))
    }

    fn decoder(
        &self,
        outputs: &OutputPlan,
        topology: &Topology,
        settings: &DecodeSettings,
    ) -> Result<Box<dyn FamilyDecoder>, ModelError> {
        Ok(Box::new(PoseNetFamilyDecoder {
            heatmap: outputs.index("heatmap")?,
            offsets: outputs.index("offsets")?,
            fwd: outputs.index("displacement_fwd")?,
            bwd: outputs.index("displacement_bwd")?,
            decoder: PoseNetDecoder::new(PoseNetParams {
                min_pose_score: settings.person_threshold(self),
                max_poses: settings.max_people,
                ..Default::default()
            }),
            topology: topology.clone(),
            min_keypoint: settings.min_keypoint_score,
        }))
    }
}

#[derive(Debug)]
struct PoseNetFamilyDecoder {
    heatmap: usize,
    offsets: usize,
    fwd: usize,
    bwd: usize,
    decoder: PoseNetDecoder,
    topology: Topology,
    min_keypoint: f32,
}

impl FamilyDecoder for PoseNetFamilyDecoder {
    fn decode(
        &mut self,
        outputs: ImageOutputs<'_>,
        input_w: u32,
        input_h: u32,
        people: &mut Vec<Person>,
    ) -> Result<(), DecodeError> {
        let (heatmap, shape) = outputs.get(self.heatmap)?;
        let &[height, width, _] = shape else {
            return Err(DecodeError::Rank {
                role: "heatmap",
                shape: shape.to_vec(),
                rank: 3,
            });
        };
        let outs = PoseNetOutputs {
            heatmap,
            offsets: outputs.get(self.offsets)?.0,
            displacement_fwd: outputs.get(self.fwd)?.0,
            displacement_bwd: outputs.get(self.bwd)?.0,
            height,
            width,
        };
        self.decoder.decode(
            &outs,
            input_w,
            input_h,
            &self.topology,
            self.min_keypoint,
            people,
        )?;
        Ok(())
    }
}
