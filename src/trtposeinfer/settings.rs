// SPDX-License-Identifier: MPL-2.0
//! `trtposeinfer`'s settings, grouped as the layers below use them (model, engine, decoding,
//! output), with the property definitions that set them.

use std::path::PathBuf;

use gst::glib;
use gst::prelude::*;

use crate::engine::{BackendRequest, EngineOptions, Precision};
use crate::model::{DecodeSettings, EstimatorConfig, FamilyRequest, ProcessMode};
use crate::pose::{ResizeRequest, Topology, TopologyError};

/// What network runs and how frames are fitted into it.
#[derive(Debug, Clone)]
pub(super) struct ModelSettings {
    /// `None`: the default model from the model folders.
    pub path: Option<PathBuf>,
    pub family: FamilyRequest,
    pub topology: Option<PathBuf>,
    pub input_size: u32,
    pub resize: ResizeRequest,
    pub mode: ProcessMode,
    /// Side of an objects-mode crop over the region's longer side.
    pub crop_margin: f32,
}

/// Where and how it runs.
#[derive(Debug, Clone)]
pub(super) struct EngineSettings {
    pub backend: BackendRequest,
    pub threads: u32,
    pub ort_library: Option<PathBuf>,
    pub device_id: u32,
    pub gpu_mem_limit_mb: u64,
    pub cuda_graph: bool,
    pub gpu_preprocess: bool,
    pub precision: Precision,
    pub cuda_nhwc: bool,
    pub engine_cache: Option<PathBuf>,
    /// Prepare frame N+1 while the network runs frame N.
    pub overlap: bool,
}

/// Sharing one loaded model with other `trtposeinfer` elements of the process.
#[derive(Debug, Clone)]
pub(super) struct ShareSettings {
    /// Group name; empty = a private engine.
    pub group: String,
    pub max_batch: u32,
    pub batch_timeout_us: u64,
    pub instances: u32,
}

/// What the element does with the people found; read at every buffer.
#[derive(Debug, Clone)]
pub(super) struct OutputSettings {
    pub interval: u32,
    pub post_messages: bool,
    pub json_output: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub(super) struct Settings {
    pub model: ModelSettings,
    pub engine: EngineSettings,
    pub decode: DecodeSettings,
    pub output: OutputSettings,
    pub share: ShareSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            model: ModelSettings {
                path: None,
                family: FamilyRequest::Auto,
                topology: None,
                input_size: 256,
                resize: ResizeRequest::Auto,
                mode: ProcessMode::Frame,
                crop_margin: 1.25,
            },
            engine: EngineSettings {
                backend: BackendRequest::Auto,
                threads: 0,
                ort_library: None,
                device_id: 0,
                gpu_mem_limit_mb: 0,
                cuda_graph: true,
                gpu_preprocess: true,
                precision: Precision::Fp32,
                cuda_nhwc: true,
                engine_cache: None,
                overlap: false,
            },
            decode: DecodeSettings::default(),
            output: OutputSettings {
                interval: 1,
                post_messages: true,
                json_output: None,
            },
            share: ShareSettings {
                group: String::new(),
                max_batch: 8,
                batch_timeout_us: 10_000,
                instances: 1,
            },
        }
    }
}

impl EngineSettings {
    pub fn options(&self) -> EngineOptions {
        EngineOptions {
            backend: self.backend,
            threads: self.threads as usize,
            engine_cache: self.engine_cache.clone(),
            device_id: self.device_id as i32,
            gpu_mem_limit: (self.gpu_mem_limit_mb as usize).saturating_mul(1 << 20),
            cuda_graph: (!self.cuda_graph).then_some(false),
            gpu_preprocess: self.gpu_preprocess,
            precision: self.precision,
            cuda_prefer_nhwc: self.cuda_nhwc,
            ..Default::default()
        }
    }
}

impl Settings {
    /// The estimator's configuration, with the topology file read.
    pub fn estimator_config(&self) -> Result<EstimatorConfig, TopologyError> {
        let topology = match &self.model.topology {
            Some(p) => Some(Topology::from_file(p)?),
            None => None,
        };
        let mut decode = self.decode;
        if self.model.mode == ProcessMode::Objects {
            // The crop model reports its person whatever its score: `min-person-score` then
            // applies to the score joined with the region's, in the element.
            decode.min_person_score = 0.0;
        }
        Ok(EstimatorConfig {
            family: self.model.family,
            topology,
            input_size: self.model.input_size,
            resize: self.model.resize.mode(),
            decode,
        })
    }
}

fn path_property(value: &glib::Value) -> Option<PathBuf> {
    value
        .get::<Option<String>>()
        .expect("type checked upstream")
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
}

/// The element's properties, group by group; `active-backend` is read-only and lives in the
/// element.
pub(super) fn properties() -> Vec<glib::ParamSpec> {
    let s = Settings::default();
    [
        model_properties(&s),
        engine_properties(&s),
        decode_properties(&s),
        output_properties(&s),
        share_properties(&s),
    ]
    .concat()
}

/// What network runs and how frames are fitted into it.
fn model_properties(s: &Settings) -> Vec<glib::ParamSpec> {
    vec![
        glib::ParamSpecString::builder("model")
            .nick("Model")
            .blurb("Path to the pose network (.onnx, or a trt_pose PyTorch checkpoint .pth, imported on first use into a cached .pth.onnx beside it or in ~/.cache/gst-trtpose/pth), loaded when the element starts; empty = $TRTPOSE_MODEL, else movenet-multipose.onnx from the model folders ($TRTPOSE_MODELS, the config file, ~/.local/share/gst-trtpose/models, /usr/share/gst-trtpose/models)")
            .mutable_ready()
            .build(),
        glib::ParamSpecEnum::builder_with_default("model-family", FamilyRequest::Auto)
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
            .default_value(s.model.input_size)
            .mutable_ready()
            .build(),
        glib::ParamSpecEnum::builder_with_default("resize-mode", ResizeRequest::Auto)
            .nick("Resize mode")
            .blurb("How frames are fitted into the network input")
            .mutable_ready()
            .build(),
        glib::ParamSpecEnum::builder_with_default("process-mode", ProcessMode::Frame)
            .nick("Process mode")
            .blurb("frame: run on the whole frame and add the people found. objects: run once per upstream 'person' region (from a trtposeinfer with a detector or multipose model before this one) on a square crop of crop-margin times its longer side, and write the keypoints into that region's pose structure; its score becomes the geometric mean of the region's and the crop model's, and regions scoring below min-person-score are removed. At most max-people regions (best first) are run; the others pass unchanged")
            .mutable_ready()
            .build(),
        glib::ParamSpecFloat::builder("crop-margin")
            .nick("Crop margin")
            .blurb("process-mode=objects: side of the square crop over the region's longer side (the part outside the frame is black)")
            .minimum(1.0)
            .maximum(4.0)
            .default_value(s.model.crop_margin)
            .mutable_ready()
            .build(),
    ]
}

/// Where and how it runs; `active-backend` reports the outcome.
fn engine_properties(s: &Settings) -> Vec<glib::ParamSpec> {
    vec![
        glib::ParamSpecEnum::builder_with_default("backend", BackendRequest::Auto)
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
            .default_value(s.engine.threads)
            .mutable_ready()
            .build(),
        glib::ParamSpecString::builder("ort-library")
            .nick("ONNX Runtime library")
            .blurb("Absolute path of libonnxruntime.so; empty = ORT_DYLIB_PATH, then the config file set-up or install wrote (~/.config/gst-trtpose/config.toml), then the system library folders. One library per process: the first one loaded stays")
            .mutable_ready()
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
            .blurb("Numeric precision. fp16 runs MODEL.fp16.onnx (made by `trtposeconvert half MODEL`) on CUDA and sets TensorRT's fp16 mode; without that file CUDA stays fp32 with a warning. int8 runs MODEL.int8.onnx (made by `trtposeconvert quantize MODEL --calibrate FRAMES`) on the CPU; without it the CPU stays fp32 with a warning")
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
        glib::ParamSpecBoolean::builder("overlap")
            .nick("Overlap")
            .blurb("CPU backend, process-mode=frame, interval=1, no shared-engine: prepare each frame on a second thread while the network runs the previous one, which goes out one frame later (added to the reported latency). Pays when inference leaves a core free (threads below the cores); otherwise, and outside those conditions, frames run one after another")
            .default_value(s.engine.overlap)
            .mutable_ready()
            .build(),
        glib::ParamSpecBoolean::builder("gpu-preprocess")
            .nick("GPU pre-processing")
            .blurb("With the cuda backend, upload each frame once and convert, resize and normalize it on the GPU (needs libnvrtc); off = prepare on the CPU")
            .default_value(true)
            .mutable_ready()
            .build(),
    ]
}

/// Turning network outputs into people (changeable while playing).
fn decode_properties(s: &Settings) -> Vec<glib::ParamSpec> {
    let (d, p) = (s.decode, s.decode.parse);
    vec![
        glib::ParamSpecFloat::builder("cmap-threshold")
            .nick("CMAP threshold")
            .blurb("trt_pose: minimum part confidence of a peak (inclusive)")
            .minimum(-1.0)
            .maximum(1000.0)
            .default_value(p.cmap_threshold)
            .mutable_playing()
            .build(),
        glib::ParamSpecFloat::builder("link-threshold")
            .nick("Link threshold")
            .blurb("trt_pose: minimum PAF line-integral score of a link (exclusive)")
            .minimum(-1000.0)
            .maximum(1000.0)
            .default_value(p.link_threshold)
            .mutable_playing()
            .build(),
        glib::ParamSpecUInt::builder("cmap-window")
            .nick("CMAP window")
            .blurb("trt_pose: window size of the peak test and the refinement")
            .minimum(1)
            .maximum(63)
            .default_value(p.cmap_window as u32)
            .mutable_playing()
            .build(),
        glib::ParamSpecUInt::builder("line-integral-samples")
            .nick("Line integral samples")
            .blurb("trt_pose: samples along each candidate link")
            .minimum(2)
            .maximum(1000)
            .default_value(p.line_integral_samples as u32)
            .mutable_playing()
            .build(),
        glib::ParamSpecUInt::builder("max-num-parts")
            .nick("Max parts")
            .blurb("trt_pose: peaks kept per keypoint type (raster order)")
            .minimum(1)
            .maximum(10000)
            .default_value(p.max_num_parts as u32)
            .mutable_playing()
            .build(),
        glib::ParamSpecUInt::builder("max-num-objects")
            .nick("Max objects")
            .blurb("trt_pose: people the parser assembles per frame")
            .minimum(1)
            .maximum(10000)
            .default_value(p.max_num_objects as u32)
            .mutable_playing()
            .build(),
        glib::ParamSpecFloat::builder("min-person-score")
            .nick("Minimum person score")
            .blurb("People scoring below this are dropped; -1 = the family's default (MoveNet 0.2, PoseNet 0.25, trt_pose 0: keypoint score sum / keypoints, detector 0.3). In process-mode=objects it applies to the score joined with the region's, and regions below are removed")
            .minimum(-1.0)
            .maximum(1.0)
            .default_value(d.min_person_score)
            .mutable_playing()
            .build(),
        glib::ParamSpecFloat::builder("min-keypoint-score")
            .nick("Minimum keypoint score")
            .blurb("Keypoints scoring below this are reported as missing")
            .minimum(0.0)
            .maximum(1.0)
            .default_value(d.min_keypoint_score)
            .mutable_playing()
            .build(),
        glib::ParamSpecUInt::builder("max-people")
            .nick("Maximum people")
            .blurb("Most people reported per frame (best first); in process-mode=objects the most regions run (the others pass unchanged)")
            .minimum(1)
            .maximum(10000)
            .default_value(d.max_people as u32)
            .mutable_playing()
            .build(),
    ]
}

/// What happens with the people found.
fn output_properties(s: &Settings) -> Vec<glib::ParamSpec> {
    vec![
        glib::ParamSpecUInt::builder("interval")
            .nick("Interval")
            .blurb("Run the network on every Nth frame; frames in between carry the last result, flagged reused=true (process-mode=frame; in objects mode every frame with regions runs)")
            .minimum(1)
            .maximum(10000)
            .default_value(s.output.interval)
            .mutable_playing()
            .build(),
        glib::ParamSpecBoolean::builder("post-messages")
            .nick("Post messages")
            .blurb("Post a 'trtposeinfer' element message with the people of every frame")
            .default_value(s.output.post_messages)
            .mutable_playing()
            .build(),
        glib::ParamSpecString::builder("json-output")
            .nick("JSON output")
            .blurb("Write one JSON object per frame (JSON Lines) to this file; empty = off")
            .mutable_ready()
            .build(),
    ]
}

/// One model for many streams.
fn share_properties(s: &Settings) -> Vec<glib::ParamSpec> {
    vec![
        glib::ParamSpecString::builder("shared-engine")
            .nick("Shared engine")
            .blurb("Name of an engine shared by every trtposeinfer of the process that names it: the model is loaded once and their frames run in batches. Elements of one group must set model, backend, precision, device-id, threads, the GPU options, max-batch, batch-timeout and shared-instances alike (else an error at start); thresholds and other decoding properties stay per element. Empty = a private engine")
            .mutable_ready()
            .build(),
        glib::ParamSpecUInt::builder("max-batch")
            .nick("Maximum batch")
            .blurb("shared-engine: most frames run together; a model with a fixed batch dimension caps it")
            .minimum(1)
            .maximum(256)
            .default_value(s.share.max_batch)
            .mutable_ready()
            .build(),
        glib::ParamSpecUInt::builder("shared-instances")
            .nick("Shared engine instances")
            .blurb("shared-engine: copies of the model running batches side by side. On a GPU 2 or 3 overlap one batch's copies and decoding with another's network (set max-batch to about streams / instances); each copy takes the model's memory again")
            .minimum(1)
            .maximum(16)
            .default_value(s.share.instances)
            .mutable_ready()
            .build(),
        glib::ParamSpecUInt64::builder("batch-timeout")
            .nick("Batch timeout")
            .blurb("shared-engine: longest wait (µs) of a frame for frames of other streams before its batch runs anyway; a batch runs at once when every stream of the group is waiting. Added to the reported latency")
            .maximum(10_000_000)
            .default_value(s.share.batch_timeout_us)
            .mutable_ready()
            .build(),
    ]
}

impl Settings {
    /// Sets a property; `false` for names this struct does not hold.
    pub fn set(&mut self, name: &str, value: &glib::Value) -> bool {
        let (m, e, d, o) = (
            &mut self.model,
            &mut self.engine,
            &mut self.decode,
            &mut self.output,
        );
        let get = |v: &glib::Value| v.get::<u32>().expect("type checked upstream");
        match name {
            "model" => m.path = path_property(value),
            "model-family" => m.family = value.get().expect("type checked upstream"),
            "topology" => m.topology = path_property(value),
            "input-size" => m.input_size = get(value),
            "resize-mode" => m.resize = value.get().expect("type checked upstream"),
            "process-mode" => m.mode = value.get().expect("type checked upstream"),
            "crop-margin" => m.crop_margin = value.get().expect("type checked upstream"),
            "backend" => e.backend = value.get().expect("type checked upstream"),
            "threads" => e.threads = get(value),
            "ort-library" => e.ort_library = path_property(value),
            "engine-cache" => e.engine_cache = path_property(value),
            "device-id" => e.device_id = get(value),
            "gpu-mem-limit" => e.gpu_mem_limit_mb = value.get().expect("type checked upstream"),
            "cuda-graph" => e.cuda_graph = value.get().expect("type checked upstream"),
            "gpu-preprocess" => e.gpu_preprocess = value.get().expect("type checked upstream"),
            "precision" => e.precision = value.get().expect("type checked upstream"),
            "cuda-nhwc" => e.cuda_nhwc = value.get().expect("type checked upstream"),
            "overlap" => e.overlap = value.get().expect("type checked upstream"),
            "cmap-threshold" => d.parse.cmap_threshold = value.get().expect("type checked"),
            "link-threshold" => d.parse.link_threshold = value.get().expect("type checked"),
            "cmap-window" => d.parse.cmap_window = get(value) as usize,
            "line-integral-samples" => d.parse.line_integral_samples = get(value) as usize,
            "max-num-parts" => d.parse.max_num_parts = get(value) as usize,
            "max-num-objects" => d.parse.max_num_objects = get(value) as usize,
            "min-person-score" => d.min_person_score = value.get().expect("type checked"),
            "min-keypoint-score" => d.min_keypoint_score = value.get().expect("type checked"),
            "max-people" => d.max_people = get(value) as usize,
            // Read by the streaming thread at each buffer; the state lock is never taken here,
            // so a bus sync handler may set properties while the element posts.
            "interval" => o.interval = get(value),
            "post-messages" => o.post_messages = value.get().expect("type checked upstream"),
            "json-output" => o.json_output = path_property(value),
            "shared-engine" => {
                self.share.group = value
                    .get::<Option<String>>()
                    .expect("type checked upstream")
                    .unwrap_or_default()
            }
            "max-batch" => self.share.max_batch = get(value),
            "shared-instances" => self.share.instances = get(value),
            "batch-timeout" => {
                self.share.batch_timeout_us = value.get().expect("type checked upstream")
            }
            _ => return false,
        }
        true
    }

    /// A property's value; `None` for names this struct does not hold.
    pub fn get(&self, name: &str) -> Option<glib::Value> {
        let (m, e, d, o) = (&self.model, &self.engine, &self.decode, &self.output);
        let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string()).to_value();
        Some(match name {
            "model" => path(&m.path),
            "model-family" => m.family.to_value(),
            "topology" => path(&m.topology),
            "input-size" => m.input_size.to_value(),
            "resize-mode" => m.resize.to_value(),
            "process-mode" => m.mode.to_value(),
            "crop-margin" => m.crop_margin.to_value(),
            "backend" => e.backend.to_value(),
            "threads" => e.threads.to_value(),
            "ort-library" => path(&e.ort_library),
            "engine-cache" => path(&e.engine_cache),
            "device-id" => e.device_id.to_value(),
            "gpu-mem-limit" => e.gpu_mem_limit_mb.to_value(),
            "cuda-graph" => e.cuda_graph.to_value(),
            "gpu-preprocess" => e.gpu_preprocess.to_value(),
            "precision" => e.precision.to_value(),
            "cuda-nhwc" => e.cuda_nhwc.to_value(),
            "overlap" => e.overlap.to_value(),
            "cmap-threshold" => d.parse.cmap_threshold.to_value(),
            "link-threshold" => d.parse.link_threshold.to_value(),
            "cmap-window" => (d.parse.cmap_window as u32).to_value(),
            "line-integral-samples" => (d.parse.line_integral_samples as u32).to_value(),
            "max-num-parts" => (d.parse.max_num_parts as u32).to_value(),
            "max-num-objects" => (d.parse.max_num_objects as u32).to_value(),
            "min-person-score" => d.min_person_score.to_value(),
            "min-keypoint-score" => d.min_keypoint_score.to_value(),
            "max-people" => (d.max_people as u32).to_value(),
            "interval" => o.interval.to_value(),
            "post-messages" => o.post_messages.to_value(),
            "json-output" => path(&o.json_output),
            "shared-engine" => (!self.share.group.is_empty())
                .then(|| self.share.group.clone())
                .to_value(),
            "max-batch" => self.share.max_batch.to_value(),
            "shared-instances" => self.share.instances.to_value(),
            "batch-timeout" => self.share.batch_timeout_us.to_value(),
            _ => return None,
        })
    }
}
