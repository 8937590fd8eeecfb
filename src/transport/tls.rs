//! TLS over any byte stream, non-blocking, with rustls.

use super::Stream;
use crate::ssl::SslAlert;
use std::io::{self, IoSlice, Read, Write};

/// A TLS connection over an inner stream (TCP or a fake pipe).
pub(crate) struct TlsStream {
    pub(crate) inner: Stream,
    pub(crate) conn: rustls::Connection,
    /// The peer ended the TLS session (close_notify) or the stream.
    eof: bool,
    /// Alerts sent (true) and received (false) since the socket last looked.
    pub(crate) alerts: Vec<(bool, SslAlert)>,
    close_notify_seen: bool,
    close_notify_sent: bool,
}

/// Reads TLS records from a `Stream` (rustls wants `io::Read`).
struct Reader<'a>(&'a mut Stream);

impl Read for Reader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

/// Writes TLS records to a `Stream`.
struct Writer<'a>(&'a mut Stream);

impl Write for Writer<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write_vectored(&[IoSlice::new(buf)])
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.0.write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn tls_error(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

impl TlsStream {
    pub(crate) fn new(inner: Stream, conn: rustls::Connection) -> TlsStream {
        TlsStream {
            inner,
            conn,
            eof: false,
            alerts: Vec::new(),
            close_notify_seen: false,
            close_notify_sent: false,
        }
    }

    /// Writes pending TLS records; `WouldBlock` is not an error here.
    pub(crate) fn flush_tls(&mut self) -> io::Result<()> {
        while self.conn.wants_write() {
            match self.conn.write_tls(&mut Writer(&mut self.inner)) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Reads and processes what TLS records are available. Returns false on
    /// end of stream.
    fn pull(&mut self) -> io::Result<bool> {
        match self.conn.read_tls(&mut Reader(&mut self.inner)) {
            Ok(0) => Ok(false),
            Ok(_) => {
                let result = self.conn.process_new_packets();
                if let Err(e) = &result {
                    if let Some(a) = SslAlert::received_in(e) {
                        self.alerts.push((false, a));
                    }
                    if let Some(a) = SslAlert::sent_for(e) {
                        self.alerts.push((true, a));
                    }
                }
                // Send what processing produced (handshake messages, alerts).
                let flushed = self.flush_tls();
                result.map_err(tls_error)?;
                flushed?;
                Ok(true)
            }
            Err(e) => Err(e),
        }
    }

    /// Moves the handshake on as far as it goes now. Ok(true) once done.
    pub(crate) fn drive_handshake(&mut self) -> io::Result<bool> {
        loop {
            self.flush_tls()?;
            if !self.conn.is_handshaking() {
                return Ok(true);
            }
            match self.pull() {
                Ok(true) => {}
                Ok(false) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    pub(crate) fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.conn.reader().read(buf) {
                Ok(0) if !buf.is_empty() => {
                    // Ok(0) from rustls means the peer's close_notify.
                    if !self.close_notify_seen {
                        self.close_notify_seen = true;
                        self.alerts.push((false, SslAlert::close_notify()));
                    }
                    return Ok(0);
                }
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // The peer's stream ended without close_notify: report the end.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) => return Err(e),
            }
            if self.eof {
                return Ok(0);
            }
            match self.pull() {
                Ok(true) => {}
                Ok(false) => self.eof = true,
                Err(e) => return Err(e),
            }
        }
    }

    pub(crate) fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        // Do not let rustls buffer more than a little ahead of the socket.
        self.flush_tls()?;
        if self.conn.wants_write() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = self.conn.writer().write_vectored(bufs)?;
        self.flush_tls()?;
        if n == 0 && bufs.iter().any(|b| !b.is_empty()) {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(n)
    }

    /// Sends close_notify unless it was sent already.
    pub(crate) fn close_notify_once(&mut self) {
        if !self.close_notify_sent {
            self.close_notify_sent = true;
            self.conn.send_close_notify();
            self.alerts.push((true, SslAlert::close_notify()));
            let _ = self.flush_tls();
        }
    }

    pub(crate) fn shutdown_write(&mut self) -> io::Result<()> {
        self.close_notify_sent = true;
        self.conn.send_close_notify();
        self.alerts.push((true, SslAlert::close_notify()));
        let _ = self.flush_tls();
        self.inner.shutdown_write()
    }
}
