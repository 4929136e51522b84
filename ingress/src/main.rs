use clap::Parser;
use shared::telemetry;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = ingress::Config::parse();
    telemetry::init_tracing(config.infra.log_format);
    telemetry::install_crypto_provider();
    let app = ingress::Ingress::build(config).await?;
    tracing::info!(addr = %app.local_addr()?, "ingress listening");
    app.run_until_stopped(telemetry::shutdown_on_signal()).await
}
