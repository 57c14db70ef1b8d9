// SPDX-License-Identifier: MPL-2.0
//! posetracker alone in a `gst_check::Harness`, with people attached by hand (no model, no
//! media): property defaults and ranges; track ids after min-hits and kept while the person
//! walks; raw positions kept beside smoothed ones; carried-over frames predicted; other
//! metadata untouched; track messages; a flush forgetting the tracks; malformed metadata.

mod common;

use std::str::FromStr as _;

use common::harness::*;
use gst::prelude::*;
use gst_video::VideoRegionOfInterestMeta;
use gsttrtpose::meta;
use gsttrtpose::pose::{Keypoint, Person, Topology};

const W: u32 = 640;
const H: u32 = 480;

fn harness(e: &gst::Element) -> gst_check::Harness {
    let mut h = gst_check::Harness::with_element(e, Some("sink"), Some("src"));
    h.set_src_caps_str(&format!(
        "video/x-raw,format=GRAY8,width={W},height={H},framerate=10/1"
    ));
    h
}

/// A COCO-17 person centred at `(cx, 240)`, keypoints jittered by `jitter` px.
fn person(cx: f32, jitter: f32) -> Person {
    let topo = Topology::coco17();
    let mut p = Person {
        keypoints: (0..17)
            .map(|c| {
                Some(Keypoint {
                    x: cx + (c % 3) as f32 * 10.0 - 10.0
                        + jitter * if c % 2 == 0 { 1.0 } else { -1.0 },
                    y: 180.0 + c as f32 * 8.0,
                    score: 0.8,
                })
            })
            .collect(),
        score: 0.8,
        ..Default::default()
    };
    p.update_links(&topo);
    p.update_bbox(0.0);
    p
}

/// Frame `n` (10 fps) with `people`, flagged `reused` as trtposeinfer does.
fn frame(n: u64, people: &[Person], reused: bool) -> gst::Buffer {
    let mut b = gst::Buffer::with_size((W * H) as usize).unwrap();
    {
        let b = b.get_mut().unwrap();
        b.set_pts(gst::ClockTime::from_mseconds(100 * n));
        meta::attach(b, people, &Topology::coco17(), reused, W, H);
    }
    b
}

fn records(b: &gst::Buffer) -> Vec<meta::PoseRecord> {
    meta::read(b).into_iter().map(Result::unwrap).collect()
}

fn poses(b: &gst::Buffer) -> Vec<gst::Structure> {
    b.iter_meta::<VideoRegionOfInterestMeta>()
        .filter_map(|m| m.param(meta::PARAM_NAME).map(|s| s.to_owned()))
        .collect()
}

fn f64s(s: &gst::Structure, field: &str) -> Vec<f64> {
    s.get::<gst::Array>(field)
        .unwrap()
        .iter()
        .map(|v| v.get::<f64>().unwrap())
        .collect()
}

#[test]
fn properties_have_documented_defaults_and_ranges() {
    let (e, _bus) = element_with_bus("posetracker");
    assert_values_are_declared_defaults(&e);
    assert_numeric(&e, "high-threshold", 0.2, 0.0, 1.0);
    assert_numeric(&e, "low-threshold", 0.1, 0.0, 1.0);
    assert_numeric(&e, "match-threshold", 0.2, 0.0, 1.0);
    assert_numeric(&e, "low-match-threshold", 0.5, 0.0, 1.0);
    assert_numeric(&e, "oks-weight", 0.7, 0.0, 1.0);
    assert_numeric(&e, "max-age", 30.0, 0.0, 100_000.0);
    assert_numeric(&e, "min-hits", 3.0, 1.0, 1000.0);
    assert_numeric(&e, "min-cutoff", 1.0, 0.001, 1000.0);
    assert_numeric(&e, "beta", 0.05, 0.0, 1000.0);
    assert!(e.property::<bool>("smoothing"));
    // The One-Euro tuning survives smoothing being turned off and on.
    e.set_property("beta", 0.5f32);
    e.set_property("smoothing", false);
    e.set_property("smoothing", true);
    assert_eq!(e.property::<f32>("beta"), 0.5);
    for p in own_pspecs(&e) {
        assert!(
            !p.nick().is_empty() && p.blurb().is_some_and(|b| b.len() > 20),
            "{}",
            p.name()
        );
    }
}

#[test]
fn ids_persist_raw_positions_stay_and_carried_over_frames_are_predicted() {
    let (e, bus) = element_with_bus("posetracker");
    let mut h = harness(&e);
    let mut ids = Vec::new();
    for n in 0..15 {
        let input = person(100.0 + 10.0 * n as f32, if n % 2 == 0 { 3.0 } else { -3.0 });
        let out = h
            .push_and_pull(frame(n, std::slice::from_ref(&input), false))
            .unwrap();
        let s = &poses(&out)[0];
        ids.push(s.get::<i32>("track-id").unwrap());
        assert!(!s.get::<bool>("predicted").unwrap());
        let raw: Vec<f64> = input
            .keypoints
            .iter()
            .map(|k| k.unwrap().x as f64)
            .collect();
        assert_eq!(f64s(s, "raw-x"), raw, "raw positions are kept");
        if n >= 3 {
            assert_ne!(f64s(s, "x"), raw, "smoothed positions replace the raw ones");
        }
    }
    assert_eq!(ids[..3], [-1, -1, 1], "an id after min-hits=3");
    assert!(ids[3..].iter().all(|&i| i == 1), "the id is kept: {ids:?}");
    let started = element_messages(&bus, "posetracker");
    assert_eq!(started.len(), 1, "{started:?}");
    assert_eq!(started[0].get::<&str>("event").unwrap(), "track-started");
    assert_eq!(started[0].get::<i32>("track-id").unwrap(), 1);

    // Frame 15 carried over (interval > 1): the person moves on with the track, closer to
    // where they really are (nose at 250 - 10 without jitter) than the stale copy of frame 14.
    let stale = person(240.0, 3.0);
    let out = h
        .push_and_pull(frame(15, std::slice::from_ref(&stale), true))
        .unwrap();
    let r = &records(&out)[0];
    assert!(r.predicted && r.track_id == Some(1), "{r:?}");
    let (nose, stale_nose) = (r.person.keypoints[0].unwrap(), stale.keypoints[0].unwrap());
    let truth = 250.0 - 10.0;
    assert!(
        (nose.x - truth).abs() < (stale_nose.x - truth).abs() / 2.0,
        "predicted {} vs stale {}, truth {truth}",
        nose.x,
        stale_nose.x
    );
}

#[test]
fn other_metadata_and_meta_ids_are_kept() {
    let (e, _bus) = element_with_bus("posetracker");
    let mut h = harness(&e);
    let mut b = frame(0, &[person(100.0, 0.0), person(400.0, 0.0)], false);
    {
        let b = b.get_mut().unwrap();
        let mut face = VideoRegionOfInterestMeta::add(b, "face", (1, 2, 3, 4));
        face.set_id(7);
        let first = b
            .iter_meta_mut::<VideoRegionOfInterestMeta>()
            .next()
            .unwrap();
        let mut first = first;
        first.add_param(gst::Structure::from_str("extra, a=(int)5").unwrap());
    }
    let out = h.push_and_pull(b).unwrap();
    let metas: Vec<(String, i32, Vec<String>)> = out
        .iter_meta::<VideoRegionOfInterestMeta>()
        .map(|m| {
            (
                m.roi_type().to_string(),
                m.id(),
                m.params().map(|s| s.name().to_string()).collect(),
            )
        })
        .collect();
    assert_eq!(metas.len(), 3);
    assert!(metas.contains(&("face".into(), 7, vec![])));
    assert!(metas.contains(&("person".into(), 0, vec!["pose".into(), "extra".into()])));
    assert!(metas.contains(&("person".into(), 1, vec!["pose".into()])));
}

#[test]
fn a_flush_forgets_the_tracks_and_ids_are_never_reused() {
    let (e, _bus) = element_with_bus("posetracker");
    let mut h = harness(&e);
    for n in 0..4 {
        h.push_and_pull(frame(n, &[person(100.0, 0.0)], false))
            .unwrap();
    }
    assert!(h.push_event(gst::event::FlushStart::new()));
    assert!(h.push_event(gst::event::FlushStop::new(true)));
    assert!(h.push_event(segment()));
    let ids: Vec<Option<u32>> = (0..4)
        .map(|n| {
            records(
                &h.push_and_pull(frame(n, &[person(100.0, 0.0)], false))
                    .unwrap(),
            )[0]
            .track_id
        })
        .collect();
    assert_eq!(
        ids,
        [None, None, Some(2), Some(2)],
        "tracks start over after the flush"
    );
}

#[test]
fn malformed_people_pass_untracked_with_a_warning() {
    let (e, bus) = element_with_bus("posetracker");
    let mut h = harness(&e);
    let mut b = gst::Buffer::with_size((W * H) as usize).unwrap();
    {
        let mut m = VideoRegionOfInterestMeta::add(b.get_mut().unwrap(), "person", (0, 0, 5, 5));
        m.add_param(gst::Structure::from_str("pose, x=(double)<1.0>").unwrap());
    }
    let out = h.push_and_pull(b).unwrap();
    let s = &poses(&out)[0];
    assert!(!s.has_field("track-id"));
    let warnings = bus_texts(&bus, false);
    assert_eq!(warnings, ["Malformed pose metadata"], "{warnings:?}");
}

#[test]
fn a_lost_track_ends_after_max_age_with_a_message() {
    let (e, bus) = element_with_bus("posetracker");
    e.set_property("max-age", 2u32);
    let mut h = harness(&e);
    for n in 0..4 {
        h.push_and_pull(frame(n, &[person(100.0, 0.0)], false))
            .unwrap();
    }
    let mut ended = Vec::new();
    for n in 4..8 {
        h.push_and_pull(frame(n, &[], false)).unwrap();
        ended.extend(
            element_messages(&bus, "posetracker")
                .into_iter()
                .filter(|s| s.get::<&str>("event").unwrap() == "track-ended")
                .map(|s| {
                    (
                        n,
                        s.get::<i32>("track-id").unwrap(),
                        s.get::<u32>("hits").unwrap(),
                    )
                }),
        );
    }
    // Missed at frames 4, 5 and 6: the third miss is past max-age=2.
    assert_eq!(ended, [(6, 1, 4)]);
}

#[test]
fn new_caps_forget_the_tracks() {
    let (e, _bus) = element_with_bus("posetracker");
    let mut h = harness(&e);
    for n in 0..4 {
        let out = h
            .push_and_pull(frame(n, &[person(100.0, 0.0)], false))
            .unwrap();
        assert_eq!(records(&out)[0].track_id.is_some(), n >= 2);
    }
    h.set_src_caps_str(&format!(
        "video/x-raw,format=GRAY8,width={W},height={H},framerate=15/1"
    ));
    let out = h
        .push_and_pull(frame(4, &[person(100.0, 0.0)], false))
        .unwrap();
    assert_eq!(
        records(&out)[0].track_id,
        None,
        "the track survived new caps"
    );
}
