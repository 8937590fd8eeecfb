//! permessage-deflate through the public API: negotiation with scripted
//! peers on the fake reactor (both roles), the wire format they see, and
//! memory: what compression costs per connection and that a "zip bomb"
//! never makes the inflater allocate past the message size limit (counted
//! with a counting global allocator, this test thread's allocations only).

use qwebsocket::protocol::handshake::server::accept_response_with_extensions;
use qwebsocket::protocol::session::{Data, MessageKind};
use qwebsocket::protocol::{OpCode, Role, Session, SessionConfig, SessionEvent};
use qwebsocket::testing::FakeReactor;
use qwebsocket::{
    CloseCode, CompressionOptions, DeflateParams, HandshakeOptions, SocketState, SslMode,
    WebSocket, WebSocketServer,
};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Instant;

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);

thread_local! {
    static TRACKED: Cell<bool> = const { Cell::new(false) };
}

fn tracked() -> bool {
    TRACKED.try_with(Cell::get).unwrap_or(false)
}

fn grow(by: isize) {
    let now = LIVE.fetch_add(by, Ordering::Relaxed) + by;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

// SAFETY: forwards to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if tracked() {
            grow(layout.size() as isize);
        }
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if tracked() {
            LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        }
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if tracked() {
            grow(new_size as isize - layout.size() as isize);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The counters are global: the memory tests take turns.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs `f` with this thread's allocations counted; returns its result, the
/// bytes still allocated after it and the peak during it.
fn counted<T>(f: impl FnOnce() -> T) -> (T, isize, isize) {
    LIVE.store(0, Ordering::Relaxed);
    PEAK.store(0, Ordering::Relaxed);
    TRACKED.with(|t| t.set(true));
    let out = f();
    TRACKED.with(|t| t.set(false));
    (
        out,
        LIVE.load(Ordering::Relaxed),
        PEAK.load(Ordering::Relaxed),
    )
}

/// "Hello" compressed (RFC 7692 §7.2.3.1), without the sync tail.
const HELLO: [u8; 7] = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];

fn on() -> CompressionOptions {
    CompressionOptions::enabled()
}

#[test]
fn server_accepts_a_browser_offer_and_both_directions_are_compressed() {
    let reactor = FakeReactor::new();
    let server = WebSocketServer::new(reactor.event_loop(), "", SslMode::NonSecureMode);
    server.set_compression(CompressionOptions {
        threshold: 0,
        ..on()
    });
    server.listen("127.0.0.1".parse().unwrap(), 80).unwrap();
    let client = reactor.connect("127.0.0.1:80".parse().unwrap()).unwrap();
    client.send_upgrade_request(
        "/",
        &[(
            "Sec-WebSocket-Extensions",
            "permessage-deflate; client_max_window_bits",
        )],
    );
    reactor.run_until_idle();
    let response = client.read_handshake_response().unwrap();
    assert_eq!(response.status, 101);
    assert_eq!(
        response.header("Sec-WebSocket-Extensions"),
        Some("permessage-deflate")
    );
    let socket = server.next_pending_connection().unwrap();
    assert_eq!(socket.compression(), Some(DeflateParams::default()));

    let got = Rc::new(RefCell::new(Vec::new()));
    let sink = got.clone();
    socket
        .text_message_received()
        .connect(move |_, t| sink.borrow_mut().push(t.to_owned()));
    client.send_raw_frame(true, 0b100, OpCode::Text, &HELLO);
    client.send_text("plain");
    reactor.run_until_idle();
    assert_eq!(*got.borrow(), ["Hello", "plain"]);

    socket.send_text_message("Hello");
    reactor.run_until_idle();
    let frame = client.expect_frame();
    assert_eq!((frame.rsv, frame.opcode), (0b100, OpCode::Text));
    assert_eq!(frame.payload, HELLO);
}

#[test]
fn server_with_compression_off_answers_without_the_extension() {
    let reactor = FakeReactor::new();
    let server = WebSocketServer::new(reactor.event_loop(), "", SslMode::NonSecureMode);
    server.listen("127.0.0.1".parse().unwrap(), 80).unwrap();
    let client = reactor.connect("127.0.0.1:80".parse().unwrap()).unwrap();
    client.send_upgrade_request("/", &[("Sec-WebSocket-Extensions", "permessage-deflate")]);
    reactor.run_until_idle();
    let response = client.read_handshake_response().unwrap();
    assert_eq!(response.status, 101);
    assert_eq!(response.header("Sec-WebSocket-Extensions"), None);
    let socket = server.next_pending_connection().unwrap();
    assert_eq!(socket.compression(), None);
    // RSV1 was not agreed: a protocol error, as before.
    client.send_raw_frame(true, 0b100, OpCode::Text, &HELLO);
    assert_eq!(client.expect_close().0, CloseCode::ProtocolError);
}

#[test]
fn server_picks_the_first_acceptable_of_several_offers() {
    let reactor = FakeReactor::new();
    let server = WebSocketServer::new(reactor.event_loop(), "", SslMode::NonSecureMode);
    server.set_compression(on());
    server.listen("127.0.0.1".parse().unwrap(), 80).unwrap();
    let client = reactor.connect("127.0.0.1:80".parse().unwrap()).unwrap();
    client.send_upgrade_request(
        "/",
        &[(
            "Sec-WebSocket-Extensions",
            "permessage-deflate; server_max_window_bits=20, \
             permessage-deflate; server_no_context_takeover; server_max_window_bits=10, \
             permessage-deflate",
        )],
    );
    reactor.run_until_idle();
    let response = client.read_handshake_response().unwrap();
    assert_eq!(
        response.header("Sec-WebSocket-Extensions"),
        Some("permessage-deflate; server_no_context_takeover; server_max_window_bits=10")
    );
    let socket = server.next_pending_connection().unwrap();
    let params = socket.compression().unwrap();
    assert!(params.server_no_context_takeover);
    assert_eq!(params.server_max_window_bits, 10);
}

/// A client socket offering compression, the fake server's connection, and
/// the upgrade request it read.
fn client_with_offer(
    reactor: &FakeReactor,
    options: CompressionOptions,
) -> (
    WebSocket,
    qwebsocket::testing::Peer,
    qwebsocket::protocol::handshake::server::ServerRequest,
) {
    let ws = WebSocket::new(reactor.event_loop());
    let handshake = HandshakeOptions::new().with_compression(options);
    ws.open_with_options("ws://127.0.0.1/", &handshake).unwrap();
    reactor.run_until_idle();
    let peer = reactor.next_connection().unwrap();
    peer.accept();
    reactor.run_until_idle();
    let req = peer.read_handshake_request().unwrap().unwrap();
    (ws, peer, req)
}

#[test]
fn client_offers_inflates_and_compresses_when_the_server_accepts() {
    let reactor = FakeReactor::new();
    let (ws, peer, req) = client_with_offer(
        &reactor,
        CompressionOptions {
            threshold: 0,
            ..on()
        },
    );
    assert_eq!(
        req.extensions,
        ["permessage-deflate; client_max_window_bits"]
    );
    let answer = "permessage-deflate; server_no_context_takeover";
    let resp = accept_response_with_extensions(
        &req,
        None,
        Some(answer),
        "",
        std::time::SystemTime::UNIX_EPOCH,
    )
    .unwrap();
    peer.write(&resp);
    reactor.run_until_idle();
    assert_eq!(ws.state(), SocketState::Connected);
    assert_eq!(ws.compression().unwrap().to_string(), answer);

    let frames = Rc::new(RefCell::new(Vec::new()));
    let sink = frames.clone();
    ws.text_frame_received()
        .connect(move |_, t, last| sink.borrow_mut().push((t.to_owned(), last)));
    // "Hello" in two frames, RSV1 on the first only.
    peer.send_raw_frame(false, 0b100, OpCode::Text, &HELLO[..3]);
    peer.send_raw_frame(true, 0, OpCode::Continuation, &HELLO[3..]);
    reactor.run_until_idle();
    assert_eq!(
        *frames.borrow(),
        [("He".to_owned(), false), ("llo".to_owned(), true)]
    );

    ws.send_binary_message(b"Hello");
    reactor.run_until_idle();
    let frame = peer.expect_frame();
    assert!(frame.masked);
    assert_eq!((frame.rsv, frame.opcode), (0b100, OpCode::Binary));
    assert_eq!(frame.payload, HELLO);
}

#[test]
fn client_fails_the_connection_on_an_answer_it_did_not_offer() {
    for (answer, expected) in [
        (
            "permessage-deflate; client_max_window_bits=16",
            "Invalid permessage-deflate answer from the server: invalid value for client_max_window_bits",
        ),
        (
            "x-webkit-deflate-frame",
            "WebSocket server has chosen extension x-webkit-deflate-frame which has not been requested",
        ),
        (
            "permessage-deflate; mystery",
            "Invalid permessage-deflate answer from the server: unknown parameter mystery",
        ),
    ] {
        let reactor = FakeReactor::new();
        let (ws, peer, req) = client_with_offer(&reactor, on());
        let errors = Rc::new(RefCell::new(Vec::new()));
        let sink = errors.clone();
        ws.error_occurred()
            .connect(move |ws, e| sink.borrow_mut().push((e, ws.error_string())));
        let resp = accept_response_with_extensions(
            &req,
            None,
            Some(answer),
            "",
            std::time::SystemTime::UNIX_EPOCH,
        )
        .unwrap();
        peer.write(&resp);
        reactor.run_until_idle();
        assert_eq!(ws.state(), SocketState::Unconnected, "{answer}");
        let errors = errors.borrow();
        assert_eq!(errors.len(), 1, "{answer}");
        assert_eq!(errors[0].1, expected);
    }
}

#[test]
fn client_without_an_offer_still_refuses_an_extension() {
    let reactor = FakeReactor::new();
    let ws = WebSocket::new(reactor.event_loop());
    ws.open("ws://127.0.0.1/").unwrap();
    reactor.run_until_idle();
    let peer = reactor.next_connection().unwrap();
    peer.accept();
    reactor.run_until_idle();
    let req = peer.read_handshake_request().unwrap().unwrap();
    assert!(req.extensions.is_empty(), "compression is off by default");
    let resp = accept_response_with_extensions(
        &req,
        None,
        Some("permessage-deflate"),
        "",
        std::time::SystemTime::UNIX_EPOCH,
    )
    .unwrap();
    peer.write(&resp);
    reactor.run_until_idle();
    assert_eq!(ws.state(), SocketState::Unconnected);
    assert!(ws.error_string().contains("has not been requested"));
}

#[test]
fn client_and_server_agree_end_to_end_on_the_fake_network() {
    let reactor = FakeReactor::new();
    let server = WebSocketServer::new(reactor.event_loop(), "", SslMode::NonSecureMode);
    server.set_compression(CompressionOptions {
        client_max_window_bits: Some(9),
        ..on()
    });
    server.listen("127.0.0.1".parse().unwrap(), 80).unwrap();
    let client = WebSocket::new(reactor.event_loop());
    let options = HandshakeOptions::new().with_compression(CompressionOptions {
        client_no_context_takeover: true,
        ..on()
    });
    client
        .open_with_options("ws://127.0.0.1/", &options)
        .unwrap();
    reactor.run_until_idle();
    let socket = server.next_pending_connection().unwrap();
    let expected = DeflateParams {
        client_no_context_takeover: true,
        client_max_window_bits: 9,
        ..DeflateParams::default()
    };
    assert_eq!(client.compression(), Some(expected));
    assert_eq!(socket.compression(), Some(expected));

    let echoed = Rc::new(RefCell::new(Vec::new()));
    let sink = echoed.clone();
    socket.binary_message_received().connect(|ws, data| {
        ws.send_binary_message(data);
    });
    client
        .binary_message_received()
        .connect(move |_, data| sink.borrow_mut().push(data.to_vec()));
    let json: Vec<u8> = (0..2000)
        .flat_map(|i| format!("{{\"seq\":{i},\"ok\":true}}").into_bytes())
        .collect();
    for len in [10, 100, 512, 513, 40_000] {
        client.send_binary_message(&json[..len]);
    }
    reactor.run_until_idle();
    let lens: Vec<usize> = echoed.borrow().iter().map(Vec::len).collect();
    assert_eq!(lens, [10, 100, 512, 513, 40_000]);
    assert!(echoed.borrow().iter().all(|m| json.starts_with(m)));
}

fn compressed_session(role: Role, config: SessionConfig) -> Session {
    let mut s = Session::new(role, config, Instant::now());
    s.set_compression(
        DeflateParams::default(),
        &CompressionOptions {
            threshold: 0,
            ..on()
        },
    );
    s.set_mask_source(Some(Box::new(|| [0; 4])));
    s
}

#[test]
fn compression_state_is_made_on_first_use_and_its_cost_is_measured() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // No compression: a session allocates nothing up front.
    let (plain, live, _) =
        counted(|| Session::new(Role::Server, SessionConfig::default(), Instant::now()));
    assert_eq!(live, 0);
    drop(plain);

    let mut peer = compressed_session(Role::Client, SessionConfig::default());
    peer.send_message(MessageKind::Text, &[b'x'; 1000], 1 << 20)
        .unwrap();
    let mut wire = peer.pending_output().to_vec();

    // Negotiated: only a small box until a compressed message comes or goes.
    let (mut server, live, _) =
        counted(|| compressed_session(Role::Server, SessionConfig::default()));
    assert!(live < 512, "{live} bytes before first use");
    let (message, inflater, _) = counted(|| {
        let (_, event) = server.read_event(&mut wire, Instant::now());
        assert!(matches!(
            event,
            Some(SessionEvent::Frame {
                message: Some(Data::Message),
                ..
            })
        ));
        server.take_message()
    });
    let inflater = inflater - message.capacity() as isize;
    let ((), compressor, _) = counted(|| {
        server
            .send_message(MessageKind::Text, &message, 1 << 20)
            .unwrap();
        let n = server.queued();
        server.consume_output(n);
        let mut spare = Vec::new();
        server.take_idle_buffers(&mut spare);
    });
    eprintln!(
        "permessage-deflate heap per connection: inflater {inflater} bytes, compressor {compressor} bytes"
    );
    assert!(
        (16 << 10..64 << 10).contains(&inflater),
        "inflater: {inflater} bytes"
    );
    assert!(
        (64 << 10..512 << 10).contains(&compressor),
        "compressor: {compressor} bytes"
    );
}

#[test]
fn a_zip_bomb_closes_with_1009_and_never_allocates_past_the_limit() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    const LIMIT: usize = 1 << 20;
    // 64 MiB of zeros compress to about 300 KiB (level 1), in frames of 16 KiB.
    let mut peer = compressed_session(Role::Client, SessionConfig::default());
    peer.send_message(MessageKind::Binary, &vec![0u8; 64 << 20], 16 << 10)
        .unwrap();
    let mut wire = peer.pending_output().to_vec();
    assert!(wire.len() < 512 << 10, "{} bytes on the wire", wire.len());
    let config = SessionConfig {
        max_message_size: LIMIT as u64,
        ..SessionConfig::default()
    };
    let mut server = compressed_session(Role::Server, config);
    let (code, _, peak) = counted(|| {
        let mut start = 0;
        loop {
            let (used, event) = server.read_event(&mut wire[start..], Instant::now());
            start += used;
            match event {
                Some(SessionEvent::Failed(e)) => return Some(e.code),
                Some(_) => {}
                None => return None,
            }
        }
    });
    assert_eq!(code, Some(CloseCode::TooMuchData));
    // The message buffer (at most the limit) and the inflater's state.
    let most = LIMIT as isize + (64 << 10);
    assert!(peak <= most, "peak {peak} bytes, limit {LIMIT}");
    assert_eq!(&server.pending_output()[..4], b"\x88\x1e\x03\xf1");
}
