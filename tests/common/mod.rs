// SPDX-License-Identifier: MPL-2.0
//! Shared test helpers: where models, media and ONNX Runtime are.
#![allow(dead_code)]

pub mod board;
pub mod harness;
pub mod mosquitto;

use std::path::{Path, PathBuf};

use gst::prelude::*;
use gsttrtpose::engine::{EngineOptions, OrtEngine, OrtRuntime};

pub fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The shared read-only data folder beside the checkout (models, media, vectors).
pub fn shared_dir() -> PathBuf {
    std::env::var_os("TRTPOSE_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest_dir().join("../shared"))
}

/// Finds a model by file name: `TRTPOSE_MODELS`, the setup's `data/models`, then
/// `../shared/models`. Fails loudly when none has it: tests never skip silently.
pub fn model(name: &str) -> PathBuf {
    let mut dirs: Vec<PathBuf> = Vec::new();
    if let Some(d) = std::env::var_os("TRTPOSE_MODELS") {
        dirs.push(d.into());
    }
    dirs.push(manifest_dir().join("data/models"));
    dirs.push(shared_dir().join("models"));
    for d in &dirs {
        let p = d.join(name);
        if p.is_file() {
            return p;
        }
    }
    panic!(
        "model {name} not found in {:?}: run scripts/setup.sh (it fetches the default model) or provide ../shared/models",
        dirs
    );
}

pub fn media(name: &str) -> PathBuf {
    let p = shared_dir().join("media").join(name);
    assert!(
        p.exists(),
        "test media {} missing (../shared/media)",
        p.display()
    );
    p
}

pub fn expected(name: &str) -> serde_json::Value {
    read_json(&shared_dir().join("media/expected").join(name))
}

/// ONNX Runtime: `ORT_DYLIB_PATH`, else the setup's `.venv`, loaded once for the process
/// (elements started later in the process use it). The path is passed explicitly: tests run
/// in parallel threads, so none may change the environment.
pub fn runtime() -> &'static OrtRuntime {
    let lib = std::env::var_os("ORT_DYLIB_PATH")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(venv_ort_library);
    OrtRuntime::get(lib.as_deref()).unwrap_or_else(|e| panic!("{e}"))
}

pub fn venv_ort_library() -> Option<PathBuf> {
    let lib = manifest_dir().join(".venv/lib");
    for py in std::fs::read_dir(&lib).ok()?.flatten() {
        let capi = py.path().join("site-packages/onnxruntime/capi");
        for f in std::fs::read_dir(&capi).ok()?.flatten() {
            let name = f.file_name().to_string_lossy().into_owned();
            if name.starts_with("libonnxruntime.so.") {
                return Some(f.path());
            }
        }
    }
    None
}

pub fn cpu_engine(path: &Path) -> OrtEngine {
    let opts = EngineOptions {
        threads: 2,
        ..Default::default()
    };
    OrtEngine::load_on(runtime(), path, &opts, gsttrtpose::engine::Backend::Cpu)
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Decodes a PNG into 8-bit RGB (gray expanded), returning (width, height, pixels).
pub fn load_png_rgb(path: &Path) -> (usize, usize, Vec<u8>) {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let (w, h) = (info.width as usize, info.height as usize);
    let rgb = match info.color_type {
        png::ColorType::Rgb => buf[..w * h * 3].to_vec(),
        png::ColorType::Rgba => buf
            .chunks_exact(4)
            .take(w * h)
            .flat_map(|p| [p[0], p[1], p[2]])
            .collect(),
        png::ColorType::Grayscale => buf[..w * h].iter().flat_map(|&g| [g, g, g]).collect(),
        other => panic!("unsupported PNG colour type {other:?}"),
    };
    (w, h, rgb)
}

/// Plays to EOS; returns errors and warnings seen.
pub fn play_to_eos(p: &gst::Pipeline) -> (Vec<String>, Vec<String>) {
    // A refused start shows up as an error message below.
    let _ = p.set_state(gst::State::Playing);
    let bus = p.bus().unwrap();
    let (mut errors, mut warnings) = (Vec::new(), Vec::new());
    loop {
        let msg = bus
            .timed_pop(gst::ClockTime::from_seconds(120))
            .expect("no hang");
        match msg.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => {
                errors.push(e.error().to_string());
                break;
            }
            gst::MessageView::Warning(w) => warnings.push(w.error().to_string()),
            _ => {}
        }
    }
    p.set_state(gst::State::Null).unwrap();
    (errors, warnings)
}

/// Builds a model with `models/tools/make_trt_pose_onnx.py` in the setup's virtual environment.
pub fn generate_model(args: &[&str], out: &Path) {
    let python = manifest_dir().join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} missing: run scripts/setup.sh",
        python.display()
    );
    let status = std::process::Command::new(python)
        .arg(manifest_dir().join("models/tools/make_trt_pose_onnx.py"))
        .args(args)
        .arg("-o")
        .arg(out)
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "model generator failed for {args:?}");
}

/// GStreamer initialised and this crate's elements registered, once per process.
pub fn init_gst() {
    static INIT: std::sync::Once = std::sync::Once::new();
    INIT.call_once(|| {
        gst::init().unwrap();
        gsttrtpose::plugin_register_static().unwrap();
    });
}

/// A path quoted for a gst-launch description.
pub fn quote(p: &Path) -> String {
    format!("\"{}\"", p.display())
}

/// A pipeline from a gst-launch description (GStreamer initialised first).
pub fn launch(desc: &str) -> gst::Pipeline {
    init_gst();
    gst::parse::launch(desc)
        .unwrap_or_else(|e| panic!("{desc}: {e}"))
        .downcast()
        .unwrap()
}

/// The element `name` of `p` as the type it must be (an appsrc, an appsink…).
pub fn by_name<T: IsA<gst::Element>>(p: &gst::Pipeline, name: &str) -> T {
    p.by_name(name)
        .unwrap_or_else(|| panic!("no element '{name}'"))
        .downcast::<T>()
        .unwrap_or_else(|_| panic!("element '{name}' has another type"))
}

/// A finished command's stdout and stderr, for assertions and their messages.
pub fn output_text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// trt_pose parse vectors: `TRTPOSE_PARSE_VECTORS`, else the shared folder's.
pub fn vectors_dir() -> PathBuf {
    std::env::var_os("TRTPOSE_PARSE_VECTORS")
        .map(PathBuf::from)
        .unwrap_or_else(|| shared_dir().join("testdata/trt_pose_parse"))
}

/// A file of little-endian float32 values.
pub fn read_f32(path: &Path) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(bytes.len() % 4, 0, "{}", path.display());
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

pub fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(
        &std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap()
}

/// Every number in a JSON value, depth first (nested arrays flattened).
pub fn floats(v: &serde_json::Value) -> Vec<f32> {
    fn walk(v: &serde_json::Value, out: &mut Vec<f32>) {
        match v {
            serde_json::Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            serde_json::Value::Number(n) => out.push(n.as_f64().unwrap() as f32),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(v, &mut out);
    out
}

/// This process's resident memory in kB.
pub fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap()
}

/// What a launch line ending in `appsink name=sink` gave until EOS or error.
pub struct RunResult {
    pub samples: Vec<gst::Sample>,
    /// Every bus message but EOS and the error.
    pub messages: Vec<gst::Message>,
    pub error: Option<String>,
}

/// Runs a launch line whose sink is `appsink name=sink` until EOS or error.
pub fn run_launch(desc: &str) -> RunResult {
    // ONNX Runtime from the test venv before the element would pick one.
    runtime();
    init_gst();
    let pipeline = match gst::parse::launch(desc) {
        Ok(p) => p.downcast::<gst::Pipeline>().unwrap(),
        // Linking already failed (e.g. caps the element does not accept).
        Err(e) => {
            return RunResult {
                samples: Vec::new(),
                messages: Vec::new(),
                error: Some(e.to_string()),
            };
        }
    };
    let sink = pipeline
        .by_name("sink")
        .and_then(|s| s.downcast::<gst_app::AppSink>().ok());
    let bus = pipeline.bus().unwrap();
    if let Some(sink) = &sink {
        sink.set_property("sync", false);
        sink.set_property("max-buffers", 0u32);
    }
    let _ = pipeline.set_state(gst::State::Playing);
    let mut samples = Vec::new();
    let mut messages = Vec::new();
    let mut error = None;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    loop {
        if let Some(sink) = &sink {
            while let Some(s) = sink.try_pull_sample(gst::ClockTime::from_mseconds(1)) {
                samples.push(s);
            }
        }
        let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(20)) else {
            assert!(std::time::Instant::now() < deadline, "{desc}: timed out");
            continue;
        };
        match msg.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => {
                error = Some(format!("{} ({})", e.error(), e.debug().unwrap_or_default()));
                break;
            }
            _ => messages.push(msg),
        }
    }
    if let Some(sink) = &sink {
        while let Some(s) = sink.try_pull_sample(gst::ClockTime::ZERO) {
            samples.push(s);
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
    RunResult {
        samples,
        messages,
        error,
    }
}

/// [`run_launch`], failing the test on a pipeline error.
pub fn run_ok(desc: &str) -> RunResult {
    let r = run_launch(desc);
    assert!(r.error.is_none(), "{desc}: {}", r.error.unwrap());
    r
}
