// SPDX-License-Identifier: MPL-2.0
//! trt_pose's post-processing ("parse"): part confidence maps + part affinity fields → people.
//!
//! A port of the algorithm in `specs/trt_pose_parse.md`, float32 throughout and without fused
//! multiply-add, so that it reproduces trt_pose's own C++ parser bit for bit. All buffers live
//! in [`TrtPoseParser`] and are reused, so steady-state parsing allocates nothing.

use std::collections::VecDeque;

use super::munkres::Munkres;
use super::topology::Topology;
use super::{Keypoint, Person, below};

/// Parse parameters that cannot work (the element's properties name them).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParseParamsError {
    #[error("line-integral-samples must be at least 2 (got {0})")]
    LineIntegralSamples(usize),
    #[error("cmap-window must be at least 1")]
    CmapWindow,
    #[error("max-num-parts and max-num-objects must be at least 1")]
    MaxCounts,
    #[error("thresholds must be finite")]
    Thresholds,
}

/// Maps that do not fit their data, each other or the topology.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MapError {
    #[error("map has {len} values, expected {channels}x{height}x{width} = {needed}")]
    Size {
        len: usize,
        channels: usize,
        height: usize,
        width: usize,
        needed: usize,
    },
    #[error("cmap has {channels} channels but the topology has {parts} keypoints")]
    CmapChannels { channels: usize, parts: usize },
    #[error("paf has {channels} channels but the topology's {links} links need {needed}")]
    PafChannels {
        channels: usize,
        links: usize,
        needed: usize,
    },
    #[error("cmap is {cmap_h}x{cmap_w} but paf is {paf_h}x{paf_w}")]
    Sizes {
        cmap_h: usize,
        cmap_w: usize,
        paf_h: usize,
        paf_w: usize,
    },
}

/// The six parameters of trt_pose's `ParseObjects`, with its defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ParseParams {
    /// Minimum cmap value of a peak (inclusive).
    pub cmap_threshold: f32,
    /// Minimum link score of a connection (exclusive).
    pub link_threshold: f32,
    /// Window size of the peak test and of the refinement.
    pub cmap_window: usize,
    /// Samples on each candidate segment of the PAF line integral (at least 2).
    pub line_integral_samples: usize,
    /// Peaks kept per part, in raster order.
    pub max_num_parts: usize,
    /// People kept per image.
    pub max_num_objects: usize,
}

impl Default for ParseParams {
    fn default() -> Self {
        ParseParams {
            cmap_threshold: 0.1,
            link_threshold: 0.1,
            cmap_window: 5,
            line_integral_samples: 7,
            max_num_parts: 100,
            max_num_objects: 100,
        }
    }
}

impl ParseParams {
    pub fn validate(&self) -> Result<(), ParseParamsError> {
        if self.line_integral_samples < 2 {
            return Err(ParseParamsError::LineIntegralSamples(
                self.line_integral_samples,
            ));
        }
        if self.cmap_window == 0 {
            return Err(ParseParamsError::CmapWindow);
        }
        if self.max_num_parts == 0 || self.max_num_objects == 0 {
            return Err(ParseParamsError::MaxCounts);
        }
        if !self.cmap_threshold.is_finite() || !self.link_threshold.is_finite() {
            return Err(ParseParamsError::Thresholds);
        }
        Ok(())
    }
}

/// Memory layout of a map tensor of one image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `[C][H][W]`, as PyTorch and torch2trt produce.
    Chw,
    /// `[H][W][C]`, as trt_pose's isaac ONNX export produces.
    Hwc,
}

/// A borrowed `C × H × W` float map in either layout (no copy).
#[derive(Debug, Clone, Copy)]
pub struct MapView<'a> {
    data: &'a [f32],
    channels: usize,
    height: usize,
    width: usize,
    layout: Layout,
}

impl<'a> MapView<'a> {
    pub fn new(
        data: &'a [f32],
        channels: usize,
        height: usize,
        width: usize,
        layout: Layout,
    ) -> Result<Self, MapError> {
        let needed = channels * height * width;
        if data.len() != needed {
            return Err(MapError::Size {
                len: data.len(),
                channels,
                height,
                width,
                needed,
            });
        }
        Ok(MapView {
            data,
            channels,
            height,
            width,
            layout,
        })
    }

    pub fn channels(&self) -> usize {
        self.channels
    }
    pub fn height(&self) -> usize {
        self.height
    }
    pub fn width(&self) -> usize {
        self.width
    }

    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// Value at `(c, i, j)`; `HWC` is the layout as a constant so hot loops are compiled
    /// once per layout with the index arithmetic strength-reduced.
    #[inline(always)]
    fn at<const HWC: bool>(&self, c: usize, i: usize, j: usize) -> f32 {
        if HWC {
            self.data[(i * self.width + j) * self.channels + c]
        } else {
            self.data[(c * self.height + i) * self.width + j]
        }
    }
}

/// Reflects an index about the edge pixel (-1 → 1, n → n-2); clamped for windows larger than
/// the map, which upstream leaves undefined.
#[inline(always)]
fn mirror(t: isize, n: usize) -> usize {
    let n = n as isize;
    let m = if t < 0 {
        -t
    } else if t >= n {
        2 * n - 2 - t
    } else {
        t
    };
    m.clamp(0, n - 1) as usize
}

/// Largest value, NaN ignored (so a NaN-only slice never passes a threshold). Eight
/// independent lanes keep the loop free of a serial dependency so it vectorizes; a maximum
/// is exact in any order.
#[inline]
fn max_of(values: &[f32]) -> f32 {
    let mut lanes = [f32::NEG_INFINITY; 8];
    let mut chunks = values.chunks_exact(8);
    for c in &mut chunks {
        for l in 0..8 {
            lanes[l] = if c[l] > lanes[l] { c[l] } else { lanes[l] };
        }
    }
    for &x in chunks.remainder() {
        lanes[0] = if x > lanes[0] { x } else { lanes[0] };
    }
    lanes
        .into_iter()
        .fold(f32::NEG_INFINITY, |m, x| if x > m { x } else { m })
}

/// Largest magnitude a link score may have before it enters the assignment; finite inputs of
/// real networks stay far below, and it keeps float overflow out of the solver.
const SCORE_LIMIT: f32 = 1.0e6;

/// trt_pose parse workspace for one topology and parameter set.
#[derive(Debug)]
pub struct TrtPoseParser {
    params: ParseParams,
    /// `(paf_y_channel, paf_x_channel, source, destination)` per link.
    links: Vec<[usize; 4]>,
    num_parts: usize,
    height: usize,
    width: usize,
    counts: Vec<usize>,
    peaks: Vec<(i32, i32)>,
    /// Refined `(y, x)` normalized peaks.
    refined: Vec<(f32, f32)>,
    peak_values: Vec<f32>,
    scores: Vec<f32>,
    a_to_b: Vec<i32>,
    b_to_a: Vec<i32>,
    objects: Vec<i32>,
    object_count: usize,
    munkres: Munkres,
    /// Sample fractions when there are more samples than the stack buffer holds.
    fractions: Vec<f32>,
    /// Mirrored column index and coordinate of each refinement window column.
    window_cols: Vec<(usize, f32)>,
    visited: Vec<bool>,
    queue: VecDeque<(usize, usize)>,
}

impl TrtPoseParser {
    pub fn new(topology: &Topology, params: ParseParams) -> Result<Self, ParseParamsError> {
        params.validate()?;
        let num_parts = topology.num_parts();
        let num_links = topology.num_links();
        let m = params.max_num_parts;
        Ok(TrtPoseParser {
            params,
            links: topology.trt_pose_rows(),
            num_parts,
            height: 0,
            width: 0,
            counts: vec![0; num_parts],
            peaks: vec![(0, 0); num_parts * m],
            refined: vec![(0.0, 0.0); num_parts * m],
            peak_values: vec![0.0; num_parts * m],
            scores: vec![0.0; num_links * m * m],
            a_to_b: vec![-1; num_links * m],
            b_to_a: vec![-1; num_links * m],
            objects: vec![-1; params.max_num_objects * num_parts],
            object_count: 0,
            munkres: Munkres::new(),
            fractions: Vec::new(),
            window_cols: Vec::new(),
            visited: vec![false; num_parts * m],
            queue: VecDeque::with_capacity(num_parts * m),
        })
    }

    pub fn params(&self) -> &ParseParams {
        &self.params
    }

    pub fn num_parts(&self) -> usize {
        self.num_parts
    }

    pub fn num_links(&self) -> usize {
        self.links.len()
    }

    /// Runs all stages on one image. `cmap` has `C` channels, `paf` `2K`, same `H × W`.
    pub fn parse(&mut self, cmap: &MapView, paf: &MapView) -> Result<(), MapError> {
        if cmap.channels != self.num_parts {
            return Err(MapError::CmapChannels {
                channels: cmap.channels,
                parts: self.num_parts,
            });
        }
        if paf.channels != 2 * self.links.len() {
            return Err(MapError::PafChannels {
                channels: paf.channels,
                links: self.links.len(),
                needed: 2 * self.links.len(),
            });
        }
        if (paf.height, paf.width) != (cmap.height, cmap.width) {
            return Err(MapError::Sizes {
                cmap_h: cmap.height,
                cmap_w: cmap.width,
                paf_h: paf.height,
                paf_w: paf.width,
            });
        }
        self.height = cmap.height;
        self.width = cmap.width;
        match cmap.layout {
            Layout::Chw => {
                self.find_peaks::<false>(cmap);
                self.refine_peaks::<false>(cmap);
            }
            Layout::Hwc => {
                self.find_peaks::<true>(cmap);
                self.refine_peaks::<true>(cmap);
            }
        }
        match paf.layout {
            Layout::Chw => self.score_links::<false>(paf),
            Layout::Hwc => self.score_links::<true>(paf),
        }
        self.assign_links();
        self.connect_parts();
        Ok(())
    }

    /// Stage 1: non-strict local maxima at or above the threshold, in raster order.
    #[inline(never)]
    fn find_peaks<const HWC: bool>(&mut self, cmap: &MapView) {
        let (h, w) = (cmap.height, cmap.width);
        let m = self.params.max_num_parts;
        let r = self.params.cmap_window / 2;
        let threshold = self.params.cmap_threshold;
        const CHUNK: usize = 8;
        for c in 0..self.num_parts {
            let mut count = 0;
            'scan: for i in 0..h {
                if !HWC {
                    let row = &cmap.data[(c * h + i) * w..(c * h + i + 1) * w];
                    if below(max_of(row), threshold) {
                        continue;
                    }
                }
                let mut j = 0;
                while j < w {
                    // Most pixels are below the threshold: in CHW rows, skip whole chunks
                    // whose maximum is below it (NaN never passes either way).
                    if !HWC && j % CHUNK == 0 && j + CHUNK <= w {
                        let start = (c * h + i) * w + j;
                        if below(max_of(&cmap.data[start..start + CHUNK]), threshold) {
                            j += CHUNK;
                            continue;
                        }
                    }
                    let jj_here = j;
                    j += 1;
                    let j = jj_here;
                    let v = cmap.at::<HWC>(c, i, j);
                    // Also rejects NaN, which upstream would turn into a NaN peak.
                    if below(v, threshold) {
                        continue;
                    }
                    // A larger direct neighbour (inside every window of radius >= 1) rejects
                    // most candidates without reading the whole window.
                    if r >= 1
                        && ((j + 1 < w && cmap.at::<HWC>(c, i, j + 1) > v)
                            || (i + 1 < h && cmap.at::<HWC>(c, i + 1, j) > v)
                            || (j > 0 && cmap.at::<HWC>(c, i, j - 1) > v)
                            || (i > 0 && cmap.at::<HWC>(c, i - 1, j) > v))
                    {
                        continue;
                    }
                    let (j0, j1) = (j.saturating_sub(r), (j + r).min(w - 1));
                    let mut is_peak = true;
                    for ii in i.saturating_sub(r)..=(i + r).min(h - 1) {
                        let greater = if HWC {
                            (j0..=j1).any(|jj| cmap.at::<HWC>(c, ii, jj) > v)
                        } else {
                            let base = (c * h + ii) * w;
                            cmap.data[base + j0..=base + j1].iter().any(|&x| x > v)
                        };
                        if greater {
                            is_peak = false;
                            break;
                        }
                    }
                    if is_peak {
                        self.peaks[c * m + count] = (i as i32, j as i32);
                        self.peak_values[c * m + count] = v;
                        count += 1;
                        if count == m {
                            break 'scan;
                        }
                    }
                }
            }
            self.counts[c] = count;
        }
    }

    /// Stage 2: weighted mean over a mirrored window, normalized to pixel centres.
    /// Peaks whose estimate is not finite (zero weight, non-finite input) are dropped.
    #[inline(never)]
    fn refine_peaks<const HWC: bool>(&mut self, cmap: &MapView) {
        let (h, w) = (cmap.height, cmap.width);
        let m = self.params.max_num_parts;
        let r = (self.params.cmap_window / 2) as isize;
        let (hf, wf) = (h as f32, w as f32);
        let mut cols = std::mem::take(&mut self.window_cols);
        for c in 0..self.num_parts {
            let mut kept = 0;
            for p in 0..self.counts[c] {
                let (i, j) = self.peaks[c * m + p];
                let (i, j) = (i as isize, j as isize);
                let (mut sy, mut sx, mut sw) = (0.0f32, 0.0f32, 0.0f32);
                cols.clear();
                cols.extend(((j - r)..=(j + r)).map(|v| (mirror(v, w), v as f32)));
                for u in (i - r)..=(i + r) {
                    let mu = mirror(u, h);
                    let uf = u as f32;
                    for &(mv, vf) in cols.iter() {
                        let weight = cmap.at::<HWC>(c, mu, mv);
                        sy += weight * uf;
                        sx += weight * vf;
                        sw += weight;
                    }
                }
                let y = ((sy / sw) + 0.5) / hf;
                let x = ((sx / sw) + 0.5) / wf;
                if y.is_finite() && x.is_finite() {
                    self.peaks[c * m + kept] = self.peaks[c * m + p];
                    self.peak_values[c * m + kept] = self.peak_values[c * m + p];
                    self.refined[c * m + kept] = (y, x);
                    kept += 1;
                }
            }
            self.counts[c] = kept;
        }
        self.window_cols = cols;
    }

    /// Stage 3: PAF line integral between every source and destination peak of each link.
    #[inline(never)]
    fn score_links<const HWC: bool>(&mut self, paf: &MapView) {
        let (h, w) = (paf.height as i32, paf.width as i32);
        let (hf, wf) = (paf.height as f32, paf.width as f32);
        let m = self.params.max_num_parts;
        let samples = self.params.line_integral_samples;
        let samples_f = samples as f32;
        let den = samples_f - 1.0;
        // The sample fractions q / (S - 1), computed once with the same float operations.
        let mut fractions = [0.0f32; 64];
        let fractions: &[f32] = if samples <= fractions.len() {
            for (q, f) in fractions.iter_mut().enumerate().take(samples) {
                *f = q as f32 / den;
            }
            &fractions[..samples]
        } else {
            self.fractions.clear();
            self.fractions.extend((0..samples).map(|q| q as f32 / den));
            &self.fractions
        };
        for (k, &[cy, cx, a, b]) in self.links.iter().enumerate() {
            let (na, nb) = (self.counts[a], self.counts[b]);
            let block = &mut self.scores[k * m * m..k * m * m + na * nb];
            // Both components at one pixel: CHW reads two planes, HWC two adjacent channels.
            let plane = paf.height * paf.width;
            let (yplane, xplane) = if HWC {
                (paf.data, paf.data)
            } else {
                (
                    &paf.data[cy * plane..(cy + 1) * plane],
                    &paf.data[cx * plane..(cx + 1) * plane],
                )
            };
            let pixel = |row: usize, col: usize| -> (f32, f32) {
                if HWC {
                    let base = (row * paf.width + col) * paf.channels;
                    (paf.data[base + cy], paf.data[base + cx])
                } else {
                    let idx = row * paf.width + col;
                    (yplane[idx], xplane[idx])
                }
            };
            for s in 0..na {
                let (ya, xa) = self.refined[a * m + s];
                let (ay, ax) = (ya * hf, xa * wf);
                for t in 0..nb {
                    let (yb, xb) = self.refined[b * m + t];
                    let (by, bx) = (yb * hf, xb * wf);
                    let (dy, dx) = (by - ay, bx - ax);
                    // Upstream adds a double constant here, rounding back to float once.
                    let len = (f64::from((dy * dy + dx * dx).sqrt()) + 1e-5) as f32;
                    let (uy, ux) = (dy / len, dx / len);
                    let mut acc = 0.0f32;
                    for &f in fractions {
                        let py = ay + f * dy;
                        let px = ax + f * dx;
                        let (row, col) = (py as i32, px as i32);
                        if row < 0 || row >= h || col < 0 || col >= w {
                            continue;
                        }
                        let (vy, vx) = pixel(row as usize, col as usize);
                        acc += vy * uy + vx * ux;
                    }
                    let score = acc / samples_f;
                    block[s * nb + t] = if score.is_finite() {
                        score.clamp(-SCORE_LIMIT, SCORE_LIMIT)
                    } else {
                        0.0
                    };
                }
            }
        }
    }

    /// Stage 4: per-link optimal assignment, then the strict link threshold.
    #[inline(never)]
    fn assign_links(&mut self) {
        let m = self.params.max_num_parts;
        let threshold = self.params.link_threshold;
        for (k, &[_, _, a, b]) in self.links.iter().enumerate() {
            let (na, nb) = (self.counts[a], self.counts[b]);
            self.a_to_b[k * m..(k + 1) * m].fill(-1);
            self.b_to_a[k * m..(k + 1) * m].fill(-1);
            if na == 0 || nb == 0 {
                continue;
            }
            let block = &self.scores[k * m * m..k * m * m + na * nb];
            let stars = self.munkres.solve_max(block, na, nb);
            for (s, &t) in stars.iter().enumerate() {
                if t >= 0 && block[s * nb + t as usize] > threshold {
                    self.a_to_b[k * m + s] = t;
                    self.b_to_a[k * m + t as usize] = s as i32;
                }
            }
        }
    }

    /// Stage 5: breadth-first grouping of connected peaks into people.
    #[inline(never)]
    fn connect_parts(&mut self) {
        let m = self.params.max_num_parts;
        let c_total = self.num_parts;
        let max_objects = self.params.max_num_objects;
        self.visited.fill(false);
        self.objects.fill(-1);
        self.object_count = 0;
        for c in 0..c_total {
            if self.object_count >= max_objects {
                break;
            }
            for i in 0..self.counts[c] {
                if self.object_count >= max_objects {
                    break;
                }
                self.queue.clear();
                self.queue.push_back((c, i));
                let mut started = false;
                let base = self.object_count * c_total;
                while let Some((pc, pi)) = self.queue.pop_front() {
                    if self.visited[pc * m + pi] {
                        continue;
                    }
                    self.visited[pc * m + pi] = true;
                    started = true;
                    self.objects[base + pc] = pi as i32;
                    for (k, &[_, _, a, b]) in self.links.iter().enumerate() {
                        if a == pc {
                            let t = self.a_to_b[k * m + pi];
                            if t >= 0 {
                                self.queue.push_back((b, t as usize));
                            }
                        }
                        if b == pc {
                            let s = self.b_to_a[k * m + pi];
                            if s >= 0 {
                                self.queue.push_back((a, s as usize));
                            }
                        }
                    }
                }
                if started {
                    self.object_count += 1;
                }
            }
        }
    }

    pub fn peak_counts(&self) -> &[usize] {
        &self.counts
    }

    /// Integer `(row, col)` peaks of part `c` in discovery order.
    pub fn peaks(&self, c: usize) -> &[(i32, i32)] {
        let m = self.params.max_num_parts;
        &self.peaks[c * m..c * m + self.counts[c]]
    }

    /// Refined, normalized `(y, x)` peaks of part `c`.
    pub fn refined_peaks(&self, c: usize) -> &[(f32, f32)] {
        let m = self.params.max_num_parts;
        &self.refined[c * m..c * m + self.counts[c]]
    }

    /// Score matrix of link `k`, `count[src] × count[dst]`, row-major.
    pub fn link_scores(&self, k: usize) -> &[f32] {
        let m = self.params.max_num_parts;
        let [_, _, a, b] = self.links[k];
        &self.scores[k * m * m..k * m * m + self.counts[a] * self.counts[b]]
    }

    /// `(a_to_b, b_to_a)` of link `k`: matched peak on the other side or -1.
    pub fn connections(&self, k: usize) -> (&[i32], &[i32]) {
        let m = self.params.max_num_parts;
        let [_, _, a, b] = self.links[k];
        (
            &self.a_to_b[k * m..k * m + self.counts[a]],
            &self.b_to_a[k * m..k * m + self.counts[b]],
        )
    }

    pub fn object_count(&self) -> usize {
        self.object_count
    }

    /// Peak index per part of object `n` (-1 = missing).
    pub fn object(&self, n: usize) -> &[i32] {
        &self.objects[n * self.num_parts..(n + 1) * self.num_parts]
    }

    /// Converts the parsed objects into people with map-normalized `(x, y)` coordinates.
    ///
    /// Reuses the `Person` entries already in `out`. A person's score is the sum of its
    /// keypoint scores divided by the number of parts, so fragments rank low.
    pub fn people_into(&self, out: &mut Vec<Person>) {
        let m = self.params.max_num_parts;
        out.truncate(self.object_count);
        for n in 0..self.object_count {
            if n == out.len() {
                out.push(Person::default());
            }
            let person = &mut out[n];
            person.keypoints.clear();
            person.links.clear();
            let mut total = 0.0;
            for (c, &idx) in self.object(n).iter().enumerate() {
                person.keypoints.push((idx >= 0).then(|| {
                    let (y, x) = self.refined[c * m + idx as usize];
                    let score = self.peak_values[c * m + idx as usize];
                    total += score;
                    Keypoint { x, y, score }
                }));
            }
            for (k, &[_, _, a, b]) in self.links.iter().enumerate() {
                if person.keypoints[a].is_some() && person.keypoints[b].is_some() {
                    person.links.push(k);
                }
            }
            person.score = total / self.num_parts as f32;
            person.update_bbox(f32::NEG_INFINITY);
        }
    }
}
