//! Work repeated at a fixed interval until shutdown: the workers' and the notifiers' sweeps. A
//! slow round delays the next one rather than letting missed ticks fire in a burst.

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

pub async fn every<F, Fut>(interval: Duration, shutdown: CancellationToken, mut round: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = shutdown.cancelled() => return,
        }
        round().await;
    }
}
