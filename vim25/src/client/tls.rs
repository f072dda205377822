//! TLS policy: system roots (plus an extra CA file), a pinned certificate thumbprint,
//! or an explicit insecure mode. Whatever the policy, a refused certificate is
//! remembered with the reason, so that the request's error can say in plain words what
//! happened and what to do, with the thumbprints the server presented.

use super::legacy_rsa;
use crate::runtime::lock;
use crate::Error;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, Error as TlsError, SignatureScheme};
use std::fmt;
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
    /// colon-separated hex form govc prints (`AB:CD:…`; case and colons optional), or
    /// as a refusal shows it (`SHA256:AB:CD:…`, `SHA1:…`). A malformed thumbprint is
    /// refused with [`Error::InvalidInput`] when the transport is built.
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

/// The digest a thumbprint was taken with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Digest {
    Sha256,
    Sha1,
}

impl Digest {
    /// Hex digits of a thumbprint of this digest.
    fn hex_len(self) -> usize {
        match self {
            Digest::Sha256 => 64,
            Digest::Sha1 => 40,
        }
    }

    /// The prefix a pin may carry, as refusals print it.
    fn prefix(self) -> &'static str {
        match self {
            Digest::Sha256 => "SHA256",
            Digest::Sha1 => "SHA1",
        }
    }
}

/// A pinned thumbprint: its digest and its bare upper hex.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pin {
    digest: Digest,
    hex: String,
}

impl Pin {
    /// Parses `AB:CD:…` (case and colons optional) with an optional `SHA256:`/`SHA1:`
    /// prefix (`SHA-256:`/`SHA-1:` too); the length tells the digest when no prefix does.
    fn parse(tp: &str) -> Result<Pin, String> {
        const EXPECTED: &str = "expected 64 hex digits (SHA-256) or 40 (SHA-1), colons optional";
        let trimmed = tp.trim();
        let (named, body) = match trimmed.split_once(':') {
            Some((name, rest)) => match name.to_ascii_uppercase().as_str() {
                "SHA256" | "SHA-256" => (Some(Digest::Sha256), rest),
                "SHA1" | "SHA-1" => (Some(Digest::Sha1), rest),
                _ => (None, trimmed),
            },
            None => (None, trimmed),
        };
        if let Some(bad) = body.chars().find(|c| !c.is_ascii_hexdigit() && *c != ':') {
            return Err(format!(
                "malformed thumbprint {tp:?}: {bad:?} is not a hex digit; {EXPECTED}"
            ));
        }
        let hex: String = body
            .chars()
            .filter(char::is_ascii_hexdigit)
            .map(|c| c.to_ascii_uppercase())
            .collect();
        let digest = match (named, hex.len()) {
            (Some(d), n) if n == d.hex_len() => d,
            (Some(d), n) => {
                return Err(format!(
                    "malformed thumbprint {tp:?}: a {} thumbprint has {} hex digits, not {n}",
                    d.prefix(),
                    d.hex_len()
                ))
            }
            (None, 64) => Digest::Sha256,
            (None, 40) => Digest::Sha1,
            (None, n) => {
                return Err(format!(
                    "malformed thumbprint {tp:?}: {EXPECTED}, found {n}"
                ))
            }
        };
        Ok(Pin { digest, hex })
    }

    /// Whether the presented certificate (its colon-hex thumbprints) is the pinned one.
    fn matches(&self, sha256: &str, sha1: &str) -> bool {
        let presented = match self.digest {
            Digest::Sha256 => sha256,
            Digest::Sha1 => sha1,
        };
        presented.replace(':', "") == self.hex
    }
}

impl fmt::Display for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pairs: Vec<&str> = (0..self.hex.len())
            .step_by(2)
            .map(|i| &self.hex[i..i + 2])
            .collect();
        write!(f, "{}:{}", self.digest.prefix(), pairs.join(":"))
    }
}

/// A refused certificate: what [`Error::Tls`] is made of.
#[derive(Debug)]
pub(crate) struct Refusal {
    message: String,
    sha256: String,
    sha1: String,
}

impl From<Refusal> for Error {
    fn from(r: Refusal) -> Error {
        Error::Tls {
            message: r.message,
            sha256: r.sha256,
            sha1: r.sha1,
        }
    }
}

/// Why a certificate was refused, before it is put in words.
#[derive(Debug)]
enum Reason<'a> {
    /// The pin does not match.
    PinMismatch(&'a Pin),
    /// There are no trusted roots to check it against.
    NoRoots,
    /// The root-based check said so.
    Refused(TlsError),
}

impl Refusal {
    /// Puts a refusal in plain words: what happened, then what to do, with the
    /// thumbprints that takes.
    fn new(reason: Reason<'_>, host: &str, now: UnixTime, sha256: &str, sha1: &str) -> Refusal {
        let pin_hint = format!("pin its thumbprint: SHA256:{sha256}");
        let message = match reason {
            Reason::PinMismatch(pin) => {
                let presented = match pin.digest {
                    Digest::Sha256 => format!("SHA256:{sha256}"),
                    Digest::Sha1 => format!("SHA1:{sha1}"),
                };
                format!(
                    "the server's certificate does not match the pinned thumbprint {pin}; \
                     the server presented {presented} (if the server's certificate was \
                     replaced on purpose, pin the new one)"
                )
            }
            Reason::NoRoots => format!(
                "the server's certificate cannot be checked: this system has no trusted \
                 root certificates (give a CA file, or install the system's CA bundle); \
                 to trust this server, {pin_hint}"
            ),
            Reason::Refused(TlsError::InvalidCertificate(e)) => match e {
                CertificateError::UnknownIssuer => format!(
                    "the server's certificate is not trusted (self-signed, or issued by an \
                     unknown authority); to trust this server, {pin_hint}"
                ),
                // Typically a self-signed certificate regenerated under the name of one
                // that was added to the trusted roots.
                CertificateError::BadSignature => format!(
                    "the server's certificate is not trusted: it names a trusted issuer but \
                     is not signed by it (was the certificate regenerated under the same \
                     name?); to trust this server, {pin_hint}"
                ),
                CertificateError::ExpiredContext { not_after, .. } => format!(
                    "the server's certificate expired on {} (this machine's clock says {}); \
                     renew it on the server, or to accept it as it is, {pin_hint}",
                    utc(not_after),
                    utc(now)
                ),
                CertificateError::Expired => format!(
                    "the server's certificate has expired (this machine's clock says {}); \
                     renew it on the server, or to accept it as it is, {pin_hint}",
                    utc(now)
                ),
                CertificateError::NotValidYetContext { not_before, .. } => format!(
                    "the server's certificate is not valid before {} and this machine's clock \
                     says {}: check the clocks of this machine and of the server \
                     (certificate SHA256:{sha256})",
                    utc(not_before),
                    utc(now)
                ),
                CertificateError::NotValidYet => format!(
                    "the server's certificate is not valid yet (this machine's clock says {}): \
                     check the clocks of this machine and of the server \
                     (certificate SHA256:{sha256})",
                    utc(now)
                ),
                CertificateError::NotValidForNameContext { presented, .. } => {
                    let names = if presented.is_empty() {
                        "no host names".to_string()
                    } else {
                        presented.join(", ")
                    };
                    format!(
                        "the server's certificate is not valid for the host name {host} \
                         (it names {names}); connect by one of its names, or to trust this \
                         server under this name, {pin_hint}"
                    )
                }
                CertificateError::NotValidForName => format!(
                    "the server's certificate is not valid for the host name {host}; connect \
                     by one of its names, or to trust this server under this name, {pin_hint}"
                ),
                other => other_refusal(&TlsError::InvalidCertificate(other), sha256, sha1),
            },
            Reason::Refused(other) => other_refusal(&other, sha256, sha1),
        };
        Refusal {
            message,
            sha256: sha256.to_string(),
            sha1: sha1.to_string(),
        }
    }
}

fn other_refusal(e: &TlsError, sha256: &str, sha1: &str) -> String {
    format!(
        "the server's certificate was refused ({e}); the server presented \
         SHA256:{sha256} (SHA1:{sha1})"
    )
}

/// `2026-11-23 12:00:00 UTC`.
fn utc(t: UnixTime) -> String {
    let secs = t.as_secs();
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's civil_from_days: eras of 400 years, years starting in March.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// What the last refused handshake presented, kept for the error of the request.
#[derive(Debug, Default)]
pub(crate) struct Presented {
    pub(crate) last: Mutex<Option<Refusal>>,
}

#[derive(Debug)]
enum Check {
    WebPki(Arc<dyn ServerCertVerifier>),
    /// The system has no roots and no CA file was given: every certificate is refused,
    /// with its thumbprint, rather than failing before the server is reached.
    NoRoots,
    Pin(Pin),
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
        let (reason, refused) = match &self.check {
            Check::Insecure => return Ok(ServerCertVerified::assertion()),
            Check::Pin(pin) if pin.matches(&sha256, &sha1) => {
                return Ok(ServerCertVerified::assertion())
            }
            Check::Pin(pin) => (
                Reason::PinMismatch(pin),
                TlsError::InvalidCertificate(CertificateError::ApplicationVerificationFailure),
            ),
            Check::NoRoots => (
                Reason::NoRoots,
                TlsError::InvalidCertificate(CertificateError::UnknownIssuer),
            ),
            Check::WebPki(v) => {
                match v.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
                    Ok(ok) => return Ok(ok),
                    Err(e) => (Reason::Refused(e.clone()), e),
                }
            }
        };
        let host = server_name.to_str();
        let refusal = Refusal::new(reason, &host, now, &sha256, &sha1);
        *lock(&self.presented.last) = Some(refusal);
        Err(refused)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        let algorithms = &self.provider.signature_verification_algorithms;
        match rustls::crypto::verify_tls12_signature(message, cert, dss, algorithms) {
            Err(e) if self.accepts_legacy_rsa() && legacy_rsa::covers(dss.scheme) => {
                rustls::crypto::verify_tls12_signature(message, cert, dss, &legacy_rsa::ALGORITHMS)
                    .map_err(|_| e)
            }
            other => other,
        }
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        let algorithms = &self.provider.signature_verification_algorithms;
        match rustls::crypto::verify_tls13_signature(message, cert, dss, algorithms) {
            Err(e) if self.accepts_legacy_rsa() && legacy_rsa::covers(dss.scheme) => {
                rustls::crypto::verify_tls13_signature(message, cert, dss, &legacy_rsa::ALGORITHMS)
                    .map_err(|_| e)
            }
            other => other,
        }
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        let mut schemes = self
            .provider
            .signature_verification_algorithms
            .supported_schemes();
        // Last in preference, as Go's crypto/tls offers it: hosts that sign TLS 1.2
        // handshakes with nothing better.
        if self.accepts_legacy_rsa() && !schemes.contains(&SignatureScheme::RSA_PKCS1_SHA1) {
            schemes.push(SignatureScheme::RSA_PKCS1_SHA1);
        }
        schemes
    }
}

impl Verifier {
    /// Whether handshake signatures of RSA keys below 2,048 bits are checked with
    /// [`legacy_rsa`] (the user trusts this certificate, or any, explicitly) instead of
    /// refused.
    fn accepts_legacy_rsa(&self) -> bool {
        matches!(self.check, Check::Pin(_) | Check::Insecure)
    }
}

/// Builds the rustls configuration for `policy`: [`Error::InvalidInput`] for a
/// malformed thumbprint or an unusable CA file, [`Error::Io`] when the CA file cannot be
/// read.
pub(crate) fn client_config(
    policy: &TlsPolicy,
    presented: Arc<Presented>,
) -> Result<rustls::ClientConfig, Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let check = match policy {
        TlsPolicy::Insecure => Check::Insecure,
        TlsPolicy::Thumbprint(tp) => Check::Pin(Pin::parse(tp).map_err(Error::InvalidInput)?),
        TlsPolicy::SystemRoots | TlsPolicy::ExtraCaFile(_) => {
            let mut roots = rustls::RootCertStore::empty();
            let native = rustls_native_certs::load_native_certs();
            for c in native.certs {
                let _ = roots.add(c);
            }
            if let TlsPolicy::ExtraCaFile(path) = policy {
                let pem = std::fs::read(path)
                    .map_err(|e| Error::io(format!("cannot read CA file {}", path.display()), e))?;
                let mut added = 0;
                let blocks = pem_certificates(&pem).map_err(|n| {
                    Error::InvalidInput(format!(
                        "CA file {} holds a CERTIFICATE block (number {n}) that is not valid base64",
                        path.display()
                    ))
                })?;
                for der in blocks {
                    roots.add(CertificateDer::from(der)).map_err(|e| {
                        Error::InvalidInput(format!(
                            "CA file {} holds a bad certificate: {e}",
                            path.display()
                        ))
                    })?;
                    added += 1;
                }
                if added == 0 {
                    return Err(Error::InvalidInput(format!(
                        "CA file {} holds no PEM certificate",
                        path.display()
                    )));
                }
            }
            if roots.is_empty() {
                Check::NoRoots
            } else {
                let v = rustls::client::WebPkiServerVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider.clone(),
                )
                .build()
                .map_err(|e| unusable(format!("the trusted roots are unusable: {e}")))?;
                Check::WebPki(v)
            }
        }
    };
    let verifier = Arc::new(Verifier {
        check,
        provider: provider.clone(),
        presented,
    });
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| unusable(format!("no usable TLS version: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(cfg)
}

/// A TLS set-up failure before any server was reached: no certificate, so no
/// thumbprints.
fn unusable(message: String) -> Error {
    Error::Tls {
        message,
        sha256: String::new(),
        sha1: String::new(),
    }
}

/// The DER bodies of the `CERTIFICATE` blocks of a PEM file; `Err(n)` when block
/// `n` (from 1) is not valid base64. Other blocks (keys, CRLs) are passed over.
fn pem_certificates(pem: &[u8]) -> Result<Vec<Vec<u8>>, usize> {
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
                let der = base64::engine::general_purpose::STANDARD
                    .decode(b)
                    .map_err(|_| out.len() + 1)?;
                out.push(der);
            }
        } else if let Some(b) = cur.as_mut() {
            b.push_str(line);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const SHA256: &str = "BA:78:16:BF:8F:01:CF:EA:41:41:40:DE:5D:AE:22:23:B0:03:61:A3:96:17:7A:9C:B4:10:FF:61:F2:00:15:AD";
    const SHA1: &str = "A9:99:3E:36:47:06:81:6A:BA:3E:25:71:78:50:C2:6C:9C:D0:D8:9D";

    fn at(secs: u64) -> UnixTime {
        UnixTime::since_unix_epoch(Duration::from_secs(secs))
    }

    #[test]
    fn thumbprints_are_colon_hex() {
        let (s256, s1) = thumbprints(b"abc");
        assert_eq!((s256.as_str(), s1.as_str()), (SHA256, SHA1));
    }

    #[test]
    fn pins_are_read_in_every_form_a_user_has() {
        let sha256 = Pin::parse(SHA256).unwrap();
        assert_eq!(sha256.digest, Digest::Sha256);
        assert!(sha256.matches(SHA256, SHA1));
        assert!(!sha256.matches(SHA1, SHA1));
        for form in [
            SHA256.to_lowercase(),
            SHA256.replace(':', ""),
            format!("SHA256:{SHA256}"),
            format!(" sha-256:{} ", SHA256.to_lowercase()),
            // As a refusal prints it.
            sha256.to_string(),
        ] {
            assert_eq!(Pin::parse(&form), Ok(sha256.clone()), "{form}");
        }
        let sha1 = Pin::parse(&format!("sha1:{}", SHA1.replace(':', ""))).unwrap();
        assert_eq!(sha1.digest, Digest::Sha1);
        assert_eq!(sha1.to_string(), format!("SHA1:{SHA1}"));
        assert!(sha1.matches(SHA256, SHA1));
    }

    #[test]
    fn malformed_thumbprints_are_refused_as_invalid_input() {
        let sha1_hex = SHA1.replace(':', "");
        for (pin, says) in [
            ("nonsense", "'n' is not a hex digit"),
            ("", "found 0"),
            ("AB:CD", "expected 64 hex digits (SHA-256) or 40 (SHA-1)"),
            (&SHA256.replacen("78", "7G", 1), "'G' is not a hex digit"),
            (&format!("{SHA256}:00"), "found 66"),
            (
                &format!("SHA1:{SHA256}"),
                "a SHA1 thumbprint has 40 hex digits, not 64",
            ),
            (
                &format!("SHA256:{sha1_hex}"),
                "a SHA256 thumbprint has 64 hex digits, not 40",
            ),
            (&format!("MD5:{sha1_hex}"), "'M' is not a hex digit"),
        ] {
            let policy = TlsPolicy::Thumbprint(pin.to_string());
            match client_config(&policy, Default::default()) {
                Err(e @ Error::InvalidInput(_)) => {
                    let shown = e.to_string();
                    assert!(shown.contains("malformed thumbprint"), "{shown}");
                    assert!(shown.contains(says), "{pin:?}: {shown}");
                }
                Err(e) => panic!("{pin:?}: expected InvalidInput, got {e:?}"),
                Ok(_) => panic!("{pin:?} was accepted"),
            }
        }
    }

    #[test]
    fn ca_files_that_cannot_be_used_say_why() {
        let dir = std::env::temp_dir().join(format!("vim25-tls-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let missing = dir.join("missing.pem");
        match client_config(&TlsPolicy::ExtraCaFile(missing.clone()), Default::default()) {
            Err(Error::Io { context, source }) => {
                assert!(
                    context.contains(&missing.display().to_string()),
                    "{context}"
                );
                assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
            }
            other => panic!("expected Io, got {:?}", other.err()),
        }
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "no certificates here").unwrap();
        match client_config(&TlsPolicy::ExtraCaFile(empty), Default::default()) {
            Err(Error::InvalidInput(m)) => assert!(m.contains("holds no PEM certificate"), "{m}"),
            other => panic!("expected InvalidInput, got {:?}", other.err()),
        }
        let garbled = dir.join("garbled.pem");
        std::fs::write(
            &garbled,
            "-----BEGIN CERTIFICATE-----\nnot*base64!\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        match client_config(&TlsPolicy::ExtraCaFile(garbled), Default::default()) {
            Err(Error::InvalidInput(m)) => {
                assert!(m.contains("(number 1) that is not valid base64"), "{m}")
            }
            other => panic!("expected InvalidInput, got {:?}", other.err()),
        }
        let not_x509 = dir.join("not-x509.pem");
        std::fs::write(
            &not_x509,
            "-----BEGIN CERTIFICATE-----\naGVsbG8=\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        match client_config(&TlsPolicy::ExtraCaFile(not_x509), Default::default()) {
            Err(Error::InvalidInput(m)) => assert!(m.contains("holds a bad certificate"), "{m}"),
            other => panic!("expected InvalidInput, got {:?}", other.err()),
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn refusal(reason: Reason<'_>) -> String {
        let r = Refusal::new(reason, "vc.example", at(1_779_537_600), SHA256, SHA1);
        assert_eq!((r.sha256.as_str(), r.sha1.as_str()), (SHA256, SHA1));
        let shown = Error::from(r).to_string();
        assert!(
            shown.starts_with("TLS: the server's certificate "),
            "{shown}"
        );
        shown
    }

    fn refused(e: CertificateError) -> String {
        refusal(Reason::Refused(TlsError::InvalidCertificate(e)))
    }

    #[test]
    fn refusals_say_what_happened_and_what_to_do() {
        let hint = format!("pin its thumbprint: SHA256:{SHA256}");

        let m = refused(CertificateError::UnknownIssuer);
        assert!(
            m.contains("is not trusted (self-signed, or issued by an unknown authority)"),
            "{m}"
        );
        assert!(m.ends_with(&format!("to trust this server, {hint}")), "{m}");

        let m = refusal(Reason::NoRoots);
        assert!(
            m.contains("this system has no trusted root certificates"),
            "{m}"
        );
        assert!(m.contains(&hint), "{m}");

        let pin = Pin::parse(&"00".repeat(20)).unwrap();
        let m = refusal(Reason::PinMismatch(&pin));
        assert!(
            m.contains(&format!(
                "does not match the pinned thumbprint SHA1:{}",
                ["00"; 20].join(":")
            )),
            "{m}"
        );
        assert!(
            m.contains(&format!("the server presented SHA1:{SHA1}")),
            "{m}"
        );

        let m = refused(CertificateError::ExpiredContext {
            time: at(1_779_537_600),
            not_after: at(1_709_251_199),
        });
        assert!(m.contains("expired on 2024-02-29 23:59:59 UTC"), "{m}");
        assert!(
            m.contains("this machine's clock says 2026-05-23 12:00:00 UTC"),
            "{m}"
        );
        assert!(
            m.contains("renew it on the server") && m.contains(&hint),
            "{m}"
        );
        assert!(refused(CertificateError::Expired).contains("has expired"));

        let m = refused(CertificateError::NotValidYetContext {
            time: at(1_779_537_600),
            not_before: at(4_102_444_799),
        });
        assert!(
            m.contains("is not valid before 2099-12-31 23:59:59 UTC"),
            "{m}"
        );
        assert!(m.contains("check the clocks"), "{m}");
        assert!(refused(CertificateError::NotValidYet).contains("check the clocks"));

        let m = refused(CertificateError::NotValidForNameContext {
            expected: ServerName::try_from("vc.example").unwrap(),
            presented: vec!["localhost".into(), "127.0.0.1".into()],
        });
        assert!(
            m.contains("is not valid for the host name vc.example (it names localhost, 127.0.0.1)"),
            "{m}"
        );
        assert!(m.contains(&hint), "{m}");
        assert!(refused(CertificateError::NotValidForName).contains("host name vc.example"));

        let m = refused(CertificateError::BadSignature);
        assert!(
            m.contains("is not trusted: it names a trusted issuer but is not signed by it"),
            "{m}"
        );
        assert!(m.contains(&hint), "{m}");

        let m = refused(CertificateError::Revoked);
        assert!(
            m.contains("was refused (") && !m.contains("not trusted"),
            "{m}"
        );
        assert!(m.contains(&format!("SHA256:{SHA256} (SHA1:{SHA1})")), "{m}");
    }

    #[test]
    fn unix_times_are_shown_as_utc_dates() {
        assert_eq!(utc(at(0)), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(at(951_782_400)), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc(at(1_709_251_199)), "2024-02-29 23:59:59 UTC");
        assert_eq!(utc(at(4_102_444_799)), "2099-12-31 23:59:59 UTC");
    }
}
