// SPDX-License-Identifier: MPL-2.0
//! The detector → per-person pose chain as real pipelines on the shared photos: CenterNet's
//! person boxes against an independent reference, `process-mode=objects` with MoveNet Thunder
//! (keypoints inside each box, borders, subsampled formats, no people, more people than
//! `max-people`, another topology than upstream's) and the misuse warnings.

mod common;

use std::path::Path;

use common::quote as q;
use gst::prelude::*;
use gst_video::VideoRegionOfInterestMeta;
use gsttrtpose::meta::{self, PoseRecord};

fn detector() -> String {
    q(&common::model("centernet-512x512.onnx"))
}

fn thunder() -> String {
    q(&common::model("movenet-thunder-256x256.onnx"))
}

/// What a pipeline ending in `appsink name=sink` gave: per buffer its pose records and its
/// `person` ROI count, the warnings, and the frame messages of the element named `obj`.
#[derive(Debug, Default)]
struct Run {
    frames: Vec<(Vec<PoseRecord>, usize)>,
    warnings: Vec<String>,
    messages: Vec<gst::Structure>,
}

fn run(desc: &str) -> Run {
    let r = common::run_ok(desc);
    let frames = r
        .samples
        .iter()
        .map(|sample| {
            let buf = sample.buffer().unwrap();
            let rois = buf
                .iter_meta::<VideoRegionOfInterestMeta>()
                .filter(|m| m.roi_type() == meta::ROI_TYPE)
                .count();
            let records = meta::read(buf).into_iter().map(|r| r.unwrap()).collect();
            (records, rois)
        })
        .collect();
    let mut out = Run {
        frames,
        ..Run::default()
    };
    for msg in &r.messages {
        match msg.view() {
            gst::MessageView::Warning(w) => out.warnings.push(format!(
                "{} {}",
                w.error(),
                w.debug().map(|d| d.to_string()).unwrap_or_default()
            )),
            gst::MessageView::Element(e)
                if msg.src().is_some_and(|s| s.name() == "obj")
                    && e.structure().is_some_and(|s| s.name() == "trtposeinfer") =>
            {
                out.messages.push(e.structure().unwrap().to_owned())
            }
            _ => {}
        }
    }
    out
}

/// A decoder for the photo's extension.
fn decode(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("png") => "pngdec",
        _ => "jpegdec",
    }
}

/// `filesrc ! decoder ! videoconvert` for a shared photo, in `format`.
fn photo(rel: &str, format: &str) -> String {
    let path = common::shared_dir().join(rel);
    format!(
        "filesrc location={} ! {} ! videoconvert ! video/x-raw,format={format}",
        q(&path),
        decode(&path)
    )
}

fn chain(rel: &str, format: &str, detector_props: &str, object_props: &str) -> Run {
    run(&format!(
        "{} ! trtposeinfer model={} {detector_props} ! trtposeinfer name=obj model={} process-mode=objects {object_props} ! appsink name=sink sync=false",
        photo(rel, format),
        detector(),
        thunder()
    ))
}

fn iou(a: &gsttrtpose::pose::BBox, b: &[f64]) -> f64 {
    let ix = (a.x1 as f64).min(b[2]) - (a.x0 as f64).max(b[0]);
    let iy = (a.y1 as f64).min(b[3]) - (a.y0 as f64).max(b[1]);
    let inter = ix.max(0.0) * iy.max(0.0);
    let area_a = (a.x1 - a.x0) as f64 * (a.y1 - a.y0) as f64;
    let union = area_a + (b[2] - b[0]) * (b[3] - b[1]) - inter;
    inter / union
}

#[test]
fn detector_boxes_match_an_independent_onnx_runtime_reference() {
    // tests/data/make_detector_reference.py: PIL, a plain bilinear letterbox, onnxruntime and
    // numpy NMS; the product resizes with its own antialiased filter, hence the tolerances.
    let reference =
        std::fs::read_to_string(common::manifest_dir().join("tests/data/centernet_reference.json"))
            .unwrap();
    let reference: serde_json::Value = serde_json::from_str(&reference).unwrap();
    for (rel, boxes) in reference["photos"].as_object().unwrap() {
        let r = run(&format!(
            "{} ! trtposeinfer model={} ! appsink name=sink sync=false",
            photo(rel, "RGB"),
            detector()
        ));
        let found = &r.frames[0].0;
        assert!(
            found
                .iter()
                .all(|p| p.topology == "boxes" && p.person.keypoints.is_empty())
        );
        assert!(
            found.iter().all(|p| p.person.score >= 0.3),
            "{rel}: default threshold 0.3"
        );
        let want: Vec<(f64, Vec<f64>)> = boxes
            .as_array()
            .unwrap()
            .iter()
            .map(|b| {
                let bbox = b["bbox"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_f64().unwrap());
                (b["score"].as_f64().unwrap(), bbox.collect())
            })
            .collect();
        // Clear of the threshold, each reference box is found and each box found is in the
        // reference: same place (IoU ≥ 0.85) and score (± 0.05).
        for (score, bbox) in want.iter().filter(|(s, _)| *s >= 0.35) {
            assert!(
                found.iter().any(|p| iou(&p.person.bbox, bbox) >= 0.85
                    && (p.person.score as f64 - score).abs() <= 0.05),
                "{rel}: reference box {bbox:?} ({score}) not found in {:?}",
                found
                    .iter()
                    .map(|p| (p.person.bbox, p.person.score))
                    .collect::<Vec<_>>()
            );
        }
        for p in found.iter().filter(|p| p.person.score >= 0.35) {
            assert!(
                want.iter().any(|(s, b)| iou(&p.person.bbox, b) >= 0.85
                    && (p.person.score as f64 - s).abs() <= 0.05),
                "{rel}: {:?} ({}) is not in the reference",
                p.person.bbox,
                p.person.score
            );
        }
    }
}

/// Keypoints scoring ≥ 0.3 of a refined person, and how many lie in its box grown by `slack`
/// of its longer side on each side (a narrow walker's ankle may step past a tight box).
fn inside(p: &PoseRecord, slack: f32) -> (usize, usize) {
    let b = p.person.bbox;
    let m = b.width().max(b.height()) * slack;
    let good: Vec<_> = p
        .person
        .keypoints
        .iter()
        .flatten()
        .filter(|k| k.score >= 0.3)
        .collect();
    let n_in = good
        .iter()
        .filter(|k| k.x >= b.x0 - m && k.x <= b.x1 + m && k.y >= b.y0 - m && k.y <= b.y1 + m)
        .count();
    (good.len(), n_in)
}

#[test]
fn objects_mode_gives_each_person_of_a_street_scene_keypoints_inside_its_box() {
    let rel = "media/frames/vtest_walk_10s_frame050.png";
    let boxes = run(&format!(
        "{} ! trtposeinfer model={} ! appsink name=sink sync=false",
        photo(rel, "RGB"),
        detector()
    ));
    let detected = boxes.frames[0].1;
    let r = chain(rel, "RGB", "", "");
    let (people, rois) = &r.frames[0];
    // Every detection was run; those whose score joined with the pose's falls below
    // min-person-score (0.2) are removed, none added.
    assert_eq!(
        r.messages[0].get::<u32>("regions").unwrap(),
        detected as u32
    );
    assert!(
        *rois <= detected && *rois == people.len(),
        "{rois} of {detected}"
    );
    let mut posed = 0;
    for p in people {
        assert_eq!(p.topology, "coco17");
        assert_eq!(p.person.keypoints.len(), 17);
        // The region keeps the detector's box.
        assert!(
            boxes.frames[0]
                .0
                .iter()
                .any(|d| d.person.bbox == p.person.bbox),
            "{:?} is not a detector box",
            p.person.bbox
        );
        // A 30 px walker may have no confident keypoint; the others' lie in their box.
        let (good, n_in) = inside(p, 0.1);
        assert_eq!(
            n_in, good,
            "keypoints outside {:?}: {:?}",
            p.person.bbox, p.person.keypoints
        );
        posed += (good >= 5) as usize;
    }
    assert!(
        posed >= 5,
        "{posed} people with 5 keypoints ≥ 0.3 of {}",
        people.len()
    );
    assert_eq!(
        r.messages[0].get::<u32>("num-people").unwrap(),
        people.len() as u32
    );
}

#[test]
fn a_person_cut_by_the_left_border_is_cropped_with_black_padding() {
    // basketball1's left man stands at x 34..169; cutting 60 px puts him on the border.
    let r = run(&format!(
        "{} ! videocrop left=60 ! trtposeinfer model={} ! trtposeinfer name=obj model={} process-mode=objects ! appsink name=sink sync=false",
        photo("media/basketball1.png", "RGB"),
        detector(),
        thunder()
    ));
    let people = &r.frames[0].0;
    let left = people
        .iter()
        .find(|p| p.person.bbox.x0 < 1.0)
        .unwrap_or_else(|| panic!("nobody at the border: {people:?}"));
    let (good, n_in) = inside(left, 0.1);
    assert!(
        good >= 8,
        "{good} keypoints ≥ 0.3: {:?}",
        left.person.keypoints
    );
    assert_eq!(n_in, good);
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
}

#[test]
fn subsampled_formats_crop_on_chroma_samples_and_agree_with_rgb() {
    // The same regions for every format, found on RGB (a conversion keeps the rectangles; the
    // reference converts too, to packed BGRx): only the crop path differs.
    let with = |format: &str| {
        run(&format!(
            "{} ! trtposeinfer model={} ! videoconvert ! video/x-raw,format={format} ! trtposeinfer name=obj model={} process-mode=objects ! appsink name=sink sync=false",
            photo("media/basketball1.png", "RGB"),
            detector(),
            thunder()
        ))
    };
    let rgb = with("BGRx");
    assert_eq!(rgb.frames[0].0.len(), 2);
    for format in ["I420", "NV12", "YUY2"] {
        let yuv = with(format);
        let (a, b) = (&rgb.frames[0].0, &yuv.frames[0].0);
        assert_eq!(a.len(), b.len(), "{format}");
        let mut compared = 0;
        for (pa, pb) in a.iter().zip(b) {
            assert_eq!(pa.person.bbox, pb.person.bbox, "{format}: same region");
            for (ka, kb) in pa.person.keypoints.iter().zip(&pb.person.keypoints) {
                if let (Some(ka), Some(kb)) = (ka, kb)
                    && ka.score >= 0.5
                {
                    let d = ((ka.x - kb.x).powi(2) + (ka.y - kb.y).powi(2)).sqrt();
                    assert!(d < 4.0, "{format}: {ka:?} vs {kb:?}");
                    compared += 1;
                }
            }
        }
        assert!(compared >= 15, "{format}: {compared} keypoints compared");
    }
}

#[test]
fn a_frame_without_people_runs_no_pose_and_warns_nothing() {
    let r = run(&format!(
        "videotestsrc pattern=black num-buffers=3 ! video/x-raw,width=320,height=240 ! trtposeinfer model={} ! trtposeinfer name=obj model={} process-mode=objects ! appsink name=sink sync=false",
        detector(),
        thunder()
    ));
    assert_eq!(r.frames.len(), 3);
    assert!(r.frames.iter().all(|(p, rois)| p.is_empty() && *rois == 0));
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    assert_eq!(r.messages.len(), 3);
    for m in &r.messages {
        assert_eq!(m.get::<u32>("regions").unwrap(), 0, "{m}");
    }
}

#[test]
fn beyond_max_people_regions_pass_unchanged() {
    let r = chain("media/basketball1.png", "RGB", "", "max-people=1");
    let (people, rois) = &r.frames[0];
    assert_eq!(*rois, 2, "both regions stay");
    let refined: Vec<_> = people.iter().filter(|p| p.topology == "coco17").collect();
    let untouched: Vec<_> = people.iter().filter(|p| p.topology == "boxes").collect();
    assert_eq!((refined.len(), untouched.len()), (1, 1), "{people:?}");
    // The better detection is the one run.
    assert!(
        refined[0].person.bbox.x0 < 100.0,
        "{:?}",
        refined[0].person.bbox
    );
    assert!(untouched[0].person.keypoints.is_empty());
    assert_eq!(r.messages[0].get::<u32>("regions").unwrap(), 1);
}

#[test]
fn a_crop_model_of_another_topology_replaces_the_upstream_pose() {
    // MoveNet multipose (coco17, 17 keypoints) finds the people; a trt_pose network
    // (human_pose, 18 keypoints with the neck) refines them: its topology replaces coco17.
    let dir = tempfile::tempdir().unwrap();
    let pth = dir.path().join("resnet18.pth");
    let xz = common::shared_dir()
        .join("models/trt_pose_pth/resnet18_baseline_att_224x224_A.legacy.pth.xz");
    let o = std::process::Command::new("xz")
        .arg("-dc")
        .arg(&xz)
        .output()
        .expect("xz runs");
    assert!(o.status.success());
    std::fs::write(&pth, o.stdout).unwrap();
    let r = run(&format!(
        "{} ! trtposeinfer model={} input-size=512 ! trtposeinfer name=obj model={} process-mode=objects min-person-score=0 ! appsink name=sink sync=false",
        photo("media/basketball1.png", "RGB"),
        q(&common::model("movenet-multipose.onnx")),
        q(&pth)
    ));
    let people = &r.frames[0].0;
    assert!(!people.is_empty());
    for p in people {
        assert_eq!(p.topology, "human_pose");
        assert_eq!(p.person.keypoints.len(), 18);
        assert_eq!(p.keypoint_names.last().map(String::as_str), Some("neck"));
        // trt_pose's parser on a crop may join a stray part; most keypoints are the person's.
        let (good, n_in) = inside(p, 0.1);
        assert!(good >= 3 && n_in * 4 >= good * 3, "{p:?}");
    }
}

#[test]
fn a_detector_in_objects_mode_warns_once_and_passes_the_regions() {
    let r = run(&format!(
        "{} ! imagefreeze num-buffers=3 ! trtposeinfer model={det} ! trtposeinfer name=obj model={det} process-mode=objects ! appsink name=sink sync=false",
        photo("media/basketball1.png", "RGB"),
        det = detector()
    ));
    assert_eq!(r.frames.len(), 3);
    for (people, rois) in &r.frames {
        assert_eq!(*rois, 2);
        assert!(people.iter().all(|p| p.topology == "boxes"));
    }
    let about: Vec<_> = r
        .warnings
        .iter()
        .filter(|w| w.contains("detector"))
        .collect();
    assert_eq!(about.len(), 1, "{:?}", r.warnings);
}

#[test]
fn objects_mode_without_upstream_regions_warns_once_and_passes_frames() {
    let r = run(&format!(
        "{} ! imagefreeze num-buffers=4 ! trtposeinfer name=obj model={} process-mode=objects ! appsink name=sink sync=false",
        photo("media/basketball1.png", "RGB"),
        thunder()
    ));
    assert_eq!(r.frames.len(), 4, "every frame passes");
    assert!(r.frames.iter().all(|(p, rois)| p.is_empty() && *rois == 0));
    let about: Vec<_> = r
        .warnings
        .iter()
        .filter(|w| w.contains("no person regions"))
        .collect();
    assert_eq!(about.len(), 1, "{:?}", r.warnings);
}

#[test]
fn lightning_runs_in_objects_mode_too() {
    let r = run(&format!(
        "{} ! trtposeinfer model={} ! trtposeinfer name=obj model={} process-mode=objects ! appsink name=sink sync=false",
        photo("media/basketball1.png", "RGB"),
        detector(),
        q(&common::model("movenet-lightning-192x192.onnx"))
    ));
    let people = &r.frames[0].0;
    assert_eq!(people.len(), 2, "{people:?}");
    // Lightning alone on this photo picks one man or the other; on crops it poses both.
    for p in people {
        assert_eq!(p.topology, "coco17");
        let (good, n_in) = inside(p, 0.1);
        assert!(
            good >= 6 && n_in == good,
            "{good} keypoints ≥ 0.3, {n_in} inside: {p:?}"
        );
    }
}
