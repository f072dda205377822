//! Servers whose certificate has a 1,024-bit RSA key, as older ESXi hosts present.
//!
//! vcsim cannot be given such a key (Go refuses to serve with it), so a small TLS
//! front of this test's own terminates TLS with the fixture key in
//! `tests/data/rsa1024/` and forwards the plain HTTP to a simulator started without
//! TLS. The front signs its handshakes with the RustCrypto `rsa` crate, since rustls's
//! own signers refuse keys under 2,048 bits; it speaks TLS 1.2 with PKCS #1 v1.5
//! (what those hosts do) or TLS 1.3 with PSS, and can sign with a key other than the
//! certificate's to show that the client still checks the handshake signature.

use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::{RandomizedSigner, SignatureEncoding, Signer as _};
use rsa::RsaPrivateKey;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::{CertifiedKey, Signer, SigningKey};
use rustls::{SignatureAlgorithm, SignatureScheme};
use std::sync::Arc;
use test_support::{Simulator, SimulatorConfig};
use tokio::net::{TcpListener, TcpStream};
use vim25::{ClientBuilder, Error};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/rsa1024");

fn private_key(file: &str) -> RsaPrivateKey {
    let der = PrivateKeyDer::from_pem_file(format!("{DATA}/{file}")).unwrap();
    RsaPrivateKey::from_pkcs8_der(der.secret_der()).unwrap()
}

fn certificate() -> CertificateDer<'static> {
    CertificateDer::from_pem_file(format!("{DATA}/cert.pem")).unwrap()
}

/// How the front signs its handshakes.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    /// TLS 1.2 only, PKCS #1 v1.5 with SHA-256.
    Tls12Pkcs1,
    /// TLS 1.3, PSS with SHA-256.
    Tls13Pss,
}

#[derive(Debug)]
struct RsaKey {
    key: RsaPrivateKey,
    mode: Mode,
}

impl SigningKey for RsaKey {
    fn choose_scheme(&self, offered: &[SignatureScheme]) -> Option<Box<dyn Signer>> {
        let scheme = match self.mode {
            Mode::Tls12Pkcs1 => SignatureScheme::RSA_PKCS1_SHA256,
            Mode::Tls13Pss => SignatureScheme::RSA_PSS_SHA256,
        };
        offered.contains(&scheme).then(|| {
            Box::new(RsaSigner {
                key: self.key.clone(),
                scheme,
            }) as Box<dyn Signer>
        })
    }

    fn algorithm(&self) -> SignatureAlgorithm {
        SignatureAlgorithm::RSA
    }
}

#[derive(Debug)]
struct RsaSigner {
    key: RsaPrivateKey,
    scheme: SignatureScheme,
}

impl Signer for RsaSigner {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, rustls::Error> {
        let key = self.key.clone();
        Ok(match self.scheme {
            SignatureScheme::RSA_PSS_SHA256 => rsa::pss::SigningKey::<sha2::Sha256>::new(key)
                .sign_with_rng(&mut rand_core::OsRng, message)
                .to_vec(),
            _ => rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(key)
                .sign(message)
                .to_vec(),
        })
    }

    fn scheme(&self) -> SignatureScheme {
        self.scheme
    }
}

#[derive(Debug)]
struct OneCert(Arc<CertifiedKey>);

impl ResolvesServerCert for OneCert {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
}

/// Serves TLS on 127.0.0.1 with the 1,024-bit certificate, handshakes signed with
/// `signer_file`'s key, forwarding to `backend`; its `https://` URL.
async fn front(backend: String, mode: Mode, signer_file: &str) -> String {
    let key = RsaKey {
        key: private_key(signer_file),
        mode,
    };
    let certified = CertifiedKey::new(vec![certificate()], Arc::new(key));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions: &[&rustls::SupportedProtocolVersion] = match mode {
        Mode::Tls12Pkcs1 => &[&rustls::version::TLS12],
        Mode::Tls13Pss => &[&rustls::version::TLS13],
    };
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .unwrap()
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(OneCert(Arc::new(certified))));
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let backend = backend.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(mut plain) = TcpStream::connect(&backend).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    format!("https://{addr}/sdk")
}

fn plain_simulator() -> (Simulator, String) {
    let sim = Simulator::start_or_panic(&SimulatorConfig::esx().tls(false));
    let url = url::Url::parse(sim.url()).unwrap();
    let backend = format!(
        "{}:{}",
        url.host_str().unwrap(),
        url.port_or_known_default().unwrap()
    );
    (sim, backend)
}

fn certificate_sha256() -> String {
    vim25::client::thumbprints(certificate().as_ref()).0
}

async fn about(
    url: &str,
    sim: &Simulator,
    policy: impl Fn(ClientBuilder) -> ClientBuilder,
) -> Result<String, Error> {
    let b = ClientBuilder::new(url)?.credentials(sim.username(), sim.password());
    let client = policy(b).connect().await?;
    Ok(client.service_content().about.full_name.clone())
}

#[tokio::test]
async fn insecure_mode_connects_to_a_host_with_a_1024_bit_rsa_key() {
    let (sim, backend) = plain_simulator();
    for mode in [Mode::Tls12Pkcs1, Mode::Tls13Pss] {
        let url = front(backend.clone(), mode, "key.pem").await;
        let name = about(&url, &sim, |b| b.insecure())
            .await
            .unwrap_or_else(|e| panic!("{mode:?}: {e}"));
        assert!(name.contains("VMware"), "{name}");
    }
}

#[tokio::test]
async fn a_pinned_1024_bit_host_connects_and_its_handshake_signature_is_checked() {
    let (sim, backend) = plain_simulator();
    let pin = certificate_sha256();
    for mode in [Mode::Tls12Pkcs1, Mode::Tls13Pss] {
        let url = front(backend.clone(), mode, "key.pem").await;
        about(&url, &sim, |b| b.thumbprint(pin.clone()))
            .await
            .unwrap_or_else(|e| panic!("{mode:?}: {e}"));

        // The right certificate, but handshakes signed with another key: whoever
        // copied the certificate does not hold its key.
        let forged = front(backend.clone(), mode, "other-key.pem").await;
        for policy in [
            Box::new(|b: ClientBuilder| b.thumbprint(pin.clone()))
                as Box<dyn Fn(ClientBuilder) -> ClientBuilder>,
            Box::new(|b: ClientBuilder| b.insecure()),
        ] {
            match about(&forged, &sim, policy).await {
                Err(e) => {
                    let shown = e.to_string();
                    assert!(
                        shown.to_lowercase().contains("signature"),
                        "{mode:?}: {shown}"
                    );
                }
                Ok(_) => panic!("{mode:?}: a handshake signed with the wrong key was accepted"),
            }
        }
    }
}

#[tokio::test]
async fn root_based_verification_keeps_refusing_it() {
    let (sim, backend) = plain_simulator();
    let url = front(backend, Mode::Tls12Pkcs1, "key.pem").await;
    let e = about(&url, &sim, |b| b).await.unwrap_err();
    assert!(matches!(e, Error::Tls { .. }), "{e:?}");
}

/// Answers every request on 127.0.0.1 with `status` and `Location: location`; its URL
/// and the count of requests it saw.
async fn redirector(
    status: &'static str,
    location: String,
) -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    use tokio::io::AsyncWriteExt;
    let seen = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let counter = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let counter = counter.clone();
            let location = location.clone();
            tokio::spawn(async move {
                if test_support::chaos::read_request(&mut tcp).await.is_none() {
                    return;
                }
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let answer = format!(
                    "HTTP/1.1 {status}\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
                let _ = tcp.write_all(answer.as_bytes()).await;
            });
        }
    });
    (format!("http://{addr}/sdk"), seen)
}

#[tokio::test]
async fn soap_calls_follow_no_redirect() {
    let (target, reached) = redirector("500 Internal Server Error", String::new()).await;
    for status in [
        "301 Moved Permanently",
        "302 Found",
        "307 Temporary Redirect",
        "308 Permanent Redirect",
    ] {
        let (url, seen) = redirector(status, target.clone()).await;
        let e = ClientBuilder::new(&url)
            .unwrap()
            .credentials("user", "hunter2")
            .retries(0, std::time::Duration::from_millis(1))
            .connect()
            .await
            .unwrap_err();
        let shown = e.to_string();
        assert!(matches!(e, Error::Http { .. }), "{status}: {e:?}");
        assert!(
            shown.contains(&format!("the server redirects to {target}")),
            "{status}: {shown}"
        );
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(seen.load(std::sync::atomic::Ordering::SeqCst) >= 1);
    }
    assert_eq!(
        reached.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "no request reached the redirect's target"
    );
}

/// Answers every request with 200 and an endless body of `x`: announced with a huge
/// `Content-Length`, or chunked without one. Its URL.
async fn endless(announced: bool) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                let mut got = Vec::new();
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tcp.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                let head = if announced {
                    "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: 1000000000000\r\n\r\n"
                } else {
                    "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nTransfer-Encoding: chunked\r\n\r\n"
                };
                if tcp.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let data = vec![b'x'; 65536];
                let mut chunk = format!("{:x}\r\n", data.len()).into_bytes();
                chunk.extend_from_slice(&data);
                chunk.extend_from_slice(b"\r\n");
                let piece = if announced { &data } else { &chunk };
                // Until the client hangs up.
                while tcp.write_all(piece).await.is_ok() {}
            });
        }
    });
    format!("http://{addr}/sdk")
}

#[tokio::test]
async fn a_response_larger_than_the_limit_ends_the_call_with_too_large() {
    for announced in [true, false] {
        let url = endless(announced).await;
        let limit = 1 << 20;
        let e = ClientBuilder::new(&url)
            .unwrap()
            .max_response_bytes(limit)
            .retries(0, std::time::Duration::from_millis(1))
            .connect()
            .await
            .unwrap_err();
        match &e {
            Error::TooLarge { limit: l, .. } => assert_eq!(*l, limit),
            other => panic!("announced {announced}: expected TooLarge, got {other:?}"),
        }
        assert!(
            e.to_string()
                .contains("larger than the limit of 1048576 bytes"),
            "{e}"
        );
    }
}
