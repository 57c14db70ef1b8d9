// SPDX-License-Identifier: MPL-2.0
//! The README's main job and the file-to-file example, run as a user would.

mod common;

use std::process::Command;

fn frames_in(video: &std::path::Path) -> usize {
    gst::init().unwrap();
    use gst::prelude::*;
    let p = gst::parse::launch(&format!(
        "filesrc location=\"{}\" ! decodebin ! fakesink name=s",
        video.display()
    ))
    .unwrap();
    let sink = p.downcast_ref::<gst::Bin>().unwrap().by_name("s").unwrap();
    let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let c = count.clone();
    sink.static_pad("sink")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            c.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            gst::PadProbeReturn::Ok
        });
    p.set_state(gst::State::Playing).unwrap();
    let msg = p
        .bus()
        .unwrap()
        .timed_pop_filtered(
            gst::ClockTime::from_seconds(60),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        )
        .unwrap();
    assert!(matches!(msg.view(), gst::MessageView::Eos(_)), "{msg:?}");
    p.set_state(gst::State::Null).unwrap();
    count.load(std::sync::atomic::Ordering::Relaxed)
}

#[test]
fn trtpose_run_writes_an_annotated_video_and_json_lines() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("clip_pose.mp4");
    let o = Command::new(env!("CARGO_BIN_EXE_trtpose-run"))
        .arg(common::media("vtest_walk_10s.mp4"))
        .arg("--output")
        .arg(&out)
        .arg("--model")
        .arg(common::model("movenet-multipose.onnx"))
        .args(["--input-size", "256"])
        .env("ORT_DYLIB_PATH", common::runtime().library())
        .output()
        .unwrap();
    let text = common::output_text(&o);
    assert!(o.status.success(), "{text}");
    assert!(
        text.contains("done: 100 frames") && text.contains("backend cpu"),
        "{text}"
    );
    // x264enc is there when gst-plugins-ugly is installed (setup does); else WebM.
    let video = if out.exists() {
        out.clone()
    } else {
        out.with_extension("webm")
    };
    assert_eq!(frames_in(&video), 100, "every frame is in the output video");
    let json = std::fs::read_to_string(out.with_extension("jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 100);
    assert!(
        lines
            .iter()
            .filter(|l| !l["people"].as_array().unwrap().is_empty())
            .count()
            >= 90
    );
}

/// Width, height and RGB bytes of a PNG.
fn png_rgb(path: &std::path::Path) -> (usize, usize, Vec<u8>) {
    common::load_png_rgb(path)
}

#[test]
fn trtpose_run_annotates_a_still_image_with_one_json_record() {
    let dir = tempfile::tempdir().unwrap();
    let photo = common::media("basketball1.png");
    let out = dir.path().join("annotated.png");
    let json = dir.path().join("people.jsonl");
    let o = Command::new(env!("CARGO_BIN_EXE_trtpose-run"))
        .arg(&photo)
        .arg("--output")
        .arg(&out)
        .arg("--json")
        .arg(&json)
        .arg("--model")
        .arg(common::model("movenet-multipose.onnx"))
        .env("ORT_DYLIB_PATH", common::runtime().library())
        .output()
        .unwrap();
    let text = common::output_text(&o);
    assert!(o.status.success(), "{text}");
    assert!(
        text.contains("done: 1 frames") && text.contains("image: "),
        "{text}"
    );
    let records: Vec<serde_json::Value> = std::fs::read_to_string(&json)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 1, "one record for one picture");
    let people = records[0]["people"].as_array().unwrap();
    assert!(!people.is_empty(), "the photo has a player");
    // The picture keeps its size and gains skeletons: pixels change near the people only.
    let (w, h, original) = png_rgb(&photo);
    let (ow, oh, annotated) = png_rgb(&out);
    assert_eq!((ow, oh), (w, h));
    let changed = original
        .iter()
        .zip(&annotated)
        .filter(|(a, b)| a.abs_diff(**b) > 40)
        .count();
    assert!(changed > 500, "{changed} bytes changed: no skeletons drawn");
    assert!(changed < original.len() / 4, "{changed} bytes changed");
    // A still image cannot become a video.
    let o = Command::new(env!("CARGO_BIN_EXE_trtpose-run"))
        .arg(&photo)
        .arg("--output")
        .arg(dir.path().join("x.mp4"))
        .env("ORT_DYLIB_PATH", common::runtime().library())
        .output()
        .unwrap();
    let text = common::output_text(&o);
    assert!(!o.status.success());
    assert!(text.contains("must be .png or .jpg"), "{text}");
}

#[test]
fn trtpose_run_accurate_preset_poses_each_person_of_a_photo() {
    let dir = tempfile::tempdir().unwrap();
    let (out, json) = (dir.path().join("a.jpg"), dir.path().join("a.jsonl"));
    // The preset finds its models in the model folders, as after set-up. Set-up converts
    // NanoDet; without it (CI sets up without models) the shared CenterNet is named instead.
    let nanodet = common::manifest_dir().join("data/models/nanodet-416x416.onnx");
    let detector = if nanodet.is_file() {
        nanodet
    } else {
        common::model("centernet-512x512.onnx")
    };
    let folder = detector.parent().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_trtpose-run"));
    cmd.args(["--preset", "accurate"])
        .arg(common::media("basketball1.png"))
        .arg("--output")
        .arg(&out)
        .arg("--json")
        .arg(&json)
        .env("TRTPOSE_MODELS", folder)
        .env("ORT_DYLIB_PATH", common::runtime().library());
    if !detector.ends_with("nanodet-416x416.onnx") {
        cmd.arg("--detector").arg(&detector);
    }
    let thunder = common::model("movenet-thunder-256x256.onnx");
    if thunder.parent() != Some(folder) {
        cmd.arg("--model").arg(&thunder);
    }
    let o = cmd.output().unwrap();
    let text = common::output_text(&o);
    assert!(o.status.success(), "{text}");
    let line = std::fs::read_to_string(&json).unwrap();
    assert_eq!(line.lines().count(), 1, "one record for one picture");
    let record: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
    assert_eq!(record["topology"], "coco17");
    let people = record["people"].as_array().unwrap();
    // Both men, the one cut by the right border included, with their keypoints.
    assert_eq!(people.len(), 2, "{record}");
    for p in people {
        let good = p["keypoints"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|k| k["score"].as_f64().unwrap_or(0.0) >= 0.3)
            .count();
        assert!(good >= 8, "{good} keypoints ≥ 0.3: {p}");
    }
    assert!(out.metadata().unwrap().len() > 10_000, "the annotated JPEG");
    // A detector needs the accurate preset.
    let o = Command::new(env!("CARGO_BIN_EXE_trtpose-run"))
        .arg(common::media("basketball1.png"))
        .arg("--detector")
        .arg(&detector)
        .env("ORT_DYLIB_PATH", common::runtime().library())
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(common::output_text(&o).contains("--preset accurate"));
}

#[test]
fn trtpose_run_explains_a_missing_model() {
    let o = Command::new(env!("CARGO_BIN_EXE_trtpose-run"))
        .arg(common::media("vtest_walk_10s.mp4"))
        .args(["--model", "/nonexistent/model.onnx", "--output"])
        .arg(std::env::temp_dir().join("trtpose-missing-model.mp4"))
        .env("ORT_DYLIB_PATH", common::runtime().library())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        text.contains("/nonexistent/model.onnx") && text.contains("does not exist"),
        "{text}"
    );
    assert!(
        !std::env::temp_dir()
            .join("trtpose-missing-model.mp4")
            .exists(),
        "no empty video left behind"
    );
}

#[test]
fn file_to_file_example_pipeline_runs() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("example/out.mp4");
    // The example finds the plugin through GST_PLUGIN_PATH: give it the fresh library only.
    let exe = std::env::current_exe().unwrap();
    let plugins = tempfile::tempdir().unwrap();
    std::fs::copy(
        exe.parent().unwrap().join("libgsttrtpose.so"),
        plugins.path().join("libgsttrtpose.so"),
    )
    .unwrap();
    let o = Command::new("bash")
        .arg(common::manifest_dir().join("pipelines/file-to-file.sh"))
        .arg(common::media("vtest_walk_10s.webm"))
        .arg(&out)
        .env("MODEL", common::model("movenet-multipose-256x256.onnx"))
        .env("GST_PLUGIN_PATH", plugins.path())
        .env("ORT_DYLIB_PATH", common::runtime().library())
        .output()
        .unwrap();
    let text = common::output_text(&o);
    assert!(o.status.success(), "{text}");
    assert_eq!(frames_in(&out), 100, "{text}");
    assert_eq!(
        std::fs::read_to_string(out.with_extension("jsonl"))
            .unwrap()
            .lines()
            .count(),
        100
    );
}
