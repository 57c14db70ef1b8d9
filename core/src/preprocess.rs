// SPDX-License-Identifier: MPL-2.0
//! Frame → network input: colour conversion, resize (stretch or letterbox) and normalization in
//! one pass over the source rows, reading every plane through its stride.
//!
//! The resize is separable bilinear whose kernel widens when downscaling (as PIL's BILINEAR,
//! which made the reference outputs), so large frames are averaged instead of aliased.

use crate::frame::{ChromaSiting, PixelFormat, SourceFrame, YuvToRgb};
use crate::pose::Geometry;
pub use crate::tensor::{InputData, InputElem, InputFormat, Normalize, TensorLayout};

/// Contributions of source samples to one output sample.
#[derive(Debug, Clone, Default)]
pub(crate) struct Taps {
    pub(crate) start: Vec<usize>,
    pub(crate) count: Vec<usize>,
    pub(crate) weights: Vec<f32>,
    /// Index of the first weight of each output sample.
    pub(crate) first: Vec<usize>,
}

impl Taps {
    /// PIL-style bilinear weights from `in_size` samples to `out_size` samples.
    pub(crate) fn new(in_size: usize, out_size: usize) -> Self {
        let mut t = Taps::default();
        let scale = in_size as f64 / out_size.max(1) as f64;
        let filterscale = scale.max(1.0);
        let support = filterscale;
        for xx in 0..out_size {
            let center = (xx as f64 + 0.5) * scale;
            let lo = ((center - support + 0.5).floor().max(0.0) as usize).min(in_size - 1);
            let hi = ((center + support + 0.5).floor() as usize).clamp(lo + 1, in_size);
            t.first.push(t.weights.len());
            t.start.push(lo);
            let mut sum = 0.0;
            let begin = t.weights.len();
            for x in lo..hi {
                let w = (1.0 - ((x as f64 - center + 0.5) / filterscale).abs()).max(0.0);
                t.weights.push(w as f32);
                sum += w;
            }
            if sum > 0.0 {
                for w in &mut t.weights[begin..] {
                    *w = (*w as f64 / sum) as f32;
                }
            } else {
                // Cannot happen for in_size >= 1, but a zero kernel must not produce NaN.
                t.weights[begin] = 1.0;
            }
            t.count.push(hi - lo);
        }
        t
    }

    fn of(&self, i: usize) -> (usize, &[f32]) {
        let f = self.first[i];
        (self.start[i], &self.weights[f..f + self.count[i]])
    }
}

/// Resamples one plane of `channels` interleaved samples per pixel onto an output grid:
/// vertical pass first over source rows kept in a ring (each converted to floats once), then
/// the horizontal pass on the output rows only.
#[derive(Debug, Default)]
struct PlaneResampler {
    key: Option<(usize, usize, usize, usize)>,
    htaps: Taps,
    vtaps: Taps,
    /// Ring of source rows as floats (`slots × in_w × channels`) and the row in each slot.
    rows: Vec<f32>,
    row_ids: Vec<usize>,
    /// Vertically filtered row at full source width.
    vrow: Vec<f32>,
    /// Result: `out_h × out_w × channels`.
    out: Vec<f32>,
}

impl PlaneResampler {
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn run(
        &mut self,
        in_w: usize,
        in_h: usize,
        channels: usize,
        out_w: usize,
        out_h: usize,
        mut fill_row: impl FnMut(usize, &mut [f32]),
    ) {
        let key = (in_w, in_h, out_w, out_h);
        if self.key != Some(key) {
            self.htaps = Taps::new(in_w.max(1), out_w);
            self.vtaps = Taps::new(in_h.max(1), out_h);
            self.key = Some(key);
        }
        let rw = in_w * channels;
        let slots = (0..out_h)
            .map(|o| self.vtaps.of(o).1.len())
            .max()
            .unwrap_or(1);
        self.rows.resize(slots * rw, 0.0);
        self.row_ids.clear();
        self.row_ids.resize(slots, usize::MAX);
        self.vrow.resize(rw, 0.0);
        self.out.resize(out_h * out_w * channels, 0.0);
        for oy in 0..out_h {
            let (start, weights) = self.vtaps.of(oy);
            self.vrow.fill(0.0);
            for (k, &wt) in weights.iter().enumerate() {
                let y = start + k;
                let slot = y % slots;
                let cached = &mut self.rows[slot * rw..(slot + 1) * rw];
                if self.row_ids[slot] != y {
                    fill_row(y, cached);
                    self.row_ids[slot] = y;
                }
                for (acc, &v) in self.vrow.iter_mut().zip(cached.iter()) {
                    *acc += v * wt;
                }
            }
            let out = &mut self.out[oy * out_w * channels..(oy + 1) * out_w * channels];
            match channels {
                1 => horizontal::<1>(&self.htaps, &self.vrow, out),
                2 => horizontal::<2>(&self.htaps, &self.vrow, out),
                3 => horizontal::<3>(&self.htaps, &self.vrow, out),
                _ => horizontal::<4>(&self.htaps, &self.vrow, out),
            }
        }
    }
}

#[inline(always)]
fn horizontal<const N: usize>(taps: &Taps, row: &[f32], out: &mut [f32]) {
    for (ox, o) in out.chunks_exact_mut(N).enumerate() {
        let (start, weights) = taps.of(ox);
        let mut acc = [0.0f32; N];
        for (px, &wt) in row[start * N..].chunks_exact(N).zip(weights) {
            for c in 0..N {
                acc[c] += px[c] * wt;
            }
        }
        o.copy_from_slice(&acc);
    }
}

#[inline(always)]
fn bytes_to_f32(src: &[u8], out: &mut [f32]) {
    for (o, &b) in out.iter_mut().zip(src) {
        *o = b as f32;
    }
}

/// Reusable preprocessing state; buffers and weights are rebuilt only when sizes change.
#[derive(Debug, Default)]
pub struct Preprocessor {
    /// Packed RGB pixels, gray, or YUV converted to RGB row by row.
    main: PlaneResampler,
    /// 4:2:0 chroma of the current row, interpolated between chroma rows.
    chroma_line: Vec<f32>,
    f32_out: Vec<f32>,
    i32_out: Vec<i32>,
    shape: Vec<usize>,
    /// Never the AVX2 build of the loops (tests compare the two); unused off x86.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    scalar_only: bool,
}

impl Preprocessor {
    pub fn new() -> Self {
        Self::default()
    }

    /// Fills the network input for `frame` placed as `geometry` says; returns the data and its
    /// shape (`[1, 3, H, W]` or `[1, H, W, 3]`).
    pub fn run(
        &mut self,
        frame: &SourceFrame,
        geometry: &Geometry,
        format: &InputFormat,
    ) -> (InputData<'_>, &[usize]) {
        #[cfg(target_arch = "x86_64")]
        if !self.scalar_only && std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2, checked just above.
            unsafe { self.fill_avx2(frame, geometry, format) };
            return self.last(format.elem);
        }
        self.fill(frame, geometry, format);
        self.last(format.elem)
    }

    /// [`Preprocessor::fill`] compiled for AVX2: the same operations in the same order, eight
    /// lanes wide instead of four, so the input is bit-identical (there is no FMA contraction).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn fill_avx2(&mut self, frame: &SourceFrame, geometry: &Geometry, format: &InputFormat) {
        self.fill(frame, geometry, format)
    }

    #[inline(always)]
    fn fill(&mut self, frame: &SourceFrame, geometry: &Geometry, format: &InputFormat) {
        let (in_w, in_h) = (geometry.input_w as usize, geometry.input_h as usize);
        let (cw, ch) = (geometry.content_w as usize, geometry.content_h as usize);
        let (px, py) = (geometry.pad_x as usize, geometry.pad_y as usize);
        let plane = in_w * in_h;
        self.f32_out.resize(plane * 3, 0.0);
        // Padding is black after normalization.
        let n = format.normalize;
        for c in 0..3 {
            let black = n.apply(c, 0.0);
            match format.layout {
                TensorLayout::Nchw => self.f32_out[c * plane..(c + 1) * plane].fill(black),
                TensorLayout::Nhwc => {
                    for px in self.f32_out.chunks_exact_mut(3) {
                        px[c] = black;
                    }
                }
            }
        }
        if frame.width > 0 && frame.height > 0 && cw > 0 && ch > 0 {
            self.resample(frame, cw, ch);
            let f = frame.format;
            let main = &self.main.out;
            let out = &mut self.f32_out;
            let nhwc = format.layout == TensorLayout::Nhwc;
            // Integer inputs see pixel values as an 8-bit resize would give; values are
            // clamped to 0..255, so add-half-and-truncate rounds without a libm call.
            let int = format.elem == InputElem::I32;
            let mut write = |oy: usize, ox: usize, rgb: [f32; 3]| {
                let (ty, tx) = (py + oy, px + ox);
                for (c, &v) in rgb.iter().enumerate() {
                    let v = if int {
                        ((v.clamp(0.0, 255.0) + 0.5) as i32) as f32
                    } else {
                        v
                    };
                    let idx = if nhwc {
                        (ty * in_w + tx) * 3 + c
                    } else {
                        c * plane + ty * in_w + tx
                    };
                    out[idx] = n.apply(c, v);
                }
            };
            let grid = (0..ch).flat_map(|oy| (0..cw).map(move |ox| (oy, ox)));
            match f {
                PixelFormat::Gray8 => {
                    for (i, (oy, ox)) in grid.enumerate() {
                        write(oy, ox, [main[i]; 3]);
                    }
                }
                _ => {
                    // Packed RGB keeps its byte layout; YUV was converted to RGB.
                    let (bytes, r, g, b) = match f.packed_layout() {
                        Some(l) => (l.bytes, l.r, l.g, l.b),
                        None => (3, 0, 1, 2),
                    };
                    for (p, (oy, ox)) in main.chunks_exact(bytes).zip(grid) {
                        write(oy, ox, [p[r], p[g], p[b]]);
                    }
                }
            }
        }
        self.shape.clear();
        match format.layout {
            TensorLayout::Nchw => self.shape.extend([1, 3, in_h, in_w]),
            TensorLayout::Nhwc => self.shape.extend([1, in_h, in_w, 3]),
        }
        if format.elem == InputElem::I32 {
            self.i32_out.clear();
            // Already whole numbers (rounded above).
            self.i32_out.extend(self.f32_out.iter().map(|&v| v as i32));
        }
    }

    /// The input the last [`Preprocessor::run`] filled, for `elem` as that run's format said
    /// (a caller preparing one frame while the network runs the previous one keeps two).
    pub fn last(&self, elem: InputElem) -> (InputData<'_>, &[usize]) {
        match elem {
            InputElem::F32 => (InputData::F32(&self.f32_out), &self.shape),
            InputElem::I32 => (InputData::I32(&self.i32_out), &self.shape),
        }
    }

    #[inline(always)]
    /// Resamples the frame onto the `cw × ch` content grid. YUV frames are converted to RGB
    /// at their own resolution first (chroma interpolated as sited, values clamped), as a
    /// decoder would before any resize, so a YUV frame gives what its RGB conversion gives.
    fn resample(&mut self, frame: &SourceFrame, cw: usize, ch: usize) {
        let (w, h, f) = (frame.width, frame.height, frame.format);
        let to_rgb = frame.colorimetry.to_rgb();
        let siting = frame.colorimetry.siting;
        if let Some(l) = f.packed_layout() {
            let (data, stride) = frame.planes[0];
            self.main.run(w, h, l.bytes, cw, ch, |y, out| {
                bytes_to_f32(&data[y * stride..y * stride + w * l.bytes], out)
            });
        } else if f == PixelFormat::Gray8 {
            let (data, stride) = frame.planes[0];
            self.main.run(w, h, 1, cw, ch, |y, out| {
                bytes_to_f32(&data[y * stride..y * stride + w], out)
            });
        } else if f.packed_422().is_some() {
            self.main.run(w, h, 3, cw, ch, |y, out| {
                row_rgb_422(frame, to_rgb, siting.h_cosited, y, out)
            });
        } else {
            let line = &mut self.chroma_line;
            self.main.run(w, h, 3, cw, ch, |y, out| {
                row_rgb_420(frame, to_rgb, siting, y, line, out)
            });
        }
    }
}

/// Where luma sample `x` falls between the chroma samples along one axis of `n` chroma
/// samples (subsampled by 2): the lower one, the upper one and the upper one's weight
/// (0, ¼, ½ or ¾, exact in floats, so the GPU kernel gets the same values).
#[inline]
pub(crate) fn chroma_taps(x: usize, n: usize, cosited: bool) -> (usize, usize, f32) {
    // In quarter chroma samples: luma x sits at 2x + 1, chroma k at 4k + 2 (centred) or 4k + 1;
    // shifted by 4 to stay non-negative.
    let pos = 2 * x + 3 + cosited as usize;
    let (j, frac) = (pos / 4, (pos % 4) as f32 * 0.25);
    let last = n.max(1) - 1;
    // j is the upper neighbour; j - 1 the lower, both clamped to the row.
    ((j.max(1) - 1).min(last), j.min(last), frac)
}

/// Converts row `y` of a 4:2:0 frame (I420, YV12, NV12, NV21) to RGB floats (0..255),
/// `3 * width` values, with chroma interpolated bilinearly between the four samples around
/// each pixel as the frame's siting places them: first between the two chroma rows, then
/// along the row (the same operations as [`chroma_taps`] weights, pair by pair). `line` is
/// scratch space.
#[inline(always)]
fn row_rgb_420(
    frame: &SourceFrame,
    m: YuvToRgb,
    siting: ChromaSiting,
    y: usize,
    line: &mut Vec<f32>,
    out: &mut [f32],
) {
    let (w, h) = (frame.width, frame.height);
    let (cw, chh) = (w.div_ceil(2), h.div_ceil(2));
    let (ya, yb, ty) = chroma_taps(y, chh, siting.v_cosited);
    let row = |plane: usize, r: usize, len: usize| {
        let (data, stride) = frame.planes[plane];
        &data[r * stride..r * stride + len]
    };
    line.resize(2 * cw + 3 * w, 0.0);
    let (hu, rest) = line.split_at_mut(cw);
    let (hv, rest) = rest.split_at_mut(cw);
    let (u_full, rest) = rest.split_at_mut(w);
    let (v_full, b_full) = rest.split_at_mut(w);
    let blend = |a: u8, b: u8| a as f32 * (1.0 - ty) + b as f32 * ty;
    match frame.format {
        PixelFormat::I420 | PixelFormat::Yv12 => {
            let (pu, pv) = if frame.format == PixelFormat::I420 {
                (1, 2)
            } else {
                (2, 1)
            };
            for (dst, p) in [(&mut *hu, pu), (&mut *hv, pv)] {
                let (ra, rb) = (row(p, ya, cw), row(p, yb, cw));
                for ((o, &a), &b) in dst.iter_mut().zip(ra).zip(rb) {
                    *o = blend(a, b);
                }
            }
        }
        PixelFormat::Nv21 => {
            split_blend::<1, 0>(row(1, ya, 2 * cw), row(1, yb, 2 * cw), ty, hu, hv)
        }
        _ => split_blend::<0, 1>(row(1, ya, 2 * cw), row(1, yb, 2 * cw), ty, hu, hv),
    }
    // Along the row: luma 2k and 2k + 1 take chroma k and a neighbour (the edges repeat).
    expand_chroma(hu, u_full, siting.h_cosited);
    expand_chroma(hv, v_full, siting.h_cosited);
    // Planar and in place (U becomes R, V becomes G) so that the matrix vectorizes.
    let luma = row(0, y, w);
    for (((&l, u), v), b) in luma
        .iter()
        .zip(u_full.iter_mut())
        .zip(v_full.iter_mut())
        .zip(b_full.iter_mut())
    {
        let rgb = m.apply(l as f32, *u - 128.0, *v - 128.0);
        (*u, *v, *b) = (rgb[0], rgb[1], rgb[2]);
    }
    for (((o, &r), &g), &b) in out
        .chunks_exact_mut(3)
        .zip(&*u_full)
        .zip(&*v_full)
        .zip(&*b_full)
    {
        o[0] = r;
        o[1] = g;
        o[2] = b;
    }
}

/// Semi-planar chroma rows `a` and `b` (pairs U, V at `IU`, `IV`) blended as
/// `a × (1 − t) + b × t` into planar `u` and `v`; constant offsets so the loop vectorizes.
#[inline(always)]
fn split_blend<const IU: usize, const IV: usize>(
    a: &[u8],
    b: &[u8],
    t: f32,
    u: &mut [f32],
    v: &mut [f32],
) {
    for (((pa, pb), u), v) in a
        .chunks_exact(2)
        .zip(b.chunks_exact(2))
        .zip(u.iter_mut())
        .zip(v.iter_mut())
    {
        *u = pa[IU] as f32 * (1.0 - t) + pb[IU] as f32 * t;
        *v = pa[IV] as f32 * (1.0 - t) + pb[IV] as f32 * t;
    }
}

/// One row of chroma (`half`, one sample per two pixels) to one sample per pixel in `full`:
/// pixels 2k and 2k + 1 blend chroma k with its neighbour as [`chroma_taps`] places them
/// (cosited: k and k + 1 at 0 and ½; centred: k − 1, k and k + 1 at ¼ and ¾), the edges
/// repeating. Written as slices and windows, without index clamps, so it vectorizes.
#[inline(always)]
fn expand_chroma(half: &[f32], full: &mut [f32], cosited: bool) {
    let cw = half.len();
    let last = half[cw - 1];
    let pairs = full.len() / 2;
    // Pairs whose right neighbour k + 1 is inside the row.
    let inner = pairs.min(cw - 1);
    if cosited {
        for (pair, n) in full.chunks_exact_mut(2).zip(half.windows(2)).take(inner) {
            pair[0] = n[0] * 1.0 + n[1] * 0.0;
            pair[1] = n[0] * 0.5 + n[1] * 0.5;
        }
        for (k, pair) in full.chunks_exact_mut(2).enumerate().skip(inner) {
            let c = half[k];
            pair[0] = c * 1.0 + last * 0.0;
            pair[1] = c * 0.5 + last * 0.5;
        }
    } else {
        if pairs > 0 {
            let (c, hi) = (half[0], half[1.min(cw - 1)]);
            full[0] = c * 0.25 + c * 0.75;
            full[1] = c * 0.75 + hi * 0.25;
        }
        if inner > 1 {
            for (pair, n) in full[2..2 * inner].chunks_exact_mut(2).zip(half.windows(3)) {
                pair[0] = n[0] * 0.25 + n[1] * 0.75;
                pair[1] = n[1] * 0.75 + n[2] * 0.25;
            }
        }
        for (k, pair) in full.chunks_exact_mut(2).enumerate().skip(inner.max(1)) {
            let (lo, c) = (half[k - 1], half[k]);
            pair[0] = lo * 0.25 + c * 0.75;
            pair[1] = c * 0.75 + last * 0.25;
        }
    }
    // An odd width leaves one luma sample, the last chroma sample's first.
    if full.len() % 2 == 1 {
        let k = cw - 1;
        full[full.len() - 1] = if cosited {
            half[k] * 1.0 + last * 0.0
        } else {
            half[k.max(1) - 1] * 0.25 + half[k] * 0.75
        };
    }
}

/// Converts row `y` of a packed 4:2:2 frame to RGB floats (0..255), `3 * width` values, with
/// chroma interpolated linearly between its samples as the frame's siting places them.
#[inline(always)]
fn row_rgb_422(frame: &SourceFrame, m: YuvToRgb, cosited: bool, y: usize, out: &mut [f32]) {
    let l = frame.format.packed_422().expect("packed 4:2:2 format");
    let (data, stride) = frame.planes[0];
    let row = &data[y * stride..];
    let n = frame.width.div_ceil(2);
    let chroma = |k: usize, off: usize| row[4 * k + off] as f32;
    for (x, o) in out.chunks_exact_mut(3).take(frame.width).enumerate() {
        let (a, b, t) = chroma_taps(x, n, cosited);
        let lerp = |off| chroma(a, off) * (1.0 - t) + chroma(b, off) * t;
        let rgb = m.apply(
            row[2 * x + l.y] as f32,
            lerp(l.u) - 128.0,
            lerp(l.v) - 128.0,
        );
        o.copy_from_slice(&rgb);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::Colorimetry;
    use crate::pose::ResizeMode;

    fn run_rgb(w: usize, h: usize, pixels: &[u8], stride: usize, g: &Geometry) -> Vec<f32> {
        let frame = SourceFrame::new(PixelFormat::Rgb, w, h, vec![(pixels, stride)]).unwrap();
        let mut p = Preprocessor::new();
        let fmt = InputFormat {
            layout: TensorLayout::Nhwc,
            elem: InputElem::F32,
            normalize: Normalize::IDENTITY,
        };
        let (data, _) = p.run(&frame, g, &fmt);
        match data {
            InputData::F32(d) => d.to_vec(),
            _ => unreachable!(),
        }
    }

    #[test]
    fn identity_resize_copies_pixels_and_ignores_padding_bytes() {
        let (w, h, stride) = (3, 2, 11);
        let mut px = vec![77u8; stride * h];
        for y in 0..h {
            for x in 0..w * 3 {
                px[y * stride + x] = (y * 30 + x) as u8;
            }
        }
        let g = Geometry::new(3, 2, 3, 2, ResizeMode::Stretch);
        let out = run_rgb(w, h, &px, stride, &g);
        let want: Vec<f32> = (0..h)
            .flat_map(|y| (0..w * 3).map(move |x| (y * 30 + x) as f32))
            .collect();
        assert_eq!(out, want);
    }

    #[test]
    fn letterbox_pads_with_black_and_downscale_averages() {
        // 4x2 white frame into 2x2: content 2x1 at pad_y 0 (rounding), rest black.
        let px = vec![255u8; 4 * 3 * 2];
        let g = Geometry::new(4, 2, 2, 2, ResizeMode::Letterbox);
        assert_eq!((g.content_w, g.content_h, g.pad_y), (2, 1, 0));
        let out = run_rgb(4, 2, &px, 12, &g);
        assert!(
            out[..6].iter().all(|&v| (v - 255.0).abs() < 1e-3),
            "{out:?}"
        );
        assert!(out[6..].iter().all(|&v| v == 0.0), "{out:?}");
        // Alternating columns average to grey when halved.
        let mut stripes = vec![0u8; 4 * 3];
        for x in [0, 2] {
            stripes[x * 3..x * 3 + 3].fill(200);
        }
        let g = Geometry::new(4, 1, 2, 1, ResizeMode::Stretch);
        let out = run_rgb(4, 1, &stripes, 12, &g);
        for v in out {
            assert!((v - 100.0).abs() < 30.0, "{v}");
        }
    }

    #[test]
    fn yuv_and_gray_convert_to_rgb() {
        // Limited-range white and black through NV12 and I420, full-range through GRAY8.
        let (w, h) = (2usize, 2usize);
        let y = [235u8, 16, 235, 16];
        let uv = [128u8, 128];
        let g = Geometry::new(2, 2, 2, 2, ResizeMode::Stretch);
        let fmt = InputFormat {
            layout: TensorLayout::Nchw,
            elem: InputElem::I32,
            normalize: Normalize::IDENTITY,
        };
        let mut p = Preprocessor::new();
        for frame in [
            SourceFrame::new(PixelFormat::Nv12, w, h, vec![(&y, 2), (&uv, 2)]).unwrap(),
            SourceFrame::new(
                PixelFormat::I420,
                w,
                h,
                vec![(&y, 2), (&uv[..1], 1), (&uv[1..], 1)],
            )
            .unwrap(),
        ] {
            let (data, shape) = p.run(&frame, &g, &fmt);
            assert_eq!(shape, &[1, 3, 2, 2]);
            let InputData::I32(d) = data else { panic!() };
            assert_eq!(d, &[255, 0, 255, 0, 255, 0, 255, 0, 255, 0, 255, 0]);
        }
        // Packed 4:2:2 (YUY2 Y0 U Y1 V, UYVY U Y0 V Y1), one macropixel per row.
        let yuy2 = [235u8, 128, 16, 128, 235, 128, 16, 128];
        let uyvy = [128u8, 235, 128, 16, 128, 235, 128, 16];
        for (format, data) in [(PixelFormat::Yuy2, &yuy2), (PixelFormat::Uyvy, &uyvy)] {
            let frame = SourceFrame::new(format, w, h, vec![(data, 4)]).unwrap();
            let (data, _) = p.run(&frame, &g, &fmt);
            let InputData::I32(d) = data else { panic!() };
            assert_eq!(
                d,
                &[255, 0, 255, 0, 255, 0, 255, 0, 255, 0, 255, 0],
                "{format:?}"
            );
        }
        let gray = [9u8, 200, 9, 200];
        let frame = SourceFrame::new(PixelFormat::Gray8, w, h, vec![(&gray, 2)]).unwrap();
        let (data, _) = p.run(&frame, &g, &fmt);
        let InputData::I32(d) = data else { panic!() };
        assert_eq!(&d[..4], &[9, 200, 9, 200]);
    }

    #[test]
    fn full_range_keeps_black_and_white_that_limited_range_would_clip() {
        // Y 8 and 245 are legal full-range values; read as limited range they clip to 0/255.
        let y = [8u8, 245, 8, 245];
        let uv = [128u8, 128];
        let g = Geometry::new(2, 2, 2, 2, ResizeMode::Stretch);
        let fmt = InputFormat {
            layout: TensorLayout::Nchw,
            elem: InputElem::F32,
            normalize: Normalize::IDENTITY,
        };
        let mut p = Preprocessor::new();
        let frame = SourceFrame::new(PixelFormat::Nv12, 2, 2, vec![(&y, 2), (&uv, 2)]).unwrap();
        let (InputData::F32(limited), _) = p.run(&frame, &g, &fmt) else {
            panic!()
        };
        assert_eq!(&limited[..2], &[0.0, 255.0]);
        let frame = frame.with_colorimetry(Colorimetry::JPEG);
        let (InputData::F32(full), _) = p.run(&frame, &g, &fmt) else {
            panic!()
        };
        assert!(
            (full[0] - 8.0).abs() < 1e-3 && (full[1] - 245.0).abs() < 1e-3,
            "{full:?}"
        );
    }

    #[test]
    fn chroma_siting_moves_where_chroma_is_sampled() {
        // One chroma row of two samples (U 64 then 192) under four luma pixels.
        for (cosited, want) in [
            (false, [64.0, 96.0, 160.0, 192.0]),
            (true, [64.0, 128.0, 192.0, 192.0]),
        ] {
            let got: Vec<f32> = (0..4)
                .map(|x| {
                    let (a, b, t) = chroma_taps(x, 2, cosited);
                    [64.0f32, 192.0][a] * (1.0 - t) + [64.0f32, 192.0][b] * t
                })
                .collect();
            assert_eq!(got, want, "cosited {cosited}");
        }
    }

    #[test]
    fn the_wide_build_gives_the_same_bits_as_the_plain_one() {
        // The AVX2 build of the loops (where this CPU has it) against the baseline build, on
        // every kind of format, with odd sizes and both placements.
        let (w, h) = (203usize, 117usize);
        let byte = |i: usize| (i.wrapping_mul(2654435761) >> 9) as u8;
        let bytes: Vec<u8> = (0..w * h * 4).map(byte).collect();
        let (cw, chh) = (w.div_ceil(2), h.div_ceil(2));
        let formats = [
            (PixelFormat::Rgb, vec![(&bytes[..w * h * 3], w * 3)]),
            (PixelFormat::Bgrx, vec![(&bytes[..], w * 4)]),
            (PixelFormat::Gray8, vec![(&bytes[..w * h], w)]),
            (
                PixelFormat::I420,
                vec![
                    (&bytes[..w * h], w),
                    (&bytes[w * h..w * h + cw * chh], cw),
                    (&bytes[2 * w * h..2 * w * h + cw * chh], cw),
                ],
            ),
            (
                PixelFormat::Nv21,
                vec![
                    (&bytes[..w * h], w),
                    (&bytes[w * h..w * h + 2 * cw * chh], 2 * cw),
                ],
            ),
            (PixelFormat::Yuy2, vec![(&bytes[..2 * cw * 2 * h], 4 * cw)]),
        ];
        let inputs = [
            InputFormat {
                layout: TensorLayout::Nhwc,
                elem: InputElem::I32,
                normalize: Normalize::IDENTITY,
            },
            InputFormat {
                layout: TensorLayout::Nchw,
                elem: InputElem::F32,
                normalize: Normalize::mean_std([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
            },
        ];
        let mut wide = Preprocessor::new();
        let mut plain = Preprocessor {
            scalar_only: true,
            ..Default::default()
        };
        for (format, planes) in formats {
            let frame = SourceFrame::new(format, w, h, planes).unwrap();
            for (input, mode) in inputs
                .iter()
                .zip([ResizeMode::Letterbox, ResizeMode::Stretch])
            {
                let g = Geometry::new(w as u32, h as u32, 96, 64, mode);
                let bits = |d: InputData| -> Vec<u32> {
                    match d {
                        InputData::F32(v) => v.iter().map(|x| x.to_bits()).collect(),
                        InputData::I32(v) => v.iter().map(|&x| x as u32).collect(),
                    }
                };
                let a = bits(wide.run(&frame, &g, input).0);
                let b = bits(plain.run(&frame, &g, input).0);
                assert!(a == b, "{format:?} {mode:?}: the two builds differ");
            }
        }
    }

    #[test]
    fn row_conversion_equals_the_per_pixel_definition_the_gpu_kernel_uses() {
        // Odd and even sizes, narrow and wide (past the vector width), every siting, planar
        // and semi-planar: row_rgb_420's pairwise loops must give exactly what chroma_taps
        // gives pixel by pixel (as the CUDA kernel computes).
        for (w, h) in [(7usize, 5usize), (1, 3), (2, 2), (3, 1), (66, 4), (103, 7)] {
            row_conversion_case(w, h);
        }
    }

    fn row_conversion_case(w: usize, h: usize) {
        let (cw, chh) = (w.div_ceil(2), h.div_ceil(2));
        let byte = |i: usize| (i.wrapping_mul(2654435761) >> 7) as u8;
        let y: Vec<u8> = (0..w * h).map(byte).collect();
        let u: Vec<u8> = (0..cw * chh).map(|i| byte(i + 1000)).collect();
        let v: Vec<u8> = (0..cw * chh).map(|i| byte(i + 2000)).collect();
        let uv: Vec<u8> = u.iter().zip(&v).flat_map(|(&a, &b)| [a, b]).collect();
        for siting in [
            ChromaSiting::JPEG,
            ChromaSiting::MPEG2,
            ChromaSiting {
                h_cosited: true,
                v_cosited: true,
            },
        ] {
            let c = Colorimetry {
                siting,
                ..Colorimetry::JPEG
            };
            let m = c.to_rgb();
            let vu: Vec<u8> = v.iter().zip(&u).flat_map(|(&a, &b)| [a, b]).collect();
            for frame in [
                SourceFrame::new(PixelFormat::I420, w, h, vec![(&y, w), (&u, cw), (&v, cw)]),
                SourceFrame::new(PixelFormat::Yv12, w, h, vec![(&y, w), (&v, cw), (&u, cw)]),
                SourceFrame::new(PixelFormat::Nv12, w, h, vec![(&y, w), (&uv, 2 * cw)]),
                SourceFrame::new(PixelFormat::Nv21, w, h, vec![(&y, w), (&vu, 2 * cw)]),
            ] {
                let frame = frame.unwrap().with_colorimetry(c);
                let mut line = Vec::new();
                let mut out = vec![0.0; 3 * w];
                for row in 0..h {
                    row_rgb_420(&frame, m, siting, row, &mut line, &mut out);
                    let (ya, yb, ty) = chroma_taps(row, chh, siting.v_cosited);
                    for x in 0..w {
                        let (a, b, t) = chroma_taps(x, cw, siting.h_cosited);
                        let at = |p: &[u8], r: usize, k: usize| p[r * cw + k] as f32;
                        let ch = |p: &[u8]| {
                            let ca = at(p, ya, a) * (1.0 - ty) + at(p, yb, a) * ty;
                            let cb = at(p, ya, b) * (1.0 - ty) + at(p, yb, b) * ty;
                            ca * (1.0 - t) + cb * t
                        };
                        let want = m.apply(y[row * w + x] as f32, ch(&u) - 128.0, ch(&v) - 128.0);
                        assert_eq!(&out[3 * x..3 * x + 3], &want, "{siting:?} row {row} x {x}");
                    }
                }
            }
        }
    }
}
