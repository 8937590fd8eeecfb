//! The ceiling: a TCP echo on mio, written the way qwebsocket's loop works.
//!
//! ```text
//! raw_tcp_echo [--port P] [--mode echo|ws]
//! ```
//!
//! One thread, one `mio::Poll`, edge-triggered readiness; each readable
//! socket is read until `WouldBlock` into one buffer shared by all
//! connections, and what was read is written straight back. The buffer is
//! 1 MiB, the most qwebsocket reads at once (its per-connection buffers
//! grow to 1 MiB for large frames), so that large messages cost the ceiling
//! no more system calls than they cost us. Only when a write is partial does the rest go to a
//! buffer of that connection, and reading it stops until that buffer is
//! drained (backpressure): an idle connection holds no buffer at all.
//!
//! `--mode echo` (the default) echoes bytes, nothing else: no upgrade, no
//! frame parsing. It is what a WebSocket echo server can at best cost, and the
//! load generator drives it with `--raw` (the same masked frames, echoed
//! byte for byte).
//!
//! `--mode ws` is the bare server for measuring a WebSocket *client*
//! (`qws_client_load`): it answers the upgrade, then sends every frame back
//! unmasked (header rewritten, payload unmasked in place) and checks nothing
//! else, no UTF-8, no limits, no close handshake of its own.

use bench::args::Args;
use bench::{sys, upgrade};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use qwebsocket::protocol::mask::apply_mask;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::process::ExitCode;

const LISTENER: Token = Token(usize::MAX);
const READ_BUFFER: usize = 1 << 20;

/// Where a `--mode ws` connection is in the stream of client frames.
#[derive(Default)]
struct Reflect {
    hdr: [u8; 14],
    hdr_len: usize,
    remaining: u64,
    key: Option<[u8; 4]>,
    mask_off: usize,
}

enum Ws {
    Upgrade(Vec<u8>),
    Frames(Reflect),
}

struct Conn {
    stream: TcpStream,
    /// Bytes that a partial write left behind (empty, unallocated, when idle).
    pending: Vec<u8>,
    /// How many of them were written since.
    pending_sent: usize,
    ws: Option<Ws>,
}

fn header_need(hdr: &[u8; 14], have: usize) -> usize {
    if have < 2 {
        return 2;
    }
    let ext = match hdr[1] & 0x7f {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    2 + ext + if hdr[1] & 0x80 != 0 { 4 } else { 0 }
}

/// Appends to `out` the frames of `data` sent back unmasked.
fn reflect(r: &mut Reflect, mut data: &mut [u8], out: &mut Vec<u8>) {
    while !data.is_empty() {
        if r.remaining == 0 {
            let need = header_need(&r.hdr, r.hdr_len);
            let take = (need - r.hdr_len).min(data.len());
            r.hdr[r.hdr_len..r.hdr_len + take].copy_from_slice(&data[..take]);
            r.hdr_len += take;
            data = &mut data[take..];
            let need = header_need(&r.hdr, r.hdr_len);
            if r.hdr_len < need {
                continue;
            }
            let h = &r.hdr;
            let (len, ext_end) = match h[1] & 0x7f {
                126 => (u64::from(u16::from_be_bytes([h[2], h[3]])), 4),
                127 => {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(&h[2..10]);
                    (u64::from_be_bytes(b), 10)
                }
                n => (u64::from(n), 2),
            };
            out.push(h[0]);
            out.push(h[1] & 0x7f);
            out.extend_from_slice(&h[2..ext_end]);
            r.key =
                (h[1] & 0x80 != 0).then(|| [h[need - 4], h[need - 3], h[need - 2], h[need - 1]]);
            r.remaining = len;
            r.mask_off = 0;
            r.hdr_len = 0;
            continue;
        }
        let n = usize::try_from(r.remaining)
            .unwrap_or(usize::MAX)
            .min(data.len());
        let (chunk, rest) = data.split_at_mut(n);
        if let Some(key) = r.key {
            apply_mask(chunk, key, r.mask_off);
        }
        out.extend_from_slice(chunk);
        r.mask_off += n;
        r.remaining -= n as u64;
        data = rest;
    }
}

/// What to send back for `data`, in `--mode ws`.
fn answer(ws: &mut Ws, data: &mut [u8], out: &mut Vec<u8>) -> Result<(), String> {
    match ws {
        Ws::Frames(r) => reflect(r, data, out),
        Ws::Upgrade(head) => {
            head.extend_from_slice(data);
            if let Some(len) = upgrade::head_len(head) {
                out.extend_from_slice(&upgrade::server_response(&head[..len])?);
                let mut rest = head[len..].to_vec();
                let mut r = Reflect::default();
                reflect(&mut r, &mut rest, out);
                *ws = Ws::Frames(r);
            } else if head.len() > 16 * 1024 {
                return Err("upgrade request too long".into());
            }
        }
    }
    Ok(())
}

/// Writes as much of `data` as the socket takes; returns how much.
fn write_some(stream: &mut TcpStream, data: &[u8]) -> io::Result<usize> {
    let mut done = 0;
    while done < data.len() {
        match stream.write(&data[done..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// Serves one readiness event; `Err` closes the connection.
fn service(
    conn: &mut Conn,
    readable: bool,
    buf: &mut [u8],
    out: &mut Vec<u8>,
) -> Result<(), String> {
    let had_pending = !conn.pending.is_empty();
    if had_pending {
        let rest = &conn.pending[conn.pending_sent..];
        conn.pending_sent += write_some(&mut conn.stream, rest).map_err(|e| e.to_string())?;
        if conn.pending_sent < conn.pending.len() {
            return Ok(());
        }
        conn.pending = Vec::new();
        conn.pending_sent = 0;
    }
    if !readable && !had_pending {
        return Ok(());
    }
    loop {
        let n = match conn.stream.read(buf) {
            Ok(0) => return Err("closed".into()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.to_string()),
        };
        let data: &[u8] = match conn.ws.as_mut() {
            None => &buf[..n],
            Some(ws) => {
                out.clear();
                answer(ws, &mut buf[..n], out)?;
                out
            }
        };
        let written = write_some(&mut conn.stream, data).map_err(|e| e.to_string())?;
        if written < data.len() {
            // Stop reading until the peer has taken this (writable event).
            conn.pending.extend_from_slice(&data[written..]);
            return Ok(());
        }
    }
}

fn run(port: u16, ws: bool) -> io::Result<()> {
    let mut poll = Poll::new()?;
    let mut listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port)))?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    bench::print_ready(listener.local_addr()?.port());
    let mut conns: Vec<Option<Conn>> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    let mut buf = vec![0u8; READ_BUFFER];
    let mut out = Vec::new();
    let mut events = Events::with_capacity(1024);
    loop {
        match poll.poll(&mut events, None) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        for ev in events.iter() {
            if ev.token() == LISTENER {
                loop {
                    match listener.accept() {
                        Ok((mut stream, _)) => {
                            let _ = stream.set_nodelay(true);
                            let i = free.pop().unwrap_or(conns.len());
                            poll.registry().register(
                                &mut stream,
                                Token(i),
                                Interest::READABLE | Interest::WRITABLE,
                            )?;
                            let conn = Conn {
                                stream,
                                pending: Vec::new(),
                                pending_sent: 0,
                                ws: ws.then(|| Ws::Upgrade(Vec::new())),
                            };
                            if i == conns.len() {
                                conns.push(Some(conn));
                            } else {
                                conns[i] = Some(conn);
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        // Out of descriptors and the like: try again on the next event.
                        Err(_) => break,
                    }
                }
                continue;
            }
            let i = ev.token().0;
            let Some(conn) = conns.get_mut(i).and_then(Option::as_mut) else {
                continue;
            };
            if service(conn, ev.is_readable(), &mut buf, &mut out).is_err() {
                if let Some(mut c) = conns[i].take() {
                    let _ = poll.registry().deregister(&mut c.stream);
                }
                free.push(i);
            }
        }
    }
}

fn main() -> ExitCode {
    sys::raise_fd_limit();
    let mut args = Args::from_env();
    let parsed = (|| -> Result<(u16, bool), String> {
        let port = args.get("--port", 0u16)?;
        let ws = match args.get("--mode", String::from("echo"))?.as_str() {
            "echo" => false,
            "ws" => true,
            other => return Err(format!("--mode {other}: expected echo or ws")),
        };
        Ok((port, ws))
    })();
    let (port, ws) = match parsed.and_then(|p| args.finish().map(|()| p)) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("raw_tcp_echo: {e}");
            return ExitCode::from(2);
        }
    };
    match run(port, ws) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("raw_tcp_echo: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bench::payload;

    #[test]
    fn frames_come_back_unmasked_whatever_the_reads() {
        let body = payload::make(70_000, false);
        let small = payload::make(5, true);
        let wire = [
            payload::masked_frame(2, &body),
            payload::masked_frame(1, &small),
        ]
        .concat();
        let expected = [
            payload::header(2, body.len(), None),
            body.clone(),
            payload::header(1, 5, None),
            small.clone(),
        ]
        .concat();
        for step in [1, 3, 13, 1000, wire.len()] {
            let mut r = Reflect::default();
            let mut out = Vec::new();
            for chunk in wire.chunks(step) {
                reflect(&mut r, &mut chunk.to_vec(), &mut out);
            }
            assert!(out == expected, "reads of {step} bytes");
        }
    }
}
