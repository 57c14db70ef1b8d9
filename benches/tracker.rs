// SPDX-License-Identifier: MPL-2.0
//! Tracker benchmark. On the street clip (`vtest_walk_10s.mp4`, 10 fps) with MoveNet multipose
//! at input-size 512 behind `posetracker`, prints the number of tracks, the share of people in
//! tracks lasting at least 20 frames, and the mean frame-to-frame keypoint motion of the same
//! track with and without smoothing (`raw-x`/`raw-y` against `x`/`y`: walking moves keypoints
//! too, so the difference is the jitter removed) and the jitter itself (second difference). Then the tracker's own cost per frame for 10
//! synthetic people (target below 0.5 ms).
//! Run: `cargo bench --bench tracker` (about a minute on 2 cores).

use std::collections::BTreeMap;
use std::time::Instant;

use gst::prelude::*;
use gst_video::VideoRegionOfInterestMeta;
use gsttrtpose::meta;
use gsttrtpose::pose::{Keypoint, Person, Topology};
use gsttrtpose::track::{Tracker, TrackerConfig};

#[path = "../tests/common/mod.rs"]
mod common;

/// One tracked person in one frame: id, raw and smoothed keypoints (`None` = missing).
type Points = Vec<Option<(f64, f64)>>;

fn points(s: &gst::StructureRef, x: &str, y: &str) -> Points {
    let get = |f: &str| -> Vec<f64> {
        s.get::<gst::Array>(f)
            .unwrap()
            .iter()
            .map(|v| v.get::<f64>().unwrap())
            .collect()
    };
    get(x)
        .into_iter()
        .zip(get(y))
        .map(|(x, y)| (x >= 0.0 && y >= 0.0).then_some((x, y)))
        .collect()
}

/// Per frame: `(track id, raw, smoothed)` of every person (`None` id = untracked).
fn run_clip() -> Vec<Vec<(Option<u32>, Points, Points)>> {
    common::runtime();
    let p = common::launch(&format!(
        "filesrc location={} ! decodebin ! trtposeinfer model={} input-size=512 ! posetracker \
         ! appsink name=sink sync=false",
        common::quote(&common::media("vtest_walk_10s.mp4")),
        common::quote(&common::model("movenet-multipose.onnx"))
    ));
    let sink: gst_app::AppSink = common::by_name(&p, "sink");
    p.set_state(gst::State::Playing).unwrap();
    let mut frames = Vec::new();
    while let Ok(sample) = sink.pull_sample() {
        let buf = sample.buffer().unwrap();
        let people = buf
            .iter_meta::<VideoRegionOfInterestMeta>()
            .filter_map(|m| {
                let s = m.param(meta::PARAM_NAME)?;
                let id = u32::try_from(s.get::<i32>("track-id").ok()?).ok();
                Some((id, points(s, "raw-x", "raw-y"), points(s, "x", "y")))
            })
            .collect();
        frames.push(people);
    }
    p.set_state(gst::State::Null).unwrap();
    frames
}

/// Mean distance a keypoint of the same track moves between consecutive frames.
fn motion(frames: &[Vec<(Option<u32>, Points, Points)>], smoothed: bool) -> f64 {
    let (mut total, mut n) = (0.0, 0usize);
    for w in frames.windows(2) {
        for (id, raw, smooth) in &w[1] {
            let Some(prev) = w[0].iter().find(|p| p.0.is_some() && p.0 == *id) else {
                continue;
            };
            let (a, b) = if smoothed {
                (&prev.2, smooth)
            } else {
                (&prev.1, raw)
            };
            for (a, b) in a.iter().zip(b) {
                if let (Some(a), Some(b)) = (a, b) {
                    total += ((a.0 - b.0).powi(2) + (a.1 - b.1).powi(2)).sqrt();
                    n += 1;
                }
            }
        }
    }
    total / n.max(1) as f64
}

/// Mean second difference `|p(t) - 2 p(t-1) + p(t-2)|` of a keypoint of the same track: the
/// jitter, which walking at a steady pace hardly adds to.
fn jitter(frames: &[Vec<(Option<u32>, Points, Points)>], smoothed: bool) -> f64 {
    let pick = |p: &(Option<u32>, Points, Points)| if smoothed { p.2.clone() } else { p.1.clone() };
    let (mut total, mut n) = (0.0, 0usize);
    for w in frames.windows(3) {
        for person in &w[2] {
            let Some(id) = person.0 else { continue };
            let find = |f: &Vec<(Option<u32>, Points, Points)>| {
                f.iter().find(|p| p.0 == Some(id)).map(pick)
            };
            let (Some(a), Some(b)) = (find(&w[0]), find(&w[1])) else {
                continue;
            };
            for ((a, b), c) in a.iter().zip(&b).zip(&pick(person)) {
                if let (Some(a), Some(b), Some(c)) = (a, b, c) {
                    total +=
                        ((c.0 - 2.0 * b.0 + a.0).powi(2) + (c.1 - 2.0 * b.1 + a.1).powi(2)).sqrt();
                    n += 1;
                }
            }
        }
    }
    total / n.max(1) as f64
}

fn clip_report() {
    let frames = run_clip();
    let mut lengths: BTreeMap<u32, usize> = BTreeMap::new();
    let people: usize = frames.iter().map(Vec::len).sum();
    for id in frames.iter().flatten().filter_map(|p| p.0) {
        *lengths.entry(id).or_default() += 1;
    }
    let tracked: usize = lengths.values().sum();
    let long: usize = lengths.values().filter(|&&n| n >= 20).sum();
    println!(
        "street clip, MoveNet multipose input-size 512: {} frames, {people} people",
        frames.len()
    );
    println!("  tracks: {}", lengths.len());
    println!(
        "  people with a track id: {:.1} %",
        100.0 * tracked as f64 / people.max(1) as f64
    );
    println!(
        "  people in tracks lasting >= 20 frames: {:.1} %",
        100.0 * long as f64 / people.max(1) as f64
    );
    println!(
        "  track lengths (frames): {:?}",
        lengths.values().collect::<Vec<_>>()
    );
    let (raw, smooth) = (motion(&frames, false), motion(&frames, true));
    println!("  mean frame-to-frame keypoint motion: raw {raw:.2} px, smoothed {smooth:.2} px");
    let (raw, smooth) = (jitter(&frames, false), jitter(&frames, true));
    println!(
        "  mean keypoint jitter (second difference): raw {raw:.2} px, smoothed {smooth:.2} px"
    );
}

/// 10 walkers on a 1280x720 frame, keypoints jittered by a fixed pattern.
fn synthetic_frame(f: usize) -> Vec<Person> {
    (0..10)
        .map(|i| {
            let (cx, cy) = (
                60.0 + 120.0 * i as f32 + 2.0 * f as f32,
                300.0 + 10.0 * i as f32,
            );
            let mut p = Person {
                keypoints: (0..17)
                    .map(|c| {
                        let j = ((f * 7 + c * 13 + i * 5) % 11) as f32 * 0.3;
                        Some(Keypoint {
                            x: cx + (c % 5) as f32 * 8.0 - 16.0 + j,
                            y: cy + c as f32 * 9.0 - 75.0 + j,
                            score: 0.8,
                        })
                    })
                    .collect(),
                score: 0.8,
                ..Default::default()
            };
            p.update_bbox(0.0);
            p
        })
        .collect()
}

fn cost_report() {
    let frames: Vec<Vec<Person>> = (0..2000).map(synthetic_frame).collect();
    let names = Topology::coco17().keypoints;
    let mut tracker = Tracker::new(TrackerConfig::default(), &names).unwrap();
    for f in &frames[..100] {
        tracker.update(f, 1.0 / 30.0).unwrap();
    }
    let start = Instant::now();
    for f in &frames[100..] {
        std::hint::black_box(tracker.update(f, 1.0 / 30.0).unwrap());
    }
    let per_frame = start.elapsed().as_secs_f64() * 1e3 / (frames.len() - 100) as f64;
    println!(
        "tracker cost, 10 people: {per_frame:.3} ms per frame (target < 0.5 ms), {} tracks",
        tracker.num_tracks()
    );
}

fn main() {
    // `cargo bench` passes --bench; any other argument filters nothing here.
    cost_report();
    clip_report();
}
