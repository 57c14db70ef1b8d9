// SPDX-License-Identifier: MPL-2.0
//! `bench --streams N`: N streams, each a thread with its own estimator (pre-processing and
//! decoding), all running the network through one shared engine (`trtposeinfer
//! shared-engine`), against one stream alone on a private engine. Prints aggregate frames per
//! second, the ratio, the batch fill and the time frames waited for their batch.

use std::path::Path;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use gsttrtpose::engine::{BackendRequest, Engine, EngineOptions, OrtRuntime, select, shared};
use gsttrtpose::model::{EstimatorConfig, PoseEstimator};
use gsttrtpose::pose::Person;

use crate::frames::TestFrame;

pub struct StreamsSetup {
    pub streams: usize,
    pub iterations: usize,
    pub backend: BackendRequest,
    pub threads: usize,
    pub max_batch: usize,
    pub timeout: Duration,
    pub instances: usize,
}

const GROUP: &str = "trtposeconvert-bench";

type EngineSource<'a> = &'a (dyn Fn() -> Result<Box<dyn Engine>, String> + Sync);

/// Runs `streams` threads of `iterations` frames each, engines from `engine()` loaded before
/// the clock starts. Returns the time from the start until the last stream finished, and the
/// group's counters read before the streams let go of it.
fn run_streams(
    streams: usize,
    iterations: usize,
    frame: &TestFrame,
    engine: EngineSource,
) -> Result<(Duration, Option<shared::GroupStats>), String> {
    let (start, done, release) = (
        Barrier::new(streams + 1),
        Barrier::new(streams + 1),
        Barrier::new(streams + 1),
    );
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..streams)
            .map(|_| {
                scope.spawn(|| -> Result<(), String> {
                    let built = engine().and_then(|e| {
                        PoseEstimator::new(e, &EstimatorConfig::default())
                            .map_err(|e| e.to_string())
                    });
                    start.wait();
                    let result = built.and_then(|mut estimator| {
                        let source = frame.source();
                        let mut people: Vec<Person> = Vec::new();
                        for _ in 0..iterations {
                            estimator
                                .process(&source, &mut people)
                                .map_err(|e| e.to_string())?;
                        }
                        Ok(estimator)
                    });
                    done.wait();
                    // The estimator (and its group membership) goes after the stats are read.
                    release.wait();
                    result.map(drop)
                })
            })
            .collect();
        start.wait();
        let t = Instant::now();
        done.wait();
        let elapsed = t.elapsed();
        let stats = shared::stats(GROUP);
        release.wait();
        for h in handles {
            h.join()
                .unwrap_or_else(|_| Err("a stream panicked".into()))?;
        }
        Ok((elapsed, stats))
    })
}

/// Frames per second over all streams, after a warm-up round.
fn fps(
    streams: usize,
    iterations: usize,
    frame: &TestFrame,
    engine: EngineSource,
) -> Result<(f64, Option<shared::GroupStats>), String> {
    run_streams(streams, 3, frame, engine)?;
    let (elapsed, stats) = run_streams(streams, iterations, frame, engine)?;
    Ok(((streams * iterations) as f64 / elapsed.as_secs_f64(), stats))
}

pub fn bench(
    rt: &'static OrtRuntime,
    model: &Path,
    frame: &TestFrame,
    s: &StreamsSetup,
) -> Result<(), String> {
    let opts = EngineOptions {
        backend: s.backend,
        threads: s.threads,
        ..Default::default()
    };
    let load =
        || select::select(rt, model, &opts).map(|sel| Box::new(sel.engine) as Box<dyn Engine>);
    let private = || load().map_err(|e| e.to_string());
    let config = shared::GroupConfig {
        model: model.to_path_buf(),
        options: opts.clone(),
        max_batch: s.max_batch,
        timeout: s.timeout,
        instances: s.instances,
    };
    let member = || -> Result<Box<dyn Engine>, String> {
        let handle = shared::join(GROUP, config.clone(), load).map_err(|e| e.to_string())?;
        Ok(Box::new(handle))
    };
    let backend = private()?.backend();
    let (single, _) = fps(1, s.iterations, frame, &private)?;
    let (many, stats) = fps(s.streams, s.iterations, frame, &member)?;
    let stats = stats.unwrap_or_default();
    println!(
        "{}: {backend}, {}x{} frames, max-batch {}, batch-timeout {} µs, {} instance(s)",
        model.display(),
        frame.width,
        frame.height,
        s.max_batch,
        s.timeout.as_micros(),
        s.instances
    );
    println!("  1 stream, private engine   : {single:>9.1} frames/s");
    println!(
        "  {:>2} streams, shared engine : {many:>9.1} frames/s  ({:.2}x one stream)",
        s.streams,
        many / single
    );
    println!(
        "  {} runs, mean batch {:.2}, largest {}, {} padding images, mean wait for a batch {:.3} ms",
        stats.batches,
        stats.mean_fill(),
        stats.max_fill,
        stats.padded,
        stats.wait.as_secs_f64() * 1e3 / stats.frames.max(1) as f64
    );
    Ok(())
}
