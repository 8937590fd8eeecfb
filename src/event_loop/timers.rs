//! Single-shot timers ordered by deadline.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::time::Instant;

/// Identifies a timer so that it can be cancelled.
///
/// ```
/// use qwebsocket::event_loop::EventLoop;
/// use std::time::Duration;
/// let ev = EventLoop::new().unwrap();
/// let id = ev.add_timer(Duration::from_secs(60), |_| unreachable!());
/// assert!(ev.cancel_timer(id));
/// assert!(!ev.cancel_timer(id));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TimerId(pub(crate) u64);

pub(crate) type TimerFn = Box<dyn FnOnce(&super::EventLoop)>;

/// Deadlines in a heap; cancelled timers leave a stale heap entry that is
/// skipped when it comes up (their callback is dropped at once).
#[derive(Default)]
pub(crate) struct Timers {
    heap: BinaryHeap<Reverse<(Instant, u64)>>,
    callbacks: HashMap<u64, TimerFn>,
    next_id: u64,
}

impl Timers {
    pub(crate) fn add(&mut self, deadline: Instant, f: TimerFn) -> TimerId {
        self.next_id += 1;
        let id = self.next_id;
        self.heap.push(Reverse((deadline, id)));
        self.callbacks.insert(id, f);
        TimerId(id)
    }

    pub(crate) fn cancel(&mut self, id: TimerId) -> bool {
        let removed = self.callbacks.remove(&id.0).is_some();
        if self.callbacks.is_empty() {
            self.heap.clear();
        }
        removed
    }

    /// The earliest deadline of a live timer.
    pub(crate) fn next_deadline(&mut self) -> Option<Instant> {
        while let Some(Reverse((deadline, id))) = self.heap.peek() {
            if self.callbacks.contains_key(id) {
                return Some(*deadline);
            }
            self.heap.pop();
        }
        None
    }

    /// Removes and returns one timer due at `now`, earliest first.
    /// Timers added later than `newest` (by a timer callback of this turn)
    /// wait for the next turn, so that a timer re-arming itself with a zero
    /// delay cannot starve the loop.
    pub(crate) fn pop_due(&mut self, now: Instant, newest: u64) -> Option<TimerFn> {
        loop {
            let Reverse((deadline, id)) = *self.heap.peek()?;
            if deadline > now || id > newest {
                return None;
            }
            self.heap.pop();
            if let Some(f) = self.callbacks.remove(&id) {
                return Some(f);
            }
        }
    }

    /// The id of the timer added last.
    pub(crate) fn newest(&self) -> u64 {
        self.next_id
    }

    pub(crate) fn len(&self) -> usize {
        self.callbacks.len()
    }
}
