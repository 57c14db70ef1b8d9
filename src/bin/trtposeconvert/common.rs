// SPDX-License-Identifier: MPL-2.0
//! Helpers more than one subcommand uses: loading a model on the CPU, sample inputs, the
//! ONNX Runtime-optimized CPU model, and small formatting bits.

use std::path::{Path, PathBuf};

use gsttrtpose::convert::Config;
use gsttrtpose::engine::{
    Backend, BackendRequest, Engine, EngineOptions, OrtEngine, OrtRuntime, check_model_file,
};
use gsttrtpose::model::ModelPlan;

/// Engine options for a CPU session (inspection, validation, benchmarks).
pub fn cpu_options(threads: usize) -> EngineOptions {
    EngineOptions {
        backend: BackendRequest::Cpu,
        threads,
        ..Default::default()
    }
}

/// Loads on the CPU and recognises the family; fails with a clear message for non-pose files.
pub fn inspect(rt: &OrtRuntime, model: &Path) -> Result<(OrtEngine, ModelPlan), String> {
    check_model_file(model).map_err(|e| e.to_string())?;
    let engine =
        OrtEngine::load_on(rt, model, &cpu_options(0), Backend::Cpu).map_err(|e| e.to_string())?;
    let plan = ModelPlan::new(engine.inputs(), engine.outputs(), Default::default(), None)
        .map_err(|e| format!("{}: not a supported pose model: {e}", model.display()))?;
    Ok((engine, plan))
}

/// Seconds since the epoch, for sidecars and temporary folder names.
pub fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// ONNX Runtime writes the graph after its optimizations (fusions, constant folding).
pub fn write_cpu_optimized(rt: &OrtRuntime, model: &Path, out: &Path) -> Result<(), String> {
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

/// The models named on the command line, else the configuration file's list.
pub fn models_or_config(models: &[PathBuf], c: &Config) -> Result<Vec<PathBuf>, String> {
    if !models.is_empty() {
        return Ok(models.to_vec());
    }
    if c.models.is_empty() {
        return Err("no models given and none in the configuration file".into());
    }
    Ok(c.models.clone())
}

/// Deterministic sample images: smooth gradients plus a few bright blobs.
pub fn sample_input(plan: &ModelPlan, shape: &[usize], seed: usize) -> (Vec<f32>, Vec<i32>) {
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

/// The model's input shape at batch 1; dynamic sides take its fixed size, else 256.
pub fn input_shape(engine: &OrtEngine, plan: &ModelPlan) -> Vec<usize> {
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

/// The first line of an error, at most 100 bytes: enough for a table cell or a status line.
pub fn first_line(s: &str) -> &str {
    let l = s.lines().next().unwrap_or("");
    if l.len() > 100 { &l[..100] } else { l }
}
