//! TLS: Qt's `QSslConfiguration`, `QSslError` and `QSslCertificate` on rustls.
//!
//! `wss://` URLs use TLS 1.2 or 1.3 (rustls with the *ring* provider), trust
//! the Mozilla roots of `webpki-roots` by default, send the URL's host as SNI,
//! verify IP-address URLs against IP SANs, and offer ALPN `http/1.1`.
//!
//! # The SSL error model
//!
//! Verification never fails inside the TLS library. Every problem with the
//! server's chain (host name, trust, dates) is recorded as an [`SslError`].
//! When the TLS handshake is done, and **before any WebSocket byte is sent**
//! (not even the upgrade request), the socket emits `peer_verify_error` for
//! each problem, then `ssl_errors` with all of them. It goes on only if the
//! application ignored exactly those problems:
//!
//! * [`WebSocket::ignore_ssl_errors`](crate::WebSocket::ignore_ssl_errors) in
//!   the `ssl_errors` slot (or before `open()`) ignores all of them, once;
//! * [`WebSocket::ignore_ssl_errors_list`](crate::WebSocket::ignore_ssl_errors_list)
//!   ignores errors of the listed kinds (and certificates, when given), for
//!   every later connection; ignoring one kind never ignores another;
//! * with [`PauseMode::PauseOnSslErrors`](crate::PauseMode) the socket waits in
//!   `Connecting` for [`WebSocket::resume`](crate::WebSocket::resume).
//!
//! Otherwise it fails with `SocketError::SslHandshakeFailed`.
//!
//! # Trusting a private CA
//!
//! ```no_run
//! use qwebsocket::{event_loop::EventLoop, ssl::SslConfiguration, WebSocket};
//! let ev = EventLoop::new()?;
//! let ws = WebSocket::new(&ev);
//! let mut tls = SslConfiguration::default();
//! tls.add_ca_certificates_pem(&std::fs::read("company-ca.pem")?)?;
//! tls.set_use_default_roots(false); // trust only the company CA
//! ws.set_ssl_configuration(tls);
//! ws.open("wss://intranet.example:8443/feed")?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # A client certificate (mutual TLS)
//!
//! ```no_run
//! use qwebsocket::{event_loop::EventLoop, ssl::SslConfiguration, WebSocket};
//! let ev = EventLoop::new()?;
//! let ws = WebSocket::new(&ev);
//! let mut tls = SslConfiguration::default();
//! tls.set_local_certificate_pem(&std::fs::read("client.pem")?, &std::fs::read("client.key")?)?;
//! ws.set_ssl_configuration(tls);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Handling `ssl_errors` the Qt way
//!
//! ```
//! use qwebsocket::{event_loop::EventLoop, WebSocket};
//! use qwebsocket::ssl::SslErrorKind;
//! let ev = EventLoop::new()?;
//! let ws = WebSocket::new(&ev);
//! ws.ssl_errors().connect(|ws, errors| {
//!     for e in errors {
//!         eprintln!("{e} ({:?})", e.kind());
//!     }
//!     // A development server: accept its self-signed certificate, nothing else.
//!     if errors.iter().all(|e| e.kind() == SslErrorKind::SelfSignedCertificate) {
//!         ws.ignore_ssl_errors();
//!     }
//! });
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! A secure server takes its chain and key the same way, with
//! [`WebSocketServer::set_ssl_configuration`](crate::WebSocketServer::set_ssl_configuration)
//! and `SslMode::SecureMode`.

use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime, pem::PemObject};
use std::fmt;
use std::sync::{Arc, Mutex};

/// A certificate in DER form (Qt's `QSslCertificate`).
///
/// ```
/// use qwebsocket::ssl::Certificate;
/// let c = Certificate::from_der(vec![0x30, 0x00]);
/// assert_eq!(c.der(), &[0x30, 0x00]);
/// assert_eq!(c.digest_sha1().len(), 40);
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Certificate {
    der: Vec<u8>,
}

impl fmt::Debug for Certificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Certificate(sha1 {})", self.digest_sha1())
    }
}

impl Certificate {
    /// A certificate from its DER bytes, kept as they are: nothing is parsed
    /// or checked here (a certificate that cannot be parsed is reported, or
    /// skipped with a log message, where it is used).
    ///
    /// ```
    /// use qwebsocket::ssl::Certificate;
    /// # const CERT: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/doc.example.pem"));
    /// // CERT: a self-signed certificate for doc.example (PEM).
    /// let from_pem = Certificate::from_pem(CERT).unwrap().remove(0);
    /// let from_der = Certificate::from_der(from_pem.der().to_vec());
    /// assert_eq!(from_der, from_pem);
    /// ```
    pub fn from_der(der: Vec<u8>) -> Certificate {
        Certificate { der }
    }

    /// Every certificate (`-----BEGIN CERTIFICATE-----` block) in a PEM
    /// text, in order; other blocks, such as a private key, are skipped.
    /// Fails if there is none, or if one cannot be decoded.
    ///
    /// ```
    /// use qwebsocket::ssl::Certificate;
    /// # const CERT: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/doc.example.pem"));
    /// # const KEY: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/doc.example.key"));
    /// // CERT, KEY: a self-signed certificate for doc.example and its key (PEM).
    /// let both = [CERT, KEY].concat();
    /// assert_eq!(Certificate::from_pem(&both).unwrap().len(), 1); // the key is skipped
    /// let e = Certificate::from_pem(KEY).unwrap_err();
    /// assert_eq!(e.to_string(), "no certificate found in the PEM text");
    /// ```
    pub fn from_pem(pem: &[u8]) -> Result<Vec<Certificate>, SslConfigError> {
        let mut out = Vec::new();
        for c in CertificateDer::pem_slice_iter(pem) {
            let c = c.map_err(|e| SslConfigError(format!("cannot read a PEM certificate: {e}")))?;
            out.push(Certificate { der: c.to_vec() });
        }
        if out.is_empty() {
            return Err(SslConfigError(
                "no certificate found in the PEM text".into(),
            ));
        }
        Ok(out)
    }

    /// The DER bytes (an ASN.1 `SEQUENCE`, so the first byte is `0x30`).
    ///
    /// ```
    /// use qwebsocket::ssl::Certificate;
    /// # const CERT: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/doc.example.pem"));
    /// // CERT: a self-signed certificate for doc.example (PEM).
    /// let cert = Certificate::from_pem(CERT).unwrap().remove(0);
    /// assert_eq!(cert.der()[0], 0x30);
    /// assert_eq!(cert.der().len(), 333);
    /// ```
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The SHA-1 digest of the DER bytes, 40 lowercase hex digits: a
    /// fingerprint for logs and for pinning, the same as
    /// `openssl x509 -noout -fingerprint -sha1` prints (without its colons).
    ///
    /// ```
    /// use qwebsocket::ssl::Certificate;
    /// # const CERT: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/doc.example.pem"));
    /// // CERT: a self-signed certificate for doc.example (PEM).
    /// let cert = Certificate::from_pem(CERT).unwrap().remove(0);
    /// assert_eq!(cert.digest_sha1(), "17ce4abf6e3059c5a98b6df17cad20a99568f37b");
    /// ```
    pub fn digest_sha1(&self) -> String {
        use sha1::{Digest, Sha1};
        Sha1::digest(&self.der)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    fn as_der(&self) -> CertificateDer<'static> {
        CertificateDer::from(self.der.clone())
    }
}

/// A private key in DER form (PKCS#8, PKCS#1 or SEC1).
///
/// ```
/// use qwebsocket::ssl::PrivateKey;
/// assert!(PrivateKey::from_pem(b"not a key").is_err());
/// ```
pub struct PrivateKey {
    pem_or_der: PrivateKeyDer<'static>,
}

impl Clone for PrivateKey {
    fn clone(&self) -> Self {
        PrivateKey {
            pem_or_der: self.pem_or_der.clone_key(),
        }
    }
}

impl PartialEq for PrivateKey {
    fn eq(&self, other: &Self) -> bool {
        self.pem_or_der.secret_der() == other.pem_or_der.secret_der()
    }
}

impl Eq for PrivateKey {}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PrivateKey(..)")
    }
}

impl PrivateKey {
    /// The first private key in a PEM text: PKCS#8 (`PRIVATE KEY`), PKCS#1
    /// (`RSA PRIVATE KEY`) or SEC1 (`EC PRIVATE KEY`); other blocks, such as
    /// certificates, are skipped. Fails if there is none or it cannot be
    /// decoded. Encrypted keys are not supported.
    ///
    /// ```
    /// use qwebsocket::ssl::PrivateKey;
    /// # const CERT: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/doc.example.pem"));
    /// # const KEY: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/doc.example.key"));
    /// // CERT, KEY: a self-signed certificate for doc.example and its key (PEM).
    /// assert!(PrivateKey::from_pem(KEY).is_ok());
    /// assert_eq!(PrivateKey::from_pem(&[CERT, KEY].concat()).unwrap(), PrivateKey::from_pem(KEY).unwrap());
    /// assert!(PrivateKey::from_pem(CERT).is_err()); // a certificate is not a key
    /// ```
    pub fn from_pem(pem: &[u8]) -> Result<PrivateKey, SslConfigError> {
        PrivateKeyDer::from_pem_slice(pem)
            .map(|k| PrivateKey { pem_or_der: k })
            .map_err(|e| SslConfigError(format!("cannot read a PEM private key: {e}")))
    }

    fn key(&self) -> PrivateKeyDer<'static> {
        self.pem_or_der.clone_key()
    }
}

/// A TLS configuration that could not be built or read.
///
/// ```
/// use qwebsocket::ssl::Certificate;
/// let e = Certificate::from_pem(b"").unwrap_err();
/// assert!(e.to_string().contains("no certificate"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SslConfigError(pub String);

impl fmt::Display for SslConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SslConfigError {}

/// How the peer's certificate is checked (Qt's `QSslSocket::PeerVerifyMode`).
///
/// ```
/// use qwebsocket::ssl::PeerVerifyMode;
/// assert_eq!(PeerVerifyMode::default(), PeerVerifyMode::AutoVerifyPeer);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum PeerVerifyMode {
    /// No certificate is requested or checked (a server asks none of its clients).
    VerifyNone,
    /// The certificate is requested and checked, but errors are only
    /// reported through `peer_verify_error`, never fatal (a server asks for a
    /// client certificate but accepts clients without one).
    QueryPeer,
    /// The certificate must be valid, or the errors ignored (on a server it
    /// requires a client certificate).
    VerifyPeer,
    /// `VerifyPeer` on a client, `VerifyNone` on a server (the default). Qt
    /// uses `QueryPeer` on servers, which makes browsers ask their user for
    /// a certificate; ask for client certificates explicitly instead.
    #[default]
    AutoVerifyPeer,
}

/// Which TLS versions may be negotiated.
///
/// ```
/// use qwebsocket::ssl::SslProtocol;
/// assert_eq!(SslProtocol::default(), SslProtocol::TlsV1_2OrLater);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum SslProtocol {
    /// TLS 1.2 only.
    TlsV1_2,
    /// TLS 1.3 only.
    TlsV1_3,
    /// TLS 1.2 or 1.3 (Qt's `SecureProtocols`).
    #[default]
    TlsV1_2OrLater,
}

/// What is wrong with a peer's certificate, named after Qt's `QSslError::SslError`.
///
/// ```
/// use qwebsocket::ssl::SslErrorKind;
/// assert_eq!(SslErrorKind::HostNameMismatch.qt_value(), 22);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SslErrorKind {
    /// The issuer of a certificate in the chain could not be found.
    UnableToGetIssuerCertificate,
    /// A signature in the chain does not verify.
    CertificateSignatureFailed,
    /// A certificate is not valid yet.
    CertificateNotYetValid,
    /// A certificate has expired.
    CertificateExpired,
    /// The peer's certificate is self-signed and not trusted.
    SelfSignedCertificate,
    /// The chain ends in a self-signed root that is not trusted.
    SelfSignedCertificateInChain,
    /// The local issuer of the peer's certificate is unknown (an unknown CA,
    /// or an intermediate missing from the chain).
    UnableToGetLocalIssuerCertificate,
    /// A certificate was revoked.
    CertificateRevoked,
    /// A CA certificate in the chain is not valid as a CA.
    InvalidCaCertificate,
    /// A path length constraint was exceeded.
    PathLengthExceeded,
    /// The certificate may not be used for this purpose (extended key usage).
    InvalidPurpose,
    /// The certificate is not trusted for another reason.
    CertificateUntrusted,
    /// The peer presented no certificate.
    NoPeerCertificate,
    /// The certificate is not valid for the host name (or IP address) connected to.
    HostNameMismatch,
    /// Any other problem.
    UnspecifiedError,
}

impl SslErrorKind {
    /// Every kind, in Qt's numeric order ([`SslErrorKind::UnspecifiedError`],
    /// -1, last).
    ///
    /// ```
    /// use qwebsocket::ssl::SslErrorKind;
    /// let values: Vec<i32> = SslErrorKind::ALL.iter().map(|k| k.qt_value()).collect();
    /// assert_eq!(values, [1, 4, 5, 6, 9, 10, 11, 13, 14, 15, 16, 17, 21, 22, -1]);
    /// for kind in SslErrorKind::ALL {
    ///     assert_eq!(SslErrorKind::from_name(&format!("{kind:?}")), Some(kind));
    /// }
    /// ```
    pub const ALL: [SslErrorKind; 15] = [
        SslErrorKind::UnableToGetIssuerCertificate,
        SslErrorKind::CertificateSignatureFailed,
        SslErrorKind::CertificateNotYetValid,
        SslErrorKind::CertificateExpired,
        SslErrorKind::SelfSignedCertificate,
        SslErrorKind::SelfSignedCertificateInChain,
        SslErrorKind::UnableToGetLocalIssuerCertificate,
        SslErrorKind::CertificateRevoked,
        SslErrorKind::InvalidCaCertificate,
        SslErrorKind::PathLengthExceeded,
        SslErrorKind::InvalidPurpose,
        SslErrorKind::CertificateUntrusted,
        SslErrorKind::NoPeerCertificate,
        SslErrorKind::HostNameMismatch,
        SslErrorKind::UnspecifiedError,
    ];

    /// The kind named `name` (the variant's name, as `{:?}` prints it).
    ///
    /// ```
    /// use qwebsocket::ssl::SslErrorKind;
    /// assert_eq!(SslErrorKind::from_name("HostNameMismatch"), Some(SslErrorKind::HostNameMismatch));
    /// assert_eq!(SslErrorKind::from_name("Nonsense"), None);
    /// ```
    pub fn from_name(name: &str) -> Option<SslErrorKind> {
        SslErrorKind::ALL
            .into_iter()
            .find(|k| format!("{k:?}") == name)
    }

    /// Qt's numeric value (`QSslError::SslError`), for logs or protocols
    /// shared with Qt programs; -1 for [`SslErrorKind::UnspecifiedError`].
    ///
    /// ```
    /// use qwebsocket::ssl::SslErrorKind;
    /// assert_eq!(SslErrorKind::SelfSignedCertificate.qt_value(), 9);
    /// assert_eq!(SslErrorKind::UnspecifiedError.qt_value(), -1);
    /// ```
    pub fn qt_value(self) -> i32 {
        use SslErrorKind::*;
        match self {
            UnableToGetIssuerCertificate => 1,
            CertificateSignatureFailed => 4,
            CertificateNotYetValid => 5,
            CertificateExpired => 6,
            SelfSignedCertificate => 9,
            SelfSignedCertificateInChain => 10,
            UnableToGetLocalIssuerCertificate => 11,
            CertificateRevoked => 13,
            InvalidCaCertificate => 14,
            PathLengthExceeded => 15,
            InvalidPurpose => 16,
            CertificateUntrusted => 17,
            NoPeerCertificate => 21,
            HostNameMismatch => 22,
            UnspecifiedError => -1,
        }
    }

    fn text(self) -> &'static str {
        use SslErrorKind::*;
        match self {
            UnableToGetIssuerCertificate => "The issuer certificate could not be found",
            CertificateSignatureFailed => "The signature of the certificate is invalid",
            CertificateNotYetValid => "The certificate is not yet valid",
            CertificateExpired => "The certificate has expired",
            SelfSignedCertificate => "The certificate is self-signed, and untrusted",
            SelfSignedCertificateInChain => {
                "The root certificate of the certificate chain is self-signed, and untrusted"
            }
            UnableToGetLocalIssuerCertificate => {
                "The issuer certificate of a locally looked up certificate could not be found"
            }
            CertificateRevoked => "The certificate has been revoked",
            InvalidCaCertificate => "One of the CA certificates is invalid",
            PathLengthExceeded => "The basicConstraints path length parameter has been exceeded",
            InvalidPurpose => "The supplied certificate is unsuitable for this purpose",
            CertificateUntrusted => "The root CA certificate is not trusted for this purpose",
            NoPeerCertificate => "The peer did not present any certificate",
            HostNameMismatch => {
                "The host name did not match any of the valid hosts for this certificate"
            }
            UnspecifiedError => "An unspecified error occurred",
        }
    }
}

/// One problem found with a peer's certificate chain (Qt's `QSslError`).
///
/// ```
/// use qwebsocket::ssl::{SslError, SslErrorKind};
/// let e = SslError::new(SslErrorKind::CertificateExpired, None);
/// assert_eq!(e.to_string(), "The certificate has expired");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SslError {
    kind: SslErrorKind,
    certificate: Option<Certificate>,
}

impl SslError {
    /// An error of `kind` about `certificate`, to build a list for
    /// [`WebSocket::ignore_ssl_errors_list`](crate::WebSocket::ignore_ssl_errors_list):
    /// with `None` it ignores that kind for any certificate, with a
    /// certificate only for that one (see [`SslError::covers`]).
    ///
    /// ```
    /// use qwebsocket::ssl::{Certificate, SslError, SslErrorKind};
    /// # const CERT: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/doc.example.pem"));
    /// // CERT: a self-signed certificate for doc.example (PEM).
    /// let cert = Certificate::from_pem(CERT).unwrap().remove(0);
    /// let pinned = SslError::new(SslErrorKind::SelfSignedCertificate, Some(cert.clone()));
    /// assert_eq!(pinned.kind(), SslErrorKind::SelfSignedCertificate);
    /// assert_eq!(pinned.certificate(), Some(&cert));
    /// ```
    pub fn new(kind: SslErrorKind, certificate: Option<Certificate>) -> SslError {
        SslError { kind, certificate }
    }

    /// What is wrong.
    ///
    /// ```
    /// use qwebsocket::ssl::{SslError, SslErrorKind};
    /// let e = SslError::new(SslErrorKind::HostNameMismatch, None);
    /// assert_eq!(e.kind(), SslErrorKind::HostNameMismatch);
    /// ```
    pub fn kind(&self) -> SslErrorKind {
        self.kind
    }

    /// The certificate concerned, if one is. Errors the library reports
    /// about a chain name its leaf certificate; [`SslErrorKind::NoPeerCertificate`]
    /// names none.
    ///
    /// ```
    /// # const CERT: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/doc.example.pem"));
    /// # const KEY: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/doc.example.key"));
    /// # use qwebsocket::{testing::FakeReactor, SslMode, WebSocket, WebSocketServer};
    /// # let reactor = FakeReactor::new();
    /// # reactor.add_host("doc.example", "10.0.0.1".parse().unwrap());
    /// # let server = WebSocketServer::new(reactor.event_loop(), "", SslMode::SecureMode);
    /// # let mut server_tls = SslConfiguration::default();
    /// # server_tls.set_local_certificate_pem(CERT, KEY).unwrap();
    /// # server.set_ssl_configuration(server_tls);
    /// # server.listen("10.0.0.1".parse().unwrap(), 443).unwrap();
    /// // `server` serves wss://doc.example (10.0.0.1) on a fake network, with a
    /// // self-signed certificate, CERT (see `qwebsocket::testing`).
    /// use qwebsocket::ssl::{Certificate, SslConfiguration};
    /// use std::{cell::RefCell, rc::Rc};
    /// let named = Rc::new(RefCell::new(Vec::new()));
    /// let n = named.clone();
    /// let ws = WebSocket::new(reactor.event_loop());
    /// ws.ssl_errors().connect(move |_, errors| {
    ///     n.borrow_mut().extend(errors.iter().map(|e| e.certificate().cloned()));
    /// });
    /// ws.open("wss://doc.example/").unwrap(); // does not trust the server
    /// reactor.run_until_idle();
    /// let cert = Certificate::from_pem(CERT).unwrap().remove(0);
    /// assert_eq!(*named.borrow(), [Some(cert)]);
    /// ```
    pub fn certificate(&self) -> Option<&Certificate> {
        self.certificate.as_ref()
    }

    /// A sentence that says what is wrong, in Qt's words (Qt's
    /// `errorString()`); the same text as `Display`.
    ///
    /// ```
    /// use qwebsocket::ssl::{SslError, SslErrorKind};
    /// let e = SslError::new(SslErrorKind::SelfSignedCertificate, None);
    /// assert_eq!(e.error_string(), "The certificate is self-signed, and untrusted");
    /// assert_eq!(e.error_string(), e.to_string());
    /// ```
    pub fn error_string(&self) -> String {
        self.kind.text().to_owned()
    }

    /// What a failed TLS handshake says about the peer's certificate.
    pub(crate) fn from_tls_failure(e: &rustls::Error) -> SslError {
        use rustls::CertificateError as C;
        let kind = match e {
            rustls::Error::InvalidCertificate(c) => match c {
                C::Expired | C::ExpiredContext { .. } => SslErrorKind::CertificateExpired,
                C::NotValidYet | C::NotValidYetContext { .. } => {
                    SslErrorKind::CertificateNotYetValid
                }
                C::UnknownIssuer => SslErrorKind::UnableToGetLocalIssuerCertificate,
                C::Revoked => SslErrorKind::CertificateRevoked,
                C::BadSignature => SslErrorKind::CertificateSignatureFailed,
                C::NotValidForName | C::NotValidForNameContext { .. } => {
                    SslErrorKind::HostNameMismatch
                }
                C::InvalidPurpose | C::InvalidPurposeContext { .. } => SslErrorKind::InvalidPurpose,
                _ => SslErrorKind::CertificateUntrusted,
            },
            rustls::Error::NoCertificatesPresented => SslErrorKind::NoPeerCertificate,
            _ => SslErrorKind::UnspecifiedError,
        };
        SslError {
            kind,
            certificate: None,
        }
    }

    /// True if ignoring `self` covers `found`: the same kind, and the same
    /// certificate unless `self` names none. This is how
    /// [`WebSocket::ignore_ssl_errors_list`](crate::WebSocket::ignore_ssl_errors_list)
    /// matches the errors a handshake found.
    ///
    /// ```
    /// use qwebsocket::ssl::{Certificate, SslError, SslErrorKind};
    /// use SslErrorKind::{CertificateExpired, SelfSignedCertificate};
    /// let ours = Certificate::from_der(vec![0x30, 0x01]);
    /// let theirs = Certificate::from_der(vec![0x30, 0x02]);
    /// let found = SslError::new(SelfSignedCertificate, Some(theirs.clone()));
    /// assert!(SslError::new(SelfSignedCertificate, None).covers(&found)); // any certificate
    /// assert!(SslError::new(SelfSignedCertificate, Some(theirs)).covers(&found));
    /// assert!(!SslError::new(SelfSignedCertificate, Some(ours)).covers(&found));
    /// assert!(!SslError::new(CertificateExpired, None).covers(&found)); // another kind
    /// ```
    pub fn covers(&self, found: &SslError) -> bool {
        self.kind == found.kind
            && (self.certificate.is_none() || self.certificate == found.certificate)
    }
}

impl fmt::Display for SslError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind.text())
    }
}

impl std::error::Error for SslError {}

/// A TLS configuration (Qt's `QSslConfiguration`): trust, identity, peer
/// verification and versions; after a handshake, what was negotiated.
///
/// By default it trusts the Mozilla roots shipped in `webpki-roots`,
/// verifies the peer, and allows TLS 1.2 and 1.3.
///
/// ```
/// use qwebsocket::ssl::SslConfiguration;
/// let config = SslConfiguration::default();
/// assert!(config.uses_default_roots());
/// assert!(config.ca_certificates().is_empty());
/// assert!(config.peer_certificate_chain().is_empty());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SslConfiguration {
    ca_certificates: Vec<Certificate>,
    default_roots: bool,
    local_chain: Vec<Certificate>,
    private_key: Option<PrivateKey>,
    verify_mode: PeerVerifyMode,
    verify_name: Option<String>,
    protocol: SslProtocol,
    interrupt_on_error: bool,
    peer_chain: Vec<Certificate>,
    session_protocol: Option<String>,
    session_cipher: Option<String>,
}

impl Default for SslConfiguration {
    fn default() -> Self {
        SslConfiguration {
            ca_certificates: Vec::new(),
            default_roots: true,
            local_chain: Vec::new(),
            private_key: None,
            verify_mode: PeerVerifyMode::AutoVerifyPeer,
            verify_name: None,
            protocol: SslProtocol::TlsV1_2OrLater,
            interrupt_on_error: false,
            peer_chain: Vec::new(),
            session_protocol: None,
            session_cipher: None,
        }
    }
}

impl SslConfiguration {
    /// Adds the certificates of a PEM text (one or more) to the CAs trusted,
    /// besides the default roots (see [`SslConfiguration::set_use_default_roots`]).
    /// A self-signed server certificate can be trusted this way too. Fails,
    /// adding nothing, as [`Certificate::from_pem`] does.
    ///
    /// ```
    /// # const CERT: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/doc.example.pem"));
    /// # const KEY: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/doc.example.key"));
    /// # use qwebsocket::{testing::FakeReactor, SslMode, WebSocket, WebSocketServer};
    /// # let reactor = FakeReactor::new();
    /// # reactor.add_host("doc.example", "10.0.0.1".parse().unwrap());
    /// # let server = WebSocketServer::new(reactor.event_loop(), "", SslMode::SecureMode);
    /// # let mut server_tls = SslConfiguration::default();
    /// # server_tls.set_local_certificate_pem(CERT, KEY).unwrap();
    /// # server.set_ssl_configuration(server_tls);
    /// # server.listen("10.0.0.1".parse().unwrap(), 443).unwrap();
    /// // `server` serves wss://doc.example (10.0.0.1) on a fake network, with a
    /// // self-signed certificate, CERT (see `qwebsocket::testing`).
    /// use qwebsocket::{ssl::SslConfiguration, SocketState};
    /// let ws = WebSocket::new(reactor.event_loop());
    /// let mut tls = SslConfiguration::default();
    /// tls.add_ca_certificates_pem(CERT).unwrap();
    /// assert!(tls.add_ca_certificates_pem(b"no PEM here").is_err());
    /// assert_eq!(tls.ca_certificates().len(), 1);
    /// ws.set_ssl_configuration(tls);
    /// ws.open("wss://doc.example/").unwrap();
    /// reactor.run_until_idle();
    /// assert_eq!(ws.state(), SocketState::Connected);
    /// ```
    pub fn add_ca_certificates_pem(&mut self, pem: &[u8]) -> Result<(), SslConfigError> {
        self.ca_certificates.extend(Certificate::from_pem(pem)?);
        Ok(())
    }

    /// Sets the CA certificates to trust, replacing any added before (an
    /// empty list removes them all). A certificate that cannot be parsed is
    /// skipped with a warning in the log when the configuration is used.
    ///
    /// ```
    /// use qwebsocket::ssl::{Certificate, SslConfiguration};
    /// # const CERT: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/doc.example.pem"));
    /// // CERT: a self-signed certificate for doc.example (PEM).
    /// let mut tls = SslConfiguration::default();
    /// tls.add_ca_certificates_pem(CERT).unwrap();
    /// tls.set_ca_certificates(Certificate::from_pem(CERT).unwrap());
    /// assert_eq!(tls.ca_certificates().len(), 1); // replaced, not added
    /// tls.set_ca_certificates(Vec::new());
    /// assert!(tls.ca_certificates().is_empty());
    /// ```
    pub fn set_ca_certificates(&mut self, certificates: Vec<Certificate>) {
        self.ca_certificates = certificates;
    }

    /// The CA certificates trusted besides (or instead of) the default
    /// roots, in the order added; empty by default (the default roots are
    /// not listed here).
    ///
    /// ```
    /// use qwebsocket::ssl::{Certificate, SslConfiguration};
    /// # const CERT: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/doc.example.pem"));
    /// // CERT: a self-signed certificate for doc.example (PEM).
    /// let mut tls = SslConfiguration::default();
    /// assert!(tls.ca_certificates().is_empty());
    /// tls.add_ca_certificates_pem(CERT).unwrap();
    /// assert_eq!(tls.ca_certificates(), Certificate::from_pem(CERT).unwrap());
    /// ```
    pub fn ca_certificates(&self) -> &[Certificate] {
        &self.ca_certificates
    }

    /// Whether the default roots (the Mozilla roots of `webpki-roots`,
    /// compiled in; the system store is not read) are trusted too; true by
    /// default. Set false to trust only [`SslConfiguration::ca_certificates`],
    /// e.g. a client of a company's servers that must not accept public
    /// certificates.
    ///
    /// ```
    /// # const CERT: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/doc.example.pem"));
    /// # const KEY: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/doc.example.key"));
    /// # use qwebsocket::{testing::FakeReactor, SslMode, WebSocket, WebSocketServer};
    /// # let reactor = FakeReactor::new();
    /// # reactor.add_host("doc.example", "10.0.0.1".parse().unwrap());
    /// # let server = WebSocketServer::new(reactor.event_loop(), "", SslMode::SecureMode);
    /// # let mut server_tls = SslConfiguration::default();
    /// # server_tls.set_local_certificate_pem(CERT, KEY).unwrap();
    /// # server.set_ssl_configuration(server_tls);
    /// # server.listen("10.0.0.1".parse().unwrap(), 443).unwrap();
    /// // `server` serves wss://doc.example (10.0.0.1) on a fake network, with a
    /// // self-signed certificate, CERT (see `qwebsocket::testing`).
    /// use qwebsocket::{ssl::SslConfiguration, SocketState};
    /// let mut tls = SslConfiguration::default();
    /// tls.set_use_default_roots(false);
    /// tls.add_ca_certificates_pem(CERT).unwrap(); // trust only this one
    /// let ws = WebSocket::new(reactor.event_loop());
    /// ws.set_ssl_configuration(tls);
    /// ws.open("wss://doc.example/").unwrap();
    /// reactor.run_until_idle();
    /// assert_eq!(ws.state(), SocketState::Connected);
    /// ```
    pub fn set_use_default_roots(&mut self, on: bool) {
        self.default_roots = on;
    }

    /// Whether the default roots are trusted (true by default).
    ///
    /// ```
    /// use qwebsocket::ssl::SslConfiguration;
    /// let mut tls = SslConfiguration::default();
    /// assert!(tls.uses_default_roots());
    /// tls.set_use_default_roots(false);
    /// assert!(!tls.uses_default_roots());
    /// ```
    pub fn uses_default_roots(&self) -> bool {
        self.default_roots
    }

    /// Sets our certificate chain (leaf first, then intermediates) and the
    /// leaf's private key, from PEM texts: a server's identity, or a client
    /// certificate for mutual TLS. Both may be the same text. Fails, changing
    /// nothing, when the chain has no certificate or the key is missing
    /// ([`Certificate::from_pem`], [`PrivateKey::from_pem`]); whether the key
    /// matches the certificate is checked when the configuration is used.
    ///
    /// ```
    /// use qwebsocket::ssl::SslConfiguration;
    /// # const CERT: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/doc.example.pem"));
    /// # const KEY: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/doc.example.key"));
    /// // CERT, KEY: a self-signed certificate for doc.example and its key (PEM).
    /// let mut tls = SslConfiguration::default();
    /// assert!(tls.set_local_certificate_pem(CERT, b"").is_err());
    /// assert!(tls.local_certificate_chain().is_empty()); // unchanged
    /// tls.set_local_certificate_pem(CERT, KEY).unwrap();
    /// assert_eq!(tls.local_certificate_chain().len(), 1);
    /// ```
    pub fn set_local_certificate_pem(
        &mut self,
        chain_pem: &[u8],
        key_pem: &[u8],
    ) -> Result<(), SslConfigError> {
        let chain = Certificate::from_pem(chain_pem)?;
        let key = PrivateKey::from_pem(key_pem)?;
        self.local_chain = chain;
        self.private_key = Some(key);
        Ok(())
    }

    /// Our certificate chain (leaf first); empty until
    /// [`SslConfiguration::set_local_certificate_pem`].
    ///
    /// ```
    /// use qwebsocket::ssl::{Certificate, SslConfiguration};
    /// # const CERT: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/doc.example.pem"));
    /// # const KEY: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/doc.example.key"));
    /// // CERT, KEY: a self-signed certificate for doc.example and its key (PEM).
    /// let mut tls = SslConfiguration::default();
    /// assert!(tls.local_certificate_chain().is_empty());
    /// tls.set_local_certificate_pem(CERT, KEY).unwrap();
    /// assert_eq!(tls.local_certificate_chain(), Certificate::from_pem(CERT).unwrap());
    /// ```
    pub fn local_certificate_chain(&self) -> &[Certificate] {
        &self.local_chain
    }

    /// How the peer is verified ([`PeerVerifyMode::AutoVerifyPeer`] by
    /// default).
    ///
    /// ```
    /// use qwebsocket::ssl::{PeerVerifyMode, SslConfiguration};
    /// let tls = SslConfiguration::default();
    /// assert_eq!(tls.peer_verify_mode(), PeerVerifyMode::AutoVerifyPeer);
    /// ```
    pub fn peer_verify_mode(&self) -> PeerVerifyMode {
        self.verify_mode
    }

    /// Sets how the peer is verified (see [`PeerVerifyMode`]). On a client,
    /// `VerifyNone` accepts any server certificate without a word: for
    /// tests only. On a server, `QueryPeer` and `VerifyPeer` ask clients for
    /// a certificate.
    ///
    /// ```
    /// # const CERT: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/doc.example.pem"));
    /// # const KEY: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/doc.example.key"));
    /// # use qwebsocket::{testing::FakeReactor, SslMode, WebSocket, WebSocketServer};
    /// # let reactor = FakeReactor::new();
    /// # reactor.add_host("doc.example", "10.0.0.1".parse().unwrap());
    /// # let server = WebSocketServer::new(reactor.event_loop(), "", SslMode::SecureMode);
    /// # let mut server_tls = SslConfiguration::default();
    /// # server_tls.set_local_certificate_pem(CERT, KEY).unwrap();
    /// # server.set_ssl_configuration(server_tls);
    /// # server.listen("10.0.0.1".parse().unwrap(), 443).unwrap();
    /// // `server` serves wss://doc.example (10.0.0.1) on a fake network, with a
    /// // self-signed certificate, CERT (see `qwebsocket::testing`).
    /// use qwebsocket::ssl::{PeerVerifyMode, SslConfiguration};
    /// use qwebsocket::SocketState;
    /// let mut tls = SslConfiguration::default();
    /// tls.set_peer_verify_mode(PeerVerifyMode::VerifyNone); // trusts no CA, checks nothing
    /// let ws = WebSocket::new(reactor.event_loop());
    /// ws.ssl_errors().connect(|_, _| panic!("nothing is checked"));
    /// ws.set_ssl_configuration(tls);
    /// ws.open("wss://doc.example/").unwrap();
    /// reactor.run_until_idle();
    /// assert_eq!(ws.state(), SocketState::Connected);
    /// ```
    pub fn set_peer_verify_mode(&mut self, mode: PeerVerifyMode) {
        self.verify_mode = mode;
    }

    /// The name the server certificate is checked against, instead of the
    /// URL's host (Qt's `peerVerifyName`); it is also sent as SNI. `None`
    /// (the default) uses the URL's host. Useful to reach a server by its IP
    /// address.
    ///
    /// ```
    /// # const CERT: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/doc.example.pem"));
    /// # const KEY: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/doc.example.key"));
    /// # use qwebsocket::{testing::FakeReactor, SslMode, WebSocket, WebSocketServer};
    /// # let reactor = FakeReactor::new();
    /// # reactor.add_host("doc.example", "10.0.0.1".parse().unwrap());
    /// # let server = WebSocketServer::new(reactor.event_loop(), "", SslMode::SecureMode);
    /// # let mut server_tls = SslConfiguration::default();
    /// # server_tls.set_local_certificate_pem(CERT, KEY).unwrap();
    /// # server.set_ssl_configuration(server_tls);
    /// # server.listen("10.0.0.1".parse().unwrap(), 443).unwrap();
    /// // `server` serves wss://doc.example (10.0.0.1) on a fake network, with a
    /// // self-signed certificate, CERT (see `qwebsocket::testing`).
    /// use qwebsocket::{ssl::SslConfiguration, SocketState};
    /// let mut tls = SslConfiguration::default();
    /// tls.add_ca_certificates_pem(CERT).unwrap();
    /// tls.set_peer_verify_name(Some("doc.example"));
    /// let ws = WebSocket::new(reactor.event_loop());
    /// ws.set_ssl_configuration(tls);
    /// ws.open("wss://10.0.0.1/").unwrap(); // the certificate names doc.example, not 10.0.0.1
    /// reactor.run_until_idle();
    /// assert_eq!(ws.state(), SocketState::Connected);
    /// ```
    pub fn set_peer_verify_name(&mut self, name: Option<&str>) {
        self.verify_name = name.map(str::to_owned);
    }

    /// The peer verify name, if set (`None` by default: the URL's host).
    ///
    /// ```
    /// use qwebsocket::ssl::SslConfiguration;
    /// let mut tls = SslConfiguration::default();
    /// assert_eq!(tls.peer_verify_name(), None);
    /// tls.set_peer_verify_name(Some("api.example"));
    /// assert_eq!(tls.peer_verify_name(), Some("api.example"));
    /// ```
    pub fn peer_verify_name(&self) -> Option<&str> {
        self.verify_name.as_deref()
    }

    /// Sets the TLS versions allowed (both 1.2 and 1.3 by default). The
    /// handshake fails if the peer allows none of them.
    ///
    /// ```
    /// # const CERT: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/doc.example.pem"));
    /// # const KEY: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/doc.example.key"));
    /// # use qwebsocket::{testing::FakeReactor, SslMode, WebSocket, WebSocketServer};
    /// # let reactor = FakeReactor::new();
    /// # reactor.add_host("doc.example", "10.0.0.1".parse().unwrap());
    /// # let server = WebSocketServer::new(reactor.event_loop(), "", SslMode::SecureMode);
    /// # let mut server_tls = SslConfiguration::default();
    /// # server_tls.set_local_certificate_pem(CERT, KEY).unwrap();
    /// # server.set_ssl_configuration(server_tls);
    /// # server.listen("10.0.0.1".parse().unwrap(), 443).unwrap();
    /// // `server` serves wss://doc.example (10.0.0.1) on a fake network, with a
    /// // self-signed certificate, CERT (see `qwebsocket::testing`).
    /// use qwebsocket::ssl::{SslConfiguration, SslProtocol};
    /// let mut tls = SslConfiguration::default();
    /// tls.add_ca_certificates_pem(CERT).unwrap();
    /// tls.set_protocol(SslProtocol::TlsV1_2);
    /// let ws = WebSocket::new(reactor.event_loop());
    /// ws.set_ssl_configuration(tls);
    /// ws.open("wss://doc.example/").unwrap();
    /// reactor.run_until_idle();
    /// assert_eq!(ws.ssl_configuration().session_protocol(), Some("TLSv1_2"));
    /// ```
    pub fn set_protocol(&mut self, protocol: SslProtocol) {
        self.protocol = protocol;
    }

    /// The TLS versions allowed ([`SslProtocol::TlsV1_2OrLater`] by default).
    ///
    /// ```
    /// use qwebsocket::ssl::{SslConfiguration, SslProtocol};
    /// let mut tls = SslConfiguration::default();
    /// assert_eq!(tls.protocol(), SslProtocol::TlsV1_2OrLater);
    /// tls.set_protocol(SslProtocol::TlsV1_3);
    /// assert_eq!(tls.protocol(), SslProtocol::TlsV1_3);
    /// ```
    pub fn protocol(&self) -> SslProtocol {
        self.protocol
    }

    /// Makes each certificate error interrupt the handshake with
    /// `handshake_interrupted_on_error`, until the slot calls
    /// [`WebSocket::continue_interrupted_handshake`](crate::WebSocket::continue_interrupted_handshake)
    /// (Qt's `setHandshakeMustInterruptOnError`); a slot that does not call
    /// it makes the handshake fail at once, without `ssl_errors`. On a server,
    /// see [`WebSocketServer::handshake_interrupted_on_error`](crate::WebSocketServer::handshake_interrupted_on_error).
    /// Default off.
    ///
    /// ```
    /// # const CERT: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/doc.example.pem"));
    /// # const KEY: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/doc.example.key"));
    /// # use qwebsocket::{testing::FakeReactor, SslMode, WebSocket, WebSocketServer};
    /// # let reactor = FakeReactor::new();
    /// # reactor.add_host("doc.example", "10.0.0.1".parse().unwrap());
    /// # let server = WebSocketServer::new(reactor.event_loop(), "", SslMode::SecureMode);
    /// # let mut server_tls = SslConfiguration::default();
    /// # server_tls.set_local_certificate_pem(CERT, KEY).unwrap();
    /// # server.set_ssl_configuration(server_tls);
    /// # server.listen("10.0.0.1".parse().unwrap(), 443).unwrap();
    /// // `server` serves wss://doc.example (10.0.0.1) on a fake network, with a
    /// // self-signed certificate, CERT (see `qwebsocket::testing`).
    /// use qwebsocket::{ssl::SslConfiguration, SocketError};
    /// use std::{cell::RefCell, rc::Rc};
    /// let mut tls = SslConfiguration::default();
    /// tls.set_handshake_must_interrupt_on_error(true);
    /// let ws = WebSocket::new(reactor.event_loop());
    /// ws.set_ssl_configuration(tls);
    /// let stops = Rc::new(RefCell::new(Vec::new()));
    /// let s = stops.clone();
    /// ws.handshake_interrupted_on_error().connect(move |_, e| s.borrow_mut().push(e.to_string()));
    /// ws.ssl_errors().connect(|_, _| panic!("not reached: the slot did not continue"));
    /// ws.open("wss://doc.example/").unwrap(); // does not trust the server
    /// reactor.run_until_idle();
    /// assert_eq!(*stops.borrow(), ["The certificate is self-signed, and untrusted"]);
    /// assert_eq!(ws.error(), SocketError::SslHandshakeFailed);
    /// ```
    pub fn set_handshake_must_interrupt_on_error(&mut self, on: bool) {
        self.interrupt_on_error = on;
    }

    /// Whether certificate errors interrupt the handshake (false by default).
    ///
    /// ```
    /// use qwebsocket::ssl::SslConfiguration;
    /// let mut tls = SslConfiguration::default();
    /// assert!(!tls.handshake_must_interrupt_on_error());
    /// tls.set_handshake_must_interrupt_on_error(true);
    /// assert!(tls.handshake_must_interrupt_on_error());
    /// ```
    pub fn handshake_must_interrupt_on_error(&self) -> bool {
        self.interrupt_on_error
    }

    /// After a TLS handshake, in the configuration the socket returns from
    /// [`WebSocket::ssl_configuration`](crate::WebSocket::ssl_configuration):
    /// the chain the peer presented (leaf first), as presented. Empty before
    /// a handshake and in a configuration you build.
    ///
    /// ```
    /// # const CERT: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/doc.example.pem"));
    /// # const KEY: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/doc.example.key"));
    /// # use qwebsocket::{testing::FakeReactor, SslMode, WebSocket, WebSocketServer};
    /// # let reactor = FakeReactor::new();
    /// # reactor.add_host("doc.example", "10.0.0.1".parse().unwrap());
    /// # let server = WebSocketServer::new(reactor.event_loop(), "", SslMode::SecureMode);
    /// # let mut server_tls = SslConfiguration::default();
    /// # server_tls.set_local_certificate_pem(CERT, KEY).unwrap();
    /// # server.set_ssl_configuration(server_tls);
    /// # server.listen("10.0.0.1".parse().unwrap(), 443).unwrap();
    /// // `server` serves wss://doc.example (10.0.0.1) on a fake network, with a
    /// // self-signed certificate, CERT (see `qwebsocket::testing`).
    /// use qwebsocket::ssl::{Certificate, SslConfiguration};
    /// let mut tls = SslConfiguration::default();
    /// tls.add_ca_certificates_pem(CERT).unwrap();
    /// let ws = WebSocket::new(reactor.event_loop());
    /// ws.set_ssl_configuration(tls);
    /// assert!(ws.ssl_configuration().peer_certificate_chain().is_empty());
    /// ws.open("wss://doc.example/").unwrap();
    /// reactor.run_until_idle();
    /// let chain = ws.ssl_configuration().peer_certificate_chain().to_vec();
    /// assert_eq!(chain, Certificate::from_pem(CERT).unwrap());
    /// ```
    pub fn peer_certificate_chain(&self) -> &[Certificate] {
        &self.peer_chain
    }

    /// After a TLS handshake, in the socket's
    /// [`WebSocket::ssl_configuration`](crate::WebSocket::ssl_configuration):
    /// the negotiated version, `"TLSv1_2"` or `"TLSv1_3"`. `None` before.
    ///
    /// ```
    /// # const CERT: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/doc.example.pem"));
    /// # const KEY: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/doc.example.key"));
    /// # use qwebsocket::{testing::FakeReactor, SslMode, WebSocket, WebSocketServer};
    /// # let reactor = FakeReactor::new();
    /// # reactor.add_host("doc.example", "10.0.0.1".parse().unwrap());
    /// # let server = WebSocketServer::new(reactor.event_loop(), "", SslMode::SecureMode);
    /// # let mut server_tls = SslConfiguration::default();
    /// # server_tls.set_local_certificate_pem(CERT, KEY).unwrap();
    /// # server.set_ssl_configuration(server_tls);
    /// # server.listen("10.0.0.1".parse().unwrap(), 443).unwrap();
    /// // `server` serves wss://doc.example (10.0.0.1) on a fake network, with a
    /// // self-signed certificate, CERT (see `qwebsocket::testing`).
    /// use qwebsocket::ssl::SslConfiguration;
    /// let mut tls = SslConfiguration::default();
    /// tls.add_ca_certificates_pem(CERT).unwrap();
    /// let ws = WebSocket::new(reactor.event_loop());
    /// ws.set_ssl_configuration(tls);
    /// assert_eq!(ws.ssl_configuration().session_protocol(), None);
    /// ws.open("wss://doc.example/").unwrap();
    /// reactor.run_until_idle();
    /// assert_eq!(ws.ssl_configuration().session_protocol(), Some("TLSv1_3"));
    /// ```
    pub fn session_protocol(&self) -> Option<&str> {
        self.session_protocol.as_deref()
    }

    /// After a TLS handshake, in the socket's
    /// [`WebSocket::ssl_configuration`](crate::WebSocket::ssl_configuration):
    /// the negotiated cipher suite by its IANA name in rustls' spelling,
    /// e.g. `"TLS13_AES_256_GCM_SHA384"` or
    /// `"TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"` (TLS 1.2). `None` before.
    ///
    /// ```
    /// # const CERT: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/doc.example.pem"));
    /// # const KEY: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/doc.example.key"));
    /// # use qwebsocket::{testing::FakeReactor, SslMode, WebSocket, WebSocketServer};
    /// # let reactor = FakeReactor::new();
    /// # reactor.add_host("doc.example", "10.0.0.1".parse().unwrap());
    /// # let server = WebSocketServer::new(reactor.event_loop(), "", SslMode::SecureMode);
    /// # let mut server_tls = SslConfiguration::default();
    /// # server_tls.set_local_certificate_pem(CERT, KEY).unwrap();
    /// # server.set_ssl_configuration(server_tls);
    /// # server.listen("10.0.0.1".parse().unwrap(), 443).unwrap();
    /// // `server` serves wss://doc.example (10.0.0.1) on a fake network, with a
    /// // self-signed certificate, CERT (see `qwebsocket::testing`).
    /// use qwebsocket::ssl::SslConfiguration;
    /// let mut tls = SslConfiguration::default();
    /// tls.add_ca_certificates_pem(CERT).unwrap();
    /// let ws = WebSocket::new(reactor.event_loop());
    /// ws.set_ssl_configuration(tls);
    /// ws.open("wss://doc.example/").unwrap();
    /// reactor.run_until_idle();
    /// let cipher = ws.ssl_configuration().session_cipher().unwrap().to_owned();
    /// assert!(cipher.starts_with("TLS13_"), "{cipher}");
    /// ```
    pub fn session_cipher(&self) -> Option<&str> {
        self.session_cipher.as_deref()
    }

    pub(crate) fn record_session(&mut self, conn: &rustls::CommonState) {
        self.peer_chain = conn
            .peer_certificates()
            .map(|c| {
                c.iter()
                    .map(|c| Certificate::from_der(c.to_vec()))
                    .collect()
            })
            .unwrap_or_default();
        self.session_protocol = conn.protocol_version().map(|v| format!("{v:?}"));
        self.session_cipher = conn
            .negotiated_cipher_suite()
            .map(|s| format!("{:?}", s.suite()));
    }

    fn versions(&self) -> &'static [&'static rustls::SupportedProtocolVersion] {
        static TLS12: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS12];
        static TLS13: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13];
        match self.protocol {
            SslProtocol::TlsV1_2 => TLS12,
            SslProtocol::TlsV1_3 => TLS13,
            SslProtocol::TlsV1_2OrLater => rustls::ALL_VERSIONS,
        }
    }

    pub(crate) fn roots(&self) -> rustls::RootCertStore {
        let mut roots = rustls::RootCertStore::empty();
        if self.default_roots {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        for c in &self.ca_certificates {
            // A CA certificate that cannot be parsed is skipped (and logged).
            if let Err(e) = roots.add(c.as_der()) {
                log::warn!("ignoring an unusable CA certificate: {e}");
            }
        }
        roots
    }

    /// The client side: a rustls configuration whose verifier records errors
    /// into `found` instead of failing.
    pub(crate) fn client_config(
        &self,
        found: Arc<Mutex<Vec<SslError>>>,
    ) -> Result<Arc<rustls::ClientConfig>, SslConfigError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = Arc::new(RecordingVerifier {
            roots: Arc::new(self.roots()),
            mode: self.verify_mode,
            found,
            provider: provider.clone(),
        });
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(self.versions())
            .map_err(|e| SslConfigError(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let mut config = match &self.private_key {
            Some(key) if !self.local_chain.is_empty() => builder
                .with_client_auth_cert(
                    self.local_chain.iter().map(Certificate::as_der).collect(),
                    key.key(),
                )
                .map_err(|e| SslConfigError(format!("unusable client certificate: {e}")))?,
            _ => builder.with_no_client_auth(),
        };
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }

    /// The server side, from our chain and key.
    pub(crate) fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, SslConfigError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = self.private_key.as_ref().ok_or_else(|| {
            SslConfigError("a secure server needs a certificate chain and a private key".into())
        })?;
        if self.local_chain.is_empty() {
            return Err(SslConfigError(
                "a secure server needs a certificate chain".into(),
            ));
        }
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(self.versions())
            .map_err(|e| SslConfigError(e.to_string()))?;
        let builder = match self.verify_mode {
            PeerVerifyMode::VerifyNone | PeerVerifyMode::AutoVerifyPeer => {
                builder.with_no_client_auth()
            }
            PeerVerifyMode::QueryPeer => {
                // Ask for a certificate, accept any (or none); the socket checks
                // it after the handshake and reports problems without failing.
                builder.with_client_cert_verifier(Arc::new(QueryClientVerifier { provider }))
            }
            PeerVerifyMode::VerifyPeer => {
                let roots = Arc::new(self.roots());
                let v =
                    rustls::server::WebPkiClientVerifier::builder_with_provider(roots, provider)
                        .build()
                        .map_err(|e| SslConfigError(format!("cannot verify clients: {e}")))?;
                builder.with_client_cert_verifier(v)
            }
        };
        let mut config = builder
            .with_single_cert(
                self.local_chain.iter().map(Certificate::as_der).collect(),
                key.key(),
            )
            .map_err(|e| SslConfigError(format!("unusable server certificate: {e}")))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

/// The name to verify and send as SNI for `host`.
pub(crate) fn server_name(
    config: &SslConfiguration,
    host: &str,
) -> Result<ServerName<'static>, SslConfigError> {
    let name = config.verify_name.as_deref().unwrap_or(host);
    let name = name.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(name.to_owned())
        .map_err(|_| SslConfigError(format!("{name:?} is not a valid server name")))
}

/// Verifies like webpki, but records every problem instead of failing, so
/// that the socket can report all of them and let the application decide.
#[derive(Debug)]
struct RecordingVerifier {
    roots: Arc<rustls::RootCertStore>,
    mode: PeerVerifyMode,
    found: Arc<Mutex<Vec<SslError>>>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

fn map_webpki(e: &webpki::Error) -> SslErrorKind {
    use webpki::Error as E;
    match e {
        E::UnknownIssuer => SslErrorKind::UnableToGetLocalIssuerCertificate,
        E::CertExpired { .. } => SslErrorKind::CertificateExpired,
        E::CertNotValidYet { .. } => SslErrorKind::CertificateNotYetValid,
        E::CertNotValidForName(_) => SslErrorKind::HostNameMismatch,
        E::CertRevoked => SslErrorKind::CertificateRevoked,
        E::InvalidSignatureForPublicKey => SslErrorKind::CertificateSignatureFailed,
        E::CaUsedAsEndEntity | E::EndEntityUsedAsCa => SslErrorKind::InvalidCaCertificate,
        E::PathLenConstraintViolated => SslErrorKind::PathLengthExceeded,
        E::RequiredEkuNotFoundContext(_) => SslErrorKind::InvalidPurpose,
        E::CertDistrusted => SslErrorKind::CertificateUntrusted,
        _ => SslErrorKind::UnspecifiedError,
    }
}

/// Every problem of a server (or client) certificate chain: the host name,
/// then trust, then dates. Trust is judged at a time when every presented
/// certificate is valid, so that an expired certificate never hides an
/// untrusted one (ignoring `CertificateExpired` must not accept a stranger).
pub(crate) fn chain_errors(
    end_entity: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
    name: Option<&ServerName<'_>>,
    roots: &rustls::RootCertStore,
    now: UnixTime,
    usage: webpki::KeyUsage,
    algs: &[&dyn rustls::pki_types::SignatureVerificationAlgorithm],
) -> Vec<SslError> {
    let leaf = Certificate::from_der(end_entity.to_vec());
    let with_leaf = |kind| SslError::new(kind, Some(leaf.clone()));
    let cert = match webpki::EndEntityCert::try_from(end_entity) {
        Ok(c) => c,
        Err(_) => return vec![with_leaf(SslErrorKind::UnspecifiedError)],
    };
    let mut errors = Vec::new();
    if let Some(name) = name {
        if cert.verify_is_valid_for_subject_name(name).is_err() {
            errors.push(with_leaf(SslErrorKind::HostNameMismatch));
        }
    }
    let verify = |anchors: &[rustls::pki_types::TrustAnchor<'_>],
                  inter: &[CertificateDer<'_>],
                  at: UnixTime| {
        cert.verify_for_usage(algs, anchors, inter, at, usage, None, None)
            .map(|_| ())
    };
    if verify(&roots.roots, intermediates, now).is_ok() {
        return errors;
    }
    // 1. Trust, judged when every presented certificate is valid.
    let is_time = |e: &webpki::Error| {
        matches!(
            e,
            webpki::Error::CertExpired { .. } | webpki::Error::CertNotValidYet { .. }
        )
    };
    let when_valid = std::iter::once(end_entity)
        .chain(intermediates.iter())
        .map(|c| validity(c.as_ref()).map(|(from, _)| from))
        .try_fold(0u64, |acc, from| from.map(|f| acc.max(f)))
        .map(|from| {
            UnixTime::since_unix_epoch(std::time::Duration::from_secs(from.saturating_add(1)))
        });
    let trust = match when_valid {
        Some(t) => verify(&roots.roots, intermediates, t),
        None => Err(webpki::Error::UnknownIssuer),
    };
    match trust {
        Ok(()) => {}
        Err(e) if matches!(e, webpki::Error::UnknownIssuer) || is_time(&e) => {
            let t = when_valid.unwrap_or(now);
            let self_anchor: Vec<_> = webpki::anchor_from_trusted_cert(end_entity)
                .map(|a| vec![a.to_owned()])
                .unwrap_or_default();
            let kind = if is_self_issued(end_entity) && verify(&self_anchor, &[], t).is_ok() {
                SslErrorKind::SelfSignedCertificate
            } else if intermediates.last().is_some_and(|top| {
                is_self_issued(top)
                    && webpki::anchor_from_trusted_cert(top)
                        .map(|a| verify(&[a.to_owned()], intermediates, t).is_ok())
                        .unwrap_or(false)
            }) {
                SslErrorKind::SelfSignedCertificateInChain
            } else {
                SslErrorKind::UnableToGetLocalIssuerCertificate
            };
            errors.push(with_leaf(kind));
        }
        Err(e) => errors.push(with_leaf(map_webpki(&e))),
    }
    // 2. Dates, judged against the chain itself.
    let mut anchors = Vec::new();
    for c in std::iter::once(end_entity).chain(intermediates.iter()) {
        if let Ok(a) = webpki::anchor_from_trusted_cert(c) {
            anchors.push(a.to_owned());
        }
    }
    anchors.extend(roots.roots.iter().cloned());
    if let Err(e) = verify(&anchors, intermediates, now) {
        if is_time(&e) {
            errors.push(with_leaf(map_webpki(&e)));
        }
    }
    if errors.is_empty() {
        // Something failed that none of the checks above could name.
        errors.push(with_leaf(SslErrorKind::CertificateUntrusted));
    }
    errors
}

/// True when a certificate's issuer is its subject.
fn is_self_issued(der: &CertificateDer<'_>) -> bool {
    webpki::EndEntityCert::try_from(der).is_ok_and(|c| c.issuer() == c.subject())
}

/// One DER element: (tag, contents, rest).
fn der_next(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// A certificate's validity (notBefore, notAfter) in seconds since 1970.
fn validity(der: &[u8]) -> Option<(u64, u64)> {
    let (_, cert, _) = der_next(der)?; // Certificate
    let (_, tbs, _) = der_next(cert)?; // TBSCertificate
    let mut rest = tbs;
    let (tag, _, r) = der_next(rest)?;
    // After an explicit [0] version comes the serial number; without one,
    // what was just read was the serial number.
    rest = if tag == 0xa0 { der_next(r)?.2 } else { r };
    let (_, _, r) = der_next(rest)?; // signature algorithm
    let (_, _, r) = der_next(r)?; // issuer
    let (_, validity, _) = der_next(r)?;
    let (t1, nb, r) = der_next(validity)?;
    let (t2, na, _) = der_next(r)?;
    Some((der_time(t1, nb)?, der_time(t2, na)?))
}

/// UTCTime (0x17) or GeneralizedTime (0x18) in UTC, to seconds since 1970.
fn der_time(tag: u8, s: &[u8]) -> Option<u64> {
    let s = std::str::from_utf8(s).ok()?.strip_suffix('Z')?;
    let (year, rest) = match tag {
        0x17 => {
            let yy: i64 = s.get(..2)?.parse().ok()?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, s.get(2..)?)
        }
        0x18 => (s.get(..4)?.parse().ok()?, s.get(4..)?),
        _ => return None,
    };
    let num = |r: std::ops::Range<usize>| -> Option<i64> { rest.get(r)?.parse().ok() };
    let (month, day, hour, min, sec) =
        (num(0..2)?, num(2..4)?, num(4..6)?, num(6..8)?, num(8..10)?);
    // Days from the civil date (proleptic Gregorian calendar).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400 + hour * 3600 + min * 60 + sec).ok()
}

/// `QueryPeer` on a server: asks for a client certificate and lets the
/// handshake go on whatever it is (its signature over the handshake is still
/// checked); the chain is judged afterwards.
#[derive(Debug)]
struct QueryClientVerifier {
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl rustls::server::danger::ClientCertVerifier for QueryClientVerifier {
    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<rustls::server::danger::ClientCertVerified, rustls::Error> {
        Ok(rustls::server::danger::ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The problems of a client's certificate chain (server side, `QueryPeer`).
pub(crate) fn client_chain_errors(
    config: &SslConfiguration,
    chain: &[CertificateDer<'_>],
) -> Vec<SslError> {
    let Some((leaf, rest)) = chain.split_first() else {
        return Vec::new();
    };
    chain_errors(
        leaf,
        rest,
        None,
        &config.roots(),
        UnixTime::now(),
        webpki::KeyUsage::client_auth(),
        webpki::ALL_VERIFICATION_ALGS,
    )
}

impl rustls::client::danger::ServerCertVerifier for RecordingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        if self.mode != PeerVerifyMode::VerifyNone {
            let errors = chain_errors(
                end_entity,
                intermediates,
                Some(server_name),
                &self.roots,
                now,
                webpki::KeyUsage::server_auth(),
                webpki::ALL_VERIFICATION_ALGS,
            );
            if let Ok(mut found) = self.found.lock() {
                found.extend(errors);
            }
        }
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// How grave a TLS alert is (Qt's `QSsl::AlertLevel`).
///
/// ```
/// use qwebsocket::ssl::AlertLevel;
/// assert_ne!(AlertLevel::Warning, AlertLevel::Fatal);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AlertLevel {
    /// A warning (in practice: `close_notify`, the orderly end of a session).
    Warning,
    /// A fatal alert: the TLS session is over.
    Fatal,
}

/// A TLS alert sent or received (Qt's `alertSent` / `alertReceived`
/// arguments). rustls tells about the alerts it receives and about the
/// errors that make it send one; `code` is the TLS AlertDescription value.
///
/// ```
/// use qwebsocket::ssl::{AlertLevel, SslAlert};
/// let a = SslAlert::close_notify();
/// assert_eq!((a.level, a.code, a.description.as_str()), (AlertLevel::Warning, 0, "CloseNotify"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SslAlert {
    /// Warning or fatal.
    pub level: AlertLevel,
    /// The AlertDescription code (RFC 8446 §6), e.g. 42 for bad_certificate.
    pub code: u8,
    /// Its name, e.g. `"BadCertificate"`.
    pub description: String,
}

impl SslAlert {
    /// The `close_notify` warning (code 0), which ends a TLS session in
    /// order; [`WebSocket::alert_sent`](crate::WebSocket::alert_sent) reports
    /// it when a `wss://` connection ends.
    ///
    /// ```
    /// use qwebsocket::ssl::{AlertLevel, SslAlert};
    /// let alert = SslAlert::close_notify();
    /// assert_eq!(alert.level, AlertLevel::Warning);
    /// assert_eq!(alert.code, 0);
    /// assert_eq!(alert.description, "CloseNotify");
    /// ```
    pub fn close_notify() -> SslAlert {
        SslAlert::from_description(rustls::AlertDescription::CloseNotify)
    }

    pub(crate) fn from_description(d: rustls::AlertDescription) -> SslAlert {
        let level = if d == rustls::AlertDescription::CloseNotify {
            AlertLevel::Warning
        } else {
            AlertLevel::Fatal
        };
        SslAlert {
            level,
            code: u8::from(d),
            description: format!("{d:?}"),
        }
    }

    /// The alert rustls sends when it fails with `e`, as far as it can be known.
    pub(crate) fn sent_for(e: &rustls::Error) -> Option<SslAlert> {
        use rustls::AlertDescription as A;
        let d = match e {
            rustls::Error::AlertReceived(_) => return None,
            rustls::Error::InvalidCertificate(c) => A::from(c.clone()),
            rustls::Error::InvalidMessage(m) => A::from(*m),
            rustls::Error::NoCertificatesPresented => A::CertificateRequired,
            rustls::Error::PeerIncompatible(_) => A::HandshakeFailure,
            rustls::Error::DecryptError => A::BadRecordMac,
            _ => A::InternalError,
        };
        Some(SslAlert::from_description(d))
    }

    /// The alert the peer sent, if `e` says it sent one.
    pub(crate) fn received_in(e: &rustls::Error) -> Option<SslAlert> {
        match e {
            rustls::Error::AlertReceived(d) => Some(SslAlert::from_description(*d)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validity_is_read_from_the_certificate() {
        let mut p = rcgen::CertificateParams::new(vec!["a.test".to_owned()]).unwrap();
        p.not_before = rcgen::date_time_ymd(2001, 1, 1);
        p.not_after = rcgen::date_time_ymd(2051, 6, 30);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = p.self_signed(&key).unwrap();
        // 2001-01-01 = 978307200; 2051-06-30 = 2571696000 (GeneralizedTime after 2049).
        assert_eq!(validity(cert.der()), Some((978_307_200, 2_571_696_000)));
    }

    #[test]
    fn validity_of_garbage_is_none() {
        assert_eq!(validity(&[0x30, 0x03, 0x02, 0x01]), None);
        assert_eq!(validity(&[]), None);
    }

    #[test]
    fn utc_time_years_wrap_at_1950() {
        assert_eq!(der_time(0x17, b"491231235959Z"), Some(2_524_607_999));
        assert_eq!(der_time(0x17, b"700101000000Z"), Some(0));
        assert_eq!(der_time(0x18, b"19700101000000"), None);
    }
}
