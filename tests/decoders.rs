// SPDX-License-Identifier: MPL-2.0
//! MoveNet and PoseNet decoders against the reference outputs in ../shared/media/expected,
//! with ONNX Runtime fed the exact network inputs the references used.

mod common;

use gsttrtpose::engine::{Engine, InputData, OutputBuffer};
use gsttrtpose::pose::movenet::{decode_multipose, decode_singlepose};
use gsttrtpose::pose::posenet::{PoseNetDecoder, PoseNetOutputs, PoseNetParams};
use gsttrtpose::pose::{Geometry, Person, Topology};
use serde_json::Value;

fn geometry(run: &Value, frame_w: u32, frame_h: u32) -> Geometry {
    let p = &run["preprocess"];
    let g = |k: &str| p[k].as_f64().unwrap();
    Geometry {
        frame_w,
        frame_h,
        input_w: g("input_w") as u32,
        input_h: g("input_h") as u32,
        scale_x: g("scale") as f32,
        scale_y: g("scale") as f32,
        pad_x: g("pad_x") as u32,
        pad_y: g("pad_y") as u32,
        content_w: 0,
        content_h: 0,
    }
}

fn run_of<'a>(doc: &'a Value, id: &str) -> &'a Value {
    doc["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id)
        .unwrap()
}

use common::floats;

/// Every reference person (in order) must match ours: score within `score_tol`, every keypoint
/// within `px_tol` pixels and its score within `score_tol`.
fn assert_people_match(
    ours: &[Person],
    reference: &Value,
    px_tol: f32,
    score_tol: f32,
    label: &str,
) {
    let refs = reference.as_array().unwrap();
    assert_eq!(ours.len(), refs.len(), "{label}: person count");
    for (n, (p, r)) in ours.iter().zip(refs).enumerate() {
        let rs = r["score"].as_f64().unwrap() as f32;
        assert!(
            (p.score - rs).abs() <= score_tol,
            "{label} person {n}: score {} vs {rs}",
            p.score
        );
        for (k, rk) in r["keypoints"].as_array().unwrap().iter().enumerate() {
            let kp = p.keypoints[k]
                .unwrap_or_else(|| panic!("{label} person {n}: keypoint {k} missing"));
            let (rx, ry) = (
                rk["x"].as_f64().unwrap() as f32,
                rk["y"].as_f64().unwrap() as f32,
            );
            assert!(
                (kp.x - rx).abs() <= px_tol && (kp.y - ry).abs() <= px_tol,
                "{label} person {n} keypoint {k}: ({}, {}) vs ({rx}, {ry})",
                kp.x,
                kp.y
            );
            let rsc = rk["score"].as_f64().unwrap() as f32;
            assert!(
                (kp.score - rsc).abs() <= score_tol,
                "{label} person {n} kp {k} score"
            );
        }
    }
}

fn map_people(people: &mut [Person], g: &Geometry) {
    for p in people {
        p.map_to_frame(g);
    }
}

#[test]
fn movenet_multipose_decodes_reference_outputs_on_all_media() {
    let topo = Topology::coco17();
    for media in [
        "basketball1.json",
        "messi5.json",
        "astronaut.json",
        "grace_hopper.json",
    ] {
        let doc = common::expected(media);
        let (fw, fh) = (
            doc["width"].as_u64().unwrap() as u32,
            doc["height"].as_u64().unwrap() as u32,
        );
        for id in [
            "movenet-multipose-256x256",
            "movenet-multipose-dynamic-256",
            "movenet-multipose-dynamic-512",
        ] {
            let run = run_of(&doc, id);
            let mut people = Vec::new();
            decode_multipose(&floats(&run["output_0"]), &topo, 0.2, 0.0, &mut people);
            map_people(&mut people, &geometry(run, fw, fh));
            // References are rounded to 0.01 px and 1e-4 in score.
            assert_people_match(
                &people,
                &run["people"],
                0.02,
                2e-4,
                &format!("{media} {id}"),
            );
            for (p, r) in people.iter().zip(run["people"].as_array().unwrap()) {
                // MoveNet's own box, clipped to the frame as the element reports boxes.
                let b = floats(&r["bbox_xyxy"]);
                let (x0, y1) = (b[0].clamp(0.0, fw as f32), b[3].clamp(0.0, fh as f32));
                assert!(
                    (p.bbox.x0 - x0).abs() < 0.02 && (p.bbox.y1 - y1).abs() < 0.02,
                    "{media} {id}: {:?} vs {b:?}",
                    p.bbox
                );
            }
        }
    }
}

#[test]
fn movenet_singlepose_decodes_reference_output() {
    let topo = Topology::coco17();
    let doc = common::expected("astronaut.json");
    let run = run_of(&doc, "movenet-lightning-192x192");
    let mut people = Vec::new();
    decode_singlepose(&floats(&run["output_0"]), &topo, 0.0, 0.0, &mut people);
    map_people(&mut people, &geometry(run, 512, 512));
    assert_people_match(&people, &run["people"], 0.02, 2e-4, "astronaut lightning");
}

fn input_tensor(run: &Value) -> (usize, usize, Vec<u8>) {
    let png = common::shared_dir()
        .join("media/expected")
        .join(run["input_png"].as_str().unwrap());
    common::load_png_rgb(&png)
}

#[test]
fn movenet_inference_reproduces_reference_output() {
    let doc = common::expected("basketball1.json");
    for (id, model) in [
        (
            "movenet-multipose-256x256",
            "movenet-multipose-256x256.onnx",
        ),
        ("movenet-multipose-dynamic-256", "movenet-multipose.onnx"),
        (
            "movenet-lightning-192x192",
            "movenet-lightning-192x192.onnx",
        ),
    ] {
        let run = run_of(&doc, id);
        let (w, h, rgb) = input_tensor(run);
        let data: Vec<i32> = rgb.iter().map(|&v| v as i32).collect();
        let mut engine = common::cpu_engine(&common::model(model));
        let mut out: Vec<OutputBuffer> = Vec::new();
        engine
            .run(InputData::I32(&data), &[1, h, w, 3], &mut out)
            .unwrap();
        let want = floats(&run["output_0"]);
        assert_eq!(out[0].data.len(), want.len(), "{id}");
        let max = out[0]
            .data
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(max < 1e-4, "{id}: max abs diff {max}");
    }
}

#[test]
fn posenet_decoder_reproduces_reference_people() {
    let topo = Topology::coco17();
    let doc = common::expected("basketball1.json");
    let run = run_of(&doc, "posenet-mobilenetv1-385x385");
    let (w, h, rgb) = input_tensor(run);
    let data: Vec<f32> = rgb.iter().map(|&v| v as f32 / 127.5 - 1.0).collect();
    let mut engine = common::cpu_engine(&common::model("posenet-mobilenetv1-385x385.onnx"));
    let mut out = Vec::new();
    engine
        .run(InputData::F32(&data), &[1, h, w, 3], &mut out)
        .unwrap();
    let idx = |name: &str| {
        engine
            .outputs()
            .iter()
            .position(|o| o.name == name)
            .unwrap()
    };
    let hm = &out[idx("heatmap")];
    // Raw-output check: per-keypoint max of sigmoid(heatmap).
    let maxes: Vec<f32> = (0..17)
        .map(|k| {
            hm.data
                .iter()
                .skip(k)
                .step_by(17)
                .map(|&v| 1.0 / (1.0 + (-v).exp()))
                .fold(0.0, f32::max)
        })
        .collect();
    for (m, r) in maxes
        .iter()
        .zip(floats(&run["heatmap_sigmoid_max_per_keypoint"]))
    {
        assert!((m - r).abs() < 1e-4, "heatmap max {m} vs {r}");
    }
    let outs = PoseNetOutputs {
        heatmap: &hm.data,
        offsets: &out[idx("offsets")].data,
        displacement_fwd: &out[idx("displacement_fwd")].data,
        displacement_bwd: &out[idx("displacement_bwd")].data,
        height: hm.shape[1],
        width: hm.shape[2],
    };
    let mut decoder = PoseNetDecoder::new(PoseNetParams::default());
    let mut people = Vec::new();
    decoder
        .decode(&outs, 385, 385, &topo, 0.0, &mut people)
        .unwrap();
    map_people(&mut people, &geometry(run, 640, 480));
    // Offsets and displacements agree to ~1e-3 px between runtimes; allow 0.05 px.
    assert_people_match(&people, &run["people"], 0.05, 1e-3, "basketball1 posenet");
}
