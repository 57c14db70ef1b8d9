// SPDX-License-Identifier: MPL-2.0
//! Engine conversion and model management behind `trtposeconvert`: system facts, TensorRT
//! found at run time, artifact naming, sidecars and their matching, and the memory diagnosis.
//!
//! TensorRT is reached through ONNX Runtime's TensorRT execution provider (same engine trait as
//! every other backend); its library is only probed here, with `dlopen`, to report versions.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::guard::{Memory, Sampler};

/// `trtposeconvert`'s configuration (TOML or JSON): models and defaults that flags override.
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub models: Vec<PathBuf>,
    pub output_dir: Option<PathBuf>,
    pub fp16: Option<bool>,
    pub workspace: Option<u32>,
    pub monitor_interval: Option<f64>,
    pub temp_limit: Option<f32>,
    pub temp_resume: Option<f32>,
    /// Pause the build while memory use is at or above this percentage.
    pub memory_limit: Option<f32>,
    /// Size of the swap file `diagnose --ensure-swap` makes when no size is given (`4G`).
    pub swap_size: Option<String>,
    /// CPUs trtposeconvert runs on, as `taskset -c` (`0-1`): the original kept a hot Nano's
    /// conversion to 2 cores.
    pub cpus: Option<String>,
}

/// A conversion config or an artifact's sidecar that cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error("config {origin}: {problem}")]
    Config { origin: String, problem: String },
    #[error("{path}: {problem}")]
    SidecarRead { path: String, problem: String },
    #[error("cannot write {path}: {source}")]
    SidecarWrite {
        path: String,
        source: std::io::Error,
    },
}

/// Defaults `convert` uses for what neither a flag nor the config file sets.
pub const DEFAULT_WORKSPACE_MB: u32 = 1024;
pub const DEFAULT_MONITOR_INTERVAL_S: f64 = 15.0;
pub const DEFAULT_TEMP_LIMIT_C: f32 = 75.0;
/// `temp_resume` defaults to this far under `temp_limit`.
pub const DEFAULT_TEMP_HYSTERESIS_C: f32 = 5.0;
pub const DEFAULT_MEMORY_LIMIT_PERCENT: f32 = 80.0;

impl Config {
    /// The defaults as `config --init` writes them: every key set except those whose default
    /// depends on another (`temp_resume`) or on the model (`output_dir`).
    pub fn defaults() -> Config {
        Config {
            models: Vec::new(),
            output_dir: None,
            fp16: Some(false),
            workspace: Some(DEFAULT_WORKSPACE_MB),
            monitor_interval: Some(DEFAULT_MONITOR_INTERVAL_S),
            temp_limit: Some(DEFAULT_TEMP_LIMIT_C),
            temp_resume: None,
            memory_limit: Some(DEFAULT_MEMORY_LIMIT_PERCENT),
            swap_size: None,
            cpus: None,
        }
    }

    /// A commented TOML file holding `defaults()`, with every key (the two without a fixed
    /// default commented out); built from the constants so it cannot drift from them.
    pub fn default_file() -> String {
        format!(
            r#"# trtposeconvert configuration: defaults for convert, check and auto; flags override.
# Also accepted as JSON (a file starting with '{{'), with the same keys.

# ONNX models that check and auto use when none are named on the command line.
models = []

# Where artifacts are written (default: next to each model).
# output_dir = "engines"

# Build FP16 engines (TensorRT only; the CPU fallback stays FP32).
fp16 = false

# TensorRT builder workspace in MB; halved on out-of-memory before falling back.
workspace = {workspace}

# Seconds between memory, swap and temperature lines while converting.
monitor_interval = {monitor:.1}

# Pause while the board is at or above this temperature (°C) ...
temp_limit = {temp:.1}
# ... until it is below this one (default: {hyst:.1} °C under temp_limit).
# temp_resume = {resume:.1}

# Pause while memory use is at or above this percentage, until 5 points under it.
memory_limit = {memory:.1}

# Swap file size that `diagnose --ensure-swap` (given no size) creates, e.g. "4G".
# swap_size = "4G"

# CPUs to run on, as taskset -c writes them (default: all), e.g. "0-1" to keep a hot
# Jetson Nano's conversion to two cores.
# cpus = "0-1"
"#,
            workspace = DEFAULT_WORKSPACE_MB,
            monitor = DEFAULT_MONITOR_INTERVAL_S,
            temp = DEFAULT_TEMP_LIMIT_C,
            hyst = DEFAULT_TEMP_HYSTERESIS_C,
            resume = DEFAULT_TEMP_LIMIT_C - DEFAULT_TEMP_HYSTERESIS_C,
            memory = DEFAULT_MEMORY_LIMIT_PERCENT,
        )
    }

    /// Parses TOML, or JSON when the text starts with `{` (the original tool's
    /// `trt_pose_config.json` was JSON); `origin` names the file in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Config, ConvertError> {
        let bad = |problem: String| ConvertError::Config {
            origin: origin.to_string(),
            problem,
        };
        let c: Config = if text.trim_start().starts_with('{') {
            serde_json::from_str(text).map_err(|e| bad(e.to_string()))?
        } else {
            toml::from_str(text).map_err(|e| bad(e.to_string()))?
        };
        if let Some(i) = c.monitor_interval
            && !(i > 0.0 && i.is_finite())
        {
            return Err(bad(
                "monitor_interval must be a positive number of seconds".into()
            ));
        }
        for (name, v) in [("temp_limit", c.temp_limit), ("temp_resume", c.temp_resume)] {
            if v.is_some_and(|t| !(-50.0..=200.0).contains(&t)) {
                return Err(bad(format!("{name} must be between -50 and 200 °C")));
            }
        }
        if c.memory_limit.is_some_and(|m| !(m > 5.0 && m <= 100.0)) {
            return Err(bad(
                "memory_limit must be a percentage above 5 and at most 100".into(),
            ));
        }
        if let Some(size) = &c.swap_size
            && !is_swap_size(size)
        {
            return Err(bad(format!(
                "swap_size '{size}' is not a size such as 512M or 4G"
            )));
        }
        if let Some(list) = &c.cpus {
            crate::cpuset::parse_cpu_list(list, usize::MAX)
                .map_err(|e| bad(format!("cpus: {e}")))?;
        }
        Ok(c)
    }
}

/// A size `fallocate -l` takes for a swap file: digits and a K, M or G suffix.
fn is_swap_size(size: &str) -> bool {
    let digits = size.trim_end_matches(['K', 'M', 'G', 'k', 'm', 'g']);
    digits.len() + 1 == size.len()
        && !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
}

/// A TensorRT library found by `dlopen`.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorRtLib {
    pub library: String,
    pub version: String,
}

/// Sonames tried, newest first: TensorRT 10/11 (x86, JetPack 6) and 8.5+ (JetPack 5).
const NVINFER_SONAMES: [&str; 5] = [
    "libnvinfer.so.11",
    "libnvinfer.so.10",
    "libnvinfer.so.8",
    "libnvinfer.so",
    "libnvinfer.so.7",
];

/// Finds TensorRT at run time and reads its version (`getInferLibVersion`).
pub fn find_tensorrt() -> Option<TensorRtLib> {
    for name in NVINFER_SONAMES {
        // SAFETY: loading a shared library runs its initialisers; libnvinfer's are benign.
        let Ok(lib) = (unsafe { libloading::Library::new(name) }) else {
            continue;
        };
        // SAFETY: `getInferLibVersion` is `int32_t getInferLibVersion()` in every release.
        let version = unsafe {
            lib.get::<unsafe extern "C" fn() -> i32>(b"getInferLibVersion\0")
                .map(|f| f())
        };
        let version = match version {
            // 8.x encodes MAJOR*1000 + MINOR*100 + PATCH; 10+ MAJOR*10000 + MINOR*100 + PATCH.
            Ok(v) if v >= 10000 => format!("{}.{}.{}", v / 10000, (v / 100) % 100, v % 100),
            Ok(v) => format!("{}.{}.{}", v / 1000, (v / 100) % 10, v % 100),
            Err(_) => "unknown".into(),
        };
        return Some(TensorRtLib {
            library: name.to_string(),
            version,
        });
    }
    None
}

/// An NVIDIA GPU from the driver's proc files.
#[derive(Debug, Clone, PartialEq)]
pub struct Gpu {
    pub name: String,
    pub compute_capability: Option<String>,
}

/// Compute capabilities by GPU name from `nvidia-smi` (drivers since 510 report them); the
/// driver's proc files do not.
fn compute_capabilities() -> Vec<(String, String)> {
    let Ok(out) = std::process::Command::new("nvidia-smi")
        .args(["--query-gpu=name,compute_cap", "--format=csv,noheader"])
        .output()
    else {
        return Vec::new();
    };
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let (name, cc) = l.rsplit_once(',')?;
            Some((name.trim().to_string(), cc.trim().to_string()))
        })
        .collect()
}

/// GPUs listed by the NVIDIA driver under `procfs/driver/nvidia/gpus/*/information`.
pub fn find_gpus(procfs: &Path) -> Vec<Gpu> {
    let Ok(dirs) = std::fs::read_dir(procfs.join("driver/nvidia/gpus")) else {
        return Vec::new();
    };
    let mut gpus: Vec<Gpu> = dirs
        .flatten()
        .filter_map(|d| std::fs::read_to_string(d.path().join("information")).ok())
        .filter_map(|text| {
            let model = text
                .lines()
                .find_map(|l| l.strip_prefix("Model:"))?
                .trim()
                .to_string();
            Some(Gpu {
                name: model,
                compute_capability: None,
            })
        })
        .collect();
    gpus.sort_by(|a, b| a.name.cmp(&b.name));
    if !gpus.is_empty() {
        let caps = compute_capabilities();
        for g in &mut gpus {
            g.compute_capability = caps
                .iter()
                .find(|(n, _)| *n == g.name)
                .map(|(_, c)| c.clone());
        }
    }
    gpus
}

/// Jetson boards name themselves in the device tree.
pub fn jetson_model(procfs: &Path) -> Option<String> {
    let text = std::fs::read_to_string(procfs.join("device-tree/model")).ok()?;
    let model = text.trim_end_matches('\0').trim().to_string();
    model.contains("Jetson").then_some(model)
}

/// sha256 of a file, hex.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    let mut f = std::fs::File::open(path)?;
    std::io::copy(&mut f, &mut hasher)?;
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    Fp32,
    Fp16,
    Int8,
}

impl Precision {
    pub fn name(self) -> &'static str {
        match self {
            Precision::Fp32 => "fp32",
            Precision::Fp16 => "fp16",
            Precision::Int8 => "int8",
        }
    }
}

/// Where a conversion ended up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ArtifactKind {
    /// A TensorRT engine built by ONNX Runtime's TensorRT provider.
    TensorRt,
    /// The CPU fallback: an ONNX Runtime-optimized ONNX model.
    CpuOptimized,
}

/// DeepStream-style artifact name: `<model>_b<N>_gpu<id>_<precision>.engine`; the CPU
/// fallback is `<model>_b<N>_cpu_<precision>.onnx`.
pub fn artifact_name(
    model: &Path,
    batch: u32,
    gpu_id: u32,
    precision: Precision,
    kind: ArtifactKind,
) -> String {
    let stem = model
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".into());
    match kind {
        ArtifactKind::TensorRt => {
            format!("{stem}_b{batch}_gpu{gpu_id}_{}.engine", precision.name())
        }
        ArtifactKind::CpuOptimized => format!("{stem}_b{batch}_cpu_{}.onnx", precision.name()),
    }
}

/// What the JSON sidecar next to an artifact records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sidecar {
    pub kind: ArtifactKind,
    pub source: String,
    pub source_sha256: String,
    pub precision: Precision,
    pub batch: u32,
    pub tensorrt_version: Option<String>,
    pub gpu_name: Option<String>,
    pub compute_capability: Option<String>,
    pub onnxruntime_library: String,
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    pub model_family: String,
    pub topology: String,
    /// The path taken and why (e.g. "TensorRT not found: CPU fallback").
    pub path_taken: String,
    pub created_unix: u64,
}

impl Sidecar {
    pub fn path_for(artifact: &Path) -> PathBuf {
        let mut p = artifact.as_os_str().to_owned();
        p.push(".json");
        PathBuf::from(p)
    }

    pub fn load(artifact: &Path) -> Result<Sidecar, ConvertError> {
        let path = Self::path_for(artifact);
        let bad = |problem: String| ConvertError::SidecarRead {
            path: path.display().to_string(),
            problem,
        };
        let text = std::fs::read_to_string(&path).map_err(|e| bad(e.to_string()))?;
        serde_json::from_str(&text).map_err(|e| bad(e.to_string()))
    }

    pub fn save(&self, artifact: &Path) -> Result<(), ConvertError> {
        let path = Self::path_for(artifact);
        let text = serde_json::to_string_pretty(self).expect("serializable");
        std::fs::write(&path, text).map_err(|source| ConvertError::SidecarWrite {
            path: path.display().to_string(),
            source,
        })
    }
}

/// The machine an artifact would run on.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Target {
    pub tensorrt_version: Option<String>,
    pub gpu_name: Option<String>,
    pub compute_capability: Option<String>,
}

/// Artifacts of `model` in `dir` (anything with a sidecar naming it as source).
pub fn artifacts_of(model: &Path, dir: &Path) -> Vec<(PathBuf, Sidecar)> {
    let stem = model
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<(PathBuf, Sidecar)> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            name.starts_with(&format!("{stem}_b"))
                && !name.ends_with(".json")
                && !name.ends_with(".partial.onnx")
        })
        .filter_map(|p| Sidecar::load(&p).ok().map(|s| (p, s)))
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

impl Target {
    /// This machine: the TensorRT found at run time and the first NVIDIA GPU.
    pub fn detect(procfs: &Path) -> Target {
        let gpu = find_gpus(procfs).into_iter().next();
        Target {
            tensorrt_version: find_tensorrt().map(|t| t.version),
            gpu_name: gpu.as_ref().map(|g| g.name.clone()),
            compute_capability: gpu.and_then(|g| g.compute_capability),
        }
    }
}

/// Why an artifact cannot be used here; empty = it matches.
pub fn mismatches(sidecar: &Sidecar, target: &Target, source_sha256: &str) -> Vec<String> {
    let mut why = Vec::new();
    if sidecar.source_sha256 != source_sha256 {
        why.push("the source ONNX changed since the conversion".to_string());
    }
    if sidecar.kind == ArtifactKind::TensorRt {
        match (&sidecar.tensorrt_version, &target.tensorrt_version) {
            (_, None) => why.push("TensorRT is not installed here".into()),
            (Some(a), Some(b)) if a != b => {
                why.push(format!("built with TensorRT {a}, this machine has {b}"))
            }
            _ => {}
        }
        match (&sidecar.gpu_name, &target.gpu_name) {
            (Some(a), Some(b)) if a != b => {
                why.push(format!("built for GPU '{a}', this machine has '{b}'"))
            }
            (Some(_), None) => why.push("no NVIDIA GPU found here".into()),
            _ => {}
        }
        if let (Some(a), Some(b)) = (&sidecar.compute_capability, &target.compute_capability)
            && a != b
        {
            why.push(format!("built for compute capability {a}, this GPU is {b}"));
        }
    }
    why
}

/// Whether a build error is an out-of-memory failure worth retrying smaller.
pub fn is_out_of_memory(error: &str) -> bool {
    let e = error.to_ascii_lowercase();
    [
        "out of memory",
        "outofmemory",
        "oom",
        "cudaerrormemoryallocation",
        "insufficient memory",
        "failed to allocate",
    ]
    .iter()
    .any(|k| e.contains(k))
}

/// One TensorRT build attempt.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Attempt {
    pub precision: Precision,
    pub workspace_mb: u32,
}

/// The retry plan after out-of-memory: the requested build, then half the workspace, then
/// FP32 (which needs no FP16 tactics); the CPU fallback comes after the plan.
pub fn retry_plan(precision: Precision, workspace_mb: u32) -> Vec<Attempt> {
    let mut plan = vec![Attempt {
        precision,
        workspace_mb,
    }];
    if workspace_mb > 1 {
        plan.push(Attempt {
            precision,
            workspace_mb: workspace_mb / 2,
        });
    }
    if precision != Precision::Fp32 {
        plan.push(Attempt {
            precision: Precision::Fp32,
            workspace_mb: (workspace_mb / 2).max(1),
        });
    }
    plan
}

/// Memory situation and concrete advice for building engines on this machine.
pub fn diagnose(memory: Option<Memory>, jetson: Option<&str>, gpu: Option<&Gpu>) -> Vec<String> {
    let mut out = Vec::new();
    let gb = |kb: u64| kb as f64 / (1024.0 * 1024.0);
    let Some(m) = memory else {
        out.push(
            "Memory figures are unavailable (no meminfo); cannot advise on workspace size.".into(),
        );
        return out;
    };
    let avail = gb(m.available_kb);
    out.push(format!(
        "RAM: {:.1} GB total, {:.1} GB available; swap: {:.1} GB total, {:.1} GB free.",
        gb(m.total_kb),
        avail,
        gb(m.swap_total_kb),
        gb(m.swap_free_kb)
    ));
    out.push(swap_line(m));
    match jetson {
        Some(model) => out.extend(unified_memory_advice(model, m)),
        None => {
            out.push(match gpu {
                Some(g) => format!(
                    "Discrete GPU '{}': engine builds use its own memory, not RAM; swap is irrelevant to them. Reduce --workspace if the build reports out-of-memory.",
                    g.name
                ),
                None => "No NVIDIA GPU found: TensorRT engines cannot be built here. trtposeconvert will write the CPU fallback (an ONNX Runtime-optimized model) instead.".into(),
            });
        }
    }
    out
}

/// What the conversion-time estimate looks at.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Machine {
    pub cores: usize,
    pub ram_kb: Option<u64>,
    pub jetson: bool,
    /// TensorRT found: an engine build (minutes) rather than the CPU fallback (seconds).
    pub tensorrt: bool,
}

/// A conversion-time range in minutes and how it was reached.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    pub low_min: f64,
    pub high_min: f64,
    pub basis: String,
}

impl Estimate {
    /// "estimated 5-15 min on this machine"; under a minute when the high end is.
    pub fn line(&self) -> String {
        if self.high_min < 1.0 {
            return "estimated under 1 min on this machine".into();
        }
        format!(
            "estimated {}-{} min on this machine",
            self.low_min.floor().max(1.0) as u64,
            self.high_min.ceil() as u64
        )
    }
}

/// Conversion time from the ONNX size and the machine: a per-MB rate for each class of
/// machine, slowed for few cores and little RAM. The rates are rough orders of magnitude
/// (TensorRT's tactic search grows with the layers, which grow with the weights): Jetson
/// 0.15-0.45 min/MB, a desktop GPU 0.02-0.06 min/MB, the CPU fallback (ONNX Runtime's graph
/// optimizations only) 0.002-0.01 min/MB. Under 4 cores x1.5; under 4 GB of RAM x1.5 (the
/// builder competes for memory, or swaps).
pub fn estimate_conversion(model_bytes: u64, m: &Machine) -> Estimate {
    let (class, low, high) = match (m.tensorrt, m.jetson) {
        (true, true) => ("Jetson", 0.15, 0.45),
        (true, false) => ("GPU with TensorRT", 0.02, 0.06),
        (false, _) => ("CPU fallback", 0.002, 0.01),
    };
    let mut factor = 1.0;
    let mut why = Vec::new();
    if m.cores < 4 {
        factor *= 1.5;
        why.push(format!("x1.5 for {} cores", m.cores));
    }
    if m.ram_kb.is_some_and(|kb| kb < 4 << 20) {
        factor *= 1.5;
        why.push("x1.5 for under 4 GB of RAM".to_string());
    }
    let mb = model_bytes as f64 / (1 << 20) as f64;
    let mut basis = format!("{mb:.1} MB x {low}-{high} min/MB ({class})");
    for w in why {
        basis.push_str(", ");
        basis.push_str(&w);
    }
    Estimate {
        low_min: mb * low * factor,
        high_min: mb * high * factor,
        basis,
    }
}

/// "[2m05.3s]": elapsed time with its minutes, for long builds.
pub fn elapsed_label(elapsed_s: f64) -> String {
    let s = elapsed_s.max(0.0);
    let minutes = (s / 60.0).floor();
    format!("[{}m{:04.1}s]", minutes as u64, s - minutes * 60.0)
}

/// Swap in use above this is "active": pages are being pushed out, and builds slow down.
pub const SWAP_ACTIVE_MB: u64 = 100;

/// The swap-in-use rule, with the numbers.
fn swap_line(m: Memory) -> String {
    let used_mb = m.swap_total_kb.saturating_sub(m.swap_free_kb) / 1024;
    let total_mb = m.swap_total_kb / 1024;
    if m.swap_total_kb == 0 {
        "Swap: none configured.".into()
    } else if used_mb > SWAP_ACTIVE_MB {
        format!(
            "Swap: active, {used_mb} MB of {total_mb} MB in use (over {SWAP_ACTIVE_MB} MB): RAM is short already; other processes' pages are on disk."
        )
    } else {
        format!("Swap: idle, {used_mb} MB of {total_mb} MB in use (at most {SWAP_ACTIVE_MB} MB).")
    }
}

/// Why swap does not help a GPU build on a Jetson, and what does, with this board's figures.
fn unified_memory_advice(model: &str, m: Memory) -> Vec<String> {
    let gb = |kb: u64| kb as f64 / (1024.0 * 1024.0);
    let avail = gb(m.available_kb);
    // Builder peak is roughly model weights x a few plus the workspace.
    let workspace = ((avail * 1024.0) * 0.25).clamp(16.0, 2048.0) as u32;
    let mut out = vec![
        format!(
            "{model}: the GPU shares this RAM (unified memory): {:.1} GB for CPU and GPU together, {avail:.1} GB available now. TensorRT's builder allocates GPU memory with cudaMalloc, which must be resident physical memory: swap cannot back it, so the {:.1} GB of swap does not let a larger engine build. It only makes room by pushing other processes' pages out.",
            gb(m.total_kb),
            gb(m.swap_total_kb)
        ),
        format!(
            "What helps, in order: a small workspace (--workspace {workspace}, a quarter of the available RAM); --fp16 (halves weights and activations); closing other GPU users (desktop, browsers); the CPU conversion (the ONNX Runtime-optimized model trtposeconvert writes when no engine builds, run with trtposeinfer backend=cpu); or building the engine on another machine with the same JetPack (engines are specific to the TensorRT version and GPU)."
        ),
    ];
    if avail < 1.5 {
        out.push(format!("With {avail:.1} GB available (under 1.5 GB), build the engine on another Jetson with the same JetPack, or run on the CPU path (trtposeinfer backend=cpu) meanwhile."));
    }
    out
}

/// CUDA memory of the probed GPU, or why there is none.
pub fn cuda_memory_line(probe: Result<&crate::engine::cuda::GpuInfo, String>) -> String {
    let gb = |b: usize| b as f64 / (1024.0 * 1024.0 * 1024.0);
    match probe {
        Ok(g) => format!(
            "CUDA memory: {:.2} GB total, {:.2} GB used, {:.2} GB free on GPU {} ({}).",
            gb(g.total_mem),
            gb(g.total_mem.saturating_sub(g.free_mem)),
            gb(g.free_mem),
            g.ordinal,
            g.name
        ),
        Err(why) => format!("CUDA memory: no GPU ({why})."),
    }
}

/// Samples memory and temperature for progress lines while a conversion runs.
pub fn monitor_line(sampler: &mut Sampler, elapsed_s: f64) -> String {
    let (r, _) = sampler.sample();
    let mem = r
        .memory_percent()
        .map_or("?".into(), |p| format!("{p:.0}%"));
    let swap = r
        .memory
        .and_then(|m| m.swap_used_percent())
        .map_or("?".into(), |p| format!("{p:.0}%"));
    let temp = r.temperature.map_or("?".into(), |t| format!("{t:.1}°C"));
    format!(
        "{} RAM {mem} SWAP {swap} TEMP {temp}",
        elapsed_label(elapsed_s)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_parses_and_rejects_bad_values_with_the_file_name() {
        let c = Config::parse(
            "models = [\"a.onnx\"]\nfp16 = true\nworkspace = 256\n",
            "c.toml",
        )
        .unwrap();
        assert_eq!(c.models, vec![PathBuf::from("a.onnx")]);
        assert_eq!((c.fp16, c.workspace), (Some(true), Some(256)));
        for bad in [
            "monitor_interval = 0",
            "temp_limit = 900",
            "memory_limit = 0",
            "memory_limit = 150",
            "workspace = -1",
            "models = 3",
            "extra = 1",
            "[[",
        ] {
            let e = Config::parse(bad, "c.toml").unwrap_err();
            assert!(e.to_string().contains("c.toml"), "{bad}: {e}");
        }
    }

    #[test]
    fn names_follow_deepstream() {
        let m = Path::new("/x/resnet18_baseline_att_224x224_A.onnx");
        assert_eq!(
            artifact_name(m, 1, 0, Precision::Fp16, ArtifactKind::TensorRt),
            "resnet18_baseline_att_224x224_A_b1_gpu0_fp16.engine"
        );
        assert_eq!(
            artifact_name(m, 8, 0, Precision::Fp32, ArtifactKind::CpuOptimized),
            "resnet18_baseline_att_224x224_A_b8_cpu_fp32.onnx"
        );
    }

    fn sidecar(kind: ArtifactKind) -> Sidecar {
        Sidecar {
            kind,
            source: "m.onnx".into(),
            source_sha256: "abc".into(),
            precision: Precision::Fp16,
            batch: 1,
            tensorrt_version: Some("10.3.0".into()),
            gpu_name: Some("Orin".into()),
            compute_capability: Some("8.7".into()),
            onnxruntime_library: "libonnxruntime.so".into(),
            inputs: vec![],
            outputs: vec![],
            model_family: "trt-pose".into(),
            topology: "human_pose".into(),
            path_taken: "tensorrt".into(),
            created_unix: 0,
        }
    }

    #[test]
    fn sidecar_matching_names_each_mismatch() {
        let s = sidecar(ArtifactKind::TensorRt);
        let same = Target {
            tensorrt_version: Some("10.3.0".into()),
            gpu_name: Some("Orin".into()),
            compute_capability: Some("8.7".into()),
        };
        assert!(mismatches(&s, &same, "abc").is_empty());
        let other = Target {
            tensorrt_version: Some("8.5.2".into()),
            gpu_name: Some("Xavier".into()),
            compute_capability: Some("7.2".into()),
        };
        let why = mismatches(&s, &other, "def").join("; ");
        for needle in [
            "source ONNX changed",
            "TensorRT 10.3.0",
            "GPU 'Orin'",
            "compute capability 8.7",
        ] {
            assert!(why.contains(needle), "{why}");
        }
        assert!(mismatches(&s, &Target::default(), "abc")[0].contains("not installed"));
        // CPU artifacts only care about the source.
        let cpu = sidecar(ArtifactKind::CpuOptimized);
        assert!(mismatches(&cpu, &Target::default(), "abc").is_empty());
    }

    #[test]
    fn out_of_memory_retries_halve_then_drop_to_fp32() {
        assert!(is_out_of_memory(
            "[TRT] Requested amount of GPU memory could not be allocated: out of memory"
        ));
        assert!(is_out_of_memory("CUDA error cudaErrorMemoryAllocation"));
        assert!(!is_out_of_memory("Unsupported ONNX operator"));
        assert_eq!(
            retry_plan(Precision::Fp16, 256),
            vec![
                Attempt {
                    precision: Precision::Fp16,
                    workspace_mb: 256
                },
                Attempt {
                    precision: Precision::Fp16,
                    workspace_mb: 128
                },
                Attempt {
                    precision: Precision::Fp32,
                    workspace_mb: 128
                },
            ]
        );
        assert_eq!(retry_plan(Precision::Fp32, 1).len(), 1);
    }

    #[test]
    fn diagnosis_explains_unified_memory() {
        let m = Memory {
            total_kb: 4 << 20,
            available_kb: 1 << 20,
            swap_total_kb: 2 << 20,
            swap_free_kb: 2 << 20,
        };
        let text = diagnose(Some(m), Some("NVIDIA Jetson Nano Developer Kit"), None).join("\n");
        assert!(text.contains("swap cannot back it"), "{text}");
        assert!(text.contains("--workspace 256"), "{text}");
        assert!(text.contains("another Jetson"), "{text}");
        assert!(
            text.contains("4.0 GB for CPU and GPU together, 1.0 GB available now"),
            "{text}"
        );
        assert!(text.contains("the 2.0 GB of swap does not"), "{text}");
        assert!(text.contains("the CPU conversion"), "{text}");
        assert!(text.contains("on another machine"), "{text}");
        assert!(text.contains("Swap: idle, 0 MB of 2048 MB"), "{text}");
        let text = diagnose(Some(m), None, None).join("\n");
        assert!(text.contains("No NVIDIA GPU"), "{text}");
    }

    fn machine(tensorrt: bool, jetson: bool, cores: usize, ram_gb: u64) -> Machine {
        Machine {
            cores,
            ram_kb: Some(ram_gb << 20),
            jetson,
            tensorrt,
        }
    }

    #[test]
    fn estimates_scale_with_the_model_and_the_machine() {
        let mb = |n: u64| n << 20;
        // 20 MB on a 4-core, 8 GB desktop GPU: 0.4-1.2 min.
        let e = estimate_conversion(mb(20), &machine(true, false, 4, 8));
        assert!(
            (e.low_min - 0.4).abs() < 1e-9 && (e.high_min - 1.2).abs() < 1e-9,
            "{e:?}"
        );
        assert_eq!(e.line(), "estimated 1-2 min on this machine");
        assert!(
            e.basis
                .contains("20.0 MB x 0.02-0.06 min/MB (GPU with TensorRT)"),
            "{e:?}"
        );
        // The same model on a Jetson Nano (4 cores, 4 GB): 3-9 min.
        let e = estimate_conversion(mb(20), &machine(true, true, 4, 4));
        assert_eq!(e.line(), "estimated 3-9 min on this machine");
        // 2 cores and under 4 GB: x2.25, both named.
        let e = estimate_conversion(mb(20), &machine(true, true, 2, 2));
        assert!((e.high_min - 20.25).abs() < 1e-9, "{e:?}");
        assert!(e.basis.contains("x1.5 for 2 cores") && e.basis.contains("under 4 GB"));
        // Without TensorRT the CPU fallback takes seconds.
        let e = estimate_conversion(mb(20), &machine(false, true, 8, 16));
        assert_eq!(e.line(), "estimated under 1 min on this machine");
        // An unknown RAM size adds nothing.
        let mut m = machine(true, false, 8, 0);
        m.ram_kb = None;
        assert_eq!(estimate_conversion(mb(100), &m).high_min, 6.0);
    }

    #[test]
    fn elapsed_labels_show_minutes() {
        assert_eq!(elapsed_label(0.25), "[0m00.2s]");
        assert_eq!(elapsed_label(125.3), "[2m05.3s]");
        assert_eq!(elapsed_label(3600.0), "[60m00.0s]");
    }

    #[test]
    fn the_default_file_parses_back_to_the_defaults_and_names_every_key() {
        let text = Config::default_file();
        assert_eq!(
            Config::parse(&text, "init.toml").unwrap(),
            Config::defaults()
        );
        for key in [
            "models",
            "output_dir",
            "fp16",
            "workspace",
            "monitor_interval",
            "temp_limit",
            "temp_resume",
            "memory_limit",
            "swap_size",
            "cpus",
        ] {
            assert!(text.contains(&format!("{key} = ")), "{key}: {text}");
        }
        // The commented-out keys parse when uncommented.
        let all = text
            .replace("# output_dir", "output_dir")
            .replace("# temp_resume", "temp_resume")
            .replace("# swap_size", "swap_size")
            .replace("# cpus", "cpus");
        let c = Config::parse(&all, "all.toml").unwrap();
        assert_eq!(c.temp_resume, Some(70.0));
        assert_eq!(c.output_dir, Some(PathBuf::from("engines")));
        assert_eq!(
            (c.swap_size.as_deref(), c.cpus.as_deref()),
            (Some("4G"), Some("0-1"))
        );
    }

    #[test]
    fn swap_size_and_cpus_are_checked() {
        let c = Config::parse("swap_size = \"4G\"\ncpus = \"0-1\"", "c.toml").unwrap();
        assert_eq!(
            (c.swap_size.as_deref(), c.cpus.as_deref()),
            (Some("4G"), Some("0-1"))
        );
        for (bad, why) in [
            ("swap_size = \"4\"", "swap_size '4'"),
            ("swap_size = \"G\"", "swap_size 'G'"),
            ("swap_size = \"4GB\"", "swap_size '4GB'"),
            ("cpus = \"1-0\"", "runs backwards"),
        ] {
            let e = Config::parse(bad, "c.toml").unwrap_err().to_string();
            assert!(e.contains("c.toml") && e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn json_configs_parse_like_toml_and_name_the_file_in_errors() {
        let c = Config::parse(
            " {\"models\": [\"a.onnx\"], \"fp16\": true, \"workspace\": 256, \"memory_limit\": 70}",
            "trt_pose_config.json",
        )
        .unwrap();
        assert_eq!(c.models, vec![PathBuf::from("a.onnx")]);
        assert_eq!(
            (c.fp16, c.workspace, c.memory_limit),
            (Some(true), Some(256), Some(70.0))
        );
        for bad in ["{\"extra\": 1}", "{\"memory_limit\": 0}", "{"] {
            let e = Config::parse(bad, "trt_pose_config.json").unwrap_err();
            assert!(e.to_string().contains("trt_pose_config.json"), "{bad}: {e}");
        }
    }

    #[test]
    fn swap_over_100_mb_is_active() {
        let m = |used_mb: u64| Memory {
            total_kb: 4 << 20,
            available_kb: 2 << 20,
            swap_total_kb: 2 << 20,
            swap_free_kb: (2 << 20) - used_mb * 1024,
        };
        assert!(swap_line(m(100)).starts_with("Swap: idle, 100 MB of 2048 MB"));
        assert_eq!(
            swap_line(m(101)),
            "Swap: active, 101 MB of 2048 MB in use (over 100 MB): RAM is short already; other processes' pages are on disk."
        );
        let none = Memory {
            swap_total_kb: 0,
            swap_free_kb: 0,
            ..m(0)
        };
        assert_eq!(swap_line(none), "Swap: none configured.");
    }

    #[test]
    fn cuda_memory_or_no_gpu() {
        let g = crate::engine::cuda::GpuInfo {
            ordinal: 0,
            name: "Orin".into(),
            compute_capability: (8, 7),
            total_mem: 8 << 30,
            free_mem: 6 << 30,
        };
        assert_eq!(
            cuda_memory_line(Ok(&g)),
            "CUDA memory: 8.00 GB total, 2.00 GB used, 6.00 GB free on GPU 0 (Orin)."
        );
        assert_eq!(
            cuda_memory_line(Err("no driver".into())),
            "CUDA memory: no GPU (no driver)."
        );
    }
}
