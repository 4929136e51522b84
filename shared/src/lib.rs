//! What ingress, worker and notifier share. `domain` is pure; the other modules are the edges
//! (wire messages, RabbitMQ, Postgres, configuration, telemetry, webhook signatures).

pub mod config;
pub mod db;
pub mod dead_letters;
pub mod domain;
pub mod messages;
pub mod messaging;
pub mod periodic;
pub mod signing;
pub mod telemetry;
