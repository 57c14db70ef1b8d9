// SPDX-License-Identifier: MPL-2.0
//! On a GPU machine: the CUDA pre-processing kernel against the CPU pre-processing, frame
//! by frame, for every pixel format, colorimetry (range, matrix, siting), placement and input
//! type. They must give identical network inputs. Needs only the NVIDIA driver and NVRTC
//! (no GStreamer, no ONNX Runtime), so it runs where the plugin cannot be installed.
//!
//! `cargo build --release -p trtpose-core --example gpu_preprocess_check`, then run it there;
//! exit status 1 when any value differs.

use cudarc::driver::DevicePtrMut;
use std::sync::Arc;

use cudarc::driver::CudaStream;
use trtpose_core::engine::FrameJob;
use trtpose_core::engine::cuda::{GpuPreprocessor, Pinned, is_page_locked, open_device};
use trtpose_core::frame::{
    ChromaSiting, ColorRange, Colorimetry, PixelFormat, SourceFrame, YuvMatrix, copy_frames_into,
};
use trtpose_core::pose::{Geometry, ResizeMode};
use trtpose_core::preprocess::{InputData, Preprocessor};
use trtpose_core::tensor::{InputElem, InputFormat, Normalize, TensorLayout};

/// A smooth picture with edges and saturated colours, as packed RGB.
fn picture(w: usize, h: usize) -> Vec<u8> {
    let mut rgb = vec![0u8; w * h * 3];
    for y in 0..h {
        for x in 0..w {
            let p = &mut rgb[(y * w + x) * 3..][..3];
            p[0] = (x * 255 / w.max(1)) as u8;
            p[1] = (y * 255 / h.max(1)) as u8;
            p[2] = if (x / 9 + y / 7) % 2 == 0 { 250 } else { 5 };
        }
    }
    rgb
}

/// The picture in `format`, planes tightly packed plus `pad` bytes per row.
fn planes(
    format: PixelFormat,
    w: usize,
    h: usize,
    rgb: &[u8],
    c: &Colorimetry,
) -> Vec<(Vec<u8>, usize)> {
    let pad = 3;
    let yuv = |x: usize, y: usize| {
        let p = &rgb[(y.min(h - 1) * w + x.min(w - 1)) * 3..][..3];
        c.rgb_to_yuv(p[0], p[1], p[2])
    };
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    if let Some(l) = format.packed_layout() {
        let stride = w * l.bytes + pad;
        let mut d = vec![0u8; stride * h];
        for y in 0..h {
            for x in 0..w {
                let s = &rgb[(y * w + x) * 3..][..3];
                let o = &mut d[y * stride + x * l.bytes..][..l.bytes];
                (o[l.r], o[l.g], o[l.b]) = (s[0], s[1], s[2]);
                if let Some(a) = l.alpha {
                    o[a] = 255;
                }
            }
        }
        return vec![(d, stride)];
    }
    if let Some(l) = format.packed_422() {
        let stride = 4 * cw + pad;
        let mut d = vec![0u8; stride * h];
        for y in 0..h {
            for k in 0..cw {
                let (y0, u, v) = yuv(2 * k, y);
                let (y1, _, _) = yuv(2 * k + 1, y);
                let m = &mut d[y * stride + 4 * k..][..4];
                (m[l.y], m[l.y + 2], m[l.u], m[l.v]) = (y0, y1, u, v);
            }
        }
        return vec![(d, stride)];
    }
    let ys = w + pad;
    let mut luma = vec![0u8; ys * h];
    for y in 0..h {
        for x in 0..w {
            luma[y * ys + x] = match format {
                PixelFormat::Gray8 => rgb[(y * w + x) * 3],
                _ => yuv(x, y).0,
            };
        }
    }
    if format == PixelFormat::Gray8 {
        return vec![(luma, ys)];
    }
    // Chroma sampled at the top-left pixel of each 2×2 block (any sampling will do: both
    // paths read the same bytes).
    let (mut u, mut v) = (vec![0u8; cw * ch], vec![0u8; cw * ch]);
    for y in 0..ch {
        for x in 0..cw {
            let (_, a, b) = yuv(2 * x, 2 * y);
            (u[y * cw + x], v[y * cw + x]) = (a, b);
        }
    }
    let plane = |p: &[u8], row: usize| {
        let s = row + pad;
        let mut d = vec![0u8; s * ch];
        for y in 0..ch {
            d[y * s..y * s + row].copy_from_slice(&p[y * row..(y + 1) * row]);
        }
        (d, s)
    };
    let interleave = |a: &[u8], b: &[u8]| {
        a.iter()
            .zip(b)
            .flat_map(|(&a, &b)| [a, b])
            .collect::<Vec<_>>()
    };
    match format {
        PixelFormat::I420 => vec![(luma, ys), plane(&u, cw), plane(&v, cw)],
        PixelFormat::Yv12 => vec![(luma, ys), plane(&v, cw), plane(&u, cw)],
        PixelFormat::Nv12 => vec![(luma, ys), plane(&interleave(&u, &v), 2 * cw)],
        _ => vec![(luma, ys), plane(&interleave(&v, &u), 2 * cw)],
    }
}

/// A network input as f32 values (integer inputs converted exactly), for bitwise comparison.
fn values(d: InputData) -> Vec<f32> {
    match d {
        InputData::F32(d) => d.to_vec(),
        InputData::I32(d) => d.iter().map(|&v| v as f32).collect(),
    }
}

/// The GPU's 32-bit words of an input as the same values as [`values`].
fn device_values(raw: &[u32], elem: InputElem) -> Vec<f32> {
    match elem {
        InputElem::F32 => raw.iter().map(|&b| f32::from_bits(b)).collect(),
        InputElem::I32 => raw.iter().map(|&b| b as i32 as f32).collect(),
    }
}

/// Every format with each colorimetry that applies to it (only one for RGB and gray).
fn cases_of(
    formats: &[PixelFormat],
    colorimetries: &[Colorimetry],
) -> Vec<(PixelFormat, Colorimetry)> {
    formats
        .iter()
        .flat_map(|&f| {
            let cs = if f.is_yuv() {
                colorimetries
            } else {
                &colorimetries[..1]
            };
            cs.iter().map(move |&c| (f, c))
        })
        .collect()
}

/// The GPU's input for `frames` through one `run_batch` call, as f32 values per item.
fn gpu_batch(
    stream: &Arc<CudaStream>,
    gpu: &mut GpuPreprocessor,
    frames: &[SourceFrame],
    g: &Geometry,
    input: &InputFormat,
    item_len: usize,
) -> Vec<Vec<f32>> {
    let jobs: Vec<FrameJob> = frames
        .iter()
        .map(|f| FrameJob {
            frame: f,
            geometry: *g,
        })
        .collect();
    let mut out = stream.alloc_zeros::<u32>(item_len * frames.len()).unwrap();
    {
        let (ptr, _sync) = out.device_ptr_mut(stream);
        gpu.run_batch(&jobs, input, ptr, (item_len * 4) as u64)
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let raw: Vec<u32> = stream.clone_dtoh(&out).unwrap();
    raw.chunks(item_len)
        .map(|item| device_values(item, input.elem))
        .collect()
}

/// Items of `got` that differ from `want` in any bit.
fn differing(got: &[Vec<f32>], want: &[Vec<f32>]) -> usize {
    got.iter()
        .zip(want)
        .filter(|(g, w)| {
            g.iter()
                .zip(w.iter())
                .any(|(a, b)| a.to_bits() != b.to_bits())
        })
        .count()
}

fn main() {
    let ctx = open_device(0).unwrap_or_else(|e| panic!("no GPU: {e}"));
    let stream = ctx.new_stream().expect("a CUDA stream");
    let mut gpu = GpuPreprocessor::new(stream.clone(), true).unwrap_or_else(|e| panic!("{e}"));
    let mut cpu = Preprocessor::new();
    let formats = [
        PixelFormat::Rgb,
        PixelFormat::Bgrx,
        PixelFormat::Rgba,
        PixelFormat::Gray8,
        PixelFormat::I420,
        PixelFormat::Yv12,
        PixelFormat::Nv12,
        PixelFormat::Nv21,
        PixelFormat::Yuy2,
        PixelFormat::Uyvy,
        PixelFormat::Yvyu,
    ];
    let colorimetries = [
        Colorimetry::JPEG,
        Colorimetry::default_for_height(480),
        Colorimetry::default_for_height(1080),
        Colorimetry {
            matrix: YuvMatrix::Bt2020,
            range: ColorRange::Full,
            siting: ChromaSiting {
                h_cosited: true,
                v_cosited: true,
            },
        },
    ];
    let inputs = [
        (
            "movenet int32 NHWC letterbox 256",
            InputFormat {
                layout: TensorLayout::Nhwc,
                elem: InputElem::I32,
                normalize: Normalize::IDENTITY,
            },
            256u32,
            256u32,
            ResizeMode::Letterbox,
        ),
        (
            "trt_pose float NCHW stretch 224",
            InputFormat {
                layout: TensorLayout::Nchw,
                elem: InputElem::F32,
                normalize: Normalize::mean_std([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
            },
            224,
            224,
            ResizeMode::Stretch,
        ),
    ];
    let (mut cases, mut failed) = (0, 0);
    for (w, h) in [(641usize, 479usize), (97, 130), (1920, 1080)] {
        let rgb = picture(w, h);
        for (format, c) in cases_of(&formats, &colorimetries) {
            let data = planes(format, w, h, &rgb, &c);
            let frame = SourceFrame::new(
                format,
                w,
                h,
                data.iter().map(|(d, s)| (&d[..], *s)).collect(),
            )
            .unwrap()
            .with_colorimetry(c);
            for (name, input, iw, ih, mode) in &inputs {
                let g = Geometry::new(w as u32, h as u32, *iw, *ih, *mode);
                let want = values(cpu.run(&frame, &g, input).0);
                let mut out = stream.alloc_zeros::<u32>(want.len()).unwrap();
                {
                    let (ptr, _sync) = out.device_ptr_mut(&stream);
                    gpu.run(&frame, &g, input, ptr)
                        .unwrap_or_else(|e| panic!("{e}"));
                }
                let raw: Vec<u32> = stream.clone_dtoh(&out).unwrap();
                let got = device_values(&raw, input.elem);
                let diffs = got
                    .iter()
                    .zip(&want)
                    .filter(|(a, b)| a.to_bits() != b.to_bits())
                    .count();
                let max = got
                    .iter()
                    .zip(&want)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0f32, f32::max);
                cases += 1;
                if diffs > 0 {
                    failed += 1;
                    println!(
                        "DIFF {w}x{h} {format:?} {c:?} {name}: {diffs} values differ, max {max}"
                    );
                }
            }
        }
    }
    // Batches: every format and colorimetry of one size in one call, from pageable memory
    // (pinned staging when the batch is 4 MB or more) and from page-locked memory (read in
    // place), each item against the CPU.
    for (w, h) in [(97usize, 130usize), (1920, 1080)] {
        let rgb = picture(w, h);
        let datas: Vec<_> = cases_of(&formats, &colorimetries)
            .into_iter()
            .map(|(format, c)| (format, c, planes(format, w, h, &rgb, &c)))
            .collect();
        let pageable: Vec<SourceFrame> = datas
            .iter()
            .map(|(format, c, data)| {
                SourceFrame::new(
                    *format,
                    w,
                    h,
                    data.iter().map(|(d, s)| (&d[..], *s)).collect(),
                )
                .unwrap()
                .with_colorimetry(*c)
            })
            .collect();
        let total: usize = pageable.iter().map(SourceFrame::held_bytes).sum();
        let mut store = Pinned::<u8>::alloc(&ctx, total, false).unwrap();
        let locked = copy_frames_into(&pageable, store.host().unwrap());
        assert!(
            locked
                .iter()
                .all(|f| f.planes.iter().all(|(d, _)| is_page_locked(d))),
            "pinned memory not seen as page-locked"
        );
        assert!(!is_page_locked(&rgb), "a Vec seen as page-locked");
        for (name, input, iw, ih, mode) in &inputs {
            let g = Geometry::new(w as u32, h as u32, *iw, *ih, *mode);
            let want: Vec<Vec<f32>> = pageable
                .iter()
                .map(|f| values(cpu.run(f, &g, input).0))
                .collect();
            let item_len = want[0].len();
            for (kind, frames) in [("pageable", &pageable), ("page-locked", &locked)] {
                let got = gpu_batch(&stream, &mut gpu, frames, &g, input, item_len);
                let bad = differing(&got, &want);
                cases += 1;
                if bad > 0 {
                    failed += 1;
                }
                println!(
                    "batch of {} {w}x{h} frames ({:.1} MB, {kind}) {name}: {bad} items differ",
                    frames.len(),
                    total as f64 / 1e6
                );
            }
        }
    }
    println!(
        "RESULT {cases} cases, {failed} with differences (GPU vs CPU pre-processing, bit for bit)"
    );
    std::process::exit(i32::from(failed > 0));
}
