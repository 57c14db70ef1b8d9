// SPDX-License-Identifier: MPL-2.0
//! The CUDA side of the GPU backend, through `cudarc` with the driver and NVRTC loaded at run
//! time: a device probe that names why a GPU cannot be used, and frame pre-processing on the
//! GPU (upload once, one kernel for colour, resize and normalization into the network input).
//!
//! Nothing here links CUDA: on a machine without the driver every entry point returns an error
//! that says so, and callers stay on the CPU.

use std::sync::Arc;

use cudarc::driver::{
    CudaContext, CudaEvent, CudaFunction, CudaSlice, CudaStream, DevicePtrMut, DeviceRepr,
    DriverError, PinnedHostSlice, PushKernelArg, ValidAsZeroBits, sys, sys::CUdeviceptr,
};

use super::FrameJob;
use super::hostcopy;

use crate::frame::{Colorimetry, PixelFormat, SourceFrame};
use crate::pose::Geometry;
use crate::preprocess::Taps;
use crate::tensor::{InputElem, InputFormat, TensorLayout};

/// The kernel source, compiled by NVRTC when a GPU engine starts.
pub const PREPROCESS_SOURCE: &str = include_str!("preprocess.cu");
const PREPROCESS_KERNEL: &str = "trtpose_preprocess";

/// Why the GPU side cannot do something. The messages say what is missing and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CudaError {
    #[error("the NVIDIA driver library (libcuda.so.1) is not installed on this machine")]
    NoDriver,
    #[error("the NVIDIA driver reports no CUDA device")]
    NoDevice,
    #[error("device-id {ordinal} does not exist: the driver reports {count} CUDA device(s)")]
    NoSuchDevice { ordinal: usize, count: i32 },
    #[error("the CUDA runtime compiler (libnvrtc.so) is not installed")]
    NoNvrtc,
    #[error("compiling the pre-processing kernel failed: {0}")]
    Compile(String),
    /// A driver call failed: what was being done and the driver's error.
    #[error("{what}: {detail}")]
    Driver { what: &'static str, detail: String },
    /// cudarc panicked (a symbol missing from an old driver).
    #[error("{what}: {detail}")]
    Panicked { what: &'static str, detail: String },
}

impl CudaError {
    fn driver(what: &'static str) -> impl Fn(DriverError) -> CudaError + Copy {
        move |e| CudaError::Driver {
            what,
            detail: e.to_string(),
        }
    }
}

/// What the probe found out about one GPU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpuInfo {
    pub ordinal: usize,
    pub name: String,
    pub compute_capability: (i32, i32),
    pub total_mem: usize,
    /// Free at the time of the probe (on Jetsons: of the RAM shared with the CPU).
    pub free_mem: usize,
}

/// Runs `f`, turning a panic inside cudarc (it panics when a symbol is missing from an old
/// driver) into an error message.
fn guarded<T>(
    what: &'static str,
    f: impl FnOnce() -> Result<T, CudaError>,
) -> Result<T, CudaError> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(p) => {
            let detail = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown panic".into());
            Err(CudaError::Panicked { what, detail })
        }
    }
}

fn driver_present() -> bool {
    // SAFETY: only tries to dlopen the library.
    unsafe { cudarc::driver::sys::is_culib_present() }
}

fn nvrtc_present() -> bool {
    // SAFETY: only tries to dlopen the library.
    unsafe { cudarc::nvrtc::sys::is_culib_present() }
}

/// Opens the primary context of GPU `ordinal` (the one ONNX Runtime's CUDA provider uses too).
pub fn open_device(ordinal: usize) -> Result<Arc<CudaContext>, CudaError> {
    if !driver_present() {
        return Err(CudaError::NoDriver);
    }
    guarded("CUDA initialisation", || {
        let count = CudaContext::device_count().map_err(CudaError::driver("CUDA init failed"))?;
        if count <= 0 {
            return Err(CudaError::NoDevice);
        }
        if ordinal >= count as usize {
            return Err(CudaError::NoSuchDevice { ordinal, count });
        }
        let ctx =
            CudaContext::new(ordinal).map_err(CudaError::driver("opening the CUDA device"))?;
        // One stream per engine, so cudarc's cross-stream event bookkeeping only costs time.
        // SAFETY: every buffer of an engine is used on that engine's single stream.
        unsafe { ctx.disable_event_tracking() };
        Ok(ctx)
    })
}

/// Name, compute capability and memory of GPU `ordinal`, or why there is none.
pub fn probe(ordinal: usize) -> Result<GpuInfo, CudaError> {
    let ctx = open_device(ordinal)?;
    guarded("CUDA device query", || {
        let e = CudaError::driver("CUDA device query");
        let (free_mem, total_mem) = ctx.mem_get_info().map_err(e)?;
        Ok(GpuInfo {
            ordinal,
            name: ctx.name().map_err(e)?,
            compute_capability: ctx.compute_capability().map_err(e)?,
            total_mem,
            free_mem,
        })
    })
}

/// Compiles the pre-processing kernel to PTX. FMA contraction is off so the GPU repeats the
/// CPU's float arithmetic exactly.
pub fn compile_preprocess() -> Result<cudarc::nvrtc::Ptx, CudaError> {
    if !nvrtc_present() {
        return Err(CudaError::NoNvrtc);
    }
    guarded("NVRTC", || {
        let opts = cudarc::nvrtc::CompileOptions {
            fmad: Some(false),
            name: Some("trtpose_preprocess.cu".into()),
            ..Default::default()
        };
        cudarc::nvrtc::compile_ptx_with_opts(PREPROCESS_SOURCE, opts)
            .map_err(|e| CudaError::Compile(e.to_string()))
    })
}

// The layout of these structs matches `preprocess.cu`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
struct TapsRef {
    start: i32,
    count: i32,
    first: i32,
}

#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
struct PlaneParams {
    offset: u64,
    stride: i32,
    width: i32,
    height: i32,
    h: TapsRef,
    v: TapsRef,
}

#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
struct KernelParams {
    kind: i32,
    bytes: i32,
    r: i32,
    g: i32,
    b: i32,
    uv_u: i32,
    /// YUV: chroma cosited with the even luma columns / rows (else centred).
    cosited_h: i32,
    cosited_v: i32,
    /// YUV → RGB: luma offset and scale, then Cr→R, Cb→G, Cr→G, Cb→B.
    yuv: [f32; 6],
    in_w: i32,
    in_h: i32,
    content_w: i32,
    content_h: i32,
    pad_x: i32,
    pad_y: i32,
    nhwc: i32,
    as_int: i32,
    scale: [f32; 3],
    offset: [f32; 3],
    main: PlaneParams,
    cu: PlaneParams,
    cv: PlaneParams,
}

// SAFETY: plain `repr(C)` data with the kernel's layout.
unsafe impl DeviceRepr for KernelParams {}

/// Host copies of the tap tables of every plane, laid out for the kernel.
#[derive(Debug, Default)]
struct TapTables {
    ints: Vec<i32>,
    weights: Vec<f32>,
}

impl TapTables {
    fn push(&mut self, taps: &Taps) -> TapsRef {
        let base = self.weights.len() as i32;
        let mut table = |values: &mut dyn Iterator<Item = i32>| {
            let at = self.ints.len() as i32;
            self.ints.extend(values);
            at
        };
        let start = table(&mut taps.start.iter().map(|&v| v as i32));
        let count = table(&mut taps.count.iter().map(|&v| v as i32));
        let first = table(&mut taps.first.iter().map(|&v| base + v as i32));
        self.weights.extend_from_slice(&taps.weights);
        TapsRef {
            start,
            count,
            first,
        }
    }

    fn plane(&mut self, in_w: usize, in_h: usize, out_w: usize, out_h: usize) -> PlaneParams {
        let h = self.push(&Taps::new(in_w.max(1), out_w));
        let v = self.push(&Taps::new(in_h.max(1), out_h));
        PlaneParams {
            width: in_w as i32,
            height: in_h as i32,
            h,
            v,
            ..Default::default()
        }
    }
}

/// Kernel parameters (without plane offsets and strides) and tap tables for one frame size,
/// format and placement.
fn layout_for(
    format: PixelFormat,
    width: usize,
    height: usize,
    geometry: &Geometry,
    input: &InputFormat,
    colorimetry: Colorimetry,
) -> (KernelParams, TapTables) {
    let (cw, ch) = (geometry.content_w as usize, geometry.content_h as usize);
    let mut t = TapTables::default();
    let m = colorimetry.to_rgb();
    let s = colorimetry.siting;
    let mut p = KernelParams {
        cosited_h: s.h_cosited as i32,
        cosited_v: s.v_cosited as i32,
        yuv: [m.y_offset, m.y_scale, m.cr_v, m.cg_u, m.cg_v, m.cb_u],
        in_w: geometry.input_w as i32,
        in_h: geometry.input_h as i32,
        content_w: cw as i32,
        content_h: ch as i32,
        pad_x: geometry.pad_x as i32,
        pad_y: geometry.pad_y as i32,
        nhwc: (input.layout == TensorLayout::Nhwc) as i32,
        as_int: (input.elem == InputElem::I32) as i32,
        scale: input.normalize.scale,
        offset: input.normalize.offset,
        ..Default::default()
    };
    p.main = t.plane(width, height, cw, ch);
    // 4:2:0 chroma is read per source pixel (no taps of its own): only its size matters.
    let chroma = PlaneParams {
        width: width.div_ceil(2) as i32,
        height: height.div_ceil(2) as i32,
        ..Default::default()
    };
    if let Some(l) = format.packed_layout() {
        (p.kind, p.bytes, p.r, p.g, p.b) = (0, l.bytes as i32, l.r as i32, l.g as i32, l.b as i32);
    } else if let Some(l) = format.packed_422() {
        (p.kind, p.r, p.g, p.b) = (4, l.y as i32, l.u as i32, l.v as i32);
    } else {
        match format {
            PixelFormat::Gray8 => p.kind = 1,
            PixelFormat::I420 | PixelFormat::Yv12 => {
                p.kind = 2;
                (p.cu, p.cv) = (chroma, chroma);
            }
            _ => {
                p.kind = 3;
                p.uv_u = (format == PixelFormat::Nv21) as i32;
                p.cu = chroma;
            }
        }
    }
    (p, t)
}

type LayoutKey = (
    PixelFormat,
    usize,
    usize,
    Geometry,
    InputFormat,
    Colorimetry,
);

/// Page-locked host memory: the GPU's copy engines read and write it directly, where pageable
/// memory goes through a driver copy that blocks the calling thread and halves the bandwidth.
/// Holds the event of the last copy queued on it, so it is not rewritten under that copy.
pub struct Pinned<T> {
    buf: PinnedHostSlice<T>,
    /// Recorded after each copy; reused, as creating an event per copy costs microseconds.
    done: CudaEvent,
    pending: bool,
}

impl Pinned<u8> {
    /// Gathers `pieces` (bytes and where they go, `len` bytes in all) on the host's cores into
    /// the write-combined buffer in `slot`, grown as needed, and queues one upload of them to
    /// device address `dst`.
    pub fn stage_upload(
        slot: &mut Option<Self>,
        stream: &CudaStream,
        pieces: &[(&[u8], usize)],
        len: usize,
        dst: CUdeviceptr,
    ) -> Result<(), CudaError> {
        Self::ensure(slot, stream.context(), len, true)?;
        let staging = slot.as_mut().expect("allocated above");
        hostcopy::gather(
            &mut staging.host()?[..len],
            pieces,
            hostcopy::host_threads(),
        );
        staging.upload(len, dst, stream)
    }
}

impl<T> Drop for Pinned<T> {
    fn drop(&mut self) {
        // The memory is freed right after: a copy still reading or writing it must end first.
        if self.pending {
            let _ = self.done.synchronize();
        }
    }
}

/// Whether `bytes` lie in host memory the driver has page-locked (allocated or registered
/// with it), which the GPU can copy from without a staging copy. Only queries the driver;
/// false without one.
pub fn is_page_locked(bytes: &[u8]) -> bool {
    static DRIVER: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    if !*DRIVER.get_or_init(driver_present) {
        return false;
    }
    let inside = |p: *const u8| {
        let mut flags = 0u32;
        // SAFETY: a query of the driver's table of page-locked ranges; nothing is accessed.
        let r = unsafe { sys::cuMemHostGetFlags(&mut flags, p as *mut std::ffi::c_void) };
        r == sys::cudaError_enum::CUDA_SUCCESS
    };
    !bytes.is_empty() && inside(bytes.as_ptr()) && inside(&bytes[bytes.len() - 1])
}

/// Whether staging a copy of `bytes` in pinned memory pays. The extra host copy and the
/// waits cost more than they save on small copies: on an H200, one 640×480 frame in and
/// trt_pose's maps out took 0.70-0.71 ms frame to people through pageable copies and
/// 0.76-0.80 ms through pinned ones, while at batch 64 pinned staging was 1.35× faster.
pub fn pinned_pays(bytes: usize) -> bool {
    bytes >= PINNED_MIN_BYTES
}

/// See [`pinned_pays`]: about four 640×480 RGB frames.
pub const PINNED_MIN_BYTES: usize = 4 << 20;

impl<T: DeviceRepr + ValidAsZeroBits> Pinned<T> {
    /// `write_combined` suits memory the host only writes (uploads): faster for the GPU to
    /// read, very slow for the host to read back.
    pub fn alloc(
        ctx: &Arc<CudaContext>,
        len: usize,
        write_combined: bool,
    ) -> Result<Self, CudaError> {
        let flags = if write_combined {
            sys::CU_MEMHOSTALLOC_WRITECOMBINED
        } else {
            0
        };
        // SAFETY: the memory is only read after a copy or a host write filled it.
        let buf = unsafe { ctx.alloc_pinned_with_flags::<T>(len.max(1), flags) }
            .map_err(CudaError::driver("allocating pinned host memory"))?;
        let done = ctx
            .new_event(None)
            .map_err(CudaError::driver("creating a CUDA event"))?;
        Ok(Pinned {
            buf,
            done,
            pending: false,
        })
    }

    /// Grows `slot` to at least `len` elements (contents are not kept).
    pub fn ensure(
        slot: &mut Option<Self>,
        ctx: &Arc<CudaContext>,
        len: usize,
        write_combined: bool,
    ) -> Result<(), CudaError> {
        if slot.as_ref().is_none_or(|p| p.buf.len() < len) {
            *slot = None;
            *slot = Some(Self::alloc(ctx, len, write_combined)?);
        }
        Ok(())
    }

    /// The memory, once the last copy queued on it has finished.
    pub fn host(&mut self) -> Result<&mut [T], CudaError> {
        if self.pending {
            self.done
                .synchronize()
                .map_err(CudaError::driver("waiting for a pinned copy"))?;
            self.pending = false;
        }
        self.buf
            .as_mut_slice()
            .map_err(CudaError::driver("mapping pinned host memory"))
    }

    /// Queues a copy of the first `len` elements to device address `dst` on `stream`.
    pub fn upload(
        &mut self,
        len: usize,
        dst: CUdeviceptr,
        stream: &CudaStream,
    ) -> Result<(), CudaError> {
        let e = CudaError::driver("uploading from pinned memory");
        let host = &self.host()?[..len];
        // SAFETY: `dst` holds at least `len` elements; the event below keeps the host side
        // unwritten until the copy is done.
        unsafe { cudarc::driver::result::memcpy_htod_async(dst, host, stream.cu_stream()) }
            .map_err(e)?;
        self.done.record(stream).map_err(e)?;
        self.pending = true;
        Ok(())
    }

    /// Queues a copy of `len` elements from device address `src` into the first `len`
    /// elements; read them with [`Pinned::host`], which waits for it.
    pub fn download(
        &mut self,
        src: CUdeviceptr,
        len: usize,
        stream: &CudaStream,
    ) -> Result<(), CudaError> {
        let e = CudaError::driver("downloading into pinned memory");
        let host = &mut self.host()?[..len];
        // SAFETY: `src` holds at least `len` elements; the memory is page-locked, so the copy
        // runs on the stream without the host's involvement.
        unsafe { cudarc::driver::result::memcpy_dtoh_async(host, src, stream.cu_stream()) }
            .map_err(e)?;
        self.done.record(stream).map_err(e)?;
        self.pending = true;
        Ok(())
    }
}

/// Pre-processing on the GPU into a network input buffer that stays on the device.
pub struct GpuPreprocessor {
    stream: Arc<CudaStream>,
    kernel: CudaFunction,
    frame: Option<CudaSlice<u8>>,
    /// Where a batch's frames are gathered for one upload; `None` until the first batch, or
    /// always when pinned staging is off.
    staging: Option<Pinned<u8>>,
    pinned: bool,
    layout_key: Option<LayoutKey>,
    params: KernelParams,
    taps_i: Option<CudaSlice<i32>>,
    taps_w: Option<CudaSlice<f32>>,
}

impl GpuPreprocessor {
    /// Compiles and loads the kernel for `stream`'s device.
    /// `pinned`: gather frames in page-locked memory and upload a batch in one copy when that
    /// pays ([`pinned_pays`]); otherwise, or when off, one pageable copy per plane.
    pub fn new(stream: Arc<CudaStream>, pinned: bool) -> Result<Self, CudaError> {
        let ptx = compile_preprocess()?;
        let kernel = guarded("loading the pre-processing kernel", || {
            let module = stream
                .context()
                .load_module(ptx)
                .map_err(CudaError::driver(
                    "loading the pre-processing kernel failed",
                ))?;
            module
                .load_function(PREPROCESS_KERNEL)
                .map_err(CudaError::driver("pre-processing kernel not found"))
        })?;
        Ok(GpuPreprocessor {
            stream,
            kernel,
            frame: None,
            staging: None,
            pinned,
            layout_key: None,
            params: KernelParams::default(),
            taps_i: None,
            taps_w: None,
        })
    }

    /// Uploads `frame` and writes the network input for it, placed as `geometry` says, at
    /// device address `out` (one image: `3 × input_w × input_h` elements of the input type).
    /// Work is queued on the stream; nothing waits for it here.
    pub fn run(
        &mut self,
        frame: &SourceFrame,
        geometry: &Geometry,
        input: &InputFormat,
        out: CUdeviceptr,
    ) -> Result<(), CudaError> {
        let job = FrameJob {
            frame,
            geometry: *geometry,
        };
        self.run_batch(std::slice::from_ref(&job), input, out, 0)
    }

    /// Uploads the frames of `jobs` (one copy from pinned memory when staging is on) and
    /// writes job `i`'s network input at device address `base + i × item_bytes`. Work is
    /// queued on the stream; nothing waits for it here.
    pub fn run_batch(
        &mut self,
        jobs: &[FrameJob],
        input: &InputFormat,
        base: CUdeviceptr,
        item_bytes: u64,
    ) -> Result<(), CudaError> {
        let planes = self.upload(jobs)?;
        for (i, (job, planes)) in jobs.iter().zip(&planes).enumerate() {
            self.launch(
                job.frame,
                &job.geometry,
                input,
                planes,
                base + i as u64 * item_bytes,
            )?;
        }
        Ok(())
    }

    /// Queues the kernel for one uploaded frame.
    fn launch(
        &mut self,
        frame: &SourceFrame,
        geometry: &Geometry,
        input: &InputFormat,
        planes: &[PlaneParams; 3],
        out: CUdeviceptr,
    ) -> Result<(), CudaError> {
        let e = CudaError::driver("CUDA pre-processing");
        self.prepare_layout(frame, geometry, input)?;
        let mut p = self.params;
        let place = |target: &mut PlaneParams, plane: &PlaneParams| {
            target.offset = plane.offset;
            target.stride = plane.stride;
        };
        place(&mut p.main, &planes[0]);
        match frame.format {
            PixelFormat::I420 => {
                place(&mut p.cu, &planes[1]);
                place(&mut p.cv, &planes[2]);
            }
            PixelFormat::Yv12 => {
                place(&mut p.cu, &planes[2]);
                place(&mut p.cv, &planes[1]);
            }
            PixelFormat::Nv12 | PixelFormat::Nv21 => place(&mut p.cu, &planes[1]),
            _ => {}
        }
        if frame.width == 0 || frame.height == 0 {
            // Nothing to sample: the whole input is padding.
            (p.content_w, p.content_h) = (0, 0);
        }
        let (w, h) = (geometry.input_w, geometry.input_h);
        if w == 0 || h == 0 {
            return Ok(());
        }
        let cfg = cudarc::driver::LaunchConfig {
            grid_dim: (w.div_ceil(16), h.div_ceil(16), 1),
            block_dim: (16, 16, 1),
            shared_mem_bytes: 0,
        };
        let frame_buf = self.frame.as_ref().expect("allocated above");
        let (taps_i, taps_w) = (
            self.taps_i.as_ref().expect("built above"),
            self.taps_w.as_ref().expect("built above"),
        );
        let mut launch = self.stream.launch_builder(&self.kernel);
        launch
            .arg(frame_buf)
            .arg(taps_i)
            .arg(taps_w)
            .arg(&p)
            .arg(&out);
        crate::trace::step("launch kernel");
        // SAFETY: the arguments match the kernel's signature; `out` holds one input image.
        unsafe { launch.launch(cfg) }.map_err(e)?;
        crate::trace::step("kernel queued");
        Ok(())
    }

    /// Kernel parameters and tap tables, rebuilt only when the frame's size, format,
    /// colorimetry, placement or the input format change.
    fn prepare_layout(
        &mut self,
        frame: &SourceFrame,
        geometry: &Geometry,
        input: &InputFormat,
    ) -> Result<(), CudaError> {
        let e = CudaError::driver("CUDA pre-processing");
        let key = (
            frame.format,
            frame.width,
            frame.height,
            *geometry,
            *input,
            frame.colorimetry,
        );
        if self.layout_key.as_ref() != Some(&key) {
            let (params, tables) = layout_for(
                frame.format,
                frame.width,
                frame.height,
                geometry,
                input,
                frame.colorimetry,
            );
            // Empty tables still need a valid device pointer.
            let ints = if tables.ints.is_empty() {
                vec![0]
            } else {
                tables.ints
            };
            let weights = if tables.weights.is_empty() {
                vec![0.0]
            } else {
                tables.weights
            };
            self.taps_i = Some(self.stream.clone_htod(&ints).map_err(e)?);
            self.taps_w = Some(self.stream.clone_htod(&weights).map_err(e)?);
            self.params = params;
            self.layout_key = Some(key);
        }
        Ok(())
    }

    /// Uploads the frames' planes one after another into one device buffer, each with its
    /// own stride; returns where each frame's planes went.
    fn upload(&mut self, jobs: &[FrameJob]) -> Result<Vec<[PlaneParams; 3]>, CudaError> {
        let e = CudaError::driver("CUDA pre-processing");
        let mut layout = Vec::with_capacity(jobs.len());
        let mut pieces: Vec<(&[u8], usize)> = Vec::new();
        let mut offset = 0usize;
        for job in jobs {
            let frame = job.frame;
            let mut planes = [PlaneParams::default(); 3];
            for (i, (data, stride)) in frame.planes.iter().enumerate() {
                let len = frame
                    .format
                    .plane_len(i, frame.width, frame.height, *stride);
                if len > 0 {
                    pieces.push((&data[..len], offset));
                }
                planes[i] = PlaneParams {
                    offset: offset as u64,
                    stride: *stride as i32,
                    ..Default::default()
                };
                offset += len;
            }
            layout.push(planes);
        }
        let total = offset.max(1);
        if self.frame.as_ref().is_none_or(|f| f.len() < total) {
            // SAFETY: every byte the kernel reads is written by the copies below.
            self.frame = Some(unsafe { self.stream.alloc::<u8>(total) }.map_err(e)?);
        }
        let buffer = self.frame.as_mut().expect("allocated above");
        if offset == 0 {
            return Ok(layout);
        }
        crate::trace::step("upload frames");
        if pieces.iter().all(|(src, _)| is_page_locked(src)) {
            // Frames already in page-locked memory (a pinned pool upstream): the copy engines
            // read them in place. The engine waits for its outputs before returning, so the
            // frames outlive these copies.
            let (base, _record) = buffer.device_ptr_mut(&self.stream);
            for (src, at) in &pieces {
                // SAFETY: the device buffer holds `offset` bytes, and this piece lies within.
                unsafe {
                    cudarc::driver::result::memcpy_htod_async(
                        base + *at as u64,
                        src,
                        self.stream.cu_stream(),
                    )
                }
                .map_err(e)?;
            }
        } else if self.pinned && pinned_pays(offset) {
            let (dst, _record) = buffer.device_ptr_mut(&self.stream);
            Pinned::stage_upload(&mut self.staging, &self.stream, &pieces, offset, dst)?;
        } else {
            for (src, at) in &pieces {
                let mut dst = buffer.slice_mut(*at..at + src.len());
                self.stream.memcpy_htod(*src, &mut dst).map_err(e)?;
            }
        }
        Ok(layout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_memory_is_not_page_locked() {
        // Without a driver this must not panic; with one, a Vec is pageable.
        assert!(!is_page_locked(&vec![7u8; 4096]));
        assert!(!is_page_locked(&[]));
    }

    #[test]
    fn kernel_params_match_the_c_layout() {
        // Offsets the CUDA compiler gives the same struct (ints, then floats, then 8-aligned
        // planes of 48 bytes).
        assert_eq!(std::mem::size_of::<TapsRef>(), 12);
        assert_eq!(std::mem::size_of::<PlaneParams>(), 48);
        assert_eq!(std::mem::offset_of!(KernelParams, scale), 88);
        assert_eq!(std::mem::offset_of!(KernelParams, main), 112);
        assert_eq!(std::mem::size_of::<KernelParams>(), 112 + 3 * 48);
    }

    #[test]
    fn tap_tables_index_weights_globally() {
        let mut t = TapTables::default();
        let a = t.push(&Taps::new(10, 4));
        let b = t.push(&Taps::new(6, 3));
        let first_b = t.ints[b.first as usize] as usize;
        let count_a: i32 = t.ints[a.count as usize..a.count as usize + 4].iter().sum();
        assert_eq!(
            first_b, count_a as usize,
            "second table starts after the first"
        );
        let sum: f32 = t.weights[first_b..first_b + t.ints[b.count as usize] as usize]
            .iter()
            .sum();
        assert!((sum - 1.0).abs() < 1e-6);
    }
}
