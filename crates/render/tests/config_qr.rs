//! The QR code of a real client config decodes back to exactly the config: what a phone
//! scanning it in the Amnezia or WireGuard app would import.

use rand::rngs::{OsRng, StdRng};
use rand::SeedableRng;
use vpnkeeper_domain::awg::{AwgParams, AwgVersion};
use vpnkeeper_domain::keys::{wg_keypair, wg_material};
use vpnkeeper_domain::secrets::ClusterSecret;
use vpnkeeper_domain::wgconf::{render_client_config, ClientKeys, ClientOptions};
use vpnkeeper_domain::{Device, DeviceType, Node, NodeWireguard, Protocol};

fn decode(png: &[u8]) -> Vec<String> {
    let image = image::load_from_memory(png).unwrap().to_luma8();
    rqrr::PreparedImage::prepare(image)
        .detect_grids()
        .into_iter()
        .map(|grid| grid.decode().expect("decodable grid").1)
        .collect()
}

fn rendered_config(version: AwgVersion, special_junk: Option<&str>) -> String {
    let sealer = ClusterSecret::generate(&mut OsRng).sealer();
    let mut awg = AwgParams::generate(&mut StdRng::seed_from_u64(42), version);
    awg.i1 = special_junk.map(str::to_owned);
    awg.validate().unwrap();
    let material = wg_material(&mut OsRng, &sealer);
    let node = Node {
        id: 1,
        name: "fra-1".into(),
        raft_addr: "127.0.0.1:7001".into(),
        api_addr: "127.0.0.1:8001".into(),
        public_host: "vpn.example.org".into(),
        wireguard: Some(NodeWireguard {
            listen_port: 51820,
            address_pool: "10.8.0.0/24".parse().unwrap(),
            public_key: wg_keypair(&mut OsRng).1,
            private_key: None,
            awg: Some(awg),
            dns: vec!["1.1.1.1".parse().unwrap()],
            mtu: None,
        }),
        xray: None,
        created_at_ms: 0,
        updated_at_ms: 0,
    };
    let device = Device {
        id: 12,
        uuid: uuid::Uuid::new_v4(),
        user_id: 1,
        node_id: 1,
        name: "alice".into(),
        device_type: DeviceType::Phone,
        protocol: Protocol::Awg,
        wg_public_key: Some(material.public_key),
        wg_private_key: Some(material.private_key),
        wg_psk: Some(material.preshared_key),
        address_v4: Some("10.8.0.12/32".into()),
        created_at_ms: 0,
        revoked_at_ms: None,
        last_handshake_ms: None,
        rx_bytes: 0,
        tx_bytes: 0,
    };
    let keys = ClientKeys::open(&sealer, &device).unwrap();
    render_client_config(&node, &device, &keys, &ClientOptions::default()).unwrap()
}

#[test]
fn awg_config_qr_decodes_to_the_config() {
    for (version, junk) in [
        (AwgVersion::V1, None),
        (AwgVersion::V2, Some("<b 0xc2000000010843290a47ba8ba2ed000044d0e3efd9326adb60561baa3bc4b52471b2d459ddcc9a508dffddc97e7c5f6b8b0a1d5a><r 64><t>")),
    ] {
        let config = rendered_config(version, junk);
        assert!(config.contains("\nJc = "), "{config}");
        let png = vpnkeeper_render::qr_png(&config).unwrap();
        assert_eq!(decode(&png), std::slice::from_ref(&config), "{version:?}");
        // Asking again gives the same picture, byte for byte.
        assert_eq!(png, vpnkeeper_render::qr_png(&config).unwrap());
    }
}
