use std::io::Write;
use std::path::PathBuf;
use std::sync::{LazyLock, Mutex};
use std::time::Instant;

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::subclass::prelude::*;
use gst_video::subclass::prelude::*;

use super::{Backend, ModelFamily, Precision, ResizeMode};
use crate::engine::{Backend as Backend_, BackendRequest, EngineOptions, OrtEngine, OrtRuntime};
use crate::frame::SourceFrame;
use crate::meta;
use crate::model::{DecodeSettings, EstimatorConfig, FamilyRequest, PoseEstimator};
use crate::pose::trt_parse::ParseParams;
use crate::pose::{Person, Topology};
use crate::video;

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "trtposeinfer",
        gst::DebugColorFlags::empty(),
        Some("Pose estimation inference"),
    )
});

const DEFAULT_INPUT_SIZE: u32 = 256;
const DEFAULT_INTERVAL: u32 = 1;
const DEFAULT_MAX_PEOPLE: u32 = 100;
const DEFAULT_MIN_PERSON_SCORE: f32 = -1.0;
const DEFAULT_MIN_KEYPOINT_SCORE: f32 = 0.0;
const DEFAULT_POST_MESSAGES: bool = true;
const DEFAULT_THREADS: u32 = 0;

#[derive(Debug, Clone)]
struct Settings {
    model: Option<PathBuf>,
    family: ModelFamily,
    topology: Option<PathBuf>,
    input_size: u32,
    resize_mode: ResizeMode,
    backend: Backend,
    threads: u32,
    ort_library: Option<PathBuf>,
    parse: ParseParams,
    min_person_score: f32,
    min_keypoint_score: f32,
    max_people: u32,
    interval: u32,
    post_messages: bool,
    json_output: Option<PathBuf>,
    engine_cache: Option<PathBuf>,
    device_id: u32,
    gpu_mem_limit_mb: u64,
    cuda_graph: bool,
    gpu_preprocess: bool,
    precision: Precision,
    cuda_nhwc: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            model: None,
            family: ModelFamily::Auto,
            topology: None,
            input_size: DEFAULT_INPUT_SIZE,
            resize_mode: ResizeMode::Auto,
            backend: Backend::Auto,
            threads: DEFAULT_THREADS,
            ort_library: None,
            parse: ParseParams::default(),
            min_person_score: DEFAULT_MIN_PERSON_SCORE,
            min_keypoint_score: DEFAULT_MIN_KEYPOINT_SCORE,
            max_people: DEFAULT_MAX_PEOPLE,
            interval: DEFAULT_INTERVAL,
            post_messages: DEFAULT_POST_MESSAGES,
            json_output: None,
            engine_cache: None,
            device_id: 0,
            gpu_mem_limit_mb: 0,
            cuda_graph: true,
            gpu_preprocess: true,
            precision: Precision::Fp32,
            cuda_nhwc: true,
        }
    }
}

impl State {
    /// After a flush (seek) or new caps the last people belong to another picture: the next
    /// frame is inferred, never carried over.
    fn forget_people(&mut self) {
        self.has_result = false;
        self.people.clear();
    }
}

struct State {
    estimator: PoseEstimator,
    info: Option<gst_video::VideoInfo>,
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
    json: Option<std::io::BufWriter<std::fs::File>>,
    json_path: Option<PathBuf>,
    model_path: PathBuf,
    warned_non_finite: bool,
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

fn path_property(value: &glib::Value) -> Option<PathBuf> {
    value
        .get::<Option<String>>()
        .expect("type checked upstream")
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
}

impl ObjectImpl for TrtPoseInfer {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            let d = ParseParams::default();
            vec![
                glib::ParamSpecString::builder("model")
                    .nick("Model")
                    .blurb("Path to the pose network (.onnx). Loaded when the element starts")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("model-family", ModelFamily::Auto)
                    .nick("Model family")
                    .blurb("How to decode the network's outputs; auto detects it from the model")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("topology")
                    .nick("Topology")
                    .blurb("Keypoint/skeleton JSON in trt_pose's human_pose.json format; empty = the family's built-in (human_pose for trt_pose, coco17 otherwise)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("input-size")
                    .nick("Input size")
                    .blurb("Network input size for models with dynamic input: the longer side for MoveNet multipose (the other is rounded up to a multiple of 32), the square side otherwise. Ignored when the model fixes its size")
                    .minimum(32)
                    .maximum(4096)
                    .default_value(DEFAULT_INPUT_SIZE)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("resize-mode", ResizeMode::Auto)
                    .nick("Resize mode")
                    .blurb("How frames are fitted into the network input")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("backend", Backend::Auto)
                    .nick("Backend")
                    .blurb("Inference backend; unavailable ones fall back (TensorRT → CUDA → CPU) with a warning")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("active-backend")
                    .nick("Active backend")
                    .blurb("The backend in use after start (cpu, cuda or tensorrt)")
                    .read_only()
                    .build(),
                glib::ParamSpecUInt::builder("threads")
                    .nick("Threads")
                    .blurb("CPU threads for inference; 0 lets ONNX Runtime decide")
                    .maximum(256)
                    .default_value(DEFAULT_THREADS)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("ort-library")
                    .nick("ONNX Runtime library")
                    .blurb("Absolute path of libonnxruntime.so; empty = ORT_DYLIB_PATH, then the path set at build time. One library per process: the first one loaded stays")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecFloat::builder("cmap-threshold")
                    .nick("CMAP threshold")
                    .blurb("trt_pose: minimum part confidence of a peak (inclusive)")
                    .minimum(-1.0)
                    .maximum(1000.0)
                    .default_value(d.cmap_threshold)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecFloat::builder("link-threshold")
                    .nick("Link threshold")
                    .blurb("trt_pose: minimum PAF line-integral score of a link (exclusive)")
                    .minimum(-1000.0)
                    .maximum(1000.0)
                    .default_value(d.link_threshold)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("cmap-window")
                    .nick("CMAP window")
                    .blurb("trt_pose: window size of the peak test and the refinement")
                    .minimum(1)
                    .maximum(63)
                    .default_value(d.cmap_window as u32)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("line-integral-samples")
                    .nick("Line integral samples")
                    .blurb("trt_pose: samples along each candidate link")
                    .minimum(2)
                    .maximum(1000)
                    .default_value(d.line_integral_samples as u32)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("max-num-parts")
                    .nick("Max parts")
                    .blurb("trt_pose: peaks kept per keypoint type (raster order)")
                    .minimum(1)
                    .maximum(10000)
                    .default_value(d.max_num_parts as u32)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("max-num-objects")
                    .nick("Max objects")
                    .blurb("trt_pose: people the parser assembles per frame")
                    .minimum(1)
                    .maximum(10000)
                    .default_value(d.max_num_objects as u32)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecFloat::builder("min-person-score")
                    .nick("Minimum person score")
                    .blurb("People scoring below this are dropped; -1 = the family's default (MoveNet 0.2, PoseNet 0.25, trt_pose 0: keypoint score sum / keypoints)")
                    .minimum(-1.0)
                    .maximum(1.0)
                    .default_value(DEFAULT_MIN_PERSON_SCORE)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecFloat::builder("min-keypoint-score")
                    .nick("Minimum keypoint score")
                    .blurb("Keypoints scoring below this are reported as missing")
                    .minimum(0.0)
                    .maximum(1.0)
                    .default_value(DEFAULT_MIN_KEYPOINT_SCORE)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("max-people")
                    .nick("Maximum people")
                    .blurb("Most people reported per frame (best first)")
                    .minimum(1)
                    .maximum(10000)
                    .default_value(DEFAULT_MAX_PEOPLE)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("interval")
                    .nick("Interval")
                    .blurb("Run the network on every Nth frame; frames in between carry the last result, flagged reused=true")
                    .minimum(1)
                    .maximum(10000)
                    .default_value(DEFAULT_INTERVAL)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("post-messages")
                    .nick("Post messages")
                    .blurb("Post a 'trtposeinfer' element message with the people of every frame")
                    .default_value(DEFAULT_POST_MESSAGES)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecString::builder("engine-cache")
                    .nick("Engine cache")
                    .blurb("Folder for TensorRT engines: built and cached there on first use, reused after; trtposeconvert writes here too. A cached engine whose sidecar does not match this GPU, TensorRT or model is skipped with a warning")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("device-id")
                    .nick("GPU")
                    .blurb("CUDA device for the cuda and tensorrt backends")
                    .maximum(63)
                    .default_value(0)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt64::builder("gpu-mem-limit")
                    .nick("GPU memory limit")
                    .blurb("Most GPU memory (MB) ONNX Runtime's CUDA backend may take for its arena; 0 = no limit. Running out of it mid-stream switches to the CPU with a warning")
                    .maximum(1 << 20)
                    .default_value(0)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("precision", Precision::Fp32)
                    .nick("Precision")
                    .blurb("Arithmetic on the GPU backends. fp16 runs MODEL.fp16.onnx (made by `trtposeconvert half MODEL`) on CUDA and sets TensorRT's fp16 mode; without that file CUDA stays fp32 with a warning. The CPU always runs the float32 model")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoolean::builder("cuda-graph")
                    .nick("CUDA graph")
                    .blurb("Replay the network as a captured CUDA graph (cuda backend) when its input shape is static; cuts per-launch CPU cost")
                    .default_value(true)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoolean::builder("cuda-nhwc")
                    .nick("CUDA NHWC")
                    .blurb("Run convolutions channels-last on the cuda backend, which suits tensor cores (on an H100 25-30 % faster for trt_pose, within noise for MoveNet and PoseNet); off = ONNX Runtime's NCHW kernels")
                    .default_value(true)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoolean::builder("gpu-preprocess")
                    .nick("GPU pre-processing")
                    .blurb("With the cuda backend, upload each frame once and convert, resize and normalize it on the GPU (needs libnvrtc); off = prepare on the CPU")
                    .default_value(true)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("json-output")
                    .nick("JSON output")
                    .blurb("Write one JSON object per frame (JSON Lines) to this file; empty = off")
                    .mutable_ready()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = self.settings.lock().unwrap();
        match pspec.name() {
            "model" => s.model = path_property(value),
            "model-family" => s.family = value.get().expect("type checked upstream"),
            "topology" => s.topology = path_property(value),
            "input-size" => s.input_size = value.get().expect("type checked upstream"),
            "resize-mode" => s.resize_mode = value.get().expect("type checked upstream"),
            "backend" => s.backend = value.get().expect("type checked upstream"),
            "threads" => s.threads = value.get().expect("type checked upstream"),
            "ort-library" => s.ort_library = path_property(value),
            "cmap-threshold" => s.parse.cmap_threshold = value.get().expect("type checked"),
            "link-threshold" => s.parse.link_threshold = value.get().expect("type checked"),
            "cmap-window" => s.parse.cmap_window = value.get::<u32>().expect("checked") as usize,
            "line-integral-samples" => {
                s.parse.line_integral_samples = value.get::<u32>().expect("checked") as usize
            }
            "max-num-parts" => {
                s.parse.max_num_parts = value.get::<u32>().expect("checked") as usize
            }
            "max-num-objects" => {
                s.parse.max_num_objects = value.get::<u32>().expect("checked") as usize
            }
            "min-person-score" => s.min_person_score = value.get().expect("type checked"),
            "min-keypoint-score" => s.min_keypoint_score = value.get().expect("type checked"),
            "max-people" => s.max_people = value.get().expect("type checked upstream"),
            // Read by the streaming thread at each buffer; the state lock is never taken here,
            // so a bus sync handler may set properties while the element posts.
            "interval" => s.interval = value.get().expect("type checked upstream"),
            "post-messages" => s.post_messages = value.get().expect("type checked upstream"),
            "json-output" => s.json_output = path_property(value),
            "engine-cache" => s.engine_cache = path_property(value),
            "device-id" => s.device_id = value.get().expect("type checked upstream"),
            "gpu-mem-limit" => s.gpu_mem_limit_mb = value.get().expect("type checked upstream"),
            "cuda-graph" => s.cuda_graph = value.get().expect("type checked upstream"),
            "gpu-preprocess" => s.gpu_preprocess = value.get().expect("type checked upstream"),
            "precision" => s.precision = value.get().expect("type checked upstream"),
            "cuda-nhwc" => s.cuda_nhwc = value.get().expect("type checked upstream"),
            other => unimplemented!("property {other}"),
        }
        gst::debug!(CAT, imp = self, "set {} to {:?}", pspec.name(), value);
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = self.settings.lock().unwrap();
        let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
        match pspec.name() {
            "model" => path(&s.model).to_value(),
            "model-family" => s.family.to_value(),
            "topology" => path(&s.topology).to_value(),
            "input-size" => s.input_size.to_value(),
            "resize-mode" => s.resize_mode.to_value(),
            "backend" => s.backend.to_value(),
            "active-backend" => self.active_backend.lock().unwrap().to_value(),
            "threads" => s.threads.to_value(),
            "ort-library" => path(&s.ort_library).to_value(),
            "cmap-threshold" => s.parse.cmap_threshold.to_value(),
            "link-threshold" => s.parse.link_threshold.to_value(),
            "cmap-window" => (s.parse.cmap_window as u32).to_value(),
            "line-integral-samples" => (s.parse.line_integral_samples as u32).to_value(),
            "max-num-parts" => (s.parse.max_num_parts as u32).to_value(),
            "max-num-objects" => (s.parse.max_num_objects as u32).to_value(),
            "min-person-score" => s.min_person_score.to_value(),
            "min-keypoint-score" => s.min_keypoint_score.to_value(),
            "max-people" => s.max_people.to_value(),
            "interval" => s.interval.to_value(),
            "post-messages" => s.post_messages.to_value(),
            "json-output" => path(&s.json_output).to_value(),
            "engine-cache" => path(&s.engine_cache).to_value(),
            "device-id" => s.device_id.to_value(),
            "gpu-mem-limit" => s.gpu_mem_limit_mb.to_value(),
            "cuda-graph" => s.cuda_graph.to_value(),
            "gpu-preprocess" => s.gpu_preprocess.to_value(),
            "precision" => s.precision.to_value(),
            "cuda-nhwc" => s.cuda_nhwc.to_value(),
            other => unimplemented!("property {other}"),
        }
    }
}

impl GstObjectImpl for TrtPoseInfer {}

impl ElementImpl for TrtPoseInfer {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static ELEMENT_METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Pose estimation",
                "Filter/Analyzer/Video",
                "Runs a pose network (trt_pose, MoveNet, PoseNet) on video frames and attaches the people found as region-of-interest metadata",
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

/// Why TensorRT must not be tried for `model`, if it must not: no library, or a cached engine
/// built for another GPU, TensorRT version or source model.
fn tensorrt_blocker(
    backend: Backend_,
    model: &std::path::Path,
    cache: Option<&std::path::Path>,
) -> Option<String> {
    use crate::convert::{ArtifactKind, Target, artifacts_of, find_tensorrt, mismatches};
    if backend != Backend_::TensorRt {
        return None;
    }
    if find_tensorrt().is_none() {
        return Some("TensorRT library not found (libnvinfer.so.11/.10/.8)".into());
    }
    // Hash the model and probe the GPU only when there is a cached engine to judge.
    let engines: Vec<_> = artifacts_of(model, cache?)
        .into_iter()
        .filter(|(_, s)| s.kind == ArtifactKind::TensorRt)
        .collect();
    if engines.is_empty() {
        return None;
    }
    let sha = crate::convert::sha256_file(model).ok()?;
    let target = Target::detect(std::path::Path::new("/proc"));
    engines.iter().find_map(|(p, sidecar)| {
        let why = mismatches(sidecar, &target, &sha);
        (!why.is_empty()).then(|| {
            format!(
                "cached engine {} does not fit: {}",
                p.display(),
                why.join("; ")
            )
        })
    })
}

impl TrtPoseInfer {
    fn build_state(&self, s: &Settings) -> Result<State, gst::ErrorMessage> {
        let model = match s.model.clone() {
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
        let topology = match &s.topology {
            Some(p) => Some(
                Topology::from_file(p)
                    .map_err(|e| gst::error_msg!(gst::ResourceError::Settings, ("{}", e)))?,
            ),
            None => None,
        };
        if let Err(e) = s.parse.validate() {
            return Err(gst::error_msg!(gst::LibraryError::Settings, ("{}", e)));
        }
        let runtime = OrtRuntime::get(s.ort_library.as_deref())
            .map_err(|e| gst::error_msg!(gst::LibraryError::Init, ("{}", e)))?;
        if let Some(wanted) = &s.ort_library
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
        let options = EngineOptions {
            backend: match s.backend {
                Backend::Auto => BackendRequest::Auto,
                Backend::Cpu => BackendRequest::Cpu,
                Backend::Cuda => BackendRequest::Cuda,
                Backend::TensorRt => BackendRequest::TensorRt,
            },
            threads: s.threads as usize,
            engine_cache: s.engine_cache.clone(),
            device_id: s.device_id as i32,
            gpu_mem_limit: (s.gpu_mem_limit_mb as usize).saturating_mul(1 << 20),
            cuda_graph: (!s.cuda_graph).then_some(false),
            gpu_preprocess: s.gpu_preprocess,
            fp16: s.precision == Precision::Fp16,
            cuda_prefer_nhwc: s.cuda_nhwc,
            ..Default::default()
        };
        let mut skipped = Vec::new();
        let chain: Vec<Backend_> = options
            .backend
            .chain()
            .iter()
            .copied()
            .filter(
                |&b| match tensorrt_blocker(b, &model, s.engine_cache.as_deref()) {
                    Some(reason) => {
                        skipped.push((b, reason));
                        false
                    }
                    None => true,
                },
            )
            .collect();
        let half = crate::half::half_path(&model);
        let cuda_model = if s.precision == Precision::Fp16 && chain.contains(&Backend_::Cuda) {
            if half.is_file() {
                half.clone()
            } else {
                gst::element_imp_warning!(
                    self,
                    gst::ResourceError::NotFound,
                    (
                        "precision=fp16 but there is no fp16 copy at {}; CUDA runs the float32 model. Make one with: trtposeconvert half {}",
                        half.display(),
                        model.display()
                    )
                );
                model.clone()
            }
        } else {
            model.clone()
        };
        let model_for = |b: Backend_| match b {
            Backend_::Cuda => cuda_model.as_path(),
            _ => model.as_path(),
        };
        let engine = OrtEngine::load_chain_with(runtime, model_for, &options, &chain, &mut skipped)
            .map_err(|e| gst::error_msg!(gst::ResourceError::OpenRead, ("{}", e)))?;
        for (backend, reason) in &skipped {
            let explicit = !matches!(s.backend, Backend::Auto);
            let text = format!("{backend} backend unavailable, falling back: {reason}");
            if explicit {
                gst::element_imp_warning!(self, gst::LibraryError::Init, ("{}", text));
            } else {
                gst::info!(CAT, imp = self, "{text}");
            }
        }
        let backend = crate::engine::Engine::backend(&engine);
        let config = EstimatorConfig {
            family: match s.family {
                ModelFamily::Auto => FamilyRequest::Auto,
                ModelFamily::TrtPose => FamilyRequest::TrtPose,
                ModelFamily::MoveNet => FamilyRequest::MoveNet,
                ModelFamily::PoseNet => FamilyRequest::PoseNet,
            },
            topology,
            input_size: s.input_size,
            resize: match s.resize_mode {
                ResizeMode::Auto => None,
                ResizeMode::Stretch => Some(crate::pose::ResizeMode::Stretch),
                ResizeMode::Letterbox => Some(crate::pose::ResizeMode::Letterbox),
            },
            decode: DecodeSettings {
                parse: s.parse,
                min_person_score: s.min_person_score,
                min_keypoint_score: s.min_keypoint_score,
                max_people: s.max_people as usize,
            },
        };
        let preprocessing = crate::engine::Engine::preprocessing(&engine);
        let mut estimator = PoseEstimator::new(Box::new(engine), &config).map_err(|e| {
            gst::error_msg!(
                gst::StreamError::WrongType,
                ("Model {} does not fit: {}", model.display(), e)
            )
        })?;
        if backend != Backend_::Cpu {
            // A GPU failing mid-stream (out of memory, lost device) hands over to the CPU.
            let (cpu_model, cpu_options) = (model.clone(), options.clone());
            estimator.set_fallback(Box::new(move || {
                let engine = OrtEngine::load_on(runtime, &cpu_model, &cpu_options, Backend_::Cpu)?;
                Ok(Box::new(engine) as Box<dyn crate::engine::Engine>)
            }));
            gst::info!(CAT, imp = self, "pre-processing on {preprocessing}");
        }
        let json = match &s.json_output {
            Some(p) => Some(std::io::BufWriter::new(std::fs::File::create(p).map_err(
                |e| {
                    gst::error_msg!(
                        gst::ResourceError::OpenWrite,
                        ("Cannot create JSON output {}: {}", p.display(), e)
                    )
                },
            )?)),
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
        Ok(State {
            estimator,
            info: None,
            people: Vec::new(),
            has_result: false,
            frames: 0,
            next_due: 0,
            inferences: 0,
            inference_total: std::time::Duration::ZERO,
            latency: gst::ClockTime::ZERO,
            json,
            json_path: s.json_output.clone(),
            model_path: model.clone(),
            warned_non_finite: false,
        })
    }

    /// Runs inference on `buf` if due; returns whether the people are carried over.
    fn infer(
        &self,
        state: &mut State,
        buf: &gst::BufferRef,
        interval: u64,
    ) -> Result<bool, gst::FlowError> {
        let info = state.info.clone().ok_or(gst::FlowError::NotNegotiated)?;
        let due = !state.has_result || state.frames >= state.next_due;
        state.frames += 1;
        if !due {
            return Ok(true);
        }
        state.next_due = state.frames - 1 + interval;
        let frame = match gst_video::VideoFrameRef::from_buffer_ref_readable(buf, &info) {
            Ok(f) => f,
            Err(_) => {
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
                state.people.clear();
                return Ok(false);
            }
        };
        let format = video::pixel_format(info.format()).ok_or(gst::FlowError::NotNegotiated)?;
        let mut source = SourceFrame::new(
            format,
            info.width() as usize,
            info.height() as usize,
            video::planes(&frame),
        )
        .map_err(|e| {
            gst::element_imp_error!(self, gst::StreamError::Format, ("Bad frame: {}", e));
            gst::FlowError::Error
        })?;
        source.colorimetry = video::colorimetry(&info);
        let start = Instant::now();
        let result = state.estimator.process(&source, &mut state.people);
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
        let elapsed = start.elapsed();
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
        Ok(false)
    }

    fn publish(
        &self,
        state: &mut State,
        buf: &mut gst::BufferRef,
        reused: bool,
        post_messages: bool,
    ) {
        let info = state.info.as_ref().expect("negotiated");
        let (w, h) = (info.width(), info.height());
        let topology = &state.estimator.plan().topology;
        meta::attach(buf, &state.people, topology, reused, w, h);
        let frame_no = state.frames - 1;
        if post_messages {
            let people = gst::List::new(
                state
                    .people
                    .iter()
                    .map(|p| meta::person_structure(p, topology, reused).to_send_value()),
            );
            let s = gst::Structure::builder("trtposeinfer")
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
            );
            if let Err(e) = writeln!(json, "{line}") {
                gst::element_imp_warning!(
                    self,
                    gst::ResourceError::Write,
                    (
                        "Cannot write JSON output {}: {}; JSON output stopped",
                        state
                            .json_path
                            .as_ref()
                            .map(|p| p.display().to_string())
                            .unwrap_or_default(),
                        e
                    )
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
                .map(|s| s.latency)
                .unwrap_or(gst::ClockTime::ZERO);
            gst::debug!(CAT, imp = self, "adding {ours} latency");
            q.set(live, min + ours, max.map(|m| m + ours));
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
        }
        self.parent_sink_event(event)
    }

    fn transform_ip(&self, buf: &mut gst::BufferRef) -> Result<gst::FlowSuccess, gst::FlowError> {
        let (interval, post_messages) = {
            let s = self.settings.lock().unwrap();
            (s.interval.max(1) as u64, s.post_messages)
        };
        let mut guard = self.state.lock().unwrap();
        let Some(state) = guard.as_mut() else {
            gst::element_imp_error!(self, gst::CoreError::Negotiation, ("Not started"));
            return Err(gst::FlowError::NotNegotiated);
        };
        let reused = self.infer(state, buf, interval)?;
        self.publish(state, buf, reused, post_messages);
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
        if video::pixel_format(in_info.format()).is_none() {
            return Err(gst::loggable_error!(
                CAT,
                "Unsupported format {}",
                in_info.format()
            ));
        }
        if let Some(state) = self.state.lock().unwrap().as_mut() {
            state.info = Some(in_info.clone());
            state.forget_people();
        }
        self.parent_set_info(incaps, in_info, outcaps, out_info)
    }
}
