// SPDX-License-Identifier: MPL-2.0
//! `models/tools/nanodet_rows.py` and the NanoDet detector chain without the real NanoDet
//! (which needs TensorFlow to convert): `make_nanodet_raw.py` builds a tiny seeded model with
//! the raw NanoDet interface, the wrapper turns it into `detections` rows, and
//! `tests/python/nanodet_reference.py` computes with numpy alone (no ONNX Runtime, none of the
//! product's code) what the rows and the element's boxes must be: letterbox (PIL's bilinear),
//! normalisation, the network, the documented decoding, threshold 0.3, NMS 0.5 and the mapping
//! back to frame pixels. Checked on a street photo and on a synthetic frame of bright squares.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use gst::prelude::*;
use gsttrtpose::engine::Engine;
use gsttrtpose::meta;
use gsttrtpose::tensor::{InputData, OutputBuffer};

const SEED: u32 = 7;
const INPUT: usize = 416;
/// Rows of the wrapped model: 52² + 26² + 13² cells.
const ROWS: usize = 3549;

/// A frame as packed RGB bytes.
struct Frame {
    name: &'static str,
    w: usize,
    h: usize,
    rgb: Vec<u8>,
}

/// The shared street photo (768x576: letterboxed with 52 px above and below).
fn photo() -> Frame {
    let (w, h, rgb) = common::load_png_rgb(&common::media("frames/vtest_walk_10s_frame050.png"));
    Frame {
        name: "vtest frame 50",
        w,
        h,
        rgb,
    }
}

/// Rectangles `(x0, y0, x1, y1)` of the synthetic frame and their colours: white, light green
/// and warm (all well above the person level), and a mid grey that scores below 0.3.
const WHITE: [usize; 4] = [40, 80, 100, 300];
const GREY: [usize; 4] = [130, 380, 200, 460];
const SQUARES: [([usize; 4], [u8; 3]); 4] = [
    (WHITE, [235, 235, 235]),
    ([150, 200, 190, 300], [200, 215, 185]),
    ([240, 60, 320, 260], [250, 200, 120]),
    (GREY, [140, 140, 140]),
];

/// A portrait 360x480 frame (letterboxed with 52 px left and right) of bright rectangles on
/// a dark background.
fn synthetic() -> Frame {
    let (w, h) = (360, 480);
    let mut rgb = vec![20u8; w * h * 3];
    for ([x0, y0, x1, y1], colour) in SQUARES {
        for y in y0..y1 {
            for x in x0..x1 {
                rgb[(y * w + x) * 3..][..3].copy_from_slice(&colour);
            }
        }
    }
    Frame {
        name: "synthetic",
        w,
        h,
        rgb,
    }
}

/// A script of the repository run with the setup's Python.
fn python(script: &str, args: &[&std::ffi::OsStr]) -> Output {
    let python = common::manifest_dir().join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} missing: run scripts/setup.sh",
        python.display()
    );
    std::process::Command::new(python)
        .arg(common::manifest_dir().join(script))
        .args(args)
        .output()
        .unwrap()
}

/// The synthetic raw model and its wrapped rows form, in `dir`.
fn models(dir: &Path) -> (PathBuf, PathBuf) {
    let raw = dir.join("nanodet-raw.onnx");
    let rows = dir.join("nanodet-rows.onnx");
    let seed = SEED.to_string();
    let o = python(
        "models/tools/make_nanodet_raw.py",
        &[raw.as_os_str(), "--seed".as_ref(), seed.as_ref()],
    );
    assert!(o.status.success(), "{}", common::output_text(&o));
    let o = python(
        "models/tools/nanodet_rows.py",
        &[raw.as_os_str(), rows.as_os_str()],
    );
    assert!(o.status.success(), "{}", common::output_text(&o));
    (raw, rows)
}

/// What the numpy reference wrote for one frame.
struct Reference {
    /// The letterboxed NHWC input, 0..255.
    input: Vec<f32>,
    /// `[ROWS, 6]` decoded rows in input pixels.
    rows: Vec<f32>,
    /// Kept boxes in frame pixels with their scores (`x0, y0, x1, y1, score`), best first.
    boxes: Vec<[f64; 5]>,
    margins: serde_json::Value,
    geometry: serde_json::Value,
}

fn reference(raw: &Path, frame: &Frame, dir: &Path) -> Reference {
    let out = dir.join(frame.name.replace(' ', "_"));
    let rgb = out.with_extension("rgb");
    std::fs::write(&rgb, &frame.rgb).unwrap();
    let (seed, w, h) = (SEED.to_string(), frame.w.to_string(), frame.h.to_string());
    let o = python(
        "tests/python/nanodet_reference.py",
        &[
            raw.as_os_str(),
            seed.as_ref(),
            rgb.as_os_str(),
            w.as_ref(),
            h.as_ref(),
            out.as_os_str(),
        ],
    );
    assert!(o.status.success(), "{}", common::output_text(&o));
    eprintln!("{}: {}", frame.name, common::output_text(&o).trim());
    let doc = common::read_json(&out.join("expected.json"));
    let boxes = doc["boxes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            let v: Vec<f64> = b
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect();
            v.try_into().unwrap()
        })
        .collect();
    Reference {
        input: common::read_f32(&out.join("input.f32")),
        rows: common::read_f32(&out.join("rows.f32")),
        boxes,
        margins: doc["margins"].clone(),
        geometry: doc["geometry"].clone(),
    }
}

#[test]
fn wrapped_rows_equal_the_numpy_decoding_of_the_raw_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let (raw, wrapped) = models(dir.path());
    let mut engine = common::cpu_engine(&wrapped);
    let input = &engine.inputs()[0];
    assert_eq!(
        (input.name.as_str(), input.shape.as_slice()),
        ("image", &[1, INPUT as i64, INPUT as i64, 3][..])
    );
    let names: Vec<_> = engine.outputs().iter().map(|o| o.name.clone()).collect();
    assert_eq!(names, ["detections"]);
    for frame in [photo(), synthetic()] {
        let r = reference(&raw, &frame, dir.path());
        assert_eq!(r.input.len(), INPUT * INPUT * 3);
        assert_eq!(r.rows.len(), ROWS * 6);
        let mut out: Vec<OutputBuffer> = Vec::new();
        engine
            .run(InputData::F32(&r.input), &[1, INPUT, INPUT, 3], &mut out)
            .unwrap();
        assert_eq!(out[0].shape, [1, ROWS, 6]);
        let (mut px, mut score) = (0f32, 0f32);
        for (i, (got, want)) in out[0]
            .data
            .chunks_exact(6)
            .zip(r.rows.chunks_exact(6))
            .enumerate()
        {
            for c in 0..4 {
                px = px.max((got[c] - want[c]).abs());
            }
            score = score.max((got[4] - want[4]).abs());
            assert_eq!(got[5], 0.0, "{}: row {i} class", frame.name);
            assert!(
                got.iter()
                    .zip(want)
                    .take(4)
                    .all(|(a, b)| (a - b).abs() <= 1e-3)
                    && (got[4] - want[4]).abs() <= 1e-5,
                "{}: row {i}: {got:?}, reference {want:?}",
                frame.name
            );
        }
        // The references are not degenerate: real boxes, people and background.
        let scores: Vec<f32> = r.rows.iter().skip(4).step_by(6).copied().collect();
        let above = scores.iter().filter(|&&s| s >= 0.3).count();
        assert!(
            (20..=ROWS / 4).contains(&above),
            "{}: {above} rows ≥ 0.3",
            frame.name
        );
        eprintln!(
            "{}: wrapped rows vs numpy: max |Δ| {px:.2e} px, {score:.2e} score ({above} rows ≥ 0.3)",
            frame.name
        );
    }
}

/// The people records `trtposeinfer model=<model>` attaches to `frame`.
fn element_people(model: &Path, frame: &Frame) -> Vec<meta::PoseRecord> {
    common::runtime();
    let p = common::launch(&format!(
        "appsrc name=src format=time caps=video/x-raw,format=RGB,width={},height={},framerate=1/1 ! trtposeinfer model={} ! appsink name=sink sync=false",
        frame.w,
        frame.h,
        common::quote(model)
    ));
    let src: gst_app::AppSrc = common::by_name(&p, "src");
    let sink: gst_app::AppSink = common::by_name(&p, "sink");
    p.set_state(gst::State::Playing).unwrap();
    let mut buf = gst::Buffer::from_slice(frame.rgb.clone());
    {
        let b = buf.get_mut().unwrap();
        b.set_pts(gst::ClockTime::ZERO);
        b.set_duration(gst::ClockTime::SECOND);
    }
    src.push_buffer(buf).unwrap();
    src.end_of_stream().unwrap();
    let sample = sink.pull_sample().unwrap_or_else(|e| {
        let err = p.bus().unwrap().pop_filtered(&[gst::MessageType::Error]);
        panic!("{}: no frame ({e}): {err:?}", frame.name)
    });
    let people = meta::read(sample.buffer().unwrap())
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    p.set_state(gst::State::Null).unwrap();
    people
}

#[test]
fn trtposeinfer_reads_the_wrapped_model_as_a_detector_and_finds_the_reference_boxes() {
    let dir = tempfile::tempdir().unwrap();
    let (raw, wrapped) = models(dir.path());
    let synthetic = synthetic();
    for frame in [photo(), synthetic] {
        let r = reference(&raw, &frame, dir.path());
        // Product and reference agree to ~1e-6 in score (see the first test): a decision
        // closer than this to flipping (a score at 0.3, two overlapping boxes' scores, an IoU
        // at 0.5) would make the comparison below a coin toss instead of a check.
        let m = |k: &str| r.margins[k].as_f64().unwrap();
        assert!(
            m("score_threshold") >= 2e-5 && m("score_order") >= 2e-5 && m("nms_iou") >= 1e-3,
            "{}: reference decisions too close to call: {}",
            frame.name,
            r.margins
        );
        let people = element_people(&wrapped, &frame);
        for p in &people {
            assert_eq!(
                p.topology, "boxes",
                "{}: not the detector family",
                frame.name
            );
            assert!(p.person.keypoints.is_empty() && p.keypoint_names.is_empty());
        }
        assert!(!r.boxes.is_empty());
        assert_eq!(
            people.len(),
            r.boxes.len(),
            "{}: {} people, the reference has {} boxes; geometry {}",
            frame.name,
            people.len(),
            r.boxes.len(),
            r.geometry
        );
        // One-to-one: each reference box has its own person at ≤ 2 px on every side with the
        // same score (neighbouring cells, so candidates, lie ≥ 9 frame px apart in these frames).
        let (mut px, mut score) = (0f64, 0f64);
        let mut used = vec![false; people.len()];
        for want in &r.boxes {
            let diff = |p: &meta::PoseRecord| {
                let b = p.person.bbox;
                [b.x0, b.y0, b.x1, b.y1]
                    .iter()
                    .zip(want)
                    .map(|(&a, &w)| (a as f64 - w).abs())
                    .fold(0.0, f64::max)
            };
            let (i, p) = people
                .iter()
                .enumerate()
                .filter(|(i, _)| !used[*i])
                .min_by(|a, b| diff(a.1).total_cmp(&diff(b.1)))
                .unwrap();
            used[i] = true;
            let s = (p.person.score as f64 - want[4]).abs();
            assert!(
                diff(p) <= 2.0 && s <= 1e-4,
                "{}: reference {want:?} nearest person {:?} score {}",
                frame.name,
                p.person.bbox,
                p.person.score
            );
            (px, score) = (px.max(diff(p)), score.max(s));
        }
        eprintln!(
            "{}: {} people match the reference: max |Δ| {px:.2e} px, {score:.2e} score; margins {}",
            frame.name,
            people.len(),
            r.margins
        );
        if frame.name == "synthetic" {
            // The model's design shows through the element: the best box comes from a stride-8
            // cell of the white square, sized by the favoured bins (2 + 4 strides wide, 3 + 6
            // high; 8 input px = 8 / 0.8667 frame px), its centre shifted by (1, 1.5) strides
            // from the cell's; every box centres near a bright square, none on the grey one.
            let best = &people[0].person;
            let cell = 8.0 * 480.0 / 416.0;
            let (w, h) = (best.bbox.width() / cell, best.bbox.height() / cell);
            assert!(
                best.score > 0.9 && (w - 6.0).abs() < 0.5 && (h - 9.0).abs() < 0.5,
                "best {best:?}: {w} x {h} strides"
            );
            let (cx, cy) = (
                (best.bbox.x0 + best.bbox.x1) / 2.0 - cell,
                (best.bbox.y0 + best.bbox.y1) / 2.0 - 1.5 * cell,
            );
            let [x0, y0, x1, y1] = WHITE.map(|v| v as f32);
            assert!(cx > x0 && cx < x1 && cy > y0 && cy < y1, "{best:?}");
            let within = |[x0, y0, x1, y1]: [usize; 4], pad: f32, x: f32, y: f32| {
                x > x0 as f32 - pad
                    && x < x1 as f32 + pad
                    && y > y0 as f32 - pad
                    && y < y1 as f32 + pad
            };
            for p in &people {
                let b = p.person.bbox;
                let (cx, cy) = ((b.x0 + b.x1) / 2.0, (b.y0 + b.y1) / 2.0);
                assert!(
                    SQUARES[..3].iter().any(|(r, _)| within(*r, 80.0, cx, cy))
                        && !within(GREY, 0.0, cx, cy),
                    "a box away from the bright squares: {b:?}"
                );
            }
        }
    }
}

#[test]
fn wrapping_an_already_wrapped_model_fails_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let (_, wrapped) = models(dir.path());
    let again = dir.path().join("again.onnx");
    let o = python(
        "models/tools/nanodet_rows.py",
        &[wrapped.as_os_str(), again.as_os_str()],
    );
    let text = common::output_text(&o);
    assert!(!o.status.success(), "{text}");
    assert!(
        text.contains("already the rows form") && !text.contains("Traceback"),
        "{text}"
    );
    assert!(!again.exists());
}
