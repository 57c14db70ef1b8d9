// SPDX-License-Identifier: MPL-2.0
//! `compare`: the GPU path (GPU pre-processing + CUDA) against the CPU path on the same
//! frames (the work is in e2e.rs).

use std::path::PathBuf;

use clap::Args;

use crate::Ctx;
use crate::{e2e, frames};

#[derive(Args)]
pub struct CompareArgs {
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

/// `compare`: false (exit status 1) when the two paths disagree.
pub fn run(ctx: &Ctx, a: &CompareArgs) -> Result<bool, String> {
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
