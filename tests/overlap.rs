// SPDX-License-Identifier: MPL-2.0
//! `trtposeinfer overlap=true` on the street clip: a frame is prepared while the network runs
//! the previous one, and the previous one goes out afterwards. Nothing may change but timing:
//! the same people on the same frames, in order, none lost at EOS, none from before a seek,
//! and the held frame counted in the reported latency.

mod common;

use common::quote as q;
use gst::prelude::*;
use gsttrtpose::meta::{self, PoseRecord};

fn pipeline(props: &str) -> gst::Pipeline {
    common::runtime();
    common::launch(&format!(
        "filesrc location={} ! decodebin ! trtposeinfer name=infer model={} threads=1 {props} ! appsink name=sink sync=false",
        q(&common::media("vtest_walk_10s.mp4")),
        q(&common::model("movenet-multipose-256x256.onnx"))
    ))
}

/// Every frame: its pts and people.
fn frames(props: &str) -> Vec<(u64, Vec<PoseRecord>)> {
    let p = pipeline(props);
    let sink: gst_app::AppSink = common::by_name(&p, "sink");
    p.set_state(gst::State::Playing).unwrap();
    let mut out = Vec::new();
    while let Ok(s) = sink.pull_sample() {
        let buf = s.buffer().unwrap();
        let people = meta::read(buf).into_iter().map(|r| r.unwrap()).collect();
        out.push((buf.pts().unwrap().nseconds(), people));
    }
    p.set_state(gst::State::Null).unwrap();
    out
}

#[test]
fn overlap_gives_the_same_people_on_the_same_frames_and_loses_none() {
    let plain = frames("");
    let overlapped = frames("overlap=true");
    assert_eq!(plain.len(), 100, "the clip has 100 frames");
    assert_eq!(overlapped.len(), plain.len(), "a frame was lost or added");
    for ((pa, a), (pb, b)) in plain.iter().zip(&overlapped) {
        assert_eq!(pa, pb, "frames out of order");
        assert_eq!(a, b, "people differ at {pa} ns");
    }
    assert!(plain.iter().filter(|(_, p)| !p.is_empty()).count() > 90);
    // The last frame is not held back at EOS.
    assert!(!overlapped.last().unwrap().1.is_empty());
}

#[test]
fn overlap_with_an_interval_runs_frames_one_after_another() {
    let plain = frames("interval=3");
    let overlapped = frames("interval=3 overlap=true");
    assert_eq!(plain, overlapped);
    assert!(overlapped.iter().any(|(_, p)| p.iter().any(|r| r.reused)));
}

/// The pts of every frame after a flushing seek to 5 s made once 10 frames came out.
fn after_seek(props: &str) -> Vec<u64> {
    let p = pipeline(props);
    let sink: gst_app::AppSink = common::by_name(&p, "sink");
    p.set_state(gst::State::Playing).unwrap();
    for _ in 0..10 {
        sink.pull_sample().unwrap();
    }
    p.seek_simple(
        gst::SeekFlags::FLUSH | gst::SeekFlags::ACCURATE,
        gst::ClockTime::from_seconds(5),
    )
    .unwrap();
    let mut after = Vec::new();
    while let Ok(s) = sink.pull_sample() {
        after.push(s.buffer().unwrap().pts().unwrap().nseconds());
    }
    p.set_state(gst::State::Null).unwrap();
    after
}

#[test]
fn a_flushing_seek_drops_the_held_frame() {
    let plain = after_seek("");
    let overlapped = after_seek("overlap=true");
    // The frame held back before the seek (from the first second) never comes out after it,
    // and the frames after it are those of a run without overlap, the last one included.
    assert!(
        overlapped.iter().all(|&t| t >= 4_000_000_000),
        "{:?}",
        &overlapped[..5.min(overlapped.len())]
    );
    assert!(overlapped.len() > 40);
    assert_eq!(plain, overlapped);
}

#[test]
fn the_held_frame_is_in_the_reported_latency() {
    let latency = |props: &str| {
        let p = pipeline(props);
        let sink: gst_app::AppSink = common::by_name(&p, "sink");
        p.set_state(gst::State::Playing).unwrap();
        sink.pull_sample().unwrap();
        let infer: gst::Element = common::by_name(&p, "infer");
        let mut q = gst::query::Latency::new();
        assert!(infer.static_pad("src").unwrap().query(&mut q));
        p.set_state(gst::State::Null).unwrap();
        q.result().1
    };
    let plain = latency("");
    let overlapped = latency("overlap=true");
    // 10 frames per second: the held frame adds 100 ms; the measured processing time (in
    // both) varies from run to run by a few ms.
    assert!(
        overlapped >= gst::ClockTime::from_mseconds(100)
            && overlapped >= plain + gst::ClockTime::from_mseconds(60),
        "{plain} vs {overlapped}"
    );
}
