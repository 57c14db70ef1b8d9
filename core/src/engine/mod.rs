// SPDX-License-Identifier: MPL-2.0
//! Inference engines behind one small trait, so elements and tools never talk to a runtime
//! directly. ONNX Runtime provides the CPU, CUDA and TensorRT backends.

pub mod cuda;
pub mod hostcopy;
pub mod ort_engine;
pub mod select;
pub mod shared;

use std::fmt;
use std::path::{Path, PathBuf};

use crate::frame::SourceFrame;
use crate::pose::Geometry;
use crate::tensor::InputFormat;
pub use crate::tensor::{ElementType, InputData, OutputBuffer, TensorSpec};

pub use ort_engine::{OrtEngine, OrtRuntime};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    Cpu,
    Cuda,
    TensorRt,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Cpu => "cpu",
            Backend::Cuda => "cuda",
            Backend::TensorRt => "tensorrt",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which backends to try, best first; the CPU always ends the chain. Also the element's
/// `backend` property (GObject enum `GstTrtPoseBackend`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "glib", derive(glib::Enum))]
#[cfg_attr(feature = "glib", enum_type(name = "GstTrtPoseBackend"))]
#[repr(u32)]
pub enum BackendRequest {
    #[default]
    #[cfg_attr(
        feature = "glib",
        enum_value(name = "Best available: TensorRT, then CUDA, then CPU", nick = "auto")
    )]
    Auto = 0,
    #[cfg_attr(
        feature = "glib",
        enum_value(name = "CPU (ONNX Runtime)", nick = "cpu")
    )]
    Cpu = 1,
    #[cfg_attr(
        feature = "glib",
        enum_value(
            name = "CUDA (ONNX Runtime CUDA provider), CPU if unavailable",
            nick = "cuda"
        )
    )]
    Cuda = 2,
    #[cfg_attr(
        feature = "glib",
        enum_value(
            name = "TensorRT (ONNX Runtime TensorRT provider), then CUDA, then CPU",
            nick = "tensorrt"
        )
    )]
    TensorRt = 3,
}

/// Numeric precision: fp16 on the GPU, int8 on the CPU (element property `precision`,
/// `GstTrtPosePrecision`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "glib", derive(glib::Enum))]
#[cfg_attr(feature = "glib", enum_type(name = "GstTrtPosePrecision"))]
#[repr(u32)]
pub enum Precision {
    #[default]
    #[cfg_attr(
        feature = "glib",
        enum_value(name = "Float32 everywhere", nick = "fp32")
    )]
    Fp32 = 0,
    #[cfg_attr(
        feature = "glib",
        enum_value(
            name = "Float16 on the GPU: the MODEL.fp16.onnx copy from `trtposeconvert half` for CUDA, TensorRT's fp16 mode; the CPU stays fp32",
            nick = "fp16"
        )
    )]
    Fp16 = 1,
    #[cfg_attr(
        feature = "glib",
        enum_value(
            name = "Int8 on the CPU: the MODEL.int8.onnx copy from `trtposeconvert quantize`; GPU backends stay float",
            nick = "int8"
        )
    )]
    Int8 = 2,
}

/// Loads the engine a failing GPU backend hands over to (see [`select::cpu_fallback`]).
pub type FallbackLoader = Box<dyn FnMut() -> Result<Box<dyn Engine>, EngineError> + Send>;

impl BackendRequest {
    pub fn chain(self) -> &'static [Backend] {
        match self {
            BackendRequest::Auto | BackendRequest::TensorRt => {
                &[Backend::TensorRt, Backend::Cuda, Backend::Cpu]
            }
            BackendRequest::Cuda => &[Backend::Cuda, Backend::Cpu],
            BackendRequest::Cpu => &[Backend::Cpu],
        }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum EngineError {
    #[error("{0}")]
    Runtime(String),
    #[error("model {path}: {problem}")]
    Model { path: String, problem: String },
    #[error("{backend} backend unavailable: {reason}")]
    BackendUnavailable { backend: Backend, reason: String },
    #[error("inference failed: {0}")]
    Inference(String),
    /// The GPU failed during a run (out of memory, a lost device, a failed copy).
    #[error("GPU error: {0}")]
    Device(String),
}

/// What to load and how.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineOptions {
    pub backend: BackendRequest,
    /// Intra-op threads; 0 lets the runtime decide.
    pub threads: usize,
    pub device_id: i32,
    /// GPU memory limit in bytes for the CUDA backend; 0 = unlimited.
    pub gpu_mem_limit: usize,
    /// Folder for TensorRT engine caches; `None` disables caching.
    pub engine_cache: Option<PathBuf>,
    pub precision: Precision,
    /// TensorRT builder workspace in MB; `None` = TensorRT's default.
    pub workspace_mb: Option<u32>,
    /// CUDA graphs for the CUDA backend: `None` uses them when the model's input shape is
    /// static, `Some(false)` never.
    pub cuda_graph: Option<bool>,
    /// Prepare frames on the GPU (CUDA backend) when the kernel compiles there.
    pub gpu_preprocess: bool,
    /// TensorRT INT8: a calibration cache in TensorRT's native format (see `calibrate`).
    pub int8_calibration: Option<PathBuf>,
    /// CUDA: run convolutions in NHWC (channels-last), which suits tensor cores (on an H100
    /// 25-30 % faster for trt_pose, within noise for MoveNet and PoseNet).
    pub cuda_prefer_nhwc: bool,
    /// Let idle inference threads spin-wait for work (ONNX Runtime's default). Off by default:
    /// in a pipeline the cores are shared with decoding and other streams.
    pub cpu_spinning: bool,
    /// CUDA: stage large uploads and downloads (from 4 MB, a few frames) in page-locked host
    /// memory, one copy per batch each way at the copy engines' speed. Off: pageable copies,
    /// kept to measure against.
    pub pinned_host: bool,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            backend: BackendRequest::Auto,
            threads: 0,
            device_id: 0,
            gpu_mem_limit: 0,
            engine_cache: None,
            precision: Precision::Fp32,
            workspace_mb: None,
            cuda_graph: None,
            gpu_preprocess: true,
            int8_calibration: None,
            cuda_prefer_nhwc: true,
            cpu_spinning: false,
            pinned_host: true,
        }
    }
}

/// A loaded network that turns one input tensor into float outputs.
pub trait Engine: Send {
    fn backend(&self) -> Backend;
    fn inputs(&self) -> &[TensorSpec];
    fn outputs(&self) -> &[TensorSpec];
    /// Runs once; `outputs` is resized to the model's outputs and refilled in order.
    fn run(
        &mut self,
        input: InputData,
        shape: &[usize],
        outputs: &mut Vec<OutputBuffer>,
    ) -> Result<(), EngineError>;

    /// Runs one batch straight from frames, preparing the input itself (on the GPU). `Ok(false)`
    /// means this engine does not prepare inputs: the caller pre-processes and calls `run`.
    fn run_frames(
        &mut self,
        _frames: &[FrameJob],
        _format: &InputFormat,
        _outputs: &mut Vec<OutputBuffer>,
    ) -> Result<bool, EngineError> {
        Ok(false)
    }

    /// Milliseconds per run of the network alone on inputs already on the device (benchmarks);
    /// `None` for engines without device-resident inputs.
    fn time_device_runs(&mut self, _iterations: usize) -> Result<Option<f64>, EngineError> {
        Ok(None)
    }

    /// Where inputs are prepared and why, for logs and reports.
    fn preprocessing(&self) -> String {
        "cpu".into()
    }
}

/// One frame of a batch and where it goes in the network input.
#[derive(Debug, Clone)]
pub struct FrameJob<'a> {
    pub frame: &'a SourceFrame<'a>,
    pub geometry: Geometry,
}

/// Checks that `path` is a readable, non-empty regular file before a runtime sees it, so the
/// error names the real problem.
pub fn check_model_file(path: &Path) -> Result<(), EngineError> {
    let err = |problem: String| EngineError::Model {
        path: path.display().to_string(),
        problem,
    };
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => err("file does not exist".into()),
        _ => err(format!("cannot access file: {e}")),
    })?;
    if meta.is_dir() {
        return Err(err("is a directory, not an .onnx file".into()));
    }
    if meta.len() == 0 {
        return Err(err("file is empty".into()));
    }
    std::fs::File::open(path).map_err(|e| err(format!("cannot open file: {e}")))?;
    Ok(())
}
