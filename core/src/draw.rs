// SPDX-License-Identifier: MPL-2.0
//! A small rasterizer that draws skeletons straight into frame memory.
//!
//! Every shape is a capsule (a segment swept by a disk): a keypoint is a capsule of zero
//! length, a link or box edge one with length. Each row of a capsule is one span, computed
//! analytically, so drawing costs one write per covered pixel. All planes honour their stride
//! and nothing outside the `width × height` picture is touched (row padding stays intact).

use crate::frame::{Colorimetry, FrameError, PixelFormat};
use crate::pose::Person;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rgb {
    pub r: u8,
    pub g: u8,
    pub b: u8,
}

impl Rgb {
    pub const fn new(r: u8, g: u8, b: u8) -> Self {
        Rgb { r, g, b }
    }

    /// From `0xRRGGBB`.
    pub const fn from_u32(v: u32) -> Self {
        Rgb::new((v >> 16) as u8, (v >> 8) as u8, v as u8)
    }

    pub const fn to_u32(self) -> u32 {
        (self.r as u32) << 16 | (self.g as u32) << 8 | self.b as u32
    }

    /// The colour's 8-bit YUV in the frame's range and matrix.
    pub fn to_yuv(self, colorimetry: &Colorimetry) -> (u8, u8, u8) {
        colorimetry.rgb_to_yuv(self.r, self.g, self.b)
    }
}

/// One plane of a frame: its bytes and the distance between rows.
#[derive(Debug)]
pub struct PlaneMut<'a> {
    pub data: &'a mut [u8],
    pub stride: usize,
}

/// A mutable view of a whole frame.
#[derive(Debug)]
pub struct FrameMut<'a> {
    pub format: PixelFormat,
    pub width: usize,
    pub height: usize,
    pub planes: Vec<PlaneMut<'a>>,
    /// How colours become YUV samples (ignored for RGB and gray frames).
    pub colorimetry: Colorimetry,
}

impl<'a> FrameMut<'a> {
    /// Checks plane count and sizes so that drawing can index without further checks.
    pub fn new(
        format: PixelFormat,
        width: usize,
        height: usize,
        planes: Vec<PlaneMut<'a>>,
    ) -> Result<Self, FrameError> {
        format.check_planes(
            width,
            height,
            planes.iter().map(|p| (p.data.len(), p.stride)),
        )?;
        Ok(FrameMut {
            format,
            width,
            height,
            planes,
            colorimetry: Colorimetry::default_for_height(height),
        })
    }

    pub fn with_colorimetry(mut self, colorimetry: Colorimetry) -> Self {
        self.colorimetry = colorimetry;
        self
    }

    /// Fills the capsule around segment `(x0, y0)–(x1, y1)` with radius `r` (frame pixels,
    /// pixel `i` spans `[i, i+1)`).
    pub fn fill_capsule(&mut self, x0: f32, y0: f32, x1: f32, y1: f32, r: f32, color: Rgb) {
        if ![x0, y0, x1, y1, r].iter().all(|v| v.is_finite()) || r <= 0.0 {
            return;
        }
        let (w, h) = (self.width, self.height);
        match self.format.packed_layout() {
            Some(layout) => {
                let plane = &mut self.planes[0];
                for_each_span(x0, y0, x1, y1, r, w, h, |row, xa, xb| {
                    let line = &mut plane.data[row * plane.stride..];
                    for px in line[xa * layout.bytes..(xb + 1) * layout.bytes]
                        .chunks_exact_mut(layout.bytes)
                    {
                        px[layout.r] = color.r;
                        px[layout.g] = color.g;
                        px[layout.b] = color.b;
                        if let Some(a) = layout.alpha {
                            px[a] = 255;
                        }
                    }
                });
            }
            None if self.format.packed_422().is_some() => {
                let l = self.format.packed_422().expect("checked");
                let (y, u, v) = color.to_yuv(&self.colorimetry);
                let plane = &mut self.planes[0];
                for_each_span(x0, y0, x1, y1, r, w, h, |row, xa, xb| {
                    let line = &mut plane.data[row * plane.stride..];
                    for x in xa..=xb {
                        line[2 * x + l.y] = y;
                    }
                    // Chroma is shared by pixel pairs: paint every pair the span touches.
                    for pair in xa / 2..=xb / 2 {
                        line[4 * pair + l.u] = u;
                        line[4 * pair + l.v] = v;
                    }
                });
            }
            None => {
                let (y, u, v) = color.to_yuv(&self.colorimetry);
                let luma = if self.format == PixelFormat::Gray8 {
                    // Full-range gray, as GStreamer's GRAY8.
                    ((color.r as u32 * 299 + color.g as u32 * 587 + color.b as u32 * 114) / 1000)
                        as u8
                } else {
                    y
                };
                let plane = &mut self.planes[0];
                for_each_span(x0, y0, x1, y1, r, w, h, |row, xa, xb| {
                    plane.data[row * plane.stride + xa..=row * plane.stride + xb].fill(luma);
                });
                if !self.format.is_yuv() {
                    return;
                }
                // Chroma is subsampled 2×2: the same capsule at half scale.
                let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
                let (cx0, cy0, cx1, cy1, cr) = (x0 / 2.0, y0 / 2.0, x1 / 2.0, y1 / 2.0, r / 2.0);
                let cr = cr.max(0.5);
                match self.format {
                    PixelFormat::I420 | PixelFormat::Yv12 => {
                        let (iu, iv) = if self.format == PixelFormat::I420 {
                            (1, 2)
                        } else {
                            (2, 1)
                        };
                        for (idx, val) in [(iu, u), (iv, v)] {
                            let plane = &mut self.planes[idx];
                            for_each_span(cx0, cy0, cx1, cy1, cr, cw, ch, |row, xa, xb| {
                                plane.data[row * plane.stride + xa..=row * plane.stride + xb]
                                    .fill(val);
                            });
                        }
                    }
                    _ => {
                        let pair = if self.format == PixelFormat::Nv12 {
                            [u, v]
                        } else {
                            [v, u]
                        };
                        let plane = &mut self.planes[1];
                        for_each_span(cx0, cy0, cx1, cy1, cr, cw, ch, |row, xa, xb| {
                            let line = &mut plane.data[row * plane.stride..];
                            for px in line[2 * xa..2 * (xb + 1)].chunks_exact_mut(2) {
                                px.copy_from_slice(&pair);
                            }
                        });
                    }
                }
            }
        }
    }

    pub fn fill_circle(&mut self, x: f32, y: f32, r: f32, color: Rgb) {
        self.fill_capsule(x, y, x, y, r, color);
    }

    /// Outline of a box whose edges are centred on its border, `thickness` wide.
    pub fn stroke_rect(&mut self, x0: f32, y0: f32, x1: f32, y1: f32, thickness: f32, c: Rgb) {
        let r = thickness / 2.0;
        self.fill_capsule(x0, y0, x1, y0, r, c);
        self.fill_capsule(x1, y0, x1, y1, r, c);
        self.fill_capsule(x1, y1, x0, y1, r, c);
        self.fill_capsule(x0, y1, x0, y0, r, c);
    }
}

/// Interval of `x` where `a·x + b` lies in `[lo, hi]`; `None` if empty, infinite if `a ≈ 0`.
fn linear_interval(a: f32, b: f32, lo: f32, hi: f32) -> Option<(f32, f32)> {
    if a.abs() < 1e-9 {
        return (b >= lo && b <= hi).then_some((f32::NEG_INFINITY, f32::INFINITY));
    }
    let (p, q) = ((lo - b) / a, (hi - b) / a);
    Some((p.min(q), p.max(q)))
}

/// Calls `span(row, first_col, last_col)` for each row of the capsule whose pixel centres lie
/// within `r` of the segment, clipped to `w × h`.
#[allow(clippy::too_many_arguments)]
fn for_each_span(
    x0: f32,
    y0: f32,
    x1: f32,
    y1: f32,
    r: f32,
    w: usize,
    h: usize,
    mut span: impl FnMut(usize, usize, usize),
) {
    if w == 0 || h == 0 {
        return;
    }
    let top = (y0.min(y1) - r - 0.5).ceil().max(0.0);
    let bottom = (y0.max(y1) + r - 0.5).floor().min(h as f32 - 1.0);
    if top > bottom {
        return;
    }
    let (dx, dy) = (x1 - x0, y1 - y0);
    let len = (dx * dx + dy * dy).sqrt();
    let (ux, uy) = if len > 0.0 {
        (dx / len, dy / len)
    } else {
        (0.0, 0.0)
    };
    let r2 = r * r;
    for row in top as usize..=bottom as usize {
        let yc = row as f32 + 0.5;
        let mut lo = f32::INFINITY;
        let mut hi = f32::NEG_INFINITY;
        for (cx, cy) in [(x0, y0), (x1, y1)] {
            let d = yc - cy;
            if d * d <= r2 {
                let half = (r2 - d * d).sqrt();
                lo = lo.min(cx - half);
                hi = hi.max(cx + half);
            }
        }
        if len > 0.0 {
            // Band around the segment: along-axis t in [0, len], across-axis s in [-r, r].
            let t = linear_interval(ux, (yc - y0) * uy - x0 * ux, 0.0, len);
            let s = linear_interval(-uy, (yc - y0) * ux + x0 * uy, -r, r);
            if let (Some(t), Some(s)) = (t, s) {
                let (a, b) = (t.0.max(s.0), t.1.min(s.1));
                if a <= b {
                    lo = lo.min(a);
                    hi = hi.max(b);
                }
            }
        }
        if lo > hi {
            continue;
        }
        let first = (lo - 0.5).ceil().max(0.0);
        let last = (hi - 0.5).floor().min(w as f32 - 1.0);
        if first <= last {
            span(row, first as usize, last as usize);
        }
    }
}

/// A readable default palette: distinct hues, bright enough on dark and light scenes.
pub const DEFAULT_PALETTE: [Rgb; 18] = [
    Rgb::from_u32(0xff0000),
    Rgb::from_u32(0xff8000),
    Rgb::from_u32(0xffd700),
    Rgb::from_u32(0x80ff00),
    Rgb::from_u32(0x00ff00),
    Rgb::from_u32(0x00ff80),
    Rgb::from_u32(0x00ffff),
    Rgb::from_u32(0x0080ff),
    Rgb::from_u32(0x0000ff),
    Rgb::from_u32(0x8000ff),
    Rgb::from_u32(0xff00ff),
    Rgb::from_u32(0xff0080),
    Rgb::from_u32(0xff6060),
    Rgb::from_u32(0x60ff60),
    Rgb::from_u32(0x6060ff),
    Rgb::from_u32(0xffff80),
    Rgb::from_u32(0x80ffff),
    Rgb::from_u32(0xff80ff),
];

/// What to draw and how.
#[derive(Debug, Clone, PartialEq)]
pub struct Style {
    pub draw_keypoints: bool,
    pub draw_links: bool,
    pub draw_boxes: bool,
    /// Line width of links and boxes, in pixels.
    pub thickness: f32,
    pub keypoint_radius: f32,
    /// Keypoints scoring below this (and links touching them) are not drawn.
    pub min_score: f32,
    /// Colour of link `k` is `link_colors[k % len]`; empty means the default palette.
    pub link_colors: Vec<Rgb>,
    /// Keypoint colour; `None` colours keypoint `c` with palette entry `c`.
    pub keypoint_color: Option<Rgb>,
    pub box_color: Rgb,
}

impl Default for Style {
    fn default() -> Self {
        Style {
            draw_keypoints: true,
            draw_links: true,
            draw_boxes: false,
            thickness: 3.0,
            keypoint_radius: 4.0,
            min_score: 0.3,
            link_colors: Vec::new(),
            keypoint_color: None,
            box_color: Rgb::from_u32(0x00ff00),
        }
    }
}

impl Style {
    fn link_color(&self, k: usize) -> Rgb {
        if self.link_colors.is_empty() {
            DEFAULT_PALETTE[k % DEFAULT_PALETTE.len()]
        } else {
            self.link_colors[k % self.link_colors.len()]
        }
    }
}

/// Draws people whose coordinates are in frame pixels. `links` are the topology's
/// `(source, destination)` pairs that `Person::links` indexes.
pub fn draw_people(
    frame: &mut FrameMut,
    people: &[Person],
    links: &[(usize, usize)],
    style: &Style,
) {
    for person in people {
        if style.draw_boxes {
            let b = person.bbox;
            frame.stroke_rect(b.x0, b.y0, b.x1, b.y1, style.thickness, style.box_color);
        }
        let visible = |c: usize| {
            person
                .keypoints
                .get(c)
                .copied()
                .flatten()
                .filter(|k| k.score >= style.min_score)
        };
        if style.draw_links {
            for &k in &person.links {
                let Some(&(a, b)) = links.get(k) else {
                    continue;
                };
                if let (Some(ka), Some(kb)) = (visible(a), visible(b)) {
                    frame.fill_capsule(
                        ka.x,
                        ka.y,
                        kb.x,
                        kb.y,
                        style.thickness / 2.0,
                        style.link_color(k),
                    );
                }
            }
        }
        if style.draw_keypoints {
            for c in 0..person.keypoints.len() {
                if let Some(k) = visible(c) {
                    let color = style
                        .keypoint_color
                        .unwrap_or(DEFAULT_PALETTE[c % DEFAULT_PALETTE.len()]);
                    frame.fill_circle(k.x, k.y, style.keypoint_radius, color);
                }
            }
        }
    }
}
