//! [`Timer`]: Qt's `QTimer` on the event loop.

use super::{EventLoop, LoopInner, TimerId};
use crate::signal::Signal;
use std::cell::Cell;
use std::fmt;
use std::rc::{Rc, Weak};
use std::time::{Duration, Instant};

crate::signal_signature!(&Timer);

/// A single-shot or repeating timer that emits [`timeout`](Timer::timeout)
/// (Qt's `QTimer`), for heartbeats, reconnects and other application timing.
///
/// A `Timer` is a cheap handle (clone it freely; every clone is the same
/// timer); it stops when the last handle is dropped. Like everything on the
/// loop it is `!Send`. Time is the loop's clock, so a timer on a
/// [`FakeReactor`](crate::testing::FakeReactor) fires when the test advances
/// the clock, with no sleeping.
///
/// A repeating timer keeps its rhythm: each deadline is the previous one plus
/// the interval, so slow slots do not make it drift; if the loop was held up
/// for longer than an interval, the missed firings are skipped, not bunched.
///
/// ```
/// use qwebsocket::event_loop::Timer;
/// use qwebsocket::testing::FakeReactor;
/// use std::{cell::Cell, rc::Rc, time::Duration};
///
/// let reactor = FakeReactor::new();
/// let heartbeat = Timer::new(reactor.event_loop());
/// heartbeat.set_interval(Duration::from_secs(30));
/// let beats = Rc::new(Cell::new(0));
/// let b = beats.clone();
/// heartbeat.timeout().connect(move |timer| {
///     b.set(b.get() + 1);
///     if b.get() == 3 {
///         timer.stop();
///     }
/// });
/// heartbeat.start();
/// reactor.advance(Duration::from_secs(300));
/// assert_eq!(beats.get(), 3);
/// assert!(!heartbeat.is_active());
/// ```
#[derive(Clone)]
pub struct Timer {
    inner: Rc<TimerInner>,
}

struct TimerInner {
    ev: Weak<LoopInner>,
    interval: Cell<Duration>,
    single_shot: Cell<bool>,
    /// The scheduled firing: its loop timer and deadline.
    scheduled: Cell<Option<(TimerId, Instant)>>,
    timeout: Signal<dyn Fn(&Timer)>,
}

impl fmt::Debug for Timer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timer")
            .field("interval", &self.interval())
            .field("single_shot", &self.is_single_shot())
            .field("active", &self.is_active())
            .finish()
    }
}

impl Timer {
    /// A stopped, repeating timer with a zero interval (Qt's defaults).
    ///
    /// ```
    /// use qwebsocket::event_loop::{EventLoop, Timer};
    /// use std::time::Duration;
    /// let ev = EventLoop::new()?;
    /// let t = Timer::new(&ev);
    /// assert!(!t.is_active() && !t.is_single_shot());
    /// assert_eq!(t.interval(), Duration::ZERO);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn new(ev: &EventLoop) -> Timer {
        Timer {
            inner: Rc::new(TimerInner {
                ev: Rc::downgrade(&ev.inner),
                interval: Cell::new(Duration::ZERO),
                single_shot: Cell::new(false),
                scheduled: Cell::new(None),
                timeout: Signal::default(),
            }),
        }
    }

    /// Calls `f` once after `delay` (Qt's `QTimer::singleShot`). Returns the
    /// id to cancel it with [`EventLoop::cancel_timer`].
    ///
    /// ```
    /// use qwebsocket::event_loop::{EventLoop, Timer};
    /// use std::time::Duration;
    /// let ev = EventLoop::new()?;
    /// Timer::single_shot(&ev, Duration::from_millis(1), |ev| ev.quit());
    /// ev.run();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn single_shot(
        ev: &EventLoop,
        delay: Duration,
        f: impl FnOnce(&EventLoop) + 'static,
    ) -> TimerId {
        ev.add_timer(delay, f)
    }

    /// Emitted when the timer fires. A slot may stop, restart or reconfigure
    /// the timer, or drop the last handle to it.
    ///
    /// ```
    /// use qwebsocket::event_loop::{EventLoop, Timer};
    /// use std::time::Duration;
    /// let ev = EventLoop::new()?;
    /// let t = Timer::new(&ev);
    /// t.set_single_shot(true);
    /// t.timeout().connect(|timer| {
    ///     assert!(!timer.is_active()); // a single shot is over when it fires
    ///     timer.event_loop().unwrap().quit();
    /// });
    /// t.start_with(Duration::from_millis(1));
    /// ev.run();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn timeout(&self) -> &Signal<dyn Fn(&Timer)> {
        &self.inner.timeout
    }

    /// The loop the timer runs on, while it exists.
    ///
    /// ```
    /// use qwebsocket::event_loop::{EventLoop, Timer};
    /// let ev = EventLoop::new()?;
    /// assert!(Timer::new(&ev).event_loop().is_some());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn event_loop(&self) -> Option<EventLoop> {
        self.inner.ev.upgrade().map(|inner| EventLoop { inner })
    }

    /// Sets the interval. On an active timer it takes effect at once: the
    /// timer restarts with the new interval (as in Qt).
    ///
    /// ```
    /// use qwebsocket::event_loop::{EventLoop, Timer};
    /// use std::time::Duration;
    /// let ev = EventLoop::new()?;
    /// let t = Timer::new(&ev);
    /// t.set_interval(Duration::from_millis(250));
    /// assert_eq!(t.interval(), Duration::from_millis(250));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_interval(&self, interval: Duration) {
        self.inner.interval.set(interval);
        if self.is_active() {
            self.start();
        }
    }

    /// The interval: how long after `start` the timer fires (zero until
    /// set).
    ///
    /// ```
    /// use qwebsocket::event_loop::Timer;
    /// use qwebsocket::testing::FakeReactor;
    /// use std::time::Duration;
    /// let reactor = FakeReactor::new();
    /// let t = Timer::new(reactor.event_loop());
    /// assert_eq!(t.interval(), Duration::ZERO);
    /// t.start_with(Duration::from_millis(1500));
    /// assert_eq!(t.interval(), Duration::from_millis(1500));
    /// ```
    pub fn interval(&self) -> Duration {
        self.inner.interval.get()
    }

    /// Makes the timer fire once per `start` (true) or repeatedly (false,
    /// the default).
    ///
    /// ```
    /// use qwebsocket::event_loop::{EventLoop, Timer};
    /// let ev = EventLoop::new()?;
    /// let t = Timer::new(&ev);
    /// t.set_single_shot(true);
    /// assert!(t.is_single_shot());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_single_shot(&self, single_shot: bool) {
        self.inner.single_shot.set(single_shot);
    }

    /// Whether the timer fires only once per `start` (false by default: it
    /// repeats every interval until stopped).
    ///
    /// ```
    /// use qwebsocket::event_loop::Timer;
    /// use qwebsocket::testing::FakeReactor;
    /// use std::time::Duration;
    /// let reactor = FakeReactor::new();
    /// let t = Timer::new(reactor.event_loop());
    /// assert!(!t.is_single_shot());
    /// t.start_with(Duration::from_secs(1));
    /// reactor.advance(Duration::from_secs(3));
    /// assert!(t.is_active()); // still repeating
    /// t.set_single_shot(true);
    /// t.start();
    /// reactor.advance(Duration::from_secs(1));
    /// assert!(!t.is_active()); // fired once, and stopped
    /// ```
    pub fn is_single_shot(&self) -> bool {
        self.inner.single_shot.get()
    }

    /// Starts (or restarts) the timer: it fires `interval` from now.
    ///
    /// ```
    /// use qwebsocket::event_loop::Timer;
    /// use qwebsocket::testing::FakeReactor;
    /// use std::time::Duration;
    /// let reactor = FakeReactor::new();
    /// let t = Timer::new(reactor.event_loop());
    /// t.set_interval(Duration::from_secs(5));
    /// t.start();
    /// reactor.advance(Duration::from_secs(2));
    /// assert_eq!(t.remaining_time(), Some(Duration::from_secs(3)));
    /// t.start(); // restarts: 5 s from now again
    /// assert_eq!(t.remaining_time(), Some(Duration::from_secs(5)));
    /// ```
    pub fn start(&self) {
        let Some(ev) = self.event_loop() else { return };
        self.schedule(&ev, ev.now() + self.interval());
    }

    /// Sets the interval and starts (or restarts) the timer: it fires
    /// `interval` from now, then every `interval` unless single-shot.
    ///
    /// ```
    /// use qwebsocket::event_loop::Timer;
    /// use qwebsocket::testing::FakeReactor;
    /// use std::{cell::Cell, rc::Rc, time::Duration};
    /// let reactor = FakeReactor::new();
    /// let t = Timer::new(reactor.event_loop());
    /// let fired = Rc::new(Cell::new(0));
    /// let f = fired.clone();
    /// t.timeout().connect(move |_| f.set(f.get() + 1));
    /// t.start_with(Duration::from_millis(100));
    /// reactor.advance(Duration::from_millis(99));
    /// assert_eq!(fired.get(), 0);
    /// reactor.advance(Duration::from_millis(201)); // at 100 and 200, and at 300
    /// assert_eq!(fired.get(), 3);
    /// ```
    pub fn start_with(&self, interval: Duration) {
        self.inner.interval.set(interval);
        self.start();
    }

    /// Stops the timer; it does not fire until started again.
    ///
    /// ```
    /// use qwebsocket::event_loop::{EventLoop, Timer};
    /// use std::time::Duration;
    /// let ev = EventLoop::new()?;
    /// let t = Timer::new(&ev);
    /// t.start_with(Duration::from_secs(1));
    /// assert!(t.is_active());
    /// t.stop();
    /// assert!(!t.is_active());
    /// assert_eq!(ev.next_timer_deadline(), None);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn stop(&self) {
        if let Some((id, _)) = self.inner.scheduled.take() {
            if let Some(ev) = self.event_loop() {
                ev.cancel_timer(id);
            }
        }
    }

    /// Whether the timer is running: true from `start` until `stop`, or
    /// until a single-shot timer fires.
    ///
    /// ```
    /// use qwebsocket::event_loop::Timer;
    /// use qwebsocket::testing::FakeReactor;
    /// use std::time::Duration;
    /// let reactor = FakeReactor::new();
    /// let t = Timer::new(reactor.event_loop());
    /// assert!(!t.is_active());
    /// t.set_single_shot(true);
    /// t.start_with(Duration::from_secs(1));
    /// assert!(t.is_active());
    /// reactor.advance(Duration::from_secs(1));
    /// assert!(!t.is_active());
    /// ```
    pub fn is_active(&self) -> bool {
        self.inner.scheduled.get().is_some()
    }

    /// How long until the timer fires (zero when it is overdue, e.g. while
    /// the loop is busy), or `None` when it is stopped. Measured on the
    /// loop's clock ([`EventLoop::now`]), which a fake reactor moves by hand.
    ///
    /// ```
    /// use qwebsocket::event_loop::Timer;
    /// use qwebsocket::testing::FakeReactor;
    /// use std::time::Duration;
    /// let reactor = FakeReactor::new();
    /// let t = Timer::new(reactor.event_loop());
    /// assert_eq!(t.remaining_time(), None);
    /// t.start_with(Duration::from_secs(10));
    /// reactor.advance(Duration::from_millis(2500));
    /// assert_eq!(t.remaining_time(), Some(Duration::from_millis(7500)));
    /// t.stop();
    /// assert_eq!(t.remaining_time(), None);
    /// ```
    pub fn remaining_time(&self) -> Option<Duration> {
        let (_, at) = self.inner.scheduled.get()?;
        let ev = self.event_loop()?;
        Some(at.saturating_duration_since(ev.now()))
    }

    fn schedule(&self, ev: &EventLoop, at: Instant) {
        self.stop();
        let weak = Rc::downgrade(&self.inner);
        let id = ev.add_timer_at(at, move |ev| {
            if let Some(inner) = weak.upgrade() {
                Timer { inner }.fire(ev, at);
            }
        });
        self.inner.scheduled.set(Some((id, at)));
    }

    fn fire(&self, ev: &EventLoop, due: Instant) {
        self.inner.scheduled.set(None);
        if !self.is_single_shot() {
            let interval = self.interval();
            let mut next = due + interval;
            let now = ev.now();
            if next <= now {
                // Held up past the next firing (or a zero interval): skip
                // what was missed rather than firing in a burst.
                next = now + interval;
            }
            self.schedule(ev, next);
        }
        self.inner.timeout.emit(self);
    }
}

impl Drop for TimerInner {
    fn drop(&mut self) {
        if let (Some((id, _)), Some(inner)) = (self.scheduled.get(), self.ev.upgrade()) {
            EventLoop { inner }.cancel_timer(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::FakeReactor;
    use std::cell::RefCell;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    fn recorder(t: &Timer, reactor: &FakeReactor) -> Rc<RefCell<Vec<Duration>>> {
        let fired = Rc::new(RefCell::new(Vec::new()));
        let (f, start) = (fired.clone(), reactor.now());
        let ev = reactor.event_loop().clone();
        t.timeout()
            .connect(move |_| f.borrow_mut().push(ev.now() - start));
        fired
    }

    #[test]
    fn repeating_timer_fires_every_interval() {
        let reactor = FakeReactor::new();
        let t = Timer::new(reactor.event_loop());
        let fired = recorder(&t, &reactor);
        t.start_with(secs(10));
        reactor.advance(secs(35));
        assert_eq!(*fired.borrow(), [secs(10), secs(20), secs(30)]);
        assert_eq!(t.remaining_time(), Some(secs(5)));
    }

    #[test]
    fn single_shot_fires_once() {
        let reactor = FakeReactor::new();
        let t = Timer::new(reactor.event_loop());
        t.set_single_shot(true);
        let fired = recorder(&t, &reactor);
        t.start_with(secs(1));
        reactor.advance(secs(10));
        assert_eq!(*fired.borrow(), [secs(1)]);
        assert!(!t.is_active());
        assert_eq!(t.remaining_time(), None);
    }

    #[test]
    fn a_held_up_loop_skips_missed_firings() {
        let reactor = FakeReactor::new();
        let t = Timer::new(reactor.event_loop());
        let count = Rc::new(Cell::new(0));
        let c = count.clone();
        t.timeout().connect(move |_| c.set(c.get() + 1));
        t.start_with(secs(1));
        // One jump of 10 s: the clock moves at once, as after a blocked loop.
        reactor
            .event_loop()
            .set_manual_time(reactor.now() + secs(10));
        reactor.run_until_idle();
        assert_eq!(count.get(), 1, "no burst of missed firings");
        assert_eq!(t.remaining_time(), Some(secs(1)));
    }

    #[test]
    fn set_interval_restarts_an_active_timer() {
        let reactor = FakeReactor::new();
        let t = Timer::new(reactor.event_loop());
        let fired = recorder(&t, &reactor);
        t.start_with(secs(10));
        reactor.advance(secs(4));
        t.set_interval(secs(3));
        reactor.advance(secs(7));
        assert_eq!(*fired.borrow(), [secs(7), secs(10)]);
    }

    #[test]
    fn slot_can_stop_restart_or_drop_the_timer() {
        let reactor = FakeReactor::new();
        let t = Timer::new(reactor.event_loop());
        let holder = Rc::new(RefCell::new(Some(t.clone())));
        let h = holder.clone();
        let fired = recorder(&t, &reactor);
        t.timeout().connect(move |timer| {
            if timer.interval() == secs(1) {
                timer.start_with(secs(5)); // restart inside the slot
            } else {
                h.borrow_mut().take(); // drop a handle inside the slot
                timer.stop();
            }
        });
        t.start_with(secs(1));
        drop(t);
        reactor.advance(secs(20));
        assert_eq!(*fired.borrow(), [secs(1), secs(6)]);
        assert!(holder.borrow().is_none());
        assert_eq!(reactor.event_loop().next_timer_deadline(), None);
    }

    #[test]
    fn dropping_the_last_handle_stops_the_timer() {
        let reactor = FakeReactor::new();
        let t = Timer::new(reactor.event_loop());
        t.start_with(secs(1));
        assert!(reactor.event_loop().next_timer_deadline().is_some());
        drop(t);
        assert_eq!(reactor.event_loop().next_timer_deadline(), None);
    }

    #[test]
    fn zero_interval_repeats_once_per_turn() {
        let reactor = FakeReactor::new();
        let t = Timer::new(reactor.event_loop());
        let count = Rc::new(Cell::new(0));
        let c = count.clone();
        t.timeout().connect(move |timer| {
            c.set(c.get() + 1);
            if c.get() == 5 {
                timer.stop();
            }
        });
        t.start();
        reactor.run_until_idle();
        assert_eq!(count.get(), 5);
    }
}
