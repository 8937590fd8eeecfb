//! Certificates made at test time with rcgen: a private CA, intermediates
//! and leaves (valid, expired, not yet valid, self-signed).

// Each test binary uses its own subset of these helpers.
#![allow(dead_code)]

use qwebsocket::ssl::SslConfiguration;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
    date_time_ymd,
};

/// A private certificate authority (a root, or an intermediate).
pub struct Ca {
    pub issuer: CertifiedIssuer<'static, KeyPair>,
    /// Its own certificate (PEM).
    pub pem: String,
    /// Its own certificate (DER).
    pub der: Vec<u8>,
}

/// A certificate chain (PEM, leaf first) and its key (PEM).
pub struct Leaf {
    pub chain_pem: String,
    pub key_pem: String,
    /// The leaf certificate alone (DER).
    pub der: Vec<u8>,
}

impl Leaf {
    /// A default configuration presenting this chain and key (a server's).
    pub fn server_config(&self) -> SslConfiguration {
        let mut config = SslConfiguration::default();
        config
            .set_local_certificate_pem(self.chain_pem.as_bytes(), self.key_pem.as_bytes())
            .unwrap();
        config
    }

    /// The same leaf with `issuer_pem` (an intermediate, or a root) appended
    /// to the chain it presents.
    pub fn with_chain(mut self, issuer_pem: &str) -> Leaf {
        if !self.chain_pem.ends_with('\n') {
            self.chain_pem.push('\n');
        }
        self.chain_pem.push_str(issuer_pem);
        self
    }
}

fn ca_params(name: &str) -> CertificateParams {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params
}

fn leaf_params(names: &[&str]) -> CertificateParams {
    // rcgen makes an IP address SAN of a name that parses as an address.
    let mut params =
        CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, names.first().copied().unwrap_or("leaf"));
    params
}

impl Ca {
    pub fn new(name: &str) -> Ca {
        let issuer =
            CertifiedIssuer::self_signed(ca_params(name), KeyPair::generate().unwrap()).unwrap();
        let pem = issuer.pem();
        let der = issuer.der().to_vec();
        Ca { issuer, pem, der }
    }

    /// A leaf for `names` (DNS names or IP addresses) valid now.
    pub fn leaf(&self, names: &[&str]) -> Leaf {
        self.leaf_with(names, |_| {})
    }

    /// A leaf with its parameters adjusted by `tweak` (dates, for instance).
    pub fn leaf_with(&self, names: &[&str], tweak: impl FnOnce(&mut CertificateParams)) -> Leaf {
        let mut params = leaf_params(names);
        tweak(&mut params);
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            chain_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().to_vec(),
        }
    }

    /// An intermediate CA signed by this one.
    pub fn intermediate(&self, name: &str) -> Ca {
        let issuer =
            CertifiedIssuer::signed_by(ca_params(name), KeyPair::generate().unwrap(), &self.issuer)
                .unwrap();
        let pem = issuer.pem();
        let der = issuer.der().to_vec();
        Ca { issuer, pem, der }
    }
}

/// A self-signed leaf for `names`.
pub fn self_signed(names: &[&str]) -> Leaf {
    self_signed_with(names, |_| {})
}

/// A self-signed leaf for `names`, its parameters adjusted by `tweak`.
pub fn self_signed_with(names: &[&str], tweak: impl FnOnce(&mut CertificateParams)) -> Leaf {
    let mut params = leaf_params(names);
    tweak(&mut params);
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    Leaf {
        chain_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        der: cert.der().to_vec(),
    }
}

/// Validity from 2001 to 2002: long expired.
pub fn expired(p: &mut CertificateParams) {
    p.not_before = date_time_ymd(2001, 1, 1);
    p.not_after = date_time_ymd(2002, 1, 1);
}

/// Validity from 2090 on: not valid yet.
pub fn not_yet_valid(p: &mut CertificateParams) {
    p.not_before = date_time_ymd(2090, 1, 1);
    p.not_after = date_time_ymd(2091, 1, 1);
}
