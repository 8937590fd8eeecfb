//! Micro-benchmarks of qwebsocket's sans-I/O core (`qwebsocket::protocol`):
//! frame header parsing, unmasking (next to `memcpy` of the same buffer),
//! UTF-8 validation (next to `std::str::from_utf8` and `simdutf8`), and the
//! parsing of both sides of the upgrade handshake.
//!
//! ```text
//! CARGO_TARGET_DIR=target/bench cargo bench --manifest-path bench/Cargo.toml
//! ```

use bench::payload;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use qwebsocket::protocol::FrameHeader;
use qwebsocket::protocol::handshake::client::{ClientRequest, parse_response};
use qwebsocket::protocol::handshake::server::parse_request;
use qwebsocket::protocol::handshake::{MAX_HEADER_BLOCK, accept_key};
use qwebsocket::protocol::mask::apply_mask;
use qwebsocket::protocol::utf8::Utf8Validator;
use std::hint::black_box;

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

criterion_group!(benches, frame_header, unmask, utf8, handshake);
criterion_main!(benches);
