// SPDX-License-Identifier: MPL-2.0
//! The publishing queue: the one place that knows which messages the broker has not
//! acknowledged. A message stays here from `push` until its acknowledgement (PUBACK for
//! QoS 1, PUBCOMP for QoS 2, written for QoS 0); after a lost connection every message not
//! acknowledged is sent again, in order, on the next one.
//!
//! The streaming thread pushes and waits at EOS; the MQTT worker takes messages to send and
//! reports what the connection did. One mutex and one condition variable serve both.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::PublishError;

/// What `push` does when the queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "glib", derive(glib::Enum))]
#[cfg_attr(feature = "glib", enum_type(name = "GstPosePublishOverflow"))]
#[repr(u32)]
pub enum Overflow {
    /// Drop the oldest message not yet sent (counted in `dropped`); the video never waits.
    #[default]
    #[cfg_attr(
        feature = "glib",
        enum_value(
            name = "Drop the oldest message not yet sent, count it and warn",
            nick = "drop-oldest"
        )
    )]
    DropOldest = 0,
    /// Wait for room: the video waits for the broker.
    #[cfg_attr(
        feature = "glib",
        enum_value(
            name = "Wait for room (the video waits for the broker)",
            nick = "block"
        )
    )]
    Block = 1,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Messages not yet acknowledged, at most (at least 1).
    pub max_messages: usize,
    /// Their payload bytes at most; 0 = no byte limit.
    pub max_bytes: usize,
    pub overflow: Overflow,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_messages: 1000,
            max_bytes: 0,
            overflow: Overflow::DropOldest,
        }
    }
}

/// Counters, as the element reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// Acknowledged by the broker (QoS 0: written to it; files: written).
    pub sent: u64,
    /// Waiting or not yet acknowledged now.
    pub queued: u64,
    /// Dropped because the queue was full.
    pub dropped: u64,
    /// Connections made after the first.
    pub reconnects: u64,
    /// Messages sent again after a lost connection that had already been written to the
    /// broker: the subscribers may get these twice (QoS 1 allows it).
    pub duplicates: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    #[error("{0}")]
    Fatal(PublishError),
    /// A flush or a stop interrupted a blocked push.
    #[error("interrupted")]
    Interrupted,
    #[error("message of {size} bytes is larger than max-queue-bytes ({max})")]
    TooLarge { size: usize, max: usize },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WaitError {
    #[error("{0}")]
    Fatal(PublishError),
    #[error("{left} messages still not acknowledged after {waited:?}")]
    Timeout { left: usize, waited: Duration },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Waiting,
    /// Given to the client, not yet written.
    Handed,
    /// Written with this packet id, waiting for its acknowledgement.
    OnWire(u16),
}

#[derive(Debug)]
struct Entry {
    payload: Arc<Vec<u8>>,
    slot: Slot,
    /// Written once already on a connection that was lost.
    written_before: bool,
}

/// The state of the current connection, as the worker's threads see it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) enum Link {
    #[default]
    Down,
    Connecting,
    Up,
    /// The connection ended: why, and the error when it must not be retried.
    Lost {
        fatal: Option<PublishError>,
        why: String,
    },
}

#[derive(Debug, Default)]
pub(crate) struct Inner {
    entries: VecDeque<Entry>,
    bytes: usize,
    handed: usize,
    pub(crate) stats: Stats,
    pub(crate) fatal: Option<PublishError>,
    pub(crate) closed: bool,
    interrupted: bool,
    pub(crate) link: Link,
}

impl Inner {
    /// The first waiting message when fewer than `window` are in flight; marked handed.
    pub(crate) fn take_next(&mut self, window: usize) -> Option<Arc<Vec<u8>>> {
        if self.handed >= window {
            return None;
        }
        let e = self.entries.iter_mut().find(|e| e.slot == Slot::Waiting)?;
        e.slot = Slot::Handed;
        self.handed += 1;
        Some(e.payload.clone())
    }

    /// The client wrote the oldest handed message as packet `pkid`; with `done` (QoS 0) that
    /// is its delivery.
    pub(crate) fn written(&mut self, pkid: u16, done: bool) {
        let Some(i) = self.entries.iter().position(|e| e.slot == Slot::Handed) else {
            return;
        };
        if self.entries[i].written_before {
            self.stats.duplicates += 1;
        }
        if done {
            self.remove(i);
        } else {
            self.entries[i].slot = Slot::OnWire(pkid);
        }
    }

    /// The broker acknowledged packet `pkid`.
    pub(crate) fn acked(&mut self, pkid: u16) {
        if let Some(i) = self
            .entries
            .iter()
            .position(|e| e.slot == Slot::OnWire(pkid))
        {
            self.remove(i);
        }
    }

    fn remove(&mut self, i: usize) {
        if let Some(e) = self.entries.remove(i) {
            self.bytes -= e.payload.len();
            if e.slot != Slot::Waiting {
                self.handed -= 1;
            }
            self.stats.sent += 1;
        }
    }

    /// The connection was lost: everything not acknowledged waits to be sent again, in order.
    pub(crate) fn requeue(&mut self) {
        for e in &mut self.entries {
            if let Slot::OnWire(_) = e.slot {
                e.written_before = true;
            }
            e.slot = Slot::Waiting;
        }
        self.handed = 0;
    }

    fn len(&self) -> usize {
        self.entries.len()
    }

    fn full(&self, limits: &Limits, extra: usize) -> bool {
        self.len() + 1 > limits.max_messages
            || (limits.max_bytes > 0 && self.bytes + extra > limits.max_bytes)
    }

    /// Drops the oldest message not yet handed to the client; false when every message is
    /// in flight (those wait for their acknowledgement).
    fn drop_oldest(&mut self) -> bool {
        let Some(i) = self.entries.iter().position(|e| e.slot == Slot::Waiting) else {
            return false;
        };
        if let Some(e) = self.entries.remove(i) {
            self.bytes -= e.payload.len();
        }
        self.stats.dropped += 1;
        true
    }
}

pub struct Queue {
    inner: Mutex<Inner>,
    changed: Condvar,
    limits: Limits,
}

impl Queue {
    pub fn new(mut limits: Limits) -> Self {
        limits.max_messages = limits.max_messages.max(1);
        Queue {
            inner: Mutex::default(),
            changed: Condvar::new(),
            limits,
        }
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panicking holder leaves counters only: still usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn notify(&self) {
        self.changed.notify_all();
    }

    /// Waits for a change for at most `timeout`.
    pub(crate) fn wait<'a>(
        &self,
        guard: MutexGuard<'a, Inner>,
        timeout: Duration,
    ) -> MutexGuard<'a, Inner> {
        self.changed
            .wait_timeout(guard, timeout)
            .map(|(g, _)| g)
            .unwrap_or_else(|p| p.into_inner().0)
    }

    /// Queues a message. Returns how many older messages were dropped to make room (policy
    /// `drop-oldest`); with `block` waits for room instead.
    pub fn push(&self, payload: Vec<u8>) -> Result<u64, PushError> {
        let size = payload.len();
        if self.limits.max_bytes > 0 && size > self.limits.max_bytes {
            self.lock().stats.dropped += 1;
            return Err(PushError::TooLarge {
                size,
                max: self.limits.max_bytes,
            });
        }
        let mut g = self.lock();
        let mut dropped = 0;
        loop {
            if let Some(e) = &g.fatal {
                return Err(PushError::Fatal(e.clone()));
            }
            if g.closed || g.interrupted {
                return Err(PushError::Interrupted);
            }
            if !g.full(&self.limits, size) {
                break;
            }
            match self.limits.overflow {
                Overflow::DropOldest => {
                    if g.drop_oldest() {
                        dropped += 1;
                    } else {
                        // Everything queued is in flight: the new message is the one to go.
                        g.stats.dropped += 1;
                        return Ok(dropped + 1);
                    }
                }
                Overflow::Block => g = self.wait(g, Duration::from_millis(100)),
            }
        }
        g.bytes += size;
        g.entries.push_back(Entry {
            payload: Arc::new(payload),
            slot: Slot::Waiting,
            written_before: false,
        });
        drop(g);
        self.notify();
        Ok(dropped)
    }

    /// Waits until every message is acknowledged, at most `timeout`.
    pub fn wait_empty(&self, timeout: Duration) -> Result<(), WaitError> {
        let start = Instant::now();
        let mut g = self.lock();
        loop {
            if let Some(e) = &g.fatal {
                return Err(WaitError::Fatal(e.clone()));
            }
            if g.entries.is_empty() {
                return Ok(());
            }
            let waited = start.elapsed();
            if waited >= timeout || g.closed {
                return Err(WaitError::Timeout {
                    left: g.len(),
                    waited,
                });
            }
            g = self.wait(g, (timeout - waited).min(Duration::from_millis(100)));
        }
    }

    /// While set, blocked and new pushes return [`PushError::Interrupted`] (a flush).
    pub fn set_interrupted(&self, on: bool) {
        self.lock().interrupted = on;
        self.notify();
    }

    /// Stops everything: pushes fail, waits end, the worker leaves.
    pub fn close(&self) {
        self.lock().closed = true;
        self.notify();
    }

    pub fn stats(&self) -> Stats {
        let g = self.lock();
        Stats {
            queued: g.len() as u64,
            ..g.stats
        }
    }

    pub fn fatal(&self) -> Option<PublishError> {
        self.lock().fatal.clone()
    }

    pub(crate) fn set_fatal(&self, e: PublishError) {
        self.lock().fatal = Some(e);
        self.notify();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(max: usize, bytes: usize, overflow: Overflow) -> Queue {
        Queue::new(Limits {
            max_messages: max,
            max_bytes: bytes,
            overflow,
        })
    }

    fn msg(i: u8) -> Vec<u8> {
        vec![i; 4]
    }

    #[test]
    fn drop_oldest_counts_exactly_and_keeps_the_newest() {
        let q = q(3, 0, Overflow::DropOldest);
        let dropped: u64 = (0..10).map(|i| q.push(msg(i)).unwrap()).sum();
        assert_eq!(dropped, 7);
        let s = q.stats();
        assert_eq!((s.queued, s.dropped), (3, 7));
        let mut g = q.lock();
        let left: Vec<u8> = std::iter::from_fn(|| g.take_next(10).map(|p| p[0])).collect();
        assert_eq!(left, [7, 8, 9]);
    }

    #[test]
    fn the_byte_limit_counts_payloads() {
        let q = q(100, 10, Overflow::DropOldest);
        assert_eq!(q.push(msg(0)).unwrap(), 0);
        assert_eq!(q.push(msg(1)).unwrap(), 0);
        assert_eq!(q.push(msg(2)).unwrap(), 1);
        assert!(matches!(
            q.push(vec![0; 11]),
            Err(PushError::TooLarge { size: 11, max: 10 })
        ));
    }

    #[test]
    fn messages_stay_until_acknowledged_and_go_again_in_order_after_a_loss() {
        let q = q(10, 0, Overflow::DropOldest);
        for i in 0..4 {
            q.push(msg(i)).unwrap();
        }
        let mut g = q.lock();
        assert_eq!(g.take_next(2).unwrap()[0], 0);
        assert_eq!(g.take_next(2).unwrap()[0], 1);
        assert!(g.take_next(2).is_none(), "window of 2");
        g.written(1, false);
        g.written(2, false);
        g.acked(1);
        assert_eq!(g.stats.sent, 1);
        assert_eq!(g.take_next(2).unwrap()[0], 2);
        // Lost: 1 was on the wire, 2 only handed.
        g.requeue();
        let again: Vec<u8> = std::iter::from_fn(|| g.take_next(10).map(|p| p[0])).collect();
        assert_eq!(again, [1, 2, 3]);
        for pkid in 1..=3 {
            g.written(pkid, false);
        }
        assert_eq!(g.stats.duplicates, 1);
        for pkid in 1..=3 {
            g.acked(pkid);
        }
        drop(g);
        let s = q.stats();
        assert_eq!((s.sent, s.queued, s.duplicates), (4, 0, 1));
        q.wait_empty(Duration::ZERO).unwrap();
    }

    #[test]
    fn messages_in_flight_are_never_dropped() {
        let q = q(2, 0, Overflow::DropOldest);
        q.push(msg(0)).unwrap();
        q.push(msg(1)).unwrap();
        {
            let mut g = q.lock();
            g.take_next(5);
            g.take_next(5);
        }
        assert_eq!(q.push(msg(2)).unwrap(), 1, "the new one goes");
        assert_eq!(q.stats().queued, 2);
    }

    #[test]
    fn block_waits_for_room_and_a_flush_interrupts_it() {
        let q = Arc::new(q(1, 0, Overflow::Block));
        q.push(msg(0)).unwrap();
        let q2 = q.clone();
        let t = std::thread::spawn(move || q2.push(msg(1)));
        std::thread::sleep(Duration::from_millis(50));
        {
            let mut g = q.lock();
            g.take_next(1);
            g.written(0, true);
        }
        q.notify();
        assert_eq!(t.join().unwrap(), Ok(0));
        let q2 = q.clone();
        let t = std::thread::spawn(move || q2.push(msg(2)));
        std::thread::sleep(Duration::from_millis(50));
        q.set_interrupted(true);
        assert_eq!(t.join().unwrap(), Err(PushError::Interrupted));
    }

    #[test]
    fn waiting_for_acknowledgements_times_out_or_ends_on_a_fatal_error() {
        let q = q(5, 0, Overflow::DropOldest);
        q.push(msg(0)).unwrap();
        let e = q.wait_empty(Duration::from_millis(20)).unwrap_err();
        assert!(matches!(e, WaitError::Timeout { left: 1, .. }), "{e:?}");
        q.set_fatal(PublishError::Tls("x".into()));
        assert!(matches!(
            q.wait_empty(Duration::from_secs(5)),
            Err(WaitError::Fatal(_))
        ));
        assert!(matches!(q.push(msg(1)), Err(PushError::Fatal(_))));
    }
}
