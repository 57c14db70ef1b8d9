// SPDX-License-Identifier: MPL-2.0
//! One loaded model shared by several streams of a process, with a scheduler that runs their
//! frames in batches.
//!
//! Streams join a named group and get a [`SharedHandle`], itself an [`Engine`]: the estimator
//! of each stream prepares and decodes its own frames as before, and only the network run goes
//! through the group. A worker thread owns the real engine; it runs a batch when `max_batch`
//! requests wait, when every member of the group is waiting, or when `timeout` has passed since
//! the oldest request arrived. Each request gets back its own slice of the outputs, so a
//! frame's people can only come from that frame.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, SyncSender};
use std::sync::{Arc, LazyLock, Mutex, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{Backend, Engine, EngineError, EngineOptions, FrameJob};
use crate::frame::{Colorimetry, PixelFormat, SourceFrame};
use crate::pose::Geometry;
use crate::tensor::{InputData, InputFormat, OutputBuffer, TensorSpec};

/// What every member of a group must agree on: it decides the model that is loaded and how
/// batches are formed.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupConfig {
    pub model: PathBuf,
    pub options: EngineOptions,
    /// Most frames per run; capped by a model whose batch dimension is fixed.
    pub max_batch: usize,
    /// Longest time the oldest waiting frame waits for others.
    pub timeout: Duration,
    /// Engines (copies of the model) running batches side by side: on a GPU a second one
    /// overlaps one batch's copies and decoding with the next one's network.
    pub instances: usize,
}

impl GroupConfig {
    /// The settings where `other` differs from `self`, named as the element names them.
    pub fn differences(&self, other: &GroupConfig) -> Vec<&'static str> {
        let (a, b) = (&self.options, &other.options);
        let checks = [
            ("model", self.model != other.model),
            ("backend", a.backend != b.backend),
            ("precision", a.precision != b.precision),
            ("device-id", a.device_id != b.device_id),
            ("threads", a.threads != b.threads),
            ("gpu-mem-limit", a.gpu_mem_limit != b.gpu_mem_limit),
            ("engine-cache", a.engine_cache != b.engine_cache),
            ("cuda-graph", a.cuda_graph != b.cuda_graph),
            ("cuda-nhwc", a.cuda_prefer_nhwc != b.cuda_prefer_nhwc),
            ("gpu-preprocess", a.gpu_preprocess != b.gpu_preprocess),
            ("max-batch", self.max_batch != other.max_batch),
            ("batch-timeout", self.timeout != other.timeout),
            ("shared-instances", self.instances != other.instances),
        ];
        let mut out: Vec<&'static str> = checks
            .iter()
            .filter(|(_, differs)| *differs)
            .map(|(name, _)| *name)
            .collect();
        // Anything else in the options (added later) still counts.
        if out.is_empty() && a != b {
            out.push("engine options");
        }
        out
    }
}

/// Joining a group failed.
#[derive(Debug, thiserror::Error)]
pub enum ShareError {
    #[error(
        "shared engine '{group}' is already loaded with other settings ({}); every element naming it must set them alike",
        .differences.join(", ")
    )]
    Mismatch {
        group: String,
        differences: Vec<&'static str>,
    },
    #[error("cannot load the model for shared engine '{group}': {source}")]
    Load {
        group: String,
        #[source]
        source: EngineError,
    },
    #[error("cannot start the scheduler thread of shared engine '{group}': {reason}")]
    Thread { group: String, reason: String },
}

/// Counters of a group, for reports and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GroupStats {
    /// Members now in the group.
    pub members: usize,
    /// Engines loaded for the group since it formed (one unless it was re-formed).
    pub loads: usize,
    pub batches: u64,
    pub frames: u64,
    /// Largest batch run.
    pub max_fill: usize,
    /// Images added to fill runs up to a fixed batch (GPU, or a model's fixed batch size).
    pub padded: u64,
    /// Total time requests waited before their batch started.
    pub wait: Duration,
}

impl GroupStats {
    /// Mean frames per run.
    pub fn mean_fill(&self) -> f64 {
        if self.batches == 0 {
            0.0
        } else {
            self.frames as f64 / self.batches as f64
        }
    }
}

static GROUPS: LazyLock<Mutex<HashMap<String, Weak<Group>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// Joins the group `name`, loading its engines with `load` if the group is not loaded yet.
/// `load` runs once per instance when the group forms, under the registry lock, so two
/// elements starting together never load the model twice.
pub fn join(
    name: &str,
    config: GroupConfig,
    mut load: impl FnMut() -> Result<Box<dyn Engine>, EngineError>,
) -> Result<SharedHandle, ShareError> {
    let mut groups = GROUPS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(group) = groups.get(name).and_then(Weak::upgrade) {
        let differences = group.config.differences(&config);
        if !differences.is_empty() {
            return Err(ShareError::Mismatch {
                group: name.to_string(),
                differences,
            });
        }
        return Ok(SharedHandle::new(group));
    }
    let engines = (0..config.instances.max(1))
        .map(|_| load())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| ShareError::Load {
            group: name.to_string(),
            source,
        })?;
    let loads = {
        let mut all = LOADS.lock().unwrap_or_else(|e| e.into_inner());
        let n = all.entry(name.to_string()).or_insert(0);
        *n += 1;
        *n
    };
    let group = Group::start(name, config, engines, loads)?;
    groups.retain(|_, g| g.strong_count() > 0);
    groups.insert(name.to_string(), Arc::downgrade(&group));
    Ok(SharedHandle::new(group))
}

/// How many times each group's engine was loaded in this process.
static LOADS: LazyLock<Mutex<HashMap<String, usize>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// The counters of a loaded group; `None` when no element holds it.
pub fn stats(name: &str) -> Option<GroupStats> {
    let groups = GROUPS.lock().unwrap_or_else(|e| e.into_inner());
    let group = groups.get(name)?.upgrade()?;
    let mut s = *group.stats.lock().unwrap_or_else(|e| e.into_inner());
    s.members = group.members.load(Ordering::SeqCst);
    Some(s)
}

/// An owned copy of a frame, so a frame can wait for a batch on another thread.
struct OwnedFrame {
    format: PixelFormat,
    width: usize,
    height: usize,
    planes: Vec<(Vec<u8>, usize)>,
    colorimetry: Colorimetry,
}

impl OwnedFrame {
    fn copy(f: &SourceFrame) -> Self {
        OwnedFrame {
            format: f.format,
            width: f.width,
            height: f.height,
            planes: f.planes.iter().map(|(d, s)| (d.to_vec(), *s)).collect(),
            colorimetry: f.colorimetry,
        }
    }

    fn view(&self) -> SourceFrame<'_> {
        SourceFrame {
            format: self.format,
            width: self.width,
            height: self.height,
            planes: self
                .planes
                .iter()
                .map(|(d, s)| (d.as_slice(), *s))
                .collect(),
            colorimetry: self.colorimetry,
        }
    }
}

enum Input {
    F32(Vec<f32>),
    I32(Vec<i32>),
}

/// What a member asks the worker to run: a prepared tensor, or a frame the engine prepares
/// itself (on the GPU).
enum Work {
    Tensor {
        input: Input,
        shape: Vec<usize>,
    },
    Frame {
        frame: OwnedFrame,
        geometry: Geometry,
        format: InputFormat,
    },
}

impl Work {
    /// Images in this request (a member may send a batch of its own).
    fn images(&self) -> usize {
        match self {
            Work::Tensor { shape, .. } => shape.first().copied().unwrap_or(1),
            Work::Frame { .. } => 1,
        }
    }

    /// Requests that can share one run: same kind, element type and per-image shape.
    fn batches_with(&self, other: &Work) -> bool {
        match (self, other) {
            (
                Work::Tensor {
                    input: a,
                    shape: sa,
                },
                Work::Tensor {
                    input: b,
                    shape: sb,
                },
            ) => {
                matches!(
                    (a, b),
                    (Input::F32(_), Input::F32(_)) | (Input::I32(_), Input::I32(_))
                ) && sa.get(1..) == sb.get(1..)
            }
            (
                Work::Frame {
                    geometry: ga,
                    format: fa,
                    ..
                },
                Work::Frame {
                    geometry: gb,
                    format: fb,
                    ..
                },
            ) => fa == fb && (ga.input_w, ga.input_h) == (gb.input_w, gb.input_h),
            _ => false,
        }
    }
}

type Reply = Result<Vec<OutputBuffer>, EngineError>;

struct Request {
    work: Work,
    arrived: Instant,
    reply: SyncSender<Reply>,
}

struct Group {
    name: String,
    config: GroupConfig,
    backend: Backend,
    inputs: Vec<TensorSpec>,
    outputs: Vec<TensorSpec>,
    preprocessing: String,
    device_prep: bool,
    members: Arc<AtomicUsize>,
    stats: Arc<Mutex<GroupStats>>,
    sender: Mutex<Option<Sender<Request>>>,
    workers: Mutex<Vec<JoinHandle<()>>>,
}

impl Group {
    fn start(
        name: &str,
        config: GroupConfig,
        engines: Vec<Box<dyn Engine>>,
        loads: usize,
    ) -> Result<Arc<Group>, ShareError> {
        let engine = &engines[0];
        // A fixed batch dimension caps the batch (1 = shared memory, no batching) and every
        // run must fill it. On a GPU every run is padded to the full batch too: a shape that
        // changes from run to run re-binds device buffers and re-plans the network, which
        // cost an H200 200 ms a run (19.7 frames/s instead of 1,800).
        let fixed = match engine.inputs().first().and_then(|i| i.shape.first()) {
            Some(&n) if n > 0 => Some(n as usize),
            _ => None,
        };
        let max_batch = fixed
            .map_or(config.max_batch, |n| config.max_batch.min(n))
            .max(1);
        let pad_to = match fixed {
            Some(n) if n > 1 => Some(n),
            Some(_) => None,
            None if engine.backend() != Backend::Cpu && max_batch > 1 => Some(max_batch),
            None => None,
        };
        let members = Arc::new(AtomicUsize::new(0));
        let stats = Arc::new(Mutex::new(GroupStats {
            loads,
            ..Default::default()
        }));
        let (tx, rx) = mpsc::channel();
        let preprocessing = engine.preprocessing();
        let device_prep = preprocessing == "gpu";
        let group = Arc::new(Group {
            name: name.to_string(),
            backend: engine.backend(),
            inputs: engine.inputs().to_vec(),
            outputs: engine.outputs().to_vec(),
            preprocessing,
            device_prep,
            members: members.clone(),
            stats: stats.clone(),
            sender: Mutex::new(Some(tx)),
            workers: Mutex::new(Vec::new()),
            config,
        });
        let queue = Arc::new(Mutex::new(Queue {
            rx,
            pending: VecDeque::new(),
        }));
        let in_flight = Arc::new(AtomicUsize::new(0));
        for (k, engine) in engines.into_iter().enumerate() {
            let scheduler = Scheduler {
                engine,
                queue: queue.clone(),
                max_batch,
                pad_to,
                timeout: group.config.timeout,
                members: members.clone(),
                in_flight: in_flight.clone(),
                stats: stats.clone(),
                outputs: Vec::new(),
                f32s: Vec::new(),
                i32s: Vec::new(),
            };
            let worker = std::thread::Builder::new()
                .name(format!("shared-engine-{name}-{k}"))
                .spawn(move || scheduler.run())
                .map_err(|e| ShareError::Thread {
                    group: name.to_string(),
                    reason: e.to_string(),
                })?;
            group
                .workers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(worker);
        }
        Ok(group)
    }

    fn submit(&self, work: Work) -> Reply {
        let (reply, answer) = mpsc::sync_channel(1);
        let request = Request {
            work,
            arrived: Instant::now(),
            reply,
        };
        let sent = self
            .sender
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|tx| tx.send(request).is_ok())
            .unwrap_or(false);
        if !sent {
            return Err(self.stopped());
        }
        answer.recv().unwrap_or_else(|_| Err(self.stopped()))
    }

    fn stopped(&self) -> EngineError {
        EngineError::Runtime(format!("shared engine '{}' stopped", self.name))
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        // Closing the channel ends the worker once it has answered what it holds.
        self.sender.lock().unwrap_or_else(|e| e.into_inner()).take();
        let workers = std::mem::take(&mut *self.workers.lock().unwrap_or_else(|e| e.into_inner()));
        for worker in workers {
            let _ = worker.join();
        }
    }
}

/// Where requests wait; one instance at a time gathers its batch from it.
struct Queue {
    rx: Receiver<Request>,
    /// Requests received but left out of the last batch (another shape).
    pending: VecDeque<Request>,
}

/// One instance: its engine runs the batches it gathers.
struct Scheduler {
    engine: Box<dyn Engine>,
    queue: Arc<Mutex<Queue>>,
    max_batch: usize,
    /// Images every run is padded to (repeating the last one), when the shape must not vary.
    pad_to: Option<usize>,
    timeout: Duration,
    members: Arc<AtomicUsize>,
    /// Frames in batches other instances are running: their streams cannot submit now.
    in_flight: Arc<AtomicUsize>,
    stats: Arc<Mutex<GroupStats>>,
    outputs: Vec<OutputBuffer>,
    f32s: Vec<f32>,
    i32s: Vec<i32>,
}

impl Scheduler {
    fn run(mut self) {
        loop {
            let Some((batch, closed)) = self.gather() else {
                return;
            };
            let n = batch.len();
            self.in_flight.fetch_add(n, Ordering::SeqCst);
            self.run_batch(batch);
            self.in_flight.fetch_sub(n, Ordering::SeqCst);
            if closed {
                return;
            }
        }
    }

    /// The next batch, and whether the group is closing; `None` once it closed and nothing
    /// is left. Holds the queue while gathering, so instances take turns.
    fn gather(&mut self) -> Option<(Vec<Request>, bool)> {
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        let q = &mut *queue;
        let first = match q.pending.pop_front() {
            Some(r) => r,
            None => q.rx.recv().ok()?,
        };
        let deadline = first.arrived + self.timeout;
        let mut batch = vec![first];
        // Others with the same shape already waiting join at once.
        let mut i = 0;
        while i < q.pending.len() && batch.len() < self.max_batch {
            if q.pending[i].work.batches_with(&batch[0].work) {
                batch.push(q.pending.remove(i).expect("index checked"));
            } else {
                i += 1;
            }
        }
        let mut closed = false;
        while batch.len() < self.max_batch {
            // Every member is waiting here or in a running batch: nobody else can come.
            let waiting = batch.len() + q.pending.len() + self.in_flight.load(Ordering::SeqCst);
            if waiting >= self.members.load(Ordering::SeqCst) {
                break;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match q.rx.recv_timeout(left) {
                Ok(r) if r.work.batches_with(&batch[0].work) => batch.push(r),
                Ok(r) => q.pending.push_back(r),
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => {
                    closed = true;
                    break;
                }
            }
        }
        Some((batch, closed && q.pending.is_empty()))
    }

    fn run_batch(&mut self, batch: Vec<Request>) {
        let started = Instant::now();
        let mut counts: Vec<usize> = batch.iter().map(|r| r.work.images()).collect();
        let n = counts.iter().sum::<usize>();
        let padding = self.pad_to.map_or(0, |p| p.saturating_sub(n));
        let result = self.execute(&batch, n, padding);
        counts.push(padding);
        if let Ok(mut s) = self.stats.lock() {
            s.batches += 1;
            s.frames += n as u64;
            s.max_fill = s.max_fill.max(n);
            s.padded += padding as u64;
            s.wait += batch
                .iter()
                .map(|r| started.saturating_duration_since(r.arrived))
                .sum::<Duration>();
        }
        match result {
            Ok(()) => match split(&self.outputs, &counts) {
                Ok(items) => {
                    for (request, outputs) in batch.into_iter().zip(items) {
                        let _ = request.reply.send(Ok(outputs));
                    }
                }
                Err(e) => reply_all(batch, &e),
            },
            Err(e) => reply_all(batch, &e),
        }
    }

    /// Runs the requests (`images` in all) as one batch, followed by `padding` copies of the
    /// last image.
    fn execute(
        &mut self,
        batch: &[Request],
        images: usize,
        padding: usize,
    ) -> Result<(), EngineError> {
        match &batch[0].work {
            Work::Frame { format, .. } => {
                let format = *format;
                let views: Vec<(SourceFrame, Geometry)> = batch
                    .iter()
                    .filter_map(|r| match &r.work {
                        Work::Frame {
                            frame, geometry, ..
                        } => Some((frame.view(), *geometry)),
                        Work::Tensor { .. } => None,
                    })
                    .collect();
                let mut jobs: Vec<FrameJob> = views
                    .iter()
                    .map(|(frame, geometry)| FrameJob {
                        frame,
                        geometry: *geometry,
                    })
                    .collect();
                if let Some(last) = jobs.last().cloned() {
                    jobs.extend(std::iter::repeat_n(last, padding));
                }
                if self.engine.run_frames(&jobs, &format, &mut self.outputs)? {
                    Ok(())
                } else {
                    Err(EngineError::Runtime(
                        "the shared engine no longer prepares frames itself".into(),
                    ))
                }
            }
            Work::Tensor { shape, .. } => {
                let mut shape = shape.clone();
                if let Some(first) = shape.first_mut() {
                    *first = images + padding;
                }
                self.f32s.clear();
                self.i32s.clear();
                for r in batch {
                    match &r.work {
                        Work::Tensor {
                            input: Input::F32(d),
                            ..
                        } => self.f32s.extend_from_slice(d),
                        Work::Tensor {
                            input: Input::I32(d),
                            ..
                        } => self.i32s.extend_from_slice(d),
                        Work::Frame { .. } => {}
                    }
                }
                // Padding repeats the last image.
                let per = (self.f32s.len() + self.i32s.len()) / images.max(1);
                for _ in 0..padding {
                    if !self.f32s.is_empty() {
                        self.f32s.extend_from_within(self.f32s.len() - per..);
                    } else if !self.i32s.is_empty() {
                        self.i32s.extend_from_within(self.i32s.len() - per..);
                    }
                }
                let input = if self.i32s.is_empty() {
                    InputData::F32(&self.f32s)
                } else {
                    InputData::I32(&self.i32s)
                };
                self.engine.run(input, &shape, &mut self.outputs)
            }
        }
    }
}

/// Cuts each output of a run into one set of outputs per request, `counts[i]` images each.
fn split(
    outputs: &[OutputBuffer],
    counts: &[usize],
) -> Result<Vec<Vec<OutputBuffer>>, EngineError> {
    let n: usize = counts.iter().sum();
    let mut items: Vec<Vec<OutputBuffer>> = counts.iter().map(|_| Vec::new()).collect();
    for o in outputs {
        if n == 0 || o.shape.first() != Some(&n) || o.data.len() % n != 0 {
            return Err(EngineError::Inference(format!(
                "output of shape {:?} does not hold a batch of {n}",
                o.shape
            )));
        }
        let per = o.data.len() / n;
        let mut at = 0;
        for (item, &count) in items.iter_mut().zip(counts) {
            let mut shape = o.shape.clone();
            shape[0] = count;
            item.push(OutputBuffer {
                data: o.data[at..at + per * count].to_vec(),
                shape,
            });
            at += per * count;
        }
    }
    Ok(items)
}

/// The same failure for every request of a batch (the variant decides the failover).
fn reply_all(batch: Vec<Request>, error: &EngineError) {
    for request in batch {
        let _ = request.reply.send(Err(error.clone()));
    }
}

/// A member's view of a group: an [`Engine`] whose runs are batched with the other members'.
pub struct SharedHandle {
    group: Arc<Group>,
}

impl SharedHandle {
    fn new(group: Arc<Group>) -> Self {
        group.members.fetch_add(1, Ordering::SeqCst);
        SharedHandle { group }
    }

    /// The group's name.
    pub fn group(&self) -> &str {
        &self.group.name
    }

    /// Members now in the group, this one included.
    pub fn members(&self) -> usize {
        self.group.members.load(Ordering::SeqCst)
    }
}

impl Drop for SharedHandle {
    fn drop(&mut self) {
        self.group.members.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Engine for SharedHandle {
    fn backend(&self) -> Backend {
        self.group.backend
    }

    fn inputs(&self) -> &[TensorSpec] {
        &self.group.inputs
    }

    fn outputs(&self) -> &[TensorSpec] {
        &self.group.outputs
    }

    fn run(
        &mut self,
        input: InputData,
        shape: &[usize],
        outputs: &mut Vec<OutputBuffer>,
    ) -> Result<(), EngineError> {
        let input = match input {
            InputData::F32(d) => Input::F32(d.to_vec()),
            InputData::I32(d) => Input::I32(d.to_vec()),
        };
        *outputs = self.group.submit(Work::Tensor {
            input,
            shape: shape.to_vec(),
        })?;
        Ok(())
    }

    fn run_frames(
        &mut self,
        frames: &[FrameJob],
        format: &InputFormat,
        outputs: &mut Vec<OutputBuffer>,
    ) -> Result<bool, EngineError> {
        // Estimators hand single frames; a batch from one member goes through unbatched.
        let [job] = frames else {
            return Ok(false);
        };
        if !self.group.device_prep {
            return Ok(false);
        }
        *outputs = self.group.submit(Work::Frame {
            frame: OwnedFrame::copy(job.frame),
            geometry: job.geometry,
            format: *format,
        })?;
        Ok(true)
    }

    fn preprocessing(&self) -> String {
        format!(
            "{} (shared engine '{}')",
            self.group.preprocessing, self.group.name
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn output(batch: usize, per: usize) -> OutputBuffer {
        OutputBuffer {
            data: (0..batch * per).map(|v| v as f32).collect(),
            shape: vec![batch, per],
        }
    }

    #[test]
    fn a_run_is_cut_back_into_each_request_in_order() {
        let items = split(&[output(4, 3), output(4, 1)], &[1, 2, 1]).unwrap();
        assert_eq!(items.len(), 3);
        assert_eq!(items[0][0].data, [0.0, 1.0, 2.0]);
        assert_eq!(items[1][0].data, [3.0, 4.0, 5.0, 6.0, 7.0, 8.0]);
        assert_eq!(items[1][0].shape, [2, 3]);
        assert_eq!(items[2][0].data, [9.0, 10.0, 11.0]);
        assert_eq!(items[2][1].data, [3.0]);
        assert_eq!(items[2][1].shape, [1, 1]);
    }

    #[test]
    fn an_output_without_the_batch_dimension_is_an_error_not_a_mixup() {
        assert!(split(&[output(1, 4)], &[1, 1]).is_err());
        assert!(split(&[output(2, 4)], &[]).is_err());
    }

    #[test]
    fn differences_name_the_element_properties() {
        let a = GroupConfig {
            model: "/m.onnx".into(),
            options: EngineOptions::default(),
            max_batch: 8,
            timeout: Duration::from_millis(10),
            instances: 1,
        };
        assert!(a.differences(&a.clone()).is_empty());
        let mut b = a.clone();
        b.options.threads = 2;
        b.max_batch = 4;
        assert_eq!(a.differences(&b), ["threads", "max-batch"]);
        let mut c = a.clone();
        c.options.int8_calibration = Some("/c".into());
        assert_eq!(a.differences(&c), ["engine options"]);
        let mut d = a.clone();
        d.instances = 2;
        assert_eq!(a.differences(&d), ["shared-instances"]);
    }
}
