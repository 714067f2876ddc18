//! Analyses over the lake's rows, independent of the engine that produced them.

pub mod leftovers;
