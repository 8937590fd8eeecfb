//! The client side of a proxy tunnel, sans I/O: HTTP `CONNECT` (RFC 9110
//! section 9.3.6) and SOCKS5 (RFC 1928, with RFC 1929 username/password).
//!
//! [`Tunnel::new`] gives the first bytes to send; [`Tunnel::feed`] takes what
//! the proxy sent, appends what to send next, and says how far it got. The
//! socket layer moves the bytes and applies the timeout.
//!
//! Public (and hidden from the docs) only for the fuzz targets in `fuzz/`:
//! not part of the supported API.

use super::{Proxy, ProxyType, host_port};
use crate::SocketError;
use std::net::IpAddr;

/// The largest proxy reply head we read (an HTTP status line and headers).
const MAX_REPLY_HEAD: usize = 16 * 1024;

/// How far the tunnel got after some input.
#[derive(Debug, PartialEq, Eq)]
pub enum Progress {
    /// Needs more input (and `out` may have grown).
    Pending,
    /// The tunnel is open; the bytes consumed so far were the proxy's, what
    /// follows belongs to the server.
    Open,
    /// The proxy wants credentials we do not have, or refused ours.
    /// `realm` is the HTTP challenge's realm (empty for SOCKS5).
    AuthRequired { realm: String, message: String },
    /// The tunnel cannot be opened.
    Failed(SocketError, String),
}

#[derive(Debug, PartialEq, Eq)]
enum State {
    HttpReply,
    SocksMethod,
    SocksAuth,
    SocksReply,
    Open,
    Failed,
}

/// One attempt at opening a tunnel through a proxy.
///
/// ```
/// use qwebsocket::proxy::Proxy;
/// use qwebsocket::proxy::tunnel::{Progress, Tunnel};
/// let mut out = Vec::new();
/// let mut t = Tunnel::new(&Proxy::socks5("127.0.0.1", 1080), "example.com", 80, &mut out).unwrap();
/// assert_eq!(out, [5, 2, 0, 2]); // greeting: no auth or username/password
/// out.clear();
/// assert_eq!(t.feed(&[5, 0], &mut out), (2, Progress::Pending));
/// assert_eq!(out[..5], [5, 1, 0, 3, 11]); // CONNECT to a domain name of 11 bytes
/// let reply = [5, 0, 0, 1, 127, 0, 0, 1, 0x1f, 0x90];
/// assert_eq!(t.feed(&reply, &mut out), (10, Progress::Open));
/// ```
#[derive(Debug)]
pub struct Tunnel {
    state: State,
    /// `HTTP proxy 127.0.0.1:8888`, for messages.
    who: String,
    target_host: String,
    target_port: u16,
    user: String,
    password: String,
    has_credentials: bool,
}

impl Tunnel {
    /// Starts a tunnel through `proxy` (HTTP or SOCKS5) to `host:port`,
    /// appending the first bytes to send to `out`.
    pub fn new(
        proxy: &Proxy,
        host: &str,
        port: u16,
        out: &mut Vec<u8>,
    ) -> Result<Tunnel, (SocketError, String)> {
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let mut t = Tunnel {
            state: State::Failed,
            who: String::new(),
            target_host: host.to_owned(),
            target_port: port,
            user: proxy.user().to_owned(),
            password: proxy.password().to_owned(),
            has_credentials: proxy.has_credentials(),
        };
        match proxy.kind() {
            ProxyType::HttpProxy => {
                t.who = format!("HTTP proxy {}", proxy.address_text());
                t.state = State::HttpReply;
                t.write_connect(out)?;
            }
            ProxyType::Socks5Proxy => {
                t.who = format!("SOCKS5 proxy {}", proxy.address_text());
                if host.len() > 255 && host.parse::<IpAddr>().is_err() {
                    return Err((
                        SocketError::ProxyProtocol,
                        format!("{}: the host name is longer than 255 bytes", t.who),
                    ));
                }
                t.state = State::SocksMethod;
                // Offer "no authentication" and username/password; with no
                // credentials, a proxy that picks the latter triggers
                // proxy_authentication_required.
                out.extend_from_slice(&[5, 2, 0x00, 0x02]);
            }
            _ => {
                return Err((
                    SocketError::UnsupportedSocketOperation,
                    "not a tunnelling proxy type".into(),
                ));
            }
        }
        Ok(t)
    }

    fn target(&self) -> String {
        host_port(&self.target_host, self.target_port)
    }

    fn write_connect(&self, out: &mut Vec<u8>) -> Result<(), (SocketError, String)> {
        let target = self.target();
        if target.bytes().any(|b| b.is_ascii_control() || b == b' ') {
            return Err((
                SocketError::ProxyProtocol,
                format!("{}: invalid target {target:?}", self.who),
            ));
        }
        out.extend_from_slice(
            format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n").as_bytes(),
        );
        if self.has_credentials {
            let value = crate::request::basic_authorization(&self.user, &self.password);
            out.extend_from_slice(b"Proxy-Authorization: ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        Ok(())
    }

    /// Takes the proxy's bytes at the start of `input`; returns how many were
    /// consumed and how far the tunnel got. Bytes to send are appended to `out`.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> (usize, Progress) {
        let mut used = 0;
        loop {
            let (n, progress) = match self.state {
                State::HttpReply => self.http_reply(&input[used..]),
                State::SocksMethod => self.socks_method(&input[used..], out),
                State::SocksAuth => self.socks_auth(&input[used..], out),
                State::SocksReply => self.socks_reply(&input[used..]),
                State::Open => return (used, Progress::Open),
                State::Failed => {
                    return (
                        used,
                        Progress::Failed(SocketError::ProxyProtocol, String::new()),
                    );
                }
            };
            used += n;
            match progress {
                // A step finished and the next one may already have its input.
                None if n > 0 => continue,
                None => return (used, Progress::Pending),
                Some(p) => {
                    self.state = match p {
                        Progress::Open => State::Open,
                        _ => State::Failed,
                    };
                    return (used, p);
                }
            }
        }
    }

    fn fail(&self, kind: SocketError, what: &str) -> Option<Progress> {
        Some(Progress::Failed(kind, format!("{}: {what}", self.who)))
    }

    fn http_reply(&mut self, input: &[u8]) -> (usize, Option<Progress>) {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut reply = httparse::Response::new(&mut headers);
        let head_len = match reply.parse(input) {
            Ok(httparse::Status::Complete(n)) if n <= MAX_REPLY_HEAD => n,
            Ok(httparse::Status::Partial) if input.len() <= MAX_REPLY_HEAD => {
                return (0, None);
            }
            // Too large whether the head is complete or not, so that the
            // outcome does not depend on how the reply was split into reads.
            Ok(httparse::Status::Complete(_) | httparse::Status::Partial) => {
                return (
                    0,
                    self.fail(
                        SocketError::ProxyProtocol,
                        &format!("the reply head is larger than {MAX_REPLY_HEAD} bytes"),
                    ),
                );
            }
            Err(e) => {
                let shown = first_line(input);
                return (
                    0,
                    self.fail(
                        SocketError::ProxyProtocol,
                        &format!("not an HTTP reply ({e}): {shown}"),
                    ),
                );
            }
        };
        let code = reply.code.unwrap_or(0);
        let status = format!(
            "HTTP/1.{} {} {}",
            reply.version.unwrap_or(1),
            code,
            reply.reason.unwrap_or("")
        );
        let status = status.trim_end();
        let target = self.target();
        let progress = match code {
            200..=299 => Progress::Open,
            407 => {
                let challenges: Vec<String> = reply
                    .headers
                    .iter()
                    .filter(|h| h.name.eq_ignore_ascii_case("proxy-authenticate"))
                    .map(|h| String::from_utf8_lossy(h.value).trim().to_owned())
                    .collect();
                let basic = challenges.iter().find(|c| {
                    c.split_whitespace()
                        .next()
                        .is_some_and(|s| s.eq_ignore_ascii_case("basic"))
                });
                match (basic, challenges.first()) {
                    (Some(c), _) => Progress::AuthRequired {
                        realm: crate::request::realm_of(c),
                        message: self.auth_message(status),
                    },
                    // No challenge at all: Basic is the only thing to try.
                    (None, None) => Progress::AuthRequired {
                        realm: String::new(),
                        message: self.auth_message(status),
                    },
                    (None, Some(other)) => {
                        let scheme = other.split_whitespace().next().unwrap_or_default();
                        return (
                            head_len,
                            self.fail(
                                SocketError::ProxyAuthenticationRequired,
                                &format!(
                                    "{status}: the proxy asks for {scheme} authentication; \
                                     only Basic is supported"
                                ),
                            ),
                        );
                    }
                }
            }
            // tinyproxy 1.11 answers wrong Basic credentials with a 401 (its
            // bug #532); to a client that sent credentials, it means the same.
            401 if self.has_credentials => Progress::AuthRequired {
                realm: String::new(),
                message: self.auth_message(status),
            },
            403 | 405 => {
                return (
                    head_len,
                    self.fail(
                        SocketError::ProxyConnectionRefused,
                        &format!("refused the tunnel to {target}: {status}"),
                    ),
                );
            }
            404 => {
                return (
                    head_len,
                    self.fail(
                        SocketError::HostNotFound,
                        &format!("could not find {target}: {status}"),
                    ),
                );
            }
            503 => {
                return (
                    head_len,
                    self.fail(
                        SocketError::ConnectionRefused,
                        &format!("could not connect to {target}: {status}"),
                    ),
                );
            }
            _ => {
                return (
                    head_len,
                    self.fail(
                        SocketError::ProxyProtocol,
                        &format!("unexpected reply to CONNECT {target}: {status}"),
                    ),
                );
            }
        };
        (head_len, Some(progress))
    }

    fn auth_message(&self, what: &str) -> String {
        if self.has_credentials {
            format!("{}: the credentials were refused ({what})", self.who)
        } else {
            format!("{}: authentication required ({what})", self.who)
        }
    }

    fn socks_method(&mut self, input: &[u8], out: &mut Vec<u8>) -> (usize, Option<Progress>) {
        let [version, method, ..] = *input else {
            return (0, None);
        };
        if version != 5 {
            return (
                0,
                self.fail(
                    SocketError::ProxyProtocol,
                    &format!(
                        "not a SOCKS5 reply (version byte 0x{version:02x}): {}",
                        first_line(input)
                    ),
                ),
            );
        }
        match method {
            0x00 => {
                self.state = State::SocksReply;
                self.write_socks_request(out);
                (2, None)
            }
            0x02 if self.has_credentials => {
                if self.user.len() > 255 || self.password.len() > 255 {
                    return (
                        2,
                        self.fail(
                            SocketError::ProxyAuthenticationRequired,
                            "user name and password must each be at most 255 bytes",
                        ),
                    );
                }
                out.push(1);
                out.push(self.user.len() as u8);
                out.extend_from_slice(self.user.as_bytes());
                out.push(self.password.len() as u8);
                out.extend_from_slice(self.password.as_bytes());
                self.state = State::SocksAuth;
                (2, None)
            }
            0x02 => (
                2,
                Some(Progress::AuthRequired {
                    realm: String::new(),
                    message: format!(
                        "{}: authentication required (username/password, method 0x02)",
                        self.who
                    ),
                }),
            ),
            0xff => (
                2,
                self.fail(
                    SocketError::ProxyAuthenticationRequired,
                    "the proxy accepts none of the offered authentication methods \
                     (none, username/password): reply method 0xff",
                ),
            ),
            other => (
                2,
                self.fail(
                    SocketError::ProxyProtocol,
                    &format!("the proxy chose method 0x{other:02x}, which was not offered"),
                ),
            ),
        }
    }

    fn socks_auth(&mut self, input: &[u8], out: &mut Vec<u8>) -> (usize, Option<Progress>) {
        let [version, status, ..] = *input else {
            return (0, None);
        };
        // RFC 1929 says version 1; some servers answer 5.
        if version != 1 && version != 5 {
            return (
                0,
                self.fail(
                    SocketError::ProxyProtocol,
                    &format!("bad username/password reply version 0x{version:02x}"),
                ),
            );
        }
        if status != 0 {
            return (
                2,
                Some(Progress::AuthRequired {
                    realm: String::new(),
                    message: format!(
                        "{}: the credentials were refused (status 0x{status:02x})",
                        self.who
                    ),
                }),
            );
        }
        self.state = State::SocksReply;
        self.write_socks_request(out);
        (2, None)
    }

    fn write_socks_request(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[5, 1, 0]); // version, CONNECT, reserved
        match self.target_host.parse::<IpAddr>() {
            Ok(IpAddr::V4(a)) => {
                out.push(1);
                out.extend_from_slice(&a.octets());
            }
            Ok(IpAddr::V6(a)) => {
                out.push(4);
                out.extend_from_slice(&a.octets());
            }
            Err(_) => {
                // The proxy resolves the name: no DNS query from here.
                out.push(3);
                out.push(self.target_host.len() as u8);
                out.extend_from_slice(self.target_host.as_bytes());
            }
        }
        out.extend_from_slice(&self.target_port.to_be_bytes());
    }

    fn socks_reply(&mut self, input: &[u8]) -> (usize, Option<Progress>) {
        let [version, reply, _, atyp, ..] = *input else {
            return (0, None);
        };
        if version != 5 {
            return (
                0,
                self.fail(
                    SocketError::ProxyProtocol,
                    &format!("bad reply version 0x{version:02x}"),
                ),
            );
        }
        let len = match atyp {
            1 => 4 + 4 + 2,
            4 => 4 + 16 + 2,
            3 => match input.get(4) {
                Some(&n) => 4 + 1 + n as usize + 2,
                None => return (0, None),
            },
            // A failure reply may carry anything; report the code.
            _ if reply != 0 => 4,
            other => {
                return (
                    0,
                    self.fail(
                        SocketError::ProxyProtocol,
                        &format!("bad bound address type 0x{other:02x}"),
                    ),
                );
            }
        };
        // Failures are reported as soon as the code is known.
        if reply != 0 {
            let target = self.target();
            let (kind, what) = match reply {
                0x01 => (
                    SocketError::ProxyConnectionRefused,
                    "general SOCKS server failure",
                ),
                0x02 => (
                    SocketError::ProxyConnectionRefused,
                    "connection not allowed by ruleset",
                ),
                0x03 => (SocketError::Network, "network unreachable"),
                0x04 => (SocketError::HostNotFound, "host unreachable"),
                0x05 => (SocketError::ConnectionRefused, "connection refused"),
                0x06 => (SocketError::Network, "TTL expired"),
                0x07 => (
                    SocketError::UnsupportedSocketOperation,
                    "command not supported",
                ),
                0x08 => (
                    SocketError::UnsupportedSocketOperation,
                    "address type not supported",
                ),
                _ => (SocketError::ProxyProtocol, "unknown reply code"),
            };
            return (
                len.min(input.len()),
                self.fail(kind, &format!("{target}: {what} (reply 0x{reply:02x})")),
            );
        }
        if input.len() < len {
            return (0, None);
        }
        (len, Some(Progress::Open))
    }
}

/// The first line of a reply, printable and short, for error messages.
fn first_line(input: &[u8]) -> String {
    let line = input.split(|&b| b == b'\n').next().unwrap_or_default();
    let mut shown: String = line
        .iter()
        .take(80)
        .flat_map(|&b| std::ascii::escape_default(b))
        .map(char::from)
        .collect();
    shown = shown.trim_end_matches("\\r").to_owned();
    if line.len() > 80 {
        shown.push('…');
    }
    format!("\"{shown}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start(proxy: &Proxy, host: &str, port: u16) -> (Tunnel, Vec<u8>) {
        let mut out = Vec::new();
        let t = Tunnel::new(proxy, host, port, &mut out).unwrap();
        (t, out)
    }

    /// Feeds `input` one byte at a time (the result must not depend on the split).
    fn feed_bytewise(t: &mut Tunnel, input: &[u8], out: &mut Vec<u8>) -> (usize, Progress) {
        let mut used = 0;
        for end in 1..=input.len() {
            let (n, p) = t.feed(&input[used..end], out);
            used += n;
            if p != Progress::Pending {
                return (used, p);
            }
        }
        (used, Progress::Pending)
    }

    #[test]
    fn http_connect_request_is_exact() {
        let (_, out) = start(&Proxy::http("p", 8888), "example.com", 443);
        assert_eq!(
            out,
            b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"
        );
        let (_, out) = start(
            &Proxy::http("p", 1).with_credentials("ann", "pw"),
            "::1",
            80,
        );
        assert_eq!(
            out,
            b"CONNECT [::1]:80 HTTP/1.1\r\nHost: [::1]:80\r\n\
              Proxy-Authorization: Basic YW5uOnB3\r\n\r\n"
        );
    }

    #[test]
    fn http_200_opens_and_leaves_what_follows() {
        let (mut t, _) = start(&Proxy::http("p", 1), "h", 80);
        let reply = b"HTTP/1.0 200 Connection established\r\nProxy-agent: x\r\n\r\nSERVER";
        let mut out = Vec::new();
        let (n, p) = feed_bytewise(&mut t, reply, &mut out);
        assert_eq!((p, &reply[n..]), (Progress::Open, &b"SERVER"[..]));
        assert!(out.is_empty());
    }

    #[test]
    fn http_statuses_map_to_errors_quoting_the_status_line() {
        let cases: [(&[u8], SocketError, &str); 6] = [
            (
                b"HTTP/1.1 403 Access violation\r\n\r\n",
                SocketError::ProxyConnectionRefused,
                "HTTP proxy p:1: refused the tunnel to h:80: HTTP/1.1 403 Access violation",
            ),
            (
                b"HTTP/1.1 405 No\r\n\r\n",
                SocketError::ProxyConnectionRefused,
                "405 No",
            ),
            (
                b"HTTP/1.1 404 Not Found\r\n\r\n",
                SocketError::HostNotFound,
                "404 Not Found",
            ),
            (
                b"HTTP/1.1 503 Busy\r\n\r\n",
                SocketError::ConnectionRefused,
                "503 Busy",
            ),
            (
                b"HTTP/1.1 500 Unable to connect\r\n\r\n",
                SocketError::ProxyProtocol,
                "500 Unable",
            ),
            (
                b"SSH-2.0-OpenSSH\r\n",
                SocketError::ProxyProtocol,
                "not an HTTP reply (invalid HTTP version): \"SSH-2.0-OpenSSH\"",
            ),
        ];
        for (reply, kind, text) in cases {
            let (mut t, _) = start(&Proxy::http("p", 1), "h", 80);
            // Whole: garbage fails at its first byte when fed byte by byte.
            let (_, p) = t.feed(reply, &mut Vec::new());
            match p {
                Progress::Failed(k, m) => {
                    assert_eq!(k, kind, "{m}");
                    assert!(m.contains(text), "{m:?} lacks {text:?}");
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn http_407_asks_for_basic_credentials() {
        let (mut t, _) = start(&Proxy::http("p", 1), "h", 80);
        let reply = b"HTTP/1.1 407 Proxy Authentication Required\r\n\
                      Proxy-Authenticate: Digest realm=\"x\"\r\n\
                      Proxy-Authenticate: Basic realm=\"Office proxy\"\r\nContent-Length: 3\r\n\r\nabc";
        match t.feed(reply, &mut Vec::new()).1 {
            Progress::AuthRequired { realm, message } => {
                assert_eq!(realm, "Office proxy");
                assert!(
                    message.contains("authentication required (HTTP/1.1 407"),
                    "{message}"
                );
            }
            other => panic!("{other:?}"),
        }
        let (mut t, _) = start(&Proxy::http("p", 1).with_credentials("a", "b"), "h", 80);
        let reply = b"HTTP/1.1 407 Denied\r\nProxy-Authenticate: Basic\r\n\r\n";
        match t.feed(reply, &mut Vec::new()).1 {
            Progress::AuthRequired { realm, message } => {
                assert_eq!(realm, "");
                assert!(message.contains("credentials were refused"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn http_401_to_credentials_means_they_were_refused() {
        let (mut t, _) = start(&Proxy::http("p", 1).with_credentials("a", "b"), "h", 80);
        let reply =
            b"HTTP/1.0 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"Tinyproxy\"\r\n\r\n";
        match t.feed(reply, &mut Vec::new()).1 {
            Progress::AuthRequired { message, .. } => {
                assert!(
                    message.contains("refused (HTTP/1.0 401 Unauthorized)"),
                    "{message}"
                );
            }
            other => panic!("{other:?}"),
        }
        // Without credentials sent, a 401 makes no sense from a proxy.
        let (mut t, _) = start(&Proxy::http("p", 1), "h", 80);
        assert!(matches!(
            t.feed(reply, &mut Vec::new()).1,
            Progress::Failed(SocketError::ProxyProtocol, _)
        ));
    }

    #[test]
    fn http_407_with_only_unsupported_schemes_fails_clearly() {
        let (mut t, _) = start(&Proxy::http("p", 1), "h", 80);
        let reply = b"HTTP/1.1 407 Auth\r\nProxy-Authenticate: NTLM\r\n\r\n";
        match t.feed(reply, &mut Vec::new()).1 {
            Progress::Failed(SocketError::ProxyAuthenticationRequired, m) => {
                assert!(m.contains("NTLM authentication; only Basic"), "{m}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn http_reply_head_is_bounded() {
        let (mut t, _) = start(&Proxy::http("p", 1), "h", 80);
        let mut reply = b"HTTP/1.1 200 OK\r\nX: ".to_vec();
        reply.resize(MAX_REPLY_HEAD + 10, b'a');
        match t.feed(&reply, &mut Vec::new()).1 {
            Progress::Failed(SocketError::ProxyProtocol, m) => assert!(m.contains("larger"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn http_reply_head_over_the_limit_is_refused_however_it_is_split() {
        // A complete head of 16 KiB + 24 bytes: refused in one read as in
        // pieces (it used to be accepted when it came in one read).
        let mut reply = b"HTTP/1.1 200 OK\r\nX: ".to_vec();
        reply.resize(MAX_REPLY_HEAD + 20, b'a');
        reply.extend_from_slice(b"\r\n\r\n");
        for piece in [reply.len(), 4096, 1000] {
            let (mut t, _) = start(&Proxy::http("p", 1), "h", 80);
            let mut pending = Vec::new();
            let mut last = Progress::Pending;
            for chunk in reply.chunks(piece) {
                pending.extend_from_slice(chunk);
                let (n, p) = t.feed(&pending, &mut Vec::new());
                pending.drain(..n);
                last = p;
                if last != Progress::Pending {
                    break;
                }
            }
            match last {
                Progress::Failed(SocketError::ProxyProtocol, m) => {
                    assert!(m.contains("larger"), "{m}")
                }
                other => panic!("pieces of {piece}: {other:?}"),
            }
        }
        // A head exactly at the limit is still fine.
        let mut reply = b"HTTP/1.1 200 OK\r\nX: ".to_vec();
        reply.resize(MAX_REPLY_HEAD - 4, b'a');
        reply.extend_from_slice(b"\r\n\r\n");
        let (mut t, _) = start(&Proxy::http("p", 1), "h", 80);
        assert_eq!(
            t.feed(&reply, &mut Vec::new()),
            (MAX_REPLY_HEAD, Progress::Open)
        );
    }

    #[test]
    fn socks5_without_credentials_byte_for_byte() {
        let (mut t, out) = start(&Proxy::socks5("p", 1080), "example.com", 443);
        assert_eq!(out, [5, 2, 0, 2]);
        let mut out = Vec::new();
        assert_eq!(t.feed(&[5, 0], &mut out), (2, Progress::Pending));
        let mut expected = vec![5, 1, 0, 3, 11];
        expected.extend_from_slice(b"example.com");
        expected.extend_from_slice(&[1, 187]);
        assert_eq!(out, expected);
        let reply = [5, 0, 0, 1, 127, 0, 0, 1, 0x1f, 0x90, b'W', b'S'];
        let mut out = Vec::new();
        let (n, p) = feed_bytewise(&mut t, &reply, &mut out);
        assert_eq!((n, p), (10, Progress::Open));
        assert!(out.is_empty());
    }

    #[test]
    fn socks5_addresses_by_type() {
        for (host, atyp, len) in [("10.1.2.3", 1u8, 4usize), ("::1", 4, 16), ("[::1]", 4, 16)] {
            let (mut t, _) = start(&Proxy::socks5("p", 1), host, 80);
            let mut out = Vec::new();
            t.feed(&[5, 0], &mut out);
            assert_eq!(out[3], atyp, "{host}");
            assert_eq!(out.len(), 4 + len + 2, "{host}");
            assert_eq!(&out[out.len() - 2..], &[0, 80]);
        }
        let reply_v6 = [&[5u8, 0, 0, 4][..], &[0; 16], &[0, 80]].concat();
        let (mut t, _) = start(&Proxy::socks5("p", 1), "h", 80);
        t.feed(&[5, 0], &mut Vec::new());
        assert_eq!(t.feed(&reply_v6, &mut Vec::new()), (22, Progress::Open));
        let reply_name = [&[5u8, 0, 0, 3, 4][..], b"host", &[0, 80]].concat();
        let (mut t, _) = start(&Proxy::socks5("p", 1), "h", 80);
        t.feed(&[5, 0], &mut Vec::new());
        assert_eq!(
            feed_bytewise(&mut t, &reply_name, &mut Vec::new()),
            (11, Progress::Open)
        );
    }

    #[test]
    fn socks5_username_password_byte_for_byte() {
        let proxy = Proxy::socks5("p", 1).with_credentials("ann", "pw");
        let (mut t, _) = start(&proxy, "h", 80);
        let mut out = Vec::new();
        assert_eq!(t.feed(&[5, 2], &mut out), (2, Progress::Pending));
        assert_eq!(out, [1, 3, b'a', b'n', b'n', 2, b'p', b'w']);
        let mut out = Vec::new();
        assert_eq!(t.feed(&[1, 0], &mut out), (2, Progress::Pending));
        assert_eq!(out, [5, 1, 0, 3, 1, b'h', 0, 80]);
        // Method, auth and reply arriving together.
        let (mut t, _) = start(&proxy, "h", 80);
        let all = [5, 2, 1, 0, 5, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        let mut out = Vec::new();
        assert_eq!(t.feed(&all, &mut out), (14, Progress::Open));
        assert_eq!(out.len(), 8 + 8);
    }

    #[test]
    fn socks5_auth_outcomes() {
        let (mut t, _) = start(&Proxy::socks5("p", 1), "h", 80);
        match t.feed(&[5, 2], &mut Vec::new()).1 {
            Progress::AuthRequired { realm, message } => {
                assert_eq!(realm, "");
                assert!(message.contains("method 0x02"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        let (mut t, _) = start(&Proxy::socks5("p", 1).with_credentials("a", "b"), "h", 80);
        t.feed(&[5, 2], &mut Vec::new());
        match t.feed(&[1, 1], &mut Vec::new()).1 {
            Progress::AuthRequired { message, .. } => {
                assert!(message.contains("refused (status 0x01)"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        let (mut t, _) = start(&Proxy::socks5("p", 1), "h", 80);
        match t.feed(&[5, 0xff], &mut Vec::new()).1 {
            Progress::Failed(SocketError::ProxyAuthenticationRequired, m) => {
                assert!(m.contains("0xff"), "{m}")
            }
            other => panic!("{other:?}"),
        }
        let long = "x".repeat(256);
        let (mut t, _) = start(&Proxy::socks5("p", 1).with_credentials(&long, "b"), "h", 80);
        assert!(matches!(
            t.feed(&[5, 2], &mut Vec::new()).1,
            Progress::Failed(SocketError::ProxyAuthenticationRequired, _)
        ));
    }

    #[test]
    fn socks5_reply_codes_map_to_errors() {
        let cases = [
            (
                1u8,
                SocketError::ProxyConnectionRefused,
                "general SOCKS server failure",
            ),
            (
                2,
                SocketError::ProxyConnectionRefused,
                "not allowed by ruleset (reply 0x02)",
            ),
            (3, SocketError::Network, "network unreachable"),
            (4, SocketError::HostNotFound, "host unreachable"),
            (
                5,
                SocketError::ConnectionRefused,
                "h:80: connection refused (reply 0x05)",
            ),
            (6, SocketError::Network, "TTL expired"),
            (
                7,
                SocketError::UnsupportedSocketOperation,
                "command not supported",
            ),
            (8, SocketError::UnsupportedSocketOperation, "address type"),
            (
                0x42,
                SocketError::ProxyProtocol,
                "unknown reply code (reply 0x42)",
            ),
        ];
        for (code, kind, text) in cases {
            let (mut t, _) = start(&Proxy::socks5("p", 1), "h", 80);
            t.feed(&[5, 0], &mut Vec::new());
            match t.feed(&[5, code, 0, 1], &mut Vec::new()).1 {
                Progress::Failed(k, m) => {
                    assert_eq!(k, kind, "{m}");
                    assert!(m.starts_with("SOCKS5 proxy p:1: "), "{m}");
                    assert!(m.contains(text), "{m:?} lacks {text:?}");
                }
                other => panic!("code {code}: {other:?}"),
            }
        }
    }

    #[test]
    fn socks5_garbage_is_a_protocol_error() {
        let (mut t, _) = start(&Proxy::socks5("p", 1), "h", 80);
        match t.feed(b"HTTP/1.1 400 Bad Request\r\n", &mut Vec::new()).1 {
            Progress::Failed(SocketError::ProxyProtocol, m) => {
                assert!(m.contains("version byte 0x48"), "{m}");
                assert!(m.contains("HTTP/1.1 400"), "{m}");
            }
            other => panic!("{other:?}"),
        }
        let (mut t, _) = start(&Proxy::socks5("p", 1), "h", 80);
        assert!(matches!(
            t.feed(&[5, 9], &mut Vec::new()).1,
            Progress::Failed(SocketError::ProxyProtocol, _)
        ));
        let (mut t, _) = start(&Proxy::socks5("p", 1), "h", 80);
        t.feed(&[5, 0], &mut Vec::new());
        assert!(matches!(
            t.feed(&[5, 0, 0, 9, 0, 0], &mut Vec::new()).1,
            Progress::Failed(SocketError::ProxyProtocol, _)
        ));
    }

    #[test]
    fn too_long_host_names_are_refused_before_sending() {
        let long = "a".repeat(256);
        let mut out = Vec::new();
        let e = Tunnel::new(&Proxy::socks5("p", 1), &long, 80, &mut out).unwrap_err();
        assert_eq!(e.0, SocketError::ProxyProtocol);
        assert!(out.is_empty());
    }

    #[test]
    fn any_split_of_the_input_gives_the_same_result() {
        let proxy = Proxy::socks5("p", 1).with_credentials("ann", "pw");
        let all = [5, 2, 1, 0, 5, 0, 0, 3, 1, b'x', 0, 80];
        for cut in 0..=all.len() {
            let (mut t, _) = start(&proxy, "h", 80);
            let mut out = Vec::new();
            let (a, p) = t.feed(&all[..cut], &mut out);
            let (b, q) = if p == Progress::Pending {
                let (b, q) = t.feed(&all[a..], &mut out);
                (a + b, q)
            } else {
                (a, p)
            };
            assert_eq!((b, q), (all.len(), Progress::Open), "cut at {cut}");
            assert_eq!(out.len(), 16, "cut at {cut}");
        }
    }
}
