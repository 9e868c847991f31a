//! TLS on both sides of the proxy: the client-facing certificates (loaded from PEM, chosen by
//! SNI, swappable in place for live reload), pingora's listener settings built from them, the
//! upstream TLS options, and the one function that says how a request arrived
//! (`http`/`https`, HTTP/1.x or 2) for telemetry and forwarding headers.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;
use pingora_core::listeners::tls::TlsSettings;
use pingora_core::utils::tls::WrappedX509;
use pingora_proxy::Session;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

pub use crate::config::pem::load_ca;
use crate::config::pem::{load_cert, LoadedCert, TlsError};
use crate::config::{TlsListener, UpstreamTls};

/// The certificates of one listener, indexed for lookup during the handshake.
#[derive(Debug)]
struct CertSet {
    exact: HashMap<String, Arc<CertifiedKey>>,
    /// `*.example.com` stored as `example.com`.
    wildcard: HashMap<String, Arc<CertifiedKey>>,
    /// Served when SNI is absent or matches nothing: the listener's first entry.
    fallback: Arc<CertifiedKey>,
}

impl CertSet {
    /// Indexes `certs` in config order: for a name listed twice the first entry wins.
    fn new(certs: Vec<LoadedCert>) -> Option<CertSet> {
        let fallback = certs.first()?.key.clone();
        let (mut exact, mut wildcard) = (HashMap::new(), HashMap::new());
        for c in certs {
            for n in c.names {
                match n.strip_prefix("*.") {
                    Some(rest) => wildcard.entry(rest.to_string()),
                    None => exact.entry(n),
                }
                .or_insert_with(|| c.key.clone());
            }
        }
        Some(CertSet {
            exact,
            wildcard,
            fallback,
        })
    }

    fn pick(&self, sni: Option<&str>) -> Arc<CertifiedKey> {
        let Some(name) = sni else {
            return self.fallback.clone();
        };
        // rustls hands SNI over as sent; names are compared case-insensitively.
        let lowered;
        let name = if name.bytes().any(|b| b.is_ascii_uppercase()) {
            lowered = name.to_ascii_lowercase();
            lowered.as_str()
        } else {
            name
        };
        if let Some(k) = self.exact.get(name) {
            return k.clone();
        }
        let parent = name.split_once('.').map(|(_, p)| p);
        parent
            .and_then(|p| self.wildcard.get(p))
            .unwrap_or(&self.fallback)
            .clone()
    }
}

/// The SNI resolver of one TLS listener; its certificates can be replaced while it serves.
#[derive(Debug)]
pub struct SniResolver {
    listen: SocketAddr,
    set: ArcSwap<CertSet>,
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.set.load().pick(hello.server_name()))
    }
}

/// What a certificate reload did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TlsReload {
    /// Certificates now served (on listeners that already existed).
    pub certificates: usize,
    /// Listener addresses added or removed by the new config: they need a restart (or an
    /// upgrade) and were left as they were.
    pub needs_restart: Vec<SocketAddr>,
}

/// Every TLS listener's certificates: built at start-up, replaced in place by [`Self::reload`].
#[derive(Debug, Default)]
pub struct TlsCerts {
    resolvers: Vec<Arc<SniResolver>>,
}

/// Loads all entries (every error reported, in order) and groups them by listener address.
fn load_grouped(entries: &[TlsListener]) -> Result<Vec<(SocketAddr, CertSet)>, Vec<TlsError>> {
    let mut groups: Vec<(SocketAddr, Vec<LoadedCert>)> = Vec::new();
    let mut errs = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        match load_cert(e, i) {
            Ok(c) => match groups.iter_mut().find(|(a, _)| *a == e.listen) {
                Some((_, v)) => v.push(c),
                None => groups.push((e.listen, vec![c])),
            },
            Err(err) => errs.push(err),
        }
    }
    if !errs.is_empty() {
        return Err(errs);
    }
    Ok(groups
        .into_iter()
        .filter_map(|(a, v)| CertSet::new(v).map(|s| (a, s)))
        .collect())
}

impl TlsCerts {
    /// Loads the certificates of `entries` (`[[proxy.tls]]`).
    pub fn load(entries: &[TlsListener]) -> Result<TlsCerts, Vec<TlsError>> {
        let resolvers = load_grouped(entries)?
            .into_iter()
            .map(|(listen, set)| {
                Arc::new(SniResolver {
                    listen,
                    set: ArcSwap::from_pointee(set),
                })
            })
            .collect();
        Ok(TlsCerts { resolvers })
    }

    /// The listener addresses, each with its resolver.
    pub fn listeners(&self) -> impl Iterator<Item = (SocketAddr, Arc<SniResolver>)> + '_ {
        self.resolvers.iter().map(|r| (r.listen, r.clone()))
    }

    /// Re-reads every certificate and key of `entries` and swaps them in on the running
    /// listeners; handshakes in progress keep the certificate they started with. Nothing is
    /// changed unless every file loads.
    pub fn reload(&self, entries: &[TlsListener]) -> Result<TlsReload, Vec<TlsError>> {
        let mut fresh = load_grouped(entries)?;
        let mut out = TlsReload::default();
        for r in &self.resolvers {
            match fresh.iter().position(|(a, _)| *a == r.listen) {
                Some(i) => {
                    let (_, set) = fresh.swap_remove(i);
                    out.certificates += entries.iter().filter(|e| e.listen == r.listen).count();
                    r.set.store(Arc::new(set));
                }
                None => out.needs_restart.push(r.listen),
            }
        }
        out.needs_restart.extend(fresh.into_iter().map(|(a, _)| a));
        Ok(out)
    }
}

/// pingora listener settings for one TLS listener: the SNI resolver, TLS 1.2 and 1.3 (the
/// versions pingora's rustls acceptor enables), and ALPN `h2` then `http/1.1`.
pub fn listener_settings(resolver: Arc<SniResolver>) -> TlsSettings {
    // The paths are unused once a resolver is set.
    let mut s = TlsSettings::intermediate("", "").expect("settings without files do not fail");
    s.set_cert_resolver(resolver);
    s.enable_h2();
    s
}

/// Upstream TLS as pingora peers need it: the CA bundle read once at start-up.
#[derive(Clone)]
pub struct UpstreamTransport {
    /// TLS settings, `None` for plain TCP.
    pub tls: Option<UpstreamTls>,
    /// `upstreams.ca_file`, loaded.
    pub ca: Option<Arc<[WrappedX509]>>,
    /// Speak HTTP/2.
    pub http2: bool,
}

impl UpstreamTransport {
    /// Reads `upstreams.ca_file` if set.
    pub fn new(tls: Option<UpstreamTls>, http2: bool) -> Result<Self, TlsError> {
        let ca = match tls.as_ref().and_then(|t| t.ca_file.as_deref()) {
            Some(p) => Some(load_ca(p)?),
            None => None,
        };
        Ok(UpstreamTransport { tls, ca, http2 })
    }

    /// A peer for `addr` with this transport (TLS, SNI, verification, ALPN).
    pub fn peer(&self, addr: SocketAddr) -> pingora_core::upstreams::peer::HttpPeer {
        let sni = match &self.tls {
            Some(t) => t.sni.clone().unwrap_or_else(|| addr.ip().to_string()),
            None => String::new(),
        };
        let mut peer = pingora_core::upstreams::peer::HttpPeer::new(addr, self.tls.is_some(), sni);
        self.apply(&mut peer);
        peer
    }

    /// Sets verification, CA and ALPN on `peer` (also the health check's template).
    pub fn apply(&self, peer: &mut pingora_core::upstreams::peer::HttpPeer) {
        use pingora_core::protocols::ALPN;
        if let Some(t) = &self.tls {
            peer.options.verify_cert = t.verify;
            peer.options.verify_hostname = t.verify;
            peer.options.ca = self.ca.clone();
        }
        peer.options.alpn = if self.http2 { ALPN::H2 } else { ALPN::H1 };
    }
}

/// How the request arrived: `("https" | "http", "1.0" | "1.1" | "2")`, from the connection
/// (TLS digest) and the session (HTTP/2), for telemetry and `X-Forwarded-Proto` alike.
pub fn arrival(session: &Session) -> (&'static str, &'static str) {
    let tls = session.digest().is_some_and(|d| d.ssl_digest.is_some());
    let scheme = if tls { "https" } else { "http" };
    let version = if session.is_http2() {
        "2"
    } else if session.req_header().version == http::Version::HTTP_10 {
        "1.0"
    } else {
        "1.1"
    };
    (scheme, version)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn write_leaf(dir: &Path, file: &str, names: &[&str]) -> (TlsListener, Vec<u8>) {
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = rcgen::CertificateParams::new(names)
            .expect("params")
            .self_signed(&key)
            .expect("cert");
        let (c, k) = (
            dir.join(format!("{file}.crt")),
            dir.join(format!("{file}.key")),
        );
        std::fs::write(&c, cert.pem()).expect("write");
        std::fs::write(&k, key.serialize_pem()).expect("write");
        let entry = TlsListener {
            listen: "127.0.0.1:8443".parse().expect("addr"),
            cert: c,
            key: k,
        };
        (entry, cert.der().to_vec())
    }

    fn served(certs: &TlsCerts, sni: Option<&str>) -> Vec<u8> {
        let (_, r) = certs.listeners().next().expect("one listener");
        r.set.load().pick(sni).cert[0].to_vec()
    }

    #[test]
    fn sni_picks_exact_then_wildcard_then_the_first_entry() {
        let dir = tempfile::tempdir().expect("dir");
        let (a, a_der) = write_leaf(dir.path(), "a", &["a.test"]);
        let (b, b_der) = write_leaf(dir.path(), "b", &["*.b.test", "B.test"]);
        let certs = TlsCerts::load(&[a, b]).expect("load");
        assert_eq!(served(&certs, Some("a.test")), a_der);
        assert_eq!(served(&certs, Some("A.TEST")), a_der);
        assert_eq!(served(&certs, Some("b.test")), b_der);
        assert_eq!(served(&certs, Some("x.b.test")), b_der);
        assert_eq!(
            served(&certs, Some("y.x.b.test")),
            a_der,
            "wildcards cover one label"
        );
        assert_eq!(served(&certs, None), a_der);
    }

    #[test]
    fn reload_swaps_certificates_in_place_and_keeps_them_on_error() {
        let dir = tempfile::tempdir().expect("dir");
        let (a, a_der) = write_leaf(dir.path(), "a", &["a.test"]);
        let certs = TlsCerts::load(std::slice::from_ref(&a)).expect("load");
        let resolver = certs.listeners().next().expect("listener").1;
        // New files at the same paths: the running resolver serves them after reload.
        let (_, new_der) = write_leaf(dir.path(), "a", &["a.test"]);
        assert_ne!(a_der, new_der);
        let out = certs.reload(std::slice::from_ref(&a)).expect("reload");
        assert_eq!(out.certificates, 1);
        assert!(out.needs_restart.is_empty());
        assert_eq!(
            resolver.set.load().pick(Some("a.test")).cert[0].to_vec(),
            new_der
        );
        // A broken key: refused, named by field, and the served certificate stays.
        std::fs::write(&a.key, "garbage").expect("write");
        let errs = certs.reload(std::slice::from_ref(&a)).expect_err("bad key");
        assert_eq!(errs[0].field, "proxy.tls[0].key");
        assert_eq!(served(&certs, Some("a.test")), new_der);
        // A new listener address needs a restart and is reported, not opened.
        let (mut other, _) = write_leaf(dir.path(), "o", &["o.test"]);
        other.listen = "127.0.0.1:9443".parse().expect("addr");
        let (fresh, _) = write_leaf(dir.path(), "a", &["a.test"]);
        let out = certs.reload(&[fresh, other]).expect("reload");
        assert_eq!(out.needs_restart, vec!["127.0.0.1:9443".parse().unwrap()]);
    }
}
