//! The docker endpoint's certificate and key (`docker --tls`), made with rcgen.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use rcgen::{CertificateParams, DnType, KeyPair, SanType};

use super::{Doing, VchError};

/// A PEM certificate and its PEM private key.
pub struct CertPair {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The private key, PEM. Never printed.
    pub key_pem: String,
}

impl std::fmt::Debug for CertPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertPair")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"<redacted>")
            .finish()
    }
}

/// A self-signed certificate for the VCH `name`, valid for `name`, `localhost`,
/// 127.0.0.1 and `addresses`, with a fresh ECDSA P-256 key.
pub fn generate(name: &str, addresses: &[IpAddr]) -> Result<CertPair, VchError> {
    let bad = |e: rcgen::Error| VchError::Invalid(format!("cannot make a certificate: {e}"));
    let mut params =
        CertificateParams::new(vec![name.to_string(), "localhost".to_string()]).map_err(bad)?;
    params.distinguished_name.push(DnType::CommonName, name);
    params
        .subject_alt_names
        .push(SanType::IpAddress(IpAddr::from([127, 0, 0, 1])));
    for ip in addresses {
        params.subject_alt_names.push(SanType::IpAddress(*ip));
    }
    let key = KeyPair::generate().map_err(bad)?;
    let cert = params.self_signed(&key).map_err(bad)?;
    Ok(CertPair {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// A TLS acceptor serving the PEM certificate (chain) `cert_pem` with the PEM private
/// key `key_pem`. An error says which part is wrong (`certificate: …`, `key: …`,
/// `TLS settings: …`, `certificate and key: …`); it never holds the key.
pub fn acceptor(cert_pem: &[u8], key_pem: &[u8]) -> Result<tokio_rustls::TlsAcceptor, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("certificate: {e}"))?;
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| format!("key: {e}"))?;
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS settings: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("certificate and key: {e}"))?;
    Ok(tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config)))
}

/// `DIR/NAME-cert.pem` and `DIR/NAME-key.pem`.
pub fn paths(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    (
        dir.join(format!("{name}-cert.pem")),
        dir.join(format!("{name}-key.pem")),
    )
}

/// Writes the pair; the key file is readable by its owner only. Existing files are
/// not overwritten.
pub fn write(pair: &CertPair, cert: &Path, key: &Path) -> Result<(), VchError> {
    use std::io::Write;
    let open = |p: &Path, mode: u32| {
        let mut o = std::fs::OpenOptions::new();
        o.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            o.mode(mode);
        }
        #[cfg(not(unix))]
        let _ = mode;
        o.open(p)
    };
    open(key, 0o600)
        .and_then(|mut f| f.write_all(pair.key_pem.as_bytes()))
        .doing(format!("writing {}", key.display()))?;
    open(cert, 0o644)
        .and_then(|mut f| f.write_all(pair.cert_pem.as_bytes()))
        .doing(format!("writing {}", cert.display()))?;
    Ok(())
}

/// The docker client's certificate directory for the VCH, `DIR/NAME` (what
/// `DOCKER_CERT_PATH` names): its `ca.pem` is the VCH's self-signed certificate, so
/// that `docker --tls` (which loads `ca.pem` from there) connects, and
/// `docker --tlsverify` checks the endpoint against it.
pub fn cert_dir(dir: &Path, name: &str) -> PathBuf {
    dir.join(name)
}

/// Creates [`cert_dir`] with its `ca.pem`; an existing directory is refused.
pub fn write_cert_dir(pair: &CertPair, cert_dir: &Path) -> Result<(), VchError> {
    std::fs::create_dir(cert_dir).doing(format!("creating {}", cert_dir.display()))?;
    std::fs::write(cert_dir.join("ca.pem"), &pair.cert_pem)
        .doing(format!("writing {}/ca.pem", cert_dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pair_is_pem_and_key_stays_private() {
        let pair = generate("VCH001", &[]).unwrap();
        assert!(pair.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(pair.key_pem.contains("PRIVATE KEY"));
        assert!(!format!("{pair:?}").contains("PRIVATE KEY"));
        let dir = std::env::temp_dir().join(format!("vch-cert-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (c, k) = paths(&dir, "VCH001");
        let _ = std::fs::remove_file(&c);
        let _ = std::fs::remove_file(&k);
        write(&pair, &c, &k).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&k).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "key readable by others: {mode:o}");
        }
        assert!(write(&pair, &c, &k).is_err(), "must not overwrite");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
