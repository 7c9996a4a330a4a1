//! `/openapi.json`: an OpenAPI 3.1 document built from [`crate::endpoints::all`], the same
//! list the router is built from. Graph routes carry their permissions as security
//! requirements (any one of them suffices, so each is its own alternative); the control API
//! needs the admin token.

use std::collections::BTreeSet;

use axum::http::Method;
use switchboard_engine::participants::DEFAULT_PAGE;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn, ParameterStyle};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{AnyOfBuilder, ArrayBuilder, ComponentsBuilder, ObjectBuilder, SchemaType, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::server::Server;
use utoipa::openapi::tag::TagBuilder;
use utoipa::openapi::{
    ContentBuilder, InfoBuilder, OpenApi, OpenApiBuilder, PathItem, PathsBuilder, Ref, RefOr, Required,
    ResponseBuilder, ResponsesBuilder, Schema,
};

use crate::endpoints::{self, tag, Auth, Body, Endpoint};

const GRAPH_SCHEME: &str = "graphToken";
const ADMIN_SCHEME: &str = "adminToken";

fn http_method(method: &Method) -> HttpMethod {
    match *method {
        Method::GET => HttpMethod::Get,
        Method::POST => HttpMethod::Post,
        Method::PUT => HttpMethod::Put,
        Method::DELETE => HttpMethod::Delete,
        Method::PATCH => HttpMethod::Patch,
        Method::HEAD => HttpMethod::Head,
        Method::OPTIONS => HttpMethod::Options,
        _ => HttpMethod::Trace,
    }
}

/// `{name}` segments of a path.
fn path_parameters(path: &str) -> Vec<&str> {
    path.split('/').filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}'))).collect()
}

fn string_schema() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(SchemaType::Type(Type::String))
}

/// The content type and schema of a body, registering named schemas in `components`.
fn body_schema(body: &Body, components: &mut Option<ComponentsBuilder>) -> Option<(&'static str, RefOr<Schema>)> {
    let mut register = |named: &endpoints::Named| -> RefOr<Schema> {
        let builder = components.take().unwrap_or_default();
        *components = Some((named.register)(builder));
        RefOr::Ref(Ref::from_schema_name((named.name)()))
    };
    Some(match body {
        Body::None => return None,
        Body::Json(named) => ("application/json", register(named)),
        Body::JsonArray(named) => {
            let item = register(named);
            ("application/json", ArrayBuilder::new().items(item).into())
        }
        Body::JsonInline(schema) => ("application/json", schema()),
        Body::Form(schema) => ("application/x-www-form-urlencoded", schema()),
        Body::Text(content_type) => (content_type, string_schema().into()),
        Body::EventStream => ("text/event-stream", string_schema().into()),
    })
}

/// The content of a body, registering named schemas in `components`.
fn content(body: &Body, components: &mut Option<ComponentsBuilder>) -> Option<(String, utoipa::openapi::Content)> {
    let (content_type, schema) = body_schema(body, components)?;
    Some((content_type.to_owned(), ContentBuilder::new().schema(Some(schema)).build()))
}

fn operation(e: &Endpoint, components: &mut Option<ComponentsBuilder>) -> utoipa::openapi::path::Operation {
    let id = format!("{}:{}", e.method.as_str().to_ascii_lowercase(), e.path);
    let mut op = OperationBuilder::new().operation_id(Some(id)).summary(Some(e.summary.to_string())).tag(e.tag);
    for name in path_parameters(&e.path) {
        op = op.parameter(
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .schema(Some(string_schema())),
        );
    }
    for (name, description) in e.query {
        let parameter = ParameterBuilder::new()
            .name(*name)
            .parameter_in(ParameterIn::Query)
            .required(Required::False)
            .description(Some(*description));
        op = op.parameter(match *name {
            // As Graph's own description writes it: a comma-separated list of the resource's
            // property names.
            "$select" if !e.selectable.is_empty() => {
                parameter.style(Some(ParameterStyle::Form)).explode(Some(false)).schema(Some(
                    ArrayBuilder::new()
                        .items(string_schema().enum_values(Some(e.selectable.iter().copied())))
                        .min_items(Some(1)),
                ))
            }
            // `graph::list_participants` reads a positive integer and serves any more than
            // `MAX_PAGE` as `MAX_PAGE`, so no upper bound is an error.
            "$top" => parameter
                .schema(Some(schema::integer().minimum(Some(1)).default(Some(serde_json::json!(DEFAULT_PAGE))))),
            _ => parameter.schema(Some(string_schema())),
        });
    }
    if let Some((content_type, body)) = content(&e.request, components) {
        op = op.request_body(Some(
            RequestBodyBuilder::new().required(Some(Required::True)).content(content_type, body).build(),
        ));
    }
    let mut success = ResponseBuilder::new().description(status_text(e.status));
    match (body_schema(&e.response, components), body_schema(&e.selection, components)) {
        (Some((content_type, full)), Some((_, selected))) => {
            // `$select` (crate::select) answers the same resource with only `id`, the `@odata.*`
            // annotations and the selected properties.
            let either = AnyOfBuilder::new().item(full).item(selected);
            success = success
                .description(format!(
                    "{}; with `$select`, only `id`, the `@odata.*` annotations and the selected properties",
                    status_text(e.status)
                ))
                .content(content_type, ContentBuilder::new().schema(Some(either)).build());
        }
        (Some((content_type, full)), None) => {
            success = success.content(content_type, ContentBuilder::new().schema(Some(full)).build())
        }
        (None, _) => {}
    }
    // Every route may fail: the identity endpoints in the OAuth shape, every other one (the
    // console's static files included, when the request's headers are too large) with a Graph
    // error body.
    let (description, error) = match e.tag {
        tag::IDENTITY => (
            "An OAuth error body, as the Microsoft identity platform writes it (every error and AADSTS code is \
             listed in docs/codes.md)",
            Body::json::<crate::identity::OAuthErrorBody>(),
        ),
        _ => (
            "A Graph error body (every status and code is listed in docs/codes.md)",
            Body::json::<graph_model::ErrorBody>(),
        ),
    };
    let (content_type, body) = content(&error, components).expect("a JSON body");
    let responses = ResponsesBuilder::new()
        .response(e.status.to_string(), success.build())
        .response("default", ResponseBuilder::new().description(description).content(content_type, body).build());
    op = op.responses(responses.build());
    match e.auth {
        Auth::Public => {}
        Auth::Admin => op = op.security(SecurityRequirement::new(ADMIN_SCHEME, Vec::<String>::new())),
        Auth::Graph(roles) => {
            // Any one of the roles suffices: each is an alternative requirement.
            for role in roles {
                op = op.security(SecurityRequirement::new(GRAPH_SCHEME, [*role]));
            }
        }
    }
    op.build()
}

fn status_text(status: u16) -> &'static str {
    match status {
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        501 => "Not Implemented",
        _ => "Answer",
    }
}

/// The document, with `public_url` as its server.
pub fn document(public_url: &str) -> OpenApi {
    let mut components = Some(ComponentsBuilder::new());
    let mut paths = PathsBuilder::new();
    let mut tags = BTreeSet::new();
    for e in endpoints::all() {
        tags.insert(e.tag);
        let op = operation(&e, &mut components);
        paths = paths.path(e.path.clone(), PathItem::new(http_method(&e.method), op));
    }
    let components = components
        .unwrap_or_default()
        .security_scheme(
            GRAPH_SCHEME,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "An application token from `/{tenant}/oauth2/v2.0/token` (client credentials). The \
                         requirement lists the application permission (`roles` claim) a route accepts; any one \
                         of the alternatives suffices.",
                    ))
                    .build(),
            ),
        )
        .security_scheme(
            ADMIN_SCHEME,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The admin token printed at start (and kept in dev-credentials.json). `GET \
                         /_switchboard/events` also accepts it as the `token` query parameter.",
                    ))
                    .build(),
            ),
        )
        .build();
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("Switchboard")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "A self-hosted call-control server that speaks the Microsoft Graph cloud-communications calls \
                     API, with its identity endpoints, control API, console and operational endpoints.",
                ))
                .build(),
        )
        .servers(Some([Server::new(public_url)]))
        .paths(paths.build())
        .components(Some(components))
        .tags(Some(tags.into_iter().map(|t| TagBuilder::new().name(t).build())))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_in_the_document_and_nothing_else() {
        let doc = serde_json::to_value(document("http://127.0.0.1:8080")).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        let mut documented = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                documented.insert((method.to_uppercase(), path.clone()));
            }
        }
        let routed: BTreeSet<(String, String)> =
            endpoints::all().iter().map(|e| (e.method.as_str().to_owned(), e.path.clone())).collect();
        assert_eq!(documented, routed);
    }

    #[test]
    fn every_schema_reference_resolves() {
        let text = serde_json::to_string(&document("http://127.0.0.1:8080")).unwrap();
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        for reference in text.split("\"#/components/schemas/").skip(1) {
            let name = reference.split('"').next().unwrap();
            assert!(schemas.contains_key(name), "#/components/schemas/{name} is not defined");
        }
    }

    #[test]
    fn graph_routes_name_their_permissions_and_control_routes_the_admin_token() {
        let doc = serde_json::to_value(document("http://127.0.0.1:8080")).unwrap();
        let invite = &doc["paths"]["/beta/communications/calls/{call_id}/participants/invite"]["post"];
        let alternatives: Vec<&str> =
            invite["security"].as_array().unwrap().iter().map(|r| r[GRAPH_SCHEME][0].as_str().unwrap()).collect();
        assert_eq!(alternatives, ["Calls.InitiateGroupCall.All", "Calls.InitiateGroupCalls.All"]);
        assert_eq!(
            invite["requestBody"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/InviteParticipantsBody"
        );
        let accept = &doc["paths"]["/_switchboard/participants/{id}/accept"]["post"];
        assert_eq!(accept["security"][0][ADMIN_SCHEME], serde_json::json!([]));
        assert!(doc["components"]["schemas"]["IdentitySet"].is_object(), "nested schemas are registered");
    }

    fn doc() -> serde_json::Value {
        serde_json::to_value(document("http://127.0.0.1:8080")).unwrap()
    }

    fn reference(name: &str) -> serde_json::Value {
        serde_json::json!({ "$ref": format!("#/components/schemas/{name}") })
    }

    #[test]
    fn a_select_route_answers_the_whole_resource_or_a_selection_of_it() {
        let doc = doc();
        let schema = |e: &Endpoint| {
            let method = e.method.as_str().to_ascii_lowercase();
            doc["paths"][&e.path][method]["responses"][e.status.to_string()]["content"]["application/json"]["schema"]
                .clone()
        };
        let mut selecting = 0;
        for e in endpoints::all() {
            let any_of = &schema(&e)["anyOf"];
            assert_eq!(!e.selectable.is_empty(), any_of.is_array(), "{} {}", e.method, e.path);
            if !e.selectable.is_empty() {
                selecting += 1;
                let (full, selected) = match e.path.rsplit('/').next().unwrap() {
                    "{call_id}" if e.path.starts_with("/v1.0/") => ("CallV1", "CallV1Selection"),
                    "{call_id}" => ("Call", "CallSelection"),
                    "participants" => ("ParticipantPage", "ParticipantSelectionPage"),
                    "{participant_id}" => ("Participant", "ParticipantSelection"),
                    other => panic!("{other}: a route that selects is listed here"),
                };
                assert_eq!(any_of, &serde_json::json!([reference(full), reference(selected)]), "{}", e.path);
            }
        }
        assert_eq!(selecting, 3 * 2 * 2, "three routes, on both versions and both prefixes");

        // A selection has the resource's properties, and requires only what every projection
        // keeps: the answer to `$select=transcription` the fuzzer once found undocumented.
        let schemas = &doc["components"]["schemas"];
        let required = |name: &str| -> Vec<String> {
            schemas[name]["required"].as_array().into_iter().flatten().map(|v| v.as_str().unwrap().to_owned()).collect()
        };
        let pairs = [("Call", "CallSelection"), ("CallV1", "CallV1Selection"), ("Participant", "ParticipantSelection")];
        for (full, selected) in pairs {
            assert_eq!(schemas[selected]["properties"], schemas[full]["properties"], "{selected}");
            let kept: Vec<String> = required(full).into_iter().filter(|n| schema::always_selected(n)).collect();
            assert_eq!(required(selected), kept, "{selected}");
        }
        assert_eq!(required("CallSelection"), ["@odata.type", "id"]);
        let answer = serde_json::json!({
            "@odata.context": "http://x/v1.0/$metadata#communications/calls(transcription)/$entity",
            "@odata.type": "#microsoft.graph.call", "id": "c", "transcription": null
        });
        for name in required("CallSelection") {
            assert!(answer.get(&name).is_some(), "{name}");
        }
        assert!(required("ParticipantSelection").is_empty(), "a participant's id is optional already");
        assert_eq!(
            schemas["ParticipantSelectionPage"]["properties"]["value"]["items"],
            reference("ParticipantSelection")
        );
        assert_eq!(schemas["ParticipantPage"]["properties"]["value"]["items"], reference("Participant"));
        assert_eq!(required("ParticipantSelectionPage"), ["value"]);
    }

    /// (`GET` a call: `a_select_route_answers_the_whole_resource_or_a_selection_of_it`.)
    #[test]
    fn v1_documents_a_call_without_the_beta_only_properties() {
        let doc = doc();
        let schemas = &doc["components"]["schemas"];
        let beta_only = graph_model::Call::BETA_ONLY;
        for (version, call) in [("beta", "Call"), ("v1.0", "CallV1")] {
            for base in ["communications", "app"] {
                let created = &doc["paths"][format!("/{version}/{base}/calls")]["post"]["responses"]["201"];
                assert_eq!(created["content"]["application/json"]["schema"], reference(call), "{version}");
            }
            for schema in [call.to_owned(), format!("{call}Selection")] {
                let properties = schemas[&schema]["properties"].as_object().expect("call is an object");
                assert!(properties.contains_key("state"), "{schema}");
                for key in beta_only {
                    assert_eq!(properties.contains_key(*key), version == "beta", "{schema}: {key}");
                }
            }
        }
        let required = |name: &str| schemas[name]["required"].as_array().cloned().unwrap_or_default();
        assert_eq!(
            required("CallV1"),
            required("Call").into_iter().filter(|r| !beta_only.contains(&r.as_str().unwrap())).collect::<Vec<_>>()
        );
    }

    #[test]
    fn top_is_a_positive_integer() {
        let doc = doc();
        for version in ["beta", "v1.0"] {
            for base in ["communications", "app"] {
                let path = format!("/{version}/{base}/calls/{{call_id}}/participants");
                let parameters = doc["paths"][&path]["get"]["parameters"].as_array().unwrap();
                let top = parameters.iter().find(|p| p["name"] == "$top").expect("$top is documented");
                assert_eq!(top["in"], "query");
                assert_eq!(
                    top["schema"],
                    serde_json::json!({ "type": "integer", "minimum": 1, "default": DEFAULT_PAGE }),
                    "{path}"
                );
            }
        }
    }

    #[test]
    fn identity_routes_document_the_oauth_error_and_every_other_route_the_graph_error() {
        let doc = doc();
        for e in endpoints::all() {
            let method = e.method.as_str().to_ascii_lowercase();
            let default = &doc["paths"][&e.path][method]["responses"]["default"];
            let expected = match e.tag {
                tag::IDENTITY => "OAuthErrorBody",
                _ => "ErrorBody",
            };
            assert_eq!(
                default["content"]["application/json"]["schema"],
                reference(expected),
                "{} {}",
                e.method,
                e.path
            );
        }
        // The authorization endpoint refuses every request, in the OAuth shape.
        let authorize = &doc["paths"]["/{tenant}/oauth2/v2.0/authorize"]["get"]["responses"]["400"];
        assert_eq!(authorize["content"]["application/json"]["schema"], reference("OAuthErrorBody"));
        // Everything Switchboard writes in it is required, as Entra ID writes it all.
        assert_eq!(
            doc["components"]["schemas"]["OAuthErrorBody"]["required"],
            serde_json::json!(["error", "error_description", "error_codes", "timestamp", "trace_id", "correlation_id"])
        );
    }
}

/// Small schema builders the route declarations share.
pub(crate) mod schema {
    use std::borrow::Cow;
    use std::marker::PhantomData;

    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Schema, SchemaType, Type};
    use utoipa::openapi::{Ref, RefOr};
    use utoipa::{PartialSchema, ToSchema};

    /// Any JSON object.
    pub(crate) fn object() -> RefOr<Schema> {
        ObjectBuilder::new().schema_type(SchemaType::Type(Type::Object)).into()
    }

    pub(crate) fn string() -> ObjectBuilder {
        ObjectBuilder::new().schema_type(SchemaType::Type(Type::String))
    }

    pub(crate) fn integer() -> ObjectBuilder {
        ObjectBuilder::new().schema_type(SchemaType::Type(Type::Integer))
    }

    /// `call` as v1.0 documents it (named `CallV1`): v1.0's metadata has none of
    /// [`graph_model::Call::BETA_ONLY`], and a call rendered for v1.0 leaves them out.
    pub(crate) struct CallV1;

    impl PartialSchema for CallV1 {
        fn schema() -> RefOr<Schema> {
            use graph_model::Call;
            match Call::schema() {
                RefOr::T(Schema::Object(mut object)) => {
                    let beta_only = |name: &str| Call::BETA_ONLY.contains(&name);
                    object.properties.retain(|name, _| !beta_only(name));
                    object.required.retain(|name| !beta_only(name));
                    object.into()
                }
                // `call` is an object (the test of v1.0's call holds it to that).
                other => other,
            }
        }
    }

    impl ToSchema for CallV1 {
        fn name() -> Cow<'static, str> {
            "CallV1".into()
        }
        fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
            graph_model::Call::schemas(schemas);
        }
    }

    /// A page of a collection of `T`, as [`graph_model::CollectionPage`] writes it (named
    /// `{T}Page`).
    pub(crate) struct Page<T>(PhantomData<T>);

    impl<T: ToSchema> PartialSchema for Page<T> {
        fn schema() -> RefOr<Schema> {
            ObjectBuilder::new()
                .schema_type(SchemaType::Type(Type::Object))
                .description(Some(format!(
                    "A page of `{}`: `@odata.nextLink` is there when more follow, and carries the query on",
                    T::name()
                )))
                .property("@odata.context", string())
                .property("value", ArrayBuilder::new().items(Ref::from_schema_name(T::name())))
                .required("value")
                .property("@odata.nextLink", string())
                .into()
        }
    }

    impl<T: ToSchema> ToSchema for Page<T> {
        fn name() -> Cow<'static, str> {
            format!("{}Page", T::name()).into()
        }
        fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
            schemas.push((T::name().into_owned(), T::schema()));
            T::schemas(schemas);
        }
    }

    /// `T` as a `$select` answers it (named `{T}Selection`): the projection
    /// ([`crate::select`]) keeps `id`, the `@odata.*` annotations and the selected properties
    /// (written as `null` when the resource has no value), so the properties are `T`'s but only
    /// the `id` and annotations `T` requires are required.
    pub(crate) struct Selection<T>(PhantomData<T>);

    /// What every projection keeps.
    pub(crate) fn always_selected(name: &str) -> bool {
        name == "id" || name.starts_with("@odata.")
    }

    impl<T: ToSchema> PartialSchema for Selection<T> {
        fn schema() -> RefOr<Schema> {
            match T::schema() {
                RefOr::T(Schema::Object(mut object)) => {
                    object.required.retain(|name| always_selected(name));
                    object.description = Some(format!(
                        "`{}` as a `$select` answers it: only `id`, the `@odata.*` annotations and the selected \
                         properties are written (a selected property the resource has no value for as `null`)",
                        T::name()
                    ));
                    object.into()
                }
                // Only objects have properties to select (a test holds the selecting routes to it).
                other => other,
            }
        }
    }

    impl<T: ToSchema> ToSchema for Selection<T> {
        fn name() -> Cow<'static, str> {
            format!("{}Selection", T::name()).into()
        }
        fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
            T::schemas(schemas);
        }
    }
}
