//! Load generators for the admin and alert tests: closed-loop clients (each on its own
//! connection, one request after another) and a paced client (one request per tick, fanned out
//! over as many connections as latency needs). Every finished request is recorded with its end
//! time, so a test can count what it sent inside the admin's window.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::task::JoinSet;
use tokio::time::MissedTickBehavior;

use crate::util::client_builder;

/// Held by the tests whose figures depend on having the CPU (request rate, latency, admin p99
/// under load, alert timing), so that none of them measures another one's load.
static MEASURING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Waits until no other measuring test runs; hold the guard for the whole test.
pub async fn measuring_alone() -> tokio::sync::MutexGuard<'static, ()> {
    MEASURING.lock().await
}

/// Milliseconds since the Unix epoch, on the same clock as the admin's `generated_unix_ms`.
pub fn unix_ms_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_millis() as u64
}

/// One finished request as the client saw it.
#[derive(Debug, Clone, Copy)]
pub struct Outcome {
    /// When the whole response had arrived, ms since the Unix epoch.
    pub done_unix_ms: u64,
    /// From sending to the end of the body.
    pub latency: Duration,
    /// Status code, 0 on a transport error.
    pub status: u16,
}

type Outcomes = Arc<Mutex<Vec<Outcome>>>;

/// Where the generator runs.
enum Runner {
    Task(tokio::task::JoinHandle<()>),
    Thread(std::thread::JoinHandle<()>),
}

/// A running load generator; [`Load::stop`] ends it and returns every outcome.
pub struct Load {
    stop: Arc<AtomicBool>,
    outcomes: Outcomes,
    runner: Option<Runner>,
}

impl Drop for Load {
    /// A test that panics mid-load must not leave a thread hammering a dead proxy.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

async fn one(client: &reqwest::Client, url: &str, outcomes: &Outcomes) {
    let started = Instant::now();
    let status = match client.get(url).send().await {
        Ok(r) => {
            let status = r.status().as_u16();
            match r.bytes().await {
                Ok(_) => status,
                Err(_) => 0,
            }
        }
        Err(_) => 0,
    };
    let outcome = Outcome {
        done_unix_ms: unix_ms_now(),
        latency: started.elapsed(),
        status,
    };
    outcomes.lock().expect("outcomes lock").push(outcome);
}

async fn closed_loop(url: String, workers: usize, stop: Arc<AtomicBool>, outcomes: Outcomes) {
    let mut set = JoinSet::new();
    for _ in 0..workers {
        let (url, stop, outcomes) = (url.clone(), stop.clone(), outcomes.clone());
        // One client each: every worker keeps its own connection.
        let client = client_builder()
            .build()
            .expect("a plain HTTP client builds");
        set.spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                one(&client, &url, &outcomes).await;
            }
        });
    }
    while set.join_next().await.is_some() {}
}

impl Load {
    /// `workers` clients on this runtime, each sending GET `url` one after another.
    pub fn closed(url: String, workers: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let outcomes = Outcomes::default();
        let task = tokio::spawn(closed_loop(url, workers, stop.clone(), outcomes.clone()));
        Load {
            stop,
            outcomes,
            runner: Some(Runner::Task(task)),
        }
    }

    /// Like [`Load::closed`], but on a thread with its own runtime, so the load never delays
    /// what the test's runtime measures.
    pub fn closed_on_thread(url: String, workers: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let outcomes = Outcomes::default();
        let (s, o) = (stop.clone(), outcomes.clone());
        let thread = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a current-thread runtime builds")
                .block_on(closed_loop(url, workers, s, o));
        });
        Load {
            stop,
            outcomes,
            runner: Some(Runner::Thread(thread)),
        }
    }

    /// One GET `url` every `period` (missed ticks are caught up at once, so the count over
    /// time stays true), each on its own task over a shared connection pool.
    pub fn paced(url: String, period: Duration) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let outcomes = Outcomes::default();
        let (s, o) = (stop.clone(), outcomes.clone());
        let task = tokio::spawn(async move {
            let client = client_builder()
                .pool_max_idle_per_host(32)
                .build()
                .expect("a plain HTTP client builds");
            let url: Arc<str> = url.into();
            let mut every = tokio::time::interval(period);
            every.set_missed_tick_behavior(MissedTickBehavior::Burst);
            let mut set = JoinSet::new();
            while !s.load(Ordering::Relaxed) {
                every.tick().await;
                let (client, url, o) = (client.clone(), url.clone(), o.clone());
                set.spawn(async move { one(&client, &url, &o).await });
                while set.try_join_next().is_some() {}
            }
            while set.join_next().await.is_some() {}
        });
        Load {
            stop,
            outcomes,
            runner: Some(Runner::Task(task)),
        }
    }

    /// The outcomes so far.
    pub fn outcomes(&self) -> Vec<Outcome> {
        self.outcomes.lock().expect("outcomes lock").clone()
    }

    /// Stops sending, waits for the requests in flight and returns every outcome.
    pub async fn stop(mut self) -> Vec<Outcome> {
        self.stop.store(true, Ordering::Relaxed);
        match self.runner.take() {
            Some(Runner::Task(task)) => task.await.expect("the load task does not panic"),
            Some(Runner::Thread(thread)) => tokio::task::spawn_blocking(move || thread.join())
                .await
                .expect("the joining task does not panic")
                .expect("the load thread does not panic"),
            None => {}
        }
        self.outcomes()
    }
}

/// The outcomes that finished inside `(from_ms, to_ms]`.
pub fn finished_between(outcomes: &[Outcome], from_ms: u64, to_ms: u64) -> Vec<Outcome> {
    outcomes
        .iter()
        .filter(|o| o.done_unix_ms > from_ms && o.done_unix_ms <= to_ms)
        .copied()
        .collect()
}

/// The `q` quantile (0..=1) of `values` by nearest rank; `values` need not be sorted.
pub fn quantile(values: &[Duration], q: f64) -> Duration {
    let mut sorted = values.to_vec();
    sorted.sort();
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Mean of `values` in ms (0 when empty).
pub fn mean_ms(values: &[Duration]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.iter().map(|d| d.as_secs_f64() * 1000.0).sum::<f64>() / values.len() as f64
}
