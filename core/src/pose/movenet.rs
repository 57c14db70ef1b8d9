// SPDX-License-Identifier: MPL-2.0
//! MoveNet decoders: multipose (`[1, 6, 56]`) and singlepose (`[1, 1, 17, 3]`).

use super::{BBox, Keypoint, Person, Topology, below};

/// Values per multipose row: 17 × (y, x, score), then ymin, xmin, ymax, xmax, person score.
pub const MULTIPOSE_ROW: usize = 56;
pub const NUM_KEYPOINTS: usize = 17;

/// Decodes multipose rows into people with input-normalized coordinates, best first.
///
/// Rows with a person score below `min_person_score` are skipped (unused rows score 0), and
/// keypoints below `min_keypoint_score` are left out. The output rows are not sorted by the
/// model, so this sorts them.
pub fn decode_multipose(
    output: &[f32],
    topology: &Topology,
    min_person_score: f32,
    min_keypoint_score: f32,
    out: &mut Vec<Person>,
) {
    out.clear();
    for row in output.chunks_exact(MULTIPOSE_ROW) {
        let score = row[55];
        if below(score, min_person_score) || !score.is_finite() {
            continue;
        }
        let mut person = Person {
            keypoints: keypoints_from_yxs(&row[..NUM_KEYPOINTS * 3], min_keypoint_score),
            links: Vec::new(),
            bbox: BBox {
                y0: row[51],
                x0: row[52],
                y1: row[53],
                x1: row[54],
            },
            score,
        };
        person.update_links(topology);
        out.push(person);
    }
    out.sort_by(|a, b| b.score.total_cmp(&a.score));
}

/// Decodes singlepose output (17 × (y, x, score)) into one person whose score is the mean
/// keypoint score. The model never says "nobody", so callers filter on that score.
pub fn decode_singlepose(
    output: &[f32],
    topology: &Topology,
    min_person_score: f32,
    min_keypoint_score: f32,
    out: &mut Vec<Person>,
) {
    out.clear();
    if output.len() < NUM_KEYPOINTS * 3 {
        return;
    }
    let yxs = &output[..NUM_KEYPOINTS * 3];
    let score = yxs.chunks_exact(3).map(|k| k[2]).sum::<f32>() / NUM_KEYPOINTS as f32;
    if below(score, min_person_score) {
        return;
    }
    let mut person = Person {
        keypoints: keypoints_from_yxs(yxs, f32::NEG_INFINITY),
        links: Vec::new(),
        bbox: BBox::default(),
        score,
    };
    person.update_bbox(min_keypoint_score.max(0.0));
    person.drop_keypoints_below(min_keypoint_score, topology);
    out.push(person);
}

fn keypoints_from_yxs(yxs: &[f32], min_keypoint_score: f32) -> Vec<Option<Keypoint>> {
    yxs.chunks_exact(3)
        .map(|k| {
            let kp = Keypoint {
                y: k[0],
                x: k[1],
                score: k[2],
            };
            (kp.score >= min_keypoint_score && kp.x.is_finite() && kp.y.is_finite()).then_some(kp)
        })
        .collect()
}
