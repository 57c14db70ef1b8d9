// SPDX-License-Identifier: MPL-2.0
//! trtposeconvert on this machine (no TensorRT, no GPU): real ONNX files, fake sysfs/procfs
//! trees, every command, and bad inputs.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::output_text as text;
use gsttrtpose::engine::Engine;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_trtposeconvert"));
    c.env("ORT_DYLIB_PATH", common::runtime().library());
    c
}

/// A board made of files: a thermal zone, meminfo, stat and optionally a Jetson device tree.
fn board(jetson: bool, temp_c: f32, available_kb: u64) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    let z = d.path().join("sys/class/thermal/thermal_zone0");
    std::fs::create_dir_all(&z).unwrap();
    std::fs::write(z.join("type"), "GPU-therm\n").unwrap();
    std::fs::write(z.join("temp"), format!("{}\n", (temp_c * 1000.0) as i64)).unwrap();
    let p = d.path().join("proc");
    std::fs::create_dir_all(p.join("device-tree")).unwrap();
    std::fs::write(p.join("meminfo"), format!("MemTotal: 4194304 kB\nMemAvailable: {available_kb} kB\nSwapTotal: 2097152 kB\nSwapFree: 2097152 kB\n")).unwrap();
    std::fs::write(p.join("stat"), "cpu 1 0 1 8 0 0 0 0\n").unwrap();
    if jetson {
        std::fs::write(
            p.join("device-tree/model"),
            "NVIDIA Jetson Nano Developer Kit\0",
        )
        .unwrap();
    }
    d
}

fn roots<'a>(c: &'a mut Command, b: &tempfile::TempDir) -> &'a mut Command {
    c.arg("--sysfs-root")
        .arg(b.path().join("sys"))
        .arg("--procfs-root")
        .arg(b.path().join("proc"))
}

/// A successful run wrote the test model's CPU fallback into `out`.
fn assert_converted_into(o: &std::process::Output, out: &Path) {
    assert!(o.status.success(), "{}", text(o));
    assert!(
        out.join("movenet-multipose-256x256_b1_cpu_fp32.onnx")
            .is_file(),
        "{}",
        text(o)
    );
}

fn model_copy(dir: &Path) -> PathBuf {
    let m = dir.join("movenet-multipose-256x256.onnx");
    std::fs::copy(common::model("movenet-multipose-256x256.onnx"), &m).unwrap();
    m
}

#[test]
fn status_reports_the_machine_and_the_runtimes() {
    let b = board(true, 48.5, 3_000_000);
    let o = roots(&mut bin(), &b).arg("status").output().unwrap();
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    for needle in [
        "GPU-therm 48.5 °C",
        "4.0 GB",
        "Jetson:   NVIDIA Jetson Nano",
        "ONNX Runtime: 1.",
        "ORT providers: CPU",
        "TensorRT: not found",
        "not exercised on this project's CI machines",
    ] {
        assert!(t.contains(needle), "missing '{needle}' in:\n{t}");
    }
}

#[test]
fn status_watch_repeats_the_report_count_times() {
    let b = board(false, 41.0, 3_000_000);
    let started = std::time::Instant::now();
    let o = roots(&mut bin(), &b)
        .args(["status", "--watch", "0.2", "--count", "3"])
        .output()
        .unwrap();
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert_eq!(t.matches("GPU-therm 41.0 °C").count(), 3, "{t}");
    for n in 1..=3 {
        assert!(t.contains(&format!("--- status {n} ---")), "{t}");
    }
    assert!(!t.contains("--- status 4 ---"), "{t}");
    // Two waits of 0.2 s between three reports.
    assert!(started.elapsed().as_secs_f64() >= 0.4);
    // A tegrastats log fills what the fake sysfs lacks (GPU load; zones stay sysfs's).
    let log = b.path().join("tegrastats.log");
    std::fs::write(&log, "RAM 1000/3964MB GR3D_FREQ 42%@[305] GPU@58C\n").unwrap();
    let o = roots(&mut bin(), &b)
        .arg("--tegrastats-file")
        .arg(&log)
        .arg("status")
        .output()
        .unwrap();
    let t = text(&o);
    assert!(
        t.contains("GPU load: 42%") && t.contains("GPU-therm 41.0 °C"),
        "{t}"
    );
    assert!(!t.contains("GPU 58.0"), "{t}");
    for bad in [
        &["status", "--count", "2"][..],
        &["status", "--watch", "0"],
        &["status", "--watch", "x"],
        &["status", "--watch", "1", "--count", "0"],
    ] {
        let o = roots(&mut bin(), &b).args(bad).output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{bad:?}: {}", text(&o));
    }
}

#[test]
fn diagnose_explains_unified_memory_and_guards_swap() {
    let b = board(true, 40.0, 1_048_576);
    let o = roots(&mut bin(), &b).arg("diagnose").output().unwrap();
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    for needle in [
        "swap cannot back it",
        "--workspace 256",
        "--fp16",
        "another Jetson",
        "4.0 GB for CPU and GPU together",
        "the CPU conversion",
        "Swap: idle, 0 MB of 2048 MB",
        // This machine has no GPU; the probe says why.
        "CUDA memory: no GPU (",
    ] {
        assert!(t.contains(needle), "missing '{needle}' in:\n{t}");
    }
    // 512 MB of swap in use: over the 100 MB rule.
    std::fs::write(
        b.path().join("proc/meminfo"),
        "MemTotal: 4194304 kB\nMemAvailable: 1048576 kB\nSwapTotal: 2097152 kB\nSwapFree: 1572864 kB\n",
    )
    .unwrap();
    let t = text(&roots(&mut bin(), &b).arg("diagnose").output().unwrap());
    assert!(
        t.contains("Swap: active, 512 MB of 2048 MB in use (over 100 MB)"),
        "{t}"
    );
    let o = roots(&mut bin(), &b)
        .args(["diagnose", "--ensure-swap", "4G"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        text(&o).contains("add --yes") && text(&o).contains("nothing was changed"),
        "{}",
        text(&o)
    );
}

#[test]
fn convert_falls_back_to_a_cpu_model_that_validates() {
    let b = board(false, 40.0, 3_000_000);
    let dir = tempfile::tempdir().unwrap();
    let m = model_copy(dir.path());
    let out = dir.path().join("engines");
    let o = roots(&mut bin(), &b)
        .arg("convert")
        .arg(&m)
        .args(["--fp16", "--output-dir"])
        .arg(&out)
        .output()
        .unwrap();
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(
        t.contains("TensorRT not found")
            && t.contains("CPU fallback")
            && t.contains("FP16 needs TensorRT"),
        "{t}"
    );
    // The size of the model copied (set-up's own or the shared one; they differ a little).
    let mb = std::fs::metadata(&m).unwrap().len() as f64 / (1 << 20) as f64;
    assert!(
        t.contains(&format!(
            "estimated under 1 min on this machine ({mb:.1} MB x 0.002-0.01 min/MB (CPU fallback)"
        )),
        "{t}"
    );
    // The result is validated against its source, both are timed and both sizes shown.
    assert!(
        t.contains("decoded people match: yes") && t.contains("validation: passed"),
        "{t}"
    );
    let speed = t
        .lines()
        .find(|l| l.starts_with("speed: source "))
        .expect(&t);
    assert!(
        speed.contains(" ms, result ")
            && ["x faster", "x slower", "x, the same speed"]
                .iter()
                .any(|e| speed.ends_with(e)),
        "{t}"
    );
    let size = t
        .lines()
        .find(|l| l.starts_with("size: source "))
        .expect(&t);
    assert!(size.contains(" MB (") && size.contains(", result "), "{t}");
    let artifact = out.join("movenet-multipose-256x256_b1_cpu_fp32.onnx");
    assert!(artifact.is_file(), "{t}");
    let sidecar: serde_json::Value = serde_json::from_slice(
        &std::fs::read(out.join("movenet-multipose-256x256_b1_cpu_fp32.onnx.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(sidecar["kind"], "cpu-optimized");
    assert_eq!(sidecar["precision"], "fp32");
    assert_eq!(sidecar["model_family"], "movenet (multipose)");
    assert_eq!(sidecar["topology"], "coco17");
    // The hash of the model actually converted (set-up makes its own copy of this model,
    // whose bytes differ from the shared one), computed by coreutils rather than our code.
    let sum = std::process::Command::new("sha256sum")
        .arg(&m)
        .output()
        .unwrap();
    let sum = String::from_utf8_lossy(&sum.stdout);
    let want = sum.split_whitespace().next().expect("sha256sum output");
    assert_eq!(want.len(), 64, "{sum}");
    assert_eq!(sidecar["source_sha256"], want);
    assert!(sidecar["tensorrt_version"].is_null());
    // INT8 needs TensorRT; without it the calibration cache is still written (for a build
    // on the target) and the CPU model stays FP32 and says so.
    let calib = dir.path().join("calib");
    std::fs::create_dir_all(&calib).unwrap();
    std::fs::copy(common::media("basketball1.png"), calib.join("frame.png")).unwrap();
    let o = roots(&mut bin(), &b)
        .arg("convert")
        .arg(&m)
        .arg("--int8")
        .arg(&calib)
        .arg("--output-dir")
        .arg(dir.path().join("int8"))
        .output()
        .unwrap();
    assert!(
        o.status.success() && text(&o).contains("INT8 needs TensorRT"),
        "{}",
        text(&o)
    );
    assert!(
        dir.path()
            .join("int8/movenet-multipose-256x256_b1_cpu_fp32.onnx")
            .is_file()
    );
    assert!(
        dir.path()
            .join("int8/movenet-multipose-256x256_calibration.cache")
            .is_file()
    );
    let o = bin().arg("validate").arg(&artifact).output().unwrap();
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(
        t.contains("decoded people match: yes") && t.contains("max abs difference"),
        "{t}"
    );
}

#[test]
fn check_and_auto_find_missing_and_stale_artifacts() {
    let dir = tempfile::tempdir().unwrap();
    let m = model_copy(dir.path());
    let check = || bin().arg("check").arg(&m).output().unwrap();
    let o = check();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).contains("MISSING") && text(&o).contains("trtposeconvert convert"),
        "{}",
        text(&o)
    );
    let o = bin().arg("auto").arg(&m).output().unwrap();
    assert!(
        o.status.success() && text(&o).contains("auto: 1 converted"),
        "{}",
        text(&o)
    );
    let o = check();
    assert!(
        o.status.success() && text(&o).contains("OK"),
        "{}",
        text(&o)
    );
    let o = bin().arg("auto").arg(&m).output().unwrap();
    assert!(text(&o).contains("auto: 0 converted"), "{}", text(&o));
    // A different source under the same name makes the artifact stale.
    std::fs::remove_file(&m).unwrap();
    std::fs::copy(common::model("movenet-multipose.onnx"), &m).unwrap();
    let o = check();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).contains("STALE") && text(&o).contains("source ONNX changed"),
        "{}",
        text(&o)
    );
    let o = bin()
        .arg("check")
        .arg(dir.path().join("absent.onnx"))
        .output()
        .unwrap();
    assert!(text(&o).contains("not found"), "{}", text(&o));
}

#[test]
fn config_file_supplies_models_and_flags_override_it() {
    let dir = tempfile::tempdir().unwrap();
    let m = model_copy(dir.path());
    let out = dir.path().join("from-config");
    let cfg = dir.path().join("trtposeconvert.toml");
    std::fs::write(
        &cfg,
        format!(
            "models = [\"{}\"]\noutput_dir = \"{}\"\nworkspace = 64\n",
            m.display(),
            out.display()
        ),
    )
    .unwrap();
    let o = bin()
        .arg("--config")
        .arg(&cfg)
        .arg("auto")
        .output()
        .unwrap();
    assert_converted_into(&o, &out);
    let flag_out = dir.path().join("from-flag");
    let o = bin()
        .arg("--config")
        .arg(&cfg)
        .arg("convert")
        .arg(&m)
        .arg("--output-dir")
        .arg(&flag_out)
        .output()
        .unwrap();
    assert_converted_into(&o, &flag_out);
    std::fs::write(&cfg, "modles = []\n").unwrap();
    let o = bin()
        .arg("--config")
        .arg(&cfg)
        .arg("check")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).contains("trtposeconvert.toml") && text(&o).contains("modles"),
        "{}",
        text(&o)
    );
}

#[test]
fn config_init_writes_the_defaults_and_json_configs_work() {
    let dir = tempfile::tempdir().unwrap();
    let m = model_copy(dir.path());
    // Printed, then written (default name in the current folder), then kept unless --force.
    let o = bin().arg("config").output().unwrap();
    assert!(
        o.status.success() && text(&o).contains("memory_limit = 80.0"),
        "{}",
        text(&o)
    );
    let o = bin()
        .args(["config", "--init"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let cfg = dir.path().join("trtposeconvert.toml");
    let written = std::fs::read_to_string(&cfg).unwrap();
    assert_eq!(
        written,
        String::from_utf8_lossy(&bin().arg("config").output().unwrap().stdout)
    );
    std::fs::write(&cfg, "models = []\n").unwrap();
    let o = bin().args(["config", "--init"]).arg(&cfg).output().unwrap();
    assert!(
        !o.status.success() && text(&o).contains("--force"),
        "{}",
        text(&o)
    );
    assert_eq!(std::fs::read_to_string(&cfg).unwrap(), "models = []\n");
    let o = bin()
        .args(["config", "--force", "--init"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(std::fs::read_to_string(&cfg).unwrap(), written);
    // The written file drives a conversion.
    let out = dir.path().join("from-init");
    let o = bin()
        .arg("--config")
        .arg(&cfg)
        .arg("convert")
        .arg(&m)
        .arg("--output-dir")
        .arg(&out)
        .output()
        .unwrap();
    assert_converted_into(&o, &out);
    // JSON, as the original tool's trt_pose_config.json.
    let out = dir.path().join("from-json");
    let json = dir.path().join("trt_pose_config.json");
    let v = serde_json::json!({"models": [m], "output_dir": out, "memory_limit": 90});
    std::fs::write(&json, v.to_string()).unwrap();
    let o = bin()
        .arg("--config")
        .arg(&json)
        .arg("auto")
        .output()
        .unwrap();
    assert_converted_into(&o, &out);
    std::fs::write(&json, "{\"memory_limit\": 101}").unwrap();
    let o = bin()
        .arg("--config")
        .arg(&json)
        .arg("check")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("trt_pose_config.json") && text(&o).contains("memory_limit"),
        "{}",
        text(&o)
    );
}

#[test]
fn bench_prints_a_table_with_every_backend() {
    let o = bin()
        .arg("bench")
        .arg(common::model("movenet-lightning-192x192.onnx"))
        .args(["--iterations", "3"])
        .output()
        .unwrap();
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    let cpu = t
        .lines()
        .find(|l| l.starts_with("CPU (ONNX Runtime)"))
        .unwrap_or_else(|| panic!("{t}"));
    assert!(cpu.contains("1.00x"), "{cpu}");
    assert!(
        t.lines()
            .any(|l| l.starts_with("CPU, ORT-optimized model") && l.contains('x')),
        "{t}"
    );
    assert!(
        t.lines()
            .any(|l| l.starts_with("CUDA") && l.contains("unavailable")),
        "{t}"
    );
    assert!(
        t.lines()
            .any(|l| l.starts_with("TensorRT") && l.contains("unavailable")),
        "{t}"
    );
}

/// Runs `convert` on `m` with `args` and, once a line satisfying `pausing` shows the tool
/// waiting (however slow its start), replaces `file` with `relief` after 200 ms, by rename, as
/// sysfs and procfs reads never see a half-written value. Returns the run with all its stdout.
fn convert_relieved_on_pause(
    b: &tempfile::TempDir,
    m: &Path,
    args: &[&str],
    pausing: fn(&str) -> bool,
    file: PathBuf,
    relief: &'static str,
) -> std::process::Output {
    let mut child = roots(&mut bin(), b)
        .arg("convert")
        .arg(m)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        let mut seen = String::new();
        for line in std::io::BufReader::new(stdout).lines() {
            let line = line.unwrap();
            if pausing(&line) {
                std::thread::sleep(std::time::Duration::from_millis(200));
                let tmp = file.with_extension("new");
                std::fs::write(&tmp, relief).unwrap();
                std::fs::rename(&tmp, &file).unwrap();
            }
            seen.push_str(&line);
            seen.push('\n');
        }
        seen
    });
    let mut o = child.wait_with_output().unwrap();
    o.stdout = reader.join().unwrap().into_bytes();
    o
}

#[test]
fn a_hot_board_pauses_the_conversion_until_it_cools() {
    let b = board(false, 90.0, 3_000_000);
    let dir = tempfile::tempdir().unwrap();
    let m = model_copy(dir.path());
    let o = convert_relieved_on_pause(
        &b,
        &m,
        &["--temp-limit", "80", "--monitor-interval", "0.05"],
        |line| line.contains("pausing until below"),
        b.path().join("sys/class/thermal/thermal_zone0/temp"),
        "60000\n",
    );
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(
        t.contains("temperature 90.0 °C ≥ 80.0 °C: pausing until below 75.0 °C"),
        "{t}"
    );
    assert!(t.contains("cooled to 60.0 °C"), "{t}");
    assert!(
        t.lines()
            .any(|l| l.contains("RAM") && l.contains("TEMP 60.0°C")),
        "monitor lines: {t}"
    );
}

#[test]
fn full_memory_pauses_the_conversion_until_it_frees() {
    // 4 GiB total, 200 MiB available: 95 % used; freed to 3 GiB available.
    let b = board(false, 40.0, 204_800);
    let dir = tempfile::tempdir().unwrap();
    let m = model_copy(dir.path());
    let o = convert_relieved_on_pause(
        &b,
        &m,
        &["--memory-limit", "80", "--monitor-interval", "0.05"],
        |line| line.starts_with("memory") && line.contains("pausing until below"),
        b.path().join("proc/meminfo"),
        "MemTotal: 4194304 kB\nMemAvailable: 3145728 kB\nSwapTotal: 2097152 kB\nSwapFree: 2097152 kB\n",
    );
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(
        t.contains("memory 95 % ≥ 80 %: pausing until below 75 %"),
        "{t}"
    );
    assert!(t.contains("memory down to 25 %"), "{t}");
}

#[test]
fn bad_models_and_unwritable_outputs_fail_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.onnx");
    std::fs::write(&junk, vec![7u8; 3000]).unwrap();
    let o = bin().arg("convert").arg(&junk).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).contains("junk.onnx") && text(&o).contains("cannot load"),
        "{}",
        text(&o)
    );
    let o = bin()
        .arg("convert")
        .arg(dir.path().join("none.onnx"))
        .output()
        .unwrap();
    assert!(text(&o).contains("does not exist"), "{}", text(&o));
    let o = bin().arg("convert").arg(dir.path()).output().unwrap();
    assert!(text(&o).contains("is a directory"), "{}", text(&o));
    // /proc refuses new folders even for root.
    let m = model_copy(dir.path());
    let o = bin()
        .arg("convert")
        .arg(&m)
        .args(["--output-dir", "/proc/trtpose-out"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).contains("cannot create output folder /proc/trtpose-out"),
        "{}",
        text(&o)
    );
}

#[test]
fn a_full_disk_is_reported_and_leaves_no_partial_file() {
    // A file-size limit makes writes fail with EFBIG exactly as a full disk fails with ENOSPC.
    let dir = tempfile::tempdir().unwrap();
    let m = model_copy(dir.path());
    let o = Command::new("prlimit")
        .arg("--fsize=1000000")
        .arg(env!("CARGO_BIN_EXE_trtposeconvert"))
        .arg("convert")
        .arg(&m)
        .env("ORT_DYLIB_PATH", common::runtime().library())
        .output()
        .expect("prlimit (util-linux) runs");
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(
        t.contains("could not write the optimized model") && t.contains("disk full"),
        "{t}"
    );
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(left.len(), 1, "only the source remains: {left:?}");
}

#[test]
fn half_writes_an_fp16_copy_that_runs_and_decodes_like_the_original() {
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("lightning.onnx");
    std::fs::copy(common::model("movenet-lightning-192x192.onnx"), &m).unwrap();
    let o = bin().arg("half").arg(&m).output().unwrap();
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    let half = dir.path().join("lightning.fp16.onnx");
    assert!(
        t.contains("tensors to fp16") && t.contains(&half.display().to_string()),
        "{t}"
    );
    let (a, b) = (
        std::fs::metadata(&m).unwrap().len(),
        std::fs::metadata(&half).unwrap().len(),
    );
    assert!(b < a * 6 / 10, "weights halve: {a} -> {b} bytes");
    // Same inputs and outputs (float32 at both ends), same people on a photo.
    let (w, h, rgb) = common::load_png_rgb(&common::media("astronaut.png"));
    let frame = gsttrtpose::frame::SourceFrame::new(
        gsttrtpose::frame::PixelFormat::Rgb,
        w,
        h,
        vec![(&rgb[..], w * 3)],
    )
    .unwrap();
    let people = |path: &Path| {
        let engine = common::cpu_engine(path);
        let mut est =
            gsttrtpose::model::PoseEstimator::new(Box::new(engine), &Default::default()).unwrap();
        let mut p = Vec::new();
        est.process(&frame, &mut p).unwrap();
        p
    };
    let (p32, p16) = (people(&m), people(&half));
    assert_eq!(p32.len(), 1);
    assert_eq!(p16.len(), 1);
    let mut compared = 0;
    for (x, y) in p32[0].keypoints.iter().zip(&p16[0].keypoints) {
        if let (Some(x), Some(y)) = (x, y)
            && x.score > 0.3
        {
            compared += 1;
            assert!(
                (x.x - y.x).abs() < 3.0 && (x.y - y.y).abs() < 3.0,
                "fp16 keypoint moved: {x:?} vs {y:?}"
            );
        }
    }
    assert!(compared >= 10, "only {compared} confident keypoints");
}

#[test]
fn half_refuses_models_it_cannot_convert_and_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    // MoveNet multipose computes grid coordinates with Range, which has no fp16 form.
    let m = model_copy(dir.path());
    let o = bin().arg("half").arg(&m).output().unwrap();
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(t.contains("does not load, so none was written"), "{t}");
    assert!(t.contains("Range"), "the reason names the op: {t}");
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, vec!["movenet-multipose-256x256.onnx"], "{left:?}");

    let junk = dir.path().join("junk.onnx");
    std::fs::write(&junk, b"\x0a\xff\xff\xff\xff garbage").unwrap();
    let o = bin().arg("half").arg(&junk).output().unwrap();
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(t.contains("not an ONNX model"), "{t}");
}

#[test]
fn compare_and_e2e_bench_name_the_missing_gpu() {
    let dir = tempfile::tempdir().unwrap();
    let m = model_copy(dir.path());
    let o = bin().arg("compare").arg(&m).output().unwrap();
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(t.contains("libcuda.so.1"), "{t}");
    let o = bin()
        .args([
            "bench",
            "--iterations",
            "2",
            "--e2e",
            "--e2e-only",
            "--frame-size",
            "320x240",
            "--frame-format",
            "nv12",
        ])
        .arg(&m)
        .output()
        .unwrap();
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("frame-in to people-out: 320x240 Nv12"), "{t}");
    let cpu_row = t.lines().find(|l| l.starts_with("CPU ")).expect("CPU row");
    assert!(cpu_row.contains("cpu on cpu"), "{cpu_row}");
    assert!(
        t.lines().any(|l| l.starts_with("CUDA")
            && l.contains("unavailable")
            && l.contains("libcuda.so.1")),
        "{t}"
    );
}

#[test]
fn int8_calibration_records_the_ranges_the_network_produces() {
    let dir = tempfile::tempdir().unwrap();
    let images = dir.path().join("calib");
    std::fs::create_dir_all(&images).unwrap();
    let photos = ["astronaut.png", "basketball1.png"];
    for p in photos {
        std::fs::copy(common::media(p), images.join(p)).unwrap();
    }
    // The same astronaut as a binary PPM, and a file that is not an image.
    let (w, h, rgb) = common::load_png_rgb(&common::media("astronaut.png"));
    let mut ppm = format!("P6\n{w} {h}\n255\n").into_bytes();
    ppm.extend_from_slice(&rgb);
    std::fs::write(images.join("astronaut_copy.ppm"), ppm).unwrap();
    std::fs::write(images.join("README.txt"), "calibration frames").unwrap();
    let m = dir.path().join("posenet.onnx");
    std::fs::copy(common::model("posenet-mobilenetv1-385x385.onnx"), &m).unwrap();
    let o = bin()
        .args(["convert", "--monitor-interval", "60", "--int8"])
        .arg(&images)
        .arg(&m)
        .output()
        .unwrap();
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("on 3 images (1 skipped)"), "{t}");
    assert!(t.contains("INT8 needs TensorRT"), "{t}");
    let cache = std::fs::read_to_string(dir.path().join("posenet_calibration.cache")).unwrap();
    let ranges = gsttrtpose::calibrate::CalibrationTable::parse_tensorrt_cache(&cache).unwrap();
    assert!(
        ranges.len() > 50,
        "intermediate tensors too: {}",
        ranges.len()
    );

    // The same images through the element's own chain: the input and output ranges must
    // match what the calibration recorded.
    let engine = common::cpu_engine(&m);
    let (input_name, output_names): (String, Vec<String>) = (
        engine.inputs()[0].name.clone(),
        engine.outputs().iter().map(|o| o.name.clone()).collect(),
    );
    let mut est =
        gsttrtpose::model::PoseEstimator::new(Box::new(engine), &Default::default()).unwrap();
    let plan = est.plan().clone();
    let mut pre = gsttrtpose::preprocess::Preprocessor::new();
    let mut input_max = 0f32;
    let mut output_max = vec![0f32; output_names.len()];
    for p in photos {
        let (w, h, rgb) = common::load_png_rgb(&common::media(p));
        let frame = gsttrtpose::frame::SourceFrame::new(
            gsttrtpose::frame::PixelFormat::Rgb,
            w,
            h,
            vec![(&rgb[..], w * 3)],
        )
        .unwrap();
        let g = est.geometry_for(w as u32, h as u32);
        if let (gsttrtpose::engine::InputData::F32(d), _) = pre.run(&frame, &g, &plan.input) {
            input_max = d.iter().fold(input_max, |m, v| m.max(v.abs()));
        }
        est.process(&frame, &mut Vec::new()).unwrap();
        for (m, o) in output_max.iter_mut().zip(est.last_outputs()) {
            *m = o.data.iter().fold(*m, |a, v| a.max(v.abs()));
        }
    }
    let close = |a: f32, b: f32| (a - b).abs() <= 1e-5 * b.abs().max(1.0);
    assert!(
        close(ranges[&input_name], input_max),
        "{} vs {input_max}",
        ranges[&input_name]
    );
    for (name, want) in output_names.iter().zip(&output_max) {
        assert!(
            close(ranges[name], *want),
            "{name}: {} vs {want}",
            ranges[name]
        );
    }

    // No images: a clear error, no cache.
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let o = bin()
        .args(["convert", "--int8"])
        .arg(&empty)
        .arg(&m)
        .output()
        .unwrap();
    let t = text(&o);
    assert!(!o.status.success(), "{t}");
    assert!(t.contains("no calibration images found"), "{t}");
}

#[test]
fn config_swap_size_and_cpus_reach_diagnose_and_the_whole_run() {
    let b = board(false, 41.0, 3_000_000);
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("trtposeconvert.toml");
    std::fs::write(&cfg, "swap_size = \"2G\"\ncpus = \"0\"\n").unwrap();
    // --ensure-swap without a size takes the config's, and still changes nothing without --yes.
    let o = roots(&mut bin(), &b)
        .arg("--config")
        .arg(&cfg)
        .args(["diagnose", "--ensure-swap"])
        .output()
        .unwrap();
    let t = text(&o);
    assert!(!o.status.success(), "{t}");
    assert!(
        t.contains("running on CPU(s) 0")
            && t.contains("--ensure-swap 2G changes the system")
            && t.contains("nothing was changed"),
        "{t}"
    );
    // Without a size anywhere it says what is missing.
    let o = roots(&mut bin(), &b)
        .args(["diagnose", "--ensure-swap"])
        .output()
        .unwrap();
    let t = text(&o);
    assert!(!o.status.success(), "{t}");
    assert!(t.contains("needs a size (e.g. 4G) or swap_size"), "{t}");
    // A CPU list the machine cannot have stops before anything runs.
    std::fs::write(&cfg, "cpus = \"1000000\"\n").unwrap();
    let o = roots(&mut bin(), &b)
        .arg("--config")
        .arg(&cfg)
        .arg("status")
        .output()
        .unwrap();
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(t.contains("config cpus 1000000"), "{t}");
}
