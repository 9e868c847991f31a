//! Export under load: nothing is lost at a steady 10k requests/s, and the measurement that
//! sized the default queue.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sightline::config::OtlpProtocol;
use sightline::telemetry::otel::ExportTuning;

use super::{config, miss, runtime, Fixture};
use crate::otlp_receiver::Receiver;

/// Sends sampled misses at `rate` requests/s for `secs` from 2 threads (paced every ms);
/// returns (spans sent, spans received, dropped, seconds the load took).
fn load(tuning: &ExportTuning, rate: u64, secs: f64) -> (u64, u64, u64, f64) {
    let threads = 2;
    let per_thread = (rate as f64 * secs) as usize / threads;
    let rt = runtime();
    let receiver = rt.block_on(Receiver::grpc());
    let cfg = config(&receiver.endpoint(), OtlpProtocol::Grpc);
    let mut fx = Fixture::start(rt, Some(receiver), &cfg, tuning);
    let tracer = Arc::new(std::mem::replace(
        &mut fx.tracer,
        sightline::telemetry::trace::RequestTracer::disabled(),
    ));
    let t = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let tracer = tracer.clone();
            std::thread::spawn(move || {
                let start = Instant::now();
                let mut sent = 0;
                while sent < per_thread {
                    let due = ((start.elapsed().as_secs_f64() * (rate as f64 / threads as f64))
                        as usize)
                        .min(per_thread);
                    while sent < due {
                        miss(&tracer).finish(&tracer);
                        sent += 1;
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let took = t.elapsed().as_secs_f64();
    let health = fx.guard().health();
    fx.shutdown();
    let received = fx.receiver().spans().len() as u64;
    let sent = (threads * per_thread * 3) as u64;
    (sent, received, health.figures().spans_dropped, took)
}

#[test]
fn no_span_lost_at_ten_thousand_requests_per_second() {
    let (sent, received, dropped, _) = load(&ExportTuning::default(), 10_000, 2.0);
    assert_eq!((received, dropped), (sent, 0));
}

/// The measurement behind `ExportTuning::default()`; run by hand:
/// `LOAD_RATES=20000,30000 cargo test --test otel measure -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement, minutes of CPU"]
fn measure_queue_configurations() {
    let sdk_like = ExportTuning {
        max_queue_size: 2048,
        max_export_batch_size: 512,
        max_concurrent_exports: 1,
        ..ExportTuning::default()
    };
    let rates = std::env::var("LOAD_RATES").unwrap_or_else(|_| "20000,30000".into());
    for rate in rates.split(',').map(|r| r.parse().expect("a rate")) {
        for (name, t) in [
            ("2048/512/1", &sdk_like),
            ("default", &ExportTuning::default()),
        ] {
            let (sent, received, dropped, took) = load(t, rate, 2.0);
            eprintln!(
                "queue {name} at {rate} req/s: {sent} spans in {took:.2}s: received {received} \
                 ({:.1} %), dropped {dropped}",
                100.0 * received as f64 / sent as f64
            );
        }
    }
}
