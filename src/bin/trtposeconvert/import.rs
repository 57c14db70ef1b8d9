// SPDX-License-Identifier: MPL-2.0
//! `import`: a trt_pose PyTorch checkpoint (`.pth`) to ONNX, without Python, checked by
//! loading it and recognising it as trt_pose.

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args;
use gsttrtpose::pth;

use crate::Ctx;
use crate::common::inspect;

#[derive(Args)]
pub struct ImportArgs {
    /// The checkpoint (`torch.save(model.state_dict())`, zip or legacy format).
    checkpoint: PathBuf,
    /// Output ONNX (default: the checkpoint's path with .onnx).
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Network input size WxH (default: the `WxH` in the checkpoint's name, else 224x224).
    #[arg(long, alias = "input-size", value_name = "WxH", value_parser = parse_size)]
    size: Option<(u32, u32)>,
    /// Fix the batch size (default: dynamic).
    #[arg(long)]
    batch: Option<u32>,
}

fn parse_size(s: &str) -> Result<(u32, u32), String> {
    let (w, h) = s
        .split_once(['x', 'X'])
        .ok_or_else(|| format!("{s}: expected WxH, e.g. 224x224"))?;
    let n = |v: &str| {
        v.parse::<u32>()
            .map_err(|_| format!("{s}: expected WxH, e.g. 224x224"))
    };
    Ok((n(w)?, n(h)?))
}

/// The ONNX model for `model`: a `.pth` goes through its cached import (made now if missing
/// or stale), anything else is used as it is. What `convert` and `bench` load.
pub fn onnx_for(model: &Path) -> Result<PathBuf, String> {
    let (onnx, how) = pth::resolve(model).map_err(|e| format!("{}: {e}", model.display()))?;
    match how {
        pth::Resolved::AsIs => {}
        pth::Resolved::Cached => println!(
            "{}: using its import {} (checkpoint unchanged)",
            model.display(),
            onnx.display()
        ),
        pth::Resolved::Imported(arch) => println!(
            "{}: imported the {arch} checkpoint into {}",
            model.display(),
            onnx.display()
        ),
    }
    Ok(onnx)
}

pub fn run(ctx: &Ctx, a: &ImportArgs) -> Result<(), String> {
    let out = a
        .output
        .clone()
        .unwrap_or_else(|| a.checkpoint.with_extension("onnx"));
    let started = Instant::now();
    let r = pth::import_file(&a.checkpoint, &out, a.size, a.batch)
        .map_err(|e| format!("{}: {e}", a.checkpoint.display()))?;
    let took = started.elapsed().as_secs_f64();
    let i = &r.imported;
    let dtypes: Vec<String> = i.dtypes.iter().map(|d| format!("{d:?}")).collect();
    println!(
        "read {} ({} format, {} tensors, {})",
        a.checkpoint.display(),
        i.format.name(),
        i.tensors,
        dtypes.join("/")
    );
    println!(
        "architecture: {} ({}{})",
        r.sidecar.architecture,
        i.architecture.head(),
        if i.architecture.prefix.is_empty() {
            String::new()
        } else {
            format!(", keys under '{}'", i.architecture.prefix)
        }
    );
    // Loading it is the check that the graph is sound and recognised as trt_pose.
    let rt = ctx.runtime()?;
    let (_, plan) = inspect(rt, &out)?;
    println!(
        "wrote {} ({:.1} MB, input {}x{}, batch {}) in {took:.1} s; loads as {} (topology {})",
        out.display(),
        i.onnx.len() as f64 / 1e6,
        i.shape.width,
        i.shape.height,
        i.shape.batch.map_or("dynamic".into(), |b| b.to_string()),
        plan.family,
        plan.topology.name
    );
    Ok(())
}
