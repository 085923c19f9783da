//! REST verbs on stored resources: get, list, watch, create, update, patch (merge, strategic,
//! JSON, apply), delete (grace periods, propagation policies), deletecollection.

use std::sync::Arc;

use hyper::{Method, Response};
use serde_json::{Value, json};

use super::apply::{self, ApplyRequest};
use super::patch::{self, PatchError};
use super::selector::Selectors;
use super::status::{ApiError, json_response};
use super::watch::{self, WatchParams};
use super::{ApiRequest, Target, defaults, fields, managed, protobuf, table, validation};
use crate::controllers::gc::{self, Propagation};
use crate::sim::{Body, Sim};
use crate::store::{metadata_mut, str_at};

/// Serves one REST request.
pub async fn handle(
    sim: &Arc<Sim>,
    target: &Target,
    request: ApiRequest,
) -> Result<Response<Body>, ApiError> {
    let sub = target.subresource.as_deref();
    match (&request.method, target.name.as_deref(), sub) {
        (&Method::GET, None, None) => {
            if request.query.flag("watch")? {
                watch(sim, target, &request)
            } else {
                wait_for_version(sim, &request).await?;
                list(sim, target, &request)
            }
        }
        (&Method::GET, Some(_), None | Some("status")) => {
            if request.query.flag("watch")? {
                return watch(sim, target, &request);
            }
            let object = get(sim, target)?;
            Ok(respond(200, target, &request, object))
        }
        (&Method::POST, None, None) => create(sim, target, &request),
        (&Method::PUT, Some(_), None | Some("status")) => update(sim, target, &request),
        (&Method::PUT, Some(_), Some("finalize")) => update(sim, target, &request),
        (&Method::PATCH, Some(_), None | Some("status")) => patch(sim, target, &request),
        (&Method::DELETE, Some(_), None) => delete(sim, target, &request),
        (&Method::DELETE, None, None) => delete_collection(sim, target, &request),
        (method, _, _) => Err(ApiError::method_not_allowed(method.as_str())),
    }
}

/// The namespace part of a stored key.
fn ns(target: &Target) -> &str {
    target.namespace.as_deref().unwrap_or("")
}

fn name(target: &Target) -> &str {
    target.name.as_deref().unwrap_or("")
}

fn store_error(target: &Target) -> impl Fn(crate::store::StoreError) -> ApiError + '_ {
    |e| ApiError::from_store(e, target.resource.group, target.resource.plural)
}

fn get(sim: &Sim, target: &Target) -> Result<Value, ApiError> {
    sim.store
        .get(target.resource.plural, ns(target), name(target))
        .ok_or_else(|| {
            ApiError::not_found(target.resource.group, target.resource.plural, name(target))
        })
}

/// A single-object response: the object, or its one-row Table when asked for.
fn respond(code: u16, target: &Target, request: &ApiRequest, object: Value) -> Response<Body> {
    if table::wants_table(&request.accept) {
        let rv = str_at(&object, "/metadata/resourceVersion").to_owned();
        return json_response(
            code,
            &table::table(
                target.resource.plural,
                &[object],
                json!({"resourceVersion": rv}),
            ),
        );
    }
    json_response(code, &object)
}

/// Adds the API server's `Warning: 299 - "…"` headers.
fn with_warnings(mut response: Response<Body>, warnings: &[String]) -> Response<Body> {
    for warning in warnings {
        let text = format!("299 - {warning:?}");
        if let Ok(value) = hyper::header::HeaderValue::from_str(&text) {
            response.headers_mut().append(hyper::header::WARNING, value);
        }
    }
    response
}

fn selectors(target: &Target, request: &ApiRequest) -> Result<Selectors, ApiError> {
    Selectors::parse(
        target.resource.plural,
        request.query.get("labelSelector").unwrap_or(""),
        request.query.get("fieldSelector").unwrap_or(""),
    )
}

fn list(sim: &Sim, target: &Target, request: &ApiRequest) -> Result<Response<Body>, ApiError> {
    let selectors = selectors(target, request)?;
    let (mut items, rv) =
        sim.store
            .list(target.resource.plural, target.namespace.as_deref(), |o| {
                selectors.matches(o)
            });
    // Pagination: `continue` is the last key returned; clients treat it as opaque.
    if let Some(token) = request.query.get("continue").filter(|t| !t.is_empty()) {
        let (token_ns, token_name) = token.split_once('/').ok_or_else(|| {
            ApiError::bad_request("continue key is not valid: invalid continue token")
        })?;
        items.retain(|o| {
            (
                str_at(o, "/metadata/namespace"),
                str_at(o, "/metadata/name"),
            ) > (token_ns, token_name)
        });
    }
    let mut metadata = json!({"resourceVersion": rv.to_string()});
    if let Some(limit) = request.query.int("limit")?.filter(|l| *l > 0)
        && items.len() > limit as usize
    {
        let remaining = items.len() - limit as usize;
        items.truncate(limit as usize);
        let last = items.last().expect("limit > 0");
        metadata["continue"] = json!(format!(
            "{}/{}",
            str_at(last, "/metadata/namespace"),
            str_at(last, "/metadata/name")
        ));
        metadata["remainingItemCount"] = json!(remaining);
    }
    if table::wants_table(&request.accept) {
        return Ok(json_response(
            200,
            &table::table(target.resource.plural, &items, metadata),
        ));
    }
    // Items of a typed list carry no apiVersion/kind on the wire.
    for item in &mut items {
        if let Some(map) = item.as_object_mut() {
            map.remove("apiVersion");
            map.remove("kind");
        }
    }
    Ok(json_response(
        200,
        &json!({
            "kind": format!("{}List", target.resource.kind),
            "apiVersion": target.resource.api_version(),
            "metadata": metadata,
            "items": items,
        }),
    ))
}

/// A list at a resourceVersion the store has not reached waits for it (3 s, as the watch
/// cache does), then fails with the API server's 504.
async fn wait_for_version(sim: &Sim, request: &ApiRequest) -> Result<(), ApiError> {
    let Some(wanted) = request
        .query
        .get("resourceVersion")
        .filter(|v| !v.is_empty())
    else {
        return Ok(());
    };
    let wanted: u64 = wanted
        .parse()
        .map_err(|_| ApiError::bad_request(format!("invalid resource version: {wanted:?}")))?;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(3);
    while sim.store.resource_version() < wanted {
        if tokio::time::Instant::now() >= deadline {
            let current = sim.store.resource_version();
            let message =
                format!("Timeout: Too large resource version: {wanted}, current: {current}");
            return Err(ApiError::new(504, "Timeout", message).with_details(json!({
                "causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}],
                "retryAfterSeconds": 1,
            })));
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    Ok(())
}

fn watch(
    sim: &Arc<Sim>,
    target: &Target,
    request: &ApiRequest,
) -> Result<Response<Body>, ApiError> {
    let selectors = selectors(target, request)?;
    let q = &request.query;
    let params = WatchParams {
        resource_version: q
            .get("resourceVersion")
            .filter(|v| !v.is_empty())
            .map(str::to_owned),
        timeout: q
            .int("timeoutSeconds")?
            .filter(|t| *t > 0)
            .map(|t| std::time::Duration::from_secs(t as u64)),
        bookmarks: q.flag("allowWatchBookmarks")?,
        initial_events: q.flag("sendInitialEvents")?,
        table: table::wants_table(&request.accept),
    };
    watch::serve(sim.clone(), target, selectors, params)
}

/// Decodes a JSON (or, from kubectl's typed clients, protobuf) body into an object.
fn decode(request: &ApiRequest) -> Result<Value, ApiError> {
    let body = &request.body[..];
    if request
        .content_type
        .starts_with("application/vnd.kubernetes.protobuf")
    {
        return protobuf::decode(body).map_err(|e| match e {
            protobuf::ProtobufError::Unsupported(_) => {
                ApiError::new(415, "UnsupportedMediaType", e.to_string())
            }
            protobuf::ProtobufError::Malformed(_) => ApiError::bad_request(e.to_string()),
        });
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!(
            "Object 'Kind' is missing in '{}': {e}",
            String::from_utf8_lossy(body)
        ))
    })?;
    if !value.is_object() {
        return Err(ApiError::bad_request(
            "the body of the request must be a JSON object",
        ));
    }
    Ok(value)
}

/// Checks `apiVersion`/`kind` (filling them when absent) and the namespace against the URL.
fn check_type(target: &Target, object: &mut Value) -> Result<(), ApiError> {
    let resource = target.resource;
    let api_version = resource.api_version();
    match object.get("apiVersion").and_then(Value::as_str) {
        None | Some("") => object["apiVersion"] = json!(api_version),
        Some(v) if v == api_version => {}
        Some(v) => {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({v}) does not match the expected API version ({api_version})"
            )));
        }
    }
    match object.get("kind").and_then(Value::as_str) {
        None | Some("") => object["kind"] = json!(resource.kind),
        Some(k) if k == resource.kind => {}
        Some(k) => {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({k}) does not match the expected kind ({})",
                resource.kind
            )));
        }
    }
    let meta = metadata_mut(object);
    if resource.namespaced {
        let path_ns = ns(target);
        match meta.get("namespace").and_then(Value::as_str) {
            None | Some("") => {
                meta.insert("namespace".into(), json!(path_ns));
            }
            Some(n) if n == path_ns => {}
            Some(_) => {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
        }
    } else {
        meta.remove("namespace");
    }
    Ok(())
}

/// New objects may only go into existing, non-terminating namespaces.
fn check_namespace(sim: &Sim, target: &Target) -> Result<(), ApiError> {
    if !target.resource.namespaced {
        return Ok(());
    }
    let namespace = ns(target);
    match sim.store.get("namespaces", "", namespace) {
        None => Err(ApiError::not_found("", "namespaces", namespace)),
        Some(n) if n.pointer("/metadata/deletionTimestamp").is_some() => Err(ApiError::new(
                403,
                "Forbidden",
                format!(
                    "{} \"{}\" is forbidden: unable to create new content in namespace {namespace} because it is being terminated",
                    super::status::qualified(target.resource.group, target.resource.plural),
                    name(target)
                ),
            ).with_details(json!({"name": namespace, "kind": "namespaces", "causes": [{"reason": "NamespaceTerminating", "message": format!("namespace {namespace} is being terminated"), "field": "metadata.namespace"}]}))),
        Some(_) => Ok(()),
    }
}

/// The ServiceAccount admission plugin: a pod's account must exist.
fn check_service_account(sim: &Sim, target: &Target, pod: &Value) -> Result<(), ApiError> {
    let namespace = ns(target);
    let account = str_at(pod, "/spec/serviceAccountName");
    if sim
        .store
        .get("serviceaccounts", namespace, account)
        .is_some()
    {
        return Ok(());
    }
    let name = str_at(pod, "/metadata/name");
    let message = format!(
        "pods {name:?} is forbidden: error looking up service account {namespace}/{account}: serviceaccount {account:?} not found"
    );
    Err(ApiError::new(403, "Forbidden", message)
        .with_details(json!({"name": name, "kind": "pods"})))
}

fn invalid(
    target: &Target,
    object: &Value,
    causes: Vec<super::status::Cause>,
) -> Result<(), ApiError> {
    if causes.is_empty() {
        return Ok(());
    }
    let object_name = match str_at(object, "/metadata/name") {
        "" => str_at(object, "/metadata/generateName"),
        n => n,
    };
    Err(ApiError::invalid(
        target.resource.group,
        target.resource.kind,
        object_name,
        &causes,
    ))
}

/// The field manager of a non-apply write: `fieldManager`, or the client's user-agent name.
fn manager(request: &ApiRequest) -> Result<String, ApiError> {
    let manager = match request.query.get("fieldManager") {
        Some(m) if !m.is_empty() => m.to_owned(),
        _ => request
            .user_agent
            .split('/')
            .next()
            .unwrap_or("unknown")
            .to_owned(),
    };
    if manager.len() > 128 {
        return Err(ApiError::bad_request(
            "fieldManager: Too long: must have at most 128 bytes",
        ));
    }
    Ok(manager)
}

fn dry_run(request: &ApiRequest) -> Result<bool, ApiError> {
    match request.query.get("dryRun") {
        None | Some("") => Ok(false),
        Some("All") => Ok(true),
        Some(other) => Err(ApiError::bad_request(format!(
            "Invalid dry run value: {other:?}; supported values: \"All\""
        ))),
    }
}

/// Strips what a client may not set, fills defaults, validates and records ownership of a new
/// object; the caller stores it.
fn prepare_create(
    sim: &Sim,
    target: &Target,
    object: &mut Value,
    manager: Option<&str>,
) -> Result<(), ApiError> {
    let meta = metadata_mut(object);
    for field in [
        "uid",
        "resourceVersion",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
        "selfLink",
    ] {
        meta.remove(field);
    }
    if target.resource.plural == "jobs" {
        // The Job's selector names its uid, so the uid is chosen before the object is stored.
        meta.insert("uid".into(), json!(crate::store::new_uid()));
    }
    defaults::on_create(target.resource.plural, object, &sim.store);
    invalid(
        target,
        object,
        validation::validate(target.resource.plural, object, None),
    )?;
    if let Some(manager) = manager {
        managed::record_update(None, object, manager, &target.resource.api_version(), "");
    }
    Ok(())
}

fn create(sim: &Sim, target: &Target, request: &ApiRequest) -> Result<Response<Body>, ApiError> {
    let mut object = decode(request)?;
    if target.resource.plural == "selfsubjectaccessreviews" {
        let attributes = &object["spec"]["resourceAttributes"];
        let resource = match str_at(attributes, "/subresource") {
            "" => str_at(attributes, "/resource").to_owned(),
            sub => format!("{}/{sub}", str_at(attributes, "/resource")),
        };
        let denied = sim.faults.forbidden(
            str_at(attributes, "/verb"),
            &resource,
            str_at(attributes, "/namespace"),
        );
        object["status"] = if denied {
            json!({"allowed": false})
        } else {
            json!({"allowed": true, "reason": "kube-sim allows what no forbidden fault denies"})
        };
        return Ok(json_response(201, &object));
    }
    check_type(target, &mut object)?;
    let warnings = fields::check(
        target.resource,
        &object,
        request.query.get("fieldValidation"),
    )?;
    let mut target = target.clone();
    if !target.resource.namespaced {
        target.namespace = None;
    }
    target.name = Some(str_at(&object, "/metadata/name").to_owned());
    check_namespace(sim, &target)?;
    let manager = manager(request)?;
    prepare_create(sim, &target, &mut object, Some(&manager))?;
    if target.resource.plural == "pods" {
        check_service_account(sim, &target, &object)?;
    }
    if dry_run(request)? {
        return Ok(with_warnings(json_response(201, &object), &warnings));
    }
    let created = sim
        .store
        .create(target.resource.plural, object)
        .map_err(store_error(&target))?;
    Ok(with_warnings(
        respond(201, &target, request, created),
        &warnings,
    ))
}

/// Resources whose `status` is a subresource: the main resource ignores status changes and
/// `/status` changes nothing else.
fn has_status_subresource(target: &Target) -> bool {
    target.resource.subresources.contains(&"status")
}

/// Combines a client's new version with the stored one per the endpoint: the main resource keeps
/// the stored status; `/status` keeps everything but status.
fn scope_change(target: &Target, old: &Value, new: &mut Value) {
    if !has_status_subresource(target) {
        return;
    }
    if target.subresource.as_deref() == Some("status") {
        let status = new.get("status").cloned().unwrap_or(Value::Null);
        let mut merged = old.clone();
        merged["status"] = status;
        // Metadata changes on /status are limited to what the stored object has.
        *new = merged;
    } else if target.subresource.is_none() {
        match old.get("status") {
            Some(status) => new["status"] = status.clone(),
            None => {
                if let Some(m) = new.as_object_mut() {
                    m.remove("status");
                }
            }
        }
    }
}

/// The shared tail of update and patch: scope, validate, record ownership, keep server fields.
fn finish_change(
    target: &Target,
    old: &Value,
    new: &mut Value,
    manager: &str,
) -> Result<(), ApiError> {
    scope_change(target, old, new);
    defaults::on_update(target.resource.plural, old, new);
    if target.resource.plural == "namespaces" && target.subresource.as_deref() != Some("finalize") {
        new["spec"] = old["spec"].clone();
    }
    invalid(
        target,
        new,
        validation::validate(target.resource.plural, new, Some(old)),
    )?;
    let sub = target.subresource.as_deref().unwrap_or("");
    managed::record_update(Some(old), new, manager, &target.resource.api_version(), sub);
    Ok(())
}

fn update(sim: &Sim, target: &Target, request: &ApiRequest) -> Result<Response<Body>, ApiError> {
    let mut object = decode(request)?;
    check_type(target, &mut object)?;
    let body_name = str_at(&object, "/metadata/name").to_owned();
    if body_name != name(target) {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({})",
            name(target)
        )));
    }
    let warnings = fields::check(
        target.resource,
        &object,
        request.query.get("fieldValidation"),
    )?;
    let manager = manager(request)?;
    let dry = dry_run(request)?;
    let expected = str_at(&object, "/metadata/resourceVersion").to_owned();
    let object = write(sim, target, dry, |current| {
        check_version(target, &expected, current)?;
        let mut new = object;
        // A client that sends no managedFields keeps the stored ones.
        if new.pointer("/metadata/managedFields").is_none()
            && let Some(m) = current.pointer("/metadata/managedFields")
        {
            metadata_mut(&mut new).insert("managedFields".into(), m.clone());
        }
        finish_change(target, current, &mut new, &manager)?;
        Ok(new)
    })?;
    Ok(with_warnings(
        respond(200, target, request, object),
        &warnings,
    ))
}

/// How a write's closure ends early: an error, or a dry run carrying the would-be object.
enum Abort {
    Api(ApiError),
    DryRun(Value),
}

impl From<ApiError> for Abort {
    fn from(e: ApiError) -> Self {
        Abort::Api(e)
    }
}

impl From<crate::store::StoreError> for Abort {
    fn from(e: crate::store::StoreError) -> Self {
        Abort::Api(ApiError::from_store(e, "", ""))
    }
}

/// The optimistic-concurrency check of writes that carry a resourceVersion.
fn check_version(target: &Target, expected: &str, current: &Value) -> Result<(), ApiError> {
    if expected.is_empty() || expected == str_at(current, "/metadata/resourceVersion") {
        return Ok(());
    }
    Err(ApiError::conflict(
        target.resource.group,
        target.resource.plural,
        name(target),
        "the object has been modified; please apply your changes to the latest version and try again",
    ))
}

/// Writes the object `change` computes from the stored one, atomically; with `dry`, computes
/// it and stores nothing. Returns the resulting object.
fn write(
    sim: &Sim,
    target: &Target,
    dry: bool,
    change: impl FnOnce(&Value) -> Result<Value, ApiError>,
) -> Result<Value, ApiError> {
    let result = sim.store.try_modify(
        target.resource.plural,
        ns(target),
        name(target),
        |current| {
            let new = change(current)?;
            if dry {
                return Err(Abort::DryRun(new));
            }
            *current = new;
            Ok(())
        },
    );
    match result {
        Ok(object) | Err(Abort::DryRun(object)) => Ok(object),
        Err(Abort::Api(e)) if e.code == 404 && e.reason == "NotFound" => Err(ApiError::not_found(
            target.resource.group,
            target.resource.plural,
            name(target),
        )),
        Err(Abort::Api(e)) => Err(e),
    }
}

fn patch_error(e: PatchError) -> ApiError {
    match e {
        PatchError::Malformed(m) => ApiError::bad_request(m),
        PatchError::Failed(m) => ApiError::new(422, "Invalid", m),
    }
}

fn patch(sim: &Sim, target: &Target, request: &ApiRequest) -> Result<Response<Body>, ApiError> {
    let content_type = request.content_type.split(';').next().unwrap_or("").trim();
    if content_type == "application/apply-patch+yaml" {
        return apply_patch(sim, target, request);
    }
    let patch_body: Value = serde_json::from_slice(&request.body)
        .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
    let kind = match content_type {
        "application/json-patch+json" => 0,
        "application/merge-patch+json" => 1,
        "application/strategic-merge-patch+json" => 2,
        _ => {
            return Err(ApiError::new(
                415,
                "UnsupportedMediaType",
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json",
            ));
        }
    };
    let manager = manager(request)?;
    let dry = dry_run(request)?;
    let object = write(sim, target, dry, |current| {
        let mut new = current.clone();
        match kind {
            0 => patch::json_patch(&mut new, &patch_body).map_err(patch_error)?,
            1 => patch::merge_patch(&mut new, &patch_body),
            _ => patch::strategic_merge(&mut new, &patch_body).map_err(patch_error)?,
        }
        check_version(target, str_at(&new, "/metadata/resourceVersion"), current)?;
        check_type(target, &mut new)?;
        finish_change(target, current, &mut new, &manager)?;
        Ok(new)
    })?;
    Ok(respond(200, target, request, object))
}

fn apply_patch(
    sim: &Sim,
    target: &Target,
    request: &ApiRequest,
) -> Result<Response<Body>, ApiError> {
    let manager = match request.query.get("fieldManager") {
        Some(m) if !m.is_empty() => m.to_owned(),
        _ => {
            return Err(ApiError::bad_request(
                "PATCH, application/apply-patch+yaml requests must have a fieldManager parameter",
            ));
        }
    };
    let force = request.query.flag("force")?;
    let dry = dry_run(request)?;
    let mut applied = apply::decode(&request.body)?;
    check_type(target, &mut applied)?;
    let warnings = fields::check(
        target.resource,
        &applied,
        request.query.get("fieldValidation"),
    )?;
    let applied_name = str_at(&applied, "/metadata/name").to_owned();
    if applied_name != name(target) {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({applied_name}) does not match the name on the URL ({})",
            name(target)
        )));
    }
    let api_version = target.resource.api_version();
    let sub = target.subresource.as_deref().unwrap_or("");
    let req = ApplyRequest {
        manager: &manager,
        force,
        api_version: &api_version,
        subresource: sub,
    };
    let result = write(sim, target, dry, |current| {
        check_version(
            target,
            str_at(&applied, "/metadata/resourceVersion"),
            current,
        )?;
        let mut new = apply::apply(Some(current), applied.clone(), &req)?;
        let managed_fields = new.pointer("/metadata/managedFields").cloned();
        scope_change(target, current, &mut new);
        if let Some(m) = managed_fields {
            metadata_mut(&mut new).insert("managedFields".into(), m);
        }
        defaults::on_update(target.resource.plural, current, &mut new);
        invalid(
            target,
            &new,
            validation::validate(target.resource.plural, &new, Some(current)),
        )?;
        Ok(new)
    });
    match result {
        Ok(object) => Ok(with_warnings(
            respond(200, target, request, object),
            &warnings,
        )),
        Err(e) if e.code == 404 && target.subresource.is_none() => {
            // Create on apply.
            check_namespace(sim, target)?;
            let mut object = apply::apply(None, applied, &req)?;
            let managed_fields = object.pointer("/metadata/managedFields").cloned();
            prepare_create(sim, target, &mut object, None)?;
            if let Some(m) = managed_fields {
                metadata_mut(&mut object).insert("managedFields".into(), m);
            }
            if dry {
                return Ok(with_warnings(
                    respond(201, target, request, object),
                    &warnings,
                ));
            }
            let created = sim
                .store
                .create(target.resource.plural, object)
                .map_err(store_error(target))?;
            Ok(with_warnings(
                respond(201, target, request, created),
                &warnings,
            ))
        }
        Err(e) => Err(e),
    }
}

/// DeleteOptions from the body and the query (query wins, as the API server merges them).
struct DeleteOptions {
    grace: Option<i64>,
    propagation: Option<String>,
    precondition_uid: String,
    precondition_rv: String,
}

fn delete_options(request: &ApiRequest) -> Result<DeleteOptions, ApiError> {
    let body: Value = if request.body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        serde_json::from_slice(&request.body)
            .map_err(|e| ApiError::bad_request(format!("invalid DeleteOptions: {e}")))?
    };
    let mut propagation = body["propagationPolicy"].as_str().map(str::to_owned);
    if let Some(orphan) = body["orphanDependents"].as_bool() {
        propagation.get_or_insert_with(|| if orphan { "Orphan" } else { "Background" }.into());
    }
    if let Some(p) = request
        .query
        .get("propagationPolicy")
        .filter(|p| !p.is_empty())
    {
        propagation = Some(p.to_owned());
    }
    if let Some(p) = &propagation
        && !matches!(p.as_str(), "Foreground" | "Background" | "Orphan")
    {
        return Err(ApiError::new(
            422,
            "Invalid",
            format!(
                "DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: Unsupported value: {p:?}: supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\""
            ),
        ));
    }
    let grace = match request.query.int("gracePeriodSeconds")? {
        Some(g) => Some(g),
        None => body["gracePeriodSeconds"].as_i64(),
    };
    Ok(DeleteOptions {
        grace,
        propagation,
        precondition_uid: body["preconditions"]["uid"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        precondition_rv: body["preconditions"]["resourceVersion"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    })
}

/// Deletes one object per the options; returns what the API server returns (the object while it
/// still exists, else a Success Status).
fn delete_one(
    sim: &Sim,
    target: &Target,
    object_name: &str,
    options: &DeleteOptions,
) -> Result<Value, ApiError> {
    let resource = target.resource;
    let namespace = ns(target);
    let current = sim
        .store
        .get(resource.plural, namespace, object_name)
        .ok_or_else(|| ApiError::not_found(resource.group, resource.plural, object_name))?;
    if !options.precondition_uid.is_empty()
        && options.precondition_uid != str_at(&current, "/metadata/uid")
    {
        return Err(ApiError::conflict(
            resource.group,
            resource.plural,
            object_name,
            &format!(
                "Precondition failed: UID in precondition: {}, UID in object meta: {}",
                options.precondition_uid,
                str_at(&current, "/metadata/uid")
            ),
        ));
    }
    if !options.precondition_rv.is_empty()
        && options.precondition_rv != str_at(&current, "/metadata/resourceVersion")
    {
        return Err(ApiError::conflict(
            resource.group,
            resource.plural,
            object_name,
            &format!(
                "Precondition failed: ResourceVersion in precondition: {}, ResourceVersion in object meta: {}",
                options.precondition_rv,
                str_at(&current, "/metadata/resourceVersion")
            ),
        ));
    }
    let propagation = match options.propagation.as_deref() {
        Some(p) => Propagation::parse(p).unwrap_or(Propagation::Background),
        None => Propagation::default_for(resource.plural),
    };
    let after = gc::delete(
        &sim.store,
        resource.plural,
        namespace,
        object_name,
        propagation,
        options.grace,
    )
    .map_err(store_error(target))?;
    let gone = sim
        .store
        .get(resource.plural, namespace, object_name)
        .is_none();
    if gone && resource.plural != "pods" {
        let mut details = json!({"name": object_name, "kind": resource.plural, "uid": str_at(&after, "/metadata/uid")});
        if !resource.group.is_empty() {
            details["group"] = json!(resource.group);
        }
        return Ok(
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}),
        );
    }
    Ok(after)
}

fn delete(sim: &Sim, target: &Target, request: &ApiRequest) -> Result<Response<Body>, ApiError> {
    let options = delete_options(request)?;
    if dry_run(request)? {
        return Ok(json_response(200, &get(sim, target)?));
    }
    let result = delete_one(sim, target, name(target), &options)?;
    Ok(json_response(200, &result))
}

fn delete_collection(
    sim: &Sim,
    target: &Target,
    request: &ApiRequest,
) -> Result<Response<Body>, ApiError> {
    if !target.resource.verbs.contains(&"deletecollection") {
        return Err(ApiError::method_not_allowed("DELETE"));
    }
    let options = delete_options(request)?;
    let selectors = selectors(target, request)?;
    let (items, _) = sim
        .store
        .list(target.resource.plural, target.namespace.as_deref(), |o| {
            selectors.matches(o)
        });
    let mut deleted = Vec::new();
    if !dry_run(request)? {
        for item in &items {
            let mut one = target.clone();
            one.namespace =
                Some(str_at(item, "/metadata/namespace").to_owned()).filter(|n| !n.is_empty());
            match delete_one(sim, &one, str_at(item, "/metadata/name"), &options) {
                Ok(_) => deleted.push(item.clone()),
                Err(e) if e.code == 404 => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(json_response(
        200,
        &json!({
            "kind": format!("{}List", target.resource.kind),
            "apiVersion": target.resource.api_version(),
            "metadata": {"resourceVersion": sim.store.resource_version().to_string()},
            "items": if deleted.is_empty() { items } else { deleted },
        }),
    ))
}
