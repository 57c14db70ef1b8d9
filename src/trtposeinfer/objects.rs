// SPDX-License-Identifier: MPL-2.0
//! `process-mode=objects`: the upstream `person` regions of a buffer, read, and written back
//! with the crop model's people; other regions and other metas are left alone.

use gst_video::VideoRegionOfInterestMeta;

use crate::meta;
use crate::pose::{BBox, Person, Topology};

/// Query an objects-mode element sends upstream to learn whether something there makes person
/// regions; a frame-mode `trtposeinfer` answers by setting `QUERY_FIELD`.
pub(super) const QUERY_NAME: &str = "trtpose-person-regions";
pub(super) const QUERY_FIELD: &str = "provider";

/// One upstream `person` region with everything needed to put it back.
#[derive(Debug)]
pub(super) struct Region {
    id: i32,
    parent_id: i32,
    rect: (u32, u32, u32, u32),
    params: Vec<gst::Structure>,
    /// Index of the `pose` structure in `params`, if it has one.
    pose_at: Option<usize>,
    /// Sub-pixel box: the `pose` structure's `bbox` when readable, else the rectangle.
    pub bbox: BBox,
    /// The `pose` structure's score; 1 for regions of other writers, which carry none.
    pub score: f32,
}

/// The buffer's `person` regions in meta order.
pub(super) fn read(buf: &gst::BufferRef) -> Vec<Region> {
    buf.iter_meta::<VideoRegionOfInterestMeta>()
        .filter(|m| m.roi_type() == meta::ROI_TYPE)
        .map(|m| {
            let params: Vec<gst::Structure> = m.params().map(|s| s.to_owned()).collect();
            let pose_at = params.iter().position(|s| s.name() == meta::PARAM_NAME);
            let record = pose_at.and_then(|i| meta::from_structure(&params[i]).ok());
            let rect = m.rect();
            let from_rect = BBox {
                x0: rect.0 as f32,
                y0: rect.1 as f32,
                x1: (rect.0 + rect.2) as f32,
                y1: (rect.1 + rect.3) as f32,
            };
            let bbox = record
                .as_ref()
                .map(|r| r.person.bbox)
                .filter(|b| b.area() > 0.0 && b.x0.is_finite() && b.y1.is_finite())
                .unwrap_or(from_rect);
            Region {
                id: m.id(),
                parent_id: m.parent_id(),
                rect,
                params,
                pose_at,
                bbox,
                score: record.map_or(1.0, |r| r.person.score),
            }
        })
        .collect()
}

/// Replaces the buffer's `person` regions by `regions`, in order: a region with a person gets
/// that person's `pose` structure (replacing its own, other parameters kept) and box; a region
/// without one is put back unchanged.
pub(super) fn write(
    buf: &mut gst::BufferRef,
    regions: Vec<(Region, Option<Person>)>,
    topology: &Topology,
    size: (u32, u32),
) {
    use std::ops::ControlFlow::Continue;
    buf.foreach_meta_mut(|mut m| {
        let person = m
            .downcast_ref::<VideoRegionOfInterestMeta>()
            .is_some_and(|r| r.roi_type() == meta::ROI_TYPE);
        Continue(if person {
            gst::buffer::BufferMetaForeachAction::Remove
        } else {
            gst::buffer::BufferMetaForeachAction::Keep
        })
    });
    for (region, person) in regions {
        let rect = match &person {
            Some(p) => meta::roi_rect(&p.bbox, size.0, size.1),
            None => region.rect,
        };
        let mut m = VideoRegionOfInterestMeta::add(buf, meta::ROI_TYPE, rect);
        m.set_id(region.id);
        m.set_parent_id(region.parent_id);
        let mut pose = person
            .as_ref()
            .map(|p| meta::person_structure(p, topology, false));
        for (i, s) in region.params.into_iter().enumerate() {
            if Some(i) == region.pose_at
                && let Some(new) = pose.take()
            {
                m.add_param(new);
            } else {
                m.add_param(s);
            }
        }
        if let Some(new) = pose {
            m.add_param(new);
        }
    }
}
