// SPDX-License-Identifier: MPL-2.0
//! Parses one vector repeatedly (for profilers): `cargo run --release --example parse_profile -- NAME [iterations]`.
use gsttrtpose::pose::Topology;
use gsttrtpose::pose::trt_parse::{Layout, MapView, ParseParams, TrtPoseParser};

fn main() {
    let mut args = std::env::args().skip(1);
    let name = args.next().unwrap_or_else(|| "v03_crowd10_56x56".into());
    let iters: usize = args.next().map(|s| s.parse().unwrap()).unwrap_or(2000);
    let dir = std::env::var("TRTPOSE_PARSE_VECTORS")
        .unwrap_or_else(|_| "../shared/testdata/trt_pose_parse".into());
    let spec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(format!("{dir}/{name}.json")).unwrap()).unwrap();
    let read = |f: &str| -> Vec<f32> {
        std::fs::read(format!("{dir}/{}", spec[f].as_str().unwrap()))
            .unwrap()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect()
    };
    let (cmap, paf) = (read("cmap_file"), read("paf_file"));
    let (h, w) = (
        spec["height"].as_u64().unwrap() as usize,
        spec["width"].as_u64().unwrap() as usize,
    );
    let cm = MapView::new(&cmap, 18, h, w, Layout::Chw).unwrap();
    let pm = MapView::new(&paf, 42, h, w, Layout::Chw).unwrap();
    let p = &spec["params"];
    let params = ParseParams {
        cmap_window: p["cmap_window"].as_u64().unwrap() as usize,
        line_integral_samples: p["line_integral_samples"].as_u64().unwrap() as usize,
        max_num_parts: p["max_num_parts"].as_u64().unwrap() as usize,
        max_num_objects: p["max_num_objects"].as_u64().unwrap() as usize,
        ..Default::default()
    };
    let mut parser = TrtPoseParser::new(&Topology::human_pose(), params).unwrap();
    let t = std::time::Instant::now();
    for _ in 0..iters {
        parser.parse(&cm, &pm).unwrap();
    }
    println!(
        "{name}: {:.1} us per parse, {} objects",
        t.elapsed().as_secs_f64() * 1e6 / iters as f64,
        parser.object_count()
    );
}
