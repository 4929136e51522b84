//! Integration tests against a real RabbitMQ and Postgres; one binary keeps link time down.

mod console;
mod database;
mod e2e;
mod helpers;
mod ingress;
mod messaging;
mod notifier;
mod worker;
