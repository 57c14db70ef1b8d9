// SPDX-License-Identifier: MPL-2.0
//! Frames as the GStreamer-free layers see them: pixel formats, planes with strides, and the
//! colorimetry (matrix, range, chroma siting) that says how YUV samples map to RGB.
//!
//! A leaf module: pre-processing, the GPU kernel and drawing all read frames through it.

/// A frame's planes do not fit its format and size.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("{format:?} needs {need} planes, got {got}")]
    PlaneCount {
        format: PixelFormat,
        need: usize,
        got: usize,
    },
    #[error(
        "plane {plane} has {len} bytes, {format:?} {width}x{height} with stride {stride} needs {need}"
    )]
    PlaneTooSmall {
        plane: usize,
        len: usize,
        format: PixelFormat,
        width: usize,
        height: usize,
        stride: usize,
        need: usize,
    },
    #[error(
        "crop {w}x{h} at ({x}, {y}) does not fit a {width}x{height} frame aligned to {align} px"
    )]
    BadCrop {
        x: usize,
        y: usize,
        w: usize,
        h: usize,
        width: usize,
        height: usize,
        align: usize,
    },
    #[error("plane {plane} stride {stride} is below the row size {row}")]
    StrideTooSmall {
        plane: usize,
        stride: usize,
        row: usize,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PixelFormat {
    Rgb,
    Bgr,
    Rgba,
    Bgra,
    Argb,
    Abgr,
    Rgbx,
    Bgrx,
    Xrgb,
    Xbgr,
    Gray8,
    /// Planar 4:2:0, planes Y, U, V.
    I420,
    /// Planar 4:2:0, planes Y, V, U.
    Yv12,
    /// Semi-planar 4:2:0, Y then interleaved UV.
    Nv12,
    /// Semi-planar 4:2:0, Y then interleaved VU.
    Nv21,
    /// Packed 4:2:2, bytes Y0 U Y1 V.
    Yuy2,
    /// Packed 4:2:2, bytes U Y0 V Y1.
    Uyvy,
    /// Packed 4:2:2, bytes Y0 V Y1 U.
    Yvyu,
}

/// Byte offsets inside a 4-byte packed 4:2:2 macropixel: first luma, U, V (second luma is
/// first + 2).
#[derive(Debug, Clone, Copy)]
pub struct Packed422 {
    pub y: usize,
    pub u: usize,
    pub v: usize,
}

/// Byte layout of a packed RGB pixel: size and offsets of R, G, B and (if any) alpha.
#[derive(Debug, Clone, Copy)]
pub struct PackedLayout {
    pub bytes: usize,
    pub r: usize,
    pub g: usize,
    pub b: usize,
    pub alpha: Option<usize>,
}

impl PixelFormat {
    pub fn packed_layout(self) -> Option<PackedLayout> {
        use PixelFormat::*;
        let l = |bytes, r, g, b, alpha| {
            Some(PackedLayout {
                bytes,
                r,
                g,
                b,
                alpha,
            })
        };
        match self {
            Rgb => l(3, 0, 1, 2, None),
            Bgr => l(3, 2, 1, 0, None),
            Rgba => l(4, 0, 1, 2, Some(3)),
            Bgra => l(4, 2, 1, 0, Some(3)),
            Argb => l(4, 1, 2, 3, Some(0)),
            Abgr => l(4, 3, 2, 1, Some(0)),
            Rgbx => l(4, 0, 1, 2, None),
            Bgrx => l(4, 2, 1, 0, None),
            Xrgb => l(4, 1, 2, 3, None),
            Xbgr => l(4, 3, 2, 1, None),
            _ => None,
        }
    }

    pub fn packed_422(self) -> Option<Packed422> {
        match self {
            PixelFormat::Yuy2 => Some(Packed422 { y: 0, u: 1, v: 3 }),
            PixelFormat::Uyvy => Some(Packed422 { y: 1, u: 0, v: 2 }),
            PixelFormat::Yvyu => Some(Packed422 { y: 0, u: 3, v: 1 }),
            _ => None,
        }
    }

    pub fn num_planes(self) -> usize {
        match self {
            PixelFormat::I420 | PixelFormat::Yv12 => 3,
            PixelFormat::Nv12 | PixelFormat::Nv21 => 2,
            _ => 1,
        }
    }

    /// Alignment of a crop's origin and size in pixels: 2 where chroma is subsampled, so a
    /// crop starts on a chroma sample and keeps the frame's siting.
    pub fn crop_align(self) -> usize {
        if self.num_planes() > 1 || self.packed_422().is_some() {
            2
        } else {
            1
        }
    }

    pub fn is_yuv(self) -> bool {
        matches!(
            self,
            PixelFormat::I420
                | PixelFormat::Yv12
                | PixelFormat::Nv12
                | PixelFormat::Nv21
                | PixelFormat::Yuy2
                | PixelFormat::Uyvy
                | PixelFormat::Yvyu
        )
    }

    /// Checks plane count, sizes and strides of `(bytes, stride)` planes for a frame, so that
    /// readers and writers can index without further checks.
    pub fn check_planes(
        self,
        width: usize,
        height: usize,
        planes: impl ExactSizeIterator<Item = (usize, usize)>,
    ) -> Result<(), FrameError> {
        if planes.len() != self.num_planes() {
            return Err(FrameError::PlaneCount {
                format: self,
                need: self.num_planes(),
                got: planes.len(),
            });
        }
        for (i, (len, stride)) in planes.enumerate() {
            let need = self.plane_len(i, width, height, stride);
            if len < need {
                return Err(FrameError::PlaneTooSmall {
                    plane: i,
                    len,
                    format: self,
                    width,
                    height,
                    stride,
                    need,
                });
            }
            let min_stride = self.plane_len(i, width, 1, 0);
            if height > 0 && stride < min_stride {
                return Err(FrameError::StrideTooSmall {
                    plane: i,
                    stride,
                    row: min_stride,
                });
            }
        }
        Ok(())
    }

    /// Minimum bytes of plane `plane` for a frame of this size with the given stride.
    pub fn plane_len(self, plane: usize, width: usize, height: usize, stride: usize) -> usize {
        let (w, h) = if plane == 0 {
            (width, height)
        } else {
            (width.div_ceil(2), height.div_ceil(2))
        };
        let row_bytes = match self.packed_layout() {
            Some(l) => w * l.bytes,
            None if self.packed_422().is_some() => 4 * width.div_ceil(2),
            None if plane > 0 && matches!(self, PixelFormat::Nv12 | PixelFormat::Nv21) => 2 * w,
            None => w,
        };
        if h == 0 {
            0
        } else {
            (h - 1) * stride + row_bytes
        }
    }
}

/// YUV ↔ RGB matrix, as GStreamer's `GstVideoColorMatrix` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum YuvMatrix {
    #[default]
    Bt601,
    Bt709,
    Bt2020,
    Smpte240m,
    Fcc,
}

impl YuvMatrix {
    /// Luma weights `(Kr, Kb)`, the values `gst_video_color_matrix_get_Kr_Kb` uses.
    pub fn kr_kb(self) -> (f64, f64) {
        match self {
            YuvMatrix::Bt601 => (0.2990, 0.1140),
            YuvMatrix::Bt709 => (0.2126, 0.0722),
            YuvMatrix::Bt2020 => (0.2627, 0.0593),
            YuvMatrix::Smpte240m => (0.212, 0.087),
            YuvMatrix::Fcc => (0.30, 0.11),
        }
    }
}

/// Quantization range of 8-bit YUV samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ColorRange {
    /// Y 0..255, chroma 0..255 around 128 (JPEG, MJPEG webcams).
    Full,
    /// Y 16..235, chroma 16..240 around 128 (broadcast video, most decoders).
    #[default]
    Limited,
}

impl ColorRange {
    /// `(luma offset, luma span, chroma span)`, as `gst_video_color_range_offsets` for 8 bits.
    fn offsets(self) -> (f64, f64, f64) {
        match self {
            ColorRange::Full => (0.0, 255.0, 255.0),
            ColorRange::Limited => (16.0, 219.0, 224.0),
        }
    }
}

/// Where subsampled chroma samples sit relative to luma. Not cosited means centred between
/// the luma samples they cover (JPEG); cosited means on the first of them (MPEG-2 horizontally).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ChromaSiting {
    pub h_cosited: bool,
    pub v_cosited: bool,
}

impl ChromaSiting {
    pub const JPEG: ChromaSiting = ChromaSiting {
        h_cosited: false,
        v_cosited: false,
    };
    pub const MPEG2: ChromaSiting = ChromaSiting {
        h_cosited: true,
        v_cosited: false,
    };
}

/// How a frame's YUV samples map to RGB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Colorimetry {
    pub matrix: YuvMatrix,
    pub range: ColorRange,
    pub siting: ChromaSiting,
}

impl Colorimetry {
    /// GStreamer's default for YUV caps that name none (`gst_video_info_from_caps`): BT.601
    /// with centred chroma up to 576 lines, BT.709 with MPEG-2 siting above; limited range.
    pub fn default_for_height(height: usize) -> Self {
        if height > 576 {
            Colorimetry {
                matrix: YuvMatrix::Bt709,
                range: ColorRange::Limited,
                siting: ChromaSiting::MPEG2,
            }
        } else {
            Colorimetry {
                matrix: YuvMatrix::Bt601,
                range: ColorRange::Limited,
                siting: ChromaSiting::JPEG,
            }
        }
    }

    /// Full-range BT.601 with centred chroma: what JPEG decoders produce.
    pub const JPEG: Colorimetry = Colorimetry {
        matrix: YuvMatrix::Bt601,
        range: ColorRange::Full,
        siting: ChromaSiting::JPEG,
    };

    /// Coefficients from 8-bit YUV to RGB 0..255.
    pub fn to_rgb(&self) -> YuvToRgb {
        let (kr, kb) = self.matrix.kr_kb();
        let kg = 1.0 - kr - kb;
        let (y_offset, y_span, c_span) = self.range.offsets();
        let c = 255.0 / c_span;
        YuvToRgb {
            y_offset: y_offset as f32,
            y_scale: (255.0 / y_span) as f32,
            cr_v: (c * 2.0 * (1.0 - kr)) as f32,
            cg_u: (c * 2.0 * kb * (1.0 - kb) / kg) as f32,
            cg_v: (c * 2.0 * kr * (1.0 - kr) / kg) as f32,
            cb_u: (c * 2.0 * (1.0 - kb)) as f32,
        }
    }

    /// 8-bit YUV of an 8-bit RGB colour in this colorimetry, rounded.
    pub fn rgb_to_yuv(&self, r: u8, g: u8, b: u8) -> (u8, u8, u8) {
        let (kr, kb) = self.matrix.kr_kb();
        let (r, g, b) = (r as f64 / 255.0, g as f64 / 255.0, b as f64 / 255.0);
        let y = kr * r + (1.0 - kr - kb) * g + kb * b;
        let pb = (b - y) / (2.0 * (1.0 - kb));
        let pr = (r - y) / (2.0 * (1.0 - kr));
        let (y_offset, y_span, c_span) = self.range.offsets();
        let q = |v: f64| v.round().clamp(0.0, 255.0) as u8;
        (
            q(y_offset + y * y_span),
            q(128.0 + pb * c_span),
            q(128.0 + pr * c_span),
        )
    }
}

/// YUV → RGB 0..255 as `R = s(Y - o) + cr_v·V`, `G = s(Y - o) - cg_u·U - cg_v·V`,
/// `B = s(Y - o) + cb_u·U` with chroma centred on 0. The GPU kernel repeats these operations
/// in this order, so both paths give the same floats.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct YuvToRgb {
    pub y_offset: f32,
    pub y_scale: f32,
    pub cr_v: f32,
    pub cg_u: f32,
    pub cg_v: f32,
    pub cb_u: f32,
}

impl YuvToRgb {
    /// `u` and `v` already centred (sample - 128); results clamped to 0..255.
    #[inline(always)]
    pub fn apply(&self, y: f32, u: f32, v: f32) -> [f32; 3] {
        let yv = self.y_scale * (y - self.y_offset);
        [
            (yv + self.cr_v * v).clamp(0.0, 255.0),
            (yv - self.cg_u * u - self.cg_v * v).clamp(0.0, 255.0),
            (yv + self.cb_u * u).clamp(0.0, 255.0),
        ]
    }
}

/// Read-only view of a frame.
#[derive(Debug, Clone)]
pub struct SourceFrame<'a> {
    pub format: PixelFormat,
    pub width: usize,
    pub height: usize,
    /// `(bytes, stride)` per plane.
    pub planes: Vec<(&'a [u8], usize)>,
    /// Ignored for RGB and gray formats.
    pub colorimetry: Colorimetry,
}

impl<'a> SourceFrame<'a> {
    /// A frame with GStreamer's default colorimetry for its size; set `colorimetry` when the
    /// caller knows better (the elements take it from the caps).
    pub fn new(
        format: PixelFormat,
        width: usize,
        height: usize,
        planes: Vec<(&'a [u8], usize)>,
    ) -> Result<Self, FrameError> {
        format.check_planes(width, height, planes.iter().map(|(d, s)| (d.len(), *s)))?;
        Ok(SourceFrame {
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

    /// Bytes of the planes as held (row padding included).
    pub fn held_bytes(&self) -> usize {
        self.planes.iter().map(|(d, _)| d.len()).sum()
    }

    /// A view of the `w × h` region at `(x, y)`, sharing the frame's bytes: no copy. The region
    /// must lie inside the frame and, for subsampled formats, be aligned to
    /// [`PixelFormat::crop_align`] (its right and bottom edges may end on the frame's).
    pub fn crop(
        &self,
        x: usize,
        y: usize,
        w: usize,
        h: usize,
    ) -> Result<SourceFrame<'a>, FrameError> {
        let a = self.format.crop_align();
        let fits = x + w <= self.width && y + h <= self.height;
        let aligned = x.is_multiple_of(a)
            && y.is_multiple_of(a)
            && (w.is_multiple_of(a) || x + w == self.width)
            && (h.is_multiple_of(a) || y + h == self.height);
        if !fits || !aligned || w == 0 || h == 0 {
            return Err(FrameError::BadCrop {
                x,
                y,
                w,
                h,
                width: self.width,
                height: self.height,
                align: a,
            });
        }
        let f = self.format;
        let planes = self
            .planes
            .iter()
            .enumerate()
            .map(|(i, &(data, stride))| {
                let row = if i == 0 { y } else { y / 2 };
                // The bytes of `x` pixels in one row of this plane: where the crop starts.
                let bytes_x = f.plane_len(i, x, 1, 0);
                (&data[row * stride + bytes_x..], stride)
            })
            .collect();
        SourceFrame::new(f, w, h, planes).map(|c| c.with_colorimetry(self.colorimetry))
    }
}

/// Copies the planes of `frames` one after another into `dst` and returns views of the
/// copies, with their format, size, strides and colorimetry (staging frames in memory of the
/// caller's choosing, e.g. page-locked). Panics when `dst` is shorter than their
/// [`SourceFrame::held_bytes`].
pub fn copy_frames_into<'d>(frames: &[SourceFrame], dst: &'d mut [u8]) -> Vec<SourceFrame<'d>> {
    let mut spans = Vec::with_capacity(frames.len());
    let mut at = 0;
    for f in frames {
        let mut planes = Vec::with_capacity(f.planes.len());
        for (data, stride) in &f.planes {
            dst[at..at + data.len()].copy_from_slice(data);
            planes.push((at, data.len(), *stride));
            at += data.len();
        }
        spans.push(planes);
    }
    let dst: &'d [u8] = dst;
    frames
        .iter()
        .zip(spans)
        .map(|(f, planes)| SourceFrame {
            format: f.format,
            width: f.width,
            height: f.height,
            planes: planes
                .into_iter()
                .map(|(a, n, stride)| (&dst[a..a + n], stride))
                .collect(),
            colorimetry: f.colorimetry,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copied_frames_keep_their_bytes_layout_and_colorimetry() {
        let luma: Vec<u8> = (0..40).collect();
        let chroma: Vec<u8> = (100..120).collect();
        let rgb: Vec<u8> = (0..27).map(|i| 200 - i).collect();
        let nv12 = SourceFrame::new(
            PixelFormat::Nv12,
            4,
            4,
            vec![(&luma[..], 10), (&chroma[..], 10)],
        )
        .unwrap()
        .with_colorimetry(Colorimetry::JPEG);
        let packed = SourceFrame::new(PixelFormat::Rgb, 3, 3, vec![(&rgb[..], 9)]).unwrap();
        let frames = [nv12, packed];
        let total: usize = frames.iter().map(SourceFrame::held_bytes).sum();
        assert_eq!(total, 40 + 20 + 27);
        let mut dst = vec![0u8; total + 5];
        let copies = copy_frames_into(&frames, &mut dst);
        for (a, b) in frames.iter().zip(&copies) {
            assert_eq!((a.format, a.width, a.height), (b.format, b.width, b.height));
            assert_eq!(a.colorimetry, b.colorimetry);
            assert_eq!(a.planes, b.planes, "same bytes and strides");
        }
        // The copies are views of `dst`, one after another.
        assert_eq!(copies[1].planes[0].0.as_ptr(), dst[60..].as_ptr());
    }

    #[test]
    fn limited_bt601_matches_the_classic_coefficients() {
        let c = Colorimetry::default_for_height(480).to_rgb();
        for (got, want) in [
            (c.y_scale, 1.164),
            (c.cr_v, 1.596),
            (c.cg_u, 0.392),
            (c.cg_v, 0.813),
            (c.cb_u, 2.017),
        ] {
            assert!((got - want).abs() < 1e-3, "{got} vs {want}");
        }
    }

    #[test]
    fn a_crop_starts_each_plane_at_its_own_first_sample() {
        // 8x6 frames, stride 40; every plane byte holds its own offset, so the first byte of
        // each cropped plane says where the view starts. Crop at (2, 4), 4x2.
        let stride = 40;
        // Per format: the expected start of each plane, in bytes from that plane's start.
        let cases: [(PixelFormat, &[usize]); 7] = [
            (PixelFormat::Rgb, &[4 * stride + 2 * 3]),
            (PixelFormat::Bgrx, &[4 * stride + 2 * 4]),
            (PixelFormat::Gray8, &[4 * stride + 2]),
            (
                PixelFormat::I420,
                &[4 * stride + 2, 2 * stride + 1, 2 * stride + 1],
            ),
            (
                PixelFormat::Yv12,
                &[4 * stride + 2, 2 * stride + 1, 2 * stride + 1],
            ),
            (PixelFormat::Nv21, &[4 * stride + 2, 2 * stride + 2]),
            (PixelFormat::Uyvy, &[4 * stride + 2 * 2]),
        ];
        let bytes: Vec<u8> = (0..stride * 6).map(|i| i as u8).collect();
        for (format, starts) in cases {
            let planes = (0..format.num_planes())
                .map(|_| (&bytes[..], stride))
                .collect();
            let frame = SourceFrame::new(format, 8, 6, planes).unwrap();
            let view = frame.crop(2, 4, 4, 2).unwrap();
            assert_eq!((view.width, view.height), (4, 2));
            let got: Vec<usize> = view.planes.iter().map(|(d, _)| d[0] as usize).collect();
            assert_eq!(got, starts.to_vec(), "{format:?}");
        }
        // Odd origins split a chroma sample: refused, as is a crop past the frame.
        let planes = vec![(&bytes[..], stride); 3];
        let i420 = SourceFrame::new(PixelFormat::I420, 8, 6, planes).unwrap();
        assert!(matches!(
            i420.crop(1, 0, 2, 2),
            Err(FrameError::BadCrop { align: 2, .. })
        ));
        assert!(i420.crop(6, 4, 4, 2).is_err());
    }

    #[test]
    fn white_and_black_round_trip_in_every_range_and_matrix() {
        for matrix in [
            YuvMatrix::Bt601,
            YuvMatrix::Bt709,
            YuvMatrix::Bt2020,
            YuvMatrix::Smpte240m,
            YuvMatrix::Fcc,
        ] {
            for (range, white, black) in
                [(ColorRange::Full, 255, 0), (ColorRange::Limited, 235, 16)]
            {
                let c = Colorimetry {
                    matrix,
                    range,
                    siting: ChromaSiting::JPEG,
                };
                assert_eq!(c.rgb_to_yuv(255, 255, 255), (white, 128, 128));
                assert_eq!(c.rgb_to_yuv(0, 0, 0), (black, 128, 128));
                // Saturated colours survive YUV and back within a level.
                let m = c.to_rgb();
                for rgb in [[255u8, 0, 0], [0, 255, 0], [0, 0, 255], [200, 120, 40]] {
                    let (y, u, v) = c.rgb_to_yuv(rgb[0], rgb[1], rgb[2]);
                    let back = m.apply(y as f32, u as f32 - 128.0, v as f32 - 128.0);
                    for k in 0..3 {
                        assert!(
                            (back[k] - rgb[k] as f32).abs() <= 2.5,
                            "{matrix:?} {range:?} {rgb:?} -> {back:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn default_colorimetry_follows_gstreamer() {
        assert_eq!(
            Colorimetry::default_for_height(576).matrix,
            YuvMatrix::Bt601
        );
        let hd = Colorimetry::default_for_height(720);
        assert_eq!(
            (hd.matrix, hd.siting),
            (YuvMatrix::Bt709, ChromaSiting::MPEG2)
        );
    }
}
