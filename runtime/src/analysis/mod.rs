//! Analyses over the lake's rows, independent of the engine that produced them.

pub mod ask;
pub mod change_summary;
pub mod incident;
pub mod insights;
pub mod leftovers;
pub mod robust;
