use clap::Parser;
use shared::telemetry;
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = ingress::Config::parse();
    telemetry::init_tracing(config.infra.log_format);
    telemetry::install_crypto_provider();
    let app = ingress::Ingress::build(config).await?;
    tracing::info!(addr = %app.local_addr()?, "ingress listening");
    let shutdown = CancellationToken::new();
    let signal = shutdown.clone();
    tokio::spawn(async move {
        telemetry::shutdown_signal().await;
        signal.cancel();
    });
    app.run_until_stopped(shutdown).await
}
