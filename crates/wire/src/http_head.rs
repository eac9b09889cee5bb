//! An HTTP request's head as the HTTP front end reads it (docs/http.md),
//! and its Basic credentials: the parts of HTTP that read untrusted bytes,
//! kept here (no sockets) so cargo-fuzz can run them (`fuzz/`).

use crate::codes::{ErrorCode, WireError};

/// The longest request head accepted.
pub const MAX_HEAD: usize = 64 << 10;
/// The most header lines accepted.
pub const MAX_HEADERS: usize = 64;

/// What the head of a request said about its body and the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub method: String,
    pub target: String,
    pub body_len: usize,
    pub keep_alive: bool,
    pub head_len: usize,
    pub authorization: Option<String>,
}

/// A head the server refuses: the HTTP status and the error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub status: u16,
    pub error: WireError,
}

fn refused(status: u16, code: ErrorCode, message: impl Into<String>) -> Refused {
    Refused {
        status,
        error: WireError::new(code, message.into()),
    }
}

/// Parses the request head in `buf`: `Ok(None)` when incomplete.
pub fn parse(buf: &[u8]) -> Result<Option<Head>, Refused> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let head_len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            if buf.len() > MAX_HEAD {
                return Err(refused(
                    431,
                    ErrorCode::BadFrame,
                    "request head over 64 KiB",
                ));
            }
            return Ok(None);
        }
        Err(e) => {
            let code = ErrorCode::BadFrame;
            return Err(refused(
                code.http_status(),
                code,
                format!("malformed HTTP request: {e}"),
            ));
        }
    };
    let mut body_len = 0;
    let mut keep_alive = req.version == Some(1);
    let mut authorization = None;
    for h in req.headers.iter() {
        let name = h.name.to_ascii_lowercase();
        if name == "authorization" {
            authorization = Some(String::from_utf8_lossy(h.value).into_owned());
            continue;
        }
        let value = String::from_utf8_lossy(h.value).trim().to_ascii_lowercase();
        match name.as_str() {
            "content-length" => {
                body_len = value.parse().map_err(|_| {
                    let code = ErrorCode::BadArguments;
                    refused(
                        code.http_status(),
                        code,
                        format!("bad Content-Length {value:?}"),
                    )
                })?;
            }
            "transfer-encoding" => {
                return Err(refused(
                    411,
                    ErrorCode::BadFrame,
                    "chunked bodies are not supported; send Content-Length",
                ))
            }
            "connection" if value == "close" => keep_alive = false,
            "connection" if value == "keep-alive" => keep_alive = true,
            _ => {}
        }
    }
    Ok(Some(Head {
        method: req.method.unwrap_or("").to_string(),
        target: req.path.unwrap_or("/").to_string(),
        body_len,
        keep_alive,
        head_len,
        authorization,
    }))
}

/// The user name and password of an `Authorization: Basic ...` header;
/// `None` for any other scheme or a value that does not decode.
pub fn basic_credentials(header: &str) -> Option<(Vec<u8>, Vec<u8>)> {
    use base64::Engine as _;
    let (scheme, value) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(value.trim())
        .ok()?;
    let colon = decoded.iter().position(|&b| b == b':')?;
    Some((decoded[..colon].to_vec(), decoded[colon + 1..].to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_and_credentials() {
        let h = parse(
            b"PUT /v1/kv/a HTTP/1.1\r\nContent-Length: 2\r\nAuthorization: Basic dTpw\r\n\r\nhi",
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            (h.method.as_str(), h.target.as_str(), h.body_len),
            ("PUT", "/v1/kv/a", 2)
        );
        assert!(h.keep_alive);
        assert_eq!(
            basic_credentials(h.authorization.as_deref().unwrap()),
            Some((b"u".to_vec(), b"p".to_vec()))
        );
        assert_eq!(parse(b"GET / HTTP/1.1\r\n").unwrap(), None);
        assert_eq!(
            parse(b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n")
                .unwrap_err()
                .status,
            411
        );
        assert_eq!(
            parse(b"\x00\x01 / HTTP/1.1\r\n\r\n").unwrap_err().status,
            400
        );
        assert_eq!(basic_credentials("Bearer x"), None);
        assert_eq!(basic_credentials("Basic !!!"), None);
    }
}
