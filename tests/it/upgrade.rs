//! Zero-downtime binary upgrade: a second `sightline run --upgrade` takes the listening sockets
//! (plain and TLS) from the running process while keep-alive clients load it for 10 s; no
//! request fails, the old process exits 0 and the new one serves (admin included). Without a
//! new process, a new one waiting in vain exits 1 and an old one given SIGQUIT shuts down anyway.

use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::tls::pki::Ca;
use crate::util::{
    client_builder, free_addr, poll_until, sightline_command, ConfigBuilder, ProxyProcess,
    TestOrigin,
};

const LOAD: Duration = Duration::from_secs(10);
const CLIENTS: usize = 4;

/// Kills the upgraded process if the test fails before stopping it.
struct Reap(Child);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[derive(Default)]
struct Tally {
    ok: AtomicU64,
    ok_after_old_exit: AtomicU64,
    failed: Mutex<Vec<String>>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn upgrade_under_load_fails_no_request_and_the_old_process_exits_0() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = Ca::new(dir.path(), "ca");
    let leaf = ca.leaf(dir.path(), "a", &["a.test"]);
    let origin = TestOrigin::named("o1").await;
    let sock = dir.path().join("upgrade.sock");
    let tls_addr = free_addr();
    let cfg = ConfigBuilder::new(&[origin.addr()])
        .set("proxy.upgrade_socket", sock.display().to_string())
        .set("proxy.grace_period", "5s")
        .extra(&format!(
            "[[proxy.tls]]\nlisten = \"{tls_addr}\"\ncert = {:?}\nkey = {:?}\n",
            leaf.cert.display().to_string(),
            leaf.key.display().to_string()
        ));
    let mut old = ProxyProcess::start_with_admin(cfg).await;
    let url = old.url("/load");
    let old_exited = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    let deadline = Instant::now() + LOAD;
    let mut load = Vec::new();
    for _ in 0..CLIENTS {
        // One keep-alive connection per client, as a browser or a pooled client keeps.
        let http = client_builder()
            .pool_max_idle_per_host(1)
            .timeout(Duration::from_secs(5))
            .build()
            .expect("client");
        let (url, tally, old_exited) = (url.clone(), tally.clone(), old_exited.clone());
        load.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                match http.get(&url).send().await {
                    Ok(r) if r.status() == 200 => match r.text().await {
                        Ok(body) if body == "o1" => {
                            tally.ok.fetch_add(1, Ordering::Relaxed);
                            if old_exited.load(Ordering::Relaxed) {
                                tally.ok_after_old_exit.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        other => tally.failed.lock().unwrap().push(format!("body {other:?}")),
                    },
                    Ok(r) => tally
                        .failed
                        .lock()
                        .unwrap()
                        .push(format!("status {}", r.status())),
                    Err(e) => tally.failed.lock().unwrap().push(format!("{e:?}")),
                }
            }
        }));
    }

    tokio::time::sleep(Duration::from_secs(2)).await;
    let log = dir.path().join("new.log");
    let new = sightline_command([
        "run",
        "-c",
        old.config_path().to_str().expect("utf-8 path"),
        "--upgrade",
    ])
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(std::fs::File::create(&log).expect("log file"))
    .spawn()
    .expect("spawn the upgraded sightline");
    let mut new = Reap(new);
    let new_log = || std::fs::read_to_string(&log).unwrap_or_default();
    // The new process listens on the upgrade socket for the old one's sockets.
    assert!(
        poll_until(Duration::from_secs(5), || {
            let exists = sock.exists();
            async move { exists }
        })
        .await,
        "no upgrade socket\n{}",
        new_log()
    );
    old.signal(libc::SIGQUIT);
    let status = old
        .wait_exit(Duration::from_secs(30))
        .await
        .unwrap_or_else(|| panic!("old process did not exit\n{}", old.output()));
    old_exited.store(true, Ordering::Relaxed);
    assert!(
        status.success(),
        "old process exit: {status}\n{}",
        old.output()
    );
    assert!(
        old.stderr_text().contains("listener sockets sent"),
        "{}",
        old.output()
    );
    for task in load {
        task.await.expect("load task");
    }
    assert!(new.0.try_wait().expect("wait").is_none(), "{}", new_log());

    let failed = tally.failed.lock().unwrap().clone();
    let ok = tally.ok.load(Ordering::Relaxed);
    eprintln!(
        "upgrade under load: {ok} ok, {} failed, {} ok after the old process exited",
        failed.len(),
        tally.ok_after_old_exit.load(Ordering::Relaxed)
    );
    assert!(
        failed.is_empty(),
        "failed requests: {failed:?}\n{}",
        new_log()
    );
    assert!(ok > 100, "load too small to mean anything: {ok}");

    // The new process serves plain, TLS and admin once the old one is gone.
    let http = crate::util::client();
    let r = crate::util::fetch(http.get(old.url("/after"))).await;
    assert_eq!(r.body, "o1");
    assert!(
        poll_until(Duration::from_secs(10), || {
            let r = http.get(old.admin_url("/health")).send();
            async move { r.await.is_ok() }
        })
        .await,
        "admin not rebound by the new process\n{}",
        new_log()
    );
    let tcp = tokio::net::TcpStream::connect(tls_addr).await;
    assert!(tcp.is_ok(), "TLS listener handed over\n{}", new_log());

    let pid = libc::pid_t::try_from(new.0.id()).expect("pid");
    // SAFETY: kill(2) on our own unreaped child.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let stopped = poll_until(Duration::from_secs(15), || {
        let done = new.0.try_wait().ok().flatten().is_some();
        async move { done }
    })
    .await;
    assert!(stopped, "upgraded process did not stop\n{}", new_log());
}

#[tokio::test]
async fn an_upgrade_that_gets_no_sockets_exits_1() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sock = dir.path().join("upgrade.sock");
    let origin = TestOrigin::named("o1").await;
    let cfg = ConfigBuilder::new(&[origin.addr()])
        .set("proxy.upgrade_socket", sock.display().to_string());
    // No running process hands its sockets over: the new one waits (5 s), then gives up.
    let mut new =
        ProxyProcess::spawn_with(&cfg.to_toml(), cfg.proxy_addr(), cfg.admin_addr(), |c| {
            c.arg("--upgrade");
        });
    let status = new
        .wait_exit(Duration::from_secs(30))
        .await
        .unwrap_or_else(|| panic!("still running\n{}", new.output()));
    assert_eq!(status.code(), Some(1), "{}", new.output());
}

#[tokio::test]
async fn sigquit_with_no_new_process_still_shuts_the_old_one_down() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sock = dir.path().join("upgrade.sock"); // nobody listens here
    let origin = TestOrigin::named("o1").await;
    let cfg = ConfigBuilder::new(&[origin.addr()])
        .set("proxy.upgrade_socket", sock.display().to_string());
    let mut old = ProxyProcess::start(cfg).await;
    old.signal(libc::SIGQUIT);
    let status = old
        .wait_exit(Duration::from_secs(30))
        .await
        .unwrap_or_else(|| panic!("still running after SIGQUIT\n{}", old.output()));
    eprintln!("SIGQUIT without a new process: exit {status}");
    assert!(
        old.stderr_text()
            .contains("Unable to send listener sockets"),
        "{}",
        old.output()
    );
    assert!(!crate::util::accepts_tcp(old.proxy_addr()).await);
}
