// SPDX-License-Identifier: MPL-2.0
//! posetracker behind trtposeinfer on the street clip (MoveNet multipose): ids persist and
//! never repeat within a frame, every person carries `track-id`, `interval=3` gives
//! predicted poses on the frames in between, a flushing seek restarts the tracks, and
//! `json-output` writes `track_id`.

mod common;

use std::collections::BTreeMap;

use common::quote as q;
use gst::prelude::*;
use gst_video::VideoRegionOfInterestMeta;
use gsttrtpose::meta::{self, PoseRecord};

fn pipeline(infer: &str, tracker: &str) -> gst::Pipeline {
    pipeline_into(infer, tracker, "appsink name=sink sync=false")
}

fn pipeline_into(infer: &str, tracker: &str, sink: &str) -> gst::Pipeline {
    common::runtime();
    common::launch(&format!(
        "filesrc location={} ! decodebin ! trtposeinfer model={} {infer} ! posetracker {tracker} \
         ! {sink}",
        q(&common::media("vtest_walk_10s.mp4")),
        q(&common::model("movenet-multipose-256x256.onnx"))
    ))
}

fn records(sample: &gst::Sample) -> Vec<PoseRecord> {
    meta::read(sample.buffer().unwrap())
        .into_iter()
        .map(|r| r.unwrap())
        .collect()
}

/// Every pose structure on the buffer has a `track-id` field.
fn all_have_track_id(sample: &gst::Sample) -> bool {
    sample
        .buffer()
        .unwrap()
        .iter_meta::<VideoRegionOfInterestMeta>()
        .all(|m| {
            m.param(meta::PARAM_NAME)
                .is_none_or(|s| s.get::<i32>("track-id").is_ok())
        })
}

fn no_id_twice(frame: usize, recs: &[PoseRecord]) {
    let mut ids: Vec<u32> = recs.iter().filter_map(|r| r.track_id).collect();
    let n = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), n, "an id twice in frame {frame}: {recs:?}");
}

#[test]
fn track_ids_persist_on_the_street_clip() {
    let p = pipeline("", "");
    let sink: gst_app::AppSink = common::by_name(&p, "sink");
    p.set_state(gst::State::Playing).unwrap();
    let mut lengths: BTreeMap<u32, usize> = BTreeMap::new();
    let (mut frames, mut people, mut tracked) = (0, 0, 0);
    while let Ok(sample) = sink.pull_sample() {
        let recs = records(&sample);
        assert!(all_have_track_id(&sample), "frame {frames}");
        no_id_twice(frames, &recs);
        for id in recs.iter().filter_map(|r| r.track_id) {
            *lengths.entry(id).or_default() += 1;
            tracked += 1;
        }
        people += recs.len();
        frames += 1;
    }
    p.set_state(gst::State::Null).unwrap();
    assert_eq!(frames, 100);
    assert!(people > 200, "{people} people seen");
    // Most people get an id, and most of those ids last: a tracker that restarted every
    // few frames would give many short ids.
    assert!(tracked * 10 >= people * 7, "{tracked} of {people} tracked");
    let long: usize = lengths.values().filter(|&&n| n >= 20).sum();
    assert!(
        long * 10 >= tracked * 7,
        "{long} of {tracked} in tracks of 20+ frames: {lengths:?}"
    );
}

#[test]
fn interval_3_gives_predicted_poses_in_between() {
    let p = pipeline("interval=3", "");
    let sink: gst_app::AppSink = common::by_name(&p, "sink");
    p.set_state(gst::State::Playing).unwrap();
    let (mut predicted, mut carried) = (0, 0);
    for f in 0..60 {
        let recs = records(&sink.pull_sample().unwrap());
        no_id_twice(f, &recs);
        for r in &recs {
            assert_eq!(r.reused, f % 3 != 0, "frame {f}");
            if f % 3 == 0 {
                assert!(!r.predicted, "inferred frame {f} predicted");
            } else if r.track_id.is_some() {
                carried += 1;
                predicted += r.predicted as usize;
            }
        }
    }
    p.set_state(gst::State::Null).unwrap();
    assert!(
        carried > 30,
        "{carried} tracked people on carried-over frames"
    );
    assert_eq!(
        predicted, carried,
        "tracked people on carried-over frames are predicted"
    );
}

#[test]
fn a_flushing_seek_restarts_the_tracks() {
    let p = pipeline("", "");
    let sink: gst_app::AppSink = common::by_name(&p, "sink");
    p.set_state(gst::State::Playing).unwrap();
    let mut before = 0;
    for _ in 0..20 {
        let recs = records(&sink.pull_sample().unwrap());
        before = recs
            .iter()
            .filter_map(|r| r.track_id)
            .fold(before, u32::max);
    }
    assert!(before > 0, "tracks before the seek");
    p.seek_simple(
        gst::SeekFlags::FLUSH | gst::SeekFlags::ACCURATE,
        gst::ClockTime::from_seconds(5),
    )
    .unwrap();
    let mut sample = sink.pull_sample().unwrap();
    while sample.buffer().unwrap().pts().unwrap() < gst::ClockTime::from_mseconds(4950) {
        sample = sink.pull_sample().unwrap();
    }
    // min-hits=3: the first two frames after the seek have no confirmed track.
    for k in 0..2 {
        let recs = records(&sample);
        assert!(!recs.is_empty());
        assert!(
            recs.iter().all(|r| r.track_id.is_none()),
            "frame {k} after the seek kept a track: {recs:?}"
        );
        sample = sink.pull_sample().unwrap();
    }
    let after: Vec<u32> = records(&sample).iter().filter_map(|r| r.track_id).collect();
    assert!(!after.is_empty());
    assert!(
        after.iter().all(|&id| id > before),
        "new tracks get new ids: {after:?} after {before}"
    );
    p.set_state(gst::State::Null).unwrap();
}

#[test]
fn json_output_carries_track_ids() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tracks.jsonl");
    // A fakesink: an appsink nobody pulls from holds EOS back.
    let p = pipeline_into("", &format!("json-output={}", q(&path)), "fakesink");
    let (errors, _) = common::play_to_eos(&p);
    assert!(errors.is_empty(), "{errors:?}");
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 100);
    let ids: Vec<&serde_json::Value> = lines
        .iter()
        .flat_map(|l| l["people"].as_array().unwrap())
        .map(|p| &p["track_id"])
        .collect();
    assert!(ids.iter().all(|v| v.is_u64() || v.is_null()), "{ids:?}");
    let tracked = ids.iter().filter(|v| v.is_u64()).count();
    assert!(
        ids.len() > 200 && tracked * 10 >= ids.len() * 7,
        "{tracked} of {} people with a track_id",
        ids.len()
    );
    assert_eq!(lines[50]["topology"], "coco17");
}
