//! Test support: a per-test environment (its own database and `TOPOLOGY_PREFIX` on a real
//! Postgres and RabbitMQ) that starts the real services in-process. Kyte's side of the tests is
//! kyte-sim's library.

pub mod harness;
