use sea_orm_migration::async_trait::async_trait;
use sea_orm_migration::prelude::*;

pub struct Migrator;

#[async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(Initial)]
    }
}

/// The first schema. Written as SQL rather than the builder because partial indexes and
/// JSONB defaults read more plainly so, and Postgres is the only backend.
struct Initial;

impl MigrationName for Initial {
    fn name(&self) -> &str {
        "m20261203_000001_initial"
    }
}

#[async_trait]
impl MigrationTrait for Initial {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(INITIAL)
            .await
            .map(|_| ())
    }
}

const INITIAL: &str = r#"
-- One row per order; `seq` orders the list newest first with a cursor that stays stable
-- while orders are inserted; the details Kyte sent are kept whole as JSONB.
CREATE TABLE orders (
    id                 TEXT PRIMARY KEY,
    seq                BIGSERIAL NOT NULL UNIQUE,
    status             TEXT NOT NULL,
    version            INTEGER NOT NULL,
    details            JSONB NOT NULL,
    estimated_ready_at TIMESTAMPTZ,
    created_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at         TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX orders_status_seq ON orders (status, seq DESC);
-- The acceptance-deadline sweep reads only pending orders.
CREATE INDEX orders_pending_created ON orders (created_at) WHERE status = 'pending';

-- Applied changes, one per version; the primary key makes a duplicate version impossible.
CREATE TABLE order_history (
    order_id    TEXT NOT NULL REFERENCES orders (id),
    sequence    INTEGER NOT NULL,
    event       TEXT NOT NULL,
    from_status TEXT,
    to_status   TEXT NOT NULL,
    actor       TEXT NOT NULL,
    reason      TEXT,
    at          TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (order_id, sequence)
);

-- Kyte events the state machine refused: recorded, never applied.
CREATE TABLE refused_events (
    id       BIGSERIAL PRIMARY KEY,
    order_id TEXT NOT NULL,
    event    TEXT NOT NULL,
    event_id TEXT NOT NULL,
    reason   TEXT NOT NULL,
    at       TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX refused_events_order ON refused_events (order_id);

-- Every message applied once: a redelivered or re-sent message finds its key here.
CREATE TABLE processed_messages (
    key          TEXT PRIMARY KEY,
    processed_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Kyte cancellations that arrived before their order; applied when the order arrives.
CREATE TABLE pending_cancellations (
    order_id    TEXT PRIMARY KEY,
    event_id    TEXT NOT NULL,
    reason      TEXT,
    received_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Staff commands: written `queued` by ingress, completed by the worker.
CREATE TABLE staff_commands (
    id           UUID PRIMARY KEY,
    order_id     TEXT NOT NULL,
    actor        TEXT NOT NULL,
    change       JSONB NOT NULL,
    status       TEXT NOT NULL,
    error        JSONB,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    completed_at TIMESTAMPTZ
);

-- The transactional outbox and the notifier's delivery state in one table.
CREATE TABLE notifications (
    id               TEXT PRIMARY KEY,
    order_id         TEXT NOT NULL REFERENCES orders (id),
    sequence         INTEGER NOT NULL,
    type             TEXT NOT NULL,
    payload          JSONB NOT NULL,
    state            TEXT NOT NULL DEFAULT 'pending',
    attempts         INTEGER NOT NULL DEFAULT 0,
    last_status_code INTEGER,
    last_error       TEXT,
    first_attempt_at TIMESTAMPTZ,
    next_attempt_at  TIMESTAMPTZ,
    lease_until      TIMESTAMPTZ,
    published_at     TIMESTAMPTZ,
    delivered_at     TIMESTAMPTZ,
    dead_at          TIMESTAMPTZ,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (order_id, sequence)
);
CREATE INDEX notifications_unpublished ON notifications (created_at) WHERE published_at IS NULL;
CREATE INDEX notifications_open ON notifications (order_id, sequence) WHERE state IN ('pending', 'retrying');
CREATE INDEX notifications_dead ON notifications (dead_at) WHERE state = 'dead';

-- Every delivery attempt, for operators asking "what did Kyte answer?".
CREATE TABLE notification_attempts (
    notification_id  TEXT NOT NULL REFERENCES notifications (id),
    attempt          INTEGER NOT NULL,
    at               TIMESTAMPTZ NOT NULL,
    status_code      INTEGER,
    error            TEXT,
    duration_ms      INTEGER NOT NULL,
    response_excerpt TEXT,
    PRIMARY KEY (notification_id, attempt)
);
"#;
