//! `Browser`: Debian's headless Chromium, driven through `tests/browser/driver.mjs`
//! (playwright-core, installed by `.ci/run` with `npm ci`), one JSON command per line.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// How long one command may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// A running headless Chromium with one page.
pub struct Browser {
    child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
}

fn driver_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

impl Browser {
    /// Starts Chromium (fresh profile, headless, no network beyond loopback use); panics with
    /// how to install the driver when it is missing.
    pub async fn launch() -> Browser {
        let dir = driver_dir();
        assert!(
            dir.join("node_modules/playwright-core").is_dir(),
            "playwright-core is not installed: run `npm ci` in {} (.ci/run does)",
            dir.display()
        );
        let mut child = Command::new("node")
            .arg(dir.join("driver.mjs"))
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("run node (apt-get install nodejs)");
        let stdin = child.stdin.take().expect("stdin is piped");
        let stdout = BufReader::new(child.stdout.take().expect("stdout is piped")).lines();
        let mut b = Browser {
            child,
            stdin,
            stdout,
        };
        let ready = b.answer().await;
        assert_eq!(ready["ready"], true, "the driver did not start: {ready}");
        b
    }

    async fn answer(&mut self) -> Value {
        let line = tokio::time::timeout(COMMAND_TIMEOUT, self.stdout.next_line())
            .await
            .expect("the browser driver answers within 30 s")
            .expect("read the driver's stdout")
            .expect("the browser driver exited");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("driver said {line:?}: {e}"))
    }

    async fn command(&mut self, cmd: Value) -> Value {
        let line = format!("{cmd}\n");
        self.stdin
            .write_all(line.as_bytes())
            .await
            .expect("write to the browser driver");
        let answer = self.answer().await;
        assert_eq!(answer["ok"], true, "{cmd} failed: {answer}");
        answer
    }

    /// Loads `url` (returns once its scripts ran; the stream stays open).
    pub async fn open(&mut self, url: &str) {
        self.command(json!({"op": "open", "url": url})).await;
    }

    /// Evaluates a JavaScript expression in the page; returns its JSON value.
    pub async fn eval(&mut self, expr: &str) -> Value {
        self.command(json!({"op": "eval", "expr": expr})).await["value"].take()
    }

    /// Evaluates `expr` every 100 ms until it yields something truthy (returned) or `timeout`.
    pub async fn wait_for(&mut self, expr: &str, timeout: Duration) -> Option<Value> {
        let truthy = |v: &Value| !(v.is_null() || *v == false || *v == "" || *v == 0);
        self.poll(expr, timeout, truthy).await
    }

    /// Evaluates `expr` every 100 ms until `done` accepts its value (returned) or `timeout`.
    pub async fn poll(
        &mut self,
        expr: &str,
        timeout: Duration,
        done: impl Fn(&Value) -> bool,
    ) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let v = self.eval(expr).await;
            if done(&v) {
                return Some(v);
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Saves a full-page PNG.
    pub async fn screenshot(&mut self, path: &std::path::Path) {
        let path = path.to_string_lossy();
        self.command(json!({"op": "screenshot", "path": path}))
            .await;
    }

    /// Closes Chromium and waits for the driver to exit.
    pub async fn quit(mut self) {
        let _ = self.stdin.write_all(b"{\"op\":\"quit\"}\n").await;
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
    }
}
