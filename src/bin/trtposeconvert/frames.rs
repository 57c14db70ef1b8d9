// SPDX-License-Identifier: MPL-2.0
//! Test frames for the end-to-end benchmark and the GPU/CPU comparison: binary PPM (P6)
//! photos or a synthetic picture, converted to the raw formats the element receives.

use std::path::Path;

use gsttrtpose::frame::PixelFormat;
use gsttrtpose::frame::SourceFrame;

/// A frame in one raw format, planes with padded strides as decoders produce them.
pub struct TestFrame {
    pub format: PixelFormat,
    pub width: usize,
    pub height: usize,
    planes: Vec<(Vec<u8>, usize)>,
}

impl TestFrame {
    pub fn source(&self) -> SourceFrame<'_> {
        SourceFrame::new(
            self.format,
            self.width,
            self.height,
            self.planes
                .iter()
                .map(|(d, s)| (d.as_slice(), *s))
                .collect(),
        )
        .expect("planes built for this format")
    }
}

/// Reads a binary PPM (P6, maxval 255): `(width, height, rgb)`.
pub fn read_ppm(path: &Path) -> Result<(usize, usize, Vec<u8>), String> {
    let data = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let bad = |why: &str| format!("{}: not a binary PPM (P6): {why}", path.display());
    let mut fields = Vec::new();
    let mut i = 0;
    while fields.len() < 4 {
        while i < data.len() && (data[i].is_ascii_whitespace() || data[i] == b'#') {
            if data[i] == b'#' {
                while i < data.len() && data[i] != b'\n' {
                    i += 1;
                }
            } else {
                i += 1;
            }
        }
        let start = i;
        while i < data.len() && !data[i].is_ascii_whitespace() {
            i += 1;
        }
        if start == i {
            return Err(bad("header ends early"));
        }
        fields.push(String::from_utf8_lossy(&data[start..i]).to_string());
    }
    if fields[0] != "P6" {
        return Err(bad("magic is not P6"));
    }
    let num = |s: &str| s.parse::<usize>().map_err(|_| bad("bad number in header"));
    let (w, h, max) = (num(&fields[1])?, num(&fields[2])?, num(&fields[3])?);
    if max != 255 {
        return Err(bad("only maxval 255 is supported"));
    }
    let pixels = &data[(i + 1).min(data.len())..];
    if pixels.len() < w * h * 3 {
        return Err(bad("pixel data is short"));
    }
    Ok((w, h, pixels[..w * h * 3].to_vec()))
}

/// Reads a photo as packed RGB: binary PPM, PNG (8-bit gray, RGB or RGBA) or baseline JPEG.
pub fn read_image(path: &Path) -> Result<(usize, usize, Vec<u8>), String> {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let err = |e: String| format!("{}: {e}", path.display());
    match ext.as_str() {
        "ppm" | "pnm" => read_ppm(path),
        "png" => {
            let file = std::fs::File::open(path).map_err(|e| err(e.to_string()))?;
            let mut decoder = png::Decoder::new(std::io::BufReader::new(file));
            decoder
                .set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
            let mut reader = decoder.read_info().map_err(|e| err(e.to_string()))?;
            let mut buf = vec![
                0;
                reader
                    .output_buffer_size()
                    .ok_or_else(|| err("image too large".into()))?
            ];
            let info = reader
                .next_frame(&mut buf)
                .map_err(|e| err(e.to_string()))?;
            let (w, h) = (info.width as usize, info.height as usize);
            let channels = info.color_type.samples();
            let px = &buf[..info.buffer_size()];
            let rgb = match channels {
                1 => px.iter().flat_map(|&g| [g, g, g]).collect(),
                2 => px
                    .chunks_exact(2)
                    .flat_map(|p| [p[0], p[0], p[0]])
                    .collect(),
                3 => px.to_vec(),
                _ => px
                    .chunks_exact(4)
                    .flat_map(|p| [p[0], p[1], p[2]])
                    .collect(),
            };
            Ok((w, h, rgb))
        }
        "jpg" | "jpeg" => {
            let file = std::fs::File::open(path).map_err(|e| err(e.to_string()))?;
            let mut decoder = jpeg_decoder::Decoder::new(std::io::BufReader::new(file));
            let px = decoder.decode().map_err(|e| err(e.to_string()))?;
            let info = decoder.info().ok_or_else(|| err("no image info".into()))?;
            let (w, h) = (info.width as usize, info.height as usize);
            let rgb = match info.pixel_format {
                jpeg_decoder::PixelFormat::L8 => px.iter().flat_map(|&g| [g, g, g]).collect(),
                jpeg_decoder::PixelFormat::RGB24 => px,
                other => return Err(err(format!("JPEG pixel format {other:?} is not supported"))),
            };
            Ok((w, h, rgb))
        }
        _ => Err(err("not a .ppm, .png or .jpg image".into())),
    }
}

/// A deterministic picture with gradients and edges, for timing without a photo.
pub fn synthetic_rgb(w: usize, h: usize) -> Vec<u8> {
    let mut rgb = vec![0u8; w * h * 3];
    for y in 0..h {
        for x in 0..w {
            let o = (y * w + x) * 3;
            let disc = ((x as i64 - w as i64 / 2).pow(2) + (y as i64 - h as i64 / 3).pow(2))
                < (h as i64 / 5).pow(2);
            rgb[o] = (x * 255 / w.max(1)) as u8;
            rgb[o + 1] = (y * 255 / h.max(1)) as u8;
            rgb[o + 2] = if disc { 230 } else { ((x ^ y) & 0xff) as u8 };
        }
    }
    rgb
}

fn yuv(r: u8, g: u8, b: u8) -> (u8, u8, u8) {
    // BT.601 limited range, the inverse of the pipeline's conversion.
    let (r, g, b) = (r as f32, g as f32, b as f32);
    let y = 16.0 + 0.257 * r + 0.504 * g + 0.098 * b;
    let u = 128.0 - 0.148 * r - 0.291 * g + 0.439 * b;
    let v = 128.0 + 0.439 * r - 0.368 * g - 0.071 * b;
    let q = |v: f32| v.round().clamp(0.0, 255.0) as u8;
    (q(y), q(u), q(v))
}

/// Converts packed RGB to `format`; rows are padded to a multiple of 64 bytes plus 64, so
/// strides differ from the row size as they do in real pipelines.
pub fn convert(rgb: &[u8], w: usize, h: usize, format: PixelFormat) -> Result<TestFrame, String> {
    let stride_for = |row: usize| row.div_ceil(64) * 64 + 64;
    let px = |x: usize, y: usize| {
        let o = (y * w + x) * 3;
        (rgb[o], rgb[o + 1], rgb[o + 2])
    };
    let planes = match format {
        PixelFormat::Rgb | PixelFormat::Bgrx | PixelFormat::Rgba => {
            let bytes = if format == PixelFormat::Rgb { 3 } else { 4 };
            let stride = stride_for(w * bytes);
            let mut d = vec![0u8; stride * h];
            for y in 0..h {
                for x in 0..w {
                    let (r, g, b) = px(x, y);
                    let o = y * stride + x * bytes;
                    match format {
                        PixelFormat::Bgrx => d[o..o + 4].copy_from_slice(&[b, g, r, 0]),
                        PixelFormat::Rgba => d[o..o + 4].copy_from_slice(&[r, g, b, 255]),
                        _ => d[o..o + 3].copy_from_slice(&[r, g, b]),
                    }
                }
            }
            vec![(d, stride)]
        }
        PixelFormat::Nv12 | PixelFormat::I420 => {
            let ys = stride_for(w);
            let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
            let mut yp = vec![0u8; ys * h];
            for y in 0..h {
                for x in 0..w {
                    let (r, g, b) = px(x, y);
                    yp[y * ys + x] = yuv(r, g, b).0;
                }
            }
            let chroma = |x: usize, y: usize| {
                let (r, g, b) = px((2 * x).min(w - 1), (2 * y).min(h - 1));
                let (_, u, v) = yuv(r, g, b);
                (u, v)
            };
            if format == PixelFormat::Nv12 {
                let s = stride_for(2 * cw);
                let mut uv = vec![0u8; s * ch];
                for y in 0..ch {
                    for x in 0..cw {
                        let (u, v) = chroma(x, y);
                        uv[y * s + 2 * x] = u;
                        uv[y * s + 2 * x + 1] = v;
                    }
                }
                vec![(yp, ys), (uv, s)]
            } else {
                let s = stride_for(cw);
                let (mut up, mut vp) = (vec![0u8; s * ch], vec![0u8; s * ch]);
                for y in 0..ch {
                    for x in 0..cw {
                        let (u, v) = chroma(x, y);
                        up[y * s + x] = u;
                        vp[y * s + x] = v;
                    }
                }
                vec![(yp, ys), (up, s), (vp, s)]
            }
        }
        other => return Err(format!("test frames in {other:?} are not generated")),
    };
    Ok(TestFrame {
        format,
        width: w,
        height: h,
        planes,
    })
}

/// `rgb`, `bgrx`, `rgba`, `nv12` or `i420`.
pub fn parse_format(name: &str) -> Result<PixelFormat, String> {
    Ok(match name.to_ascii_lowercase().as_str() {
        "rgb" => PixelFormat::Rgb,
        "bgrx" => PixelFormat::Bgrx,
        "rgba" => PixelFormat::Rgba,
        "nv12" => PixelFormat::Nv12,
        "i420" => PixelFormat::I420,
        other => {
            return Err(format!(
                "frame format '{other}': use rgb, bgrx, rgba, nv12 or i420"
            ));
        }
    })
}

/// `WIDTHxHEIGHT`.
pub fn parse_size(s: &str) -> Result<(usize, usize), String> {
    let (w, h) = s
        .split_once(['x', 'X'])
        .ok_or_else(|| format!("size '{s}': use WIDTHxHEIGHT, e.g. 1280x720"))?;
    let n = |v: &str| {
        v.trim()
            .parse::<usize>()
            .ok()
            .filter(|&v| (1..=16384).contains(&v))
            .ok_or_else(|| format!("size '{s}': sides must be 1..16384"))
    };
    Ok((n(w)?, n(h)?))
}
