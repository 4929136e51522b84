use clap::Parser;
use notifier::{Cli, Command, DeadLetterCommand};
use shared::dead_letters::{self, Scope};
use shared::telemetry;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    telemetry::init_tracing(cli.config.infra.log_format);
    telemetry::install_crypto_provider();
    match cli.command {
        None => serve(cli.config).await,
        Some(Command::DeadLetters(DeadLetterCommand::List)) => {
            let (db, _) = cli.config.infra.connect("notifier-cli").await?;
            for dead in dead_letters::list(&db).await? {
                println!("{}", serde_json::to_string(&dead)?);
            }
            Ok(())
        }
        Some(Command::DeadLetters(DeadLetterCommand::Replay(args))) => {
            let scope = match (args.order, args.all) {
                (Some(order), _) => Scope::Order(order),
                (None, true) => Scope::All,
                (None, false) => {
                    anyhow::bail!("say which dead letters to replay: --order ID or --all")
                }
            };
            let (db, broker) = cli.config.infra.connect("notifier-cli").await?;
            let replayed = dead_letters::replay(&db, &broker, scope).await?;
            broker.close().await;
            println!("{}", serde_json::json!({ "replayed": replayed }));
            Ok(())
        }
    }
}

async fn serve(config: notifier::Config) -> anyhow::Result<()> {
    let app = notifier::Notifier::build(config).await?;
    tracing::info!(metrics = %app.metrics_addr()?, "notifier started");
    app.run_until_stopped(telemetry::shutdown_on_signal()).await
}
