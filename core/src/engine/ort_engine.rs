// SPDX-License-Identifier: MPL-2.0
//! ONNX Runtime engine, loaded at run time (`load-dynamic`) so the plugin starts on machines
//! without it and says what to install.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use std::sync::Arc;

use cudarc::driver::CudaStream;
use ort::environment::Environment;
use ort::ep;
use ort::memory::{AllocationDevice, Allocator, AllocatorType, MemoryInfo, MemoryType};
use ort::session::builder::GraphOptimizationLevel;
use ort::session::{IoBinding, Session};
use ort::value::{DynTensor, TensorElementType, TensorRef, ValueType};

use super::cuda::{self, GpuPreprocessor, Pinned};
use super::hostcopy;
use super::{
    Backend, ElementType, Engine, EngineError, EngineOptions, FrameJob, InputData, OutputBuffer,
    TensorSpec, check_model_file,
};
use crate::tensor::{InputElem, InputFormat, TensorLayout};

const INSTALL_HINT: &str = "install ONNX Runtime 1.31 (scripts/setup.sh does, or `pip install onnxruntime==1.31.1`) \
    and point ORT_DYLIB_PATH or the element's 'ort-library' property at its libonnxruntime.so (an absolute path)";

/// The process-wide ONNX Runtime environment (`ort` allows one per process).
pub struct OrtRuntime {
    env: Environment,
    library: PathBuf,
}

static RUNTIME: OnceLock<OrtRuntime> = OnceLock::new();
static INIT_LOCK: Mutex<()> = Mutex::new(());

impl OrtRuntime {
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
        let (path, source) = crate::locate::ort_library(explicit)
            .map_err(|e| EngineError::Runtime(e.to_string()))?;
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
    // Declared first so it is dropped before the CUDA stream it runs on.
    session: Session,
    backend: Backend,
    inputs: Vec<TensorSpec>,
    outputs: Vec<TensorSpec>,
    device: Option<DeviceIo>,
}

/// Device-resident inputs and outputs of a CUDA session: ONNX Runtime reads the input from and
/// writes the outputs to tensors it allocated on the GPU and never moves (IoBinding), on the
/// engine's own stream, which is what CUDA graphs need; frames are pre-processed straight into
/// the input tensor's memory.
///
/// The tensors are ONNX Runtime's own (its arena, under `gpu-mem-limit`): binding a borrowed
/// device pointer instead makes `ort` copy the tensor at bind time.
struct DeviceIo {
    // Field order is drop order: the binding (which keeps the session alive) goes first, the
    // allocator after the tensors it made, the stream last.
    binding: Option<IoBinding>,
    bound_shape: Vec<usize>,
    input: Option<(DynTensor, u64)>,
    outputs: Vec<(DynTensor, u64, Vec<usize>)>,
    allocator: Option<Allocator>,
    pre: Option<GpuPreprocessor>,
    /// Why frames are not prepared on the GPU, when they are not.
    pre_unavailable: Option<String>,
    cuda_graph: bool,
    device_id: i32,
    /// Page-locked staging for uploads of CPU-prepared inputs and for the outputs' download,
    /// when `pinned_host` is on.
    pinned: bool,
    capture_count: CaptureCount,
    host_in: Option<Pinned<u8>>,
    host_out: Vec<Option<Pinned<f32>>>,
    stream: Arc<CudaStream>,
}

/// ONNX Runtime captures a CUDA graph in CUDA's process-wide capture mode, which any CUDA call
/// of another thread during the capture (an allocation, a wait, a copy from pageable memory)
/// invalidates, failing the run. It captures on a thread's third run (two regular runs first,
/// per thread). Runs that may capture hold this lock alone; every other GPU run, and GPU
/// engine loads, share it, so streams starting together do not break each other's capture.
static CAPTURE: RwLock<()> = RwLock::new(());

/// Runs on one thread after which its graph is captured, with a margin of one.
const CAPTURE_RUNS: u32 = 4;

/// Counts an engine's runs per thread, to tell which may capture a graph.
#[derive(Debug)]
struct CaptureCount {
    thread: std::thread::ThreadId,
    runs: u32,
}

impl CaptureCount {
    fn new() -> Self {
        CaptureCount {
            thread: std::thread::current().id(),
            runs: 0,
        }
    }

    /// Counts a run on the calling thread; true while a graph may be captured in it.
    fn next_may_capture(&mut self, graph: bool) -> bool {
        let me = std::thread::current().id();
        if self.thread != me {
            *self = CaptureCount {
                thread: me,
                runs: 0,
            };
        }
        self.runs = self.runs.saturating_add(1);
        graph && self.runs <= CAPTURE_RUNS
    }
}

/// What a GPU run holds of [`CAPTURE`].
enum CaptureGuard {
    Shared(#[allow(dead_code)] RwLockReadGuard<'static, ()>),
    Alone(#[allow(dead_code)] RwLockWriteGuard<'static, ()>),
}

fn shared_gpu() -> CaptureGuard {
    CaptureGuard::Shared(CAPTURE.read().unwrap_or_else(PoisonError::into_inner))
}

fn device_err(what: &str) -> impl Fn(cudarc::driver::DriverError) -> EngineError + '_ {
    move |e| EngineError::Device(format!("{what}: {e}"))
}

impl DeviceIo {
    /// Device buffers are bound on the first run; the pre-processing kernel is compiled now,
    /// or the reason it cannot be is kept for reports.
    fn new(options: &EngineOptions, stream: Arc<CudaStream>, cuda_graph: bool) -> Self {
        let (pre, pre_unavailable) = if options.gpu_preprocess {
            match GpuPreprocessor::new(stream.clone(), options.pinned_host) {
                Ok(p) => (Some(p), None),
                Err(e) => (None, Some(e.to_string())),
            }
        } else {
            (None, Some("gpu pre-processing is switched off".into()))
        };
        DeviceIo {
            binding: None,
            bound_shape: Vec::new(),
            input: None,
            outputs: Vec::new(),
            allocator: None,
            pre,
            pre_unavailable,
            cuda_graph,
            device_id: options.device_id,
            pinned: options.pinned_host,
            capture_count: CaptureCount::new(),
            host_in: None,
            host_out: Vec::new(),
            stream,
        }
    }

    /// The hold on [`CAPTURE`] for the next run on this thread: alone while a graph may be
    /// captured.
    fn capture_guard(&mut self) -> CaptureGuard {
        if self.capture_count.next_may_capture(self.cuda_graph) {
            CaptureGuard::Alone(CAPTURE.write().unwrap_or_else(PoisonError::into_inner))
        } else {
            shared_gpu()
        }
    }

    fn memory_info(&self) -> Result<MemoryInfo<'static>, EngineError> {
        MemoryInfo::new(
            AllocationDevice::CUDA,
            self.device_id,
            AllocatorType::Device,
            MemoryType::Default,
        )
        .map_err(|e| EngineError::Runtime(e.to_string()))
    }

    /// Binds device tensors for input `shape`, reallocating only when the shape changes.
    fn bind(
        &mut self,
        session: &Session,
        inputs: &[TensorSpec],
        outputs: &[TensorSpec],
        shape: &[usize],
        elem: InputElem,
    ) -> Result<(), EngineError> {
        if self.binding.is_some() && self.bound_shape == shape {
            return Ok(());
        }
        if self.cuda_graph && self.binding.is_some() {
            return Err(EngineError::Inference(format!(
                "the input shape changed from {:?} to {shape:?}, but a CUDA graph replays one fixed shape; set cuda-graph off for inputs whose size changes",
                self.bound_shape
            )));
        }
        let ort_err = |e: ort::Error| EngineError::Runtime(e.to_string());
        let alloc_err = |what: &'static str| {
            move |e: ort::Error| {
                EngineError::Device(format!("allocating the {what} on the GPU: {e}"))
            }
        };
        let batch = shape.first().copied().unwrap_or(1);
        let mut resolved = Vec::with_capacity(outputs.len());
        for o in outputs {
            let dims: Option<Vec<usize>> = o
                .shape
                .iter()
                .enumerate()
                .map(|(i, &d)| match d {
                    d if d > 0 => Some(d as usize),
                    _ if i == 0 => Some(batch),
                    _ => None,
                })
                .collect();
            resolved.push(dims.ok_or_else(|| {
                EngineError::Inference(format!(
                    "output {o} has dynamic dimensions besides the batch; the CUDA path needs them fixed (export the model with a fixed input size)"
                ))
            })?);
        }
        // Old tensors go before new ones are made, so a shape change does not need both.
        self.binding = None;
        self.input = None;
        self.outputs.clear();
        if self.allocator.is_none() {
            self.allocator = Some(Allocator::new(session, self.memory_info()?).map_err(ort_err)?);
        }
        let allocator = self.allocator.as_ref().expect("made above");
        crate::trace::step("create binding");
        let mut binding = session.create_binding().map_err(ort_err)?;
        let ty = match elem {
            InputElem::F32 => TensorElementType::Float32,
            InputElem::I32 => TensorElementType::Int32,
        };
        let mut input =
            DynTensor::new(allocator, ty, shape.to_vec()).map_err(alloc_err("network input"))?;
        let input_ptr = input.data_ptr_mut() as u64;
        binding
            .bind_input(inputs[0].name.as_str(), &input)
            .map_err(ort_err)?;
        let mut buffers = Vec::with_capacity(outputs.len());
        for (o, dims) in outputs.iter().zip(resolved) {
            let mut t = DynTensor::new(allocator, TensorElementType::Float32, dims.clone())
                .map_err(alloc_err("network outputs"))?;
            let ptr = t.data_ptr_mut() as u64;
            binding
                .bind_output(o.name.as_str(), &mut t)
                .map_err(ort_err)?;
            buffers.push((t, ptr, dims));
        }
        crate::trace::step("bound");
        self.input = Some((input, input_ptr));
        self.outputs = buffers;
        self.binding = Some(binding);
        self.bound_shape = shape.to_vec();
        Ok(())
    }

    fn input_ptr(&self) -> u64 {
        self.input.as_ref().expect("bound").1
    }

    /// Makes the engine's context current on this thread: GStreamer starts the element on
    /// one thread and streams on another, and the raw copies below need a current context.
    fn bind_context(&self) -> Result<(), EngineError> {
        self.stream
            .context()
            .bind_to_thread()
            .map_err(device_err("making the CUDA context current"))
    }

    /// Runs the bound session and copies the outputs back to the host.
    fn run(
        &mut self,
        session: &mut Session,
        outputs: &mut Vec<OutputBuffer>,
    ) -> Result<(), EngineError> {
        self.bind_context()?;
        let binding = self.binding.as_ref().expect("bound before running");
        crate::trace::step("run_binding");
        session
            .run_binding(binding)
            .map_err(|e| EngineError::Device(format!("CUDA inference failed: {e}")))?;
        crate::trace::step("run_binding done");
        outputs.resize_with(self.outputs.len(), OutputBuffer::default);
        let bytes: usize = self
            .outputs
            .iter()
            .map(|(_, _, dims)| dims.iter().product::<usize>() * 4)
            .sum();
        if self.pinned && cuda::pinned_pays(bytes) {
            self.download_pinned(outputs)?;
            crate::trace::step("copied out");
            return Ok(());
        }
        for (out, (_, ptr, dims)) in outputs.iter_mut().zip(&self.outputs) {
            out.shape.clone_from(dims);
            out.data.resize(dims.iter().product(), 0.0);
            // SAFETY: `ptr` is a live device tensor of exactly this many floats.
            unsafe {
                cudarc::driver::result::memcpy_dtoh_async(
                    out.data.as_mut_slice(),
                    *ptr,
                    self.stream.cu_stream(),
                )
            }
            .map_err(device_err("copying the outputs back"))?;
        }
        self.stream
            .synchronize()
            .map_err(device_err("waiting for the GPU"))?;
        crate::trace::step("synchronized");
        Ok(())
    }

    /// Downloads every output into its pinned buffer (all copies queued before any wait),
    /// then copies them into `outputs` on the host's threads.
    fn download_pinned(&mut self, outputs: &mut [OutputBuffer]) -> Result<(), EngineError> {
        let dev =
            |e: cuda::CudaError| EngineError::Device(format!("copying the outputs back: {e}"));
        self.host_out.resize_with(self.outputs.len(), || None);
        let ctx = self.stream.context().clone();
        for (slot, (_, ptr, dims)) in self.host_out.iter_mut().zip(&self.outputs) {
            let len = dims.iter().product();
            Pinned::ensure(slot, &ctx, len, false).map_err(dev)?;
            let pinned = slot.as_mut().expect("allocated above");
            pinned.download(*ptr, len, &self.stream).map_err(dev)?;
        }
        let threads = hostcopy::host_threads();
        for ((out, slot), (_, _, dims)) in outputs
            .iter_mut()
            .zip(&mut self.host_out)
            .zip(&self.outputs)
        {
            let len = dims.iter().product();
            out.shape.clone_from(dims);
            out.data.resize(len, 0.0);
            let host = slot
                .as_mut()
                .expect("allocated above")
                .host()
                .map_err(dev)?;
            hostcopy::copy(&mut out.data, &host[..len], threads);
        }
        Ok(())
    }

    fn upload(&mut self, bytes: &[u8]) -> Result<(), EngineError> {
        self.bind_context()?;
        let e = device_err("uploading the network input");
        if self.pinned && cuda::pinned_pays(bytes.len()) {
            let dev = |e: cuda::CudaError| {
                EngineError::Device(format!("uploading the network input: {e}"))
            };
            let input = self.input_ptr();
            let pieces = [(bytes, 0)];
            return Pinned::stage_upload(
                &mut self.host_in,
                &self.stream,
                &pieces,
                bytes.len(),
                input,
            )
            .map_err(dev);
        }
        // SAFETY: the input tensor holds exactly the bound shape, which `bytes` matches.
        unsafe {
            cudarc::driver::result::memcpy_htod_async(
                self.input_ptr(),
                bytes,
                self.stream.cu_stream(),
            )
        }
        .map_err(e)
    }

    fn read_input(&self, len: usize) -> Result<Vec<u8>, EngineError> {
        self.bind_context()?;
        let mut host = vec![0u8; len];
        // SAFETY: `len` is the input tensor's size in bytes.
        unsafe {
            cudarc::driver::result::memcpy_dtoh_async(
                host.as_mut_slice(),
                self.input_ptr(),
                self.stream.cu_stream(),
            )
        }
        .map_err(device_err("reading the network input back"))?;
        self.stream
            .synchronize()
            .map_err(device_err("waiting for the GPU"))?;
        Ok(host)
    }
}

impl std::fmt::Debug for OrtEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrtEngine")
            .field("backend", &self.backend)
            .field("inputs", &self.inputs)
            .field("outputs", &self.outputs)
            .field("cuda_graph", &self.uses_cuda_graph())
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
        Self::load_chain_with(runtime, |_| model, options, chain, skipped)
    }

    /// Like [`OrtEngine::load_chain`], with the model file chosen per backend (an fp16 copy for
    /// the GPU, the original for the CPU).
    pub fn load_chain_with<'m>(
        runtime: &OrtRuntime,
        model_for: impl Fn(Backend) -> &'m Path,
        options: &EngineOptions,
        chain: &[Backend],
        skipped: &mut Vec<(Backend, String)>,
    ) -> Result<Self, EngineError> {
        let mut last_err = None;
        for &backend in chain {
            let model = model_for(backend);
            check_model_file(model)?;
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
        // Loading allocates on the GPU, which must not happen during another engine's capture.
        let _gpu = (backend != Backend::Cpu).then(shared_gpu);
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
        // Idle ONNX Runtime threads spin by default, taking the cores that decoding and
        // the other streams need: off, a single stream on 2 cores ran 1.4-2x faster.
        builder = builder
            .with_intra_op_spinning(options.cpu_spinning)
            .map_err(|e| rt_err(e.to_string()))?;
        let unavailable = |reason: String| EngineError::BackendUnavailable { backend, reason };
        let mut cuda_stream = None;
        match backend {
            Backend::Cpu => {}
            Backend::Cuda => {
                // The driver is checked first: its absence is the usual reason, and ONNX
                // Runtime's own message for it is a dlopen error about a provider library.
                let ctx = cuda::open_device(options.device_id.max(0) as usize)
                    .map_err(|e| unavailable(e.to_string()))?;
                let stream = ctx
                    .new_stream()
                    .map_err(|e| unavailable(format!("cannot create a CUDA stream: {e}")))?;
                // Graphs replay fixed addresses and shapes: by default only for static inputs,
                // read from the file so the session is built once.
                let graph = options.cuda_graph.unwrap_or_else(|| {
                    std::fs::read(model)
                        .ok()
                        .and_then(|b| crate::onnx_proto::first_input_dims(&b).ok())
                        .is_some_and(|d| {
                            !d.is_empty() && d.iter().all(|d| d.is_some_and(|v| v > 0))
                        })
                });
                let cuda = Self::cuda_provider(options, &stream, graph);
                builder = builder
                    .with_execution_providers([cuda.build().error_on_failure()])
                    .map_err(|e| unavailable(e.to_string()))?;
                cuda_stream = Some((stream, graph));
            }
            Backend::TensorRt => {
                let trt = Self::tensorrt_provider(options);
                builder = builder
                    .with_execution_providers([trt.build().error_on_failure()])
                    .map_err(|e| unavailable(e.to_string()))?;
            }
        }
        let committed = builder.commit_from_file(model);
        if let (Err(_), Some((_, true))) = (&committed, &cuda_stream)
            && options.cuda_graph.is_none()
        {
            // Graph capture needs every node on the GPU; models with CPU-placed nodes run
            // without it rather than not at all.
            let plain = EngineOptions {
                cuda_graph: Some(false),
                ..options.clone()
            };
            return Self::load_on(runtime, model, &plain, backend);
        }
        let session = committed.map_err(|e| {
            // On a GPU, session creation also allocates the weights there: running out of
            // memory (or a provider library failing) is the backend's problem, so the chain
            // goes on to the CPU, which reports the model's own faults if it has any.
            if backend == Backend::Cpu {
                EngineError::Model {
                    path: model.display().to_string(),
                    problem: format!("ONNX Runtime cannot load it: {e}"),
                }
            } else {
                unavailable(format!("cannot load {} there: {e}", model.display()))
            }
        })?;
        let inputs: Vec<TensorSpec> = session
            .inputs()
            .iter()
            .map(|o| spec_of(o.name(), o.dtype()))
            .collect();
        let outputs: Vec<TensorSpec> = session
            .outputs()
            .iter()
            .map(|o| spec_of(o.name(), o.dtype()))
            .collect();
        let device = cuda_stream.map(|(stream, graph)| DeviceIo::new(options, stream, graph));
        Ok(OrtEngine {
            session,
            backend,
            inputs,
            outputs,
            device,
        })
    }

    fn tensorrt_provider(options: &EngineOptions) -> ep::TensorRT {
        let mut trt = ep::TensorRT::default()
            .with_device_id(options.device_id)
            .with_fp16(options.precision == super::Precision::Fp16);
        if let Some(mb) = options.workspace_mb {
            trt = trt.with_max_workspace_size(mb as usize * 1024 * 1024);
        }
        if let Some(table) = &options.int8_calibration {
            // Layers without a range in the table fall back to FP16.
            trt = trt
                .with_int8(true)
                .with_fp16(true)
                .with_int8_calibration_table_name(table.display())
                .with_int8_use_native_calibration_table(true);
        }
        if let Some(dir) = &options.engine_cache {
            trt = trt
                .with_engine_cache(true)
                .with_engine_cache_path(dir.display());
        }
        trt
    }

    fn cuda_provider(options: &EngineOptions, stream: &Arc<CudaStream>, graph: bool) -> ep::CUDA {
        let mut cuda = ep::CUDA::default()
            .with_device_id(options.device_id)
            .with_cuda_graph(graph)
            .with_prefer_nhwc(options.cuda_prefer_nhwc);
        if options.gpu_mem_limit > 0 {
            cuda = cuda.with_memory_limit(options.gpu_mem_limit);
        }
        // SAFETY: the stream is kept in the engine's DeviceIo, which outlives the session.
        unsafe { cuda.with_compute_stream(stream.cu_stream() as *mut ()) }
    }

    /// The network input last prepared on the device, as floats (checks of the GPU
    /// pre-processing against the CPU's).
    pub fn device_input(&self) -> Result<Option<Vec<f32>>, EngineError> {
        let Some(dev) = self.device.as_ref() else {
            return Ok(None);
        };
        if dev.input.is_none() {
            return Ok(None);
        }
        let _gpu = shared_gpu();
        let bytes = dev.read_input(dev.bound_shape.iter().product::<usize>() * 4)?;
        let ints = self.inputs[0].elem == ElementType::I32;
        Ok(Some(
            bytes
                .chunks_exact(4)
                .map(|b| {
                    let b = [b[0], b[1], b[2], b[3]];
                    if ints {
                        i32::from_ne_bytes(b) as f32
                    } else {
                        f32::from_ne_bytes(b)
                    }
                })
                .collect(),
        ))
    }

    /// Whether the CUDA session replays a captured CUDA graph.
    pub fn uses_cuda_graph(&self) -> bool {
        self.device.as_ref().is_some_and(|d| d.cuda_graph)
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
        if let Some(dev) = self.device.as_mut() {
            let _gpu = dev.capture_guard();
            let elem = match input {
                InputData::F32(_) => InputElem::F32,
                InputData::I32(_) => InputElem::I32,
            };
            dev.bind(&self.session, &self.inputs, &self.outputs, shape, elem)?;
            let bytes: &[u8] = match input {
                InputData::F32(d) => bytemuck_f32(d),
                InputData::I32(d) => bytemuck_i32(d),
            };
            if bytes.len() != shape.iter().product::<usize>() * 4 {
                return Err(EngineError::Inference(format!(
                    "input has {} values for shape {shape:?}",
                    bytes.len() / 4
                )));
            }
            dev.upload(bytes)?;
            return dev.run(&mut self.session, outputs);
        }
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

    fn run_frames(
        &mut self,
        frames: &[FrameJob],
        format: &InputFormat,
        outputs: &mut Vec<OutputBuffer>,
    ) -> Result<bool, EngineError> {
        let Some(dev) = self.device.as_mut() else {
            return Ok(false);
        };
        if dev.pre.is_none() || frames.is_empty() {
            return Ok(false);
        }
        let _gpu = dev.capture_guard();
        let g = frames[0].geometry;
        if frames
            .iter()
            .any(|f| (f.geometry.input_w, f.geometry.input_h) != (g.input_w, g.input_h))
        {
            return Err(EngineError::Inference(
                "frames of one batch need the same network input size".into(),
            ));
        }
        let (w, h) = (g.input_w as usize, g.input_h as usize);
        let shape = match format.layout {
            TensorLayout::Nchw => [frames.len(), 3, h, w],
            TensorLayout::Nhwc => [frames.len(), h, w, 3],
        };
        dev.bind(
            &self.session,
            &self.inputs,
            &self.outputs,
            &shape,
            format.elem,
        )?;
        let base = dev.input_ptr();
        let item_bytes = (3 * w * h * 4) as u64;
        crate::trace::step("bound");
        let pre = dev.pre.as_mut().expect("checked above");
        if let Err(e) = pre.run_batch(frames, format, base, item_bytes) {
            // Copies already queued may read the frames, which the caller frees next.
            let _ = dev.stream.synchronize();
            return Err(EngineError::Device(e.to_string()));
        }
        crate::trace::step("pre-processing queued");
        dev.run(&mut self.session, outputs)?;
        Ok(true)
    }

    /// Times `iterations` runs on the inputs already on the device (after a `run` or
    /// `run_frames` bound them): network time alone, no copies. `None` off the GPU.
    fn time_device_runs(&mut self, iterations: usize) -> Result<Option<f64>, EngineError> {
        let Some(dev) = self.device.as_mut() else {
            return Ok(None);
        };
        let _gpu = dev.capture_guard();
        let Some(binding) = dev.binding.as_ref() else {
            return Ok(None);
        };
        let run = |session: &mut Session| {
            session
                .run_binding(binding)
                .map(|_| ())
                .map_err(|e| EngineError::Device(format!("CUDA inference failed: {e}")))
        };
        for _ in 0..3 {
            run(&mut self.session)?;
        }
        dev.stream
            .synchronize()
            .map_err(device_err("waiting for the GPU"))?;
        let start = std::time::Instant::now();
        for _ in 0..iterations {
            run(&mut self.session)?;
        }
        dev.stream
            .synchronize()
            .map_err(device_err("waiting for the GPU"))?;
        Ok(Some(
            start.elapsed().as_secs_f64() * 1e3 / iterations.max(1) as f64,
        ))
    }

    fn preprocessing(&self) -> String {
        match &self.device {
            None => "cpu".into(),
            Some(d) => match &d.pre_unavailable {
                None => "gpu".into(),
                Some(why) => format!("cpu ({why})"),
            },
        }
    }
}

fn bytemuck_f32(d: &[f32]) -> &[u8] {
    // SAFETY: any f32 bit pattern is valid bytes; the length covers the same memory.
    unsafe { std::slice::from_raw_parts(d.as_ptr().cast(), std::mem::size_of_val(d)) }
}

fn bytemuck_i32(d: &[i32]) -> &[u8] {
    // SAFETY: as above.
    unsafe { std::slice::from_raw_parts(d.as_ptr().cast(), std::mem::size_of_val(d)) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    #[test]
    fn the_first_runs_on_each_thread_may_capture() {
        let mut count = CaptureCount::new();
        let here: Vec<bool> = (0..6).map(|_| count.next_may_capture(true)).collect();
        assert_eq!(here, [true, true, true, true, false, false]);
        // ONNX Runtime keeps its graph per thread: a new thread captures again.
        std::thread::scope(|s| {
            s.spawn(|| {
                assert!(count.next_may_capture(true));
            });
        });
        assert!(count.next_may_capture(true), "back on the first thread");
        let mut plain = CaptureCount::new();
        assert!(!plain.next_may_capture(false), "no graph, no capture");
    }

    #[test]
    fn a_capturing_run_keeps_other_gpu_work_out() {
        let alone = CAPTURE.write().unwrap();
        let ran = AtomicBool::new(false);
        std::thread::scope(|s| {
            let other = s.spawn(|| {
                let _shared = shared_gpu();
                ran.store(true, Ordering::SeqCst);
            });
            std::thread::sleep(std::time::Duration::from_millis(50));
            assert!(!ran.load(Ordering::SeqCst), "GPU work ran during a capture");
            drop(alone);
            other.join().unwrap();
        });
        assert!(ran.load(Ordering::SeqCst));
    }
}
