//! The embedded data plane end to end in network namespaces: two embedded instances with
//! AmneziaWG 1.0 and 2.0 parameters (ping, a 20 MB TCP transfer, and what tcpdump sees on
//! the wire), and plain-WireGuard interop with wireguard-go and boringtun, either side
//! initiating.

mod common;

use std::time::Duration;

use common::*;
use vpnkeeper_awg::params::{COOKIE_LEN, INIT_LEN, RESPONSE_LEN, TRANSPORT_MIN};
use vpnkeeper_awg::uapi::UapiServer;
use vpnkeeper_awg::AwgParams;

const TRANSFER: usize = 20 * 1024 * 1024;

fn u32_at(d: &[u8], at: usize) -> Option<u32> {
    d.get(at..at + 4)
        .map(|s| u32::from_le_bytes(s.try_into().unwrap()))
}

/// What a datagram on the wire is under `p` (mirrors AWG-PROTOCOL.md §3, independently of
/// the crate's classifier).
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
enum Seen {
    Init,
    Response,
    Cookie,
    Transport,
    Other,
}

fn seen(p: &AwgParams, d: &[u8]) -> Seen {
    let s = p.s.map(usize::from);
    let is = |k: usize, off: usize| u32_at(d, off).is_some_and(|v| p.h[k].contains(v));
    if d.len() == INIT_LEN + s[0] && is(0, s[0]) {
        Seen::Init
    } else if d.len() == RESPONSE_LEN + s[1] && is(1, s[1]) {
        Seen::Response
    } else if d.len() == COOKIE_LEN + s[2] && is(2, s[2]) {
        Seen::Cookie
    } else if d.len() >= TRANSPORT_MIN + s[3] && is(3, s[3]) {
        Seen::Transport
    } else {
        Seen::Other
    }
}

/// Check the capture: before every initiation from the initiator come exactly the I
/// packets (their sizes) and then Jc junk datagrams in [Jmin, Jmax]; initiation and
/// response sizes; transport carries the S4 prefix; nothing else on the wire.
fn check_wire(p: &AwgParams, pkts: &[(String, Vec<u8>)], initiator: &str) {
    let i_lens: Vec<usize> = p.i.iter().flatten().map(|t| t.len()).collect();
    let pre = i_lens.len() + p.jc as usize;
    let from_init: Vec<&Vec<u8>> = pkts
        .iter()
        .filter(|(s, _)| s == initiator)
        .map(|(_, d)| d)
        .collect();
    let mut inits = 0;
    for (i, d) in from_init.iter().enumerate() {
        if seen(p, d) != Seen::Init {
            continue;
        }
        inits += 1;
        assert_eq!(d.len(), INIT_LEN + p.s[0] as usize);
        assert!(
            i >= pre,
            "initiation #{inits} not preceded by {pre} packets"
        );
        let before = &from_init[i - pre..i];
        for (k, want) in i_lens.iter().enumerate() {
            assert_eq!(before[k].len(), *want, "I{} packet size", k + 1);
            assert_eq!(seen(p, before[k]), Seen::Other);
        }
        for j in &before[i_lens.len()..] {
            assert!(
                (p.jmin as usize..=p.jmax as usize).contains(&j.len()),
                "junk of {} bytes outside [{}, {}]",
                j.len(),
                p.jmin,
                p.jmax
            );
            assert_eq!(seen(p, j), Seen::Other, "junk looks like a message");
        }
    }
    assert!(inits >= 1, "no initiation on the wire");
    let responses: Vec<_> = pkts
        .iter()
        .filter(|(s, d)| s != initiator && seen(p, d) == Seen::Response)
        .collect();
    assert!(!responses.is_empty(), "no response on the wire");
    assert!(responses
        .iter()
        .all(|(_, d)| d.len() == RESPONSE_LEN + p.s[1] as usize));
    let transport = pkts
        .iter()
        .filter(|(_, d)| seen(p, d) == Seen::Transport)
        .count();
    assert!(
        transport > 1000,
        "only {transport} transport packets for 20 MB"
    );
    // Every datagram is a message in the H ranges, or pre-initiation junk/I from the initiator.
    let others: Vec<_> = pkts
        .iter()
        .filter(|(_, d)| seen(p, d) == Seen::Other)
        .collect();
    assert!(
        others.iter().all(|(s, _)| s == initiator),
        "the responder sent non-messages"
    );
    assert_eq!(
        others.len(),
        inits * pre,
        "junk/I packets other than before initiations"
    );
    if !p.wire_is_plain() {
        // No plain WireGuard type field at offset 0 where a prefix is expected.
        for (_, d) in pkts {
            let t = seen(p, d);
            if t == Seen::Transport && p.s[3] > 0 {
                assert!(d.len() >= 32 + p.s[3] as usize);
            }
        }
    }
}

fn two_embedded(tag: &str, params: &str) {
    if prerequisites(tag, &["tcpdump"]).is_none() {
        return;
    }
    let p = AwgParams::from_uapi(params).unwrap();
    let mut lab = Lab::new(tag);
    let (ka, kb) = (random_key(), random_key());
    let a = lab.embedded(&lab.ns_a.clone(), &lab.iface("a"), ka, A_TUN, &p);
    let b = lab.embedded(&lab.ns_b.clone(), &lab.iface("b"), kb, B_TUN, &p);
    a.upsert_peers([peer(&kb, B_TUN, None)]);
    b.upsert_peers([peer(&ka, A_TUN, Some(&format!("{A_VETH}:{PORT}")))]);
    let (mut tcpdump, pcap) = lab.capture();
    assert!(
        lab.ping(&lab.ns_b, A_TUN, Duration::from_secs(10)),
        "ping b → a through the tunnel"
    );
    assert!(
        lab.ping(&lab.ns_a, B_TUN, Duration::from_secs(5)),
        "ping a → b"
    );
    assert_eq!(
        tcp_transfer(&lab.ns_b, &lab.ns_a, A_TUN, TRANSFER),
        TRANSFER
    );
    std::thread::sleep(Duration::from_millis(300));
    let _ = tcpdump.kill();
    let _ = tcpdump.wait();
    check_wire(&p, &pcap_udp(&pcap), B_VETH);
    let m = a.metrics();
    assert!(m.handshakes_completed >= 1, "{m:?}");
    assert_eq!(m.dropped_bad_mac, 0, "{m:?}");
    let mb = b.metrics();
    let per_init = (p.jc as usize + p.i.iter().flatten().count()) as u64;
    assert!(
        mb.junk_sent >= per_init && mb.junk_sent % per_init == 0,
        "{mb:?}"
    );
    let stats = a.peers();
    assert!(stats[0].last_handshake.is_some() && stats[0].rx_bytes > TRANSFER as u64);
}

#[test]
fn awg_10_two_embedded_instances() {
    two_embedded(
        "e1",
        "jc=4\njmin=40\njmax=70\ns1=37\ns2=51\nh1=1234567\nh2=2345678\nh3=3456789\nh4=4567890",
    );
}

#[test]
fn awg_20_two_embedded_instances() {
    two_embedded(
        "e2",
        "jc=5\njmin=20\njmax=90\ns1=29\ns2=43\ns3=17\ns4=11\nh1=100000-100999\nh2=200000-200999\nh3=300000-300999\nh4=400000-400999\ni1=<b 0xc0ffee><r 16><t>\ni2=<rc 8><rd 4><b 0102>",
    );
}

/// Plain WireGuard against a real daemon; `embedded_initiates` picks who sends first.
fn interop(tag: &str, program: &str, embedded_initiates: bool) {
    if prerequisites(tag, &["wg", program]).is_none() {
        return;
    }
    let mut lab = Lab::new(tag);
    let (ka, kb) = (random_key(), random_key());
    let plain = AwgParams::default();
    let a = lab.embedded(&lab.ns_a.clone(), &lab.iface("a"), ka, A_TUN, &plain);
    let b_endpoint = format!("{B_VETH}:{PORT}");
    let a_endpoint = format!("{A_VETH}:{PORT}");
    a.upsert_peers([peer(
        &kb,
        B_TUN,
        embedded_initiates.then_some(b_endpoint.as_str()),
    )]);
    let (ns_b, ifb) = (lab.ns_b.clone(), lab.iface("b"));
    let endpoint = (!embedded_initiates).then_some(a_endpoint.as_str());
    lab.daemon(
        program,
        &ns_b,
        &ifb,
        &kb,
        B_TUN,
        &common::public(&ka),
        A_TUN,
        endpoint,
    );
    let (from, to) = if embedded_initiates {
        (&lab.ns_a, B_TUN)
    } else {
        (&lab.ns_b, A_TUN)
    };
    let ok = lab.ping(from, to, Duration::from_secs(10));
    assert!(
        ok,
        "{program}: first ping; embedded: {:?}; wg: {}",
        a.metrics(),
        String::from_utf8_lossy(&run("wg", &["show", &ifb, "dump"]).stdout)
    );
    let (back_from, back_to) = if embedded_initiates {
        (&lab.ns_b, A_TUN)
    } else {
        (&lab.ns_a, B_TUN)
    };
    assert!(
        lab.ping(back_from, back_to, Duration::from_secs(5)),
        "{program}: ping back"
    );
    let n = 2 * 1024 * 1024;
    assert_eq!(tcp_transfer(&lab.ns_b, &lab.ns_a, A_TUN, n), n);
    assert_eq!(a.metrics().dropped_bad_mac, 0);
}

#[test]
fn plain_interop_wireguard_go_initiates() {
    interop("ig", "wireguard-go", false);
}

#[test]
fn plain_interop_embedded_initiates_to_wireguard_go() {
    interop("ie", "wireguard-go", true);
}

#[test]
fn plain_interop_boringtun_initiates() {
    interop("bg", "boringtun-cli", false);
}

#[test]
fn plain_interop_embedded_initiates_to_boringtun() {
    interop("be", "boringtun-cli", true);
}

/// `wg show` reads the embedded plane through its UAPI socket; `wg set` removes a peer and
/// its session goes at once.
#[test]
fn uapi_socket_serves_wg_show_and_set() {
    if prerequisites("uapi", &["wg"]).is_none() {
        return;
    }
    let lab = Lab::new("u");
    let (ka, kb) = (random_key(), random_key());
    let p = AwgParams::from_uapi(
        "jc=3\njmin=10\njmax=20\ns1=15\ns2=25\nh1=10-20\nh2=30-40\nh3=50-60\nh4=70-80",
    )
    .unwrap();
    let a = lab.embedded(&lab.ns_a.clone(), &lab.iface("a"), ka, A_TUN, &p);
    let b = lab.embedded(&lab.ns_b.clone(), &lab.iface("b"), kb, B_TUN, &p);
    a.upsert_peers([peer(&kb, B_TUN, None)]);
    b.upsert_peers([peer(&ka, A_TUN, Some(&format!("{A_VETH}:{PORT}")))]);
    // `wg` looks in /var/run/wireguard; the embedded default is /var/run/amneziawg.
    let server = UapiServer::start(&a, std::path::Path::new("/var/run/wireguard")).unwrap();
    assert!(lab.ping(&lab.ns_b, A_TUN, Duration::from_secs(10)));
    let dump = must("wg", &["show", a.name(), "dump"]);
    let lines: Vec<&str> = dump.lines().collect();
    assert_eq!(lines.len(), 2, "{dump}");
    let iface: Vec<&str> = lines[0].split('\t').collect();
    assert_eq!(iface[1], b64(&public(&ka)));
    assert_eq!(iface[2], PORT.to_string());
    let peer_line: Vec<&str> = lines[1].split('\t').collect();
    assert_eq!(peer_line[0], b64(&public(&kb)));
    assert_eq!(peer_line[2], format!("{B_VETH}:{PORT}"));
    assert_eq!(peer_line[3], format!("{B_TUN}/32"));
    assert_ne!(peer_line[4], "0", "latest handshake");
    assert_ne!(peer_line[5], "0", "rx bytes");
    must(
        "wg",
        &["set", a.name(), "peer", &b64(&public(&kb)), "remove"],
    );
    assert_eq!(a.peer_count(), 0);
    assert!(
        !lab.ping(&lab.ns_b, A_TUN, Duration::from_secs(2)),
        "removed peer still pings"
    );
    assert!(a.metrics().dropped_unknown_peer > 0);
    drop(server);
    assert!(!std::path::Path::new(&format!("/var/run/wireguard/{}.sock", a.name())).exists());
}

/// Garbage, replays and a handshake flood from an unknown key: all dropped and counted,
/// cookies under load, no panic, and the real peer's tunnel keeps working.
#[test]
fn bad_input_is_dropped_counted_and_survived() {
    use boringtun::noise::{Tunn, TunnResult};
    use rand::{Rng, RngCore};
    if prerequisites("bad_input", &["tcpdump"]).is_none() {
        return;
    }
    let p = AwgParams::from_uapi(
        "jc=2\njmin=30\njmax=60\ns1=21\ns2=33\ns3=7\ns4=9\nh1=5000-5999\nh2=6000-6999\nh3=7000-7999\nh4=8000-8999",
    )
    .unwrap();
    let mut lab = Lab::new("bad");
    let (ka, kb) = (random_key(), random_key());
    let a = lab.embedded(&lab.ns_a.clone(), &lab.iface("a"), ka, A_TUN, &p);
    let b = lab.embedded(&lab.ns_b.clone(), &lab.iface("b"), kb, B_TUN, &p);
    a.upsert_peers([peer(&kb, B_TUN, None)]);
    b.upsert_peers([peer(&ka, A_TUN, Some(&format!("{A_VETH}:{PORT}")))]);
    let (mut tcpdump, pcap) = lab.capture();
    assert!(lab.ping(&lab.ns_b, A_TUN, Duration::from_secs(10)));
    std::thread::sleep(Duration::from_millis(300));
    let _ = tcpdump.kill();
    let _ = tcpdump.wait();
    let wire = pcap_udp(&pcap);
    let sizes: Vec<(String, usize)> = wire.iter().map(|(s, d)| (s.clone(), d.len())).collect();
    let init = wire
        .iter()
        .find(|(s, d)| s == B_VETH && seen(&p, d) == Seen::Init)
        .unwrap_or_else(|| panic!("{sizes:?}"))
        .1
        .clone();
    let data = wire
        .iter()
        .find(|(s, d)| s == B_VETH && seen(&p, d) == Seen::Transport)
        .unwrap()
        .1
        .clone();

    let attacker = in_ns(&lab.ns_b.clone(), || {
        std::net::UdpSocket::bind("0.0.0.0:0").unwrap()
    });
    let target = format!("{A_VETH}:{PORT}");
    let mut rng = rand::thread_rng();
    for i in 0..2000 {
        if i % 200 == 0 {
            std::thread::sleep(Duration::from_millis(5)); // a flood, not a kernel-buffer test
        }
        let mut d = vec![0u8; rng.gen_range(0..1500)];
        rng.fill_bytes(&mut d);
        attacker.send_to(&d, &target).unwrap();
    }
    for _ in 0..5 {
        attacker.send_to(&init, &target).unwrap();
        attacker.send_to(&data, &target).unwrap();
    }
    // A burst of valid-MAC initiations from a key A does not know: past the rate limit
    // A answers with cookies; the rest are dropped as unknown peers.
    let stranger = x25519_dalek::StaticSecret::from(random_key());
    let mut buf = vec![0u8; 1 << 17];
    for i in 0..600u32 {
        let mut t = Tunn::new(
            stranger.clone(),
            x25519_dalek::PublicKey::from(public(&ka)),
            None,
            None,
            i,
            None,
        );
        let head = 1 << 16;
        let n = match t.format_handshake_initiation(&mut buf[head..], false) {
            TunnResult::WriteToNetwork(m) => m.len(),
            other => panic!("{other:?}"),
        };
        let r = vpnkeeper_awg::wire::seal(
            &p,
            &vpnkeeper_awg::wire::mac1_key(&public(&ka)),
            &mut buf,
            head,
            n,
            &mut rng,
        )
        .unwrap();
        attacker.send_to(&buf[r], &target).unwrap();
    }
    std::thread::sleep(Duration::from_millis(500));
    let m = a.metrics();
    assert!(m.dropped_unclassified >= 1900, "{m:?}");
    assert!(
        m.dropped_replay >= 5,
        "replayed initiation/transport not counted: {m:?}"
    );
    assert!(
        m.cookies_sent > 0,
        "no cookie replies under a handshake flood: {m:?}"
    );
    assert!(m.dropped_unknown_peer > 0, "{m:?}");
    // The real peer still gets through (after the flood's load window passes).
    std::thread::sleep(Duration::from_millis(1100));
    assert!(
        lab.ping(&lab.ns_b, A_TUN, Duration::from_secs(10)),
        "tunnel broken by the flood: {m:?}"
    );
}

/// The reference rule (AWG-PROTOCOL.md §2, amneziawg-go): MAC1 and MAC2 are BLAKE2s-128
/// keyed MACs over the message with the H value already in the type field; a cookie reply
/// is XChaCha20-Poly1305 under BLAKE2s("cookie--" || responder key) with AEAD data = the
/// on-wire MAC1. Computed here with `blake2`/`chacha20poly1305` directly, not the crate's
/// code, so a convention shared by both vpnkeeper ends cannot pass for the reference.
mod reference {
    use blake2::digest::{FixedOutput, KeyInit, Update};
    use blake2::{Blake2s256, Blake2sMac, Digest};
    use chacha20poly1305::aead::AeadInPlace;
    use chacha20poly1305::{XChaCha20Poly1305, XNonce};

    pub fn mac(key: &[u8], data: &[u8]) -> [u8; 16] {
        let mut m =
            <Blake2sMac<blake2::digest::consts::U16> as KeyInit>::new_from_slice(key).unwrap();
        m.update(data);
        m.finalize_fixed().into()
    }

    pub fn hash(label: &[u8], key: &[u8; 32]) -> [u8; 32] {
        let mut h = Blake2s256::new();
        Digest::update(&mut h, label);
        Digest::update(&mut h, key);
        h.finalize().into()
    }

    /// Dress a type-1/2 message as amneziawg-go sends it: type = `h`, MAC1 with the
    /// receiver's key, MAC2 with `cookie` (zeros without), both over the H-valued bytes.
    /// Returns the on-wire MAC1.
    pub fn dress(
        msg: &mut [u8],
        h: u32,
        receiver: &[u8; 32],
        cookie: Option<[u8; 16]>,
    ) -> [u8; 16] {
        let n = msg.len();
        msg[..4].copy_from_slice(&h.to_le_bytes());
        let mac1 = mac(&hash(b"mac1----", receiver), &msg[..n - 32]);
        msg[n - 32..n - 16].copy_from_slice(&mac1);
        let mac2 = cookie.map_or([0u8; 16], |c| mac(&c, &msg[..n - 16]));
        msg[n - 16..].copy_from_slice(&mac2);
        mac1
    }

    /// A cookie reply (type `h`) to the message with sender index `receiver` and on-wire
    /// MAC1 `mac1`, as an amneziawg-go responder under load sends it.
    pub fn cookie_reply(
        h: u32,
        receiver: &[u8],
        responder: &[u8; 32],
        mac1: &[u8; 16],
        cookie: &[u8; 16],
    ) -> Vec<u8> {
        let mut r = vec![0u8; 64];
        r[..4].copy_from_slice(&h.to_le_bytes());
        r[4..8].copy_from_slice(receiver);
        r[8..32].copy_from_slice(&[0x5a; 24]);
        let mut c = *cookie;
        let tag = XChaCha20Poly1305::new((&hash(b"cookie--", responder)).into())
            .encrypt_in_place_detached(XNonce::from_slice(&r[8..32]), mac1, &mut c)
            .unwrap();
        r[32..48].copy_from_slice(&c);
        r[48..].copy_from_slice(&tag);
        r
    }

    /// The cookie in a reply from `responder` to a message whose on-wire MAC1 was `mac1`.
    pub fn open_cookie(reply: &[u8], responder: &[u8; 32], mac1: &[u8; 16]) -> Option<[u8; 16]> {
        let mut c: [u8; 16] = reply[32..48].try_into().unwrap();
        XChaCha20Poly1305::new((&hash(b"cookie--", responder)).into())
            .decrypt_in_place_detached(
                XNonce::from_slice(&reply[8..32]),
                mac1,
                &mut c,
                reply[48..64].into(),
            )
            .ok()
            .map(|_| c)
    }
}

/// An amneziawg-go-style client (H1 ≠ 1) against an embedded node forced under load
/// (handshake limit 0): the node answers the first initiation with a cookie reply sealed
/// over the on-wire MAC1, accepts the retry whose MAC2 is computed over the H-valued bytes,
/// and the handshake completes.
#[test]
fn cookie_mac2_over_h_valued_bytes_like_amneziawg_go() {
    use boringtun::noise::{Tunn, TunnResult};
    use rand::RngCore;
    if prerequisites("cookie_mac2", &[]).is_none() {
        return;
    }
    let p = AwgParams::from_uapi(
        "s1=21\ns2=33\ns3=7\ns4=9\nh1=100000-100099\nh2=200000-200099\nh3=300000-300099\nh4=400000-400099",
    )
    .unwrap();
    let lab = Lab::new("ckr");
    let (ka, kc) = (random_key(), random_key());
    let mut cfg = vpnkeeper_awg::DeviceConfig::new(lab.iface("a"), ka, PORT);
    cfg.address = Some(format!("{A_TUN}/24").parse().unwrap());
    cfg.params = p.clone();
    cfg.handshake_limit = 0;
    let a = in_ns(&lab.ns_a.clone(), move || {
        vpnkeeper_awg::Device::create(cfg).unwrap()
    });
    a.upsert_peers([peer(&kc, B_TUN, None)]);
    let sock = in_ns(&lab.ns_b.clone(), || {
        std::net::UdpSocket::bind("0.0.0.0:0").unwrap()
    });
    sock.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let target = format!("{A_VETH}:{PORT}");
    let a_pub = public(&ka);
    let mut client = Tunn::new(
        x25519_dalek::StaticSecret::from(kc),
        x25519_dalek::PublicKey::from(a_pub),
        None,
        None,
        7,
        None,
    );
    let mut buf = vec![0u8; 2048];
    let mut send_init = |client: &mut Tunn, cookie: Option<[u8; 16]>| -> [u8; 16] {
        let mut msg = match client.format_handshake_initiation(&mut buf, true) {
            TunnResult::WriteToNetwork(m) => m.to_vec(),
            other => panic!("{other:?}"),
        };
        let mac1 = reference::dress(&mut msg, 100_042, &a_pub, cookie);
        let mut wire = vec![0u8; 21];
        rand::thread_rng().fill_bytes(&mut wire);
        wire.extend_from_slice(&msg);
        sock.send_to(&wire, &target).unwrap();
        mac1
    };
    let recv = |sock: &std::net::UdpSocket| -> Vec<u8> {
        let mut d = vec![0u8; 2048];
        let (n, _) = loop {
            match sock.recv_from(&mut d) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                r => break r.expect("no answer from the node"),
            }
        };
        d.truncate(n);
        d
    };

    let mac1 = send_init(&mut client, None);
    let reply = recv(&sock);
    assert_eq!(
        reply.len(),
        7 + COOKIE_LEN,
        "expected a cookie reply: {reply:?}"
    );
    assert!(p.h[2].contains(u32::from_le_bytes(reply[7..11].try_into().unwrap())));
    let cookie = reference::open_cookie(&reply[7..], &a_pub, &mac1)
        .expect("cookie reply not sealed over the on-wire (H-valued) MAC1");

    send_init(&mut client, Some(cookie));
    let resp = recv(&sock);
    assert_eq!(
        resp.len(),
        33 + RESPONSE_LEN,
        "MAC2 over the H-valued bytes refused: {:?}",
        a.metrics()
    );
    let mut msg = resp[33..].to_vec();
    assert!(p.h[1].contains(u32::from_le_bytes(msg[..4].try_into().unwrap())));
    // Back to the plain form boringtun checks: type 2, MAC1 over it with the client's key.
    msg[..4].copy_from_slice(&2u32.to_le_bytes());
    let n = msg.len();
    let mac1 = reference::mac(&reference::hash(b"mac1----", &public(&kc)), &msg[..n - 32]);
    msg[n - 32..n - 16].copy_from_slice(&mac1);
    let mut out = vec![0u8; 2048];
    match client.decapsulate(None, &msg, &mut out) {
        TunnResult::WriteToNetwork(_) => {}
        other => panic!("response not accepted: {other:?}"),
    }
    assert!(
        client.time_since_last_handshake().is_some(),
        "handshake did not complete"
    );
    let m = a.metrics();
    assert!(m.cookies_sent >= 1 && m.handshakes_completed >= 1, "{m:?}");
}

/// The other direction: the embedded node initiates (H1 ≠ 1) to an amneziawg-go-style
/// responder under load. The responder's cookie reply is sealed over the on-wire MAC1; the
/// node's retried initiation must carry MAC2 = MAC(cookie, H-valued bytes).
#[test]
fn initiator_takes_cookie_and_macs_the_h_valued_retry() {
    if prerequisites("cookie_initiator", &[]).is_none() {
        return;
    }
    let p = AwgParams::from_uapi(
        "jc=2\njmin=30\njmax=60\ns1=21\ns2=33\ns3=7\ns4=9\nh1=100000-100099\nh2=200000-200099\nh3=300000-300099\nh4=400000-400099",
    )
    .unwrap();
    let lab = Lab::new("cki");
    let (ka, kr) = (random_key(), random_key());
    let a = lab.embedded(&lab.ns_a.clone(), &lab.iface("a"), ka, A_TUN, &p);
    a.upsert_peers([peer(&kr, B_TUN, Some(&format!("{B_VETH}:{PORT}")))]);
    let responder = in_ns(&lab.ns_b.clone(), || {
        std::net::UdpSocket::bind(("0.0.0.0", PORT)).unwrap()
    });
    responder
        .set_read_timeout(Some(Duration::from_secs(12)))
        .unwrap();
    let r_pub = public(&kr);
    // The next initiation from A (junk and I packets skipped), as sent.
    let next_init = || -> (Vec<u8>, std::net::SocketAddr) {
        let mut d = vec![0u8; 2048];
        loop {
            let (n, from) = match responder.recv_from(&mut d) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                r => r.expect("no initiation from A"),
            };
            if seen(&p, &d[..n]) == Seen::Init {
                return (d[21..n].to_vec(), from);
            }
        }
    };
    // One packet for B starts the handshake; nobody answers it (no ping reply expected).
    let _ = lab.ping(&lab.ns_a, B_TUN, Duration::from_millis(500));
    let (first, from) = next_init();
    let n = first.len();
    let mac1 = reference::mac(&reference::hash(b"mac1----", &r_pub), &first[..n - 32]);
    assert_eq!(
        first[n - 32..n - 16],
        mac1,
        "MAC1 not over the H-valued bytes"
    );
    assert_eq!(first[n - 16..], [0u8; 16], "MAC2 set without a cookie");
    let cookie = [0x3cu8; 16];
    let mut reply = vec![0u8; 7];
    reply.extend(reference::cookie_reply(
        300_050,
        &first[4..8],
        &r_pub,
        &mac1,
        &cookie,
    ));
    responder.send_to(&reply, from).unwrap();
    // boringtun retries the initiation after its rekey timeout (5 s).
    let (retry, _) = next_init();
    let n = retry.len();
    assert!(p.h[0].contains(u32::from_le_bytes(retry[..4].try_into().unwrap())));
    assert_eq!(
        retry[n - 16..],
        reference::mac(&cookie, &retry[..n - 16]),
        "retry's MAC2 is not MAC(cookie, on-wire message): {:?}",
        a.metrics()
    );
}
