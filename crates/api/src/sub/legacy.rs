//! Subscription URLs handed out by a panel we imported from, still answered on `/sub/{token}`.
//!
//! Marzban (checked in Gozargah/Marzban `app/utils/jwt.py`, `get_subscription_payload`) signs
//! two token shapes with its `jwt.secret_key`:
//! - `base64url("username,unix_seconds")` without padding, followed by 10 characters: the
//!   first 10 of base64url(sha256(that base64 text + secret));
//! - older releases: an HS256 JWT whose payload has `sub` (username), `access:
//!   "subscription"` and `iat`.
//!
//! A token is accepted when its signature checks under the imported secret, the username
//! was imported (and its vpnkeeper token not rotated since), and it was not issued before the
//! user's revocation in Marzban. It then answers exactly as the user's own subscription.

use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use vpnkeeper_domain::command::import::ImportSource;
use vpnkeeper_domain::secrets::purpose;

use crate::error::ApiError;
use crate::state::ApiState;

/// Marzban's JWT header `{"alg":"HS256","typ":"JWT"}`, which its sub tokens start with.
const JWT_PREFIX: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.";
/// Longest token looked at (a JWT with a long username stays far below).
const MAX_LEN: usize = 1024;

/// What a legacy token claims, before its signature is checked.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Claim {
    pub username: String,
    pub issued_at_secs: i64,
}

/// The vpnkeeper subscription token a legacy token stands for, if it is one.
pub(crate) async fn resolve(state: &ApiState, token: &str) -> Result<Option<String>, ApiError> {
    if token.len() < 15 || token.len() > MAX_LEN {
        return Ok(None);
    }
    // Cheap shape check first: ordinary tokens never reach the database twice.
    let shape_ok = token.starts_with(JWT_PREFIX) || signed_claim(token).is_some();
    if !shape_ok {
        return Ok(None);
    }
    let Some(sealed) = state
        .read()
        .legacy_sub_secret(ImportSource::Marzban)
        .await?
    else {
        return Ok(None);
    };
    let Ok(secret) = state
        .sealer()
        .open_string(purpose::LEGACY_SUB_SECRET, &sealed)
    else {
        tracing::warn!("the imported Marzban secret does not open with this cluster's key");
        return Ok(None);
    };
    let Some(claim) = verify_marzban(token, &secret) else {
        return Ok(None);
    };
    let Some(user) = state
        .read()
        .legacy_sub_user(ImportSource::Marzban, &claim.username)
        .await?
    else {
        return Ok(None);
    };
    let revoked = user
        .revoked_before_ms
        .is_some_and(|r| claim.issued_at_secs.saturating_mul(1000) < r);
    Ok((!revoked).then_some(user.sub_token))
}

/// Checks a Marzban token's signature under `secret`; the claim it carries when it holds.
pub(crate) fn verify_marzban(token: &str, secret: &str) -> Option<Claim> {
    if token.starts_with(JWT_PREFIX) {
        return verify_jwt(token, secret);
    }
    let claim = signed_claim(token)?;
    let (body, signature) = token.split_at(token.len() - 10);
    let digest = Sha256::digest(format!("{body}{secret}").as_bytes());
    let expected = URL_SAFE.encode(digest);
    ct_eq(signature.as_bytes(), &expected.as_bytes()[..10]).then_some(claim)
}

/// The `username,seconds` inside a non-JWT token, unverified.
fn signed_claim(token: &str) -> Option<Claim> {
    if token.len() <= 10 || !token.is_char_boundary(token.len() - 10) {
        return None;
    }
    let body = &token[..token.len() - 10];
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(body.trim_end_matches('=')).ok()?).ok()?;
    let (username, secs) = text.split_once(',')?;
    let issued_at_secs = secs.parse::<i64>().ok()?;
    (!username.is_empty()).then(|| Claim {
        username: username.to_string(),
        issued_at_secs,
    })
}

fn verify_jwt(token: &str, secret: &str) -> Option<Claim> {
    let (signed, signature) = token.rsplit_once('.')?;
    let (_, payload) = signed.split_once('.')?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).ok()?;
    mac.update(signed.as_bytes());
    let expected = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    if !ct_eq(signature.as_bytes(), expected.as_bytes()) {
        return None;
    }
    let claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    if claims.get("access")?.as_str()? != "subscription" {
        return None;
    }
    Some(Claim {
        username: claims.get("sub")?.as_str()?.to_string(),
        issued_at_secs: claims.get("iat")?.as_i64()?,
    })
}

/// Constant-time comparison, so a signature cannot be found byte by byte through timing.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A token as Marzban makes one (same steps as its `create_subscription_token`).
    fn marzban_token(username: &str, secs: i64, secret: &str) -> String {
        let body = URL_SAFE_NO_PAD.encode(format!("{username},{secs}"));
        let sig = URL_SAFE.encode(Sha256::digest(format!("{body}{secret}").as_bytes()));
        format!("{body}{}", &sig[..10])
    }

    #[test]
    fn a_signed_token_verifies_and_a_tampered_one_does_not() {
        let t = marzban_token("alice", 1_700_000_000, "s3cret");
        let claim = verify_marzban(&t, "s3cret").unwrap();
        assert_eq!(claim.username, "alice");
        assert_eq!(claim.issued_at_secs, 1_700_000_000);
        assert!(verify_marzban(&t, "other").is_none());
        let forged = marzban_token("bob", 1_700_000_000, "guess");
        assert!(verify_marzban(&forged, "s3cret").is_none());
        let mut cut = t.clone();
        cut.pop();
        assert!(verify_marzban(&cut, "s3cret").is_none());
    }

    #[test]
    fn ordinary_tokens_do_not_look_like_marzban_ones() {
        assert!(signed_claim("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").is_none());
        assert!(signed_claim("ééééééééééééééé").is_none());
    }

    #[test]
    fn an_hs256_jwt_with_subscription_access_verifies() {
        let header = JWT_PREFIX.trim_end_matches('.');
        let payload =
            URL_SAFE_NO_PAD.encode(br#"{"sub":"carol","access":"subscription","iat":1700000001}"#);
        let signed = format!("{header}.{payload}");
        let mut mac = Hmac::<Sha256>::new_from_slice(b"k").unwrap();
        mac.update(signed.as_bytes());
        let token = format!(
            "{signed}.{}",
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        );
        let claim = verify_marzban(&token, "k").unwrap();
        assert_eq!(claim.username, "carol");
        assert!(verify_marzban(&token, "x").is_none());
    }
}
