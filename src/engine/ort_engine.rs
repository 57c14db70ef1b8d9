//! ONNX Runtime engine, loaded at run time (`load-dynamic`) so the plugin starts on machines
//! without it and says what to install.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use ort::environment::Environment;
use ort::ep;
use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::{TensorElementType, TensorRef, ValueType};

use super::{
    Backend, ElementType, Engine, EngineError, EngineOptions, InputData, OutputBuffer, TensorSpec,
    check_model_file,
};

/// Library path baked in by the project's setup script (`TRTPOSE_DEFAULT_ORT_DYLIB` at build
/// time), used when neither a property nor `ORT_DYLIB_PATH` names one.
const BUILD_DEFAULT: Option<&str> = option_env!("TRTPOSE_DEFAULT_ORT_DYLIB");

const INSTALL_HINT: &str = "install ONNX Runtime 1.20 or newer (for example `pip install onnxruntime==1.31.1`, \
    or run the README's setup script) and point ORT_DYLIB_PATH or the element's 'ort-library' property \
    at its libonnxruntime.so (an absolute path)";

/// The process-wide ONNX Runtime environment (`ort` allows one per process).
pub struct OrtRuntime {
    env: Environment,
    library: PathBuf,
}

static RUNTIME: OnceLock<OrtRuntime> = OnceLock::new();
static INIT_LOCK: Mutex<()> = Mutex::new(());

impl OrtRuntime {
    /// The library to load and where that choice came from: the explicit path (the element's
    /// `ort-library` property), `ORT_DYLIB_PATH`, or the path set at build time. Only the first
    /// configured one is used, so a wrong setting is reported rather than silently replaced.
    pub fn choose(explicit: Option<&Path>) -> Option<(PathBuf, &'static str)> {
        if let Some(p) = explicit {
            return Some((p.to_path_buf(), "the ort-library setting"));
        }
        if let Some(p) = std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()) {
            return Some((PathBuf::from(p), "ORT_DYLIB_PATH"));
        }
        BUILD_DEFAULT
            .filter(|p| !p.is_empty())
            .map(|p| (PathBuf::from(p), "the path set at build time"))
    }

    /// Loads ONNX Runtime once per process. Later calls return the loaded runtime; a different
    /// `explicit` path then has no effect (callers may warn using [`OrtRuntime::library`]).
    pub fn get(explicit: Option<&Path>) -> Result<&'static OrtRuntime, EngineError> {
        if let Some(rt) = RUNTIME.get() {
            return Ok(rt);
        }
        let _guard = INIT_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(rt) = RUNTIME.get() {
            return Ok(rt);
        }
        let Some((path, source)) = Self::choose(explicit) else {
            return Err(EngineError::Runtime(format!(
                "ONNX Runtime library not configured: {INSTALL_HINT}"
            )));
        };
        // ort requires an absolute path; resolve relative ones against the working dir.
        let path = if path.is_absolute() {
            path
        } else {
            std::env::current_dir()
                .map(|d| d.join(&path))
                .unwrap_or(path)
        };
        let fail = |why: String| {
            EngineError::Runtime(format!(
                "cannot load ONNX Runtime from {} (set by {source}): {why}; {INSTALL_HINT}",
                path.display()
            ))
        };
        if !path.is_file() {
            return Err(fail("no such file".into()));
        }
        let built = std::panic::catch_unwind(|| {
            ort::init_from(&path)
                .map_err(|e| e.to_string())
                .and_then(|b| b.with_name("trtpose").build().map_err(|e| e.to_string()))
        });
        match built {
            Ok(Ok(env)) => {
                let _ = RUNTIME.set(OrtRuntime { env, library: path });
                Ok(RUNTIME.get().expect("just set"))
            }
            Ok(Err(e)) => Err(fail(e)),
            Err(_) => Err(fail("loading it panicked".into())),
        }
    }

    pub fn library(&self) -> &Path {
        &self.library
    }

    pub fn environment(&self) -> &Environment {
        &self.env
    }
}

fn element_type(t: TensorElementType) -> ElementType {
    match t {
        TensorElementType::Float32 => ElementType::F32,
        TensorElementType::Float16 => ElementType::F16,
        TensorElementType::Int32 => ElementType::I32,
        TensorElementType::Int64 => ElementType::I64,
        TensorElementType::Uint8 => ElementType::U8,
        _ => ElementType::Other,
    }
}

fn spec_of(name: &str, dtype: &ValueType) -> TensorSpec {
    match dtype {
        ValueType::Tensor { ty, shape, .. } => TensorSpec {
            name: name.to_string(),
            elem: element_type(*ty),
            shape: shape.iter().copied().collect(),
        },
        _ => TensorSpec {
            name: name.to_string(),
            elem: ElementType::Other,
            shape: Vec::new(),
        },
    }
}

/// A model loaded into an ONNX Runtime session on one backend.
pub struct OrtEngine {
    session: Session,
    backend: Backend,
    inputs: Vec<TensorSpec>,
    outputs: Vec<TensorSpec>,
}

impl std::fmt::Debug for OrtEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrtEngine")
            .field("backend", &self.backend)
            .field("inputs", &self.inputs)
            .field("outputs", &self.outputs)
            .finish()
    }
}

impl OrtEngine {
    /// Loads `model` on the first backend of the requested chain that works. Each backend
    /// that fails is reported in `skipped` with its reason, so callers can warn.
    pub fn load(
        runtime: &OrtRuntime,
        model: &Path,
        options: &EngineOptions,
        skipped: &mut Vec<(Backend, String)>,
    ) -> Result<Self, EngineError> {
        Self::load_chain(runtime, model, options, options.backend.chain(), skipped)
    }

    /// Like [`OrtEngine::load`] with an explicit backend order.
    pub fn load_chain(
        runtime: &OrtRuntime,
        model: &Path,
        options: &EngineOptions,
        chain: &[Backend],
        skipped: &mut Vec<(Backend, String)>,
    ) -> Result<Self, EngineError> {
        check_model_file(model)?;
        let mut last_err = None;
        for &backend in chain {
            match Self::load_on(runtime, model, options, backend) {
                Ok(engine) => return Ok(engine),
                Err(EngineError::BackendUnavailable { backend, reason }) => {
                    skipped.push((backend, reason));
                }
                Err(e) => {
                    // A model error is not the backend's fault: trying others would repeat it.
                    if matches!(e, EngineError::Model { .. }) {
                        return Err(e);
                    }
                    last_err = Some(e);
                }
            }
        }
        Err(last_err.unwrap_or_else(|| EngineError::Runtime("no backend could be loaded".into())))
    }

    /// Loads on exactly one backend.
    pub fn load_on(
        runtime: &OrtRuntime,
        model: &Path,
        options: &EngineOptions,
        backend: Backend,
    ) -> Result<Self, EngineError> {
        check_model_file(model)?;
        let rt_err = |e: String| EngineError::Runtime(e);
        let mut builder = Session::builder(runtime.environment())
            .map_err(|e| rt_err(e.to_string()))?
            .with_optimization_level(GraphOptimizationLevel::Level3)
            .map_err(|e| rt_err(e.to_string()))?;
        if options.threads > 0 {
            builder = builder
                .with_intra_threads(options.threads)
                .map_err(|e| rt_err(e.to_string()))?;
        }
        let unavailable = |reason: String| EngineError::BackendUnavailable { backend, reason };
        match backend {
            Backend::Cpu => {}
            Backend::Cuda => {
                let mut cuda = ep::CUDA::default().with_device_id(options.device_id);
                if options.gpu_mem_limit > 0 {
                    cuda = cuda.with_memory_limit(options.gpu_mem_limit);
                }
                builder = builder
                    .with_execution_providers([cuda.build().error_on_failure()])
                    .map_err(|e| unavailable(e.to_string()))?;
            }
            Backend::TensorRt => {
                let mut trt = ep::TensorRT::default()
                    .with_device_id(options.device_id)
                    .with_fp16(options.fp16);
                if let Some(mb) = options.workspace_mb {
                    trt = trt.with_max_workspace_size(mb as usize * 1024 * 1024);
                }
                if let Some(dir) = &options.engine_cache {
                    trt = trt
                        .with_engine_cache(true)
                        .with_engine_cache_path(dir.display());
                }
                builder = builder
                    .with_execution_providers([trt.build().error_on_failure()])
                    .map_err(|e| unavailable(e.to_string()))?;
            }
        }
        let session = builder
            .commit_from_file(model)
            .map_err(|e| EngineError::Model {
                path: model.display().to_string(),
                problem: format!("ONNX Runtime cannot load it: {e}"),
            })?;
        let inputs = session
            .inputs()
            .iter()
            .map(|o| spec_of(o.name(), o.dtype()))
            .collect();
        let outputs = session
            .outputs()
            .iter()
            .map(|o| spec_of(o.name(), o.dtype()))
            .collect();
        Ok(OrtEngine {
            session,
            backend,
            inputs,
            outputs,
        })
    }
}

impl Engine for OrtEngine {
    fn backend(&self) -> Backend {
        self.backend
    }

    fn inputs(&self) -> &[TensorSpec] {
        &self.inputs
    }

    fn outputs(&self) -> &[TensorSpec] {
        &self.outputs
    }

    fn run(
        &mut self,
        input: InputData,
        shape: &[usize],
        outputs: &mut Vec<OutputBuffer>,
    ) -> Result<(), EngineError> {
        let fail = |e: ort::Error| EngineError::Inference(e.to_string());
        let name = self.inputs[0].name.clone();
        let shape = shape.to_vec();
        let result = match input {
            InputData::F32(data) => {
                let t = TensorRef::from_array_view((shape, data)).map_err(fail)?;
                self.session
                    .run(ort::inputs![name.as_str() => t])
                    .map_err(fail)?
            }
            InputData::I32(data) => {
                let t = TensorRef::from_array_view((shape, data)).map_err(fail)?;
                self.session
                    .run(ort::inputs![name.as_str() => t])
                    .map_err(fail)?
            }
        };
        outputs.resize_with(self.outputs.len(), OutputBuffer::default);
        for (i, out) in outputs.iter_mut().enumerate() {
            let (shape, data) = result[i].try_extract_tensor::<f32>().map_err(|e| {
                EngineError::Inference(format!(
                    "output '{}' is not float32: {e}",
                    self.outputs[i].name
                ))
            })?;
            out.shape.clear();
            out.shape.extend(shape.iter().map(|&d| d.max(0) as usize));
            out.data.clear();
            out.data.extend_from_slice(data);
        }
        Ok(())
    }
}
