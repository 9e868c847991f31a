//! `[[proxy.tls]]` and the upstream TLS keys: addresses parsed, certificate and key files
//! loaded and matched (so `sightline check` catches a bad file), each problem named by field.

use std::path::PathBuf;

use super::Checker;
use crate::config::model::{TlsListener, UpstreamTls};
use crate::config::pem as tls;
use crate::config::raw::RawTls;

impl Checker<'_> {
    /// Validates the TLS listeners; an entry with any error is left out.
    pub(super) fn tls_listeners(
        &mut self,
        raw: Option<Vec<RawTls>>,
        plain: &[std::net::SocketAddr],
    ) -> Vec<TlsListener> {
        let mut out = Vec::new();
        for (i, r) in raw.unwrap_or_default().into_iter().enumerate() {
            let at = |key: &str| format!("proxy.tls[{i}].{key}");
            let listen = match r.listen {
                Some(s) => self.addr(&at("listen"), &s).filter(|a| {
                    let clash = plain.contains(a);
                    if clash {
                        self.err(
                            at("listen"),
                            format!("{s:?}"),
                            "already a plain listener in proxy.listen",
                        );
                    }
                    !clash
                }),
                None => {
                    self.err(
                        at("listen"),
                        "(missing)",
                        "required: the TLS listener's IP:port",
                    );
                    None
                }
            };
            let mut path = |key: &str, v: Option<String>| match v {
                Some(p) if !p.is_empty() => Some(PathBuf::from(p)),
                _ => {
                    self.err(at(key), "(missing)", "required: a PEM file path");
                    None
                }
            };
            let (cert, key) = (path("cert", r.cert), path("key", r.key));
            let (Some(listen), Some(cert), Some(key)) = (listen, cert, key) else {
                continue;
            };
            let entry = TlsListener { listen, cert, key };
            match tls::load_cert(&entry, i) {
                Ok(_) => out.push(entry),
                Err(e) => self.err(e.field, format!("{:?}", e.path), e.reason),
            }
        }
        out
    }

    /// Validates `upstreams.tls`, `sni`, `verify` and `ca_file`.
    pub(super) fn upstream_tls(
        &mut self,
        enabled: Option<bool>,
        sni: Option<String>,
        verify: Option<bool>,
        ca_file: Option<String>,
    ) -> Option<UpstreamTls> {
        if !enabled.unwrap_or(false) {
            for (key, set) in [
                ("sni", sni.is_some()),
                ("verify", verify.is_some()),
                ("ca_file", ca_file.is_some()),
            ] {
                if set {
                    self.err(
                        format!("upstreams.{key}"),
                        "(set)",
                        "only applies with upstreams.tls = true",
                    );
                }
            }
            return None;
        }
        let sni = sni.filter(|s| {
            let ok = rustls::pki_types::ServerName::try_from(s.as_str()).is_ok();
            if !ok {
                self.err("upstreams.sni", format!("{s:?}"), "expected a DNS name");
            }
            ok
        });
        let ca_file = ca_file
            .map(PathBuf::from)
            .filter(|p| match tls::load_ca(p) {
                Ok(_) => true,
                Err(e) => {
                    self.err(e.field, format!("{:?}", e.path), e.reason);
                    false
                }
            });
        Some(UpstreamTls {
            sni,
            verify: verify.unwrap_or(true),
            ca_file,
        })
    }
}
