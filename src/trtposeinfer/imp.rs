// SPDX-License-Identifier: MPL-2.0
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{LazyLock, Mutex};
use std::time::Instant;

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::subclass::prelude::*;
use gst_video::subclass::prelude::*;

use super::objects;
use super::settings::{self, Settings};
use crate::engine::{
    Backend, BackendRequest, Engine, EngineError, EngineOptions, OrtRuntime, select, shared,
};
use crate::frame::SourceFrame;
use crate::meta;
use crate::model::{PoseEstimator, ProcessMode};
use crate::pose::{Geometry, Person, crop};
use crate::preprocess::Preprocessor;
use crate::pth;
use crate::publish::JsonLinesWriter;
use crate::video;

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "trtposeinfer",
        gst::DebugColorFlags::empty(),
        Some("Pose estimation inference"),
    )
});

impl State {
    /// With overlap, a frame waits for the next one: one frame duration (none when the rate
    /// is unknown).
    fn held_back(&self) -> gst::ClockTime {
        let fps = self.caps.as_ref().map(|c| c.info.fps());
        match (&self.overlap, fps) {
            (Some(_), Some(f)) if f.numer() > 0 => gst::ClockTime::SECOND
                .mul_div_floor(f.denom() as u64, f.numer() as u64)
                .unwrap_or(gst::ClockTime::ZERO),
            _ => gst::ClockTime::ZERO,
        }
    }

    /// After a flush (seek) or new caps the last people belong to another picture: the next
    /// frame is inferred, never carried over.
    fn forget_people(&mut self) {
        self.has_result = false;
        self.people.clear();
    }
}

struct State {
    estimator: PoseEstimator,
    caps: Option<video::Negotiated>,
    people: Vec<Person>,
    has_result: bool,
    frames: u64,
    /// Frame number of the next inference with `interval` > 1.
    next_due: u64,
    inferences: u64,
    inference_total: std::time::Duration,
    /// Latency reported in queries; raised (and a latency message posted) when measured
    /// processing takes longer.
    latency: gst::ClockTime,
    json: Option<JsonLinesWriter>,
    model_path: PathBuf,
    warned_non_finite: bool,
    /// Longest wait for a batch of the shared engine (zero for a private engine).
    batch_wait: gst::ClockTime,
    objects: Option<ObjectsState>,
    overlap: Option<OverlapState>,
}

/// `overlap=true`: frame N is prepared on a scoped thread while the network runs frame N-1,
/// from two preprocessors used in turn, so the element holds one buffer back.
#[derive(Default)]
struct OverlapState {
    pres: [Preprocessor; 2],
    /// The buffer whose input is prepared and waits for the network: its placement and the
    /// preprocessor holding the input.
    pending: Option<(gst::Buffer, Geometry, usize)>,
    /// Buffers with their people and frame numbers, to go out in order.
    ready: VecDeque<(gst::Buffer, Vec<Person>, u64)>,
}

/// `process-mode=objects`.
struct ObjectsState {
    margin: f32,
    /// The model is a detector: nothing to run on regions, frames pass unchanged.
    detector: bool,
    /// Whether an element upstream answered that it makes person regions (asked once).
    provider: Option<bool>,
    warned_no_regions: bool,
    /// Scratch: the crop model's person per region.
    found: Vec<Option<Person>>,
    /// Regions the model ran on in the last frame (the `regions` field of its message).
    ran_on: usize,
}

#[derive(Default)]
pub struct TrtPoseInfer {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
    active_backend: Mutex<Option<String>>,
}

#[glib::object_subclass]
impl ObjectSubclass for TrtPoseInfer {
    const NAME: &'static str = "GstTrtPoseInfer";
    type Type = super::TrtPoseInfer;
    type ParentType = gst_video::VideoFilter;
}

impl ObjectImpl for TrtPoseInfer {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(settings::properties);
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let known = self.settings.lock().unwrap().set(pspec.name(), value);
        assert!(known, "property {} not handled", pspec.name());
        gst::debug!(CAT, imp = self, "set {} to {:?}", pspec.name(), value);
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        if pspec.name() == "active-backend" {
            return self.active_backend.lock().unwrap().to_value();
        }
        let value = self.settings.lock().unwrap().get(pspec.name());
        value.unwrap_or_else(|| panic!("property {} not handled", pspec.name()))
    }
}

impl GstObjectImpl for TrtPoseInfer {}

impl ElementImpl for TrtPoseInfer {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static ELEMENT_METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Pose estimation",
                "Filter/Analyzer/Video",
                "Runs a pose network (trt_pose, MoveNet, PoseNet) or a person detector on video frames, or a pose network on each upstream person region, and attaches the people found as region-of-interest metadata",
                "gst-trtpose developers",
            )
        });
        Some(&*ELEMENT_METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static PAD_TEMPLATES: LazyLock<Vec<gst::PadTemplate>> =
            LazyLock::new(|| crate::video::always_pad_templates(&video::caps()));
        PAD_TEMPLATES.as_ref()
    }
}

impl TrtPoseInfer {
    fn build_state(&self, s: &Settings) -> Result<State, gst::ErrorMessage> {
        let model = match s.model.path.clone() {
            Some(m) => m,
            None => crate::locate::default_model().map_err(|e| {
                gst::error_msg!(
                    gst::ResourceError::NotFound,
                    (
                        "No model set and the default model was not found: set the 'model' property to a pose network (.onnx)"
                    ),
                    ["{}", e]
                )
            })?,
        };
        // A trt_pose checkpoint becomes its cached ONNX import here, before anything else
        // (backends, engine caches, fallbacks) sees the path.
        let (model, resolved) = pth::resolve(&model).map_err(|e| {
            gst::error_msg!(
                gst::ResourceError::OpenRead,
                (
                    "Cannot import the PyTorch checkpoint {}: {}",
                    model.display(),
                    e
                )
            )
        })?;
        match resolved {
            pth::Resolved::AsIs => {}
            pth::Resolved::Cached => {
                gst::info!(
                    CAT,
                    imp = self,
                    "using the cached import {}",
                    model.display()
                )
            }
            pth::Resolved::Imported(arch) => gst::info!(
                CAT,
                imp = self,
                "imported the {arch} checkpoint into {}",
                model.display()
            ),
        }
        let config = s
            .estimator_config()
            .map_err(|e| gst::error_msg!(gst::ResourceError::Settings, ("{}", e)))?;
        if let Err(e) = s.decode.parse.validate() {
            return Err(gst::error_msg!(gst::LibraryError::Settings, ("{}", e)));
        }
        let runtime = self.runtime(s)?;
        let options = s.engine.options();
        let engine = self.load_engine(s, runtime, &model, &options)?;
        let backend = engine.backend();
        let preprocessing = engine.preprocessing();
        let mut estimator = PoseEstimator::new(engine, &config).map_err(|e| {
            gst::error_msg!(
                gst::StreamError::WrongType,
                ("Model {} does not fit: {}", model.display(), e)
            )
        })?;
        if backend != Backend::Cpu {
            // A GPU failing mid-stream (out of memory, lost device) hands over to the CPU.
            estimator.set_fallback(select::cpu_fallback(runtime, &model, &options));
            gst::info!(CAT, imp = self, "pre-processing on {preprocessing}");
        }
        let json = match &s.output.json_output {
            Some(p) => Some(JsonLinesWriter::open(p, false).map_err(|e| {
                gst::error_msg!(
                    gst::ResourceError::OpenWrite,
                    ("Cannot create JSON output {}", e)
                )
            })?),
            None => None,
        };
        gst::info!(
            CAT,
            imp = self,
            "loaded {} as {} on {} (topology {})",
            model.display(),
            estimator.plan().family,
            backend,
            estimator.plan().topology.name
        );
        *self.active_backend.lock().unwrap() = Some(backend.name().to_string());
        let objects = (s.model.mode == ProcessMode::Objects).then(|| {
            let detector = estimator.plan().family.is_detector();
            if detector {
                gst::element_imp_warning!(
                    self,
                    gst::LibraryError::Settings,
                    ("process-mode=objects with a detector model: frames pass unchanged"),
                    [
                        "{} is a person detector; objects mode runs a pose network on the regions a detector upstream found. Use it with process-mode=frame before this element",
                        model.display()
                    ]
                );
            }
            ObjectsState {
                margin: s.model.crop_margin,
                detector,
                provider: None,
                warned_no_regions: false,
                found: Vec::new(),
                ran_on: 0,
            }
        });
        // Overlap needs frames prepared on the CPU, one private network, whole frames.
        let overlap = (s.engine.overlap
            && backend == Backend::Cpu
            && s.share.group.is_empty()
            && s.model.mode == ProcessMode::Frame)
            .then(OverlapState::default);
        if s.engine.overlap && overlap.is_none() {
            gst::info!(
                CAT,
                imp = self,
                "overlap needs the cpu backend, process-mode=frame and no shared-engine: frames run one after another"
            );
        }
        let batch_wait = if s.share.group.is_empty() {
            gst::ClockTime::ZERO
        } else {
            gst::ClockTime::from_useconds(s.share.batch_timeout_us)
        };
        Ok(State {
            batch_wait,
            estimator,
            caps: None,
            people: Vec::new(),
            has_result: false,
            frames: 0,
            next_due: 0,
            inferences: 0,
            inference_total: std::time::Duration::ZERO,
            latency: gst::ClockTime::ZERO,
            json,
            model_path: model,
            warned_non_finite: false,
            objects,
            overlap,
        })
    }

    /// The engine: a private one, or this element's handle on the group named by
    /// `shared-engine` (loaded by the first element of the group).
    fn load_engine(
        &self,
        s: &Settings,
        runtime: &OrtRuntime,
        model: &std::path::Path,
        options: &EngineOptions,
    ) -> Result<Box<dyn Engine>, gst::ErrorMessage> {
        let load = || {
            let selection = select::select(runtime, model, options)?;
            self.report_selection(s, &selection);
            Ok(Box::new(selection.engine) as Box<dyn Engine>)
        };
        if s.share.group.is_empty() {
            return load().map_err(|e: EngineError| {
                gst::error_msg!(gst::ResourceError::OpenRead, ("{}", e))
            });
        }
        let config = shared::GroupConfig {
            // One file under two spellings is one model.
            model: model.canonicalize().unwrap_or_else(|_| model.to_path_buf()),
            options: options.clone(),
            max_batch: s.share.max_batch as usize,
            timeout: std::time::Duration::from_micros(s.share.batch_timeout_us),
            instances: s.share.instances as usize,
        };
        let handle = shared::join(&s.share.group, config, load).map_err(|e| match e {
            shared::ShareError::Mismatch { .. } => {
                gst::error_msg!(gst::LibraryError::Settings, ("{}", e))
            }
            _ => gst::error_msg!(gst::ResourceError::OpenRead, ("{}", e)),
        })?;
        gst::info!(
            CAT,
            imp = self,
            "joined shared engine '{}' ({} members)",
            handle.group(),
            handle.members()
        );
        Ok(Box::new(handle))
    }

    /// ONNX Runtime for this process, warning when `ort-library` asks for another one than
    /// the one already loaded.
    fn runtime(&self, s: &Settings) -> Result<&'static OrtRuntime, gst::ErrorMessage> {
        let wanted = s.engine.ort_library.as_deref();
        let runtime = OrtRuntime::get(wanted)
            .map_err(|e| gst::error_msg!(gst::LibraryError::Init, ("{}", e)))?;
        if let Some(wanted) = wanted
            && wanted != runtime.library()
        {
            gst::element_imp_warning!(
                self,
                gst::LibraryError::Settings,
                (
                    "ONNX Runtime is already loaded from {} in this process; ort-library={} is ignored",
                    runtime.library().display(),
                    wanted.display()
                )
            );
        }
        Ok(runtime)
    }

    /// Tells the user what the backend choice passed over: a warning when they asked for that
    /// backend, a log line when `auto` moved on.
    fn report_selection(&self, s: &Settings, selection: &select::Selection) {
        for note in &selection.notes {
            gst::element_imp_warning!(self, gst::ResourceError::NotFound, ("{}", note));
        }
        for (backend, reason) in &selection.skipped {
            let text = format!("{backend} backend unavailable, falling back: {reason}");
            if s.engine.backend == BackendRequest::Auto {
                gst::info!(CAT, imp = self, "{text}");
            } else {
                gst::element_imp_warning!(self, gst::LibraryError::Init, ("{}", text));
            }
        }
    }

    /// Runs inference on `buf` if due; returns whether the people are carried over.
    fn infer(
        &self,
        state: &mut State,
        buf: &gst::BufferRef,
        interval: u64,
    ) -> Result<bool, gst::FlowError> {
        let due = !state.has_result || state.frames >= state.next_due;
        state.frames += 1;
        if !due {
            return Ok(true);
        }
        state.next_due = state.frames - 1 + interval;
        let ran = self.run_on_frame(state, buf, |state, source| {
            state
                .estimator
                .process(source, &mut state.people)
                .map(|_| ())
        })?;
        if !ran {
            state.people.clear();
        }
        Ok(false)
    }

    /// `process-mode=objects`: runs the model on a crop around each upstream person region
    /// (the best `max_people`) and writes its people into them; `state.people` are those
    /// people.
    fn infer_objects(
        &self,
        state: &mut State,
        buf: &mut gst::BufferRef,
        decode: &crate::model::DecodeSettings,
    ) -> Result<(), gst::FlowError> {
        state.frames += 1;
        state.people.clear();
        let mut regions = objects::read(buf);
        let o = state.objects.as_mut().expect("objects mode");
        o.ran_on = 0;
        if o.detector {
            return Ok(());
        }
        if regions.is_empty() {
            if o.provider.is_none() {
                o.provider = Some(self.upstream_makes_regions());
            }
            if o.provider == Some(false) && !o.warned_no_regions {
                o.warned_no_regions = true;
                gst::element_imp_warning!(
                    self,
                    gst::StreamError::Format,
                    ("process-mode=objects found no person regions to run on: frames pass unchanged"),
                    [
                        "frame {} has no 'person' region-of-interest meta and no element upstream makes them; put a trtposeinfer with a detector (or multipose) model before this one. Not repeated",
                        state.frames - 1
                    ]
                );
            }
            return Ok(());
        }
        // The best regions first; ties keep meta order.
        let mut order: Vec<usize> = (0..regions.len()).collect();
        order.sort_by(|&a, &b| regions[b].score.total_cmp(&regions[a].score));
        order.truncate(decode.max_people);
        let boxes: Vec<_> = order.iter().map(|&i| regions[i].bbox).collect();
        let margin = o.margin;
        o.ran_on = boxes.len();
        let mut found = std::mem::take(&mut o.found);
        let ran = self.run_on_frame(state, buf, |state, source| {
            state
                .estimator
                .process_regions(source, &boxes, margin, &mut found)
        })?;
        let threshold = decode.person_threshold(&*state.estimator.plan().family);
        let mut people: Vec<Option<Person>> = vec![None; regions.len()];
        let mut removed = vec![false; regions.len()];
        if ran {
            for (&i, f) in order.iter().zip(found.drain(..)) {
                let Some(f) = f else { continue };
                let p = crop::join(&regions[i].bbox, regions[i].score, f);
                if crate::pose::below(p.score, threshold) {
                    removed[i] = true;
                } else {
                    people[i] = Some(p);
                }
            }
        }
        if let Some(o) = state.objects.as_mut() {
            o.found = found;
        }
        let mut kept = Vec::with_capacity(regions.len());
        for (i, (r, p)) in regions.drain(..).zip(people).enumerate() {
            if removed[i] {
                continue;
            }
            if let Some(p) = &p {
                state.people.push(p.clone());
            }
            kept.push((r, p));
        }
        crate::pose::sort_and_truncate(&mut state.people, usize::MAX);
        let info = &state.caps.as_ref().expect("negotiated").info;
        let size = (info.width(), info.height());
        objects::write(buf, kept, &state.estimator.plan().topology, size);
        Ok(())
    }

    /// Asks upstream whether an element there makes person regions (a frame-mode
    /// `trtposeinfer` answers).
    fn upstream_makes_regions(&self) -> bool {
        let sink = self.obj().static_pad("sink").expect("has sink pad");
        let mut q = gst::query::Custom::new(gst::Structure::new_empty(objects::QUERY_NAME));
        sink.peer_query(&mut q)
            && q.structure()
                .is_some_and(|s| s.get::<bool>(objects::QUERY_FIELD).unwrap_or(false))
    }

    /// `buf` mapped as a frame of the negotiated caps; `None`, warned, when it cannot hold one
    /// (it then passes through without pose metadata).
    fn map_frame<'a>(
        &self,
        buf: &'a gst::BufferRef,
        info: &gst_video::VideoInfo,
    ) -> Option<gst_video::VideoFrameRef<&'a gst::BufferRef>> {
        let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(buf, info);
        if frame.is_err() {
            gst::element_imp_warning!(
                self,
                gst::StreamError::Format,
                (
                    "Buffer of {} bytes cannot hold a {}x{} {} frame ({} bytes); passed through without pose metadata",
                    buf.size(),
                    info.width(),
                    info.height(),
                    info.format().to_str(),
                    info.size()
                )
            );
        }
        frame.ok()
    }

    /// A mapped frame as the core reads it: planes, strides and the caps' colorimetry.
    fn source_frame<'a>(
        &self,
        frame: &'a gst_video::VideoFrameRef<&gst::BufferRef>,
        caps: &video::Negotiated,
    ) -> Result<SourceFrame<'a>, gst::FlowError> {
        let info = &caps.info;
        SourceFrame::new(
            caps.format,
            info.width() as usize,
            info.height() as usize,
            video::planes(frame),
        )
        .map(|f| f.with_colorimetry(caps.colorimetry))
        .map_err(|e| {
            gst::element_imp_error!(self, gst::StreamError::Format, ("Bad frame: {}", e));
            gst::FlowError::Error
        })
    }

    /// Maps `buf` as a frame and runs `work` on it, timed, with the backend switch, error and
    /// NaN reports. `Ok(false)` when the buffer cannot hold a frame (warned, passed on).
    fn run_on_frame(
        &self,
        state: &mut State,
        buf: &gst::BufferRef,
        work: impl FnOnce(&mut State, &SourceFrame) -> Result<(), EngineError>,
    ) -> Result<bool, gst::FlowError> {
        let caps = state.caps.clone().ok_or(gst::FlowError::NotNegotiated)?;
        let Some(frame) = self.map_frame(buf, &caps.info) else {
            return Ok(false);
        };
        let source = self.source_frame(&frame, &caps)?;
        let start = Instant::now();
        let result = work(state, &source);
        self.after_run(state, result, start.elapsed())?;
        Ok(true)
    }

    /// `overlap=true`: prepares `next` (if any) on a scoped thread while the network runs the
    /// pending buffer, which then joins `ready` with its people; `next` becomes pending.
    fn overlap_step(
        &self,
        state: &mut State,
        next: Option<gst::Buffer>,
    ) -> Result<(), gst::FlowError> {
        let caps = state.caps.clone().ok_or(gst::FlowError::NotNegotiated)?;
        let info = &caps.info;
        let o = state.overlap.as_mut().expect("overlap on");
        let prev = o.pending.take();
        let k = prev.as_ref().map_or(0, |p| p.2);
        // Map and check the next frame; one that cannot be read goes out without people.
        let mapped = next.as_ref().and_then(|b| self.map_frame(b.as_ref(), info));
        let source = match &mapped {
            Some(f) => Some(self.source_frame(f, &caps)?),
            None => None,
        };
        let geometry = state.estimator.geometry_for(info.width(), info.height());
        let format = state.estimator.plan().input;
        let State {
            estimator,
            overlap,
            people,
            ..
        } = state;
        let o = overlap.as_mut().expect("overlap on");
        let [a, b] = &mut o.pres;
        let (current, spare) = if k == 0 { (a, b) } else { (b, a) };
        let start = Instant::now();
        let result = std::thread::scope(|scope| {
            let prepare = source.as_ref().map(|src| {
                scope.spawn(|| {
                    spare.run(src, &geometry, &format);
                })
            });
            let run = match &prev {
                Some((_, g, _)) => {
                    let (input, shape) = current.last(format.elem);
                    match estimator.run_engine(input, shape) {
                        Ok(_) => estimator.decode_outputs(g, people),
                        Err(e) => Err(e),
                    }
                }
                None => Ok(()),
            };
            if let Some(p) = prepare {
                p.join().expect("preparing a frame does not panic");
            }
            run
        });
        let elapsed = start.elapsed();
        let readable = source.is_some();
        drop(source);
        drop(mapped);
        if let Some((buf, _, _)) = prev {
            state.frames += 1;
            self.after_run(state, result, elapsed)?;
            let people = std::mem::take(&mut state.people);
            let frame = state.frames - 1;
            let o = state.overlap.as_mut().expect("overlap on");
            o.ready.push_back((buf, people, frame));
        }
        match next {
            Some(b) if !readable => {
                // Out without people, in its turn.
                state.frames += 1;
                let frame = state.frames - 1;
                let o = state.overlap.as_mut().expect("overlap on");
                o.ready.push_back((b, Vec::new(), frame));
            }
            next => {
                let o = state.overlap.as_mut().expect("overlap on");
                o.pending = next.map(|b| (b, geometry, 1 - k));
            }
        }
        Ok(())
    }

    /// Runs what overlap holds back and returns every buffer, people attached, in order (the
    /// caller pushes them, unlocked). Before serialized events, so nothing overtakes them.
    fn drain(
        &self,
        state: &mut State,
        post_messages: bool,
    ) -> Result<Vec<gst::Buffer>, gst::FlowError> {
        let Some(o) = state.overlap.as_ref() else {
            return Ok(Vec::new());
        };
        if o.pending.is_none() && o.ready.is_empty() {
            return Ok(Vec::new());
        }
        self.overlap_step(state, None)?;
        let mut out = Vec::new();
        while let Some(buf) = self.next_ready(state, post_messages) {
            out.push(buf);
        }
        Ok(out)
    }

    /// Pushes the buffers overlap held back, in order (called without the state lock, as
    /// downstream may query us); stops at the first one refused.
    fn push_held(&self, held: Vec<gst::Buffer>) -> Result<gst::FlowSuccess, gst::FlowError> {
        if !held.is_empty() {
            let src = self.obj().static_pad("src").expect("has src pad");
            for b in held {
                src.push(b)?;
            }
        }
        Ok(gst::FlowSuccess::Ok)
    }

    /// The oldest ready buffer with its people attached and published.
    fn next_ready(&self, state: &mut State, post_messages: bool) -> Option<gst::Buffer> {
        let (mut buf, people, frame) = state.overlap.as_mut()?.ready.pop_front()?;
        state.people = people;
        self.publish(state, buf.make_mut(), frame, false, post_messages);
        Some(buf)
    }

    /// After a run: the backend switch, the error, the NaN report, statistics and latency.
    fn after_run(
        &self,
        state: &mut State,
        result: Result<(), EngineError>,
        elapsed: std::time::Duration,
    ) -> Result<(), gst::FlowError> {
        if let Some(f) = state.estimator.take_failover() {
            gst::element_imp_warning!(
                self,
                gst::ResourceError::Failed,
                (
                    "{} backend failed at frame {}, switching to {} for the rest of the stream (the frame was run again there): {}",
                    f.from,
                    state.frames - 1,
                    f.to,
                    f.reason
                )
            );
            *self.active_backend.lock().unwrap() = Some(f.to.name().to_string());
        }
        if let Err(e) = result {
            gst::element_imp_error!(self, gst::StreamError::Failed, ("Inference failed: {}", e));
            return Err(gst::FlowError::Error);
        }
        // A model producing NaN/Inf (bad export, fp16 overflow) loses keypoints silently
        // otherwise: say so once per stream.
        if !state.warned_non_finite
            && let Some((output, count)) = state.estimator.non_finite_output()
        {
            state.warned_non_finite = true;
            gst::element_imp_warning!(
                self,
                gst::StreamError::Decode,
                (
                    "Model {} produced {} NaN/Inf values in output '{}' (frame {}); affected keypoints are dropped",
                    state.model_path.display(),
                    count,
                    output,
                    state.frames - 1
                )
            );
        }
        state.has_result = true;
        state.inferences += 1;
        state.inference_total += elapsed;
        let took = gst::ClockTime::from_nseconds(elapsed.as_nanos() as u64);
        gst::trace!(
            CAT,
            imp = self,
            "inference took {took}, {} people",
            state.people.len()
        );
        // Report a latency that covers what we measure; tell the pipeline when it grows.
        if took > state.latency + state.latency / 5 {
            state.latency = took + took / 4;
            let _ = self
                .obj()
                .post_message(gst::message::Latency::builder().src(&*self.obj()).build());
        }
        Ok(())
    }

    /// Attaches the people (frame mode; objects mode wrote them into their regions), posts
    /// the frame's message and writes its JSON record.
    fn publish(
        &self,
        state: &mut State,
        buf: &mut gst::BufferRef,
        frame_no: u64,
        reused: bool,
        post_messages: bool,
    ) {
        let info = &state.caps.as_ref().expect("negotiated").info;
        let (w, h) = (info.width(), info.height());
        let topology = &state.estimator.plan().topology;
        if state.objects.is_none() {
            meta::attach(buf, &state.people, topology, reused, w, h);
        }
        if post_messages {
            let people = gst::List::new(
                state
                    .people
                    .iter()
                    .map(|p| meta::person_structure(p, topology, reused).to_send_value()),
            );
            let mut s = gst::Structure::builder("trtposeinfer")
                .field("frame", frame_no)
                .field(
                    "timestamp",
                    buf.pts().map(|t| t.nseconds()).unwrap_or(u64::MAX),
                )
                .field("reused", reused)
                .field("num-people", state.people.len() as u32)
                .field("width", w)
                .field("height", h)
                .field("people", people)
                .build();
            if let Some(o) = &state.objects {
                s.set("regions", o.ran_on as u32);
            }
            let _ = self
                .obj()
                .post_message(gst::message::Element::builder(s).src(&*self.obj()).build());
        }
        if let Some(json) = state.json.as_mut() {
            let line = meta::frame_json(
                frame_no,
                buf.pts(),
                reused,
                (w, h),
                &state.people,
                &state.estimator.plan().topology,
                None,
            );
            if let Err(e) = json.write(&line) {
                gst::element_imp_warning!(
                    self,
                    gst::ResourceError::Write,
                    ("Cannot write JSON output {}; JSON output stopped", e)
                );
                state.json = None;
            }
        }
    }
}

impl BaseTransformImpl for TrtPoseInfer {
    const MODE: gst_base::subclass::BaseTransformMode =
        gst_base::subclass::BaseTransformMode::AlwaysInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let settings = self.settings.lock().unwrap().clone();
        let state = self.build_state(&settings)?;
        *self.state.lock().unwrap() = Some(state);
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        *self.active_backend.lock().unwrap() = None;
        if let Some(mut state) = self.state.lock().unwrap().take() {
            if let Some(json) = state.json.as_mut() {
                let _ = json.flush();
            }
            if state.inferences > 0 {
                gst::info!(
                    CAT,
                    imp = self,
                    "{} frames, {} inferences, {:.1} ms average",
                    state.frames,
                    state.inferences,
                    state.inference_total.as_secs_f64() * 1e3 / state.inferences as f64
                );
            }
        }
        Ok(())
    }

    fn query(&self, direction: gst::PadDirection, query: &mut gst::QueryRef) -> bool {
        if let gst::QueryViewMut::Latency(q) = query.view_mut()
            && direction == gst::PadDirection::Src
        {
            let sink = self.obj().static_pad("sink").expect("has sink pad");
            let mut upstream = gst::query::Latency::new();
            if !sink.peer_query(&mut upstream) {
                return false;
            }
            let (live, min, max) = upstream.result();
            let ours = self
                .state
                .lock()
                .unwrap()
                .as_ref()
                .map(|s| s.latency + s.batch_wait + s.held_back())
                .unwrap_or(gst::ClockTime::ZERO);
            gst::debug!(CAT, imp = self, "adding {ours} latency");
            q.set(live, min + ours, max.map(|m| m + ours));
            return true;
        }
        // An objects-mode trtposeinfer downstream asks whether person regions come from here.
        if direction == gst::PadDirection::Src
            && let gst::QueryViewMut::Custom(q) = query.view_mut()
            && q.structure()
                .is_some_and(|s| s.name() == objects::QUERY_NAME)
            && self.settings.lock().unwrap().model.mode == ProcessMode::Frame
        {
            q.structure_mut().set(objects::QUERY_FIELD, true);
            return true;
        }
        BaseTransformImplExt::parent_query(self, direction, query)
    }

    fn sink_event(&self, event: gst::Event) -> bool {
        if let gst::EventView::FlushStop(_) = event.view()
            && let Some(state) = self.state.lock().unwrap().as_mut()
        {
            gst::debug!(CAT, imp = self, "flushed: the next frame is inferred");
            state.forget_people();
            if let Some(o) = state.overlap.as_mut() {
                // Frames of before the seek are dropped, as a flush drops queued data.
                o.pending = None;
                o.ready.clear();
            }
        } else if event.is_serialized() && !matches!(event.view(), gst::EventView::FlushStop(_)) {
            // Overlap holds a buffer back: it goes out before the event (EOS, caps, segment).
            let post = self.settings.lock().unwrap().output.post_messages;
            let drained = match self.state.lock().unwrap().as_mut() {
                Some(state) => self.drain(state, post),
                None => Ok(Vec::new()),
            };
            if let Err(e) = drained.and_then(|held| self.push_held(held)) {
                gst::debug!(CAT, imp = self, "held-back frames not sent: {e:?}");
            }
        }
        self.parent_sink_event(event)
    }

    fn submit_input_buffer(
        &self,
        is_discont: bool,
        inbuf: gst::Buffer,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let (interval, post) = {
            let s = self.settings.lock().unwrap();
            (s.output.interval, s.output.post_messages)
        };
        let mut guard = self.state.lock().unwrap();
        match guard.as_mut() {
            Some(state) if state.overlap.is_some() => {
                if interval <= 1 {
                    self.overlap_step(state, Some(inbuf))?;
                    return Ok(gst::FlowSuccess::Ok);
                }
                // interval > 1 carries people from frame to frame: one after another.
                let held = self.drain(state, post)?;
                drop(guard);
                self.push_held(held)?;
            }
            _ => drop(guard),
        }
        self.parent_submit_input_buffer(is_discont, inbuf)
    }

    fn generate_output(
        &self,
    ) -> Result<gst_base::subclass::base_transform::GenerateOutputSuccess, gst::FlowError> {
        let post = self.settings.lock().unwrap().output.post_messages;
        if let Some(state) = self.state.lock().unwrap().as_mut()
            && let Some(buf) = self.next_ready(state, post)
        {
            return Ok(gst_base::subclass::base_transform::GenerateOutputSuccess::Buffer(buf));
        }
        self.parent_generate_output()
    }

    fn transform_ip(&self, buf: &mut gst::BufferRef) -> Result<gst::FlowSuccess, gst::FlowError> {
        let (interval, post_messages, decode) = {
            let s = self.settings.lock().unwrap();
            (
                s.output.interval.max(1) as u64,
                s.output.post_messages,
                s.decode,
            )
        };
        let mut guard = self.state.lock().unwrap();
        let Some(state) = guard.as_mut() else {
            gst::element_imp_error!(self, gst::CoreError::Negotiation, ("Not started"));
            return Err(gst::FlowError::NotNegotiated);
        };
        let reused = if state.objects.is_some() {
            self.infer_objects(state, buf, &decode)?;
            false
        } else {
            self.infer(state, buf, interval)?
        };
        let frame_no = state.frames - 1;
        self.publish(state, buf, frame_no, reused, post_messages);
        Ok(gst::FlowSuccess::Ok)
    }
}

impl VideoFilterImpl for TrtPoseInfer {
    fn set_info(
        &self,
        incaps: &gst::Caps,
        in_info: &gst_video::VideoInfo,
        outcaps: &gst::Caps,
        out_info: &gst_video::VideoInfo,
    ) -> Result<(), gst::LoggableError> {
        gst::debug!(CAT, imp = self, "caps {incaps}");
        let Some(caps) = video::Negotiated::new(in_info) else {
            return Err(gst::loggable_error!(
                CAT,
                "Unsupported format {}",
                in_info.format()
            ));
        };
        if let Some(state) = self.state.lock().unwrap().as_mut() {
            state.caps = Some(caps);
            state.forget_people();
        }
        self.parent_set_info(incaps, in_info, outcaps, out_info)
    }
}
