// SPDX-License-Identifier: MPL-2.0
//! `convert` and `auto`: build settings from flags and the config file, INT8 calibration,
//! the TensorRT build with its retries, the CPU fallback, and the pauses for a hot board or full memory.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Args;
use gsttrtpose::convert::{
    self, ArtifactKind, Config, Precision, Sidecar, TensorRtLib, artifact_name, find_tensorrt,
    retry_plan, sha256_file,
};
use gsttrtpose::engine::{Backend, BackendRequest, Engine, EngineOptions, OrtEngine, OrtRuntime};
use gsttrtpose::guard::MEMORY_HYSTERESIS;
use gsttrtpose::model::ModelPlan;

use crate::Ctx;
use crate::check::{Verdict, check_one};
use crate::common::{inspect, models_or_config, now_unix, write_cpu_optimized};
use crate::{bench, frames, validate};

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
    /// Pause the build while memory use is at or above this percentage (resume 5 points
    /// under it); default 80.
    #[arg(long)]
    memory_limit: Option<f32>,
}

#[derive(Args)]
pub struct ConvertArgs {
    model: PathBuf,
    #[command(flatten)]
    build: BuildOptions,
}

#[derive(Args)]
pub struct AutoArgs {
    models: Vec<PathBuf>,
    #[command(flatten)]
    build: BuildOptions,
}

/// `convert`: flags over the config file, then one conversion.
pub fn run(ctx: &Ctx, a: &ConvertArgs, c: &Config) -> Result<PathBuf, String> {
    merge(&a.build, c).and_then(|b| convert_model(ctx, &a.model, &b))
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
    memory_limit: f32,
}

/// Flags win over the configuration file, which wins over the defaults.
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
    let temp_limit = b
        .temp_limit
        .or(c.temp_limit)
        .unwrap_or(convert::DEFAULT_TEMP_LIMIT_C);
    let memory_limit = b
        .memory_limit
        .or(c.memory_limit)
        .unwrap_or(convert::DEFAULT_MEMORY_LIMIT_PERCENT);
    if !(memory_limit > MEMORY_HYSTERESIS && memory_limit <= 100.0) {
        return Err(format!(
            "--memory-limit {memory_limit}: a percentage above {MEMORY_HYSTERESIS} and at most 100"
        ));
    }
    Ok(Build {
        precision,
        calibration: b.int8.clone(),
        workspace_mb: b
            .workspace
            .or(c.workspace)
            .unwrap_or(convert::DEFAULT_WORKSPACE_MB),
        batch,
        input_size: b.input_size,
        output_dir: b.output_dir.clone().or(c.output_dir.clone()),
        device: b.device,
        monitor: Duration::from_secs_f64(
            b.monitor_interval
                .or(c.monitor_interval)
                .unwrap_or(convert::DEFAULT_MONITOR_INTERVAL_S)
                .max(0.01),
        ),
        temp_limit,
        temp_resume: b
            .temp_resume
            .or(c.temp_resume)
            .unwrap_or(temp_limit - convert::DEFAULT_TEMP_HYSTERESIS_C),
        memory_limit,
    })
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

/// Blocks while the board is too hot or memory too full, until both are below their resume
/// levels (memory resumes `MEMORY_HYSTERESIS` points under its limit, as jetsonguard does).
fn wait_until_safe(ctx: &Ctx, b: &Build) {
    let mut sampler = ctx.sampler();
    let started = Instant::now();
    let nap = b.monitor.min(Duration::from_secs(5));
    let (mut hot, mut full) = (false, false);
    let mut misses = 0;
    loop {
        let r = sampler.sample().0;
        let t = r.temperature;
        // A sensor that stops answering while the board is hot is not a cool board: wait a
        // few samples before giving up on it.
        if hot && t.is_none() && misses < 3 {
            misses += 1;
            std::thread::sleep(nap);
            continue;
        }
        let was_hot = hot;
        hot = t.is_some_and(|t| t >= if hot { b.temp_resume } else { b.temp_limit });
        let elapsed = started.elapsed().as_secs_f64();
        match (was_hot, hot, t) {
            (false, true, Some(t)) => println!(
                "temperature {t:.1} °C ≥ {:.1} °C: pausing until below {:.1} °C",
                b.temp_limit, b.temp_resume
            ),
            (true, false, Some(t)) => {
                println!("cooled to {t:.1} °C after {elapsed:.1} s: continuing")
            }
            (true, false, None) => println!(
                "temperature unreadable after {elapsed:.1} s of pausing: continuing without it"
            ),
            _ => {}
        }
        // Unreadable memory figures cannot hold the build: the temperature guard still runs.
        let m = r.memory_percent();
        let resume = b.memory_limit - MEMORY_HYSTERESIS;
        let was_full = full;
        full = m.is_some_and(|m| m >= if full { resume } else { b.memory_limit });
        match (was_full, full, m) {
            (false, true, Some(m)) => println!(
                "memory {m:.0} % ≥ {:.0} %: pausing until below {resume:.0} %",
                b.memory_limit
            ),
            (true, false, Some(m)) => {
                println!("memory down to {m:.0} % after {elapsed:.1} s: continuing")
            }
            (true, false, None) => {
                println!("memory unreadable after {elapsed:.1} s of pausing: continuing without it")
            }
            _ => {}
        }
        if !hot && !full {
            return;
        }
        std::thread::sleep(nap);
    }
}

/// The conversion-time estimate and what it rests on, before the work starts.
fn print_estimate(ctx: &Ctx, model: &Path) {
    let machine = convert::Machine {
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        ram_kb: ctx.sampler().sample().0.memory.map(|m| m.total_kb),
        jetson: convert::jetson_model(&ctx.procfs).is_some(),
        tensorrt: find_tensorrt().is_some(),
    };
    let bytes = std::fs::metadata(model).map_or(0, |m| m.len());
    let e = convert::estimate_conversion(bytes, &machine);
    println!("{} ({})", e.line(), e.basis);
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

/// What the steps of one conversion share.
struct Job<'a> {
    ctx: &'a Ctx,
    rt: &'static OrtRuntime,
    model: &'a Path,
    b: &'a Build,
    out_dir: PathBuf,
}

/// Converts one model; returns the artifact path.
fn convert_model(ctx: &Ctx, model: &Path, b: &Build) -> Result<PathBuf, String> {
    let model = &crate::import::onnx_for(model)?;
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
    print_estimate(ctx, model);
    let job = Job {
        ctx,
        rt,
        model,
        b,
        out_dir,
    };
    wait_until_safe(ctx, b);
    let _monitor = Monitor::start(ctx, b.monitor);
    let spinner = spinner(&format!("converting {}", model.display()));
    let target = ctx.target();
    let trt = find_tensorrt();
    let (built, mut path_taken) = match &trt {
        None => (
            None,
            "TensorRT not found (tried libnvinfer.so.11/.10/.8): CPU fallback, ONNX Runtime-optimized model".to_string(),
        ),
        Some(lib) => job.build_tensorrt(lib, calibration_cache.as_deref(), &spinner),
    };
    let (artifact, kind, precision) = job.publish(built, &mut path_taken, &spinner)?;
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
    sidecar.save(&artifact).map_err(|e| e.to_string())?;
    println!("path: {path_taken}");
    println!(
        "wrote {} and {}",
        artifact.display(),
        Sidecar::path_for(&artifact).display()
    );
    println!("took {:.1} s", started.elapsed().as_secs_f64());
    spinner.finish_and_clear();
    let spinner = self::spinner("validating and timing the result");
    let r = report_result(rt, model, &artifact, kind);
    spinner.finish_and_clear();
    r.map(|_| artifact)
}

/// Sizes in MB with one decimal, KB under a megabyte (small test models).
fn human_size(bytes: u64) -> String {
    if bytes >= 1 << 20 {
        format!("{:.1} MB", bytes as f64 / (1 << 20) as f64)
    } else {
        format!("{:.1} KB", bytes as f64 / 1024.0)
    }
}

/// "4.44x faster", "1.25x slower" or "1.01x, the same speed", from both mean times.
fn speedup(source_ms: f64, result_ms: f64) -> String {
    let x = source_ms / result_ms.max(1e-9);
    // Within timing noise: neither faster nor slower.
    if (x - 1.0).abs() < 0.03 {
        format!("{x:.2}x, the same speed")
    } else if x >= 1.0 {
        format!("{x:.2}x faster")
    } else {
        format!("{:.2}x slower", 1.0 / x)
    }
}

/// Iterations per timing after a conversion: enough for a stable mean on a slow CPU.
const CONVERT_BENCH_ITERATIONS: usize = 10;

/// After a conversion: the result against its source (`validate`'s comparison), both timed
/// (`bench`'s timing) and both sizes. A validation failure is reported, not fatal: FP16
/// engines may differ past the threshold and still be usable; the user decides.
fn report_result(
    rt: &'static OrtRuntime,
    model: &Path,
    artifact: &Path,
    kind: ArtifactKind,
) -> Result<(), String> {
    let ok = validate::compare_outputs(rt, artifact, model, Some(kind), 4)?;
    println!(
        "validation: {}",
        if ok {
            "passed"
        } else {
            "FAILED (outputs or people differ from the source: see above)"
        }
    );
    let (mut source, plan) = inspect(rt, model)?;
    let mut result = validate::load_artifact(rt, artifact, model, Some(kind))?;
    let s = bench::time_model(&mut source, &plan, CONVERT_BENCH_ITERATIONS)?;
    let r = bench::time_model(&mut result, &plan, CONVERT_BENCH_ITERATIONS)?;
    println!(
        "speed: source {s:.1} ms, result {r:.1} ms: {}",
        speedup(s, r)
    );
    let size = |p: &Path| std::fs::metadata(p).map_or("?".into(), |m| human_size(m.len()));
    println!(
        "size: source {} ({}), result {} ({})",
        size(model),
        model.display(),
        size(artifact),
        artifact.display()
    );
    Ok(())
}

impl Job<'_> {
    /// Builds through ONNX Runtime's TensorRT provider, following `retry_plan` after
    /// out-of-memory failures; returns the precision built and the engine cache folder (None
    /// when every attempt failed) and the path taken, for the sidecar.
    fn build_tensorrt(
        &self,
        lib: &TensorRtLib,
        calibration_cache: Option<&Path>,
        spinner: &indicatif::ProgressBar,
    ) -> (Option<(Precision, PathBuf)>, String) {
        let b = self.b;
        let mut last = String::new();
        let mut built = None;
        for attempt in retry_plan(b.precision, b.workspace_mb) {
            wait_until_safe(self.ctx, b);
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
            let cache = self.out_dir.join(".trt-cache");
            let opts = EngineOptions {
                backend: BackendRequest::TensorRt,
                device_id: b.device as i32,
                engine_cache: Some(cache.clone()),
                precision: if attempt.precision == Precision::Fp16 {
                    gsttrtpose::engine::Precision::Fp16
                } else {
                    gsttrtpose::engine::Precision::Fp32
                },
                workspace_mb: Some(attempt.workspace_mb),
                int8_calibration: calibration_cache
                    .map(Path::to_path_buf)
                    .filter(|_| attempt.precision == Precision::Int8),
                ..Default::default()
            };
            match OrtEngine::load_on(self.rt, self.model, &opts, Backend::TensorRt) {
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
            Some((attempt, cache)) => (
                Some((attempt.precision, cache)),
                format!(
                    "TensorRT {} ({}, {} MB workspace)",
                    lib.version,
                    attempt.precision.name(),
                    attempt.workspace_mb
                ),
            ),
            None => (
                None,
                format!(
                    "TensorRT build failed ({last}): CPU fallback, ONNX Runtime-optimized model"
                ),
            ),
        }
    }

    /// Writes the artifact into the output folder: a copy of the engine TensorRT built, else
    /// the ONNX Runtime-optimized CPU model (noting in `path_taken` a precision it cannot keep).
    fn publish(
        &self,
        built: Option<(Precision, PathBuf)>,
        path_taken: &mut String,
        spinner: &indicatif::ProgressBar,
    ) -> Result<(PathBuf, ArtifactKind, Precision), String> {
        let (model, b) = (self.model, self.b);
        match built {
            Some((precision, cache)) => {
                // ONNX Runtime names its cached engines; keep them in the cache (it finds them
                // by hash) and publish a DeepStream-named copy for management.
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
                let artifact = self.out_dir.join(name);
                std::fs::copy(newest.path(), &artifact)
                    .map_err(|e| format!("cannot write {}: {e}", artifact.display()))?;
                Ok((artifact, ArtifactKind::TensorRt, precision))
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
                let artifact = self.out_dir.join(name);
                spinner.set_message("writing the ONNX Runtime-optimized CPU model");
                write_cpu_optimized(self.rt, model, &artifact)?;
                Ok((artifact, ArtifactKind::CpuOptimized, Precision::Fp32))
            }
        }
    }
}

/// `auto`: converts every model `check` finds missing or stale; stops at the first failure.
pub fn run_auto(ctx: &Ctx, a: &AutoArgs, c: &Config) -> Result<(), String> {
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
