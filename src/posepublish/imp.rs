// SPDX-License-Identifier: MPL-2.0
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::subclass::prelude::*;
use gst_video::VideoRegionOfInterestMeta;

use super::settings::{self, Settings};
use crate::meta;
use crate::publish::record::{self, FrameInfo};
use crate::publish::{
    JsonLinesWriter, Location, MqttPublisher, PublishError, PushError, Report, Stats, WaitError,
};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "posepublish",
        gst::DebugColorFlags::empty(),
        Some("Publishing pose records to files and MQTT brokers"),
    )
});

enum Output {
    File(JsonLinesWriter),
    /// Shared so that a push blocked on a full queue holds no element lock.
    Mqtt(Arc<MqttPublisher>),
}

struct State {
    output: Output,
    stream: String,
    /// Redacted: safe for messages and logs.
    location: String,
    frames: u64,
    size: (u32, u32),
    stats_interval: Option<Duration>,
    last_stats: Instant,
    eos_timeout: Duration,
    warned_drop: bool,
    warned_malformed: bool,
}

impl State {
    fn stats(&self) -> Stats {
        match &self.output {
            Output::File(w) => Stats {
                sent: w.lines(),
                ..Stats::default()
            },
            Output::Mqtt(p) => p.stats(),
        }
    }
}

#[derive(Default)]
pub struct PosePublish {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
    /// One error message per run, whoever (worker or streaming thread) sees the cause first;
    /// held while posting, so that the streaming thread never returns its flow error (and
    /// the source posts its own) before ours is on the bus.
    error_posted: Mutex<bool>,
}

#[glib::object_subclass]
impl ObjectSubclass for PosePublish {
    const NAME: &'static str = "GstPosePublish";
    type Type = super::PosePublish;
    type ParentType = gst_base::BaseTransform;
}

impl ObjectImpl for PosePublish {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(settings::properties);
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = self.settings.lock().unwrap();
        let known = s.set(pspec.name(), value);
        assert!(known, "property {} not handled", pspec.name());
        // The location may hold a password: logged as it reads back.
        let shown = s.get(pspec.name()).unwrap_or_else(|| value.clone());
        gst::debug!(CAT, imp = self, "set {} to {:?}", pspec.name(), shown);
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let value = self.settings.lock().unwrap().get(pspec.name());
        value.unwrap_or_else(|| panic!("property {} not handled", pspec.name()))
    }
}

impl GstObjectImpl for PosePublish {}

impl ElementImpl for PosePublish {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static ELEMENT_METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Pose publisher",
                "Filter/Analyzer/Video",
                "Sends each frame's people as JSON to a JSON Lines file or an MQTT broker (queued, acknowledged, resent after reconnection); the video passes untouched",
                "gst-trtpose developers",
            )
        });
        Some(&*ELEMENT_METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        // Only metadata is read: any raw video, in any memory.
        static PAD_TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let caps = gst::Caps::builder("video/x-raw").any_features().build();
            crate::video::always_pad_templates(&caps)
        });
        PAD_TEMPLATES.as_ref()
    }

    fn change_state(
        &self,
        transition: gst::StateChange,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        // A push blocked on a full queue (overflow=block) holds the streaming thread, which
        // deactivating the pads waits for.
        if transition == gst::StateChange::PausedToReady {
            self.set_interrupted(true);
        }
        self.parent_change_state(transition)
    }
}

/// The JSON record of a buffer's people, from their ROI metas, and how many metas were
/// malformed.
fn buffer_record(
    buf: &gst::BufferRef,
    stream: &str,
    frame: u64,
    size: (u32, u32),
) -> (String, usize) {
    let (mut people, mut malformed) = (Vec::new(), 0);
    let (mut topology, mut reused) = (String::new(), false);
    for m in buf.iter_meta::<VideoRegionOfInterestMeta>() {
        if m.roi_type() != meta::ROI_TYPE {
            continue;
        }
        let Some(s) = m.param(meta::PARAM_NAME) else {
            continue;
        };
        let Ok(r) = meta::from_structure(s) else {
            malformed += 1;
            continue;
        };
        // track_id only after posetracker, null while a track is not confirmed.
        let track = s.has_field("track-id").then_some(r.track_id);
        if topology.is_empty() {
            topology = r.topology.clone();
        }
        reused |= r.reused;
        people.push(record::person_value(
            &r.person,
            &r.keypoint_names,
            &r.link_pairs,
            track,
        ));
    }
    let info = FrameInfo {
        frame,
        pts_ns: buf.pts().map(|t| t.nseconds()),
        reused,
        size,
        topology: &topology,
    };
    let mut m = record::frame_value(&info, people);
    m.insert("stream".into(), stream.into());
    m.insert("timestamp".into(), record::unix_now().into());
    (serde_json::Value::Object(m).to_string(), malformed)
}

impl PosePublish {
    fn set_interrupted(&self, on: bool) {
        if let Some(State {
            output: Output::Mqtt(p),
            ..
        }) = self.state.lock().unwrap().as_ref()
        {
            p.set_interrupted(on);
        }
    }

    /// Posts the error that ends publishing, once.
    fn post_fatal(&self, e: &PublishError, location: &str) {
        let mut posted = self.error_posted.lock().unwrap();
        if *posted {
            return;
        }
        *posted = true;
        gst::error!(CAT, imp = self, "{location}: {e}");
        match e {
            PublishError::Refused { reason } => gst::element_imp_error!(
                self,
                gst::ResourceError::NotAuthorized,
                ("MQTT broker refused the connection: {}", reason),
                ["broker {}", location]
            ),
            PublishError::UnknownHost { host, detail } => gst::element_imp_error!(
                self,
                gst::ResourceError::NotFound,
                ("Unknown MQTT broker host '{}'", host),
                ["{}: {}", location, detail]
            ),
            PublishError::Tls(detail) => gst::element_imp_error!(
                self,
                gst::ResourceError::OpenReadWrite,
                ("TLS handshake with the MQTT broker failed: {}", detail),
                [
                    "broker {}; check ca-file (and cert-file/key-file)",
                    location
                ]
            ),
            PublishError::File { .. } => gst::element_imp_error!(
                self,
                gst::ResourceError::Write,
                ("Cannot write the records"),
                ["{}", e]
            ),
            _ => gst::element_imp_error!(
                self,
                gst::ResourceError::Settings,
                ("Cannot publish to {}: {}", location, e)
            ),
        }
    }

    fn on_report(&self, r: Report, location: &str) {
        match r {
            Report::Connected { reconnect } => {
                gst::info!(
                    CAT,
                    imp = self,
                    "connected to {location} (reconnect: {reconnect})"
                )
            }
            Report::Lost(why) => {
                gst::warning!(CAT, imp = self, "lost {location}: {why}");
                gst::element_imp_warning!(
                    self,
                    gst::ResourceError::Write,
                    ("Lost the connection to the MQTT broker; queueing and reconnecting"),
                    ["{}: {}", location, why]
                );
            }
            Report::Retry { why, delay } => {
                gst::info!(CAT, imp = self, "{location}: {why}; retrying in {delay:?}")
            }
            Report::Fatal(e) => self.post_fatal(&e, location),
        }
    }

    fn post_stats(
        &self,
        event: &str,
        location: &str,
        frames: u64,
        stats: Stats,
        extra: Option<(&str, u64)>,
    ) {
        let mut s = gst::Structure::builder("posepublish")
            .field("event", event)
            .field("location", location)
            .field("frames", frames)
            .field("sent", stats.sent)
            .field("queued", stats.queued)
            .field("dropped", stats.dropped)
            .field("reconnects", stats.reconnects)
            .field("duplicates", stats.duplicates)
            .build();
        if let Some((name, v)) = extra {
            s.set(name, v);
        }
        let _ = self
            .obj()
            .post_message(gst::message::Element::builder(s).src(&*self.obj()).build());
    }

    fn open(&self, s: &Settings) -> Result<Output, gst::ErrorMessage> {
        let location = s.location().map_err(|e| {
            gst::error_msg!(
                gst::ResourceError::Settings,
                ("Bad location: {}", e),
                ["location {:?}", s.redacted_location()]
            )
        })?;
        match location {
            Location::File(path) => JsonLinesWriter::open(&path, s.append)
                .map(Output::File)
                .map_err(|e| {
                    gst::error_msg!(
                        gst::ResourceError::OpenWrite,
                        ("Cannot open the records file"),
                        ["{}", e]
                    )
                }),
            Location::Mqtt(uri) => {
                let shown = uri.to_string();
                let weak = self.obj().downgrade();
                let report = Box::new(move |r: Report| {
                    if let Some(obj) = weak.upgrade() {
                        obj.imp().on_report(r, &shown);
                    }
                });
                let config = s.mqtt_config(uri);
                MqttPublisher::start(&config, s.limits(), report)
                    .map(|p| Output::Mqtt(Arc::new(p)))
                    .map_err(|e| {
                        gst::error_msg!(
                            gst::ResourceError::Settings,
                            ("Cannot publish to {}: {}", config.uri, e)
                        )
                    })
            }
        }
    }

    /// EOS: writes out the file or waits (bounded) for the broker's acknowledgements, then
    /// posts the summary.
    fn finish(&self) {
        let (flushed, eos_timeout, location, frames) = {
            let mut guard = self.state.lock().unwrap();
            let Some(st) = guard.as_mut() else {
                return;
            };
            let flushed = match &mut st.output {
                Output::File(w) => Err(w.flush()),
                Output::Mqtt(p) => Ok(p.clone()),
            };
            (flushed, st.eos_timeout, st.location.clone(), st.frames)
        };
        let start = Instant::now();
        match flushed {
            Err(Ok(())) => {}
            Err(Err(e)) => self.post_fatal(&e, &location),
            Ok(p) => match p.flush(eos_timeout) {
                Ok(()) => {}
                Err(WaitError::Fatal(e)) => self.post_fatal(&e, &location),
                Err(WaitError::Timeout { left, waited }) => gst::element_imp_warning!(
                    self,
                    gst::ResourceError::Write,
                    ("{} messages not acknowledged by the broker at EOS", left),
                    ["{}: waited {:?} (eos-timeout)", location, waited]
                ),
            },
        }
        let waited = start.elapsed();
        gst::info!(
            CAT,
            imp = self,
            "EOS: waited {waited:?} for acknowledgements"
        );
        let stats = self
            .state
            .lock()
            .unwrap()
            .as_ref()
            .map(State::stats)
            .unwrap_or_default();
        let waited_us = waited.as_micros() as u64;
        self.post_stats(
            "eos",
            &location,
            frames,
            stats,
            Some(("eos-wait-us", waited_us)),
        );
    }
}

impl BaseTransformImpl for PosePublish {
    const MODE: gst_base::subclass::BaseTransformMode =
        gst_base::subclass::BaseTransformMode::AlwaysInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = true;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = true;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let s = self.settings.lock().unwrap().clone();
        *self.error_posted.lock().unwrap() = false;
        let output = self.open(&s)?;
        let location = s.redacted_location().unwrap_or_default();
        gst::info!(CAT, imp = self, "publishing to {location}");
        *self.state.lock().unwrap() = Some(State {
            output,
            stream: s
                .stream
                .clone()
                .unwrap_or_else(|| self.obj().name().to_string()),
            location,
            frames: 0,
            size: (0, 0),
            stats_interval: (s.stats_interval_ms > 0)
                .then(|| Duration::from_millis(s.stats_interval_ms as u64)),
            last_stats: Instant::now(),
            eos_timeout: Duration::from_millis(s.eos_timeout_ms as u64),
            warned_drop: false,
            warned_malformed: false,
        });
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        // Taken out first: stopping the worker may take a moment, without the lock.
        let state = self.state.lock().unwrap().take();
        if let Some(state) = state {
            match state.output {
                Output::File(mut w) => {
                    let _ = w.flush();
                }
                Output::Mqtt(p) => {
                    let s = p.stop();
                    if s.queued > 0 {
                        gst::warning!(
                            CAT,
                            imp = self,
                            "stopped with {} messages not acknowledged by {}",
                            s.queued,
                            state.location
                        );
                    }
                }
            }
        }
        Ok(())
    }

    fn set_caps(&self, incaps: &gst::Caps, outcaps: &gst::Caps) -> Result<(), gst::LoggableError> {
        let info = gst_video::VideoInfo::from_caps(incaps)
            .map_err(|_| gst::loggable_error!(CAT, "Caps {incaps} are not raw video"))?;
        if let Some(state) = self.state.lock().unwrap().as_mut() {
            state.size = (info.width(), info.height());
        }
        self.parent_set_caps(incaps, outcaps)
    }

    fn sink_event(&self, event: gst::Event) -> bool {
        match event.view() {
            gst::EventView::FlushStart(_) => self.set_interrupted(true),
            gst::EventView::FlushStop(_) => self.set_interrupted(false),
            gst::EventView::Eos(_) => self.finish(),
            _ => {}
        }
        self.parent_sink_event(event)
    }

    fn transform_ip_passthrough(
        &self,
        buf: &gst::Buffer,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let mut guard = self.state.lock().unwrap();
        let Some(state) = guard.as_mut() else {
            gst::element_imp_error!(self, gst::CoreError::Negotiation, ("Not started"));
            return Err(gst::FlowError::NotNegotiated);
        };
        let (line, malformed) = buffer_record(buf, &state.stream, state.frames, state.size);
        state.frames += 1;
        if malformed > 0 && !state.warned_malformed {
            state.warned_malformed = true;
            gst::element_imp_warning!(
                self,
                gst::StreamError::Decode,
                ("Malformed pose metadata"),
                [
                    "{malformed} person metas without a readable 'pose' structure are left out of the records (warned once)"
                ]
            );
        }
        if let Some(every) = state.stats_interval
            && state.last_stats.elapsed() >= every
        {
            state.last_stats = Instant::now();
            self.post_stats("stats", &state.location, state.frames, state.stats(), None);
        }
        let publisher = match &mut state.output {
            Output::File(w) => {
                return match w.write(&line) {
                    Ok(()) => Ok(gst::FlowSuccess::Ok),
                    Err(e) => {
                        let location = state.location.clone();
                        drop(guard);
                        self.post_fatal(&e, &location);
                        Err(gst::FlowError::Error)
                    }
                };
            }
            Output::Mqtt(p) => p.clone(),
        };
        let location = state.location.clone();
        let warn_drop = !state.warned_drop;
        drop(guard);
        match publisher.push(line.into_bytes()) {
            Ok(0) => Ok(gst::FlowSuccess::Ok),
            Ok(dropped) => {
                if warn_drop {
                    if let Some(st) = self.state.lock().unwrap().as_mut() {
                        st.warned_drop = true;
                    }
                    let max = publisher.stats();
                    gst::element_imp_warning!(
                        self,
                        gst::ResourceError::Write,
                        ("Publishing queue full: dropping the oldest messages"),
                        [
                            "{}: {} queued (max-queue); 'dropped' in the posepublish messages counts them (warned once)",
                            location,
                            max.queued
                        ]
                    );
                }
                gst::debug!(CAT, imp = self, "dropped {dropped}");
                Ok(gst::FlowSuccess::Ok)
            }
            Err(PushError::Fatal(e)) => {
                self.post_fatal(&e, &location);
                Err(gst::FlowError::Error)
            }
            Err(PushError::Interrupted) => Err(gst::FlowError::Flushing),
            Err(e @ PushError::TooLarge { .. }) => {
                gst::element_imp_warning!(
                    self,
                    gst::ResourceError::Write,
                    ("Record dropped"),
                    ["{}: {}", location, e]
                );
                Ok(gst::FlowSuccess::Ok)
            }
        }
    }
}
