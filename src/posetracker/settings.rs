// SPDX-License-Identifier: MPL-2.0
//! `posetracker`'s settings and the property definitions that set them.

use std::path::PathBuf;

use gst::glib;
use gst::prelude::*;

use crate::track::{OneEuroParams, TrackerConfig};

#[derive(Debug, Clone)]
pub(super) struct Settings {
    pub tracker: TrackerConfig,
    /// One-Euro tuning, kept while `smoothing` is off so it comes back as it was.
    pub euro: OneEuroParams,
    pub json_output: Option<PathBuf>,
}

impl Default for Settings {
    fn default() -> Self {
        let tracker = TrackerConfig::default();
        Settings {
            euro: tracker.smoothing.unwrap_or_default(),
            tracker,
            json_output: None,
        }
    }
}

fn float(name: &str, nick: &str, blurb: &str, range: (f32, f32), default: f32) -> glib::ParamSpec {
    glib::ParamSpecFloat::builder(name)
        .nick(nick)
        .blurb(blurb)
        .minimum(range.0)
        .maximum(range.1)
        .default_value(default)
        .mutable_ready()
        .build()
}

fn uint(name: &str, nick: &str, blurb: &str, range: (u32, u32), default: u32) -> glib::ParamSpec {
    glib::ParamSpecUInt::builder(name)
        .nick(nick)
        .blurb(blurb)
        .minimum(range.0)
        .maximum(range.1)
        .default_value(default)
        .mutable_ready()
        .build()
}

/// The element's properties; tracking settings apply from the next start (READY).
pub(super) fn properties() -> Vec<glib::ParamSpec> {
    let s = Settings::default();
    let (t, e) = (s.tracker, s.euro);
    vec![
        float("high-threshold", "High threshold",
            "People scoring at least this are matched first and may start tracks (ByteTrack's high-score pass)",
            (0.0, 1.0), t.high_threshold),
        float("low-threshold", "Low threshold",
            "People scoring below this are ignored; between this and high-threshold they may only extend existing tracks",
            (0.0, 1.0), t.low_threshold),
        float("match-threshold", "Match threshold",
            "Least similarity (0-1: oks-weight x keypoint similarity + the rest x box IoU) for a confident person to continue a track",
            (0.0, 1.0), t.match_threshold),
        float("low-match-threshold", "Low match threshold",
            "Least similarity for a weak person (below high-threshold) to extend a track",
            (0.0, 1.0), t.low_match_threshold),
        float("oks-weight", "OKS weight",
            "Share of keypoint similarity (OKS, weighted by keypoint scores) in the match score; the rest is box overlap (IoU)",
            (0.0, 1.0), t.oks_weight),
        uint("max-age", "Maximum age",
            "Inferred frames a lost track survives without a match before it ends (frames carried over with interval > 1 do not count)",
            (0, 100_000), t.max_age),
        uint("min-hits", "Minimum hits",
            "Frames in a row a new person must be found before their track is reported (gets a track-id); until then track-id is -1",
            (1, 1000), t.min_hits),
        glib::ParamSpecBoolean::builder("smoothing")
            .nick("Smoothing")
            .blurb("Smooth keypoints with a One-Euro filter per keypoint; the positions found stay in raw-x/raw-y")
            .default_value(t.smoothing.is_some())
            .mutable_ready()
            .build(),
        float("min-cutoff", "Minimum cutoff",
            "One-Euro cutoff frequency (Hz) of a still keypoint: lower = steadier, more lag",
            (0.001, 1000.0), e.min_cutoff),
        float("beta", "Beta",
            "One-Euro cutoff increase per pixel/second of keypoint speed: higher = less lag when moving",
            (0.0, 1000.0), e.beta),
        float("d-cutoff", "Derivative cutoff",
            "One-Euro cutoff frequency (Hz) of the speed estimate",
            (0.001, 1000.0), e.d_cutoff),
        glib::ParamSpecString::builder("json-output")
            .nick("JSON output")
            .blurb("Write one JSON object per frame (JSON Lines, trtposeinfer's schema with track_id per person) to this file; empty = off")
            .mutable_ready()
            .build(),
    ]
}

impl Settings {
    /// Sets a property; `false` for names this struct does not hold.
    pub fn set(&mut self, name: &str, value: &glib::Value) -> bool {
        let t = &mut self.tracker;
        let f = |v: &glib::Value| v.get::<f32>().expect("type checked upstream");
        let u = |v: &glib::Value| v.get::<u32>().expect("type checked upstream");
        match name {
            "high-threshold" => t.high_threshold = f(value),
            "low-threshold" => t.low_threshold = f(value),
            "match-threshold" => t.match_threshold = f(value),
            "low-match-threshold" => t.low_match_threshold = f(value),
            "oks-weight" => t.oks_weight = f(value),
            "max-age" => t.max_age = u(value),
            "min-hits" => t.min_hits = u(value),
            "smoothing" => {
                let on: bool = value.get().expect("type checked upstream");
                t.smoothing = on.then_some(self.euro);
            }
            "min-cutoff" => self.euro.min_cutoff = f(value),
            "beta" => self.euro.beta = f(value),
            "d-cutoff" => self.euro.d_cutoff = f(value),
            "json-output" => {
                self.json_output = value
                    .get::<Option<String>>()
                    .expect("type checked upstream")
                    .filter(|s| !s.is_empty())
                    .map(PathBuf::from)
            }
            _ => return false,
        }
        if t.smoothing.is_some() {
            t.smoothing = Some(self.euro);
        }
        true
    }

    /// A property's value; `None` for names this struct does not hold.
    pub fn get(&self, name: &str) -> Option<glib::Value> {
        let t = &self.tracker;
        Some(match name {
            "high-threshold" => t.high_threshold.to_value(),
            "low-threshold" => t.low_threshold.to_value(),
            "match-threshold" => t.match_threshold.to_value(),
            "low-match-threshold" => t.low_match_threshold.to_value(),
            "oks-weight" => t.oks_weight.to_value(),
            "max-age" => t.max_age.to_value(),
            "min-hits" => t.min_hits.to_value(),
            "smoothing" => t.smoothing.is_some().to_value(),
            "min-cutoff" => self.euro.min_cutoff.to_value(),
            "beta" => self.euro.beta.to_value(),
            "d-cutoff" => self.euro.d_cutoff.to_value(),
            "json-output" => self
                .json_output
                .as_ref()
                .map(|p| p.display().to_string())
                .to_value(),
            _ => return None,
        })
    }
}
