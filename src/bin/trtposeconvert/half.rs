// SPDX-License-Identifier: MPL-2.0
//! `half`: writes an fp16 copy of a model for the GPU backends, checked by loading it.

use std::path::PathBuf;

use clap::Args;
use gsttrtpose::engine::{Backend, OrtEngine, check_model_file};

use crate::Ctx;
use crate::common::cpu_options;

#[derive(Args)]
pub struct HalfArgs {
    model: PathBuf,
    /// Output path (default: MODEL with .fp16.onnx, where trtposeinfer looks for it).
    #[arg(short, long)]
    output: Option<PathBuf>,
}

/// `half`: the copy goes through a .partial file, so one that does not load is never left.
pub fn run(ctx: &Ctx, a: &HalfArgs) -> Result<(), String> {
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
