// SPDX-License-Identifier: MPL-2.0
//! Reliability: state cycles, seeks, EOS, several instances, live sources, caps changes,
//! extreme frame sizes, untimestamped buffers and broken models. Every case ends in data or a
//! clear error/warning: no panic, no hang.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::quote as q;
use gst::prelude::*;
use gsttrtpose::meta;

fn init() {
    // ONNX Runtime from the test venv before the element would pick one.
    common::runtime();
    common::init_gst();
}

fn model256() -> PathBuf {
    common::model("movenet-multipose-256x256.onnx")
}

fn launch(desc: &str) -> gst::Pipeline {
    init();
    common::launch(desc)
}

#[test]
fn flushing_seeks_during_playback_keep_metadata_coming() {
    let p = launch(&format!(
        "filesrc location={} ! matroskademux ! vp8dec ! trtposeinfer model={} ! appsink name=sink sync=false max-buffers=2",
        q(&common::media("vtest_walk_10s.webm")),
        q(&model256())
    ));
    let sink = common::by_name::<gst_app::AppSink>(&p, "sink");
    p.set_state(gst::State::Playing).unwrap();
    for _ in 0..5 {
        sink.pull_sample().unwrap();
    }
    for target in [6u64, 2, 8] {
        p.seek_simple(
            gst::SeekFlags::FLUSH | gst::SeekFlags::ACCURATE,
            gst::ClockTime::from_seconds(target),
        )
        .unwrap();
        let s = sink.pull_sample().unwrap();
        let pts = s.buffer().unwrap().pts().unwrap();
        assert!(
            pts >= gst::ClockTime::from_seconds(target),
            "pts {pts} after seek to {target}s"
        );
        assert!(
            !meta::read(s.buffer().unwrap()).is_empty(),
            "people after the seek"
        );
    }
    let mut rest = 0;
    while sink.pull_sample().is_ok() {
        rest += 1;
    }
    assert!(rest > 0);
    let err = p.bus().unwrap().pop_filtered(&[gst::MessageType::Error]);
    assert!(err.is_none(), "{err:?}");
    p.set_state(gst::State::Null).unwrap();
}

#[test]
fn eos_right_after_frames_delivers_all_of_them() {
    let (w, h, rgb) = common::load_png_rgb(&common::media("frames/vtest_walk_10s_frame050.png"));
    let p = launch(&format!(
        "appsrc name=src format=time caps=video/x-raw,format=RGB,width={w},height={h},framerate=10/1 ! trtposeinfer model={} ! appsink name=sink sync=false",
        q(&model256())
    ));
    let src = common::by_name::<gst_app::AppSrc>(&p, "src");
    let sink = common::by_name::<gst_app::AppSink>(&p, "sink");
    p.set_state(gst::State::Playing).unwrap();
    for i in 0..3u64 {
        let mut b = gst::Buffer::from_slice(rgb.clone());
        b.get_mut()
            .unwrap()
            .set_pts(gst::ClockTime::from_mseconds(100 * i));
        src.push_buffer(b).unwrap();
    }
    src.end_of_stream().unwrap();
    let mut n = 0;
    while let Ok(s) = sink.pull_sample() {
        assert!(!meta::read(s.buffer().unwrap()).is_empty());
        n += 1;
    }
    assert_eq!(n, 3);
    p.set_state(gst::State::Null).unwrap();
}

#[test]
fn four_instances_in_one_process_share_the_runtime() {
    init();
    let frame = common::media("frames/vtest_walk_10s_frame050.png");
    let model = model256();
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let (frame, model) = (frame.clone(), model.clone());
            std::thread::spawn(move || {
                let p = launch(&format!(
                    "filesrc location={} ! pngdec ! imagefreeze num-buffers=4 ! trtposeinfer model={} ! appsink name=sink sync=false",
                    q(&frame),
                    q(&model)
                ));
                let sink = common::by_name::<gst_app::AppSink>(&p, "sink");
                p.set_state(gst::State::Playing).unwrap();
                let mut counts = Vec::new();
                while let Ok(s) = sink.pull_sample() {
                    counts.push(meta::read(s.buffer().unwrap()).len());
                }
                p.set_state(gst::State::Null).unwrap();
                counts
            })
        })
        .collect();
    let results: Vec<Vec<usize>> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert!(
        results
            .iter()
            .all(|r| r.len() == 4 && r == &results[0] && r[0] > 0),
        "{results:?}"
    );
}

#[test]
fn live_source_with_interval_and_leaky_queue_runs_clean() {
    let p = launch(&format!(
        "videotestsrc is-live=true pattern=ball ! video/x-raw,width=320,height=240,framerate=30/1 ! queue leaky=downstream max-size-buffers=1 ! trtposeinfer model={} interval=2 ! fakesink sync=true",
        q(&model256())
    ));
    p.set_state(gst::State::Playing).unwrap();
    // Wait for frames rather than for a fixed time: a loaded machine is slower, not wrong.
    let bus = p.bus().unwrap();
    let mut reused = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while reused.len() < 12 {
        assert!(
            std::time::Instant::now() < deadline,
            "only {} frames in 60 s",
            reused.len()
        );
        let Some(m) = bus.timed_pop(gst::ClockTime::from_mseconds(100)) else {
            continue;
        };
        if let gst::MessageView::Error(e) = m.view() {
            panic!("{}", e.error());
        }
        if let Some(s) = m.structure().filter(|s| s.name() == "trtposeinfer") {
            reused.push(s.get::<bool>("reused").unwrap());
        }
    }
    assert!(
        reused.chunks_exact(2).all(|c| !c[0] && c[1]),
        "network on every other frame: {reused:?}"
    );
    p.set_state(gst::State::Null).unwrap();
}

#[test]
fn caps_change_mid_stream_rescales_coordinates() {
    let (w, h, rgb) = common::load_png_rgb(&common::media("frames/vtest_walk_10s_frame050.png"));
    // Half size by 2x2 averaging, as a second, different stream.
    let (hw, hh) = (w / 2, h / 2);
    let mut half = vec![0u8; hw * hh];
    for y in 0..hh {
        for x in 0..hw {
            let mut acc = 0u32;
            for (dy, dx, c) in
                (0..2).flat_map(|dy| (0..2).flat_map(move |dx| (0..3).map(move |c| (dy, dx, c))))
            {
                acc += rgb[((2 * y + dy) * w + 2 * x + dx) * 3 + c] as u32;
            }
            half[y * hw + x] = (acc / 12) as u8;
        }
    }
    let p = launch(&format!(
        "appsrc name=src format=time ! trtposeinfer model={} ! appsink name=sink sync=false",
        q(&model256())
    ));
    let src = common::by_name::<gst_app::AppSrc>(&p, "src");
    let sink = common::by_name::<gst_app::AppSink>(&p, "sink");
    p.set_state(gst::State::Playing).unwrap();
    src.set_caps(Some(
        &gst::Caps::builder("video/x-raw")
            .field("format", "RGB")
            .field("width", w as i32)
            .field("height", h as i32)
            .field("framerate", gst::Fraction::new(10, 1))
            .build(),
    ));
    src.push_buffer(gst::Buffer::from_slice(rgb)).unwrap();
    let full = meta::read(sink.pull_sample().unwrap().buffer().unwrap());
    src.set_caps(Some(
        &gst::Caps::builder("video/x-raw")
            .field("format", "GRAY8")
            .field("width", hw as i32)
            .field("height", hh as i32)
            .field("framerate", gst::Fraction::new(10, 1))
            .build(),
    ));
    src.push_buffer(gst::Buffer::from_slice(half)).unwrap();
    let small = meta::read(sink.pull_sample().unwrap().buffer().unwrap());
    src.end_of_stream().unwrap();
    p.set_state(gst::State::Null).unwrap();
    let best = |v: &[Result<meta::PoseRecord, meta::MetaError>]| {
        v.first().unwrap().as_ref().unwrap().person.bbox
    };
    let (a, b) = (best(&full), best(&small));
    // The strongest person is the same one, at half the coordinates.
    let scaled = gsttrtpose::pose::BBox {
        x0: a.x0 / 2.0,
        y0: a.y0 / 2.0,
        x1: a.x1 / 2.0,
        y1: a.y1 / 2.0,
    };
    assert!(scaled.iou(&b) > 0.6, "{scaled:?} vs {b:?}");
}

#[test]
fn extreme_frame_sizes_pass_through_both_elements() {
    for (w, h) in [(1, 1), (2, 3), (7680, 4320)] {
        let p = launch(&format!(
            "videotestsrc num-buffers=1 ! video/x-raw,format=I420,width={w},height={h} ! trtposeinfer model={} ! poseoverlay ! appsink name=sink sync=false",
            q(&model256())
        ));
        let sink = common::by_name::<gst_app::AppSink>(&p, "sink");
        p.set_state(gst::State::Playing).unwrap();
        let s = sink
            .pull_sample()
            .unwrap_or_else(|_| panic!("{w}x{h}: no frame"));
        let info = gst_video::VideoInfo::from_caps(s.caps().unwrap()).unwrap();
        assert_eq!((info.width(), info.height()), (w, h));
        p.set_state(gst::State::Null).unwrap();
    }
}

#[test]
fn untimestamped_buffers_get_metadata_and_null_json_pts() {
    let (w, h, rgb) = common::load_png_rgb(&common::media("frames/vtest_walk_10s_frame050.png"));
    let json = std::env::temp_dir().join(format!("trtpose-nopts-{}.jsonl", std::process::id()));
    let p = launch(&format!(
        "appsrc name=src caps=video/x-raw,format=RGB,width={w},height={h},framerate=0/1 ! trtposeinfer model={} json-output={} ! appsink name=sink sync=false",
        q(&model256()),
        q(&json)
    ));
    let src = common::by_name::<gst_app::AppSrc>(&p, "src");
    let sink = common::by_name::<gst_app::AppSink>(&p, "sink");
    p.set_state(gst::State::Playing).unwrap();
    src.push_buffer(gst::Buffer::from_slice(rgb)).unwrap();
    let s = sink.pull_sample().unwrap();
    assert!(s.buffer().unwrap().pts().is_none());
    assert!(!meta::read(s.buffer().unwrap()).is_empty());
    src.end_of_stream().unwrap();
    while sink.pull_sample().is_ok() {}
    p.set_state(gst::State::Null).unwrap();
    let line: serde_json::Value = serde_json::from_str(
        std::fs::read_to_string(&json)
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert!(line["pts"].is_null());
    let _ = std::fs::remove_file(json);
}

fn broken_model(flavor: &str, dir: &Path) -> PathBuf {
    let out = dir.join(format!("{flavor}.onnx"));
    let status = std::process::Command::new(common::manifest_dir().join(".venv/bin/python"))
        .arg(common::manifest_dir().join("models/tools/make_trt_pose_onnx.py"))
        .args(["broken", flavor, "-o"])
        .arg(&out)
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    out
}

#[test]
fn broken_models_are_refused_or_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let src = "videotestsrc num-buffers=3 ! video/x-raw,width=64,height=64";
    // NaN/Inf outputs: the stream runs, with one warning naming the model and output.
    let nan = broken_model("nan", dir.path());
    let (errors, warnings) = common::play_to_eos(&launch(&format!(
        "{src} ! trtposeinfer model={} ! fakesink",
        q(&nan)
    )));
    assert!(errors.is_empty(), "{errors:?}");
    let w: Vec<&String> = warnings.iter().filter(|w| w.contains("NaN/Inf")).collect();
    assert_eq!(w.len(), 1, "{warnings:?}");
    assert!(
        w[0].contains("nan.onnx") && w[0].contains("'cmap'"),
        "{}",
        w[0]
    );
    for (flavor, needle) in [
        ("notimage", "is not an image"),
        ("badrank", "cannot tell the model family"),
    ] {
        let model = broken_model(flavor, dir.path());
        let (errors, _) = common::play_to_eos(&launch(&format!(
            "{src} ! trtposeinfer model={} ! fakesink",
            q(&model)
        )));
        assert!(
            errors
                .iter()
                .any(|e| e.contains(needle) && e.contains(&format!("{flavor}.onnx"))),
            "{flavor}: {errors:?}"
        );
    }
}
