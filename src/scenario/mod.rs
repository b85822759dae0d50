//! Scenario files: TOML model, defaults, validation, profile resolution.

pub mod model;

pub use model::*;
