use std::time::Duration;

use lapin::options::{
    ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{Channel, ExchangeKind};

/// Delay tiers for retries: 100 ms doubling up to ~1.8 h. Each tier is its own queue with one
/// TTL, so messages in it expire in arrival order and a long wait never holds back a short one.
pub const DELAY_TIERS_MS: [u64; 17] = {
    let mut tiers = [0u64; 17];
    let mut i = 0;
    while i < 17 {
        tiers[i] = 100 << i;
        i += 1;
    }
    tiers
};

/// The smallest tier at least as long as `delay` (never earlier than asked, e.g. for
/// `Retry-After`), or the longest tier.
pub fn delay_tier_ms(delay: Duration) -> u64 {
    let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
    DELAY_TIERS_MS
        .into_iter()
        .find(|t| *t >= ms)
        .unwrap_or(DELAY_TIERS_MS[16])
}

/// Every exchange and queue name, under `TOPOLOGY_PREFIX` so deployments and tests can share a
/// broker.
#[derive(Debug, Clone)]
pub struct Topology {
    prefix: String,
}

impl Topology {
    pub fn new(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
        }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Direct exchange every message is published to; queues are bound by their own name.
    pub fn exchange(&self) -> String {
        format!("{}kyte-relay", self.prefix)
    }

    /// Where the broker and the consumers dead-letter; routed by the source queue's name.
    pub fn dead_exchange(&self) -> String {
        format!("{}kyte-relay.dead", self.prefix)
    }

    /// Kyte events and staff commands, consumed by the workers.
    pub fn worker_queue(&self) -> String {
        format!("{}worker.inbox", self.prefix)
    }

    /// Webhooks to deliver, consumed by the notifiers.
    pub fn notifier_queue(&self) -> String {
        format!("{}notifier.deliveries", self.prefix)
    }

    pub fn main_queues(&self) -> [String; 2] {
        [self.worker_queue(), self.notifier_queue()]
    }

    pub fn dead_queue(queue: &str) -> String {
        format!("{queue}.dead")
    }

    pub fn delay_queue(queue: &str, tier_ms: u64) -> String {
        format!("{queue}.delay.{tier_ms}ms")
    }

    /// Declares exchanges, work queues and dead-letter queues. Idempotent: every service calls
    /// it at start-up and after each reconnect, so any start order works.
    pub async fn declare(&self, channel: &Channel) -> lapin::Result<()> {
        for exchange in [self.exchange(), self.dead_exchange()] {
            channel
                .exchange_declare(
                    exchange.into(),
                    ExchangeKind::Direct,
                    ExchangeDeclareOptions {
                        durable: true,
                        ..Default::default()
                    },
                    FieldTable::default(),
                )
                .await?;
        }
        for queue in self.main_queues() {
            let dead = Self::dead_queue(&queue);
            declare_queue(channel, &dead, quorum()).await?;
            bind(channel, &dead, &self.dead_exchange(), &queue).await?;

            let mut args = quorum();
            // Rejected or too-often-redelivered messages go to `<queue>.dead`, never dropped.
            args.insert("x-dead-letter-exchange".into(), long(&self.dead_exchange()));
            // At-least-once dead-lettering: the broker keeps a message until the dead-letter
            // queue confirmed it (needs reject-publish overflow).
            args.insert("x-dead-letter-strategy".into(), long("at-least-once"));
            args.insert("x-overflow".into(), long("reject-publish"));
            // A message that crashes its consumer again and again is poison: after this many
            // deliveries the broker dead-letters it instead of redelivering forever.
            args.insert("x-delivery-limit".into(), AMQPValue::LongInt(20));
            declare_queue(channel, &queue, args).await?;
            bind(channel, &queue, &self.exchange(), &queue).await?;
        }
        Ok(())
    }

    /// Declares one delay tier of `queue`: messages wait `tier_ms`, then the broker
    /// dead-letters them back to `queue` through the main exchange.
    pub async fn declare_delay(
        &self,
        channel: &Channel,
        queue: &str,
        tier_ms: u64,
    ) -> lapin::Result<String> {
        let name = Self::delay_queue(queue, tier_ms);
        let mut args = quorum();
        args.insert(
            "x-message-ttl".into(),
            AMQPValue::LongLongInt(i64::try_from(tier_ms).unwrap_or(i64::MAX)),
        );
        args.insert("x-dead-letter-exchange".into(), long(&self.exchange()));
        args.insert("x-dead-letter-routing-key".into(), long(queue));
        args.insert("x-dead-letter-strategy".into(), long("at-least-once"));
        args.insert("x-overflow".into(), long("reject-publish"));
        declare_queue(channel, &name, args).await?;
        Ok(name)
    }

    /// Removes everything [`declare`](Self::declare) and the delay tiers made; tests use it to
    /// leave a shared broker as they found it.
    pub async fn delete(&self, channel: &Channel) -> lapin::Result<()> {
        for queue in self.main_queues() {
            let mut names = vec![queue.clone(), Self::dead_queue(&queue)];
            names.extend(DELAY_TIERS_MS.iter().map(|t| Self::delay_queue(&queue, *t)));
            for name in names {
                channel
                    .queue_delete(name.into(), QueueDeleteOptions::default())
                    .await?;
            }
        }
        for exchange in [self.exchange(), self.dead_exchange()] {
            channel
                .exchange_delete(exchange.into(), Default::default())
                .await?;
        }
        Ok(())
    }
}

/// Quorum queues are replicated and fsync'd: what the broker confirmed survives its restart.
fn quorum() -> FieldTable {
    let mut args = FieldTable::default();
    args.insert("x-queue-type".into(), long("quorum"));
    args
}

fn long(s: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(s.as_bytes().to_vec()))
}

async fn declare_queue(channel: &Channel, name: &str, args: FieldTable) -> lapin::Result<()> {
    channel
        .queue_declare(
            ShortString::from(name),
            QueueDeclareOptions {
                durable: true,
                ..Default::default()
            },
            args,
        )
        .await
        .map(|_| ())
}

async fn bind(channel: &Channel, queue: &str, exchange: &str, key: &str) -> lapin::Result<()> {
    channel
        .queue_bind(
            queue.into(),
            exchange.into(),
            key.into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_tiers_never_round_a_delay_down() {
        assert_eq!(delay_tier_ms(Duration::ZERO), 100);
        assert_eq!(delay_tier_ms(Duration::from_millis(100)), 100);
        assert_eq!(delay_tier_ms(Duration::from_millis(101)), 200);
        assert_eq!(delay_tier_ms(Duration::from_secs(3)), 3200);
        assert_eq!(
            delay_tier_ms(Duration::from_secs(100_000)),
            DELAY_TIERS_MS[16]
        );
    }

    #[test]
    fn every_name_carries_the_prefix() {
        let t = Topology::new("t42.");
        for name in [
            t.exchange(),
            t.dead_exchange(),
            t.worker_queue(),
            t.notifier_queue(),
        ] {
            assert!(name.starts_with("t42."), "{name}");
        }
        assert_eq!(
            Topology::delay_queue(&t.notifier_queue(), 800),
            "t42.notifier.deliveries.delay.800ms"
        );
    }
}
