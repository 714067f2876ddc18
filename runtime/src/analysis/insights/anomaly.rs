//! Anomaly scores per series of window values: a random cut forest per series, with the
//! anchor's settings (100 trees, sample size 256, shingle 20), from `krcf` (a Rust port of
//! AWS's random-cut-forest-by-aws) behind the small [`Detector`] trait.
//!
//! A forest scores each window's value against the shingles it has sampled, then learns it;
//! it says nothing for its first [`WARMUP`] windows. A window is an anomaly when its
//! score reaches [`THRESHOLD`]; as a burst stays inside the shingle for 20 windows, one
//! episode (consecutive windows above the threshold) is reported once, at its first window.
//! The forests are serializable, so the live function keeps them between invocations (in S3:
//! some megabytes each), and seeded, so a run is repeatable.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use rayon::prelude::*;

use super::{dense, first_key, Window};

pub const TREES: usize = 100;
pub const SAMPLE: usize = 256;
pub const SHINGLE: usize = 20;
/// The seed of the command line's and the function's forests.
pub const SEED: u64 = 2015;
/// The windows a forest sees before it scores (the pinned library's: its shingle filled, then
/// its output threshold of a quarter of its sample, then a shingle more).
pub const WARMUP: usize = 104;
/// The score from which a window is an anomaly. Forests over steady or noisy activity score
/// below 1.5 (see the tests); a burst several times the usual level scores 3 and more.
pub const THRESHOLD: f64 = 2.5;

/// One series' detector: how unusual a value is given what came before, then learns it.
pub trait Detector {
    /// `None` while the detector has not seen enough to say.
    fn score_then_learn(&mut self, value: f64) -> Option<f64>;
}

/// A random cut forest over one series.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Forest(krcf::RandomCutForest);

impl Forest {
    pub fn new(seed: u64) -> Forest {
        let options = krcf::RandomCutForestOptions {
            dimensions: 1,
            shingle_size: SHINGLE,
            num_trees: Some(TREES),
            sample_size: Some(SAMPLE),
            random_seed: Some(seed),
            internal_shingling: Some(true),
            // One thread: the same seed gives the same forest.
            parallel_execution_enabled: Some(false),
            ..Default::default()
        };
        // The options are constants that the library accepts (a test builds them).
        Forest(krcf::RandomCutForest::new(options).unwrap_or_else(|e| unreachable!("forest options: {e:?}")))
    }
}

impl Detector for Forest {
    fn score_then_learn(&mut self, value: f64) -> Option<f64> {
        let point = [value as f32];
        let score = if self.0.is_output_ready() { self.0.score(&point).ok() } else { None };
        // An update fails only for a point of the wrong dimension, which this one is not.
        let _ = self.0.update(&point);
        score
    }
}

/// The series scored, each from a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Series {
    Total,
    Errors,
    AccessDenied,
    SignInFailures,
    Root,
}

impl Series {
    pub const ALL: [Series; 5] =
        [Series::Total, Series::Errors, Series::AccessDenied, Series::SignInFailures, Series::Root];

    pub fn name(self) -> &'static str {
        match self {
            Series::Total => "total",
            Series::Errors => "errors",
            Series::AccessDenied => "access_denied",
            Series::SignInFailures => "signin_failures",
            Series::Root => "root",
        }
    }

    pub fn value(self, w: &Window) -> u64 {
        match self {
            Series::Total => w.total,
            Series::Errors => w.error_count(),
            Series::AccessDenied => w.denied_count(),
            Series::SignInFailures => w.signins.failure,
            Series::Root => w.root,
        }
    }

    /// What stands out in the window for this series: the top API of all calls, the top error
    /// code, the principal refused most, the source IP of most failed sign-ins, of most of
    /// root's calls.
    pub fn key(self, w: &Window) -> Option<String> {
        let m = match self {
            Series::Total => &w.by_api,
            Series::Errors => &w.errors,
            Series::AccessDenied => &w.access_denied,
            Series::SignInFailures => &w.signin_failure_ips,
            Series::Root => &w.root_ips,
        };
        first_key(m).map(|(k, _)| k.to_string())
    }
}

/// A window whose series scored at or above [`THRESHOLD`], at the start of its episode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Anomaly {
    pub start: String,
    pub series: Series,
    pub key: Option<String>,
    pub score: f64,
    /// The series' value in that window.
    pub value: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Track<D> {
    series: Series,
    detector: D,
    /// Inside an episode: the last window scored at or above the threshold.
    above: bool,
}

/// One detector per series, fed window after window.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Scorer<D = Forest> {
    tracks: Vec<Track<D>>,
}

impl Scorer<Forest> {
    /// A forest per series, seeded from `seed`.
    pub fn new(seed: u64) -> Scorer<Forest> {
        Scorer::with(|i, _| Forest::new(seed.wrapping_add(i as u64)))
    }
}

impl<D: Detector> Scorer<D> {
    /// A detector per series from `make(index, series)`.
    pub fn with(mut make: impl FnMut(usize, Series) -> D) -> Scorer<D> {
        let tracks = Series::ALL
            .iter()
            .enumerate()
            .map(|(i, &series)| Track { series, detector: make(i, series), above: false })
            .collect();
        Scorer { tracks }
    }

    /// Scores one window (the next in time) and learns it.
    pub fn window(&mut self, w: &Window) -> Vec<Anomaly> {
        self.tracks.iter_mut().filter_map(|t| t.step(w)).collect()
    }
}

impl<D: Detector + Send> Scorer<D> {
    /// Scores every window of `[from, to)` in order, `width` seconds each; `windows` holds
    /// those that saw a call (in time order), every other window counts as none. The series
    /// are independent: each is scored on its own thread.
    pub fn range(&mut self, windows: &[Window], from: Timestamp, to: Timestamp, width: i64) -> Vec<Anomaly> {
        let dense = dense(windows, from, to, width);
        let mut found: Vec<(usize, usize, Anomaly)> = self
            .tracks
            .par_iter_mut()
            .enumerate()
            .flat_map_iter(|(ti, t)| {
                let found: Vec<(usize, usize, Anomaly)> =
                    dense.iter().enumerate().filter_map(|(di, w)| Some((di, ti, t.step(w)?))).collect();
                found
            })
            .collect();
        // In time order, and within a window in the series' order, as `window` gives them.
        found.sort_by_key(|(di, ti, _)| (*di, *ti));
        found.into_iter().map(|(_, _, a)| a).collect()
    }
}

impl<D: Detector> Track<D> {
    /// Scores the next window and learns it: the anomaly at the start of an episode.
    fn step(&mut self, w: &Window) -> Option<Anomaly> {
        let value = self.series.value(w);
        let score = self.detector.score_then_learn(value as f64);
        let above = score.is_some_and(|s| s >= THRESHOLD);
        let starts = above && !self.above;
        self.above = above;
        starts.then(|| Anomaly {
            start: w.start.clone(),
            series: self.series,
            key: self.series.key(w),
            score: score.unwrap_or_default(),
            value,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::insights::text;

    /// Steady activity with noise: a deterministic stand-in for Poisson counts around `mean`.
    fn noise(i: u64, mean: u64) -> u64 {
        let x = i.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407) >> 33;
        mean - mean / 4 + x % (mean / 2 + 1)
    }

    fn window(i: u64, total: u64, denied: u64) -> Window {
        let t = Timestamp::from_second(1_750_000_000 + 60 * i as i64).unwrap();
        let mut w = Window { start: text(t), total, ..Window::default() };
        if denied > 0 {
            w.access_denied.insert("arn:aws:iam::111111111111:user/mallory".into(), denied);
            w.errors.insert("AccessDenied".into(), denied);
        }
        w
    }

    #[test]
    fn a_burst_is_one_anomaly_and_noise_is_none() {
        let mut scorer = Scorer::new(7);
        let mut found = Vec::new();
        for i in 0..600 {
            let denied = if (400..403).contains(&i) { 150 } else { 0 };
            found.extend(scorer.window(&window(i, noise(i, 60) + denied, denied)));
        }
        let got: Vec<(&str, Series, Option<&str>)> =
            found.iter().map(|a| (a.start.as_str(), a.series, a.key.as_deref())).collect();
        let burst = text(Timestamp::from_second(1_750_000_000 + 60 * 400).unwrap());
        assert_eq!(
            got,
            [
                (burst.as_str(), Series::Total, None),
                (burst.as_str(), Series::Errors, Some("AccessDenied")),
                (burst.as_str(), Series::AccessDenied, Some("arn:aws:iam::111111111111:user/mallory")),
            ],
            "{found:#?}"
        );
        assert!(found.iter().all(|a| a.score >= THRESHOLD));
    }

    #[test]
    fn steady_and_noisy_activity_scores_well_below_the_threshold() {
        for (mean, seed) in [(5, 1), (60, 2), (2000, 3)] {
            let mut f = Forest::new(seed);
            let scores: Vec<f64> = (0..1000).filter_map(|i| f.score_then_learn(noise(i, mean) as f64)).collect();
            assert_eq!(scores.len(), 1000 - WARMUP, "silent until it has seen enough");
            let max = scores.iter().copied().fold(0.0, f64::max);
            assert!(max < 1.5, "mean {mean}: a score of {max}");
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_scores_and_the_state_survives_a_round_trip() {
        let series: Vec<Window> = (0..200).map(|i| window(i, noise(i, 40), u64::from(i == 150) * 90)).collect();
        let run = |scorer: &mut Scorer| series.iter().flat_map(|w| scorer.window(w)).collect::<Vec<_>>();
        let (mut a, mut b) = (Scorer::new(3), Scorer::new(3));
        let first = run(&mut a);
        assert!(first.iter().any(|x| x.series == Series::AccessDenied), "{first:#?}");
        assert_eq!(first, run(&mut b));
        // Kept and restored (as the function does between invocations), it goes on the same.
        let mut restored: Scorer = serde_json::from_slice(&serde_json::to_vec(&a).unwrap()).unwrap();
        let next = window(200, 300, 0);
        let (once, again) = (restored.window(&next), a.window(&next));
        assert!(!once.is_empty());
        assert_eq!(once, again);
    }

    #[test]
    fn empty_windows_of_the_range_count_as_none() {
        struct Record(Vec<f64>);
        impl Detector for Record {
            fn score_then_learn(&mut self, value: f64) -> Option<f64> {
                self.0.push(value);
                None
            }
        }
        let mut scorer = Scorer::with(|_, _| Record(Vec::new()));
        let from = Timestamp::from_second(1_750_000_000 - 1_750_000_000 % 60).unwrap();
        let w = Window { start: text(from + jiff::SignedDuration::from_secs(120)), total: 5, ..Window::default() };
        scorer.range(&[w], from, from + jiff::SignedDuration::from_secs(240), 60);
        assert_eq!(scorer.tracks[0].detector.0, [0.0, 0.0, 5.0, 0.0]);
    }
}
