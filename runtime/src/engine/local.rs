//! The local engine: reads a mirror of the log buckets (`s3://B/K` at `ROOT/B/K`, as
//! `aws s3 sync s3://B ROOT/B` leaves it) through the same table definitions Athena uses.
//!
//! A scan projects the partitions the query's constraints allow (pruning like Athena); its
//! workers take a partition folder at a time, list it and read its objects (one object per
//! worker at a time, so memory stays bounded whatever the data size). Corrupt objects are
//! reported with their key and skipped.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
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

/// A partition's folder in the mirror: what one of a scan's workers lists and reads.
#[derive(Debug, Clone)]
pub struct Folder {
    pub path: PathBuf,
    pub partition: Arc<Partition>,
}

/// A folder with this many objects or more is read by every scan thread, not by one.
const SHARED_FOLDER: usize = 64;

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
            let scanned: Skip = folders.iter().map(|f| f.path.as_os_str().as_encoded_bytes()).collect();
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
        // Written into one string: a scan asks this of every projected folder.
        let mut p = OsString::with_capacity(self.root.as_os_str().len() + rest.len() + 1);
        p.push(self.root.as_os_str());
        for seg in rest.split('/').filter(|s| !s.is_empty()) {
            if seg == ".." || seg == "." {
                return None;
            }
            if !p.is_empty() && !p.as_encoded_bytes().ends_with(std::path::MAIN_SEPARATOR_STR.as_bytes()) {
                p.push(std::path::MAIN_SEPARATOR_STR);
            }
            p.push(seg);
        }
        Some(PathBuf::from(p))
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
        let present = AtomicUsize::new(0);
        let reading = Reading { kind, root: &self.root, how, init: &init, visit: &visit, merge: &merge, progress };
        // A folder is the unit of work: a worker lists it and reads its objects through the
        // handle it listed them with. Each worker holds the names of the folder it is reading
        // only, and accumulators merge as rayon's work tree joins.
        let (acc, mut stats) = folders
            .par_iter()
            .fold(
                || (init(), ScanStats::default()),
                |(mut acc, mut stats), f| {
                    if let Some(listing) = list(&f.path) {
                        present.fetch_add(1, AtomicOrdering::Relaxed);
                        reading.folder(&listing, &f.partition, &mut acc, &mut stats);
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
            );
        if let Some(p) = progress {
            p.finish();
        }
        stats.partitions_present = present.into_inner();
        stats.problems.sort_by(|a, b| a.key.cmp(&b.key));
        (acc, stats)
    }
}

/// What every object of one scan is read with.
struct Reading<'s, I, V, M> {
    kind: TableKind,
    root: &'s Path,
    how: How<'s>,
    init: &'s I,
    visit: &'s V,
    merge: &'s M,
    progress: Option<&'s dyn ScanProgress>,
}

impl<A, I, V, M> Reading<'_, I, V, M>
where
    A: Send,
    I: Fn() -> A + Sync + Send,
    V: Fn(&mut A, Rec<'_, '_>, &Partition) + Sync + Send,
    M: Fn(A, A) -> A + Sync + Send,
{
    /// A listed folder's objects in name order, then its subfolders'. A folder of
    /// [`SHARED_FOLDER`] objects or more is read in parallel, into accumulators of its own
    /// that are merged into `acc` after it.
    fn folder(&self, listing: &Listing, partition: &Partition, acc: &mut A, stats: &mut ScanStats) {
        stats.objects_listed += listing.files.len() as u64;
        if listing.files.len() >= SHARED_FOLDER {
            let (theirs, s) = listing
                .files
                .par_iter()
                .fold(
                    || ((self.init)(), ScanStats::default()),
                    |(mut acc, mut stats), name| {
                        self.object(listing, name, partition, &mut acc, &mut stats);
                        (acc, stats)
                    },
                )
                .reduce(
                    || ((self.init)(), ScanStats::default()),
                    |(a, mut sa), (b, sb)| {
                        sa.merge(sb);
                        ((self.merge)(a, b), sa)
                    },
                );
            let mine = std::mem::replace(acc, (self.init)());
            *acc = (self.merge)(mine, theirs);
            stats.merge(s);
        } else {
            for name in &listing.files {
                self.object(listing, name, partition, acc, stats);
            }
        }
        for sub in &listing.folders {
            if let Some(l) = list(sub) {
                self.folder(&l, partition, acc, stats);
            }
        }
    }

    /// One object: read, inflated if it is gzip, and its records visited.
    fn object(&self, listing: &Listing, name: &OsStr, partition: &Partition, acc: &mut A, stats: &mut ScanStats) {
        let (records, bytes) = (stats.records, stats.bytes_scanned);
        let problem = |reason: String| Problem { key: key_of(self.root, &listing.path.join(name)), reason };
        let mut read = |scratch: &mut Scratch| {
            let Scratch { file, text, decoder } = scratch;
            file.clear();
            // Read through `take`: a `File`'s own `read_to_end` asks for its size and
            // position first (two system calls per object), and the buffer is already large
            // enough.
            if let Err(e) = listing.open(name).and_then(|f| f.take(u64::MAX).read_to_end(file)) {
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
            read_body(self.kind, body, partition, self.how, acc, self.visit, stats, &problem);
            scratch.trim();
        };
        SCRATCH.with(|cell| match cell.try_borrow_mut() {
            Ok(mut scratch) => read(&mut scratch),
            // This thread is already reading an object: a visitor that waits on parallel
            // work (a sort that spills) lets rayon run another object's read here. It gets
            // buffers of its own.
            Err(_) => read(&mut Scratch::new()),
        });
        if let Some(p) = self.progress {
            p.advance(stats.bytes_scanned - bytes, stats.records - records);
        }
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
fn hidden(name: &OsStr) -> bool {
    matches!(name.as_encoded_bytes().first(), Some(b'_' | b'.'))
}

/// Folders a count passes over, by their paths' bytes (as [`Mirror::path_of`] and a listing
/// of their parent write them; hashed as bytes, not component by component).
type Skip<'a> = std::collections::HashSet<&'a [u8], foldhash::fast::RandomState>;

/// (files, bytes) under `dir` but not under the `skip` folders (for the totals: their objects
/// were listed and read by the scan), without holding their names; subfolders in parallel.
fn count(dir: &Path, skip: &Skip<'_>) -> (u64, u64) {
    if skip.contains(dir.as_os_str().as_encoded_bytes()) {
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

/// A listed folder: its visible files, sorted by name, its subfolders, and (on Unix) the
/// handle it was listed through, which its files are opened relative to (`openat`): the
/// kernel does not walk the folder's whole path again for each of them.
struct Listing {
    path: PathBuf,
    files: Vec<OsString>,
    folders: Vec<PathBuf>,
    #[cfg(unix)]
    handle: rustix::fs::Dir,
}

impl Listing {
    #[cfg(unix)]
    fn open(&self, name: &OsStr) -> std::io::Result<std::fs::File> {
        use rustix::fs::{Mode, OFlags};
        let fd = rustix::fs::openat(self.handle.fd()?, name, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())?;
        Ok(std::fs::File::from(fd))
    }

    #[cfg(not(unix))]
    fn open(&self, name: &OsStr) -> std::io::Result<std::fs::File> {
        std::fs::File::open(self.path.join(name))
    }

    fn sorted(mut self) -> Listing {
        self.files.sort_unstable_by(|a, b| a.as_encoded_bytes().cmp(b.as_encoded_bytes()));
        self.folders.sort_unstable();
        self
    }
}

/// What a listing found a name to be: a file is read, a folder listed, anything else left.
#[derive(PartialEq)]
enum Entry {
    File,
    Folder,
    Other,
}

impl Entry {
    fn of(t: std::fs::FileType) -> Entry {
        if t.is_file() {
            Entry::File
        } else if t.is_dir() {
            Entry::Folder
        } else {
            Entry::Other
        }
    }
}

/// `dir`'s visible files and subfolders (no `stat`: the listing gives each name's type, and
/// the read gives a file's size); `None` when it cannot be listed (a projected partition that
/// is not there).
#[cfg(unix)]
fn list(dir: &Path) -> Option<Listing> {
    use rustix::fs::{FileType, Mode, OFlags, CWD};
    use std::os::unix::ffi::OsStrExt as _;
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let mut handle = rustix::fs::Dir::new(rustix::fs::openat(CWD, dir, flags, Mode::empty()).ok()?).ok()?;
    let (mut files, mut folders) = (Vec::new(), Vec::new());
    while let Some(Ok(e)) = handle.read() {
        let name = OsStr::from_bytes(e.file_name().to_bytes());
        // (`.` and `..`, which a listing of its own gives, among them.)
        if hidden(name) {
            continue;
        }
        let entry = match e.file_type() {
            FileType::RegularFile => Entry::File,
            FileType::Directory => Entry::Folder,
            // Some file systems do not say: asked, without following a link (as std's does).
            FileType::Unknown => {
                std::fs::symlink_metadata(dir.join(name)).map_or(Entry::Other, |m| Entry::of(m.file_type()))
            }
            _ => Entry::Other,
        };
        match entry {
            Entry::File => files.push(name.to_os_string()),
            Entry::Folder => folders.push(dir.join(name)),
            Entry::Other => {}
        }
    }
    Some(Listing { path: dir.to_path_buf(), files, folders, handle }.sorted())
}

#[cfg(not(unix))]
fn list(dir: &Path) -> Option<Listing> {
    let (mut files, mut folders) = (Vec::new(), Vec::new());
    for e in std::fs::read_dir(dir).ok()?.flatten() {
        let name = e.file_name();
        if hidden(&name) {
            continue;
        }
        match e.file_type().map_or(Entry::Other, Entry::of) {
            Entry::File => files.push(name),
            Entry::Folder => folders.push(e.path()),
            Entry::Other => {}
        }
    }
    Some(Listing { path: dir.to_path_buf(), files, folders }.sorted())
}

/// A scan worker's buffers, kept from one object to the next: the file's bytes, its
/// decompressed text, and the decoder (each would be an allocation per object).
struct Scratch {
    file: Vec<u8>,
    text: Vec<u8>,
    decoder: libdeflater::Decompressor,
}

/// What a worker's buffers may keep between objects; a larger object's are freed after it.
const SCRATCH_KEPT: usize = 8 * 1024 * 1024;

impl Scratch {
    fn new() -> Scratch {
        Scratch { file: Vec::new(), text: Vec::new(), decoder: libdeflater::Decompressor::new() }
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
    partition: &Partition,
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
            let each = &mut |r: &mut cloudtrail::Record<'_>| visit(acc, Rec::Trail(r), partition);
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
                            visit(acc, Rec::Config(&i), partition);
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
                            visit(acc, Rec::Alb(&l), partition);
                        }
                        None => stats.bad_records += 1,
                    }
                }
            }
            Err(e) => stats.problems.push(problem(format!("not text: {e}"))),
        },
        TableKind::AppLogs | TableKind::Metrics => read_capture(kind, body, partition, acc, visit, stats, problem),
    }
}

/// An object of a Firehose capture: CloudWatch Logs subscription records (one visit per log
/// event of a data record) or metric-stream records, one per line.
fn read_capture<A, V>(
    kind: TableKind,
    body: &[u8],
    partition: &Partition,
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
                    visit(acc, Rec::Log(&r, e), partition);
                }
            }
            Ok(())
        });
    } else {
        read_lines(body, "metric stream records", stats, problem, |line, stats| {
            let p = metrics::parse(line)?;
            stats.records += 1;
            visit(acc, Rec::Metric(&p), partition);
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
    use std::io::Write as _;
    use std::path::Path;
    use std::sync::Arc;

    use super::{EventNames, Folder, Mirror, Rec, SHARED_FOLDER};
    use crate::lake::TableKind;

    /// A gzip CloudTrail object whose records are named `names`.
    fn trail(path: &Path, names: &[String]) {
        let records: Vec<serde_json::Value> = names.iter().map(|n| serde_json::json!({"eventName": n})).collect();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(serde_json::json!({ "Records": records }).to_string().as_bytes()).unwrap();
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, gz.finish().unwrap()).unwrap();
    }

    /// A scan reads a folder whole: every visible object once, its subfolders' after its own,
    /// a crowded folder by every thread, in one stable order; hidden names (a `_SUCCESS`
    /// marker, a `.part` file, a `_temporary` folder) and links are not read, and a projected
    /// folder that is not there is not present.
    #[test]
    fn a_folder_is_read_whole_and_in_order() {
        let tmp = tempfile::tempdir().unwrap();
        let (crowded, small) = (tmp.path().join("b/day=1"), tmp.path().join("b/day=2"));
        let mut want = Vec::new();
        // Names that sort differently as numbers and as bytes.
        for i in (0..SHARED_FOLDER + 36).rev() {
            let names = vec![format!("crowded-{i:03}-a"), format!("crowded-{i:03}-b")];
            trail(&crowded.join(format!("{i:03}.json.gz")), &names);
        }
        want.extend((0..SHARED_FOLDER + 36).flat_map(|i| [format!("crowded-{i:03}-a"), format!("crowded-{i:03}-b")]));
        for name in ["x", "y"] {
            trail(&crowded.join(format!("sub/{name}.json.gz")), &[format!("sub-{name}")]);
            want.push(format!("sub-{name}"));
            trail(&small.join(format!("{name}.json.gz")), &[format!("small-{name}")]);
        }
        want.extend(["small-x".to_string(), "small-y".to_string()]);
        for hidden in ["_SUCCESS", ".part.json.gz", "_temporary/z.json.gz"] {
            trail(&crowded.join(hidden), &["hidden".to_string()]);
        }
        #[cfg(unix)]
        std::os::unix::fs::symlink(crowded.join("000.json.gz"), small.join("link.json.gz")).unwrap();
        let folders: Vec<Folder> = [crowded, small, tmp.path().join("b/day=3")]
            .into_iter()
            .map(|path| Folder { path, partition: Arc::default() })
            .collect();
        let mirror = Mirror::new(tmp.path());
        for _ in 0..3 {
            let (seen, stats) = mirror.scan(
                TableKind::CloudTrail,
                &folders,
                Vec::new,
                |seen: &mut Vec<String>, r, _| {
                    if let Rec::Trail(r) = r {
                        seen.push(r.event_name.as_ref().map(|n| n.as_str().to_string()).unwrap_or_default());
                    }
                },
                |mut a, b| {
                    a.extend(b);
                    a
                },
            );
            assert_eq!(seen, want);
            assert!(stats.problems.is_empty(), "{:?}", stats.problems);
            let objects = (SHARED_FOLDER + 36 + 4) as u64;
            assert_eq!((stats.objects_listed, stats.objects_scanned), (objects, objects));
            assert_eq!((stats.records, stats.partitions_present), (want.len() as u64, 2));
        }
    }

    /// A key's path is the root and the key's segments, whatever the root ends with; a key
    /// that would climb out of the root has none.
    #[test]
    fn a_key_is_found_under_the_root() {
        let sep = std::path::MAIN_SEPARATOR_STR;
        for root in ["m", "m/", "/tmp/m", ""] {
            let mirror = Mirror::new(root);
            let want = Path::new(root).join("b").join("AWSLogs").join("o-1").join("x.json.gz");
            let got = mirror.path_of("s3://b/AWSLogs//o-1/x.json.gz").unwrap();
            assert_eq!(got, want, "{root}");
            assert!(!got.as_os_str().to_string_lossy().contains(&format!("{sep}{sep}")), "{got:?}");
            assert_eq!(mirror.path_of("s3://b/"), Some(Path::new(root).join("b")));
            assert_eq!(mirror.path_of("s3://b/../etc/passwd"), None);
            assert_eq!(mirror.path_of("s3://b/./x"), None);
            assert_eq!(mirror.path_of("b/x"), None);
        }
    }

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
