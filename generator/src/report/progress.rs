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
    /// Where the bar is drawn once the scan has run for `quiet` (stderr; a test's terminal).
    target: fn() -> ProgressDrawTarget,
    quiet: Duration,
    objects: AtomicU64,
    done: AtomicU64,
    records: AtomicU64,
    started: Mutex<Instant>,
    shown: AtomicBool,
}

impl ScanBar {
    pub fn new() -> ScanBar {
        ScanBar::drawn_on(ProgressDrawTarget::stderr, QUIET)
    }

    /// A bar drawn on `target` once a scan has run for `quiet`.
    pub fn drawn_on(target: fn() -> ProgressDrawTarget, quiet: Duration) -> ScanBar {
        let style = ProgressStyle::with_template("{bar:24} {bytes}/{total_bytes} {msg} (ETA {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar());
        ScanBar {
            bar: ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::hidden()).with_style(style),
            target,
            quiet,
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
            let late = self.started.lock().map(|t| t.elapsed() >= self.quiet).unwrap_or(false);
            if !late || self.shown.swap(true, Ordering::Relaxed) {
                return;
            }
            self.bar.set_draw_target((self.target)());
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

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use indicatif::TermLike;

    use super::*;

    /// A terminal that keeps what is written to it.
    #[derive(Debug, Default)]
    struct Screen(Mutex<String>);

    static SCREEN: std::sync::OnceLock<Arc<Screen>> = std::sync::OnceLock::new();

    impl TermLike for ArcScreen {
        fn width(&self) -> u16 {
            120
        }
        fn move_cursor_up(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_down(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_right(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_left(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn write_line(&self, s: &str) -> std::io::Result<()> {
            self.0 .0.lock().unwrap().push_str(&format!("{s}\n"));
            Ok(())
        }
        fn write_str(&self, s: &str) -> std::io::Result<()> {
            self.0 .0.lock().unwrap().push_str(s);
            Ok(())
        }
        fn clear_line(&self) -> std::io::Result<()> {
            Ok(())
        }
        fn flush(&self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[derive(Debug)]
    struct ArcScreen(Arc<Screen>);

    fn screen() -> ProgressDrawTarget {
        ProgressDrawTarget::term_like(Box::new(ArcScreen(Arc::clone(SCREEN.get_or_init(Default::default)))))
    }

    /// A scan past the quiet second draws bytes, objects and records; a quick one draws nothing.
    #[test]
    fn a_long_scan_is_drawn_and_a_quick_one_is_not() {
        let shown = || SCREEN.get_or_init(Default::default).0.lock().unwrap().clone();
        let quick = ScanBar::drawn_on(screen, Duration::from_secs(3600));
        quick.begin(3, 3000);
        for _ in 0..3 {
            quick.advance(1000, 10);
        }
        quick.finish();
        assert_eq!(shown(), "", "a quick scan stays quiet");

        let long = ScanBar::drawn_on(screen, Duration::ZERO);
        long.begin(128, 128_000);
        for _ in 0..128 {
            long.advance(1000, 16);
        }
        long.bar.tick();
        let text = shown();
        assert!(text.contains("128/128 objects, 2048 records"), "{text:?}");
        assert!(text.contains("125.00 KiB/125.00 KiB"), "{text:?}");
        long.finish();
    }
}
