// SPDX-License-Identifier: MPL-2.0
//! Pose results on buffers and on the bus, readable from C, Python and Rust with stock
//! GStreamer APIs.
//!
//! Each person is a `GstVideoRegionOfInterestMeta` of type `"person"` whose box is in frame
//! pixels, carrying a parameter structure named `"pose"`:
//!
//! | field | type | meaning |
//! |---|---|---|
//! | `topology` | string | topology name (`coco17`, `human_pose`, …) |
//! | `score` | double | person score |
//! | `reused` | boolean | true when copied from an earlier frame (`interval` > 1) |
//! | `keypoint-names` | array of strings | one per topology keypoint |
//! | `x`, `y` | arrays of doubles | keypoint position in frame pixels, -1 when missing |
//! | `scores` | array of doubles | keypoint score, 0 when missing |
//! | `links` | array of ints | flattened `(source, destination)` keypoint pairs present |
//! | `link-ids` | array of ints | topology link index of each present pair |
//! | `bbox` | array of doubles | `x0, y0, x1, y1` in frame pixels (sub-pixel) |
//!
//! After `posetracker` (see [`set_tracking`]) it also has:
//!
//! | field | type | meaning |
//! |---|---|---|
//! | `track-id` | int | id that persists across frames; -1 until the track is confirmed |
//! | `predicted` | boolean | true when `x`/`y` are the track's prediction (frame without inference) |
//! | `raw-x`, `raw-y` | arrays of doubles | the positions before smoothing (`x`/`y` are smoothed) |

use gst::glib::value::ValueTypeMismatchError;
use gst::prelude::*;
use gst::structure::GetError;
use gst_video::VideoRegionOfInterestMeta;

use crate::pose::{BBox, Keypoint, Person, Topology};

pub const ROI_TYPE: &str = "person";
pub const PARAM_NAME: &str = "pose";

/// A person as read back from metadata.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PoseRecord {
    pub person: Person,
    pub keypoint_names: Vec<String>,
    /// `(source, destination)` keypoint pairs, indexed by `person.links`.
    pub link_pairs: Vec<(usize, usize)>,
    /// Topology link index of each pair (for colours).
    pub link_ids: Vec<usize>,
    pub topology: String,
    pub reused: bool,
    /// `track-id` written by `posetracker`; `None` when absent or -1.
    pub track_id: Option<u32>,
    /// `predicted` written by `posetracker`.
    pub predicted: bool,
}

fn array_f64(values: impl Iterator<Item = f64>) -> gst::Array {
    gst::Array::new(values.map(|v| v.to_send_value()).collect::<Vec<_>>())
}

fn array_i32(values: impl Iterator<Item = i32>) -> gst::Array {
    gst::Array::new(values.map(|v| v.to_send_value()).collect::<Vec<_>>())
}

/// The `pose` structure of one person (coordinates already in frame pixels).
pub fn person_structure(person: &Person, topology: &Topology, reused: bool) -> gst::Structure {
    let kp = |c: usize| person.keypoints.get(c).copied().flatten();
    let n = topology.num_parts();
    let present: Vec<usize> = person
        .links
        .iter()
        .copied()
        .filter(|&k| k < topology.num_links())
        .collect();
    gst::Structure::builder(PARAM_NAME)
        .field("topology", topology.name.as_str())
        .field("score", person.score as f64)
        .field("reused", reused)
        .field(
            "keypoint-names",
            gst::Array::new(topology.keypoints.iter().map(|k| k.to_send_value())),
        )
        .field(
            "x",
            array_f64((0..n).map(|c| kp(c).map_or(-1.0, |k| k.x as f64))),
        )
        .field(
            "y",
            array_f64((0..n).map(|c| kp(c).map_or(-1.0, |k| k.y as f64))),
        )
        .field(
            "scores",
            array_f64((0..n).map(|c| kp(c).map_or(0.0, |k| k.score as f64))),
        )
        .field(
            "links",
            array_i32(present.iter().flat_map(|&k| {
                let (a, b) = topology.links[k];
                [a as i32, b as i32]
            })),
        )
        .field("link-ids", array_i32(present.iter().map(|&k| k as i32)))
        .field(
            "bbox",
            array_f64(
                [
                    person.bbox.x0,
                    person.bbox.y0,
                    person.bbox.x1,
                    person.bbox.y1,
                ]
                .into_iter()
                .map(|v| v as f64),
            ),
        )
        .build()
}

/// Integer ROI rectangle of a box, clipped to the frame.
pub fn roi_rect(b: &BBox, frame_w: u32, frame_h: u32) -> (u32, u32, u32, u32) {
    let clip = |v: f32, max: u32| {
        if v.is_finite() {
            v.clamp(0.0, max as f32)
        } else {
            0.0
        }
    };
    let (x0, y0) = (clip(b.x0, frame_w).floor(), clip(b.y0, frame_h).floor());
    let (x1, y1) = (clip(b.x1, frame_w).ceil(), clip(b.y1, frame_h).ceil());
    (
        x0 as u32,
        y0 as u32,
        (x1 - x0).max(0.0) as u32,
        (y1 - y0).max(0.0) as u32,
    )
}

/// Attaches one ROI meta per person.
pub fn attach(
    buffer: &mut gst::BufferRef,
    people: &[Person],
    topology: &Topology,
    reused: bool,
    frame_w: u32,
    frame_h: u32,
) {
    // Ids number the people 0, 1, … so apps can fetch them by id (Python has no meta iterator).
    let first_id = buffer
        .iter_meta::<VideoRegionOfInterestMeta>()
        .map(|m| m.id() + 1)
        .max()
        .unwrap_or(0);
    for (i, person) in people.iter().enumerate() {
        let mut meta = VideoRegionOfInterestMeta::add(
            buffer,
            ROI_TYPE,
            roi_rect(&person.bbox, frame_w, frame_h),
        );
        meta.set_id(first_id + i as i32);
        meta.add_param(person_structure(person, topology, reused));
    }
}

/// Why a `pose` structure could not be read; the text names the field and the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetaError {
    #[error("structure is '{0}', not '{PARAM_NAME}'")]
    NotPose(String),
    /// The field is missing or not an array.
    #[error("field '{field}': {problem}")]
    Field {
        field: &'static str,
        problem: GetError<ValueTypeMismatchError>,
    },
    /// An array element has the wrong type.
    #[error("field '{field}': {problem}")]
    Element {
        field: &'static str,
        problem: ValueTypeMismatchError,
    },
    #[error("x, y and scores have different lengths ({x}, {y}, {scores})")]
    Lengths { x: usize, y: usize, scores: usize },
    #[error("links has an odd number of values")]
    OddLinks,
    #[error("link ({a}, {b}) is out of range for {n} keypoints")]
    LinkOutOfRange { a: i32, b: i32, n: usize },
}

fn array(s: &gst::StructureRef, field: &'static str) -> Result<gst::Array, MetaError> {
    s.get::<gst::Array>(field)
        .map_err(|problem| MetaError::Field { field, problem })
}

fn f64s(s: &gst::StructureRef, field: &'static str) -> Result<Vec<f64>, MetaError> {
    array(s, field)?
        .iter()
        .map(|v| {
            v.get::<f64>()
                .or_else(|_| v.get::<f32>().map(f64::from))
                .map_err(|problem| MetaError::Element { field, problem })
        })
        .collect()
}

fn i32s(s: &gst::StructureRef, field: &'static str) -> Result<Vec<i32>, MetaError> {
    array(s, field)?
        .iter()
        .map(|v| {
            v.get::<i32>()
                .map_err(|problem| MetaError::Element { field, problem })
        })
        .collect()
}

/// Parses a `pose` structure. Malformed structures (other writers, corrupted data) give an
/// error naming the field instead of a panic.
pub fn from_structure(s: &gst::StructureRef) -> Result<PoseRecord, MetaError> {
    if s.name() != PARAM_NAME {
        return Err(MetaError::NotPose(s.name().to_string()));
    }
    let xs = f64s(s, "x")?;
    let ys = f64s(s, "y")?;
    let scores = f64s(s, "scores")?;
    if xs.len() != ys.len() || xs.len() != scores.len() {
        return Err(MetaError::Lengths {
            x: xs.len(),
            y: ys.len(),
            scores: scores.len(),
        });
    }
    let n = xs.len();
    let flat = i32s(s, "links")?;
    if flat.len() % 2 != 0 {
        return Err(MetaError::OddLinks);
    }
    let mut link_pairs = Vec::with_capacity(flat.len() / 2);
    for pair in flat.chunks_exact(2) {
        let (a, b) = (pair[0], pair[1]);
        if a < 0 || b < 0 || a as usize >= n || b as usize >= n {
            return Err(MetaError::LinkOutOfRange { a, b, n });
        }
        link_pairs.push((a as usize, b as usize));
    }
    let link_ids = match s.has_field("link-ids") {
        true => i32s(s, "link-ids")?
            .into_iter()
            .map(|v| v.max(0) as usize)
            .collect(),
        false => (0..link_pairs.len()).collect(),
    };
    let keypoint_names = s
        .get::<gst::Array>("keypoint-names")
        .map(|a| a.iter().filter_map(|v| v.get::<String>().ok()).collect())
        .unwrap_or_default();
    let keypoints = (0..n)
        .map(|c| {
            let (x, y, sc) = (xs[c] as f32, ys[c] as f32, scores[c] as f32);
            (x >= 0.0 && y >= 0.0 && x.is_finite() && y.is_finite()).then_some(Keypoint {
                x,
                y,
                score: sc,
            })
        })
        .collect();
    let bbox = f64s(s, "bbox")
        .ok()
        .filter(|b| b.len() == 4)
        .map(|b| BBox {
            x0: b[0] as f32,
            y0: b[1] as f32,
            x1: b[2] as f32,
            y1: b[3] as f32,
        })
        .unwrap_or_default();
    Ok(PoseRecord {
        person: Person {
            keypoints,
            links: (0..link_pairs.len()).collect(),
            bbox,
            score: s.get::<f64>("score").unwrap_or(0.0) as f32,
        },
        keypoint_names,
        link_ids,
        link_pairs,
        topology: s.get::<String>("topology").unwrap_or_default(),
        reused: s.get::<bool>("reused").unwrap_or(false),
        track_id: s
            .get::<i32>("track-id")
            .ok()
            .and_then(|v| u32::try_from(v).ok()),
        predicted: s.get::<bool>("predicted").unwrap_or(false),
    })
}

/// What `posetracker` writes into a `pose` structure: `x`/`y` become the smoothed (or
/// predicted) positions, the positions found stay in `raw-x`/`raw-y`, and `track-id`
/// (-1 = none yet), `predicted` and `bbox` are set.
pub fn set_tracking(
    s: &mut gst::StructureRef,
    raw: &[Option<Keypoint>],
    tracked: &[Option<Keypoint>],
    bbox: &BBox,
    track_id: Option<u32>,
    predicted: bool,
) {
    let coord = |kps: &[Option<Keypoint>], f: fn(&Keypoint) -> f32| {
        array_f64(kps.iter().map(|k| k.as_ref().map_or(-1.0, |k| f(k) as f64)))
    };
    s.set("raw-x", coord(raw, |k| k.x));
    s.set("raw-y", coord(raw, |k| k.y));
    s.set("x", coord(tracked, |k| k.x));
    s.set("y", coord(tracked, |k| k.y));
    s.set(
        "bbox",
        array_f64(
            [bbox.x0, bbox.y0, bbox.x1, bbox.y1]
                .into_iter()
                .map(f64::from),
        ),
    );
    s.set("track-id", track_id.map_or(-1, |id| id as i32));
    s.set("predicted", predicted);
}

/// Reads every pose on a buffer; malformed ones are returned as errors, in order.
pub fn read(buffer: &gst::BufferRef) -> Vec<Result<PoseRecord, MetaError>> {
    buffer
        .iter_meta::<VideoRegionOfInterestMeta>()
        .filter_map(|m| m.param(PARAM_NAME).map(from_structure))
        .collect()
}

/// One JSON Lines record for a frame. With `track_ids` (one per person, from `posetracker`)
/// each person also gets `track_id` (null until confirmed). The schema lives in
/// [`crate::publish::record`], shared with `posepublish`.
pub fn frame_json(
    frame: u64,
    pts: Option<gst::ClockTime>,
    reused: bool,
    size: (u32, u32),
    people: &[Person],
    topology: &Topology,
    track_ids: Option<&[Option<u32>]>,
) -> String {
    let info = crate::publish::record::FrameInfo {
        frame,
        pts_ns: pts.map(|t| t.nseconds()),
        reused,
        size,
        topology: &topology.name,
    };
    crate::publish::record::frame_json(&info, people, topology, track_ids)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr as _;

    fn person(x: f32, n: usize) -> Person {
        let mut p = Person {
            keypoints: (0..n)
                .map(|c| {
                    (c % 3 != 2).then_some(Keypoint {
                        x: x + c as f32,
                        y: 10.0 + c as f32,
                        score: 0.5 + c as f32 / 100.0,
                    })
                })
                .collect(),
            score: 0.7,
            ..Default::default()
        };
        p.update_bbox(0.0);
        p
    }

    #[test]
    fn people_round_trip_through_roi_metas_with_sequential_ids() {
        gst::init().unwrap();
        let topo = Topology::coco17();
        let mut people: Vec<Person> = (0..3).map(|i| person(20.0 * i as f32, 17)).collect();
        for p in &mut people {
            p.update_links(&topo);
        }
        let mut buf = gst::Buffer::new();
        attach(buf.get_mut().unwrap(), &people, &topo, true, 100, 50);
        let ids: Vec<i32> = buf
            .iter_meta::<VideoRegionOfInterestMeta>()
            .map(|m| m.id())
            .collect();
        assert_eq!(ids, vec![0, 1, 2]);
        let back: Vec<PoseRecord> = read(&buf).into_iter().map(Result::unwrap).collect();
        for (r, p) in back.iter().zip(&people) {
            assert!(r.reused);
            assert_eq!(r.topology, "coco17");
            assert_eq!(r.person.keypoints, p.keypoints);
            assert_eq!(r.person.bbox, p.bbox);
            let pairs: Vec<(usize, usize)> = p.links.iter().map(|&k| topo.links[k]).collect();
            assert_eq!(r.link_pairs, pairs);
            assert_eq!(r.link_ids, p.links);
        }
    }

    #[test]
    fn malformed_structures_are_errors_not_panics() {
        gst::init().unwrap();
        for text in [
            "pose, x=(double)<1.0>, y=(double)<1.0>",
            "pose, x=(double)<1.0>, y=(double)<1.0, 2.0>, scores=(double)<1.0>, links=(int)<>",
            "pose, x=(double)<1.0>, y=(double)<1.0>, scores=(double)<1.0>, links=(int)<0, 5>",
            "pose, x=(double)<1.0>, y=(double)<1.0>, scores=(double)<1.0>, links=(int)<0>",
            "pose, x=(string)<\"a\">, y=(double)<1.0>, scores=(double)<1.0>, links=(int)<>",
            "other, x=(double)<1.0>",
        ] {
            let s = gst::Structure::from_str(text).unwrap();
            assert!(from_structure(&s).is_err(), "{text}");
        }
    }

    #[test]
    fn errors_name_the_field_and_the_problem() {
        gst::init().unwrap();
        let err =
            |text: &str| from_structure(&gst::Structure::from_str(text).unwrap()).unwrap_err();
        let e = err("pose, x=(double)<1.0>, y=(double)<1.0>");
        assert!(
            matches!(
                e,
                MetaError::Field {
                    field: "scores",
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(e.to_string().starts_with("field 'scores': "), "{e}");
        let e =
            err("pose, x=(string)<\"a\">, y=(double)<1.0>, scores=(double)<1.0>, links=(int)<>");
        assert!(matches!(e, MetaError::Element { field: "x", .. }), "{e:?}");
        let e =
            err("pose, x=(double)<1.0>, y=(double)<1.0, 2.0>, scores=(double)<1.0>, links=(int)<>");
        assert_eq!(
            e,
            MetaError::Lengths {
                x: 1,
                y: 2,
                scores: 1
            }
        );
        assert_eq!(
            e.to_string(),
            "x, y and scores have different lengths (1, 2, 1)"
        );
        let e =
            err("pose, x=(double)<1.0>, y=(double)<1.0>, scores=(double)<1.0>, links=(int)<0, 5>");
        assert_eq!(e.to_string(), "link (0, 5) is out of range for 1 keypoints");
        let e = err("pose, x=(double)<1.0>, y=(double)<1.0>, scores=(double)<1.0>, links=(int)<0>");
        assert_eq!(e.to_string(), "links has an odd number of values");
        assert_eq!(
            err("other, x=(double)<1.0>").to_string(),
            "structure is 'other', not 'pose'"
        );
    }

    #[test]
    fn tracking_fields_round_trip_and_reach_the_json() {
        gst::init().unwrap();
        let topo = Topology::coco17();
        let mut p = person(10.0, 17);
        p.update_links(&topo);
        let mut s = person_structure(&p, &topo, true);
        let mut smooth = p.keypoints.clone();
        for k in smooth.iter_mut().flatten() {
            k.x += 1.5;
        }
        set_tracking(&mut s, &p.keypoints, &smooth, &p.bbox, Some(4), true);
        let r = from_structure(&s).unwrap();
        assert_eq!((r.track_id, r.predicted), (Some(4), true));
        assert_eq!(r.person.keypoints, smooth);
        let raw: Vec<f64> = s
            .get::<gst::Array>("raw-x")
            .unwrap()
            .iter()
            .map(|v| v.get::<f64>().unwrap())
            .collect();
        let expect: Vec<f64> = p
            .keypoints
            .iter()
            .map(|k| k.map_or(-1.0, |k| k.x as f64))
            .collect();
        assert_eq!(raw, expect);
        set_tracking(&mut s, &p.keypoints, &smooth, &p.bbox, None, false);
        assert_eq!(from_structure(&s).unwrap().track_id, None);
        assert_eq!(s.get::<i32>("track-id").unwrap(), -1);

        let people = [p.clone(), p];
        let json = |ids| -> serde_json::Value {
            serde_json::from_str(&frame_json(0, None, false, (8, 8), &people, &topo, ids)).unwrap()
        };
        let tracked = json(Some(&[Some(7), None]));
        assert_eq!(tracked["people"][0]["track_id"], 7);
        assert!(tracked["people"][1]["track_id"].is_null());
        // trtposeinfer passes no ids: its schema has no track_id.
        assert!(json(None)["people"][0].get("track_id").is_none());
    }
}
