//! A progress bar on stderr for scans of a mirror: bytes read of the total, objects, records
//! and the time left. Drawn only at a terminal, and only once a scan has run for a second
//! (a quick query stays quiet); cleared when the scan ends.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use opslake_runtime::engine::local::ScanProgress;

/// Scans shorter than this draw nothing.
const QUIET: Duration = Duration::from_secs(1);

pub struct ScanBar {
    bar: ProgressBar,
    objects: AtomicU64,
    done: AtomicU64,
    records: AtomicU64,
    started: Mutex<Instant>,
    shown: AtomicBool,
}

impl ScanBar {
    pub fn new() -> ScanBar {
        let style = ProgressStyle::with_template("{bar:24} {bytes}/{total_bytes} {msg} (ETA {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar());
        ScanBar {
            bar: ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::hidden()).with_style(style),
            objects: AtomicU64::new(0),
            done: AtomicU64::new(0),
            records: AtomicU64::new(0),
            started: Mutex::new(Instant::now()),
            shown: AtomicBool::new(false),
        }
    }
}

impl Default for ScanBar {
    fn default() -> Self {
        ScanBar::new()
    }
}

impl ScanProgress for ScanBar {
    fn begin(&self, objects: u64, bytes: u64) {
        self.bar.set_draw_target(ProgressDrawTarget::hidden());
        self.bar.reset();
        self.bar.set_length(bytes);
        self.objects.store(objects, Ordering::Relaxed);
        self.done.store(0, Ordering::Relaxed);
        self.records.store(0, Ordering::Relaxed);
        self.shown.store(false, Ordering::Relaxed);
        if let Ok(mut t) = self.started.lock() {
            *t = Instant::now();
        }
    }

    fn advance(&self, bytes: u64, records: u64) {
        self.bar.inc(bytes);
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        let records = self.records.fetch_add(records, Ordering::Relaxed) + records;
        if !self.shown.load(Ordering::Relaxed) {
            let late = self.started.lock().map(|t| t.elapsed() >= QUIET).unwrap_or(false);
            if !late || self.shown.swap(true, Ordering::Relaxed) {
                return;
            }
            self.bar.set_draw_target(ProgressDrawTarget::stderr());
        }
        if done.is_multiple_of(64) || done == self.objects.load(Ordering::Relaxed) {
            let objects = self.objects.load(Ordering::Relaxed);
            self.bar.set_message(format!("{done}/{objects} objects, {records} records"));
        }
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
