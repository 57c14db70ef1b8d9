// SPDX-License-Identifier: MPL-2.0
//! INT8 on the CPU: `trtposeconvert quantize` writes MODEL.int8.onnx from real frames, and
//! `trtposeinfer precision=int8` runs it in a real pipeline, finding the people the float
//! model finds on a real photo; without the copy the element warns and runs float.

mod common;

use std::path::Path;
use std::process::Command;

use gst::prelude::*;
use gsttrtpose::pose::Person;

/// Calibration frames: the street clip's frames and the photos of the shared media.
fn calibration_dir() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    let media = common::shared_dir().join("media");
    let mut n = 0;
    for dir in [media.join("frames"), media.clone()] {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if matches!(p.extension().and_then(|x| x.to_str()), Some("png" | "jpg")) {
                std::fs::copy(&p, d.path().join(p.file_name().unwrap())).unwrap();
                n += 1;
            }
        }
    }
    assert!(n >= 4, "calibration frames in ../shared/media");
    d
}

/// People in a photo, with warnings, through `trtposeinfer model=… {props}`.
fn people(model: &Path, photo: &str, props: &str) -> (Vec<Person>, Vec<String>) {
    common::runtime();
    let p = common::launch(&format!(
        "filesrc location={} ! decodebin ! videoconvert ! video/x-raw,format=RGB ! trtposeinfer model={} threads=1 {props} ! appsink name=sink sync=false",
        common::quote(&common::media(photo)),
        common::quote(model)
    ));
    let sink: gst_app::AppSink = common::by_name(&p, "sink");
    p.set_state(gst::State::Playing).unwrap();
    let sample = sink.pull_sample().expect("a frame");
    let bus = p.bus().unwrap();
    let warnings: Vec<String> = std::iter::from_fn(|| bus.pop())
        .filter_map(|m| match m.view() {
            gst::MessageView::Warning(w) => Some(w.error().to_string()),
            _ => None,
        })
        .collect();
    p.set_state(gst::State::Null).unwrap();
    let found = gsttrtpose::meta::read(sample.buffer().unwrap())
        .into_iter()
        .map(|r| r.unwrap().person)
        .collect();
    (found, warnings)
}

#[test]
fn quantize_writes_an_int8_copy_that_precision_int8_runs_with_the_same_people() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("multipose.onnx");
    std::fs::copy(common::model("movenet-multipose-256x256.onnx"), &model).unwrap();
    let calib = calibration_dir();
    let out = Command::new(env!("CARGO_BIN_EXE_trtposeconvert"))
        .env("ORT_DYLIB_PATH", common::runtime().library())
        .arg("quantize")
        .arg(&model)
        .arg("--calibrate")
        .arg(calib.path())
        .output()
        .unwrap();
    let text = common::output_text(&out);
    assert!(out.status.success(), "{text}");
    let int8 = dir.path().join("multipose.int8.onnx");
    assert!(int8.is_file(), "{text}");
    assert!(
        text.contains("convolutions int8") && text.contains("per inference ("),
        "{text}"
    );
    assert!(
        std::fs::metadata(&int8).unwrap().len() < std::fs::metadata(&model).unwrap().len(),
        "int8 weights take less room"
    );

    let (float, _) = people(&model, "basketball1.png", "");
    let (quantized, warnings) = people(&model, "basketball1.png", "precision=int8");
    assert!(warnings.is_empty(), "{warnings:?}");
    // People above MoveNet's default score, 0.2.
    assert!(!float.is_empty(), "the photo has people");
    assert_eq!(float.len(), quantized.len());
    // The int8 copy ran (its numbers differ a little) and found the same people: each float
    // person has an int8 one whose keypoints lie within 4% of the frame on average.
    assert_ne!(float, quantized, "precision=int8 ran the float model");
    for f in &float {
        let best = quantized
            .iter()
            .map(|q| {
                let d: Vec<f32> = f
                    .keypoints
                    .iter()
                    .zip(&q.keypoints)
                    .filter_map(|(a, b)| {
                        let (a, b) = (a.as_ref()?, b.as_ref()?);
                        Some((a.x - b.x).hypot(a.y - b.y))
                    })
                    .collect();
                d.iter().sum::<f32>() / d.len().max(1) as f32
            })
            .fold(f32::INFINITY, f32::min);
        assert!(best < 0.04 * 640.0, "mean keypoint distance {best} px");
    }
}

#[test]
fn precision_int8_without_a_copy_warns_and_runs_the_float_model() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("plain.onnx");
    std::fs::copy(common::model("movenet-multipose-256x256.onnx"), &model).unwrap();
    let (float, _) = people(&model, "basketball1.png", "");
    let (fallback, warnings) = people(&model, "basketball1.png", "precision=int8");
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("no int8 copy") && w.contains("trtposeconvert quantize")),
        "{warnings:?}"
    );
    assert_eq!(float, fallback);
}

#[test]
fn quantize_refuses_a_folder_without_frames() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_trtposeconvert"))
        .env("ORT_DYLIB_PATH", common::runtime().library())
        .arg("quantize")
        .arg(common::model("movenet-multipose-256x256.onnx"))
        .arg("--calibrate")
        .arg(dir.path())
        .arg("-o")
        .arg(dir.path().join("x.onnx"))
        .output()
        .unwrap();
    let text = common::output_text(&out);
    assert!(!out.status.success());
    assert!(text.contains("no readable frames"), "{text}");
    assert!(!dir.path().join("x.onnx").exists());
}
