// SPDX-License-Identifier: MPL-2.0
//! `validate`: runs a converted artifact and its source ONNX on the same sample inputs and
//! compares raw outputs and decoded people.

use std::path::{Path, PathBuf};

use clap::Args;
use gsttrtpose::convert::{ArtifactKind, Sidecar, find_tensorrt};
use gsttrtpose::engine::{
    Backend, BackendRequest, Engine, EngineOptions, InputData, OrtEngine, OrtRuntime,
};
use gsttrtpose::model::{DecodeSettings, PoseDecoder};
use gsttrtpose::pose::Person;
use gsttrtpose::preprocess::InputElem;

use crate::Ctx;
use crate::common::{cpu_options, input_shape, inspect, sample_input};

#[derive(Args)]
pub struct ValidateArgs {
    /// The converted artifact (.engine or CPU .onnx), or any ONNX to compare with --reference.
    artifact: PathBuf,
    /// The original ONNX (default: the sidecar's source).
    #[arg(long)]
    reference: Option<PathBuf>,
    /// Number of sample inputs.
    #[arg(long, default_value_t = 4)]
    samples: usize,
}

/// `validate`: false (exit status 1) when the people differ or an output is off by 1e-2.
pub fn run(ctx: &Ctx, a: &ValidateArgs) -> Result<bool, String> {
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
    compare_outputs(
        rt,
        &a.artifact,
        &reference,
        sidecar.map(|s| s.kind),
        a.samples,
    )
}

/// Loads an artifact as it runs: a TensorRT engine through the provider's cache next to it
/// (ONNX Runtime finds it from the source ONNX), else the CPU model itself.
pub fn load_artifact(
    rt: &'static OrtRuntime,
    artifact: &Path,
    reference: &Path,
    kind: Option<ArtifactKind>,
) -> Result<OrtEngine, String> {
    match kind {
        Some(ArtifactKind::TensorRt) => {
            let opts = EngineOptions {
                backend: BackendRequest::TensorRt,
                engine_cache: artifact.parent().map(|p| p.join(".trt-cache")),
                ..Default::default()
            };
            OrtEngine::load_on(rt, reference, &opts, Backend::TensorRt).map_err(|e| e.to_string())
        }
        _ => OrtEngine::load_on(rt, artifact, &cpu_options(0), Backend::Cpu)
            .map_err(|e| e.to_string()),
    }
}

/// Same people, keypoint for keypoint, within 2e-3 of the frame.
fn same_people(p1: &[Person], p2: &[Person]) -> bool {
    p1.len() == p2.len()
        && p1.iter().zip(p2).all(|(a, b)| {
            a.keypoints
                .iter()
                .zip(&b.keypoints)
                .all(|(x, y)| match (x, y) {
                    (Some(x), Some(y)) => (x.x - y.x).abs() < 2e-3 && (x.y - y.y).abs() < 2e-3,
                    (None, None) => true,
                    _ => false,
                })
        })
}

/// Runs both on the same sample inputs and prints the differences; true when the people
/// match and no output is off by 1e-2 (`validate` and `convert` share it).
pub fn compare_outputs(
    rt: &'static OrtRuntime,
    artifact: &Path,
    reference: &Path,
    kind: Option<ArtifactKind>,
    samples: usize,
) -> Result<bool, String> {
    let (mut ref_engine, plan) = inspect(rt, reference)?;
    let mut art_engine = load_artifact(rt, artifact, reference, kind)?;
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
    let mut d1 =
        PoseDecoder::new(plan.clone(), DecodeSettings::default()).map_err(|e| e.to_string())?;
    let mut d2 =
        PoseDecoder::new(plan.clone(), DecodeSettings::default()).map_err(|e| e.to_string())?;
    for seed in 0..samples {
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
        d1.decode(&ro, w, h, &mut p1).map_err(|e| e.to_string())?;
        d2.decode(&ao, w, h, &mut p2).map_err(|e| e.to_string())?;
        let same = same_people(&p1, &p2);
        people_match &= same;
    }
    println!(
        "validated {} against {} on {} sample inputs",
        artifact.display(),
        reference.display(),
        samples
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
