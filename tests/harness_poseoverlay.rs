// SPDX-License-Identifier: MPL-2.0
//! poseoverlay alone in a `gst_check::Harness`, with people attached by hand (no model, no
//! media): property defaults, ranges and round trips; the formats it accepts and refuses;
//! frames without pose metadata passing byte for byte; keypoints drawn where they are and
//! nowhere else, in packed and planar RGB and YUV; malformed metadata; flush and EOS events;
//! a restart in another format. Drawing through real inference is in tests/elements.rs.

mod common;

use std::str::FromStr as _;

use common::harness::*;
use gst::prelude::*;
use gsttrtpose::pose::{Keypoint, Person, Topology};

const W: u32 = 64;
const H: u32 = 48;

fn overlay() -> (gst::Element, gst::Bus) {
    element_with_bus("poseoverlay")
}

fn caps(format: &str) -> String {
    format!("video/x-raw,format={format},width={W},height={H},framerate=30/1")
}

fn harness(e: &gst::Element, format: &str) -> gst_check::Harness {
    let mut h = gst_check::Harness::with_element(e, Some("sink"), Some("src"));
    h.set_src_caps_str(&caps(format));
    h
}

fn info(format: &str) -> gst_video::VideoInfo {
    let f = gst_video::VideoFormat::from_string(format);
    gst_video::VideoInfo::builder(f, W, H).build().unwrap()
}

/// A `format` frame: every byte `fill`, or a fixed pseudo-random pattern when `None`.
fn frame(format: &str, fill: Option<u8>) -> gst::Buffer {
    let bytes: Vec<u8> = (0..info(format).size() as u32)
        .map(|i| fill.unwrap_or((i.wrapping_mul(2_654_435_761) >> 24) as u8))
        .collect();
    gst::Buffer::from_mut_slice(bytes)
}

fn bytes(b: &gst::Buffer) -> Vec<u8> {
    b.map_readable().unwrap().to_vec()
}

/// A COCO-17 person with only the given `(keypoint, x, y, score)`s.
fn person(points: &[(usize, f32, f32, f32)]) -> Person {
    let topo = Topology::coco17();
    let mut p = Person {
        keypoints: vec![None; topo.num_parts()],
        score: 0.9,
        ..Default::default()
    };
    for &(c, x, y, score) in points {
        p.keypoints[c] = Some(Keypoint { x, y, score });
    }
    p.update_links(&topo);
    p.update_bbox(0.0);
    p
}

fn with_people(mut b: gst::Buffer, people: &[Person]) -> gst::Buffer {
    let topo = Topology::coco17();
    gsttrtpose::meta::attach(b.get_mut().unwrap(), people, &topo, false, W, H);
    b
}

/// Bytes per sample and horizontal/vertical subsampling shifts of each plane.
fn layout(format: &str) -> &'static [(usize, u32, u32)] {
    match format {
        "RGBA" => &[(4, 0, 0)],
        "NV12" => &[(1, 0, 0), (2, 1, 1)],
        "I420" => &[(1, 0, 0), (1, 1, 1), (1, 1, 1)],
        "YUY2" => &[(2, 0, 0)],
        other => unreachable!("{other}"),
    }
}

/// `(plane, x, y)` of every byte that differs, as image coordinates of the sample's top-left.
fn changes(format: &str, a: &[u8], b: &[u8]) -> Vec<(usize, u32, u32)> {
    let info = info(format);
    let mut out = Vec::new();
    for (p, &(bps, xs, ys)) in layout(format).iter().enumerate() {
        let (offset, stride) = (info.offset()[p], info.stride()[p] as usize);
        let rows = (H as usize).div_ceil(1 << ys);
        let row_bytes = (W as usize).div_ceil(1 << xs) * bps;
        for r in 0..rows {
            for c in 0..row_bytes {
                let o = offset + r * stride + c;
                if a[o] != b[o] {
                    out.push((p, ((c / bps) << xs) as u32, (r << ys) as u32));
                }
            }
        }
    }
    out
}

#[test]
fn properties_have_documented_defaults_ranges_and_round_trip() {
    let (e, bus) = overlay();
    assert_values_are_declared_defaults(&e);
    assert!(e.property::<bool>("draw-keypoints"));
    assert!(e.property::<bool>("draw-links"));
    assert!(!e.property::<bool>("draw-boxes"));
    assert_eq!(e.property::<String>("link-colors"), "");
    assert_numeric(&e, "thickness", 3.0, 1.0, 100.0);
    assert_numeric(&e, "keypoint-radius", 4.0, 1.0, 100.0);
    assert_numeric(&e, "min-score", 0.3, 0.0, 1.0);
    assert_numeric(&e, "box-color", 0x00ff00 as f64, 0.0, 0xffffff as f64);
    // 0xFFFFFFFF means a palette colour per keypoint.
    assert_numeric(&e, "keypoint-color", u32::MAX as f64, 0.0, u32::MAX as f64);
    e.set_property("keypoint-color", 0x123456u32);
    assert_eq!(e.property::<u32>("keypoint-color"), 0x123456);
    // Any value above 0xFFFFFF also means the palette, and reads back as written.
    e.set_property("keypoint-color", 0x0100_0000u32);
    assert_eq!(e.property::<u32>("keypoint-color"), 0x0100_0000);
    e.set_property("box-color", 0x123456u32);
    assert_eq!(e.property::<u32>("box-color"), 0x123456);
    for name in ["draw-keypoints", "draw-links", "draw-boxes"] {
        let was = e.property::<bool>(name);
        e.set_property(name, !was);
        assert_eq!(e.property::<bool>(name), !was, "{name}");
    }
    // Colours round-trip as written; a bad list warns and keeps the previous colours.
    e.set_property("link-colors", "#ff0000, 00ff00,0x0000ff");
    assert_eq!(
        e.property::<String>("link-colors"),
        "#ff0000, 00ff00,0x0000ff"
    );
    assert!(bus_texts(&bus, false).is_empty());
    e.set_property("link-colors", "ff0000,nope");
    assert_eq!(
        e.property::<String>("link-colors"),
        "#ff0000, 00ff00,0x0000ff"
    );
    let warnings = bus_texts(&bus, false);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("'nope'"), "{}", warnings[0]);
}

#[test]
fn accepts_the_listed_raw_formats_and_refuses_others() {
    let (e, _) = overlay();
    let listed: Vec<String> = gsttrtpose::video::FORMATS
        .iter()
        .map(|f| f.to_str().to_string())
        .collect();
    for pad in ["sink", "src"] {
        let template = e.static_pad(pad).unwrap().pad_template_caps();
        assert_eq!(formats(&template), listed, "{pad} template");
        for f in &listed {
            assert!(accepts(&e, pad, &caps(f)), "{pad} refuses {f}");
        }
        for refused in [caps("RGB16"), caps("NV16"), "image/jpeg".into()] {
            assert!(!accepts(&e, pad, &refused), "{pad} accepts {refused}");
        }
    }
    // A refused format in a running element: the buffer is not negotiated, nothing comes out.
    let mut h = harness(&e, "RGB16");
    let pushed = h.push(gst::Buffer::with_size((W * H * 2) as usize).unwrap());
    assert_eq!(pushed, Err(gst::FlowError::NotNegotiated));
    assert!(h.try_pull().is_none());
}

#[test]
fn frames_without_pose_metadata_pass_byte_for_byte() {
    for format in ["RGBA", "NV12", "I420", "YUY2"] {
        let (e, bus) = overlay();
        // Drawing everything on: still nothing to draw.
        e.set_property("draw-boxes", true);
        let mut h = harness(&e, format);
        for i in 0..3u64 {
            let mut input = frame(format, None);
            input
                .get_mut()
                .unwrap()
                .set_pts(gst::ClockTime::from_mseconds(33 * i));
            let want = bytes(&input);
            let out = h.push_and_pull(input).unwrap();
            assert_eq!(bytes(&out), want, "{format} frame {i} changed");
            assert_eq!(out.pts(), Some(gst::ClockTime::from_mseconds(33 * i)));
        }
        assert!(bus_texts(&bus, false).is_empty(), "{format}");
    }
}

#[test]
fn keypoints_are_drawn_where_they_are_and_nowhere_else() {
    // Nose at (20.5, 20.5); the left eye (linked to the nose in COCO-17) scores below
    // min-score, so neither it nor the link may be drawn.
    let people = [person(&[(0, 20.5, 20.5, 0.9), (1, 50.5, 35.5, 0.1)])];
    let radius = 4.0f32;
    for format in ["RGBA", "NV12", "I420", "YUY2"] {
        let (e, _) = overlay();
        e.set_property("keypoint-color", 0xffffffu32);
        let mut h = harness(&e, format);
        let plain = bytes(&frame(format, Some(0x40)));
        let out = h
            .push_and_pull(with_people(frame(format, Some(0x40)), &people))
            .unwrap();
        let changed = changes(format, &plain, &bytes(&out));
        assert!(changed.len() >= 20, "{format}: only {changed:?} changed");
        // The keypoint's own pixel (its luma, or its RGB) is painted.
        assert!(
            changed.contains(&(0, 20, 20)),
            "{format}: keypoint pixel unchanged"
        );
        // Sample corners lie within a subsampled block of the circle's edge.
        for &(p, x, y) in &changed {
            let d = ((x as f32 + 0.5 - 20.5).powi(2) + (y as f32 + 0.5 - 20.5).powi(2)).sqrt();
            assert!(
                d <= radius + 3.0,
                "{format}: plane {p} changed at ({x}, {y}), {d:.1} px from the keypoint"
            );
        }
        // With keypoints off (and the only link hidden by min-score) nothing is drawn.
        e.set_property("draw-keypoints", false);
        let out = h
            .push_and_pull(with_people(frame(format, Some(0x40)), &people))
            .unwrap();
        assert_eq!(
            bytes(&out),
            plain,
            "{format}: drawn with draw-keypoints=false"
        );
    }
}

#[test]
fn keypoint_colors_above_0xffffff_draw_the_palette() {
    let people = [person(&[(0, 20.5, 20.5, 0.9)])];
    let draw = |color: Option<u32>| {
        let (e, _) = overlay();
        if let Some(c) = color {
            e.set_property("keypoint-color", c);
        }
        let mut h = harness(&e, "RGBA");
        bytes(
            &h.push_and_pull(with_people(frame("RGBA", Some(0x40)), &people))
                .unwrap(),
        )
    };
    let palette = draw(None);
    assert_eq!(draw(Some(0x0100_0000)), palette);
    assert_ne!(draw(Some(0xffffff)), palette);
}

#[test]
fn malformed_pose_metadata_warns_once_and_leaves_the_frame_alone() {
    let (e, bus) = overlay();
    let mut h = harness(&e, "RGBA");
    let bad = gst::Structure::from_str("pose, x=(double)<1.0>, y=(double)<1.0>").unwrap();
    for _ in 0..3 {
        let mut input = frame("RGBA", None);
        let mut roi = gst_video::VideoRegionOfInterestMeta::add(
            input.get_mut().unwrap(),
            gsttrtpose::meta::ROI_TYPE,
            (10, 10, 5, 5),
        );
        roi.add_param(bad.clone());
        let want = bytes(&input);
        let out = h.push_and_pull(input).unwrap();
        assert_eq!(bytes(&out), want);
    }
    let warnings = bus_texts(&bus, false);
    assert_eq!(warnings.len(), 1, "one warning per stream: {warnings:?}");
    assert!(warnings[0].contains("malformed"), "{}", warnings[0]);
    assert!(bus_texts(&bus, true).is_empty());
}

#[test]
fn flush_and_eos_events_go_through_and_drawing_resumes_after_a_flush() {
    let (e, bus) = overlay();
    let mut h = harness(&e, "RGBA");
    let people = [person(&[(0, 20.5, 20.5, 0.9)])];
    let plain = bytes(&frame("RGBA", Some(0x40)));
    let drawn = h
        .push_and_pull(with_people(frame("RGBA", Some(0x40)), &people))
        .unwrap();
    assert_ne!(bytes(&drawn), plain);
    use gst::EventType as T;
    assert_eq!(
        downstream_events(&mut h),
        [T::StreamStart, T::Caps, T::Segment]
    );
    assert!(h.push_event(gst::event::FlushStart::new()));
    assert_eq!(
        h.push(frame("RGBA", None)),
        Err(gst::FlowError::Flushing),
        "buffers are refused while flushing"
    );
    assert!(h.push_event(gst::event::FlushStop::new(true)));
    assert_eq!(downstream_events(&mut h), [T::FlushStart, T::FlushStop]);
    assert!(h.try_pull().is_none(), "nothing leaked through the flush");
    // The caps stay negotiated: after a new segment the same frame is drawn the same way.
    assert!(h.push_event(segment()));
    let again = h
        .push_and_pull(with_people(frame("RGBA", Some(0x40)), &people))
        .unwrap();
    assert_eq!(bytes(&again), bytes(&drawn));
    assert!(h.push_event(gst::event::Eos::new()));
    assert_eq!(downstream_events(&mut h), [T::Segment, T::Eos]);
    assert!(bus_texts(&bus, true).is_empty());
}

#[test]
fn a_restart_in_another_format_keeps_the_settings_and_draws_in_the_new_layout() {
    let (e, _) = overlay();
    e.set_property("keypoint-color", 0xffffffu32);
    e.set_property("keypoint-radius", 2u32);
    let people = [person(&[(0, 20.5, 20.5, 0.9)])];
    let mut h = harness(&e, "RGBA");
    let out = h
        .push_and_pull(with_people(frame("RGBA", Some(0x40)), &people))
        .unwrap();
    let rgba = changes("RGBA", &bytes(&frame("RGBA", Some(0x40))), &bytes(&out));
    assert!(!rgba.is_empty());
    assert_eq!(
        e.set_state(gst::State::Null),
        Ok(gst::StateChangeSuccess::Success)
    );
    assert_eq!(
        e.set_state(gst::State::Playing),
        Ok(gst::StateChangeSuccess::Success)
    );
    assert_eq!(e.property::<u32>("keypoint-color"), 0xffffff);
    assert!(h.push_event(gst::event::StreamStart::new("restart")));
    h.set_src_caps_str(&caps("I420"));
    let plain = bytes(&frame("I420", Some(0x40)));
    let out = h
        .push_and_pull(with_people(frame("I420", Some(0x40)), &people))
        .unwrap();
    let changed = changes("I420", &plain, &bytes(&out));
    assert!(changed.contains(&(0, 20, 20)), "luma under the keypoint");
    for &(p, x, y) in &changed {
        let d = ((x as f32 + 0.5 - 20.5).powi(2) + (y as f32 + 0.5 - 20.5).powi(2)).sqrt();
        // The smaller radius set before the restart still applies.
        assert!(
            d <= 2.0 + 3.0,
            "plane {p} changed at ({x}, {y}), {d:.1} px away"
        );
    }
}
