use clap::Parser;
use shared::telemetry;
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = worker::Config::parse();
    telemetry::init_tracing(config.infra.log_format);
    telemetry::install_crypto_provider();
    let app = worker::Worker::build(config).await?;
    tracing::info!(metrics = %app.metrics_addr()?, "worker started");
    let shutdown = CancellationToken::new();
    let signal = shutdown.clone();
    tokio::spawn(async move {
        telemetry::shutdown_signal().await;
        signal.cancel();
    });
    app.run_until_stopped(shutdown).await
}
