//! Postgres over TLS, as managed databases require: the `sslmode` (and `sslrootcert`) of
//! `DATABASE_URL` are honoured by every connection a service opens. And which of Postgres's
//! errors mean "this data can never be stored" rather than "try again".

use kyte_relay_tests::harness::TestEnv;
use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement, TransactionTrait};
use shared::db::refuses_the_data;

fn with_params(url: &str, params: &str) -> String {
    let joiner = if url.contains('?') { '&' } else { '?' };
    format!("{url}{joiner}{params}")
}

async fn scalar_bool(db: &DatabaseConnection, sql: &str) -> bool {
    let row = db
        .query_one_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await
        .expect("query")
        .expect("a row");
    row.try_get_by_index(0).expect("a boolean")
}

async fn server_has_tls(db: &DatabaseConnection) -> bool {
    scalar_bool(db, "SELECT current_setting('ssl') = 'on'").await
}

const THIS_CONNECTION_IS_TLS: &str = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()";

#[tokio::test]
async fn sslmode_in_the_database_url_gives_encrypted_verified_connections() {
    let env = TestEnv::new().await;
    let require = with_params(&env.database_url, "sslmode=require");
    if !server_has_tls(&env.db).await {
        // A server without TLS: asking for it must fail, never fall back to plain text.
        assert!(
            shared::db::connect(&require, 1).await.is_err(),
            "sslmode=require connected to a server without TLS"
        );
        env.cleanup().await;
        return;
    }
    let plain = shared::db::connect(&with_params(&env.database_url, "sslmode=disable"), 1)
        .await
        .expect("plain connection");
    assert!(!scalar_bool(&plain, THIS_CONNECTION_IS_TLS).await);
    let required = shared::db::connect(&require, 1)
        .await
        .expect("connect with sslmode=require");
    assert!(scalar_bool(&required, THIS_CONNECTION_IS_TLS).await);

    // scripts/services.sh signs the server's certificate with a private CA and says where it is.
    let Ok(ca) = std::env::var("KYTE_PG_CA") else {
        for db in [plain, required] {
            let _ = db.close().await;
        }
        env.cleanup().await;
        return;
    };
    assert!(
        shared::db::connect(&with_params(&env.database_url, "sslmode=verify-full"), 1)
            .await
            .is_err(),
        "verify-full trusted a certificate no system root signed"
    );
    let verified = with_params(
        &env.database_url,
        &format!("sslmode=verify-full&sslrootcert={ca}&application_name=kyte-tls-check"),
    );
    let direct = shared::db::connect(&verified, 1)
        .await
        .expect("connect with sslmode=verify-full and the CA");
    assert!(scalar_bool(&direct, THIS_CONNECTION_IS_TLS).await);

    // A whole service on that URL: ready, and every connection it holds is encrypted.
    let ingress = env
        .start_ingress(|c| c.infra.database_url = verified.parse().expect("url"))
        .await;
    let ready = reqwest::get(format!("{}/readyz", ingress.url()))
        .await
        .expect("readyz");
    assert_eq!(ready.status(), StatusCode::OK);
    let (tls, total): (i64, i64) = {
        let row = env
            .db
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                "SELECT count(*) FILTER (WHERE s.ssl), count(*) FROM pg_stat_activity a \
                 JOIN pg_stat_ssl s USING (pid) WHERE a.application_name = 'kyte-tls-check' \
                 AND a.pid <> (SELECT pg_backend_pid())",
            ))
            .await
            .expect("query")
            .expect("a row");
        (
            row.try_get_by_index(0).expect("n"),
            row.try_get_by_index(1).expect("n"),
        )
    };
    assert!(total >= 2, "the direct connection and ingress's: {total}");
    assert_eq!(tls, total, "every connection is TLS");
    ingress.stop().await.expect("clean stop");
    for db in [plain, required, direct] {
        let _ = db.close().await;
    }
    env.cleanup().await;
}

#[tokio::test]
async fn data_postgres_refuses_is_told_apart_from_every_other_failure() {
    let env = TestEnv::new().await;
    let nul = env
        .db
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT $1::text",
            ["a\u{0}b".into()],
        ))
        .await
        .expect_err("Postgres cannot store a NUL");
    assert!(refuses_the_data(&nul), "{nul}");
    let overflow = env
        .db
        .execute_unprepared("SELECT 32768::smallint")
        .await
        .expect_err("out of range");
    assert!(refuses_the_data(&overflow), "{overflow}");
    // Not the data's fault: a retry (after a migration, a restart) may well succeed.
    let missing = env
        .db
        .execute_unprepared("SELECT * FROM no_such_table")
        .await
        .expect_err("no such table");
    assert!(!refuses_the_data(&missing), "{missing}");
    let txn = env.db.begin().await.expect("begin");
    txn.execute_unprepared("SET LOCAL statement_timeout = 10")
        .await
        .expect("set");
    let timed_out = txn
        .execute_unprepared("SELECT pg_sleep(5)")
        .await
        .expect_err("cancelled by the statement time-out");
    assert!(!refuses_the_data(&timed_out), "{timed_out}");
    txn.rollback().await.expect("rollback");
    env.cleanup().await;
}
