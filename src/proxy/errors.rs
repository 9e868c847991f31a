//! How failures become responses: the status and `error.type` for each pingora error, and the
//! short text bodies sightline answers with.

use bytes::Bytes;
use http::HeaderValue;
use pingora_error::{Error, ErrorSource, ErrorType};
use pingora_http::ResponseHeader;
use pingora_proxy::Session;

use super::headers::{self, cache_status};

/// A pingora error that answers `code` with `why` as its text.
pub(super) fn http_error(code: u16, why: &'static str) -> Box<Error> {
    Error::explain(ErrorType::HTTPStatus(code), why)
}

/// Answers a failed request with `code` and a one-line text body, if nothing was sent yet
/// (once a response has started, the connection can only be closed).
pub(super) async fn respond(session: &mut Session, code: u16, traceresponse: Option<HeaderValue>) {
    if session.response_written().is_some() {
        return;
    }
    let mut resp = ResponseHeader::build(code, Some(5)).expect("valid status code");
    let body = error_body(code);
    let _ = resp.insert_header(http::header::CONTENT_TYPE, "text/plain; charset=utf-8");
    let _ = resp.insert_header(http::header::CONTENT_LENGTH, body.len());
    let _ = resp.insert_header(headers::wire::CACHE_STATUS, cache_status::BYPASS);
    let _ = resp.insert_header(http::header::VIA, headers::VIA);
    if let Some(tr) = traceresponse {
        let _ = resp.insert_header(headers::wire::TRACERESPONSE, tr);
    }
    session.set_keepalive(None);
    if session
        .write_response_header(Box::new(resp), false)
        .await
        .is_ok()
    {
        let _ = session
            .write_response_body(Some(Bytes::from_static(body.as_bytes())), true)
            .await;
    }
}

/// `error.type` and the status for a failed request.
pub(super) fn classify(e: &Error) -> (u16, &'static str) {
    match e.etype() {
        ErrorType::HTTPStatus(code) => (*code, status_error_type(*code)),
        ErrorType::ConnectTimedout
        | ErrorType::ReadTimedout
        | ErrorType::WriteTimedout
        | ErrorType::TLSHandshakeTimedout => match e.esource() {
            ErrorSource::Downstream => (408, "timeout"),
            _ => (504, "timeout"),
        },
        ErrorType::ConnectRefused | ErrorType::ConnectError | ErrorType::ConnectNoRoute => {
            (502, "connect_error")
        }
        _ => match e.esource() {
            ErrorSource::Upstream => (502, "upstream_error"),
            ErrorSource::Downstream => match e.etype() {
                ErrorType::WriteError | ErrorType::ReadError | ErrorType::ConnectionClosed => {
                    (0, "client_closed")
                }
                _ => (400, "bad_request"),
            },
            ErrorSource::Internal | ErrorSource::Unset => (500, "internal"),
        },
    }
}

pub(super) fn status_error_type(code: u16) -> &'static str {
    match code {
        400 => "bad_request",
        413 => "body_too_large",
        431 => "header_too_large",
        502 => "no_healthy_upstream",
        504 => "timeout",
        _ => "error",
    }
}

fn error_body(code: u16) -> &'static str {
    match code {
        400 => "400 Bad Request\n",
        408 => "408 Request Timeout\n",
        413 => "413 Content Too Large: request body exceeds max_body_bytes\n",
        431 => "431 Request Header Fields Too Large\n",
        502 => "502 Bad Gateway: no healthy upstream answered\n",
        504 => "504 Gateway Timeout: the upstream did not answer in time\n",
        _ => "sightline: request failed\n",
    }
}
