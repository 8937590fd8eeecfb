//! The proxy tunnel (`proxy::tunnel`, sans-I/O) on arbitrary replies: HTTP
//! CONNECT and SOCKS5, with or without credentials, to a name, an IPv4 or an
//! IPv6 target, fed in one piece and again in arbitrary reads.
//!
//! Asserts: never more consumed than given; the outcome (open, auth required
//! or failed, with its error kind) and the bytes we send do not depend on how
//! the reply was split; an open tunnel consumed the same bytes either way; a
//! finished tunnel consumes nothing more and keeps its outcome; every failure
//! names the proxy.
#![no_main]

use fuzzkit::Input;
use libfuzzer_sys::fuzz_target;
use qwebsocket::proxy::Proxy;
use qwebsocket::proxy::tunnel::{Progress, Tunnel};

fn outcome(p: &Progress) -> String {
    match p {
        Progress::Pending => "pending".into(),
        Progress::Open => "open".into(),
        Progress::AuthRequired { .. } => "auth".into(),
        Progress::Failed(kind, _) => format!("failed {kind:?}"),
    }
}

fn check_message(p: &Progress) {
    match p {
        Progress::AuthRequired { message, .. } | Progress::Failed(_, message) => {
            assert!(
                message.contains("proxy"),
                "message without the proxy: {message}"
            );
        }
        _ => {}
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let choice = input.u8();
    let mut proxy = if choice & 1 == 0 {
        Proxy::http("127.0.0.1", 3128)
    } else {
        Proxy::socks5("127.0.0.1", 1080)
    };
    if choice & 2 != 0 {
        proxy = proxy.with_credentials("ann", "s3cret");
    }
    let host = match (choice >> 2) % 3 {
        0 => "example.com",
        1 => "192.0.2.7",
        _ => "[2001:db8::1]",
    };
    let splits: Vec<usize> = (0..input.u8() % 16)
        .map(|_| usize::from(input.u8()))
        .collect();
    let reply = input.rest();

    let mut out_one = Vec::new();
    let mut one = Tunnel::new(&proxy, host, 443, &mut out_one).expect("valid target");
    let (used_one, p_one) = one.feed(reply, &mut out_one);
    assert!(used_one <= reply.len());
    check_message(&p_one);
    if p_one != Progress::Pending {
        // Finished: nothing more is taken and the outcome stays.
        let (n, again) = one.feed(b"\x05\x00more", &mut out_one);
        assert_eq!(n, 0);
        match (&p_one, &again) {
            (Progress::Open, Progress::Open) => {}
            (Progress::Open, other) => panic!("open tunnel became {other:?}"),
            (_, Progress::Failed(..)) => {}
            (_, other) => panic!("finished tunnel became {other:?}"),
        }
    }

    // The same reply in pieces, keeping what was not consumed, as the socket does.
    let mut out_split = Vec::new();
    let mut split = Tunnel::new(&proxy, host, 443, &mut out_split).expect("valid target");
    let mut pending: Vec<u8> = Vec::new();
    let mut consumed = 0;
    let mut pos = 0;
    let mut last = Progress::Pending;
    let mut cuts = splits.iter().copied().chain(std::iter::repeat(usize::MAX));
    while last == Progress::Pending && pos < reply.len() {
        let n = cuts.next().unwrap().max(1).min(reply.len() - pos);
        pending.extend_from_slice(&reply[pos..pos + n]);
        pos += n;
        let (used, p) = split.feed(&pending, &mut out_split);
        assert!(used <= pending.len());
        pending.drain(..used);
        consumed += used;
        last = p;
    }
    check_message(&last);
    assert_eq!(
        outcome(&last),
        outcome(&p_one),
        "outcome depends on the split"
    );
    if p_one == Progress::Open {
        assert_eq!(consumed, used_one, "open after different byte counts");
    }
    if !matches!(p_one, Progress::Failed(..)) {
        assert_eq!(out_split, out_one, "bytes sent depend on the split");
    }
});
