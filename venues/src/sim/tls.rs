//! `wss://` for the simulator: a rustls server configuration from a PEM certificate chain and
//! key (`mm-sim --tls-cert/--tls-key`; tests generate a CA and a leaf with `rcgen`), and the
//! byte stream the server runs tungstenite over (plain TCP or TLS over TCP).
//!
//! Crypto provider: `ring` (as the client, `mm_io::ws`); TLS 1.3 and 1.2.

use mio::net::TcpStream;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ServerConfig, ServerConnection, StreamOwned};
use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::Arc;

/// A certificate chain (leaf first) and its private key, both PEM.
#[derive(Clone)]
pub struct TlsFiles {
    /// `CERTIFICATE` blocks, leaf first.
    pub cert_pem: Vec<u8>,
    /// One `PRIVATE KEY` (PKCS#8), `RSA PRIVATE KEY` or `EC PRIVATE KEY` block.
    pub key_pem: Vec<u8>,
}

impl std::fmt::Debug for TlsFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsFiles")
            .field("cert_pem_bytes", &self.cert_pem.len())
            .field("key_pem", &"<redacted>")
            .finish()
    }
}

impl TlsFiles {
    /// Reads both files.
    ///
    /// # Errors
    /// A file that cannot be read, named.
    pub fn read(cert: &Path, key: &Path) -> Result<TlsFiles, String> {
        let cert_pem =
            std::fs::read(cert).map_err(|e| format!("--tls-cert {}: {e}", cert.display()))?;
        let key_pem =
            std::fs::read(key).map_err(|e| format!("--tls-key {}: {e}", key.display()))?;
        Ok(TlsFiles { cert_pem, key_pem })
    }

    /// The rustls server configuration.
    ///
    /// # Errors
    /// No certificate or key in the PEM, or a key that does not match the certificate.
    pub fn server_config(&self) -> Result<Arc<ServerConfig>, String> {
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&self.cert_pem)
            .collect::<Result<_, _>>()
            .map_err(|e| format!("TLS certificate PEM: {e}"))?;
        if chain.is_empty() {
            return Err("TLS certificate PEM: no CERTIFICATE block".into());
        }
        let key = PrivateKeyDer::from_pem_slice(&self.key_pem)
            .map_err(|e| format!("TLS key PEM: {e}"))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let cfg = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS: {e}"))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| format!("TLS certificate/key: {e}"))?;
        Ok(Arc::new(cfg))
    }
}

/// A server-side connection's byte stream.
pub(crate) enum SimStream {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ServerConnection, TcpStream>>),
}

impl SimStream {
    /// The TCP socket (for (de)registration with the poll).
    pub(crate) fn tcp_mut(&mut self) -> &mut TcpStream {
        match self {
            SimStream::Plain(s) => s,
            SimStream::Tls(s) => &mut s.sock,
        }
    }
}

impl Read for SimStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            SimStream::Plain(s) => s.read(buf),
            SimStream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for SimStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            SimStream::Plain(s) => s.write(buf),
            SimStream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            SimStream::Plain(s) => s.flush(),
            SimStream::Tls(s) => s.flush(),
        }
    }
}
