//! The profile's TLS files in the forms lapin takes: the CA certificates as
//! PEM text added to the system's roots, and the client certificate with its
//! key as an in-memory PKCS#12 bundle (lapin reads no PEM identity).
//!
//! The bundle never leaves the process, so it is written with one key
//! derivation round and a password made up here.

use anyhow::Result;
use lapin::tcp::{OwnedIdentity, OwnedTLSConfig};
use p12_keystore::{Certificate, KeyStore, KeyStoreEntry, PrivateKeyChain};

use crate::exit::usage;
use crate::tls::{Files, Identity};

/// What each AMQP connection of one run is opened with.
#[derive(Clone, Default)]
pub struct AmqpTls {
    ca_pem: Option<String>,
    pkcs12: Option<Vec<u8>>,
}

const PASSWORD: &str = "dlq";

impl AmqpTls {
    /// From the profile's files; an identity needs a PKCS#8 key.
    pub fn new(files: &Files) -> Result<AmqpTls> {
        let ca_pem = files
            .ca_pem
            .as_ref()
            .map(|p| String::from_utf8_lossy(p).into_owned());
        let pkcs12 = files.identity.as_ref().map(pkcs12).transpose()?;
        Ok(AmqpTls { ca_pem, pkcs12 })
    }

    /// Whether a client certificate is offered.
    pub fn has_cert(&self) -> bool {
        self.pkcs12.is_some()
    }

    /// lapin's configuration for one connection.
    pub fn config(&self) -> OwnedTLSConfig {
        OwnedTLSConfig {
            identity: self.pkcs12.as_ref().map(|der| OwnedIdentity {
                der: der.clone(),
                password: PASSWORD.into(),
            }),
            cert_chain: self.ca_pem.clone(),
        }
    }
}

/// The client certificate and its key as a PKCS#12 bundle.
fn pkcs12(id: &Identity) -> Result<Vec<u8>> {
    let key = id.pkcs8.as_ref().ok_or_else(|| {
        usage(
            "tls_key_file: RabbitMQ needs a PKCS#8 key (-----BEGIN PRIVATE KEY-----); \
             convert it with: openssl pkcs8 -topk8 -nocrypt -in KEY -out KEY8",
        )
    })?;
    let chain = id
        .chain
        .iter()
        .map(|der| Certificate::from_der(der))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| usage(format!("tls_cert_file: not an X.509 certificate: {e}")))?;
    let mut store = KeyStore::new();
    let entry = KeyStoreEntry::PrivateKeyChain(PrivateKeyChain::new(key, b"dlq", chain));
    store.add_entry("dlq", entry);
    store
        .writer(PASSWORD)
        .encryption_iterations(1)
        .mac_iterations(1)
        .write()
        .map_err(|e| usage(format!("tls_cert_file / tls_key_file: {e}")))
}
