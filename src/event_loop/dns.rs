//! Host-name lookups on a helper thread, so the loop never blocks on DNS.

use super::{EventLoop, Handle};
use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

/// The result of a lookup: every address found, in the resolver's order.
pub(crate) type LookupResult = io::Result<Vec<SocketAddr>>;

/// Starts a lookup. IP literals complete on the next loop turn without a
/// thread; names are resolved by `getaddrinfo` on a short-lived thread whose
/// result is posted back to the loop.
pub(crate) fn lookup(
    ev: &EventLoop,
    host: &str,
    port: u16,
    done: Box<dyn FnOnce(&EventLoop, LookupResult)>,
) {
    let literal = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = literal.parse::<IpAddr>() {
        ev.post(move |ev| done(ev, Ok(vec![SocketAddr::new(ip, port)])));
        return;
    }
    if let Some(fake) = ev.fake_net() {
        let result = fake.resolve(host, port);
        ev.post(move |ev| done(ev, result));
        return;
    }
    let id = ev.inner.park_lookup(done);
    let handle: Handle = ev.handle();
    let host = host.to_owned();
    let spawned = std::thread::Builder::new()
        .name("qwebsocket-dns".into())
        .spawn(move || {
            let result = (host.as_str(), port)
                .to_socket_addrs()
                .map(|it| it.collect::<Vec<_>>())
                .and_then(|v| {
                    if v.is_empty() {
                        Err(io::Error::new(io::ErrorKind::NotFound, "Host not found"))
                    } else {
                        Ok(v)
                    }
                });
            handle.post(move |ev| ev.inner.finish_lookup(ev, id, result));
        });
    if let Err(e) = spawned {
        ev.post(move |ev| ev.inner.finish_lookup(ev, id, Err(e)));
    }
}
