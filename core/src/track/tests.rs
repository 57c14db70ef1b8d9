// SPDX-License-Identifier: MPL-2.0
//! The tracker on synthetic sequences with known truth: people walking, crossing, hidden for
//! a while, leaving and entering, detections dropping out at random (seeded). Id switches and
//! fragmentations are counted against the truth.

use std::collections::{BTreeMap, BTreeSet};

use super::*;
use crate::pose::Topology;

const DT: f32 = 1.0 / 30.0;

/// A standing person's COCO-17 keypoints relative to the box centre, in body heights.
const SKELETON: [(f32, f32); 17] = [
    (0.0, -0.45),
    (-0.02, -0.47),
    (0.02, -0.47),
    (-0.04, -0.46),
    (0.04, -0.46),
    (-0.1, -0.33),
    (0.1, -0.33),
    (-0.13, -0.15),
    (0.13, -0.15),
    (-0.14, 0.0),
    (0.14, 0.0),
    (-0.07, 0.02),
    (0.07, 0.02),
    (-0.07, 0.25),
    (0.07, 0.25),
    (-0.07, 0.48),
    (0.07, 0.48),
];

/// xorshift32: deterministic noise and drop-outs without a dependency.
struct Rng(u32);

impl Rng {
    fn unit(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 17;
        self.0 ^= self.0 << 5;
        self.0 as f32 / u32::MAX as f32
    }
    fn signed(&mut self, amplitude: f32) -> f32 {
        (self.unit() * 2.0 - 1.0) * amplitude
    }
}

/// A person of height `h` centred at `(cx, cy)`, keypoints jittered by up to `noise` px.
fn person(cx: f32, cy: f32, h: f32, score: f32, noise: f32, rng: &mut Rng) -> Person {
    let mut p = Person {
        keypoints: SKELETON
            .iter()
            .map(|&(u, v)| {
                Some(Keypoint {
                    x: cx + u * h + rng.signed(noise),
                    y: cy + v * h + rng.signed(noise),
                    score: 0.8,
                })
            })
            .collect(),
        score,
        ..Default::default()
    };
    p.update_bbox(0.0);
    p
}

/// A walker: position at frame `f` (`None` = not detected).
struct Walker {
    start: (f32, f32),
    vel: (f32, f32),
    h: f32,
    visible: Box<dyn Fn(usize, (f32, f32)) -> bool>,
    score: Box<dyn Fn(usize) -> f32>,
}

fn walker(start: (f32, f32), vel: (f32, f32)) -> Walker {
    Walker {
        start,
        vel,
        h: 150.0,
        visible: Box::new(|_, _| true),
        score: Box::new(|_| 0.8),
    }
}

#[derive(Default, Debug)]
struct Outcome {
    /// Track ids given to each truth id, in order of frames (`None`: detected, no id).
    ids: BTreeMap<usize, Vec<Option<u32>>>,
    events: Vec<TrackEvent>,
}

impl Outcome {
    /// Times a person's id changed from one reported id to another.
    fn switches(&self) -> usize {
        self.ids
            .values()
            .map(|seq| {
                let seen: Vec<u32> = seq.iter().flatten().copied().collect();
                seen.windows(2).filter(|w| w[0] != w[1]).count()
            })
            .sum()
    }
    /// Ids beyond the first per person (a track broken into pieces).
    fn fragmentations(&self) -> usize {
        self.ids
            .values()
            .map(|seq| {
                seq.iter()
                    .flatten()
                    .collect::<BTreeSet<_>>()
                    .len()
                    .saturating_sub(1)
            })
            .sum()
    }
    /// Ids given to more than one person.
    fn merges(&self) -> usize {
        let mut owners: BTreeMap<u32, BTreeSet<usize>> = BTreeMap::new();
        for (gt, seq) in &self.ids {
            for id in seq.iter().flatten() {
                owners.entry(*id).or_default().insert(*gt);
            }
        }
        owners.values().filter(|o| o.len() > 1).count()
    }
    fn ids_of(&self, gt: usize) -> BTreeSet<u32> {
        self.ids[&gt].iter().flatten().copied().collect()
    }
}

fn run(tracker: &mut Tracker, walkers: &[Walker], frames: usize, drop: f32, seed: u32) -> Outcome {
    let mut rng = Rng(seed);
    let mut out = Outcome::default();
    for f in 0..frames {
        let mut truth = Vec::new();
        let mut people = Vec::new();
        for (gt, w) in walkers.iter().enumerate() {
            let pos = (
                w.start.0 + w.vel.0 * f as f32,
                w.start.1 + w.vel.1 * f as f32,
            );
            if !(w.visible)(f, pos) || rng.unit() < drop {
                continue;
            }
            truth.push(gt);
            people.push(person(pos.0, pos.1, w.h, (w.score)(f), 2.0, &mut rng));
        }
        let update = tracker.update(&people, DT).unwrap();
        let ids: Vec<u32> = update.people.iter().filter_map(|p| p.track_id).collect();
        assert_eq!(
            ids.len(),
            ids.iter().collect::<BTreeSet<_>>().len(),
            "an id twice in frame {f}: {ids:?}"
        );
        for (gt, p) in truth.iter().zip(&update.people) {
            out.ids.entry(*gt).or_default().push(p.track_id);
        }
        out.events.extend(update.events);
    }
    out
}

fn tracker() -> Tracker {
    Tracker::new(TrackerConfig::default(), &Topology::coco17().keypoints).unwrap()
}

#[test]
fn two_people_crossing_keep_their_ids() {
    let walkers = [
        walker((100.0, 300.0), (7.0, 0.0)),
        walker((520.0, 315.0), (-7.0, 0.0)),
    ];
    let o = run(&mut tracker(), &walkers, 60, 0.0, 1);
    assert_eq!(
        (o.switches(), o.fragmentations(), o.merges()),
        (0, 0, 0),
        "{o:?}"
    );
    assert_eq!(o.ids_of(0).len() + o.ids_of(1).len(), 2);
}

#[test]
fn an_occluded_person_comes_back_with_the_same_id() {
    let mut hidden = walker((100.0, 300.0), (5.0, 0.0));
    hidden.visible = Box::new(|f, _| !(20..28).contains(&f));
    let walkers = [hidden, walker((400.0, 250.0), (0.0, 1.0))];
    let o = run(&mut tracker(), &walkers, 60, 0.0, 2);
    assert_eq!(
        (o.switches(), o.fragmentations(), o.merges()),
        (0, 0, 0),
        "{o:?}"
    );
    assert_eq!(o.ids_of(0).len(), 1);
    assert!(
        !o.events
            .iter()
            .any(|e| matches!(e, TrackEvent::Ended { .. })),
        "{:?}",
        o.events
    );
}

#[test]
fn a_person_leaving_and_another_entering_get_different_ids() {
    // A walks out on the right at frame ~31; B enters there at frame 42, walking left.
    let mut a = walker((400.0, 300.0), (8.0, 0.0));
    a.visible = Box::new(|_, (x, _)| x < 640.0);
    let mut b = walker((640.0 + 42.0 * 8.0, 300.0), (-8.0, 0.0));
    b.visible = Box::new(|_, (x, _)| x < 640.0);
    let config = TrackerConfig {
        max_age: 20,
        ..Default::default()
    };
    let mut t = Tracker::new(config, &Topology::coco17().keypoints).unwrap();
    let o = run(&mut t, &[a, b], 90, 0.0, 3);
    let (ida, idb) = (o.ids_of(0), o.ids_of(1));
    assert_eq!((ida.len(), idb.len()), (1, 1), "{o:?}");
    assert_ne!(ida, idb);
    let a_id = *ida.first().unwrap();
    assert!(
        o.events.contains(&TrackEvent::Ended { id: a_id, hits: 30 }),
        "{:?}",
        o.events
    );
    assert_eq!(
        o.events
            .iter()
            .filter(|e| matches!(e, TrackEvent::Started { .. }))
            .count(),
        2
    );
}

#[test]
fn random_drop_outs_cause_no_switch_and_no_fragmentation() {
    // Four people, two of them crossing, each detection dropped with p = 0.2 (seeded).
    let walkers = [
        walker((80.0, 200.0), (6.0, 0.5)),
        walker((560.0, 230.0), (-6.0, 0.0)),
        walker((300.0, 420.0), (0.0, -1.0)),
        walker((150.0, 450.0), (2.0, 0.0)),
    ];
    for seed in [11, 22, 33, 44, 55] {
        let o = run(&mut tracker(), &walkers, 80, 0.2, seed);
        assert_eq!(
            (o.switches(), o.fragmentations(), o.merges()),
            (0, 0, 0),
            "seed {seed}: {o:?}"
        );
        assert_eq!(o.ids.len(), 4);
        for gt in 0..4 {
            assert_eq!(o.ids_of(gt).len(), 1, "seed {seed}, person {gt}: {o:?}");
        }
    }
}

#[test]
fn weak_detections_extend_tracks_instead_of_starting_new_ones() {
    // Scores drop below the high threshold (partly occluded) for frames 20..35.
    let mut w = walker((100.0, 300.0), (4.0, 0.0));
    w.score = Box::new(|f| if (20..35).contains(&f) { 0.15 } else { 0.8 });
    let o = run(&mut tracker(), &[w], 50, 0.0, 4);
    let seq = &o.ids[&0];
    let id = seq[10].expect("confirmed by frame 10");
    assert!(seq[20..35].iter().all(|&i| i == Some(id)), "{seq:?}");
    assert_eq!(o.ids_of(0).len(), 1);
    // A weak person alone never starts a track.
    let mut t = tracker();
    let mut rng = Rng(5);
    for _ in 0..10 {
        let p = person(100.0, 100.0, 150.0, 0.15, 1.0, &mut rng);
        assert_eq!(t.update(&[p], DT).unwrap().people[0].track_id, None);
    }
    assert_eq!(t.num_tracks(), 0);
}

#[test]
fn ids_appear_after_min_hits_and_tentative_flickers_die() {
    let mut t = tracker();
    let mut rng = Rng(6);
    let p = |rng: &mut Rng| person(100.0, 100.0, 150.0, 0.9, 1.0, rng);
    let ids: Vec<Option<u32>> = (0..4)
        .map(|_| t.update(&[p(&mut rng)], DT).unwrap().people[0].track_id)
        .collect();
    assert_eq!(ids, vec![None, None, Some(1), Some(1)]);
    // A one-frame flicker elsewhere leaves no track behind.
    t.update(
        &[p(&mut rng), person(500.0, 100.0, 150.0, 0.9, 1.0, &mut rng)],
        DT,
    )
    .unwrap();
    t.update(&[p(&mut rng)], DT).unwrap();
    assert_eq!(t.num_tracks(), 1);
}

fn motion(seq: &[Vec<Option<Keypoint>>]) -> f32 {
    let mut total = 0.0;
    let mut n = 0;
    for w in seq.windows(2) {
        for (a, b) in w[0].iter().zip(&w[1]) {
            if let (Some(a), Some(b)) = (a, b) {
                total += ((a.x - b.x).powi(2) + (a.y - b.y).powi(2)).sqrt();
                n += 1;
            }
        }
    }
    total / n as f32
}

#[test]
fn smoothing_steadies_a_still_person_and_can_be_turned_off() {
    let mut rng = Rng(7);
    let raw: Vec<Person> = (0..90)
        .map(|_| person(300.0, 200.0, 150.0, 0.9, 3.0, &mut rng))
        .collect();
    let run = |config: TrackerConfig| -> Vec<Vec<Option<Keypoint>>> {
        let mut t = Tracker::new(config, &Topology::coco17().keypoints).unwrap();
        raw.iter()
            .map(|p| {
                t.update(std::slice::from_ref(p), DT).unwrap().people[0]
                    .keypoints
                    .clone()
            })
            .collect()
    };
    let smooth = run(TrackerConfig::default());
    let off = run(TrackerConfig {
        smoothing: None,
        ..Default::default()
    });
    let raw_kp: Vec<_> = raw.iter().map(|p| p.keypoints.clone()).collect();
    assert_eq!(off, raw_kp);
    let (m_raw, m_smooth) = (motion(&raw_kp), motion(&smooth));
    assert!(m_smooth < m_raw / 3.0, "{m_smooth} vs {m_raw}");
}

#[test]
fn frames_without_inference_get_predicted_poses() {
    let mut t = tracker();
    let mut rng = Rng(8);
    let v = 6.0;
    let at = |f: usize, rng: &mut Rng| person(100.0 + v * f as f32, 300.0, 150.0, 0.9, 0.5, rng);
    let mut last = Vec::new();
    for f in 0..15 {
        last = vec![at(f, &mut rng)];
        t.update(&last, DT).unwrap();
    }
    // Two frames carried over: the person is where they walked to, not where they were.
    for k in 1..=2 {
        let u = t.coast(&last, DT).unwrap();
        let p = &u.people[0];
        assert!(p.predicted && p.track_id.is_some());
        let nose = p.keypoints[0].unwrap();
        let truth = 100.0 + v * (14 + k) as f32;
        assert!(
            (nose.x - truth).abs() < 2.5,
            "frame +{k}: {} vs {truth}",
            nose.x
        );
    }
    assert!(coast_with_other_people_updates(&mut t, &last));
}

/// A coast with other people than the last update falls back to a real update.
fn coast_with_other_people_updates(t: &mut Tracker, last: &[Person]) -> bool {
    let two = [last[0].clone(), last[0].clone()];
    let u = t.coast(&two, DT).unwrap();
    u.people.iter().all(|p| !p.predicted)
}

#[test]
fn reset_forgets_tracks_but_never_reuses_ids() {
    let mut t = tracker();
    let mut rng = Rng(9);
    for _ in 0..5 {
        t.update(&[person(100.0, 100.0, 150.0, 0.9, 1.0, &mut rng)], DT)
            .unwrap();
    }
    t.reset();
    assert_eq!(t.num_tracks(), 0);
    let ids: Vec<_> = (0..4)
        .map(|_| {
            t.update(&[person(100.0, 100.0, 150.0, 0.9, 1.0, &mut rng)], DT)
                .unwrap()
                .people[0]
                .track_id
        })
        .collect();
    assert_eq!(ids, vec![None, None, Some(2), Some(2)]);
}

#[test]
fn wrong_keypoint_counts_and_bad_settings_are_errors() {
    let mut t = tracker();
    let p = Person {
        keypoints: vec![None; 5],
        ..Default::default()
    };
    assert_eq!(
        t.update(&[p], DT).unwrap_err(),
        TrackError::KeypointCount {
            expected: 17,
            got: 5
        }
    );
    let bad = TrackerConfig {
        oks_weight: 1.5,
        ..Default::default()
    };
    let e = Tracker::new(bad, &["nose"]).unwrap_err();
    assert_eq!(e.to_string(), "oks-weight must be in 0..=1, got 1.5");
}
