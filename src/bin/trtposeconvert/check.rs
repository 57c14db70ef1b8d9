// SPDX-License-Identifier: MPL-2.0
//! `check`: for each model, is the ONNX there, is an artifact there, and does it match this
//! machine. `auto` uses the same verdicts to decide what to convert.

use std::path::{Path, PathBuf};

use clap::Args;
use gsttrtpose::convert::{self, ArtifactKind, Config, mismatches, sha256_file};

use crate::Ctx;
use crate::common::models_or_config;

#[derive(Args)]
pub struct ModelsArgs {
    /// Models (default: the config file's list).
    models: Vec<PathBuf>,
    /// Folder holding the artifacts (default: next to each model).
    #[arg(long)]
    output_dir: Option<PathBuf>,
}

/// What `check` says about one model; `auto` converts any model that is not `Ok`.
pub enum Verdict {
    Ok(PathBuf),
    Missing(String),
    Stale(PathBuf, Vec<String>),
}

/// The model's best artifact and whether it matches this machine and the ONNX's current hash.
pub fn check_one(ctx: &Ctx, model: &Path, out_dir: Option<&Path>) -> Verdict {
    if !model.is_file() {
        return Verdict::Missing(format!(
            "ONNX {} not found: obtain it first (models/manifest.json says how)",
            model.display()
        ));
    }
    // A checkpoint's artifacts are those of its ONNX import; `convert` makes both.
    let imported;
    let model = if gsttrtpose::pth::is_checkpoint(model) {
        match gsttrtpose::pth::current_import(model) {
            Ok(Some(p)) => {
                imported = p;
                imported.as_path()
            }
            Ok(None) => {
                return Verdict::Missing(format!(
                    "{} has no current ONNX import: run `trtposeconvert convert {}`",
                    model.display(),
                    model.display()
                ));
            }
            Err(e) => return Verdict::Missing(format!("{}: {e}", model.display())),
        }
    } else {
        model
    };
    // Beside the model (for a checkpoint, its import), as `convert` writes them.
    let dir = out_dir.map(Path::to_path_buf).unwrap_or_else(|| {
        model
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf()
    });
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

/// `check`: false (exit status 1) when any model is missing or stale.
pub fn run(ctx: &Ctx, a: &ModelsArgs, c: &Config) -> Result<bool, String> {
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
