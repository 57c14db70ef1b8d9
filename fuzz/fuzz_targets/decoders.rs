// SPDX-License-Identifier: MPL-2.0
//! MoveNet (multipose, singlepose) and PoseNet decoders on arbitrary outputs: no panic, and
//! every reported keypoint is finite.
#![no_main]

use gsttrtpose::pose::movenet::{decode_multipose, decode_singlepose};
use gsttrtpose::pose::posenet::{PoseNetDecoder, PoseNetOutputs, PoseNetParams};
use gsttrtpose::pose::{Geometry, Person, ResizeMode, Topology};
use libfuzzer_sys::fuzz_target;

fn check(people: &mut [Person]) {
    let g = Geometry::new(640, 480, 256, 256, ResizeMode::Letterbox);
    for p in people {
        p.map_to_frame(&g);
        for k in p.keypoints.iter().flatten() {
            assert!(k.x.is_finite() && k.y.is_finite());
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let floats: Vec<f32> = data
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let topo = Topology::coco17();
    let mut people = Vec::new();
    decode_multipose(&floats, &topo, 0.2, 0.0, &mut people);
    check(&mut people);
    decode_singlepose(&floats, &topo, 0.0, 0.1, &mut people);
    check(&mut people);
    // PoseNet on a small grid filled from the same values.
    if floats.is_empty() {
        return;
    }
    let (h, w) = (1 + data[0] as usize % 6, 1 + data[data.len() - 1] as usize % 6);
    let fill = |n: usize| -> Vec<f32> { floats.iter().cycle().take(n).copied().collect() };
    let (hm, off, fwd, bwd) = (fill(h * w * 17), fill(h * w * 34), fill(h * w * 32), fill(h * w * 32));
    let outs = PoseNetOutputs { heatmap: &hm, offsets: &off, displacement_fwd: &fwd, displacement_bwd: &bwd, height: h, width: w };
    let mut decoder = PoseNetDecoder::new(PoseNetParams::default());
    decoder.decode(&outs, 385, 385, &topo, 0.0, &mut people).unwrap();
    check(&mut people);
});
