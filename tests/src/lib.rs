//! Test support and kyte-sim, the stand-in Kyte.
//!
//! - [`harness`]: a per-test environment (its own database and `TOPOLOGY_PREFIX` on a real
//!   Postgres and RabbitMQ) that starts the real services in-process;
//! - [`sim`]: Kyte's side — a webhook receiver that verifies signatures and can be told to
//!   fail, and a client that sends signed, realistic orders.

pub mod bench;
pub mod harness;
pub mod sim;
pub mod stack;
