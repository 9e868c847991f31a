//! What each key does (SPEC §8): views, selection, detail, filter, pause, acknowledge, history
//! window, refresh, help, quit. Pure state changes; the one side effect (an acknowledgement)
//! is returned for the loop to send.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::app::{App, View};

/// Work a key asks the loop to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `POST /api/alerts/{id}/ack` on this instance.
    Ack {
        /// The instance.
        instance: usize,
        /// The alert.
        id: u64,
    },
}

/// Rows moved by PageUp / PageDown.
const PAGE: usize = 10;

/// Applies one key.
pub fn on_key(app: &mut App, key: KeyEvent) -> Option<Action> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
        app.quit = true;
        return None;
    }
    if let Some(line) = app.editing.as_mut() {
        match key.code {
            KeyCode::Enter => {
                let v = app.view.index();
                app.filters[v] = line.trim().to_owned();
                app.rows[v] = 0;
                app.editing = None;
            }
            KeyCode::Esc => app.editing = None,
            KeyCode::Backspace => {
                line.pop();
            }
            KeyCode::Char(c) => line.push(c),
            _ => {}
        }
        return None;
    }
    if app.help {
        app.help = false;
        app.quit = key.code == KeyCode::Char('q');
        return None;
    }
    app.note = None;
    let v = app.view.index();
    let last = app.row_count().saturating_sub(1);
    match key.code {
        KeyCode::Char('q') => app.quit = true,
        KeyCode::Tab => switch(app, app.view.next()),
        KeyCode::BackTab => switch(app, app.view.prev()),
        KeyCode::Char(c @ '1'..='5') => switch(app, View::ALL[usize::from(c as u8 - b'1')]),
        KeyCode::Up | KeyCode::Char('k') => app.rows[v] = app.row().saturating_sub(1),
        KeyCode::Down | KeyCode::Char('j') => app.rows[v] = (app.row() + 1).min(last),
        KeyCode::PageUp => app.rows[v] = app.row().saturating_sub(PAGE),
        KeyCode::PageDown => app.rows[v] = (app.row() + PAGE).min(last),
        KeyCode::Home => app.rows[v] = 0,
        KeyCode::End => app.rows[v] = last,
        KeyCode::Left | KeyCode::Char('<') => {
            let n = app.instances.len();
            app.selected = (app.selected + n - 1) % n;
        }
        KeyCode::Right | KeyCode::Char('>') => {
            app.selected = (app.selected + 1) % app.instances.len()
        }
        KeyCode::Enter => match app.view {
            View::Cluster => {
                app.selected = app.row();
                switch(app, View::Overview);
            }
            View::Overview => {}
            _ => app.detail = !app.detail,
        },
        KeyCode::Esc => {
            if app.detail {
                app.detail = false;
            } else {
                app.filters[v].clear();
            }
        }
        KeyCode::Char('/') => app.editing = Some(app.filters[v].clone()),
        KeyCode::Char('p') => app.paused = !app.paused,
        KeyCode::Char('a') => return ack(app),
        KeyCode::Char('+') | KeyCode::Char('=') => app.window = app.window.longer(),
        KeyCode::Char('-') | KeyCode::Char('_') => app.window = app.window.shorter(),
        KeyCode::Char('r') => app.refresh_seq += 1,
        KeyCode::Char('?') => app.help = true,
        _ => {}
    }
    None
}

fn switch(app: &mut App, view: View) {
    app.view = view;
    app.detail = false;
}

fn ack(app: &mut App) -> Option<Action> {
    if app.view != View::Alerts {
        app.note = Some("select an alert in the alerts view (4) to acknowledge it".into());
        return None;
    }
    let Some(alert) = app.alert_rows().into_iter().nth(app.row()) else {
        app.note = Some("no alert to acknowledge".into());
        return None;
    };
    if alert.acknowledged {
        app.note = Some(format!("alert {} is already acknowledged", alert.id));
        return None;
    }
    app.note = Some(format!("acknowledging alert {}…", alert.id));
    Some(Action::Ack {
        instance: app.selected,
        id: alert.id,
    })
}
