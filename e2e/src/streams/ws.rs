//! The websocket upgrade (RFC 6455 handshake over hyper's upgrade) and the channel framing the
//! Kubernetes stream protocols share: every binary message is one channel byte plus data.

use hyper::body::Incoming;
use hyper::header::{
    CONNECTION, HeaderValue, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_PROTOCOL,
    UPGRADE,
};
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::protocol::frame::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Message, handshake::derive_accept_key};

use crate::api::status::{ApiError, full};
use crate::sim::Body;

/// A server-side websocket on an upgraded connection.
pub type Socket = WebSocketStream<TokioIo<Upgraded>>;

/// An accepted upgrade: the 101 response to send, the negotiated subprotocol (`""` when the
/// client offered none), and the connection to open once the response is out.
pub struct Accepted {
    /// The `101 Switching Protocols` response.
    pub response: Response<Body>,
    /// The negotiated subprotocol.
    pub protocol: &'static str,
    /// Resolves to the raw connection after the 101.
    pub upgrade: OnUpgrade,
}

/// Whether the request asks for a websocket upgrade.
fn is_websocket(req: &Request<Incoming>) -> bool {
    let has = |name, token: &str| {
        req.headers()
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    has(UPGRADE, "websocket") && has(CONNECTION, "upgrade")
}

/// Negotiates `supported` (in the server's preference only where the client offers several:
/// the client's order wins, as in `wsstream`) and prepares the 101; errors are the 400s the API
/// server gives for plain or SPDY requests and for unknown subprotocols.
pub fn accept(
    req: &mut Request<Incoming>,
    supported: &[&'static str],
) -> Result<Accepted, ApiError> {
    if !is_websocket(req) {
        return Err(ApiError::bad_request("Upgrade request required"));
    }
    let key = req
        .headers()
        .get(SEC_WEBSOCKET_KEY)
        .and_then(|k| k.to_str().ok())
        .ok_or_else(|| ApiError::bad_request("missing Sec-WebSocket-Key"))?
        .to_owned();
    let offered: Vec<String> = req
        .headers()
        .get_all(SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty())
        .collect();
    let protocol = if offered.is_empty() {
        ""
    } else {
        offered
            .iter()
            .find_map(|o| supported.iter().find(|s| **s == o.as_str()).copied())
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "unable to upgrade: unable to negotiate protocol: client supports {offered:?}, server supports {supported:?}"
                ))
            })?
    };
    let mut response = Response::new(full(bytes::Bytes::new()));
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    let accept_key = HeaderValue::from_str(&derive_accept_key(key.as_bytes()))
        .map_err(|_| ApiError::bad_request("invalid Sec-WebSocket-Key"))?;
    headers.insert(SEC_WEBSOCKET_ACCEPT, accept_key);
    if !protocol.is_empty() {
        headers.insert(SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(protocol));
    }
    Ok(Accepted {
        response,
        protocol,
        upgrade: hyper::upgrade::on(req),
    })
}

/// Opens the websocket once the 101 went out; `None` when the client went away.
pub async fn open(upgrade: OnUpgrade) -> Option<Socket> {
    let io = upgrade.await.ok()?;
    Some(WebSocketStream::from_raw_socket(TokioIo::new(io), Role::Server, None).await)
}

/// The close frame Go's websocket servers send when a stream ends (1000, normal closure):
/// clients such as kubectl treat any other close (even one without a code) as an error.
pub fn normal_close() -> CloseFrame {
    CloseFrame {
        code: CloseCode::Normal,
        reason: "".into(),
    }
}

/// Ends a session cleanly: a normal close, then the client's reply (bounded), so the TCP
/// connection is not reset under the client while it still reads.
pub async fn finish<S>(socket: &mut S)
where
    S: futures::Sink<Message>
        + futures::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>>
        + Unpin,
{
    use futures::{SinkExt, StreamExt};
    if socket
        .send(Message::Close(Some(normal_close())))
        .await
        .is_err()
    {
        return;
    }
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), async {
        while let Some(Ok(_)) = socket.next().await {}
    })
    .await;
}

/// A binary message on `channel`.
pub fn frame(channel: u8, data: &[u8]) -> Message {
    let mut bytes = Vec::with_capacity(data.len() + 1);
    bytes.push(channel);
    bytes.extend_from_slice(data);
    Message::binary(bytes)
}
