//! The development TLS listener. MSAL and azure-identity accept only an https authority, so
//! `serve --tls-listen` serves the same application over TLS with a certificate Switchboard
//! generates on first start and keeps in the data directory:
//!
//! - `tls/ca.pem`: a development certificate authority made for this data directory only
//!   (its private key is never written: it signs the server certificate once and is dropped);
//! - `tls/cert.pem`: the server certificate (SAN `127.0.0.1`, `::1` and `localhost`) followed by
//!   that CA, so either file can be given to a client as the certificate to trust;
//! - `tls/key.pem`: the server certificate's private key (mode 0600).
//!
//! Wall time only: TLS never reads the domain clock.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// Where the development certificate lives inside the data directory.
pub struct DevCertificate {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl DevCertificate {
    pub fn in_dir(data_dir: &Path) -> DevCertificate {
        let dir = data_dir.join("tls");
        DevCertificate { ca: dir.join("ca.pem"), cert: dir.join("cert.pem"), key: dir.join("key.pem") }
    }

    /// Loads the certificate, generating it first if any of its files is missing.
    pub fn load_or_generate(&self) -> anyhow::Result<rustls::ServerConfig> {
        if !(self.ca.exists() && self.cert.exists() && self.key.exists()) {
            self.generate()?;
        }
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&self.cert)
            .with_context(|| format!("cannot read {}", self.cert.display()))?
            .collect::<Result<_, _>>()
            .with_context(|| format!("{} is not a PEM certificate chain", self.cert.display()))?;
        let key = PrivateKeyDer::from_pem_file(&self.key)
            .with_context(|| format!("{} is not a PEM private key", self.key.display()))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context("no TLS protocol version available")?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .context("the development certificate does not match its key")?;
        // httpx and .NET negotiate HTTP/2 when offered; both protocols serve the same router.
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(config)
    }

    fn generate(&self) -> anyhow::Result<()> {
        use rcgen::{
            BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
            KeyUsagePurpose, SanType,
        };
        let dir = self.cert.parent().expect("the certificate lives in a directory");
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;

        let mut ca_params = CertificateParams::default();
        ca_params.distinguished_name = DistinguishedName::new();
        ca_params.distinguished_name.push(DnType::CommonName, "Switchboard development CA");
        ca_params.distinguished_name.push(DnType::OrganizationName, "Switchboard (development only)");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_key = KeyPair::generate().context("cannot generate the CA key")?;
        let ca = ca_params.self_signed(&ca_key).context("cannot sign the development CA")?;

        let mut params = CertificateParams::new(vec!["localhost".to_owned()]).context("invalid certificate name")?;
        params.subject_alt_names.push(SanType::IpAddress(std::net::Ipv4Addr::LOCALHOST.into()));
        params.subject_alt_names.push(SanType::IpAddress(std::net::Ipv6Addr::LOCALHOST.into()));
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, "Switchboard development server");
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate().context("cannot generate the server key")?;
        let cert = params.signed_by(&key, &ca, &ca_key).context("cannot sign the server certificate")?;

        write(&self.ca, &ca.pem(), false)?;
        write(&self.cert, &format!("{}{}", cert.pem(), ca.pem()), false)?;
        write(&self.key, &key.serialize_pem(), true)?;
        tracing::info!(path = %self.cert.display(), "generated a development TLS certificate");
        Ok(())
    }
}

fn write(path: &Path, contents: &str, private: bool) -> anyhow::Result<()> {
    std::fs::write(path, contents).with_context(|| format!("cannot write {}", path.display()))?;
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    #[cfg(not(unix))]
    let _ = private;
    Ok(())
}

/// Accepts TLS connections and serves `app` on each (HTTP/1.1 or HTTP/2 by ALPN) until the
/// task is aborted. A failed handshake ends that connection only.
pub async fn serve(listener: TcpListener, config: rustls::ServerConfig, app: axum::Router) {
    let acceptor = TlsAcceptor::from(Arc::new(config));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: wait a little rather than spin.
                tracing::warn!(error = %e, "TLS accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let acceptor = acceptor.clone();
        let app = app.clone();
        tokio::spawn(async move {
            let tls = match acceptor.accept(stream).await {
                Ok(tls) => tls,
                Err(e) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
            };
            let service = TowerToHyperService::new(app);
            if let Err(e) = auto::Builder::new(TokioExecutor::new()).serve_connection(TokioIo::new(tls), service).await
            {
                tracing::debug!(%peer, error = %e, "TLS connection ended with an error");
            }
        });
    }
}
