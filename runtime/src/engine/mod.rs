//! Engines that read the lake. `local` scans a mirror directory of the log buckets; the
//! Athena engine (AWS) runs the same named queries' SQL. Both report what they scanned.

#[cfg(feature = "athena")]
pub mod athena;
#[cfg(feature = "live")]
pub mod cloudwatch;
#[cfg(feature = "cloud-control")]
pub mod confirm;
#[cfg(feature = "live")]
pub mod insights;
pub mod local;
#[cfg(feature = "event-history")]
pub mod lookup;
#[cfg(feature = "live")]
pub mod xray;

use serde::Serialize;

/// An object that could not be read, and why (never fatal to a query).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// `s3://bucket/key` of the object.
    pub key: String,
    pub reason: String,
}

/// What a query read — the local counterpart of Athena's "data scanned".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ScanStats {
    /// Partitions the predicates allowed (projected), and how many exist in the mirror.
    pub partitions_projected: usize,
    pub partitions_present: usize,
    pub objects_scanned: u64,
    /// Bytes of the objects as stored (compressed), which is what Athena bills.
    pub bytes_scanned: u64,
    pub bytes_decompressed: u64,
    /// Objects the scan listed (read or not: some may have been unreadable).
    #[serde(skip)]
    pub objects_listed: u64,
    /// Every object under the table's location, for comparison.
    pub objects_total: u64,
    pub bytes_total: u64,
    pub records: u64,
    /// Records or lines that did not parse (their files were otherwise read).
    pub bad_records: u64,
    /// Objects skipped entirely, with the reason.
    pub problems: Vec<Problem>,
}

impl ScanStats {
    pub fn merge(&mut self, other: ScanStats) {
        self.objects_scanned += other.objects_scanned;
        self.objects_listed += other.objects_listed;
        self.bytes_scanned += other.bytes_scanned;
        self.bytes_decompressed += other.bytes_decompressed;
        self.records += other.records;
        self.bad_records += other.bad_records;
        self.problems.extend(other.problems);
    }
}
