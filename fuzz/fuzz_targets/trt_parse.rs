// SPDX-License-Identifier: MPL-2.0
//! trt_pose parser on arbitrary maps and parameters: no panic, finite coordinates.
#![no_main]

use gsttrtpose::pose::Topology;
use gsttrtpose::pose::trt_parse::{Layout, MapView, ParseParams, TrtPoseParser};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 8 {
        return;
    }
    let (head, body) = data.split_at(8);
    let h = 1 + head[0] as usize % 16;
    let w = 1 + head[1] as usize % 16;
    let params = ParseParams {
        cmap_threshold: head[2] as f32 / 128.0 - 0.5,
        link_threshold: head[3] as f32 / 64.0 - 2.0,
        cmap_window: 1 + head[4] as usize % 15,
        line_integral_samples: 2 + head[5] as usize % 14,
        max_num_parts: 1 + head[6] as usize % 50,
        max_num_objects: 1 + head[7] as usize % 50,
    };
    let layout = if head[0] & 0x80 != 0 { Layout::Hwc } else { Layout::Chw };
    let topo = Topology::from_json_bytes(
        br#"{"keypoints": ["a", "b", "c", "d"], "skeleton": [[1, 2], [2, 3], [3, 1], [3, 4]]}"#,
        "fuzz",
        "fuzz",
    )
    .unwrap();
    let floats: Vec<f32> = body
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    if floats.is_empty() {
        return;
    }
    let cmap: Vec<f32> = floats.iter().cycle().take(4 * h * w).copied().collect();
    let paf: Vec<f32> = floats.iter().rev().cycle().take(8 * h * w).copied().collect();
    let cm = MapView::new(&cmap, 4, h, w, layout).unwrap();
    let pm = MapView::new(&paf, 8, h, w, layout).unwrap();
    let mut parser = TrtPoseParser::new(&topo, params).unwrap();
    parser.parse(&cm, &pm).unwrap();
    let mut people = Vec::new();
    parser.people_into(&mut people);
    for p in &people {
        for k in p.keypoints.iter().flatten() {
            assert!(k.x.is_finite() && k.y.is_finite());
        }
    }
});
