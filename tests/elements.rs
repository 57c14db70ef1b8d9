// SPDX-License-Identifier: MPL-2.0
//! trtposeinfer and poseoverlay in real GStreamer pipelines with real ONNX Runtime, real models
//! and real media, checked against the references in ../shared/media/expected.

mod common;

use std::path::{Path, PathBuf};

use common::quote as q;
use common::{RunResult, run_launch as run, run_ok as ok};
use gst::prelude::*;
use gsttrtpose::meta::{self, PoseRecord};
use serde_json::Value;

fn init() {
    // ONNX Runtime from the test venv before the element would pick one.
    common::runtime();
    common::init_gst();
}

fn people(sample: &gst::Sample) -> Vec<PoseRecord> {
    meta::read(sample.buffer().unwrap())
        .into_iter()
        .map(|r| r.expect("well-formed pose meta"))
        .collect()
}

/// The tolerances of ../shared/media/README.md: every reference person scoring ≥ 0.35 is
/// matched by box IoU ≥ 0.5, its score is within 0.1, and keypoints scoring ≥ 0.5 in both runs
/// lie within 3 % of max(W, H).
fn assert_matches_reference(ours: &[PoseRecord], reference: &Value, w: f32, h: f32, label: &str) {
    let tol = 0.03 * w.max(h);
    let mut checked = 0;
    for (n, r) in reference.as_array().unwrap().iter().enumerate() {
        let rs = r["score"].as_f64().unwrap() as f32;
        if rs < 0.35 {
            continue;
        }
        let b: Vec<f32> = r["bbox_xyxy"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap() as f32)
            .collect();
        let rb = gsttrtpose::pose::BBox {
            x0: b[0],
            y0: b[1],
            x1: b[2],
            y1: b[3],
        };
        let best = ours
            .iter()
            .max_by(|a, b| a.person.bbox.iou(&rb).total_cmp(&b.person.bbox.iou(&rb)))
            .unwrap_or_else(|| panic!("{label}: no people, reference person {n} expected"));
        let iou = best.person.bbox.iou(&rb);
        assert!(
            iou >= 0.5,
            "{label}: reference person {n} (score {rs}) unmatched, best IoU {iou}"
        );
        assert!(
            (best.person.score - rs).abs() <= 0.1,
            "{label}: person {n} score {} vs {rs}",
            best.person.score
        );
        for (k, rk) in r["keypoints"].as_array().unwrap().iter().enumerate() {
            let Some(kp) = best.person.keypoints[k] else {
                continue;
            };
            if kp.score < 0.5 || rk["score"].as_f64().unwrap() < 0.5 {
                continue;
            }
            let (rx, ry) = (
                rk["x"].as_f64().unwrap() as f32,
                rk["y"].as_f64().unwrap() as f32,
            );
            let d = ((kp.x - rx).powi(2) + (kp.y - ry).powi(2)).sqrt();
            assert!(
                d <= tol,
                "{label}: person {n} keypoint {k} off by {d:.1} px (> {tol:.1})"
            );
            checked += 1;
        }
    }
    let _ = checked;
}

fn run_of<'a>(runs: &'a Value, id: &str) -> &'a Value {
    runs.as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id)
        .unwrap()
}

#[test]
fn plugin_registers_documented_elements() {
    init();
    for name in [
        "trtposeinfer",
        "poseoverlay",
        "posetracker",
        "posepublish",
        "jetsonguard",
    ] {
        let e = gst::ElementFactory::make(name).build().unwrap();
        for p in e.list_properties() {
            if ["name", "parent", "qos"].contains(&p.name()) {
                continue;
            }
            assert!(
                !p.nick().is_empty() && !p.blurb().unwrap_or_default().is_empty(),
                "{name}.{} undocumented",
                p.name()
            );
        }
    }
}

#[test]
fn street_clip_people_match_references_and_every_frame_has_metadata() {
    let json = std::env::temp_dir().join(format!("trtpose-clip-{}.jsonl", std::process::id()));
    let desc = format!(
        "filesrc location={} ! matroskademux ! vp8dec ! trtposeinfer model={} input-size=512 json-output={} ! appsink name=sink",
        q(&common::media("vtest_walk_10s.webm")),
        q(&common::model("movenet-multipose.onnx")),
        q(&json)
    );
    let r = ok(&desc);
    assert_eq!(r.samples.len(), 100, "every frame comes out");
    let doc = common::expected("vtest_walk_10s.json");
    let mut with_people = 0;
    for s in &r.samples {
        with_people += !people(s).is_empty() as usize;
    }
    assert_eq!(with_people, 100, "people metadata on every frame");
    for f in doc["frames"].as_array().unwrap() {
        let idx = f["frame_index"].as_u64().unwrap() as usize;
        let run = run_of(&f["runs"], "movenet-multipose-dynamic-512");
        assert_matches_reference(
            &people(&r.samples[idx]),
            &run["people"],
            768.0,
            576.0,
            &format!("frame {idx}"),
        );
    }
    // One JSON line per frame, with the same people count as the metadata.
    let lines: Vec<Value> = std::fs::read_to_string(&json)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 100);
    for (line, s) in lines.iter().zip(&r.samples) {
        assert_eq!(line["people"].as_array().unwrap().len(), people(s).len());
        assert_eq!(
            line["pts"].as_f64().unwrap(),
            s.buffer().unwrap().pts().unwrap().nseconds() as f64 / 1e9
        );
    }
    // One bus message per frame.
    let msgs = r
        .messages
        .iter()
        .filter(|m| m.structure().is_some_and(|s| s.name() == "trtposeinfer"))
        .count();
    assert_eq!(msgs, 100);
    let _ = std::fs::remove_file(json);
}

#[test]
fn photos_in_native_formats_match_references() {
    // pngdec gives GRAY8 for basketball1 and RGB for astronaut, jpegdec gives I420: all go
    // into trtposeinfer without a converter.
    for (media, decoder) in [
        ("basketball1.png", "pngdec"),
        ("astronaut.png", "pngdec"),
        ("messi5.jpg", "jpegdec"),
        ("grace_hopper.jpg", "jpegdec"),
    ] {
        let desc = format!(
            "filesrc location={} ! {decoder} ! trtposeinfer model={} ! appsink name=sink",
            q(&common::media(media)),
            q(&common::model("movenet-multipose-256x256.onnx"))
        );
        let r = ok(&desc);
        let caps = r.samples[0].caps().unwrap().to_owned();
        let info = gst_video::VideoInfo::from_caps(&caps).unwrap();
        let doc = common::expected(&media.replace(".png", ".json").replace(".jpg", ".json"));
        let run = run_of(&doc["runs"], "movenet-multipose-256x256");
        let found = people(&r.samples[0]);
        assert_matches_reference(
            &found,
            &run["people"],
            info.width() as f32,
            info.height() as f32,
            media,
        );
        if media == "basketball1.png" {
            assert_eq!(info.format(), gst_video::VideoFormat::Gray8);
        }
    }
}

#[test]
fn interval_runs_the_network_on_one_frame_in_three() {
    let desc = format!(
        "filesrc location={} ! pngdec ! imagefreeze num-buffers=7 ! trtposeinfer model={} interval=3 ! appsink name=sink",
        q(&common::media("frames/vtest_walk_10s_frame050.png")),
        q(&common::model("movenet-multipose-256x256.onnx"))
    );
    let r = ok(&desc);
    assert_eq!(r.samples.len(), 7);
    for (i, s) in r.samples.iter().enumerate() {
        let p = people(s);
        assert!(!p.is_empty(), "frame {i} has people");
        let want_reused = i % 3 != 0;
        assert!(
            p.iter().all(|r| r.reused == want_reused),
            "frame {i}: reused should be {want_reused}"
        );
        assert_eq!(
            p,
            people(&r.samples[i - i % 3])
                .into_iter()
                .map(|mut r| {
                    r.reused = want_reused;
                    r
                })
                .collect::<Vec<_>>()
        );
    }
}

/// Distance from point to segment.
fn seg_dist(px: f32, py: f32, a: (f32, f32), b: (f32, f32)) -> f32 {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let l2 = dx * dx + dy * dy;
    let t = if l2 > 0.0 {
        (((px - a.0) * dx + (py - a.1) * dy) / l2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    ((px - a.0 - t * dx).powi(2) + (py - a.1 - t * dy).powi(2)).sqrt()
}

#[test]
fn overlay_changes_pixels_on_skeletons_and_nowhere_else() {
    let png = common::media("frames/vtest_walk_10s_frame050.png");
    let base = format!(
        "filesrc location={} ! pngdec ! videoconvert ! video/x-raw,format=RGBx ! trtposeinfer model={} input-size=512",
        q(&png),
        q(&common::model("movenet-multipose.onnx"))
    );
    let plain = ok(&format!("{base} ! appsink name=sink"));
    let drawn = ok(&format!(
        "{base} ! poseoverlay min-score=0.3 thickness=3 keypoint-radius=4 ! appsink name=sink"
    ));
    let found = people(&plain.samples[0]);
    assert!(found.len() >= 3, "people on frame 50: {}", found.len());
    let a = plain.samples[0].buffer().unwrap().map_readable().unwrap();
    let b = drawn.samples[0].buffer().unwrap().map_readable().unwrap();
    let info = gst_video::VideoInfo::from_caps(plain.samples[0].caps().unwrap()).unwrap();
    let stride = info.stride()[0] as usize;
    let mut changed = 0;
    for y in 0..info.height() as usize {
        for x in 0..info.width() as usize {
            let o = y * stride + 4 * x;
            if a[o..o + 3] == b[o..o + 3] {
                continue;
            }
            changed += 1;
            let (cx, cy) = (x as f32 + 0.5, y as f32 + 0.5);
            let near = found.iter().any(|p| {
                let kps = &p.person.keypoints;
                let vis = |c: usize| kps[c].filter(|k| k.score >= 0.3);
                (0..kps.len()).any(|c| {
                    vis(c).is_some_and(|k| seg_dist(cx, cy, (k.x, k.y), (k.x, k.y)) <= 4.01)
                }) || p.link_pairs.iter().any(|&(s, d)| match (vis(s), vis(d)) {
                    (Some(s), Some(d)) => seg_dist(cx, cy, (s.x, s.y), (d.x, d.y)) <= 1.51,
                    _ => false,
                })
            });
            assert!(near, "pixel ({x}, {y}) changed away from every skeleton");
        }
    }
    assert!(changed > 200, "only {changed} pixels drawn");
    // Each visible keypoint's own pixel was painted.
    for p in &found {
        for k in p
            .person
            .keypoints
            .iter()
            .flatten()
            .filter(|k| k.score >= 0.3)
        {
            let (x, y) = (k.x as usize, k.y as usize);
            if x < info.width() as usize && y < info.height() as usize {
                let o = y * stride + 4 * x;
                assert_ne!(a[o..o + 3], b[o..o + 3], "keypoint at ({x}, {y}) not drawn");
            }
        }
    }
}

#[test]
fn every_format_and_odd_sizes_give_the_same_people() {
    let png = common::media("frames/vtest_walk_10s_frame050.png");
    let model = common::model("movenet-multipose-256x256.onnx");
    for (w, h) in [(768, 576), (767, 575)] {
        let reference = {
            let r = ok(&format!(
                "filesrc location={} ! pngdec ! videoscale ! video/x-raw,width={w},height={h} ! trtposeinfer model={} ! appsink name=sink",
                q(&png),
                q(&model)
            ));
            people(&r.samples[0])
        };
        assert!(reference.len() >= 2);
        for format in [
            "RGB", "BGR", "RGBA", "BGRA", "ARGB", "ABGR", "RGBx", "BGRx", "xRGB", "xBGR", "I420",
            "YV12", "NV12", "NV21", "YUY2", "UYVY", "YVYU", "GRAY8",
        ] {
            let desc = format!(
                "filesrc location={} ! pngdec ! videoconvert ! videoscale ! video/x-raw,format={format},width={w},height={h} ! trtposeinfer model={} ! poseoverlay ! appsink name=sink",
                q(&png),
                q(&model)
            );
            let r = ok(&desc);
            let found = people(&r.samples[0]);
            let label = format!("{format} {w}x{h}");
            if format == "GRAY8" {
                // Colour is gone; the people are found all the same.
                assert!(!found.is_empty(), "{label}: nobody found");
                continue;
            }
            // Colour conversion changes pixel values slightly; every confident person of the
            // RGB run is still found at the same place with a close score.
            for b in reference.iter().filter(|b| b.person.score >= 0.3) {
                let a = found
                    .iter()
                    .max_by(|x, y| {
                        x.person
                            .bbox
                            .iou(&b.person.bbox)
                            .total_cmp(&y.person.bbox.iou(&b.person.bbox))
                    })
                    .unwrap_or_else(|| panic!("{label}: nobody found"));
                assert!(
                    a.person.bbox.iou(&b.person.bbox) > 0.6,
                    "{label}: person at {:?} lost",
                    b.person.bbox
                );
                assert!(
                    (a.person.score - b.person.score).abs() < 0.1,
                    "{label}: scores differ"
                );
            }
        }
    }
}

#[test]
fn trt_pose_path_reproduces_parse_vectors_through_the_element() {
    let dir = tempfile::tempdir().unwrap();
    let vectors = common::shared_dir().join("testdata/trt_pose_parse");
    for name in [
        "v01_people3_56x56",
        "v03_crowd10_56x56",
        "v13_near_threshold_56x56",
        "v17_assignment_ties_56x56",
        "v21_people3_48x64_nonsquare",
    ] {
        let json = vectors.join(format!("{name}.json"));
        let spec: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
        let (h, w) = (
            spec["height"].as_u64().unwrap() as u32,
            spec["width"].as_u64().unwrap() as u32,
        );
        for layout in ["nchw", "nhwc"] {
            let model: PathBuf = dir.path().join(format!("{name}-{layout}.onnx"));
            common::generate_model(
                &["constant", json.to_str().unwrap(), "--layout", layout],
                &model,
            );
            let desc = format!(
                "videotestsrc num-buffers=1 ! video/x-raw,format=RGB,width={},height={} ! trtposeinfer model={} resize-mode=stretch ! appsink name=sink",
                4 * w,
                4 * h,
                q(&model)
            );
            let r = ok(&desc);
            let found = people(&r.samples[0]);
            let label = format!("{name} {layout}");
            assert_eq!(
                found.len(),
                spec["object_count"].as_u64().unwrap() as usize,
                "{label}: people"
            );
            // Same people as the vector (our output is sorted by score, so match as sets).
            let (fw, fh) = ((4 * w) as f32, (4 * h) as f32);
            let mut unused: Vec<&PoseRecord> = found.iter().collect();
            for obj in spec["keypoints_xy"].as_array().unwrap() {
                let want: Vec<Option<(f32, f32)>> = obj
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|xy| {
                        xy.as_array().map(|a| {
                            let (x, y) =
                                (a[0].as_f64().unwrap() as f32, a[1].as_f64().unwrap() as f32);
                            (x * fw / 1.0, y * fh / 1.0)
                        })
                    })
                    .collect();
                let pos = unused.iter().position(|p| {
                    p.person
                        .keypoints
                        .iter()
                        .map(|k| k.map(|k| (k.x, k.y)))
                        .collect::<Vec<_>>()
                        == want
                });
                let pos = pos.unwrap_or_else(|| panic!("{label}: object {want:?} not found"));
                unused.remove(pos);
            }
        }
    }
}

#[test]
fn random_weight_trt_pose_network_runs_in_both_layouts() {
    let dir = tempfile::tempdir().unwrap();
    let mut results = Vec::new();
    for layout in ["nchw", "nhwc"] {
        let model = dir.path().join(format!("rn18-{layout}.onnx"));
        common::generate_model(&["resnet18", "--layout", layout], &model);
        let desc = format!(
            "filesrc location={} ! pngdec ! trtposeinfer model={} ! appsink name=sink",
            q(&common::media("frames/vtest_walk_10s_frame050.png")),
            q(&model)
        );
        let r = ok(&desc);
        let found = people(&r.samples[0]);
        assert!(!found.is_empty());
        assert_eq!(found[0].topology, "human_pose");
        assert_eq!(found[0].person.keypoints.len(), 18);
        results.push(found);
    }
    // The isaac (NHWC) export normalizes inside the graph; same weights, same people.
    assert_eq!(results[0].len(), results[1].len());
}

fn expect_error(props: &str, source: &str, needles: &[&str]) {
    let desc = format!("{source} ! trtposeinfer {props} ! appsink name=sink");
    let r = run(&desc);
    let err = r
        .error
        .unwrap_or_else(|| panic!("{desc}: expected an error"));
    for n in needles {
        assert!(
            err.contains(n),
            "{desc}: error '{err}' should mention '{n}'"
        );
    }
}

#[test]
fn bad_models_and_topologies_fail_with_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let src = "videotestsrc num-buffers=2 ! video/x-raw,width=64,height=48";
    let movenet = common::model("movenet-multipose-256x256.onnx");
    let empty = dir.path().join("empty.onnx");
    std::fs::write(&empty, b"").unwrap();
    let random = dir.path().join("random.onnx");
    std::fs::write(
        &random,
        (0..4096u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect::<Vec<_>>(),
    )
    .unwrap();
    let truncated = dir.path().join("truncated.onnx");
    std::fs::write(&truncated, &std::fs::read(&movenet).unwrap()[..100_000]).unwrap();
    let bad_json = dir.path().join("bad.json");
    std::fs::write(&bad_json, "{\"keypoints\": [\"a\", ").unwrap();
    let hp = dir.path().join("human_pose.json");
    std::fs::write(&hp, gsttrtpose::pose::Topology::human_pose().to_json()).unwrap();
    // No model at all: tests/first_hour.rs (it needs an environment without a default model).
    expect_error(
        "model=/nonexistent/pose.onnx",
        src,
        &["/nonexistent/pose.onnx", "does not exist"],
    );
    expect_error(
        &format!("model={}", q(dir.path())),
        src,
        &["is a directory"],
    );
    expect_error(
        &format!("model={}", q(&empty)),
        src,
        &["empty.onnx", "empty"],
    );
    expect_error(
        &format!("model={}", q(&random)),
        src,
        &["random.onnx", "cannot load"],
    );
    expect_error(
        &format!("model={}", q(&truncated)),
        src,
        &["truncated.onnx", "cannot load"],
    );
    expect_error(
        &format!("model={} model-family=posenet", q(&movenet)),
        src,
        &["model-family", "movenet"],
    );
    expect_error(
        &format!("model={} topology={}", q(&movenet), q(&hp)),
        src,
        &["human_pose", "18 keypoints", "17"],
    );
    expect_error(
        &format!("model={} topology={}", q(&movenet), q(&bad_json)),
        src,
        &["bad.json", "invalid JSON"],
    );
    expect_error(
        &format!("model={} topology=/no/such.json", q(&movenet)),
        src,
        &["/no/such.json", "cannot read"],
    );
    // A trt_pose network with a topology whose counts do not match its channels.
    let rn = dir.path().join("rn18.onnx");
    common::generate_model(&["resnet18", "--size", "64"], &rn);
    let coco = dir.path().join("coco.json");
    std::fs::write(&coco, gsttrtpose::pose::Topology::coco17().to_json()).unwrap();
    expect_error(
        &format!("model={} topology={}", q(&rn), q(&coco)),
        src,
        &[
            "coco17",
            "17 keypoints",
            "18 links",
            "17 cmap",
            "36 paf",
            "[1, 18, 16, 16]",
        ],
    );
    // Unsupported caps: negotiation fails instead of passing garbage.
    expect_error(
        &format!("model={}", q(&movenet)),
        "videotestsrc num-buffers=2 ! video/x-raw,format=RGB16",
        &["could not link", "trtposeinfer"],
    );
}

/// A harness around a configured trtposeinfer (the harness starts its element at once, so the
/// model must be set before).
fn harness_for(model: &Path, bus: Option<&gst::Bus>) -> gst_check::Harness {
    init();
    let element = gst::ElementFactory::make("trtposeinfer")
        .property("model", model.to_str().unwrap())
        .build()
        .unwrap();
    if let Some(bus) = bus {
        element.set_bus(Some(bus));
    }
    gst_check::Harness::with_element(&element, Some("sink"), Some("src"))
}

#[test]
fn undersized_buffers_pass_through_with_a_warning() {
    init();
    let bus = gst::Bus::new();
    let mut h = harness_for(&common::model("movenet-multipose-256x256.onnx"), Some(&bus));
    h.set_src_caps_str("video/x-raw,format=RGB,width=64,height=48,framerate=30/1");
    let out = h
        .push_and_pull(gst::Buffer::with_size(10).unwrap())
        .unwrap();
    assert_eq!(out.size(), 10, "buffer passed through");
    assert!(meta::read(&out).is_empty());
    let warning = std::iter::from_fn(|| bus.pop())
        .find_map(|m| match m.view() {
            gst::MessageView::Warning(w) => Some(w.error().to_string()),
            _ => None,
        })
        .expect("a warning on the bus");
    assert!(
        warning.contains("10 bytes") && warning.contains("cannot hold"),
        "{warning}"
    );
    // A zero-size buffer is treated the same way.
    let out = h.push_and_pull(gst::Buffer::new()).unwrap();
    assert_eq!(out.size(), 0);
    assert!(meta::read(&out).is_empty());
    // The next, well-formed buffer gets people metadata again.
    let frame = gst::Buffer::with_size(64 * 48 * 3).unwrap();
    let out = h.push_and_pull(frame).unwrap();
    assert_eq!(out.size(), 64 * 48 * 3);
}

#[test]
fn padded_strides_give_the_same_people_as_tight_rows() {
    init();
    let png = common::media("frames/vtest_walk_10s_frame050.png");
    let (w, h, rgb) = common::load_png_rgb(&png);
    let model = common::model("movenet-multipose-256x256.onnx");
    let mut results = Vec::new();
    for pad in [0usize, 37] {
        let stride = w * 3 + pad;
        let mut data = vec![0xabu8; stride * h];
        for y in 0..h {
            data[y * stride..y * stride + w * 3].copy_from_slice(&rgb[y * w * 3..(y + 1) * w * 3]);
        }
        let mut buf = gst::Buffer::from_mut_slice(data);
        gst_video::VideoMeta::add_full(
            buf.get_mut().unwrap(),
            gst_video::VideoFrameFlags::empty(),
            gst_video::VideoFormat::Rgb,
            w as u32,
            h as u32,
            &[0],
            &[stride as i32],
        )
        .unwrap();
        let mut harness = harness_for(&model, None);
        harness.set_src_caps_str(&format!(
            "video/x-raw,format=RGB,width={w},height={h},framerate=10/1"
        ));
        let out = harness.push_and_pull(buf).unwrap();
        results.push(
            meta::read(&out)
                .into_iter()
                .map(Result::unwrap)
                .collect::<Vec<_>>(),
        );
    }
    assert!(!results[0].is_empty());
    assert_eq!(results[0], results[1]);
}

#[test]
fn live_pipelines_report_inference_latency() {
    init();
    let desc = format!(
        "videotestsrc is-live=true num-buffers=6 ! video/x-raw,width=320,height=240,framerate=10/1 ! trtposeinfer name=infer model={} ! fakesink sync=true",
        q(&common::model("movenet-multipose-256x256.onnx"))
    );
    let pipeline = common::launch(&desc);
    pipeline.set_state(gst::State::Playing).unwrap();
    let bus = pipeline.bus().unwrap();
    let msg = bus
        .timed_pop_filtered(
            gst::ClockTime::from_seconds(60),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        )
        .unwrap();
    assert!(matches!(msg.view(), gst::MessageView::Eos(_)), "{msg:?}");
    let mut q = gst::query::Latency::new();
    assert!(pipeline.query(&mut q));
    let (live, min, _) = q.result();
    assert!(live);
    // At least one inference's worth (tens of ms on this CPU) on top of the source's latency.
    assert!(min >= gst::ClockTime::from_mseconds(10), "latency {min}");
    pipeline.set_state(gst::State::Null).unwrap();
}

#[test]
fn python_app_reads_people_from_roi_metadata() {
    init();
    // cargo test refreshes the plugin library in target/<profile>/deps only; give GStreamer a
    // folder holding just that fresh copy.
    let exe = std::env::current_exe().unwrap();
    let fresh = exe.parent().unwrap().join("libgsttrtpose.so");
    assert!(fresh.exists(), "{} missing", fresh.display());
    let plugin_dir = tempfile::tempdir().unwrap();
    std::fs::copy(&fresh, plugin_dir.path().join("libgsttrtpose.so")).unwrap();
    let plugin_dir = plugin_dir.path();
    let out = std::process::Command::new("/usr/bin/python3")
        .arg(common::manifest_dir().join("tests/python/read_pose_meta.py"))
        .arg(common::media("frames/vtest_walk_10s_frame050.png"))
        .arg(common::model("movenet-multipose-256x256.onnx"))
        .env("GST_PLUGIN_PATH", plugin_dir)
        .env("ORT_DYLIB_PATH", common::runtime().library())
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "python failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // It prints one line per person: score, nose x, nose y. Compare with what Rust reads.
    let r = ok(&format!(
        "filesrc location={} ! pngdec ! trtposeinfer model={} ! appsink name=sink",
        q(&common::media("frames/vtest_walk_10s_frame050.png")),
        q(&common::model("movenet-multipose-256x256.onnx"))
    ));
    let ours = people(&r.samples[0]);
    let lines: Vec<&str> = stdout.lines().filter(|l| l.starts_with("person")).collect();
    assert_eq!(lines.len(), ours.len(), "{stdout}");
    for (line, p) in lines.iter().zip(&ours) {
        let f: Vec<f32> = line
            .split_whitespace()
            .skip(1)
            .take(3)
            .map(|v| v.parse().unwrap())
            .collect();
        let nose = p.person.keypoints[0].unwrap();
        assert!(
            (f[0] - p.person.score).abs() < 1e-4
                && (f[1] - nose.x).abs() < 1e-3
                && (f[2] - nose.y).abs() < 1e-3,
            "{line}"
        );
    }
}

#[test]
fn unavailable_gpu_backends_fall_back_to_cpu_with_a_warning() {
    // This machine's ONNX Runtime has neither the CUDA nor the TensorRT provider.
    for backend in ["cuda", "tensorrt"] {
        let desc = format!(
            "videotestsrc num-buffers=2 ! video/x-raw,width=64,height=48 ! trtposeinfer name=infer backend={backend} model={} ! appsink name=sink",
            q(&common::model("movenet-multipose-256x256.onnx"))
        );
        let r = ok(&desc);
        assert_eq!(r.samples.len(), 2, "{backend}: no frame lost");
        let warnings: Vec<String> = r
            .messages
            .iter()
            .filter_map(|m| match m.view() {
                gst::MessageView::Warning(w) => Some(w.error().to_string()),
                _ => None,
            })
            .collect();
        assert!(
            warnings
                .iter()
                .any(|w| w.contains(&format!("{backend} backend unavailable"))),
            "{backend}: {warnings:?}"
        );
        if backend == "tensorrt" {
            assert!(
                warnings
                    .iter()
                    .any(|w| w.contains("TensorRT library not found")),
                "{warnings:?}"
            );
        } else {
            assert!(
                warnings.iter().any(|w| w.contains("libcuda.so.1")),
                "the warning names the missing driver: {warnings:?}"
            );
        }
    }
    init();
    let e = gst::ElementFactory::make("trtposeinfer")
        .property(
            "model",
            common::model("movenet-multipose-256x256.onnx")
                .to_str()
                .unwrap(),
        )
        .property_from_str("backend", "cuda")
        .build()
        .unwrap();
    e.set_state(gst::State::Ready).unwrap();
    assert_eq!(
        e.property::<Option<String>>("active-backend"),
        None,
        "not started yet"
    );
    e.set_state(gst::State::Paused).unwrap();
    assert_eq!(
        e.property::<Option<String>>("active-backend").as_deref(),
        Some("cpu")
    );
    e.set_state(gst::State::Null).unwrap();
    assert_eq!(
        e.property::<Option<String>>("active-backend"),
        None,
        "stopped: nothing runs"
    );
}

#[test]
fn precision_fp16_uses_the_fp16_copy_for_cuda_and_says_when_it_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("lightning.onnx");
    std::fs::copy(common::model("movenet-lightning-192x192.onnx"), &m).unwrap();
    let warnings = |r: &RunResult| -> Vec<String> {
        r.messages
            .iter()
            .filter_map(|m| match m.view() {
                gst::MessageView::Warning(w) => Some(w.error().to_string()),
                _ => None,
            })
            .collect()
    };
    let desc = format!(
        "videotestsrc num-buffers=2 ! video/x-raw,width=64,height=48 ! trtposeinfer backend=cuda precision=fp16 model={} ! appsink name=sink",
        q(&m)
    );
    let r = ok(&desc);
    assert_eq!(r.samples.len(), 2, "no frame lost");
    let w = warnings(&r);
    assert!(
        w.iter()
            .any(|w| w.contains("no fp16 copy") && w.contains("trtposeconvert half")),
        "{w:?}"
    );
    // With the copy beside the model the fp16 warning is gone; CUDA is still missing here,
    // so the CPU runs the float32 model.
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_trtposeconvert"))
        .env("ORT_DYLIB_PATH", common::runtime().library())
        .arg("half")
        .arg(&m)
        .output()
        .unwrap();
    assert!(o.status.success());
    let r = ok(&desc);
    assert_eq!(r.samples.len(), 2);
    let w = warnings(&r);
    assert!(!w.iter().any(|w| w.contains("no fp16 copy")), "{w:?}");
    assert!(w.iter().any(|w| w.contains("libcuda.so.1")), "{w:?}");
}
