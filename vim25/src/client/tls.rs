//! TLS policy: system roots (plus an extra CA file), a pinned certificate thumbprint,
//! or an explicit insecure mode. Whatever the policy, the certificate the server
//! presented is remembered so that a refusal can show its thumbprints.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, Error as TlsError, SignatureScheme};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// How the server's certificate is checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum TlsPolicy {
    /// The system's trusted roots (the default).
    #[default]
    SystemRoots,
    /// The system's roots plus the PEM certificates in this file.
    ExtraCaFile(PathBuf),
    /// Accept exactly the certificate with this SHA-256 or SHA-1 thumbprint, in the
    /// colon-separated hex form govc prints (`AB:CD:…`; case and colons optional).
    Thumbprint(String),
    /// Accept any certificate. Only for lab servers: it defeats TLS.
    Insecure,
}

/// The SHA-256 and SHA-1 thumbprints of a DER certificate, colon-separated upper hex.
pub fn thumbprints(der: &[u8]) -> (String, String) {
    let sha256 = ring::digest::digest(&ring::digest::SHA256, der);
    let sha1 = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, der);
    (colon_hex(sha256.as_ref()), colon_hex(sha1.as_ref()))
}

fn colon_hex(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// A thumbprint reduced to bare upper hex, for comparison.
fn normalize(tp: &str) -> String {
    tp.chars()
        .filter(|c| c.is_ascii_hexdigit())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// What the last handshake presented, kept for error messages.
#[derive(Debug, Default)]
pub(crate) struct Presented {
    pub(crate) last: Mutex<Option<(String, String, String)>>,
}

#[derive(Debug)]
enum Check {
    WebPki(Arc<dyn ServerCertVerifier>),
    Pin(String),
    Insecure,
}

#[derive(Debug)]
struct Verifier {
    check: Check,
    provider: Arc<CryptoProvider>,
    presented: Arc<Presented>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, TlsError> {
        let (sha256, sha1) = thumbprints(end_entity.as_ref());
        let result = match &self.check {
            Check::Insecure => Ok(ServerCertVerified::assertion()),
            Check::Pin(pin) => {
                if *pin == normalize(&sha256) || *pin == normalize(&sha1) {
                    Ok(ServerCertVerified::assertion())
                } else {
                    Err(TlsError::General(
                        "certificate thumbprint does not match the pinned one".into(),
                    ))
                }
            }
            Check::WebPki(v) => v
                .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
                .map_err(|e| TlsError::General(format!("certificate not trusted: {e}"))),
        };
        if let Err(e) = &result {
            *self
                .presented
                .last
                .lock()
                .unwrap_or_else(|p| p.into_inner()) = Some((e.to_string(), sha256, sha1));
        }
        result
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
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
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Builds the rustls configuration for `policy`.
pub(crate) fn client_config(
    policy: &TlsPolicy,
    presented: Arc<Presented>,
) -> Result<rustls::ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let check = match policy {
        TlsPolicy::Insecure => Check::Insecure,
        TlsPolicy::Thumbprint(tp) => {
            let n = normalize(tp);
            if n.len() != 64 && n.len() != 40 {
                return Err(format!(
                    "thumbprint {tp:?} is neither SHA-256 (32 bytes) nor SHA-1 (20 bytes)"
                ));
            }
            Check::Pin(n)
        }
        TlsPolicy::SystemRoots | TlsPolicy::ExtraCaFile(_) => {
            let mut roots = rustls::RootCertStore::empty();
            let native = rustls_native_certs::load_native_certs();
            for c in native.certs {
                let _ = roots.add(c);
            }
            if let TlsPolicy::ExtraCaFile(path) = policy {
                let pem = std::fs::read(path)
                    .map_err(|e| format!("cannot read CA file {}: {e}", path.display()))?;
                let mut added = 0;
                for der in pem_certificates(&pem) {
                    roots
                        .add(CertificateDer::from(der))
                        .map_err(|e| format!("bad certificate in {}: {e}", path.display()))?;
                    added += 1;
                }
                if added == 0 {
                    return Err(format!("no PEM certificate in {}", path.display()));
                }
            }
            let v = rustls::client::WebPkiServerVerifier::builder_with_provider(
                Arc::new(roots),
                provider.clone(),
            )
            .build()
            .map_err(|e| format!("no usable trusted roots: {e}"))?;
            Check::WebPki(v)
        }
    };
    let verifier = Arc::new(Verifier {
        check,
        provider: provider.clone(),
        presented,
    });
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(cfg)
}

/// The DER bodies of the `CERTIFICATE` blocks of a PEM file.
fn pem_certificates(pem: &[u8]) -> Vec<Vec<u8>> {
    use base64::Engine;
    let text = String::from_utf8_lossy(pem);
    let mut out = Vec::new();
    let mut cur: Option<String> = None;
    for line in text.lines() {
        let line = line.trim();
        if line == "-----BEGIN CERTIFICATE-----" {
            cur = Some(String::new());
        } else if line == "-----END CERTIFICATE-----" {
            if let Some(b) = cur.take() {
                if let Ok(der) = base64::engine::general_purpose::STANDARD.decode(b) {
                    out.push(der);
                }
            }
        } else if let Some(b) = cur.as_mut() {
            b.push_str(line);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbprints_are_colon_hex() {
        let (s256, s1) = thumbprints(b"abc");
        assert_eq!(s256.len(), 32 * 3 - 1);
        assert_eq!(
            s1,
            "A9:99:3E:36:47:06:81:6A:BA:3E:25:71:78:50:C2:6C:9C:D0:D8:9D"
        );
        assert_eq!(normalize("a9:99:3e"), "A9993E");
    }

    #[test]
    fn bad_thumbprint_length_is_refused() {
        let err =
            client_config(&TlsPolicy::Thumbprint("AB:CD".into()), Default::default()).unwrap_err();
        assert!(err.contains("neither SHA-256"), "{err}");
    }
}
