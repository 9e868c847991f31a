//! `sightline top`: a live terminal dashboard (ratatui + crossterm) over one or more proxies'
//! admin APIs.
//!
//! One fetch task per instance ([`fetch`]) feeds rounds of answers over a channel; the loop
//! here folds them into the [`app::App`], applies keys ([`keys`]) and redraws ([`views`]), so
//! the screen never waits on the network. The terminal is restored on exit, on error and on
//! panic. With `--once`, or when stdout is not a terminal, one plain-text frame is printed
//! ([`plain`]). The bearer token comes from `--token` or `SIGHTLINE_ADMIN_TOKEN`.

pub mod app;
pub mod cluster;
pub mod fetch;
pub mod filter;
pub mod fmt;
pub mod instance;
pub mod judge;
pub mod keys;
pub mod model;
pub mod plain;
pub mod views;

#[cfg(test)]
mod tests;

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use crossterm::event::{Event, EventStream};
use futures_util::StreamExt;
use ratatui::backend::Backend;
use ratatui::Terminal;
use tokio::sync::{mpsc, watch};

use app::App;
use fetch::{AdminClient, Msg};
use keys::Action;

/// The admin URL used when none is given.
pub const DEFAULT_ADMIN: &str = "http://127.0.0.1:9190";
/// The environment variable holding the admin bearer token.
pub const TOKEN_ENV: &str = "SIGHTLINE_ADMIN_TOKEN";

/// How `top` was asked to run.
#[derive(Debug, Clone)]
pub struct TopOptions {
    /// Admin base URLs (empty: [`DEFAULT_ADMIN`]).
    pub admins: Vec<String>,
    /// Refresh period.
    pub refresh: Duration,
    /// One plain frame, then exit.
    pub once: bool,
    /// Bearer token for the admin APIs.
    pub token: Option<String>,
}

/// Runs `sightline top` until `q` / Ctrl-C (or prints one frame).
pub async fn run_top(opts: TopOptions) -> anyhow::Result<()> {
    let TopOptions {
        admins,
        refresh,
        once,
        token,
    } = opts;
    let admins: Vec<String> = if admins.is_empty() {
        vec![DEFAULT_ADMIN.to_owned()]
    } else {
        admins
            .iter()
            .map(|a| a.trim_end_matches('/').to_owned())
            .collect()
    };
    let token = token.filter(|t| !t.is_empty());
    let timeout = refresh.clamp(Duration::from_millis(500), Duration::from_secs(5));
    let client = AdminClient::new(timeout, token).context("building the HTTP client")?;
    if once || !std::io::stdout().is_terminal() {
        let (text, reachable) = plain::frame(&client, &admins).await;
        print!("{text}");
        if reachable == 0 {
            bail!("no admin API answered");
        }
        return Ok(());
    }
    // Raw mode, the alternate screen, and a panic hook that restores the terminal first.
    let mut terminal = ratatui::try_init().context("starting the terminal UI")?;
    let _restore = Restore;
    run_live(&mut terminal, client, &admins, refresh).await
}

/// Restores the terminal when dropped (normal exit and errors; ratatui's hook covers panics).
struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        ratatui::restore();
    }
}

/// The live loop: fetch tasks beside it, keys and rounds in, a frame out after each.
async fn run_live<B: Backend>(
    terminal: &mut Terminal<B>,
    client: AdminClient,
    admins: &[String],
    refresh: Duration,
) -> anyhow::Result<()>
where
    B::Error: Send + Sync + 'static,
{
    let mut app = App::new(admins, refresh);
    let client = Arc::new(client);
    let (tx, mut rx) = mpsc::channel::<Msg>(64);
    let (wants_tx, wants_rx) = watch::channel(app.wants());
    let tasks: Vec<_> = admins
        .iter()
        .enumerate()
        .map(|(i, url)| {
            fetch::spawn(
                client.clone(),
                i,
                url.clone(),
                wants_rx.clone(),
                tx.clone(),
                refresh,
            )
        })
        .collect();
    let mut events = EventStream::new();
    let mut clock = tokio::time::interval(Duration::from_secs(1));
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("listening for SIGTERM")?;
    let result = loop {
        app.tick(Instant::now(), fmt::wall_ms());
        if let Err(e) = terminal.draw(|f| views::draw(f, &app)) {
            break Err(anyhow::Error::new(e).context("drawing"));
        }
        if app.quit {
            break Ok(());
        }
        tokio::select! {
            ev = events.next() => match ev {
                Some(Ok(Event::Key(k))) => {
                    if let Some(action) = keys::on_key(&mut app, k) {
                        dispatch(action, &app, &client, &tx);
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => break Err(anyhow::Error::new(e).context("reading the terminal")),
                None => break Ok(()),
            },
            Some(msg) = rx.recv() => on_msg(&mut app, msg),
            _ = clock.tick() => {}
            _ = tokio::signal::ctrl_c() => break Ok(()),
            _ = term.recv() => break Ok(()),
        }
        wants_tx.send_if_modified(|w| {
            let now = app.wants();
            let changed = *w != now;
            *w = now;
            changed
        });
    };
    tasks.iter().for_each(|t| t.abort());
    result
}

/// Starts the work a key asked for; its answer comes back over `tx`.
pub fn dispatch(action: Action, app: &App, client: &Arc<AdminClient>, tx: &mpsc::Sender<Msg>) {
    match action {
        Action::Ack { instance, id } => {
            let (client, tx) = (client.clone(), tx.clone());
            let base = app.instances[instance].url.clone();
            tokio::spawn(async move {
                let result = client.ack(&base, id).await;
                let _ = tx
                    .send(Msg::Acked {
                        instance,
                        id,
                        result,
                    })
                    .await;
            });
        }
    }
}

/// Folds a fetcher message into the app.
pub fn on_msg(app: &mut App, msg: Msg) {
    match msg {
        Msg::Round(i, round) => app.apply(i, *round),
        Msg::Acked { id, result, .. } => {
            app.note = Some(match result {
                Ok(()) => format!("alert {id} acknowledged"),
                Err(e) => format!("acknowledging alert {id} failed: {e}"),
            });
            app.refresh_seq += 1;
        }
    }
}
