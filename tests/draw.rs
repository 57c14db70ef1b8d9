// SPDX-License-Identifier: MPL-2.0
//! Drawing on real pixel buffers: every format, odd sizes, padded strides.
//! Each drawn shape is checked against a brute-force distance mask, pixel by pixel, and every
//! other byte (padding included) must keep its sentinel value.

use gsttrtpose::draw::{FrameMut, PlaneMut, Rgb, Style, draw_people};
use gsttrtpose::frame::{Colorimetry, PixelFormat};
use gsttrtpose::pose::{BBox, Keypoint, Person, Topology};

const SENTINEL: u8 = 0x5a;
const ALL: [PixelFormat; 18] = [
    PixelFormat::Rgb,
    PixelFormat::Bgr,
    PixelFormat::Rgba,
    PixelFormat::Bgra,
    PixelFormat::Argb,
    PixelFormat::Abgr,
    PixelFormat::Rgbx,
    PixelFormat::Bgrx,
    PixelFormat::Xrgb,
    PixelFormat::Xbgr,
    PixelFormat::Gray8,
    PixelFormat::I420,
    PixelFormat::Yv12,
    PixelFormat::Nv12,
    PixelFormat::Nv21,
    PixelFormat::Yuy2,
    PixelFormat::Uyvy,
    PixelFormat::Yvyu,
];

struct Buffers {
    format: PixelFormat,
    width: usize,
    height: usize,
    planes: Vec<(Vec<u8>, usize)>,
}

impl Buffers {
    fn new(format: PixelFormat, width: usize, height: usize, pad: usize) -> Self {
        let planes = (0..format.num_planes())
            .map(|i| {
                let row = format.plane_len(i, width, 1, 0);
                let stride = row + pad + i; // a different odd padding per plane
                let rows = if i == 0 { height } else { height.div_ceil(2) };
                (vec![SENTINEL; stride * rows], stride)
            })
            .collect();
        Buffers {
            format,
            width,
            height,
            planes,
        }
    }

    fn frame(&mut self) -> FrameMut<'_> {
        let planes = self
            .planes
            .iter_mut()
            .map(|(d, s)| PlaneMut {
                data: d.as_mut_slice(),
                stride: *s,
            })
            .collect();
        FrameMut::new(self.format, self.width, self.height, planes).unwrap()
    }
}

fn dist_to_segment(px: f32, py: f32, (x0, y0, x1, y1): (f32, f32, f32, f32)) -> f32 {
    let (dx, dy) = (x1 - x0, y1 - y0);
    let l2 = dx * dx + dy * dy;
    let t = if l2 > 0.0 {
        (((px - x0) * dx + (py - y0) * dy) / l2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let (cx, cy) = (x0 + t * dx, y0 + t * dy);
    ((px - cx).powi(2) + (py - cy).powi(2)).sqrt()
}

fn mask(w: usize, h: usize, seg: (f32, f32, f32, f32), r: f32) -> Vec<bool> {
    let mut m = vec![false; w * h];
    for y in 0..h {
        for x in 0..w {
            m[y * w + x] = dist_to_segment(x as f32 + 0.5, y as f32 + 0.5, seg) <= r;
        }
    }
    m
}

/// Draws one capsule and checks every byte of every plane.
fn check_capsule(format: PixelFormat, w: usize, h: usize, seg: (f32, f32, f32, f32), r: f32) {
    let color = Rgb::new(200, 40, 90);
    let mut buf = Buffers::new(format, w, h, 5);
    buf.frame()
        .fill_capsule(seg.0, seg.1, seg.2, seg.3, r, color);
    let luma_mask = mask(w, h, seg, r);
    let (yv, uv, vv) = color.to_yuv(&Colorimetry::default_for_height(h));
    let (stride0, data0) = (buf.planes[0].1, &buf.planes[0].0);
    let label = format!("{format:?} {w}x{h} seg {seg:?} r {r}");
    if let Some(l) = format.packed_422() {
        // Luma per pixel; chroma per pixel pair, painted when either pixel is inside.
        for y in 0..h {
            for i in 0..stride0 {
                let (pair, k) = (i / 4, i % 4);
                let inside = |x: usize| x < w && luma_mask[y * w + x];
                let want = if i >= 4 * w.div_ceil(2) {
                    SENTINEL
                } else if k == l.y || k == l.y + 2 {
                    let x = 2 * pair + (k == l.y + 2) as usize;
                    if inside(x) { yv } else { SENTINEL }
                } else if inside(2 * pair) || inside(2 * pair + 1) {
                    if k == l.u { uv } else { vv }
                } else {
                    SENTINEL
                };
                assert_eq!(data0[y * stride0 + i], want, "{label}: row {y} byte {i}");
            }
        }
        return;
    }
    let mut drawn = 0;
    for y in 0..h {
        for (i, &byte) in data0[y * stride0..(y + 1) * stride0].iter().enumerate() {
            let bpp = format.plane_len(0, 1, 1, 0);
            let x = i / bpp;
            let inside = x < w && luma_mask[y * w + x];
            let want = if !inside {
                SENTINEL
            } else if let Some(l) = format.packed_layout() {
                let c = i % bpp;
                if c == l.r {
                    color.r
                } else if c == l.g {
                    color.g
                } else if c == l.b {
                    color.b
                } else if Some(c) == l.alpha {
                    255
                } else {
                    SENTINEL
                }
            } else if format == PixelFormat::Gray8 {
                ((200 * 299 + 40 * 587 + 90 * 114) / 1000) as u8
            } else {
                yv
            };
            drawn += inside as usize;
            assert_eq!(byte, want, "{label}: plane 0 row {y} byte {i}");
        }
    }
    assert!(
        drawn > 0 || luma_mask.iter().all(|m| !m),
        "{label}: nothing drawn"
    );
    if format.is_yuv() {
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        let cseg = (seg.0 / 2.0, seg.1 / 2.0, seg.2 / 2.0, seg.3 / 2.0);
        let cmask = mask(cw, ch, cseg, (r / 2.0).max(0.5));
        let chroma: Vec<(usize, usize, u8)> = match format {
            PixelFormat::I420 => vec![(1, 1, uv), (2, 1, vv)],
            PixelFormat::Yv12 => vec![(1, 1, vv), (2, 1, uv)],
            _ => vec![],
        };
        for (plane, _, val) in chroma {
            let (data, stride) = (&buf.planes[plane].0, buf.planes[plane].1);
            for y in 0..ch {
                for i in 0..stride {
                    let want = if i < cw && cmask[y * cw + i] {
                        val
                    } else {
                        SENTINEL
                    };
                    assert_eq!(
                        data[y * stride + i],
                        want,
                        "{label}: plane {plane} row {y} col {i}"
                    );
                }
            }
        }
        if matches!(format, PixelFormat::Nv12 | PixelFormat::Nv21) {
            let pair = if format == PixelFormat::Nv12 {
                [uv, vv]
            } else {
                [vv, uv]
            };
            let (data, stride) = (&buf.planes[1].0, buf.planes[1].1);
            for y in 0..ch {
                for i in 0..stride {
                    let x = i / 2;
                    let want = if x < cw && cmask[y * cw + x] {
                        pair[i % 2]
                    } else {
                        SENTINEL
                    };
                    assert_eq!(data[y * stride + i], want, "{label}: uv row {y} byte {i}");
                }
            }
        }
    }
}

#[test]
fn capsules_match_distance_mask_in_every_format() {
    // Radii and endpoints avoid exact ties with pixel centres.
    let shapes = [
        ((10.3, 7.2, 30.1, 19.7), 2.3),     // diagonal line
        ((5.2, 11.1, 33.4, 11.1), 1.6),     // horizontal
        ((17.7, 2.2, 17.7, 20.3), 3.1),     // vertical
        ((20.4, 12.6, 20.4, 12.6), 4.2),    // circle
        ((-10.3, -4.1, 12.2, 30.7), 2.7),   // clipped on both ends
        ((35.1, 20.2, 60.3, 40.7), 5.3),    // starts inside, leaves through the corner
        ((100.1, 100.2, 140.0, 90.3), 3.3), // entirely outside
    ];
    for format in ALL {
        for (w, h) in [(37usize, 23usize), (38, 24), (1, 1), (2, 3)] {
            for (seg, r) in shapes {
                check_capsule(format, w, h, seg, r);
            }
        }
    }
}

#[test]
fn keypoint_circle_has_expected_extent() {
    let mut buf = Buffers::new(PixelFormat::Rgb, 40, 30, 3);
    buf.frame()
        .fill_circle(20.0, 15.0, 4.0, Rgb::new(255, 0, 0));
    let px = |x: usize, y: usize| {
        let s = buf.planes[0].1;
        &buf.planes[0].0[y * s + 3 * x..y * s + 3 * x + 3]
    };
    // Centre pixel and one 3.5 px away are red; one 4.5 px away is not.
    assert_eq!(px(20, 15), [255, 0, 0]);
    assert_eq!(px(23, 15), [255, 0, 0]);
    assert_eq!(px(24, 15), [SENTINEL; 3]);
    assert_eq!(px(20, 10), [SENTINEL; 3]);
}

#[test]
fn non_finite_and_degenerate_shapes_draw_nothing() {
    let mut buf = Buffers::new(PixelFormat::Nv12, 9, 7, 2);
    let before = buf.planes.clone();
    let mut f = buf.frame();
    f.fill_capsule(f32::NAN, 1.0, 3.0, 3.0, 2.0, Rgb::new(1, 2, 3));
    f.fill_capsule(1.0, 1.0, f32::INFINITY, 3.0, 2.0, Rgb::new(1, 2, 3));
    f.fill_capsule(1.0, 1.0, 3.0, 3.0, 0.0, Rgb::new(1, 2, 3));
    f.fill_capsule(1.0, 1.0, 3.0, 3.0, -1.0, Rgb::new(1, 2, 3));
    assert_eq!(buf.planes, before);
}

#[test]
fn short_planes_are_rejected() {
    let mut data = vec![0u8; 10];
    let err = FrameMut::new(
        PixelFormat::Rgb,
        4,
        2,
        vec![PlaneMut {
            data: &mut data,
            stride: 12,
        }],
    )
    .unwrap_err();
    assert!(err.to_string().contains("needs 24"), "{err}");
    let mut data = vec![0u8; 100];
    let err = FrameMut::new(
        PixelFormat::Rgb,
        4,
        2,
        vec![PlaneMut {
            data: &mut data,
            stride: 6,
        }],
    )
    .unwrap_err();
    assert!(err.to_string().contains("stride"), "{err}");
}

fn person_at(x: f32, y: f32, topo: &Topology) -> Person {
    let mut p = Person {
        keypoints: (0..topo.num_parts())
            .map(|c| {
                Some(Keypoint {
                    x: x + 3.0 * (c % 3) as f32,
                    y: y + 4.0 * c as f32,
                    score: 0.9,
                })
            })
            .collect(),
        ..Default::default()
    };
    p.keypoints[3] = Some(Keypoint {
        x: x + 30.0,
        y,
        score: 0.1,
    }); // below min score
    p.update_links(topo);
    p.update_bbox(0.3);
    p
}

#[test]
fn people_draw_links_keypoints_and_boxes_with_style() {
    let topo = Topology::coco17();
    let people = vec![person_at(20.0, 10.0, &topo)];
    let style = Style {
        keypoint_radius: 1.0,
        ..Default::default()
    };
    let mut buf = Buffers::new(PixelFormat::Rgbx, 120, 90, 4);
    draw_people(&mut buf.frame(), &people, &topo.links, &style);
    let stride = buf.planes[0].1;
    let data = &buf.planes[0].0;
    let px = |x: usize, y: usize| &data[y * stride + 4 * x..y * stride + 4 * x + 4];
    // The low-score keypoint at (50, 10) is not drawn, nor links touching it.
    assert_eq!(px(50, 10), [SENTINEL; 4]);
    // The nose keypoint is drawn in palette colour 0 (red); the x byte stays untouched.
    assert_eq!(px(20, 10), [255, 0, 0, SENTINEL]);
    // A lone link (nose → left eye, link 0) is drawn in palette colour 0, 3 px wide.
    let mut pair = Person {
        keypoints: vec![None; 17],
        ..Default::default()
    };
    pair.keypoints[0] = Some(Keypoint {
        x: 20.0,
        y: 80.5,
        score: 0.9,
    });
    pair.keypoints[1] = Some(Keypoint {
        x: 60.0,
        y: 80.5,
        score: 0.9,
    });
    pair.update_links(&topo);
    assert_eq!(pair.links, vec![0]);
    let mut buf3 = Buffers::new(PixelFormat::Bgr, 120, 90, 1);
    draw_people(&mut buf3.frame(), &[pair], &topo.links, &style);
    let s3 = buf3.planes[0].1;
    let p3 = |x: usize, y: usize| buf3.planes[0].0[y * s3 + 3 * x..y * s3 + 3 * x + 3].to_vec();
    assert_eq!(p3(40, 80), [0, 0, 255]); // red in BGR order
    assert_eq!(p3(40, 79), [0, 0, 255]);
    assert_eq!(p3(40, 81), [0, 0, 255]);
    assert_eq!(p3(40, 82), [SENTINEL; 3]);
    assert_eq!(p3(40, 78), [SENTINEL; 3]);
    // Nothing was drawn far away.
    assert_eq!(px(100, 80), [SENTINEL; 4]);
    // Hiding everything leaves the frame untouched.
    let mut buf2 = Buffers::new(PixelFormat::Rgbx, 120, 90, 4);
    let before = buf2.planes.clone();
    let off = Style {
        draw_keypoints: false,
        draw_links: false,
        ..Default::default()
    };
    draw_people(&mut buf2.frame(), &people, &topo.links, &off);
    assert_eq!(buf2.planes, before);
    // Boxes alone: bbox spans x 20..26, y 10..74, edges centred on the border.
    let b = people[0].bbox;
    assert_eq!(
        b,
        BBox {
            x0: 20.0,
            y0: 10.0,
            x1: 26.0,
            y1: 74.0
        }
    );
    let boxes = Style {
        draw_keypoints: false,
        draw_links: false,
        draw_boxes: true,
        ..Default::default()
    };
    draw_people(&mut buf2.frame(), &people, &topo.links, &boxes);
    let stride = buf2.planes[0].1;
    let data = &buf2.planes[0].0;
    let px = |x: usize, y: usize| &data[y * stride + 4 * x..y * stride + 4 * x + 4];
    assert_eq!(px(23, 74), [0, 255, 0, SENTINEL]);
    assert_eq!(px(20, 40), [0, 255, 0, SENTINEL]);
    assert_eq!(px(23, 40), [SENTINEL; 4]);
}
