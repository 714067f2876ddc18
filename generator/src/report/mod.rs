//! Reporters: what the commands print for people, apart from the data they print it from. A
//! reporter formats; it computes nothing (the analyses' own reports live in
//! `opslake_runtime::report`, shared with the functions).

pub mod answer;
pub mod ask;
pub mod deploy;
pub mod doctor;
pub mod progress;
pub mod table;
