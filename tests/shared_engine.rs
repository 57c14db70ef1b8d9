// SPDX-License-Identifier: MPL-2.0
//! `shared-engine`: trtposeinfer elements of one process naming the same group load the model
//! once and run their frames in batches. Real pipelines, real photos and models: each stream
//! keeps its own people (equal to a private run of the same stream), batches form when the
//! model allows them, mismatched settings fail at start, a stream stopping does not block the
//! others, the group goes with its last element, and the latency answer covers the wait.

mod common;

use std::path::Path;
use std::time::Duration;

use gst::prelude::*;
use gsttrtpose::engine::shared;
use gsttrtpose::pose::Person;

fn q(p: &Path) -> String {
    common::quote(p)
}

/// Photos of different content and size, one per stream.
const PHOTOS: [&str; 4] = [
    "basketball1.png",
    "messi5.jpg",
    "grace_hopper.jpg",
    "astronaut.png",
];

/// One branch per photo, `frames` frames each, ending in appsinks `sink0`, `sink1`… (for
/// [`run`], which pulls from them) or, with `fake`, in fakesinks.
fn branches_to(photos: &[&str], frames: u32, infer: &str, fake: bool) -> String {
    photos
        .iter()
        .enumerate()
        .map(|(i, photo)| {
            format!(
                "filesrc location={} ! decodebin ! videoconvert ! video/x-raw,format=RGB ! imagefreeze num-buffers={frames} ! trtposeinfer name=infer{i} {infer} ! {} ",
                q(&common::media(photo)),
                if fake {
                    "fakesink sync=false".to_string()
                } else {
                    format!("appsink name=sink{i} sync=false")
                }
            )
        })
        .collect()
}

fn branches(photos: &[&str], frames: u32, infer: &str) -> String {
    branches_to(photos, frames, infer, false)
}

/// Runs the pipeline to EOS while appsinks collect every frame's people; `during` is called
/// once the pipeline is paused (every element started). Returns people per sink, per frame.
fn run(desc: &str, streams: usize, during: impl FnOnce()) -> Vec<Vec<Vec<Person>>> {
    common::runtime();
    let p = common::launch(desc);
    let collected: Vec<std::sync::Arc<std::sync::Mutex<Vec<Vec<Person>>>>> =
        (0..streams).map(|_| Default::default()).collect();
    for (i, store) in collected.iter().enumerate() {
        let sink: gst_app::AppSink = common::by_name(&p, &format!("sink{i}"));
        let store = store.clone();
        sink.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |s| {
                    let sample = s.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                    let people = gsttrtpose::meta::read(sample.buffer().unwrap())
                        .into_iter()
                        .map(|r| r.unwrap().person)
                        .collect();
                    store.lock().unwrap().push(people);
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );
    }
    p.set_state(gst::State::Paused).unwrap();
    let (res, _, _) = p.state(gst::ClockTime::from_seconds(60));
    res.unwrap_or_else(|e| panic!("pipeline did not pause: {e:?}"));
    during();
    let (errors, _) = common::play_to_eos(&p);
    assert!(errors.is_empty(), "{errors:?}");
    collected
        .into_iter()
        .map(|c| std::mem::take(&mut *c.lock().unwrap()))
        .collect()
}

/// Same people, keypoints within 0.05 px and scores within 1e-4.
fn assert_same_people(a: &[Person], b: &[Person], label: &str) {
    assert_eq!(a.len(), b.len(), "{label}: number of people");
    for (pa, pb) in a.iter().zip(b) {
        assert!((pa.score - pb.score).abs() < 1e-4, "{label}: person score");
        for (ka, kb) in pa.keypoints.iter().zip(&pb.keypoints) {
            match (ka, kb) {
                (Some(ka), Some(kb)) => {
                    assert!(
                        (ka.x - kb.x).abs() <= 0.05 && (ka.y - kb.y).abs() <= 0.05,
                        "{label}: keypoint {ka:?} vs {kb:?}"
                    );
                }
                (None, None) => {}
                _ => panic!("{label}: a keypoint found on one side only"),
            }
        }
    }
}

/// Each stream alone, with a private engine: the reference.
fn private_runs(photos: &[&str], frames: u32, infer: &str) -> Vec<Vec<Vec<Person>>> {
    photos
        .iter()
        .map(|photo| run(&branches(&[photo], frames, infer), 1, || {}).remove(0))
        .collect()
}

#[test]
fn streams_share_one_model_and_keep_their_own_people() {
    let model = common::model("movenet-multipose-256x256.onnx");
    let infer = format!("model={} threads=1", q(&model));
    let group = "photos-multipose";
    let shared = run(
        &branches(&PHOTOS, 3, &format!("{infer} shared-engine={group}")),
        PHOTOS.len(),
        || {
            let s = shared::stats(group).expect("the group is loaded once elements start");
            assert_eq!(s.members, PHOTOS.len());
            assert_eq!(s.loads, 1, "one model for the whole group");
        },
    );
    assert!(
        shared::stats(group).is_none(),
        "the group goes with its last element"
    );
    let private = private_runs(&PHOTOS, 3, &infer);
    let mut people = 0;
    for (i, (s, p)) in shared.iter().zip(&private).enumerate() {
        assert_eq!(s.len(), 3, "{}: every frame came out", PHOTOS[i]);
        for (frame, (fs, fp)) in s.iter().zip(p).enumerate() {
            assert_same_people(fs, fp, &format!("{} frame {frame}", PHOTOS[i]));
            people += fs.len();
        }
    }
    // The photos hold people; equal empty results would prove nothing.
    assert!(people >= 3 * 4, "{people} people over 12 frames");
    // The photos differ, and so do their streams' people.
    let boxes = |ps: &[Person]| -> Vec<(i32, i32)> {
        ps.iter()
            .map(|p| (p.bbox.x0 as i32, p.bbox.y0 as i32))
            .collect()
    };
    assert_ne!(boxes(&shared[0][0]), boxes(&shared[1][0]));
}

#[test]
fn frames_of_several_streams_run_as_one_batch_when_the_model_allows() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("rn18-dynamic-batch.onnx");
    common::generate_model(&["resnet18", "--size", "128", "--batch", "0"], &model);
    let infer = format!("model={} threads=1", q(&model));
    let group = "rn18-batches";
    let desc = branches(
        &PHOTOS,
        4,
        &format!("{infer} shared-engine={group} max-batch=4 batch-timeout=2000000"),
    );
    let p = run(&desc, PHOTOS.len(), || {});
    let private = private_runs(&PHOTOS, 4, &infer);
    let found: usize = p.iter().flatten().map(Vec::len).sum();
    assert!(found > 0, "the model finds people in the photos");
    for (i, (s, pr)) in p.iter().zip(&private).enumerate() {
        assert_eq!(s.len(), 4);
        for (frame, (fs, fp)) in s.iter().zip(pr).enumerate() {
            assert_same_people(fs, fp, &format!("{} frame {frame}", PHOTOS[i]));
        }
    }
    // The batch fill, read in a second run before the group goes.
    let fill = batch_fill(&desc.replace("appsink", "fakesink"), group);
    assert_eq!(fill.frames, 16);
    assert_eq!(fill.max_fill, 4, "{fill:?}");
    assert!(fill.batches < 16, "{fill:?}");
}

#[test]
fn a_model_with_a_fixed_batch_of_four_serves_three_streams_with_padded_runs() {
    let dir = tempfile::tempdir().unwrap();
    let fixed = dir.path().join("rn18-batch4.onnx");
    let dynamic = dir.path().join("rn18-dynamic.onnx");
    // Same seed, same weights: only the batch dimension differs.
    common::generate_model(&["resnet18", "--size", "128", "--batch", "4"], &fixed);
    common::generate_model(&["resnet18", "--size", "128", "--batch", "0"], &dynamic);
    let photos = &PHOTOS[..3];
    let group = "rn18-fixed-4";
    let desc = branches(
        photos,
        3,
        &format!(
            "model={} threads=1 shared-engine={group} batch-timeout=2000000",
            q(&fixed)
        ),
    );
    let shared = run(&desc, photos.len(), || {});
    let private = private_runs(photos, 3, &format!("model={} threads=1", q(&dynamic)));
    for (i, (s, p)) in shared.iter().zip(&private).enumerate() {
        assert_eq!(s.len(), 3);
        for (frame, (fs, fp)) in s.iter().zip(p).enumerate() {
            assert_same_people(fs, fp, &format!("{} frame {frame}", photos[i]));
        }
    }
    let fill = batch_fill(&desc.replace("appsink", "fakesink"), group);
    assert_eq!(
        (fill.frames, fill.batches, fill.padded),
        (9, 3, 3),
        "{fill:?}"
    );
}

#[test]
fn two_instances_run_batches_side_by_side_and_keep_each_streams_people() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("rn18-dynamic.onnx");
    common::generate_model(&["resnet18", "--size", "128", "--batch", "0"], &model);
    let infer = format!("model={} threads=1", q(&model));
    let group = "rn18-two-instances";
    let desc = branches(
        &PHOTOS,
        4,
        &format!(
            "{infer} shared-engine={group} shared-instances=2 max-batch=2 batch-timeout=2000000"
        ),
    );
    let shared = run(&desc, PHOTOS.len(), || {});
    let private = private_runs(&PHOTOS, 4, &infer);
    for (i, (s, p)) in shared.iter().zip(&private).enumerate() {
        assert_eq!(s.len(), 4);
        for (frame, (fs, fp)) in s.iter().zip(p).enumerate() {
            assert_same_people(fs, fp, &format!("{} frame {frame}", PHOTOS[i]));
        }
    }
    let fill = batch_fill(&desc.replace("appsink", "fakesink"), group);
    assert_eq!(fill.frames, 16);
    assert_eq!(fill.max_fill, 2, "{fill:?}");
}

/// Plays `desc` to EOS and reads the group's counters before stopping it.
fn batch_fill(desc: &str, group: &str) -> shared::GroupStats {
    common::runtime();
    let p = common::launch(desc);
    p.set_state(gst::State::Playing).unwrap();
    let bus = p.bus().unwrap();
    let msg = bus
        .timed_pop_filtered(
            gst::ClockTime::from_seconds(120),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        )
        .expect("no hang");
    assert_eq!(msg.type_(), gst::MessageType::Eos, "{msg:?}");
    let stats = shared::stats(group).expect("group alive until the pipeline stops");
    p.set_state(gst::State::Null).unwrap();
    stats
}

#[test]
fn elements_of_one_group_with_different_model_settings_fail_at_start() {
    let model = common::model("movenet-multipose-256x256.onnx");
    let desc = format!(
        "videotestsrc num-buffers=2 ! video/x-raw,format=RGB,width=64,height=48 ! trtposeinfer model={m} shared-engine=mixed threads=1 ! fakesink \
         videotestsrc num-buffers=2 ! video/x-raw,format=RGB,width=64,height=48 ! trtposeinfer model={m} shared-engine=mixed threads=2 ! fakesink",
        m = q(&model)
    );
    common::runtime();
    let p = common::launch(&desc);
    let (errors, _) = common::play_to_eos(&p);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("shared engine 'mixed'") && errors[0].contains("threads"),
        "{errors:?}"
    );
    assert!(shared::stats("mixed").is_none());
}

#[test]
fn a_stream_stopping_does_not_block_the_others() {
    let model = common::model("movenet-multipose-256x256.onnx");
    let infer = format!(
        "model={} threads=1 shared-engine=stopping batch-timeout=5000000",
        q(&model)
    );
    common::runtime();
    let long = common::launch(&branches_to(&PHOTOS[..1], 12, &infer, true));
    let short = common::launch(&format!(
        "videotestsrc is-live=true ! video/x-raw,format=RGB,width=320,height=240,framerate=30/1 ! trtposeinfer {infer} ! fakesink"
    ));
    short.set_state(gst::State::Playing).unwrap();
    short.state(gst::ClockTime::from_seconds(60)).0.unwrap();
    long.set_state(gst::State::Paused).unwrap();
    long.state(gst::ClockTime::from_seconds(60)).0.unwrap();
    assert_eq!(shared::stats("stopping").unwrap().members, 2);
    // The short stream goes away while the long one runs.
    std::thread::sleep(Duration::from_millis(200));
    short.set_state(gst::State::Null).unwrap();
    assert_eq!(shared::stats("stopping").unwrap().members, 1);
    let start = std::time::Instant::now();
    let (errors, _) = common::play_to_eos(&long);
    assert!(errors.is_empty(), "{errors:?}");
    // With its partner gone the stream is alone in the group: no batch waits for the
    // 5 s timeout.
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    assert!(shared::stats("stopping").is_none());
}

#[test]
fn the_latency_answer_includes_the_batch_timeout() {
    let model = common::model("movenet-multipose-256x256.onnx");
    let latency = |extra: &str| -> gst::ClockTime {
        common::runtime();
        let p = common::launch(&format!(
            "videotestsrc is-live=true ! video/x-raw,format=RGB,width=160,height=120,framerate=30/1 ! trtposeinfer name=infer model={} threads=1 {extra} ! fakesink",
            q(&model)
        ));
        p.set_state(gst::State::Playing).unwrap();
        // What the element answers downstream, once the live source answers it.
        let src = p.by_name("infer").unwrap().static_pad("src").unwrap();
        let mut query = gst::query::Latency::new();
        for _ in 0..500 {
            query = gst::query::Latency::new();
            if src.query(&mut query) && query.result().0 {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(query.result().0, "the pipeline answers as live");
        p.set_state(gst::State::Null).unwrap();
        query.result().1
    };
    let private = latency("");
    let shared = latency("shared-engine=latency batch-timeout=700000");
    assert!(private < gst::ClockTime::from_mseconds(700), "{private}");
    assert!(shared >= gst::ClockTime::from_mseconds(700), "{shared}");
}
