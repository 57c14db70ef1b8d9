// SPDX-License-Identifier: MPL-2.0
//! Helpers for the `gst_check::Harness` tests (tests/harness_*.rs): an element with its own
//! bus, property specs and values, caps queries, and the events that reached the harness.

use std::str::FromStr as _;

use gst::glib;
use gst::prelude::*;

/// A new `factory` element (the plugin registered first) posting on a bus of its own: an
/// element in a harness has no bin, so without one its messages would be lost.
pub fn element_with_bus(factory: &str) -> (gst::Element, gst::Bus) {
    super::init_gst();
    let e = gst::ElementFactory::make(factory)
        .build()
        .unwrap_or_else(|e| panic!("{factory}: {e}"));
    let bus = gst::Bus::new();
    e.set_bus(Some(&bus));
    (e, bus)
}

/// The properties the element class itself declares (not GstObject's or its base class's).
pub fn own_pspecs(e: &gst::Element) -> Vec<glib::ParamSpec> {
    e.list_properties()
        .iter()
        .filter(|p| p.owner_type() == e.type_())
        .cloned()
        .collect()
}

fn text(v: &glib::Value) -> String {
    v.serialize()
        .map(|s| s.to_string())
        .unwrap_or_else(|_| format!("{v:?}"))
}

/// Every writable property of a fresh element reads back the default its spec declares.
pub fn assert_values_are_declared_defaults(e: &gst::Element) {
    for p in own_pspecs(e) {
        if !p.flags().contains(glib::ParamFlags::WRITABLE) {
            continue;
        }
        let (declared, actual) = (text(p.default_value()), text(&e.property_value(p.name())));
        assert_eq!(actual, declared, "property '{}'", p.name());
    }
}

/// The nick of an enum property's value (`drop`, `cpu`…).
pub fn enum_nick(e: &gst::Element, name: &str) -> String {
    let v = e.property_value(name);
    let (_, ev) =
        glib::EnumValue::from_value(&v).unwrap_or_else(|| panic!("'{name}' is not an enum"));
    ev.nick().to_string()
}

/// `(minimum, maximum, default)` of a numeric property spec.
pub fn numeric_spec(p: &glib::ParamSpec) -> (f64, f64, f64) {
    if let Some(p) = p.downcast_ref::<glib::ParamSpecUInt>() {
        (
            p.minimum() as f64,
            p.maximum() as f64,
            p.default_value() as f64,
        )
    } else if let Some(p) = p.downcast_ref::<glib::ParamSpecUInt64>() {
        (
            p.minimum() as f64,
            p.maximum() as f64,
            p.default_value() as f64,
        )
    } else if let Some(p) = p.downcast_ref::<glib::ParamSpecFloat>() {
        (
            p.minimum() as f64,
            p.maximum() as f64,
            p.default_value() as f64,
        )
    } else if let Some(p) = p.downcast_ref::<glib::ParamSpecDouble>() {
        (p.minimum(), p.maximum(), p.default_value())
    } else {
        panic!("'{}' is not a numeric property", p.name())
    }
}

/// A numeric property's value as f64.
pub fn numeric(e: &gst::Element, name: &str) -> f64 {
    let v = e.property_value(name);
    v.get::<u32>()
        .map(f64::from)
        .or_else(|_| v.get::<u64>().map(|x| x as f64))
        .or_else(|_| v.get::<f32>().map(f64::from))
        .or_else(|_| v.get::<f64>())
        .unwrap_or_else(|_| panic!("'{name}' is not numeric: {v:?}"))
}

/// Sets a numeric property from an f64, converted to the property's own type.
pub fn set_numeric(e: &gst::Element, name: &str, x: f64) {
    let p = e.find_property(name).unwrap();
    let v = match p.value_type() {
        t if t == glib::Type::U32 => (x as u32).to_value(),
        t if t == glib::Type::U64 => (x as u64).to_value(),
        t if t == glib::Type::F32 => (x as f32).to_value(),
        t if t == glib::Type::F64 => x.to_value(),
        t => panic!("'{name}' has type {t}"),
    };
    e.set_property_from_value(name, &v);
}

/// A numeric property declares `default` in `[min, max]`, a fresh element holds `default`,
/// and both ends of the range read back as written.
pub fn assert_numeric(e: &gst::Element, name: &str, default: f64, min: f64, max: f64) {
    let p = e
        .find_property(name)
        .unwrap_or_else(|| panic!("no property '{name}'"));
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-6 * b.abs().max(1.0);
    let (lo, hi, d) = numeric_spec(&p);
    assert!(
        close(lo, min) && close(hi, max) && close(d, default),
        "'{name}' declares [{lo}, {hi}] default {d}, expected [{min}, {max}] default {default}"
    );
    assert!(close(numeric(e, name), default), "'{name}' fresh value");
    for end in [min, max, default] {
        set_numeric(e, name, end);
        let back = numeric(e, name);
        assert!(close(back, end), "'{name}' set to {end} reads {back}");
    }
}

/// Whether `pad_name` of `e` accepts `caps` (an ACCEPT_CAPS query; needs no running element).
pub fn accepts(e: &gst::Element, pad_name: &str, caps: &str) -> bool {
    let pad = e.static_pad(pad_name).unwrap();
    let caps = gst::Caps::from_str(caps).unwrap_or_else(|_| panic!("bad caps {caps}"));
    pad.query_accept_caps(&caps)
}

/// The raw video formats `caps` lists (empty for caps that name none).
pub fn formats(caps: &gst::Caps) -> Vec<String> {
    caps.iter()
        .filter_map(|s| s.get::<gst::List>("format").ok())
        .flat_map(|l| {
            l.iter()
                .filter_map(|v| v.get::<String>().ok())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The types of the events that reached the harness's sink since the last call.
pub fn downstream_events(h: &mut gst_check::Harness) -> Vec<gst::EventType> {
    std::iter::from_fn(|| h.try_pull_event())
        .map(|e| e.type_())
        .collect()
}

/// A new TIME segment, as a source sends after a flush.
pub fn segment() -> gst::Event {
    gst::event::Segment::new(&gst::FormattedSegment::<gst::ClockTime>::new())
}

/// Texts of the error (`true`) or warning (`false`) messages waiting on `bus`; other
/// messages are dropped.
pub fn bus_texts(bus: &gst::Bus, errors: bool) -> Vec<String> {
    std::iter::from_fn(|| bus.pop())
        .filter_map(|m| match m.view() {
            gst::MessageView::Error(e) if errors => Some(e.error().to_string()),
            gst::MessageView::Warning(w) if !errors => Some(w.error().to_string()),
            _ => None,
        })
        .collect()
}

/// The structures of the element messages named `name` waiting on `bus`; others are dropped.
pub fn element_messages(bus: &gst::Bus, name: &str) -> Vec<gst::Structure> {
    std::iter::from_fn(|| bus.pop())
        .filter_map(|m| {
            m.structure()
                .filter(|s| s.name() == name)
                .map(|s| s.to_owned())
        })
        .collect()
}
