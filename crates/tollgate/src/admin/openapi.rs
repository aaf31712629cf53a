//! `/api/openapi.json`, generated from the command list and the Rust types, so it cannot
//! drift from what the server accepts.

use std::sync::OnceLock;

use axum::Json;
use axum::http::header;
use axum::response::IntoResponse;
use tollgate_core::ErrorBody;
use tollgate_core::console::command::{self, Command, CommandVisitor};
use utoipa::openapi::path::{HttpMethod, OperationBuilder, PathItem, PathsBuilder};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, InfoBuilder, OpenApi, OpenApiBuilder, Ref, RefOr, Required, ResponseBuilder,
    Schema,
};
use utoipa::{PartialSchema, ToSchema};

struct Collect {
    paths: PathsBuilder,
    components: ComponentsBuilder,
}

fn json_content(schema: impl Into<RefOr<Schema>>) -> utoipa::openapi::Content {
    ContentBuilder::new().schema(Some(schema)).build()
}

impl CommandVisitor for Collect {
    fn visit<C: Command>(&mut self) {
        let mut schemas =
            vec![(C::name().into_owned(), C::schema()), (C::Output::name().into_owned(), C::Output::schema())];
        C::schemas(&mut schemas);
        <C::Output as ToSchema>::schemas(&mut schemas);
        let components = std::mem::take(&mut self.components);
        self.components = components.schemas_from_iter(schemas);
        let error = || json_content(Ref::from_schema_name("ErrorBody"));
        let operation = OperationBuilder::new()
            .operation_id(Some(C::NAME))
            .summary(Some(C::SUMMARY))
            .tag(C::NAME.split('.').next().unwrap_or(C::NAME))
            .request_body(Some(
                RequestBodyBuilder::new()
                    .content("application/json", json_content(Ref::from_schema_name(C::name())))
                    .required(Some(Required::True))
                    .build(),
            ))
            .response(
                "200",
                ResponseBuilder::new()
                    .description("Done")
                    .content("application/json", json_content(Ref::from_schema_name(C::Output::name()))),
            )
            .response(
                "401",
                ResponseBuilder::new().description("Missing or wrong admin token").content("application/json", error()),
            )
            .response(
                "403",
                ResponseBuilder::new()
                    .description("Host or Origin is not this server (DNS rebinding)")
                    .content("application/json", error()),
            )
            .response(
                "404",
                ResponseBuilder::new().description("A named thing does not exist").content("application/json", error()),
            )
            .response(
                "409",
                ResponseBuilder::new()
                    .description("Conflicts with what is stored")
                    .content("application/json", error()),
            )
            .response(
                "413",
                ResponseBuilder::new()
                    .description(format!("The body is over this command's limit of {} MiB", C::MAX_INPUT_BYTES >> 20))
                    .content("application/json", error()),
            )
            .response(
                "422",
                ResponseBuilder::new()
                    .description("Invalid input; `field` names it")
                    .content("application/json", error()),
            );
        let paths = std::mem::take(&mut self.paths);
        self.paths = paths.path(format!("/api/{}", C::NAME), PathItem::new(HttpMethod::Post, operation));
    }
}

/// Builds the document once.
pub fn build() -> OpenApi {
    let mut collect = Collect { paths: PathsBuilder::new(), components: ComponentsBuilder::new() };
    command::visit_all(&mut collect);
    let components = collect
        .components
        .schema(ErrorBody::name(), ErrorBody::schema())
        .security_scheme("admin_token", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)))
        .build();
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("Tollgate admin API")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some("Every console command as POST /api/<command> with a JSON body. Errors are {code, message, field?}."))
                .build(),
        )
        .paths(collect.paths.build())
        .components(Some(components))
        .security(Some([SecurityRequirement::new("admin_token", Vec::<String>::new())]))
        .build()
}

/// `GET /api/openapi.json`.
pub async fn document() -> impl IntoResponse {
    static DOC: OnceLock<serde_json::Value> = OnceLock::new();
    let doc = DOC.get_or_init(|| serde_json::to_value(build()).expect("the OpenAPI document serializes"));
    ([(header::CACHE_CONTROL, "no-store")], Json(doc.clone()))
}
