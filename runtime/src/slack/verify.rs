//! Slack's request signatures (version `v0`): `X-Slack-Signature` is `v0=` and the hex of
//! HMAC-SHA256, keyed with the app's signing secret, over `v0:{X-Slack-Request-Timestamp}:{raw
//! body}`. A request is checked before any byte of its body is parsed: both headers present, the
//! timestamp within five minutes of now (either way: a replay is refused, and so is a clock
//! far ahead), and the signature equal in constant time (aws-lc's HMAC verify, the crypto
//! provider the TLS stack already uses).

use aws_lc_rs::hmac;

/// How far a request's timestamp may be from now, in seconds.
pub const MAX_AGE_SECS: i64 = 5 * 60;

/// Why a request was refused (answered with 401; nothing runs).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("the X-Slack-Request-Timestamp header is missing")]
    NoTimestamp,
    #[error("the X-Slack-Signature header is missing")]
    NoSignature,
    #[error("X-Slack-Request-Timestamp is not a Unix time")]
    BadTimestamp,
    #[error("the request is {0} s from now; at most {MAX_AGE_SECS} s are accepted")]
    Stale(i64),
    #[error("the signature is not a v0 signature of this body")]
    BadSignature,
}

/// The signing secret, as an HMAC key (its bytes as Slack shows them; not decoded).
pub struct SigningSecret(hmac::Key);

impl SigningSecret {
    pub fn new(secret: &str) -> SigningSecret {
        SigningSecret(hmac::Key::new(hmac::HMAC_SHA256, secret.trim().as_bytes()))
    }

    fn base(timestamp: &str, body: &[u8]) -> Vec<u8> {
        let mut base = Vec::with_capacity(body.len() + timestamp.len() + 4);
        base.extend_from_slice(b"v0:");
        base.extend_from_slice(timestamp.as_bytes());
        base.push(b':');
        base.extend_from_slice(body);
        base
    }

    /// The `X-Slack-Signature` value Slack would send (tests and the load bench sign with it).
    pub fn sign(&self, timestamp: &str, body: &[u8]) -> String {
        let tag = hmac::sign(&self.0, &SigningSecret::base(timestamp, body));
        format!("v0={}", hex::encode(tag.as_ref()))
    }

    /// Checks one request's headers and raw body at Unix time `now`.
    pub fn verify(
        &self,
        timestamp: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
        now: i64,
    ) -> Result<(), Refused> {
        let timestamp = timestamp.ok_or(Refused::NoTimestamp)?;
        let signature = signature.ok_or(Refused::NoSignature)?;
        let sent: i64 = timestamp.trim().parse().map_err(|_| Refused::BadTimestamp)?;
        let age = now.saturating_sub(sent);
        if age.abs() > MAX_AGE_SECS {
            return Err(Refused::Stale(age));
        }
        let tag =
            signature.trim().strip_prefix("v0=").and_then(|h| hex::decode(h).ok()).ok_or(Refused::BadSignature)?;
        hmac::verify(&self.0, &SigningSecret::base(timestamp.trim(), body), &tag).map_err(|_| Refused::BadSignature)
    }
}

impl std::fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningSecret(…)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Slack's published example ("Verifying requests from Slack"): its secret, timestamp,
    // slash-command body and the signature it gives.
    const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const TS: &str = "1531420618";
    const BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const SIGNATURE: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

    #[test]
    fn slacks_published_example_verifies() {
        let s = SigningSecret::new(SECRET);
        assert_eq!(s.sign(TS, BODY.as_bytes()), SIGNATURE);
        assert_eq!(s.verify(Some(TS), Some(SIGNATURE), BODY.as_bytes(), 1531420618 + 30), Ok(()));
    }

    #[test]
    fn anything_else_is_refused() {
        let s = SigningSecret::new(SECRET);
        let now = 1531420618;
        let body = BODY.as_bytes();
        assert_eq!(s.verify(None, Some(SIGNATURE), body, now), Err(Refused::NoTimestamp));
        assert_eq!(s.verify(Some(TS), None, body, now), Err(Refused::NoSignature));
        assert_eq!(s.verify(Some("soon"), Some(SIGNATURE), body, now), Err(Refused::BadTimestamp));
        assert_eq!(s.verify(Some(TS), Some(SIGNATURE), body, now + 301), Err(Refused::Stale(301)));
        assert_eq!(s.verify(Some(TS), Some(SIGNATURE), body, now - 301), Err(Refused::Stale(-301)));
        let mut tampered = body.to_vec();
        tampered[6] = b'X';
        assert_eq!(s.verify(Some(TS), Some(SIGNATURE), &tampered, now), Err(Refused::BadSignature));
        assert_eq!(s.verify(Some(TS), Some("v1=a2114d"), body, now), Err(Refused::BadSignature));
        assert_eq!(s.verify(Some(TS), Some("v0=zz"), body, now), Err(Refused::BadSignature));
        let other = SigningSecret::new("another-secret");
        assert_eq!(other.verify(Some(TS), Some(SIGNATURE), body, now), Err(Refused::BadSignature));
        // A signature moved to another timestamp does not verify.
        assert_eq!(s.verify(Some("1531420619"), Some(SIGNATURE), body, now), Err(Refused::BadSignature));
    }
}
