//! Kyte's side of the system, for demos, tests and load.

mod client;
mod orders;
mod receiver;
mod scenario;

pub use client::KyteClient;
pub use orders::random_order;
pub use receiver::{Received, Receiver, Reply};
pub use scenario::{Scenario, Step};
