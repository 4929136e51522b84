//! RabbitMQ: the topology, a confirmed publisher that reconnects, and a consumer loop that maps
//! a handler's [`Outcome`] to acks, delayed retries and dead letters.

mod broker;
mod consumer;
mod deliveries;
mod topology;

pub use broker::{Broker, Headers, PublishError};
pub use consumer::{Incoming, Outcome, consume};
pub use deliveries::queue_delivery;
pub use topology::{DELAY_TIERS_MS, Topology, delay_tier_ms};
