//! The config commands through the real binary: `sightline check` on the shipped config and on
//! broken ones (exit 2, the field named), and `sightline run` refusing to start without
//! upstreams or on a busy port.

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use crate::util::{free_addr, sightline_command, ProxyProcess};

/// The config file shipped with the repository.
const SHIPPED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/config/sightline.toml");

/// Runs `sightline <command> -c FILE` on `toml_text` to completion.
fn with_config(command: &str, toml_text: &str) -> Output {
    let file = tempfile::Builder::new()
        .suffix(".toml")
        .tempfile()
        .expect("create a temp config");
    std::fs::write(file.path(), toml_text).expect("write the temp config");
    run(command, file.path())
}

fn run(command: &str, path: &Path) -> Output {
    sightline_command([command.as_ref(), "-c".as_ref(), path.as_os_str()])
        .output()
        .expect("run the sightline binary")
}

/// Asserts exit code 2 and that stderr names `field`.
fn assert_rejected(out: &Output, field: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "want exit 2; stderr:\n{stderr}");
    assert!(
        stderr.contains(field),
        "stderr does not name {field}:\n{stderr}"
    );
}

/// A valid config apart from whatever `extra` adds.
fn valid(extra: &str) -> String {
    format!("[upstreams]\nservers = [\"127.0.0.1:9001\"]\n{extra}")
}

#[test]
fn shipped_config_checks_ok() {
    let out = run("check", Path::new(SHIPPED));
    assert!(
        out.status.success(),
        "sightline check {SHIPPED} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn check_accepts_a_minimal_config() {
    let out = with_config("check", &valid(""));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn check_names_an_unknown_key() {
    assert_rejected(
        &with_config("check", &valid("[proxy]\nlisten_on = \"127.0.0.1:1\"\n")),
        "proxy.listen_on",
    );
}

#[test]
fn check_names_a_bad_duration() {
    assert_rejected(
        &with_config("check", &valid("connect_timeout = \"5 parsecs\"\n")),
        "upstreams.connect_timeout",
    );
}

#[test]
fn check_names_a_bad_address() {
    assert_rejected(
        &with_config("check", &valid("[proxy]\nlisten = \"localhost:port\"\n")),
        "proxy.listen",
    );
}

#[test]
fn run_without_upstreams_exits_2_naming_the_field() {
    let out = with_config(
        "run",
        &format!(
            "[proxy]\nlisten = \"{}\"\n[upstreams]\nservers = []\n",
            free_addr()
        ),
    );
    assert_rejected(&out, "upstreams.servers");
}

#[tokio::test]
async fn run_on_a_busy_port_exits_non_zero_with_a_clear_message() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a port to occupy");
    let addr = busy.local_addr().expect("bound listener has an address");
    let text = format!(
        "[proxy]\nlisten = \"{addr}\"\n[upstreams]\nservers = [\"127.0.0.1:9\"]\n\
         health_check.kind = \"none\"\n[telemetry]\ntraces = false\nmetrics = false\n\
         [admin]\nlisten = \"{}\"\n[dashboard]\nconsole = false\n",
        free_addr()
    );
    let mut proxy = ProxyProcess::spawn(&text, addr, free_addr());
    let status = proxy
        .wait_exit(Duration::from_secs(10))
        .await
        .unwrap_or_else(|| panic!("still running on a busy port\n{}", proxy.output()));
    let stderr = proxy.stderr_text();
    assert!(!status.success(), "exited {status} on a busy port");
    assert!(
        stderr.contains(&addr.to_string()) && stderr.to_lowercase().contains("in use"),
        "no clear message naming {addr} as in use:\n{stderr}"
    );
    assert!(!stderr.contains("panicked"), "panicked:\n{stderr}");
    drop(busy);
}
