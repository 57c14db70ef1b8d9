// SPDX-License-Identifier: MPL-2.0
//! Criterion benchmarks of the GStreamer-free core: trt_pose parse on every visible vector,
//! the MoveNet/PoseNet decoders, drawing 10 people on 1080p, and frame preprocessing.
//!
//! Needs the parse vectors (`TRTPOSE_PARSE_VECTORS`, default ../shared/testdata/trt_pose_parse)
//! and ../shared/media/expected for the decoder inputs.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use gsttrtpose::draw::{FrameMut, PlaneMut, Style, draw_people};
use gsttrtpose::frame::{PixelFormat, SourceFrame};
use gsttrtpose::pose::movenet::decode_multipose;
use gsttrtpose::pose::posenet::{PoseNetDecoder, PoseNetOutputs, PoseNetParams};
use gsttrtpose::pose::trt_parse::{Layout, MapView, ParseParams, TrtPoseParser};
use gsttrtpose::pose::{Geometry, Keypoint, Person, ResizeMode, Topology};
use gsttrtpose::preprocess::{InputElem, InputFormat, Normalize, Preprocessor, TensorLayout};

#[path = "../tests/common/mod.rs"]
mod common;
use common::{floats, read_f32, read_json as json, vectors_dir};

fn bench_parse(c: &mut Criterion) {
    let dir = vectors_dir();
    let index = json(&dir.join("index.json"));
    let mut group = c.benchmark_group("trt_pose_parse");
    for entry in index["vectors"].as_array().unwrap() {
        let spec = json(&dir.join(entry["json"].as_str().unwrap()));
        let (h, w) = (
            spec["height"].as_u64().unwrap() as usize,
            spec["width"].as_u64().unwrap() as usize,
        );
        let p = &spec["params"];
        let bits = &spec["params_threshold_f32_bits"];
        let params = ParseParams {
            cmap_threshold: f32::from_bits(bits["cmap_threshold"].as_u64().unwrap() as u32),
            link_threshold: f32::from_bits(bits["link_threshold"].as_u64().unwrap() as u32),
            cmap_window: p["cmap_window"].as_u64().unwrap() as usize,
            line_integral_samples: p["line_integral_samples"].as_u64().unwrap() as usize,
            max_num_parts: p["max_num_parts"].as_u64().unwrap() as usize,
            max_num_objects: p["max_num_objects"].as_u64().unwrap() as usize,
        };
        let cmap = read_f32(&dir.join(spec["cmap_file"].as_str().unwrap()));
        let paf = read_f32(&dir.join(spec["paf_file"].as_str().unwrap()));
        let topology = Topology::human_pose();
        let mut parser = TrtPoseParser::new(&topology, params).unwrap();
        let cm = MapView::new(&cmap, 18, h, w, Layout::Chw).unwrap();
        let pm = MapView::new(&paf, 42, h, w, Layout::Chw).unwrap();
        let name = entry["name"].as_str().unwrap().to_string();
        group.bench_function(&name, |b| {
            b.iter(|| parser.parse(black_box(&cm), black_box(&pm)).unwrap())
        });
    }
    group.finish();
}

fn bench_decoders(c: &mut Criterion) {
    let doc = common::expected("vtest_walk_10s.json");
    let run = doc["frames"][5]["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "movenet-multipose-dynamic-512")
        .unwrap();
    let output = floats(&run["output_0"]);
    let topo = Topology::coco17();
    let geometry = Geometry::new(768, 576, 512, 384, ResizeMode::Letterbox);
    let mut people = Vec::new();
    c.bench_function("movenet_multipose_decode", |b| {
        b.iter(|| {
            decode_multipose(black_box(&output), &topo, 0.2, 0.0, &mut people);
            for p in people.iter_mut() {
                p.map_to_frame(&geometry);
            }
        })
    });
    // PoseNet on synthetic outputs with realistic structure: 6 peaked people on a 25x25 grid.
    let (gh, gw) = (25usize, 25usize);
    let mut heatmap = vec![-6.0f32; gh * gw * 17];
    for person in 0..6 {
        let (cy, cx) = (3 + 3 * person, 2 + 4 * person);
        for k in 0..17 {
            let (y, x) = ((cy + k / 6).min(gh - 1), (cx + k % 3).min(gw - 1));
            heatmap[(y * gw + x) * 17 + k] = 3.0 - person as f32 * 0.3;
        }
    }
    let offsets = vec![4.0f32; gh * gw * 34];
    let fwd = vec![8.0f32; gh * gw * 32];
    let bwd = vec![-8.0f32; gh * gw * 32];
    let outs = PoseNetOutputs {
        heatmap: &heatmap,
        offsets: &offsets,
        displacement_fwd: &fwd,
        displacement_bwd: &bwd,
        height: gh,
        width: gw,
    };
    let mut decoder = PoseNetDecoder::new(PoseNetParams::default());
    c.bench_function("posenet_multi_decode_6_people", |b| {
        b.iter(|| {
            decoder
                .decode(black_box(&outs), 385, 385, &topo, 0.0, &mut people)
                .unwrap()
        })
    });
}

fn ten_people(topo: &Topology) -> Vec<Person> {
    (0..10)
        .map(|i| {
            let (ox, oy) = (100.0 + 170.0 * i as f32, 200.0 + 40.0 * (i % 3) as f32);
            let mut p = Person {
                keypoints: (0..17)
                    .map(|k| {
                        Some(Keypoint {
                            x: ox + 40.0 * ((k % 4) as f32 - 1.5),
                            y: oy + 35.0 * (k / 2) as f32,
                            score: 0.9,
                        })
                    })
                    .collect(),
                score: 0.8,
                ..Default::default()
            };
            p.update_links(topo);
            p.update_bbox(0.0);
            p
        })
        .collect()
}

fn bench_draw(c: &mut Criterion) {
    let topo = Topology::coco17();
    let people = ten_people(&topo);
    let style = Style {
        draw_boxes: true,
        ..Default::default()
    };
    let (w, h) = (1920usize, 1080usize);
    let mut rgba = vec![0u8; w * 4 * h];
    c.bench_function("draw_10_people_1080p_rgba", |b| {
        b.iter(|| {
            let mut f = FrameMut::new(
                PixelFormat::Rgba,
                w,
                h,
                vec![PlaneMut {
                    data: &mut rgba,
                    stride: w * 4,
                }],
            )
            .unwrap();
            draw_people(&mut f, black_box(&people), &topo.links, &style);
        })
    });
    let (mut y, mut uv) = (vec![0u8; w * h], vec![0u8; w * h / 2]);
    c.bench_function("draw_10_people_1080p_nv12", |b| {
        b.iter(|| {
            let planes = vec![
                PlaneMut {
                    data: &mut y,
                    stride: w,
                },
                PlaneMut {
                    data: &mut uv,
                    stride: w,
                },
            ];
            let mut f = FrameMut::new(PixelFormat::Nv12, w, h, planes).unwrap();
            draw_people(&mut f, black_box(&people), &topo.links, &style);
        })
    });
}

fn bench_preprocess(c: &mut Criterion) {
    // The street clip's size and format into MoveNet at 256 (letterboxed to 256x192).
    let (w, h) = (768usize, 576usize);
    let y: Vec<u8> = (0..w * h).map(|i| (i % 251) as u8).collect();
    let u: Vec<u8> = (0..w * h / 4).map(|i| (i % 241) as u8).collect();
    let v: Vec<u8> = (0..w * h / 4).map(|i| (i % 239) as u8).collect();
    let frame = SourceFrame::new(
        PixelFormat::I420,
        w,
        h,
        vec![(&y, w), (&u, w / 2), (&v, w / 2)],
    )
    .unwrap();
    let g = Geometry::new(w as u32, h as u32, 256, 192, ResizeMode::Letterbox);
    let fmt = InputFormat {
        layout: TensorLayout::Nhwc,
        elem: InputElem::I32,
        normalize: Normalize::IDENTITY,
    };
    let mut pre = Preprocessor::new();
    c.bench_function("preprocess_576p_i420_to_movenet_256x192", |b| {
        b.iter(|| {
            let (data, _) = pre.run(black_box(&frame), &g, &fmt);
            black_box(matches!(data, gsttrtpose::engine::InputData::F32(_)));
        })
    });

    let (w, h) = (1920usize, 1080usize);
    let y: Vec<u8> = (0..w * h).map(|i| (i % 251) as u8).collect();
    let uv: Vec<u8> = (0..w * h / 2).map(|i| (i % 241) as u8).collect();
    let frame = SourceFrame::new(PixelFormat::Nv12, w, h, vec![(&y, w), (&uv, w)]).unwrap();
    // Baseline for the YUV cases: the same frame size already in RGB.
    let rgb: Vec<u8> = (0..w * h * 3).map(|i| (i % 253) as u8).collect();
    let rgb_frame = SourceFrame::new(PixelFormat::Rgb, w, h, vec![(&rgb, w * 3)]).unwrap();
    let mut pre = Preprocessor::new();
    let g = Geometry::new(w as u32, h as u32, 256, 256, ResizeMode::Letterbox);
    let fmt = InputFormat {
        layout: TensorLayout::Nhwc,
        elem: InputElem::I32,
        normalize: Normalize::IDENTITY,
    };
    c.bench_function("preprocess_1080p_rgb_to_movenet_256", |b| {
        b.iter(|| {
            let (data, _) = pre.run(black_box(&rgb_frame), &g, &fmt);
            black_box(matches!(data, gsttrtpose::engine::InputData::F32(_)));
        })
    });
    for (name, iw, ih, fmt) in [
        (
            "preprocess_1080p_nv12_to_movenet_256",
            256u32,
            256u32,
            InputFormat {
                layout: TensorLayout::Nhwc,
                elem: InputElem::I32,
                normalize: Normalize::IDENTITY,
            },
        ),
        (
            "preprocess_1080p_nv12_to_trt_pose_224",
            224,
            224,
            InputFormat {
                layout: TensorLayout::Nchw,
                elem: InputElem::F32,
                normalize: Normalize::mean_std([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
            },
        ),
    ] {
        let mode = if iw == 224 {
            ResizeMode::Stretch
        } else {
            ResizeMode::Letterbox
        };
        let g = Geometry::new(w as u32, h as u32, iw, ih, mode);
        c.bench_function(name, |b| {
            b.iter(|| {
                let (data, _) = pre.run(black_box(&frame), &g, &fmt);
                black_box(matches!(data, gsttrtpose::engine::InputData::F32(_)));
            })
        });
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(3)).warm_up_time(std::time::Duration::from_secs(1));
    targets = bench_parse, bench_decoders, bench_draw, bench_preprocess
}
criterion_main!(benches);
