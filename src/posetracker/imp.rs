// SPDX-License-Identifier: MPL-2.0
use std::sync::{LazyLock, Mutex};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::subclass::prelude::*;
use gst_video::VideoRegionOfInterestMeta;

use super::settings::{self, Settings};
use crate::meta::{self, PoseRecord};
use crate::pose::{Person, Topology};
use crate::publish::{JsonLinesWriter, PublishError};
use crate::track::{TrackError, TrackEvent, Tracker, TrackerConfig, Update};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "posetracker",
        gst::DebugColorFlags::empty(),
        Some("Pose tracking across frames"),
    )
});

/// Frame period assumed when neither timestamps nor caps give one.
const DEFAULT_DT: f32 = 1.0 / 30.0;

/// One person's ROI meta as read from the buffer, to be put back rewritten.
struct Entry {
    id: i32,
    parent_id: i32,
    /// Every parameter structure of the meta, in order; `pose` at `pose_at`.
    params: Vec<gst::Structure>,
    pose_at: usize,
    record: PoseRecord,
}

struct State {
    config: TrackerConfig,
    /// Made at the first person, for their topology; remade when the topology changes.
    tracker: Option<(Topology, Tracker)>,
    info: Option<gst_video::VideoInfo>,
    last_pts: Option<gst::ClockTime>,
    frames: u64,
    json: Option<JsonLinesWriter>,
    warned_malformed: bool,
}

impl State {
    /// A flush or new caps: the tracks belong to another picture.
    fn reset(&mut self) {
        if let Some((_, t)) = self.tracker.as_mut() {
            t.reset();
        }
        self.last_pts = None;
    }

    /// Seconds since the previous frame: from timestamps, else the caps' frame rate.
    fn dt(&mut self, pts: Option<gst::ClockTime>) -> f32 {
        let from_pts = match (self.last_pts, pts) {
            (Some(a), Some(b)) if b > a => Some((b - a).nseconds() as f32 / 1e9),
            _ => None,
        };
        self.last_pts = pts.or(self.last_pts);
        let from_caps = self.info.as_ref().and_then(|i| {
            let f = i.fps();
            (f.numer() > 0 && f.denom() > 0).then(|| f.denom() as f32 / f.numer() as f32)
        });
        from_pts
            .or(from_caps)
            .unwrap_or(DEFAULT_DT)
            .clamp(1e-3, 1.0)
    }
}

#[derive(Default)]
pub struct PoseTracker {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
}

#[glib::object_subclass]
impl ObjectSubclass for PoseTracker {
    const NAME: &'static str = "GstPoseTracker";
    type Type = super::PoseTracker;
    type ParentType = gst_base::BaseTransform;
}

impl ObjectImpl for PoseTracker {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(settings::properties);
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let known = self.settings.lock().unwrap().set(pspec.name(), value);
        assert!(known, "property {} not handled", pspec.name());
        gst::debug!(CAT, imp = self, "set {} to {:?}", pspec.name(), value);
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let value = self.settings.lock().unwrap().get(pspec.name());
        value.unwrap_or_else(|| panic!("property {} not handled", pspec.name()))
    }
}

impl GstObjectImpl for PoseTracker {}

impl ElementImpl for PoseTracker {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static ELEMENT_METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Pose tracker",
                "Filter/Analyzer/Video",
                "Gives each person found by trtposeinfer an id that persists across frames, smooths their keypoints and predicts them on frames without inference",
                "gst-trtpose developers",
            )
        });
        Some(&*ELEMENT_METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        // Only metadata is touched: any raw video, in any memory.
        static PAD_TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let caps = gst::Caps::builder("video/x-raw").any_features().build();
            crate::video::always_pad_templates(&caps)
        });
        PAD_TEMPLATES.as_ref()
    }
}

/// The people's ROI metas with a readable `pose` structure, and how many were malformed.
fn read_entries(buf: &gst::BufferRef) -> (Vec<Entry>, usize) {
    let (mut entries, mut malformed) = (Vec::new(), 0);
    for m in buf.iter_meta::<VideoRegionOfInterestMeta>() {
        if m.roi_type() != meta::ROI_TYPE {
            continue;
        }
        let params: Vec<gst::Structure> = m.params().map(|s| s.to_owned()).collect();
        let Some(pose_at) = params.iter().position(|s| s.name() == meta::PARAM_NAME) else {
            continue;
        };
        match meta::from_structure(&params[pose_at]) {
            Ok(record) => entries.push(Entry {
                id: m.id(),
                parent_id: m.parent_id(),
                params,
                pose_at,
                record,
            }),
            Err(_) => malformed += 1,
        }
    }
    (entries, malformed)
}

/// Removes the metas [`read_entries`] took, so they can be put back rewritten.
fn remove_entries(buf: &mut gst::BufferRef) {
    use std::ops::ControlFlow::Continue;
    buf.foreach_meta_mut(|mut m| {
        let ours = m
            .downcast_ref::<VideoRegionOfInterestMeta>()
            .is_some_and(|r| {
                r.roi_type() == meta::ROI_TYPE
                    && r.param(meta::PARAM_NAME)
                        .is_some_and(|s| meta::from_structure(s).is_ok())
            });
        Continue(if ours {
            gst::buffer::BufferMetaForeachAction::Remove
        } else {
            gst::buffer::BufferMetaForeachAction::Keep
        })
    });
}

/// The people's topology: the built-in one of that name when it fits, else rebuilt from what
/// the structures carry (names, and link pairs by link id).
fn topology_of(records: &[&PoseRecord]) -> Topology {
    let first = records[0];
    let n = first.person.keypoints.len();
    if let Ok(t) = Topology::builtin(&first.topology)
        && t.num_parts() == n
    {
        return t;
    }
    let mut links = Vec::new();
    for r in records {
        for (&id, &pair) in r.link_ids.iter().zip(&r.link_pairs) {
            if links.len() <= id {
                links.resize(id + 1, pair);
            }
            links[id] = pair;
        }
    }
    let mut keypoints = first.keypoint_names.clone();
    keypoints.resize_with(n, || "unknown".into());
    Topology {
        name: first.topology.clone(),
        keypoints,
        links,
    }
}

impl PoseTracker {
    /// Runs the tracker on the frame's people: a prediction when they were carried over.
    fn track(state: &mut State, entries: &[Entry], dt: f32) -> Result<Update, TrackError> {
        let records: Vec<&PoseRecord> = entries.iter().map(|e| &e.record).collect();
        if let Some(first) = records.first() {
            let same = state.tracker.as_ref().is_some_and(|(t, _)| {
                t.name == first.topology && t.num_parts() == first.person.keypoints.len()
            });
            if !same {
                let topology = topology_of(&records);
                let tracker = Tracker::new(state.config, &topology.keypoints)?;
                state.tracker = Some((topology, tracker));
            }
        }
        let Some((_, tracker)) = state.tracker.as_mut() else {
            return Ok(Update::default());
        };
        let people: Vec<Person> = records.iter().map(|r| r.person.clone()).collect();
        // Empty frames go through `update` (the tracks age): carried-over and inferred empty
        // frames cannot be told apart.
        if !people.is_empty() && records.iter().all(|r| r.reused) {
            tracker.coast(&people, dt)
        } else {
            tracker.update(&people, dt)
        }
    }

    fn reattach(buf: &mut gst::BufferRef, entries: Vec<Entry>, update: &Update, size: (u32, u32)) {
        for (e, t) in entries.into_iter().zip(&update.people) {
            let rect = meta::roi_rect(&t.bbox, size.0, size.1);
            let mut m = VideoRegionOfInterestMeta::add(buf, meta::ROI_TYPE, rect);
            m.set_id(e.id);
            m.set_parent_id(e.parent_id);
            for (i, mut s) in e.params.into_iter().enumerate() {
                if i == e.pose_at {
                    let raw = &e.record.person.keypoints;
                    meta::set_tracking(&mut s, raw, &t.keypoints, &t.bbox, t.track_id, t.predicted);
                }
                m.add_param(s);
            }
        }
    }

    fn post_events(&self, events: &[TrackEvent], frame: u64, pts: Option<gst::ClockTime>) {
        for e in events {
            let (event, id) = match *e {
                TrackEvent::Started { id } => ("track-started", id),
                TrackEvent::Ended { id, .. } => ("track-ended", id),
            };
            gst::debug!(CAT, imp = self, "{event} {id} at frame {frame}");
            let mut s = gst::Structure::builder("posetracker")
                .field("event", event)
                .field("track-id", id as i32)
                .field("frame", frame)
                .field("timestamp", pts.map(|t| t.nseconds()).unwrap_or(u64::MAX))
                .build();
            if let TrackEvent::Ended { hits, .. } = *e {
                s.set("hits", hits);
            }
            let _ = self
                .obj()
                .post_message(gst::message::Element::builder(s).src(&*self.obj()).build());
        }
    }

    fn write_json(
        state: &mut State,
        buf: &gst::BufferRef,
        entries: &[Entry],
        update: &Update,
    ) -> Result<(), PublishError> {
        let Some(json) = state.json.as_mut() else {
            return Ok(());
        };
        let size = state
            .info
            .as_ref()
            .map_or((0, 0), |i| (i.width(), i.height()));
        let people: Vec<Person> = entries
            .iter()
            .zip(&update.people)
            .map(|(e, t)| {
                let mut p = e.record.person.clone();
                p.keypoints = t.keypoints.clone();
                p.bbox = t.bbox;
                p.links = e.record.link_ids.clone();
                p
            })
            .collect();
        let ids: Vec<Option<u32>> = update.people.iter().map(|t| t.track_id).collect();
        let empty = Topology {
            name: String::new(),
            keypoints: Vec::new(),
            links: Vec::new(),
        };
        let topology = state.tracker.as_ref().map_or(&empty, |(t, _)| t);
        let reused = entries.first().is_some_and(|e| e.record.reused);
        let line = meta::frame_json(
            state.frames - 1,
            buf.pts(),
            reused,
            size,
            &people,
            topology,
            Some(&ids),
        );
        json.write(&line)
    }
}

impl BaseTransformImpl for PoseTracker {
    const MODE: gst_base::subclass::BaseTransformMode =
        gst_base::subclass::BaseTransformMode::AlwaysInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let s = self.settings.lock().unwrap().clone();
        s.tracker.validate().map_err(|e| {
            gst::error_msg!(gst::LibraryError::Settings, ("Bad tracker settings: {}", e))
        })?;
        let json = match &s.json_output {
            Some(p) => Some(JsonLinesWriter::open(p, false).map_err(|e| {
                gst::error_msg!(
                    gst::ResourceError::OpenWrite,
                    ("Cannot create JSON output {}", e)
                )
            })?),
            None => None,
        };
        *self.state.lock().unwrap() = Some(State {
            config: s.tracker,
            tracker: None,
            info: None,
            last_pts: None,
            frames: 0,
            json,
            warned_malformed: false,
        });
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        if let Some(mut state) = self.state.lock().unwrap().take()
            && let Some(json) = state.json.as_mut()
        {
            let _ = json.flush();
        }
        Ok(())
    }

    fn set_caps(&self, incaps: &gst::Caps, outcaps: &gst::Caps) -> Result<(), gst::LoggableError> {
        let info = gst_video::VideoInfo::from_caps(incaps)
            .map_err(|_| gst::loggable_error!(CAT, "Caps {incaps} are not raw video"))?;
        gst::debug!(CAT, imp = self, "caps {incaps}: tracks reset");
        if let Some(state) = self.state.lock().unwrap().as_mut() {
            state.info = Some(info);
            state.reset();
        }
        self.parent_set_caps(incaps, outcaps)
    }

    fn sink_event(&self, event: gst::Event) -> bool {
        if let gst::EventView::FlushStop(_) = event.view()
            && let Some(state) = self.state.lock().unwrap().as_mut()
        {
            gst::debug!(CAT, imp = self, "flushed: tracks reset");
            state.reset();
        }
        self.parent_sink_event(event)
    }

    fn transform_ip(&self, buf: &mut gst::BufferRef) -> Result<gst::FlowSuccess, gst::FlowError> {
        let mut guard = self.state.lock().unwrap();
        let Some(state) = guard.as_mut() else {
            gst::element_imp_error!(self, gst::CoreError::Negotiation, ("Not started"));
            return Err(gst::FlowError::NotNegotiated);
        };
        let (entries, malformed) = read_entries(buf);
        if malformed > 0 && !state.warned_malformed {
            state.warned_malformed = true;
            gst::element_imp_warning!(
                self,
                gst::StreamError::Decode,
                ("Malformed pose metadata"),
                [
                    "{malformed} person metas without a readable 'pose' structure are passed on untracked (warned once)"
                ]
            );
        }
        let dt = state.dt(buf.pts());
        state.frames += 1;
        let update = Self::track(state, &entries, dt).map_err(|e| {
            gst::element_imp_error!(self, gst::StreamError::Failed, ("Tracking failed"), ["{e}"]);
            gst::FlowError::Error
        })?;
        let size = state
            .info
            .as_ref()
            .map_or((0, 0), |i| (i.width(), i.height()));
        if let Err(e) = Self::write_json(state, buf, &entries, &update) {
            gst::element_imp_warning!(
                self,
                gst::ResourceError::Write,
                ("Cannot write JSON output; JSON output stopped"),
                ["{e}"]
            );
            state.json = None;
        }
        let frame = state.frames - 1;
        drop(guard);
        if !entries.is_empty() {
            remove_entries(buf);
            Self::reattach(buf, entries, &update, size);
        }
        self.post_events(&update.events, frame, buf.pts());
        Ok(gst::FlowSuccess::Ok)
    }
}
