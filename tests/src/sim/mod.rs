//! Kyte's side of the system, for demos, tests and load.

mod client;
mod orders;
mod receiver;

pub use client::KyteClient;
pub use orders::random_order;
pub use receiver::{Received, Receiver, Reply};
