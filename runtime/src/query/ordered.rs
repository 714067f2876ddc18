//! Rows in a query's order, in bounded memory: the local engine's `ORDER BY … [LIMIT n]`.
//!
//! Every scan worker pushes the rows it finds into its own [`Ordered`]. With a limit, each
//! keeps only its first `n` rows (sorted and cut whenever it holds twice that): the top-n
//! path. Without one, rows stay in memory until all workers together hold more than the
//! budget; then a worker holding a fair share sorts its rows and spills them to a temporary
//! file as one sorted run. Runs are merged as they pile up: [`RUNS_PER_LEVEL`] runs of one
//! level become one run of the next, so a merge never reads more than that many files at once
//! and the open files grow with the logarithm of the data. [`Ordered::drain`] merges the runs
//! and what is still in memory, so rows come out in order, one at a time, and memory stays
//! flat however much the scan reads. The order is SQL's: NULLs last, each key ascending or
//! descending.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::io::{BufRead, BufReader, BufWriter, Read, Seek, Write};
use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};
use std::sync::Arc;

use rayon::slice::ParallelSliceMut;
use serde_json::Value;

/// Rows held in memory by all workers of one query before spilling, in estimated bytes.
pub const MEMORY_BUDGET: usize = 48 * 1024 * 1024;

/// Runs of one level merged into one of the next when there are this many.
pub const RUNS_PER_LEVEL: usize = 64;
/// Each run's read buffer while merging.
const RUN_BUFFER: usize = 1 << 16;

/// A sorted run in a temporary file, and how many merges made it (0: spilled rows).
struct Run {
    file: std::fs::File,
    level: u32,
}

/// The sort keys: (column, descending).
pub type Keys = Arc<[(usize, bool)]>;

/// SQL ordering of one value: NULLs last (Athena's default for ASC).
pub fn cmp_value(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) => Ordering::Greater,
        (_, Value::Null) => Ordering::Less,
        (Value::Number(x), Value::Number(y)) => x.as_f64().unwrap_or(0.0).total_cmp(&y.as_f64().unwrap_or(0.0)),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        _ => a.to_string().cmp(&b.to_string()),
    }
}

/// Two rows by `keys`.
pub fn cmp_rows(a: &[Value], b: &[Value], keys: &[(usize, bool)]) -> Ordering {
    for &(i, desc) in keys {
        let o = cmp_value(&a[i], &b[i]);
        let o = if desc { o.reverse() } else { o };
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

/// What a packed row of `len` bytes costs in memory: its bytes, and its place in [`Rows`].
fn held(len: usize) -> usize {
    len + std::mem::size_of::<Place>()
}

/// Bytes a worker holds before it adds them to the query's shared account: one atomic
/// addition per this many, not one per row (the workers' rows would take turns at one cache
/// line). The account is then behind by at most this much per worker.
const UNSHARED: usize = 64 * 1024;

/// Room for packed rows allocated at a time: a few hundred rows. (The scan's many small
/// collectors each start one: a megabyte each raised the peak memory of `events` at 1 GB by
/// tens of megabytes.)
const CHUNK: usize = 64 * 1024;

/// Where a packed row is in [`Rows`]: its chunk, and its bytes there.
#[derive(Debug, Clone, Copy)]
struct Place {
    chunk: u32,
    start: u32,
    end: u32,
}

/// Packed rows one after another in chunks of [`CHUNK`] bytes, and where each is: one
/// allocation per chunk of rows, not one per row. Sorting moves the places, not the bytes.
#[derive(Default)]
struct Rows {
    chunks: Vec<Vec<u8>>,
    places: Vec<Place>,
}

impl Rows {
    fn len(&self) -> usize {
        self.places.len()
    }

    /// Packs a row after the others; its bytes.
    fn push(&mut self, row: &[Cell<'_>]) -> usize {
        self.add(packed_len(row), |c| pack_into(c, row))
    }

    /// A row `write` puts at the end of a chunk with room for about `need` bytes (a new one
    /// when the last has not); its bytes.
    fn add(&mut self, need: usize, write: impl FnOnce(&mut Vec<u8>)) -> usize {
        if self.chunks.last().is_none_or(|c| c.capacity() - c.len() < need) {
            self.chunks.push(Vec::with_capacity(CHUNK.max(need)));
        }
        let chunk = self.chunks.len().saturating_sub(1);
        let Some(c) = self.chunks.last_mut() else { return 0 };
        let start = c.len();
        write(c);
        // A chunk holds rows of a few hundred bytes up to its size, or one larger row: its
        // offsets fit in 32 bits, as the row's own do.
        let at = |i: usize| u32::try_from(i).unwrap_or(u32::MAX);
        self.places.push(Place { chunk: at(chunk), start: at(start), end: at(c.len()) });
        c.len() - start
    }

    fn row(&self, p: Place) -> &[u8] {
        row_at(&self.chunks, p)
    }

    /// The rows in their order.
    fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.places.iter().map(|&p| self.row(p))
    }

    /// `other`'s rows after these (its chunks moved, not copied).
    fn append(&mut self, other: Rows) {
        let base = u32::try_from(self.chunks.len()).unwrap_or(u32::MAX);
        self.chunks.extend(other.chunks);
        self.places.extend(other.places.into_iter().map(|p| Place { chunk: p.chunk + base, ..p }));
    }

    /// Keeps the first `n` rows, copied into chunks of their own: the others' room is freed.
    fn truncate(&mut self, n: usize) {
        let mut kept = Rows::default();
        for &p in self.places.iter().take(n) {
            let row = self.row(p);
            kept.add(row.len(), |c| c.extend_from_slice(row));
        }
        *self = kept;
    }

    /// Sorts the rows on every core. When every row's first key gives a number
    /// ([`first_key`]), they are sorted with it beside them, and most comparisons end there.
    fn sort(&mut self, keys: &[(usize, bool)]) {
        let Rows { chunks, places } = self;
        let keyed: Option<Vec<(First, Place)>> =
            places.iter().map(|&p| first_key(row_at(chunks, p), keys).map(|k| (k, p))).collect();
        match keyed {
            Some(mut keyed) => {
                keyed.par_sort_unstable_by(|(x, a), (y, b)| {
                    cmp_first((Some(*x), row_at(chunks, *a)), (Some(*y), row_at(chunks, *b)), keys)
                });
                places.clear();
                places.extend(keyed.into_iter().map(|(_, p)| p));
            }
            None => places.par_sort_unstable_by(|a, b| cmp_packed(row_at(chunks, *a), row_at(chunks, *b), keys)),
        }
    }
}

/// The packed row at `p`.
fn row_at(chunks: &[Vec<u8>], p: Place) -> &[u8] {
    chunks.get(p.chunk as usize).and_then(|c| c.get(p.start as usize..p.end as usize)).unwrap_or_default()
}

/// One query's rows, in order, within a memory budget shared by its workers.
pub struct Ordered {
    keys: Keys,
    limit: Option<usize>,
    budget: usize,
    /// Bytes held by every worker of the query.
    shared: Arc<AtomicUsize>,
    /// Rows packed (see [`pack_into`]), compared without unpacking.
    rows: Rows,
    bytes: usize,
    /// Of `bytes`, those not yet in the shared account ([`UNSHARED`]).
    unshared: usize,
    runs: Vec<Run>,
    error: Option<String>,
}

/// What the workers of one query share: the keys, the limit and the memory account.
#[derive(Clone)]
pub struct Plan {
    keys: Keys,
    limit: Option<usize>,
    budget: usize,
    shared: Arc<AtomicUsize>,
}

impl Plan {
    pub fn new(keys: &[(usize, bool)], limit: Option<usize>, budget: usize) -> Plan {
        Plan { keys: keys.into(), limit, budget, shared: Arc::default() }
    }

    /// An empty collector for one worker.
    pub fn collector(&self) -> Ordered {
        Ordered {
            keys: Arc::clone(&self.keys),
            limit: self.limit,
            budget: self.budget,
            shared: Arc::clone(&self.shared),
            rows: Rows::default(),
            bytes: 0,
            unshared: 0,
            runs: Vec::new(),
            error: None,
        }
    }
}

impl Ordered {
    /// Adds a row: its values are packed at once, text copied straight from where it is.
    pub fn push(&mut self, row: &[Cell<'_>]) {
        let b = held(self.rows.push(row));
        self.bytes += b;
        self.unshared += b;
        if let Some(n) = self.limit {
            if self.rows.len() >= 2 * n.max(512) {
                self.cut(n);
            }
        }
        // (A small budget is shared sooner, so that it holds.)
        if self.unshared >= UNSHARED.min(self.budget / 16) {
            let total = self.share();
            // A worker spills once it holds a fair share of the budget and all hold more.
            if total > self.budget && self.bytes >= self.budget / 8 {
                self.spill();
            }
        }
    }

    /// Adds the bytes not yet shared to the shared account; what all workers hold.
    fn share(&mut self) -> usize {
        let b = std::mem::take(&mut self.unshared);
        self.shared.fetch_add(b, AtomicOrdering::Relaxed) + b
    }

    /// No longer holds `b` of its bytes (shared first, so the account never goes below 0).
    fn release(&mut self, b: usize) {
        self.share();
        self.shared.fetch_sub(b, AtomicOrdering::Relaxed);
        self.bytes -= b;
    }

    /// Sorts, keeps the first `n`.
    fn cut(&mut self, n: usize) {
        self.rows.sort(&self.keys);
        self.rows.truncate(n);
        let kept: usize = self.rows.iter().map(|r| held(r.len())).sum();
        self.release(self.bytes - kept);
    }

    /// Writes the rows, sorted, to a temporary file (removed when closed) as one run.
    fn spill(&mut self) {
        if let Some(n) = self.limit {
            self.cut(n);
        } else {
            // Spills happen where a pass's rows are merged, while the scan's workers wait:
            // the sort uses them.
            self.rows.sort(&self.keys);
        }
        let written = (|| -> std::io::Result<std::fs::File> {
            let mut out = BufWriter::with_capacity(1 << 16, tempfile::tempfile()?);
            for r in self.rows.iter() {
                write_packed(&mut out, r)?;
            }
            let mut file = out.into_inner().map_err(|e| e.into_error())?;
            file.rewind()?;
            Ok(file)
        })();
        match written {
            Ok(file) => {
                self.runs.push(Run { file, level: 0 });
                self.rows = Rows::default();
                self.release(self.bytes);
                self.compact();
            }
            // Keep the rows in memory: over budget, but nothing lost; said on drain.
            Err(e) => {
                self.error.get_or_insert(format!("cannot spill rows to a temporary file: {e}"));
            }
        }
    }

    /// Merges [`RUNS_PER_LEVEL`] runs of a level into one of the next, while a level has
    /// that many. A merge that fails keeps its runs as they were (said on drain).
    fn compact(&mut self) {
        while let Some(level) = self.full_level() {
            let (these, rest): (Vec<Run>, Vec<Run>) =
                std::mem::take(&mut self.runs).into_iter().partition(|r| r.level == level);
            self.runs = rest;
            match merge_runs(&these, &self.keys) {
                Ok(file) => self.runs.push(Run { file, level: level + 1 }),
                Err(e) => {
                    self.error.get_or_insert(e);
                    self.runs.extend(these.into_iter().map(|r| Run { level: u32::MAX, ..r }));
                    return;
                }
            }
        }
    }

    /// The lowest level with [`RUNS_PER_LEVEL`] runs (runs a merge failed on are left out).
    fn full_level(&self) -> Option<u32> {
        let mut counts: std::collections::BTreeMap<u32, usize> = std::collections::BTreeMap::new();
        for r in self.runs.iter().filter(|r| r.level != u32::MAX) {
            *counts.entry(r.level).or_default() += 1;
        }
        counts.into_iter().find(|(_, n)| *n >= RUNS_PER_LEVEL).map(|(l, _)| l)
    }

    /// Adds another worker's rows and runs.
    pub fn merge(mut self, mut other: Ordered) -> Ordered {
        if other.rows.len() > self.rows.len() {
            std::mem::swap(&mut self.rows, &mut other.rows);
        }
        self.rows.append(std::mem::take(&mut other.rows));
        self.bytes += std::mem::take(&mut other.bytes);
        self.unshared += std::mem::take(&mut other.unshared);
        self.runs.append(&mut other.runs);
        self.compact();
        self.error = self.error.take().or(other.error.take());
        if let Some(n) = self.limit.filter(|n| self.rows.len() > *n) {
            self.cut(n);
        }
        // The scan's many small collectors grow by merging, not only by pushing.
        if self.share() > self.budget && self.bytes >= self.budget / 8 {
            self.spill();
        }
        self
    }

    /// Rows in order to `sink` (at most the limit), merging the spilled runs; the number of
    /// rows and any warning (a spill that failed). The sink sees each row where the merge
    /// left it, packed ([`RowRef::Packed`]): a writer reads its values from there, with no
    /// copy into JSON values first.
    pub fn drain<E>(
        mut self,
        mut sink: impl FnMut(RowRef<'_>) -> Result<(), E>,
    ) -> Result<(u64, Option<String>), DrainError<E>> {
        let keys = Arc::clone(&self.keys);
        self.rows.sort(&keys);
        let limit = self.limit.unwrap_or(usize::MAX);
        let warning = self.error.take();
        let mut sent = 0u64;
        let rows = std::mem::take(&mut self.rows);
        self.release(self.bytes);
        let mut emit = |packed: &[u8]| -> Result<bool, DrainError<E>> {
            if sent as usize >= limit {
                return Ok(false);
            }
            sink(RowRef::Packed(Packed::new(packed))).map_err(DrainError::Sink)?;
            sent += 1;
            Ok(true)
        };
        if self.runs.is_empty() {
            for r in rows.iter() {
                if !emit(r)? {
                    break;
                }
            }
            return Ok((sent, warning));
        }
        let mut sources: Vec<Source> = std::mem::take(&mut self.runs)
            .into_iter()
            .map(|r| Source::Run(BufReader::with_capacity(RUN_BUFFER, r.file)))
            .collect();
        sources.push(Source::Memory(rows, 0));
        // The runs are merged on a thread of their own, a batch of rows ahead of the sink:
        // merging and writing the rows out each take one core.
        std::thread::scope(|scope| {
            let (ahead, batches) = std::sync::mpsc::sync_channel::<Batch>(BATCHES_AHEAD);
            let merger = scope.spawn(move || merge_ahead(sources, &keys, &ahead));
            let mut stopped = Ok(());
            'batches: for batch in batches.iter() {
                let mut start = 0;
                for &end in &batch.ends {
                    match batch.bytes.get(start..end).map_or(Ok(false), &mut emit) {
                        Ok(true) => start = end,
                        Ok(false) => break 'batches,
                        Err(e) => {
                            stopped = Err(e);
                            break 'batches;
                        }
                    }
                }
            }
            // The merger stops at its next batch once nobody takes them.
            drop(batches);
            let merged = merger.join().unwrap_or_else(|_| Err("the merge of spilled rows stopped".to_string()));
            stopped.and(merged.map_err(DrainError::Run))
        })?;
        Ok((sent, warning))
    }

    /// Every row, in order, in memory (for the callers that want an [`super::Answer`]).
    pub fn into_rows(self) -> (Vec<Vec<Value>>, Option<String>) {
        let mut rows = Vec::new();
        let drained = self.drain(|r| {
            let mut row = Vec::new();
            r.values_into(&mut row)?;
            rows.push(row);
            Ok::<(), String>(())
        });
        let warning = match drained {
            Ok((_, w)) => w,
            Err(DrainError::Run(e) | DrainError::Sink(e)) => Some(e),
        };
        (rows, warning)
    }
}

impl Drop for Ordered {
    fn drop(&mut self) {
        self.release(self.bytes);
    }
}

/// Why draining stopped: a run could not be read back, or the sink refused a row.
#[derive(Debug)]
pub enum DrainError<E> {
    Run(String),
    Sink(E),
}

enum Source {
    Run(BufReader<std::fs::File>),
    /// Rows in memory, sorted, and the next one's index.
    Memory(Rows, usize),
}

/// Rows merged before the sink takes them, per batch.
const BATCH_ROWS: usize = 4096;
/// Batches the merge may be ahead of the sink.
const BATCHES_AHEAD: usize = 4;

/// Packed rows in one buffer, from the merging thread to the sink's.
#[derive(Default)]
struct Batch {
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

/// The sources' rows in order, in batches to `ahead`, until they are done or nobody takes
/// them.
fn merge_ahead(sources: Vec<Source>, keys: &Keys, ahead: &std::sync::mpsc::SyncSender<Batch>) -> Result<(), String> {
    let mut batch = Batch::default();
    let merged = merge_sources::<std::convert::Infallible>(sources, keys, |row| {
        batch.bytes.extend_from_slice(row);
        batch.ends.push(batch.bytes.len());
        if batch.ends.len() < BATCH_ROWS {
            return Ok(true);
        }
        // The next batch as large as this one: not grown again from nothing.
        let next = Batch { bytes: Vec::with_capacity(batch.bytes.len()), ends: Vec::with_capacity(BATCH_ROWS) };
        Ok(ahead.send(std::mem::replace(&mut batch, next)).is_ok())
    });
    match merged {
        Ok(()) => {
            // A sink that stopped early has no use for the rest: not an error.
            let _ = ahead.send(batch);
            Ok(())
        }
        Err(DrainError::Run(e)) => Err(e),
        Err(DrainError::Sink(never)) => match never {},
    }
}

/// The sources' rows in order to `emit`, until it says stop (`false`).
fn merge_sources<E>(
    mut sources: Vec<Source>,
    keys: &Keys,
    mut emit: impl FnMut(&[u8]) -> Result<bool, DrainError<E>>,
) -> Result<(), DrainError<E>> {
    let mut heap = BinaryHeap::new();
    for (i, s) in sources.iter_mut().enumerate() {
        let mut row = Vec::new();
        if s.next_into(&mut row).map_err(DrainError::Run)? {
            let first = first_key(&row, keys);
            heap.push(Head { row, first, src: i, keys: Arc::clone(keys) });
        }
    }
    // The smallest head is emitted, then refilled in place from its source (one sift, not a
    // pop and a push), and popped only when its source is done.
    while let Some(mut head) = heap.peek_mut() {
        if !emit(&head.row)? {
            break;
        }
        let src = head.src;
        if sources[src].next_into(&mut head.row).map_err(DrainError::Run)? {
            head.first = first_key(&head.row, keys);
        } else {
            std::collections::binary_heap::PeekMut::pop(head);
        }
    }
    Ok(())
}

/// `runs` merged into one run in a new temporary file. They are read through duplicated
/// handles; on failure they are rewound, as they were.
fn merge_runs(runs: &[Run], keys: &Keys) -> Result<std::fs::File, String> {
    let merged = (|| -> Result<std::fs::File, String> {
        let mut sources = Vec::with_capacity(runs.len());
        for r in runs {
            let file = r.file.try_clone().map_err(|e| format!("cannot merge spilled rows: {e}"))?;
            sources.push(Source::Run(BufReader::with_capacity(RUN_BUFFER, file)));
        }
        let tmp = tempfile::tempfile().map_err(|e| format!("cannot merge spilled rows: {e}"))?;
        let mut out = BufWriter::with_capacity(RUN_BUFFER, tmp);
        merge_sources(sources, keys, |row| {
            write_packed(&mut out, row)
                .map_err(|e| DrainError::<()>::Run(format!("cannot merge spilled rows: {e}")))?;
            Ok(true)
        })
        .map_err(|e| match e {
            DrainError::Run(e) => e,
            DrainError::Sink(()) => String::new(),
        })?;
        let mut file = out.into_inner().map_err(|e| format!("cannot merge spilled rows: {}", e.error()))?;
        file.rewind().map_err(|e| format!("cannot merge spilled rows: {e}"))?;
        Ok(file)
    })();
    if merged.is_err() {
        for r in runs {
            let _ = (&r.file).rewind();
        }
    }
    merged
}

impl Source {
    /// The next packed row into `row` (its room reused); `false` when the source is done.
    fn next_into(&mut self, row: &mut Vec<u8>) -> Result<bool, String> {
        match self {
            Source::Memory(rows, next) => Ok(rows
                .places
                .get(*next)
                .map(|&p| {
                    row.clear();
                    row.extend_from_slice(rows.row(p));
                    *next += 1;
                })
                .is_some()),
            Source::Run(file) => read_packed_into(file, row).map_err(|e| format!("cannot read back spilled rows: {e}")),
        }
    }
}

/// A row packed in one buffer: its width (u32), where each value ends (u32 each, from the
/// buffer's start), then each value: a tag byte and its bytes (text as UTF-8, numbers as 8
/// bytes). Rows are held, sorted and spilled packed: one allocation per row instead of one
/// per value, compared in place, written and read back as they are.
mod tag {
    pub const NULL: u8 = 0;
    pub const TEXT: u8 = 1;
    pub const TRUE: u8 = 2;
    pub const FALSE: u8 = 3;
    pub const INT: u8 = 4;
    pub const UINT: u8 = 5;
    pub const FLOAT: u8 = 6;
    /// Arrays and objects, as JSON text.
    pub const JSON: u8 = 7;
}

/// A value of a row being pushed: text borrowed from the record it comes from, or any JSON
/// value.
#[derive(Debug, Clone, Copy)]
pub enum Cell<'a> {
    Null,
    Text(&'a str),
    Json(&'a Value),
}

impl<'a> From<&'a Value> for Cell<'a> {
    fn from(v: &'a Value) -> Cell<'a> {
        match v {
            Value::Null => Cell::Null,
            Value::String(s) => Cell::Text(s),
            other => Cell::Json(other),
        }
    }
}

impl<'a> From<Option<&'a str>> for Cell<'a> {
    fn from(v: Option<&'a str>) -> Cell<'a> {
        v.map_or(Cell::Null, Cell::Text)
    }
}

/// A row handed to a sink: JSON values, or a packed row where the sort keeps it (read in
/// place, not copied into values first), of at most `width` columns.
#[derive(Clone, Copy, Debug)]
pub enum RowRef<'a> {
    Values(&'a [Value]),
    Packed(Packed<'a>),
}

/// A packed row ([`pack`]), as [`Ordered::drain`] hands it over.
#[derive(Clone, Copy, Debug)]
pub struct Packed<'a> {
    bytes: &'a [u8],
    width: usize,
    /// The row's values (from its first tag on) when they are UTF-8 text as a whole.
    text: Option<&'a str>,
}

impl<'a> Packed<'a> {
    /// A row of texts and NULLs (the tags are ASCII) is UTF-8 from its first tag on when each
    /// of its texts is: checked once here, not once per value. A row holding a number may
    /// not be; its texts are then checked one by one.
    fn new(bytes: &'a [u8]) -> Packed<'a> {
        let text = bytes.get(values_start(bytes)..).and_then(|v| simdutf8::basic::from_utf8(v).ok());
        Packed { bytes, width: usize::MAX, text }
    }

    /// Text value `b` of this row (a slice of `bytes`, as [`field`] gives it): a slice of the
    /// text checked whole, or checked now.
    fn text_of(&self, b: &'a [u8]) -> Result<&'a str, String> {
        // Where `b` is in the row's text, by address (the values after the row's first tag).
        let at = (b.as_ptr() as usize).wrapping_sub(self.bytes.as_ptr() as usize + values_start(self.bytes));
        match self.text.and_then(|t| t.get(at..at.wrapping_add(b.len()))) {
            Some(t) => Ok(t),
            None => std::str::from_utf8(b).map_err(|e| e.to_string()),
        }
    }
}

/// Where a packed row's first value (its tag) is.
fn values_start(p: &[u8]) -> usize {
    4 + 4 * u32_at(p, 0)
}

/// A packed value other than text as a [`CellRef`]. (A function of its own: the text path
/// of [`RowRef::cell`] stays small enough to be inlined into a writer's loop; measured, the
/// drain of `events` took about 10 % longer with these arms written into `cell`.)
fn other_cell<'a>(t: u8, b: &[u8]) -> Result<CellRef<'a>, String> {
    Ok(match t {
        tag::NULL => CellRef::Null,
        _ => CellRef::Other(std::borrow::Cow::Owned(value(t, b)?)),
    })
}

/// One value of a [`RowRef`]: text borrowed where it is, NULL, or any other value as JSON.
#[derive(Debug, PartialEq)]
pub enum CellRef<'a> {
    Null,
    Text(&'a str),
    Other(std::borrow::Cow<'a, Value>),
}

impl<'a> RowRef<'a> {
    /// How many values the row has.
    pub fn len(&self) -> usize {
        match self {
            RowRef::Values(v) => v.len(),
            RowRef::Packed(p) => u32_at(p.bytes, 0).min(p.width),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The row's first `width` values.
    pub fn narrow(self, width: usize) -> RowRef<'a> {
        match self {
            RowRef::Values(v) => RowRef::Values(&v[..width.min(v.len())]),
            RowRef::Packed(p) => RowRef::Packed(Packed { width: width.min(p.width), ..p }),
        }
    }

    /// Value `i` (NULL past the row's end); `Err` when a packed value's bytes are not what
    /// its tag says.
    pub fn cell(&self, i: usize) -> Result<CellRef<'a>, String> {
        if i >= self.len() {
            return Ok(CellRef::Null);
        }
        Ok(match *self {
            RowRef::Values(v) => match &v[i] {
                Value::Null => CellRef::Null,
                Value::String(s) => CellRef::Text(s),
                other => CellRef::Other(std::borrow::Cow::Borrowed(other)),
            },
            RowRef::Packed(p) => match field(p.bytes, i) {
                (tag::TEXT, b) => CellRef::Text(p.text_of(b)?),
                (t, b) => return other_cell(t, b),
            },
        })
    }

    /// A packed row of texts and NULLs, its values one after the other and `sep` between
    /// each two, appended to `out` as one piece: its values' bytes copied at once, the tag
    /// before each value but the first turned into `sep` (a NULL is then nothing between two
    /// separators). `false`, and nothing appended, for any other row (JSON values, a number, an
    /// empty text, a value whose bytes are not what its tag says): a writer writes those
    /// value by value.
    pub fn join_texts_into(&self, sep: u8, out: &mut Vec<u8>) -> bool {
        let RowRef::Packed(p) = *self else { return false };
        let (width, start) = (self.len(), values_start(p.bytes));
        let end = if width == 0 { start } else { u32_at(p.bytes, 4 * width) };
        // The values were checked as UTF-8 text as a whole; only such a row is joined.
        let Some(all) = p.text.and_then(|t| t.as_bytes().get(..end.wrapping_sub(start))) else { return false };
        let Some((_, values)) = all.split_first() else { return width == 0 };
        let base = out.len();
        out.extend_from_slice(values);
        // Each value's tag checked; each tag but the first (copied one byte before it stands
        // in `all`) becomes the separator.
        let mut at = 0;
        for i in 0..width {
            let next = u32_at(p.bytes, 4 + 4 * i).wrapping_sub(start);
            let fits = match all.get(at) {
                Some(&tag::NULL) => next == at + 1,
                Some(&tag::TEXT) => next > at + 1,
                _ => false,
            };
            if !fits || next > all.len() {
                out.truncate(base);
                return false;
            }
            if let Some(b) = out.get_mut((base + at).wrapping_sub(1)).filter(|_| i > 0) {
                *b = sep;
            }
            at = next;
        }
        true
    }

    /// The row as JSON values in `row` (its strings' room reused).
    pub fn values_into(&self, row: &mut Vec<Value>) -> Result<(), String> {
        match *self {
            RowRef::Values(v) => {
                row.clear();
                row.extend_from_slice(v);
            }
            // From the row's cells: its texts checked as UTF-8 once ([`Packed::new`]), and each
            // slot's string room reused.
            RowRef::Packed(_) => {
                row.truncate(self.len());
                row.resize(self.len(), Value::Null);
                for (i, slot) in row.iter_mut().enumerate() {
                    match (self.cell(i)?, slot) {
                        (CellRef::Text(text), Value::String(s)) => {
                            s.clear();
                            s.push_str(text);
                        }
                        (CellRef::Text(text), slot) => *slot = Value::String(text.to_string()),
                        (CellRef::Null, slot) => *slot = Value::Null,
                        (CellRef::Other(v), slot) => *slot = v.into_owned(),
                    }
                }
            }
        }
        Ok(())
    }

    /// The row as JSON values: a packed row unpacked into `buf`.
    pub fn values<'b>(&'b self, buf: &'b mut Vec<Value>) -> Result<&'b [Value], String> {
        match *self {
            RowRef::Values(v) => Ok(v),
            RowRef::Packed(_) => {
                self.values_into(buf)?;
                Ok(buf)
            }
        }
    }
}

/// A row packed on its own (tests).
#[cfg(test)]
fn pack(row: &[Cell<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    pack_into(&mut out, row);
    out
}

/// The bytes [`pack_into`] takes for a row (JSON text other than strings estimated).
fn packed_len(row: &[Cell<'_>]) -> usize {
    4 + 4 * row.len() + row.iter().map(|v| 1 + if let Cell::Text(s) = v { s.len() } else { 8 }).sum::<usize>()
}

/// A row packed at the end of `out`; where each value ends is counted from the row's start.
fn pack_into(out: &mut Vec<u8>, row: &[Cell<'_>]) {
    let base = out.len();
    let head = 4 + 4 * row.len();
    out.extend_from_slice(&(row.len() as u32).to_le_bytes());
    out.resize(base + head, 0);
    for (i, cell) in row.iter().enumerate() {
        match cell {
            Cell::Null | Cell::Json(Value::Null) => out.push(tag::NULL),
            Cell::Text(s) => {
                out.push(tag::TEXT);
                out.extend_from_slice(s.as_bytes());
            }
            Cell::Json(Value::String(s)) => {
                out.push(tag::TEXT);
                out.extend_from_slice(s.as_bytes());
            }
            Cell::Json(Value::Bool(b)) => out.push(if *b { tag::TRUE } else { tag::FALSE }),
            Cell::Json(Value::Number(n)) => match (n.as_i64(), n.as_u64()) {
                (Some(i), _) => {
                    out.push(tag::INT);
                    out.extend_from_slice(&i.to_le_bytes());
                }
                (None, Some(u)) => {
                    out.push(tag::UINT);
                    out.extend_from_slice(&u.to_le_bytes());
                }
                (None, None) => {
                    out.push(tag::FLOAT);
                    out.extend_from_slice(&n.as_f64().unwrap_or(0.0).to_le_bytes());
                }
            },
            Cell::Json(other) => {
                out.push(tag::JSON);
                out.extend_from_slice(other.to_string().as_bytes());
            }
        }
        let end = (out.len() - base) as u32;
        out[base + 4 + 4 * i..base + 8 + 4 * i].copy_from_slice(&end.to_le_bytes());
    }
}

fn u32_at(p: &[u8], at: usize) -> usize {
    p.get(at..at + 4).map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
}

/// Value `i` of a packed row: its tag and bytes (`NULL` past the row's width).
fn field(p: &[u8], i: usize) -> (u8, &[u8]) {
    let width = u32_at(p, 0);
    if i >= width {
        return (tag::NULL, &[]);
    }
    let start = if i == 0 { values_start(p) } else { u32_at(p, 4 * i) };
    let end = u32_at(p, 4 + 4 * i);
    match p.get(start..end) {
        Some([t, rest @ ..]) => (*t, rest),
        _ => (tag::NULL, &[]),
    }
}

/// A packed value as JSON; `Err` when its bytes are not what its tag says.
fn value(t: u8, b: &[u8]) -> Result<Value, String> {
    let eight = || <[u8; 8]>::try_from(b).map_err(|_| "a packed number is not 8 bytes".to_string());
    Ok(match t {
        tag::NULL => Value::Null,
        tag::TEXT => Value::String(std::str::from_utf8(b).map_err(|e| e.to_string())?.to_string()),
        tag::TRUE => Value::Bool(true),
        tag::FALSE => Value::Bool(false),
        tag::INT => Value::from(i64::from_le_bytes(eight()?)),
        tag::UINT => Value::from(u64::from_le_bytes(eight()?)),
        tag::FLOAT => Value::from(f64::from_le_bytes(eight()?)),
        tag::JSON => serde_json::from_slice(b).map_err(|e| e.to_string())?,
        other => return Err(format!("not a packed value (tag {other})")),
    })
}

/// [`cmp_value`] on packed values: text by its bytes, numbers as `f64`, NULLs last; other pairs
/// through their JSON values, as `cmp_value` compares them.
fn cmp_field(a: (u8, &[u8]), b: (u8, &[u8])) -> Ordering {
    let number = |t: u8, b: &[u8]| -> Option<f64> {
        let eight = <[u8; 8]>::try_from(b).ok()?;
        match t {
            tag::INT => Some(i64::from_le_bytes(eight) as f64),
            tag::UINT => Some(u64::from_le_bytes(eight) as f64),
            tag::FLOAT => Some(f64::from_le_bytes(eight)),
            _ => None,
        }
    };
    match (a.0, b.0) {
        (tag::TEXT, tag::TEXT) => a.1.cmp(b.1),
        (tag::NULL, tag::NULL) => Ordering::Equal,
        (tag::NULL, _) => Ordering::Greater,
        (_, tag::NULL) => Ordering::Less,
        _ => match (number(a.0, a.1), number(b.0, b.1)) {
            (Some(x), Some(y)) => x.total_cmp(&y),
            _ => cmp_value(&value(a.0, a.1).unwrap_or_default(), &value(b.0, b.1).unwrap_or_default()),
        },
    }
}

/// [`cmp_rows`] on packed rows.
fn cmp_packed(a: &[u8], b: &[u8], keys: &[(usize, bool)]) -> Ordering {
    for &(i, desc) in keys {
        let o = cmp_field(field(a, i), field(b, i));
        let o = if desc { o.reverse() } else { o };
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

/// A packed row into a run: its length, then its bytes.
fn write_packed(out: &mut impl Write, p: &[u8]) -> std::io::Result<()> {
    let len = u32::try_from(p.len()).map_err(std::io::Error::other)?;
    out.write_all(&len.to_le_bytes())?;
    out.write_all(p)
}

/// The next row [`write_packed`] wrote, into `row` (its room reused); `false` at the end of
/// the run.
fn read_packed_into(input: &mut impl BufRead, row: &mut Vec<u8>) -> std::io::Result<bool> {
    let buffered = input.fill_buf()?;
    if buffered.is_empty() {
        return Ok(false);
    }
    // Most rows are whole in the read buffer: copied from there at once.
    if let Some((len, rest)) = buffered.split_first_chunk::<4>() {
        let len = u32::from_le_bytes(*len) as usize;
        if let Some(p) = rest.get(..len) {
            row.clear();
            row.extend_from_slice(p);
            input.consume(4 + len);
            return Ok(true);
        }
    }
    let mut len = [0u8; 4];
    input.read_exact(&mut len)?;
    let len = u32::from_le_bytes(len) as usize;
    row.clear();
    row.reserve(len);
    if input.take(len as u64).read_to_end(row)? < len {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    Ok(true)
}

/// The next row of one source; the heap's smallest (by the keys) comes first.
struct Head {
    row: Vec<u8>,
    /// [`first_key`] of the row: most comparisons end there.
    first: Option<First>,
    src: usize,
    keys: Keys,
}

impl Ord for Head {
    fn cmp(&self, other: &Self) -> Ordering {
        let by_keys = cmp_first((self.first, &self.row), (other.first, &other.row), &self.keys);
        // BinaryHeap pops the greatest: reverse, and break ties by source for stability.
        by_keys.then(self.src.cmp(&other.src)).reverse()
    }
}

/// A row's first sort key as a number ([`first_key`]): three words of 24 bytes, compared in
/// order (40 bytes a row beside the rows being sorted). Twenty-four bytes hold a whole
/// CloudTrail `eventTime` (20), so rows tie on it only when their times are equal.
type First = (u64, u64, u64);

/// Two packed rows by `keys`, their [`first_key`]s beside them: where both numbers are there
/// and differ, they decide; otherwise the whole comparison does.
fn cmp_first(a: (Option<First>, &[u8]), b: (Option<First>, &[u8]), keys: &[(usize, bool)]) -> Ordering {
    match (a.0, b.0) {
        (Some(x), Some(y)) if x != y => x.cmp(&y),
        _ => cmp_packed(a.1, b.1, keys),
    }
}

/// The first sort key of a packed row as a number that orders as the key does, when two
/// rows' numbers differ: text by its first 24 bytes (zeros after a shorter text), NULL after
/// every text (no UTF-8 text has a byte 0xff), inverted for a descending key. `None` for
/// other values, which are compared whole.
fn first_key(p: &[u8], keys: &[(usize, bool)]) -> Option<First> {
    let &(i, desc) = keys.first()?;
    let mut head = [0xffu8; 24];
    match field(p, i) {
        (tag::NULL, _) => {}
        (tag::TEXT, text) => {
            let take = text.len().min(24);
            head = [0u8; 24];
            head[..take].copy_from_slice(&text[..take]);
        }
        _ => return None,
    }
    let word = |at: usize| {
        let w = head[at..at + 8].try_into().map_or(0, u64::from_be_bytes);
        if desc {
            !w
        } else {
            w
        }
    };
    Some((word(0), word(8), word(16)))
}

impl PartialOrd for Head {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Head {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Head {}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn rows(n: usize) -> Vec<Vec<Value>> {
        // A scrambled order with ties on the first key, NULLs and numbers.
        (0..n)
            .map(|i| {
                let k = (i * 7919) % n;
                vec![
                    if k.is_multiple_of(13) { Value::Null } else { json!(format!("t{:05}", k / 3)) },
                    json!(k),
                    json!(format!("id-{k}")),
                ]
            })
            .collect()
    }

    fn cells(row: &[Value]) -> Vec<Cell<'_>> {
        row.iter().map(Cell::from).collect()
    }

    fn expected(all: &[Vec<Value>], keys: &[(usize, bool)], limit: Option<usize>) -> Vec<Vec<Value>> {
        let mut v = all.to_vec();
        v.sort_by(|a, b| cmp_rows(a, b, keys));
        v.truncate(limit.unwrap_or(usize::MAX));
        v
    }

    /// Workers fold into their own collectors, which are merged: as rayon does, with many
    /// small collectors (one per object) merged pairwise.
    fn collect(all: &[Vec<Value>], plan: &Plan, workers: usize) -> Ordered {
        let (pushed, merged) = all.split_at(all.len() / 2);
        let mut parts: Vec<Ordered> = (0..workers).map(|_| plan.collector()).collect();
        for (i, r) in pushed.iter().enumerate() {
            parts[i % workers].push(&cells(r));
        }
        let small = merged.chunks(7).map(|c| {
            let mut o = plan.collector();
            c.iter().for_each(|r| o.push(&cells(r)));
            o
        });
        parts.into_iter().chain(small).reduce(Ordered::merge).unwrap()
    }

    #[test]
    fn spilled_rows_read_back_as_they_were_written() {
        let rows = vec![
            vec![Value::Null, json!("t\u{e9}xt, \"quoted\"\n"), json!(""), json!(true), json!(false)],
            vec![json!(-7), json!(u64::MAX), json!(2.5), json!([1, "a"]), json!({"k": null})],
            vec![],
        ];
        let mut file = Vec::new();
        for r in &rows {
            write_packed(&mut file, &pack(&cells(r))).unwrap();
        }
        // Read into one buffer and one row, reused: each value's kind changes from row to row.
        let (mut input, mut packed, mut row) = (&file[..], Vec::new(), Vec::new());
        let mut back = Vec::new();
        while read_packed_into(&mut input, &mut packed).unwrap() {
            RowRef::Packed(Packed::new(&packed)).values_into(&mut row).unwrap();
            back.push(row.clone());
        }
        assert_eq!(back, rows);
        // A run cut short, or a byte that is no value, is an error, not a row.
        assert!(read_packed_into(&mut &file[..7], &mut packed).is_err());
        let bad = [1u8, 0, 0, 0, 9, 0, 0, 0, 99];
        assert!(RowRef::Packed(Packed::new(&bad)).values_into(&mut row).unwrap_err().contains("tag 99"));
    }

    #[test]
    fn packed_rows_compare_as_their_values_do() {
        let mut values = vec![
            Value::Null,
            json!(""),
            json!("a"),
            json!("ab"),
            json!("b"),
            json!(-3),
            json!(2),
            json!(2.5),
            json!(u64::MAX),
            json!(true),
            json!(false),
            json!([1]),
            // Texts alike in their first 16 or 24 bytes, and NUL bytes where padding would be.
            json!("2025-03-14T12:34:56Z"),
            json!("2025-03-14T12:34:57Z"),
            json!("2025-03-14T12:34"),
            json!("2025-03-14T12:34:56.001Z"),
            json!("2025-03-14T12:34:56.001Z-and-more"),
            json!("2025-03-14T12:34:56.001Z-and-less"),
            json!("2025-03-14T12:34:56.001\u{0}"),
            json!("ab\u{0}"),
            json!("ab\u{0}\u{0}c"),
            json!("é\u{10ffff}"),
        ];
        values.extend(rows(50).into_iter().flatten());
        for a in &values {
            for b in &values {
                let (ra, rb) = (vec![a.clone(), json!(1)], vec![b.clone(), json!(2)]);
                for keys in [&[(0, false), (1, false)][..], &[(0, true)][..], &[(1, true), (0, false)][..]] {
                    let want = cmp_rows(&ra, &rb, keys);
                    let (pa, pb) = (pack(&cells(&ra)), pack(&cells(&rb)));
                    assert_eq!(cmp_packed(&pa, &pb, keys), want, "{a} vs {b} by {keys:?}");
                    // The merge's shortcut: where both first keys give a number and they
                    // differ, they order the rows as the whole comparison does.
                    if let (Some(x), Some(y)) = (first_key(&pa, keys), first_key(&pb, keys)) {
                        assert!(x == y || x.cmp(&y) == want, "{a} vs {b} by {keys:?}: first key");
                    }
                }
            }
        }
    }

    #[test]
    fn in_memory_spilled_and_top_n_give_the_same_order() {
        let all = rows(20_000);
        let keys = [(0, false), (1, true), (2, false)];
        for (budget, limit) in [(usize::MAX, None), (64 * 1024, None), (usize::MAX, Some(25)), (64 * 1024, Some(3000))]
        {
            let plan = Plan::new(&keys, limit, budget);
            let ordered = collect(&all, &plan, 3);
            let spilled = !ordered.runs.is_empty();
            assert_eq!(spilled, budget != usize::MAX, "budget {budget} limit {limit:?}");
            assert!(
                ordered.bytes <= budget.max(budget / 8 * 3),
                "held {} bytes over a budget of {budget}",
                ordered.bytes
            );
            let (got, warning) = ordered.into_rows();
            assert_eq!(warning, None);
            let want = expected(&all, &keys, limit);
            assert_eq!(got.len(), want.len(), "budget {budget} limit {limit:?}");
            let differs = got.iter().zip(&want).position(|(a, b)| a != b);
            assert_eq!(differs, None, "budget {budget} limit {limit:?}: first difference");
            assert_eq!(plan.shared.load(AtomicOrdering::Relaxed), 0, "every byte accounted back");
        }
    }

    #[test]
    fn runs_are_merged_as_they_pile_up_and_the_order_holds() {
        let all = rows(200_000);
        let keys = [(0, false), (1, true), (2, false)];
        // A budget this small spills every few hundred rows: hundreds of runs without merging.
        let plan = Plan::new(&keys, None, 3 * 1024);
        let ordered = collect(&all, &plan, 2);
        let levels: Vec<u32> = ordered.runs.iter().map(|r| r.level).collect();
        assert!(levels.iter().any(|l| *l >= 2), "runs were merged twice over: {levels:?}");
        for l in 0..=levels.iter().copied().max().unwrap() {
            let n = levels.iter().filter(|x| **x == l).count();
            assert!(n < RUNS_PER_LEVEL, "{n} runs of level {l} left unmerged: {levels:?}");
        }
        let (got, warning) = ordered.into_rows();
        assert_eq!(warning, None);
        assert_eq!(got, expected(&all, &keys, None));
    }

    #[test]
    fn the_top_n_path_holds_at_most_about_twice_n_rows() {
        let all = rows(50_000);
        let plan = Plan::new(&[(1, false)], Some(100), usize::MAX);
        let mut one = plan.collector();
        let mut peak = 0;
        for r in &all {
            one.push(&cells(r));
            peak = peak.max(one.rows.len());
        }
        assert!(peak <= 2 * 512, "held {peak} rows for a limit of 100");
        let (got, _) = one.into_rows();
        assert_eq!(got.iter().map(|r| r[1].as_u64().unwrap()).collect::<Vec<_>>(), (0..100).collect::<Vec<u64>>());
    }

    #[test]
    fn a_packed_row_reads_as_its_values_do() {
        let row = vec![
            json!("text, with a comma"),
            Value::Null,
            json!(""),
            json!(-7),
            json!(u64::MAX),
            json!(2.5),
            json!(true),
            json!({"nested": [1, "two"]}),
            json!("é ✓"),
        ];
        let packed = pack(&cells(&row));
        let (by_values, in_place) = (RowRef::Values(&row), RowRef::Packed(Packed::new(&packed)));
        for width in [0, 1, 4, row.len(), row.len() + 3] {
            let (a, b) = (by_values.narrow(width), in_place.narrow(width));
            assert_eq!(a.len(), width.min(row.len()));
            assert_eq!(b.len(), a.len());
            for i in 0..row.len() + 1 {
                assert_eq!(b.cell(i).unwrap(), a.cell(i).unwrap(), "value {i} of {width}");
            }
            let (mut x, mut y) = (vec![json!("left over")], vec![json!("left over"); 20]);
            a.values_into(&mut x).unwrap();
            b.values_into(&mut y).unwrap();
            assert_eq!(x, &row[..a.len()]);
            assert_eq!(y, x);
        }
        // A row of texts and NULLs is checked as UTF-8 once, and read from that text.
        let texts = vec![json!("a"), Value::Null, json!(""), json!("é ✓"), json!("z")];
        let packed_texts = pack(&cells(&texts));
        let whole = Packed::new(&packed_texts);
        assert!(whole.text.is_some());
        for i in 0..texts.len() {
            assert_eq!(RowRef::Packed(whole).cell(i).unwrap(), RowRef::Values(&texts).cell(i).unwrap());
        }
        // Joined as one piece: texts and NULLs only, no empty text; appended after what is there.
        let joinable = vec![json!("a"), Value::Null, json!("é ✓"), json!("b,c"), Value::Null];
        let packed_joinable = pack(&cells(&joinable));
        let joined = RowRef::Packed(Packed::new(&packed_joinable));
        for (width, want) in [(5, "x|a||é ✓|b,c|"), (3, "x|a||é ✓"), (1, "x|a"), (0, "x|")] {
            let mut out = b"x|".to_vec();
            assert!(joined.narrow(width).join_texts_into(b'|', &mut out), "{width}");
            assert_eq!(String::from_utf8(out).unwrap(), want);
        }
        let only_null = pack(&[Cell::Null]);
        let mut out = Vec::new();
        assert!(RowRef::Packed(Packed::new(&only_null)).join_texts_into(b',', &mut out) && out.is_empty());
        for declined in [RowRef::Packed(whole), in_place, RowRef::Values(&joinable)] {
            let mut out = b"kept".to_vec();
            assert!(!declined.join_texts_into(b',', &mut out));
            assert_eq!(out, b"kept");
        }
        assert_eq!(in_place.cell(0).unwrap(), CellRef::Text("text, with a comma"));
        assert_eq!(in_place.cell(1).unwrap(), CellRef::Null);
        assert_eq!(in_place.cell(3).unwrap(), CellRef::Other(std::borrow::Cow::Owned(json!(-7))));
        // Bytes that are not what their tag says are an error, not a value made up.
        let mut broken = packed.to_vec();
        let at = 4 + 4 * row.len() + 1;
        broken[at] = 0xff;
        let broken = RowRef::Packed(Packed::new(&broken));
        assert!(broken.cell(0).is_err());
        assert!(broken.values_into(&mut Vec::new()).is_err());
        let mut bad_text = packed_joinable.to_vec();
        bad_text[4 + 4 * joinable.len() + 1] = 0xff;
        assert!(!RowRef::Packed(Packed::new(&bad_text)).join_texts_into(b',', &mut Vec::new()));
        let mut bad_end = packed_joinable.to_vec();
        bad_end[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(!RowRef::Packed(Packed::new(&bad_end)).join_texts_into(b',', &mut Vec::new()));
    }

    #[test]
    fn a_sink_error_stops_the_drain() {
        let plan = Plan::new(&[(1, false)], None, 16 * 1024);
        let ordered = collect(&rows(5_000), &plan, 2);
        let mut n = 0;
        let got = ordered.drain(|_| {
            n += 1;
            if n == 10 {
                Err("broken pipe")
            } else {
                Ok(())
            }
        });
        assert!(matches!(got, Err(DrainError::Sink("broken pipe"))));
        assert_eq!(n, 10);
    }
}
