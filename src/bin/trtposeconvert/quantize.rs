// SPDX-License-Identifier: MPL-2.0
//! `quantize`: an int8 copy of a model for the CPU, calibrated on frames prepared as
//! trtposeinfer prepares them; checked by loading it, then timed against the float model.

use std::path::{Path, PathBuf};

use clap::Args;
use gsttrtpose::calibrate::Calibrator;
use gsttrtpose::engine::{Backend, OrtEngine, OrtRuntime, check_model_file};
use gsttrtpose::model::ModelPlan;
use gsttrtpose::quantize::{QuantizeOptions, int8_path, quantize};

use crate::Ctx;
use crate::bench::time_model;
use crate::common::{cpu_options, inspect};
use crate::frames;

#[derive(Args)]
pub struct QuantizeArgs {
    model: PathBuf,
    /// Folder of calibration frames (.jpg, .png, .ppm) from the scenes the model will see.
    #[arg(long, value_name = "FOLDER")]
    calibrate: PathBuf,
    /// Output path (default: MODEL.int8.onnx, where trtposeinfer precision=int8 looks).
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Network input size for models with dynamic input, as the element's input-size.
    #[arg(long, default_value_t = 256)]
    input_size: u32,
    /// Convolutions this many layers from an output stay float (the heads).
    #[arg(long, default_value_t = QuantizeOptions::default().float_tail)]
    float_tail: usize,
    /// Activation ranges: this percentile of each tensor's values per frame (mean over frames).
    #[arg(long, default_value_t = 99.99)]
    percentile: f64,
    /// Most calibration frames used.
    #[arg(long, default_value_t = 100)]
    frames: usize,
}

/// Runs the float model over the frames and returns its activation ranges.
fn calibrate(
    rt: &OrtRuntime,
    model: &Path,
    plan: &ModelPlan,
    a: &QuantizeArgs,
) -> Result<gsttrtpose::quantize::Ranges, String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(&a.calibrate)
        .map_err(|e| format!("--calibrate {}: {e}", a.calibrate.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    let mut calibrator = Calibrator::new(rt, model)
        .map_err(|e| e.to_string())?
        .with_percentiles(a.percentile);
    let mut pre = gsttrtpose::preprocess::Preprocessor::new();
    let mut used = 0;
    for f in &files {
        if used == a.frames {
            break;
        }
        let Ok((w, h, rgb)) = frames::read_image(f) else {
            continue;
        };
        let frame = gsttrtpose::frame::SourceFrame::new(
            gsttrtpose::frame::PixelFormat::Rgb,
            w,
            h,
            vec![(&rgb[..], w * 3)],
        )
        .map_err(|e| e.to_string())?;
        let geometry = plan.geometry_for(w as u32, h as u32, a.input_size, None);
        let (input, shape) = pre.run(&frame, &geometry, &plan.input);
        let shape = shape.to_vec();
        calibrator.add(input, &shape).map_err(|e| e.to_string())?;
        used += 1;
    }
    if used == 0 {
        return Err(format!(
            "--calibrate {}: no readable frames (.jpg, .png, .ppm) there",
            a.calibrate.display()
        ));
    }
    println!("calibrated on {used} frames");
    Ok(calibrator.ranges())
}

pub fn run(ctx: &Ctx, a: &QuantizeArgs) -> Result<(), String> {
    check_model_file(&a.model).map_err(|e| e.to_string())?;
    let rt = ctx.runtime()?;
    let (_, plan) = inspect(rt, &a.model)?;
    let out = a.output.clone().unwrap_or_else(|| int8_path(&a.model));
    let ranges = calibrate(rt, &a.model, &plan, a)?;
    let data = std::fs::read(&a.model).map_err(|e| format!("{}: {e}", a.model.display()))?;
    let options = QuantizeOptions {
        float_tail: a.float_tail,
    };
    let (bytes, report) =
        quantize(&data, &ranges, &options).map_err(|e| format!("{}: {e}", a.model.display()))?;
    let tmp = out.with_extension("onnx.partial");
    std::fs::write(&tmp, &bytes).map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    let mut quantized = match OrtEngine::load_on(rt, &tmp, &cpu_options(1), Backend::Cpu) {
        Ok(e) => e,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(format!(
                "{}: the int8 copy does not load, so none was written: {e}",
                a.model.display()
            ));
        }
    };
    std::fs::rename(&tmp, &out).map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    println!(
        "wrote {} ({:.1} MB, from {:.1} MB): {} convolutions int8, {} kept float, {} activations quantized",
        out.display(),
        bytes.len() as f64 / 1e6,
        data.len() as f64 / 1e6,
        report.convs_quantized,
        report.convs_float,
        report.activations
    );
    // Same input, one thread each: the speed-up of the copy on this CPU.
    let mut float = OrtEngine::load_on(rt, &a.model, &cpu_options(1), Backend::Cpu)
        .map_err(|e| e.to_string())?;
    let f = time_model(&mut float, &plan, 20)?;
    let q = time_model(&mut quantized, &plan, 20)?;
    println!(
        "1 thread: float {f:.2} ms, int8 {q:.2} ms per inference ({:.2}x)",
        f / q
    );
    Ok(())
}
