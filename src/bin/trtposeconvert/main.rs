// SPDX-License-Identifier: MPL-2.0
//! trtposeconvert: turns pose ONNX models into TensorRT engines (through ONNX Runtime's
//! TensorRT provider), falls back to an ONNX Runtime-optimized CPU model where TensorRT cannot
//! build, and manages, validates, benchmarks and diagnoses the results.
//!
//! One module per subcommand, holding its arguments and its `run`; this file has the command
//! line, the configuration file and what every subcommand shares (`Ctx`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use gsttrtpose::convert::{Config, Target};
use gsttrtpose::engine::OrtRuntime;
use gsttrtpose::guard::Sampler;

mod bench;
mod check;
mod common;
mod compare;
mod config;
mod convert;
mod diagnose;
mod e2e;
mod frames;
mod half;
mod import;
mod quantize;
mod streams;
mod validate;

#[derive(Parser)]
#[command(
    name = "trtposeconvert",
    version,
    about = "Convert, check, validate and benchmark pose models"
)]
struct Cli {
    /// Configuration, TOML or JSON (models, output folder, limits; `config --init` writes
    /// one); default: ./trtposeconvert.toml or
    /// ~/.config/trtpose/trtposeconvert.toml when present. Flags override it.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Where thermal zones and GPU load are read (a host /sys mounted in containers).
    #[arg(long, global = true, default_value = "/sys")]
    sysfs_root: PathBuf,
    /// Where meminfo, stat and the device tree are read.
    #[arg(long, global = true, default_value = "/proc")]
    procfs_root: PathBuf,
    /// A log that `tegrastats --logfile` appends to: its last line fills the temperatures,
    /// memory, CPU and GPU load that sysfs/procfs do not give (Jetsons).
    #[arg(long, global = true, value_name = "FILE")]
    tegrastats_file: Option<PathBuf>,
    /// libonnxruntime.so to use (else ORT_DYLIB_PATH, else the path set at build time).
    #[arg(long, global = true)]
    ort_library: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Import a trt_pose PyTorch checkpoint (.pth) as ONNX, without Python.
    Import(import::ImportArgs),
    /// Build a TensorRT engine (or the CPU fallback) with a JSON sidecar.
    Convert(convert::ConvertArgs),
    /// For each model: is the ONNX there, is an engine there, does it match this machine.
    Check(check::ModelsArgs),
    /// Convert what `check` finds missing or stale.
    Auto(convert::AutoArgs),
    /// Run a converted artifact and its source ONNX on the CPU and compare outputs and people.
    Validate(validate::ValidateArgs),
    /// Milliseconds per inference and FPS on every backend available here.
    Bench(bench::BenchArgs),
    /// Write an fp16 copy of a model for the GPU backends (inputs and outputs stay float32);
    /// trtposeinfer precision=fp16 loads it.
    Half(half::HalfArgs),
    /// Write an int8 copy of a model for the CPU, calibrated on a folder of frames;
    /// trtposeinfer precision=int8 loads it.
    Quantize(quantize::QuantizeArgs),
    /// Run frames through the GPU path (GPU pre-processing + CUDA) and the CPU path and
    /// compare network inputs, outputs and people.
    Compare(compare::CompareArgs),
    /// CPU, memory, temperatures, GPU, and the ONNX Runtime, CUDA and TensorRT found.
    Status(diagnose::StatusArgs),
    /// Explain the memory situation for engine builds, with recommendations.
    Diagnose(diagnose::DiagnoseArgs),
    /// Print the commented default configuration, or write it with --init.
    Config(config::ConfigArgs),
}

fn join_cpus(cpus: &[usize]) -> String {
    cpus.iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

fn load_config(explicit: Option<&Path>) -> Result<Config, String> {
    let candidates: Vec<PathBuf> = match explicit {
        Some(p) => vec![p.to_path_buf()],
        None => {
            let mut v = vec![PathBuf::from("trtposeconvert.toml")];
            if let Some(home) = std::env::var_os("HOME") {
                v.push(PathBuf::from(home).join(".config/trtpose/trtposeconvert.toml"));
            }
            v
        }
    };
    for p in candidates {
        match std::fs::read_to_string(&p) {
            Ok(text) => {
                return Config::parse(&text, &p.display().to_string()).map_err(|e| e.to_string());
            }
            Err(e) if explicit.is_some() => return Err(format!("config {}: {e}", p.display())),
            Err(_) => continue,
        }
    }
    Ok(Config::default())
}

/// What every subcommand reads the machine through: the /sys and /proc roots (a host's, in
/// containers) and the ONNX Runtime library chosen on the command line.
struct Ctx {
    sysfs: PathBuf,
    procfs: PathBuf,
    tegrastats: Option<PathBuf>,
    ort_library: Option<PathBuf>,
}

impl Ctx {
    fn runtime(&self) -> Result<&'static OrtRuntime, String> {
        OrtRuntime::get(self.ort_library.as_deref()).map_err(|e| e.to_string())
    }

    fn sampler(&self) -> Sampler {
        let s = Sampler::new(&self.sysfs, &self.procfs, "");
        match &self.tegrastats {
            Some(log) => s.with_tegrastats(log),
            None => s,
        }
    }

    fn target(&self) -> Target {
        Target::detect(&self.procfs)
    }
}

unsafe extern "C" {
    #[link_name = "signal"]
    fn libc_signal(signum: i32, handler: usize) -> usize;
}

/// A write past the file-size limit (a quota, `ulimit -f`) then fails with EFBIG and gets
/// reported, instead of SIGXFSZ killing the process.
fn ignore_file_size_signal() {
    const SIGXFSZ: i32 = 25;
    const SIG_IGN: usize = 1;
    // SAFETY: installing SIG_IGN for one signal at start-up, before any thread exists.
    unsafe {
        libc_signal(SIGXFSZ, SIG_IGN);
    }
}

fn main() -> ExitCode {
    ignore_file_size_signal();
    let cli = Cli::parse();
    let ctx = Ctx {
        sysfs: cli.sysfs_root.clone(),
        procfs: cli.procfs_root.clone(),
        tegrastats: cli.tegrastats_file.clone(),
        ort_library: cli.ort_library.clone(),
    };
    if let Command::Config(a) = &cli.command {
        // Reads no configuration: it writes one, perhaps to replace a broken one.
        return exit_code(config::run(a).map(|_| true));
    }
    let config = match load_config(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    // The config's `cpus` keeps the whole run (and the threads it starts) on those cores.
    if let Some(list) = &config.cpus {
        match gsttrtpose::cpuset::pin_to(list) {
            Ok(cpus) => println!("running on CPU(s) {}", join_cpus(&cpus)),
            Err(e) => {
                eprintln!("error: config cpus {list}: {e}");
                return ExitCode::from(2);
            }
        }
    }
    let result = match &cli.command {
        Command::Import(a) => import::run(&ctx, a).map(|_| true),
        Command::Convert(a) => convert::run(&ctx, a, &config).map(|_| true),
        Command::Check(a) => check::run(&ctx, a, &config),
        Command::Auto(a) => convert::run_auto(&ctx, a, &config).map(|_| true),
        Command::Validate(a) => validate::run(&ctx, a),
        Command::Bench(a) => bench::run(&ctx, a).map(|_| true),
        Command::Compare(a) => compare::run(&ctx, a),
        Command::Half(a) => half::run(&ctx, a).map(|_| true),
        Command::Quantize(a) => quantize::run(&ctx, a).map(|_| true),
        Command::Status(a) => diagnose::run_status(&ctx, a).map(|_| true),
        Command::Diagnose(a) => diagnose::run(&ctx, a, &config).map(|_| true),
        Command::Config(a) => config::run(a).map(|_| true),
    };
    exit_code(result)
}

/// 0 on success; 1 when a check failed (validate, check) or on an error, which is printed.
fn exit_code(result: Result<bool, String>) -> ExitCode {
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
