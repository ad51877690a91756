//! Signatures per the Standard Webhooks specification: a receiver checks
//! `webhook-signature` against HMAC-SHA256 of `"{webhook-id}.{webhook-timestamp}.{body}"`
//! under the subscription's secret, and refuses a timestamp far from its own clock (which
//! stops a captured delivery being replayed later).
//!
//! A secret reads `whsec_<base64 of the key bytes>`. While a rotated secret's old key is still
//! valid, a delivery carries one signature per key, space-separated (`v1,<a> v1,<b>`), so a
//! receiver holding either secret accepts it.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The prefix of a secret's text.
pub const SECRET_PREFIX: &str = "whsec_";
/// How many random bytes a new secret holds (the specification asks for 24 to 64).
pub const SECRET_BYTES: usize = 32;
/// How far a delivery's timestamp may be from the receiver's clock, either way.
pub const TOLERANCE_SECONDS: i64 = 5 * 60;

pub const ID_HEADER: &str = "webhook-id";
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";
pub const SIGNATURE_HEADER: &str = "webhook-signature";

/// A signing secret. Its `Debug` hides the key, so logging one by mistake leaks nothing.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(whsec_…)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("a webhook secret reads whsec_ followed by base64 of 24 to 64 bytes")]
    BadSecret,
    #[error("the webhook-timestamp header is not a number of seconds")]
    BadTimestamp,
    #[error("the webhook-timestamp is more than five minutes from now")]
    Stale,
    #[error("no v1 signature in webhook-signature matches the body")]
    NoMatch,
}

impl Secret {
    /// A secret of `bytes`; `None` outside 24 to 64 bytes.
    pub fn from_bytes(bytes: Vec<u8>) -> Option<Self> {
        (24..=64).contains(&bytes.len()).then_some(Self(bytes))
    }

    /// Reads `whsec_<base64>`.
    pub fn parse(text: &str) -> Result<Self, SignatureError> {
        let encoded = text.strip_prefix(SECRET_PREFIX).ok_or(SignatureError::BadSecret)?;
        let bytes = STANDARD.decode(encoded).map_err(|_| SignatureError::BadSecret)?;
        Self::from_bytes(bytes).ok_or(SignatureError::BadSecret)
    }

    /// `whsec_<base64>`: the text shown once to the subscriber.
    pub fn expose(&self) -> String {
        format!("{SECRET_PREFIX}{}", STANDARD.encode(&self.0))
    }

    fn mac(&self) -> Hmac<Sha256> {
        // HMAC takes a key of any length; this cannot fail.
        match Hmac::<Sha256>::new_from_slice(&self.0) {
            Ok(mac) => mac,
            Err(_) => unreachable!("HMAC accepts keys of every length"),
        }
    }

    /// The base64 HMAC-SHA256 of `"{id}.{timestamp}.{body}"`.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let mut mac = self.mac();
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        STANDARD.encode(mac.finalize().into_bytes())
    }
}

/// The `webhook-signature` value of a delivery signed with each of `secrets` (the current one
/// first).
pub fn signature_header(secrets: &[&Secret], id: &str, timestamp: i64, body: &[u8]) -> String {
    secrets.iter().map(|s| format!("v1,{}", s.sign(id, timestamp, body))).collect::<Vec<_>>().join(" ")
}

/// What a receiver does: checks the timestamp against `now` (seconds since the epoch) and
/// that one of the header's `v1` signatures is the body's under `secret`, compared in
/// constant time.
pub fn verify(
    secret: &Secret,
    id: &str,
    timestamp: &str,
    signatures: &str,
    body: &[u8],
    now: i64,
) -> Result<(), SignatureError> {
    let ts: i64 = timestamp.trim().parse().map_err(|_| SignatureError::BadTimestamp)?;
    if (now - ts).abs() > TOLERANCE_SECONDS {
        return Err(SignatureError::Stale);
    }
    let mut signed = Vec::with_capacity(id.len() + timestamp.len() + body.len() + 2);
    signed.extend_from_slice(id.as_bytes());
    signed.push(b'.');
    signed.extend_from_slice(ts.to_string().as_bytes());
    signed.push(b'.');
    signed.extend_from_slice(body);
    for candidate in signatures.split(' ') {
        let Some(("v1", encoded)) = candidate.split_once(',') else { continue };
        let Ok(expected) = STANDARD.decode(encoded) else { continue };
        let mut mac = secret.mac();
        mac.update(&signed);
        if mac.verify_slice(&expected).is_ok() {
            return Ok(());
        }
    }
    Err(SignatureError::NoMatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks specification's test vectors.
    const SPEC_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const SPEC_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const SPEC_TIMESTAMP: i64 = 1614265330;
    const SPEC_BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SPEC_SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    #[test]
    fn the_specifications_example_signs_to_its_published_signature() {
        let secret = Secret::parse(SPEC_SECRET).unwrap();
        assert_eq!(signature_header(&[&secret], SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY), SPEC_SIGNATURE);
        assert_eq!(verify(&secret, SPEC_ID, "1614265330", SPEC_SIGNATURE, SPEC_BODY, SPEC_TIMESTAMP), Ok(()));
    }

    #[test]
    fn a_tampered_body_id_or_stale_timestamp_fails() {
        let secret = Secret::parse(SPEC_SECRET).unwrap();
        let now = SPEC_TIMESTAMP;
        let verify_with =
            |id: &str, ts: &str, body: &[u8], now: i64| verify(&secret, id, ts, SPEC_SIGNATURE, body, now);
        assert_eq!(verify_with(SPEC_ID, "1614265330", br#"{"test": 2432232315}"#, now), Err(SignatureError::NoMatch));
        assert_eq!(verify_with("msg_other", "1614265330", SPEC_BODY, now), Err(SignatureError::NoMatch));
        assert_eq!(verify_with(SPEC_ID, "1614265331", SPEC_BODY, now + 1), Err(SignatureError::NoMatch));
        assert_eq!(
            verify_with(SPEC_ID, "1614265330", SPEC_BODY, now + TOLERANCE_SECONDS + 1),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify_with(SPEC_ID, "1614265330", SPEC_BODY, now - TOLERANCE_SECONDS - 1),
            Err(SignatureError::Stale)
        );
        assert_eq!(verify_with(SPEC_ID, "soon", SPEC_BODY, now), Err(SignatureError::BadTimestamp));
        let other = Secret::from_bytes(vec![7; 32]).unwrap();
        assert_eq!(verify(&other, SPEC_ID, "1614265330", SPEC_SIGNATURE, SPEC_BODY, now), Err(SignatureError::NoMatch));
    }

    #[test]
    fn during_a_rotation_either_secret_verifies() {
        let (new, old) = (Secret::from_bytes(vec![1; 32]).unwrap(), Secret::from_bytes(vec![2; 32]).unwrap());
        let header = signature_header(&[&new, &old], "msg_1", 100, b"{}");
        assert_eq!(header.split(' ').count(), 2);
        assert_eq!(verify(&new, "msg_1", "100", &header, b"{}", 100), Ok(()));
        assert_eq!(verify(&old, "msg_1", "100", &header, b"{}", 100), Ok(()));
        let third = Secret::from_bytes(vec![3; 32]).unwrap();
        assert_eq!(verify(&third, "msg_1", "100", &header, b"{}", 100), Err(SignatureError::NoMatch));
    }

    #[test]
    fn secrets_read_back_and_hide_in_debug() {
        let secret = Secret::from_bytes((0..32).collect()).unwrap();
        assert_eq!(Secret::parse(&secret.expose()), Ok(secret.clone()));
        assert!(!format!("{secret:?}").contains(&secret.expose()[6..]));
        for bad in ["", "whsec_", "whsec_!!!", "sk_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_AAAA"] {
            assert_eq!(Secret::parse(bad), Err(SignatureError::BadSecret), "{bad}");
        }
    }
}
