// SPDX-License-Identifier: MPL-2.0
//! Frame-in to people-out: the benchmark of the whole chain per backend and batch size, and
//! the comparison of the GPU path (GPU pre-processing + CUDA) with the CPU path.

use std::path::{Path, PathBuf};
use std::time::Instant;

use gsttrtpose::engine::InputData;
use gsttrtpose::engine::cuda::{self, Pinned};
use gsttrtpose::engine::{
    Backend, BackendRequest, Engine, EngineOptions, FrameJob, OrtEngine, OrtRuntime,
};
use gsttrtpose::frame::{PixelFormat, SourceFrame, copy_frames_into};
use gsttrtpose::model::{EstimatorConfig, PoseDecoder, PoseEstimator};
use gsttrtpose::pose::Person;
use gsttrtpose::preprocess::Preprocessor;

use crate::frames::{self, TestFrame};

/// What the end-to-end part of `bench` runs on.
pub struct E2eSetup {
    pub frame: Option<PathBuf>,
    pub size: (usize, usize),
    pub format: PixelFormat,
    pub batches: Vec<usize>,
    pub iterations: usize,
    pub threads: usize,
    pub gpu_mem_limit_mb: usize,
    /// Also time CUDA with NCHW convolutions (the default is NHWC).
    pub nchw: bool,
    /// Also time the CUDA rows with these many engines running batches side by side.
    pub instances: Vec<usize>,
    /// Hold the frame in page-locked memory, as a pinned buffer pool upstream would.
    pub pinned_frame: bool,
}

pub fn test_frame(
    path: Option<&Path>,
    size: (usize, usize),
    format: PixelFormat,
) -> Result<TestFrame, String> {
    let (w, h, rgb) = match path {
        Some(p) => frames::read_ppm(p)?,
        None => (size.0, size.1, frames::synthetic_rgb(size.0, size.1)),
    };
    frames::convert(&rgb, w, h, format)
}

struct Row {
    name: String,
    batch: usize,
    infer_ms: Option<f64>,
    e2e_ms: Result<f64, String>,
    decode_ms: Option<f64>,
    people: usize,
    preprocessing: String,
}

fn options(backend: BackendRequest, graph: Option<bool>, s: &E2eSetup) -> EngineOptions {
    EngineOptions {
        backend,
        threads: s.threads,
        gpu_mem_limit: s.gpu_mem_limit_mb << 20,
        cuda_graph: graph,
        ..Default::default()
    }
}

/// Batch sizes to run: the model's own when its batch dimension is fixed.
fn batches_for(engine: &OrtEngine, wanted: &[usize]) -> Vec<usize> {
    match engine.inputs().first().and_then(|i| i.shape.first()) {
        Some(&b) if b > 0 => vec![b as usize],
        _ => wanted.to_vec(),
    }
}

#[allow(clippy::too_many_arguments)]
fn time_one(
    rt: &'static OrtRuntime,
    model: &Path,
    name: &str,
    backend: Backend,
    opts: &EngineOptions,
    setup: &E2eSetup,
    frame: &TestFrame,
    rows: &mut Vec<Row>,
) {
    let fail = |rows: &mut Vec<Row>, batch: usize, e: String| {
        rows.push(Row {
            name: name.into(),
            batch,
            infer_ms: None,
            e2e_ms: Err(e),
            decode_ms: None,
            people: 0,
            preprocessing: String::new(),
        })
    };
    let engine = match OrtEngine::load_on(rt, model, opts, backend) {
        Ok(e) => e,
        Err(e) => return fail(rows, 0, e.to_string()),
    };
    let graph = engine.uses_cuda_graph();
    let batches = batches_for(&engine, &setup.batches);
    let mut engine = Some(engine);
    for batch in batches {
        let engine = match engine.take() {
            Some(e) => e,
            None => match OrtEngine::load_on(rt, model, opts, backend) {
                Ok(e) => e,
                Err(e) => return fail(rows, batch, e.to_string()),
            },
        };
        let mut est = match PoseEstimator::new(Box::new(engine), &EstimatorConfig::default()) {
            Ok(e) => e,
            Err(e) => return fail(rows, batch, e.to_string()),
        };
        if backend != Backend::Cpu {
            let cpu = options(BackendRequest::Cpu, None, setup);
            est.set_fallback(gsttrtpose::engine::select::cpu_fallback(rt, model, &cpu));
        }
        let plain = frame.source();
        let mut pinned = None;
        let source = if setup.pinned_frame && backend != Backend::Cpu {
            match pinned_copy(&plain, &mut pinned) {
                Ok(s) => s,
                Err(e) => return fail(rows, batch, e),
            }
        } else {
            frame.source()
        };
        let frames: Vec<_> = (0..batch).map(|_| &source).collect();
        let mut people = vec![Vec::<Person>::new(); batch];
        let mut run = |est: &mut PoseEstimator, n: usize| run_batches(est, &frames, &mut people, n);
        let warm = if backend == Backend::Cpu { 2 } else { 10 };
        let result = run(&mut est, warm).and_then(|_| {
            let iters = if backend == Backend::Cpu {
                setup.iterations.min(20).min(160 / batch.max(1)).max(2)
            } else {
                setup.iterations
            };
            run(&mut est, iters)
        });
        if let Some(f) = est.take_failover() {
            println!(
                "failover: {} failed, switched to {} and reran the batch: {}",
                f.from, f.to, f.reason
            );
        }
        for &n in setup.instances.iter().filter(|&&n| n > 1) {
            if backend == Backend::Cpu || result.is_err() {
                break;
            }
            let iters = setup.iterations;
            let side = more_estimators(rt, model, opts, backend, n - 1).and_then(|mut more| {
                let mut all: Vec<&mut PoseEstimator> = vec![&mut est];
                all.extend(more.iter_mut());
                side_by_side(&mut all, &frames, iters)
            });
            rows.push(Row {
                name: format!("{name}{} x{n}", if graph { " +graph" } else { "" }),
                batch,
                infer_ms: None,
                e2e_ms: side,
                decode_ms: None,
                people: people.first().map_or(0, |p| p.len()),
                preprocessing: format!("{n} side by side"),
            });
        }
        // Decoding alone (host side), image 0 of the last run.
        let decode_ms = result.is_ok().then(|| {
            let g = est.geometry_for(frame.width as u32, frame.height as u32);
            let mut p = Vec::new();
            let n = setup.iterations.max(1);
            let t = Instant::now();
            for _ in 0..n {
                let _ = est.decode_outputs(&g, &mut p);
            }
            t.elapsed().as_secs_f64() * 1e3 / n as f64
        });
        let infer_ms = est
            .engine_mut()
            .time_device_runs(setup.iterations)
            .ok()
            .flatten();
        rows.push(Row {
            name: format!("{name}{}", if graph { " +graph" } else { "" }),
            batch,
            infer_ms,
            e2e_ms: result,
            decode_ms,
            people: people.first().map_or(0, |p| p.len()),
            preprocessing: format!("{} on {}", est.preprocessing(), est.backend()),
        });
    }
}

/// Runs `frames` through `est` as one batch `n` times; milliseconds per batch.
fn run_batches(
    est: &mut PoseEstimator,
    frames: &[&SourceFrame],
    people: &mut [Vec<Person>],
    n: usize,
) -> Result<f64, String> {
    let t = Instant::now();
    for _ in 0..n {
        est.process_batch(frames, people)
            .map_err(|e| e.to_string())?;
    }
    Ok(t.elapsed().as_secs_f64() * 1e3 / n.max(1) as f64)
}

/// `frame` copied into page-locked memory kept in `store`.
fn pinned_copy<'a>(
    frame: &SourceFrame,
    store: &'a mut Option<Pinned<u8>>,
) -> Result<SourceFrame<'a>, String> {
    let ctx = cuda::open_device(0).map_err(|e| e.to_string())?;
    let pinned =
        store.insert(Pinned::alloc(&ctx, frame.held_bytes(), false).map_err(|e| e.to_string())?);
    let host = pinned.host().map_err(|e| e.to_string())?;
    Ok(copy_frames_into(std::slice::from_ref(frame), host).remove(0))
}

/// `n` more estimators on `backend`, each warmed up.
fn more_estimators(
    rt: &'static OrtRuntime,
    model: &Path,
    opts: &EngineOptions,
    backend: Backend,
    n: usize,
) -> Result<Vec<PoseEstimator>, String> {
    (0..n)
        .map(|_| {
            let engine = OrtEngine::load_on(rt, model, opts, backend).map_err(|e| e.to_string())?;
            PoseEstimator::new(Box::new(engine), &EstimatorConfig::default())
                .map_err(|e| e.to_string())
        })
        .collect()
}

/// Milliseconds per batch with the estimators running batches side by side, one thread each
/// (what `shared-instances` does in the element): one's copies and decoding overlap
/// another's network.
fn side_by_side(
    ests: &mut [&mut PoseEstimator],
    frames: &[&SourceFrame],
    iters: usize,
) -> Result<f64, String> {
    let work = |est: &mut PoseEstimator, n: usize| {
        let mut people = vec![Vec::<Person>::new(); frames.len()];
        run_batches(est, frames, &mut people, n).map(|_| ())
    };
    for est in ests.iter_mut() {
        work(est, 3)?;
    }
    let t = Instant::now();
    std::thread::scope(|s| {
        let handles: Vec<_> = ests
            .iter_mut()
            .map(|est| s.spawn(|| work(est, iters)))
            .collect();
        handles.into_iter().try_for_each(|h| {
            h.join()
                .unwrap_or_else(|_| Err("a bench thread panicked".into()))
        })
    })?;
    Ok(t.elapsed().as_secs_f64() * 1e3 / (iters * ests.len()).max(1) as f64)
}

/// Times frame-in to people-out on the CPU and on CUDA (with and without CUDA graphs).
pub fn bench(rt: &'static OrtRuntime, model: &Path, setup: &E2eSetup) -> Result<(), String> {
    let frame = test_frame(setup.frame.as_deref(), setup.size, setup.format)?;
    println!(
        "\nframe-in to people-out: {}x{} {:?} frame{}{}, ms per batch",
        frame.width,
        frame.height,
        frame.format,
        if setup.pinned_frame {
            " in page-locked memory (GPU rows)"
        } else {
            ""
        },
        setup
            .frame
            .as_ref()
            .map(|p| format!(" from {}", p.display()))
            .unwrap_or_else(|| " (synthetic)".into())
    );
    let mut rows = Vec::new();
    let cpu = options(BackendRequest::Cpu, None, setup);
    time_one(
        rt,
        model,
        "CPU",
        Backend::Cpu,
        &cpu,
        setup,
        &frame,
        &mut rows,
    );
    for (name, graph) in [("CUDA", None), ("CUDA", Some(false))] {
        let o = options(BackendRequest::Cuda, graph, setup);
        time_one(rt, model, name, Backend::Cuda, &o, setup, &frame, &mut rows);
    }
    let half = gsttrtpose::half::half_path(model);
    if half.is_file() {
        let o = options(BackendRequest::Cuda, None, setup);
        time_one(
            rt,
            &half,
            "CUDA fp16",
            Backend::Cuda,
            &o,
            setup,
            &frame,
            &mut rows,
        );
    }
    // The best CUDA row again with pageable host copies: what pinned staging buys, this run.
    let (best, label) = if half.is_file() {
        (half.as_path(), "CUDA fp16 pageable")
    } else {
        (model, "CUDA pageable")
    };
    let pageable = EngineOptions {
        pinned_host: false,
        ..options(BackendRequest::Cuda, None, setup)
    };
    let single = E2eSetup {
        instances: Vec::new(),
        frame: setup.frame.clone(),
        batches: setup.batches.clone(),
        ..*setup
    };
    time_one(
        rt,
        best,
        label,
        Backend::Cuda,
        &pageable,
        &single,
        &frame,
        &mut rows,
    );
    if setup.nchw {
        let o = EngineOptions {
            cuda_prefer_nhwc: false,
            ..options(BackendRequest::Cuda, None, setup)
        };
        for (path, name) in [(model, "CUDA nchw"), (half.as_path(), "CUDA fp16 nchw")] {
            if path.is_file() {
                time_one(rt, path, name, Backend::Cuda, &o, setup, &frame, &mut rows);
            }
        }
    }
    println!(
        "{:<14} {:>5} {:>10} {:>10} {:>10} {:>10} {:>7}  prepared",
        "backend", "batch", "infer ms", "e2e ms", "images/s", "decode ms", "people"
    );
    for r in &rows {
        match &r.e2e_ms {
            Ok(ms) => println!(
                "{:<14} {:>5} {:>10} {:>10.3} {:>10.0} {:>10.3} {:>7}  {}",
                r.name,
                r.batch,
                r.infer_ms.map_or("-".into(), |v| format!("{v:.3}")),
                ms,
                r.batch as f64 * 1e3 / ms,
                r.decode_ms.unwrap_or(0.0),
                r.people,
                r.preprocessing
            ),
            Err(e) => println!(
                "{:<14} {:>5} {:>10} {:>10} {:>10} {:>10} {:>7}  unavailable: {}",
                r.name,
                r.batch,
                "-",
                "-",
                "-",
                "-",
                "-",
                crate::common::first_line(e)
            ),
        }
    }
    println!(
        "infer ms: network alone, inputs and outputs on the GPU; e2e ms: upload, pre-processing, network, download and decoding of the batch; decode ms: decoding one image on the host"
    );
    Ok(())
}

/// Per format: the largest difference between the GPU- and CPU-prepared network inputs, and
/// between the people found by the two paths.
/// What `compare` runs on.
pub struct CompareSetup {
    pub gpu_model: PathBuf,
    pub photos: Vec<PathBuf>,
    pub formats: Vec<PixelFormat>,
    pub size: (usize, usize),
    pub tolerance_px: f32,
    pub min_keypoint_score: f32,
}

pub fn compare(rt: &'static OrtRuntime, model: &Path, c: &CompareSetup) -> Result<bool, String> {
    let (gpu_model, photos, formats) = (c.gpu_model.as_path(), &c.photos, &c.formats);
    let (size, tolerance_px, min_keypoint_score) = (c.size, c.tolerance_px, c.min_keypoint_score);
    let cpu_opts = EngineOptions {
        backend: BackendRequest::Cpu,
        ..Default::default()
    };
    let gpu_opts = EngineOptions {
        backend: BackendRequest::Cuda,
        cuda_graph: Some(false),
        ..Default::default()
    };
    let mut gpu_engine =
        OrtEngine::load_on(rt, gpu_model, &gpu_opts, Backend::Cuda).map_err(|e| e.to_string())?;
    if gpu_engine.preprocessing() != "gpu" {
        return Err(format!(
            "frames are not prepared on the GPU: {}",
            gpu_engine.preprocessing()
        ));
    }
    let cpu_engine =
        OrtEngine::load_on(rt, model, &cpu_opts, Backend::Cpu).map_err(|e| e.to_string())?;
    let mut cpu = PoseEstimator::new(Box::new(cpu_engine), &EstimatorConfig::default())
        .map_err(|e| e.to_string())?;
    let plan = cpu.plan().clone();
    let mut gpu_decoder =
        PoseDecoder::new(plan.clone(), Default::default()).map_err(|e| e.to_string())?;
    let mut pre = Preprocessor::new();
    let mut all_ok = true;
    let sources: Vec<Option<&PathBuf>> = if photos.is_empty() {
        vec![None]
    } else {
        photos.iter().map(Some).collect()
    };
    println!(
        "{:<22} {:<5} {:>12} {:>13} {:>9} {:>12} {:>10} {:>5}",
        "frame", "fmt", "input diff", "output diff", "people", "max kp px", "score diff", "weak"
    );
    for photo in sources {
        for &format in formats.iter() {
            let frame = test_frame(photo.map(|p| p.as_path()), size, format)?;
            let source = frame.source();
            let geometry = cpu.geometry_for(frame.width as u32, frame.height as u32);
            // Inputs: CPU pre-processing vs the kernel's.
            let (input, _) = pre.run(&source, &geometry, &plan.input);
            let host: Vec<f32> = match input {
                InputData::F32(d) => d.to_vec(),
                InputData::I32(d) => d.iter().map(|&v| v as f32).collect(),
            };
            let mut gpu_out = Vec::new();
            let job = [FrameJob {
                frame: &source,
                geometry,
            }];
            gpu_engine
                .run_frames(&job, &plan.input, &mut gpu_out)
                .map_err(|e| e.to_string())?;
            let device = gpu_engine
                .device_input()
                .map_err(|e| e.to_string())?
                .ok_or("no device input")?;
            let input_diff = host
                .iter()
                .zip(&device)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            // Outputs and people: the CPU estimator vs the same decoder on the GPU outputs.
            let mut cpu_people = Vec::new();
            cpu.process(&source, &mut cpu_people)
                .map_err(|e| e.to_string())?;
            let mut gpu_people = Vec::new();
            gpu_decoder
                .decode_for_frame(&gpu_out, 0, &geometry, &mut gpu_people)
                .map_err(|e| e.to_string())?;
            let output_diff = cpu
                .last_outputs()
                .iter()
                .zip(&gpu_out)
                .flat_map(|(a, b)| a.data.iter().zip(&b.data).map(|(x, y)| (x - y).abs()))
                .fold(0f32, f32::max);
            let same_count = cpu_people.len() == gpu_people.len();
            let (mut kp, mut score) = (0f32, 0f32);
            let mut weak = 0usize;
            let mut keypoints_match = same_count;
            for (a, b) in cpu_people.iter().zip(gpu_people.iter_mut()) {
                score = score.max((a.score - b.score).abs());
                for (x, y) in a.keypoints.iter().zip(&b.keypoints) {
                    match (x, y) {
                        // Keypoints too uncertain to draw may jump between two weak maxima
                        // on float noise; they are counted, not compared.
                        (Some(x), Some(y))
                            if x.score < min_keypoint_score && y.score < min_keypoint_score =>
                        {
                            weak += 1
                        }
                        (Some(x), Some(y)) => kp = kp.max((x.x - y.x).abs().max((x.y - y.y).abs())),
                        (None, None) => {}
                        _ => keypoints_match = false,
                    }
                }
            }
            let ok = keypoints_match && kp <= tolerance_px;
            all_ok &= ok;
            let label = photo
                .and_then(|p| p.file_name())
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_else(|| "synthetic".into());
            println!(
                "{:<22} {:<5} {:>12.3e} {:>13.3e} {:>4} / {:<3} {:>12.4} {:>10.2e} {:>5}{}",
                label,
                format!("{format:?}").to_lowercase(),
                input_diff,
                output_diff,
                cpu_people.len(),
                gpu_people.len(),
                kp,
                score,
                weak,
                if ok { "" } else { "  MISMATCH" }
            );
        }
    }
    println!(
        "GPU path {} the CPU path (tolerance {tolerance_px} px; 'weak' keypoints, score below {min_keypoint_score} in both, are not compared)",
        if all_ok { "matches" } else { "does NOT match" }
    );
    Ok(all_ok)
}
