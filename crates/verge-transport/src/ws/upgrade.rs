//! The HTTP/1.1 request and response that turn a TLS connection into a
//! WebSocket (RFC 6455 section 4), on the channel's path and subprotocol.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha1::{Digest, Sha1};

use super::{WS_PATH, WS_SUBPROTOCOL};

/// The longest request or response head accepted; the real ones are a few
/// hundred bytes.
pub(super) const MAX_HEAD: usize = 8 * 1024;
const MAX_HEADERS: usize = 32;
/// RFC 6455's constant for Sec-WebSocket-Accept.
const ACCEPT_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// What the server answers a request head with.
#[derive(Debug)]
pub(super) enum Answer {
    /// 101: the connection is a WebSocket from here on.
    Switch(Vec<u8>),
    /// An HTTP error response, and the reason to log.
    Refuse(Vec<u8>, String),
}

/// The server's answer to the request head at the front of `buf`, and the
/// head's length; `None` while the head is incomplete.
pub(super) fn answer(buf: &[u8]) -> Option<(usize, Answer)> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    let len = match request.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => return None,
        Ok(httparse::Status::Partial) => {
            return Some((
                buf.len(),
                refuse(
                    431,
                    "Request Header Fields Too Large",
                    "the request head is too long",
                ),
            ));
        }
        Err(error) => {
            return Some((
                buf.len(),
                refuse(400, "Bad Request", &format!("not an HTTP request: {error}")),
            ));
        }
    };
    let header = |name: &'static str| {
        request
            .headers
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .filter_map(|h| std::str::from_utf8(h.value).ok())
    };
    let lists = |name: &'static str, token: &str| {
        header(name)
            .flat_map(|v| v.split(','))
            .any(|v| v.trim().eq_ignore_ascii_case(token))
    };
    if request.path != Some(WS_PATH) {
        return Some((
            len,
            refuse(404, "Not Found", "no such path: the channel is at /channel"),
        ));
    }
    if request.method != Some("GET")
        || !lists("upgrade", "websocket")
        || !lists("connection", "upgrade")
    {
        return Some((
            len,
            refuse(
                426,
                "Upgrade Required",
                "the channel is a WebSocket: send a GET with Upgrade: websocket",
            ),
        ));
    }
    if !header("sec-websocket-version").any(|v| v.trim() == "13") {
        return Some((
            len,
            refuse(426, "Upgrade Required", "WebSocket version 13 is required"),
        ));
    }
    if !header("sec-websocket-protocol")
        .flat_map(|v| v.split(','))
        .any(|p| p.trim() == WS_SUBPROTOCOL)
    {
        return Some((
            len,
            refuse(
                400,
                "Bad Request",
                "the WebSocket subprotocol verge.channel.v1 is required",
            ),
        ));
    }
    let Some(key) = header("sec-websocket-key").next().map(str::trim) else {
        return Some((
            len,
            refuse(400, "Bad Request", "Sec-WebSocket-Key is missing"),
        ));
    };
    if BASE64.decode(key).map(|k| k.len()) != Ok(16) {
        return Some((
            len,
            refuse(
                400,
                "Bad Request",
                "Sec-WebSocket-Key is not 16 bytes in base64",
            ),
        ));
    }
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\nSec-WebSocket-Protocol: {WS_SUBPROTOCOL}\r\n\r\n",
        accept_for(key)
    );
    Some((len, Answer::Switch(response.into_bytes())))
}

fn refuse(status: u16, reason: &str, why: &str) -> Answer {
    let response = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{why}",
        why.len()
    );
    Answer::Refuse(response.into_bytes(), format!("{status}: {why}"))
}

fn accept_for(key: &str) -> String {
    let mut sha = Sha1::new();
    sha.update(key.as_bytes());
    sha.update(ACCEPT_GUID.as_bytes());
    BASE64.encode(sha.finalize())
}

/// The client's side: a request with a fresh key, and the check of the
/// server's response to it.
pub(super) struct Request {
    key: String,
}

impl Request {
    pub(super) fn new() -> Request {
        Request {
            key: BASE64.encode(rand::random::<[u8; 16]>()),
        }
    }

    /// The request head for the channel on `host` (host:port).
    pub(super) fn head(&self, host: &str) -> Vec<u8> {
        format!(
            "GET {WS_PATH} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {}\r\nSec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Protocol: {WS_SUBPROTOCOL}\r\n\r\n",
            self.key
        )
        .into_bytes()
    }

    /// Checks the response head at the front of `buf`: its length once it
    /// is complete and accepts the upgrade, `Ok(None)` while incomplete,
    /// and what the server said otherwise.
    pub(super) fn check(&self, buf: &[u8]) -> Result<Option<usize>, String> {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut response = httparse::Response::new(&mut headers);
        let len = match response.parse(buf) {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => return Ok(None),
            Ok(httparse::Status::Partial) => return Err("the response head is too long".into()),
            Err(error) => return Err(format!("not an HTTP response: {error}")),
        };
        let header = |name: &str| {
            response
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case(name))
                .and_then(|h| std::str::from_utf8(h.value).ok())
                .map(str::trim)
        };
        if response.code != Some(101) {
            // The body says why (see `refuse`); show what arrived of it.
            let body = String::from_utf8_lossy(&buf[len..buf.len().min(len + 200)]);
            return Err(format!(
                "the hub answered {} {}: {}",
                response.code.unwrap_or(0),
                response.reason.unwrap_or(""),
                body.trim()
            ));
        }
        if header("sec-websocket-accept") != Some(accept_for(&self.key).as_str()) {
            return Err("the hub's Sec-WebSocket-Accept does not match the key sent".into());
        }
        if header("sec-websocket-protocol") != Some(WS_SUBPROTOCOL) {
            return Err(format!(
                "the hub did not agree to the subprotocol {WS_SUBPROTOCOL}"
            ));
        }
        Ok(Some(len))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_accept_value_is_the_one_rfc_6455_gives_for_its_sample_key() {
        assert_eq!(
            accept_for("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn a_client_request_is_answered_and_the_answer_accepted() {
        let request = Request::new();
        let mut head = request.head("127.0.0.1:10000");
        // Bytes after the head are not part of it.
        head.extend_from_slice(b"\x82\x00");
        for cut in 0..head.len() - 3 {
            assert!(answer(&head[..cut]).is_none(), "cut {cut}");
        }
        let Some((len, Answer::Switch(response))) = answer(&head) else {
            panic!("refused");
        };
        assert_eq!(len, head.len() - 2);
        assert_eq!(request.check(&response), Ok(Some(response.len())));
        assert_eq!(request.check(&response[..response.len() - 1]), Ok(None));
        // Another key's answer is not accepted.
        assert!(Request::new().check(&response).is_err());
    }

    #[test]
    fn wrong_requests_are_refused_with_a_reason_the_client_shows() {
        let good = String::from_utf8(Request::new().head("h")).expect("ascii");
        let cases = [
            (good.replace("/channel", "/other"), "404", "/channel"),
            (
                good.replace("verge.channel.v1", "chat"),
                "400",
                "subprotocol",
            ),
            (
                good.replace("Upgrade: websocket\r\n", ""),
                "426",
                "GET with Upgrade",
            ),
            (
                good.replace("Version: 13", "Version: 8"),
                "426",
                "version 13",
            ),
            (good.replace("GET", "POST"), "426", "GET with Upgrade"),
            (
                "\x16\x03\x01 garbage\r\n\r\n".to_string(),
                "400",
                "not an HTTP request",
            ),
        ];
        for (request, status, why) in cases {
            let Some((_, Answer::Refuse(response, reason))) = answer(request.as_bytes()) else {
                panic!("accepted: {request}");
            };
            assert!(
                reason.starts_with(status) && reason.contains(why),
                "{reason}"
            );
            let shown = Request::new().check(&response).expect_err("refused");
            assert!(shown.contains(status) && shown.contains(why), "{shown}");
        }
        let endless = format!("GET /channel HTTP/1.1\r\n{}", "X-A: b\r\n".repeat(2000));
        assert!(matches!(
            answer(endless.as_bytes()),
            Some((_, Answer::Refuse(..)))
        ));
    }
}
