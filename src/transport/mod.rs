//! Byte transports: TCP on mio, or the fake reactor's in-memory pipes.
//!
//! The socket layer sees bytes only; it does not know which kind of stream it
//! has. TLS and proxy tunnels will be further variants.

use crate::event_loop::{EventLoop, IoHandler, LoopInner};
use crate::testing::{FakeListener, FakeStream};
use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::rc::{Rc, Weak};

pub(crate) mod tls;
use tls::TlsStream;

/// A connected (or connecting) byte stream.
pub(crate) enum Stream {
    Tcp(mio::net::TcpStream),
    Fake(FakeStream),
    Tls(Box<TlsStream>),
}

impl Stream {
    pub(crate) fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Fake(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }

    pub(crate) fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => {
                // One buffer (the common case: frames, no handshake bytes)
                // goes out with send(2), which costs the kernel less than
                // writev(2).
                let mut full = bufs.iter().filter(|b| !b.is_empty());
                match (full.next(), full.next()) {
                    (Some(one), None) => s.write(one),
                    _ => s.write_vectored(bufs),
                }
            }
            Stream::Fake(s) => s.write_vectored(bufs),
            Stream::Tls(s) => s.write_vectored(bufs),
        }
    }

    pub(crate) fn shutdown_write(&mut self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.shutdown(Shutdown::Write),
            Stream::Fake(s) => s.shutdown_write(),
            Stream::Tls(s) => s.shutdown_write(),
        }
    }

    pub(crate) fn peer_addr(&self) -> io::Result<SocketAddr> {
        match self {
            Stream::Tcp(s) => s.peer_addr(),
            Stream::Fake(s) => s.peer_addr(),
            Stream::Tls(s) => s.inner.peer_addr(),
        }
    }

    pub(crate) fn local_addr(&self) -> io::Result<SocketAddr> {
        match self {
            Stream::Tcp(s) => s.local_addr(),
            Stream::Fake(s) => s.local_addr(),
            Stream::Tls(s) => s.inner.local_addr(),
        }
    }

    /// The pending socket error (a failed non-blocking connect reports here).
    pub(crate) fn take_error(&self) -> io::Result<Option<io::Error>> {
        match self {
            Stream::Tcp(s) => s.take_error(),
            Stream::Fake(s) => s.take_error(),
            Stream::Tls(s) => s.inner.take_error(),
        }
    }

    /// True once a non-blocking connect has completed.
    pub(crate) fn is_connected(&self) -> bool {
        match self {
            Stream::Tcp(s) => s.peer_addr().is_ok(),
            Stream::Fake(s) => s.is_connected(),
            Stream::Tls(s) => s.inner.is_connected(),
        }
    }
}

/// A stream registered with a loop; deregisters itself when dropped.
pub(crate) struct Transport {
    stream: Stream,
    token: mio::Token,
    /// Weak: the loop owns open connections, and so their transports.
    ev: Weak<LoopInner>,
}

impl Transport {
    /// Starts a non-blocking connect to `addr`.
    pub(crate) fn connect(
        ev: &EventLoop,
        addr: SocketAddr,
        handler: Weak<dyn IoHandler>,
    ) -> io::Result<Transport> {
        match ev.fake_net() {
            Some(net) => {
                let token = ev.alloc_token(handler);
                let stream = net.connect(ev, addr, token);
                Ok(Transport {
                    stream: Stream::Fake(stream),
                    token,
                    ev: Rc::downgrade(&ev.inner),
                })
            }
            None => {
                let mut tcp = mio::net::TcpStream::connect(addr)?;
                let token = ev.register(&mut tcp, handler)?;
                Ok(Transport {
                    stream: Stream::Tcp(tcp),
                    token,
                    ev: Rc::downgrade(&ev.inner),
                })
            }
        }
    }

    /// Registers an accepted stream.
    pub(crate) fn adopt(
        ev: &EventLoop,
        stream: Stream,
        handler: Weak<dyn IoHandler>,
    ) -> io::Result<Transport> {
        match stream {
            Stream::Tcp(mut tcp) => {
                let token = ev.register(&mut tcp, handler)?;
                Ok(Transport {
                    stream: Stream::Tcp(tcp),
                    token,
                    ev: Rc::downgrade(&ev.inner),
                })
            }
            Stream::Fake(f) => {
                let token = ev.alloc_token(handler);
                f.set_token(token);
                Ok(Transport {
                    stream: Stream::Fake(f),
                    token,
                    ev: Rc::downgrade(&ev.inner),
                })
            }
            Stream::Tls(_) => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "an accepted stream is adopted before TLS starts",
            )),
        }
    }

    /// Wraps the stream in TLS (after the TCP connect, or on accept).
    pub(crate) fn start_tls(&mut self, conn: rustls::Connection) {
        let inner = std::mem::replace(&mut self.stream, Stream::Fake(FakeStream::placeholder()));
        self.stream = Stream::Tls(Box::new(TlsStream::new(inner, conn)));
    }

    /// The TLS layer, if any.
    pub(crate) fn tls(&mut self) -> Option<&mut TlsStream> {
        match &mut self.stream {
            Stream::Tls(t) => Some(t),
            _ => None,
        }
    }

    pub(crate) fn stream(&mut self) -> &mut Stream {
        &mut self.stream
    }

    pub(crate) fn stream_ref(&self) -> &Stream {
        &self.stream
    }
}

impl Drop for Transport {
    fn drop(&mut self) {
        if let Stream::Tls(t) = &mut self.stream {
            // End the TLS session properly (RFC 8446 §6.1) whoever closes
            // first; best effort, never blocking.
            t.close_notify_once();
        }
        let stream = match &mut self.stream {
            Stream::Tls(t) => &mut t.inner,
            other => other,
        };
        // The loop may be gone already (dropped with connections open).
        let ev = self.ev.upgrade().map(|inner| EventLoop { inner });
        match stream {
            Stream::Tcp(tcp) => {
                if let Some(reg) = ev.as_ref().and_then(|ev| ev.registry()) {
                    let _ = reg.deregister(tcp);
                }
            }
            Stream::Fake(f) => f.close_from_library(),
            Stream::Tls(_) => {}
        }
        if let Some(ev) = ev {
            ev.release_token(self.token);
        }
    }
}

/// A listening socket.
pub(crate) enum Listener {
    Tcp(mio::net::TcpListener),
    Fake(FakeListener),
}

/// A listener registered with a loop; deregisters itself when dropped.
pub(crate) struct RegisteredListener {
    listener: Listener,
    token: mio::Token,
    ev: Weak<LoopInner>,
}

impl RegisteredListener {
    /// Binds and listens with room for `backlog` connections waiting to be
    /// accepted (the kernel caps it at `net.core.somaxconn`).
    pub(crate) fn bind(
        ev: &EventLoop,
        addr: SocketAddr,
        backlog: i32,
        handler: Weak<dyn IoHandler>,
    ) -> io::Result<RegisteredListener> {
        match ev.fake_net() {
            Some(net) => {
                let token = ev.alloc_token(handler);
                match net.listen(addr, token) {
                    Ok(l) => Ok(RegisteredListener {
                        listener: Listener::Fake(l),
                        token,
                        ev: Rc::downgrade(&ev.inner),
                    }),
                    Err(e) => {
                        ev.release_token(token);
                        Err(e)
                    }
                }
            }
            None => {
                let mut l = mio::net::TcpListener::bind(addr)?;
                set_backlog(&l, backlog)?;
                let token = ev.register(&mut l, handler)?;
                Ok(RegisteredListener {
                    listener: Listener::Tcp(l),
                    token,
                    ev: Rc::downgrade(&ev.inner),
                })
            }
        }
    }

    /// Registers a listening socket made elsewhere (inherited, or bound with
    /// options of the application's choosing).
    pub(crate) fn adopt_std(
        ev: &EventLoop,
        listener: std::net::TcpListener,
        handler: Weak<dyn IoHandler>,
    ) -> io::Result<RegisteredListener> {
        listener.set_nonblocking(true)?;
        let mut l = mio::net::TcpListener::from_std(listener);
        let token = ev.register(&mut l, handler)?;
        Ok(RegisteredListener {
            listener: Listener::Tcp(l),
            token,
            ev: Rc::downgrade(&ev.inner),
        })
    }

    /// The OS descriptor of a real listening socket.
    pub(crate) fn raw_fd(&self) -> Option<std::os::fd::RawFd> {
        use std::os::fd::AsRawFd;
        match &self.listener {
            Listener::Tcp(l) => Some(l.as_raw_fd()),
            Listener::Fake(_) => None,
        }
    }

    pub(crate) fn accept(&self) -> io::Result<(Stream, SocketAddr)> {
        match &self.listener {
            Listener::Tcp(l) => {
                let (s, a) = l.accept()?;
                Ok((Stream::Tcp(s), a))
            }
            Listener::Fake(l) => {
                let (s, a) = l.accept()?;
                Ok((Stream::Fake(s), a))
            }
        }
    }

    pub(crate) fn local_addr(&self) -> io::Result<SocketAddr> {
        match &self.listener {
            Listener::Tcp(l) => l.local_addr(),
            Listener::Fake(l) => Ok(l.local_addr()),
        }
    }
}

impl Drop for RegisteredListener {
    fn drop(&mut self) {
        let ev = self.ev.upgrade().map(|inner| EventLoop { inner });
        match &mut self.listener {
            Listener::Tcp(l) => {
                if let Some(reg) = ev.as_ref().and_then(|ev| ev.registry()) {
                    let _ = reg.deregister(l);
                }
            }
            Listener::Fake(l) => l.close(),
        }
        if let Some(ev) = ev {
            ev.release_token(self.token);
        }
    }
}

/// Sets TCP_NODELAY where it applies (Qt sets LowDelay after connecting).
pub(crate) fn set_nodelay(stream: &Stream) {
    match stream {
        Stream::Tcp(s) => {
            let _ = s.set_nodelay(true);
        }
        Stream::Tls(t) => set_nodelay(&t.inner),
        Stream::Fake(_) => {}
    }
}

/// Listens again with another backlog: mio listens with 128, which makes a
/// burst of more clients wait a second for a SYN retry. Listening again on a
/// listening socket only changes its backlog.
#[cfg(unix)]
fn set_backlog(listener: &mio::net::TcpListener, backlog: i32) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: listen(2) on a descriptor that `listener` owns and keeps open
    // for the duration of the call; no memory is passed.
    let r = unsafe { libc::listen(listener.as_raw_fd(), backlog) };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
