// SPDX-License-Identifier: MPL-2.0
//! Object detectors' outputs as person regions: rows of boxes with a score and a class, kept
//! for one class above a score and thinned by non-maximum suppression.

use std::cmp::Ordering::Greater;

use super::{BBox, Person, below};

/// What to keep of a detector's rows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DetectParams {
    /// Class index kept (COCO-80: 0 = person).
    pub class: u32,
    pub min_score: f32,
    /// Boxes overlapping a better one of the same class by more than this IoU are dropped.
    pub nms_iou: f32,
}

impl Default for DetectParams {
    fn default() -> Self {
        DetectParams {
            class: 0,
            min_score: 0.3,
            nms_iou: 0.5,
        }
    }
}

/// Decodes `[x1, y1, x2, y2, score, class]` rows (CenterNet's `detections`), coordinates in
/// input pixels, into people without keypoints whose boxes are normalized to the
/// `input_w × input_h` input. Rows of other classes, below the score or not finite are
/// skipped; the rest go through [`nms`].
pub fn decode_box_rows(
    rows: &[f32],
    input_w: u32,
    input_h: u32,
    params: &DetectParams,
    people: &mut Vec<Person>,
) {
    people.clear();
    let (iw, ih) = (input_w.max(1) as f32, input_h.max(1) as f32);
    for r in rows.chunks_exact(6) {
        let [x1, y1, x2, y2, score, class] = [r[0], r[1], r[2], r[3], r[4], r[5]];
        if !r.iter().all(|v| v.is_finite())
            || class.round() != params.class as f32
            || below(score, params.min_score)
        {
            continue;
        }
        people.push(Person {
            keypoints: Vec::new(),
            links: Vec::new(),
            bbox: BBox {
                x0: x1.min(x2) / iw,
                y0: y1.min(y2) / ih,
                x1: x1.max(x2) / iw,
                y1: y1.max(y2) / ih,
            },
            score,
        });
    }
    nms(people, params.nms_iou);
}

/// Greedy non-maximum suppression: best first, a box is kept unless it overlaps a kept one by
/// more than `iou`. Leaves `people` sorted by score.
pub fn nms(people: &mut Vec<Person>, iou: f32) {
    people.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<Person> = Vec::with_capacity(people.len());
    for p in people.drain(..) {
        // A NaN overlap (a degenerate box) suppresses nothing.
        let overlaps = |k: &Person| k.bbox.iou(&p.bbox).partial_cmp(&iou) == Some(Greater);
        if !kept.iter().any(overlaps) {
            kept.push(p);
        }
    }
    *people = kept;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_class_above_the_score_and_suppresses_duplicates() {
        #[rustfmt::skip]
        let rows = [
            10.0, 10.0, 110.0, 210.0, 0.9, 0.0, // person
            12.0, 14.0, 108.0, 200.0, 0.6, 0.0, // the same person again
            300.0, 50.0, 400.0, 250.0, 0.5, 0.0, // another person
            300.0, 50.0, 400.0, 250.0, 0.95, 2.0, // a car
            0.0, 0.0, 50.0, 50.0, 0.2, 0.0, // below the score
            f32::NAN, 0.0, 1.0, 1.0, 0.99, 0.0, // garbage
        ];
        let mut people = Vec::new();
        decode_box_rows(&rows, 512, 512, &DetectParams::default(), &mut people);
        assert_eq!(people.len(), 2, "{people:?}");
        assert_eq!(people[0].score, 0.9);
        assert!((people[0].bbox.x1 - 110.0 / 512.0).abs() < 1e-6);
        assert_eq!(people[1].score, 0.5);
        assert!(people.iter().all(|p| p.keypoints.is_empty()));
    }

    #[test]
    fn nms_keeps_separate_boxes_and_sorts() {
        let b = |x: f32, s: f32| Person {
            bbox: BBox {
                x0: x,
                y0: 0.0,
                x1: x + 1.0,
                y1: 1.0,
            },
            score: s,
            ..Default::default()
        };
        let mut people = vec![b(0.0, 0.3), b(5.0, 0.8), b(0.1, 0.5)];
        nms(&mut people, 0.5);
        let scores: Vec<f32> = people.iter().map(|p| p.score).collect();
        assert_eq!(scores, [0.8, 0.5]);
    }
}
