//! WireGuard's cookie mechanism (MAC2 and cookie replies), done here instead of by
//! boringtun because AmneziaWG computes both MACs over the message *as it is on the wire*,
//! with the H value in the type field (AWG-PROTOCOL.md §2; amneziawg-go does so).
//! boringtun only ever sees the message with type 1/2 restored and MAC1 recomputed, so its
//! MAC2 check and its cookie reply (whose AEAD data is MAC1) would not match an
//! amneziawg-go peer whose H1/H2 differ from 1/2. With H = 1..4 the on-wire bytes are the
//! WireGuard bytes and this is exactly WireGuard's mechanism.
//!
//! - Responder: [`Limiter::check`] counts handshake messages; past the per-second limit a
//!   message needs MAC2 = MAC(cookie, on-wire message up to MAC2), else it gets a cookie
//!   reply encrypted with AEAD data = its on-wire MAC1.
//! - Initiator: [`PeerCookie`] remembers the on-wire MAC1 of the last handshake message
//!   sent to a peer (to open the peer's cookie reply) and the cookie (to write MAC2).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use blake2::digest::{FixedOutput, KeyInit, Update};
use blake2::{Blake2s256, Blake2sMac, Digest};
use chacha20poly1305::aead::AeadInPlace;
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;

use crate::params::COOKIE_LEN;

/// How long a cookie secret (responder) and a received cookie (initiator) are good for.
const COOKIE_LIFETIME: Duration = Duration::from_secs(120);

pub(crate) fn mac16(key: &[u8], data: &[u8]) -> [u8; 16] {
    let mut m = <Blake2sMac<blake2::digest::consts::U16> as KeyInit>::new_from_slice(key)
        .expect("16- and 32-byte keys are valid for BLAKE2s");
    m.update(data);
    m.finalize_fixed().into()
}

/// BLAKE2s("cookie--" || public key): the key cookie replies from `public` are sealed with.
pub fn cookie_key(public: &[u8; 32]) -> [u8; 32] {
    let mut h = Blake2s256::new();
    Digest::update(&mut h, b"cookie--");
    Digest::update(&mut h, public);
    h.finalize().into()
}

/// MAC2 of a handshake message (the whole message; MAC2 covers everything before it).
pub fn mac2(cookie: &[u8; 16], msg: &[u8]) -> [u8; 16] {
    mac16(cookie, &msg[..msg.len() - 16])
}

fn mac1_of(msg: &[u8]) -> [u8; 16] {
    let n = msg.len();
    msg[n - 32..n - 16].try_into().expect("16 bytes")
}

/// The responder's side: load accounting, MAC2 check, cookie replies.
pub struct Limiter {
    secret: [u8; 32],
    start: Instant,
    sealing_key: [u8; 32],
    count: AtomicU64,
    limit: u64,
}

impl Limiter {
    pub fn new(own_public: &[u8; 32], limit: u64) -> Limiter {
        let mut secret = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut secret);
        Limiter {
            secret,
            start: Instant::now(),
            sealing_key: cookie_key(own_public),
            count: AtomicU64::new(0),
            limit,
        }
    }

    /// Called once a second: the limit is per second.
    pub fn reset_count(&self) {
        self.count.store(0, Ordering::Relaxed);
    }

    /// The cookie of a source address: MAC(secret changing every two minutes, IP || port).
    fn cookie(&self, from: SocketAddr) -> [u8; 16] {
        let epoch = self.start.elapsed().as_secs() / COOKIE_LIFETIME.as_secs();
        let mut key = self.secret;
        for (k, e) in key.iter_mut().zip(epoch.to_le_bytes()) {
            *k ^= e;
        }
        let mut a = Vec::with_capacity(18);
        match from.ip() {
            std::net::IpAddr::V4(ip) => a.extend_from_slice(&ip.octets()),
            std::net::IpAddr::V6(ip) => a.extend_from_slice(&ip.octets()),
        }
        a.extend_from_slice(&from.port().to_be_bytes());
        mac16(&key, &a)
    }

    /// Count a handshake message (MAC1 already checked) as received; under load, its MAC2
    /// must be right, else `Err` carries the cookie reply to send (plain type 3; the AWG
    /// layer dresses it). `sender` is the message's sender index.
    pub fn check(&self, from: SocketAddr, msg: &[u8]) -> Result<(), [u8; COOKIE_LEN]> {
        if self.count.fetch_add(1, Ordering::Relaxed) < self.limit {
            return Ok(());
        }
        let cookie = self.cookie(from);
        let n = msg.len();
        if mac2(&cookie, msg) == msg[n - 16..] {
            return Ok(());
        }
        let sender: [u8; 4] = msg[4..8].try_into().expect("4 bytes");
        Err(self.reply(sender, &cookie, &mac1_of(msg)))
    }

    fn reply(&self, receiver: [u8; 4], cookie: &[u8; 16], mac1: &[u8; 16]) -> [u8; COOKIE_LEN] {
        let mut r = [0u8; COOKIE_LEN];
        r[..4].copy_from_slice(&3u32.to_le_bytes());
        r[4..8].copy_from_slice(&receiver);
        rand::thread_rng().fill_bytes(&mut r[8..32]);
        let (head, body) = r.split_at_mut(32);
        body[..16].copy_from_slice(cookie);
        let cipher = XChaCha20Poly1305::new((&self.sealing_key).into());
        let tag = cipher
            .encrypt_in_place_detached(XNonce::from_slice(&head[8..32]), mac1, &mut body[..16])
            .expect("16 bytes always encrypt");
        body[16..].copy_from_slice(&tag);
        r
    }
}

/// The initiator's side, per peer: what its cookie replies need and what they gave.
#[derive(Default)]
pub struct PeerCookie {
    last_mac1: Option<[u8; 16]>,
    cookie: Option<([u8; 16], Instant)>,
}

impl PeerCookie {
    /// Stamp an outgoing handshake message that is in its on-wire form except MAC2: write
    /// MAC2 (with a fresh cookie, else zeros) and remember the MAC1 sent.
    pub fn stamp(&mut self, msg: &mut [u8]) {
        let n = msg.len();
        self.last_mac1 = Some(mac1_of(msg));
        let mac2 = match self.cookie {
            Some((c, at)) if at.elapsed() < COOKIE_LIFETIME => mac2(&c, msg),
            _ => [0u8; 16],
        };
        msg[n - 16..].copy_from_slice(&mac2);
    }

    /// Open a cookie reply from the peer whose cookie key is `key`; false = not for the last
    /// message we sent (or forged), dropped.
    pub fn accept_reply(&mut self, key: &[u8; 32], reply: &[u8]) -> bool {
        let Some(mac1) = self.last_mac1 else {
            return false;
        };
        if reply.len() != COOKIE_LEN {
            return false;
        }
        let mut cookie: [u8; 16] = reply[32..48].try_into().expect("16 bytes");
        let cipher = XChaCha20Poly1305::new(key.into());
        let ok = cipher
            .decrypt_in_place_detached(
                XNonce::from_slice(&reply[8..32]),
                &mac1,
                &mut cookie,
                reply[48..64].into(),
            )
            .is_ok();
        if ok {
            self.cookie = Some((cookie, Instant::now()));
            // A reply answers one message: a replayed one must not be accepted again.
            self.last_mac1 = None;
        }
        ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handshake(h: u32) -> Vec<u8> {
        let mut m = vec![5u8; 148];
        m[..4].copy_from_slice(&h.to_le_bytes());
        m
    }

    #[test]
    fn under_load_a_reply_then_the_cookie_passes() {
        let own = [7u8; 32];
        let l = Limiter::new(&own, 0);
        let from: SocketAddr = "10.0.0.2:4000".parse().unwrap();
        let mut pc = PeerCookie::default();
        let mut m = handshake(123_456);
        pc.stamp(&mut m);
        let reply = l.check(from, &m).expect_err("under load without cookie");
        assert!(pc.accept_reply(&cookie_key(&own), &reply));
        assert!(
            !pc.accept_reply(&cookie_key(&own), &reply),
            "replay accepted"
        );
        let mut m2 = handshake(123_457);
        pc.stamp(&mut m2);
        assert_eq!(l.check(from, &m2), Ok(()));
        // The cookie is bound to the source address.
        assert!(l.check("10.0.0.3:4000".parse().unwrap(), &m2).is_err());
        // And MAC2 covers the type field: the same message with another H fails.
        m2[..4].copy_from_slice(&1u32.to_le_bytes());
        assert!(l.check(from, &m2).is_err());
    }

    #[test]
    fn below_the_limit_no_mac2_is_needed() {
        let l = Limiter::new(&[1u8; 32], 2);
        let from: SocketAddr = "[::1]:9".parse().unwrap();
        let m = handshake(1);
        assert_eq!(l.check(from, &m), Ok(()));
        assert_eq!(l.check(from, &m), Ok(()));
        assert!(l.check(from, &m).is_err());
        l.reset_count();
        assert_eq!(l.check(from, &m), Ok(()));
    }
}
