//! Handshake signatures made with RSA keys of 1,024 to 2,047 bits, for the two
//! policies where the user has chosen to trust one certificate (a pinned thumbprint)
//! or any (insecure mode).
//!
//! Older ESXi hosts still present a self-signed certificate with a 1,024-bit RSA key.
//! ring, under rustls, verifies RSA signatures from 2,048 bits only, so the handshake
//! with such a host failed with `BadSignature` even in insecure mode, while govc and
//! pyVmomi connect. The signature is still checked here, with the RustCrypto `rsa`
//! crate and the same padding rules as TLS (PKCS #1 v1.5, or PSS with a salt as long
//! as the hash); only the minimum key size is lower. Root-based verification keeps
//! ring's 2,048-bit floor.

use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::signature::Verifier;
use rsa::traits::PublicKeyParts;
use rsa::RsaPublicKey;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{
    alg_id, AlgorithmIdentifier, InvalidSignature, SignatureVerificationAlgorithm,
};
use rustls::SignatureScheme;

/// The smallest RSA modulus accepted, as Go's crypto/tls (and so govc) does.
pub(crate) const MIN_BITS: usize = 1024;

/// The hash of a signature scheme.
#[derive(Debug, Clone, Copy)]
enum Hash {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

/// The padding of a signature scheme.
#[derive(Debug, Clone, Copy)]
enum Padding {
    Pkcs1,
    Pss,
}

/// One RSA signature scheme over keys from [`MIN_BITS`] bits.
#[derive(Debug)]
struct LegacyRsa {
    padding: Padding,
    hash: Hash,
}

impl LegacyRsa {
    fn check(&self, public_key: &[u8], message: &[u8], signature: &[u8]) -> Option<()> {
        // `public_key` is the subjectPublicKey of the certificate: PKCS #1 RSAPublicKey.
        let key = RsaPublicKey::from_pkcs1_der(public_key).ok()?;
        if key.n().bits() < MIN_BITS {
            return None;
        }
        macro_rules! verify {
            ($module:ident, $digest:ty) => {{
                let sig = rsa::$module::Signature::try_from(signature).ok()?;
                rsa::$module::VerifyingKey::<$digest>::new(key)
                    .verify(message, &sig)
                    .ok()
            }};
        }
        match (self.padding, self.hash) {
            (Padding::Pkcs1, Hash::Sha1) => verify!(pkcs1v15, sha1::Sha1),
            (Padding::Pkcs1, Hash::Sha256) => verify!(pkcs1v15, sha2::Sha256),
            (Padding::Pkcs1, Hash::Sha384) => verify!(pkcs1v15, sha2::Sha384),
            (Padding::Pkcs1, Hash::Sha512) => verify!(pkcs1v15, sha2::Sha512),
            (Padding::Pss, Hash::Sha256) => verify_pss::<sha2::Sha256>(key, message, signature),
            (Padding::Pss, Hash::Sha384) => verify_pss::<sha2::Sha384>(key, message, signature),
            (Padding::Pss, Hash::Sha512) => verify_pss::<sha2::Sha512>(key, message, signature),
            (Padding::Pss, Hash::Sha1) => None,
        }
    }
}

/// PSS as TLS uses it: MGF1 with the same hash, a salt as long as the hash.
fn verify_pss<D>(key: RsaPublicKey, message: &[u8], signature: &[u8]) -> Option<()>
where
    D: sha2::digest::Digest + sha2::digest::FixedOutputReset,
{
    let sig = rsa::pss::Signature::try_from(signature).ok()?;
    let salt = <D as sha2::digest::Digest>::output_size();
    rsa::pss::VerifyingKey::<D>::new_with_salt_len(key, salt)
        .verify(message, &sig)
        .ok()
}

impl SignatureVerificationAlgorithm for LegacyRsa {
    fn verify_signature(
        &self,
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), InvalidSignature> {
        self.check(public_key, message, signature)
            .ok_or(InvalidSignature)
    }

    fn public_key_alg_id(&self) -> AlgorithmIdentifier {
        alg_id::RSA_ENCRYPTION
    }

    fn signature_alg_id(&self) -> AlgorithmIdentifier {
        // Only consulted for certificate-chain signatures, which these never verify
        // (a pin or insecure mode builds no chain); SHA-1 has no constant there.
        match (self.padding, self.hash) {
            (Padding::Pkcs1, Hash::Sha1 | Hash::Sha256) => alg_id::RSA_PKCS1_SHA256,
            (Padding::Pkcs1, Hash::Sha384) => alg_id::RSA_PKCS1_SHA384,
            (Padding::Pkcs1, Hash::Sha512) => alg_id::RSA_PKCS1_SHA512,
            (Padding::Pss, Hash::Sha1 | Hash::Sha256) => alg_id::RSA_PSS_SHA256,
            (Padding::Pss, Hash::Sha384) => alg_id::RSA_PSS_SHA384,
            (Padding::Pss, Hash::Sha512) => alg_id::RSA_PSS_SHA512,
        }
    }
}

static PKCS1_SHA1: LegacyRsa = LegacyRsa {
    padding: Padding::Pkcs1,
    hash: Hash::Sha1,
};
static PKCS1_SHA256: LegacyRsa = LegacyRsa {
    padding: Padding::Pkcs1,
    hash: Hash::Sha256,
};
static PKCS1_SHA384: LegacyRsa = LegacyRsa {
    padding: Padding::Pkcs1,
    hash: Hash::Sha384,
};
static PKCS1_SHA512: LegacyRsa = LegacyRsa {
    padding: Padding::Pkcs1,
    hash: Hash::Sha512,
};
static PSS_SHA256: LegacyRsa = LegacyRsa {
    padding: Padding::Pss,
    hash: Hash::Sha256,
};
static PSS_SHA384: LegacyRsa = LegacyRsa {
    padding: Padding::Pss,
    hash: Hash::Sha384,
};
static PSS_SHA512: LegacyRsa = LegacyRsa {
    padding: Padding::Pss,
    hash: Hash::Sha512,
};

/// The RSA schemes over keys from [`MIN_BITS`] bits, tried after the provider's own.
pub(crate) static ALGORITHMS: WebPkiSupportedAlgorithms = WebPkiSupportedAlgorithms {
    all: &[
        &PKCS1_SHA256,
        &PKCS1_SHA384,
        &PKCS1_SHA512,
        &PSS_SHA256,
        &PSS_SHA384,
        &PSS_SHA512,
    ],
    mapping: &[
        (SignatureScheme::RSA_PSS_SHA512, &[&PSS_SHA512]),
        (SignatureScheme::RSA_PSS_SHA384, &[&PSS_SHA384]),
        (SignatureScheme::RSA_PSS_SHA256, &[&PSS_SHA256]),
        (SignatureScheme::RSA_PKCS1_SHA512, &[&PKCS1_SHA512]),
        (SignatureScheme::RSA_PKCS1_SHA384, &[&PKCS1_SHA384]),
        (SignatureScheme::RSA_PKCS1_SHA256, &[&PKCS1_SHA256]),
        (SignatureScheme::RSA_PKCS1_SHA1, &[&PKCS1_SHA1]),
    ],
};

/// Whether `scheme` is one the legacy algorithms can check.
pub(crate) fn covers(scheme: SignatureScheme) -> bool {
    ALGORITHMS.mapping.iter().any(|(s, _)| *s == scheme)
}
