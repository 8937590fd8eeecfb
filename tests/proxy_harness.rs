//! The proxy fixtures of `tests/common/proxies.rs` checked on their own, with
//! plain `std::net` sockets and no qwebsocket code: the real tinyproxy and
//! microsocks do what the proxy tests will rely on, the fake proxies behave
//! as documented, and everything stops when dropped.
//!
//! Every client read has a timeout (`LIMIT`), so no test can hang.

mod common;

use base64::Engine as _;
use common::proxies::{
    EchoServer, FakeProxy, Microsocks, MicrosocksOptions, Step, Tinyproxy, TinyproxyOptions,
    find_program, free_port_not_listening,
};
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(5);

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&addr, LIMIT)
        .unwrap_or_else(|e| panic!("cannot connect to {addr}: {e}"));
    stream.set_read_timeout(Some(LIMIT)).unwrap();
    stream.set_write_timeout(Some(LIMIT)).unwrap();
    stream
}

fn read_exact(stream: &mut TcpStream, len: usize) -> Vec<u8> {
    let mut buf = vec![0; len];
    stream
        .read_exact(&mut buf)
        .unwrap_or_else(|e| panic!("reading {len} bytes: {e}"));
    buf
}

/// Everything until the peer closes (a reset counts as closing).
fn read_to_close(stream: &mut TcpStream) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut buf = [0; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return bytes,
            Ok(n) => bytes.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return bytes,
            Err(e) => panic!("waiting for the peer to close: {e} (after {bytes:?})"),
        }
    }
}

/// The HTTP head (without its blank line) and what was read after it.
fn read_http_head(stream: &mut TcpStream) -> (String, Vec<u8>) {
    let mut bytes = Vec::new();
    let mut buf = [0; 4096];
    loop {
        if let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8(bytes[..end].to_vec()).expect("an ASCII head");
            return (head, bytes[end + 4..].to_vec());
        }
        match stream.read(&mut buf) {
            Ok(0) => panic!(
                "closed before the end of the HTTP head: {:?}",
                String::from_utf8_lossy(&bytes)
            ),
            Ok(n) => bytes.extend_from_slice(&buf[..n]),
            Err(e) => panic!("reading an HTTP head: {e}"),
        }
    }
}

/// The value of header `name` in an HTTP head (case-insensitive name).
fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.split("\r\n").skip(1).find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn status_code(head: &str) -> u16 {
    head.split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status code in {head:?}"))
}

fn proxy_authorization(user: &str, password: &str) -> String {
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Proxy-Authorization: Basic {token}\r\n")
}

/// Sends `CONNECT target HTTP/1.1` with `extra` header lines (each ending in
/// CRLF) and returns the stream and the proxy's answer head.
fn http_connect(proxy: SocketAddr, target: &str, extra: &str) -> (TcpStream, String, Vec<u8>) {
    let mut stream = connect(proxy);
    let request = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n{extra}\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let (head, rest) = read_http_head(&mut stream);
    (stream, head, rest)
}

/// Bytes written to `stream` come back (through whatever is in between).
fn assert_echoes(stream: &mut TcpStream) {
    let message = b"bytes through the proxy \x00\xff";
    stream.write_all(message).unwrap();
    assert_eq!(read_exact(stream, message.len()), message);
}

/// The refusal ends with the proxy closing the connection.
fn assert_closed_after_refusal(stream: &mut TcpStream, rest: Vec<u8>) -> String {
    let mut body = rest;
    body.extend(read_to_close(stream));
    String::from_utf8_lossy(&body).into_owned()
}

/// Waits (briefly) until `/proc/<pid>` is gone: the process exited and was
/// reaped.
fn assert_reaped(pid: u32) {
    let proc_dir = format!("/proc/{pid}");
    let deadline = Instant::now() + LIMIT;
    while std::path::Path::new(&proc_dir).exists() {
        assert!(Instant::now() < deadline, "process {pid} is still there");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn assert_refused(addr: SocketAddr) {
    let err = TcpStream::connect_timeout(&addr, LIMIT).expect_err("nothing listens there");
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
}

// ----- tinyproxy --------------------------------------------------------------

#[test]
fn tinyproxy_connect_tunnels_bytes_to_the_target() {
    let target = EchoServer::start();
    let proxy = Tinyproxy::start(TinyproxyOptions::default());
    let (mut stream, head, rest) = http_connect(proxy.addr(), &target.addr().to_string(), "");
    // HTTP/1.0 even to an HTTP/1.1 CONNECT.
    assert!(
        head.starts_with("HTTP/1.0 200 Connection established\r\n"),
        "{head}"
    );
    assert!(rest.is_empty(), "bytes after the 200: {rest:?}");
    assert_echoes(&mut stream);
    assert_eq!(target.connections(), 1);
    assert!(proxy.log().contains("Established connection to host"));
}

#[test]
fn tinyproxy_connect_by_host_name() {
    let target = EchoServer::start();
    let proxy = Tinyproxy::start(TinyproxyOptions::default());
    let (mut stream, head, _) =
        http_connect(proxy.addr(), &format!("localhost:{}", target.port()), "");
    assert_eq!(status_code(&head), 200, "{head}");
    assert_echoes(&mut stream);
}

#[test]
fn tinyproxy_connect_to_a_closed_port_is_an_error_answer() {
    let proxy = Tinyproxy::start(TinyproxyOptions::default());
    let closed = free_port_not_listening();
    let (mut stream, head, rest) = http_connect(proxy.addr(), &closed.to_string(), "");
    assert!(
        head.starts_with("HTTP/1.1 500 Unable to connect\r\n"),
        "{head}"
    );
    assert_closed_after_refusal(&mut stream, rest);
}

#[test]
fn tinyproxy_basic_auth_without_credentials_is_407() {
    let target = EchoServer::start();
    let proxy = Tinyproxy::start(TinyproxyOptions::default().basic_auth("alice", "s3cret"));
    let (mut stream, head, rest) = http_connect(proxy.addr(), &target.addr().to_string(), "");
    assert!(
        head.starts_with("HTTP/1.0 407 Proxy Authentication Required\r\n"),
        "{head}"
    );
    assert_eq!(
        header(&head, "Proxy-Authenticate"),
        Some("Basic realm=\"Tinyproxy\"")
    );
    assert_eq!(header(&head, "Connection"), Some("close"));
    assert_eq!(header(&head, "Content-Length"), None);
    let body = assert_closed_after_refusal(&mut stream, rest);
    assert!(body.contains("407"), "{body}");
    assert_eq!(target.connections(), 0);
}

#[test]
fn tinyproxy_basic_auth_with_the_right_credentials_tunnels() {
    let target = EchoServer::start();
    let proxy = Tinyproxy::start(TinyproxyOptions::default().basic_auth("alice", "s3cret"));
    let (mut stream, head, _) = http_connect(
        proxy.addr(),
        &target.addr().to_string(),
        &proxy_authorization("alice", "s3cret"),
    );
    assert_eq!(status_code(&head), 200, "{head}");
    assert_echoes(&mut stream);
}

#[test]
fn tinyproxy_basic_auth_with_wrong_credentials_is_refused() {
    let target = EchoServer::start();
    let proxy = Tinyproxy::start(TinyproxyOptions::default().basic_auth("alice", "s3cret"));
    for (user, password) in [("alice", "wrong"), ("mallory", "s3cret")] {
        let (mut stream, head, rest) = http_connect(
            proxy.addr(),
            &target.addr().to_string(),
            &proxy_authorization(user, password),
        );
        // tinyproxy 1.11 answers 401 with WWW-Authenticate (its issue #532);
        // later versions answer 407 with Proxy-Authenticate.
        match status_code(&head) {
            401 => assert_eq!(
                header(&head, "WWW-Authenticate"),
                Some("Basic realm=\"Tinyproxy\""),
                "{head}"
            ),
            407 => assert_eq!(
                header(&head, "Proxy-Authenticate"),
                Some("Basic realm=\"Tinyproxy\""),
                "{head}"
            ),
            _ => panic!("{user}:{password} was not refused: {head}"),
        }
        assert_closed_after_refusal(&mut stream, rest);
    }
    assert_eq!(target.connections(), 0);
}

#[test]
fn tinyproxy_connect_to_a_port_not_allowed_is_403() {
    let target = EchoServer::start();
    let other = EchoServer::start();
    let proxy = Tinyproxy::start(TinyproxyOptions::default().connect_ports(&[target.port()]));

    let (mut stream, head, rest) = http_connect(proxy.addr(), &other.addr().to_string(), "");
    assert!(
        head.starts_with("HTTP/1.1 403 Access violation\r\n"),
        "{head}"
    );
    assert_eq!(header(&head, "Connection"), Some("close"));
    assert_closed_after_refusal(&mut stream, rest);
    assert_eq!(other.connections(), 0);

    let (mut stream, head, _) = http_connect(proxy.addr(), &target.addr().to_string(), "");
    assert_eq!(status_code(&head), 200, "{head}");
    assert_echoes(&mut stream);
}

#[test]
fn tinyproxy_checks_credentials_before_the_port() {
    let target = EchoServer::start();
    let proxy = Tinyproxy::start(
        TinyproxyOptions::default()
            .basic_auth("alice", "s3cret")
            .connect_ports(&[target.port()]),
    );
    let elsewhere = free_port_not_listening().to_string();
    let (_, head, _) = http_connect(proxy.addr(), &elsewhere, "");
    assert_eq!(status_code(&head), 407, "{head}");
    let (_, head, _) = http_connect(
        proxy.addr(),
        &elsewhere,
        &proxy_authorization("alice", "s3cret"),
    );
    assert_eq!(status_code(&head), 403, "{head}");
}

#[test]
fn tinyproxy_is_stopped_and_cleaned_up_when_dropped() {
    let proxy = Tinyproxy::start(TinyproxyOptions::default());
    let (addr, pid, log) = (proxy.addr(), proxy.pid(), proxy.log_path());
    assert!(log.exists());
    drop(proxy);
    assert_reaped(pid);
    assert_refused(addr);
    assert!(
        !log.parent().unwrap().exists(),
        "{} was not removed",
        log.display()
    );
}

#[test]
#[should_panic(expected = "BasicAuth takes only")]
fn tinyproxy_credentials_it_cannot_parse_are_refused_up_front() {
    let _ = TinyproxyOptions::default().basic_auth("alice", "p@ss:word");
}

// ----- microsocks -------------------------------------------------------------

/// A SOCKS5 CONNECT request for 127.0.0.1:`port` (ATYP 0x01).
fn socks_request_ipv4(port: u16) -> Vec<u8> {
    let mut request = vec![0x05, 0x01, 0x00, 0x01, 127, 0, 0, 1];
    request.extend_from_slice(&port.to_be_bytes());
    request
}

/// A SOCKS5 CONNECT request for `host`:`port` (ATYP 0x03, a name).
fn socks_request_name(host: &str, port: u16) -> Vec<u8> {
    let mut request = vec![0x05, 0x01, 0x00, 0x03, host.len() as u8];
    request.extend_from_slice(host.as_bytes());
    request.extend_from_slice(&port.to_be_bytes());
    request
}

/// An RFC 1929 username/password request.
fn socks_credentials(user: &str, password: &str) -> Vec<u8> {
    let mut request = vec![0x01, user.len() as u8];
    request.extend_from_slice(user.as_bytes());
    request.push(password.len() as u8);
    request.extend_from_slice(password.as_bytes());
    request
}

/// microsocks's success reply: bound address 0.0.0.0:0.
const SOCKS_SUCCEEDED: [u8; 10] = [0x05, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0];

#[test]
fn microsocks_connect_by_address_echoes() {
    let target = EchoServer::start();
    let proxy = Microsocks::start(MicrosocksOptions::default());
    let mut stream = connect(proxy.addr());
    stream.write_all(&[0x05, 0x01, 0x00]).unwrap();
    assert_eq!(read_exact(&mut stream, 2), [0x05, 0x00]);
    stream
        .write_all(&socks_request_ipv4(target.port()))
        .unwrap();
    assert_eq!(read_exact(&mut stream, 10), SOCKS_SUCCEEDED);
    assert_echoes(&mut stream);
}

#[test]
fn microsocks_connect_by_name_echoes() {
    let target = EchoServer::start();
    let proxy = Microsocks::start(MicrosocksOptions::default());
    let mut stream = connect(proxy.addr());
    stream.write_all(&[0x05, 0x01, 0x00]).unwrap();
    assert_eq!(read_exact(&mut stream, 2), [0x05, 0x00]);
    stream
        .write_all(&socks_request_name("localhost", target.port()))
        .unwrap();
    assert_eq!(read_exact(&mut stream, 10), SOCKS_SUCCEEDED);
    assert_echoes(&mut stream);
}

#[test]
fn microsocks_connect_to_a_closed_port_replies_connection_refused() {
    let proxy = Microsocks::start(MicrosocksOptions::default());
    let mut stream = connect(proxy.addr());
    stream.write_all(&[0x05, 0x01, 0x00]).unwrap();
    assert_eq!(read_exact(&mut stream, 2), [0x05, 0x00]);
    let closed = free_port_not_listening();
    stream
        .write_all(&socks_request_ipv4(closed.port()))
        .unwrap();
    assert_eq!(
        read_to_close(&mut stream),
        [0x05, 0x05, 0x00, 0x01, 0, 0, 0, 0, 0, 0]
    );
}

#[test]
fn microsocks_refuses_other_commands_and_address_types() {
    let proxy = Microsocks::start(MicrosocksOptions::default());
    let bind = [0x05, 0x02, 0x00, 0x01, 127, 0, 0, 1, 0, 80];
    let unknown_type = [0x05, 0x01, 0x00, 0x07, 0, 80];
    for (request, code) in [(&bind[..], 0x07), (&unknown_type[..], 0x08)] {
        let mut stream = connect(proxy.addr());
        stream.write_all(&[0x05, 0x01, 0x00]).unwrap();
        assert_eq!(read_exact(&mut stream, 2), [0x05, 0x00]);
        stream.write_all(request).unwrap();
        assert_eq!(
            read_to_close(&mut stream),
            [0x05, code, 0x00, 0x01, 0, 0, 0, 0, 0, 0]
        );
    }
}

#[test]
fn microsocks_with_auth_takes_the_right_password() {
    let target = EchoServer::start();
    let proxy = Microsocks::start(MicrosocksOptions::default().auth("bob", "hunter2"));
    let mut stream = connect(proxy.addr());
    // Offered next to 0x00, 0x02 is chosen.
    stream.write_all(&[0x05, 0x02, 0x00, 0x02]).unwrap();
    assert_eq!(read_exact(&mut stream, 2), [0x05, 0x02]);
    stream
        .write_all(&socks_credentials("bob", "hunter2"))
        .unwrap();
    assert_eq!(read_exact(&mut stream, 2), [0x01, 0x00]);
    stream
        .write_all(&socks_request_ipv4(target.port()))
        .unwrap();
    assert_eq!(read_exact(&mut stream, 10), SOCKS_SUCCEEDED);
    assert_echoes(&mut stream);
}

#[test]
fn microsocks_with_auth_refuses_a_wrong_password() {
    let target = EchoServer::start();
    let proxy = Microsocks::start(MicrosocksOptions::default().auth("bob", "hunter2"));
    for (user, password) in [("bob", "wrong"), ("eve", "hunter2")] {
        let mut stream = connect(proxy.addr());
        stream.write_all(&[0x05, 0x01, 0x02]).unwrap();
        assert_eq!(read_exact(&mut stream, 2), [0x05, 0x02]);
        stream
            .write_all(&socks_credentials(user, password))
            .unwrap();
        let reply = read_to_close(&mut stream);
        assert_eq!(reply.len(), 2, "{reply:?}");
        assert_eq!(reply[0], 0x01);
        assert_ne!(reply[1], 0x00, "{user}:{password} was accepted");
        assert_eq!(reply, [0x01, 0x02]);
    }
    assert_eq!(target.connections(), 0);
}

#[test]
fn microsocks_with_auth_refuses_a_client_offering_no_authentication() {
    let proxy = Microsocks::start(MicrosocksOptions::default().auth("bob", "hunter2"));
    let mut stream = connect(proxy.addr());
    stream.write_all(&[0x05, 0x01, 0x00]).unwrap();
    assert_eq!(read_to_close(&mut stream), [0x05, 0xff]);
}

#[test]
fn microsocks_with_auth_refuses_a_client_skipping_the_password() {
    let target = EchoServer::start();
    let proxy = Microsocks::start(MicrosocksOptions::default().auth("bob", "hunter2"));
    let mut stream = connect(proxy.addr());
    stream.write_all(&[0x05, 0x01, 0x02]).unwrap();
    assert_eq!(read_exact(&mut stream, 2), [0x05, 0x02]);
    stream
        .write_all(&socks_request_ipv4(target.port()))
        .unwrap();
    assert_eq!(read_to_close(&mut stream), [0x01, 0x01]);
    assert_eq!(target.connections(), 0);
}

#[test]
fn microsocks_is_stopped_when_dropped() {
    let proxy = Microsocks::start(MicrosocksOptions::default());
    let (addr, pid) = (proxy.addr(), proxy.pid());
    drop(proxy);
    assert_reaped(pid);
    assert_refused(addr);
}

// ----- finding the programs ---------------------------------------------------

#[test]
fn a_missing_program_fails_saying_how_to_install_it() {
    let panic =
        std::panic::catch_unwind(|| find_program("qws-no-such-proxy")).expect_err("not on PATH");
    let message = panic.downcast_ref::<String>().expect("a formatted message");
    assert_eq!(
        message,
        "qws-no-such-proxy not found: run `cargo xtask tools` (or `cargo xtask test`), \
         which installs it"
    );
}

// ----- fake proxies -----------------------------------------------------------

#[test]
fn fake_closes_after_accept() {
    let fake = FakeProxy::closes_after_accept();
    let mut stream = connect(fake.addr());
    assert_eq!(read_to_close(&mut stream), b"");
    stream.write_all(b"late").unwrap();
    stream.shutdown(Shutdown::Write).unwrap();
    assert!(fake.accepted());
    assert_eq!(fake.wait_done(LIMIT), b"late");
}

#[test]
fn fake_never_answers_until_dropped() {
    let fake = FakeProxy::never_answers();
    let mut stream = connect(fake.addr());
    let request = b"CONNECT 127.0.0.1:1 HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\r\n";
    stream.write_all(request).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut buf = [0; 16];
    let err = stream.read(&mut buf).expect_err("no answer");
    assert!(
        matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
        "{err}"
    );
    let deadline = Instant::now() + LIMIT;
    while fake.received() != request {
        assert!(Instant::now() < deadline, "got {:?}", fake.received());
        std::thread::sleep(Duration::from_millis(5));
    }

    let started = Instant::now();
    drop(fake);
    stream.set_read_timeout(Some(LIMIT)).unwrap();
    assert_eq!(read_to_close(&mut stream), b"");
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[test]
fn fake_replies_then_closes_and_records_the_request() {
    let answer = b"HTTP/1.1 407 Proxy Authentication Required\r\n\
                   Proxy-Authenticate: Basic realm=\"fake\"\r\nContent-Length: 0\r\n\r\n";
    let fake = FakeProxy::replies(answer);
    let (mut stream, head, rest) = http_connect(fake.addr(), "127.0.0.1:9", "");
    assert_eq!(status_code(&head), 407);
    assert_eq!(
        header(&head, "Proxy-Authenticate"),
        Some("Basic realm=\"fake\"")
    );
    assert!(rest.is_empty());
    assert_eq!(read_to_close(&mut stream), b"");
    drop(stream);
    assert_eq!(
        fake.wait_done(LIMIT),
        b"CONNECT 127.0.0.1:9 HTTP/1.1\r\nHost: 127.0.0.1:9\r\n\r\n"
    );
}

#[test]
fn fake_replies_garbage() {
    let fake = FakeProxy::replies(b"\x00\x01garbage, not HTTP\r\n\r\n");
    let mut stream = connect(fake.addr());
    stream.write_all(&[0x05, 0x01, 0x00]).unwrap();
    assert_eq!(
        read_to_close(&mut stream),
        b"\x00\x01garbage, not HTTP\r\n\r\n"
    );
    drop(stream);
    assert_eq!(fake.wait_done(LIMIT), [0x05, 0x01, 0x00]);
}

#[test]
fn fake_scripts_a_socks5_exchange_that_refuses_by_rule() {
    let request = socks_request_name("server.test", 443);
    let fake = FakeProxy::script(vec![
        Step::expect([0x05, 0x01, 0x00]),
        Step::write([0x05, 0x00]),
        Step::Expect(request.clone()),
        Step::write([0x05, 0x02, 0x00, 0x01, 0, 0, 0, 0, 0, 0]),
    ]);
    let mut stream = connect(fake.addr());
    stream.write_all(&[0x05, 0x01, 0x00]).unwrap();
    assert_eq!(read_exact(&mut stream, 2), [0x05, 0x00]);
    stream.write_all(&request).unwrap();
    assert_eq!(
        read_to_close(&mut stream),
        [0x05, 0x02, 0x00, 0x01, 0, 0, 0, 0, 0, 0]
    );
    drop(stream);
    let mut sent = vec![0x05, 0x01, 0x00];
    sent.extend_from_slice(&request);
    assert_eq!(fake.wait_done(LIMIT), sent);
}

#[test]
fn fake_scripts_an_http_exchange() {
    let fake = FakeProxy::script(vec![
        Step::ReadHttpHead,
        Step::write("HTTP/1.1 200 Connection established\r\n\r\n"),
        Step::expect("hello"),
        Step::write("world"),
        Step::Hold,
    ]);
    let (mut stream, head, _) = http_connect(fake.addr(), "server.test:80", "");
    assert_eq!(status_code(&head), 200);
    stream.write_all(b"hello").unwrap();
    assert_eq!(read_exact(&mut stream, 5), b"world");
    stream.write_all(b" and more").unwrap();
    stream.shutdown(Shutdown::Write).unwrap();
    let sent = fake.wait_done(LIMIT);
    assert!(
        sent.ends_with(b"\r\n\r\nhello and more"),
        "{:?}",
        String::from_utf8_lossy(&sent)
    );
}

#[test]
fn fake_script_mismatch_closes_and_is_reported() {
    let fake = FakeProxy::script(vec![
        Step::expect([0x05, 0x01, 0x00]),
        Step::write([0x05, 0x00]),
    ]);
    let mut stream = connect(fake.addr());
    stream.write_all(&[0x05, 0x01, 0x02]).unwrap();
    assert_eq!(read_to_close(&mut stream), b"");
    let failure = fake.wait_failure(LIMIT).expect("the script failed");
    assert!(
        failure.contains("expected 050100") && failure.contains("sent 050102"),
        "{failure}"
    );
}

#[test]
fn fake_takes_one_connection_only() {
    let fake = FakeProxy::closes_after_accept();
    let mut first = connect(fake.addr());
    assert_eq!(read_to_close(&mut first), b"");
    drop(first);
    fake.wait_done(LIMIT);
    assert_refused(fake.addr());
}

#[test]
fn fake_nobody_connected_to_drops_at_once() {
    let fake = FakeProxy::never_answers();
    let addr = fake.addr();
    let started = Instant::now();
    assert!(!fake.accepted());
    drop(fake);
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_refused(addr);
}

#[test]
fn free_port_not_listening_refuses_connections() {
    assert_refused(free_port_not_listening());
}
