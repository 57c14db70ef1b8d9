// SPDX-License-Identifier: MPL-2.0
//! YUV frames are converted with their own colorimetry (range, matrix, chroma siting), checked
//! against GStreamer's `videoconvert` on a real photo, through the element's own caps glue
//! (`video::colorimetry`) and pre-processing; JPEG's full-range I420 gives the same people as
//! RGB; the overlay draws in the frame's range.

mod common;

use common::quote as q;
use gst::prelude::*;
use gst_video::prelude::*;
use gsttrtpose::frame::SourceFrame;
use gsttrtpose::pose::{Geometry, ResizeMode};
use gsttrtpose::preprocess::{InputData, InputElem, InputFormat, Normalize, Preprocessor};
use gsttrtpose::tensor::TensorLayout;
use gsttrtpose::video;

/// One buffer through `appsrc ! videoconvert ! <caps> ! appsink`.
fn videoconvert(caps_in: &gst::Caps, buf: &gst::Buffer, caps_out: &str) -> gst::Sample {
    let p = common::launch(&format!(
        "appsrc name=src format=time ! videoconvert ! {caps_out} ! appsink name=sink sync=false"
    ));
    let src: gst_app::AppSrc = common::by_name(&p, "src");
    let sink: gst_app::AppSink = common::by_name(&p, "sink");
    src.set_caps(Some(caps_in));
    p.set_state(gst::State::Playing).unwrap();
    src.push_buffer(buf.clone()).unwrap();
    src.end_of_stream().unwrap();
    let sample = sink
        .pull_sample()
        .unwrap_or_else(|e| panic!("{caps_out}: {e}"));
    p.set_state(gst::State::Null).unwrap();
    sample
}

/// A photo decoded to RGB by GStreamer.
fn photo_rgb(name: &str) -> gst::Sample {
    let p = common::launch(&format!(
        "filesrc location={} ! decodebin ! videoconvert ! video/x-raw,format=RGB ! appsink name=sink sync=false",
        q(&common::media(name))
    ));
    let sink: gst_app::AppSink = common::by_name(&p, "sink");
    p.set_state(gst::State::Playing).unwrap();
    let s = sink.pull_sample().unwrap();
    p.set_state(gst::State::Null).unwrap();
    s
}

/// The RGB values (0..255) our pre-processing gives a YUV sample at its own size, as the
/// element builds its source frame from the caps.
fn our_rgb(sample: &gst::Sample) -> Vec<f32> {
    let info = gst_video::VideoInfo::from_caps(sample.caps().unwrap()).unwrap();
    let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(sample.buffer().unwrap(), &info)
        .unwrap();
    let (w, h) = (info.width() as usize, info.height() as usize);
    let source = SourceFrame::new(
        video::pixel_format(info.format()).unwrap(),
        w,
        h,
        video::planes(&frame),
    )
    .unwrap()
    .with_colorimetry(video::colorimetry(&info));
    let geometry = Geometry::new(w as u32, h as u32, w as u32, h as u32, ResizeMode::Stretch);
    let format = InputFormat {
        layout: TensorLayout::Nhwc,
        elem: InputElem::F32,
        normalize: Normalize::IDENTITY,
    };
    let mut pre = Preprocessor::new();
    let (InputData::F32(data), _) = pre.run(&source, &geometry, &format) else {
        unreachable!()
    };
    data.to_vec()
}

/// Tightly packed RGB bytes of an RGB sample.
fn packed_rgb(sample: &gst::Sample) -> (usize, usize, Vec<u8>) {
    let info = gst_video::VideoInfo::from_caps(sample.caps().unwrap()).unwrap();
    let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(sample.buffer().unwrap(), &info)
        .unwrap();
    let (w, h) = (info.width() as usize, info.height() as usize);
    let stride = frame.plane_stride()[0] as usize;
    let data = frame.plane_data(0).unwrap();
    let rgb = (0..h)
        .flat_map(|y| data[y * stride..y * stride + 3 * w].iter().copied())
        .collect();
    (w, h, rgb)
}

#[derive(Debug)]
#[allow(dead_code)] // fields shown in assertion messages
struct Diff {
    /// Mean of ours − reference per channel.
    signed: [f64; 3],
    mean: f64,
    p99: f32,
    max: f32,
}

fn diff(ours: &[f32], reference: &[u8]) -> Diff {
    assert_eq!(ours.len(), reference.len());
    let mut d: Vec<f32> = ours
        .iter()
        .zip(reference)
        .map(|(a, &b)| (a.round() - b as f32).abs())
        .collect();
    let mean = d.iter().map(|&v| v as f64).sum::<f64>() / d.len() as f64;
    let mut signed = [0.0; 3];
    for (i, (a, &b)) in ours.iter().zip(reference).enumerate() {
        signed[i % 3] += (a.round() - b as f32) as f64 * 3.0 / ours.len() as f64;
    }
    d.sort_by(f32::total_cmp);
    Diff {
        signed,
        mean,
        p99: d[d.len() * 99 / 100],
        max: *d.last().unwrap(),
    }
}

/// Bounds held against videoconvert on a real photo, per RGB value: `(mean, max)` absolute
/// difference for full and for limited range. videoconvert's 8-bit fixed-point matrices are
/// biased (limited-range white, Y 235, becomes 253 where BT.601 gives 255, and mid grey Y 126
/// becomes 126 where it gives 128; `videoconvert_is_the_biased_side` shows it), which makes
/// the limited-range bound wider; chroma upsampling (linear, as the siting places samples)
/// agrees with videoconvert's general path.
const FULL_BOUND: (f64, f32) = (1.0, 4.0);
const LIMITED_BOUND: (f64, f32) = (3.0, 8.0);

#[test]
fn yuv_input_matches_videoconvert_for_every_range_matrix_and_format() {
    common::init_gst();
    let rgb = photo_rgb("grace_hopper.jpg");
    let rgb_caps = rgb.caps().unwrap().to_owned();
    let rgb_buf = rgb.buffer_owned().unwrap();
    for format in ["I420", "NV12", "YUY2"] {
        for (colorimetry, site) in [
            ("1:4:0:0", "jpeg"),  // full range BT.601 (JPEG, MJPEG webcams)
            ("bt601", "jpeg"),    // limited BT.601
            ("1:3:5:1", "mpeg2"), // full range BT.709
            ("bt709", "mpeg2"),   // limited BT.709
            ("2:6:0:0", "mpeg2"), // limited BT.2020 matrix
        ] {
            let caps =
                format!("video/x-raw,format={format},colorimetry={colorimetry},chroma-site={site}");
            let yuv = videoconvert(&rgb_caps, &rgb_buf, &caps);
            let info = gst_video::VideoInfo::from_caps(yuv.caps().unwrap()).unwrap();
            assert_eq!(info.colorimetry().to_string(), colorimetry, "{caps}");
            // videoconvert's I420 → RGB fast path repeats each chroma sample; its general path
            // (taken for NV12) interpolates as the siting says. I420 → NV12 only moves bytes.
            let general = if format == "I420" {
                videoconvert(
                    &yuv.caps().unwrap().to_owned(),
                    &yuv.buffer_owned().unwrap(),
                    "video/x-raw,format=NV12",
                )
            } else {
                yuv.clone()
            };
            let reference = videoconvert(
                &general.caps().unwrap().to_owned(),
                &general.buffer_owned().unwrap(),
                "video/x-raw,format=RGB",
            );
            let (_, _, reference) = packed_rgb(&reference);
            let d = diff(&our_rgb(&yuv), &reference);
            println!("{caps}: {d:?}");
            let (mean, max) = if colorimetry.starts_with("1:") {
                FULL_BOUND
            } else {
                LIMITED_BOUND
            };
            assert!(
                d.mean <= mean && d.max <= max,
                "{caps}: ours vs videoconvert {d:?}"
            );
        }
    }
}

#[test]
fn reading_full_range_as_limited_would_fail_the_same_bound() {
    // The comparison above can fail: full-range I420 converted as if it were limited range (the
    // old behaviour) is far from videoconvert.
    common::init_gst();
    let rgb = photo_rgb("grace_hopper.jpg");
    let yuv = videoconvert(
        &rgb.caps().unwrap().to_owned(),
        &rgb.buffer_owned().unwrap(),
        "video/x-raw,format=NV12,colorimetry=1:4:0:0,chroma-site=jpeg",
    );
    let reference = videoconvert(
        &yuv.caps().unwrap().to_owned(),
        &yuv.buffer_owned().unwrap(),
        "video/x-raw,format=RGB",
    );
    let (_, _, reference) = packed_rgb(&reference);
    // Relabel the same bytes as limited range.
    let mut limited = yuv.caps().unwrap().to_owned();
    limited.make_mut().set("colorimetry", "bt601");
    let buffer = yuv.buffer_owned().unwrap();
    let relabelled = gst::Sample::builder()
        .buffer(&buffer)
        .caps(&limited)
        .build();
    let d = diff(&our_rgb(&relabelled), &reference);
    assert!(
        d.mean > 3.0 * FULL_BOUND.0 && d.max > 4.0 * FULL_BOUND.1,
        "{d:?}"
    );
    let d = diff(&our_rgb(&yuv), &reference);
    assert!(d.mean <= FULL_BOUND.0, "{d:?}");
}

/// People found in a JPEG photo by MoveNet multipose, fed as `caps_path`.
fn people(photo: &str, caps_path: &str) -> Vec<gsttrtpose::pose::Person> {
    let model = common::model("movenet-multipose.onnx");
    let p = common::launch(&format!(
        "filesrc location={} ! jpegdec ! {caps_path} ! trtposeinfer model={} input-size=256 ! appsink name=sink sync=false",
        q(&common::media(photo)),
        q(&model)
    ));
    let sink: gst_app::AppSink = common::by_name(&p, "sink");
    p.set_state(gst::State::Playing).unwrap();
    let sample = sink.pull_sample().unwrap();
    let info = gst_video::VideoInfo::from_caps(sample.caps().unwrap()).unwrap();
    p.set_state(gst::State::Null).unwrap();
    assert_eq!(
        info.format(),
        if caps_path.contains("RGB") {
            gst_video::VideoFormat::Rgb
        } else {
            gst_video::VideoFormat::I420
        }
    );
    gsttrtpose::meta::read(sample.buffer().unwrap())
        .into_iter()
        .map(|r| r.unwrap().person)
        .collect()
}

#[test]
fn jpeg_through_full_range_i420_finds_the_same_people_as_through_rgb() {
    common::runtime();
    for photo in ["grace_hopper.jpg", "messi5.jpg"] {
        // jpegdec outputs full-range I420 with JPEG siting.
        let yuv = people(photo, "video/x-raw,format=I420,colorimetry=1:4:0:0");
        let rgb = people(photo, "videoconvert ! video/x-raw,format=RGB");
        assert!(!rgb.is_empty(), "{photo}: nobody found");
        assert_eq!(yuv.len(), rgb.len(), "{photo}");
        // The two inputs differ by a level or two (videoconvert repeats chroma samples and
        // rounds its matrix differently), which moves confident keypoints (score >= 0.5) by
        // under a pixel on average; one in ten may move further, never past two pixels of the
        // 256-pixel network input.
        let (w, _, _) = packed_rgb(&photo_rgb(photo));
        let limit = 2.0 * w as f32 / 256.0;
        let mut moved = Vec::new();
        for (a, b) in yuv.iter().zip(&rgb) {
            assert!(
                (a.score - b.score).abs() < 0.02,
                "{photo}: {} vs {}",
                a.score,
                b.score
            );
            for (ka, kb) in a.keypoints.iter().zip(&b.keypoints) {
                let (Some(ka), Some(kb)) = (ka, kb) else {
                    assert_eq!(ka.is_some(), kb.is_some(), "{photo}: {ka:?} vs {kb:?}");
                    continue;
                };
                if kb.score < 0.5 {
                    continue;
                }
                let d = ((ka.x - kb.x).powi(2) + (ka.y - kb.y).powi(2)).sqrt();
                assert!(
                    d <= limit,
                    "{photo}: keypoint moved {d:.2} px ({ka:?} vs {kb:?})"
                );
                moved.push(d);
            }
        }
        assert!(moved.len() >= 5, "{photo}: {moved:?}");
        let mean = moved.iter().sum::<f32>() / moved.len() as f32;
        let far = moved.iter().filter(|&&d| d > 1.0).count();
        assert!(
            mean <= 1.0 && far * 10 <= moved.len(),
            "{photo}: keypoints moved {moved:?}"
        );
    }
}

/// Luma and chroma under each drawn keypoint of a JPEG photo drawn white by poseoverlay in
/// I420 of the given colorimetry.
fn overlay_white_keypoints(colorimetry: &str) -> Vec<(u8, u8, u8)> {
    let model = common::model("movenet-multipose.onnx");
    let p = common::launch(&format!(
        "filesrc location={} ! jpegdec ! videoconvert ! video/x-raw,format=I420,colorimetry={colorimetry} \
         ! trtposeinfer model={} input-size=256 ! poseoverlay draw-links=false draw-boxes=false \
         keypoint-radius=4 keypoint-color=16777215 min-score=0.3 ! appsink name=sink sync=false",
        q(&common::media("messi5.jpg")),
        q(&model)
    ));
    let sink: gst_app::AppSink = common::by_name(&p, "sink");
    p.set_state(gst::State::Playing).unwrap();
    let sample = sink.pull_sample().unwrap();
    p.set_state(gst::State::Null).unwrap();
    let info = gst_video::VideoInfo::from_caps(sample.caps().unwrap()).unwrap();
    assert_eq!(info.colorimetry().to_string(), colorimetry);
    let buffer = sample.buffer().unwrap();
    let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(buffer, &info).unwrap();
    let planes = video::planes(&frame);
    let mut out = Vec::new();
    for record in gsttrtpose::meta::read(buffer) {
        for k in record.unwrap().person.keypoints.into_iter().flatten() {
            if k.score < 0.3 {
                continue;
            }
            let (x, y) = (k.x as usize, k.y as usize);
            let (cx, cy) = (x / 2, y / 2);
            out.push((
                planes[0].0[y * planes[0].1 + x],
                planes[1].0[cy * planes[1].1 + cx],
                planes[2].0[cy * planes[2].1 + cx],
            ));
        }
    }
    out
}

#[test]
fn overlay_draws_white_in_the_frame_s_own_range() {
    common::runtime();
    for (colorimetry, white) in [("1:4:0:0", 255u8), ("bt601", 235)] {
        let drawn = overlay_white_keypoints(colorimetry);
        assert!(drawn.len() >= 5, "{colorimetry}: {drawn:?}");
        for yuv in &drawn {
            assert_eq!(*yuv, (white, 128, 128), "{colorimetry}");
        }
    }
}

/// A uniform NV12 frame of one YUV value.
fn uniform_nv12(colorimetry: &str, y: u8, u: u8, v: u8) -> gst::Sample {
    let (w, h) = (16usize, 16usize);
    let mut data = vec![y; w * h];
    data.extend([u, v].repeat(w * h / 4));
    let caps = gst::Caps::builder("video/x-raw")
        .field("format", "NV12")
        .field("width", w as i32)
        .field("height", h as i32)
        .field("framerate", gst::Fraction::new(1, 1))
        .field("colorimetry", colorimetry)
        .build();
    gst::Sample::builder()
        .buffer(&gst::Buffer::from_slice(data))
        .caps(&caps)
        .build()
}

#[test]
fn videoconvert_is_the_biased_side() {
    common::init_gst();
    // BT.601 limited range: Y 16 → 0, 126 → 128.04, 235 → 255; full range maps Y to itself.
    for (colorimetry, y, exact) in [
        ("bt601", 16u8, 0.0f32),
        ("bt601", 126, 128.04),
        ("bt601", 235, 255.0),
        ("1:4:0:0", 16, 16.0),
        ("1:4:0:0", 235, 235.0),
    ] {
        let s = uniform_nv12(colorimetry, y, 128, 128);
        let ours = our_rgb(&s);
        assert!(
            ours.iter().all(|&v| (v - exact).abs() < 0.05),
            "{colorimetry} Y {y}: ours {:?}, want {exact}",
            &ours[..3]
        );
        let vc = videoconvert(
            &s.caps().unwrap().to_owned(),
            &s.buffer_owned().unwrap(),
            "video/x-raw,format=RGB",
        );
        let (_, _, vc) = packed_rgb(&vc);
        assert!(
            vc.iter().all(|&v| (v as f32 - exact).abs() <= 2.5),
            "{colorimetry} Y {y}: videoconvert {:?} vs exact {exact}",
            &vc[..3]
        );
    }
}
