//! rustls client configuration for `wss://` connections.
//!
//! Crypto provider: `ring`. Protocol versions: rustls' safe defaults (TLS 1.3 and 1.2).
//! Server certificates are verified against the Mozilla roots shipped in `webpki-roots`,
//! plus any CA given in [`WsOptions::extra_root_pem`](super::WsOptions::extra_root_pem).
//! Verification is never disabled.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};

use super::WsError;

/// Builds the client TLS configuration.
///
/// # Errors
/// [`WsError::InvalidRootPem`] when `extra_root_pem` holds no parsable `CERTIFICATE` block
/// or a certificate that is not a usable trust anchor; [`WsError::Tls`] if the provider
/// rejects the protocol versions (cannot happen with the built-in provider).
pub(crate) fn client_config(extra_root_pem: Option<&[u8]>) -> Result<Arc<ClientConfig>, WsError> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(pem) = extra_root_pem {
        let mut added = 0usize;
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| WsError::InvalidRootPem(e.to_string()))?;
            roots
                .add(cert)
                .map_err(|e| WsError::InvalidRootPem(e.to_string()))?;
            added += 1;
        }
        if added == 0 {
            return Err(WsError::InvalidRootPem(
                "no CERTIFICATE block found".to_owned(),
            ));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(WsError::Tls)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The TLS server name (SNI and certificate name check) for a URL host: a DNS name or an IP
/// address.
///
/// # Errors
/// [`WsError::InvalidUrl`] when the host is not a valid DNS name.
pub(crate) fn server_name(host: &url::Host<String>) -> Result<ServerName<'static>, WsError> {
    match host {
        url::Host::Domain(d) => ServerName::try_from(d.clone())
            .map_err(|e| WsError::InvalidUrl(format!("host {d:?} is not a valid DNS name: {e}"))),
        url::Host::Ipv4(ip) => Ok(ServerName::from(std::net::IpAddr::V4(*ip))),
        url::Host::Ipv6(ip) => Ok(ServerName::from(std::net::IpAddr::V6(*ip))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_builds() {
        assert!(client_config(None).is_ok());
    }

    #[test]
    fn bad_pem_is_an_error() {
        let e = client_config(Some(b"not a pem")).unwrap_err();
        assert!(matches!(e, WsError::InvalidRootPem(_)), "{e}");
        let garbage = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".as_slice();
        let e = client_config(Some(garbage)).unwrap_err();
        assert!(matches!(e, WsError::InvalidRootPem(_)), "{e}");
    }

    #[test]
    fn server_names() {
        assert!(server_name(&url::Host::Domain("localhost".into())).is_ok());
        assert!(server_name(&url::Host::Ipv4([127, 0, 0, 1].into())).is_ok());
    }
}
