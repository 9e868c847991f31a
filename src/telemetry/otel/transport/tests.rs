use super::*;

#[test]
fn headers_come_from_the_traces_variable_first_and_are_percent_decoded() {
    let env = |k: &str| match k {
        "OTEL_EXPORTER_OTLP_TRACES_HEADERS" => Some("api-key=a%20b, x-team = ops,bad".into()),
        "OTEL_EXPORTER_OTLP_HEADERS" => Some("other=1".into()),
        _ => None,
    };
    let h = env_headers(&env);
    assert_eq!(h.len(), 2);
    assert_eq!(h["api-key"], "a b");
    assert_eq!(h["x-team"], "ops");
    let generic = |k: &str| (k == "OTEL_EXPORTER_OTLP_HEADERS").then(|| "other=1".into());
    assert_eq!(env_headers(&generic)["other"], "1");
    assert!(env_headers(&|_| None).is_empty());
}

#[test]
fn retries_only_what_a_collector_recovers_from() {
    assert!(retryable(Code::Unavailable));
    assert!(retryable(Code::ResourceExhausted));
    assert!(!retryable(Code::InvalidArgument));
    assert!(!retryable(Code::Unauthenticated));
}

#[test]
fn https_grpc_endpoints_are_refused_at_start() {
    let err =
        GrpcTraces::new("https://c:4317", Duration::from_secs(1), HeaderMap::new()).unwrap_err();
    assert!(err.to_string().contains("TLS"), "{err}");
}

#[test]
fn a_failure_that_may_pass_is_retried_twice_and_a_final_one_never() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    let fail = |retry| Failed {
        retry,
        error: TraceExportError::Grpc {
            endpoint: "e".into(),
            code: Code::Unavailable,
            message: String::new(),
        },
    };
    for (retry, calls) in [(true, 3), (false, 1)] {
        let mut n = 0;
        let r = rt.block_on(with_retries(|| {
            n += 1;
            std::future::ready(Err(fail(retry)))
        }));
        assert!(r.is_err());
        assert_eq!(n, calls, "retryable: {retry}");
    }
    let mut n = 0;
    let r = rt.block_on(with_retries(|| {
        n += 1;
        std::future::ready(if n < 2 { Err(fail(true)) } else { Ok(()) })
    }));
    assert!(r.is_ok());
}
