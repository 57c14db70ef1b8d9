// SPDX-License-Identifier: MPL-2.0
//! Processes a video file: decode → trtposeinfer → poseoverlay → MP4, plus JSON Lines, printing
//! frames, people found and FPS as it goes. The plugin is linked in, so no GST_PLUGIN_PATH is
//! needed.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use gst::prelude::*;

/// Runs pose estimation on a video file and writes the video with skeletons drawn, plus one
/// JSON line per frame.
#[derive(Debug, clap::Parser)]
#[command(name = "trtpose-run", version, about, long_about = None)]
struct Args {
    /// Video file to process.
    input: PathBuf,
    /// Output video [default: <input stem>_pose.mp4 beside the input].
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// JSON Lines output [default: the output video's name with .jsonl].
    #[arg(long)]
    json: Option<PathBuf>,
    /// Pose network (.onnx) [default: $TRTPOSE_MODEL, else movenet-multipose.onnx from the
    /// model folders: $TRTPOSE_MODELS, the config file's `models`, ~/.local/share/gst-trtpose/models]
    #[arg(long)]
    model: Option<PathBuf>,
    /// Network input size for dynamic models (longer side); 512 finds small pedestrians.
    #[arg(long, default_value_t = 512)]
    input_size: u32,
    /// Run the network on every Nth frame.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    interval: u32,
    /// Inference backend.
    #[arg(long, default_value = "auto", value_parser = ["auto", "cpu", "cuda", "tensorrt"])]
    backend: String,
    /// CPU inference threads (0 = ONNX Runtime's choice).
    #[arg(long, default_value_t = 0)]
    threads: u32,
    /// Stop after about N frames.
    #[arg(long)]
    frames: Option<u64>,
    /// libonnxruntime.so to load [default: ORT_DYLIB_PATH, the config file, the system's].
    #[arg(long)]
    ort_library: Option<PathBuf>,
}

impl Args {
    fn output(&self) -> PathBuf {
        self.output.clone().unwrap_or_else(|| {
            let stem = self
                .input
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or("out".into());
            self.input.with_file_name(format!("{stem}_pose.mp4"))
        })
    }

    fn json(&self) -> PathBuf {
        self.json
            .clone()
            .unwrap_or_else(|| self.output().with_extension("jsonl"))
    }
}

fn quote(p: &std::path::Path) -> String {
    format!("\"{}\"", p.display().to_string().replace('"', "\\\""))
}

/// Encoder and muxer: H.264 in MP4 with x264 (gst-plugins-ugly), else VP8 in WebM.
fn encoder(output: &std::path::Path) -> (&'static str, PathBuf) {
    if gst::ElementFactory::find("x264enc").is_some() {
        (
            "x264enc speed-preset=veryfast ! h264parse ! mp4mux",
            output.to_path_buf(),
        )
    } else {
        eprintln!("note: x264enc not installed (gstreamer1.0-plugins-ugly); writing VP8/WebM");
        ("vp8enc deadline=1 ! webmmux", output.with_extension("webm"))
    }
}

fn run(args: &Args, output: &Path) -> Result<(), String> {
    gst::init().map_err(|e| e.to_string())?;
    gsttrtpose::plugin_register_static().map_err(|e| e.to_string())?;
    if !args.input.is_file() {
        return Err(format!("input {} not found", args.input.display()));
    }
    let model = match &args.model {
        Some(m) => m.clone(),
        None => gsttrtpose::locate::default_model().map_err(|e| e.to_string())?,
    };
    if let Some(dir) = output.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let (encode, video) = encoder(output);
    let ort = args
        .ort_library
        .as_ref()
        .map(|p| format!(" ort-library={}", quote(p)))
        .unwrap_or_default();
    let json = args.json();
    let desc = format!(
        "filesrc location={} ! decodebin ! trtposeinfer name=infer model={} input-size={} interval={} backend={} threads={} json-output={}{ort} \
         ! poseoverlay ! videoconvert ! {encode} ! filesink location={}",
        quote(&args.input),
        quote(&model),
        args.input_size,
        args.interval,
        args.backend,
        args.threads,
        quote(&json),
        quote(&video),
    );
    let pipeline = gst::parse::launch(&desc)
        .map_err(|e| format!("cannot build the pipeline: {e}"))?
        .downcast::<gst::Pipeline>()
        .map_err(|_| "not a pipeline".to_string())?;
    if pipeline.set_state(gst::State::Playing).is_err() {
        let detail =
            first_error(&pipeline).unwrap_or_else(|| "the pipeline failed to start".into());
        let _ = pipeline.set_state(gst::State::Null);
        return Err(detail);
    }
    let infer = pipeline.by_name("infer").expect("named in the launch line");
    let start = Instant::now();
    let mut progress = Progress::default();
    let result = watch(&pipeline, &infer, args.frames, start, &mut progress);
    let Progress {
        frames,
        people_total,
        max_people,
        ..
    } = progress;
    // Read before stopping: a stopped element has no active backend.
    let backend = infer
        .property::<Option<String>>("active-backend")
        .unwrap_or_default();
    pipeline
        .set_state(gst::State::Null)
        .map_err(|e| e.to_string())?;
    result?;
    let secs = start.elapsed().as_secs_f64();
    println!(
        "done: {frames} frames in {secs:.1} s ({:.2} FPS), {people_total} people found (up to {max_people} in a frame), backend {backend}",
        frames as f64 / secs.max(1e-9),
    );
    println!("video: {}\njson:  {}", video.display(), json.display());
    Ok(())
}

/// What the bus has told so far.
#[derive(Debug, Default)]
struct Progress {
    frames: u64,
    people_total: u64,
    max_people: u32,
    /// Frames in the file, once its duration and rate are known.
    duration_frames: Option<u64>,
}

/// Follows the bus until EOS or an error, printing progress once a second and ending the
/// stream cleanly after `stop_after` frames.
fn watch(
    pipeline: &gst::Pipeline,
    infer: &gst::Element,
    stop_after: Option<u64>,
    start: Instant,
    p: &mut Progress,
) -> Result<(), String> {
    let bus = pipeline.bus().expect("pipelines have a bus");
    let mut last_print = Instant::now();
    loop {
        let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(200)) else {
            continue;
        };
        match msg.view() {
            gst::MessageView::Element(e) => {
                let Some(s) = e.structure().filter(|s| s.name() == "trtposeinfer") else {
                    continue;
                };
                p.frames += 1;
                if stop_after == Some(p.frames) {
                    // Finish cleanly so the muxer writes a playable file.
                    pipeline.send_event(gst::event::Eos::new());
                }
                let n = s.get::<u32>("num-people").unwrap_or(0);
                p.people_total += n as u64;
                p.max_people = p.max_people.max(n);
                if p.duration_frames.is_none() {
                    p.duration_frames = duration_frames(pipeline, infer);
                }
                // Frames already in flight when --frames was reached are not progress.
                let past_end = stop_after.is_some_and(|n| p.frames > n);
                if !past_end && last_print.elapsed().as_secs_f64() >= 1.0 {
                    last_print = Instant::now();
                    let fps = p.frames as f64 / start.elapsed().as_secs_f64();
                    let frames = p.frames;
                    let progress = stop_after
                        .or(p.duration_frames)
                        .map(|t| {
                            format!(
                                "{frames}/{t} ({:.1}%)",
                                100.0 * frames as f64 / t.max(1) as f64
                            )
                        })
                        .unwrap_or_else(|| frames.to_string());
                    println!("frames {progress}  people {n}  {fps:.1} FPS");
                }
            }
            gst::MessageView::Warning(w) => {
                eprintln!("warning: {}", w.error());
            }
            gst::MessageView::Error(e) => {
                return Err(format!(
                    "{}{}",
                    e.error(),
                    e.debug().map(|d| format!("\n  ({d})")).unwrap_or_default()
                ));
            }
            gst::MessageView::Eos(_) => return Ok(()),
            _ => {}
        }
    }
}

/// Frames in the input from its duration and the negotiated frame rate.
fn duration_frames(pipeline: &gst::Pipeline, infer: &gst::Element) -> Option<u64> {
    let d = pipeline.query_duration::<gst::ClockTime>()?;
    let f = infer
        .static_pad("sink")
        .and_then(|p| p.current_caps())
        .and_then(|c| gst_video::VideoInfo::from_caps(&c).ok())
        .map(|i| i.fps())
        .filter(|f| f.numer() > 0)?;
    Some(d.nseconds() * f.numer() as u64 / f.denom() as u64 / 1_000_000_000)
}

fn first_error(pipeline: &gst::Pipeline) -> Option<String> {
    let bus = pipeline.bus()?;
    let msg =
        bus.timed_pop_filtered(gst::ClockTime::from_seconds(1), &[gst::MessageType::Error])?;
    match msg.view() {
        gst::MessageView::Error(e) => Some(e.error().to_string()),
        _ => None,
    }
}

fn main() -> ExitCode {
    let args = <Args as clap::Parser>::parse();
    let output = args.output();
    match run(&args, &output) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Do not leave an empty video behind.
            if std::fs::metadata(&output).is_ok_and(|m| m.len() == 0) {
                let _ = std::fs::remove_file(&output);
            }
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
