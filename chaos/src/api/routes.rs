//! toxiproxy's routes: an HTTP request in, a registry call, toxiproxy's response out.
//!
//! Paths are percent-decoded segment by segment (as Go's router matches names); bodies are JSON
//! read strictly by type (a number where a string belongs is a 400 that names the field), and
//! fields a proxy does not have are ignored, as toxiproxy's decoder ignores them. A browser's
//! request (a `User-Agent` starting `Mozilla/`) is refused with 403, as toxiproxy refuses it,
//! so a web page cannot drive the proxies from a developer's browser.

use serde_json::{Map, Value, json};

use super::{
    ApiError, TOXIPROXY_VERSION,
    registry::{MAX_PROXIES, ProxySpec, Registry, default_toxic_name},
    toxic::{
        ToxicDraft, ToxicInput, attributes_of, check_name, dialect_of, known_types, parse_stream,
        toxicity_of,
    },
};
use crate::{
    fault::Direction,
    http::{Request, Response},
};

/// Answers one request.
pub async fn handle(registry: &Registry, request: Request) -> Response {
    if request
        .header("user-agent")
        .is_some_and(|ua| ua.starts_with("Mozilla/"))
    {
        return Response::text(403, "text/plain", "User agent not allowed\n");
    }
    match route(registry, &request).await {
        Ok(response) => response,
        Err(e) => e.response(),
    }
}

async fn route(registry: &Registry, request: &Request) -> Result<Response, ApiError> {
    let segments = decode_segments(&request.path)?;
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let method = request.method.as_str();
    let not_allowed = |allow| {
        Err(ApiError::Method {
            what: format!("{method} {}", request.path),
            allow,
        })
    };
    match (segments.as_slice(), method) {
        (["version"], "GET") => Ok(Response::json(200, &json!({ "version": version() }))),
        (["reset"], "POST") => {
            registry.reset().await?;
            Ok(Response::empty(204))
        }
        (["populate"], "POST") => populate(registry, &body(request)?).await,
        (["proxies"], "GET") => Ok(Response::json(200, &registry.list().await)),
        (["proxies"], "POST") => {
            let spec = proxy_spec(&body(request)?, None)?;
            let shown = registry.create(spec, Vec::new()).await?;
            Ok(Response::json(201, &shown))
        }
        (["proxies", name], "GET") => Ok(Response::json(200, &registry.show(name).await?)),
        (["proxies", name], "POST" | "PATCH") => {
            let value = body(request)?;
            let object = object(&value, "a proxy")?;
            let shown = registry
                .update(
                    name,
                    text(object, "listen")?,
                    text(object, "upstream")?,
                    boolean(object, "enabled")?,
                )
                .await?;
            Ok(Response::json(200, &shown))
        }
        (["proxies", name], "DELETE") => {
            registry.delete(name).await?;
            Ok(Response::empty(204))
        }
        (["proxies", name, "toxics"], "GET") => {
            Ok(Response::json(200, &registry.toxics(name).await?))
        }
        (["proxies", name, "toxics"], "POST") => {
            let value = body(request);
            let shown = registry.add_toxic(name, || new_toxic(&value?)).await?;
            Ok(Response::json(200, &shown))
        }
        (["proxies", name, "toxics", toxic], "GET") => {
            Ok(Response::json(200, &registry.toxic(name, toxic).await?))
        }
        (["proxies", name, "toxics", toxic], "POST" | "PATCH") => {
            let value = body(request);
            let shown = registry
                .update_toxic(name, toxic, |old| {
                    let value = value?;
                    let object = object(&value, "a toxic")?;
                    old.updated(
                        attributes_of(object.get("attributes"))?,
                        toxicity_of(object.get("toxicity"))?,
                    )
                })
                .await?;
            Ok(Response::json(200, &shown))
        }
        (["proxies", name, "toxics", toxic], "DELETE") => {
            registry.remove_toxic(name, toxic).await?;
            Ok(Response::empty(204))
        }
        (["version"], _) => not_allowed("GET"),
        (["reset"] | ["populate"], _) => not_allowed("POST"),
        (["proxies"] | ["proxies", _, "toxics"], _) => not_allowed("GET, POST"),
        (["proxies", _] | ["proxies", _, "toxics", _], _) => {
            not_allowed("GET, POST, PATCH, DELETE")
        }
        _ => Err(ApiError::NoRoute(
            request.path.chars().take(100).collect::<String>(),
        )),
    }
}

/// What `GET /version` says: the toxiproxy release followed, and rrbench's version (semver
/// build metadata, so a client comparing versions sees toxiproxy's).
pub fn version() -> String {
    format!("{TOXIPROXY_VERSION}+rrbench-{}", env!("CARGO_PKG_VERSION"))
}

async fn populate(registry: &Registry, value: &Value) -> Result<Response, ApiError> {
    let Value::Array(items) = value else {
        return Err(ApiError::BadBody(
            "populate takes a JSON array of proxies".into(),
        ));
    };
    if items.len() > MAX_PROXIES {
        return Err(ApiError::TooMany(format!(
            "too many proxies: this server holds at most {MAX_PROXIES}"
        )));
    }
    // Every proxy is checked before any is created, as toxiproxy does.
    let specs = items
        .iter()
        .enumerate()
        .map(|(i, item)| proxy_spec(item, Some(i + 1)))
        .collect::<Result<Vec<_>, _>>()?;
    let (done, failed) = registry.populate(specs).await;
    Ok(match failed {
        None => Response::json(201, &json!({ "proxies": done })),
        Some(e) => {
            let status = e.status();
            Response::json(
                status,
                &json!({ "error": e.to_string(), "status": status, "proxies": done }),
            )
        }
    })
}

/// A proxy from a create or populate body; `at` numbers it in a populate list.
fn proxy_spec(value: &Value, at: Option<usize>) -> Result<ProxySpec, ApiError> {
    let object = object(value, "a proxy")?;
    let suffix = at.map(|i| format!(" at proxy {i}")).unwrap_or_default();
    let name = text(object, "name")?.unwrap_or_default();
    if name.is_empty() {
        return Err(ApiError::Missing(format!("name{suffix}")));
    }
    check_name("name", &name)?;
    let upstream = text(object, "upstream")?.unwrap_or_default();
    if upstream.is_empty() {
        return Err(ApiError::Missing(format!("upstream{suffix}")));
    }
    Ok(ProxySpec {
        name,
        listen: text(object, "listen")?.unwrap_or_default(),
        upstream,
        enabled: boolean(object, "enabled")?.unwrap_or(true),
    })
}

/// A toxic from a `POST /proxies/{proxy}/toxics` body, in toxiproxy's order of checks: the
/// body, the stream, the type, then the attributes.
/// A new toxic as far as its name (its attributes are checked once the name is known free).
fn new_toxic(value: &Value) -> Result<ToxicDraft, ApiError> {
    let input = ToxicInput::from_json(value)?;
    let stream = match &input.stream {
        Some(s) => parse_stream(s)?,
        None => Direction::Downstream,
    };
    let Some(dialect) = dialect_of(&input.type_name) else {
        return Err(ApiError::InvalidToxicType(format!(
            "{:?} (types: {})",
            input.type_name.chars().take(60).collect::<String>(),
            known_types()
        )));
    };
    let name = input
        .name
        .unwrap_or_else(|| default_toxic_name(&input.type_name, stream));
    check_name("toxic name", &name)?;
    Ok(ToxicDraft {
        name,
        type_name: input.type_name,
        dialect,
        stream,
        toxicity: input.toxicity.unwrap_or(1.0),
        attributes: input.attributes,
    })
}

fn body(request: &Request) -> Result<Value, ApiError> {
    if request.body.is_empty() {
        return Err(ApiError::BadBody("EOF (the body is empty)".into()));
    }
    serde_json::from_slice(&request.body).map_err(|e| ApiError::BadBody(e.to_string()))
}

fn object<'a>(value: &'a Value, what: &str) -> Result<&'a Map<String, Value>, ApiError> {
    value
        .as_object()
        .ok_or_else(|| ApiError::BadBody(format!("{what} is a JSON object")))
}

fn text(object: &Map<String, Value>, field: &str) -> Result<Option<String>, ApiError> {
    match object.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(ApiError::BadBody(format!(
            "`{field}` must be a string, got {}",
            super::toxic::shown(other)
        ))),
    }
}

fn boolean(object: &Map<String, Value>, field: &str) -> Result<Option<bool>, ApiError> {
    match object.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(ApiError::BadBody(format!(
            "`{field}` must be true or false, got {}",
            super::toxic::shown(other)
        ))),
    }
}

/// The path's segments, percent-decoded, empty ones dropped.
fn decode_segments(path: &str) -> Result<Vec<String>, ApiError> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(percent_decode)
        .collect()
}

fn percent_decode(segment: &str) -> Result<String, ApiError> {
    let bad = || ApiError::NoRoute(format!("{segment:?} is not a well-formed path segment"));
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or_else(bad)?;
            let hex = std::str::from_utf8(hex).map_err(|_| bad())?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| bad())?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_percent_decoded_and_bad_escapes_refused() {
        assert_eq!(
            decode_segments("/proxies/a%20b/toxics/").expect("ok"),
            ["proxies", "a b", "toxics"]
        );
        assert!(decode_segments("/proxies/a%2").is_err());
        assert!(decode_segments("/proxies/a%zz").is_err());
        assert!(decode_segments("/proxies/%ff").is_err(), "not UTF-8");
    }

    #[test]
    fn the_version_is_toxiproxy_s_with_rrbench_s_as_build_metadata() {
        assert!(version().starts_with("2.") && version().contains("+rrbench-"));
    }
}
