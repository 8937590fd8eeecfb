//! Signals and slots: how every object of the crate tells its users what happened.
//!
//! # The model
//!
//! An object (a `WebSocket`, a `WebSocketServer`) owns one [`Signal`] per kind of
//! event, as a public field. A signal is a list of *slots*: closures connected to
//! it with `connect`, each identified by the [`SlotId`] that `connect` returns.
//! When the event happens the object *emits* the signal, which calls every
//! connected slot, in connection order, with the signal's arguments. The first
//! argument is, by convention, the emitting object itself, so that a slot need not
//! capture a strong handle to the object whose signal it is connected to (that
//! would be a reference cycle: object → signal → slot → object).
//!
//! The type parameter of a signal is the `dyn Fn` type of its slots, for example
//! `Signal<dyn Fn(&WebSocket, &str)>` for `text_message_received`. Everything
//! runs on one thread: a signal is neither `Send` nor `Sync`, and a slot is a
//! plain `Fn` closure, not `Send` and not `Sync` either.
//!
//! ```compile_fail
//! use qwebsocket::signal::Signal;
//! fn assert_send<T: Send>() {}
//! assert_send::<Signal<dyn Fn(&str)>>();
//! ```
//!
//! # Connecting
//!
//! Each signal signature used by the crate has a typed `connect` taking
//! `impl Fn(...) + 'static`, so the closure's argument types are inferred:
//! `socket.text_message_received.connect(|socket, text| println!("{text}"))`.
//! Those typed methods are generated inside the crate, one per signature.
//! [`Signal::connect_boxed`] works for every signature, including signals of your
//! own types, and infers the closure's argument types as well:
//!
//! ```
//! use qwebsocket::signal::Signal;
//!
//! struct Thermometer {
//!     reading_changed: Signal<dyn Fn(&Thermometer, f64)>,
//! }
//!
//! let thermometer = Thermometer { reading_changed: Signal::new() };
//! let id = thermometer
//!     .reading_changed
//!     .connect_boxed(Box::new(|_thermometer, celsius| println!("{celsius} °C")));
//! assert!(thermometer.reading_changed.is_connected(id));
//! assert!(thermometer.reading_changed.disconnect(id));
//! assert_eq!(thermometer.reading_changed.slot_count(), 0);
//! ```
//!
//! Emitting is the emitting object's business and is not public: the crate's
//! objects emit their own signals. There is deliberately no public generic
//! `connect`/`emit` pair for one-argument signals (`impl<A> Signal<dyn Fn(&A)>`):
//! it would be an inherent impl overlapping the crate's own typed impls such as
//! `Signal<dyn Fn(&WebSocket)>` (a duplicate-definition error), and it would make
//! the crate's one-argument signals emittable by anyone while the others are not.
//!
//! # Re-entrancy: what a slot may do
//!
//! A signal never holds a borrow of its slot list while a slot runs (nor while
//! the captured state of a disconnected slot is dropped). A slot may therefore
//! do anything: connect or disconnect slots of any signal (including the one
//! calling it, including itself), call [`Signal::disconnect_all`], cause the same
//! signal to be emitted again (a *nested* emission), or drop other objects.
//! The emitter keeps its own strong reference to the slot it is calling, so a
//! slot that disconnects itself runs on to its end and is freed afterwards.
//!
//! The rules for one emission, like Qt's:
//!
//! 1. The *candidates* are the slots connected when the emission starts, in
//!    connection order. A slot connected during the emission is not called by it;
//!    it is called from the next emission on.
//! 2. Each candidate is called when its turn comes, if it is still connected at
//!    that moment. A slot disconnected during the emission (by an earlier slot,
//!    by itself, or by [`Signal::disconnect_all`]) is not called after that point.
//! 3. A nested emission is an emission of its own, with its own candidates (the
//!    slots connected when it starts). When it returns, the outer emission
//!    resumes where it was, under rule 2.
//! 4. If a slot panics, the panic propagates out of the emission, the remaining
//!    slots are not called by it, and the signal stays consistent and usable.
//!
//! # Cost
//!
//! An emission allocates nothing: it walks the slot list by index, borrowing it
//! just long enough to clone one `Rc`, and calls the slot with the borrow
//! released. A disconnection during an emission leaves an empty entry behind
//! (so that indexes stay valid), removed when the outermost emission ends.
//! [`SlotId`]s increase with connection order, so finding a slot to disconnect
//! is a binary search.

use std::cell::{Cell, OnceCell, RefCell};
use std::fmt;
use std::rc::Rc;

/// Identifies one connection of a slot to a [`Signal`], for
/// [`Signal::disconnect`] and [`Signal::is_connected`].
///
/// An id is only meaningful to the signal that returned it. A signal never gives
/// the same id twice, so a stale id can never disconnect a later slot.
///
/// ```
/// use qwebsocket::signal::Signal;
///
/// let signal: Signal<dyn Fn()> = Signal::new();
/// let first = signal.connect_boxed(Box::new(|| {}));
/// signal.disconnect(first);
/// let second = signal.connect_boxed(Box::new(|| {}));
/// assert_ne!(first, second);
/// assert!(!signal.disconnect(first));
/// assert!(signal.is_connected(second));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SlotId(u64);

/// One connection. `slot` is `None` once disconnected during an emission (a
/// tombstone), until the outermost emission ends and removes the entry.
struct Entry<F: ?Sized> {
    id: u64,
    slot: Option<Rc<F>>,
}

/// A list of slots of type `F` (a `dyn Fn(...)` type), called in connection order
/// each time the signal is emitted.
///
/// See the [module documentation](self) for the model and for what a slot may do
/// while it runs.
///
/// ```
/// use qwebsocket::signal::Signal;
///
/// let greeting: Signal<dyn Fn(&str, u32)> = Signal::new();
/// let id = greeting.connect_boxed(Box::new(|name, times| {
///     for _ in 0..times {
///         println!("hello, {name}");
///     }
/// }));
/// assert_eq!(greeting.slot_count(), 1);
/// assert_eq!(format!("{greeting:?}"), "Signal { slot_count: 1 }");
/// greeting.disconnect(id);
/// assert_eq!(greeting.slot_count(), 0);
/// ```
pub struct Signal<F: ?Sized> {
    /// Made by the first `connect`: a signal nobody connected to costs one
    /// pointer (a socket has about twenty signals and most stay unconnected).
    state: OnceCell<Box<State<F>>>,
}

/// The slots of a signal and its emission bookkeeping.
struct State<F: ?Sized> {
    /// Sorted by strictly increasing `id` (connection order). Outside of any
    /// emission it holds no tombstone.
    entries: RefCell<Vec<Entry<F>>>,
    /// The id the next connection gets.
    next_id: Cell<u64>,
    /// How many emissions of this signal are running (nested ones included).
    depth: Cell<u32>,
    /// Whether `entries` holds tombstones to remove after the outermost emission.
    has_tombstones: Cell<bool>,
}

impl<F: ?Sized> Signal<F> {
    /// Creates a signal with no slot connected.
    ///
    /// ```
    /// use qwebsocket::signal::Signal;
    ///
    /// let closed: Signal<dyn Fn(u16)> = Signal::new();
    /// assert_eq!(closed.slot_count(), 0);
    /// ```
    pub fn new() -> Self {
        Signal {
            state: OnceCell::new(),
        }
    }

    /// The state, made on first use.
    fn state(&self) -> &State<F> {
        self.state.get_or_init(|| {
            Box::new(State {
                entries: RefCell::new(Vec::new()),
                next_id: Cell::new(0),
                depth: Cell::new(0),
                has_tombstones: Cell::new(false),
            })
        })
    }

    /// Connects a boxed slot; it is called on every emission until disconnected.
    ///
    /// This works for every signature. The closure's argument types are inferred
    /// from the signal's type, so they need no annotation. Signals of the crate's
    /// objects also have a typed `connect(impl Fn(...))` that saves the `Box::new`.
    /// A slot connected while the signal is being emitted is called from the next
    /// emission on.
    ///
    /// ```
    /// use qwebsocket::signal::Signal;
    ///
    /// struct Player;
    /// let scored: Signal<dyn Fn(&Player, &str, u32)> = Signal::new();
    /// let id = scored.connect_boxed(Box::new(|_player, name, points| {
    ///     println!("{name} scored {points}");
    /// }));
    /// assert!(scored.is_connected(id));
    /// ```
    pub fn connect_boxed(&self, slot: Box<F>) -> SlotId {
        self.connect_rc(Rc::from(slot))
    }

    /// Disconnects the slot `id`. Returns `true` if it was connected, `false` if it
    /// had already been disconnected.
    ///
    /// During an emission, a disconnected slot is not called after this point;
    /// if it is the slot currently running, it runs on to its end. The slot's
    /// captured state is dropped once nothing runs it any more, with no borrow
    /// of the signal held.
    ///
    /// ```
    /// use qwebsocket::signal::Signal;
    ///
    /// let signal: Signal<dyn Fn(bool)> = Signal::new();
    /// let id = signal.connect_boxed(Box::new(|on| println!("{on}")));
    /// assert!(signal.disconnect(id));
    /// assert!(!signal.disconnect(id));
    /// ```
    pub fn disconnect(&self, id: SlotId) -> bool {
        let Some(st) = self.state.get() else {
            return false;
        };
        let removed = {
            let mut entries = st.entries.borrow_mut();
            let Some(index) = position(&entries, id) else {
                return false;
            };
            let removed = entries[index].slot.take();
            if st.depth.get() == 0 {
                entries.remove(index);
            } else if removed.is_some() {
                st.has_tombstones.set(true);
            }
            removed
        };
        // The borrow is released: dropping the slot may run any code.
        removed.is_some()
    }

    /// Disconnects every slot. During an emission, no further slot is called by
    /// it (a slot that is running runs on to its end).
    ///
    /// ```
    /// use qwebsocket::signal::Signal;
    ///
    /// let signal: Signal<dyn Fn()> = Signal::new();
    /// let a = signal.connect_boxed(Box::new(|| {}));
    /// signal.connect_boxed(Box::new(|| {}));
    /// signal.disconnect_all();
    /// assert_eq!(signal.slot_count(), 0);
    /// assert!(!signal.is_connected(a));
    /// ```
    pub fn disconnect_all(&self) {
        let Some(st) = self.state.get() else {
            return;
        };
        let removed: Vec<Rc<F>> = {
            let mut entries = st.entries.borrow_mut();
            let removed = entries.iter_mut().filter_map(|e| e.slot.take()).collect();
            if st.depth.get() == 0 {
                entries.clear();
            } else {
                st.has_tombstones.set(true);
            }
            removed
        };
        // Dropped here, with the borrow released: a slot's captured state may
        // use this signal from its `Drop`.
        drop(removed);
    }

    /// The number of slots currently connected.
    ///
    /// ```
    /// use qwebsocket::signal::Signal;
    ///
    /// let signal: Signal<dyn Fn(i32)> = Signal::new();
    /// signal.connect_boxed(Box::new(|_| {}));
    /// signal.connect_boxed(Box::new(|_| {}));
    /// assert_eq!(signal.slot_count(), 2);
    /// ```
    pub fn slot_count(&self) -> usize {
        self.state.get().map_or(0, |st| {
            st.entries
                .borrow()
                .iter()
                .filter(|e| e.slot.is_some())
                .count()
        })
    }

    /// Whether the slot `id` is connected.
    ///
    /// ```
    /// use qwebsocket::signal::Signal;
    ///
    /// let signal: Signal<dyn Fn()> = Signal::new();
    /// let id = signal.connect_boxed(Box::new(|| {}));
    /// assert!(signal.is_connected(id));
    /// signal.disconnect(id);
    /// assert!(!signal.is_connected(id));
    /// ```
    pub fn is_connected(&self, id: SlotId) -> bool {
        let Some(st) = self.state.get() else {
            return false;
        };
        let entries = st.entries.borrow();
        position(&entries, id).is_some_and(|index| entries[index].slot.is_some())
    }

    /// Connects a slot already in an `Rc`: what the typed `connect` methods and
    /// [`Signal::connect_boxed`] come down to.
    pub(crate) fn connect_rc(&self, slot: Rc<F>) -> SlotId {
        let st = self.state();
        let id = st.next_id.get();
        st.next_id.set(id + 1);
        let mut entries = st.entries.borrow_mut();
        if entries.capacity() == 0 {
            // Most signals get one slot: no room for four.
            entries.reserve_exact(1);
        }
        entries.push(Entry {
            id,
            slot: Some(slot),
        });
        SlotId(id)
    }

    /// Emits the signal: `call` is given each slot to call, in connection order,
    /// following the rules of the [module documentation](self). The typed
    /// `emit` methods are `self.emit_with(|slot| slot(a0, a1, ...))`.
    #[allow(dead_code)] // Until the crate's objects emit through the macro.
    pub(crate) fn emit_with(&self, mut call: impl FnMut(&F)) {
        let Some(st) = self.state.get() else {
            return; // nothing was ever connected
        };
        let candidates = st.entries.borrow().len();
        let _emission = Emission::enter(st);
        for index in 0..candidates {
            // Entries are neither removed nor moved while an emission runs, so
            // `index` still designates the same connection.
            let slot = match st.entries.borrow().get(index) {
                Some(Entry {
                    slot: Some(slot), ..
                }) => Rc::clone(slot),
                _ => continue,
            };
            call(&slot);
        }
    }

    /// The capacity of the slot list, to check that emissions do not grow it.
    #[cfg(test)]
    fn capacity(&self) -> usize {
        self.state
            .get()
            .map_or(0, |st| st.entries.borrow().capacity())
    }

    /// The length of the slot list, tombstones included.
    #[cfg(test)]
    fn entry_count(&self) -> usize {
        self.state.get().map_or(0, |st| st.entries.borrow().len())
    }
}

/// The index of the entry of `id` in `entries`, which is sorted by id.
fn position<F: ?Sized>(entries: &[Entry<F>], id: SlotId) -> Option<usize> {
    entries.binary_search_by_key(&id.0, |e| e.id).ok()
}

/// One running emission. Dropping it (also when a slot panics) ends the
/// emission, and the outermost one removes the tombstones.
struct Emission<'a, F: ?Sized> {
    signal: &'a State<F>,
}

impl<'a, F: ?Sized> Emission<'a, F> {
    fn enter(signal: &'a State<F>) -> Self {
        signal.depth.set(signal.depth.get() + 1);
        Emission { signal }
    }
}

impl<F: ?Sized> Drop for Emission<'_, F> {
    fn drop(&mut self) {
        let signal = self.signal;
        let depth = signal.depth.get() - 1;
        signal.depth.set(depth);
        if depth == 0 && signal.has_tombstones.replace(false) {
            // Tombstones own nothing, so this runs no user code.
            signal.entries.borrow_mut().retain(|e| e.slot.is_some());
        }
    }
}

impl<F: ?Sized> Default for Signal<F> {
    /// Same as [`Signal::new`].
    fn default() -> Self {
        Signal::new()
    }
}

impl<F: ?Sized> fmt::Debug for Signal<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signal")
            .field("slot_count", &self.slot_count())
            .finish()
    }
}

/// Generates the typed `connect` and `emit` of `Signal<dyn Fn(T0, T1, ...)>` for
/// zero to four argument types, for example in the module of `WebSocket`:
///
/// ```text
/// crate::signal::signal_signature!(&WebSocket, &str);
/// // impl Signal<dyn Fn(&WebSocket, &str)> {
/// //     pub fn connect(&self, slot: impl Fn(&WebSocket, &str) + 'static) -> SlotId;
/// //     pub(crate) fn emit(&self, a0: &WebSocket, a1: &str);
/// // }
/// ```
///
/// Invoke it once per signature in the whole crate (two invocations for the same
/// signature are duplicate definitions), best next to the type that emits.
/// Arguments must be `Copy` (references, `bool`, integers, `Duration`, small
/// enums): each slot is given the same values.
#[allow(unused_macros)] // Until the crate's objects invoke it.
macro_rules! signal_signature {
    (@impl $($arg:ident : $ty:ty),*) => {
        impl $crate::signal::Signal<dyn Fn($($ty),*)> {
            /// Connects `slot`; it is called on every emission until disconnected.
            ///
            /// The closure's argument types are inferred from the signal's, so
            /// they need no annotation. A slot connected while the signal is
            /// being emitted is called from the next emission on. The returned
            /// id is for [`disconnect`](Self::disconnect). See the
            /// [`signal`](crate::signal) module for what a slot may do.
            ///
            /// ```
            /// use qwebsocket::testing::FakeReactor;
            /// use qwebsocket::WebSocket;
            /// use std::{cell::RefCell, rc::Rc};
            /// let reactor = FakeReactor::new();
            /// let ws = WebSocket::new(reactor.event_loop());
            /// let got = Rc::new(RefCell::new(Vec::new()));
            /// let g = got.clone();
            /// // The slot gets the emitting socket first, then the signal's arguments.
            /// let id = ws.text_message_received().connect(move |_ws, text| {
            ///     g.borrow_mut().push(text.to_owned());
            /// });
            /// ws.open("ws://127.0.0.1/").unwrap();
            /// let server = reactor.accept_websocket();
            /// server.send_text("one");
            /// reactor.run_until_idle();
            /// assert!(ws.text_message_received().disconnect(id));
            /// server.send_text("two"); // no slot any more
            /// reactor.run_until_idle();
            /// assert_eq!(*got.borrow(), ["one"]);
            /// ```
            pub fn connect(
                &self,
                slot: impl Fn($($ty),*) + 'static,
            ) -> $crate::signal::SlotId {
                self.connect_rc(::std::rc::Rc::new(slot))
            }

            /// Calls every connected slot, in connection order, with these
            /// arguments (see the rules of the `signal` module).
            #[allow(dead_code)]
            pub(crate) fn emit(&self, $($arg: $ty),*) {
                self.emit_with(|slot| slot($($arg),*))
            }
        }
    };
    () => {
        $crate::signal::signal_signature!(@impl);
    };
    ($t0:ty $(,)?) => {
        $crate::signal::signal_signature!(@impl a0: $t0);
    };
    ($t0:ty, $t1:ty $(,)?) => {
        $crate::signal::signal_signature!(@impl a0: $t0, a1: $t1);
    };
    ($t0:ty, $t1:ty, $t2:ty $(,)?) => {
        $crate::signal::signal_signature!(@impl a0: $t0, a1: $t1, a2: $t2);
    };
    ($t0:ty, $t1:ty, $t2:ty, $t3:ty $(,)?) => {
        $crate::signal::signal_signature!(@impl a0: $t0, a1: $t1, a2: $t2, a3: $t3);
    };
}

#[allow(unused_imports)]
pub(crate) use signal_signature;

#[cfg(test)]
// The tests spell out `Signal<dyn Fn(...)>` types on purpose, to show them.
#[allow(clippy::type_complexity)]
mod tests {
    use super::{Signal, SlotId};
    use std::cell::{Cell, RefCell};
    use std::rc::{Rc, Weak};
    use std::time::Duration;

    /// An object of another module, with the signatures the crate's objects use.
    mod objects {
        use crate::signal::Signal;

        pub struct Obj {
            pub name: &'static str,
            pub sig: Signal<dyn Fn(&Obj)>,
        }

        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum State {
            Connecting,
            Connected,
        }

        crate::signal::signal_signature!();
        crate::signal::signal_signature!(&Obj);
        crate::signal::signal_signature!(&Obj, &str);
        crate::signal::signal_signature!(&Obj, &[u8], bool);
        crate::signal::signal_signature!(&Obj, std::time::Duration, &[u8]);
        crate::signal::signal_signature!(&Obj, State);
        crate::signal::signal_signature!(&Obj, u16, &str, bool,);
        crate::signal::signal_signature!(u32);
        crate::signal::signal_signature!(usize);
    }

    use objects::{Obj, State};

    type Log = Rc<RefCell<Vec<String>>>;

    fn new_log() -> Log {
        Rc::new(RefCell::new(Vec::new()))
    }

    fn taken(log: &Log) -> Vec<String> {
        std::mem::take(&mut *log.borrow_mut())
    }

    /// A `Signal<dyn Fn(u32)>` with slots named `names`, each logging
    /// `"{name}{value}"`.
    fn logging_signal(log: &Log, names: &[&'static str]) -> (Rc<Signal<dyn Fn(u32)>>, Vec<SlotId>) {
        let signal: Rc<Signal<dyn Fn(u32)>> = Rc::new(Signal::new());
        let ids = names
            .iter()
            .map(|&name| {
                let log = log.clone();
                signal.connect(move |value| log.borrow_mut().push(format!("{name}{value}")))
            })
            .collect();
        (signal, ids)
    }

    #[test]
    fn slots_are_called_in_connection_order_with_the_arguments() {
        let log = new_log();
        let signal: Signal<dyn Fn(&Obj, &str)> = Signal::new();
        for name in ["a", "b", "c"] {
            let log = log.clone();
            signal.connect(move |obj, text| {
                log.borrow_mut().push(format!("{name}:{}:{text}", obj.name))
            });
        }
        let obj = Obj {
            name: "o",
            sig: Signal::new(),
        };
        signal.emit(&obj, "hi");
        signal.emit(&obj, "again");
        assert_eq!(
            taken(&log),
            [
                "a:o:hi",
                "b:o:hi",
                "c:o:hi",
                "a:o:again",
                "b:o:again",
                "c:o:again"
            ]
        );
    }

    #[test]
    fn slot_ids_are_unique_and_never_reused() {
        let signal: Signal<dyn Fn()> = Signal::new();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..10 {
            let a = signal.connect(|| {});
            let b = signal.connect(|| {});
            assert!(signal.disconnect(a));
            signal.disconnect_all();
            assert!(seen.insert(a));
            assert!(seen.insert(b));
        }
        assert_eq!(seen.len(), 20);
    }

    #[test]
    fn disconnect_returns_true_once_then_false() {
        let log = new_log();
        let (signal, ids) = logging_signal(&log, &["a", "b", "c"]);
        assert!(signal.disconnect(ids[1]));
        assert!(!signal.disconnect(ids[1]));
        signal.emit(1);
        assert_eq!(taken(&log), ["a1", "c1"]);
        assert!(signal.disconnect(ids[0]));
        assert!(signal.disconnect(ids[2]));
        assert!(!signal.disconnect(ids[0]));
        signal.emit(2);
        assert!(taken(&log).is_empty());
    }

    #[test]
    fn disconnect_all_removes_every_slot_and_later_connections_work() {
        let log = new_log();
        let (signal, ids) = logging_signal(&log, &["a", "b"]);
        signal.disconnect_all();
        assert_eq!(signal.slot_count(), 0);
        assert!(ids.iter().all(|&id| !signal.is_connected(id)));
        assert!(!signal.disconnect(ids[0]));
        signal.emit(1);
        assert!(taken(&log).is_empty());
        let log2 = log.clone();
        let id = signal.connect(move |v| log2.borrow_mut().push(format!("new{v}")));
        assert!(!ids.contains(&id));
        signal.emit(2);
        assert_eq!(taken(&log), ["new2"]);
    }

    #[test]
    fn slot_count_and_is_connected_follow_connections() {
        let signal: Signal<dyn Fn(u32)> = Signal::default();
        assert_eq!(signal.slot_count(), 0);
        let a = signal.connect(|_| {});
        let b = signal.connect(|_| {});
        assert_eq!(signal.slot_count(), 2);
        assert!(signal.is_connected(a) && signal.is_connected(b));
        signal.disconnect(a);
        assert_eq!(signal.slot_count(), 1);
        assert!(!signal.is_connected(a) && signal.is_connected(b));
        assert_eq!(format!("{signal:?}"), "Signal { slot_count: 1 }");
    }

    #[test]
    fn slot_disconnecting_itself_runs_to_its_end_and_is_not_called_again() {
        let log = new_log();
        let signal: Rc<Signal<dyn Fn(u32)>> = Rc::new(Signal::new());
        let own_id: Rc<Cell<Option<SlotId>>> = Rc::new(Cell::new(None));
        let marker = Rc::new(());
        let id = {
            let (log, weak_signal, own_id, marker) = (
                log.clone(),
                Rc::downgrade(&signal),
                own_id.clone(),
                marker.clone(),
            );
            signal.connect(move |v| {
                let signal = weak_signal.upgrade().unwrap();
                assert!(signal.disconnect(own_id.get().unwrap()));
                // Still running, with its captured state alive.
                assert_eq!(Rc::strong_count(&marker), 2);
                log.borrow_mut().push(format!("self{v}"));
            })
        };
        own_id.set(Some(id));
        let log2 = log.clone();
        signal.connect(move |v| log2.borrow_mut().push(format!("next{v}")));
        signal.emit(1);
        // Freed once the emission no longer needs it.
        assert_eq!(Rc::strong_count(&marker), 1);
        signal.emit(2);
        assert_eq!(taken(&log), ["self1", "next1", "next2"]);
        assert_eq!(signal.entry_count(), 1);
    }

    #[test]
    fn slot_disconnecting_a_later_slot_prevents_its_call_in_the_same_emission() {
        let log = new_log();
        let signal: Rc<Signal<dyn Fn(u32)>> = Rc::new(Signal::new());
        let later: Rc<Cell<Option<SlotId>>> = Rc::new(Cell::new(None));
        let earlier = {
            let (weak, later, log) = (Rc::downgrade(&signal), later.clone(), log.clone());
            signal.connect(move |v| {
                log.borrow_mut().push(format!("first{v}"));
                if let Some(id) = later.take() {
                    assert!(weak.upgrade().unwrap().disconnect(id));
                }
            })
        };
        let log2 = log.clone();
        later.set(Some(
            signal.connect(move |v| log2.borrow_mut().push(format!("later{v}"))),
        ));
        let log3 = log.clone();
        signal.connect(move |v| log3.borrow_mut().push(format!("last{v}")));
        signal.emit(1);
        signal.emit(2);
        assert_eq!(taken(&log), ["first1", "last1", "first2", "last2"]);
        assert!(signal.is_connected(earlier));
        assert_eq!(signal.entry_count(), 2);
    }

    #[test]
    fn slot_disconnecting_an_earlier_slot_affects_only_later_emissions() {
        let log = new_log();
        let (signal, ids) = logging_signal(&log, &["a"]);
        let weak = Rc::downgrade(&signal);
        let first = ids[0];
        signal.connect(move |_| {
            weak.upgrade().unwrap().disconnect(first);
        });
        signal.emit(1);
        signal.emit(2);
        assert_eq!(taken(&log), ["a1"]);
    }

    #[test]
    fn slot_connected_during_emission_is_called_from_the_next_emission_on() {
        let log = new_log();
        let (signal, _) = logging_signal(&log, &["a"]);
        {
            let (weak, log) = (Rc::downgrade(&signal), log.clone());
            let done = Cell::new(false);
            signal.connect(move |v| {
                log.borrow_mut().push(format!("connector{v}"));
                if !done.replace(true) {
                    let log = log.clone();
                    weak.upgrade()
                        .unwrap()
                        .connect(move |v| log.borrow_mut().push(format!("new{v}")));
                }
            });
        }
        let log2 = log.clone();
        signal.connect(move |v| log2.borrow_mut().push(format!("z{v}")));
        signal.emit(1);
        assert_eq!(taken(&log), ["a1", "connector1", "z1"]);
        signal.emit(2);
        assert_eq!(taken(&log), ["a2", "connector2", "z2", "new2"]);
    }

    #[test]
    fn nested_emissions_call_every_slot_once_per_emission() {
        let log = new_log();
        let signal: Rc<Signal<dyn Fn(u32)>> = Rc::new(Signal::new());
        let log1 = log.clone();
        signal.connect(move |depth| log1.borrow_mut().push(format!("a{depth}")));
        let (weak, log2) = (Rc::downgrade(&signal), log.clone());
        signal.connect(move |depth| {
            log2.borrow_mut().push(format!("b{depth}<"));
            if depth < 3 {
                weak.upgrade().unwrap().emit(depth + 1);
            }
            log2.borrow_mut().push(format!(">b{depth}"));
        });
        let log3 = log.clone();
        signal.connect(move |depth| log3.borrow_mut().push(format!("c{depth}")));
        signal.emit(1);
        assert_eq!(
            taken(&log),
            [
                "a1", "b1<", "a2", "b2<", "a3", "b3<", ">b3", "c3", ">b2", "c2", ">b1", "c1"
            ]
        );
        assert_eq!(signal.state().depth.get(), 0);
    }

    #[test]
    fn tombstones_from_nested_emissions_are_removed_after_the_outermost_one() {
        let log = new_log();
        let (signal, ids) = logging_signal(&log, &["a"]);
        // `b` emits again at depth 1; at depth 2 it disconnects `a` (already
        // called at both depths) and `d` (not yet called at either depth), and
        // connects `e`.
        let e_id: Rc<Cell<Option<SlotId>>> = Rc::new(Cell::new(None));
        let d_id: Rc<Cell<Option<SlotId>>> = Rc::new(Cell::new(None));
        let entries_seen: Rc<Cell<usize>> = Rc::new(Cell::new(0));
        {
            let (weak, log, e_id, d_id, a) = (
                Rc::downgrade(&signal),
                log.clone(),
                e_id.clone(),
                d_id.clone(),
                ids[0],
            );
            signal.connect(move |depth| {
                let signal = weak.upgrade().unwrap();
                log.borrow_mut().push(format!("b{depth}<"));
                if depth == 1 {
                    signal.emit(2);
                } else if depth == 2 {
                    assert!(signal.disconnect(a));
                    assert!(signal.disconnect(d_id.get().unwrap()));
                    let log = log.clone();
                    e_id.set(Some(
                        signal.connect(move |v| log.borrow_mut().push(format!("e{v}"))),
                    ));
                }
                log.borrow_mut().push(format!(">b{depth}"));
            });
        }
        {
            let (weak, log, seen) = (Rc::downgrade(&signal), log.clone(), entries_seen.clone());
            signal.connect(move |depth| {
                // The tombstones of `a` and `d` are still there at depth 1.
                seen.set(weak.upgrade().unwrap().entry_count());
                log.borrow_mut().push(format!("c{depth}"));
            });
        }
        let log4 = log.clone();
        d_id.set(Some(
            signal.connect(move |v| log4.borrow_mut().push(format!("d{v}"))),
        ));

        signal.emit(1);
        assert_eq!(
            taken(&log),
            ["a1", "b1<", "a2", "b2<", ">b2", "c2", ">b1", "c1"]
        );
        assert_eq!(entries_seen.get(), 5, "a, b, c, d (tombstones) and e");
        // After the outermost emission: b, c, e.
        assert_eq!(signal.entry_count(), 3);
        assert_eq!(signal.slot_count(), 3);
        assert!(!signal.state().has_tombstones.get());
        signal.emit(5);
        assert_eq!(taken(&log), ["b5<", ">b5", "c5", "e5"]);
        assert!(signal.is_connected(e_id.get().unwrap()));
    }

    #[test]
    fn disconnect_all_during_emission_stops_the_remaining_slots() {
        let log = new_log();
        let (signal, _) = logging_signal(&log, &["a"]);
        let weak = Rc::downgrade(&signal);
        let log2 = log.clone();
        let reconnect = Cell::new(true);
        signal.connect(move |v| {
            let signal = weak.upgrade().unwrap();
            signal.disconnect_all();
            assert_eq!(signal.slot_count(), 0);
            if reconnect.replace(false) {
                let log = log2.clone();
                signal.connect(move |v| log.borrow_mut().push(format!("new{v}")));
            }
            log2.borrow_mut().push(format!("clearer{v}"));
        });
        let log3 = log.clone();
        signal.connect(move |v| log3.borrow_mut().push(format!("c{v}")));
        signal.emit(1);
        assert_eq!(taken(&log), ["a1", "clearer1"]);
        assert_eq!(signal.entry_count(), 1);
        signal.emit(2);
        assert_eq!(taken(&log), ["new2"]);
    }

    struct Holder {
        sig: Signal<dyn Fn(&Holder)>,
    }

    crate::signal::signal_signature!(&Holder);

    #[test]
    fn slot_may_drop_the_last_outside_handle_of_the_emitting_object_and_other_objects() {
        let log = new_log();
        // `other` owns a signal whose slot records its own drop.
        struct DropLog(Log, &'static str);
        impl Drop for DropLog {
            fn drop(&mut self) {
                self.0.borrow_mut().push(format!("dropped {}", self.1));
            }
        }
        let other = Rc::new(Obj {
            name: "other",
            sig: Signal::new(),
        });
        let guard = DropLog(log.clone(), "other's slot");
        other.sig.connect(move |_| {
            let _ = &guard;
        });
        let weak_other = Rc::downgrade(&other);

        let object = Rc::new(Holder { sig: Signal::new() });
        let weak_object = Rc::downgrade(&object);
        // The application's handles: the only strong ones outside the emitter.
        let handles: Rc<RefCell<(Option<Rc<Holder>>, Option<Rc<Obj>>)>> =
            Rc::new(RefCell::new((Some(object), Some(other))));
        {
            let (handles, log) = (handles.clone(), log.clone());
            let guard = DropLog(log.clone(), "object's first slot");
            let holder_slot = move |_: &Holder| {
                let _ = &guard;
                let (object, other) = std::mem::take(&mut *handles.borrow_mut());
                drop(other);
                drop(object);
                log.borrow_mut().push("handles dropped".to_owned());
            };
            weak_object.upgrade().unwrap().sig.connect(holder_slot);
        }
        {
            let log = log.clone();
            weak_object.upgrade().unwrap().sig.connect(move |holder| {
                holder.sig.disconnect_all();
                log.borrow_mut().push("second slot".to_owned());
            });
        }

        // The emitter holds its own clone for the emission, as the crate's objects do.
        let emitter = weak_object.upgrade().unwrap();
        emitter.sig.emit(&emitter);
        assert!(
            weak_other.upgrade().is_none(),
            "other was freed by the slot"
        );
        assert!(
            weak_object.upgrade().is_some(),
            "the emitter's clone is alive"
        );
        drop(emitter);
        assert!(
            weak_object.upgrade().is_none(),
            "object freed after the emission"
        );
        assert_eq!(
            taken(&log),
            [
                "dropped other's slot",
                "handles dropped",
                "dropped object's first slot",
                "second slot"
            ]
        );
    }

    #[test]
    fn emissions_do_not_grow_the_slot_list() {
        let log = new_log();
        let (signal, _) = logging_signal(&log, &["a", "b", "c"]);
        let capacity = signal.capacity();
        for i in 0..1000 {
            signal.emit(i);
        }
        assert_eq!(signal.capacity(), capacity);
        assert_eq!(signal.entry_count(), 3);
        assert_eq!(log.borrow().len(), 3000);
    }

    #[test]
    fn generated_connect_infers_closure_arguments_for_zero_to_four_arguments() {
        let log = new_log();
        let obj = Obj {
            name: "o",
            sig: Signal::new(),
        };

        let none: Signal<dyn Fn()> = Signal::new();
        let l = log.clone();
        none.connect(move || l.borrow_mut().push("none".to_owned()));
        none.emit();

        let l = log.clone();
        obj.sig
            .connect(move |o| l.borrow_mut().push(format!("obj {}", o.name)));
        obj.sig.emit(&obj);

        let text: Signal<dyn Fn(&Obj, &str)> = Signal::new();
        let l = log.clone();
        text.connect(move |o, t| l.borrow_mut().push(format!("{} {t}", o.name)));
        text.emit(&obj, "text");

        let binary: Signal<dyn Fn(&Obj, &[u8], bool)> = Signal::new();
        let l = log.clone();
        binary.connect(move |_, data, last| l.borrow_mut().push(format!("{data:?} {last}")));
        binary.emit(&obj, &[1, 2], true);

        let pong: Signal<dyn Fn(&Obj, Duration, &[u8])> = Signal::new();
        let l = log.clone();
        pong.connect(move |_, elapsed, payload| {
            l.borrow_mut()
                .push(format!("{}ms {payload:?}", elapsed.as_millis()))
        });
        let payload = vec![7u8];
        pong.emit(&obj, Duration::from_millis(12), &payload);

        let state: Signal<dyn Fn(&Obj, State)> = Signal::new();
        let l = log.clone();
        state.connect(move |_, s| l.borrow_mut().push(format!("{s:?}")));
        state.emit(&obj, State::Connecting);
        state.emit(&obj, State::Connected);

        let four: Signal<dyn Fn(&Obj, u16, &str, bool)> = Signal::new();
        let l = log.clone();
        four.connect(move |_, code, reason, clean| {
            l.borrow_mut().push(format!("{code} {reason} {clean}"))
        });
        let reason = String::from("bye");
        four.emit(&obj, 1000, &reason, true);

        assert_eq!(
            taken(&log),
            [
                "none",
                "obj o",
                "o text",
                "[1, 2] true",
                "12ms [7]",
                "Connecting",
                "Connected",
                "1000 bye true"
            ]
        );
    }

    #[test]
    fn panicking_slot_leaves_the_signal_consistent() {
        let log = new_log();
        let (signal, ids) = logging_signal(&log, &["a"]);
        let weak = Rc::downgrade(&signal);
        let a = ids[0];
        let armed = Rc::new(Cell::new(true));
        let armed2 = armed.clone();
        signal.connect(move |_| {
            if armed2.get() {
                weak.upgrade().unwrap().disconnect(a);
                panic!("slot failed");
            }
        });
        let log2 = log.clone();
        signal.connect(move |v| log2.borrow_mut().push(format!("c{v}")));
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| signal.emit(1)));
        assert!(result.is_err());
        assert_eq!(signal.state().depth.get(), 0);
        assert_eq!(signal.entry_count(), 2, "the tombstone of a was removed");
        armed.set(false);
        signal.emit(2);
        assert_eq!(taken(&log), ["a1", "c2"]);
    }

    #[test]
    fn dropping_a_disconnected_slot_may_use_the_signal() {
        // A slot's captured state whose `Drop` connects to, counts, emits and
        // disconnects from the very signal it is being removed from.
        struct Reentrant {
            signal: Weak<Signal<dyn Fn(u32)>>,
            log: Log,
        }
        impl Drop for Reentrant {
            fn drop(&mut self) {
                if let Some(signal) = self.signal.upgrade() {
                    let count = signal.slot_count();
                    signal.emit(99);
                    let log = self.log.clone();
                    signal.connect(move |v| log.borrow_mut().push(format!("from drop {v}")));
                    self.log
                        .borrow_mut()
                        .push(format!("dropped with {count} left"));
                }
            }
        }
        let log = new_log();
        let (signal, ids) = logging_signal(&log, &["a"]);
        let make = || Reentrant {
            signal: Rc::downgrade(&signal),
            log: log.clone(),
        };
        let state = make();
        let id = signal.connect(move |_| {
            let _ = &state;
        });
        assert!(signal.disconnect(id));
        assert_eq!(taken(&log), ["a99", "dropped with 1 left"]);

        let state = make();
        signal.connect(move |_| {
            let _ = &state;
        });
        signal.disconnect_all();
        assert_eq!(taken(&log), ["dropped with 0 left"]);
        assert_eq!(signal.slot_count(), 1, "the slot connected by the drop");
        assert!(!signal.is_connected(ids[0]));
        signal.emit(3);
        assert_eq!(taken(&log), ["from drop 3"]);
    }

    /// A small deterministic generator for the stress test.
    struct XorShift(u64);

    impl XorShift {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n
        }
    }

    /// What happened, in order, to check the emission rules afterwards.
    #[derive(Debug, Clone, Copy)]
    enum Event {
        Connected(SlotId),
        Disconnected(SlotId),
        EmissionStarted(usize),
        Called(usize, SlotId),
        EmissionEnded(usize),
    }

    struct Stress {
        signal: Signal<dyn Fn(usize)>,
        rng: RefCell<XorShift>,
        events: RefCell<Vec<Event>>,
        ids: RefCell<Vec<SlotId>>,
        emissions: Cell<usize>,
    }

    impl Stress {
        fn connect(self: &Rc<Self>) {
            let weak = Rc::downgrade(self);
            let own_id: Rc<Cell<Option<SlotId>>> = Rc::new(Cell::new(None));
            let own = own_id.clone();
            let id = self.signal.connect(move |emission| {
                let stress = weak.upgrade().unwrap();
                stress.event(Event::Called(emission, own.get().unwrap()));
                stress.act();
            });
            own_id.set(Some(id));
            self.ids.borrow_mut().push(id);
            self.event(Event::Connected(id));
        }

        fn event(&self, event: Event) {
            self.events.borrow_mut().push(event);
        }

        fn roll(&self, n: u64) -> u64 {
            self.rng.borrow_mut().below(n)
        }

        fn emit(self: &Rc<Self>) {
            let emission = self.emissions.get();
            self.emissions.set(emission + 1);
            self.event(Event::EmissionStarted(emission));
            self.signal.emit(emission);
            self.event(Event::EmissionEnded(emission));
        }

        /// One random action from inside a slot.
        fn act(self: &Rc<Self>) {
            match self.roll(10) {
                0..=2 => self.connect(),
                3..=5 => {
                    let ids = self.ids.borrow().clone();
                    let id = ids[self.roll(ids.len() as u64) as usize];
                    if self.signal.disconnect(id) {
                        self.event(Event::Disconnected(id));
                    }
                }
                // Rarely, or little would stay connected.
                6 if self.roll(4) == 0 => {
                    let ids = self.ids.borrow().clone();
                    for id in ids {
                        if self.signal.is_connected(id) {
                            self.event(Event::Disconnected(id));
                        }
                    }
                    self.signal.disconnect_all();
                }
                7 if self.signal.state().depth.get() < 4 => self.emit(),
                _ => {}
            }
        }
    }

    #[test]
    fn random_reentrant_actions_follow_the_emission_rules() {
        let stress = Rc::new(Stress {
            signal: Signal::new(),
            rng: RefCell::new(XorShift(0x9E37_79B9_7F4A_7C15)),
            events: RefCell::new(Vec::new()),
            ids: RefCell::new(Vec::new()),
            emissions: Cell::new(0),
        });
        for _ in 0..5 {
            stress.connect();
        }
        for _ in 0..300 {
            stress.emit();
            // Outside of any emission: no tombstone, ids in connection order.
            let entries = stress.signal.state().entries.borrow();
            assert!(entries.iter().all(|e| e.slot.is_some()));
            assert!(entries.windows(2).all(|w| w[0].id < w[1].id));
            drop(entries);
            if stress.signal.slot_count() < 3 {
                stress.connect();
            }
        }

        // Replay the events against a model of the rules.
        let events = stress.events.borrow();
        let mut connected: Vec<SlotId> = Vec::new();
        // For each running emission: its candidates and the ones called so far.
        let mut running: Vec<(usize, Vec<SlotId>, Vec<SlotId>)> = Vec::new();
        let mut calls = 0;
        for event in events.iter() {
            match *event {
                Event::Connected(id) => connected.push(id),
                Event::Disconnected(id) => connected.retain(|&c| c != id),
                Event::EmissionStarted(e) => running.push((e, connected.clone(), Vec::new())),
                Event::Called(e, id) => {
                    calls += 1;
                    let (_, candidates, called) =
                        running.iter_mut().find(|(r, _, _)| *r == e).unwrap();
                    assert!(
                        candidates.contains(&id),
                        "{id:?} was not a candidate of {e}"
                    );
                    assert!(
                        connected.contains(&id),
                        "{id:?} called after its disconnection"
                    );
                    assert!(!called.contains(&id), "{id:?} called twice by {e}");
                    // In connection order: every candidate before it was either
                    // called or disconnected.
                    for earlier in candidates.iter().take_while(|&&c| c != id) {
                        assert!(called.contains(earlier) || !connected.contains(earlier));
                    }
                    called.push(id);
                }
                Event::EmissionEnded(e) => {
                    let (r, candidates, called) = running.pop().unwrap();
                    assert_eq!(r, e, "emissions end innermost first");
                    for id in candidates {
                        assert!(
                            called.contains(&id) || !connected.contains(&id),
                            "{id:?} skipped by emission {e}"
                        );
                    }
                }
            }
        }
        assert!(running.is_empty());
        assert!(calls > 1000, "the test exercised {calls} calls");
        assert!(events.iter().any(|e| matches!(e, Event::Disconnected(_))));
    }
}
