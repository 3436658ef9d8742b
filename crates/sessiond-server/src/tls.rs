//! TLS: the `[tls]` settings (certificate chain, private key, CA bundle), read and checked
//! at start-up, and the rustls configurations made from them for the client listeners, the
//! cluster transport and the relay from a follower to the leader.
//!
//! rustls with the ring provider: no system library, and the provider is named here rather
//! than installed process-wide, so nothing depends on which crate installs one first.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::ClientCertVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use serde::{Deserialize, Deserializer};
use sessiond_cluster::network::ClusterTls;
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::config::ConfigError;

/// A PEM file larger than this is not a certificate chain, key or CA bundle anyone means: it
/// is refused before it is read whole.
const MAX_PEM_FILE: u64 = 1 << 20;

/// Whether a TLS client listener asks clients for a certificate signed by the CA.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    /// Every client must present one (Redis's `tls-auth-clients yes`).
    Required,
    /// A client may present one, which is then checked; one without is served too.
    Optional,
    /// Clients are not asked (memcached's default).
    None,
}

impl FromStr for ClientAuth {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text.trim() {
            "required" => Ok(ClientAuth::Required),
            "optional" => Ok(ClientAuth::Optional),
            "none" => Ok(ClientAuth::None),
            other => Err(format!(
                "'{other}' is not a client_auth; write required, optional or none"
            )),
        }
    }
}

impl fmt::Display for ClientAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ClientAuth::Required => "required",
            ClientAuth::Optional => "optional",
            ClientAuth::None => "none",
        })
    }
}

impl<'de> Deserialize<'de> for ClientAuth {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// The `[tls]` settings. TLS is on when `cert` is given; then `key` must be too.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsConfig {
    /// This server's certificate chain (PEM), its own certificate first. A cluster node's
    /// is also its client certificate towards its peers, so it needs both the `serverAuth`
    /// and `clientAuth` uses, and must name the host peers reach it at.
    pub cert: Option<PathBuf>,
    /// The certificate's private key (PEM: PKCS#8, PKCS#1 or SEC1, unencrypted).
    pub key: Option<PathBuf>,
    /// The CA certificates (PEM) that peers' certificates must be signed by: every node's in
    /// a cluster, clients' on a TLS listener under `client_auth`.
    pub ca: Option<PathBuf>,
    /// Whether TLS client listeners ask for client certificates; `None` here means the
    /// default: required when a CA is given, else not asked.
    pub client_auth: Option<ClientAuth>,
}

impl TlsConfig {
    /// Whether TLS is configured at all.
    pub fn is_on(&self) -> bool {
        self.cert.is_some() || self.key.is_some()
    }

    /// The client certificate policy in force.
    pub fn client_auth(&self) -> ClientAuth {
        self.client_auth.unwrap_or(if self.ca.is_some() {
            ClientAuth::Required
        } else {
            ClientAuth::None
        })
    }

    /// Checks the settings without reading the files.
    pub(crate) fn check(&self) -> Result<(), ConfigError> {
        let invalid = |setting, message: &str| {
            Err(ConfigError::Invalid {
                setting,
                message: message.to_string(),
            })
        };
        match (&self.cert, &self.key) {
            (Some(_), None) => return invalid("tls.key", "tls.cert needs its private key"),
            (None, Some(_)) => return invalid("tls.cert", "tls.key needs its certificate"),
            (None, None) if self.ca.is_some() => {
                return invalid("tls.cert", "tls.ca is given without a certificate and key");
            }
            _ => {}
        }
        if self.ca.is_none() && self.client_auth() != ClientAuth::None {
            return invalid(
                "tls.client_auth",
                "checking client certificates needs the CA that signs them (tls.ca)",
            );
        }
        Ok(())
    }

    /// Reads the files and makes the rustls configurations; `None` without TLS. With
    /// `cluster`, this node's own certificate must be one its peers accept: signed by the CA
    /// and valid now, so that a wrong file stops start-up here instead of every connection
    /// later.
    pub fn load(&self, cluster: bool) -> Result<Option<TlsMaterial>, ConfigError> {
        self.check()?;
        let (Some(cert_path), Some(key_path)) = (&self.cert, &self.key) else {
            return Ok(None);
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let certs = read_certs("tls.cert", cert_path)?;
        let key = read_key(key_path)?;
        let roots = match &self.ca {
            Some(ca) => Some(Arc::new(read_roots(ca)?)),
            None => None,
        };
        let key_error = |error: rustls::Error| match error {
            rustls::Error::InconsistentKeys(_) => tls_error(
                "tls.key",
                key_path,
                format!(
                    "the private key does not match the certificate in {}",
                    cert_path.display()
                ),
            ),
            other => tls_error("tls.key", key_path, other.to_string()),
        };
        let verifier = |roots: &Arc<RootCertStore>, auth: ClientAuth| {
            let builder =
                WebPkiClientVerifier::builder_with_provider(Arc::clone(roots), provider.clone());
            let builder = match auth {
                ClientAuth::Optional => builder.allow_unauthenticated(),
                ClientAuth::Required | ClientAuth::None => builder,
            };
            builder.build().map_err(|error| {
                tls_error(
                    "tls.ca",
                    self.ca.as_deref().unwrap_or(Path::new("")),
                    error.to_string(),
                )
            })
        };
        let server_builder = || {
            ServerConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()
                .map_err(|error| tls_error("tls.cert", cert_path, error.to_string()))
        };

        let listener_builder = server_builder()?;
        let listener_builder = match (&roots, self.client_auth()) {
            (Some(roots), auth @ (ClientAuth::Required | ClientAuth::Optional)) => {
                listener_builder.with_client_cert_verifier(verifier(roots, auth)?)
            }
            _ => listener_builder.with_no_client_auth(),
        };
        let listener = listener_builder
            .with_single_cert(certs.clone(), key.clone_key())
            .map_err(key_error)?;

        let (cluster_tls, relay) = match &roots {
            None => (None, None),
            Some(roots) => {
                let peers = verifier(roots, ClientAuth::Required)?;
                if cluster {
                    check_own(&certs, peers.as_ref(), cert_path, self.ca.as_deref())?;
                }
                let server = server_builder()?
                    .with_client_cert_verifier(peers)
                    .with_single_cert(certs.clone(), key.clone_key())
                    .map_err(key_error)?;
                let client = ClientConfig::builder_with_provider(provider.clone())
                    .with_safe_default_protocol_versions()
                    .map_err(|error| tls_error("tls.cert", cert_path, error.to_string()))?
                    .with_root_certificates(Arc::clone(roots))
                    .with_client_auth_cert(certs, key)
                    .map_err(key_error)?;
                let client = Arc::new(client);
                (
                    Some(ClusterTls::new(Arc::new(server), Arc::clone(&client))),
                    Some(TlsConnector::from(client)),
                )
            }
        };
        Ok(Some(TlsMaterial {
            listener: TlsAcceptor::from(Arc::new(listener)),
            cluster: cluster_tls,
            relay,
        }))
    }
}

/// The rustls configurations made from the `[tls]` settings.
#[derive(Clone)]
pub struct TlsMaterial {
    /// Accepts clients on TLS listeners, asking for certificates per `client_auth`.
    pub(crate) listener: TlsAcceptor,
    /// The cluster transport's mutual TLS; needs the CA.
    cluster: Option<ClusterTls>,
    /// Connects a follower to the leader's TLS listener, presenting this node's certificate;
    /// needs the CA.
    pub(crate) relay: Option<TlsConnector>,
}

impl TlsMaterial {
    /// Mutual TLS for the cluster transport and admin clients (`None` without a CA, which
    /// the cluster needs to check its peers).
    pub fn cluster(&self) -> Option<&ClusterTls> {
        self.cluster.as_ref()
    }
}

impl fmt::Debug for TlsMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsMaterial")
            .field("cluster", &self.cluster.is_some())
            .finish()
    }
}

fn tls_error(setting: &'static str, path: &Path, message: String) -> ConfigError {
    ConfigError::Tls {
        setting,
        path: path.display().to_string(),
        message,
    }
}

/// Reads a PEM file of bounded size.
fn read_pem(setting: &'static str, path: &Path) -> Result<Vec<u8>, ConfigError> {
    let file = std::fs::File::open(path).map_err(|e| tls_error(setting, path, e.to_string()))?;
    let mut bytes = Vec::new();
    file.take(MAX_PEM_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| tls_error(setting, path, e.to_string()))?;
    if bytes.len() as u64 > MAX_PEM_FILE {
        return Err(tls_error(
            setting,
            path,
            format!("larger than {MAX_PEM_FILE} bytes; not a PEM file"),
        ));
    }
    Ok(bytes)
}

fn pem_message(error: &pem::Error) -> String {
    format!("not valid PEM: {error}")
}

fn read_certs(
    setting: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let bytes = read_pem(setting, path)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| tls_error(setting, path, pem_message(&e)))?;
    if certs.is_empty() {
        return Err(tls_error(
            setting,
            path,
            "no certificate (-----BEGIN CERTIFICATE-----) in the file".into(),
        ));
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, ConfigError> {
    let bytes = read_pem("tls.key", path)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| {
        let message = match e {
            pem::Error::NoItemsFound => {
                "no unencrypted private key (-----BEGIN PRIVATE KEY-----, RSA or EC) in the file"
                    .to_string()
            }
            other => pem_message(&other),
        };
        tls_error("tls.key", path, message)
    })
}

fn read_roots(path: &Path) -> Result<RootCertStore, ConfigError> {
    let mut roots = RootCertStore::empty();
    for cert in read_certs("tls.ca", path)? {
        roots
            .add(cert)
            .map_err(|e| tls_error("tls.ca", path, format!("not a CA certificate: {e}")))?;
    }
    Ok(roots)
}

/// Checks that this node's certificate is one its peers will accept.
fn check_own(
    certs: &[CertificateDer<'static>],
    verifier: &dyn ClientCertVerifier,
    cert_path: &Path,
    ca: Option<&Path>,
) -> Result<(), ConfigError> {
    let Some((own, intermediates)) = certs.split_first() else {
        return Ok(());
    };
    verifier
        .verify_client_cert(own, intermediates, UnixTime::now())
        .map(|_| ())
        .map_err(|error| {
            tls_error(
                "tls.cert",
                cert_path,
                format!(
                    "peers would refuse this certificate ({error}); it must be valid now and \
                     signed by the CA in {}, for use as a client and as a server",
                    ca.unwrap_or(Path::new("")).display()
                ),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Files {
        dir: tempfile::TempDir,
    }

    impl Files {
        fn write(&self, name: &str, text: &str) -> PathBuf {
            let path = self.dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            path
        }
    }

    fn ca() -> (rcgen::Certificate, rcgen::Issuer<'static, rcgen::KeyPair>) {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let cert = params.self_signed(&key).unwrap();
        (cert, rcgen::Issuer::new(params, key))
    }

    fn leaf(issuer: &rcgen::Issuer<'static, rcgen::KeyPair>) -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
        params.extended_key_usages = vec![
            rcgen::ExtendedKeyUsagePurpose::ServerAuth,
            rcgen::ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let cert = params.signed_by(&key, issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    fn config(cert: &Path, key: &Path, ca: Option<&Path>) -> TlsConfig {
        TlsConfig {
            cert: Some(cert.into()),
            key: Some(key.into()),
            ca: ca.map(Into::into),
            client_auth: None,
        }
    }

    fn error(config: &TlsConfig, cluster: bool) -> String {
        match config.load(cluster) {
            Ok(_) => panic!("{config:?} loaded"),
            Err(error) => error.to_string(),
        }
    }

    #[test]
    fn good_files_load_and_bad_ones_are_named() {
        let files = Files {
            dir: tempfile::tempdir().unwrap(),
        };
        let (ca_cert, issuer) = ca();
        let (cert, key) = leaf(&issuer);
        let (_, other_key) = leaf(&issuer);
        let ca_path = files.write("ca.pem", &ca_cert.pem());
        let cert = files.write("node.pem", &cert);
        let key = files.write("node.key", &key);
        let other_key = files.write("other.key", &other_key);
        let material = config(&cert, &key, Some(&ca_path))
            .load(true)
            .unwrap()
            .unwrap();
        assert!(material.cluster().is_some());
        let material = config(&cert, &key, None).load(false).unwrap().unwrap();
        assert!(material.cluster().is_none());

        let missing = files.dir.path().join("missing.pem");
        let line = error(&config(&missing, &key, None), false);
        assert!(
            line.starts_with("tls.cert: ") && line.contains("missing.pem"),
            "{line}"
        );
        let line = error(&config(&cert, &other_key, None), false);
        assert!(
            line.starts_with("tls.key: ") && line.contains("does not match"),
            "{line}"
        );
        let garbage = files.write("garbage.pem", "hello\n");
        let line = error(&config(&garbage, &key, None), false);
        assert!(
            line.starts_with("tls.cert: ") && line.contains("no certificate"),
            "{line}"
        );
        let line = error(&config(&cert, &garbage, None), false);
        assert!(
            line.starts_with("tls.key: ") && line.contains("no unencrypted"),
            "{line}"
        );
        let line = error(&config(&cert, &key, Some(&garbage)), false);
        assert!(line.starts_with("tls.ca: "), "{line}");

        // A node whose certificate another CA signed would be refused by every peer.
        let (other_ca, _) = ca();
        let other_ca = files.write("other-ca.pem", &other_ca.pem());
        let line = error(&config(&cert, &key, Some(&other_ca)), true);
        assert!(
            line.starts_with("tls.cert: ") && line.contains("refuse"),
            "{line}"
        );
        assert!(!line.contains('\n'), "{line}");
    }

    #[test]
    fn settings_are_checked_together() {
        let cert = TlsConfig {
            cert: Some("c".into()),
            ..TlsConfig::default()
        };
        assert!(cert.check().unwrap_err().to_string().starts_with("tls.key"));
        let ca = TlsConfig {
            ca: Some("a".into()),
            ..TlsConfig::default()
        };
        assert!(ca.check().unwrap_err().to_string().starts_with("tls.cert"));
        let auth = TlsConfig {
            cert: Some("c".into()),
            key: Some("k".into()),
            client_auth: Some(ClientAuth::Required),
            ..TlsConfig::default()
        };
        assert!(
            auth.check()
                .unwrap_err()
                .to_string()
                .starts_with("tls.client_auth")
        );
        assert_eq!("optional".parse(), Ok(ClientAuth::Optional));
        assert!("yes".parse::<ClientAuth>().is_err());
    }
}
