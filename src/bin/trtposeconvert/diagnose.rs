// SPDX-License-Identifier: MPL-2.0
//! `status` (the machine and the runtimes found), `diagnose` (the memory situation for engine
//! builds) and the swap file `diagnose --ensure-swap` creates.

use std::path::Path;
use std::time::Duration;

use clap::Args;
use gsttrtpose::convert::{self, Config, find_gpus, find_tensorrt, jetson_model};

use crate::Ctx;
use crate::common::first_line;

#[derive(Args)]
pub struct DiagnoseArgs {
    /// Create and enable a swap file of this size (e.g. 4G; without a size, the config's
    /// swap_size). Needs --yes and root; never done otherwise.
    #[arg(long, value_name = "SIZE", num_args = 0..=1, default_missing_value = "")]
    ensure_swap: Option<String>,
    /// Consent to the system change requested by --ensure-swap.
    #[arg(long)]
    yes: bool,
}

#[derive(Args)]
pub struct StatusArgs {
    /// Repeat the report every SECONDS (a standalone monitor, e.g. while converting elsewhere);
    /// stops on Ctrl-C or after --count reports.
    #[arg(long, value_name = "SECONDS", value_parser = positive_seconds)]
    watch: Option<f64>,
    /// With --watch: stop after this many reports.
    #[arg(long, value_name = "N", requires = "watch", value_parser = clap::value_parser!(u64).range(1..))]
    count: Option<u64>,
}

fn positive_seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(s) if s > 0.0 && s.is_finite() && s <= 86_400.0 => Ok(s),
        _ => Err(format!("{text:?} is not a number of seconds in (0, 86400]")),
    }
}

/// `status`, once or every `--watch` seconds.
pub fn run_status(ctx: &Ctx, a: &StatusArgs) -> Result<(), String> {
    let Some(every) = a.watch else {
        return status_report(ctx);
    };
    let every = Duration::from_secs_f64(every);
    let mut n = 0u64;
    loop {
        let started = std::time::Instant::now();
        n += 1;
        // A header per report so that repeated reports read apart (and tests count them).
        println!("--- status {n} ---");
        status_report(ctx)?;
        if a.count.is_some_and(|c| n >= c) {
            return Ok(());
        }
        println!();
        // The period counts from the start of a report: the report itself takes ~200 ms.
        std::thread::sleep(every.saturating_sub(started.elapsed()));
    }
}

/// `status`: what this machine has, for bug reports and for choosing a backend.
fn status_report(ctx: &Ctx) -> Result<(), String> {
    let mut sampler = ctx.sampler();
    let (r, _) = sampler.sample();
    std::thread::sleep(Duration::from_millis(200));
    let (r2, _) = sampler.sample();
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string(ctx.procfs.join("cpuinfo"))
        .ok()
        .and_then(|t| {
            t.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
            })
        })
        .unwrap_or_else(|| "unknown".into());
    println!(
        "CPU:      {model}, {cpus} cores, load {}",
        r2.cpu_percent.map_or("?".into(), |c| format!("{c:.0}%"))
    );
    match r.memory {
        Some(m) => println!(
            "RAM:      {:.1} GB, {:.0}% used; swap {:.1} GB, {}",
            m.total_kb as f64 / 1048576.0,
            r.memory_percent().unwrap_or(0.0),
            m.swap_total_kb as f64 / 1048576.0,
            m.swap_used_percent()
                .map_or("none".into(), |p| format!("{p:.0}% used"))
        ),
        None => println!("RAM:      unknown"),
    }
    if r.zones.is_empty() {
        println!("Thermal:  no thermal zones");
    }
    for z in &r.zones {
        println!("Thermal:  {} {:.1} °C", z.name, z.celsius);
    }
    let gpus = find_gpus(&ctx.procfs);
    if gpus.is_empty() {
        println!("GPU:      no NVIDIA GPU found");
    }
    for g in &gpus {
        println!("GPU:      {}", g.name);
    }
    if let Some(l) = r.gpu_percent {
        println!("GPU load: {l:.0}%");
    }
    println!(
        "Jetson:   {}",
        jetson_model(&ctx.procfs).unwrap_or_else(|| "no".into())
    );
    match ctx.runtime() {
        Ok(rt) => {
            // The version is in the soname (libonnxruntime.so.1.31.1) or the build info.
            let file = rt
                .library()
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default();
            let info = ort::info();
            let version = file
                .strip_prefix("libonnxruntime.so.")
                .or_else(|| {
                    info.split(',')
                        .find_map(|p| p.trim().strip_prefix("git-branch=rel-"))
                })
                .unwrap_or("unknown")
                .to_string();
            println!("ONNX Runtime: {version} at {}", rt.library().display());
            use ort::ep::ExecutionProvider;
            let cuda = ort::ep::CUDA::is_available().unwrap_or(false);
            let trt = ort::ep::TensorRT::is_available().unwrap_or(false);
            println!(
                "ORT providers: CPU{}{}",
                if cuda { ", CUDA" } else { "" },
                if trt { ", TensorRT" } else { "" }
            );
        }
        Err(e) => println!("ONNX Runtime: not loadable: {}", first_line(&e)),
    }
    let cudart = [
        "libcudart.so.13",
        "libcudart.so.12",
        "libcudart.so.11.0",
        "libcudart.so",
    ]
    .iter()
    // SAFETY: probing the CUDA runtime library; its initialisers are benign.
    .find(|n| unsafe { libloading::Library::new(n) }.is_ok());
    println!(
        "CUDA runtime: {}",
        cudart.map_or("not found".to_string(), |n| n.to_string())
    );
    match find_tensorrt() {
        Some(t) => println!("TensorRT: {} ({})", t.version, t.library),
        None => println!("TensorRT: not found (libnvinfer.so.11/.10/.8)"),
    }
    println!(
        "Note: the TensorRT path is compiled and its fallback tested, but it is not exercised on this project's CI machines (they have no TensorRT)."
    );
    Ok(())
}

/// `diagnose`: recommendations from memory, board and GPU; swap only when asked and agreed.
pub fn run(ctx: &Ctx, a: &DiagnoseArgs, config: &Config) -> Result<(), String> {
    let (r, _) = ctx.sampler().sample();
    let jetson = jetson_model(&ctx.procfs);
    let gpu = find_gpus(&ctx.procfs).into_iter().next();
    for line in convert::diagnose(r.memory, jetson.as_deref(), gpu.as_ref()) {
        println!("{line}");
    }
    let cuda = gsttrtpose::engine::cuda::probe(0);
    println!(
        "{}",
        convert::cuda_memory_line(cuda.as_ref().map_err(|e| e.to_string()))
    );
    if let Some(size) = &a.ensure_swap {
        let size = match (size.as_str(), &config.swap_size) {
            ("", Some(from_config)) => from_config.as_str(),
            ("", None) => {
                return Err(
                    "--ensure-swap needs a size (e.g. 4G) or swap_size in the config".into(),
                );
            }
            (given, _) => given,
        };
        ensure_swap(size, a.yes)?;
    }
    Ok(())
}

/// Creates (if needed) and enables /swapfile.trtpose; refuses without consent or root.
fn ensure_swap(size: &str, yes: bool) -> Result<(), String> {
    if !yes {
        return Err(format!(
            "--ensure-swap {size} changes the system: add --yes to consent (nothing was changed)"
        ));
    }
    // SAFETY: geteuid has no preconditions.
    let uid = unsafe { libc_geteuid() };
    if uid != 0 {
        return Err("--ensure-swap needs root (nothing was changed)".into());
    }
    let path = Path::new("/swapfile.trtpose");
    if path.exists() {
        println!("{} exists already; enabling it", path.display());
    } else {
        for (cmd, args) in [
            ("fallocate", vec!["-l", size, "/swapfile.trtpose"]),
            ("chmod", vec!["600", "/swapfile.trtpose"]),
            ("mkswap", vec!["/swapfile.trtpose"]),
        ] {
            let st = std::process::Command::new(cmd)
                .args(&args)
                .status()
                .map_err(|e| format!("{cmd}: {e}"))?;
            if !st.success() {
                return Err(format!("{cmd} {} failed", args.join(" ")));
            }
        }
    }
    let st = std::process::Command::new("swapon")
        .arg(path)
        .status()
        .map_err(|e| format!("swapon: {e}"))?;
    if !st.success() {
        return Err(format!("swapon {} failed", path.display()));
    }
    println!(
        "enabled swap file {} ({size}); remove with: swapoff {0} && rm {0}",
        path.display()
    );
    println!(
        "Remember: on Jetsons swap does not extend GPU allocations; it only frees RAM held by other processes."
    );
    Ok(())
}

unsafe extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}
