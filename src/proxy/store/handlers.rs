//! The pingora-cache handlers of one lookup: a hit that streams a stored body (ranges
//! included) and a miss that collects the response body and stores it when complete.

use std::any::Any;
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use pingora_cache::key::HashBinary;
use pingora_cache::storage::{HandleHit, HandleMiss, MissFinishType, Storage};
use pingora_cache::trace::SpanHandle;
use pingora_cache::CacheKey;
use pingora_error::{Error, ErrorType, Result};

use super::{hit_head_of, weigh, Entry, MokaStore, StoredMeta};

/// Streams a stored body to the client; supports ranges.
pub(super) struct Hit {
    pub(super) body: Bytes,
    pub(super) done: bool,
    pub(super) range: (usize, usize),
}

#[async_trait]
impl HandleHit for Hit {
    async fn read_body(&mut self) -> Result<Option<Bytes>> {
        if self.done {
            return Ok(None);
        }
        self.done = true;
        Ok(Some(self.body.slice(self.range.0..self.range.1)))
    }

    async fn finish(
        self: Box<Self>,
        _storage: &'static (dyn Storage + Sync),
        _key: &CacheKey,
        _trace: &SpanHandle,
    ) -> Result<()> {
        Ok(())
    }

    fn can_seek(&self) -> bool {
        true
    }

    fn seek(&mut self, start: usize, end: Option<usize>) -> Result<()> {
        let len = self.body.len();
        let end = end.unwrap_or(len).min(len);
        if start > end {
            return Error::e_explain(ErrorType::InternalError, "seek start beyond body end");
        }
        self.range = (start, end);
        self.done = false;
        Ok(())
    }

    fn as_any(&self) -> &(dyn Any + Send + Sync) {
        self
    }

    fn as_any_mut(&mut self) -> &mut (dyn Any + Send + Sync) {
        self
    }
}

/// Collects a cacheable response body and stores it when complete.
pub(super) struct Miss {
    pub(super) store: &'static MokaStore,
    pub(super) key: HashBinary,
    pub(super) primary: HashBinary,
    pub(super) path: u64,
    pub(super) target: u64,
    pub(super) meta: StoredMeta,
    pub(super) chunks: Vec<Bytes>,
    pub(super) size: usize,
}

#[async_trait]
impl HandleMiss for Miss {
    async fn write_body(&mut self, data: Bytes, _eof: bool) -> Result<()> {
        self.size += data.len();
        if !data.is_empty() {
            self.chunks.push(data);
        }
        Ok(())
    }

    async fn finish(self: Box<Self>) -> Result<MissFinishType> {
        let mut meta = self.meta;
        let body = match self.chunks.len() {
            0 => Bytes::new(),
            1 => self.chunks.into_iter().next().expect("one chunk"),
            _ => {
                let mut buf = BytesMut::with_capacity(self.size);
                for c in &self.chunks {
                    buf.extend_from_slice(c);
                }
                buf.freeze()
            }
        };
        crate::proxy::stored::complete_length(&mut meta.header, body.len());
        let weight = weigh(&meta, body.len());
        let size = weight as usize;
        let hit_head = hit_head_of(&meta);
        self.store.insert(
            self.key,
            Entry {
                meta,
                body,
                hit_head,
                primary: self.primary,
                path: self.path,
                target: self.target,
                stored_at: SystemTime::now(),
                weight,
            },
        );
        Ok(MissFinishType::Created(size))
    }
}
