//! The web dashboard (`GET /` and its scripts under `/web/`): static files embedded in the
//! binary, no build step, no external network. The page holds no figures (it reads them from
//! `GET /api/stream`), so these routes need no token.

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};

use super::error;

/// The page.
const INDEX: &str = include_str!("web/index.html");
/// Its scripts: (name, text).
const SCRIPTS: [(&str, &str); 3] = [
    ("format.js", include_str!("web/format.js")),
    ("charts.js", include_str!("web/charts.js")),
    ("app.js", include_str!("web/app.js")),
];

/// `GET /`.
pub async fn page() -> Html<&'static str> {
    Html(INDEX)
}

/// `GET /web/{file}`.
pub async fn script(Path(file): Path<String>) -> Response {
    match SCRIPTS.iter().find(|(name, _)| *name == file) {
        // no-cache: a browser revalidates, so a new binary's page never runs old scripts.
        Some((_, text)) => (
            [
                (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            *text,
        )
            .into_response(),
        None => error(StatusCode::NOT_FOUND, format!("no dashboard file {file:?}")),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_page_loads_every_script_it_ships() {
        for (name, _) in super::SCRIPTS {
            assert!(
                super::INDEX.contains(&format!("src=\"/web/{name}\"")),
                "{name}"
            );
        }
        assert!(!super::INDEX.contains("http://") && !super::INDEX.contains("https://"));
    }
}
