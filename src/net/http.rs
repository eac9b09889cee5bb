//! The HTTP/1.1 front end, served by the same reactors as the binary
//! protocol: every core accepts on the shared HTTP port (SO_REUSEPORT) and
//! turns each request into binary-protocol requests that go through the
//! same routing, forwarding and group commit (`conn::execute`).
//!
//! Endpoints: `GET /healthz`, `GET /readyz`, `GET /metrics` (Prometheus),
//! `GET /v1/info` (JSON),
//! `GET|PUT|DELETE /v1/kv/{key}` (key percent-encoded, raw value body, `ttl_ms`
//! and `version` query parameters, version in `X-Tessera-Version`),
//! `POST /v1/mget` and `POST /v1/mset` (JSON, base64 keys and values).

use std::rc::Rc;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::{json, Value};

use super::conn;
use super::core::cluster::Front;
use super::core::Core;
use super::epoll::Stream;
use super::session::{Session, Verdict};
use crate::codes::{ErrorCode, WireError};
use crate::proto::codec::{compact, Reader};
use crate::proto::command::read_found;
use crate::proto::http_head::Head;
use crate::proto::{self, frame, Request, SetArgs};

/// A response about to be written.
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl Response {
    fn json(status: u16, v: Value) -> Response {
        Response {
            status,
            content_type: "application/json",
            headers: Vec::new(),
            body: (v.to_string() + "\n").into_bytes(),
        }
    }

    fn text(status: u16, t: &str) -> Response {
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            headers: Vec::new(),
            body: t.as_bytes().to_vec(),
        }
    }

    fn error(e: &WireError) -> Response {
        let mut r = Response::json(
            e.code.http_status(),
            json!({"error": e.code.name(), "message": e.message}),
        );
        // Cluster mode: `<slot> <HOST:PORT>` of the owner's HTTP listener;
        // `handle` completes the URL with the request's path.
        if e.code == ErrorCode::Moved {
            if let Some((_, addr)) = e.message.split_once(' ') {
                r.headers.push(("Location", addr.to_string()));
            }
        }
        if matches!(e.code, ErrorCode::NoAuth | ErrorCode::WrongPass) {
            r.headers
                .push(("WWW-Authenticate", "Basic realm=\"tessera\"".into()));
        }
        r
    }

    fn not_found(what: &str) -> Response {
        Response::json(404, json!({"error": "NOT_FOUND", "message": what}))
    }

    fn bad(msg: impl Into<String>) -> Response {
        Response::error(&WireError::new(ErrorCode::BadArguments, msg.into()))
    }

    fn encode(&self, keep_alive: bool, out: &mut Vec<u8>) {
        let reason = match self.status {
            200 => "OK",
            307 => "Temporary Redirect",
            400 => "Bad Request",
            401 => "Unauthorized",
            403 => "Forbidden",
            404 => "Not Found",
            405 => "Method Not Allowed",
            409 => "Conflict",
            411 => "Length Required",
            413 => "Payload Too Large",
            431 => "Request Header Fields Too Large",
            500 => "Internal Server Error",
            503 => "Service Unavailable",
            _ => "",
        };
        out.extend_from_slice(
            format!(
                "HTTP/1.1 {} {reason}\r\nContent-Type: {}\r\nContent-Length: {}\r\n",
                self.status,
                self.content_type,
                self.body.len()
            )
            .as_bytes(),
        );
        for (k, v) in &self.headers {
            out.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
        }
        if !keep_alive {
            out.extend_from_slice(b"Connection: close\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.body);
    }
}

/// A refused connection's response (`net::admit`), closing it.
pub(crate) fn refusal(e: &WireError, out: &mut Vec<u8>) {
    Response::error(e).encode(false, out);
}

/// Runs one binary-protocol request through the core, as the request's
/// ACL user; returns the reply body.
async fn call(core: &Rc<Core>, s: &mut Session, req: &Request<'_>) -> Result<Vec<u8>, WireError> {
    let acl = &core.config().acl;
    match s.verdict(acl, || false, |u| u.check_request(req)) {
        Verdict::Run => {}
        Verdict::Refuse(e) => return Err(e),
        Verdict::Denied(d) => return Err(s.denied(acl, d, "toplevel", "protocol=http".into())),
        Verdict::Gone => return Err(WireError::of(ErrorCode::NoAuth)),
    }
    // Cluster mode: a key another node serves is redirected (307).
    core.cluster_gate(req, Front::Http, Default::default())?;
    let mut f = Vec::new();
    req.encode(1, &mut f);
    let reply = conn::execute(core.clone(), f).await;
    let info = frame::check(&reply, usize::MAX)
        .ok()
        .flatten()
        .ok_or_else(|| WireError::new(ErrorCode::Internal, "no reply from the core"))?;
    let body = info.body(&reply).to_vec();
    if info.kind == frame::STATUS_OK {
        Ok(body)
    } else {
        Err(proto::decode_error(&body))
    }
}

fn internal(e: proto::Error) -> WireError {
    WireError::new(ErrorCode::Internal, e.to_string())
}

/// The parsed pieces of a request that handlers need.
pub struct Req<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    pub body: &'a [u8],
    /// The `Authorization` header's value.
    pub authorization: Option<&'a str>,
}

fn query_u64(query: &str, name: &str) -> Result<Option<u64>, Response> {
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if k == name {
            return v.parse().map(Some).map_err(|_| {
                Response::bad(format!("query parameter {name}={v:?} is not a number"))
            });
        }
    }
    Ok(None)
}

fn b64_list(v: &Value, field: &str) -> Result<Vec<Vec<u8>>, Response> {
    let arr = v
        .get(field)
        .and_then(Value::as_array)
        .ok_or_else(|| Response::bad(format!("the body needs a \"{field}\" array")))?;
    arr.iter()
        .map(|x| {
            x.as_str()
                .and_then(|s| B64.decode(s).ok())
                .ok_or_else(|| Response::bad(format!("every \"{field}\" item must be base64 text")))
        })
        .collect()
}

/// Answers one request.
pub async fn handle(core: &Rc<Core>, r: &Req<'_>) -> Response {
    // Probes stay open, as does /metrics when configured so.
    let open = matches!((r.method, r.path), ("GET", "/healthz" | "/readyz"))
        || (r.path == "/metrics" && core.config().metrics_without_auth);
    let mut s = match open {
        true => Session::trusted(),
        false => match basic_auth(core, r.authorization) {
            Ok(s) => s,
            Err(e) => return Response::error(&e),
        },
    };
    let mut resp = match route(core, &mut s, r).await {
        Ok(resp) | Err(resp) => resp,
    };
    if resp.status == 307 {
        for (k, v) in resp.headers.iter_mut() {
            if *k == "Location" {
                let q = if r.query.is_empty() { "" } else { "?" };
                *v = format!("http://{v}{}{q}{}", r.path, r.query);
            }
        }
    }
    resp
}

/// The request's user: HTTP Basic credentials (an empty user name is the
/// default user), or the default user when it needs no password.
fn basic_auth(core: &Core, header: Option<&str>) -> Result<Session, WireError> {
    let acl = &core.config().acl;
    let mut s = Session::new(acl);
    let Some(h) = header else {
        return Ok(s);
    };
    let (user, pass) = crate::proto::http_head::basic_credentials(h)
        .ok_or_else(|| WireError::of(ErrorCode::WrongPass))?;
    let user: &[u8] = if user.is_empty() { b"default" } else { &user };
    s.authenticate(acl, user, &pass, || "protocol=http".into())?;
    Ok(s)
}

async fn route(core: &Rc<Core>, s: &mut Session, r: &Req<'_>) -> Result<Response, Response> {
    let err = |e: WireError| Response::error(&e);
    match (r.method, r.path) {
        ("GET", "/healthz") => Ok(Response::text(200, "ok\n")),
        ("GET", "/metrics") => {
            let lines = call(core, s, &Request::Metrics).await.map_err(err)?;
            let text = super::metrics::render(&String::from_utf8_lossy(&lines));
            Ok(Response {
                status: 200,
                content_type: "application/openmetrics-text; version=1.0.0; charset=utf-8",
                headers: Vec::new(),
                body: text.into_bytes(),
            })
        }
        ("GET", "/readyz") => {
            let text = call(core, s, &Request::Info).await.map_err(err)?;
            let text = String::from_utf8_lossy(&text);
            let poisoned: Vec<&str> = text
                .lines()
                .filter(|l| l.contains("_poisoned:") && !l.ends_with(":no"))
                .collect();
            if core.shutdown().is_set() {
                Ok(Response::text(503, "shutting down\n"))
            } else if poisoned.is_empty() {
                Ok(Response::text(200, "ready\n"))
            } else {
                Ok(Response::text(503, &(poisoned.join("\n") + "\n")))
            }
        }
        ("GET", "/v1/info") => {
            let text = call(core, s, &Request::Info).await.map_err(err)?;
            let mut map = serde_json::Map::new();
            for line in String::from_utf8_lossy(&text).lines() {
                if let Some((k, v)) = line.split_once(':') {
                    let val = v
                        .parse::<u64>()
                        .map(Value::from)
                        .or_else(|_| v.parse::<i64>().map(Value::from))
                        .unwrap_or_else(|_| Value::from(v));
                    map.insert(k.to_string(), val);
                }
            }
            Ok(Response::json(200, Value::Object(map)))
        }
        ("POST", "/v1/mget") => {
            let v: Value = serde_json::from_slice(r.body)
                .map_err(|e| Response::bad(format!("the body is not JSON: {e}")))?;
            let keys = b64_list(&v, "keys")?;
            if keys.is_empty() {
                return Err(Response::bad("\"keys\" is empty"));
            }
            let req = Request::MGet {
                keys: keys.iter().map(|k| &k[..]).collect(),
            };
            let body = call(core, s, &req).await.map_err(err)?;
            let mut rd = Reader::new(&body);
            let n = rd.u32("count").map_err(internal).map_err(err)?;
            let mut values = Vec::with_capacity(n as usize);
            for _ in 0..n {
                values.push(match read_found(&mut rd).map_err(internal).map_err(err)? {
                    Some(v) => json!({"value": B64.encode(&v.value), "version": v.version}),
                    None => Value::Null,
                });
            }
            Ok(Response::json(200, json!({ "values": values })))
        }
        ("POST", "/v1/mset") => {
            let v: Value = serde_json::from_slice(r.body)
                .map_err(|e| Response::bad(format!("the body is not JSON: {e}")))?;
            let pairs = v
                .get("pairs")
                .and_then(Value::as_array)
                .ok_or_else(|| Response::bad("the body needs a \"pairs\" array"))?;
            let mut owned = Vec::with_capacity(pairs.len());
            for p in pairs {
                let field = |f: &str| {
                    p.get(f)
                        .and_then(Value::as_str)
                        .and_then(|s| B64.decode(s).ok())
                        .ok_or_else(|| {
                            Response::bad(format!(
                                "every pair needs base64 \"key\" and \"value\" ({f})"
                            ))
                        })
                };
                owned.push((field("key")?, field("value")?));
            }
            if owned.is_empty() {
                return Err(Response::bad("\"pairs\" is empty"));
            }
            let req = Request::MSet {
                pairs: owned.iter().map(|(k, v)| (&k[..], &v[..])).collect(),
            };
            let body = call(core, s, &req).await.map_err(err)?;
            let n = Reader::new(&body)
                .u64("count")
                .map_err(internal)
                .map_err(err)?;
            Ok(Response::json(200, json!({ "written": n })))
        }
        (method, path) if path.starts_with("/v1/kv/") => {
            let raw = &path["/v1/kv/".len()..];
            let key: Vec<u8> = percent_encoding::percent_decode_str(raw).collect();
            if key.is_empty() {
                return Err(Response::bad("the key is empty"));
            }
            kv(core, s, method, &key, r).await
        }
        (_, "/healthz" | "/readyz" | "/v1/info" | "/metrics") => Err(method_not_allowed("GET")),
        (_, "/v1/mget" | "/v1/mset") => Err(method_not_allowed("POST")),
        (_, path) => Err(Response::not_found(&format!("no endpoint {path}"))),
    }
}

fn method_not_allowed(allow: &'static str) -> Response {
    let mut r = Response::json(
        405,
        json!({"error": "METHOD_NOT_ALLOWED", "message": format!("use {allow}")}),
    );
    r.headers.push(("Allow", allow.to_string()));
    r
}

async fn kv(
    core: &Rc<Core>,
    s: &mut Session,
    method: &str,
    key: &[u8],
    r: &Req<'_>,
) -> Result<Response, Response> {
    let err = |e: WireError| Response::error(&e);
    match method {
        "GET" => {
            let body = call(core, s, &Request::Get { key }).await.map_err(err)?;
            match read_found(&mut Reader::new(&body))
                .map_err(internal)
                .map_err(err)?
            {
                None => Err(Response::not_found("no such key")),
                Some(v) => Ok(Response {
                    status: 200,
                    content_type: "application/octet-stream",
                    headers: vec![("X-Tessera-Version", v.version.to_string())],
                    body: v.value,
                }),
            }
        }
        "PUT" => {
            let args = SetArgs {
                ttl_ms: query_u64(r.query, "ttl_ms")?,
                expected_version: query_u64(r.query, "version")?,
                ..SetArgs::default()
            };
            if args.ttl_ms == Some(0) {
                return Err(Response::bad("ttl_ms must be at least 1"));
            }
            let req = Request::Set {
                key,
                value: r.body,
                args,
            };
            let body = call(core, s, &req).await.map_err(err)?;
            let mut rd = Reader::new(&body);
            let applied = rd.u8("applied").map_err(internal).map_err(err)? == 1;
            let version = rd.u64("version").map_err(internal).map_err(err)?;
            let mut resp = if applied {
                Response::json(200, json!({ "version": version }))
            } else {
                Response::json(
                    409,
                    json!({"error": "VERSION_CONFLICT", "message": "the key's version differs", "version": version}),
                )
            };
            resp.headers
                .push(("X-Tessera-Version", version.to_string()));
            Ok(resp)
        }
        "DELETE" => {
            let body = call(core, s, &Request::Del { keys: vec![key] })
                .await
                .map_err(err)?;
            match Reader::new(&body)
                .u64("count")
                .map_err(internal)
                .map_err(err)?
            {
                0 => Err(Response::not_found("no such key")),
                n => Ok(Response::json(200, json!({ "deleted": n }))),
            }
        }
        _ => Err(method_not_allowed("GET, PUT, DELETE")),
    }
}

/// Parses the request head in `buf` (`proto::http_head`): `Ok(None)` when
/// incomplete, the refusal as a response.
fn parse_head(buf: &[u8]) -> Result<Option<Head>, Response> {
    crate::proto::http_head::parse(buf).map_err(|r| {
        Response::json(
            r.status,
            json!({"error": r.error.code.name(), "message": r.error.message}),
        )
    })
}

/// Serves one HTTP connection (keep-alive) until it closes or the core stops.
pub async fn serve(core: Rc<Core>, mut stream: Stream) {
    let mut buf = vec![0u8; 16 << 10];
    let (mut start, mut filled) = (0usize, 0usize);
    let max_body = core.config().max_frame_bytes.saturating_sub(1024);
    let mut out = Vec::new();
    let mut progress = std::time::Instant::now();
    loop {
        // Answer every complete request in the buffer.
        loop {
            let head = match parse_head(&buf[start..filled]) {
                Ok(Some(h)) => h,
                Ok(None) => break,
                Err(resp) => {
                    tracing::info!(
                        core = core.id(),
                        "HTTP client error, closing the connection"
                    );
                    out.clear();
                    resp.encode(false, &mut out);
                    let _ = stream.send(&out).await;
                    return;
                }
            };
            if head.body_len > max_body {
                out.clear();
                Response::error(&WireError::new(
                    ErrorCode::FrameTooLarge,
                    format!(
                        "body of {} bytes is over the limit of {max_body}",
                        head.body_len
                    ),
                ))
                .encode(false, &mut out);
                let _ = stream.send(&out).await;
                return;
            }
            let total = head.head_len + head.body_len;
            if filled - start < total {
                if buf.len() < total {
                    compact(&mut buf, &mut start, &mut filled);
                    buf.resize(total, 0);
                }
                break;
            }
            let body = &buf[start + head.head_len..start + total];
            let (path, query) = head
                .target
                .split_once('?')
                .unwrap_or((head.target.as_str(), ""));
            let resp = handle(
                &core,
                &Req {
                    method: &head.method,
                    path,
                    query,
                    body,
                    authorization: head.authorization.as_deref(),
                },
            )
            .await;
            start += total;
            out.clear();
            resp.encode(head.keep_alive, &mut out);
            if stream.send(&out).await.is_err() || !head.keep_alive {
                return;
            }
            progress = std::time::Instant::now();
        }
        compact(&mut buf, &mut start, &mut filled);
        if filled == buf.len() {
            let n = buf.len() * 2;
            buf.resize(n, 0);
        }
        // `timeout` closes a silent keep-alive connection.
        let n = match super::stall::read(&core, &mut stream, &mut buf[filled..], false, progress)
            .await
        {
            super::stall::Read::Data(n) => n,
            _ => return,
        };
        filled += n;
        progress = std::time::Instant::now();
    }
}
