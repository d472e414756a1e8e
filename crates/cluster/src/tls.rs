//! The cluster's own PKI: a CA made at `init`, one certificate per node whose identity is its
//! node id, and the rustls configs node-to-node RPC runs on.
//!
//! Files in the data directory (keys 0600):
//! - `cluster-ca.crt` / `cluster-ca.key`: the cluster CA (ECDSA P-256, 10 years). Every
//!   member holds the CA key, so whichever node leads can sign a joiner's CSR; a member is
//!   as trusted as the cluster secret it also holds.
//! - `node.crt` / `node.key`: this node's certificate (1 year, SAN `node-<id>.vpnkeeper`)
//!   and its key, generated on the node itself (a joiner sends only a CSR).
//!
//! A node certificate is renewed from the local CA key when `run` starts and it has less
//! than [`RENEW_BEFORE_DAYS`] left or was not issued by the CA in the directory (or with
//! `vpnkeeper cert rotate`). [`new_ca`] replaces the CA itself (`vpnkeeper cert new-ca`,
//! with the cluster stopped: see docs/cluster.md).

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

pub const CA_CERT_FILE: &str = "cluster-ca.crt";
pub const CA_KEY_FILE: &str = "cluster-ca.key";
pub const NODE_CERT_FILE: &str = "node.crt";
pub const NODE_KEY_FILE: &str = "node.key";

/// Lifetime of the cluster CA.
pub const CA_DAYS: i64 = 3650;
/// Lifetime of a node certificate.
pub const NODE_CERT_DAYS: i64 = 365;
/// A node certificate closer than this to its end is renewed at start.
pub const RENEW_BEFORE_DAYS: i64 = 30;

/// ALPN protocol of the join handshake: the one request served without a client certificate.
pub const JOIN_ALPN: &[u8] = b"vpnkeeper-join/1";

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{0}")]
    Io(String),
    #[error("certificate: {0}")]
    Cert(String),
}

fn cert_err(e: impl std::fmt::Display) -> TlsError {
    TlsError::Cert(e.to_string())
}

/// The DNS name in a node certificate: the node id, as rustls checks names.
pub fn node_dns_name(node_id: u64) -> String {
    format!("node-{node_id}.vpnkeeper")
}

/// The node id a certificate was issued for (its `node-<id>.vpnkeeper` SAN), if any.
pub fn cert_node_id(der: &[u8]) -> Option<u64> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let san = cert.subject_alternative_name().ok()??;
    san.value.general_names.iter().find_map(|n| match n {
        x509_parser::extensions::GeneralName::DNSName(d) => d
            .strip_prefix("node-")?
            .strip_suffix(".vpnkeeper")?
            .parse()
            .ok(),
        _ => None,
    })
}

/// When a certificate stops being valid (unix seconds).
pub fn cert_not_after(der: &[u8]) -> Option<i64> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    Some(cert.validity().not_after.timestamp())
}

/// SHA-256 of a DER certificate, hex: what a join link pins.
pub fn fingerprint(der: &[u8]) -> String {
    hex::encode(Sha256::digest(der))
}

fn pem_to_der(pem: &str) -> Result<CertificateDer<'static>, TlsError> {
    CertificateDer::from_pem_slice(pem.as_bytes()).map_err(cert_err)
}

/// The cluster CA: its certificate and signing key, as PEM.
#[derive(Clone)]
pub struct ClusterCa {
    pub cert_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for ClusterCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClusterCa(..)")
    }
}

impl ClusterCa {
    pub fn generate(cluster_id: &str) -> Result<Self, TlsError> {
        let key = KeyPair::generate().map_err(cert_err)?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(
            DnType::CommonName,
            format!("vpnkeeper cluster {cluster_id} CA"),
        );
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let now = OffsetDateTime::now_utc();
        params.not_before = now - Duration::hours(1);
        params.not_after = now + Duration::days(CA_DAYS);
        let cert = params.self_signed(&key).map_err(cert_err)?;
        Ok(ClusterCa {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }

    pub fn load(dir: &Path) -> Result<Self, TlsError> {
        Ok(ClusterCa {
            cert_pem: read(&dir.join(CA_CERT_FILE))?,
            key_pem: read(&dir.join(CA_KEY_FILE))?,
        })
    }

    pub fn der(&self) -> Result<CertificateDer<'static>, TlsError> {
        pem_to_der(&self.cert_pem)
    }

    pub fn fingerprint(&self) -> Result<String, TlsError> {
        Ok(fingerprint(&self.der()?))
    }

    /// Signs a certificate for `node_id` over the public key of `csr_pem`. Whatever names the
    /// CSR asks for are ignored: the identity is the node id the signer chose.
    pub fn sign_csr(&self, csr_pem: &str, node_id: u64) -> Result<String, TlsError> {
        let csr = CertificateSigningRequestParams::from_pem(csr_pem)
            .map_err(|e| TlsError::Cert(format!("bad certificate signing request: {e}")))?;
        let key = KeyPair::from_pem(&self.key_pem).map_err(cert_err)?;
        let issuer = Issuer::from_ca_cert_pem(&self.cert_pem, key).map_err(cert_err)?;
        let signed = CertificateSigningRequestParams {
            params: node_params(node_id)?,
            public_key: csr.public_key,
        };
        Ok(signed.signed_by(&issuer).map_err(cert_err)?.pem())
    }
}

fn node_params(node_id: u64) -> Result<CertificateParams, TlsError> {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, format!("vpnkeeper node {node_id}"));
    params.distinguished_name = dn;
    params.subject_alt_names = vec![SanType::DnsName(
        node_dns_name(node_id).try_into().map_err(cert_err)?,
    )];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params.use_authority_key_identifier_extension = true;
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::hours(1);
    params.not_after = now + Duration::days(NODE_CERT_DAYS);
    Ok(params)
}

/// A new node key and a CSR for it: the key stays with the caller.
pub fn new_csr() -> Result<(String, String), TlsError> {
    let key = KeyPair::generate().map_err(cert_err)?;
    let csr = CertificateParams::default()
        .serialize_request(&key)
        .map_err(cert_err)?
        .pem()
        .map_err(cert_err)?;
    Ok((key.serialize_pem(), csr))
}

fn read(path: &Path) -> Result<String, TlsError> {
    fs::read_to_string(path)
        .map_err(|e| TlsError::Io(format!("cannot read {}: {e}", path.display())))
}

/// Writes `contents` to `path` (0600 when `secret`), replacing it atomically.
pub fn write_file(path: &Path, contents: &str, secret: bool) -> Result<(), TlsError> {
    let io = |e: std::io::Error| TlsError::Io(format!("cannot write {}: {e}", path.display()));
    let tmp = path.with_extension("tmp");
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(if secret { 0o600 } else { 0o644 })
        .open(&tmp)
        .map_err(io)?;
    f.write_all(contents.as_bytes())
        .and_then(|_| f.sync_all())
        .map_err(io)?;
    fs::rename(&tmp, path).map_err(io)
}

/// Makes sure `dir` holds the cluster CA and a current certificate for `node_id`: a data
/// directory from before mTLS gets its CA on first start; a node certificate near its end
/// (or for another id) is re-issued from the local CA key. Returns true when it wrote any.
pub fn ensure(dir: &Path, node_id: u64, cluster_id: &str) -> Result<bool, TlsError> {
    let mut wrote = false;
    if !dir.join(CA_CERT_FILE).exists() {
        let ca = ClusterCa::generate(cluster_id)?;
        write_file(&dir.join(CA_KEY_FILE), &ca.key_pem, true)?;
        write_file(&dir.join(CA_CERT_FILE), &ca.cert_pem, false)?;
        wrote = true;
    }
    let ca = pem_to_der(&read(&dir.join(CA_CERT_FILE))?)?;
    let current = fs::read_to_string(dir.join(NODE_CERT_FILE))
        .ok()
        .and_then(|pem| pem_to_der(&pem).ok())
        .filter(|der| cert_node_id(der) == Some(node_id) && issued_by(der, &ca))
        .and_then(|der| cert_not_after(&der));
    let renew_at = OffsetDateTime::now_utc().unix_timestamp() + RENEW_BEFORE_DAYS * 86_400;
    if current.is_none_or(|end| end < renew_at) || !dir.join(NODE_KEY_FILE).exists() {
        rotate(dir, node_id)?;
        wrote = true;
    }
    Ok(wrote)
}

/// Whether `leaf` is a currently valid certificate chaining to `ca`: one from an earlier
/// cluster CA (after `cert new-ca` and the new CA copied in) is not.
fn issued_by(leaf: &CertificateDer<'static>, ca: &CertificateDer<'static>) -> bool {
    let mut roots = RootCertStore::empty();
    if roots.add(ca.clone()).is_err() {
        return false;
    }
    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
        .build()
        .is_ok_and(|v| v.verify_client_cert(leaf, &[], UnixTime::now()).is_ok())
}

/// Replaces the cluster CA in `dir` with a new one and issues this node a certificate from
/// it; the old CA is kept as `cluster-ca.crt.old` / `cluster-ca.key.old`. Returns the new
/// CA's fingerprint. Meant for a stopped cluster: the other nodes get the new CA files
/// copied in and re-issue their certificates from it at their next start ([`ensure`]).
pub fn new_ca(dir: &Path, node_id: u64, cluster_id: &str) -> Result<String, TlsError> {
    let old_cert = read(&dir.join(CA_CERT_FILE))?;
    let old_key = read(&dir.join(CA_KEY_FILE))?;
    write_file(&dir.join(format!("{CA_CERT_FILE}.old")), &old_cert, false)?;
    write_file(&dir.join(format!("{CA_KEY_FILE}.old")), &old_key, true)?;
    let ca = ClusterCa::generate(cluster_id)?;
    write_file(&dir.join(CA_KEY_FILE), &ca.key_pem, true)?;
    write_file(&dir.join(CA_CERT_FILE), &ca.cert_pem, false)?;
    rotate(dir, node_id)?;
    ca.fingerprint()
}

/// Issues this node a fresh key and certificate from the local CA key.
pub fn rotate(dir: &Path, node_id: u64) -> Result<(), TlsError> {
    let ca = ClusterCa::load(dir)?;
    let (key_pem, csr) = new_csr()?;
    let cert = ca.sign_csr(&csr, node_id)?;
    write_file(&dir.join(NODE_KEY_FILE), &key_pem, true)?;
    write_file(&dir.join(NODE_CERT_FILE), &cert, false)
}

/// What a node presents and trusts on node-to-node connections.
#[derive(Clone)]
pub struct NodeTls {
    pub node_id: u64,
    ca: CertificateDer<'static>,
    chain: Vec<CertificateDer<'static>>,
    key: Arc<PrivateKeyDer<'static>>,
}

impl std::fmt::Debug for NodeTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NodeTls(node {})", self.node_id)
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl NodeTls {
    pub fn load(dir: &Path, node_id: u64) -> Result<Self, TlsError> {
        let ca = pem_to_der(&read(&dir.join(CA_CERT_FILE))?)?;
        let leaf = pem_to_der(&read(&dir.join(NODE_CERT_FILE))?)?;
        let key = PrivateKeyDer::from_pem_slice(read(&dir.join(NODE_KEY_FILE))?.as_bytes())
            .map_err(cert_err)?;
        Ok(NodeTls {
            node_id,
            // The CA goes with the leaf so a joiner can pin it by its fingerprint.
            chain: vec![leaf, ca.clone()],
            ca,
            key: Arc::new(key),
        })
    }

    pub fn ca_fingerprint(&self) -> String {
        fingerprint(&self.ca)
    }

    fn roots(&self) -> RootCertStore {
        let mut roots = RootCertStore::empty();
        roots
            .add(self.ca.clone())
            .expect("the cluster CA parsed when loaded");
        roots
    }

    /// The Raft listener: a client certificate from the cluster CA is required.
    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, TlsError> {
        let verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::new(self.roots()), provider())
                .build()
                .map_err(cert_err)?;
        let mut config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(cert_err)?
            .with_client_cert_verifier(verifier)
            .with_single_cert(self.chain.clone(), self.key.clone_key())
            .map_err(cert_err)?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }

    /// The join handshake on the same listener: no client certificate (the joiner has none
    /// yet); only the join route is served on such a connection.
    pub fn join_server_config(&self) -> Result<Arc<rustls::ServerConfig>, TlsError> {
        let mut config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(cert_err)?
            .with_no_client_auth()
            .with_single_cert(self.chain.clone(), self.key.clone_key())
            .map_err(cert_err)?;
        config.alpn_protocols = vec![JOIN_ALPN.to_vec()];
        Ok(Arc::new(config))
    }

    /// Calling a peer: its certificate must chain to the cluster CA and name the node id
    /// called (the URL's host is `node-<id>.vpnkeeper`); ours goes with every connection.
    pub fn client_config(&self) -> Result<rustls::ClientConfig, TlsError> {
        rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(cert_err)?
            .with_root_certificates(self.roots())
            .with_client_auth_cert(self.chain.clone(), self.key.clone_key())
            .map_err(cert_err)
    }
}

/// The joiner's client config: the server must present a chain whose CA has the SHA-256
/// `ca_fingerprint` from the join link, and a leaf that CA signed for the named node.
pub fn join_client_config(ca_fingerprint: &str) -> Result<rustls::ClientConfig, TlsError> {
    let verifier = Arc::new(PinnedCa {
        fingerprint: ca_fingerprint.to_ascii_lowercase(),
        provider: provider(),
    });
    let mut config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(cert_err)?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = vec![JOIN_ALPN.to_vec()];
    Ok(config)
}

#[derive(Debug)]
struct PinnedCa {
    fingerprint: String,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for PinnedCa {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let ca = intermediates
            .iter()
            .find(|c| fingerprint(c) == self.fingerprint)
            .ok_or_else(|| {
                rustls::Error::General(
                    "the node does not present the cluster CA named in the join link (fingerprint mismatch)".into(),
                )
            })?;
        let mut roots = RootCertStore::empty();
        roots
            .add(ca.clone().into_owned())
            .map_err(|e| rustls::Error::General(e.to_string()))?;
        let inner =
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), self.provider.clone())
                .build()
                .map_err(|e| rustls::Error::General(e.to_string()))?;
        inner.verify_server_cert(end_entity, &[], server_name, ocsp, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_csr_names_the_chosen_node_and_chains_to_the_ca() {
        let ca = ClusterCa::generate("c1").unwrap();
        let (_key, csr) = new_csr().unwrap();
        let cert = pem_to_der(&ca.sign_csr(&csr, 7).unwrap()).unwrap();
        assert_eq!(cert_node_id(&cert), Some(7));
        let end = cert_not_after(&cert).unwrap();
        let now = OffsetDateTime::now_utc().unix_timestamp();
        assert!(
            end > now + (NODE_CERT_DAYS - 1) * 86_400 && end < now + (NODE_CERT_DAYS + 1) * 86_400
        );
        assert_eq!(ca.fingerprint().unwrap().len(), 64);
    }

    #[test]
    fn ensure_makes_a_ca_once_and_renews_a_wrong_id() {
        let dir = tempfile::tempdir().unwrap();
        assert!(ensure(dir.path(), 1, "c1").unwrap());
        let ca = read(&dir.path().join(CA_CERT_FILE)).unwrap();
        assert!(
            !ensure(dir.path(), 1, "c1").unwrap(),
            "nothing to do the second time"
        );
        assert!(
            ensure(dir.path(), 2, "c1").unwrap(),
            "a cert for another id is replaced"
        );
        assert_eq!(read(&dir.path().join(CA_CERT_FILE)).unwrap(), ca);
        let tls = NodeTls::load(dir.path(), 2).unwrap();
        assert_eq!(cert_node_id(&tls.chain[0]), Some(2));
        tls.server_config().unwrap();
        tls.client_config().unwrap();
        join_client_config(&tls.ca_fingerprint()).unwrap();
    }

    #[test]
    fn a_new_ca_replaces_the_old_and_ensure_reissues_certificates_of_the_old_one() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        ensure(a.path(), 1, "c1").unwrap();
        // Node 2 holds the same CA (as after a join) and its own certificate.
        for f in [CA_CERT_FILE, CA_KEY_FILE] {
            fs::copy(a.path().join(f), b.path().join(f)).unwrap();
        }
        ensure(b.path(), 2, "c1").unwrap();
        let old_pem = read(&a.path().join(CA_CERT_FILE)).unwrap();
        let old_ca = pem_to_der(&old_pem).unwrap();
        let fp = new_ca(a.path(), 1, "c1").unwrap();
        let new = NodeTls::load(a.path(), 1).unwrap();
        assert_eq!(new.ca_fingerprint(), fp);
        assert_ne!(fingerprint(&old_ca), fp);
        assert!(issued_by(&new.chain[0], &new.ca));
        assert!(!issued_by(&new.chain[0], &old_ca));
        assert_eq!(
            read(&a.path().join(format!("{CA_CERT_FILE}.old"))).unwrap(),
            old_pem,
            "the old CA is kept"
        );
        // Node 2 with the new CA copied in: its old certificate is replaced at start...
        let old_leaf = read(&b.path().join(NODE_CERT_FILE)).unwrap();
        assert!(!ensure(b.path(), 2, "c1").unwrap(), "unchanged CA: kept");
        for f in [CA_CERT_FILE, CA_KEY_FILE] {
            fs::copy(a.path().join(f), b.path().join(f)).unwrap();
        }
        assert!(ensure(b.path(), 2, "c1").unwrap());
        assert_ne!(read(&b.path().join(NODE_CERT_FILE)).unwrap(), old_leaf);
        let two = NodeTls::load(b.path(), 2).unwrap();
        assert!(issued_by(&two.chain[0], &new.ca));
        // ...and a certificate of the old CA no longer passes the new trust.
        assert!(!issued_by(&pem_to_der(&old_leaf).unwrap(), &new.ca));
    }
}
