// SPDX-License-Identifier: MPL-2.0
//! Bit-exact check of the trt_pose parser against vectors produced by trt_pose's own C++ parser.
//!
//! Reads the folder named by `TRTPOSE_PARSE_VECTORS` (default `../shared/testdata/trt_pose_parse`)
//! and runs every vector in its `index.json`.

mod common;

use std::path::Path;

use gsttrtpose::pose::Topology;
use gsttrtpose::pose::trt_parse::{Layout, MapView, ParseParams, TrtPoseParser};
use serde_json::Value;

use common::{read_f32, vectors_dir};

fn as_usize(v: &Value) -> usize {
    v.as_u64().expect("integer") as usize
}

fn topology_from_rows(rows: &Value, num_parts: usize) -> Topology {
    let mut t = Topology::human_pose();
    assert_eq!(t.num_parts(), num_parts);
    let links: Vec<(usize, usize)> = rows
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(k, r)| {
            let r: Vec<usize> = r.as_array().unwrap().iter().map(as_usize).collect();
            assert_eq!(
                (r[0], r[1]),
                (2 * k, 2 * k + 1),
                "non-standard paf channels"
            );
            (r[2], r[3])
        })
        .collect();
    t.links = links;
    t
}

/// Hwc copy of a Chw map, to run the same vector through the other layout.
fn to_hwc(chw: &[f32], c: usize, h: usize, w: usize) -> Vec<f32> {
    let mut out = vec![0.0; chw.len()];
    for ch in 0..c {
        for i in 0..h {
            for j in 0..w {
                out[(i * w + j) * c + ch] = chw[(ch * h + i) * w + j];
            }
        }
    }
    out
}

/// Compares every stage; returns the mismatches found, each naming its stage.
fn check_vector(dir: &Path, spec: &Value, layout: Layout) -> Vec<String> {
    let mut errors = Vec::new();
    let (h, w) = (as_usize(&spec["height"]), as_usize(&spec["width"]));
    let (c, k) = (as_usize(&spec["num_parts"]), as_usize(&spec["num_links"]));
    let p = &spec["params"];
    let bits = &spec["params_threshold_f32_bits"];
    let params = ParseParams {
        cmap_threshold: f32::from_bits(bits["cmap_threshold"].as_u64().unwrap() as u32),
        link_threshold: f32::from_bits(bits["link_threshold"].as_u64().unwrap() as u32),
        cmap_window: as_usize(&p["cmap_window"]),
        line_integral_samples: as_usize(&p["line_integral_samples"]),
        max_num_parts: as_usize(&p["max_num_parts"]),
        max_num_objects: as_usize(&p["max_num_objects"]),
    };
    let topology = topology_from_rows(&spec["topology"], c);
    let mut cmap = read_f32(&dir.join(spec["cmap_file"].as_str().unwrap()));
    let mut paf = read_f32(&dir.join(spec["paf_file"].as_str().unwrap()));
    if layout == Layout::Hwc {
        cmap = to_hwc(&cmap, c, h, w);
        paf = to_hwc(&paf, 2 * k, h, w);
    }
    let cmap = MapView::new(&cmap, c, h, w, layout).unwrap();
    let paf = MapView::new(&paf, 2 * k, h, w, layout).unwrap();
    let mut parser = TrtPoseParser::new(&topology, params).unwrap();
    // Twice: the second run checks that reused buffers carry no state over.
    for _ in 0..2 {
        parser.parse(&cmap, &paf).unwrap();
    }

    let counts: Vec<usize> = spec["peak_counts"]
        .as_array()
        .unwrap()
        .iter()
        .map(as_usize)
        .collect();
    if parser.peak_counts() != counts.as_slice() {
        errors.push(format!(
            "peaks: counts {:?} != {:?}",
            parser.peak_counts(),
            counts
        ));
        return errors;
    }
    for part in 0..c {
        let want: Vec<(i32, i32)> = spec["peaks"][part]
            .as_array()
            .unwrap()
            .iter()
            .map(|rc| {
                (
                    rc[0].as_i64().unwrap() as i32,
                    rc[1].as_i64().unwrap() as i32,
                )
            })
            .collect();
        if parser.peaks(part) != want.as_slice() {
            errors.push(format!(
                "peaks: part {part} {:?} != {want:?}",
                parser.peaks(part)
            ));
        }
        let want_bits = spec["refined_peaks_f32_bits"][part].as_array().unwrap();
        for (n, (&(y, x), wb)) in parser.refined_peaks(part).iter().zip(want_bits).enumerate() {
            let wb = (
                wb[0].as_u64().unwrap() as u32,
                wb[1].as_u64().unwrap() as u32,
            );
            if (y.to_bits(), x.to_bits()) != wb {
                errors.push(format!(
                    "refine: part {part} peak {n}: ({y:e}, {x:e}) != ({:e}, {:e})",
                    f32::from_bits(wb.0),
                    f32::from_bits(wb.1)
                ));
            }
        }
    }
    if let Some(score_file) = spec["score_graph_file"].as_str() {
        let want = read_f32(&dir.join(score_file));
        let got: Vec<f32> = (0..k)
            .flat_map(|l| parser.link_scores(l).to_vec())
            .collect();
        if got.len() != want.len() {
            errors.push(format!("scores: {} values != {}", got.len(), want.len()));
        } else if let Some(i) = (0..got.len()).find(|&i| got[i].to_bits() != want[i].to_bits()) {
            let n = (0..got.len())
                .filter(|&i| got[i].to_bits() != want[i].to_bits())
                .count();
            errors.push(format!(
                "scores: {n} values differ, first at {i}: {:e} != {:e}",
                got[i], want[i]
            ));
        }
    }
    for l in 0..k {
        let conn = &spec["connections"][l];
        let a: Vec<i32> = conn["a_to_b"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap() as i32)
            .collect();
        let b: Vec<i32> = conn["b_to_a"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap() as i32)
            .collect();
        let (ga, gb) = parser.connections(l);
        if ga != a.as_slice() || gb != b.as_slice() {
            errors.push(format!(
                "connections: link {l}: {ga:?}/{gb:?} != {a:?}/{b:?}"
            ));
        }
    }
    let count = as_usize(&spec["object_count"]);
    if parser.object_count() != count {
        errors.push(format!(
            "objects: count {} != {count}",
            parser.object_count()
        ));
    } else {
        for n in 0..count {
            let want: Vec<i32> = spec["objects"][n]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_i64().unwrap() as i32)
                .collect();
            if parser.object(n) != want.as_slice() {
                errors.push(format!(
                    "objects: object {n}: {:?} != {want:?}",
                    parser.object(n)
                ));
            }
        }
        // The Person view must carry the same keypoints as the reference's keypoints_xy.
        let mut people = Vec::new();
        parser.people_into(&mut people);
        for (n, person) in people.iter().enumerate() {
            for (part, kp) in person.keypoints.iter().enumerate() {
                let want = &spec["keypoints_xy"][n][part];
                let ok = match (kp, want.as_array()) {
                    (None, None) => true,
                    (Some(kp), Some(xy)) => {
                        kp.x == xy[0].as_f64().unwrap() as f32
                            && kp.y == xy[1].as_f64().unwrap() as f32
                    }
                    _ => false,
                };
                if !ok {
                    errors.push(format!("people: person {n} part {part}: {kp:?} != {want}"));
                }
            }
        }
    }
    errors
}

#[test]
fn parse_vectors_bit_exact() {
    let dir = vectors_dir();
    let index_path = dir.join("index.json");
    let index: Value = serde_json::from_slice(&std::fs::read(&index_path).unwrap_or_else(|e| {
        panic!(
            "cannot read {} ({e}); set TRTPOSE_PARSE_VECTORS to the vector folder",
            index_path.display()
        )
    }))
    .unwrap();
    let vectors = index["vectors"].as_array().expect("index.json: vectors");
    assert!(
        !vectors.is_empty(),
        "no vectors listed in {}",
        index_path.display()
    );
    let mut exact = 0;
    let mut failures = Vec::new();
    for entry in vectors {
        let name = entry["name"].as_str().unwrap();
        let json = entry["json"].as_str().unwrap();
        let spec: Value = serde_json::from_slice(&std::fs::read(dir.join(json)).unwrap()).unwrap();
        let mut errors = check_vector(&dir, &spec, Layout::Chw);
        errors.extend(
            check_vector(&dir, &spec, Layout::Hwc)
                .into_iter()
                .map(|e| format!("[HWC] {e}")),
        );
        if errors.is_empty() {
            exact += 1;
        } else {
            for e in errors.iter().take(8) {
                eprintln!("{name}: {e}");
            }
            failures.push(name.to_string());
        }
    }
    println!("parse vectors: {exact}/{} exact", vectors.len());
    assert!(failures.is_empty(), "vectors not exact: {failures:?}");
}
