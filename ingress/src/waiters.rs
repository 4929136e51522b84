//! Waiting for a staff command's outcome. The worker's transaction ends with
//! `pg_notify(kyte_command_outcomes, <command id>)`, which Postgres delivers only on commit;
//! one LISTEN connection per ingress wakes the request that waits for that id.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use sqlx::postgres::PgListener;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub const OUTCOME_CHANNEL: &str = "kyte_command_outcomes";

#[derive(Debug, Default)]
pub struct Waiters {
    map: Mutex<HashMap<Uuid, oneshot::Sender<()>>>,
}

impl Waiters {
    /// Registers before the command is published, so an outcome cannot slip past.
    pub fn register(&self, id: Uuid) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        self.map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, tx);
        rx
    }

    pub fn forget(&self, id: &Uuid) {
        self.map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id);
    }

    fn wake(&self, id: &Uuid) {
        let waiter = self
            .map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id);
        if let Some(tx) = waiter {
            let _ = tx.send(());
        }
    }
}

/// Listens until `shutdown`, reconnecting after errors. A notification missed while
/// disconnected only means its request re-reads the database when its wait runs out.
pub async fn listen(pool: sqlx::PgPool, waiters: Arc<Waiters>, shutdown: CancellationToken) {
    loop {
        let session = async {
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.listen(OUTCOME_CHANNEL).await?;
            loop {
                let n = listener.recv().await?;
                if let Ok(id) = n.payload().parse::<Uuid>() {
                    waiters.wake(&id);
                }
            }
            #[allow(unreachable_code)]
            Ok::<(), sqlx::Error>(())
        };
        tokio::select! {
            _ = shutdown.cancelled() => return,
            result = session => {
                if let Err(e) = result {
                    tracing::warn!(error = %e, "command outcome listener lost its connection; reconnecting");
                }
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
    }
}
