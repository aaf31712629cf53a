//! The request log: one fixed-size record per request in a ring file beside the database,
//! so "was request X served, to whom, for how much, when?" and "why was it refused?" can be
//! answered for recent traffic without the database growing with every request.
//!
//! A request id is `req_<prefix>_<counter>` (a random 32-bit prefix per process start and
//! a counter). Record `counter % capacity` lives in slot `counter % capacity` of the file,
//! so a lookup reads one slot and checks that it still holds that prefix and counter; a
//! later request (or a later process) that reused the slot means "no longer in the log".
//!
//! A `strict` request's record also names where its charge is held (the strict journal
//! row, or on PostgreSQL the ledger entry): it is that request's only per-request record
//! ([`crate::store::charges`]). It is written after the charge's commit and before the
//! answer leaves, so a killed process keeps it; a power loss can lose it (never the charge,
//! which is in the fsynced journal row or entry).
//!
//! File layout: a 128-byte header (magic, version, capacity), then `capacity` records of
//! [`RECORD_BYTES`]. The file is created sparse at its full size (1,000,000 entries:
//! 128 MB at most, on disk only as far as it was written). Records reach the file in
//! chunks from a bounded buffer (full: the record is dropped and counted); the file is
//! never fsynced, so what the OS had not written back is lost on power loss (a process
//! crash loses only the buffer, at most a tenth of a second).

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::domain::per_thread::PerThread;
use crate::store::ledger::Committed;

/// Bytes per record (and of the header).
pub const RECORD_BYTES: usize = 128;
/// Entries kept when no capacity is given: the last million requests, 128 MB at most.
pub const DEFAULT_ENTRIES: u64 = 1_000_000;
/// Records waiting for the writer from one thread; past this they are dropped (and
/// counted).
const MAX_PENDING: usize = 65_536;
/// How often the writer empties the buffer (sooner when it is half full).
const WRITE_EVERY: Duration = Duration::from_millis(100);
const MAGIC: &[u8; 8] = b"TGREQLOG";
/// The file's layout (header and slots); records carry their own version
/// ([`RECORD_VERSION`]), so a ring written before a record grew a field is still read.
const VERSION: u32 = 1;
/// Version 1 records have no ledger entry; version 2 add it; version 3 may name a strict
/// journal row instead (flag 8), which a reader of version 2 must not take for an entry.
const RECORD_VERSION: u8 = 3;

/// A request id, `req_5f3a9c1e_000000000017`: the process's prefix and a counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RequestId {
    pub prefix: u32,
    pub counter: u64,
}

impl RequestId {
    /// Parses `req_<8 hex>_<decimal counter>`; `None` for anything else.
    pub fn parse(id: &str) -> Option<Self> {
        let rest = id.trim().strip_prefix("req_")?;
        let (prefix, counter) = rest.split_once('_')?;
        if prefix.len() != 8 || counter.is_empty() || !counter.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(Self { prefix: u32::from_str_radix(prefix, 16).ok()?, counter: counter.parse().ok()? })
    }

    /// The id as text, made without formatting machinery or allocation (one per request).
    pub fn text(&self) -> RequestIdText {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut bytes = [0u8; RequestIdText::MAX];
        bytes[..4].copy_from_slice(b"req_");
        for (i, shift) in (0..8).rev().enumerate() {
            bytes[4 + i] = HEX[((self.prefix >> (shift * 4)) & 0xf) as usize];
        }
        bytes[12] = b'_';
        // At least twelve digits, zero-padded, as `{:012}` would.
        let (mut n, mut digits) = (self.counter, 0);
        while n > 0 || digits < 12 {
            n /= 10;
            digits += 1;
        }
        let (mut n, end) = (self.counter, 13 + digits);
        for at in (13..end).rev() {
            bytes[at] = b'0' + (n % 10) as u8;
            n /= 10;
        }
        RequestIdText { len: end as u8, bytes }
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text())
    }
}

/// A [`RequestId`] as text, held inline.
#[derive(Clone, Copy)]
pub struct RequestIdText {
    len: u8,
    bytes: [u8; RequestIdText::MAX],
}

impl RequestIdText {
    /// `req_`, eight hex digits, `_`, and up to twenty decimal digits.
    const MAX: usize = 4 + 8 + 1 + 20;
}

impl std::ops::Deref for RequestIdText {
    type Target = str;
    fn deref(&self) -> &str {
        // Only ASCII is ever written.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or_default()
    }
}

/// Up to `N` bytes of ASCII text kept inline (longer text is cut), so a record is `Copy`
/// and never allocates.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Short<const N: usize> {
    len: u8,
    bytes: [u8; N],
}

impl<const N: usize> Short<N> {
    /// The first `N` bytes of `text` (cut at a character boundary).
    pub fn new(text: &str) -> Self {
        let mut len = text.len().min(N);
        while !text.is_char_boundary(len) {
            len -= 1;
        }
        let mut bytes = [0; N];
        bytes[..len].copy_from_slice(&text.as_bytes()[..len]);
        Self { len: len as u8, bytes }
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("")
    }

    fn from_bytes(raw: &[u8]) -> Self {
        let len = raw.iter().position(|&b| b == 0).unwrap_or(N).min(N);
        let mut bytes = [0; N];
        bytes[..len].copy_from_slice(&raw[..len]);
        let mut short = Self { len: len as u8, bytes };
        if std::str::from_utf8(&short.bytes[..len]).is_err() {
            short.len = 0;
        }
        short
    }
}

impl<const N: usize> fmt::Debug for Short<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// What the log keeps of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestRecord {
    pub id: RequestId,
    /// When the request arrived, in milliseconds since the Unix epoch.
    pub at_ms: i64,
    pub tenant_id: Option<i64>,
    pub route_id: Option<i64>,
    pub key_prefix: Short<24>,
    /// The denial or failure code; empty when the request was served.
    pub code: Short<32>,
    pub method: Short<8>,
    /// The status the client got.
    pub status: u16,
    /// Credits charged.
    pub cost: i64,
    pub latency_us: u32,
    /// Where a `strict` request's charge is held (its per-request record lives only
    /// here); `None` for batched usage, summed per tenant.
    pub committed: Option<Committed>,
}

impl RequestRecord {
    /// Layout: prefix u32, counter u64, version u8, flags u8, status u16, at_ms i64,
    /// tenant_id i64, route_id i64, cost i64, latency_us u32, key_prefix 24, code 32,
    /// method 8, the committed id i64 (version 2; version 3 flag 8: a journal row, not an
    /// entry) (all little-endian; 124 bytes used of 128).
    fn encode(&self, out: &mut [u8]) {
        out.fill(0);
        out[0..4].copy_from_slice(&self.id.prefix.to_le_bytes());
        out[4..12].copy_from_slice(&self.id.counter.to_le_bytes());
        out[12] = RECORD_VERSION;
        out[13] = u8::from(self.tenant_id.is_some())
            | u8::from(self.route_id.is_some()) << 1
            | u8::from(self.committed.is_some()) << 2
            | u8::from(matches!(self.committed, Some(Committed::Journal(_)))) << 3;
        out[14..16].copy_from_slice(&self.status.to_le_bytes());
        out[16..24].copy_from_slice(&self.at_ms.to_le_bytes());
        out[24..32].copy_from_slice(&self.tenant_id.unwrap_or(0).to_le_bytes());
        out[32..40].copy_from_slice(&self.route_id.unwrap_or(0).to_le_bytes());
        out[40..48].copy_from_slice(&self.cost.to_le_bytes());
        out[48..52].copy_from_slice(&self.latency_us.to_le_bytes());
        out[52..52 + self.key_prefix.as_str().len()].copy_from_slice(self.key_prefix.as_str().as_bytes());
        out[76..76 + self.code.as_str().len()].copy_from_slice(self.code.as_str().as_bytes());
        out[108..108 + self.method.as_str().len()].copy_from_slice(self.method.as_str().as_bytes());
        let held = match self.committed {
            Some(Committed::Entry(id) | Committed::Journal(id)) => id,
            None => 0,
        };
        out[116..124].copy_from_slice(&held.to_le_bytes());
    }

    /// `None` for a slot never written.
    fn decode(raw: &[u8]) -> Option<Self> {
        let version = raw[12];
        if !(1..=RECORD_VERSION).contains(&version) {
            return None;
        }
        let u64_at = |at: usize| u64::from_le_bytes(raw[at..at + 8].try_into().expect("8 bytes"));
        let i64_at = |at: usize| i64::from_le_bytes(raw[at..at + 8].try_into().expect("8 bytes"));
        let flags = raw[13];
        Some(Self {
            id: RequestId { prefix: u32::from_le_bytes(raw[0..4].try_into().expect("4 bytes")), counter: u64_at(4) },
            status: u16::from_le_bytes([raw[14], raw[15]]),
            at_ms: i64_at(16),
            tenant_id: (flags & 1 != 0).then(|| i64_at(24)),
            route_id: (flags & 2 != 0).then(|| i64_at(32)),
            cost: i64_at(40),
            latency_us: u32::from_le_bytes(raw[48..52].try_into().expect("4 bytes")),
            key_prefix: Short::from_bytes(&raw[52..76]),
            code: Short::from_bytes(&raw[76..108]),
            method: Short::from_bytes(&raw[108..116]),
            committed: (version >= 2 && flags & 4 != 0).then(|| match version >= 3 && flags & 8 != 0 {
                false => Committed::Entry(i64_at(116)),
                true => Committed::Journal(i64_at(116)),
            }),
        })
    }
}

/// What a lookup found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    Found(RequestRecord),
    /// The slot holds another request (or none): never logged here, or overwritten since.
    Gone,
}

/// How the log is doing, for `traffic.status`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestLogStats {
    pub capacity: u64,
    /// Records dropped because the writer fell behind (or the file could not be written).
    pub dropped: u64,
    pub written: u64,
    /// Records waiting for the writer now.
    pub pending: u64,
    /// The most that may wait from one thread; past it its records are dropped.
    pub pending_limit: u64,
}

/// The request log: a cheap handle (clone it freely). A writer handle (from [`open`])
/// takes records; a reader (from [`reader`]) only looks them up.
///
/// [`open`]: RequestLog::open
/// [`reader`]: RequestLog::reader
#[derive(Clone, Debug)]
pub struct RequestLog {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    path: PathBuf,
    capacity: u64,
    /// The open ring, for a writer handle.
    file: Option<Arc<File>>,
    /// Each thread's records for the writer (see [`PerThread`]).
    pending: PerThread<Mutex<Vec<RequestRecord>>>,
    wake: Notify,
    dropped: AtomicU64,
    written: AtomicU64,
    stopping: std::sync::atomic::AtomicBool,
}

impl RequestLog {
    /// Opens (or creates) the ring at `path` with room for `capacity` requests, and starts
    /// its writer. A file of another capacity or format is started anew.
    pub fn open(path: &Path, capacity: u64) -> io::Result<(Self, JoinHandle<()>)> {
        let capacity = capacity.max(1);
        let file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path)?;
        let size = (capacity + 1) * RECORD_BYTES as u64;
        if read_capacity(&file)? != Some(capacity) {
            file.set_len(0)?;
            file.set_len(size)?;
            let mut header = [0u8; RECORD_BYTES];
            header[0..8].copy_from_slice(MAGIC);
            header[8..12].copy_from_slice(&VERSION.to_le_bytes());
            header[12..20].copy_from_slice(&capacity.to_le_bytes());
            file.write_all_at(&header, 0)?;
        }
        let file = Arc::new(file);
        let log = Self::with(path, capacity, Some(file.clone()));
        let task = tokio::spawn(write_loop(log.shared.clone(), file));
        Ok((log, task))
    }

    /// A handle that only looks records up (the CLI without a running server); `None`
    /// when there is no log at `path` yet.
    pub fn reader(path: &Path) -> io::Result<Option<Self>> {
        let file = match File::open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        Ok(read_capacity(&file)?.map(|capacity| Self::with(path, capacity, None)))
    }

    fn with(path: &Path, capacity: u64, file: Option<Arc<File>>) -> Self {
        Self {
            shared: Arc::new(Shared {
                path: path.to_path_buf(),
                capacity,
                file,
                pending: PerThread::default(),
                wake: Notify::new(),
                dropped: AtomicU64::new(0),
                written: AtomicU64::new(0),
                stopping: std::sync::atomic::AtomicBool::new(false),
            }),
        }
    }

    /// Queues one record for the writer; never blocks on I/O. When the buffer is full the
    /// record is dropped and counted.
    pub fn record(&self, record: RequestRecord) {
        let mut pending = self.shared.pending.mine().lock().unwrap_or_else(|e| e.into_inner());
        if pending.len() >= MAX_PENDING {
            drop(pending);
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        pending.push(record);
        let wake = pending.len() == MAX_PENDING / 2;
        drop(pending);
        if wake {
            self.shared.wake.notify_one();
        }
    }

    /// Writes one record at once: one `pwrite` into the page cache (no fsync), so it
    /// survives the process being killed. For answers that promise durability (`strict`);
    /// queued like [`record`](Self::record) when it cannot be written.
    pub fn record_now(&self, record: RequestRecord) {
        if let Some(file) = &self.shared.file {
            let mut raw = [0u8; RECORD_BYTES];
            record.encode(&mut raw);
            if file.write_all_at(&raw, self.offset(record.id.counter)).is_ok() {
                self.shared.written.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
        self.record(record);
    }

    /// The record of request `id`, from the buffer or the file.
    pub fn find(&self, id: RequestId) -> io::Result<Lookup> {
        for pending in self.shared.pending.all() {
            let pending = pending.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(record) = pending.iter().rev().find(|r| r.id == id) {
                return Ok(Lookup::Found(*record));
            }
        }
        let file = File::open(&self.shared.path)?;
        let mut raw = [0u8; RECORD_BYTES];
        file.read_exact_at(&mut raw, self.offset(id.counter))?;
        Ok(match RequestRecord::decode(&raw) {
            Some(record) if record.id == id => Lookup::Found(record),
            _ => Lookup::Gone,
        })
    }

    /// Entries the ring holds.
    pub fn capacity(&self) -> u64 {
        self.shared.capacity
    }

    pub fn stats(&self) -> RequestLogStats {
        RequestLogStats {
            capacity: self.shared.capacity,
            dropped: self.shared.dropped.load(Ordering::Relaxed),
            written: self.shared.written.load(Ordering::Relaxed),
            pending: self.shared.pending.all().map(|p| p.lock().unwrap_or_else(|e| e.into_inner()).len() as u64).sum(),
            pending_limit: MAX_PENDING as u64,
        }
    }

    /// Writes what is buffered and stops the writer (its handle then completes).
    pub fn stop(&self) {
        self.shared.stopping.store(true, Ordering::Release);
        self.shared.wake.notify_one();
    }

    fn offset(&self, counter: u64) -> u64 {
        (counter % self.shared.capacity + 1) * RECORD_BYTES as u64
    }
}

/// The capacity a ring file was made with; `None` when it is not one (or empty).
fn read_capacity(file: &File) -> io::Result<Option<u64>> {
    let mut header = [0u8; RECORD_BYTES];
    match file.read_exact_at(&mut header, 0) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let version = u32::from_le_bytes(header[8..12].try_into().expect("4 bytes"));
    let capacity = u64::from_le_bytes(header[12..20].try_into().expect("8 bytes"));
    let size = file.metadata()?.len();
    Ok((&header[0..8] == MAGIC && version == VERSION && capacity > 0 && size == (capacity + 1) * RECORD_BYTES as u64)
        .then_some(capacity))
}

async fn write_loop(shared: Arc<Shared>, file: Arc<File>) {
    let mut batch: Vec<RequestRecord> = Vec::with_capacity(1024);
    let mut failing = false;
    loop {
        tokio::select! {
            () = shared.wake.notified() => {}
            () = tokio::time::sleep(WRITE_EVERY) => {}
        }
        let stopping = shared.stopping.load(Ordering::Acquire);
        for pending in shared.pending.all() {
            batch.append(&mut pending.lock().unwrap_or_else(|e| e.into_inner()));
        }
        if !batch.is_empty() {
            let (file, records, capacity) = (file.clone(), std::mem::take(&mut batch), shared.capacity);
            let count = records.len() as u64;
            let written = tokio::task::spawn_blocking(move || {
                let result = write_records(&file, &records, capacity);
                (result, records)
            })
            .await;
            match written {
                Ok((Ok(()), mut records)) => {
                    shared.written.fetch_add(count, Ordering::Relaxed);
                    records.clear();
                    batch = records;
                    failing = false;
                }
                Ok((Err(e), mut records)) => {
                    shared.dropped.fetch_add(count, Ordering::Relaxed);
                    if !failing {
                        tracing::error!(error = %e, "cannot write the request log; its records are dropped (and counted) until it can");
                        failing = true;
                    }
                    records.clear();
                    batch = records;
                }
                Err(_) => {
                    shared.dropped.fetch_add(count, Ordering::Relaxed);
                }
            }
        }
        if stopping {
            return;
        }
    }
}

/// Writes `records` at their slots, one `pwrite` per run of neighbouring slots (requests
/// numbered one after another land side by side).
fn write_records(file: &File, records: &[RequestRecord], capacity: u64) -> io::Result<()> {
    let mut sorted: Vec<&RequestRecord> = records.iter().collect();
    sorted.sort_by_key(|r| r.id.counter % capacity);
    let mut chunk: Vec<u8> = Vec::with_capacity(64 * RECORD_BYTES);
    let mut start = 0u64;
    let mut next = u64::MAX;
    for record in sorted {
        let slot = record.id.counter % capacity;
        if slot == next.wrapping_sub(1) && !chunk.is_empty() {
            // Two records for one slot in one batch: the later request wins.
            let at = chunk.len() - RECORD_BYTES;
            record.encode(&mut chunk[at..]);
            continue;
        }
        if slot != next || chunk.len() >= 1024 * RECORD_BYTES {
            if !chunk.is_empty() {
                file.write_all_at(&chunk, (start + 1) * RECORD_BYTES as u64)?;
                chunk.clear();
            }
            start = slot;
        }
        let at = chunk.len();
        chunk.resize(at + RECORD_BYTES, 0);
        record.encode(&mut chunk[at..]);
        next = slot + 1;
    }
    if !chunk.is_empty() {
        file.write_all_at(&chunk, (start + 1) * RECORD_BYTES as u64)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(prefix: u32, counter: u64) -> RequestRecord {
        RequestRecord {
            id: RequestId { prefix, counter },
            at_ms: 1_700_000_000_000 + counter as i64,
            tenant_id: Some(7),
            route_id: None,
            key_prefix: Short::new("tg_live_AbCd1234"),
            code: Short::new("INSUFFICIENT_CREDITS"),
            method: Short::new("GET"),
            status: 402,
            cost: 0,
            latency_us: 120,
            committed: None,
        }
    }

    #[test]
    fn ids_round_trip_and_reject_garbage() {
        let id = RequestId { prefix: 0x5f3a_9c1e, counter: 17 };
        assert_eq!(id.to_string(), "req_5f3a9c1e_000000000017");
        assert_eq!(RequestId::parse("req_5f3a9c1e_000000000017"), Some(id));
        // The text is what `{:08x}` and `{:012}` make, at every width the counter reaches.
        for (prefix, counter) in
            [(0, 0), (0xffff_ffff, u64::MAX), (0x0000_00ab, 999_999_999_999), (1, 1_000_000_000_000)]
        {
            let id = RequestId { prefix, counter };
            assert_eq!(&*id.text(), format!("req_{prefix:08x}_{counter:012}"));
            assert_eq!(RequestId::parse(&id.text()), Some(id));
        }
        for bad in ["", "req_", "req_5f3a9c1e", "req_zzzzzzzz_1", "req_5f3a9c1e_x1", "abc_5f3a9c1e_1"] {
            assert_eq!(RequestId::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_record_fits_its_slot_and_reads_back() {
        let r = record(1, 2);
        let mut raw = [0u8; RECORD_BYTES];
        r.encode(&mut raw);
        assert_eq!(RequestRecord::decode(&raw), Some(r));
        let charged = RequestRecord { committed: Some(Committed::Entry(41)), cost: 3, ..r };
        charged.encode(&mut raw);
        assert_eq!(RequestRecord::decode(&raw), Some(charged), "with the entry holding its charge");
        let journaled = RequestRecord { committed: Some(Committed::Journal(41)), cost: 3, ..r };
        journaled.encode(&mut raw);
        assert_eq!(RequestRecord::decode(&raw), Some(journaled), "or the journal row, told apart from an entry");
        // A version 1 record (written before records named their entry) still reads.
        r.encode(&mut raw);
        raw[12] = 1;
        raw[13] |= 4;
        raw[116..124].copy_from_slice(&[0xff; 8]);
        assert_eq!(RequestRecord::decode(&raw), Some(r), "an old record reads, without an entry");
        assert_eq!(RequestRecord::decode(&[0u8; RECORD_BYTES]), None, "an empty slot holds nothing");
        assert_eq!(Short::<2>::new("héllo").as_str(), "h", "cut at a character boundary");
    }

    #[tokio::test]
    async fn records_are_found_until_their_slot_is_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("requests.log");
        let (log, task) = RequestLog::open(&path, 10).unwrap();
        for counter in 0..25 {
            log.record(record(9, counter));
        }
        assert_eq!(log.find(RequestId { prefix: 9, counter: 24 }).unwrap(), Lookup::Found(record(9, 24)), "buffered");
        log.record_now(record(9, 30));
        let reader = RequestLog::reader(&path).unwrap().expect("a ring is there");
        assert_eq!(reader.find(RequestId { prefix: 9, counter: 30 }).unwrap(), Lookup::Found(record(9, 30)), "at once");
        log.stop();
        task.await.unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 11 * RECORD_BYTES as u64, "header and 10 slots");
        let reader = RequestLog::reader(&path).unwrap().expect("a ring is there");
        assert_eq!(reader.capacity(), 10);
        for counter in (15..25).filter(|c| c % 10 != 0) {
            assert_eq!(reader.find(RequestId { prefix: 9, counter }).unwrap(), Lookup::Found(record(9, counter)));
        }
        assert_eq!(reader.find(RequestId { prefix: 9, counter: 5 }).unwrap(), Lookup::Gone, "overwritten by 15");
        assert_eq!(reader.find(RequestId { prefix: 8, counter: 24 }).unwrap(), Lookup::Gone, "another process's");
        let (_, task) = RequestLog::open(&path, 20).unwrap();
        task.abort();
        assert_eq!(
            RequestLog::reader(&path).unwrap().unwrap().find(RequestId { prefix: 9, counter: 24 }).unwrap(),
            Lookup::Gone,
            "another capacity starts the ring anew"
        );
    }
}
