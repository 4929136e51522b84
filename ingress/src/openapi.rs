//! The OpenAPI document served at `/openapi.json`, generated from the handlers' annotations so
//! it cannot drift from the code.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes::{kyte, ops, staff};

#[derive(OpenApi)]
#[openapi(
    info(title = "kyte-relay ingress", description = "Kyte events in, staff commands in, order queries and operations."),
    paths(
        kyte::post_event, kyte::post_order_alias, kyte::post_cancel_alias,
        staff::list_orders, staff::get_order, staff::patch_order, staff::get_command,
        ops::healthz, ops::readyz, ops::metrics, ops::list_dead_letters, ops::replay_dead_letters,
    ),
    modifiers(&StaffToken),
    tags((name = "kyte", description = "Requests from Kyte, signed with Standard Webhooks"),
         (name = "staff", description = "The kitchen's API, with a bearer token"),
         (name = "ops", description = "Health, metrics and dead letters")),
)]
pub struct ApiDoc;

struct StaffToken;

impl Modify for StaffToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "staff_token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

pub async fn serve() -> axum::response::Response {
    use axum::response::IntoResponse;
    match ApiDoc::openapi().to_json() {
        Ok(json) => (
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            json,
        )
            .into_response(),
        Err(e) => crate::error::ApiError::internal(e).into_response(),
    }
}
