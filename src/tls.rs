//! TLS files from the profile, and TLS failures in words.
//!
//! Every backend reads the same three profile keys: `tls_ca_file` (PEM CA
//! certificates trusted besides the system's), and `tls_cert_file` with
//! `tls_key_file` (a PEM client certificate and its key, both or neither).
//! [`Files::load`] reads them once, before any connection, so a missing or
//! malformed file is one usage error (exit 2) naming the key and the path;
//! the key's text is registered as a secret at once. A failed handshake
//! reaches the user through [`explain`], which turns the TLS library's words
//! (rustls, OpenSSL) into one line that says what to set: the server's
//! certificate was not trusted (name its CA with `tls_ca_file`), the server
//! wants a client certificate (`tls_cert_file` / `tls_key_file`), or it
//! refused the one given.

use std::path::Path;

use anyhow::Result;
use rustls_pemfile::Item;

use crate::config::Profile;
use crate::exit::usage;
use crate::secrets;

/// A client certificate chain and its key, as PEM and as DER.
#[derive(Clone)]
pub struct Identity {
    /// The certificate file's PEM text followed by the key's, as reqwest takes it.
    pub pem: Vec<u8>,
    /// The certificates, leaf first.
    pub chain: Vec<Vec<u8>>,
    /// The key as PKCS#8 DER, when it is PKCS#8 (lapin takes no other form).
    pub pkcs8: Option<Vec<u8>>,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Identity(<secret>)")
    }
}

/// The profile's TLS files, read and checked.
#[derive(Debug, Clone, Default)]
pub struct Files {
    /// PEM text of the extra trusted CAs.
    pub ca_pem: Option<Vec<u8>>,
    pub identity: Option<Identity>,
}

impl Files {
    /// Reads `tls_ca_file`, `tls_cert_file` and `tls_key_file`.
    pub fn load(p: &Profile) -> Result<Files> {
        let ca_pem = match &p.tls_ca_file {
            Some(path) => {
                let pem = read("tls_ca_file", path)?;
                if certificates(&pem).is_empty() {
                    return Err(usage(format!(
                        "tls_ca_file {}: no PEM certificate (-----BEGIN CERTIFICATE-----) in it",
                        path.display()
                    )));
                }
                Some(pem)
            }
            None => None,
        };
        let identity = match (&p.tls_cert_file, &p.tls_key_file) {
            (Some(cert), Some(key)) => Some(identity(cert, key)?),
            (None, None) => None,
            _ => return Err(usage(
                "a TLS client certificate needs both tls_cert_file and tls_key_file in the profile",
            )),
        };
        Ok(Files { ca_pem, identity })
    }

    /// Whether the profile names any TLS file.
    pub fn any(&self) -> bool {
        self.ca_pem.is_some() || self.identity.is_some()
    }
}

fn read(key: &str, path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| usage(format!("cannot read {key} {}: {e}", path.display())))
}

/// The DER certificates in a PEM text.
fn certificates(pem: &[u8]) -> Vec<Vec<u8>> {
    rustls_pemfile::certs(&mut &pem[..])
        .filter_map(|c| c.ok())
        .map(|c| c.to_vec())
        .collect()
}

fn identity(cert_path: &Path, key_path: &Path) -> Result<Identity> {
    let key_pem = read("tls_key_file", key_path)?;
    let key_text = String::from_utf8_lossy(&key_pem);
    // The key's base64 lines too, so no fragment of it is ever printed.
    secrets::register(key_text.trim());
    for line in key_text.lines().filter(|l| !l.starts_with("-----")) {
        if line.trim().len() >= 16 {
            secrets::register(line.trim());
        }
    }
    let cert_pem = read("tls_cert_file", cert_path)?;
    let chain = certificates(&cert_pem);
    if chain.is_empty() {
        return Err(usage(format!(
            "tls_cert_file {}: no PEM certificate (-----BEGIN CERTIFICATE-----) in it",
            cert_path.display()
        )));
    }
    let mut pkcs8 = None;
    let mut found = false;
    for item in rustls_pemfile::read_all(&mut &key_pem[..]).flatten() {
        match item {
            Item::Pkcs8Key(k) => {
                pkcs8 = Some(k.secret_pkcs8_der().to_vec());
                found = true;
            }
            Item::Pkcs1Key(_) | Item::Sec1Key(_) => found = true,
            _ => {}
        }
    }
    if !found {
        return Err(usage(format!(
            "tls_key_file {}: no PEM private key (-----BEGIN PRIVATE KEY-----) in it",
            key_path.display()
        )));
    }
    let mut pem = cert_pem;
    pem.push(b'\n');
    pem.extend_from_slice(&key_pem);
    Ok(Identity { pem, chain, pkcs8 })
}

/// Makes one TLS crypto provider the process default: several are linked in
/// (through different clients), and rustls then refuses to pick one itself.
pub fn install_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Where the CA can be named, for the "not trusted" line of each broker.
pub const CA_HINT: &str = "name the CA that signed it with tls_ca_file in the profile";

/// One line for a TLS failure in `text` (a library's error and its causes),
/// or None when it is not one. `tls` says whether the connection was TLS,
/// `has_cert` whether a client certificate was offered; `ca_hint` says how
/// to name a CA on this broker.
pub fn explain(text: &str, tls: bool, has_cert: bool, ca_hint: &str) -> Option<String> {
    let t = text.to_ascii_lowercase();
    let untrusted = [
        "unknownissuer",
        "unknown issuer",
        "unable to get local issuer",
        "self-signed certificate",
        "self signed certificate",
        "certificate verify failed",
        "badsignature",
    ];
    if untrusted.iter().any(|s| t.contains(s)) {
        return Some(format!(
            "the server's TLS certificate was not trusted (signed by an unknown CA): {ca_hint}"
        ));
    }
    if t.contains("notvalidforname") || t.contains("not valid for name") {
        return Some(
            "the server's TLS certificate is not valid for the host name in the URL: use a name the certificate lists"
                .into(),
        );
    }
    if t.contains("certexpired")
        || t.contains("certificate has expired")
        || t.contains("certnotvalidyet")
    {
        return Some("the server's TLS certificate has expired or is not valid yet".into());
    }
    let refused_alerts = [
        "certificaterequired",
        "certificate required",
        "handshakefailure",
        "badcertificate",
        "unknownca",
        "unknown ca",
        "decrypterror",
        "certificateunknown",
        "accessdenied",
    ];
    if t.contains("alert") && refused_alerts.iter().any(|s| t.contains(s)) {
        return Some(if has_cert {
            "the server refused the TLS client certificate (not signed by a CA it trusts?): check tls_cert_file and tls_key_file in the profile".into()
        } else {
            "the server requires a TLS client certificate: set tls_cert_file and tls_key_file in the profile".into()
        });
    }
    // TLS 1.3 ends the handshake before the server judges the client's
    // certificate: its refusal may arrive as a closed socket instead of an alert.
    let closed = [
        "broken pipe",
        "connection reset",
        "unexpected eof",
        "close_notify",
    ];
    if tls && closed.iter().any(|s| t.contains(s)) {
        return Some(if has_cert {
            "the server closed the connection right after the TLS handshake: it may have refused the TLS client certificate; check tls_cert_file and tls_key_file in the profile".into()
        } else {
            "the server closed the connection right after the TLS handshake: it may require a TLS client certificate (tls_cert_file and tls_key_file in the profile)".into()
        });
    }
    if t.contains("wrong version number")
        || t.contains("corrupt message")
        || t.contains("invalidcontenttype")
        || t.contains("invalid content type")
        || t.contains("received corrupt")
    {
        return Some(
            "the server did not answer with TLS: is this port a TLS listener (or the URL's scheme the plain one)?"
                .into(),
        );
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_failures_read_as_one_line_that_says_what_to_set() {
        let e = explain(
            "IO error: invalid peer certificate: UnknownIssuer",
            true,
            false,
            CA_HINT,
        )
        .unwrap();
        assert!(
            e.contains("not trusted") && e.contains("tls_ca_file"),
            "{e}"
        );
        let e = explain(
            "received fatal alert: CertificateRequired",
            true,
            false,
            CA_HINT,
        )
        .unwrap();
        assert!(e.contains("requires a TLS client certificate"), "{e}");
        let e = explain("received fatal alert: UnknownCA", true, true, CA_HINT).unwrap();
        assert!(e.contains("refused the TLS client certificate"), "{e}");
        assert!(explain("connection refused", true, false, CA_HINT).is_none());
        let e = explain("IO error: Broken pipe (os error 32)", true, true, CA_HINT).unwrap();
        assert!(e.contains("refused the TLS client certificate"), "{e}");
        assert!(explain("IO error: Broken pipe (os error 32)", false, false, CA_HINT).is_none());
    }

    #[test]
    fn half_an_identity_is_a_usage_error() {
        let p = Profile {
            tls_cert_file: Some("/x/cert.pem".into()),
            ..Default::default()
        };
        let e = Files::load(&p).unwrap_err();
        assert!(e
            .to_string()
            .contains("both tls_cert_file and tls_key_file"));
        let p = Profile {
            tls_ca_file: Some("/nonexistent/ca.pem".into()),
            ..Default::default()
        };
        let e = Files::load(&p).unwrap_err();
        assert!(e.to_string().contains("cannot read tls_ca_file"), "{e}");
    }
}
