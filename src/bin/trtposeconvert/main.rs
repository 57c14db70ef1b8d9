//! trtposeconvert: turns pose ONNX models into TensorRT engines (through ONNX Runtime's
//! TensorRT provider), falls back to an ONNX Runtime-optimized CPU model where TensorRT cannot
//! build, and manages, validates, benchmarks and diagnoses the results.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};

mod e2e;
mod frames;
use gsttrtpose::convert::{
    self, ArtifactKind, Config, Precision, Sidecar, Target, artifact_name, find_gpus,
    find_tensorrt, jetson_model, mismatches, retry_plan, sha256_file,
};
use gsttrtpose::engine::{
    Backend, BackendRequest, Engine, EngineOptions, InputData, OrtEngine, OrtRuntime,
    check_model_file,
};
use gsttrtpose::guard::Sampler;
use gsttrtpose::model::{DecodeSettings, ModelPlan, PoseDecoder};
use gsttrtpose::preprocess::InputElem;

#[derive(Parser)]
#[command(
    name = "trtposeconvert",
    version,
    about = "Convert, check, validate and benchmark pose models"
)]
struct Cli {
    /// TOML configuration (models, output folder, limits); default: ./trtposeconvert.toml or
    /// ~/.config/trtpose/trtposeconvert.toml when present. Flags override it.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Where thermal zones and GPU load are read (a host /sys mounted in containers).
    #[arg(long, global = true, default_value = "/sys")]
    sysfs_root: PathBuf,
    /// Where meminfo, stat and the device tree are read.
    #[arg(long, global = true, default_value = "/proc")]
    procfs_root: PathBuf,
    /// libonnxruntime.so to use (else ORT_DYLIB_PATH, else the path set at build time).
    #[arg(long, global = true)]
    ort_library: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build a TensorRT engine (or the CPU fallback) with a JSON sidecar.
    Convert(ConvertArgs),
    /// For each model: is the ONNX there, is an engine there, does it match this machine.
    Check(ModelsArgs),
    /// Convert what `check` finds missing or stale.
    Auto(AutoArgs),
    /// Run a converted artifact and its source ONNX on the CPU and compare outputs and people.
    Validate(ValidateArgs),
    /// Milliseconds per inference and FPS on every backend available here.
    Bench(BenchArgs),
    /// Write an fp16 copy of a model for the GPU backends (inputs and outputs stay float32);
    /// trtposeinfer precision=fp16 loads it.
    Half(HalfArgs),
    /// Run frames through the GPU path (GPU pre-processing + CUDA) and the CPU path and
    /// compare network inputs, outputs and people.
    Compare(CompareArgs),
    /// CPU, memory, temperatures, GPU, and the ONNX Runtime, CUDA and TensorRT found.
    Status,
    /// Explain the memory situation for engine builds, with recommendations.
    Diagnose(DiagnoseArgs),
}

#[derive(Args, Clone)]
struct BuildOptions {
    /// Build an FP16 engine.
    #[arg(long)]
    fp16: bool,
    /// INT8 from calibration images (.jpg, .png, .ppm) in this folder: calibrated on the CPU
    /// into TensorRT's calibration cache, which the TensorRT build uses; the CPU fallback
    /// model stays FP32 (the cache is kept for a build on the target).
    #[arg(long, value_name = "CALIBRATION_DIR")]
    int8: Option<PathBuf>,
    /// TensorRT builder workspace in MB.
    #[arg(long)]
    workspace: Option<u32>,
    /// Batch sizes min,opt,max (dynamic batch); the engine is named after opt.
    #[arg(long, value_name = "MIN,OPT,MAX")]
    batch: Option<String>,
    /// Input size for dynamic-input models (e.g. MoveNet multipose's longer side).
    #[arg(long)]
    input_size: Option<u32>,
    /// Output folder (default: next to the model).
    #[arg(long)]
    output_dir: Option<PathBuf>,
    /// GPU index.
    #[arg(long, default_value_t = 0)]
    device: u32,
    /// Seconds between memory/temperature progress lines.
    #[arg(long)]
    monitor_interval: Option<f64>,
    /// Pause the build while the board is at or above this temperature (°C).
    #[arg(long)]
    temp_limit: Option<f32>,
    /// Resume below this temperature (default: 5 °C under the limit).
    #[arg(long)]
    temp_resume: Option<f32>,
}

#[derive(Args)]
struct ConvertArgs {
    model: PathBuf,
    #[command(flatten)]
    build: BuildOptions,
}

#[derive(Args)]
struct ModelsArgs {
    /// Models (default: the config file's list).
    models: Vec<PathBuf>,
    /// Folder holding the artifacts (default: next to each model).
    #[arg(long)]
    output_dir: Option<PathBuf>,
}

#[derive(Args)]
struct AutoArgs {
    models: Vec<PathBuf>,
    #[command(flatten)]
    build: BuildOptions,
}

#[derive(Args)]
struct ValidateArgs {
    /// The converted artifact (.engine or CPU .onnx), or any ONNX to compare with --reference.
    artifact: PathBuf,
    /// The original ONNX (default: the sidecar's source).
    #[arg(long)]
    reference: Option<PathBuf>,
    /// Number of sample inputs.
    #[arg(long, default_value_t = 4)]
    samples: usize,
}

#[derive(Args)]
struct BenchArgs {
    model: PathBuf,
    #[arg(long, default_value_t = 20)]
    iterations: usize,
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Also time frame-in to people-out (upload, pre-processing, inference, download,
    /// decoding) on the CPU and on CUDA, with and without CUDA graphs.
    #[arg(long)]
    e2e: bool,
    /// With --e2e: skip the per-backend table of inference alone.
    #[arg(long, requires = "e2e")]
    e2e_only: bool,
    /// Frame for --e2e: a binary PPM (P6) photo; default a synthetic picture of --frame-size.
    #[arg(long, value_name = "PPM")]
    frame: Option<PathBuf>,
    #[arg(long, default_value = "1280x720")]
    frame_size: String,
    /// rgb, bgrx, rgba, nv12 or i420.
    #[arg(long, default_value = "rgb")]
    frame_format: String,
    /// Batch sizes for --e2e on models with a dynamic batch dimension (e.g. 1,8,32).
    #[arg(long, value_delimiter = ',', default_value = "1")]
    batch: Vec<usize>,
    /// GPU memory limit for the CUDA backend in MB (0 = none); too small a limit shows the
    /// CPU fallback.
    #[arg(long, default_value_t = 0)]
    gpu_mem_limit: usize,
    /// With --e2e: also time CUDA with NCHW convolutions (the default is NHWC, channels-last).
    #[arg(long)]
    nchw: bool,
}

#[derive(Args)]
struct HalfArgs {
    model: PathBuf,
    /// Output path (default: MODEL with .fp16.onnx, where trtposeinfer looks for it).
    #[arg(short, long)]
    output: Option<PathBuf>,
}

#[derive(Args)]
struct CompareArgs {
    model: PathBuf,
    /// Binary PPM (P6) photos; default a synthetic picture of --frame-size.
    #[arg(long, value_name = "PPM", value_delimiter = ',')]
    frames: Vec<PathBuf>,
    #[arg(long, default_value = "1280x720")]
    frame_size: String,
    #[arg(long, value_delimiter = ',', default_value = "rgb,bgrx,rgba,nv12,i420")]
    formats: Vec<String>,
    /// Largest keypoint difference (frame pixels) still counted as the same.
    #[arg(long, default_value_t = 1.0)]
    tolerance: f32,
    /// Keypoints scoring below this in both paths are counted as weak, not compared.
    #[arg(long, default_value_t = 0.0)]
    min_keypoint_score: f32,
    /// Run the GPU side on MODEL.fp16.onnx (from `half`).
    #[arg(long)]
    half: bool,
}

#[derive(Args)]
struct DiagnoseArgs {
    /// Create and enable a swap file of this size (e.g. 4G). Needs --yes and root; never done
    /// otherwise.
    #[arg(long, value_name = "SIZE")]
    ensure_swap: Option<String>,
    /// Consent to the system change requested by --ensure-swap.
    #[arg(long)]
    yes: bool,
}

fn load_config(explicit: Option<&Path>) -> Result<Config, String> {
    let candidates: Vec<PathBuf> = match explicit {
        Some(p) => vec![p.to_path_buf()],
        None => {
            let mut v = vec![PathBuf::from("trtposeconvert.toml")];
            if let Some(home) = std::env::var_os("HOME") {
                v.push(PathBuf::from(home).join(".config/trtpose/trtposeconvert.toml"));
            }
            v
        }
    };
    for p in candidates {
        match std::fs::read_to_string(&p) {
            Ok(text) => return Config::parse(&text, &p.display().to_string()),
            Err(e) if explicit.is_some() => return Err(format!("config {}: {e}", p.display())),
            Err(_) => continue,
        }
    }
    Ok(Config::default())
}

/// Build settings after merging flags over the config file.
struct Build {
    precision: Precision,
    calibration: Option<PathBuf>,
    workspace_mb: u32,
    batch: (u32, u32, u32),
    input_size: Option<u32>,
    output_dir: Option<PathBuf>,
    device: u32,
    monitor: Duration,
    temp_limit: f32,
    temp_resume: f32,
}

fn merge(b: &BuildOptions, c: &Config) -> Result<Build, String> {
    let batch = match &b.batch {
        None => (1, 1, 1),
        Some(s) => {
            let v: Vec<u32> = s
                .split(',')
                .map(|x| {
                    x.trim()
                        .parse()
                        .map_err(|_| format!("--batch {s}: not MIN,OPT,MAX"))
                })
                .collect::<Result<_, _>>()?;
            match v.as_slice() {
                [n] => (*n, *n, *n),
                [a, o, m] if a <= o && o <= m && *a >= 1 => (*a, *o, *m),
                _ => {
                    return Err(format!(
                        "--batch {s}: expected N or MIN,OPT,MAX with MIN <= OPT <= MAX"
                    ));
                }
            }
        }
    };
    let precision = if b.int8.is_some() {
        Precision::Int8
    } else if b.fp16 || c.fp16.unwrap_or(false) {
        Precision::Fp16
    } else {
        Precision::Fp32
    };
    let temp_limit = b.temp_limit.or(c.temp_limit).unwrap_or(75.0);
    Ok(Build {
        precision,
        calibration: b.int8.clone(),
        workspace_mb: b.workspace.or(c.workspace).unwrap_or(1024),
        batch,
        input_size: b.input_size,
        output_dir: b.output_dir.clone().or(c.output_dir.clone()),
        device: b.device,
        monitor: Duration::from_secs_f64(
            b.monitor_interval
                .or(c.monitor_interval)
                .unwrap_or(15.0)
                .max(0.01),
        ),
        temp_limit,
        temp_resume: b.temp_resume.or(c.temp_resume).unwrap_or(temp_limit - 5.0),
    })
}

struct Ctx {
    sysfs: PathBuf,
    procfs: PathBuf,
    ort_library: Option<PathBuf>,
}

impl Ctx {
    fn runtime(&self) -> Result<&'static OrtRuntime, String> {
        OrtRuntime::get(self.ort_library.as_deref()).map_err(|e| e.to_string())
    }

    fn sampler(&self) -> Sampler {
        Sampler::new(&self.sysfs, &self.procfs, "")
    }

    fn target(&self) -> Target {
        Target::detect(&self.procfs)
    }
}

fn cpu_options(threads: usize) -> EngineOptions {
    EngineOptions {
        backend: BackendRequest::Cpu,
        threads,
        ..Default::default()
    }
}

/// Loads on the CPU and recognises the family; fails with a clear message for non-pose files.
fn inspect(rt: &OrtRuntime, model: &Path) -> Result<(OrtEngine, ModelPlan), String> {
    check_model_file(model).map_err(|e| e.to_string())?;
    let engine =
        OrtEngine::load_on(rt, model, &cpu_options(0), Backend::Cpu).map_err(|e| e.to_string())?;
    let plan = ModelPlan::new(engine.inputs(), engine.outputs(), Default::default(), None)
        .map_err(|e| format!("{}: not a supported pose model: {e}", model.display()))?;
    Ok((engine, plan))
}

/// A spinner with elapsed time on stderr; indicatif hides it when stderr is not a terminal,
/// so logs and tests see only the plain progress lines on stdout.
fn spinner(message: &str) -> indicatif::ProgressBar {
    let pb = indicatif::ProgressBar::new_spinner();
    pb.set_style(
        indicatif::ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}")
            .expect("valid template"),
    );
    pb.set_message(message.to_string());
    pb.enable_steady_tick(Duration::from_millis(120));
    pb
}

/// Prints a monitor line every interval until dropped.
struct Monitor {
    stop: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Monitor {
    fn start(ctx: &Ctx, every: Duration) -> Monitor {
        let stop = Arc::new(AtomicBool::new(false));
        let s2 = stop.clone();
        let sampler = Arc::new(Mutex::new(ctx.sampler()));
        let started = Instant::now();
        let handle = std::thread::spawn(move || {
            let mut next = started + every;
            while !s2.load(Ordering::Relaxed) {
                if Instant::now() >= next {
                    println!(
                        "{}",
                        convert::monitor_line(
                            &mut sampler.lock().unwrap(),
                            started.elapsed().as_secs_f64()
                        )
                    );
                    next += every;
                }
                std::thread::sleep(Duration::from_millis(10).min(every));
            }
        });
        Monitor {
            stop,
            handle: Some(handle),
        }
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Blocks while the board is at or above the limit, until it is below the resume level.
fn wait_until_cool(ctx: &Ctx, b: &Build) {
    let mut sampler = ctx.sampler();
    let started = Instant::now();
    let mut hot = false;
    let mut misses = 0;
    loop {
        let t = sampler.sample().0.temperature;
        // A sensor that stops answering while the board is hot is not a cool board: wait a
        // few samples before giving up on it.
        if hot && t.is_none() && misses < 3 {
            misses += 1;
            std::thread::sleep(b.monitor.min(Duration::from_secs(5)));
            continue;
        }
        match t {
            Some(t) if (!hot && t >= b.temp_limit) || (hot && t >= b.temp_resume) => {
                if !hot {
                    println!(
                        "temperature {t:.1} °C ≥ {:.1} °C: pausing until below {:.1} °C",
                        b.temp_limit, b.temp_resume
                    );
                }
                hot = true;
                std::thread::sleep(b.monitor.min(Duration::from_secs(5)));
            }
            _ => {
                match (hot, t) {
                    (true, Some(t)) => println!(
                        "cooled to {t:.1} °C after {:.1} s: continuing",
                        started.elapsed().as_secs_f64()
                    ),
                    (true, None) => println!(
                        "temperature unreadable after {:.1} s of pausing: continuing without it",
                        started.elapsed().as_secs_f64()
                    ),
                    _ => {}
                }
                return;
            }
        }
    }
}

fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Runs the model on the CPU over the images in `dir` and writes TensorRT's calibration cache
/// for it into `out_dir`; returns the cache's path.
fn calibrate_folder(
    rt: &'static OrtRuntime,
    model: &Path,
    plan: &ModelPlan,
    dir: &Path,
    out_dir: &Path,
    b: &Build,
) -> Result<PathBuf, String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("--int8 {}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    let mut calibrator =
        gsttrtpose::calibrate::Calibrator::new(rt, model).map_err(|e| e.to_string())?;
    let mut pre = gsttrtpose::preprocess::Preprocessor::new();
    let mut skipped = 0;
    for f in files.iter().take(1000) {
        let (w, h, rgb) = match frames::read_image(f) {
            Ok(img) => img,
            Err(e) => {
                skipped += 1;
                println!("calibration: skipping {e}");
                continue;
            }
        };
        let frame = gsttrtpose::frame::SourceFrame::new(
            gsttrtpose::frame::PixelFormat::Rgb,
            w,
            h,
            vec![(&rgb[..], w * 3)],
        )
        .map_err(|e| e.to_string())?;
        // Prepared as trtposeinfer prepares frames (the family's default resize).
        let geometry = plan.geometry_for(w as u32, h as u32, b.input_size.unwrap_or(256), None);
        let (input, shape) = pre.run(&frame, &geometry, &plan.input);
        let shape = shape.to_vec();
        calibrator.add(input, &shape).map_err(|e| e.to_string())?;
    }
    let table = calibrator.finish();
    if table.inputs_seen == 0 {
        return Err(format!(
            "--int8 {}: no calibration images found ({skipped} files skipped); put .jpg, .png or .ppm frames from the target scene there",
            dir.display()
        ));
    }
    let version = find_tensorrt().map_or("0".to_string(), |t| t.version.replace('.', ""));
    let stem = model
        .file_stem()
        .map_or("model".into(), |s| s.to_string_lossy().into_owned());
    let path = out_dir.join(format!("{stem}_calibration.cache"));
    std::fs::write(&path, table.to_tensorrt_cache(&version))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    println!(
        "calibrated {} tensors on {} images ({} skipped): {}",
        table.ranges.values().filter(|&&r| r > 0.0).count(),
        table.inputs_seen,
        skipped,
        path.display()
    );
    Ok(path)
}

/// Converts one model; returns the artifact path.
fn convert_model(ctx: &Ctx, model: &Path, b: &Build) -> Result<PathBuf, String> {
    let rt = ctx.runtime()?;
    let started = Instant::now();
    println!("converting {}", model.display());
    let (engine, plan) = inspect(rt, model)?;
    let sha = sha256_file(model).map_err(|e| format!("{}: {e}", model.display()))?;
    let out_dir = b
        .output_dir
        .clone()
        .unwrap_or_else(|| model.parent().unwrap_or(Path::new(".")).to_path_buf());
    std::fs::create_dir_all(&out_dir)
        .map_err(|e| format!("cannot create output folder {}: {e}", out_dir.display()))?;
    let calibration_cache = match &b.calibration {
        Some(dir) => Some(calibrate_folder(rt, model, &plan, dir, &out_dir, b)?),
        None => None,
    };
    if b.batch != (1, 1, 1) || b.input_size.is_some() {
        println!(
            "note: batch {:?} and input size {:?} apply to TensorRT optimization profiles; the CPU path keeps the model's own shapes",
            b.batch, b.input_size
        );
    }
    wait_until_cool(ctx, b);
    let _monitor = Monitor::start(ctx, b.monitor);
    let spinner = spinner(&format!("converting {}", model.display()));
    let target = ctx.target();
    let mut path_taken: String;
    let trt = find_tensorrt();
    let result = match &trt {
        None => {
            path_taken = "TensorRT not found (tried libnvinfer.so.11/.10/.8): CPU fallback, ONNX Runtime-optimized model".to_string();
            None
        }
        Some(lib) => {
            let mut last = String::new();
            let mut built = None;
            for attempt in retry_plan(b.precision, b.workspace_mb) {
                wait_until_cool(ctx, b);
                println!(
                    "TensorRT {}: building {} with a {} MB workspace",
                    lib.version,
                    attempt.precision.name(),
                    attempt.workspace_mb
                );
                spinner.set_message(format!(
                    "building a TensorRT {} engine",
                    attempt.precision.name()
                ));
                let cache = out_dir.join(".trt-cache");
                let opts = EngineOptions {
                    backend: BackendRequest::TensorRt,
                    device_id: b.device as i32,
                    engine_cache: Some(cache.clone()),
                    fp16: attempt.precision == Precision::Fp16,
                    workspace_mb: Some(attempt.workspace_mb),
                    int8_calibration: calibration_cache
                        .clone()
                        .filter(|_| attempt.precision == Precision::Int8),
                    ..Default::default()
                };
                match OrtEngine::load_on(rt, model, &opts, Backend::TensorRt) {
                    Ok(_) => {
                        built = Some((attempt, cache));
                        break;
                    }
                    Err(e) => {
                        last = e.to_string();
                        println!("build failed: {last}");
                        if !convert::is_out_of_memory(&last) {
                            break;
                        }
                    }
                }
            }
            match built {
                Some((attempt, cache)) => {
                    path_taken = format!(
                        "TensorRT {} ({}, {} MB workspace)",
                        lib.version,
                        attempt.precision.name(),
                        attempt.workspace_mb
                    );
                    Some((attempt.precision, cache))
                }
                None => {
                    path_taken = format!(
                        "TensorRT build failed ({last}): CPU fallback, ONNX Runtime-optimized model"
                    );
                    None
                }
            }
        }
    };
    let (artifact, kind, precision) = match result {
        Some((precision, cache)) => {
            // ONNX Runtime names its cached engines; keep them in the cache (it finds them by
            // hash) and publish a DeepStream-named copy for management.
            let name = artifact_name(
                model,
                b.batch.1,
                b.device,
                precision,
                ArtifactKind::TensorRt,
            );
            let newest = std::fs::read_dir(&cache)
                .map_err(|e| e.to_string())?
                .flatten()
                .filter(|e| e.path().extension().is_some_and(|x| x == "engine"))
                .max_by_key(|e| e.metadata().and_then(|m| m.modified()).ok())
                .ok_or("TensorRT reported success but wrote no engine")?;
            let artifact = out_dir.join(name);
            std::fs::copy(newest.path(), &artifact)
                .map_err(|e| format!("cannot write {}: {e}", artifact.display()))?;
            (artifact, ArtifactKind::TensorRt, precision)
        }
        None => {
            if b.precision != Precision::Fp32 {
                path_taken.push_str(&format!(
                    "; {} needs TensorRT, so the CPU model stays FP32",
                    b.precision.name().to_uppercase()
                ));
            }
            let name = artifact_name(
                model,
                1,
                b.device,
                Precision::Fp32,
                ArtifactKind::CpuOptimized,
            );
            let artifact = out_dir.join(name);
            spinner.set_message("writing the ONNX Runtime-optimized CPU model");
            write_cpu_optimized(rt, model, &artifact)?;
            (artifact, ArtifactKind::CpuOptimized, Precision::Fp32)
        }
    };
    let sidecar = Sidecar {
        kind,
        source: model.display().to_string(),
        source_sha256: sha,
        precision,
        batch: b.batch.1,
        tensorrt_version: (kind == ArtifactKind::TensorRt)
            .then(|| target.tensorrt_version.clone())
            .flatten(),
        gpu_name: (kind == ArtifactKind::TensorRt)
            .then(|| target.gpu_name.clone())
            .flatten(),
        compute_capability: (kind == ArtifactKind::TensorRt)
            .then(|| target.compute_capability.clone())
            .flatten(),
        onnxruntime_library: rt.library().display().to_string(),
        inputs: engine.inputs().iter().map(|t| t.to_string()).collect(),
        outputs: engine.outputs().iter().map(|t| t.to_string()).collect(),
        model_family: plan.family.to_string(),
        topology: plan.topology.name.clone(),
        path_taken: path_taken.clone(),
        created_unix: now_unix(),
    };
    sidecar.save(&artifact)?;
    spinner.finish_and_clear();
    println!("path: {path_taken}");
    println!(
        "wrote {} and {}",
        artifact.display(),
        Sidecar::path_for(&artifact).display()
    );
    println!("took {:.1} s", started.elapsed().as_secs_f64());
    Ok(artifact)
}

/// ONNX Runtime writes the graph after its optimizations (fusions, constant folding).
fn write_cpu_optimized(rt: &OrtRuntime, model: &Path, out: &Path) -> Result<(), String> {
    let tmp = out.with_extension("partial.onnx");
    let r = (|| -> Result<(), String> {
        let mut builder = ort::session::Session::builder(rt.environment())
            .map_err(|e| e.to_string())?
            .with_optimization_level(ort::session::builder::GraphOptimizationLevel::Level2)
            .map_err(|e| e.to_string())?
            .with_optimized_model_path(&tmp)
            .map_err(|e| e.to_string())?;
        // The model loaded before (inspect), so a failure here is writing the result.
        builder.commit_from_file(model).map_err(|e| {
            format!(
                "could not write the optimized model {} ({e}): is the disk full, the file size limited or the folder read-only?",
                out.display()
            )
        })?;
        Ok(())
    })();
    if let Err(e) = r {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    if !tmp.is_file() {
        return Err(format!(
            "ONNX Runtime did not write {} (is the folder writable and is there space?)",
            tmp.display()
        ));
    }
    std::fs::rename(&tmp, out).map_err(|e| format!("cannot write {}: {e}", out.display()))
}

enum Verdict {
    Ok(PathBuf),
    Missing(String),
    Stale(PathBuf, Vec<String>),
}

fn check_one(ctx: &Ctx, model: &Path, out_dir: Option<&Path>) -> Verdict {
    if !model.is_file() {
        return Verdict::Missing(format!(
            "ONNX {} not found: obtain it first (models/manifest.json says how)",
            model.display()
        ));
    }
    let dir = out_dir
        .map(Path::to_path_buf)
        .unwrap_or_else(|| model.parent().unwrap_or(Path::new(".")).to_path_buf());
    let sha = match sha256_file(model) {
        Ok(s) => s,
        Err(e) => return Verdict::Missing(format!("cannot read {}: {e}", model.display())),
    };
    let target = ctx.target();
    let arts = convert::artifacts_of(model, &dir);
    if arts.is_empty() {
        return Verdict::Missing(format!(
            "no engine in {}: run `trtposeconvert convert {}`",
            dir.display(),
            model.display()
        ));
    }
    // Prefer a usable TensorRT engine, then a usable CPU artifact.
    let mut stale = None;
    for want in [ArtifactKind::TensorRt, ArtifactKind::CpuOptimized] {
        for (p, s) in arts.iter().filter(|(_, s)| s.kind == want) {
            let why = mismatches(s, &target, &sha);
            if why.is_empty() {
                return Verdict::Ok(p.clone());
            }
            stale.get_or_insert((p.clone(), why));
        }
    }
    let (p, why) = stale.expect("artifacts exist");
    Verdict::Stale(p, why)
}

fn models_or_config(models: &[PathBuf], c: &Config) -> Result<Vec<PathBuf>, String> {
    if !models.is_empty() {
        return Ok(models.to_vec());
    }
    if c.models.is_empty() {
        return Err("no models given and none in the configuration file".into());
    }
    Ok(c.models.clone())
}

fn run_check(ctx: &Ctx, a: &ModelsArgs, c: &Config) -> Result<bool, String> {
    let mut all_ok = true;
    let out_dir = a.output_dir.clone().or(c.output_dir.clone());
    for m in models_or_config(&a.models, c)? {
        match check_one(ctx, &m, out_dir.as_deref()) {
            Verdict::Ok(p) => println!("OK       {}: {} is up to date", m.display(), p.display()),
            Verdict::Missing(why) => {
                all_ok = false;
                println!("MISSING  {}: {why}", m.display());
            }
            Verdict::Stale(p, why) => {
                all_ok = false;
                println!(
                    "STALE    {}: {} ({}); run `trtposeconvert convert {}`",
                    m.display(),
                    p.display(),
                    why.join("; "),
                    m.display()
                );
            }
        }
    }
    Ok(all_ok)
}

fn run_auto(ctx: &Ctx, a: &AutoArgs, c: &Config) -> Result<(), String> {
    let b = merge(&a.build, c)?;
    let mut converted = 0;
    for m in models_or_config(&a.models, c)? {
        match check_one(ctx, &m, b.output_dir.as_deref()) {
            Verdict::Ok(p) => println!("up to date: {}", p.display()),
            Verdict::Missing(why) if !m.is_file() => return Err(why),
            _ => {
                convert_model(ctx, &m, &b)?;
                converted += 1;
            }
        }
    }
    println!("auto: {converted} converted");
    Ok(())
}

/// Deterministic sample images: smooth gradients plus a few bright blobs.
fn sample_input(plan: &ModelPlan, shape: &[usize], seed: usize) -> (Vec<f32>, Vec<i32>) {
    let n: usize = shape.iter().product();
    let (h, w) = match plan.input.layout {
        gsttrtpose::preprocess::TensorLayout::Nchw => (shape[2], shape[3]),
        gsttrtpose::preprocess::TensorLayout::Nhwc => (shape[1], shape[2]),
    };
    let mut px = vec![0f32; n];
    for (i, v) in px.iter_mut().enumerate() {
        let (c, y, x) = match plan.input.layout {
            gsttrtpose::preprocess::TensorLayout::Nchw => (i / (h * w), (i / w) % h, i % w),
            gsttrtpose::preprocess::TensorLayout::Nhwc => (i % 3, (i / 3 / w) % h, (i / 3) % w),
        };
        let fx = x as f32 / w as f32;
        let fy = y as f32 / h as f32;
        let blob = (((fx - 0.3 - 0.1 * seed as f32).powi(2) + (fy - 0.5).powi(2)) * -40.0).exp();
        let raw = (128.0 + 100.0 * (6.0 * fx + c as f32 + seed as f32).sin() * fy + 120.0 * blob)
            .clamp(0.0, 255.0);
        *v = plan.input.normalize.apply(c, raw);
    }
    let ints = px.iter().map(|v| v.round() as i32).collect();
    (px, ints)
}

fn input_shape(engine: &OrtEngine, plan: &ModelPlan) -> Vec<usize> {
    let (w, h) = plan.fixed_size.unwrap_or((256, 256));
    let s = &engine.inputs()[0].shape;
    match plan.input.layout {
        gsttrtpose::preprocess::TensorLayout::Nchw => vec![
            1,
            3,
            if s[2] > 0 { s[2] as usize } else { h as usize },
            if s[3] > 0 { s[3] as usize } else { w as usize },
        ],
        gsttrtpose::preprocess::TensorLayout::Nhwc => vec![
            1,
            if s[1] > 0 { s[1] as usize } else { h as usize },
            if s[2] > 0 { s[2] as usize } else { w as usize },
            3,
        ],
    }
}

fn run_validate(ctx: &Ctx, a: &ValidateArgs) -> Result<bool, String> {
    let rt = ctx.runtime()?;
    let sidecar = Sidecar::load(&a.artifact).ok();
    let reference = a
        .reference
        .clone()
        .or_else(|| sidecar.as_ref().map(|s| PathBuf::from(&s.source)))
        .ok_or("no --reference and no sidecar naming the source ONNX")?;
    if sidecar
        .as_ref()
        .is_some_and(|s| s.kind == ArtifactKind::TensorRt)
        && find_tensorrt().is_none()
    {
        return Err(format!(
            "{} is a TensorRT engine and TensorRT is not installed here: validate it on the target machine",
            a.artifact.display()
        ));
    }
    let (mut ref_engine, plan) = inspect(rt, &reference)?;
    let mut art_engine = match sidecar.as_ref().map(|s| s.kind) {
        Some(ArtifactKind::TensorRt) => {
            let opts = EngineOptions {
                backend: BackendRequest::TensorRt,
                engine_cache: a.artifact.parent().map(|p| p.join(".trt-cache")),
                ..Default::default()
            };
            OrtEngine::load_on(rt, &reference, &opts, Backend::TensorRt)
                .map_err(|e| e.to_string())?
        }
        _ => OrtEngine::load_on(rt, &a.artifact, &cpu_options(0), Backend::Cpu)
            .map_err(|e| e.to_string())?,
    };
    let shape = input_shape(&ref_engine, &plan);
    let (mut max_diff, mut sum_diff, mut count) = (0f32, 0f64, 0usize);
    let mut people_match = true;
    let (w, h) = (
        shape[if plan.input.layout == gsttrtpose::preprocess::TensorLayout::Nchw {
            3
        } else {
            2
        }] as u32,
        shape[if plan.input.layout == gsttrtpose::preprocess::TensorLayout::Nchw {
            2
        } else {
            1
        }] as u32,
    );
    let mut d1 = PoseDecoder::new(plan.clone(), DecodeSettings::default())?;
    let mut d2 = PoseDecoder::new(plan.clone(), DecodeSettings::default())?;
    for seed in 0..a.samples {
        let (f, i) = sample_input(&plan, &shape, seed);
        let input = if plan.input.elem == InputElem::I32 {
            InputData::I32(&i)
        } else {
            InputData::F32(&f)
        };
        let (mut ro, mut ao) = (Vec::new(), Vec::new());
        ref_engine
            .run(input, &shape, &mut ro)
            .map_err(|e| e.to_string())?;
        art_engine
            .run(input, &shape, &mut ao)
            .map_err(|e| e.to_string())?;
        if ro.len() != ao.len() {
            return Err(format!(
                "the artifact has {} outputs, the reference {}",
                ao.len(),
                ro.len()
            ));
        }
        for (r, a) in ro.iter().zip(&ao) {
            if r.shape != a.shape {
                return Err(format!(
                    "output shapes differ: {:?} vs {:?}",
                    r.shape, a.shape
                ));
            }
            for (x, y) in r.data.iter().zip(&a.data) {
                let d = (x - y).abs();
                max_diff = max_diff.max(d);
                sum_diff += d as f64;
                count += 1;
            }
        }
        let (mut p1, mut p2) = (Vec::new(), Vec::new());
        d1.decode(&ro, w, h, &mut p1)?;
        d2.decode(&ao, w, h, &mut p2)?;
        let same = p1.len() == p2.len()
            && p1.iter().zip(&p2).all(|(a, b)| {
                a.keypoints
                    .iter()
                    .zip(&b.keypoints)
                    .all(|(x, y)| match (x, y) {
                        (Some(x), Some(y)) => (x.x - y.x).abs() < 2e-3 && (x.y - y.y).abs() < 2e-3,
                        (None, None) => true,
                        _ => false,
                    })
            });
        people_match &= same;
    }
    println!(
        "validated {} against {} on {} sample inputs",
        a.artifact.display(),
        reference.display(),
        a.samples
    );
    println!("max abs difference:  {max_diff:.3e}");
    println!(
        "mean abs difference: {:.3e}",
        sum_diff / count.max(1) as f64
    );
    println!(
        "decoded people match: {}",
        if people_match { "yes" } else { "NO" }
    );
    Ok(people_match && max_diff < 1e-2)
}

fn time_engine(
    engine: &mut OrtEngine,
    input: InputData,
    shape: &[usize],
    iterations: usize,
) -> Result<f64, String> {
    let mut out = Vec::new();
    for _ in 0..3 {
        engine
            .run(input, shape, &mut out)
            .map_err(|e| e.to_string())?;
    }
    let t = Instant::now();
    for _ in 0..iterations {
        engine
            .run(input, shape, &mut out)
            .map_err(|e| e.to_string())?;
    }
    Ok(t.elapsed().as_secs_f64() * 1e3 / iterations.max(1) as f64)
}

fn run_bench(ctx: &Ctx, a: &BenchArgs) -> Result<(), String> {
    let rt = ctx.runtime()?;
    if a.e2e_only {
        return e2e::bench(rt, &a.model, &e2e_setup(a)?);
    }
    let (_, plan) = inspect(rt, &a.model)?;
    let mut rows: Vec<(String, Result<f64, String>)> = Vec::new();
    let tmp = tempdir_for(&a.model)?;
    let optimized = tmp.join("optimized.onnx");
    let mut shape = Vec::new();
    let (mut f, mut i) = (Vec::new(), Vec::new());
    let mut backends: Vec<(String, Result<OrtEngine, String>)> = vec![(
        "CPU (ONNX Runtime)".into(),
        OrtEngine::load_on(rt, &a.model, &cpu_options(a.threads), Backend::Cpu)
            .map_err(|e| e.to_string()),
    )];
    backends.push((
        "CPU, ORT-optimized model".into(),
        write_cpu_optimized(rt, &a.model, &optimized).and_then(|_| {
            OrtEngine::load_on(rt, &optimized, &cpu_options(a.threads), Backend::Cpu)
                .map_err(|e| e.to_string())
        }),
    ));
    for (name, backend, req) in [
        ("CUDA (ORT provider)", Backend::Cuda, BackendRequest::Cuda),
        (
            "TensorRT (ORT provider)",
            Backend::TensorRt,
            BackendRequest::TensorRt,
        ),
    ] {
        // ONNX Runtime's own message for a missing libnvinfer is a source location.
        if backend == Backend::TensorRt && find_tensorrt().is_none() {
            backends.push((
                name.into(),
                Err("TensorRT library not found (libnvinfer.so.11/.10/.8)".into()),
            ));
            continue;
        }
        let opts = EngineOptions {
            backend: req,
            engine_cache: Some(tmp.join("trt")),
            ..Default::default()
        };
        backends.push((
            name.into(),
            OrtEngine::load_on(rt, &a.model, &opts, backend).map_err(|e| e.to_string()),
        ));
    }
    let progress = indicatif::ProgressBar::new(backends.len() as u64);
    progress.set_style(
        indicatif::ProgressStyle::with_template("[{bar:20}] {pos}/{len} {msg}")
            .expect("valid template"),
    );
    for (name, engine) in backends {
        progress.set_message(name.clone());
        progress.inc(1);
        let r = engine.and_then(|mut e| {
            if shape.is_empty() {
                shape = input_shape(&e, &plan);
                (f, i) = sample_input(&plan, &shape, 0);
            }
            let input = if plan.input.elem == InputElem::I32 {
                InputData::I32(&i)
            } else {
                InputData::F32(&f)
            };
            // The CPU is 10-100x slower: a few runs measure it well enough.
            let n = if e.backend() == Backend::Cpu {
                a.iterations.min(20)
            } else {
                a.iterations
            };
            time_engine(&mut e, input, &shape, n)
        });
        rows.push((name, r));
    }
    progress.finish_and_clear();
    let _ = std::fs::remove_dir_all(&tmp);
    let print_e2e = |rows: &[(String, Result<f64, String>)]| -> Result<(), String> {
        let _ = rows;
        if !a.e2e {
            return Ok(());
        }
        e2e::bench(rt, &a.model, &e2e_setup(a)?)
    };
    let base = rows[0].1.as_ref().ok().copied();
    println!(
        "{:<28} {:>10} {:>9} {:>9}",
        "backend", "ms/infer", "FPS", "speedup"
    );
    for (name, r) in &rows {
        match r {
            Ok(ms) => println!(
                "{name:<28} {ms:>10.2} {:>9.1} {:>8.2}x",
                1e3 / ms,
                base.map_or(1.0, |b| b / ms)
            ),
            Err(e) => println!(
                "{name:<28} {:>10} {:>9} {:>9}  unavailable: {}",
                "-",
                "-",
                "-",
                first_line(e)
            ),
        }
    }
    print_e2e(&rows)
}

fn run_half(ctx: &Ctx, a: &HalfArgs) -> Result<(), String> {
    check_model_file(&a.model).map_err(|e| e.to_string())?;
    let rt = ctx.runtime()?;
    let out = a
        .output
        .clone()
        .unwrap_or_else(|| gsttrtpose::half::half_path(&a.model));
    let data = std::fs::read(&a.model).map_err(|e| format!("{}: {e}", a.model.display()))?;
    let (half, report) =
        gsttrtpose::half::to_half(&data).map_err(|e| format!("{}: {e}", a.model.display()))?;
    let tmp = out.with_extension("onnx.partial");
    std::fs::write(&tmp, &half).map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    // ONNX Runtime checks the types of the converted graph when it loads it: a model with
    // ops that have no fp16 form is refused here rather than at the user's first frame.
    if let Err(e) = OrtEngine::load_on(rt, &tmp, &cpu_options(0), Backend::Cpu) {
        let _ = std::fs::remove_file(&tmp);
        return Err(format!(
            "{}: the fp16 copy does not load, so none was written (this model needs float32 in places this converter does not handle; use it at fp32): {}",
            a.model.display(),
            {
                let full = e.to_string();
                let why = full
                    .split_once("failed:")
                    .map_or(full.as_str(), |(_, why)| why);
                why.split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
                    .chars()
                    .take(600)
                    .collect::<String>()
            }
        ));
    }
    std::fs::rename(&tmp, &out).map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    println!(
        "wrote {} ({:.1} MB, from {:.1} MB): {} tensors to fp16, {} kept fp32, {} casts at the inputs and outputs",
        out.display(),
        half.len() as f64 / 1e6,
        data.len() as f64 / 1e6,
        report.tensors_converted,
        report.tensors_kept_float32,
        report.casts_added
    );
    Ok(())
}

fn e2e_setup(a: &BenchArgs) -> Result<e2e::E2eSetup, String> {
    Ok(e2e::E2eSetup {
        frame: a.frame.clone(),
        size: frames::parse_size(&a.frame_size)?,
        format: frames::parse_format(&a.frame_format)?,
        batches: a.batch.clone(),
        iterations: a.iterations,
        threads: a.threads,
        gpu_mem_limit_mb: a.gpu_mem_limit,
        nchw: a.nchw,
    })
}

fn run_compare(ctx: &Ctx, a: &CompareArgs) -> Result<bool, String> {
    let rt = ctx.runtime()?;
    let formats = a
        .formats
        .iter()
        .map(|f| frames::parse_format(f))
        .collect::<Result<Vec<_>, _>>()?;
    let gpu_model = if a.half {
        gsttrtpose::half::half_path(&a.model)
    } else {
        a.model.clone()
    };
    e2e::compare(
        rt,
        &a.model,
        &e2e::CompareSetup {
            gpu_model,
            photos: a.frames.clone(),
            formats,
            size: frames::parse_size(&a.frame_size)?,
            tolerance_px: a.tolerance,
            min_keypoint_score: a.min_keypoint_score,
        },
    )
}

fn first_line(s: &str) -> &str {
    let l = s.lines().next().unwrap_or("");
    if l.len() > 100 { &l[..100] } else { l }
}

fn tempdir_for(_model: &Path) -> Result<PathBuf, String> {
    let dir = std::env::temp_dir().join(format!(
        "trtposeconvert-{}-{}",
        std::process::id(),
        now_unix()
    ));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(dir)
}

fn run_status(ctx: &Ctx) -> Result<(), String> {
    let mut sampler = ctx.sampler();
    let (r, _) = sampler.sample();
    std::thread::sleep(Duration::from_millis(200));
    let (r2, _) = sampler.sample();
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string(ctx.procfs.join("cpuinfo"))
        .ok()
        .and_then(|t| {
            t.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
            })
        })
        .unwrap_or_else(|| "unknown".into());
    println!(
        "CPU:      {model}, {cpus} cores, load {}",
        r2.cpu_percent.map_or("?".into(), |c| format!("{c:.0}%"))
    );
    match r.memory {
        Some(m) => println!(
            "RAM:      {:.1} GB, {:.0}% used; swap {:.1} GB, {}",
            m.total_kb as f64 / 1048576.0,
            r.memory_percent().unwrap_or(0.0),
            m.swap_total_kb as f64 / 1048576.0,
            m.swap_used_percent()
                .map_or("none".into(), |p| format!("{p:.0}% used"))
        ),
        None => println!("RAM:      unknown"),
    }
    if r.zones.is_empty() {
        println!("Thermal:  no thermal zones");
    }
    for z in &r.zones {
        println!("Thermal:  {} {:.1} °C", z.name, z.celsius);
    }
    let gpus = find_gpus(&ctx.procfs);
    if gpus.is_empty() {
        println!("GPU:      no NVIDIA GPU found");
    }
    for g in &gpus {
        println!("GPU:      {}", g.name);
    }
    if let Some(l) = r.gpu_percent {
        println!("GPU load: {l:.0}%");
    }
    println!(
        "Jetson:   {}",
        jetson_model(&ctx.procfs).unwrap_or_else(|| "no".into())
    );
    match ctx.runtime() {
        Ok(rt) => {
            // The version is in the soname (libonnxruntime.so.1.31.1) or the build info.
            let file = rt
                .library()
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default();
            let info = ort::info();
            let version = file
                .strip_prefix("libonnxruntime.so.")
                .or_else(|| {
                    info.split(',')
                        .find_map(|p| p.trim().strip_prefix("git-branch=rel-"))
                })
                .unwrap_or("unknown")
                .to_string();
            println!("ONNX Runtime: {version} at {}", rt.library().display());
            use ort::ep::ExecutionProvider;
            let cuda = ort::ep::CUDA::is_available().unwrap_or(false);
            let trt = ort::ep::TensorRT::is_available().unwrap_or(false);
            println!(
                "ORT providers: CPU{}{}",
                if cuda { ", CUDA" } else { "" },
                if trt { ", TensorRT" } else { "" }
            );
        }
        Err(e) => println!("ONNX Runtime: not loadable: {}", first_line(&e)),
    }
    let cudart = [
        "libcudart.so.13",
        "libcudart.so.12",
        "libcudart.so.11.0",
        "libcudart.so",
    ]
    .iter()
    // SAFETY: probing the CUDA runtime library; its initialisers are benign.
    .find(|n| unsafe { libloading::Library::new(n) }.is_ok());
    println!(
        "CUDA runtime: {}",
        cudart.map_or("not found".to_string(), |n| n.to_string())
    );
    match find_tensorrt() {
        Some(t) => println!("TensorRT: {} ({})", t.version, t.library),
        None => println!("TensorRT: not found (libnvinfer.so.11/.10/.8)"),
    }
    println!(
        "Note: the TensorRT path is compiled and its fallback tested, but it is not exercised on this project's CI machines (they have no TensorRT)."
    );
    Ok(())
}

fn run_diagnose(ctx: &Ctx, a: &DiagnoseArgs) -> Result<(), String> {
    let (r, _) = ctx.sampler().sample();
    let jetson = jetson_model(&ctx.procfs);
    let gpu = find_gpus(&ctx.procfs).into_iter().next();
    for line in convert::diagnose(r.memory, jetson.as_deref(), gpu.as_ref()) {
        println!("{line}");
    }
    if let Some(size) = &a.ensure_swap {
        ensure_swap(size, a.yes)?;
    }
    Ok(())
}

fn ensure_swap(size: &str, yes: bool) -> Result<(), String> {
    if !yes {
        return Err(format!(
            "--ensure-swap {size} changes the system: add --yes to consent (nothing was changed)"
        ));
    }
    // SAFETY: geteuid has no preconditions.
    let uid = unsafe { libc_geteuid() };
    if uid != 0 {
        return Err("--ensure-swap needs root (nothing was changed)".into());
    }
    let path = Path::new("/swapfile.trtpose");
    if path.exists() {
        println!("{} exists already; enabling it", path.display());
    } else {
        for (cmd, args) in [
            ("fallocate", vec!["-l", size, "/swapfile.trtpose"]),
            ("chmod", vec!["600", "/swapfile.trtpose"]),
            ("mkswap", vec!["/swapfile.trtpose"]),
        ] {
            let st = std::process::Command::new(cmd)
                .args(&args)
                .status()
                .map_err(|e| format!("{cmd}: {e}"))?;
            if !st.success() {
                return Err(format!("{cmd} {} failed", args.join(" ")));
            }
        }
    }
    let st = std::process::Command::new("swapon")
        .arg(path)
        .status()
        .map_err(|e| format!("swapon: {e}"))?;
    if !st.success() {
        return Err(format!("swapon {} failed", path.display()));
    }
    println!(
        "enabled swap file {} ({size}); remove with: swapoff {0} && rm {0}",
        path.display()
    );
    println!(
        "Remember: on Jetsons swap does not extend GPU allocations; it only frees RAM held by other processes."
    );
    Ok(())
}

unsafe extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
    #[link_name = "signal"]
    fn libc_signal(signum: i32, handler: usize) -> usize;
}

/// A write past the file-size limit (a quota, `ulimit -f`) then fails with EFBIG and gets
/// reported, instead of SIGXFSZ killing the process.
fn ignore_file_size_signal() {
    const SIGXFSZ: i32 = 25;
    const SIG_IGN: usize = 1;
    // SAFETY: installing SIG_IGN for one signal at start-up, before any thread exists.
    unsafe {
        libc_signal(SIGXFSZ, SIG_IGN);
    }
}

fn main() -> ExitCode {
    ignore_file_size_signal();
    let cli = Cli::parse();
    let ctx = Ctx {
        sysfs: cli.sysfs_root.clone(),
        procfs: cli.procfs_root.clone(),
        ort_library: cli.ort_library.clone(),
    };
    let config = match load_config(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let result = match &cli.command {
        Command::Convert(a) => merge(&a.build, &config)
            .and_then(|b| convert_model(&ctx, &a.model, &b))
            .map(|_| true),
        Command::Check(a) => run_check(&ctx, a, &config),
        Command::Auto(a) => run_auto(&ctx, a, &config).map(|_| true),
        Command::Validate(a) => run_validate(&ctx, a),
        Command::Bench(a) => run_bench(&ctx, a).map(|_| true),
        Command::Compare(a) => run_compare(&ctx, a),
        Command::Half(a) => run_half(&ctx, a).map(|_| true),
        Command::Status => run_status(&ctx).map(|_| true),
        Command::Diagnose(a) => run_diagnose(&ctx, a).map(|_| true),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
