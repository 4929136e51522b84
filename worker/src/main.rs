use clap::Parser;
use shared::telemetry;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = worker::Config::parse();
    telemetry::init_tracing(config.infra.log_format);
    telemetry::install_crypto_provider();
    let app = worker::Worker::build(config).await?;
    tracing::info!(metrics = %app.metrics_addr()?, "worker started");
    app.run_until_stopped(telemetry::shutdown_on_signal()).await
}
