//! Certificates made at test time with rcgen: a private CA and leaves.

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
    date_time_ymd,
};

/// A private certificate authority.
pub struct Ca {
    pub issuer: CertifiedIssuer<'static, KeyPair>,
    pub pem: String,
}

/// A certificate chain (PEM, leaf first) and its key (PEM).
pub struct Leaf {
    pub chain_pem: String,
    pub key_pem: String,
}

impl Ca {
    pub fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        let pem = issuer.pem();
        Ca { issuer, pem }
    }

    /// A leaf for `names` (DNS names or IP addresses) valid now.
    pub fn leaf(&self, names: &[&str]) -> Leaf {
        self.leaf_with(names, |_| {})
    }

    /// A leaf with its parameters adjusted by `tweak` (dates, for instance).
    pub fn leaf_with(&self, names: &[&str], tweak: impl FnOnce(&mut CertificateParams)) -> Leaf {
        let mut params =
            CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, names.first().copied().unwrap_or("leaf"));
        tweak(&mut params);
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            chain_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    /// An intermediate CA signed by this one.
    pub fn intermediate(&self, name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let issuer =
            CertifiedIssuer::signed_by(params, KeyPair::generate().unwrap(), &self.issuer).unwrap();
        let pem = issuer.pem();
        Ca { issuer, pem }
    }
}

/// A self-signed leaf for `names`.
pub fn self_signed(names: &[&str]) -> Leaf {
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        .unwrap()
        .self_signed(&key)
        .unwrap();
    Leaf {
        chain_pem: cert.pem(),
        key_pem: key.serialize_pem(),
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
