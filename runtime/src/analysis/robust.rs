//! Robust outliers: a count against its own baseline by the modified z-score
//! `0.6745 (x - median) / MAD` (Iglewicz and Hoaglin), unusual beyond 3.5. Median and MAD
//! are not dragged by one busy period the way mean and standard deviation are, and need no
//! distribution assumption. A flat baseline (MAD = 0) is unusual at a departure of at least
//! `max(flat_min, median)`. The change summary (months) and failure analysis (minutes)
//! both judge "unusual" here.

/// Modified z-score beyond which a count is unusual.
pub const Z_THRESHOLD: f64 = 3.5;

/// The median of `v` (sorted in place); 0 for none.
pub fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// How far a value is from its baseline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Departure {
    pub median: f64,
    pub mad: f64,
    /// The modified z-score; `None` for a flat baseline.
    pub z: Option<f64>,
    /// The same, rounded to two decimals (as reports show it).
    pub score: Option<f64>,
    pub unusual: bool,
}

/// `x` against `baseline`; a flat baseline needs a departure of at least `max(flat_min,
/// median)`.
pub fn departure(x: f64, baseline: &[f64], flat_min: f64) -> Departure {
    let mut h = baseline.to_vec();
    let med = median(&mut h);
    let mut dev: Vec<f64> = baseline.iter().map(|v| (v - med).abs()).collect();
    let mad = median(&mut dev);
    if mad > 0.0 {
        let z = 0.6745 * (x - med) / mad;
        let score = Some((z * 100.0).round() / 100.0);
        Departure { median: med, mad, z: Some(z), score, unusual: z.abs() > Z_THRESHOLD }
    } else {
        Departure { median: med, mad, z: None, score: None, unusual: (x - med).abs() >= med.max(flat_min) }
    }
}

/// Whether a count rises unusually above its baseline: [`departure`] upwards, and by more than
/// counting noise too — at least `4 √median` (a Poisson count's standard deviation is √mean;
/// with few baseline points the MAD can be far smaller, and a busy service's ordinary errors
/// would start an incident every few minutes).
pub fn unusual_rise(x: f64, baseline: &[f64], flat_min: f64) -> bool {
    let d = departure(x, baseline, flat_min);
    d.unusual && x - d.median >= 4.0 * d.median.max(0.0).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spikes_against_steady_and_flat_baselines() {
        // [9,10,10,11,11,12]: median 10.5, MAD 0.5; z(60) = 0.6745 * 49.5 / 0.5 = 66.78
        let d = departure(60.0, &[9.0, 10.0, 10.0, 11.0, 11.0, 12.0], 5.0);
        assert_eq!((d.median, d.mad, d.score, d.unusual), (10.5, 0.5, Some(66.78), true));
        assert!(!departure(11.0, &[9.0, 10.0, 10.0, 11.0, 11.0, 12.0], 5.0).unusual);
        // flat: 0 → 4 is not unusual at flat_min 5, 0 → 5 is
        assert!(!departure(4.0, &[0.0; 6], 5.0).unusual);
        assert!(departure(5.0, &[0.0; 6], 5.0).unusual);
        // flat at 20: a departure of 20 is needed
        assert!(!departure(39.0, &[20.0; 6], 5.0).unusual);
        assert!(departure(40.0, &[20.0; 6], 5.0).unusual);
        assert_eq!(median(&mut []), 0.0);
    }

    #[test]
    fn a_rise_must_beat_counting_noise() {
        // A busy service: about ten ordinary errors a minute, a small MAD over few minutes.
        let base = [9.0, 11.0, 10.0, 10.0, 12.0, 10.0];
        assert!(departure(17.0, &base, 3.0).unusual, "the modified z-score alone flags noise");
        assert!(!unusual_rise(17.0, &base, 3.0), "17 is within 4√10 of 10");
        assert!(unusual_rise(160.0, &base, 3.0));
        assert!(!unusual_rise(2.0, &base, 3.0), "a fall is not a rise");
        // A quiet one: 0 → 3 rises (flat baseline, flat_min 3).
        assert!(unusual_rise(3.0, &[0.0; 8], 3.0));
    }
}
