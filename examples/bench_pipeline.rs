// SPDX-License-Identifier: MPL-2.0
//! Raw inference vs the full GStreamer pipeline on the same model, threads and video.
//! Prints both FPS, their ratio, the CPU time per frame of each and of decoding the clip
//! alone (what bounds the ratio when the network already keeps every core busy), and the
//! peak RSS. Run through benches/pipeline.sh, which adds
//! the Python/OpenCV baseline.
//!
//! usage: bench_pipeline VIDEO MODEL [threads] [input-size]

use std::time::Instant;

use gst::prelude::*;
use gsttrtpose::engine::{EngineOptions, OrtEngine, OrtRuntime};
use gsttrtpose::frame::SourceFrame;
use gsttrtpose::model::{EstimatorConfig, PoseEstimator};
use gsttrtpose::preprocess::InputElem;

/// User + system CPU seconds of this process so far (all threads).
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage fills the zeroed struct it is given.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    tv(u.ru_utime) + tv(u.ru_stime)
}

/// Plays `launch` to the end; frames/s and CPU ms per frame between the first and the last
/// buffer reaching the sink `sink` (start-up excluded, as for the raw figure).
fn play_timed(launch: &str, sink: &str) -> (f64, f64, u64) {
    let pipeline = gst::parse::launch(launch).unwrap();
    let bus = pipeline.bus().unwrap();
    let counter = pipeline
        .clone()
        .downcast::<gst::Bin>()
        .unwrap()
        .by_name(sink)
        .unwrap();
    let pad = counter.static_pad("sink").unwrap();
    let arrivals = std::sync::Arc::new(std::sync::Mutex::new(Vec::<(Instant, f64)>::new()));
    let a2 = arrivals.clone();
    pad.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
        a2.lock().unwrap().push((Instant::now(), cpu_seconds()));
        gst::PadProbeReturn::Ok
    });
    pipeline.set_state(gst::State::Playing).unwrap();
    let msg = bus
        .timed_pop_filtered(
            gst::ClockTime::from_seconds(3600),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        )
        .unwrap();
    if let gst::MessageView::Error(e) = msg.view() {
        panic!("pipeline error: {}", e.error());
    }
    pipeline.set_state(gst::State::Null).unwrap();
    let arrivals = arrivals.lock().unwrap();
    let frames = arrivals.len() as u64;
    let (first, last) = (arrivals[0], arrivals[arrivals.len() - 1]);
    let span = last.0.duration_since(first.0).as_secs_f64();
    let steps = (frames - 1).max(1) as f64;
    (steps / span, (last.1 - first.1) * 1e3 / steps, frames)
}

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let video = args.get(1).expect("VIDEO");
    let model = args.get(2).expect("MODEL");
    let threads: u32 = args.get(3).map_or(2, |s| s.parse().unwrap());
    let input_size: u32 = args.get(4).map_or(256, |s| s.parse().unwrap());
    // More trtposeinfer properties for the pipeline, e.g. "overlap=true".
    let extra = args.get(5).map_or("", String::as_str);
    gst::init().unwrap();
    gsttrtpose::plugin_register_static().unwrap();

    // Frame size of the video, for the network input the pipeline will use.
    let probe = gst::parse::launch(&format!(
        "filesrc location=\"{video}\" ! decodebin ! videoconvert ! video/x-raw,format=RGB ! appsink name=s max-buffers=1"
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    probe.set_state(gst::State::Playing).unwrap();
    let sink = probe
        .by_name("s")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap();
    let sample = sink.pull_sample().expect("a first frame");
    let info = gst_video::VideoInfo::from_caps(sample.caps().unwrap()).unwrap();
    let map = sample.buffer().unwrap().map_readable().unwrap();
    let (fw, fh) = (info.width(), info.height());
    let frame_rgb = map.to_vec();
    let stride = info.stride()[0] as usize;
    drop(map);
    probe.set_state(gst::State::Null).unwrap();

    // Raw: the engine alone on a pre-made input of the pipeline's network size.
    let runtime = OrtRuntime::get(None).unwrap_or_else(|e| panic!("{e}"));
    let options = EngineOptions {
        threads: threads as usize,
        ..Default::default()
    };
    let engine = OrtEngine::load(runtime, model.as_ref(), &options, &mut Vec::new()).unwrap();
    let config = EstimatorConfig {
        input_size,
        ..Default::default()
    };
    let mut est = PoseEstimator::new(Box::new(engine), &config).unwrap();
    let geometry = est.geometry_for(fw, fh);
    let frame = SourceFrame::new(
        gsttrtpose::frame::PixelFormat::Rgb,
        fw as usize,
        fh as usize,
        vec![(&frame_rgb, stride)],
    )
    .unwrap();
    let mut pre = gsttrtpose::preprocess::Preprocessor::new();
    let plan_input = est.plan().input;
    let (input, shape) = pre.run(&frame, &geometry, &plan_input);
    let (f32s, i32s, shape) = match input {
        gsttrtpose::engine::InputData::F32(d) => (d.to_vec(), Vec::new(), shape.to_vec()),
        gsttrtpose::engine::InputData::I32(d) => (Vec::new(), d.to_vec(), shape.to_vec()),
    };
    let run_raw = |est: &mut PoseEstimator| {
        let data = if plan_input.elem == InputElem::I32 {
            gsttrtpose::engine::InputData::I32(&i32s)
        } else {
            gsttrtpose::engine::InputData::F32(&f32s)
        };
        est.run_engine(data, &shape).unwrap();
    };
    for _ in 0..5 {
        run_raw(&mut est);
    }
    let n_raw = 60;
    let (t, cpu0) = (Instant::now(), cpu_seconds());
    for _ in 0..n_raw {
        run_raw(&mut est);
    }
    let raw_fps = n_raw as f64 / t.elapsed().as_secs_f64();
    let raw_cpu_ms = (cpu_seconds() - cpu0) * 1e3 / n_raw as f64;
    drop(est);

    // Pipeline: decode → trtposeinfer → poseoverlay, no encoder (the baseline has none).
    let (pipe_fps, pipe_cpu_ms, frames) = play_timed(
        &format!(
            "filesrc location=\"{video}\" ! decodebin ! queue max-size-buffers=4 ! trtposeinfer model=\"{model}\" threads={threads} input-size={input_size} post-messages=false {extra} ! queue max-size-buffers=4 ! poseoverlay ! fakesink sync=false"
        ),
        "fakesink0",
    );
    // What the pipeline does besides the network: decoding the clip alone.
    let (decode_fps, decode_cpu_ms, _) = play_timed(
        &format!(
            "filesrc location=\"{video}\" ! decodebin ! queue max-size-buffers=4 ! fakesink name=d sync=false"
        ),
        "d",
    );
    println!(
        "video {video} ({fw}x{fh}), model {model}, network input {}x{}, threads {threads}",
        geometry.input_w, geometry.input_h
    );
    println!(
        "raw ORT inference : {raw_fps:8.2} FPS ({:.1} ms)",
        1e3 / raw_fps
    );
    println!("GStreamer pipeline: {pipe_fps:8.2} FPS ({frames} frames, decode + infer + overlay)");
    println!("pipeline / raw    : {:8.3}", pipe_fps / raw_fps);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "CPU ms per frame  : raw {raw_cpu_ms:.1}, pipeline {pipe_cpu_ms:.1}, decoding alone {decode_cpu_ms:.1} ({decode_fps:.0} FPS); {cores} cores"
    );
    println!("peak RSS          : {:8.1} MB", peak_rss_mb());
    println!(
        "RESULT raw_fps={raw_fps:.3} pipeline_fps={pipe_fps:.3} rss_mb={:.1}",
        peak_rss_mb()
    );
}
