//! The AmneziaWG layer on the wire: classify incoming datagrams, turn them back into the
//! WireGuard messages boringtun expects, and dress outgoing WireGuard messages (S prefix,
//! H type value, MAC1 recomputed over the new type field).
//!
//! MAC1 is computed over the message *with the H value in the type field* (AWG-PROTOCOL.md
//! §2). boringtun computes it over type 1/2, so: on send we rewrite the type and recompute
//! MAC1 with the peer's MAC1 key; on receive we check MAC1 over the bytes as received, then
//! restore the type and recompute MAC1 with our own key so boringtun's check passes. MAC2
//! and cookie replies are [`crate::cookie`]'s, over the on-wire bytes like amneziawg-go.

use blake2::{Blake2s256, Digest};
use rand::{Rng, RngCore};

use crate::cookie::mac16;
use crate::params::{AwgParams, COOKIE_LEN, INIT_LEN, RESPONSE_LEN, TRANSPORT_MIN};

/// The four WireGuard messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Initiation = 0,
    Response = 1,
    Cookie = 2,
    Transport = 3,
}

impl Kind {
    fn from_wg_type(t: u32) -> Option<Kind> {
        Some(match t {
            1 => Kind::Initiation,
            2 => Kind::Response,
            3 => Kind::Cookie,
            4 => Kind::Transport,
            _ => return None,
        })
    }
    fn wg_type(self) -> u32 {
        self as u32 + 1
    }
}

/// BLAKE2s(label || public key): the MAC1 key of whoever owns `public`.
pub fn mac1_key(public: &[u8; 32]) -> [u8; 32] {
    let mut h = Blake2s256::new();
    Digest::update(&mut h, b"mac1----");
    Digest::update(&mut h, public);
    h.finalize().into()
}

fn read_u32(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

/// Where the WireGuard message starts in `d` and which it is; `None` = not ours (junk, I
/// packets, garbage). Order and rules of AWG-PROTOCOL.md §3.
pub fn classify(p: &AwgParams, d: &[u8]) -> Option<(Kind, usize)> {
    let [s1, s2, s3, s4] = p.s.map(usize::from);
    let at = |off: usize, k: usize| read_u32(d, off).is_some_and(|v| p.h[k].contains(v));
    if d.len() == INIT_LEN + s1 && at(s1, 0) {
        return Some((Kind::Initiation, s1));
    }
    if d.len() == RESPONSE_LEN + s2 && at(s2, 1) {
        return Some((Kind::Response, s2));
    }
    if d.len() == COOKIE_LEN + s3 && at(s3, 2) {
        return Some((Kind::Cookie, s3));
    }
    if d.len() >= TRANSPORT_MIN + s4 && at(s4, 3) {
        return Some((Kind::Transport, s4));
    }
    None
}

/// Why an incoming datagram was dropped by this layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenError {
    /// Not a message under these parameters (junk, I packets, noise).
    Unclassified,
    /// A handshake message whose MAC1 does not match our key.
    BadMac1,
}

/// Classify a received datagram and check MAC1 of a handshake over the bytes as received
/// (H value in the type field). Returns the message kind and where it starts in `d`.
pub fn check(p: &AwgParams, own_mac1_key: &[u8; 32], d: &[u8]) -> Result<(Kind, usize), OpenError> {
    let (kind, off) = classify(p, d).ok_or(OpenError::Unclassified)?;
    let msg = &d[off..];
    if is_handshake(kind) {
        let n = msg.len();
        if mac16(own_mac1_key, &msg[..n - 32]) != msg[n - 32..n - 16] {
            return Err(OpenError::BadMac1);
        }
    }
    Ok((kind, off))
}

/// Turn a checked message back into the plain WireGuard message boringtun expects, in
/// place: type 1..4, and MAC1 recomputed over it with our key so boringtun's MAC1 check
/// passes. MAC2 is not touched: it was checked on the wire bytes ([`crate::cookie`]).
pub fn restore(kind: Kind, own_mac1_key: &[u8; 32], msg: &mut [u8]) {
    let wg = kind.wg_type();
    if read_u32(msg, 0) == Some(wg) {
        return;
    }
    msg[..4].copy_from_slice(&wg.to_le_bytes());
    if is_handshake(kind) {
        let n = msg.len();
        let mac = mac16(own_mac1_key, &msg[..n - 32]);
        msg[n - 32..n - 16].copy_from_slice(&mac);
    }
}

/// [`check`] then [`restore`].
pub fn open(
    p: &AwgParams,
    own_mac1_key: &[u8; 32],
    d: &mut [u8],
) -> Result<(Kind, usize), OpenError> {
    let (kind, off) = check(p, own_mac1_key, d)?;
    restore(kind, own_mac1_key, &mut d[off..]);
    Ok((kind, off))
}

/// Initiations and responses carry MAC1/MAC2; cookie replies and transport do not.
pub fn is_handshake(kind: Kind) -> bool {
    matches!(kind, Kind::Initiation | Kind::Response)
}

/// The kind of a WireGuard message as boringtun produced it.
pub fn wg_kind(msg: &[u8]) -> Option<Kind> {
    read_u32(msg, 0).and_then(Kind::from_wg_type)
}

/// Dress an outgoing WireGuard message that sits at `buf[head..head + len]`: write the H
/// value (fixing MAC1 with the peer's key), and the S random prefix right before it.
/// MAC2 of a handshake is the caller's to write afterwards ([`crate::cookie::PeerCookie`]):
/// it covers the H value and the new MAC1.
/// Returns the range of `buf` to send. `head` must be at least [`AwgParams::max_prefix`].
pub fn seal(
    p: &AwgParams,
    peer_mac1_key: &[u8; 32],
    buf: &mut [u8],
    head: usize,
    len: usize,
    rng: &mut impl RngCore,
) -> Option<std::ops::Range<usize>> {
    let kind = wg_kind(&buf[head..head + len])?;
    let k = kind as usize;
    let h = p.h[k].pick(rng);
    let msg = &mut buf[head..head + len];
    if h != kind.wg_type() {
        msg[..4].copy_from_slice(&h.to_le_bytes());
        if is_handshake(kind) && len >= 32 {
            let mac = mac16(peer_mac1_key, &msg[..len - 32]);
            msg[len - 32..len - 16].copy_from_slice(&mac);
        }
    }
    let s = p.s[k] as usize;
    let start = head.checked_sub(s)?;
    rng.fill_bytes(&mut buf[start..head]);
    Some(start..head + len)
}

/// The datagrams an initiator sends before every initiation: I1..I5 (those set), then Jc
/// junk packets of random length in [Jmin, Jmax].
pub fn preamble(p: &AwgParams, rng: &mut impl Rng) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = p.i.iter().flatten().map(|t| t.render(rng)).collect();
    for _ in 0..p.jc {
        let n = rng.gen_range(p.jmin..=p.jmax) as usize;
        let mut junk = vec![0u8; n];
        rng.fill_bytes(&mut junk);
        out.push(junk);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn awg20() -> AwgParams {
        AwgParams::from_uapi(
            "jc=3\njmin=40\njmax=70\ns1=37\ns2=51\ns3=9\ns4=16\nh1=100000-100099\nh2=200000-200099\nh3=300000-300099\nh4=400000-400099\ni1=<b 0xc0ffee><r 16><t>\ni2=<r 30>",
        )
        .unwrap()
    }

    fn wg_msg(kind: u32, len: usize, mac_key: &[u8; 32]) -> Vec<u8> {
        let mut m = vec![7u8; len];
        m[..4].copy_from_slice(&kind.to_le_bytes());
        if kind <= 2 {
            let mac = mac16(mac_key, &m[..len - 32]);
            m[len - 32..len - 16].copy_from_slice(&mac);
        }
        m
    }

    #[test]
    fn seal_then_open_restores_every_message() {
        let p = awg20();
        let key = mac1_key(&[9u8; 32]);
        let mut rng = rand::thread_rng();
        for (t, len) in [(1u32, 148usize), (2, 92), (3, 64), (4, 32), (4, 1400)] {
            let orig = wg_msg(t, len, &key);
            let mut buf = vec![0u8; 200 + len];
            buf[100..100 + len].copy_from_slice(&orig);
            let r = seal(&p, &key, &mut buf, 100, len, &mut rng).unwrap();
            let k = (t - 1) as usize;
            assert_eq!(r.len(), len + p.s[k] as usize);
            let mut wire = buf[r].to_vec();
            let h = read_u32(&wire, p.s[k] as usize).unwrap();
            assert!(p.h[k].contains(h), "type {h} outside H{}", k + 1);
            let (kind, off) = open(&p, &key, &mut wire).unwrap();
            assert_eq!(kind as usize, k);
            assert_eq!(&wire[off..], &orig[..]);
        }
    }

    #[test]
    fn wrong_mac1_is_refused_and_junk_unclassified() {
        let p = awg20();
        let key = mac1_key(&[9u8; 32]);
        let other = mac1_key(&[8u8; 32]);
        let mut buf = vec![0u8; 400];
        let m = wg_msg(1, 148, &key);
        buf[100..248].copy_from_slice(&m);
        let r = seal(&p, &key, &mut buf, 100, 148, &mut rand::thread_rng()).unwrap();
        let mut wire = buf[r].to_vec();
        assert_eq!(open(&p, &other, &mut wire), Err(OpenError::BadMac1));
        for junk in preamble(&p, &mut rand::thread_rng()) {
            let mut j = junk.clone();
            // Junk in [40, 70] and I packets (23, 30 bytes) never look like messages here.
            assert_eq!(open(&p, &key, &mut j), Err(OpenError::Unclassified));
        }
    }

    #[test]
    fn preamble_order_and_sizes() {
        let p = awg20();
        let pre = preamble(&p, &mut rand::thread_rng());
        assert_eq!(pre.len(), 2 + 3);
        assert_eq!(pre[0].len(), 23);
        assert_eq!(&pre[0][..3], &[0xc0, 0xff, 0xee]);
        assert_eq!(pre[1].len(), 30);
        assert!(pre[2..].iter().all(|j| (40..=70).contains(&j.len())));
    }

    #[test]
    fn plain_params_leave_the_wire_alone() {
        let p = AwgParams::default();
        let key = mac1_key(&[1u8; 32]);
        let orig = wg_msg(1, 148, &key);
        let mut buf = orig.clone();
        let r = seal(&p, &key, &mut buf, 0, 148, &mut rand::thread_rng()).unwrap();
        assert_eq!(&buf[r], &orig[..]);
        assert!(preamble(&p, &mut rand::thread_rng()).is_empty());
    }

    proptest! {
        #[test]
        fn classifier_never_panics(d in proptest::collection::vec(any::<u8>(), 0..400), plain in any::<bool>()) {
            let p = if plain { AwgParams::default() } else { awg20() };
            let key = mac1_key(&[3u8; 32]);
            let mut d = d;
            if let Ok((_, off)) = open(&p, &key, &mut d) {
                prop_assert!(off <= d.len());
            }
        }

        #[test]
        fn shaped_datagrams_never_panic(len_kind in 0usize..4, h in any::<u32>(), fill in any::<u8>(), extra in 0usize..80) {
            let p = awg20();
            let key = mac1_key(&[3u8; 32]);
            let len = [148 + 37, 92 + 51, 64 + 9, 32 + 16 + extra][len_kind];
            let mut d = vec![fill; len];
            let off = p.s[len_kind] as usize;
            d[off..off + 4].copy_from_slice(&h.to_le_bytes());
            let r = open(&p, &key, &mut d);
            if len_kind >= 2 {
                // Cookie and transport have no MAC: in range means classified.
                prop_assert_eq!(r.is_ok(), p.h[len_kind].contains(h));
            }
        }
    }
}
