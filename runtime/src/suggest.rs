//! "Did you mean …?" for every message that rejects a name: spec keys and values, query
//! names, regions.

/// The candidate closest to `word` (Jaro-Winkler above 0.8, case-insensitive), if any. On a tie
/// the earlier candidate wins (`us-east-l` → `us-east-1`, not `us-east-2`).
pub fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let mut best: Option<(f64, &str)> = None;
    for c in candidates {
        let score = strsim::jaro_winkler(&word.to_ascii_lowercase(), &c.to_ascii_lowercase());
        if score > 0.8 && best.is_none_or(|(b, _)| score > b) {
            best = Some((score, c));
        }
    }
    best.map(|(_, c)| c)
}
