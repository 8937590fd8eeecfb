//! The single-threaded event loop that drives every socket and server.
//!
//! An [`EventLoop`] wraps a `mio::Poll`, a set of timers, a queue of deferred
//! calls and a [`Handle`] through which other threads post closures onto the
//! loop thread. Sockets and servers register with the loop they were created
//! on; nothing happens until the loop runs, with [`EventLoop::run`] (until
//! [`EventLoop::quit`]) or [`EventLoop::process_events`] (one turn, for
//! embedding in a foreign loop).
//!
//! ```
//! use qwebsocket::event_loop::EventLoop;
//! use std::time::Duration;
//!
//! let ev = EventLoop::new()?;
//! ev.add_timer(Duration::from_millis(5), |ev| ev.quit());
//! ev.run(); // returns after about 5 ms
//! # Ok::<(), std::io::Error>(())
//! ```

mod dns;
mod timer;
mod timers;

pub use timer::Timer;
pub use timers::TimerId;

pub(crate) use dns::{LookupResult, lookup};

use crate::testing::FakeNet;
use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::io;
use std::rc::{Rc, Weak};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use timers::Timers;

const WAKER: mio::Token = mio::Token(0);

/// Something registered with the loop that wants to hear about readiness.
pub(crate) trait IoHandler {
    /// The source became readable and/or writable (edge-triggered: read and
    /// write until `WouldBlock`).
    fn ready(self: Rc<Self>, ev: &EventLoop, readable: bool, writable: bool);
}

/// Something with output to write once the current turn's slots are done
/// (corking): queued without allocating, written once per turn.
pub(crate) trait Flush {
    fn flush(self: Rc<Self>);
}

/// Something with a timer of its own (see `EventLoop::add_target_timer`).
pub(crate) trait OnTimer {
    fn on_timer(self: Rc<Self>, ev: &EventLoop);
}

type Posted = Box<dyn FnOnce(&EventLoop)>;
type RemotePosted = Box<dyn FnOnce(&EventLoop) + Send>;

struct Remote {
    queue: Mutex<Vec<RemotePosted>>,
    waker: Option<mio::Waker>,
}

pub(crate) enum Clock {
    Real,
    Manual(Cell<Instant>),
}

pub(crate) struct LoopInner {
    poll: Option<RefCell<mio::Poll>>,
    registry: Option<mio::Registry>,
    events: RefCell<mio::Events>,
    ready: RefCell<Vec<(usize, bool, bool)>>,
    clock: Clock,
    handlers: RefCell<Vec<Option<Weak<dyn IoHandler>>>>,
    free_tokens: RefCell<Vec<usize>>,
    timers: RefCell<Timers>,
    posted: RefCell<VecDeque<Posted>>,
    remote: Arc<Remote>,
    quit: Cell<bool>,
    lookups: RefCell<HashMap<u64, Box<dyn FnOnce(&EventLoop, LookupResult)>>>,
    next_lookup: Cell<u64>,
    live: RefCell<HashMap<u64, Rc<dyn Any>>>,
    next_live: Cell<u64>,
    application_proxy: RefCell<crate::proxy::Proxy>,
    system_proxy: Cell<bool>,
    /// Connections with corked output, written on the next turn.
    to_flush: RefCell<Vec<Weak<dyn Flush>>>,
    /// Sources to call `ready(readable)` again on the next turn (they stopped
    /// reading to let others run; edge-triggered readiness will not repeat).
    to_resume: RefCell<Vec<Weak<dyn IoHandler>>>,
    /// The other halves of `to_flush` and `to_resume` (see `run_flushes`).
    spare_flush: RefCell<Vec<Weak<dyn Flush>>>,
    spare_resume: RefCell<Vec<Weak<dyn IoHandler>>>,
    /// Read buffers lent to connections while they read (see `BufferPool`).
    pub(crate) read_buffers: RefCell<Vec<Vec<u8>>>,
    /// Read buffers kept across turns by connections with a partial frame.
    held_read_buffers: Cell<usize>,
    /// Read buffers grown for frames larger than `READ_BUFFER`.
    large_read_buffers: RefCell<Vec<Vec<u8>>>,
    /// Output buffers grown for large messages.
    large_write_buffers: RefCell<Vec<Vec<u8>>>,
    /// A list reused to collect a session's idle buffers.
    spare: RefCell<Vec<Vec<u8>>>,
    /// Empty output buffers, lent to connections while they have output.
    pub(crate) write_buffers: RefCell<Vec<Vec<u8>>>,
    pub(crate) fake: Option<Rc<FakeNet>>,
}

/// The event loop. Cheap to clone: every clone drives the same loop.
///
/// It is `!Send`: it and everything registered on it live on one thread. Use
/// [`EventLoop::handle`] to reach it from other threads.
///
/// ```compile_fail
/// fn needs_send<T: Send>(_: T) {}
/// needs_send(qwebsocket::event_loop::EventLoop::new().unwrap());
/// ```
#[derive(Clone)]
pub struct EventLoop {
    pub(crate) inner: Rc<LoopInner>,
}

impl fmt::Debug for EventLoop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventLoop")
            .field("fake", &self.inner.fake.is_some())
            .field("timers", &self.inner.timers.borrow().len())
            .finish_non_exhaustive()
    }
}

/// A `Send + Sync` handle that posts closures onto the loop thread.
///
/// Like a queued invocation in Qt: the closure runs on the loop thread during
/// a later turn of the loop, with the loop as its argument.
///
/// ```
/// use qwebsocket::event_loop::EventLoop;
/// let ev = EventLoop::new()?;
/// let handle = ev.handle();
/// std::thread::spawn(move || handle.post(|ev| ev.quit())).join().unwrap();
/// ev.run(); // returns: the worker's closure called quit()
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct Handle {
    remote: Arc<Remote>,
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle").finish_non_exhaustive()
    }
}

impl Handle {
    /// Posts `f` to run on the loop thread. Wakes the loop if it is waiting.
    /// If the loop is gone, `f` is dropped unrun.
    ///
    /// ```
    /// use qwebsocket::event_loop::EventLoop;
    /// let ev = EventLoop::new()?;
    /// let handle = ev.handle();
    /// let worker = std::thread::spawn(move || {
    ///     let answer = 6 * 7; // computed off the loop thread
    ///     handle.post(move |ev| {
    ///         assert_eq!(answer, 42); // runs on the loop thread
    ///         ev.quit();
    ///     });
    /// });
    /// ev.run();
    /// worker.join().unwrap();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn post(&self, f: impl FnOnce(&EventLoop) + Send + 'static) {
        if let Ok(mut q) = self.remote.queue.lock() {
            q.push(Box::new(f));
        }
        if let Some(w) = &self.remote.waker {
            // A failed wake only means the loop is gone.
            let _ = w.wake();
        }
    }

    /// Asks the loop to return from [`EventLoop::run`], from any thread (it
    /// posts [`EventLoop::quit`]).
    ///
    /// ```
    /// use qwebsocket::event_loop::EventLoop;
    /// let ev = EventLoop::new()?;
    /// let handle = ev.handle();
    /// std::thread::spawn(move || handle.quit());
    /// ev.run(); // returns once the other thread's quit arrives
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn quit(&self) {
        self.post(|ev| ev.quit());
    }
}

impl EventLoop {
    /// A new loop on the calling thread, on a real `mio::Poll`.
    ///
    /// ```
    /// let ev = qwebsocket::event_loop::EventLoop::new()?;
    /// assert!(!ev.is_fake());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn new() -> io::Result<EventLoop> {
        let poll = mio::Poll::new()?;
        let registry = poll.registry().try_clone()?;
        let waker = mio::Waker::new(poll.registry(), WAKER)?;
        Ok(Self::build(
            Some(poll),
            Some(registry),
            Some(waker),
            Clock::Real,
            None,
        ))
    }

    pub(crate) fn new_fake(start: Instant, fake: Rc<FakeNet>) -> EventLoop {
        Self::build(
            None,
            None,
            None,
            Clock::Manual(Cell::new(start)),
            Some(fake),
        )
    }

    fn build(
        poll: Option<mio::Poll>,
        registry: Option<mio::Registry>,
        waker: Option<mio::Waker>,
        clock: Clock,
        fake: Option<Rc<FakeNet>>,
    ) -> EventLoop {
        EventLoop {
            inner: Rc::new(LoopInner {
                poll: poll.map(RefCell::new),
                registry,
                events: RefCell::new(mio::Events::with_capacity(256)),
                ready: RefCell::new(Vec::with_capacity(256)),
                clock,
                handlers: RefCell::new(vec![None]),
                free_tokens: RefCell::new(Vec::new()),
                timers: RefCell::new(Timers::default()),
                posted: RefCell::new(VecDeque::new()),
                remote: Arc::new(Remote {
                    queue: Mutex::new(Vec::new()),
                    waker,
                }),
                quit: Cell::new(false),
                lookups: RefCell::new(HashMap::new()),
                next_lookup: Cell::new(0),
                live: RefCell::new(HashMap::new()),
                next_live: Cell::new(0),
                application_proxy: RefCell::new(crate::proxy::Proxy::default()),
                system_proxy: Cell::new(false),
                to_flush: RefCell::new(Vec::new()),
                to_resume: RefCell::new(Vec::new()),
                spare_flush: RefCell::new(Vec::new()),
                spare_resume: RefCell::new(Vec::new()),
                read_buffers: RefCell::new(Vec::new()),
                large_read_buffers: RefCell::new(Vec::new()),
                held_read_buffers: Cell::new(0),
                large_write_buffers: RefCell::new(Vec::new()),
                spare: RefCell::new(Vec::new()),
                write_buffers: RefCell::new(Vec::new()),
                fake,
            }),
        }
    }

    /// True for a loop made by [`crate::testing::FakeReactor`] (manual clock,
    /// in-memory network).
    ///
    /// ```
    /// use qwebsocket::{event_loop::EventLoop, testing::FakeReactor};
    /// assert!(!EventLoop::new()?.is_fake());
    /// assert!(FakeReactor::new().event_loop().is_fake());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn is_fake(&self) -> bool {
        self.inner.fake.is_some()
    }

    pub(crate) fn fake_net(&self) -> Option<&Rc<FakeNet>> {
        self.inner.fake.as_ref()
    }

    pub(crate) fn registry(&self) -> Option<&mio::Registry> {
        self.inner.registry.as_ref()
    }

    /// The loop's clock: the real monotonic clock, or the fake reactor's
    /// manual one. Every timeout of the crate is measured on it.
    ///
    /// ```
    /// let ev = qwebsocket::event_loop::EventLoop::new()?;
    /// let t = ev.now();
    /// assert!(ev.now() >= t);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn now(&self) -> Instant {
        match &self.inner.clock {
            Clock::Real => Instant::now(),
            Clock::Manual(t) => t.get(),
        }
    }

    pub(crate) fn set_manual_time(&self, t: Instant) {
        if let Clock::Manual(c) = &self.inner.clock {
            c.set(t);
        }
    }

    /// A `Send` handle for posting closures from other threads.
    ///
    /// ```
    /// use qwebsocket::event_loop::{EventLoop, Handle};
    /// fn needs_send_and_sync<T: Send + Sync>(_: &T) {}
    /// let ev = EventLoop::new()?;
    /// let handle: Handle = ev.handle();
    /// needs_send_and_sync(&handle);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn handle(&self) -> Handle {
        Handle {
            remote: self.inner.remote.clone(),
        }
    }

    /// Runs `f` on this thread during the next turn of the loop (never
    /// inside the call to `post`).
    ///
    /// ```
    /// use qwebsocket::event_loop::EventLoop;
    /// let ev = EventLoop::new()?;
    /// ev.post(|ev| ev.quit());
    /// ev.run();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn post(&self, f: impl FnOnce(&EventLoop) + 'static) {
        self.inner.posted.borrow_mut().push_back(Box::new(f));
    }

    /// Calls `f` once, `delay` from now (on the loop's clock).
    ///
    /// ```
    /// use qwebsocket::event_loop::EventLoop;
    /// use std::time::Duration;
    /// let ev = EventLoop::new()?;
    /// ev.add_timer(Duration::ZERO, |ev| ev.quit());
    /// ev.run();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn add_timer(&self, delay: Duration, f: impl FnOnce(&EventLoop) + 'static) -> TimerId {
        self.add_timer_at(self.now() + delay, f)
    }

    /// Calls `f` once at `deadline` (on the loop's clock), or on the first turn
    /// of the loop if the deadline has passed.
    ///
    /// ```
    /// use qwebsocket::testing::FakeReactor;
    /// use std::{cell::Cell, rc::Rc, time::Duration};
    /// let reactor = FakeReactor::new();
    /// let ev = reactor.event_loop();
    /// let fired = Rc::new(Cell::new(false));
    /// let f = fired.clone();
    /// ev.add_timer_at(ev.now() + Duration::from_secs(60), move |_| f.set(true));
    /// reactor.advance(Duration::from_secs(59));
    /// assert!(!fired.get());
    /// reactor.advance(Duration::from_secs(1));
    /// assert!(fired.get());
    /// ```
    pub fn add_timer_at(&self, deadline: Instant, f: impl FnOnce(&EventLoop) + 'static) -> TimerId {
        self.inner
            .timers
            .borrow_mut()
            .add(deadline, timers::TimerFn::Once(Box::new(f)))
    }

    /// Calls `target.on_timer` at `deadline`, without allocating.
    pub(crate) fn add_target_timer(&self, deadline: Instant, target: Weak<dyn OnTimer>) -> TimerId {
        self.inner
            .timers
            .borrow_mut()
            .add(deadline, timers::TimerFn::Target(target))
    }

    /// Cancels a timer; returns false if it already fired or was cancelled.
    ///
    /// ```
    /// use qwebsocket::event_loop::EventLoop;
    /// use std::time::Duration;
    /// let ev = EventLoop::new()?;
    /// let id = ev.add_timer(Duration::from_secs(1), |_| unreachable!());
    /// assert!(ev.cancel_timer(id));
    /// assert!(!ev.cancel_timer(id)); // already cancelled
    /// assert_eq!(ev.next_timer_deadline(), None);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn cancel_timer(&self, id: TimerId) -> bool {
        self.inner.timers.borrow_mut().cancel(id)
    }

    /// The deadline of the earliest pending timer, for foreign loops.
    ///
    /// ```
    /// use qwebsocket::event_loop::EventLoop;
    /// let ev = EventLoop::new()?;
    /// assert_eq!(ev.next_timer_deadline(), None);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn next_timer_deadline(&self) -> Option<Instant> {
        self.inner.timers.borrow_mut().next_deadline()
    }

    /// When the loop next has work that no file descriptor announces: now,
    /// if closures were posted, else the earliest timer; `None` if neither.
    /// With [`EventLoop::poll_fd`] this is all a foreign loop needs: wait
    /// until the descriptor is readable or this deadline passes, then call
    /// [`process_events(Some(Duration::ZERO))`](EventLoop::process_events).
    ///
    /// ```
    /// use qwebsocket::event_loop::EventLoop;
    /// use std::time::Duration;
    /// let ev = EventLoop::new()?;
    /// assert_eq!(ev.next_deadline(), None);
    /// ev.add_timer(Duration::from_secs(5), |_| {});
    /// assert_eq!(ev.next_deadline(), ev.next_timer_deadline());
    /// ev.post(|_| {});
    /// assert!(ev.next_deadline().unwrap() <= ev.now());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn next_deadline(&self) -> Option<Instant> {
        let remote_waiting = self
            .inner
            .remote
            .queue
            .lock()
            .map(|q| !q.is_empty())
            .unwrap_or(false);
        if !self.inner.posted.borrow().is_empty()
            || !self.inner.to_flush.borrow().is_empty()
            || !self.inner.to_resume.borrow().is_empty()
            || remote_waiting
        {
            return Some(self.now());
        }
        self.next_timer_deadline()
    }

    /// The loop's pollable descriptor (its epoll or kqueue instance): it is
    /// readable whenever a socket, a listener or a cross-thread
    /// [`Handle::post`] has work for the loop. Watch it from a foreign loop
    /// (a GUI toolkit, `poll(2)`, calloop, glib) together with
    /// [`EventLoop::next_deadline`], and call
    /// [`process_events(Some(Duration::ZERO))`](EventLoop::process_events)
    /// when either fires; that call never blocks. `None` on a fake loop.
    ///
    /// ```
    /// use qwebsocket::event_loop::EventLoop;
    /// let ev = EventLoop::new()?;
    /// let fd = ev.poll_fd().expect("a real loop has one");
    /// assert!(fd >= 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[cfg(unix)]
    pub fn poll_fd(&self) -> Option<std::os::fd::RawFd> {
        use std::os::fd::AsRawFd;
        self.inner.poll.as_ref().map(|p| p.borrow().as_raw_fd())
    }

    /// Makes [`EventLoop::run`] return once the current turn is done. It only
    /// affects a loop that is running: `run` starts by forgetting an earlier
    /// `quit` (post the call, as below, to stop a loop before it starts).
    ///
    /// ```
    /// use qwebsocket::event_loop::EventLoop;
    /// let ev = EventLoop::new()?;
    /// ev.post(|ev| ev.quit()); // runs inside run(), and makes it return
    /// ev.run();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn quit(&self) {
        self.inner.quit.set(true);
    }

    /// Runs the loop until [`EventLoop::quit`] is called: Qt's
    /// `QCoreApplication::exec()`. Every slot, timer and posted closure runs
    /// inside it, on this thread. It also returns if polling fails (logged).
    ///
    /// ```
    /// use qwebsocket::event_loop::EventLoop;
    /// use std::{cell::Cell, rc::Rc};
    /// let ev = EventLoop::new()?;
    /// let turns = Rc::new(Cell::new(0));
    /// let t = turns.clone();
    /// ev.post(move |ev| {
    ///     t.set(t.get() + 1);
    ///     ev.quit();
    /// });
    /// ev.run();
    /// assert_eq!(turns.get(), 1);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn run(&self) {
        self.inner.quit.set(false);
        while !self.inner.quit.get() {
            if let Err(e) = self.process_events(None) {
                log::error!("event loop poll failed: {e}");
                break;
            }
        }
        self.inner.quit.set(false);
    }

    /// Runs one turn: deferred calls, posted closures, due timers, then waits
    /// for I/O at most `timeout` (`None`: until something happens;
    /// `Some(Duration::ZERO)`: not at all) and dispatches it. Returns how many
    /// callbacks ran. On a fake loop it never waits.
    ///
    /// ```
    /// use qwebsocket::event_loop::EventLoop;
    /// use std::time::Duration;
    /// let ev = EventLoop::new()?;
    /// ev.post(|_| {});
    /// assert_eq!(ev.process_events(Some(Duration::ZERO))?, 1);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn process_events(&self, timeout: Option<Duration>) -> io::Result<usize> {
        let mut ran = self.run_ready_work();
        let now = self.now();
        let wait = if ran > 0
            || !self.inner.posted.borrow().is_empty()
            || !self.inner.to_flush.borrow().is_empty()
            || !self.inner.to_resume.borrow().is_empty()
            || self.inner.quit.get()
        {
            Some(Duration::ZERO)
        } else {
            let timer = self
                .next_timer_deadline()
                .map(|d| d.saturating_duration_since(now));
            match (timeout, timer) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            }
        };
        if let Some(poll) = &self.inner.poll {
            let mut events = self.inner.events.borrow_mut();
            match poll.borrow_mut().poll(&mut events, wait) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
            let mut ready = std::mem::take(&mut *self.inner.ready.borrow_mut());
            ready.clear();
            ready.extend(events.iter().map(|e| {
                (
                    e.token().0,
                    e.is_readable() || e.is_read_closed() || e.is_error(),
                    e.is_writable() || e.is_write_closed() || e.is_error(),
                )
            }));
            drop(events);
            for &(token, r, w) in &ready {
                if token == WAKER.0 {
                    continue;
                }
                let handler = self.inner.handlers.borrow().get(token).cloned().flatten();
                if let Some(h) = handler.and_then(|h| h.upgrade()) {
                    h.ready(self, r, w);
                    ran += 1;
                }
            }
            // Keep the vector's memory for the next turn (no allocation per turn).
            *self.inner.ready.borrow_mut() = ready;
        }
        ran += self.run_ready_work();
        Ok(ran)
    }

    /// Queues `what` to be flushed on the next turn (once per call: callers
    /// keep their own "already queued" flag).
    pub(crate) fn defer_flush(&self, what: Weak<dyn Flush>) {
        self.inner.to_flush.borrow_mut().push(what);
    }

    /// Calls `what.ready(readable)` on the next turn, without allocating.
    pub(crate) fn resume_reading(&self, what: Weak<dyn IoHandler>) {
        self.inner.to_resume.borrow_mut().push(what);
    }

    /// Writes the corked output of every connection queued so far, and
    /// resumes the sources that asked for it.
    fn run_flushes(&self) -> usize {
        let mut ran = self.run_resumes();
        // Two vectors take turns (what is queued while this batch runs goes
        // into the other), so that no turn allocates.
        let spare = std::mem::take(&mut *self.inner.spare_flush.borrow_mut());
        let mut batch = std::mem::replace(&mut *self.inner.to_flush.borrow_mut(), spare);
        ran += batch.len();
        for what in batch.drain(..) {
            if let Some(what) = what.upgrade() {
                what.flush();
            }
        }
        *self.inner.spare_flush.borrow_mut() = batch;
        ran
    }

    fn run_resumes(&self) -> usize {
        let spare = std::mem::take(&mut *self.inner.spare_resume.borrow_mut());
        let mut batch = std::mem::replace(&mut *self.inner.to_resume.borrow_mut(), spare);
        let ran = batch.len();
        for what in batch.drain(..) {
            if let Some(what) = what.upgrade() {
                what.ready(self, true, false);
            }
        }
        *self.inner.spare_resume.borrow_mut() = batch;
        ran
    }

    /// Posted calls, remote calls and due timers; returns how many ran.
    pub(crate) fn run_ready_work(&self) -> usize {
        let mut ran = 0;
        let remote: Vec<RemotePosted> = match self.inner.remote.queue.lock() {
            Ok(mut q) => std::mem::take(&mut *q),
            Err(_) => Vec::new(),
        };
        for f in remote {
            f(self);
            ran += 1;
        }
        // Only what was posted before this point runs now.
        let count = self.inner.posted.borrow().len();
        for _ in 0..count {
            let f = self.inner.posted.borrow_mut().pop_front();
            match f {
                Some(f) => {
                    f(self);
                    ran += 1;
                }
                None => break,
            }
        }
        ran += self.run_flushes();
        let now = self.now();
        let newest = self.inner.timers.borrow().newest();
        loop {
            let due = self.inner.timers.borrow_mut().pop_due(now, newest);
            match due {
                Some(f) => {
                    f.call(self);
                    ran += 1;
                }
                None => break,
            }
        }
        ran
    }

    /// Registers `source` for readable and writable readiness, edge-triggered.
    pub(crate) fn register(
        &self,
        source: &mut impl mio::event::Source,
        handler: Weak<dyn IoHandler>,
    ) -> io::Result<mio::Token> {
        let token = self.alloc_token(handler);
        if let Some(reg) = self.registry() {
            if let Err(e) = reg.register(
                source,
                token,
                mio::Interest::READABLE | mio::Interest::WRITABLE,
            ) {
                self.release_token(token);
                return Err(e);
            }
        }
        Ok(token)
    }

    pub(crate) fn alloc_token(&self, handler: Weak<dyn IoHandler>) -> mio::Token {
        let mut handlers = self.inner.handlers.borrow_mut();
        match self.inner.free_tokens.borrow_mut().pop() {
            Some(t) => {
                handlers[t] = Some(handler);
                mio::Token(t)
            }
            None => {
                handlers.push(Some(handler));
                mio::Token(handlers.len() - 1)
            }
        }
    }

    /// Forgets a token (after the source was deregistered or closed).
    pub(crate) fn release_token(&self, token: mio::Token) {
        let mut handlers = self.inner.handlers.borrow_mut();
        if let Some(slot) = handlers.get_mut(token.0) {
            if slot.take().is_some() {
                self.inner.free_tokens.borrow_mut().push(token.0);
            }
        }
    }

    /// The handler registered for a token (fake network dispatch).
    pub(crate) fn handler(&self, token: mio::Token) -> Option<Rc<dyn IoHandler>> {
        self.inner
            .handlers
            .borrow()
            .get(token.0)
            .cloned()
            .flatten()
            .and_then(|w| w.upgrade())
    }

    /// Keeps `object` alive until [`EventLoop::release_alive`] (open connections).
    pub(crate) fn keep_alive(&self, object: Rc<dyn Any>) -> u64 {
        let key = self.inner.next_live.get() + 1;
        self.inner.next_live.set(key);
        self.inner.live.borrow_mut().insert(key, object);
        key
    }

    /// Lets go of an object kept alive; it is dropped on the next turn, never
    /// inside the call.
    pub(crate) fn release_alive(&self, key: u64) {
        let object = self.inner.live.borrow_mut().remove(&key);
        if let Some(object) = object {
            self.post(move |_| drop(object));
        }
    }

    /// Frees the buffers the loop keeps for reuse (read and output buffers
    /// that connections give back when they have nothing in flight), and
    /// returns how many bytes that was. The loop keeps at most 16 small and
    /// 2 large buffers of each kind, whatever the number of connections;
    /// call this after a burst of large messages to give the memory back at
    /// once. Busy connections take new buffers as they need them.
    ///
    /// ```
    /// use qwebsocket::event_loop::EventLoop;
    /// let ev = EventLoop::new()?;
    /// assert_eq!(ev.trim_buffers(), 0); // nothing pooled yet
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn trim_buffers(&self) -> usize {
        let inner = &self.inner;
        let mut freed = 0;
        for pool in [
            &inner.read_buffers,
            &inner.large_read_buffers,
            &inner.write_buffers,
            &inner.large_write_buffers,
        ] {
            let taken = std::mem::take(&mut *pool.borrow_mut());
            freed += taken.iter().map(Vec::capacity).sum::<usize>();
        }
        freed
    }

    /// Number of objects the loop keeps alive (open connections): a socket
    /// counts from `open()` (or, on a server, from the TCP accept) until it is
    /// unconnected again. Handy to check in tests that nothing leaks.
    ///
    /// ```
    /// use qwebsocket::{testing::FakeReactor, WebSocket};
    /// let reactor = FakeReactor::new();
    /// let ws = WebSocket::new(reactor.event_loop());
    /// assert_eq!(reactor.event_loop().live_connections(), 0);
    /// ws.open("ws://127.0.0.1/").unwrap();
    /// assert_eq!(reactor.event_loop().live_connections(), 1);
    /// ws.abort();
    /// assert_eq!(reactor.event_loop().live_connections(), 0);
    /// ```
    pub fn live_connections(&self) -> usize {
        self.inner.live.borrow().len()
    }

    /// Sets the proxy that sockets with [`ProxyType::DefaultProxy`] use (Qt's
    /// `QNetworkProxy::setApplicationProxy`, but per loop: no global state).
    /// `DefaultProxy` here means "no application proxy": the environment's
    /// if [`set_use_system_proxy_configuration`](EventLoop::set_use_system_proxy_configuration)
    /// is on, else none.
    ///
    /// [`ProxyType::DefaultProxy`]: crate::proxy::ProxyType::DefaultProxy
    ///
    /// ```
    /// use qwebsocket::event_loop::EventLoop;
    /// use qwebsocket::proxy::Proxy;
    /// let ev = EventLoop::new()?;
    /// ev.set_application_proxy(Proxy::socks5("127.0.0.1", 1080));
    /// assert_eq!(ev.application_proxy().port(), 1080);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_application_proxy(&self, proxy: crate::proxy::Proxy) {
        *self.inner.application_proxy.borrow_mut() = proxy;
    }

    /// The application proxy (a `DefaultProxy` when none was set).
    ///
    /// ```
    /// use qwebsocket::event_loop::EventLoop;
    /// use qwebsocket::proxy::ProxyType;
    /// let ev = EventLoop::new()?;
    /// assert_eq!(ev.application_proxy().kind(), ProxyType::DefaultProxy);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn application_proxy(&self) -> crate::proxy::Proxy {
        self.inner.application_proxy.borrow().clone()
    }

    /// Opts in to the environment's proxy settings (`https_proxy`,
    /// `http_proxy`, `all_proxy`, `no_proxy`; see
    /// [`Proxy::system_proxy_for`](crate::proxy::Proxy::system_proxy_for)) for
    /// sockets that use the default proxy and when no application proxy is set
    /// (Qt's `QNetworkProxyFactory::setUseSystemConfiguration`). Off by default.
    /// The variables are read at each `open`.
    ///
    /// ```
    /// use qwebsocket::event_loop::EventLoop;
    /// let ev = EventLoop::new()?;
    /// assert!(!ev.uses_system_proxy_configuration());
    /// ev.set_use_system_proxy_configuration(true);
    /// assert!(ev.uses_system_proxy_configuration());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_use_system_proxy_configuration(&self, enabled: bool) {
        self.inner.system_proxy.set(enabled);
    }

    /// Whether the environment's proxy settings are used (see
    /// [`set_use_system_proxy_configuration`](EventLoop::set_use_system_proxy_configuration));
    /// false by default.
    ///
    /// ```
    /// use qwebsocket::testing::FakeReactor;
    /// let reactor = FakeReactor::new();
    /// let ev = reactor.event_loop();
    /// assert!(!ev.uses_system_proxy_configuration()); // `https_proxy` & co. are ignored
    /// ev.set_use_system_proxy_configuration(true);
    /// assert!(ev.uses_system_proxy_configuration());
    /// ```
    pub fn uses_system_proxy_configuration(&self) -> bool {
        self.inner.system_proxy.get()
    }

    /// The proxy a socket set to `proxy` uses for `url`: `None` to connect
    /// directly.
    pub(crate) fn effective_proxy(
        &self,
        proxy: &crate::proxy::Proxy,
        url: &url::Url,
    ) -> Option<crate::proxy::Proxy> {
        use crate::proxy::{Proxy, ProxyType};
        let mut chosen = proxy.clone();
        if chosen.kind() == ProxyType::DefaultProxy {
            chosen = self.application_proxy();
        }
        if chosen.kind() == ProxyType::DefaultProxy && self.uses_system_proxy_configuration() {
            chosen = Proxy::system_proxy_for(url);
        }
        match chosen.kind() {
            ProxyType::HttpProxy | ProxyType::Socks5Proxy => Some(chosen),
            _ => None,
        }
    }

    /// Number of registered I/O sources (listeners and connections).
    ///
    /// ```
    /// use qwebsocket::{event_loop::EventLoop, SslMode, WebSocketServer};
    /// let ev = EventLoop::new()?;
    /// let server = WebSocketServer::new(&ev, "", SslMode::NonSecureMode);
    /// server.listen("127.0.0.1".parse().unwrap(), 0).unwrap();
    /// assert_eq!(ev.registered_sources(), 1);
    /// server.close();
    /// assert_eq!(ev.registered_sources(), 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn registered_sources(&self) -> usize {
        self.inner
            .handlers
            .borrow()
            .iter()
            .filter(|h| h.is_some())
            .count()
    }
}

/// Size of the read buffers a loop lends to its connections: 64 KiB, and
/// room for the largest frame header, so that a 64 KiB message arrives in
/// one buffer without growing it.
pub(crate) const READ_BUFFER: usize = 64 * 1024 + 64;
/// How many connections may keep a read buffer across turns while a frame
/// is incomplete (the others keep a copy of the few bytes they have).
const HELD_READ_BUFFERS: usize = 64;
/// How many idle buffers of each kind a loop keeps.
const POOLED: usize = 16;
/// Read buffers grown for large frames are pooled up to this size...
const LARGEST_POOLED_READ: usize = 4 << 20;
/// ... and this many (several connections may receive large messages at
/// the same time)...
const POOLED_LARGE: usize = 8;
/// ... and no more than this many bytes of them in all.
const POOLED_LARGE_BYTES: usize = 8 << 20;
/// Output buffers larger than this are freed rather than pooled.
const LARGEST_POOLED_OUTPUT: usize = 256 * 1024;

/// Whether a pool of large buffers has room for one more of `len` bytes.
fn fits_large_pool(pool: &[Vec<u8>], len: usize) -> bool {
    let held: usize = pool.iter().map(Vec::capacity).sum();
    pool.len() < POOLED_LARGE && held + len <= POOLED_LARGE_BYTES
}

/// Buffers shared by the connections of one loop: a connection borrows one
/// while it has bytes in flight and gives it back when it has none, so an
/// idle connection holds no buffer and a busy one allocates nothing per
/// message.
impl LoopInner {
    /// A read buffer of `READ_BUFFER` initialized bytes.
    pub(crate) fn take_read_buffer(&self) -> Vec<u8> {
        self.read_buffers
            .borrow_mut()
            .pop()
            .unwrap_or_else(|| vec![0; READ_BUFFER])
    }

    /// Takes back a read buffer. One grown for a large frame is kept too
    /// (a few, up to `LARGEST_POOLED_READ`), so that a stream of large
    /// messages neither allocates nor zeroes a buffer for each.
    pub(crate) fn give_read_buffer(&self, buf: Vec<u8>) {
        if buf.len() == READ_BUFFER {
            let mut pool = self.read_buffers.borrow_mut();
            if pool.len() < POOLED {
                pool.push(buf);
            }
        } else if buf.len() > READ_BUFFER && buf.len() <= LARGEST_POOLED_READ {
            let mut large = self.large_read_buffers.borrow_mut();
            if fits_large_pool(&large, buf.len()) {
                large.push(buf);
            }
        }
    }

    /// Asks to keep a read buffer across turns (a partial frame waits for
    /// more bytes): granted to a bounded number of connections, so that many
    /// slow peers cannot make the loop hold a buffer each.
    pub(crate) fn hold_read_buffer(&self) -> bool {
        let held = self.held_read_buffers.get();
        let granted = held < HELD_READ_BUFFERS;
        if granted {
            self.held_read_buffers.set(held + 1);
        }
        granted
    }

    /// A connection stopped holding its read buffer.
    pub(crate) fn release_held_read_buffer(&self) {
        let held = self.held_read_buffers.get();
        self.held_read_buffers.set(held.saturating_sub(1));
    }

    /// A pooled read buffer of at least `len` initialized bytes, if any.
    pub(crate) fn take_large_read_buffer(&self, len: usize) -> Option<Vec<u8>> {
        let mut large = self.large_read_buffers.borrow_mut();
        let i = large.iter().position(|b| b.len() >= len)?;
        Some(large.swap_remove(i))
    }

    /// An empty output buffer (with some capacity if one is pooled).
    pub(crate) fn take_write_buffer(&self) -> Vec<u8> {
        self.write_buffers.borrow_mut().pop().unwrap_or_default()
    }

    /// Takes back an empty buffer; a few large ones are kept apart (up to
    /// `LARGEST_POOLED_READ`), the rest beyond the pool's size is freed.
    pub(crate) fn give_write_buffer(&self, buf: Vec<u8>) {
        if buf.capacity() <= LARGEST_POOLED_OUTPUT {
            let mut pool = self.write_buffers.borrow_mut();
            if pool.len() < POOLED {
                pool.push(buf);
            }
        } else if buf.capacity() <= LARGEST_POOLED_READ {
            let mut large = self.large_write_buffers.borrow_mut();
            if fits_large_pool(&large, buf.capacity()) {
                large.push(buf);
            }
        }
    }

    /// An empty output buffer with room for `len` bytes, if a large one is
    /// pooled.
    pub(crate) fn take_large_write_buffer(&self, len: usize) -> Option<Vec<u8>> {
        let mut large = self.large_write_buffers.borrow_mut();
        let i = large.iter().position(|b| b.capacity() >= len)?;
        Some(large.swap_remove(i))
    }

    /// Takes the buffers a session does not need now (output written,
    /// no message being assembled) into the pools.
    pub(crate) fn reclaim_buffers(&self, session: &mut crate::protocol::Session) {
        let mut spare = std::mem::take(&mut *self.spare.borrow_mut());
        session.take_idle_buffers(&mut spare);
        for buf in spare.drain(..) {
            self.give_write_buffer(buf);
        }
        *self.spare.borrow_mut() = spare;
    }

    pub(crate) fn park_lookup(&self, done: Box<dyn FnOnce(&EventLoop, LookupResult)>) -> u64 {
        let id = self.next_lookup.get() + 1;
        self.next_lookup.set(id);
        self.lookups.borrow_mut().insert(id, done);
        id
    }

    pub(crate) fn finish_lookup(&self, ev: &EventLoop, id: u64, result: LookupResult) {
        let done = self.lookups.borrow_mut().remove(&id);
        if let Some(done) = done {
            done(ev, result);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timers_fire_in_deadline_order_and_cancelled_ones_never() {
        let ev = EventLoop::new().unwrap();
        let log = Rc::new(RefCell::new(Vec::new()));
        for (i, ms) in [(1, 30u64), (2, 10), (3, 20)] {
            let log = log.clone();
            ev.add_timer(Duration::from_millis(ms), move |_| log.borrow_mut().push(i));
        }
        let l = log.clone();
        let cancelled = ev.add_timer(Duration::from_millis(15), move |_| l.borrow_mut().push(99));
        assert!(ev.cancel_timer(cancelled));
        ev.add_timer(Duration::from_millis(40), |ev| ev.quit());
        ev.run();
        assert_eq!(*log.borrow(), vec![2, 3, 1]);
    }

    #[test]
    fn post_from_another_thread_wakes_a_waiting_loop() {
        let ev = EventLoop::new().unwrap();
        let h = ev.handle();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            h.quit();
        });
        let start = Instant::now();
        ev.run();
        t.join().unwrap();
        assert!(start.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn closures_posted_while_running_wait_for_the_next_turn() {
        let ev = EventLoop::new().unwrap();
        let hits = Rc::new(Cell::new(0));
        let h = hits.clone();
        ev.post(move |ev| {
            h.set(h.get() + 1);
            let h2 = h.clone();
            ev.post(move |_| h2.set(h2.get() + 10));
        });
        assert_eq!(ev.run_ready_work(), 1);
        assert_eq!(hits.get(), 1);
        assert_eq!(ev.run_ready_work(), 1);
        assert_eq!(hits.get(), 11);
    }

    #[test]
    fn host_lookup_runs_off_thread_and_reports_on_the_loop() {
        let ev = EventLoop::new().unwrap();
        let got = Rc::new(RefCell::new(None));
        let g = got.clone();
        lookup(
            &ev,
            "localhost",
            80,
            Box::new(move |ev, r| {
                *g.borrow_mut() = Some(r.map(|v| v.len()));
                ev.quit();
            }),
        );
        ev.add_timer(Duration::from_secs(10), |ev| ev.quit());
        ev.run();
        let r = got.borrow_mut().take().expect("lookup finished");
        assert!(r.unwrap() >= 1);
    }
}
