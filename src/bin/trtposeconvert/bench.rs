// SPDX-License-Identifier: MPL-2.0
//! `bench`: milliseconds per inference on every backend available here, and with --e2e the
//! whole frame-in to people-out chain (see e2e.rs).

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args;
use gsttrtpose::convert::find_tensorrt;
use gsttrtpose::engine::{Backend, BackendRequest, Engine, EngineOptions, InputData, OrtEngine};
use gsttrtpose::model::ModelPlan;
use gsttrtpose::preprocess::InputElem;

use crate::Ctx;
use crate::common::{
    cpu_options, first_line, input_shape, inspect, now_unix, sample_input, write_cpu_optimized,
};
use crate::{e2e, frames, streams};

#[derive(Args, Clone)]
pub struct BenchArgs {
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
    /// With --e2e: hold the frame in page-locked memory for the GPU rows, as a pinned buffer
    /// pool upstream would, so it is uploaded in place.
    #[arg(long, requires = "e2e")]
    pinned_frame: bool,
    /// Instead of the tables: N streams (threads) through one shared engine, as trtposeinfer
    /// elements naming one shared-engine run, against one stream on a private engine. Uses
    /// --frame/--frame-size/--frame-format, --iterations frames per stream, --threads.
    #[arg(long, value_name = "N")]
    streams: Option<usize>,
    /// With --streams: auto, cpu, cuda or tensorrt.
    #[arg(long, default_value = "auto", requires = "streams")]
    backend: String,
    /// With --streams: most frames per run of the shared engine.
    #[arg(long, default_value_t = 8, requires = "streams")]
    max_batch: usize,
    /// With --streams: longest wait of a frame for others, in µs.
    #[arg(long, default_value_t = 10_000, requires = "streams")]
    batch_timeout: u64,
    /// With --streams: engines running batches side by side (the first value); with --e2e:
    /// also time the CUDA rows with each of these many engines running batches side by side,
    /// one thread each (e.g. 2,3).
    #[arg(long, value_delimiter = ',', default_value = "1")]
    instances: Vec<usize>,
}

/// Mean milliseconds per run, after three warm-up runs.
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

/// Mean milliseconds per run of one engine on the model's first sample input (`convert`
/// times its source and its result with it).
pub fn time_model(
    engine: &mut OrtEngine,
    plan: &ModelPlan,
    iterations: usize,
) -> Result<f64, String> {
    let shape = input_shape(engine, plan);
    let (f, i) = sample_input(plan, &shape, 0);
    let input = if plan.input.elem == InputElem::I32 {
        InputData::I32(&i)
    } else {
        InputData::F32(&f)
    };
    time_engine(engine, input, &shape, iterations)
}

/// `bench`: the per-backend table, then (with --e2e) the end-to-end one.
pub fn run(ctx: &Ctx, a: &BenchArgs) -> Result<(), String> {
    let model = crate::import::onnx_for(&a.model)?;
    let a = &BenchArgs { model, ..a.clone() };
    let rt = ctx.runtime()?;
    if let Some(n) = a.streams {
        let backend = match a.backend.as_str() {
            "auto" => BackendRequest::Auto,
            "cpu" => BackendRequest::Cpu,
            "cuda" => BackendRequest::Cuda,
            "tensorrt" => BackendRequest::TensorRt,
            other => {
                return Err(format!(
                    "--backend {other}: expected auto, cpu, cuda or tensorrt"
                ));
            }
        };
        let setup = e2e_setup(a)?;
        let frame = e2e::test_frame(setup.frame.as_deref(), setup.size, setup.format)?;
        return streams::bench(
            rt,
            &a.model,
            &frame,
            &streams::StreamsSetup {
                streams: n.max(1),
                iterations: a.iterations,
                backend,
                threads: a.threads,
                max_batch: a.max_batch.max(1),
                timeout: std::time::Duration::from_micros(a.batch_timeout),
                instances: a.instances.first().copied().unwrap_or(1).max(1),
            },
        );
    }
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

/// The --e2e flags in the form e2e.rs takes.
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
        instances: a.instances.clone(),
        pinned_frame: a.pinned_frame,
    })
}

/// A fresh folder for the optimized model and engine cache the benchmark builds.
fn tempdir_for(_model: &Path) -> Result<PathBuf, String> {
    let dir = std::env::temp_dir().join(format!(
        "trtposeconvert-{}-{}",
        std::process::id(),
        now_unix()
    ));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(dir)
}
