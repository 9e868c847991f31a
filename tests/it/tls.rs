//! TLS and HTTP/2 through the real binary: HTTPS verified against a test CA (curl and a rustls
//! client), the certificate picked by SNI, HTTP/2 by ALPN and h2c prior knowledge, cache hits
//! and span attributes on HTTP/2, HTTPS upstreams verified (and refused on a CA mismatch), and
//! bad certificate files named by field in `sightline check` and `run`; exact names before
//! wildcards, TLS 1.2/1.3 only, certificates re-read on SIGHUP, PKCS#1 and SEC1 keys, and
//! relative certificate paths resolved against the working directory.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls;

use crate::telemetry::{in_trace, traced, wait_spans, Receiver, ARRIVAL};
use crate::util::{
    accepts_tcp, free_addr, poll_until, sightline_command, with_healthz, ConfigBuilder,
    ProxyProcess, TestOrigin, TestResponse,
};

/// Test certificates: a CA and leaves it signs, written as PEM files in a temp dir.
pub mod pki {
    use std::path::{Path, PathBuf};

    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};

    /// A CA able to sign leaves.
    pub struct Ca {
        issuer: CertifiedIssuer<'static, KeyPair>,
        /// The CA certificate's PEM file.
        pub pem: PathBuf,
    }

    /// A leaf certificate and key on disk, with its DER for comparing what a server sent.
    pub struct Leaf {
        /// Certificate PEM file.
        pub cert: PathBuf,
        /// Key PEM file.
        pub key: PathBuf,
        /// The certificate's DER.
        pub der: Vec<u8>,
    }

    impl Ca {
        /// A new CA named `name`, its PEM written to `dir/name.pem`.
        pub fn new(dir: &Path, name: &str) -> Ca {
            let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params
                .distinguished_name
                .push(rcgen::DnType::CommonName, name);
            let key = KeyPair::generate().expect("CA key");
            let issuer = CertifiedIssuer::self_signed(params, key).expect("self-signed CA");
            let pem = dir.join(format!("{name}.pem"));
            std::fs::write(&pem, issuer.pem()).expect("write CA PEM");
            Ca { issuer, pem }
        }

        /// A leaf for `names` (DNS names or IP addresses), written as `dir/file.{crt,key}`.
        pub fn leaf(&self, dir: &Path, file: &str, names: &[&str]) -> Leaf {
            self.leaf_for(dir, file, names, &KeyPair::generate().expect("leaf key"))
        }

        /// Like [`Self::leaf`], for a given key (the key file holds it as PKCS#8).
        pub fn leaf_for(&self, dir: &Path, file: &str, names: &[&str], key: &KeyPair) -> Leaf {
            let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
            let params = CertificateParams::new(names).expect("leaf params");
            let cert = params.signed_by(key, &self.issuer).expect("sign leaf");
            let (cert_path, key_path) = (
                dir.join(format!("{file}.crt")),
                dir.join(format!("{file}.key")),
            );
            std::fs::write(&cert_path, cert.pem()).expect("write cert");
            std::fs::write(&key_path, key.serialize_pem()).expect("write key");
            Leaf {
                cert: cert_path,
                key: key_path,
                der: cert.der().to_vec(),
            }
        }
    }
}

use pki::{Ca, Leaf};

/// `[[proxy.tls]]` entries for `listen`, one per leaf.
fn tls_entries(listen: SocketAddr, leaves: &[&Leaf]) -> String {
    leaves
        .iter()
        .map(|l| {
            format!(
                "[[proxy.tls]]\nlisten = \"{listen}\"\ncert = {:?}\nkey = {:?}\n",
                l.cert.display().to_string(),
                l.key.display().to_string()
            )
        })
        .collect()
}

/// Runs curl with `args`; returns (exit success, stdout, stderr).
fn curl(args: &[&str]) -> (bool, String, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10"])
        .args(args)
        .output()
        .expect("curl runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn have_curl() -> bool {
    Command::new("curl").arg("--version").output().is_ok()
}

/// A rustls client trusting only `ca`.
fn client_config(ca: &Path, alpn: &[&[u8]]) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    let pem = std::fs::read(ca).expect("read CA");
    for c in rustls_pemfile_certs(&pem) {
        roots.add(c).expect("add CA");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(cfg)
}

fn rustls_pemfile_certs(pem: &[u8]) -> Vec<rustls::pki_types::CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .expect("PEM certificates")
}

/// TLS handshake to `addr` with SNI `name`; the server's leaf DER and the ALPN protocol.
async fn handshake(
    addr: SocketAddr,
    name: &str,
    cfg: Arc<rustls::ClientConfig>,
) -> std::io::Result<(
    tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
    Vec<u8>,
    Option<Vec<u8>>,
)> {
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let server_name =
        rustls::pki_types::ServerName::try_from(name.to_string()).expect("valid name");
    let tls = tokio_rustls::TlsConnector::from(cfg)
        .connect(server_name, tcp)
        .await?;
    let (_, conn) = tls.get_ref();
    let leaf = conn.peer_certificates().expect("server sent certificates")[0].to_vec();
    let alpn = conn.alpn_protocol().map(<[u8]>::to_vec);
    Ok((tls, leaf, alpn))
}

async fn wait_accepts(addr: SocketAddr, proxy: &ProxyProcess) {
    assert!(
        poll_until(Duration::from_secs(20), || accepts_tcp(addr)).await,
        "TLS listener {addr} never accepted\n{}",
        proxy.output()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_sni_picks_each_certificate_and_alpn_offers_h2_then_http1() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = Ca::new(dir.path(), "test-ca");
    let a = ca.leaf(dir.path(), "a", &["a.test"]);
    let b = ca.leaf(dir.path(), "b", &["b.test", "*.b.test"]);
    let origin = TestOrigin::named("o1").await;
    let tls_addr = free_addr();
    let cfg = ConfigBuilder::new(&[origin.addr()]).extra(&tls_entries(tls_addr, &[&a, &b]));
    let proxy = ProxyProcess::start(cfg).await;
    wait_accepts(tls_addr, &proxy).await;

    // A rustls client trusting only the test CA: each name gets its own certificate.
    let h1 = client_config(&ca.pem, &[b"http/1.1"]);
    for (name, want) in [("a.test", &a), ("b.test", &b), ("www.b.test", &b)] {
        let (mut tls, leaf, alpn) = handshake(tls_addr, name, h1.clone())
            .await
            .unwrap_or_else(|e| panic!("handshake for {name}: {e}\n{}", proxy.output()));
        assert_eq!(leaf, want.der, "certificate served for SNI {name}");
        assert_eq!(alpn.as_deref(), Some(&b"http/1.1"[..]));
        let req = format!("GET /sni HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n");
        tls.write_all(req.as_bytes()).await.expect("write request");
        let mut resp = Vec::new();
        let _ = tls.read_to_end(&mut resp).await;
        let resp = String::from_utf8_lossy(&resp);
        assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
        assert!(resp.ends_with("o1"), "{resp}");
    }
    // A name no certificate covers gets the listener's first certificate, which the client
    // rejects: the fallback never pretends to be valid for another name.
    let err = handshake(tls_addr, "c.test", h1.clone()).await.err();
    assert!(err.is_some(), "c.test must not verify");
    // ALPN: h2 is preferred when the client offers both.
    let both = client_config(&ca.pem, &[b"h2", b"http/1.1"]);
    let (_, _, alpn) = handshake(tls_addr, "a.test", both)
        .await
        .expect("handshake");
    assert_eq!(alpn.as_deref(), Some(&b"h2"[..]));

    let sent = origin.requests_to("/sni");
    assert_eq!(sent.len(), 3);
    for r in &sent {
        assert_eq!(r.header("x-forwarded-proto"), Some("https"), "{r:?}");
    }

    if !have_curl() {
        eprintln!("curl not installed: curl checks skipped");
        return;
    }
    let port = tls_addr.port().to_string();
    let resolve_a = format!("a.test:{port}:127.0.0.1");
    let resolve_b = format!("b.test:{port}:127.0.0.1");
    let ca_pem = ca.pem.display().to_string();
    for (resolve, host, flag, want) in [
        (&resolve_a, "a.test", "--http2", "2"),
        (&resolve_b, "b.test", "--http2", "2"),
        (&resolve_a, "a.test", "--http1.1", "1.1"),
    ] {
        let url = format!("https://{host}:{port}/curl");
        let (ok, out, err) = curl(&[
            "--cacert",
            &ca_pem,
            "--resolve",
            resolve,
            flag,
            "-w",
            "\n%{http_version} %{http_code}",
            &url,
        ]);
        assert!(ok, "curl {flag} {url}: {err}\n{}", proxy.output());
        assert_eq!(out, format!("o1\n{want} 200"), "curl {flag} {url}");
    }
    // Without the test CA the same request is refused by curl.
    let url = format!("https://a.test:{port}/curl");
    let (ok, _, _) = curl(&["--resolve", &resolve_a, &url]);
    assert!(!ok, "curl must not trust the test CA by default");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2c_prior_knowledge_only_when_enabled() {
    if !have_curl() {
        eprintln!("curl not installed: skipped");
        return;
    }
    let origin = TestOrigin::named("o1").await;
    let on = ProxyProcess::start(ConfigBuilder::new(&[origin.addr()]).set("proxy.h2c", true)).await;
    let fmt = "\n%{http_version}";
    let (ok, out, err) = curl(&["--http2-prior-knowledge", "-w", fmt, &on.url("/h2c")]);
    assert!(ok, "{err}\n{}", on.output());
    assert_eq!(out, "o1\n2");
    // HTTP/1.1 keeps working on the same listener.
    let (ok, out, err) = curl(&["--http1.1", "-w", fmt, &on.url("/h1")]);
    assert!(ok, "{err}");
    assert_eq!(out, "o1\n1.1");

    let off = ProxyProcess::start(ConfigBuilder::new(&[origin.addr()])).await;
    let (ok, out, _) = curl(&["--http2-prior-knowledge", "-w", fmt, &off.url("/h2c")]);
    assert!(
        !ok || !out.ends_with("\n2"),
        "h2c must be off by default: {out}"
    );
}

/// One curl request printing headers then body; returns (headers, body).
fn curl_headers(args: &[&str]) -> (String, String) {
    let (ok, out, err) = curl(&[&["-D", "-"], args].concat());
    assert!(ok, "curl {args:?}: {err}");
    let (head, body) = out.split_once("\r\n\r\n").expect("headers then body");
    (head.to_ascii_lowercase(), body.to_string())
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .map(str::trim)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_over_tls_hits_the_cache_and_is_traced_as_https_2() {
    if !have_curl() {
        eprintln!("curl not installed: skipped");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = Ca::new(dir.path(), "test-ca");
    let leaf = ca.leaf(dir.path(), "a", &["a.test"]);
    let receiver = Receiver::grpc().await;
    let origin = TestOrigin::spawn(with_healthz(|_| {
        TestResponse::ok("cached body").header("cache-control", "max-age=60")
    }))
    .await;
    let tls_addr = free_addr();
    let cfg = ConfigBuilder::new(&[origin.addr()]).extra(&tls_entries(tls_addr, &[&leaf]));
    let proxy = ProxyProcess::start(traced(cfg, &receiver.endpoint())).await;
    wait_accepts(tls_addr, &proxy).await;
    let port = tls_addr.port();
    let resolve = format!("a.test:{port}:127.0.0.1");
    let url = format!("https://a.test:{port}/static/h2.css");
    let ca_pem = ca.pem.display().to_string();
    let args = ["--cacert", &ca_pem, "--resolve", &resolve, "--http2", &url];

    let (miss_head, body) = curl_headers(&args);
    assert!(miss_head.starts_with("http/2 200"), "{miss_head}");
    assert_eq!(body, "cached body");
    assert!(
        header(&miss_head, "cache-status").is_some_and(|v| v.contains("miss")),
        "{miss_head}"
    );
    let (hit_head, body) = curl_headers(&args);
    assert!(hit_head.starts_with("http/2 200"), "{hit_head}");
    assert_eq!(body, "cached body");
    assert_eq!(
        header(&hit_head, "cache-status"),
        Some("sightline; hit"),
        "{hit_head}"
    );
    assert_eq!(
        origin.hits("/static/h2.css"),
        1,
        "the second request came from the cache"
    );

    for head in [&miss_head, &hit_head] {
        let tr = header(head, "traceresponse").expect("traceresponse header");
        let trace_id = tr.split('-').nth(1).expect("trace id").to_string();
        let spans = wait_spans(&receiver, ARRIVAL, |s| {
            in_trace(s, &trace_id).iter().any(|s| s.span.kind == 2)
        })
        .await;
        let server = in_trace(&spans, &trace_id)
            .into_iter()
            .find(|s| s.span.kind == 2)
            .unwrap_or_else(|| panic!("no SERVER span for {trace_id}"));
        let attr = |k: &str| server.attrs.get(k).map(String::as_str);
        assert_eq!(attr("url.scheme"), Some("https"), "{:?}", server.attrs);
        assert_eq!(
            attr("network.protocol.version"),
            Some("2"),
            "{:?}",
            server.attrs
        );
    }
}

/// A minimal HTTPS origin: answers every HTTP/1.1 request `200 ok-tls` on keep-alive
/// connections and records the request lines.
struct TlsOrigin {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<String>>>,
    handshakes: Arc<AtomicUsize>,
}

impl TlsOrigin {
    async fn spawn(leaf: &Leaf) -> TlsOrigin {
        use rustls::pki_types::pem::PemObject;
        let certs = rustls_pemfile_certs(&std::fs::read(&leaf.cert).expect("cert"));
        let key = rustls::pki_types::PrivateKeyDer::from_pem_file(&leaf.key).expect("key");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let cfg = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .expect("server config");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let handshakes = Arc::new(AtomicUsize::new(0));
        let (log, count) = (seen.clone(), handshakes.clone());
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, log, count) = (acceptor.clone(), log.clone(), count.clone());
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    count.fetch_add(1, Ordering::Relaxed);
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    loop {
                        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                            match tls.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                            }
                            continue;
                        };
                        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                        buf.drain(..end + 4);
                        log.lock().unwrap().push(head);
                        let resp = "HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\nok-tls";
                        if tls.write_all(resp.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        TlsOrigin {
            addr,
            seen,
            handshakes,
        }
    }

    fn requests_to(&self, path: &str) -> usize {
        let prefix = format!("GET {path} ");
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|h| h.starts_with(&prefix))
            .count()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_upstream_is_verified_against_its_ca_and_refused_on_a_mismatch() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = Ca::new(dir.path(), "upstream-ca");
    let other = Ca::new(dir.path(), "other-ca");
    let leaf = ca.leaf(dir.path(), "origin", &["origin.test"]);
    let origin = TlsOrigin::spawn(&leaf).await;
    let ca_file = ca.pem.display().to_string();

    // Verified: health checks (HTTP over TLS) and requests both reach the origin.
    let cfg = ConfigBuilder::new(&[origin.addr])
        .set("upstreams.tls", true)
        .set("upstreams.sni", "origin.test")
        .set("upstreams.ca_file", ca_file.as_str());
    let proxy = ProxyProcess::start(cfg).await;
    let http = crate::util::client();
    let ok = poll_until(Duration::from_secs(10), || {
        let r = http.get(proxy.url("/through-tls")).send();
        async move { r.await.is_ok_and(|r| r.status() == 200) }
    })
    .await;
    assert!(ok, "no 200 through the HTTPS upstream\n{}", proxy.output());
    let r = crate::util::fetch(http.get(proxy.url("/through-tls"))).await;
    assert_eq!(r.body, "ok-tls");
    assert!(
        origin.requests_to("/healthz") > 0,
        "health checks use TLS too"
    );
    assert!(origin.handshakes.load(Ordering::Relaxed) > 0);
    drop(proxy);

    // The wrong CA with verify = true: every request is refused with 502, and the log says why.
    let cfg = ConfigBuilder::new(&[origin.addr])
        .set("upstreams.tls", true)
        .set("upstreams.sni", "origin.test")
        .set("upstreams.ca_file", other.pem.display().to_string())
        .set("upstreams.health_check.kind", "none");
    let proxy = ProxyProcess::start(cfg).await;
    let before = origin.requests_to("/refused");
    let r = crate::util::fetch(http.get(proxy.url("/refused"))).await;
    assert_eq!(r.status, 502, "{r:?}\n{}", proxy.output());
    assert_eq!(
        origin.requests_to("/refused"),
        before,
        "no request reached the origin"
    );
    let line = proxy
        .wait_for_stderr("certificate", Duration::from_secs(5))
        .await;
    let line = line
        .lines()
        .find(|l| l.contains("certificate"))
        .unwrap_or_default()
        .to_string();
    eprintln!("CA mismatch log line: {line}");
    assert!(
        line.contains("UnknownIssuer"),
        "the log names the verification failure: {line}\n{}",
        proxy.output()
    );
}

fn check(config: &str) -> (i32, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("c.toml");
    std::fs::write(&path, config).expect("write config");
    let out = sightline_command(["check", "-c", path.to_str().expect("utf-8 path")])
        .output()
        .expect("run sightline check");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_certificate_files_are_named_by_field_in_check() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = Ca::new(dir.path(), "ca");
    let good = ca.leaf(dir.path(), "good", &["a.test"]);
    let other = ca.leaf(dir.path(), "other", &["b.test"]);
    let garbage: PathBuf = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate\n").expect("write");
    let p = |p: &Path| p.display().to_string();
    let base = "[upstreams]\nservers = [\"127.0.0.1:9\"]\n";
    let entry = |cert: &str, key: &str| {
        format!("[[proxy.tls]]\nlisten = \"127.0.0.1:8443\"\ncert = {cert:?}\nkey = {key:?}\n")
    };

    let (code, err) = check(&format!("{base}{}", entry(&p(&good.cert), &p(&good.key))));
    assert_eq!(code, 0, "{err}");

    let cases = [
        (entry(&p(&garbage), &p(&good.key)), "proxy.tls[0].cert"),
        (entry(&p(&good.cert), &p(&garbage)), "proxy.tls[0].key"),
        (
            entry(&p(&dir.path().join("missing.crt")), &p(&good.key)),
            "proxy.tls[0].cert",
        ),
        (entry(&p(&good.cert), &p(&other.key)), "proxy.tls[0].key"),
    ];
    for (text, field) in cases {
        let (code, err) = check(&format!("{base}{text}"));
        assert_eq!(code, 2, "{field}: {err}");
        assert!(err.contains(&format!("error: {field}:")), "{field}: {err}");
    }
    // The second entry's error names index 1.
    let two = format!(
        "{base}{}{}",
        entry(&p(&good.cert), &p(&good.key)),
        entry(&p(&other.cert), &p(&good.key))
    );
    let (code, err) = check(&two);
    assert_eq!(code, 2);
    assert!(err.contains("error: proxy.tls[1].key:"), "{err}");
    // `run` refuses the same file with the same message.
    let path = dir.path().join("run.toml");
    std::fs::write(&path, &two).expect("write");
    let out = sightline_command(["run", "-c", path.to_str().expect("utf-8")])
        .output()
        .expect("run sightline");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("proxy.tls[1].key"));
    // A TLS listener on the plain listener's address is refused.
    let clash = format!(
        "[proxy]\nlisten = \"127.0.0.1:8443\"\n{base}{}",
        entry(&p(&good.cert), &p(&good.key))
    );
    let (code, err) = check(&clash);
    assert_eq!(code, 2);
    assert!(err.contains("error: proxy.tls[0].listen:"), "{err}");
    // Upstream CA files are checked the same way.
    let (code, err) = check(&format!("{base}tls = true\nca_file = {:?}\n", p(&garbage)));
    assert_eq!(code, 2);
    assert!(err.contains("error: upstreams.ca_file:"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_to_an_https_upstream_reaches_it_as_https_2() {
    // The upstream is a second sightline terminating TLS (ALPN h2) and exporting spans, so
    // what it received is visible: its SERVER span says how the request arrived.
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = Ca::new(dir.path(), "inner-ca");
    let leaf = ca.leaf(dir.path(), "inner", &["inner.test"]);
    let receiver = Receiver::grpc().await;
    let origin = TestOrigin::named("o1").await;
    let inner_tls = free_addr();
    let inner_cfg = ConfigBuilder::new(&[origin.addr()]).extra(&tls_entries(inner_tls, &[&leaf]));
    let inner = ProxyProcess::start(traced(inner_cfg, &receiver.endpoint())).await;
    wait_accepts(inner_tls, &inner).await;

    let outer_cfg = ConfigBuilder::new(&[inner_tls])
        .set("upstreams.tls", true)
        .set("upstreams.http2", true)
        .set("upstreams.sni", "inner.test")
        .set("upstreams.ca_file", ca.pem.display().to_string())
        .set("upstreams.health_check.kind", "none");
    // Traced too: the inner proxy follows the outer's sampling decision (traceparent).
    let outer = ProxyProcess::start(traced(outer_cfg, &receiver.endpoint())).await;
    let r = crate::util::fetch(crate::util::client().get(outer.url("/via-h2"))).await;
    assert_eq!(
        r.status,
        200,
        "{r:?}\n{}\n{}",
        outer.output(),
        inner.output()
    );
    assert_eq!(r.body, "o1");
    let is_server = |s: &crate::telemetry::RecvSpan| {
        s.span.kind == 2 && s.attrs.get("url.path").is_some_and(|p| p == "/via-h2")
    };
    let spans = wait_spans(&receiver, ARRIVAL, |s| {
        s.iter().filter(|s| is_server(s)).count() >= 2
    })
    .await;
    let mut arrivals: Vec<(String, String)> = spans
        .iter()
        .filter(|s| is_server(s))
        .map(|s| {
            let attr = |k: &str| s.attrs.get(k).cloned().unwrap_or_default();
            (attr("url.scheme"), attr("network.protocol.version"))
        })
        .collect();
    arrivals.sort();
    let want = |a: &str, b: &str| (a.to_string(), b.to_string());
    // The outer proxy got HTTP/1.1 from the test client; the inner one h2 over TLS from it.
    assert_eq!(
        arrivals,
        vec![want("http", "1.1"), want("https", "2")],
        "\n{}",
        inner.output()
    );
}

/// The base64 of the leaf certificate that openssl s_client was served by the TLS listener
/// at `addr` (with SNI `sni`, none without), and the protocol line; `None` when the handshake
/// failed.
fn served(addr: SocketAddr, sni: Option<&str>, extra: &[&str]) -> Option<(String, String)> {
    let connect = addr.to_string();
    let mut args = vec!["s_client", "-connect", &connect];
    match sni {
        Some(name) => args.extend(["-servername", name]),
        None => args.push("-noservername"),
    }
    args.extend(extra);
    let out = Command::new("openssl")
        .args(&args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("openssl runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let pem = text
        .split("-----BEGIN CERTIFICATE-----")
        .nth(1)?
        .split("-----END CERTIFICATE-----")
        .next()?;
    let protocol = text
        .lines()
        .find(|l| l.starts_with("New, "))
        .unwrap_or_default()
        .to_string();
    Some((pem.split_whitespace().collect(), protocol))
}

/// The base64 of a leaf's certificate file.
fn leaf_base64(leaf: &Leaf) -> String {
    let pem = std::fs::read_to_string(&leaf.cert).expect("read cert");
    pem.lines().filter(|l| !l.starts_with("-----")).collect()
}

fn have_openssl() -> bool {
    Command::new("openssl").arg("version").output().is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sni_prefers_an_exact_name_then_a_one_label_wildcard_else_the_first_entry() {
    if !have_openssl() {
        eprintln!("openssl not installed: skipped");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = Ca::new(dir.path(), "test-ca");
    let first = ca.leaf(dir.path(), "first", &["first.test"]);
    let wild = ca.leaf(dir.path(), "wild", &["*.w.test"]);
    let exact = ca.leaf(dir.path(), "exact", &["www.w.test"]);
    let origin = TestOrigin::named("o1").await;
    let tls_addr = free_addr();
    let entries = tls_entries(tls_addr, &[&first, &wild, &exact]);
    let proxy = ProxyProcess::start(ConfigBuilder::new(&[origin.addr()]).extra(&entries)).await;
    wait_accepts(tls_addr, &proxy).await;
    let cases = [
        (Some("www.w.test"), &exact, "exact"),
        (Some("WWW.W.Test"), &exact, "exact"),
        (Some("api.w.test"), &wild, "wild"),
        (Some("a.api.w.test"), &first, "first"),
        (Some("other.test"), &first, "first"),
        (None, &first, "first"),
    ];
    for (sni, want, which) in cases {
        let (cert, _) = served(tls_addr, sni, &[])
            .unwrap_or_else(|| panic!("{sni:?}: no handshake\n{}", proxy.output()));
        assert!(cert == leaf_base64(want), "SNI {sni:?} did not get {which}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_1_2_and_1_3_are_offered_and_1_1_is_not() {
    if !have_openssl() {
        eprintln!("openssl not installed: skipped");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = Ca::new(dir.path(), "test-ca");
    let leaf = ca.leaf(dir.path(), "a", &["a.test"]);
    let origin = TestOrigin::named("o1").await;
    let tls_addr = free_addr();
    let entries = tls_entries(tls_addr, &[&leaf]);
    let proxy = ProxyProcess::start(ConfigBuilder::new(&[origin.addr()]).extra(&entries)).await;
    wait_accepts(tls_addr, &proxy).await;
    for (flag, want) in [("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")] {
        let (_, protocol) = served(tls_addr, Some("a.test"), &[flag])
            .unwrap_or_else(|| panic!("{flag}: no handshake\n{}", proxy.output()));
        assert!(protocol.contains(want), "{flag}: {protocol}");
    }
    // SECLEVEL=0 lets this openssl offer TLS 1.1 at all; the proxy must refuse it.
    let old = served(
        tls_addr,
        Some("a.test"),
        &["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"],
    );
    assert!(old.is_none(), "a TLS 1.1 handshake succeeded: {old:?}");
}

/// One keep-alive GET on an open TLS connection; the response as text.
async fn exchange<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(tls: &mut S) -> String {
    tls.write_all(b"GET /r HTTP/1.1\r\nHost: a.test\r\n\r\n")
        .await
        .expect("write request");
    let mut resp = Vec::new();
    let mut chunk = [0u8; 4096];
    let read = async {
        while !resp.ends_with(b"o1") {
            match tls.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => resp.extend_from_slice(&chunk[..n]),
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(10), read).await;
    String::from_utf8_lossy(&resp).into_owned()
}

/// The admin's `reload` object once `n` reloads have been attempted.
async fn reloaded(proxy: &ProxyProcess, n: u64) -> serde_json::Value {
    crate::util::poll_for(Duration::from_secs(10), || async {
        let r = proxy.admin_json("/api/summary").await["reload"].clone();
        let done = r["count_ok"].as_u64()? + r["count_failed"].as_u64()?;
        (done >= n).then_some(r)
    })
    .await
    .unwrap_or_else(|| panic!("reload {n} never reported\n{}", proxy.output()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_rereads_certificates_keeps_open_connections_and_refuses_a_bad_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = Ca::new(dir.path(), "test-ca");
    let old = ca.leaf(dir.path(), "a", &["a.test"]);
    let origin = TestOrigin::named("o1").await;
    let tls_addr = free_addr();
    let cfg = ConfigBuilder::new(&[origin.addr()]).extra(&tls_entries(tls_addr, &[&old]));
    let proxy = ProxyProcess::start_with_admin(cfg).await;
    wait_accepts(tls_addr, &proxy).await;
    // A new client config for each handshake: a resumed session would show the old chain.
    let h1 = || client_config(&ca.pem, &[b"http/1.1"]);
    let (mut open, leaf, _) = handshake(tls_addr, "a.test", h1())
        .await
        .expect("handshake");
    assert_eq!(leaf, old.der);
    let r = exchange(&mut open).await;
    assert!(r.starts_with("HTTP/1.1 200") && r.ends_with("o1"), "{r}");

    // Renewed files on the same paths take effect on SIGHUP.
    let renewed = ca.leaf(dir.path(), "a", &["a.test"]);
    proxy.signal(libc::SIGHUP);
    assert_eq!(reloaded(&proxy, 1).await["result"], "ok");
    let (_, leaf, _) = handshake(tls_addr, "a.test", h1())
        .await
        .expect("handshake");
    assert!(leaf == renewed.der, "the renewed certificate is not served");
    let r = exchange(&mut open).await;
    assert!(
        r.starts_with("HTTP/1.1 200") && r.ends_with("o1"),
        "a connection opened before the reload: {r}"
    );

    // A bad file refuses the whole reload; the renewed certificate stays.
    std::fs::write(&renewed.cert, "not a certificate\n").expect("write");
    proxy.signal(libc::SIGHUP);
    let status = reloaded(&proxy, 2).await;
    assert_eq!(status["result"], "refused", "{status}");
    assert!(status["errors"][0]
        .as_str()
        .is_some_and(|e| e.contains("proxy.tls[0].cert")));
    let (_, leaf, _) = handshake(tls_addr, "a.test", h1())
        .await
        .expect("handshake");
    assert!(
        leaf == renewed.der,
        "a refused reload changed the certificate"
    );
}

#[test]
fn upstream_tls_options_without_tls_are_refused_by_check() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = Ca::new(dir.path(), "ca");
    let base = "[upstreams]\nservers = [\"127.0.0.1:9\"]\n";
    let ca_line = format!("ca_file = {:?}", ca.pem.display().to_string());
    let (code, err) = check(&format!("{base}tls = true\n{ca_line}\n"));
    assert_eq!(code, 0, "{err}");
    for (line, field) in [
        ("sni = \"a.test\"", "upstreams.sni"),
        ("verify = false", "upstreams.verify"),
        (ca_line.as_str(), "upstreams.ca_file"),
    ] {
        let (code, err) = check(&format!("{base}{line}\n"));
        assert_eq!(code, 2, "{line}: {err}");
        assert!(err.contains(&format!("error: {field}:")), "{line}: {err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_false_reaches_an_upstream_of_another_ca_and_verify_true_marks_it_down() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = Ca::new(dir.path(), "upstream-ca");
    let other = Ca::new(dir.path(), "other-ca");
    let leaf = ca.leaf(dir.path(), "origin", &["origin.test"]);
    let origin = TlsOrigin::spawn(&leaf).await;
    let tls = ConfigBuilder::new(&[origin.addr])
        .set("upstreams.tls", true)
        .set("upstreams.sni", "origin.test")
        .set("upstreams.ca_file", other.pem.display().to_string());

    let unverified = ProxyProcess::start(
        tls.clone()
            .set("upstreams.verify", false)
            .set("upstreams.health_check.kind", "none"),
    )
    .await;
    let r = crate::util::fetch(crate::util::client().get(unverified.url("/unverified"))).await;
    assert_eq!((r.status, r.body.as_str()), (200, "ok-tls"), "{r:?}");
    drop(unverified);

    // Health checks verify as requests do: the upstream is marked down.
    let verified = ProxyProcess::start_with_admin(
        tls.set("upstreams.health_check.interval", "200ms")
            .set("upstreams.health_check.unhealthy_after", 1),
    )
    .await;
    let addr = origin.addr.to_string();
    let down = poll_until(Duration::from_secs(10), || async {
        let health = verified.admin_json("/health").await;
        health["upstreams"].as_array().is_some_and(|ups| {
            ups.iter()
                .any(|u| u["address"] == addr.as_str() && u["healthy"] == false)
        })
    })
    .await;
    assert!(down, "not marked down\n{}", verified.output());
    assert_eq!(
        origin.requests_to("/healthz"),
        0,
        "a check got past the handshake"
    );
}

/// Runs `openssl args`; panics with its stderr unless it succeeds.
fn openssl(args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Rewrites `leaf`'s PKCS#8 key file in its traditional format (`openssl rsa -traditional`:
/// PKCS#1; `openssl ec`: SEC1) and asserts the PEM label the README names.
fn to_traditional(leaf: &Leaf, kind: &str, label: &str) {
    let key = leaf.key.display().to_string();
    let out = format!("{key}.{kind}");
    let mut args = vec![kind, "-in", &key, "-out", &out];
    if kind == "rsa" {
        args.push("-traditional");
    }
    openssl(&args);
    let pem = std::fs::read_to_string(&out).expect("read converted key");
    assert!(pem.starts_with(label), "openssl {kind} wrote {pem:.40}");
    std::fs::rename(&out, &leaf.key).expect("replace the key file");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pkcs1_rsa_and_sec1_ec_private_keys_are_accepted_and_serve_handshakes() {
    if !have_openssl() {
        eprintln!("openssl not installed: skipped");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = Ca::new(dir.path(), "test-ca");
    // RSA: generated by openssl (ring cannot generate RSA), signed by the test CA.
    let rsa_pkcs8 = dir.path().join("rsa.p8");
    let rsa_path = rsa_pkcs8.display().to_string();
    openssl(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-out",
        &rsa_path,
    ]);
    let rsa_key = rcgen::KeyPair::from_pem(&std::fs::read_to_string(&rsa_pkcs8).expect("read"))
        .expect("an RSA PKCS#8 key");
    let rsa = ca.leaf_for(dir.path(), "rsa", &["rsa.test"], &rsa_key);
    to_traditional(&rsa, "rsa", "-----BEGIN RSA PRIVATE KEY-----");
    let ec = ca.leaf(dir.path(), "ec", &["ec.test"]);
    to_traditional(&ec, "ec", "-----BEGIN EC PRIVATE KEY-----");

    let origin = TestOrigin::named("o1").await;
    let tls_addr = free_addr();
    let entries = tls_entries(tls_addr, &[&rsa, &ec]);
    let (code, err) = check(&format!(
        "[upstreams]\nservers = [\"127.0.0.1:9\"]\n{entries}"
    ));
    assert_eq!(code, 0, "check refused PKCS#1/SEC1 keys: {err}");
    let proxy = ProxyProcess::start(ConfigBuilder::new(&[origin.addr()]).extra(&entries)).await;
    wait_accepts(tls_addr, &proxy).await;
    let h1 = client_config(&ca.pem, &[b"http/1.1"]);
    for (name, want) in [("rsa.test", &rsa), ("ec.test", &ec)] {
        let (mut tls, leaf, _) = handshake(tls_addr, name, h1.clone())
            .await
            .unwrap_or_else(|e| panic!("handshake for {name}: {e}\n{}", proxy.output()));
        assert!(leaf == want.der, "SNI {name} got another certificate");
        let r = exchange(&mut tls).await;
        assert!(r.starts_with("HTTP/1.1 200") && r.ends_with("o1"), "{r}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relative_certificate_paths_are_relative_to_the_working_directory() {
    let certs = tempfile::tempdir().expect("temp dir");
    let ca = Ca::new(certs.path(), "test-ca");
    let leaf = ca.leaf(certs.path(), "a", &["a.test"]);
    let tls_addr = free_addr();
    let entry =
        format!("[[proxy.tls]]\nlisten = \"{tls_addr}\"\ncert = \"a.crt\"\nkey = \"a.key\"\n");

    // The config file lives elsewhere: only the working directory decides.
    let conf = tempfile::tempdir().expect("temp dir");
    let path = conf.path().join("c.toml");
    std::fs::write(
        &path,
        format!("[upstreams]\nservers = [\"127.0.0.1:9\"]\n{entry}"),
    )
    .expect("write config");
    let check_in = |cwd: &Path| {
        sightline_command(["check", "-c", path.to_str().expect("utf-8 path")])
            .current_dir(cwd)
            .output()
            .expect("run sightline check")
    };
    let out = check_in(certs.path());
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = check_in(conf.path());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("error: proxy.tls[0].cert:"), "{err}");

    let origin = TestOrigin::named("o1").await;
    let cfg = ConfigBuilder::new(&[origin.addr()]).extra(&entry);
    let mut proxy =
        ProxyProcess::spawn_with(&cfg.to_toml(), cfg.proxy_addr(), cfg.admin_addr(), |c| {
            c.current_dir(certs.path());
        });
    proxy.wait_proxy_ready().await;
    wait_accepts(tls_addr, &proxy).await;
    let (mut tls, served, _) = handshake(tls_addr, "a.test", client_config(&ca.pem, &[]))
        .await
        .unwrap_or_else(|e| panic!("handshake: {e}\n{}", proxy.output()));
    assert!(served == leaf.der, "another certificate was served");
    let r = exchange(&mut tls).await;
    assert!(r.starts_with("HTTP/1.1 200") && r.ends_with("o1"), "{r}");
}
