//! PEM files the config names: `[[proxy.tls]]` certificate chains and keys, and the
//! `upstreams.ca_file` bundle, read and checked once (by `check`, at start-up and on reload),
//! so a bad file is refused naming its field before any listener needs it.

use std::path::Path;
use std::sync::Arc;

use pingora_core::utils::tls::WrappedX509;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;

use super::TlsListener;

/// A certificate or key that cannot be used, named by its config field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason} (file: {path})")]
pub struct TlsError {
    /// Config field, e.g. `proxy.tls[0].cert`.
    pub field: String,
    /// The file.
    pub path: String,
    /// What is wrong with it.
    pub reason: String,
}

impl TlsError {
    fn new(field: &str, path: &Path, reason: impl Into<String>) -> Self {
        TlsError {
            field: field.to_string(),
            path: path.display().to_string(),
            reason: reason.into(),
        }
    }
}

/// One loaded certificate: the names it is valid for and the signing key rustls serves.
#[derive(Debug)]
pub struct LoadedCert {
    /// DNS names from the certificate (subjectAltName, else the common name), lower case;
    /// wildcards keep their `*.` prefix.
    pub names: Vec<String>,
    /// Chain and key, checked to match.
    pub key: Arc<CertifiedKey>,
}

/// Loads and checks `[[proxy.tls]]` entry `index`: a PEM chain, a PEM private key that
/// belongs to it, and at least one DNS name in the leaf certificate.
pub fn load_cert(entry: &TlsListener, index: usize) -> Result<LoadedCert, TlsError> {
    let cert_field = format!("proxy.tls[{index}].cert");
    let key_field = format!("proxy.tls[{index}].key");
    let chain = read_certs(&entry.cert).map_err(|r| TlsError::new(&cert_field, &entry.cert, r))?;
    let key = read_key(&entry.key).map_err(|r| TlsError::new(&key_field, &entry.key, r))?;
    pingora_rustls::install_default_crypto_provider();
    let provider = rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()));
    let signer = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| TlsError::new(&key_field, &entry.key, format!("unusable key: {e}")))?;
    let names = dns_names(&chain[0]).map_err(|r| TlsError::new(&cert_field, &entry.cert, r))?;
    let certified = CertifiedKey::new(chain, signer);
    certified.keys_match().map_err(|e| {
        TlsError::new(
            &key_field,
            &entry.key,
            format!("does not belong to {}: {e}", entry.cert.display()),
        )
    })?;
    Ok(LoadedCert {
        names,
        key: Arc::new(certified),
    })
}

pub(crate) fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    std::fs::metadata(path).map_err(|e| format!("cannot read: {e}"))?;
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("not a PEM certificate file: {e}"))?;
    if certs.is_empty() {
        return Err("no PEM CERTIFICATE block found".into());
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    std::fs::metadata(path).map_err(|e| format!("cannot read: {e}"))?;
    PrivateKeyDer::from_pem_file(path).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => {
            "no PEM PRIVATE KEY block found (PKCS#8, PKCS#1 or SEC1)".to_string()
        }
        e => format!("not a PEM private key file: {e}"),
    })
}

/// The names a leaf certificate is valid for.
fn dns_names(leaf: &CertificateDer<'_>) -> Result<Vec<String>, String> {
    use x509_parser::extensions::GeneralName;
    let (_, cert) = x509_parser::parse_x509_certificate(leaf.as_ref())
        .map_err(|e| format!("leaf certificate does not parse: {e}"))?;
    let mut names: Vec<String> = match cert.subject_alternative_name() {
        Ok(Some(san)) => san
            .value
            .general_names
            .iter()
            .filter_map(|n| match n {
                GeneralName::DNSName(d) => Some(d.to_ascii_lowercase()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    if names.is_empty() {
        names.extend(
            cert.subject()
                .iter_common_name()
                .filter_map(|cn| cn.as_str().ok())
                .map(str::to_ascii_lowercase),
        );
    }
    if names.is_empty() {
        return Err("the certificate names no DNS name (subjectAltName or CN)".into());
    }
    Ok(names)
}

/// The CA bundle of `upstreams.ca_file`, in the form pingora's peers take.
pub fn load_ca(path: &Path) -> Result<Arc<[WrappedX509]>, TlsError> {
    let certs = read_certs(path).map_err(|r| TlsError::new("upstreams.ca_file", path, r))?;
    for c in &certs {
        x509_parser::parse_x509_certificate(c.as_ref()).map_err(|e| {
            TlsError::new(
                "upstreams.ca_file",
                path,
                format!("certificate does not parse: {e}"),
            )
        })?;
    }
    Ok(certs
        .into_iter()
        .map(|c| WrappedX509::new(c.to_vec(), pingora_core::utils::tls::parse_x509))
        .collect())
}
