//! Model families: recognising a network from its inputs and outputs, preparing its input and
//! decoding its outputs into people. GStreamer-free, shared by the element and the CLI.

use std::fmt;

use crate::engine::{Backend, Engine, EngineError, FrameJob};
use crate::frame::SourceFrame;
use crate::pose::geometry::dynamic_input_size;
use crate::pose::movenet;
use crate::pose::posenet::{PoseNetDecoder, PoseNetOutputs, PoseNetParams};
use crate::pose::trt_parse::{Layout, MapView, ParseParams, TrtPoseParser};
use crate::pose::{Geometry, Person, ResizeMode, Topology};
use crate::preprocess::Preprocessor;
use crate::tensor::{
    ElementType, InputData, InputElem, InputFormat, Normalize, OutputBuffer, TensorLayout,
    TensorSpec,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    TrtPose,
    MoveNetMulti,
    MoveNetSingle,
    PoseNet,
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Family::TrtPose => "trt-pose",
            Family::MoveNetMulti => "movenet (multipose)",
            Family::MoveNetSingle => "movenet (singlepose)",
            Family::PoseNet => "posenet",
        })
    }
}

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
}

/// How outputs map onto a family's tensors.
#[derive(Debug, Clone, PartialEq)]
pub enum OutputPlan {
    TrtPose {
        cmap: usize,
        paf: usize,
        layout: Layout,
    },
    MoveNetMulti {
        output: usize,
    },
    MoveNetSingle {
        output: usize,
    },
    PoseNet {
        heatmap: usize,
        offsets: usize,
        fwd: usize,
        bwd: usize,
    },
}

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

fn dims(spec: &TensorSpec) -> String {
    spec.to_string()
}

fn describe(specs: &[TensorSpec]) -> String {
    specs.iter().map(dims).collect::<Vec<_>>().join(", ")
}

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

impl ModelPlan {
    /// Recognises the family from inputs and outputs and checks them against the topology
    /// (the family's built-in when `topology` is `None`).
    pub fn new(
        inputs: &[TensorSpec],
        outputs: &[TensorSpec],
        request: FamilyRequest,
        topology: Option<Topology>,
    ) -> Result<Self, String> {
        let [input] = inputs else {
            return Err(format!(
                "model has {} inputs ({}); pose models take exactly one image",
                inputs.len(),
                describe(inputs)
            ));
        };
        if input.shape.len() != 4 {
            return Err(format!(
                "input {input} is not an image: expected rank 4 (NCHW or NHWC)"
            ));
        }
        let nchw = input.shape[1] == 3;
        let nhwc = input.shape[3] == 3;
        if !nchw && !nhwc {
            return Err(format!(
                "input {input} is not an RGB image: no dimension of size 3 at position 1 or 3"
            ));
        }
        let detected = Self::detect(input, outputs)?;
        let family = match (request, detected) {
            (FamilyRequest::Auto, f) => f,
            (FamilyRequest::TrtPose, f @ Family::TrtPose)
            | (FamilyRequest::PoseNet, f @ Family::PoseNet)
            | (FamilyRequest::MoveNet, f @ (Family::MoveNetMulti | Family::MoveNetSingle)) => f,
            (req, f) => {
                return Err(format!(
                    "model-family is {req:?} but the model's outputs ({}) look like {f}",
                    describe(outputs)
                ));
            }
        };
        let topology = match topology {
            Some(t) => t,
            None if family == Family::TrtPose => Topology::human_pose(),
            None => Topology::coco17(),
        };
        let size_at = |h: usize, w: usize| {
            let (hh, ww) = (input.shape[h], input.shape[w]);
            (hh > 0 && ww > 0).then_some((ww as u32, hh as u32))
        };
        let fixed_size = if nchw { size_at(2, 3) } else { size_at(1, 2) };
        let elem = match input.elem {
            ElementType::F32 => InputElem::F32,
            ElementType::I32 => InputElem::I32,
            other => {
                return Err(format!(
                    "input {input} has element type {other}; supported are float32 and int32"
                ));
            }
        };
        let layout = if nchw {
            TensorLayout::Nchw
        } else {
            TensorLayout::Nhwc
        };
        for o in outputs {
            if o.elem != ElementType::F32 {
                return Err(format!("output {o} is not float32"));
            }
        }
        let (outputs_plan, normalize, default_resize) = match family {
            Family::TrtPose => {
                let c = topology.num_parts();
                let p = 2 * topology.num_links();
                let find = |channels: usize, names: &[&str]| {
                    outputs
                        .iter()
                        .position(|o| names.contains(&o.name.as_str()))
                        .or_else(|| outputs.iter().position(|o| map_dims(o, channels).is_some()))
                };
                let cmap = find(c, &["cmap", "heatmap"]);
                let paf = find(p, &["paf", "part_affinity_fields"]);
                let (Some(cmap), Some(paf)) = (cmap, paf) else {
                    return Err(format!(
                        "topology '{}' has {c} keypoints and {} links, so the model needs a cmap output with {c} channels and a paf output with {p}; its outputs are {}",
                        topology.name,
                        topology.num_links(),
                        describe(outputs)
                    ));
                };
                let cm = map_dims(&outputs[cmap], c);
                let pm = map_dims(&outputs[paf], p);
                let (Some(cm), Some(pm)) = (cm, pm) else {
                    return Err(format!(
                        "topology '{}' has {c} keypoints and {} links, so it needs {c} cmap and {p} paf channels, but the model's cmap is {} and paf is {}",
                        topology.name,
                        topology.num_links(),
                        outputs[cmap],
                        outputs[paf]
                    ));
                };
                if cm.3 != pm.3 {
                    return Err("cmap and paf outputs use different layouts".into());
                }
                // The isaac export (NHWC outputs) normalizes inside the graph.
                let normalize = if cm.3 == Layout::Hwc {
                    Normalize {
                        scale: [1.0 / 255.0; 3],
                        offset: [0.0; 3],
                    }
                } else {
                    Normalize::mean_std([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
                };
                (
                    OutputPlan::TrtPose {
                        cmap,
                        paf,
                        layout: cm.3,
                    },
                    normalize,
                    ResizeMode::Stretch,
                )
            }
            Family::MoveNetMulti | Family::MoveNetSingle => {
                if topology.num_parts() != movenet::NUM_KEYPOINTS {
                    return Err(format!(
                        "topology '{}' has {} keypoints; MoveNet outputs 17 (COCO order)",
                        topology.name,
                        topology.num_parts()
                    ));
                }
                let plan = if family == Family::MoveNetMulti {
                    OutputPlan::MoveNetMulti { output: 0 }
                } else {
                    OutputPlan::MoveNetSingle { output: 0 }
                };
                (plan, Normalize::IDENTITY, ResizeMode::Letterbox)
            }
            Family::PoseNet => {
                if topology.num_parts() != 17 {
                    return Err(format!(
                        "topology '{}' has {} keypoints; PoseNet outputs 17 (COCO order)",
                        topology.name,
                        topology.num_parts()
                    ));
                }
                let by_channels = |c: i64| outputs.iter().position(|o| o.shape.last() == Some(&c));
                let named = |needle: &str| outputs.iter().position(|o| o.name.contains(needle));
                let heatmap = by_channels(17).ok_or("PoseNet heatmap output not found")?;
                let offsets = by_channels(34).ok_or("PoseNet offsets output not found")?;
                let disp: Vec<usize> = (0..outputs.len())
                    .filter(|&i| outputs[i].shape.last() == Some(&32))
                    .collect();
                // By name when the export kept them, else the two 32-channel outputs in order.
                let fwd = named("fwd")
                    .or_else(|| disp.first().copied())
                    .ok_or("PoseNet forward displacement output (32 channels) not found")?;
                let bwd = named("bwd")
                    .or_else(|| disp.iter().copied().find(|&i| i != fwd))
                    .filter(|&i| i != fwd)
                    .ok_or_else(|| {
                        format!(
                            "PoseNet needs two displacement outputs of 32 channels (forward and backward); the outputs are {}",
                            describe(outputs)
                        )
                    })?;
                (
                    OutputPlan::PoseNet {
                        heatmap,
                        offsets,
                        fwd,
                        bwd,
                    },
                    Normalize {
                        scale: [1.0 / 127.5; 3],
                        offset: [-1.0; 3],
                    },
                    ResizeMode::Letterbox,
                )
            }
        };
        Ok(ModelPlan {
            family,
            input: InputFormat {
                layout,
                elem,
                normalize,
            },
            fixed_size,
            outputs: outputs_plan,
            default_resize,
            topology,
        })
    }

    /// Network input size for a frame: the model's own, or derived from `input_size` (the
    /// long side for MoveNet multipose, the square side otherwise; at least 32).
    pub fn input_size_for(&self, frame_w: u32, frame_h: u32, input_size: u32) -> (u32, u32) {
        let input_size = input_size.max(32);
        match self.fixed_size {
            Some(size) => size,
            None if self.family == Family::MoveNetMulti => {
                dynamic_input_size(frame_w, frame_h, input_size)
            }
            None => (input_size, input_size),
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

    fn detect(input: &TensorSpec, outputs: &[TensorSpec]) -> Result<Family, String> {
        let last = |o: &TensorSpec| o.shape.last().copied().unwrap_or(0);
        if let [o] = outputs {
            if o.shape.len() == 3 && last(o) == movenet::MULTIPOSE_ROW as i64 {
                return Ok(Family::MoveNetMulti);
            }
            if o.shape.len() == 4 && last(o) == 3 && o.shape[2] == 17 {
                return Ok(Family::MoveNetSingle);
            }
        }
        let lasts: Vec<i64> = outputs.iter().map(last).collect();
        if outputs.len() == 4 && [17, 34, 32].iter().all(|c| lasts.contains(c)) {
            return Ok(Family::PoseNet);
        }
        if (2..=3).contains(&outputs.len()) && outputs.iter().all(|o| o.shape.len() == 4) {
            return Ok(Family::TrtPose);
        }
        Err(format!(
            "cannot tell the model family from input {input} and outputs [{}]: expected trt_pose (cmap + paf maps), MoveNet ([1, 6, 56] or [1, 1, 17, 3]) or PoseNet (heatmap, offsets, two displacements)",
            describe(outputs)
        ))
    }
}

/// Decoding thresholds shared by all families.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DecodeSettings {
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
    pub fn person_threshold(&self, family: Family) -> f32 {
        if self.min_person_score >= 0.0 {
            return self.min_person_score;
        }
        match family {
            Family::TrtPose => 0.0,
            Family::MoveNetMulti | Family::MoveNetSingle => 0.2,
            Family::PoseNet => 0.25,
        }
    }
}

/// Turns raw outputs into people, with reusable workspaces.
#[derive(Debug)]
pub struct PoseDecoder {
    plan: ModelPlan,
    settings: DecodeSettings,
    trt: Option<TrtPoseParser>,
    posenet: PoseNetDecoder,
}

impl PoseDecoder {
    pub fn new(plan: ModelPlan, settings: DecodeSettings) -> Result<Self, String> {
        let trt = match plan.family {
            Family::TrtPose => Some(TrtPoseParser::new(&plan.topology, settings.parse)?),
            _ => None,
        };
        let posenet = PoseNetDecoder::new(PoseNetParams {
            min_pose_score: settings.person_threshold(Family::PoseNet),
            max_poses: settings.max_people,
            ..Default::default()
        });
        Ok(PoseDecoder {
            plan,
            settings,
            trt,
            posenet,
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
    ) -> Result<(), String> {
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
    ) -> Result<(), String> {
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
    ) -> Result<(), String> {
        let s = self.settings;
        let min_person = s.person_threshold(self.plan.family);
        let topo = &self.plan.topology;
        // Output `i` of image `item`: its values and its shape without the batch dimension.
        let get = |i: usize| -> Result<(&[f32], &[usize]), String> {
            let o = outputs
                .get(i)
                .ok_or_else(|| format!("output {i} missing"))?;
            let batch = o.shape.first().copied().unwrap_or(1).max(1);
            if item >= batch {
                return Err(format!(
                    "output {i} has shape {:?}: no image {item} in the batch",
                    o.shape
                ));
            }
            let len = o.data.len() / batch;
            Ok((
                &o.data[item * len..(item + 1) * len],
                &o.shape[1.min(o.shape.len())..],
            ))
        };
        match self.plan.outputs {
            OutputPlan::TrtPose { cmap, paf, layout } => {
                let (c, p) = (get(cmap)?, get(paf)?);
                let view = |shape: &[usize], name: &str| -> Result<(usize, usize, usize), String> {
                    let [a, b, c] = shape else {
                        return Err(format!(
                            "{name} output has per-image shape {shape:?}, expected 3 dimensions"
                        ));
                    };
                    Ok(match layout {
                        Layout::Chw => (*a, *b, *c),
                        Layout::Hwc => (*c, *a, *b),
                    })
                };
                let (cc, ch, cw) = view(c.1, "cmap")?;
                let (pc, ph, pw) = view(p.1, "paf")?;
                let cmap = MapView::new(c.0, cc, ch, cw, layout)?;
                let paf = MapView::new(p.0, pc, ph, pw, layout)?;
                let parser = self.trt.as_mut().expect("trt_pose plan has a parser");
                parser.parse(&cmap, &paf)?;
                parser.people_into(people);
                people.retain(|p| p.score >= min_person);
            }
            OutputPlan::MoveNetMulti { output } => {
                movenet::decode_multipose(
                    get(output)?.0,
                    topo,
                    min_person,
                    s.min_keypoint_score,
                    people,
                );
            }
            OutputPlan::MoveNetSingle { output } => {
                movenet::decode_singlepose(
                    get(output)?.0,
                    topo,
                    min_person,
                    s.min_keypoint_score,
                    people,
                );
            }
            OutputPlan::PoseNet {
                heatmap,
                offsets,
                fwd,
                bwd,
            } => {
                let hm = get(heatmap)?;
                if hm.1.len() != 3 {
                    return Err(format!("heatmap has per-image shape {:?}", hm.1));
                }
                let outs = PoseNetOutputs {
                    heatmap: hm.0,
                    offsets: get(offsets)?.0,
                    displacement_fwd: get(fwd)?.0,
                    displacement_bwd: get(bwd)?.0,
                    height: hm.1[0],
                    width: hm.1[1],
                };
                self.posenet
                    .decode(&outs, input_w, input_h, topo, s.min_keypoint_score, people)?;
            }
        }
        if self.plan.family == Family::TrtPose && s.min_keypoint_score > 0.0 {
            for p in people.iter_mut() {
                p.drop_keypoints_below(s.min_keypoint_score, topo);
            }
        }
        crate::pose::sort_and_truncate(people, s.max_people);
        Ok(())
    }
}

/// How to configure an estimator beyond what the model says.
#[derive(Debug, Clone, PartialEq)]
pub struct EstimatorConfig {
    pub family: FamilyRequest,
    pub topology: Option<Topology>,
    /// Long side for models with dynamic input (multiple of 32).
    pub input_size: u32,
    /// `None` = the family's default (trt_pose stretches, others letterbox).
    pub resize: Option<ResizeMode>,
    pub decode: DecodeSettings,
}

impl Default for EstimatorConfig {
    fn default() -> Self {
        EstimatorConfig {
            family: FamilyRequest::Auto,
            topology: None,
            input_size: 256,
            resize: None,
            decode: DecodeSettings::default(),
        }
    }
}

/// Loads the engine to switch to when the current one fails in the middle of a stream.
pub use crate::engine::FallbackLoader;

/// A switch to the fallback engine: the backend that failed and its error.
#[derive(Debug, Clone, PartialEq)]
pub struct Failover {
    pub from: Backend,
    pub to: Backend,
    pub reason: String,
}

/// Engine + preprocessing + decoding: one frame in, people in frame pixels out.
pub struct PoseEstimator {
    engine: Box<dyn Engine>,
    decoder: PoseDecoder,
    pre: Preprocessor,
    outputs: Vec<OutputBuffer>,
    resize: ResizeMode,
    input_size: u32,
    /// CPU-prepared batch input (batches on engines that do not prepare frames themselves).
    batch_f32: Vec<f32>,
    batch_i32: Vec<i32>,
    fallback: Option<FallbackLoader>,
    failover: Option<Failover>,
}

impl PoseEstimator {
    pub fn new(engine: Box<dyn Engine>, config: &EstimatorConfig) -> Result<Self, String> {
        let plan = ModelPlan::new(
            engine.inputs(),
            engine.outputs(),
            config.family,
            config.topology.clone(),
        )?;
        let resize = config.resize.unwrap_or(plan.default_resize);
        let decoder = PoseDecoder::new(plan, config.decode)?;
        Ok(PoseEstimator {
            engine,
            decoder,
            pre: Preprocessor::new(),
            outputs: Vec::new(),
            resize,
            input_size: config.input_size.max(32),
            batch_f32: Vec::new(),
            batch_i32: Vec::new(),
            fallback: None,
            failover: None,
        })
    }

    /// Sets how to load a replacement engine (the CPU) if the current one fails mid-stream;
    /// the failed frame is then run again on it, so no frame is lost.
    pub fn set_fallback(&mut self, loader: FallbackLoader) {
        self.fallback = Some(loader);
    }

    pub fn backend(&self) -> Backend {
        self.engine.backend()
    }

    /// The outputs of the last run.
    pub fn last_outputs(&self) -> &[OutputBuffer] {
        &self.outputs
    }

    pub fn engine_mut(&mut self) -> &mut dyn Engine {
        self.engine.as_mut()
    }

    /// Where inputs are prepared (see [`Engine::preprocessing`]).
    pub fn preprocessing(&self) -> String {
        self.engine.preprocessing()
    }

    /// The switch made since the last call, if any (the element warns once per switch).
    pub fn take_failover(&mut self) -> Option<Failover> {
        self.failover.take()
    }

    /// After a failed run: switches to the fallback engine when the error is the backend's
    /// (not the model's) and one is configured. Returns whether the run should be repeated.
    fn fail_over(&mut self, error: &EngineError) -> Result<bool, EngineError> {
        let backend_fault = matches!(error, EngineError::Device(_) | EngineError::Inference(_));
        if !backend_fault || self.engine.backend() == Backend::Cpu {
            return Ok(false);
        }
        let Some(loader) = self.fallback.as_mut() else {
            return Ok(false);
        };
        let replacement = loader().map_err(|e| {
            EngineError::Runtime(format!(
                "{} failed ({error}) and the fallback engine could not be loaded: {e}",
                self.engine.backend()
            ))
        })?;
        if replacement.inputs() != self.engine.inputs()
            || replacement.outputs() != self.engine.outputs()
        {
            return Err(EngineError::Runtime(format!(
                "{} failed ({error}) and the fallback engine has different inputs or outputs",
                self.engine.backend()
            )));
        }
        self.failover = Some(Failover {
            from: self.engine.backend(),
            to: replacement.backend(),
            reason: error.to_string(),
        });
        self.engine = replacement;
        // The fallback is used once: a second failure is reported, not retried forever.
        self.fallback = None;
        Ok(true)
    }

    pub fn plan(&self) -> &ModelPlan {
        self.decoder.plan()
    }

    /// Network input size for a frame: the model's own, or derived from `input-size`.
    pub fn input_size_for(&self, frame_w: u32, frame_h: u32) -> (u32, u32) {
        self.plan()
            .input_size_for(frame_w, frame_h, self.input_size)
    }

    pub fn geometry_for(&self, frame_w: u32, frame_h: u32) -> Geometry {
        self.plan()
            .geometry_for(frame_w, frame_h, self.input_size, Some(self.resize))
    }

    /// Runs the whole chain on one frame; people come out in frame pixels, best first.
    pub fn process(
        &mut self,
        frame: &SourceFrame,
        people: &mut Vec<Person>,
    ) -> Result<Geometry, EngineError> {
        let geometry = self.geometry_for(frame.width as u32, frame.height as u32);
        let jobs = [FrameJob { frame, geometry }];
        self.run_with_failover(&jobs)?;
        self.decode_outputs(&geometry, people)?;
        Ok(geometry)
    }

    /// Runs one batch of frames (every frame must map to the same network input size) and
    /// fills `people[i]` for frame `i`. Models need a dynamic (or matching) batch dimension.
    pub fn process_batch(
        &mut self,
        frames: &[&SourceFrame],
        people: &mut [Vec<Person>],
    ) -> Result<(), EngineError> {
        assert_eq!(frames.len(), people.len(), "one people list per frame");
        let jobs: Vec<FrameJob> = frames
            .iter()
            .map(|f| FrameJob {
                frame: f,
                geometry: self.geometry_for(f.width as u32, f.height as u32),
            })
            .collect();
        self.run_with_failover(&jobs)?;
        for (i, (job, out)) in jobs.iter().zip(people.iter_mut()).enumerate() {
            self.decode_item(i, &job.geometry, out)?;
        }
        Ok(())
    }

    /// Runs a batch; if the backend fails and a fallback is set, switches and runs it again.
    fn run_with_failover(&mut self, jobs: &[FrameJob]) -> Result<(), EngineError> {
        loop {
            match self.run_jobs(jobs) {
                Ok(()) => return Ok(()),
                Err(e) => {
                    if !self.fail_over(&e)? {
                        return Err(e);
                    }
                }
            }
        }
    }

    /// Prepares and runs one batch: on the engine's device when it can, else on the CPU.
    fn run_jobs(&mut self, jobs: &[FrameJob]) -> Result<(), EngineError> {
        if jobs.is_empty() {
            return Ok(());
        }
        let format = self.decoder.plan().input;
        if self.engine.run_frames(jobs, &format, &mut self.outputs)? {
            return Ok(());
        }
        if let [job] = jobs {
            let (input, shape) = self.pre.run(job.frame, &job.geometry, &format);
            return self.engine.run(input, shape, &mut self.outputs);
        }
        self.batch_f32.clear();
        self.batch_i32.clear();
        let mut shape = Vec::new();
        for job in jobs {
            let (input, s) = self.pre.run(job.frame, &job.geometry, &format);
            if !shape.is_empty() && shape[1..] != s[1..] {
                return Err(EngineError::Inference(
                    "frames of one batch need the same network input size".into(),
                ));
            }
            shape = s.to_vec();
            match input {
                InputData::F32(d) => self.batch_f32.extend_from_slice(d),
                InputData::I32(d) => self.batch_i32.extend_from_slice(d),
            }
        }
        shape[0] = jobs.len();
        let input = match format.elem {
            InputElem::F32 => InputData::F32(&self.batch_f32),
            InputElem::I32 => InputData::I32(&self.batch_i32),
        };
        self.engine.run(input, &shape, &mut self.outputs)
    }

    /// Decodes the outputs of the last run for a frame placed as `geometry`.
    pub fn decode_outputs(
        &mut self,
        geometry: &Geometry,
        people: &mut Vec<Person>,
    ) -> Result<(), EngineError> {
        self.decode_item(0, geometry, people)
    }

    /// Decodes image `item` of the last run into people in frame pixels.
    fn decode_item(
        &mut self,
        item: usize,
        geometry: &Geometry,
        people: &mut Vec<Person>,
    ) -> Result<(), EngineError> {
        self.decoder
            .decode_for_frame(&self.outputs, item, geometry, people)
            .map_err(EngineError::Inference)
    }

    /// The first output of the last run holding NaN or infinite values: its name and how many.
    pub fn non_finite_output(&self) -> Option<(&str, usize)> {
        self.outputs
            .iter()
            .zip(self.engine.outputs())
            .find_map(|(o, spec)| {
                let n = o.data.iter().filter(|v| !v.is_finite()).count();
                (n > 0).then_some((spec.name.as_str(), n))
            })
    }

    /// Runs the engine alone on a prepared input (benchmarks).
    pub fn run_engine(
        &mut self,
        input: crate::engine::InputData,
        shape: &[usize],
    ) -> Result<&[OutputBuffer], EngineError> {
        self.engine.run(input, shape, &mut self.outputs)?;
        Ok(&self.outputs)
    }
}
