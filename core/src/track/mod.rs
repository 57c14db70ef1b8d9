// SPDX-License-Identifier: MPL-2.0
//! Multi-person pose tracking, GStreamer-free: every person gets an id that persists across
//! frames, keypoints are smoothed, and frames without inference get predicted poses.
//!
//! Per frame ([`Tracker::update`]): every track predicts where its person is (constant-velocity
//! Kalman filter on the box, keypoints moved with it, [`state`]); detections are matched to
//! tracks by keypoint similarity and box overlap with Munkres ([`assign`]) in two passes, as
//! ByteTrack does: confident people first, then weak ones may extend the tracks left over (but
//! never start one). Unmatched confident people start tentative tracks, reported once seen
//! `min_hits` times; a lost track survives `max_age` updates. Matched keypoints go through a
//! One-Euro filter ([`one_euro`]).

pub mod assign;
pub mod kalman;
pub mod one_euro;
mod state;
#[cfg(test)]
mod tests;

use crate::pose::munkres::Munkres;
use crate::pose::{BBox, Keypoint, Person};
use assign::{Similarity, associate, sigmas_for};
pub use one_euro::OneEuroParams;
pub use state::Motion;
use state::Track;

/// Why the tracker refused its settings or a frame.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TrackError {
    #[error("person has {got} keypoints, the tracker's topology {expected}")]
    KeypointCount { expected: usize, got: usize },
    #[error("{name} must be {expected}, got {value}")]
    Setting {
        name: &'static str,
        expected: &'static str,
        value: f32,
    },
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrackerConfig {
    /// People scoring at least this are matched first and may start tracks. MoveNet
    /// multipose scores real people 0.2-0.4 on small figures, hence the low default (its own
    /// person threshold): at 0.25 a fifth of the street clip's walkers never got a track.
    pub high_threshold: f32,
    /// People scoring below this are ignored (never tracked).
    pub low_threshold: f32,
    /// Least similarity (0..=1) of a match in the first pass.
    pub match_threshold: f32,
    /// Least similarity of a weak person extending a track (second pass).
    pub low_match_threshold: f32,
    /// Share of keypoint similarity in the match score (the rest is box IoU).
    pub oks_weight: f32,
    /// Updates a lost track survives without a detection.
    pub max_age: u32,
    /// Detections before a new track is reported (gets an id).
    pub min_hits: u32,
    /// One-Euro smoothing of matched keypoints; `None` = raw positions.
    pub smoothing: Option<OneEuroParams>,
    pub motion: Motion,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        TrackerConfig {
            high_threshold: 0.2,
            low_threshold: 0.1,
            match_threshold: 0.2,
            low_match_threshold: 0.5,
            oks_weight: 0.7,
            max_age: 30,
            min_hits: 3,
            smoothing: Some(OneEuroParams::default()),
            motion: Motion::default(),
        }
    }
}

impl TrackerConfig {
    pub fn validate(&self) -> Result<(), TrackError> {
        let unit = |name, v: f32| {
            (0.0..=1.0)
                .contains(&v)
                .then_some(())
                .ok_or(TrackError::Setting {
                    name,
                    expected: "in 0..=1",
                    value: v,
                })
        };
        unit("high-threshold", self.high_threshold)?;
        unit("low-threshold", self.low_threshold)?;
        unit("match-threshold", self.match_threshold)?;
        unit("low-match-threshold", self.low_match_threshold)?;
        unit("oks-weight", self.oks_weight)?;
        if let Some(p) = &self.smoothing
            && !(p.min_cutoff > 0.0 && p.d_cutoff > 0.0 && p.beta >= 0.0)
        {
            return Err(TrackError::Setting {
                name: "min-cutoff",
                expected: "positive (and beta not negative)",
                value: p.min_cutoff,
            });
        }
        Ok(())
    }
}

/// A person as the tracker returns them, in the order they came in.
#[derive(Debug, Clone, PartialEq)]
pub struct Tracked {
    /// `None` until the track is confirmed, and for people no track took.
    pub track_id: Option<u32>,
    /// Smoothed (or predicted) keypoints; the raw ones are the input's.
    pub keypoints: Vec<Option<Keypoint>>,
    pub bbox: BBox,
    /// True on frames without inference, where the pose is the track's prediction.
    pub predicted: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackEvent {
    /// A track got confirmed and reported for the first time.
    Started { id: u32 },
    /// A confirmed track was lost for longer than `max_age`; `hits` detections in all.
    Ended { id: u32, hits: u32 },
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Update {
    pub people: Vec<Tracked>,
    pub events: Vec<TrackEvent>,
}

/// One tracker per stream.
#[derive(Debug)]
pub struct Tracker {
    config: TrackerConfig,
    sigmas: Vec<f32>,
    tracks: Vec<Track>,
    next_key: u64,
    next_id: u32,
    /// Track key of each person of the last update, for predicted frames.
    last: Vec<Option<u64>>,
    solver: Munkres,
    scores: Vec<f32>,
}

impl Tracker {
    /// A tracker for people of the topology with these keypoint names.
    pub fn new<S: AsRef<str>>(
        config: TrackerConfig,
        keypoint_names: &[S],
    ) -> Result<Self, TrackError> {
        config.validate()?;
        Ok(Tracker {
            config,
            sigmas: sigmas_for(keypoint_names),
            tracks: Vec::new(),
            next_key: 0,
            next_id: 1,
            last: Vec::new(),
            solver: Munkres::new(),
            scores: Vec::new(),
        })
    }

    pub fn config(&self) -> &TrackerConfig {
        &self.config
    }

    /// Forgets every track (flush, new caps); ids keep counting, so none is ever reused.
    pub fn reset(&mut self) {
        self.tracks.clear();
        self.last.clear();
    }

    /// Tracks alive, confirmed or not.
    pub fn num_tracks(&self) -> usize {
        self.tracks.len()
    }

    fn check(&self, people: &[Person]) -> Result<(), TrackError> {
        let expected = self.sigmas.len();
        match people.iter().find(|p| p.keypoints.len() != expected) {
            Some(p) => Err(TrackError::KeypointCount {
                expected,
                got: p.keypoints.len(),
            }),
            None => Ok(()),
        }
    }

    /// Matches `rows` (track indices) with `cols` (people indices) at `threshold`.
    fn match_pass(
        &mut self,
        rows: &[usize],
        cols: &[usize],
        people: &[Person],
        threshold: f32,
    ) -> Vec<(usize, usize)> {
        let sim = Similarity {
            oks_weight: self.config.oks_weight,
        };
        self.scores.clear();
        for &t in rows {
            let pred = self.tracks[t].predicted();
            for &d in cols {
                let p = &people[d];
                self.scores
                    .push(sim.score(&pred, &p.keypoints, &p.bbox, &self.sigmas));
            }
        }
        associate(
            &mut self.solver,
            &self.scores,
            rows.len(),
            cols.len(),
            threshold,
        )
        .into_iter()
        .map(|(r, c)| (rows[r], cols[c]))
        .collect()
    }

    /// One inferred frame, `dt` seconds after the previous frame.
    pub fn update(&mut self, people: &[Person], dt: f32) -> Result<Update, TrackError> {
        self.check(people)?;
        let cfg = self.config;
        for t in &mut self.tracks {
            t.predict(dt, &cfg.motion);
        }
        let high: Vec<usize> = (0..people.len())
            .filter(|&d| people[d].score >= cfg.high_threshold)
            .collect();
        let low: Vec<usize> = (0..people.len())
            .filter(|&d| (cfg.low_threshold..cfg.high_threshold).contains(&people[d].score))
            .collect();
        let all: Vec<usize> = (0..self.tracks.len()).collect();
        let mut matches = self.match_pass(&all, &high, people, cfg.match_threshold);
        // Weak people only extend confirmed tracks left over (ByteTrack's second pass).
        let left: Vec<usize> = all
            .iter()
            .copied()
            .filter(|t| self.tracks[*t].id.is_some() && !matches.iter().any(|m| m.0 == *t))
            .collect();
        matches.extend(self.match_pass(&left, &low, people, cfg.low_match_threshold));

        let mut update = Update {
            people: people.iter().map(unassigned).collect(),
            events: Vec::new(),
        };
        let mut keys: Vec<Option<u64>> = vec![None; people.len()];
        let mut matched = vec![false; self.tracks.len()];
        for &(t, d) in &matches {
            matched[t] = true;
            let track = &mut self.tracks[t];
            let keypoints = track.update(&people[d], dt, &cfg.motion, cfg.smoothing.as_ref());
            if track.id.is_none() && track.hits >= cfg.min_hits {
                track.id = Some(self.next_id);
                self.next_id += 1;
                update.events.push(TrackEvent::Started {
                    id: self.next_id - 1,
                });
            }
            keys[d] = Some(track.key);
            update.people[d].track_id = track.id;
            update.people[d].keypoints = keypoints;
        }
        self.retire(&matched, &mut update.events);
        for &d in &high {
            if keys[d].is_none() {
                keys[d] = Some(self.start(&people[d], &mut update));
                update.people[d].track_id = self.tracks.last().and_then(|t| t.id);
            }
        }
        self.last = keys;
        Ok(update)
    }

    /// Tracks not matched this frame: tentative ones end at once (a flicker is not a person),
    /// confirmed ones after `max_age` misses.
    fn retire(&mut self, matched: &[bool], events: &mut Vec<TrackEvent>) {
        let max_age = self.config.max_age;
        let mut i = 0;
        self.tracks.retain_mut(|t| {
            let hit = matched[i];
            i += 1;
            if hit {
                return true;
            }
            t.miss();
            match t.id {
                None => false,
                Some(id) if t.misses > max_age => {
                    events.push(TrackEvent::Ended { id, hits: t.hits });
                    false
                }
                Some(_) => true,
            }
        });
    }

    fn start(&mut self, person: &Person, update: &mut Update) -> u64 {
        let cfg = &self.config;
        let mut t = Track::new(self.next_key, person, &cfg.motion, cfg.smoothing.as_ref());
        self.next_key += 1;
        if cfg.min_hits <= 1 {
            t.id = Some(self.next_id);
            update.events.push(TrackEvent::Started { id: self.next_id });
            self.next_id += 1;
        }
        let key = t.key;
        self.tracks.push(t);
        key
    }

    /// A frame without inference, `dt` seconds after the previous one: `people` are the last
    /// update's, carried over. Tracks move on by their motion model; each person gets their
    /// track's prediction. Falls back to [`Tracker::update`] when the people are not those
    /// of the last update (another count).
    pub fn coast(&mut self, people: &[Person], dt: f32) -> Result<Update, TrackError> {
        if people.len() != self.last.len() {
            return self.update(people, dt);
        }
        self.check(people)?;
        for t in &mut self.tracks {
            t.predict(dt, &self.config.motion);
        }
        let people = people
            .iter()
            .zip(&self.last)
            .map(
                |(p, key)| match key.and_then(|k| self.tracks.iter().find(|t| t.key == k)) {
                    Some(t) => Tracked {
                        track_id: t.id,
                        keypoints: t.coasted(),
                        bbox: t.bbox(),
                        predicted: true,
                    },
                    None => unassigned(p),
                },
            )
            .collect();
        Ok(Update {
            people,
            events: Vec::new(),
        })
    }
}

fn unassigned(p: &Person) -> Tracked {
    Tracked {
        track_id: None,
        keypoints: p.keypoints.clone(),
        bbox: p.bbox,
        predicted: false,
    }
}
