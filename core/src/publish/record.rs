// SPDX-License-Identifier: MPL-2.0
//! The JSON record of one frame's people: one line of JSON Lines, one MQTT message.
//!
//! ```json
//! {"frame":0,"pts":0.0,"reused":false,"width":640,"height":480,"topology":"coco17",
//!  "people":[{"score":0.71,"bbox":[x0,y0,x1,y1],"track_id":3,
//!             "keypoints":[{"name":"nose","x":320.5,"y":99.25,"score":0.93}, …],
//!             "links":[[0,1], …]}]}
//! ```
//! `posepublish` adds `stream` and `timestamp` (wall clock, Unix seconds).

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};

use crate::pose::{Person, Topology};

fn round2(v: f32) -> f64 {
    (v as f64 * 100.0).round() / 100.0
}

fn round4(v: f32) -> f64 {
    (v as f64 * 1e4).round() / 1e4
}

/// One person: keypoints found (named), links as keypoint pairs, and `track_id` when given
/// (`Some(None)`: tracked but not confirmed yet, written as null).
pub fn person_value(
    p: &Person,
    keypoint_names: &[String],
    links: &[(usize, usize)],
    track_id: Option<Option<u32>>,
) -> Value {
    let keypoints: Vec<Value> = keypoint_names
        .iter()
        .enumerate()
        .filter_map(|(c, name)| {
            p.keypoints.get(c).copied().flatten().map(|k| {
                json!({"name": name, "x": round2(k.x), "y": round2(k.y), "score": round4(k.score)})
            })
        })
        .collect();
    let links: Vec<[usize; 2]> = p
        .links
        .iter()
        .filter_map(|&k| links.get(k).map(|&(a, b)| [a, b]))
        .collect();
    let mut person = json!({
        "score": round4(p.score),
        "bbox": [round2(p.bbox.x0), round2(p.bbox.y0), round2(p.bbox.x1), round2(p.bbox.y1)],
        "keypoints": keypoints,
        "links": links,
    });
    if let Some(id) = track_id {
        person["track_id"] = id.into();
    }
    person
}

/// What a record says about its frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrameInfo<'a> {
    pub frame: u64,
    /// Presentation time in nanoseconds; written in seconds.
    pub pts_ns: Option<u64>,
    pub reused: bool,
    pub size: (u32, u32),
    pub topology: &'a str,
}

/// A frame record from its people's values ([`person_value`]).
pub fn frame_value(info: &FrameInfo, people: Vec<Value>) -> Map<String, Value> {
    let v = json!({
        "frame": info.frame,
        "pts": info.pts_ns.map(|t| t as f64 / 1e9),
        "reused": info.reused,
        "width": info.size.0,
        "height": info.size.1,
        "topology": info.topology,
        "people": people,
    });
    match v {
        Value::Object(m) => m,
        _ => unreachable!("json! of an object"),
    }
}

/// The JSON Lines record of `trtposeinfer` and `posetracker`: people of one topology; with
/// `track_ids` (one per person) each person also gets `track_id`.
pub fn frame_json(
    info: &FrameInfo,
    people: &[Person],
    topology: &Topology,
    track_ids: Option<&[Option<u32>]>,
) -> String {
    let people = people
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let id = track_ids.map(|ids| ids.get(i).copied().flatten());
            person_value(p, &topology.keypoints, &topology.links, id)
        })
        .collect();
    Value::Object(frame_value(info, people)).to_string()
}

/// Wall-clock time as Unix seconds, millisecond precision.
pub fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| (d.as_millis() as f64) / 1e3)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pose::{BBox, Keypoint};

    #[test]
    fn records_name_keypoints_and_links_and_round() {
        let topo = Topology::coco17();
        let mut p = Person {
            keypoints: vec![None; 17],
            score: 0.123456,
            bbox: BBox {
                x0: 1.004,
                y0: 2.0,
                x1: 3.0,
                y1: 4.0,
            },
            ..Default::default()
        };
        p.keypoints[0] = Some(Keypoint {
            x: 10.126,
            y: 20.0,
            score: 0.5,
        });
        p.keypoints[1] = p.keypoints[0];
        p.update_links(&topo);
        let info = FrameInfo {
            frame: 7,
            pts_ns: Some(1_500_000_000),
            reused: false,
            size: (640, 480),
            topology: "coco17",
        };
        let v: Value = serde_json::from_str(&frame_json(&info, &[p], &topo, None)).unwrap();
        assert_eq!(v["frame"], 7);
        assert_eq!(v["pts"], 1.5);
        assert_eq!(v["people"][0]["score"], 0.1235);
        assert_eq!(v["people"][0]["bbox"][0], 1.0);
        assert_eq!(v["people"][0]["keypoints"][0]["name"], "nose");
        assert_eq!(v["people"][0]["keypoints"][0]["x"], 10.13);
        assert_eq!(v["people"][0]["links"][0], json!([0, 1]));
        assert!(v["people"][0].get("track_id").is_none());
        let none = FrameInfo {
            pts_ns: None,
            ..info
        };
        let v: Value = serde_json::from_str(&frame_json(&none, &[], &topo, None)).unwrap();
        assert!(v["pts"].is_null());
        assert!(unix_now() > 1.7e9);
    }
}
