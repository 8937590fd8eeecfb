//! Micro-benchmarks of qwebsocket's sans-I/O core (`qwebsocket::protocol`):
//! frame header parsing, unmasking (next to `memcpy` of the same buffer),
//! UTF-8 validation (next to `std::str::from_utf8` and `simdutf8`), the
//! parsing of both sides of the upgrade handshake, and permessage-deflate:
//! a server session sending and a client session receiving a realistic JSON
//! stream, plain and compressed (the compression ratio is printed once).
//!
//! ```text
//! CARGO_TARGET_DIR=target/bench cargo bench --manifest-path bench/Cargo.toml
//! ```

use bench::payload;
use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use qwebsocket::protocol::handshake::client::{ClientRequest, parse_response};
use qwebsocket::protocol::handshake::server::parse_request;
use qwebsocket::protocol::handshake::{MAX_HEADER_BLOCK, accept_key};
use qwebsocket::protocol::mask::apply_mask;
use qwebsocket::protocol::session::{Data, MessageKind};
use qwebsocket::protocol::utf8::Utf8Validator;
use qwebsocket::protocol::{
    CompressionOptions, DeflateParams, FrameHeader, Role, Session, SessionConfig, SessionEvent,
};
use std::hint::black_box;
use std::time::Instant;

fn frame_header(c: &mut Criterion) {
    let mut g = c.benchmark_group("frame_header_parse");
    let cases = [
        (
            "7-bit length, masked",
            payload::header(0x2, 100, Some(payload::MASK_KEY)),
        ),
        (
            "16-bit length, masked",
            payload::header(0x1, 1024, Some(payload::MASK_KEY)),
        ),
        (
            "64-bit length, masked",
            payload::header(0x2, 1 << 20, Some(payload::MASK_KEY)),
        ),
        ("7-bit length, unmasked", payload::header(0x2, 100, None)),
    ];
    for (name, bytes) in &cases {
        g.bench_with_input(BenchmarkId::from_parameter(name), bytes, |b, bytes| {
            b.iter(|| FrameHeader::parse(black_box(bytes), 0))
        });
    }
    g.finish();
}

const SIZES: [(&str, usize); 4] = [
    ("16 B", 16),
    ("1 KiB", 1024),
    ("64 KiB", 64 * 1024),
    ("1 MiB", 1 << 20),
];

fn unmask(c: &mut Criterion) {
    let mut g = c.benchmark_group("unmask");
    for (name, size) in SIZES {
        g.throughput(Throughput::Bytes(size as u64));
        let src = payload::make(size, false);
        let mut buf = src.clone();
        g.bench_function(BenchmarkId::new("apply_mask", name), |b| {
            b.iter(|| apply_mask(black_box(&mut buf), payload::MASK_KEY, 0))
        });
        // The same buffer one byte off an 8-byte boundary, at payload offset 1.
        let mut shifted = vec![0u8; size + 1];
        g.bench_function(BenchmarkId::new("apply_mask, unaligned", name), |b| {
            b.iter(|| apply_mask(black_box(&mut shifted[1..]), payload::MASK_KEY, 1))
        });
        let mut dst = vec![0u8; size];
        g.bench_function(BenchmarkId::new("memcpy", name), |b| {
            b.iter(|| black_box(&mut dst).copy_from_slice(black_box(&src)))
        });
    }
    g.finish();
}

fn utf8(c: &mut Criterion) {
    let mut g = c.benchmark_group("utf8");
    let ascii = |n: usize| -> Vec<u8> { (0..n).map(|i| b'a' + (i % 26) as u8).collect() };
    let wide = |n: usize| -> Vec<u8> {
        let s = "日本語のテキストと絵文字😀、ελληνικά, русский. ";
        let mut v: Vec<u8> = s.repeat(n / s.len() + 1).into_bytes();
        while std::str::from_utf8(&v[..n]).is_err() {
            v.remove(0);
        }
        v.truncate(n);
        v
    };
    let inputs = [
        ("ASCII 1 KiB", ascii(1024)),
        ("ASCII 64 KiB", ascii(64 * 1024)),
        ("mostly ASCII 1 KiB", payload::make(1024, true)),
        ("mostly ASCII 64 KiB", payload::make(64 * 1024, true)),
        ("multi-byte 64 KiB", wide(64 * 1024)),
    ];
    for (name, text) in &inputs {
        assert!(std::str::from_utf8(text).is_ok(), "{name}");
        g.throughput(Throughput::Bytes(text.len() as u64));
        g.bench_with_input(BenchmarkId::new("qwebsocket", name), text, |b, t| {
            b.iter(|| {
                let mut v = Utf8Validator::new();
                let r = v.feed(black_box(t));
                (r, v.is_complete())
            })
        });
        g.bench_with_input(BenchmarkId::new("std", name), text, |b, t| {
            b.iter(|| std::str::from_utf8(black_box(t)).is_ok())
        });
        g.bench_with_input(BenchmarkId::new("simdutf8", name), text, |b, t| {
            b.iter(|| simdutf8::basic::from_utf8(black_box(t)).is_ok())
        });
    }
    g.finish();
}

fn handshake(c: &mut Criterion) {
    let mut g = c.benchmark_group("handshake");
    let request = b"GET /chat?room=42 HTTP/1.1\r\n\
        Host: example.com:8080\r\n\
        Connection: Upgrade\r\n\
        Pragma: no-cache\r\n\
        Cache-Control: no-cache\r\n\
        User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36\r\n\
        Upgrade: websocket\r\n\
        Origin: https://example.com\r\n\
        Sec-WebSocket-Version: 13\r\n\
        Accept-Encoding: gzip, deflate, br\r\n\
        Accept-Language: en-US,en;q=0.9\r\n\
        Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
        Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\
        Sec-WebSocket-Protocol: chat, superchat\r\n\r\n";
    assert!(matches!(
        parse_request(request, MAX_HEADER_BLOCK),
        Ok(Some(_))
    ));
    g.bench_function("server: parse_request (browser upgrade)", |b| {
        b.iter(|| parse_request(black_box(request), MAX_HEADER_BLOCK).is_ok())
    });

    let url = qwebsocket::url::Url::parse("ws://example.com:8080/chat").expect("a URL");
    let mut req =
        ClientRequest::from_url(&url, "dGhlIHNhbXBsZSBub25jZQ==".into()).expect("a request");
    req.subprotocols = vec!["chat".into()];
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\nSec-WebSocket-Protocol: chat\r\n\
         Date: Tue, 25 Nov 2025 12:00:00 GMT\r\nServer: bench\r\n\r\n",
        accept_key(req.key.as_bytes())
    );
    assert!(matches!(
        parse_response(response.as_bytes(), &req, MAX_HEADER_BLOCK),
        Ok(Some(_))
    ));
    g.bench_function("client: parse_response (101 with subprotocol)", |b| {
        b.iter(|| parse_response(black_box(response.as_bytes()), &req, MAX_HEADER_BLOCK).is_ok())
    });
    g.bench_function("accept_key (SHA-1 + base64)", |b| {
        b.iter(|| accept_key(black_box(b"dGhlIHNhbXBsZSBub25jZQ==")))
    });
    g.finish();
}

/// A stream of JSON events as a live dashboard or a chat sends them: 400
/// messages of about 250 bytes, fields and most values repeating from one
/// message to the next, numbers varying (deterministic).
fn json_stream() -> Vec<String> {
    let mut x: u32 = 0x9e37_79b9;
    let mut next = move |n: u32| {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        x % n
    };
    let symbols = ["ACME", "GLOBX", "INITECH", "UMBRL", "HOOLI", "STARK"];
    let venues = ["XNAS", "XNYS", "BATS"];
    (0..400)
        .map(|i| {
            format!(
                r#"{{"type":"trade","seq":{i},"symbol":"{}","venue":"{}","price":{}.{:02},"size":{},"side":"{}","ts":"2026-11-26T02:{:02}:{:02}.{:03}Z","conditions":["regular","{}"],"trader":{{"id":{},"desk":"equities-{}"}}}}"#,
                symbols[next(6) as usize],
                venues[next(3) as usize],
                100 + next(50),
                next(100),
                100 * (1 + next(20)),
                if next(2) == 0 { "buy" } else { "sell" },
                next(60),
                next(60),
                next(1000),
                if next(4) == 0 { "odd-lot" } else { "round-lot" },
                1000 + next(40),
                next(5),
            )
        })
        .collect()
}

/// A server session (sending) and a client session (receiving), with
/// permessage-deflate at `level` if given.
fn deflate_pair(level: Option<u32>, no_context_takeover: bool) -> (Session, Session) {
    let now = Instant::now();
    let mut server = Session::new(Role::Server, SessionConfig::default(), now);
    let mut client = Session::new(Role::Client, SessionConfig::default(), now);
    if let Some(level) = level {
        let options = CompressionOptions {
            level,
            ..CompressionOptions::enabled()
        };
        let params = DeflateParams {
            server_no_context_takeover: no_context_takeover,
            ..DeflateParams::default()
        };
        server.set_compression(params, &options);
        client.set_compression(params, &options);
    }
    (server, client)
}

/// The server sends every message; returns the bytes it queued.
fn send_all(server: &mut Session, stream: &[String]) -> usize {
    let mut total = 0;
    for m in stream {
        server
            .send_message(MessageKind::Text, m.as_bytes(), 1 << 20)
            .expect("open session");
        total += server.queued();
        server.consume_output(server.queued());
    }
    total
}

/// The client reads every message of `wire`; returns the payload bytes.
fn receive_all(client: &mut Session, wire: &mut [u8]) -> usize {
    let now = Instant::now();
    let mut start = 0;
    let mut total = 0;
    while start < wire.len() {
        let (used, event) = client.read_event(&mut wire[start..], now);
        match event {
            Some(SessionEvent::Frame {
                message: Some(Data::Input(r)),
                ..
            }) => total += r.len(),
            Some(SessionEvent::Frame {
                message: Some(Data::Message),
                ..
            }) => {
                let m = client.take_message();
                total += m.len();
                client.restore_message_buffer(m);
            }
            other => panic!("unexpected {other:?}"),
        }
        start += used;
    }
    total
}

fn permessage_deflate(c: &mut Criterion) {
    let stream = json_stream();
    let bytes: usize = stream.iter().map(String::len).sum();
    let modes: [(&str, Option<u32>, bool); 5] = [
        ("plain", None, false),
        ("deflate level 1", Some(1), false),
        ("deflate level 6", Some(6), false),
        ("deflate level 9", Some(9), false),
        ("deflate level 1, no context takeover", Some(1), true),
    ];
    let mut g = c.benchmark_group("permessage_deflate_send_json_stream");
    g.throughput(Throughput::Bytes(bytes as u64));
    for (name, level, nct) in modes {
        let (mut server, _) = deflate_pair(level, nct);
        let wire = send_all(&mut server, &stream);
        println!(
            "permessage-deflate, {name}: {bytes} bytes of JSON in {} messages -> {wire} bytes on the wire ({:.1}%)",
            stream.len(),
            100.0 * wire as f64 / bytes as f64
        );
        g.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| send_all(&mut server, black_box(&stream)))
        });
    }
    g.finish();

    let mut g = c.benchmark_group("permessage_deflate_receive_json_stream");
    g.throughput(Throughput::Bytes(bytes as u64));
    for (name, level, nct) in modes {
        let (mut server, _) = deflate_pair(level, nct);
        let mut wire = Vec::new();
        for m in &stream {
            server
                .send_message(MessageKind::Text, m.as_bytes(), 1 << 20)
                .expect("open session");
            wire.extend_from_slice(server.pending_output());
            server.consume_output(server.queued());
        }
        g.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter_batched_ref(
                || (deflate_pair(level, nct).1, wire.clone()),
                |(client, wire)| receive_all(client, wire),
                BatchSize::LargeInput,
            )
        });
    }
    g.finish();
}

criterion_group!(
    benches,
    frame_header,
    unmask,
    utf8,
    handshake,
    permessage_deflate
);
criterion_main!(benches);
