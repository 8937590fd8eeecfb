//! Proxies: Qt's `QNetworkProxy` for WebSockets.
//!
//! A [`Proxy`] says how a client [`WebSocket`](crate::WebSocket) reaches its
//! server: directly ([`ProxyType::NoProxy`]), through an HTTP proxy that opens
//! a tunnel with `CONNECT` ([`ProxyType::HttpProxy`]), through a SOCKS5 proxy
//! (RFC 1928, [`ProxyType::Socks5Proxy`]), or as the event loop's application
//! proxy says ([`ProxyType::DefaultProxy`], the default).
//!
//! * The tunnel is opened on the event loop like everything else, after the
//!   TCP connection to the proxy and before TLS and the WebSocket handshake.
//!   For `wss://`, TLS runs inside the tunnel and the certificate is checked
//!   against the server's host name, never the proxy's.
//! * Host names are sent to SOCKS5 proxies as names (address type 3), so the
//!   proxy resolves them and no DNS query leaks from the client.
//! * Authentication: HTTP Basic (`Proxy-Authorization`) and SOCKS5
//!   username/password (RFC 1929). Other HTTP schemes (Digest, NTLM,
//!   Negotiate) are not supported and fail with a clear error. When the proxy
//!   asks for credentials that the [`Proxy`] does not have (or refuses those
//!   it has), the socket emits
//!   [`proxy_authentication_required`](crate::WebSocket::proxy_authentication_required);
//!   a slot that fills in the [`Authenticator`](crate::Authenticator) gets one
//!   more attempt, on a new connection.
//! * Every failure has its own [`SocketError`](crate::SocketError), and
//!   `error_string()` quotes what the proxy said:
//!
//! | What happened | `error()` |
//! |---|---|
//! | the proxy's host name does not resolve | `ProxyNotFound` |
//! | nothing listens at the proxy's address | `ProxyConnectionRefused` |
//! | HTTP 403 or 405, SOCKS5 reply 0x01 or 0x02 | `ProxyConnectionRefused` |
//! | the proxy closed the connection before the tunnel was open | `ProxyConnectionClosed` |
//! | no tunnel within [`set_proxy_timeout`](crate::WebSocket::set_proxy_timeout) | `ProxyConnectionTimeout` |
//! | HTTP 407, SOCKS5 method 0x02 or credentials refused, and no slot helped | `ProxyAuthenticationRequired` |
//! | a reply that is not HTTP or not SOCKS5, or an unexpected status | `ProxyProtocol` |
//! | HTTP 404, SOCKS5 reply 0x04 (host unreachable) | `HostNotFound` |
//! | HTTP 503, SOCKS5 reply 0x05 (the server refused the proxy) | `ConnectionRefused` |
//! | SOCKS5 reply 0x03 (network unreachable), 0x06 (TTL expired) | `Network` |
//! | SOCKS5 reply 0x07, 0x08 (command or address type not supported) | `UnsupportedSocketOperation` |
//!
//! ```
//! use qwebsocket::proxy::{Proxy, ProxyType};
//! let proxy: Proxy = "socks5h://ann:s%40cret@127.0.0.1:1080".parse().unwrap();
//! assert_eq!(proxy.kind(), ProxyType::Socks5Proxy);
//! assert_eq!((proxy.host_name(), proxy.port()), ("127.0.0.1", 1080));
//! assert_eq!((proxy.user(), proxy.password()), ("ann", "s@cret"));
//! // Debug output never shows the password.
//! assert!(!format!("{proxy:?}").contains("s@cret"));
//! ```

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

// Public only so that the fuzz targets (`fuzz/`) can reach it: not part of
// the supported API.
#[doc(hidden)]
pub mod tunnel;

/// The kind of a [`Proxy`] (Qt's `QNetworkProxy::ProxyType`, the types that
/// apply to a TCP connection).
///
/// ```
/// use qwebsocket::proxy::{Proxy, ProxyType};
/// assert_eq!(Proxy::default().kind(), ProxyType::DefaultProxy);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProxyType {
    /// Whatever the event loop's application proxy is
    /// ([`EventLoop::set_application_proxy`](crate::event_loop::EventLoop::set_application_proxy)),
    /// and when that is `DefaultProxy` too, the environment's proxy if the
    /// application opted in
    /// ([`EventLoop::set_use_system_proxy_configuration`](crate::event_loop::EventLoop::set_use_system_proxy_configuration)),
    /// else no proxy.
    DefaultProxy,
    /// A SOCKS5 proxy (RFC 1928), with optional username/password
    /// authentication (RFC 1929).
    Socks5Proxy,
    /// No proxy: connect directly.
    NoProxy,
    /// An HTTP proxy, tunnelling with `CONNECT`, with optional Basic
    /// authentication.
    HttpProxy,
}

/// A proxy setting (Qt's `QNetworkProxy`): a type, the proxy's host and port,
/// and optional credentials.
///
/// Build one with [`Proxy::new`], [`Proxy::http`], [`Proxy::socks5`], or by
/// parsing a URL (`http://user:pass@host:port`, `socks5://…`, `socks5h://…`):
///
/// ```
/// use qwebsocket::proxy::{Proxy, ProxyType};
/// let a = Proxy::http("proxy.example", 3128).with_credentials("ann", "secret");
/// let b: Proxy = "http://ann:secret@proxy.example:3128".parse().unwrap();
/// assert_eq!(a, b);
/// assert_eq!(Proxy::no_proxy().kind(), ProxyType::NoProxy);
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Proxy {
    kind: ProxyType,
    host: String,
    port: u16,
    user: String,
    password: String,
}

impl Default for Proxy {
    /// A [`ProxyType::DefaultProxy`] (Qt's default-constructed `QNetworkProxy`).
    fn default() -> Proxy {
        Proxy::new(ProxyType::DefaultProxy, "", 0)
    }
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Proxy")
            .field("kind", &self.kind)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field(
                "password",
                &if self.password.is_empty() {
                    ""
                } else {
                    "<hidden>"
                },
            )
            .finish()
    }
}

impl Proxy {
    /// A proxy of `kind` at `host:port`, without credentials. A host given in
    /// brackets (`[::1]`) loses them.
    ///
    /// ```
    /// use qwebsocket::proxy::{Proxy, ProxyType};
    /// let p = Proxy::new(ProxyType::Socks5Proxy, "[::1]", 1080);
    /// assert_eq!(p.host_name(), "::1");
    /// ```
    pub fn new(kind: ProxyType, host: &str, port: u16) -> Proxy {
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        Proxy {
            kind,
            host: host.to_owned(),
            port,
            user: String::new(),
            password: String::new(),
        }
    }

    /// An HTTP `CONNECT` proxy at `host:port`.
    ///
    /// ```
    /// use qwebsocket::proxy::{Proxy, ProxyType};
    /// assert_eq!(Proxy::http("127.0.0.1", 8888).kind(), ProxyType::HttpProxy);
    /// ```
    pub fn http(host: &str, port: u16) -> Proxy {
        Proxy::new(ProxyType::HttpProxy, host, port)
    }

    /// A SOCKS5 proxy at `host:port`.
    ///
    /// ```
    /// use qwebsocket::proxy::{Proxy, ProxyType};
    /// assert_eq!(Proxy::socks5("127.0.0.1", 1080).kind(), ProxyType::Socks5Proxy);
    /// ```
    pub fn socks5(host: &str, port: u16) -> Proxy {
        Proxy::new(ProxyType::Socks5Proxy, host, port)
    }

    /// No proxy: connect directly, whatever the application proxy is.
    ///
    /// ```
    /// use qwebsocket::proxy::{Proxy, ProxyType};
    /// assert_eq!(Proxy::no_proxy().kind(), ProxyType::NoProxy);
    /// ```
    pub fn no_proxy() -> Proxy {
        Proxy::new(ProxyType::NoProxy, "", 0)
    }

    /// The same proxy with a user name and password.
    ///
    /// ```
    /// use qwebsocket::proxy::Proxy;
    /// let p = Proxy::socks5("127.0.0.1", 1080).with_credentials("ann", "secret");
    /// assert_eq!((p.user(), p.password()), ("ann", "secret"));
    /// ```
    pub fn with_credentials(mut self, user: &str, password: &str) -> Proxy {
        self.user = user.to_owned();
        self.password = password.to_owned();
        self
    }

    /// The type.
    ///
    /// ```
    /// use qwebsocket::proxy::{Proxy, ProxyType};
    /// assert_eq!(Proxy::http("h", 1).kind(), ProxyType::HttpProxy);
    /// ```
    pub fn kind(&self) -> ProxyType {
        self.kind
    }

    /// Sets the type.
    ///
    /// ```
    /// use qwebsocket::proxy::{Proxy, ProxyType};
    /// let mut p = Proxy::http("h", 1);
    /// p.set_kind(ProxyType::Socks5Proxy);
    /// assert_eq!(p.kind(), ProxyType::Socks5Proxy);
    /// ```
    pub fn set_kind(&mut self, kind: ProxyType) {
        self.kind = kind;
    }

    /// The proxy's host name or address (without brackets).
    ///
    /// ```
    /// use qwebsocket::proxy::Proxy;
    /// assert_eq!(Proxy::http("proxy.example", 3128).host_name(), "proxy.example");
    /// ```
    pub fn host_name(&self) -> &str {
        &self.host
    }

    /// Sets the host name or address.
    ///
    /// ```
    /// use qwebsocket::proxy::Proxy;
    /// let mut p = Proxy::http("a", 1);
    /// p.set_host_name("b");
    /// assert_eq!(p.host_name(), "b");
    /// ```
    pub fn set_host_name(&mut self, host: &str) {
        self.host = Proxy::new(self.kind, host, 0).host;
    }

    /// The proxy's port.
    ///
    /// ```
    /// use qwebsocket::proxy::Proxy;
    /// assert_eq!(Proxy::http("h", 3128).port(), 3128);
    /// ```
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Sets the port.
    ///
    /// ```
    /// use qwebsocket::proxy::Proxy;
    /// let mut p = Proxy::http("h", 1);
    /// p.set_port(8080);
    /// assert_eq!(p.port(), 8080);
    /// ```
    pub fn set_port(&mut self, port: u16) {
        self.port = port;
    }

    /// The user name for the proxy (empty: none).
    ///
    /// ```
    /// use qwebsocket::proxy::Proxy;
    /// assert_eq!(Proxy::http("h", 1).user(), "");
    /// ```
    pub fn user(&self) -> &str {
        &self.user
    }

    /// Sets the user name.
    ///
    /// ```
    /// use qwebsocket::proxy::Proxy;
    /// let mut p = Proxy::http("h", 1);
    /// p.set_user("ann");
    /// assert_eq!(p.user(), "ann");
    /// ```
    pub fn set_user(&mut self, user: &str) {
        self.user = user.to_owned();
    }

    /// The password for the proxy (empty: none).
    ///
    /// ```
    /// use qwebsocket::proxy::Proxy;
    /// assert_eq!(Proxy::http("h", 1).with_credentials("a", "pw").password(), "pw");
    /// ```
    pub fn password(&self) -> &str {
        &self.password
    }

    /// Sets the password.
    ///
    /// ```
    /// use qwebsocket::proxy::Proxy;
    /// let mut p = Proxy::http("h", 1);
    /// p.set_password("pw");
    /// assert_eq!(p.password(), "pw");
    /// ```
    pub fn set_password(&mut self, password: &str) {
        self.password = password.to_owned();
    }

    /// True when credentials are set.
    pub(crate) fn has_credentials(&self) -> bool {
        !self.user.is_empty() || !self.password.is_empty()
    }

    /// `host:port` as it is written in messages (`[::1]:1080`).
    pub(crate) fn address_text(&self) -> String {
        host_port(&self.host, self.port)
    }

    /// The proxy that the environment names for a connection to `url`, as
    /// curl and most Unix tools read it (Qt's `QNetworkProxyFactory::systemProxyForQuery`
    /// on Unix): `https_proxy` (or `HTTPS_PROXY`) for `wss://`, `http_proxy`
    /// for `ws://` (only lower case, as curl does, since a CGI environment
    /// can set `HTTP_PROXY` from a request header), then `all_proxy` (or
    /// `ALL_PROXY`); [`Proxy::no_proxy`] when none is set, when the value does
    /// not parse, or when `no_proxy` (or `NO_PROXY`) lists the host.
    ///
    /// `no_proxy` is a comma-separated list of `*`, host names (which also
    /// match their subdomains; a leading dot is allowed), IP addresses and
    /// CIDR ranges (`10.0.0.0/8`), each with an optional `:port`.
    ///
    /// ```
    /// use qwebsocket::proxy::{Proxy, ProxyType};
    /// let url = url::Url::parse("ws://127.0.0.1:9000/").unwrap();
    /// // Reads the process environment; an application opts in to this with
    /// // EventLoop::set_use_system_proxy_configuration(true).
    /// let p = Proxy::system_proxy_for(&url);
    /// assert!(matches!(p.kind(), ProxyType::NoProxy | ProxyType::HttpProxy | ProxyType::Socks5Proxy));
    /// ```
    pub fn system_proxy_for(url: &url::Url) -> Proxy {
        proxy_from_env(url, |name| std::env::var(name).ok())
    }
}

impl FromStr for Proxy {
    type Err = ProxyUrlError;

    /// Parses `http://[user[:password]@]host[:port]` (an HTTP `CONNECT`
    /// proxy, port 80 by default), `socks5://…` or `socks5h://…` (a SOCKS5
    /// proxy, port 1080 by default; both send host names to the proxy to
    /// resolve). A URL without a scheme is taken as `http://`. User and
    /// password are percent-decoded.
    ///
    /// ```
    /// use qwebsocket::proxy::{Proxy, ProxyType};
    /// let p: Proxy = "proxy.example:3128".parse().unwrap();
    /// assert_eq!((p.kind(), p.port()), (ProxyType::HttpProxy, 3128));
    /// let err = "https://proxy.example".parse::<Proxy>().unwrap_err();
    /// assert!(err.to_string().contains("https"));
    /// ```
    fn from_str(s: &str) -> Result<Proxy, ProxyUrlError> {
        let err = |why: &str| ProxyUrlError {
            input: s.to_owned(),
            why: why.to_owned(),
        };
        let text = s.trim();
        let with_scheme = if text.contains("://") {
            text.to_owned()
        } else {
            format!("http://{text}")
        };
        let url = url::Url::parse(&with_scheme).map_err(|e| err(&e.to_string()))?;
        let (kind, default_port) = match url.scheme() {
            "http" => (ProxyType::HttpProxy, 80),
            "socks5" | "socks5h" => (ProxyType::Socks5Proxy, 1080),
            "https" => {
                return Err(err(
                    "https:// proxies (TLS to the proxy itself) are not supported; \
                     use http:// (wss:// connections still run TLS inside the tunnel)",
                ));
            }
            other => {
                return Err(err(&format!(
                    "unsupported proxy scheme `{other}` (use http, socks5 or socks5h)"
                )));
            }
        };
        let host = match url.host() {
            Some(url::Host::Ipv6(a)) => a.to_string(),
            Some(h) => h.to_string(),
            None => return Err(err("no host")),
        };
        if url.path() != "/" && !url.path().is_empty() {
            return Err(err("a proxy URL has no path"));
        }
        let port = match url.port() {
            Some(p) => p,
            // The url crate drops a port that is the scheme's default.
            None => url.port_or_known_default().unwrap_or(default_port),
        };
        let user = percent_decode(url.username());
        let password = percent_decode(url.password().unwrap_or_default());
        Ok(Proxy {
            kind,
            host,
            port,
            user,
            password,
        })
    }
}

/// A proxy URL that [`Proxy`]'s `FromStr` could not use.
///
/// ```
/// use qwebsocket::proxy::Proxy;
/// let e = "socks4://h:1080".parse::<Proxy>().unwrap_err();
/// assert!(e.to_string().starts_with("invalid proxy URL `socks4://h:1080`"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyUrlError {
    input: String,
    why: String,
}

impl fmt::Display for ProxyUrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid proxy URL `{}`: {}", self.input, self.why)
    }
}

impl std::error::Error for ProxyUrlError {}

/// `host:port`, with an IPv6 address in brackets.
pub(crate) fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The environment's proxy for `url`, reading variables through `var`.
fn proxy_from_env(url: &url::Url, var: impl Fn(&str) -> Option<String>) -> Proxy {
    let get = |names: &[&str]| {
        names
            .iter()
            .find_map(|n| var(n).filter(|v| !v.trim().is_empty()))
    };
    let host = match url.host() {
        Some(url::Host::Ipv6(a)) => a.to_string(),
        Some(h) => h.to_string(),
        None => return Proxy::no_proxy(),
    };
    let port = url.port_or_known_default().unwrap_or(80);
    if let Some(list) = get(&["no_proxy", "NO_PROXY"]) {
        if no_proxy_matches(&list, &host, port) {
            return Proxy::no_proxy();
        }
    }
    let secure = matches!(url.scheme(), "wss" | "https");
    let specific = if secure {
        get(&["https_proxy", "HTTPS_PROXY"])
    } else {
        get(&["http_proxy"])
    };
    match specific.or_else(|| get(&["all_proxy", "ALL_PROXY"])) {
        Some(value) => value.parse().unwrap_or_else(|e| {
            log::warn!("ignoring the environment's proxy: {e}");
            Proxy::no_proxy()
        }),
        None => Proxy::no_proxy(),
    }
}

/// Whether a `no_proxy` list names `host:port`.
fn no_proxy_matches(list: &str, host: &str, port: u16) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let ip: Option<IpAddr> = host.parse().ok();
    list.split([',', ' '])
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .any(|entry| {
            if entry == "*" {
                return true;
            }
            let (pattern, entry_port) = split_entry_port(entry);
            if entry_port.is_some_and(|p| p != port) {
                return false;
            }
            if let Some((net, bits)) = pattern.split_once('/') {
                let (Ok(net), Ok(bits), Some(ip)) = (net.parse::<IpAddr>(), bits.parse(), ip)
                else {
                    return false;
                };
                return in_cidr(ip, net, bits);
            }
            if let (Some(ip), Ok(p)) = (ip, pattern.parse::<IpAddr>()) {
                return ip == p;
            }
            let pattern = pattern
                .trim_start_matches("*.")
                .trim_start_matches('.')
                .trim_end_matches('.')
                .to_ascii_lowercase();
            !pattern.is_empty()
                && (host == pattern
                    || (host.len() > pattern.len()
                        && host.ends_with(&pattern)
                        && host.as_bytes()[host.len() - pattern.len() - 1] == b'.'))
        })
}

/// Splits `host:port`, `[v6]:port`, `[v6]`, or a bare IPv6 address.
fn split_entry_port(entry: &str) -> (&str, Option<u16>) {
    if let Some(rest) = entry.strip_prefix('[') {
        if let Some((h, tail)) = rest.split_once(']') {
            return (h, tail.strip_prefix(':').and_then(|p| p.parse().ok()));
        }
    }
    match entry.rsplit_once(':') {
        // More than one colon without brackets: an IPv6 address (or range).
        Some((h, _)) if h.contains(':') => (entry, None),
        Some((h, p)) => match p.parse() {
            Ok(p) => (h, Some(p)),
            Err(_) => (entry, None),
        },
        None => (entry, None),
    }
}

fn in_cidr(ip: IpAddr, net: IpAddr, bits: u32) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) if bits <= 32 => {
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) if bits <= 128 => {
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        }
    }

    fn url(s: &str) -> url::Url {
        url::Url::parse(s).unwrap()
    }

    #[test]
    fn parses_each_scheme_with_its_default_port() {
        let p: Proxy = "http://h".parse().unwrap();
        assert_eq!((p.kind(), p.port()), (ProxyType::HttpProxy, 80));
        let p: Proxy = "socks5://h".parse().unwrap();
        assert_eq!((p.kind(), p.port()), (ProxyType::Socks5Proxy, 1080));
        let p: Proxy = "socks5h://h:9050".parse().unwrap();
        assert_eq!((p.kind(), p.port()), (ProxyType::Socks5Proxy, 9050));
        let p: Proxy = "http://[::1]:3128".parse().unwrap();
        assert_eq!(
            (p.host_name(), p.address_text()),
            ("::1", "[::1]:3128".into())
        );
        let p: Proxy = "  10.0.0.1:8080 ".parse().unwrap();
        assert_eq!(
            (p.kind(), p.host_name()),
            (ProxyType::HttpProxy, "10.0.0.1")
        );
    }

    #[test]
    fn decodes_credentials() {
        let p: Proxy = "http://a%20b:p%3Aw%25@h:1".parse().unwrap();
        assert_eq!((p.user(), p.password()), ("a b", "p:w%"));
        let p: Proxy = "http://ann@h:1".parse().unwrap();
        assert_eq!((p.user(), p.password()), ("ann", ""));
        let p: Proxy = "http://h:1".parse().unwrap();
        assert!(!p.has_credentials());
    }

    #[test]
    fn refuses_what_it_cannot_use() {
        for bad in [
            "https://h:1",
            "socks4://h:1",
            "ftp://h",
            "http://",
            "http://h:1/path",
            "http://h:99999",
        ] {
            let e = bad.parse::<Proxy>().unwrap_err();
            assert!(e.to_string().contains(bad), "{e}");
        }
    }

    #[test]
    fn set_host_name_strips_brackets() {
        let mut p = Proxy::http("h", 1).with_credentials("u", "p");
        p.set_host_name("[fe80::1]");
        assert_eq!(p.host_name(), "fe80::1");
        assert_eq!((p.user(), p.port()), ("u", 1));
    }

    #[test]
    fn env_picks_the_variable_for_the_scheme() {
        let vars = [
            ("http_proxy", "http://plain:1"),
            ("HTTPS_PROXY", "http://secure:2"),
            ("all_proxy", "socks5h://all:3"),
        ];
        let p = proxy_from_env(&url("ws://example.com/"), env(&vars));
        assert_eq!(p.host_name(), "plain");
        let p = proxy_from_env(&url("wss://example.com/"), env(&vars));
        assert_eq!(p.host_name(), "secure");
        let p = proxy_from_env(&url("ws://example.com/"), env(&vars[1..]));
        assert_eq!((p.host_name(), p.kind()), ("all", ProxyType::Socks5Proxy));
        // Upper-case HTTP_PROXY is not read (httpoxy).
        let p = proxy_from_env(
            &url("ws://example.com/"),
            env(&[("HTTP_PROXY", "http://x:1")]),
        );
        assert_eq!(p.kind(), ProxyType::NoProxy);
        let p = proxy_from_env(&url("ws://example.com/"), env(&[]));
        assert_eq!(p.kind(), ProxyType::NoProxy);
        let p = proxy_from_env(
            &url("ws://example.com/"),
            env(&[("http_proxy", "gopher://x")]),
        );
        assert_eq!(p.kind(), ProxyType::NoProxy);
    }

    #[test]
    fn no_proxy_matching() {
        let m = no_proxy_matches;
        assert!(m("*", "anything", 1));
        assert!(m("example.com", "example.com", 80));
        assert!(m("example.com", "www.Example.COM", 80));
        assert!(m(".example.com", "www.example.com", 80));
        assert!(m("*.example.com", "a.b.example.com", 80));
        assert!(!m("example.com", "badexample.com", 80));
        assert!(!m("www.example.com", "example.com", 80));
        assert!(m("localhost, 127.0.0.1", "127.0.0.1", 9));
        assert!(m("example.com:8080", "example.com", 8080));
        assert!(!m("example.com:8080", "example.com", 80));
        assert!(m("10.0.0.0/8", "10.1.2.3", 80));
        assert!(!m("10.0.0.0/8", "11.1.2.3", 80));
        assert!(m("::1", "::1", 80));
        assert!(m("[::1]:80", "::1", 80));
        assert!(m("fd00::/8", "fd12::1", 80));
        assert!(!m("fd00::/8", "fe80::1", 80));
        assert!(m("0.0.0.0/0", "1.2.3.4", 1));
        assert!(!m("", "example.com", 80));
        assert!(!m("10.0.0.0/99", "10.0.0.1", 80));
    }

    #[test]
    fn no_proxy_wins_over_proxy_variables() {
        let vars = [("all_proxy", "http://p:1"), ("NO_PROXY", "127.0.0.0/8")];
        let p = proxy_from_env(&url("ws://127.0.0.1:9/"), env(&vars));
        assert_eq!(p.kind(), ProxyType::NoProxy);
        let p = proxy_from_env(&url("ws://[::1]:9/"), env(&vars));
        assert_eq!(p.kind(), ProxyType::HttpProxy);
    }

    #[test]
    fn debug_hides_the_password() {
        let p = Proxy::http("h", 1).with_credentials("ann", "hunter2");
        let shown = format!("{p:?}");
        assert!(
            shown.contains("ann") && !shown.contains("hunter2"),
            "{shown}"
        );
    }
}
