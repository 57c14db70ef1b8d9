// SPDX-License-Identifier: MPL-2.0
//! Which backend runs a model, decided in one place for the element and the tools: the
//! request's chain (TensorRT → CUDA → CPU), less the backends that cannot work here (no
//! TensorRT library, a cached engine built for another GPU, TensorRT or model), the model file
//! each backend runs (the fp16 copy on CUDA), and the CPU engine a GPU hands over to when it
//! fails mid-stream.

use std::path::{Path, PathBuf};

use super::{Backend, Engine, EngineError, EngineOptions, OrtEngine, OrtRuntime, Precision};
use crate::convert::{ArtifactKind, Target, artifacts_of, find_tensorrt, mismatches, sha256_file};

/// A loaded engine and what the choice passed over.
#[derive(Debug)]
pub struct Selection {
    pub engine: OrtEngine,
    /// Backends passed over, best first, with the reason each could not be used.
    pub skipped: Vec<(Backend, String)>,
    /// Things the user should hear about that did not stop the load (a missing fp16 copy).
    pub notes: Vec<String>,
}

/// Why TensorRT must not be tried for `model`, if it must not: no library, or a cached engine
/// in `cache` built for another GPU, TensorRT version or source model.
pub fn tensorrt_blocker(model: &Path, cache: Option<&Path>) -> Option<String> {
    if find_tensorrt().is_none() {
        return Some("TensorRT library not found (libnvinfer.so.11/.10/.8)".into());
    }
    // Hash the model and probe the GPU only when there is a cached engine to judge.
    let engines: Vec<_> = artifacts_of(model, cache?)
        .into_iter()
        .filter(|(_, s)| s.kind == ArtifactKind::TensorRt)
        .collect();
    if engines.is_empty() {
        return None;
    }
    let sha = sha256_file(model).ok()?;
    let target = Target::detect(Path::new("/proc"));
    engines.iter().find_map(|(p, sidecar)| {
        let why = mismatches(sidecar, &target, &sha);
        (!why.is_empty()).then(|| {
            format!(
                "cached engine {} does not fit: {}",
                p.display(),
                why.join("; ")
            )
        })
    })
}

/// The model file CUDA runs: with `fp16`, the `MODEL.fp16.onnx` copy when it exists (a note
/// says so when it does not, and CUDA runs the float32 model).
fn cuda_model(model: &Path, fp16: bool, notes: &mut Vec<String>) -> PathBuf {
    if !fp16 {
        return model.to_path_buf();
    }
    let half = crate::half::half_path(model);
    if half.is_file() {
        return half;
    }
    notes.push(format!(
        "precision=fp16 but there is no fp16 copy at {}; CUDA runs the float32 model. Make one with: trtposeconvert half {}",
        half.display(),
        model.display()
    ));
    model.to_path_buf()
}

/// The model file the CPU runs: with `int8`, the `MODEL.int8.onnx` copy when it exists (a
/// note says so when it does not, and the CPU runs the float32 model).
fn cpu_model(model: &Path, int8: bool, notes: &mut Vec<String>) -> PathBuf {
    if !int8 {
        return model.to_path_buf();
    }
    let quantized = crate::quantize::int8_path(model);
    if quantized.is_file() {
        return quantized;
    }
    notes.push(format!(
        "precision=int8 but there is no int8 copy at {}; the CPU runs the float32 model. Make one with: trtposeconvert quantize {} --calibrate FRAMES_FOLDER",
        quantized.display(),
        model.display()
    ));
    model.to_path_buf()
}

/// Loads `model` on the best backend `options.backend` allows here.
pub fn select(
    runtime: &OrtRuntime,
    model: &Path,
    options: &EngineOptions,
) -> Result<Selection, EngineError> {
    let mut skipped = Vec::new();
    let mut notes = Vec::new();
    let chain: Vec<Backend> = options
        .backend
        .chain()
        .iter()
        .copied()
        .filter(|&b| {
            if b != Backend::TensorRt {
                return true;
            }
            match tensorrt_blocker(model, options.engine_cache.as_deref()) {
                Some(reason) => {
                    skipped.push((b, reason));
                    false
                }
                None => true,
            }
        })
        .collect();
    let cuda = if chain.contains(&Backend::Cuda) {
        cuda_model(model, options.precision == Precision::Fp16, &mut notes)
    } else {
        model.to_path_buf()
    };
    let cpu = cpu_model(model, options.precision == Precision::Int8, &mut notes);
    let model_for = |b: Backend| match b {
        Backend::Cuda => cuda.as_path(),
        Backend::Cpu => cpu.as_path(),
        Backend::TensorRt => model,
    };
    let engine = OrtEngine::load_chain_with(runtime, model_for, options, &chain, &mut skipped)?;
    Ok(Selection {
        engine,
        skipped,
        notes,
    })
}

/// Loads the CPU engine a GPU backend hands over to when it fails mid-stream (see
/// `PoseEstimator::set_fallback`).
pub fn cpu_fallback(
    runtime: &'static OrtRuntime,
    model: &Path,
    options: &EngineOptions,
) -> super::FallbackLoader {
    let model = cpu_model(model, options.precision == Precision::Int8, &mut Vec::new());
    let options = options.clone();
    Box::new(move || {
        let engine = OrtEngine::load_on(runtime, &model, &options, Backend::Cpu)?;
        Ok(Box::new(engine) as Box<dyn Engine>)
    })
}
