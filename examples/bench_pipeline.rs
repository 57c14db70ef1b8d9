// SPDX-License-Identifier: MPL-2.0
//! Raw inference vs the full GStreamer pipeline on the same model, threads and video.
//! Prints both FPS, their ratio and the peak RSS. Run through benches/pipeline.sh, which adds
//! the Python/OpenCV baseline.
//!
//! usage: bench_pipeline VIDEO MODEL [threads] [input-size]

use std::time::Instant;

use gst::prelude::*;
use gsttrtpose::engine::{EngineOptions, OrtEngine, OrtRuntime};
use gsttrtpose::frame::SourceFrame;
use gsttrtpose::model::{EstimatorConfig, PoseEstimator};
use gsttrtpose::preprocess::InputElem;

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
    let t = Instant::now();
    for _ in 0..n_raw {
        run_raw(&mut est);
    }
    let raw_fps = n_raw as f64 / t.elapsed().as_secs_f64();
    drop(est);

    // Pipeline: decode → trtposeinfer → poseoverlay, no encoder (the baseline has none).
    let pipeline = gst::parse::launch(&format!(
        "filesrc location=\"{video}\" ! decodebin ! queue max-size-buffers=4 ! trtposeinfer model=\"{model}\" threads={threads} input-size={input_size} post-messages=false {extra} ! queue max-size-buffers=4 ! poseoverlay ! fakesink sync=false"
    ))
    .unwrap();
    let bus = pipeline.bus().unwrap();
    let counter = pipeline
        .clone()
        .downcast::<gst::Bin>()
        .unwrap()
        .by_name("fakesink0")
        .unwrap();
    let pad = counter.static_pad("sink").unwrap();
    // Arrival times at the sink: FPS from the first frame to the last, so model loading
    // (excluded from the raw figure too) does not count.
    let arrivals = std::sync::Arc::new(std::sync::Mutex::new(Vec::<Instant>::new()));
    let a2 = arrivals.clone();
    pad.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
        a2.lock().unwrap().push(Instant::now());
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
    let span = arrivals
        .last()
        .unwrap()
        .duration_since(arrivals[0])
        .as_secs_f64();
    let pipe_fps = (frames - 1) as f64 / span;
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
    println!("peak RSS          : {:8.1} MB", peak_rss_mb());
    println!(
        "RESULT raw_fps={raw_fps:.3} pipeline_fps={pipe_fps:.3} rss_mb={:.1}",
        peak_rss_mb()
    );
}
