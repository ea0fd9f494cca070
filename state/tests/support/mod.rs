//! Test support shared by the state crate's integration tests.

pub mod moto;
