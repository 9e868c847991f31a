//! The export task behind [`super::SpanQueue`]: sends full batches as they fill and the rest on a
//! tick, holds at most `max_concurrent_exports` exports in flight, and answers flush/shutdown.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use opentelemetry_sdk::error::OTelSdkError;
use tokio::sync::{mpsc, Semaphore};

use super::super::embedded::EmbeddedStore;
use super::super::health::{ExportHealth, Signal};
use super::super::otlp::Envelope;
use super::super::transport::SendTraces;
use super::{Batch, Batcher, Control, ExportTuning, Pending};

/// The export task: batches the queue and runs exports, at most `max_concurrent_exports` at once.
pub(super) struct Worker<E> {
    pub(super) exporter: Arc<E>,
    pub(super) envelope: Arc<Envelope>,
    pub(super) view: Option<Arc<EmbeddedStore>>,
    pub(super) tuning: ExportTuning,
    pub(super) health: Arc<ExportHealth>,
    pub(super) permits: Arc<Semaphore>,
}

impl<E: SendTraces> Worker<E> {
    /// Runs until shutdown: full batches when ready, the rest on each tick, control first.
    pub(super) async fn run(
        self,
        mut batcher: Batcher,
        mut control: mpsc::UnboundedReceiver<Control>,
    ) {
        let pending = batcher.pending.clone();
        let mut tick = tokio::time::interval(self.tuning.scheduled_delay);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                msg = control.recv() => {
                    let stop = !matches!(msg, Some(Control::Flush(_)));
                    let senders_gone = msg.is_none();
                    if stop {
                        // Later spans are refused (and counted); what is queued still goes out.
                        pending.closed.store(true, Ordering::Relaxed);
                    }
                    // Everything queued before the request goes out before the answer.
                    self.drain_all(&mut batcher).await;
                    self.wait_idle().await;
                    if let Some(Control::Flush(reply) | Control::Shutdown(reply)) = msg {
                        let _ = reply.send(());
                    }
                    if stop || senders_gone {
                        return;
                    }
                }
                _ = pending.batch_ready.notified() => {
                    // Only full batches here; the tick sends the remainder.
                    while batcher.full_batch_ready() {
                        let Some(batch) = batcher.next() else { break };
                        self.dispatch(batch, &batcher.pending).await;
                    }
                }
                _ = tick.tick() => self.drain_all(&mut batcher).await,
            }
        }
    }

    /// Exports everything queued, in batches.
    async fn drain_all(&self, batcher: &mut Batcher) {
        while let Some(batch) = batcher.next() {
            self.dispatch(batch, &batcher.pending).await;
        }
    }

    /// Waits until no export is in flight.
    async fn wait_idle(&self) {
        let all = self.tuning.max_concurrent_exports.max(1) as u32;
        drop(self.permits.acquire_many(all).await);
    }

    /// Starts one export once a slot is free; waiting here is what lets the queue fill (and
    /// drop) instead of memory growing when the collector is slow.
    async fn dispatch(&self, batch: Batch, pending: &Arc<Pending>) {
        let pending = pending.clone();
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .expect("the export semaphore is never closed");
        let exporter = self.exporter.clone();
        let envelope = self.envelope.clone();
        let view = self.view.clone();
        let health = self.health.clone();
        let timeout = self.tuning.export_timeout;
        tokio::spawn(async move {
            let Batch {
                items,
                spans,
                bytes,
            } = batch;
            // The view first: it only takes in-process locks, while the collector may be slow
            // or absent.
            if let Some(view) = &view {
                view.ingest(&items, &envelope).await;
            }
            let request = Bytes::from(envelope.request(items.iter()));
            drop(items);
            let result = match tokio::time::timeout(timeout, exporter.send(request)).await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(OTelSdkError::InternalFailure(e.to_string())),
                Err(_) => Err(OTelSdkError::Timeout(timeout)),
            };
            health.export_finished(Signal::Traces, spans as u64, &result);
            pending.release(bytes);
            drop(permit);
        });
    }
}
