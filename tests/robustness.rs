// SPDX-License-Identifier: MPL-2.0
//! Property tests: random maps (NaN, ±Inf, negative values), random parameters, random frame
//! sizes and formats. Nothing may panic, and every coordinate that comes out is finite.

use gsttrtpose::draw::{FrameMut, PlaneMut, Style, draw_people};
use gsttrtpose::frame::{PixelFormat, SourceFrame};
use gsttrtpose::model::{FamilyRequest, ModelPlan};
use gsttrtpose::pose::movenet::decode_multipose;
use gsttrtpose::pose::trt_parse::{Layout, MapView, ParseParams, TrtPoseParser};
use gsttrtpose::pose::{Geometry, Keypoint, Person, ResizeMode, Topology};
use gsttrtpose::preprocess::{InputElem, InputFormat, Normalize, Preprocessor, TensorLayout};
use gsttrtpose::tensor::{ElementType, TensorSpec};
use proptest::prelude::*;

/// Map values: mostly small, sometimes peaks, negatives and non-finite values.
fn value() -> impl Strategy<Value = f32> {
    prop_oneof![
        8 => -0.2f32..1.2,
        1 => Just(f32::NAN),
        1 => Just(f32::INFINITY),
        1 => Just(f32::NEG_INFINITY),
        1 => -1.0e30f32..1.0e30,
        1 => Just(0.0f32),
    ]
}

fn params() -> impl Strategy<Value = ParseParams> {
    (
        -0.5f32..1.0,
        -1.0f32..1.0,
        1usize..12,
        2usize..12,
        1usize..40,
        1usize..40,
    )
        .prop_map(
            |(
                cmap_threshold,
                link_threshold,
                cmap_window,
                line_integral_samples,
                max_num_parts,
                max_num_objects,
            )| ParseParams {
                cmap_threshold,
                link_threshold,
                cmap_window,
                line_integral_samples,
                max_num_parts,
                max_num_objects,
            },
        )
}

fn small_topology() -> Topology {
    Topology::from_json_bytes(
        br#"{"keypoints": ["a", "b", "c"], "skeleton": [[1, 2], [2, 3], [3, 1]]}"#,
        "test",
        "tri",
    )
    .unwrap()
}

/// Found by the `decoders` fuzz target: a huge offset plus a huge displacement overflowed a
/// PoseNet position to -inf, which reached the frame as a non-finite keypoint.
#[test]
fn fuzz_regression_posenet_overflowing_positions() {
    use gsttrtpose::pose::posenet::{PoseNetDecoder, PoseNetOutputs, PoseNetParams};
    let floats = [8.772043e-16f32, -2.368226e38];
    let (h, w) = (6usize, 4usize);
    let fill = |n: usize| -> Vec<f32> { floats.iter().cycle().take(n).copied().collect() };
    let (hm, off, fwd, bwd) = (
        fill(h * w * 17),
        fill(h * w * 34),
        fill(h * w * 32),
        fill(h * w * 32),
    );
    let outs = PoseNetOutputs {
        heatmap: &hm,
        offsets: &off,
        displacement_fwd: &fwd,
        displacement_bwd: &bwd,
        height: h,
        width: w,
    };
    let mut people = Vec::new();
    PoseNetDecoder::new(PoseNetParams::default())
        .decode(&outs, 385, 385, &Topology::coco17(), 0.0, &mut people)
        .unwrap();
    let g = Geometry::new(640, 480, 256, 256, ResizeMode::Letterbox);
    for p in &mut people {
        p.map_to_frame(&g);
        for k in p.keypoints.iter().flatten() {
            assert!(k.x.is_finite() && k.y.is_finite(), "{k:?}");
        }
        let topo = Topology::coco17();
        for &l in &p.links {
            let (a, b) = topo.links[l];
            assert!(
                p.keypoints[a].is_some() && p.keypoints[b].is_some(),
                "link {l} to a dropped keypoint"
            );
        }
    }
    // Huge finite coordinates stay finite in the frame.
    assert!(g.to_frame(3.0e38, -3.0e38).0.is_finite());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn parser_never_panics_and_outputs_finite_coordinates(
        h in 1usize..14,
        w in 1usize..14,
        hwc in any::<bool>(),
        params in params(),
        seed_values in proptest::collection::vec(value(), 9 * 14 * 14),
    ) {
        let topo = small_topology();
        let (c, p) = (3, 6);
        let cmap: Vec<f32> = seed_values.iter().cycle().take(c * h * w).copied().collect();
        let paf: Vec<f32> = seed_values.iter().rev().cycle().take(p * h * w).copied().collect();
        let layout = if hwc { Layout::Hwc } else { Layout::Chw };
        let cm = MapView::new(&cmap, c, h, w, layout).unwrap();
        let pm = MapView::new(&paf, p, h, w, layout).unwrap();
        let mut parser = TrtPoseParser::new(&topo, params).unwrap();
        parser.parse(&cm, &pm).unwrap();
        prop_assert!(parser.object_count() <= params.max_num_objects);
        let mut people = Vec::new();
        parser.people_into(&mut people);
        for person in &people {
            for k in person.keypoints.iter().flatten() {
                prop_assert!(k.x.is_finite() && k.y.is_finite(), "{k:?}");
            }
            prop_assert!(person.score.is_finite(), "score {}", person.score);
        }
        for part in 0..c {
            prop_assert!(parser.peak_counts()[part] <= params.max_num_parts);
            for &(y, x) in parser.refined_peaks(part) {
                prop_assert!(y.is_finite() && x.is_finite());
            }
        }
    }

    #[test]
    fn movenet_decoder_handles_any_output(values in proptest::collection::vec(value(), 0..400)) {
        let mut people = Vec::new();
        decode_multipose(&values, &Topology::coco17(), 0.2, 0.0, &mut people);
        let g = Geometry::new(640, 480, 256, 256, ResizeMode::Letterbox);
        for p in &mut people {
            p.map_to_frame(&g);
            for k in p.keypoints.iter().flatten() {
                prop_assert!(k.x.is_finite() && k.y.is_finite());
            }
        }
    }

    #[test]
    fn drawing_stays_inside_the_frame(
        w in 1usize..40,
        h in 1usize..30,
        pad in 0usize..9,
        format_index in 0usize..18,
        points in proptest::collection::vec((value(), value(), 0.0f32..1.0), 17),
        thickness in 1u32..12,
    ) {
        let formats = [PixelFormat::Rgb, PixelFormat::Bgr, PixelFormat::Rgba, PixelFormat::Bgra, PixelFormat::Argb,
            PixelFormat::Abgr, PixelFormat::Rgbx, PixelFormat::Bgrx, PixelFormat::Xrgb, PixelFormat::Xbgr,
            PixelFormat::Gray8, PixelFormat::I420, PixelFormat::Yv12, PixelFormat::Nv12, PixelFormat::Nv21,
            PixelFormat::Yuy2, PixelFormat::Uyvy, PixelFormat::Yvyu];
        let format = formats[format_index];
        let topo = Topology::coco17();
        let mut person = Person {
            keypoints: points.iter().map(|&(x, y, s)| Some(Keypoint { x: x * 50.0, y: y * 40.0, score: s })).collect(),
            ..Default::default()
        };
        person.update_links(&topo);
        person.update_bbox(0.0);
        let mut planes: Vec<(Vec<u8>, usize)> = (0..format.num_planes()).map(|i| {
            let stride = format.plane_len(i, w, 1, 0) + pad;
            let rows = if i == 0 { h } else { h.div_ceil(2) };
            (vec![7u8; stride * rows], stride)
        }).collect();
        let before = planes.clone();
        let style = Style { draw_boxes: true, thickness: thickness as f32, ..Default::default() };
        {
            let views = planes.iter_mut().map(|(d, s)| PlaneMut { data: d.as_mut_slice(), stride: *s }).collect();
            let mut frame = FrameMut::new(format, w, h, views).unwrap();
            draw_people(&mut frame, std::slice::from_ref(&person), &topo.links, &style);
        }
        // Row padding is never written.
        for (i, ((after, stride), (orig, _))) in planes.iter().zip(&before).enumerate() {
            let row = format.plane_len(i, w, 1, 0);
            for (r, (a, b)) in after.chunks(*stride).zip(orig.chunks(*stride)).enumerate() {
                prop_assert_eq!(&a[row..], &b[row..], "plane {} row {} padding", i, r);
            }
        }
    }

    #[test]
    fn preprocessing_any_size_gives_finite_inputs(
        w in 1usize..50,
        h in 1usize..50,
        in_w in 1u32..64,
        in_h in 1u32..64,
        letterbox in any::<bool>(),
        format_index in 0usize..6,
    ) {
        let formats = [PixelFormat::Rgb, PixelFormat::Bgrx, PixelFormat::Gray8, PixelFormat::I420, PixelFormat::Nv21, PixelFormat::Yuy2];
        let format = formats[format_index];
        let data: Vec<Vec<u8>> = (0..format.num_planes())
            .map(|i| (0..format.plane_len(i, w, h, format.plane_len(i, w, 1, 0))).map(|v| (v * 37 % 256) as u8).collect())
            .collect();
        let planes = data.iter().enumerate().map(|(i, d)| (d.as_slice(), format.plane_len(i, w, 1, 0))).collect();
        let frame = SourceFrame::new(format, w, h, planes).unwrap();
        let mode = if letterbox { ResizeMode::Letterbox } else { ResizeMode::Stretch };
        let g = Geometry::new(w as u32, h as u32, in_w, in_h, mode);
        let fmt = InputFormat { layout: TensorLayout::Nchw, elem: InputElem::F32, normalize: Normalize::mean_std([0.5; 3], [0.25; 3]) };
        let mut pre = Preprocessor::new();
        let (input, shape) = pre.run(&frame, &g, &fmt);
        prop_assert_eq!(shape, &[1, 3, in_h as usize, in_w as usize]);
        let gsttrtpose::engine::InputData::F32(v) = input else { unreachable!() };
        prop_assert!(v.iter().all(|x| x.is_finite() && *x >= -2.0 - 1e-3 && *x <= 2.0 + 1e-3));
    }
}

/// A model input or output description with dims drawn around the sizes families use.
fn tensor_spec(rank: std::ops::Range<usize>) -> impl Strategy<Value = TensorSpec> {
    let dim = prop_oneof![
        Just(-1i64),
        Just(1i64),
        Just(3i64),
        Just(6),
        Just(17),
        Just(19),
        Just(32),
        Just(34),
        Just(38),
        Just(56),
        0i64..300,
    ];
    let name = prop_oneof![
        Just("output_0"),
        Just("cmap"),
        Just("paf"),
        Just("heatmap"),
        Just("displacement_fwd"),
        Just("displacement_bwd"),
        Just("x"),
    ];
    let elem = prop_oneof![
        8 => Just(ElementType::F32),
        1 => Just(ElementType::I32),
        1 => Just(ElementType::F16),
    ];
    (name, elem, proptest::collection::vec(dim, rank)).prop_map(|(name, elem, shape)| TensorSpec {
        name: name.to_string(),
        elem,
        shape,
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// Family detection and planning on arbitrary output shapes: an error naming the problem
    /// or a plan, never a panic (a PoseNet-like model with one 32-channel output panicked).
    #[test]
    fn family_detection_never_panics_on_any_outputs(
        input in tensor_spec(0..6),
        outputs in proptest::collection::vec(tensor_spec(0..6), 0..6),
        request in prop_oneof![
            Just(FamilyRequest::Auto),
            Just(FamilyRequest::TrtPose),
            Just(FamilyRequest::MoveNet),
            Just(FamilyRequest::PoseNet),
        ],
    ) {
        if let Ok(plan) = ModelPlan::new(&[input], &outputs, request, None) {
            // A plan's output indices point at real outputs.
            let _ = plan.geometry_for(640, 480, 256, None);
        }
    }
}

#[test]
fn posenet_with_one_displacement_output_is_refused_with_a_reason() {
    let spec = |name: &str, c: i64| TensorSpec {
        name: name.into(),
        elem: ElementType::F32,
        shape: vec![1, 25, 25, c],
    };
    let input = TensorSpec {
        name: "image".into(),
        elem: ElementType::F32,
        shape: vec![1, 385, 385, 3],
    };
    let outputs = [
        spec("heatmap", 17),
        spec("offsets", 34),
        spec("displacement_fwd", 32),
        spec("other", 5),
    ];
    let err = ModelPlan::new(&[input], &outputs, FamilyRequest::PoseNet, None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("two displacement outputs"), "{err}");
}
