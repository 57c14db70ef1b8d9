// SPDX-License-Identifier: MPL-2.0
//! trt_pose: part confidence maps (cmap) and part affinity fields (paf), parsed by
//! [`crate::pose::trt_parse`]. The channel counts come from the topology, so recognising only
//! looks for two or three maps and planning checks the channels.

use crate::pose::trt_parse::{Layout, MapView, TrtPoseParser};
use crate::pose::{Person, ResizeMode, Topology};
use crate::tensor::{Normalize, TensorLayout, TensorSpec};

use super::error::{DecodeError, ModelError};
use super::family::{
    Confidence, DecodeSettings, FamilyDecoder, FamilyPlan, ImageInput, ImageOutputs, OutputPlan,
    PoseFamily, describe, float_spec,
};
use super::request::FamilyRequest;

/// The trt_pose family (PyTorch/torch2trt NCHW exports and the isaac NHWC export).
#[derive(Debug)]
pub struct TrtPose;

/// `(channels, height, width, layout)` of a rank-4 map output, guessing NHWC when the names
/// say so (trt_pose's isaac export) or when only the last dimension can be the channels.
fn map_dims(spec: &TensorSpec, expect_channels: usize) -> Option<(usize, usize, usize, Layout)> {
    if spec.shape.len() != 4 {
        return None;
    }
    let s = &spec.shape;
    let nhwc_named =
        ["heatmap", "part_affinity_fields", "maxpool_heatmap"].contains(&spec.name.as_str());
    let d = |i: usize| if s[i] < 0 { 0 } else { s[i] as usize };
    if !nhwc_named && d(1) == expect_channels {
        Some((d(1), d(2), d(3), Layout::Chw))
    } else if d(3) == expect_channels {
        Some((d(3), d(1), d(2), Layout::Hwc))
    } else {
        None
    }
}

impl PoseFamily for TrtPose {
    fn name(&self) -> &'static str {
        "trt-pose"
    }

    fn signature(&self) -> &'static str {
        "trt_pose (cmap + paf maps)"
    }

    fn request(&self) -> Option<FamilyRequest> {
        Some(FamilyRequest::TrtPose)
    }

    fn recognise(&self, _input: &TensorSpec, outputs: &[TensorSpec]) -> Option<Confidence> {
        // Any two or three maps (the isaac export adds a max-pooled cmap): weak, since only
        // the topology says how many channels they must have.
        let maps = (2..=3).contains(&outputs.len()) && outputs.iter().all(|o| o.shape.len() == 4);
        maps.then_some(Confidence::Weak)
    }

    fn example(&self) -> (TensorSpec, Vec<TensorSpec>) {
        (
            float_spec("input", &[1, 3, 224, 224]),
            vec![
                float_spec("cmap", &[1, 18, 56, 56]),
                float_spec("paf", &[1, 42, 56, 56]),
            ],
        )
    }

    fn default_topology(&self) -> Topology {
        Topology::human_pose()
    }

    fn default_person_threshold(&self) -> f32 {
        0.0
    }

    fn plan(
        &self,
        input: &ImageInput,
        outputs: &[TensorSpec],
        topology: &Topology,
    ) -> Result<FamilyPlan, ModelError> {
        let c = topology.num_parts();
        let p = 2 * topology.num_links();
        let mismatch = |needs: String| ModelError::TopologyMismatch {
            topology: topology.name.clone(),
            keypoints: c,
            links: topology.num_links(),
            needs,
        };
        // By name when the export kept them, else the first map with the right channels.
        let find = |channels: usize, names: &[&str]| {
            outputs
                .iter()
                .position(|o| names.contains(&o.name.as_str()))
                .or_else(|| outputs.iter().position(|o| map_dims(o, channels).is_some()))
        };
        let cmap = find(c, &["cmap", "heatmap"]);
        let paf = find(p, &["paf", "part_affinity_fields"]);
        let (Some(cmap), Some(paf)) = (cmap, paf) else {
            return Err(mismatch(format!(
                "the model needs a cmap output with {c} channels and a paf output with {p}; its outputs are {}",
                describe(outputs)
            )));
        };
        let cm = map_dims(&outputs[cmap], c);
        let pm = map_dims(&outputs[paf], p);
        let (Some(cm), Some(pm)) = (cm, pm) else {
            return Err(mismatch(format!(
                "it needs {c} cmap and {p} paf channels, but the model's cmap is {} and paf is {}",
                outputs[cmap], outputs[paf]
            )));
        };
        if cm.3 != pm.3 {
            return Err(ModelError::MixedLayouts {
                first: "cmap",
                second: "paf",
            });
        }
        let (normalize, maps) = match cm.3 {
            // The isaac export (NHWC outputs) normalizes inside the graph.
            Layout::Hwc => (
                Normalize {
                    scale: [1.0 / 255.0; 3],
                    offset: [0.0; 3],
                },
                TensorLayout::Nhwc,
            ),
            Layout::Chw => (
                Normalize::mean_std([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
                TensorLayout::Nchw,
            ),
        };
        let outputs = OutputPlan::new(&[("cmap", cmap), ("paf", paf)], Some(maps));
        // trt_pose was trained on stretched frames.
        Ok(FamilyPlan::for_image(
            input,
            normalize,
            ResizeMode::Stretch,
            outputs,
        ))
    }

    fn decoder(
        &self,
        outputs: &OutputPlan,
        topology: &Topology,
        settings: &DecodeSettings,
    ) -> Result<Box<dyn FamilyDecoder>, ModelError> {
        let layout = match outputs.maps {
            Some(TensorLayout::Nhwc) => Layout::Hwc,
            _ => Layout::Chw,
        };
        Ok(Box::new(TrtPoseDecoder {
            cmap: outputs.index("cmap")?,
            paf: outputs.index("paf")?,
            layout,
            parser: TrtPoseParser::new(topology, settings.parse)?,
            topology: topology.clone(),
            min_person: settings.person_threshold(self),
            min_keypoint: settings.min_keypoint_score,
        }))
    }
}

#[derive(Debug)]
struct TrtPoseDecoder {
    cmap: usize,
    paf: usize,
    layout: Layout,
    parser: TrtPoseParser,
    topology: Topology,
    min_person: f32,
    min_keypoint: f32,
}

impl TrtPoseDecoder {
    /// `(channels, height, width)` of a per-image map shape.
    fn dims(
        &self,
        shape: &[usize],
        role: &'static str,
    ) -> Result<(usize, usize, usize), DecodeError> {
        let [a, b, c] = shape else {
            return Err(DecodeError::Rank {
                role,
                shape: shape.to_vec(),
                rank: 3,
            });
        };
        Ok(match self.layout {
            Layout::Chw => (*a, *b, *c),
            Layout::Hwc => (*c, *a, *b),
        })
    }
}

impl FamilyDecoder for TrtPoseDecoder {
    fn decode(
        &mut self,
        outputs: ImageOutputs<'_>,
        _input_w: u32,
        _input_h: u32,
        people: &mut Vec<Person>,
    ) -> Result<(), DecodeError> {
        let (c, p) = (outputs.get(self.cmap)?, outputs.get(self.paf)?);
        let (cc, ch, cw) = self.dims(c.1, "cmap")?;
        let (pc, ph, pw) = self.dims(p.1, "paf")?;
        let cmap = MapView::new(c.0, cc, ch, cw, self.layout)?;
        let paf = MapView::new(p.0, pc, ph, pw, self.layout)?;
        self.parser.parse(&cmap, &paf)?;
        self.parser.people_into(people);
        people.retain(|p| p.score >= self.min_person);
        // The parser keeps every peak above cmap-threshold; the other families filter
        // keypoints themselves.
        if self.min_keypoint > 0.0 {
            for p in people.iter_mut() {
                p.drop_keypoints_below(self.min_keypoint, &self.topology);
            }
        }
        Ok(())
    }
}
