//! The local engine: reads a mirror of the log buckets (`s3://B/K` at `ROOT/B/K`, as
//! `aws s3 sync s3://B ROOT/B` leaves it) through the same table definitions Athena uses.
//!
//! A scan projects the partitions the query's constraints allow (pruning like Athena), lists
//! the objects under each partition location, then reads them in parallel (one object per
//! worker at a time, so memory stays bounded whatever the data size). Corrupt objects are
//! reported with their key and skipped.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};
use std::sync::Arc;

use rayon::prelude::*;

use super::{Problem, ScanStats};
use crate::lake::{Constraint, TableDef, TableKind};
use crate::records::{self, alb, cloudtrail, config, logs, metrics};

/// One record handed to a query's visitor.
pub enum Rec<'r, 'a> {
    Trail(&'r cloudtrail::Record<'a>),
    Config(&'r config::Item<'a>),
    Alb(&'r alb::Line<'a>),
    /// One application log event, with the subscription record it came in.
    Log(&'r logs::Record<'a>, &'r logs::Event<'a>),
    Metric(&'r metrics::Point<'a>),
}

/// Partition values of the object a record came from (`account`, `region`, …).
pub type Partition = BTreeMap<String, String>;

/// A partition's folder in the mirror: what a scan lists, a group of folders at a time.
#[derive(Debug, Clone)]
pub struct Folder {
    pub path: PathBuf,
    pub partition: Arc<Partition>,
}

/// An object to read: its folder (shared by the folder's objects, and opened once per
/// worker for all of them) and its name there. Only the objects of the folders being scanned
/// are listed at once, so a scan's memory does not grow with the number of objects in the
/// mirror.
#[derive(Debug, Clone)]
pub struct Object {
    dir: Arc<Path>,
    name: Box<std::ffi::OsStr>,
    pub partition: Arc<Partition>,
}

impl Object {
    pub fn path(&self) -> PathBuf {
        self.dir.join(&*self.name)
    }

    /// The order of the objects' paths' bytes (cheaper than comparing them component by
    /// component, and the same whichever folder a scan starts from).
    fn cmp_path(&self, other: &Object) -> std::cmp::Ordering {
        if Arc::ptr_eq(&self.dir, &other.dir) {
            return self.name.as_encoded_bytes().cmp(other.name.as_encoded_bytes());
        }
        let bytes = |o: &Object| {
            let mut b = o.dir.as_os_str().as_encoded_bytes().to_vec();
            b.push(std::path::MAIN_SEPARATOR as u8);
            b.extend_from_slice(o.name.as_encoded_bytes());
            b
        };
        bytes(self).cmp(&bytes(other))
    }
}

/// Folders listed together, per scan thread.
const FOLDERS_PER_THREAD: usize = 32;
/// Objects read per parallel pass, per scan thread. A pass waits for its slowest worker and
/// ends in a merge of its accumulators, so passes are long. What accumulators that hold rows
/// keep in memory is bounded by their own account ([`crate::query::ordered`] spills sorted
/// runs), not by the pass: rows in passes of 256 objects per thread took 10 % longer than in
/// passes of 4,096, and peaked higher (1 GB set: 1.31 s and 110 MB against 1.14 s and 107 MB).
const OBJECTS_PER_THREAD: usize = 4096;

/// How a scan reads: the event names it wants (objects and records without any are not
/// parsed), and the CloudTrail fields its visitor reads (the others are skipped,
/// not parsed, and stay `None`).
#[derive(Clone, Copy)]
pub struct How<'a> {
    pub needles: Option<&'a EventNames>,
    pub fields: cloudtrail::Fields,
}

impl Default for How<'_> {
    fn default() -> Self {
        How { needles: None, fields: cloudtrail::Fields::ALL }
    }
}

/// `ROOT/bucket/key` → `s3://bucket/key`.
fn key_of(root: &Path, path: &Path) -> String {
    format!("s3://{}", path.strip_prefix(root).unwrap_or(path).to_string_lossy().replace('\\', "/"))
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The mirror does not have the bucket at all (a wrong `--local` root, usually).
    #[error("the mirror has no folder for bucket {bucket} (looked for {}); mirror it with `aws s3 sync s3://{bucket} {}`", path.display(), path.display())]
    MissingBucket { bucket: String, path: PathBuf },
    /// The table's projection cannot be interpreted or the constraints are refused.
    #[error("{0}")]
    Projection(String),
    /// Rows spilled to a temporary file could not be read back.
    #[error("{0}")]
    Sort(String),
}

/// Told how a scan advances (the command line draws a progress bar from it); called from
/// the scan's worker threads.
pub trait ScanProgress: Send + Sync {
    /// A scan of `objects` objects holding `bytes` bytes begins.
    fn begin(&self, objects: u64, bytes: u64);
    /// One object was read: its stored bytes and the records it held.
    fn advance(&self, bytes: u64, records: u64);
    /// The scan is over.
    fn finish(&self);
}

/// A mirror root directory.
#[derive(Clone)]
pub struct Mirror {
    pub root: PathBuf,
    /// Objects and bytes under each table location, counted once (a summary runs a dozen
    /// queries over the same tables).
    totals: Arc<std::sync::Mutex<BTreeMap<String, (u64, u64)>>>,
    progress: Option<Arc<dyn ScanProgress>>,
}

impl std::fmt::Debug for Mirror {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mirror").field("root", &self.root).finish_non_exhaustive()
    }
}

impl Mirror {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Mirror { root: root.into(), totals: Arc::default(), progress: None }
    }

    /// The same mirror, telling `progress` how each scan advances.
    pub fn with_progress(mut self, progress: Arc<dyn ScanProgress>) -> Self {
        self.progress = Some(progress);
        self
    }

    /// Fills in `stats`' totals (every object under `location`, and its bytes) after a scan of
    /// `folders`: what the scan listed and read, plus what is outside those folders (`stat`ed
    /// there, not read). Counted once per location (a summary runs a dozen queries over the
    /// same tables), so a query over the whole table walks its folders once, not twice.
    pub fn complete_totals(&self, location: &str, folders: &[Folder], stats: &mut ScanStats) {
        let cached = self.totals.lock().ok().and_then(|m| m.get(location).copied());
        let (objects, bytes) = cached.unwrap_or_else(|| {
            let scanned: std::collections::HashSet<&Path> = folders.iter().map(|f| f.path.as_path()).collect();
            let outside = self.path_of(location).map(|root| count(&root, &scanned)).unwrap_or_default();
            let t = (outside.0 + stats.objects_listed, outside.1 + stats.bytes_scanned);
            if let Ok(mut m) = self.totals.lock() {
                m.insert(location.to_string(), t);
            }
            t
        });
        stats.objects_total += objects;
        stats.bytes_total += bytes;
    }

    /// `s3://bucket/key` → `ROOT/bucket/key`.
    pub fn path_of(&self, url: &str) -> Option<PathBuf> {
        let rest = url.strip_prefix("s3://")?;
        let mut p = self.root.clone();
        for seg in rest.split('/').filter(|s| !s.is_empty()) {
            if seg == ".." || seg == "." {
                return None;
            }
            p.push(seg);
        }
        Some(p)
    }

    fn bucket_of(url: &str) -> &str {
        url.trim_start_matches("s3://").split('/').next().unwrap_or("")
    }

    /// The partition folders the constraints allow, in a stable order, and how many were
    /// projected. Whether each exists is found when the scan lists it
    /// ([`ScanStats::partitions_present`]): a `stat` of every projected folder first costs as
    /// much again as listing the ones there are.
    pub fn folders(
        &self,
        table: &TableDef,
        constraints: &BTreeMap<String, Constraint>,
        today: jiff::civil::Date,
    ) -> Result<(Vec<Folder>, ScanStats), EngineError> {
        let bucket = Self::bucket_of(&table.location).to_string();
        let bucket_dir = self.root.join(&bucket);
        if !bucket_dir.is_dir() {
            return Err(EngineError::MissingBucket { bucket, path: bucket_dir });
        }
        let projection =
            table.projection().map_err(|e| EngineError::Projection(format!("table {}: {e}", table.name)))?;
        let partitions = projection
            .partitions(constraints, today)
            .map_err(|e| EngineError::Projection(format!("table {}: {e}", table.name)))?;
        let stats = ScanStats { partitions_projected: partitions.len(), ..ScanStats::default() };
        let folders: Vec<Folder> = partitions
            .into_iter()
            .filter_map(|p| Some(Folder { path: self.path_of(&p.location)?, partition: Arc::new(p.values) }))
            .collect();
        Ok((folders, stats))
    }

    /// Scans the objects in parallel: `visit` sees every record with its partition; each
    /// worker folds into its own accumulator (`init`), and `merge` combines them.
    pub fn scan<A, I, V, M>(&self, kind: TableKind, folders: &[Folder], init: I, visit: V, merge: M) -> (A, ScanStats)
    where
        A: Send,
        I: Fn() -> A + Sync + Send,
        V: Fn(&mut A, Rec<'_, '_>, &Partition) + Sync + Send,
        M: Fn(A, A) -> A + Sync + Send,
    {
        self.scan_filtered(kind, folders, How::default(), init, visit, merge)
    }

    /// [`Mirror::scan`], read as `how` says: for a query that wants only records with one of
    /// its event names, objects and records whose `"eventName"` values are all elsewhere are
    /// not parsed; for rows held until merged, in bounded passes.
    pub fn scan_filtered<A, I, V, M>(
        &self,
        kind: TableKind,
        folders: &[Folder],
        how: How<'_>,
        init: I,
        visit: V,
        merge: M,
    ) -> (A, ScanStats)
    where
        A: Send,
        I: Fn() -> A + Sync + Send,
        V: Fn(&mut A, Rec<'_, '_>, &Partition) + Sync + Send,
        M: Fn(A, A) -> A + Sync + Send,
    {
        let progress = self.progress.as_deref();
        if let Some(p) = progress {
            // Only a bar needs the totals first (a terminal): counted without holding names.
            let (objects, bytes) = folders
                .par_iter()
                .map(|f| count(&f.path, &Default::default()))
                .reduce(|| (0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
            p.begin(objects, bytes);
        }
        let threads = rayon::current_num_threads();
        let group = (threads * FOLDERS_PER_THREAD).max(1);
        let pass = threads.max(1) * OBJECTS_PER_THREAD;
        let mut done: Option<(A, ScanStats)> = None;
        let mut listed = 0;
        let present = AtomicUsize::new(0);
        // Folders are listed a group at a time, and their objects read in passes of `pass`
        // objects: what a pass's workers hold before their accumulators merge is bounded,
        // however full the folders are.
        let mut pending: Vec<Object> = Vec::new();
        let mut groups = folders.chunks(group).peekable();
        while let Some(chunk) = groups.next() {
            let objects = chunk.par_iter().flat_map_iter(|f| {
                let mut files = Vec::new();
                if walk(&f.path, &f.partition, &mut files) {
                    present.fetch_add(1, AtomicOrdering::Relaxed);
                }
                files.sort_unstable_by(Object::cmp_path);
                files
            });
            pending.par_extend(objects);
            let last = groups.peek().is_none();
            while pending.len() >= pass || (last && !pending.is_empty()) {
                let n = pending.len().min(pass);
                listed += n as u64;
                let (acc, stats) = self.scan_objects(kind, &pending[..n], how, &init, &visit, &merge);
                pending.drain(..n);
                done = Some(match done {
                    None => (acc, stats),
                    Some((a, mut sa)) => {
                        sa.merge(stats);
                        (merge(a, acc), sa)
                    }
                });
            }
        }
        if let Some(p) = progress {
            p.finish();
        }
        let (acc, mut stats) = done.unwrap_or_else(|| (init(), ScanStats::default()));
        stats.objects_listed = listed;
        stats.partitions_present = present.into_inner();
        stats.problems.sort_by(|a, b| a.key.cmp(&b.key));
        (acc, stats)
    }

    /// One group's objects, read in parallel, in their order.
    fn scan_objects<A, I, V, M>(
        &self,
        kind: TableKind,
        objects: &[Object],
        how: How<'_>,
        init: &I,
        visit: &V,
        merge: &M,
    ) -> (A, ScanStats)
    where
        A: Send,
        I: Fn() -> A + Sync + Send,
        V: Fn(&mut A, Rec<'_, '_>, &Partition) + Sync + Send,
        M: Fn(A, A) -> A + Sync + Send,
    {
        let progress = self.progress.as_deref();
        // Leaves of a few hundred objects at most (a few per thread for a small scan): each
        // leaf folds into its own accumulator, and accumulators cost a merge each.
        let leaf = (objects.len() / (rayon::current_num_threads() * 64)).max(1);
        objects
            .par_iter()
            .with_min_len(leaf)
            .fold(
                || (init(), ScanStats::default()),
                |(mut acc, mut stats), obj| {
                    let (records, bytes) = (stats.records, stats.bytes_scanned);
                    read_object(kind, &self.root, obj, how, &mut acc, visit, &mut stats);
                    if let Some(p) = progress {
                        p.advance(stats.bytes_scanned - bytes, stats.records - records);
                    }
                    (acc, stats)
                },
            )
            .reduce(
                || (init(), ScanStats::default()),
                |(a, mut sa), (b, sb)| {
                    sa.merge(sb);
                    (merge(a, b), sa)
                },
            )
    }
}

/// A set of CloudTrail event names, checked on raw bytes without parsing: every value of an
/// `"eventName"` key is looked up. It errs only towards parsing (an escaped value, a nested
/// key of the same name), never towards skipping a wanted record.
pub struct EventNames {
    names: std::collections::HashSet<Vec<u8>>,
    key: memchr::memmem::Finder<'static>,
}

impl EventNames {
    pub fn new<S: AsRef<str>>(names: &[S]) -> Self {
        EventNames {
            names: names.iter().map(|n| n.as_ref().as_bytes().to_vec()).collect(),
            key: memchr::memmem::Finder::new(b"\"eventName\"").into_owned(),
        }
    }

    /// Whether any `"eventName": "…"` in `bytes` has a value in the set (or cannot be read
    /// without parsing).
    pub fn may_match(&self, bytes: &[u8]) -> bool {
        for at in self.key.find_iter(bytes) {
            let mut i = at + b"\"eventName\"".len();
            while i < bytes.len() && matches!(bytes[i], b' ' | b'\t' | b'\n' | b'\r' | b':') {
                i += 1;
            }
            if bytes.get(i) != Some(&b'"') {
                continue;
            }
            let start = i + 1;
            let Some(len) = memchr::memchr(b'"', &bytes[start..]) else { return true };
            let value = &bytes[start..start + len];
            if value.contains(&b'\\') || self.names.contains(value) {
                return true;
            }
        }
        false
    }

    /// Whether a record whose `eventName` is `name` (its JSON text without quotes) is wanted:
    /// an escaped name is, to be parsed and compared by the query.
    pub fn wants(&self, name: Option<&str>) -> bool {
        name.is_some_and(|n| n.contains('\\') || self.names.contains(n.as_bytes()))
    }
}

/// Hadoop and Athena ignore objects whose name starts with `_` or `.`.
fn hidden(name: &std::ffi::OsStr) -> bool {
    let n = name.to_string_lossy();
    n.starts_with('_') || n.starts_with('.')
}

/// (files, bytes) under `dir` but not under the `skip` folders (for the totals: their objects
/// were listed and read by the scan), without holding their names; subfolders in parallel.
fn count(dir: &Path, skip: &std::collections::HashSet<&Path>) -> (u64, u64) {
    if skip.contains(dir) {
        return (0, 0);
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return (0, 0);
    };
    let entries: Vec<std::fs::DirEntry> = entries.flatten().filter(|e| !hidden(&e.file_name())).collect();
    entries
        .par_iter()
        .map(|e| match e.file_type() {
            Ok(ft) if ft.is_dir() => count(&e.path(), skip),
            Ok(ft) if ft.is_file() => (1, e.metadata().map(|m| m.len()).unwrap_or(0)),
            _ => (0, 0),
        })
        .reduce(|| (0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
}

/// Every visible file under `dir` into `out` (no `stat`: the read gives the size), each
/// folder's path shared by its objects; whether `dir` could be listed (a projected partition
/// that is not there cannot).
fn walk(dir: &Path, partition: &Arc<Partition>, out: &mut Vec<Object>) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    let shared: Arc<Path> = Arc::from(dir);
    let mut folders = Vec::new();
    for e in entries.flatten() {
        let name = e.file_name();
        if hidden(&name) {
            continue;
        }
        match e.file_type() {
            Ok(ft) if ft.is_dir() => folders.push(e.path()),
            Ok(ft) if ft.is_file() => out.push(Object {
                dir: Arc::clone(&shared),
                name: name.into_boxed_os_str(),
                partition: Arc::clone(partition),
            }),
            _ => {}
        }
    }
    for f in folders {
        walk(&f, partition, out);
    }
    true
}

/// The folder a worker is reading, kept open for its next object.
type HeldFolder = Option<(Arc<Path>, std::fs::File)>;

/// Opens an object. On Unix, relative to its folder (`openat`), which the worker keeps open
/// (`held`) while it reads that folder's objects: the kernel does not walk the whole path
/// again for every object. A folder that cannot be opened (searchable but not readable) is
/// passed through by path.
#[cfg(unix)]
fn open(obj: &Object, held: &mut HeldFolder) -> std::io::Result<std::fs::File> {
    use rustix::fs::{Mode, OFlags};
    let dir = match held {
        Some((dir, handle)) if Arc::ptr_eq(dir, &obj.dir) => handle,
        _ => {
            *held = std::fs::File::open(&*obj.dir).ok().map(|handle| (Arc::clone(&obj.dir), handle));
            match held {
                Some((_, handle)) => handle,
                None => return std::fs::File::open(obj.path()),
            }
        }
    };
    let fd = rustix::fs::openat(&*dir, &*obj.name, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())?;
    Ok(std::fs::File::from(fd))
}

#[cfg(not(unix))]
fn open(obj: &Object, _held: &mut HeldFolder) -> std::io::Result<std::fs::File> {
    std::fs::File::open(obj.path())
}

fn read_object<A, V>(
    kind: TableKind,
    root: &Path,
    obj: &Object,
    how: How<'_>,
    acc: &mut A,
    visit: &V,
    stats: &mut ScanStats,
) where
    V: Fn(&mut A, Rec<'_, '_>, &Partition),
{
    let problem = |reason: String| Problem { key: key_of(root, &obj.path()), reason };
    let mut read = |scratch: &mut Scratch| {
        let Scratch { file, text, decoder, folder } = scratch;
        file.clear();
        // Read through `take`: a `File`'s own `read_to_end` asks for its size and position
        // first (two system calls per object), and the buffer is already large enough.
        if let Err(e) = open(obj, folder).and_then(|f| f.take(u64::MAX).read_to_end(file)) {
            stats.problems.push(problem(format!("cannot read: {e}")));
            return;
        }
        stats.objects_scanned += 1;
        stats.bytes_scanned += file.len() as u64;
        let body: &[u8] = match records::inflate(file, text, decoder) {
            Ok(Some(n)) => &text[..n],
            Ok(None) => file,
            Err(e) => {
                stats.problems.push(problem(e.0));
                return;
            }
        };
        stats.bytes_decompressed += body.len() as u64;
        read_body(kind, body, obj, how, acc, visit, stats, &problem);
        scratch.trim();
    };
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut scratch) => read(&mut scratch),
        // This thread is already reading an object: a visitor that waits on parallel work
        // (a sort that spills) lets rayon run another object's read here. It gets buffers
        // of its own.
        Err(_) => read(&mut Scratch::new()),
    });
}

/// A scan worker's buffers, kept from one object to the next: the file's bytes, its
/// decompressed text, and the decoder (each would be an allocation per object), and the
/// folder it is reading (one open handle per worker).
struct Scratch {
    file: Vec<u8>,
    text: Vec<u8>,
    decoder: libdeflater::Decompressor,
    folder: HeldFolder,
}

/// What a worker's buffers may keep between objects; a larger object's are freed after it.
const SCRATCH_KEPT: usize = 8 * 1024 * 1024;

impl Scratch {
    fn new() -> Scratch {
        Scratch { file: Vec::new(), text: Vec::new(), decoder: libdeflater::Decompressor::new(), folder: None }
    }

    fn trim(&mut self) {
        for b in [&mut self.file, &mut self.text] {
            if b.capacity() > SCRATCH_KEPT {
                *b = Vec::new();
            }
        }
    }
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::new(Scratch::new());
}

/// An object's (decompressed) content, read as its table's kind of records.
#[allow(clippy::too_many_arguments)]
fn read_body<A, V>(
    kind: TableKind,
    body: &[u8],
    obj: &Object,
    how: How<'_>,
    acc: &mut A,
    visit: &V,
    stats: &mut ScanStats,
    problem: &dyn Fn(String) -> Problem,
) where
    V: Fn(&mut A, Rec<'_, '_>, &Partition),
{
    if how.needles.is_some_and(|n| !n.may_match(body)) {
        return; // nothing the query wants can be in this object
    }
    match kind {
        // One pass over the file: only the fields the query reads are parsed, and with
        // needles only the records whose event name is wanted.
        TableKind::CloudTrail => {
            let keep = |name: Option<&str>| how.needles.is_none_or(|n| n.wants(name));
            let each = &mut |r: &mut cloudtrail::Record<'_>| visit(acc, Rec::Trail(r), &obj.partition);
            match cloudtrail::read_each(body, how.fields, &keep, each) {
                Ok(tally) => {
                    stats.records += tally.records + tally.refused;
                    stats.bad_records += tally.bad;
                }
                Err(e) => stats.problems.push(problem(e.0)),
            }
        }
        TableKind::ConfigHistory => match config::split(body) {
            Ok(raws) => {
                for raw in raws {
                    match config::parse(raw) {
                        Ok(i) => {
                            stats.records += 1;
                            visit(acc, Rec::Config(&i), &obj.partition);
                        }
                        Err(_) => stats.bad_records += 1,
                    }
                }
            }
            Err(e) => stats.problems.push(problem(e.0)),
        },
        TableKind::AlbAccessLogs => match std::str::from_utf8(body) {
            Ok(text) => {
                for line in text.lines().filter(|l| !l.is_empty()) {
                    match alb::parse(line) {
                        Some(l) => {
                            stats.records += 1;
                            visit(acc, Rec::Alb(&l), &obj.partition);
                        }
                        None => stats.bad_records += 1,
                    }
                }
            }
            Err(e) => stats.problems.push(problem(format!("not text: {e}"))),
        },
        TableKind::AppLogs | TableKind::Metrics => read_capture(kind, body, obj, acc, visit, stats, problem),
    }
}

/// An object of a Firehose capture: CloudWatch Logs subscription records (one visit per log
/// event of a data record) or metric-stream records, one per line.
fn read_capture<A, V>(
    kind: TableKind,
    body: &[u8],
    obj: &Object,
    acc: &mut A,
    visit: &V,
    stats: &mut ScanStats,
    problem: &dyn Fn(String) -> Problem,
) where
    V: Fn(&mut A, Rec<'_, '_>, &Partition),
{
    if kind == TableKind::AppLogs {
        read_lines(body, "CloudWatch Logs subscription records", stats, problem, |line, stats| {
            let r = logs::parse(line)?;
            if r.is_data() {
                for e in &r.log_events {
                    stats.records += 1;
                    visit(acc, Rec::Log(&r, e), &obj.partition);
                }
            }
            Ok(())
        });
    } else {
        read_lines(body, "metric stream records", stats, problem, |line, stats| {
            let p = metrics::parse(line)?;
            stats.records += 1;
            visit(acc, Rec::Metric(&p), &obj.partition);
            Ok(())
        });
    }
}

/// Reads an object of JSON lines with `each`. Lines that do not parse are counted as bad
/// records; an object none of whose lines parse is not of this kind and is reported.
fn read_lines(
    body: &[u8],
    what: &str,
    stats: &mut ScanStats,
    problem: &dyn Fn(String) -> Problem,
    mut each: impl FnMut(&str, &mut ScanStats) -> Result<(), String>,
) {
    let text = match std::str::from_utf8(body) {
        Ok(t) => t,
        Err(e) => return stats.problems.push(problem(format!("not text: {e}"))),
    };
    let (mut good, mut bad, mut first_error) = (0u64, 0u64, None);
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        match each(line, stats) {
            Ok(()) => good += 1,
            Err(e) => {
                bad += 1;
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(e) if good == 0 => stats.problems.push(problem(format!("not {what}: {e}"))),
        _ => stats.bad_records += bad,
    }
}

#[cfg(test)]
mod tests {
    use super::EventNames;

    #[test]
    fn event_name_filter_never_skips_a_wanted_record() {
        let f = EventNames::new(&["RunInstances", "DeleteVolume"]);
        let cases: &[(&str, bool)] = &[
            (r#"{"eventName":"RunInstances","x":1}"#, true),
            (r#"{"eventName" : "DeleteVolume"}"#, true),
            ("{\n  \"eventName\":\n    \"RunInstances\"\n}", true),
            (r#"{"eventName":"DescribeInstances"}"#, false),
            (r#"{"eventName":"Describe","requestParameters":{"eventName":"RunInstances"}}"#, true),
            (r#"{"eventName":"Run\u0049nstances"}"#, true),
            (r#"{"name":"RunInstances"}"#, false),
            (r#"{"eventName":"RunInstancesX"}"#, false),
        ];
        for (text, want) in cases {
            assert_eq!(f.may_match(text.as_bytes()), *want, "{text}");
        }
    }
}
