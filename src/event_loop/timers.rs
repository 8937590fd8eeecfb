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

/// What a timer calls: a closure, or an object's `on_timer` (which costs
/// no allocation: sockets re-arm their timer often).
pub(crate) enum TimerFn {
    Once(Box<dyn FnOnce(&super::EventLoop)>),
    Target(std::rc::Weak<dyn super::OnTimer>),
}

impl TimerFn {
    pub(crate) fn call(self, ev: &super::EventLoop) {
        match self {
            TimerFn::Once(f) => f(ev),
            TimerFn::Target(t) => {
                if let Some(t) = t.upgrade() {
                    t.on_timer(ev);
                }
            }
        }
    }
}

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
        } else if self.heap.len() > 64 && self.heap.len() > 2 * self.callbacks.len() {
            // Mostly stale entries (sockets re-arm their timers often): drop
            // them now rather than when their deadlines come up, so that the
            // heap stays proportional to the live timers. Amortized O(1).
            let callbacks = &self.callbacks;
            self.heap
                .retain(|Reverse((_, id))| callbacks.contains_key(id));
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn noop() -> TimerFn {
        TimerFn::Once(Box::new(|_| {}))
    }

    #[test]
    fn stale_entries_do_not_pile_up() {
        let mut t = Timers::default();
        let now = Instant::now();
        let _keep = t.add(now + Duration::from_secs(3600), noop());
        for i in 0..10_000u64 {
            let id = t.add(now + Duration::from_secs(i), noop());
            assert!(t.cancel(id));
        }
        assert!(
            t.heap.len() <= 130,
            "{} heap entries for 1 timer",
            t.heap.len()
        );
        assert_eq!(t.len(), 1);
        assert_eq!(t.next_deadline(), Some(now + Duration::from_secs(3600)));
    }

    #[test]
    fn due_timers_come_out_earliest_first() {
        let mut t = Timers::default();
        let now = Instant::now();
        let order = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        for (i, s) in [3u64, 1, 2].into_iter().enumerate() {
            let o = order.clone();
            t.add(
                now + Duration::from_secs(s),
                TimerFn::Once(Box::new(move |_| o.borrow_mut().push(i))),
            );
        }
        let ev = crate::testing::FakeReactor::new();
        while let Some(f) = t.pop_due(now + Duration::from_secs(5), t.newest()) {
            f.call(ev.event_loop());
        }
        assert_eq!(*order.borrow(), [1, 2, 0]);
    }
}
