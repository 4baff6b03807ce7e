//! TLS for the platform's HTTP peers (ClickHouse, the schema registry): the public web roots plus,
//! when the operator names one, a private CA — how a data unit runs its own ClickHouse and
//! registry behind an internal certificate authority. One rustls configuration serves every HTTP
//! client (reqwest in ingest and the publisher, hyper under the API's ClickHouse client), so they
//! trust exactly the same roots.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

use crate::{Error, Result};

/// The certificates of a PEM file (a CA bundle): an error naming the file when it cannot be read
/// or holds no certificate, so a wrong path fails at start-up, not at the first request.
pub fn read_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| Error::Config(format!("CA file {}: {e}", path.display())))?
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::Config(format!("CA file {}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(Error::Config(format!(
            "CA file {}: no PEM certificate in it",
            path.display()
        )));
    }
    Ok(certs)
}

/// A rustls client configuration trusting the public web roots and the certificates of `ca_file`.
pub fn client_config(ca_file: Option<&Path>) -> Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = ca_file {
        for cert in read_ca_file(path)? {
            roots
                .add(cert)
                .map_err(|e| Error::Config(format!("CA file {}: {e}", path.display())))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// A reqwest client builder for an HTTP peer that may be `https://`: trusts the web roots and
/// `ca_file`. Plain `http://` URLs keep working (the local stack).
pub fn http_client(ca_file: Option<&Path>) -> Result<reqwest::ClientBuilder> {
    let config = Arc::unwrap_or_clone(client_config(ca_file)?);
    Ok(reqwest::Client::builder().use_preconfigured_tls(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_or_empty_ca_file_is_named() {
        let err = client_config(Some(Path::new("/nonexistent/ca.pem"))).expect_err("missing");
        assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
        let dir = std::env::temp_dir().join(format!("lgma-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").expect("write");
        let err = client_config(Some(&empty)).expect_err("no certificate");
        assert!(err.to_string().contains("no PEM certificate"), "{err}");
        assert!(client_config(None).is_ok());
    }
}
