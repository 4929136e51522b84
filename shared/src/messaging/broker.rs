use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use lapin::options::BasicPublishOptions;
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};

use super::Topology;
use super::topology::delay_tier_ms;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a message was not confirmed. Every variant means "not persisted": callers must not
/// report success (ingress answers 503, consumers leave the delivery unacked).
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("broker unreachable: {0}")]
    Unreachable(String),
    #[error("broker refused the message (nack)")]
    Nacked,
    #[error("no queue is bound for routing key {0}")]
    Unroutable(String),
    #[error("broker did not confirm within {0:?}")]
    Timeout(Duration),
    #[error("amqp error: {0}")]
    Amqp(#[from] lapin::Error),
    #[error("message could not be encoded: {0}")]
    Encode(String),
}

/// Metadata that follows a message from ingress through worker to notifier, so one order can
/// be traced across the services' logs.
#[derive(Debug, Clone, Default)]
pub struct Headers {
    pub message_id: Option<String>,
    pub correlation_id: Option<String>,
    pub extra: Vec<(String, String)>,
}

impl Headers {
    pub fn with(mut self, key: &str, value: impl Into<String>) -> Self {
        self.extra.push((key.to_owned(), value.into()));
        self
    }

    /// The AMQP properties; ids longer than AMQP's 255-byte short string are refused rather
    /// than left to panic inside the client library.
    fn to_properties(&self) -> Result<BasicProperties, PublishError> {
        let short = |what: &str, id: &str| {
            ShortString::try_new(id)
                .map_err(|_| PublishError::Encode(format!("{what} is longer than 255 bytes")))
        };
        let mut table = FieldTable::default();
        for (k, v) in &self.extra {
            table.insert(
                short("a header name", k)?,
                AMQPValue::LongString(LongString::from(v.as_bytes().to_vec())),
            );
        }
        let mut props = BasicProperties::default()
            .with_delivery_mode(2)
            .with_content_type("application/json".into())
            .with_headers(table);
        if let Some(id) = &self.message_id {
            props = props.with_message_id(short("the message id", id)?);
        }
        if let Some(id) = &self.correlation_id {
            props = props.with_correlation_id(short("the correlation id", id)?);
        }
        Ok(props)
    }
}

#[derive(Clone)]
struct Session {
    connection: Arc<Connection>,
    channel: Channel,
}

impl Session {
    fn is_live(&self) -> bool {
        self.connection.status().connected() && self.channel.status().connected()
    }
}

/// One AMQP connection per process, opened lazily and re-opened after it breaks. Publishing
/// goes through one confirm-mode channel (lapin pipelines concurrent publishes on it); each
/// consumer gets its own channel.
pub struct Broker {
    url: String,
    name: String,
    topology: Topology,
    publish_timeout: Duration,
    session: Mutex<Option<Session>>,
    connecting: tokio::sync::Mutex<()>,
    declared_delays: Mutex<HashSet<String>>,
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker")
            .field("name", &self.name)
            .field("topology", &self.topology)
            .finish()
    }
}

impl Broker {
    pub fn new(url: &str, topology: Topology, name: &str, publish_timeout: Duration) -> Arc<Self> {
        Arc::new(Self {
            url: url.to_owned(),
            name: name.to_owned(),
            topology,
            publish_timeout,
            session: Mutex::new(None),
            connecting: tokio::sync::Mutex::new(()),
            declared_delays: Mutex::new(HashSet::new()),
        })
    }

    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// True while the connection is open; does not try to connect (readiness probes call it).
    pub fn is_connected(&self) -> bool {
        self.current().is_some()
    }

    fn current(&self) -> Option<Session> {
        self.session
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .filter(Session::is_live)
    }

    /// The live session, connecting (and declaring the topology) if there is none.
    async fn session(&self) -> Result<Session, PublishError> {
        if let Some(s) = self.current() {
            return Ok(s);
        }
        let _one_at_a_time = self.connecting.lock().await;
        if let Some(s) = self.current() {
            return Ok(s);
        }
        let stale = self
            .session
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(stale) = stale {
            let _ = stale.connection.close(320, "reconnecting".into()).await;
        }
        let session = tokio::time::timeout(CONNECT_TIMEOUT, self.open())
            .await
            .map_err(|_| {
                PublishError::Unreachable(format!("no connection within {CONNECT_TIMEOUT:?}"))
            })?
            .map_err(|e| PublishError::Unreachable(e.to_string()))?;
        tracing::info!(name = %self.name, "connected to RabbitMQ");
        *self.session.lock().unwrap_or_else(PoisonError::into_inner) = Some(session.clone());
        Ok(session)
    }

    async fn open(&self) -> lapin::Result<Session> {
        let props = ConnectionProperties::default().with_connection_name(self.name.as_str().into());
        let connection = Connection::connect(&self.url, props).await?;
        let channel = connection.create_channel().await?;
        self.topology.declare(&channel).await?;
        channel.confirm_select(Default::default()).await?;
        self.declared_delays
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        Ok(Session {
            connection: Arc::new(connection),
            channel,
        })
    }

    /// Connects now (with the topology declared); services call it at start-up.
    pub async fn ensure_connected(&self) -> Result<(), PublishError> {
        self.session().await.map(|_| ())
    }

    /// A fresh channel on the shared connection, for a consumer.
    pub async fn consumer_channel(&self) -> Result<Channel, PublishError> {
        let session = self.session().await?;
        Ok(session.connection.create_channel().await?)
    }

    /// Publishes and waits for the broker's confirm, within the publish timeout.
    pub async fn publish(
        &self,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
        headers: &Headers,
    ) -> Result<(), PublishError> {
        let attempt = async {
            let properties = headers.to_properties()?;
            let session = self.session().await?;
            let confirm = session
                .channel
                .basic_publish(
                    exchange.into(),
                    routing_key.into(),
                    BasicPublishOptions {
                        mandatory: true,
                        ..Default::default()
                    },
                    body,
                    properties,
                )
                .await?
                .await?;
            if confirm.is_nack() {
                return Err(PublishError::Nacked);
            }
            if confirm.take_message().is_some() {
                return Err(PublishError::Unroutable(routing_key.to_owned()));
            }
            Ok(())
        };
        let result = tokio::time::timeout(self.publish_timeout, attempt)
            .await
            .unwrap_or(Err(PublishError::Timeout(self.publish_timeout)));
        metrics::counter!("kyte_publish_total", "result" => if result.is_ok() { "confirmed" } else { "failed" })
            .increment(1);
        result
    }

    /// Publishes to a work queue (through the main exchange).
    pub async fn publish_to(
        &self,
        queue: &str,
        body: &[u8],
        headers: &Headers,
    ) -> Result<(), PublishError> {
        self.publish(&self.topology.exchange(), queue, body, headers)
            .await
    }

    /// Parks a message in the delay tier for `delay`; the broker moves it back to `queue` when
    /// the tier's TTL runs out.
    pub async fn publish_delayed(
        &self,
        queue: &str,
        delay: Duration,
        body: &[u8],
        headers: &Headers,
    ) -> Result<(), PublishError> {
        let tier = delay_tier_ms(delay);
        let name = Topology::delay_queue(queue, tier);
        let known = self
            .declared_delays
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(&name);
        if !known {
            let session = self.session().await?;
            self.topology
                .declare_delay(&session.channel, queue, tier)
                .await?;
            self.declared_delays
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(name.clone());
        }
        // Delay queues are not bound anywhere: the default exchange routes by queue name.
        self.publish("", &name, body, headers).await
    }

    /// Moves a message to `<queue>.dead` with the reason in its headers.
    pub async fn publish_dead(
        &self,
        queue: &str,
        body: &[u8],
        headers: &Headers,
        reason: &str,
    ) -> Result<(), PublishError> {
        let headers = headers.clone().with("x-dead-reason", reason);
        self.publish(&self.topology.dead_exchange(), queue, body, &headers)
            .await
    }

    /// Closes the connection; in-flight confirms resolve or fail.
    pub async fn close(&self) {
        let session = self
            .session
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(s) = session {
            let _ = s.connection.close(200, "shutting down".into()).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_past_amqps_short_string_are_refused_not_panicked_on() {
        let with_ids = |message: usize, correlation: usize| Headers {
            message_id: Some("m".repeat(message)),
            correlation_id: Some("c".repeat(correlation)),
            extra: vec![("request-id".into(), "r".repeat(10_000))],
        };
        assert!(with_ids(255, 255).to_properties().is_ok());
        for headers in [with_ids(256, 1), with_ids(1, 256)] {
            assert!(matches!(
                headers.to_properties(),
                Err(PublishError::Encode(_))
            ));
        }
    }
}
