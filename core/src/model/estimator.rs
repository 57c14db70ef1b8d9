// SPDX-License-Identifier: MPL-2.0
//! One frame in, people in frame pixels out: an engine, the pre-processing its plan asks for
//! and the family's decoder, with a switch to a fallback engine when a GPU fails mid-stream.

use crate::engine::{Backend, Engine, EngineError, FrameJob};
use crate::frame::SourceFrame;
use crate::pose::crop::Crop;
use crate::pose::{BBox, Geometry, Person, ResizeMode, Topology};
use crate::preprocess::Preprocessor;
use crate::tensor::{InputData, InputElem, OutputBuffer};

use super::error::ModelError;
use super::family::DecodeSettings;
use super::request::FamilyRequest;
// The plan and decoder are defined in mod.rs, which only re-exports this module's items.
use super::{ModelPlan, PoseDecoder};

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

/// Crops per run when the model's batch is dynamic: enough to fill the CPU's kernels, few
/// enough that a crowd does not allocate a huge input.
const REGION_BATCH: usize = 8;

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
    pub fn new(engine: Box<dyn Engine>, config: &EstimatorConfig) -> Result<Self, ModelError> {
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

    /// Top-down pose: runs the model on a square crop (`margin` × the longer side) around each
    /// region, in batches when the model's batch is dynamic, and sets `found[i]` to the best
    /// person of region `i` in frame pixels (`None` when its square misses the frame or the
    /// model found nobody there).
    pub fn process_regions(
        &mut self,
        frame: &SourceFrame,
        regions: &[BBox],
        margin: f32,
        found: &mut Vec<Option<Person>>,
    ) -> Result<(), EngineError> {
        found.clear();
        found.resize(regions.len(), None);
        // Square crops want a square input; the model's own size wins when it is fixed.
        let (iw, ih) = self.input_size_for(self.input_size, self.input_size);
        let align = frame.format.crop_align() as u32;
        let (fw, fh) = (frame.width as u32, frame.height as u32);
        let mut crops = Vec::with_capacity(regions.len());
        for (i, r) in regions.iter().enumerate() {
            if let Some(c) = Crop::square(r, margin, fw, fh, align, iw, ih) {
                let view = frame
                    .crop(c.x as usize, c.y as usize, c.w as usize, c.h as usize)
                    .map_err(|e| EngineError::Inference(format!("crop of region {i}: {e}")))?;
                crops.push((i, c, view));
            }
        }
        let batch = match self.engine.inputs().first().and_then(|s| s.shape.first()) {
            Some(&b) if b <= 0 => REGION_BATCH,
            _ => 1,
        };
        let mut people = Vec::new();
        for chunk in crops.chunks(batch) {
            let jobs: Vec<FrameJob> = chunk
                .iter()
                .map(|(_, c, view)| FrameJob {
                    frame: view,
                    geometry: c.geometry,
                })
                .collect();
            self.run_with_failover(&jobs)?;
            for (item, (i, c, _)) in chunk.iter().enumerate() {
                self.decode_item(item, &c.geometry, &mut people)?;
                // Best first: the person the crop was made for.
                if let Some(mut p) = people.drain(..).next() {
                    c.to_frame(&mut p);
                    found[*i] = Some(p);
                }
            }
        }
        Ok(())
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
            .map_err(|e| EngineError::Inference(e.to_string()))
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
        input: InputData,
        shape: &[usize],
    ) -> Result<&[OutputBuffer], EngineError> {
        self.engine.run(input, shape, &mut self.outputs)?;
        Ok(&self.outputs)
    }
}
