//! kyte-sim, a stand-in Kyte for demos, tests and load:
//! - [`Receiver`]: Kyte's webhook endpoint — verifies each signature, records what arrived and
//!   answers as told (failures, latency, `Retry-After`);
//! - [`KyteClient`] and [`random_order`]: Kyte's side of the API, signed;
//! - [`Scenario`]: the original system's end-to-end scenario, with checks;
//! - [`stack`]: the real binaries as processes; [`bench`]: the benchmark.

pub mod bench;
mod client;
mod orders;
mod receiver;
mod scenario;
pub mod stack;

pub use client::KyteClient;
pub use orders::random_order;
pub use receiver::{Received, Receiver, Reply};
pub use scenario::{Scenario, Step};
