// SPDX-License-Identifier: MPL-2.0
//! Processes a video file or a photo: decode → jetsonguard → trtposeinfer (with `--preset
//! accurate`: a detector, then a pose network per person) → poseoverlay → MP4 or picture, plus
//! JSON Lines, printing progress with the board's sensors as it goes and final statistics at the
//! end. The plugin is linked in, so no GST_PLUGIN_PATH is needed.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use gst::prelude::*;

/// Runs pose estimation on a video file and writes the video with skeletons drawn, plus one
/// JSON line per frame.
#[derive(Debug, clap::Parser)]
#[command(name = "trtpose-run", version, about, long_about = None)]
struct Args {
    /// Video file, or a still image (.jpg, .jpeg, .png), to process.
    input: PathBuf,
    /// Output video, or for a still image the annotated picture (.png or .jpg) [default:
    /// <input stem>_pose.mp4, or _pose.png/.jpg as the image, beside the input].
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// JSON Lines output [default: the output video's name with .jsonl].
    #[arg(long)]
    json: Option<PathBuf>,
    /// fast: one multi-person network on the whole frame (MoveNet multipose). accurate: a
    /// person detector on the frame, then a single-person network on a crop around each
    /// person (NanoDet → MoveNet Thunder; slower, more exact keypoints).
    #[arg(long, default_value = "fast", value_parser = ["fast", "accurate"])]
    preset: String,
    /// Pose network (.onnx) [default: fast: $TRTPOSE_MODEL, else movenet-multipose.onnx from
    /// the model folders ($TRTPOSE_MODELS, the config file's `models`,
    /// ~/.local/share/gst-trtpose/models); accurate: movenet-thunder-256x256.onnx from them]
    #[arg(long)]
    model: Option<PathBuf>,
    /// With --preset accurate: the person detector [default: nanodet-416x416.onnx from the
    /// model folders; centernet-512x512.onnx also works].
    #[arg(long)]
    detector: Option<PathBuf>,
    /// Network input size for dynamic models (longer side); 512 finds small pedestrians.
    #[arg(long, default_value_t = 512)]
    input_size: u32,
    /// Run the network (with --preset accurate: the detector) on every Nth frame.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    interval: u32,
    /// Inference backend.
    #[arg(long, default_value = "auto", value_parser = ["auto", "cpu", "cuda", "tensorrt"])]
    backend: String,
    /// CPU inference threads (0 = ONNX Runtime's choice) [default: as many as --cpus, else 0].
    #[arg(long)]
    threads: Option<u32>,
    /// Run on these CPU cores only, e.g. 0, 0,1 or 0-1 (as taskset -c).
    #[arg(long)]
    cpus: Option<String>,
    /// Seconds between progress lines (and the windows of the minimum FPS).
    #[arg(long, default_value_t = 10.0)]
    report_interval: f64,
    /// Stop after about N frames.
    #[arg(long)]
    frames: Option<u64>,
    /// libonnxruntime.so to load [default: ORT_DYLIB_PATH, the config file, the system's].
    #[arg(long)]
    ort_library: Option<PathBuf>,
    #[command(flatten)]
    guard: GuardArgs,
}

/// The jetsonguard in front of the network.
#[derive(Debug, clap::Args)]
struct GuardArgs {
    /// Run without jetsonguard (no sensor readings, no throttling; a progress line a second).
    #[arg(long)]
    no_guard: bool,
    /// Over a limit: pause (lose nothing; right for files) or drop frames evenly.
    #[arg(long, default_value = "pause", value_parser = ["pause", "drop"])]
    guard_mode: String,
    /// °C at which the guard throttles (pause mode: pauses); 0 disables.
    #[arg(long, default_value_t = 75.0)]
    temp_limit: f32,
    /// °C at which the guard pauses even in drop mode; 0 disables.
    #[arg(long, default_value_t = 80.0)]
    temp_pause_limit: f32,
    /// Percent of memory in use at which the guard acts; 0 disables.
    #[arg(long, default_value_t = 85.0)]
    memory_limit: f32,
    /// Percent of CPU load at which the guard acts [default: 0, off: inference itself fills
    /// the CPU, so pausing for it would only slow the job down].
    #[arg(long, default_value_t = 0.0)]
    cpu_limit: f32,
    /// Where the guard reads thermal zones [default: /sys].
    #[arg(long)]
    sysfs_root: Option<PathBuf>,
    /// Where the guard reads meminfo and stat [default: /proc].
    #[arg(long)]
    procfs_root: Option<PathBuf>,
}

impl GuardArgs {
    /// The guard's part of the launch line, ending in a link; empty with --no-guard.
    fn launch(&self, report_interval: f64) -> String {
        if self.no_guard {
            return String::new();
        }
        let root = |name: &str, p: &Option<PathBuf>| {
            p.as_ref()
                .map(|p| format!(" {name}={}", quote(p)))
                .unwrap_or_default()
        };
        format!(
            "jetsonguard name=guard mode={} temp-limit={} temp-pause-limit={} memory-limit={} cpu-limit={} report-interval={report_interval} print-stats=true{}{} ! ",
            self.guard_mode,
            self.temp_limit,
            self.temp_pause_limit,
            self.memory_limit,
            self.cpu_limit,
            root("sysfs-root", &self.sysfs_root),
            root("procfs-root", &self.procfs_root),
        )
    }
}

/// `--preset accurate`'s models, looked up in the model folders, which set-up fills. NanoDet
/// (Apache-2.0) rather than CenterNet (no licence upstream): on the COCO development photos
/// it scored 0.468 against 0.475 OKS AP, at 4.0 against 4.6 FPS on the street clip (it finds
/// more weak regions there); `--detector centernet-512x512.onnx` picks the other.
const ACCURATE_DETECTOR: &str = "nanodet-416x416.onnx";
const ACCURATE_POSE: &str = "movenet-thunder-256x256.onnx";
/// The detector's minimum person score in that preset: low, because the pose network's
/// score then joins it (objects mode's min-person-score applies to the joined score), so a
/// real person the detector is unsure of is kept.
const ACCURATE_DETECTOR_SCORE: f32 = 0.2;

/// The pose network's precision in the accurate preset: its int8 copy (set-up makes one for
/// thunder), which the CPU runs 1.4x faster at the same accuracy, when it is there (a GPU
/// backend runs the float model either way); else float, without the element's warning about
/// a missing copy.
fn precision_for(model: &Path) -> &'static str {
    if gsttrtpose::quantize::int8_path(model).is_file() {
        "int8"
    } else {
        "fp32"
    }
}

/// The still-image formats read and written, by extension.
fn image_kind(path: &Path) -> Option<&'static str> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    match ext.as_str() {
        "jpg" | "jpeg" => Some("jpg"),
        "png" => Some("png"),
        _ => None,
    }
}

impl Args {
    fn output(&self) -> PathBuf {
        self.output.clone().unwrap_or_else(|| {
            let stem = self
                .input
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or("out".into());
            let ext = image_kind(&self.input).unwrap_or("mp4");
            self.input.with_file_name(format!("{stem}_pose.{ext}"))
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

/// The decoder for the input. A JPEG photo goes through libav's decoder, which keeps the
/// full chroma of 4:4:4 JPEGs (COCO's photos are all 4:4:4), then to RGB; `jpegdec` would halve
/// it into I420 with its fast inexact IDCT, which cost the accurate preset 0.017 OKS AP on the
/// COCO development photos (0.476 against 0.459). Anything else: `decodebin`.
fn decoder(input: &Path) -> &'static str {
    match image_kind(input) {
        Some("jpg") if gst::ElementFactory::find("avdec_mjpeg").is_some() => {
            "jpegparse ! avdec_mjpeg ! videoconvert ! video/x-raw,format=RGB"
        }
        Some("jpg") => "jpegdec idct-method=islow",
        _ => "decodebin",
    }
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
    // Before any thread starts: threads inherit the affinity of the one that creates them.
    let cpus = match &args.cpus {
        Some(list) => Some(pin_to_cpus(list)?),
        None => None,
    };
    gst::init().map_err(|e| e.to_string())?;
    gsttrtpose::plugin_register_static().map_err(|e| e.to_string())?;
    if !args.input.is_file() {
        return Err(format!("input {} not found", args.input.display()));
    }
    // A still image is one frame: encoded as the output's picture format, not as video.
    let (encode, video) = match image_kind(&args.input) {
        Some(_) => match image_kind(output) {
            Some("jpg") => ("jpegenc", output.to_path_buf()),
            Some(_) => ("pngenc", output.to_path_buf()),
            None => {
                return Err(format!(
                    "{} is a still image: the output must be .png or .jpg, not {}",
                    args.input.display(),
                    output.display()
                ));
            }
        },
        None => encoder(output),
    };
    let accurate = args.preset == "accurate";
    if args.detector.is_some() && !accurate {
        return Err("--detector goes with --preset accurate".into());
    }
    let model = match (&args.model, accurate) {
        (Some(m), _) => m.clone(),
        (None, false) => gsttrtpose::locate::default_model().map_err(|e| e.to_string())?,
        (None, true) => gsttrtpose::locate::model(ACCURATE_POSE).map_err(|e| e.to_string())?,
    };
    let detector = match (&args.detector, accurate) {
        (Some(d), _) => Some(d.clone()),
        (None, true) => {
            Some(gsttrtpose::locate::model(ACCURATE_DETECTOR).map_err(|e| e.to_string())?)
        }
        (None, false) => None,
    };
    if let Some(dir) = output.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }

    let ort = args
        .ort_library
        .as_ref()
        .map(|p| format!(" ort-library={}", quote(p)))
        .unwrap_or_default();
    // One inference thread per core it may use, unless told otherwise.
    let threads = args
        .threads
        .unwrap_or_else(|| cpus.as_ref().map_or(0, |c| c.len() as u32));
    let json = args.json();
    let engine = format!("backend={} threads={threads}{ort}", args.backend);
    // accurate: the detector finds people on the frame (every --interval frames); the pose
    // network runs on a crop of each, on every frame, and reports the frames.
    let infer = match &detector {
        None => format!(
            "trtposeinfer name=infer model={} input-size={} interval={} {engine} json-output={}",
            quote(&model),
            args.input_size,
            args.interval,
            quote(&json)
        ),
        Some(d) => format!(
            "trtposeinfer name=detect model={} interval={} min-person-score={ACCURATE_DETECTOR_SCORE} post-messages=false {engine} \
             ! trtposeinfer name=infer model={} process-mode=objects precision={} {engine} json-output={}",
            quote(d),
            args.interval,
            quote(&model),
            precision_for(&model),
            quote(&json)
        ),
    };
    let desc = format!(
        "filesrc location={} ! {} ! {}{infer} ! poseoverlay ! videoconvert ! {encode} ! filesink location={}",
        quote(&args.input),
        decoder(&args.input),
        args.guard.launch(args.report_interval),
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
    let mut progress = Progress::new(Instant::now(), args);
    let result = watch(&pipeline, &infer, args.frames, &mut progress);
    // Read before stopping: a stopped element has no active backend.
    let backend = infer
        .property::<Option<String>>("active-backend")
        .unwrap_or_default();
    pipeline
        .set_state(gst::State::Null)
        .map_err(|e| e.to_string())?;
    result?;
    print_final_stats(&progress, &backend, threads, cpus.as_deref());
    let what = if image_kind(&args.input).is_some() {
        "image"
    } else {
        "video"
    };
    println!("{what}: {}\njson:  {}", video.display(), json.display());
    Ok(())
}

/// Restricts this thread, and so every thread it starts, to the CPUs of `list`.
fn pin_to_cpus(list: &str) -> Result<Vec<usize>, String> {
    gsttrtpose::cpuset::pin_to(list).map_err(|e| format!("--cpus: {e}"))
}

/// The process's peak resident memory (VmHWM) in kB.
fn peak_memory_kb() -> Option<u64> {
    std::fs::read_to_string("/proc/self/status")
        .ok()?
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
}

/// The guard's totals from its `jetsonguard-summary` message.
#[derive(Debug, Default)]
struct GuardSummary {
    max_temp: Option<f64>,
    throttled_s: f64,
    paused_s: f64,
}

/// What the bus has told so far.
#[derive(Debug)]
struct Progress {
    start: Instant,
    frames: u64,
    people_total: u64,
    max_people: u32,
    /// Frames in the file, once its duration and rate are known.
    duration_frames: Option<u64>,
    /// The guard prints the progress lines itself; without it, a line a second here.
    guarded: bool,
    report_interval: f64,
    /// Start of the current FPS window and the frames then.
    window: (Instant, u64),
    /// Lowest FPS of a whole report window.
    min_fps: Option<f64>,
    guard: Option<GuardSummary>,
}

impl Progress {
    fn new(start: Instant, args: &Args) -> Self {
        Progress {
            start,
            frames: 0,
            people_total: 0,
            max_people: 0,
            duration_frames: None,
            guarded: !args.guard.no_guard,
            report_interval: args.report_interval,
            window: (start, 0),
            min_fps: None,
            guard: None,
        }
    }

    /// Closes the FPS window once it is a report interval long.
    fn close_window(&mut self, now: Instant) {
        let secs = now.saturating_duration_since(self.window.0).as_secs_f64();
        if self.report_interval <= 0.0 || secs < self.report_interval {
            return;
        }
        let fps = (self.frames - self.window.1) as f64 / secs;
        self.min_fps = Some(self.min_fps.map_or(fps, |m| m.min(fps)));
        self.window = (now, self.frames);
    }

    /// Takes one `trtposeinfer` frame message.
    fn frame(&mut self, people: u32) {
        self.frames += 1;
        self.people_total += people as u64;
        self.max_people = self.max_people.max(people);
        self.close_window(Instant::now());
    }

    fn guard_summary(&mut self, s: &gst::StructureRef) {
        self.guard = Some(GuardSummary {
            max_temp: s.get::<f64>("max-temperature").ok(),
            throttled_s: s.get::<f64>("throttled-seconds").unwrap_or_default(),
            paused_s: s.get::<f64>("paused-seconds").unwrap_or_default(),
        });
    }
}

fn print_final_stats(p: &Progress, backend: &str, threads: u32, cpus: Option<&[usize]>) {
    let secs = p.start.elapsed().as_secs_f64();
    let avg = p.frames as f64 / secs.max(1e-9);
    let (frames, people_total, max_people) = (p.frames, p.people_total, p.max_people);
    println!(
        "done: {frames} frames in {secs:.1} s ({avg:.2} FPS), {people_total} people found (up to {max_people} in a frame), backend {backend}",
    );
    println!("Final statistics:");
    println!("  Frames: {frames}");
    println!("  Time: {secs:.1} s");
    println!("  Average FPS: {avg:.2}");
    match p.min_fps {
        Some(m) => println!("  Minimum FPS: {m:.2} (per {} s window)", p.report_interval),
        None => println!(
            "  Minimum FPS: n/a (run shorter than one {} s window)",
            p.report_interval
        ),
    }
    println!("  People: {people_total} (up to {max_people} in a frame)");
    println!("  Backend: {backend}");
    if let Some(g) = &p.guard {
        match g.max_temp {
            Some(t) => println!("  Max temperature: {t:.1}°C"),
            None => println!("  Max temperature: unknown (no thermal zone)"),
        }
        println!("  Time throttled: {:.1} s", g.throttled_s);
        println!("  Time paused: {:.1} s", g.paused_s);
    }
    if let Some(kb) = peak_memory_kb() {
        println!("  Peak memory: {:.1} MB (VmHWM)", kb as f64 / 1024.0);
    }
    let cpus = cpus.map_or_else(gsttrtpose::cpuset::allowed, <[usize]>::to_vec);
    let list: Vec<String> = cpus.iter().map(usize::to_string).collect();
    println!("  CPUs: {} ({})", cpus.len(), list.join(","));
    match threads {
        0 => println!("  Inference threads: ONNX Runtime's choice"),
        n => println!("  Inference threads: {n}"),
    }
}

/// Follows the bus until EOS or an error, printing progress and ending the stream cleanly
/// after `stop_after` frames.
fn watch(
    pipeline: &gst::Pipeline,
    infer: &gst::Element,
    stop_after: Option<u64>,
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
                let Some(s) = e.structure() else { continue };
                match s.name().as_str() {
                    "trtposeinfer" => on_frame(pipeline, infer, stop_after, p, s, &mut last_print),
                    "jetsonguard-state" => println!(
                        "guard: {} -> {} ({})",
                        s.get::<&str>("old-state").unwrap_or("?"),
                        s.get::<&str>("new-state").unwrap_or("?"),
                        s.get::<&str>("reason").unwrap_or("")
                    ),
                    "jetsonguard-summary" => p.guard_summary(s),
                    _ => {}
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

/// Counts a frame, stops after `stop_after` and, without the guard, prints a line a second.
fn on_frame(
    pipeline: &gst::Pipeline,
    infer: &gst::Element,
    stop_after: Option<u64>,
    p: &mut Progress,
    s: &gst::StructureRef,
    last_print: &mut Instant,
) {
    let n = s.get::<u32>("num-people").unwrap_or(0);
    p.frame(n);
    if stop_after == Some(p.frames) {
        // Finish cleanly so the muxer writes a playable file.
        pipeline.send_event(gst::event::Eos::new());
    }
    if p.guarded {
        return;
    }
    if p.duration_frames.is_none() {
        p.duration_frames = duration_frames(pipeline, infer);
    }
    // Frames already in flight when --frames was reached are not progress.
    let past_end = stop_after.is_some_and(|n| p.frames > n);
    if past_end || last_print.elapsed() < Duration::from_secs(1) {
        return;
    }
    *last_print = Instant::now();
    let fps = p.frames as f64 / p.start.elapsed().as_secs_f64();
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
