//! The transports on loopback: mutual TLS, framing, heartbeats, isolation
//! of a bad peer, backpressure.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures::{SinkExt, StreamExt};
use quinn::crypto::rustls::QuicClientConfig;
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderValue, header};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::protocol::frame::Frame as WsFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data as OpData, OpCode};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use verge_pki::{CertifiedKey, ClusterCa};
use verge_protocol::pb::{self, Envelope, ErrorCode, envelope::Body};
use verge_protocol::{CURRENT_VERSION, FrameDecoder, FrameError, MAX_FRAME_BYTES, encode_frame};
use verge_transport::{
    ClientTls, Connection, QUIC_ALPN, QuicConnector, QuicServer, ServerTls, TransportConfig,
    TransportError, TransportKind, WS_PATH, WS_SUBPROTOCOL, WsConnector, WsServer,
};

const DEADLINE: Duration = Duration::from_secs(10);
const DAY: Duration = Duration::from_secs(86_400);

struct Pki {
    _dir: tempfile::TempDir,
    ca: ClusterCa,
    server: ServerTls,
}

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = ClusterCa::load_or_create(dir.path()).expect("CA");
        let serving = ca
            .issue_serving(&["127.0.0.1".to_string(), "localhost".to_string()], DAY)
            .expect("serving certificate");
        let server = ServerTls::new(ca.ca_pem(), &serving).expect("server TLS");
        Pki {
            _dir: dir,
            ca,
            server,
        }
    }

    fn node_cert(&self, node: &str) -> CertifiedKey {
        self.ca
            .issue_client(
                &format!("system:node:{node}"),
                &["system:nodes".to_string()],
                DAY,
            )
            .expect("node certificate")
    }

    fn client(&self, node: &str) -> ClientTls {
        ClientTls::new(self.ca.ca_pem(), &self.node_cert(node)).expect("client TLS")
    }
}

/// Short timers, with enough slack that a loaded CI machine does not
/// mistake scheduling delays for a dead link.
fn fast() -> TransportConfig {
    TransportConfig {
        heartbeat_interval: Duration::from_millis(200),
        dead_after: Duration::from_millis(1500),
        ..TransportConfig::default()
    }
}

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

fn hello(node: &str) -> Envelope {
    Envelope::from(pb::Hello {
        versions: vec![u32::from(CURRENT_VERSION)],
        agent_version: "test".into(),
        node_name: node.into(),
        resume: Some(pb::ResumePoint {
            epoch: "epoch-1".into(),
            revision: 41,
        }),
        report_stream: "q1".into(),
        features: vec![],
    })
}

fn welcome(node: &str) -> Envelope {
    Envelope::from(pb::Welcome {
        version: u32::from(CURRENT_VERSION),
        node_name: node.into(),
        epoch: "epoch-1".into(),
        mode: pb::SyncMode::Delta as i32,
        resume_from: 41,
        reports_applied: 0,
        heartbeat_interval_ms: 200,
        dead_after_ms: 1500,
        limits: Some(verge_protocol::default_limits()),
        features: vec![],
        session: "s1".into(),
    })
}

fn caught_up(revision: u64) -> Envelope {
    Envelope::from(pb::CaughtUp { revision })
}

enum Hub {
    Ws(WsServer),
    Quic(QuicServer),
}

impl Hub {
    async fn start(kind: TransportKind, pki: &Pki, config: &TransportConfig) -> Hub {
        match kind {
            TransportKind::WebSocket => Hub::Ws(
                WsServer::bind(loopback(), &pki.server, config)
                    .await
                    .expect("bind"),
            ),
            TransportKind::Quic => {
                Hub::Quic(QuicServer::bind(loopback(), &pki.server, config).expect("bind"))
            }
        }
    }

    fn addr(&self) -> SocketAddr {
        match self {
            Hub::Ws(s) => s.local_addr(),
            Hub::Quic(s) => s.local_addr(),
        }
    }

    async fn accept(&mut self) -> Connection {
        let accepted = match self {
            Hub::Ws(s) => timeout(DEADLINE, s.accept()).await,
            Hub::Quic(s) => timeout(DEADLINE, s.accept()).await,
        };
        accepted.expect("accepted in time").expect("server running")
    }

    async fn connect(
        &self,
        tls: &ClientTls,
        config: &TransportConfig,
    ) -> Result<Connection, TransportError> {
        match self {
            Hub::Ws(s) => {
                WsConnector::new(tls, config)?
                    .connect(s.local_addr(), "127.0.0.1")
                    .await
            }
            Hub::Quic(s) => {
                QuicConnector::new(loopback(), tls, config)?
                    .connect(s.local_addr(), "127.0.0.1")
                    .await
            }
        }
    }
}

async fn recv(conn: &mut Connection) -> Result<Envelope, TransportError> {
    timeout(DEADLINE, conn.recv())
        .await
        .expect("no answer in time")
}

/// Connects `node` and completes a Hello/Welcome exchange.
async fn connect_node(hub: &mut Hub, pki: &Pki, node: &str) -> (Connection, Connection) {
    let client = hub
        .connect(&pki.client(node), &fast())
        .await
        .expect("connect");
    client.send(&hello(node)).await.expect("send Hello");
    let mut server = hub.accept().await;
    assert_eq!(server.peer().node_name(), Some(node));
    assert_eq!(recv(&mut server).await.expect("Hello"), hello(node));
    server.send(&welcome(node)).await.expect("send Welcome");
    let mut client = client;
    assert_eq!(recv(&mut client).await.expect("Welcome"), welcome(node));
    (client, server)
}

async fn exchange_frames_with_mutual_tls(kind: TransportKind) {
    let pki = Pki::new();
    let mut hub = Hub::start(kind, &pki, &fast()).await;
    let (mut client, mut server) = connect_node(&mut hub, &pki, "edge-1").await;
    assert_eq!(server.peer().transport, kind);
    let identity = server
        .peer()
        .identity
        .clone()
        .expect("server sees the identity");
    assert_eq!(identity.user, "system:node:edge-1");
    assert_eq!(identity.groups, vec!["system:nodes".to_string()]);
    client.set_version(CURRENT_VERSION).expect("version");
    server.set_version(CURRENT_VERSION).expect("version");

    // Many messages both ways, in order.
    for revision in 1..=50 {
        server.send(&caught_up(revision)).await.expect("send");
    }
    for revision in 1..=50 {
        assert_eq!(recv(&mut client).await.expect("recv"), caught_up(revision));
    }
    client.send(&caught_up(99)).await.expect("send");
    assert_eq!(recv(&mut server).await.expect("recv"), caught_up(99));

    // Messages far larger than one WebSocket frame arrive whole, both ways,
    // and in order with the small ones around them.
    let object = format!(r#"{{"data":{{"blob":"{}"}}}}"#, "x".repeat(100_000));
    let big = Envelope::from(pb::SyncBatch {
        revision: 8,
        changes: vec![pb::ObjectChange {
            key: Some(pb::ObjectKey {
                kind: Some(pb::ResourceKind {
                    group: String::new(),
                    version: "v1".into(),
                    resource: "configmaps".into(),
                }),
                namespace: "default".into(),
                name: "big".into(),
                uid: "uid-1".into(),
            }),
            resource_version: "8".into(),
            change: Some(pb::object_change::Change::Upsert(pb::Upsert {
                object: object.into_bytes().into(),
            })),
        }],
        more: false,
    });
    for server_sends in [true, false] {
        let (from, to) = if server_sends {
            (&mut server, &mut client)
        } else {
            (&mut client, &mut server)
        };
        from.send(&big).await.expect("send big");
        from.send(&caught_up(7)).await.expect("send small");
        assert_eq!(recv(to).await.expect("recv big"), big);
        assert_eq!(recv(to).await.expect("recv small"), caught_up(7));
    }

    // Heartbeats measure the round trip while the link is quiet.
    let start = Instant::now();
    while client.rtt().is_none() && server.rtt().is_none() {
        assert!(start.elapsed() < DEADLINE, "no Ping/Pong exchanged");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(client.stats().frames_sent >= 2 && client.stats().bytes_received > 0);

    // A Goodbye ends the connection on the other side with its code.
    client
        .close(pb::Goodbye::new(ErrorCode::Normal, "agent shutting down"))
        .await;
    match recv(&mut server).await {
        Err(TransportError::PeerClosed { code, message, .. }) => {
            assert_eq!(code, ErrorCode::Normal);
            assert_eq!(message, "agent shutting down");
        }
        other => panic!("expected PeerClosed, got {other:?}"),
    }
    assert_eq!(recv(&mut client).await, Err(TransportError::Closed));
}

#[tokio::test]
async fn websocket_exchanges_frames_with_mutual_tls() {
    exchange_frames_with_mutual_tls(TransportKind::WebSocket).await;
}

#[tokio::test]
async fn quic_exchanges_frames_with_mutual_tls() {
    exchange_frames_with_mutual_tls(TransportKind::Quic).await;
}

/// On an idle link the edge pings and the hub only answers: one Ping/Pong
/// pair per interval, not one per side.
async fn an_idle_link_carries_one_ping_pong_pair_per_interval(kind: TransportKind) {
    let pki = Pki::new();
    let mut hub = Hub::start(kind, &pki, &fast()).await;
    let (client, server) = connect_node(&mut hub, &pki, "edge-1").await;
    client.set_version(CURRENT_VERSION).expect("version");
    server.set_version(CURRENT_VERSION).expect("version");
    let start = Instant::now();
    while client.stats().pings_sent < 10 {
        assert!(start.elapsed() < DEADLINE, "the edge did not ping");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // One late edge ping on a loaded machine may let the hub's timer fire.
    let hub_pings = server.stats().pings_sent;
    assert!(
        hub_pings <= 1,
        "the hub pinged {hub_pings} times while the edge pinged 10: both sides are pinging"
    );
    assert!(client.rtt().is_some());
    drop((client, server));
}

#[tokio::test]
async fn an_idle_websocket_link_carries_one_ping_pong_pair_per_interval() {
    an_idle_link_carries_one_ping_pong_pair_per_interval(TransportKind::WebSocket).await;
}

#[tokio::test]
async fn an_idle_quic_link_carries_one_ping_pong_pair_per_interval() {
    an_idle_link_carries_one_ping_pong_pair_per_interval(TransportKind::Quic).await;
}

#[tokio::test]
async fn dropping_the_receiver_closes_the_connection_with_a_goodbye() {
    let pki = Pki::new();
    let mut hub = Hub::start(TransportKind::WebSocket, &pki, &fast()).await;
    let (mut client, server) = connect_node(&mut hub, &pki, "edge-1").await;
    let (sender, receiver, _peer) = server.split();
    drop(receiver);
    match recv(&mut client).await {
        Err(TransportError::PeerClosed { code, .. }) => assert_eq!(code, ErrorCode::Normal),
        other => panic!("expected PeerClosed, got {other:?}"),
    }
    assert_eq!(
        sender.send(&caught_up(1)).await,
        Err(TransportError::Closed)
    );
}

#[tokio::test]
async fn a_goodbye_sent_just_before_dropping_the_connection_is_the_one_received() {
    let pki = Pki::new();
    let mut hub = Hub::start(TransportKind::WebSocket, &pki, &fast()).await;
    let (mut client, server) = connect_node(&mut hub, &pki, "edge-1").await;
    server
        .close(pb::Goodbye::new(ErrorCode::ProtocolViolation, "go away"))
        .await;
    drop(server);
    match recv(&mut client).await {
        Err(TransportError::PeerClosed { code, message, .. }) => {
            assert_eq!(
                (code, message.as_str()),
                (ErrorCode::ProtocolViolation, "go away")
            )
        }
        other => panic!("expected PeerClosed, got {other:?}"),
    }
}

async fn foreign_client_certificate_is_refused(kind: TransportKind) {
    let pki = Pki::new();
    let rogue_ca = Pki::new();
    let mut hub = Hub::start(kind, &pki, &fast()).await;
    // Trusts the right CA, but its certificate comes from another one.
    let rogue = ClientTls::new(pki.ca.ca_pem(), &rogue_ca.node_cert("edge-1")).expect("TLS");
    match hub.connect(&rogue, &fast()).await {
        // TLS 1.3 over TCP: the WebSocket upgrade meets the server's alert.
        Err(TransportError::Handshake { .. }) => {}
        // QUIC: the client may finish its side of the handshake before the
        // server refuses; the connection then dies at once.
        Ok(mut conn) => {
            let _ = conn.send(&hello("edge-1")).await;
            let err = recv(&mut conn).await.expect_err("refused");
            assert!(
                matches!(err, TransportError::ConnectionLost(_)),
                "unexpected {err:?}"
            );
        }
        Err(other) => panic!("unexpected {other:?}"),
    }
    // The server never handed the rogue connection out: the next one it
    // accepts is the legitimate node.
    let (_client, server) = connect_node(&mut hub, &pki, "edge-2").await;
    assert_eq!(server.peer().node_name(), Some("edge-2"));
}

#[tokio::test]
async fn websocket_refuses_a_client_certificate_from_another_ca() {
    foreign_client_certificate_is_refused(TransportKind::WebSocket).await;
}

#[tokio::test]
async fn quic_refuses_a_client_certificate_from_another_ca() {
    foreign_client_certificate_is_refused(TransportKind::Quic).await;
}

#[tokio::test]
async fn a_client_without_a_certificate_is_refused() {
    let pki = Pki::new();
    let mut hub = Hub::start(TransportKind::WebSocket, &pki, &fast()).await;
    let tls = verge_pki::client_tls_config(pki.ca.ca_pem(), None).expect("TLS config");
    let tcp = TcpStream::connect(hub.addr()).await.expect("TCP");
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").expect("name");
    // TLS 1.3: the client finishes its side, the server's refusal arrives
    // with the first read, i.e. during the WebSocket upgrade.
    let refused = async {
        let tls = tokio_rustls::TlsConnector::from(tls)
            .connect(name, tcp)
            .await?;
        let mut request = format!("wss://{}{WS_PATH}", hub.addr()).into_client_request()?;
        request.headers_mut().insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static(WS_SUBPROTOCOL),
        );
        tokio_tungstenite::client_async(request, tls).await?;
        Ok::<_, Box<dyn std::error::Error>>(())
    };
    let result = timeout(DEADLINE, refused).await.expect("answered in time");
    assert!(result.is_err(), "an anonymous client got through");
    let (_client, server) = connect_node(&mut hub, &pki, "edge-1").await;
    assert_eq!(server.peer().node_name(), Some("edge-1"));
}

/// A raw WebSocket client over TLS with a valid node certificate, driven by
/// hand to misbehave.
async fn raw_ws_client(
    pki: &Pki,
    addr: SocketAddr,
    node: &str,
) -> tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<TcpStream>> {
    raw_ws_upgrade(pki, addr, node, WS_PATH)
        .await
        .expect("upgrade")
}

/// tungstenite's upgrade to `path` over TLS with a node certificate.
async fn raw_ws_upgrade(
    pki: &Pki,
    addr: SocketAddr,
    node: &str,
    path: &str,
) -> Result<tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<TcpStream>>, WsError>
{
    let tls = verge_pki::client_tls_config(pki.ca.ca_pem(), Some(&pki.node_cert(node)))
        .expect("TLS config");
    let tcp = TcpStream::connect(addr).await.expect("TCP");
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").expect("name");
    let tls = tokio_rustls::TlsConnector::from(tls)
        .connect(name, tcp)
        .await
        .expect("TLS");
    let mut request = format!("wss://{addr}{path}")
        .into_client_request()
        .expect("request");
    request.headers_mut().insert(
        header::SEC_WEBSOCKET_PROTOCOL,
        HeaderValue::from_static(WS_SUBPROTOCOL),
    );
    let config = WebSocketConfig::default()
        .max_message_size(None)
        .max_frame_size(None);
    Ok(
        tokio_tungstenite::client_async_with_config(request, tls, Some(config))
            .await?
            .0,
    )
}

fn frame(envelope: &Envelope) -> Bytes {
    encode_frame(CURRENT_VERSION, envelope, MAX_FRAME_BYTES).expect("encode")
}

/// Reads from a raw WebSocket until a Goodbye arrives; returns its code.
async fn ws_goodbye<S>(ws: &mut tokio_tungstenite::WebSocketStream<S>) -> ErrorCode
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let decoder = FrameDecoder::new(MAX_FRAME_BYTES);
    let read = async {
        while let Some(Ok(message)) = ws.next().await {
            if let Message::Binary(bytes) = message {
                let envelope = decoder
                    .decode_message(bytes)
                    .and_then(|f| f.envelope())
                    .expect("a valid frame");
                if let Some(Body::Goodbye(goodbye)) = envelope.body {
                    return ErrorCode::try_from(goodbye.code).expect("known code");
                }
            }
        }
        panic!("closed without a Goodbye");
    };
    timeout(DEADLINE, read).await.expect("Goodbye in time")
}

async fn next_ws_message<S>(ws: &mut tokio_tungstenite::WebSocketStream<S>) -> Message
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    match timeout(DEADLINE, ws.next())
        .await
        .expect("answered in time")
    {
        Some(Ok(message)) => message,
        other => panic!("the connection ended: {other:?}"),
    }
}

/// The hub's WebSocket endpoint with an independent implementation
/// (tungstenite) as the client: upgrade refusals, control frames,
/// fragmented messages, and what a text message gets.
#[tokio::test]
async fn the_websocket_endpoint_speaks_rfc_6455_to_an_independent_client() {
    let pki = Pki::new();
    let mut hub = Hub::start(TransportKind::WebSocket, &pki, &fast()).await;

    match raw_ws_upgrade(&pki, hub.addr(), "lost", "/elsewhere").await {
        Err(WsError::Http(response)) => {
            assert_eq!(response.status(), 404);
            let body = response.body().clone().unwrap_or_default();
            let body = String::from_utf8_lossy(&body);
            assert!(body.contains("the channel is at /channel"), "{body}");
        }
        other => panic!("expected a 404, got {:?}", other.map(|_| ())),
    }

    let mut raw = raw_ws_client(&pki, hub.addr(), "edge-1").await;
    raw.send(Message::Ping(Bytes::from_static(b"are you there")))
        .await
        .expect("ping");
    assert_eq!(
        next_ws_message(&mut raw).await,
        Message::Pong(Bytes::from_static(b"are you there"))
    );

    // A channel frame in three WebSocket fragments arrives whole.
    let bytes = frame(&hello("edge-1"));
    for (range, opcode, fin) in [
        (0..5, OpData::Binary, false),
        (5..9, OpData::Continue, false),
        (9..bytes.len(), OpData::Continue, true),
    ] {
        let fragment = WsFrame::message(bytes.slice(range), OpCode::Data(opcode), fin);
        raw.feed(Message::Frame(fragment)).await.expect("fragment");
    }
    raw.flush().await.expect("flush");
    let mut server = hub.accept().await;
    assert_eq!(recv(&mut server).await.expect("Hello"), hello("edge-1"));
    server.send(&welcome("edge-1")).await.expect("Welcome");
    let Message::Binary(welcome_bytes) = next_ws_message(&mut raw).await else {
        panic!("not a binary message");
    };
    let decoded = FrameDecoder::new(MAX_FRAME_BYTES)
        .decode_message(welcome_bytes)
        .and_then(|f| f.envelope())
        .expect("a valid frame");
    assert_eq!(decoded, welcome("edge-1"));

    raw.send(Message::Text("hello".into())).await.expect("text");
    assert!(matches!(
        recv(&mut server).await,
        Err(TransportError::Frame(FrameError::Malformed(_)))
    ));
    assert_eq!(ws_goodbye(&mut raw).await, ErrorCode::Malformed);
}

#[tokio::test]
async fn a_garbage_or_oversized_websocket_frame_closes_only_that_connection() {
    let pki = Pki::new();
    let config = TransportConfig {
        max_frame_bytes: 64 * 1024,
        ..fast()
    };
    let mut hub = Hub::start(TransportKind::WebSocket, &pki, &config).await;
    let (mut good_client, mut good_server) = connect_node(&mut hub, &pki, "good").await;

    // Garbage: not a frame at all.
    let mut raw = raw_ws_client(&pki, hub.addr(), "garbage").await;
    raw.send(Message::Binary(Bytes::from_static(
        b"GET / HTTP/1.1\r\n\r\n",
    )))
    .await
    .expect("send");
    let mut bad = hub.accept().await;
    assert!(matches!(
        recv(&mut bad).await,
        Err(TransportError::Frame(FrameError::BadMagic { .. }))
    ));
    assert_eq!(ws_goodbye(&mut raw).await, ErrorCode::Malformed);

    // Oversized: a well-formed frame beyond the server's 64 KiB limit.
    let mut raw = raw_ws_client(&pki, hub.addr(), "oversized").await;
    let big = Envelope::from(pb::StreamData {
        stream_id: 1,
        channel: 1,
        data: Bytes::from(vec![7u8; 100 * 1024]),
    });
    raw.send(Message::Binary(frame(&big))).await.expect("send");
    let mut bad = hub.accept().await;
    assert!(matches!(
        recv(&mut bad).await,
        Err(TransportError::Frame(FrameError::TooLarge {
            max: 65536,
            ..
        }))
    ));
    assert_eq!(ws_goodbye(&mut raw).await, ErrorCode::FrameTooLarge);

    // The other node's connection is unaffected.
    good_client.send(&caught_up(1)).await.expect("send");
    assert_eq!(recv(&mut good_server).await.expect("recv"), caught_up(1));
    good_server.send(&caught_up(2)).await.expect("send");
    assert_eq!(recv(&mut good_client).await.expect("recv"), caught_up(2));
}

/// A raw QUIC client with a valid node certificate.
async fn raw_quic_client(
    pki: &Pki,
    addr: SocketAddr,
    node: &str,
) -> (
    quinn::Endpoint,
    quinn::Connection,
    quinn::SendStream,
    quinn::RecvStream,
) {
    let tls = verge_pki::client_tls_config(pki.ca.ca_pem(), Some(&pki.node_cert(node)))
        .expect("TLS config");
    let mut tls = (*tls).clone();
    tls.alpn_protocols = vec![QUIC_ALPN.to_vec()];
    let crypto = QuicClientConfig::try_from(Arc::new(tls)).expect("QUIC TLS");
    let endpoint = quinn::Endpoint::client(loopback()).expect("endpoint");
    let conn = endpoint
        .connect_with(
            quinn::ClientConfig::new(Arc::new(crypto)),
            addr,
            "127.0.0.1",
        )
        .expect("connect")
        .await
        .expect("handshake");
    let (send, recv) = conn.open_bi().await.expect("stream");
    (endpoint, conn, send, recv)
}

async fn quic_goodbye(recv: &mut quinn::RecvStream) -> ErrorCode {
    let decoder = FrameDecoder::new(MAX_FRAME_BYTES);
    let mut buf = BytesMut::new();
    let read = async {
        loop {
            while let Some(frame) = decoder.decode(&mut buf).expect("valid frames") {
                if let Some(Body::Goodbye(goodbye)) = frame.envelope().expect("envelope").body {
                    return ErrorCode::try_from(goodbye.code).expect("known code");
                }
            }
            match recv.read_chunk(65536, true).await {
                Ok(Some(chunk)) => buf.extend_from_slice(&chunk.bytes),
                other => panic!("stream ended without a Goodbye: {other:?}"),
            }
        }
    };
    timeout(DEADLINE, read).await.expect("Goodbye in time")
}

#[tokio::test]
async fn a_garbage_or_oversized_quic_frame_closes_only_that_connection() {
    let pki = Pki::new();
    let mut hub = Hub::start(TransportKind::Quic, &pki, &fast()).await;
    let (mut good_client, mut good_server) = connect_node(&mut hub, &pki, "good").await;

    // A header announcing a 100 MiB frame, and nothing else: refused on the
    // header alone.
    let (_ep, _conn, mut send, mut recv_stream) = raw_quic_client(&pki, hub.addr(), "big").await;
    let mut header = Vec::from(&b"VC"[..]);
    header.extend_from_slice(&[CURRENT_VERSION, 0]);
    header.extend_from_slice(&(100u32 << 20).to_be_bytes());
    send.write_all(&header).await.expect("write");
    let mut bad = hub.accept().await;
    match recv(&mut bad).await {
        Err(TransportError::Frame(FrameError::TooLarge { len, max })) => {
            assert_eq!(max, MAX_FRAME_BYTES);
            assert_eq!(len, (100u64 << 20) + 8);
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    assert_eq!(
        quic_goodbye(&mut recv_stream).await,
        ErrorCode::FrameTooLarge
    );

    // A valid header whose payload is not protobuf.
    let (_ep, _conn, mut send, mut recv_stream) =
        raw_quic_client(&pki, hub.addr(), "garbage").await;
    let mut garbage = Vec::from(&b"VC"[..]);
    garbage.extend_from_slice(&[CURRENT_VERSION, 0, 0, 0, 0, 4, 0xff, 0xff, 0xff, 0xff]);
    send.write_all(&garbage).await.expect("write");
    let mut bad = hub.accept().await;
    assert!(matches!(
        recv(&mut bad).await,
        Err(TransportError::Frame(FrameError::Malformed(_)))
    ));
    assert_eq!(quic_goodbye(&mut recv_stream).await, ErrorCode::Malformed);

    good_client.send(&caught_up(1)).await.expect("send");
    assert_eq!(recv(&mut good_server).await.expect("recv"), caught_up(1));
    good_server.send(&caught_up(2)).await.expect("send");
    assert_eq!(recv(&mut good_client).await.expect("recv"), caught_up(2));
}

#[tokio::test]
async fn the_hub_declares_a_silent_websocket_client_dead() {
    let pki = Pki::new();
    let mut hub = Hub::start(TransportKind::WebSocket, &pki, &fast()).await;
    let mut raw = raw_ws_client(&pki, hub.addr(), "edge-1").await;
    raw.send(Message::Binary(frame(&hello("edge-1"))))
        .await
        .expect("send");
    // From here on the client neither reads nor writes: it answers no Ping.
    let mut server = hub.accept().await;
    assert_eq!(recv(&mut server).await.expect("Hello"), hello("edge-1"));
    let start = Instant::now();
    let err = recv(&mut server).await.expect_err("dead");
    assert_eq!(
        err,
        TransportError::DeadLink {
            silent_for: Duration::from_millis(1500)
        }
    );
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    drop(raw);
}

#[tokio::test]
async fn the_hub_declares_a_silent_quic_client_dead() {
    let pki = Pki::new();
    let mut hub = Hub::start(TransportKind::Quic, &pki, &fast()).await;
    let (_ep, _conn, mut send, _recv) = raw_quic_client(&pki, hub.addr(), "edge-1").await;
    send.write_all(&frame(&hello("edge-1")))
        .await
        .expect("write");
    let mut server = hub.accept().await;
    assert_eq!(recv(&mut server).await.expect("Hello"), hello("edge-1"));
    let start = Instant::now();
    assert!(matches!(
        recv(&mut server).await,
        Err(TransportError::DeadLink { .. })
    ));
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}

/// A TLS+WebSocket server that completes the upgrade and then ignores the
/// client completely.
#[allow(clippy::result_large_err)] // tungstenite's callback signature
async fn silent_ws_server(pki: &Pki) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let serving = pki
        .ca
        .issue_serving(&["127.0.0.1".to_string()], DAY)
        .expect("serving");
    let tls = verge_pki::mtls_server_tls_config(pki.ca.ca_pem(), &serving).expect("TLS");
    let listener = TcpListener::bind(loopback()).await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.expect("accept");
        let tls = tokio_rustls::TlsAcceptor::from(tls)
            .accept(tcp)
            .await
            .expect("TLS");
        let callback = |_: &tokio_tungstenite::tungstenite::handshake::server::Request,
                        mut response: tokio_tungstenite::tungstenite::handshake::server::Response| {
            response.headers_mut().insert(
                header::SEC_WEBSOCKET_PROTOCOL,
                HeaderValue::from_static(WS_SUBPROTOCOL),
            );
            Ok(response)
        };
        let ws = tokio_tungstenite::accept_hdr_async(tls, callback)
            .await
            .expect("upgrade");
        // Hold the connection open without ever reading from it.
        std::future::pending::<()>().await;
        drop(ws);
    });
    (addr, task)
}

#[tokio::test]
async fn an_edge_declares_a_silent_hub_dead() {
    let pki = Pki::new();
    let (addr, task) = silent_ws_server(&pki).await;
    let mut client = WsConnector::new(&pki.client("edge-1"), &fast())
        .expect("connector")
        .connect(addr, "127.0.0.1")
        .await
        .expect("connect");
    client.send(&hello("edge-1")).await.expect("send");
    let start = Instant::now();
    assert!(matches!(
        recv(&mut client).await,
        Err(TransportError::DeadLink { .. })
    ));
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    task.abort();
}

#[tokio::test]
async fn the_send_queue_pushes_back_when_the_peer_does_not_read() {
    let pki = Pki::new();
    let (addr, task) = silent_ws_server(&pki).await;
    let config = TransportConfig {
        send_queue: 2,
        heartbeat_interval: Duration::from_secs(5),
        dead_after: Duration::from_secs(30),
        ..TransportConfig::default()
    };
    let client = WsConnector::new(&pki.client("edge-1"), &config)
        .expect("connector")
        .connect(addr, "127.0.0.1")
        .await
        .expect("connect");
    let chunk = Envelope::from(pb::StreamData {
        stream_id: 1,
        channel: 1,
        data: Bytes::from(vec![1u8; 1 << 20]),
    });
    // Loopback socket buffers hold a few MiB; after that the queue fills
    // and try_send reports it instead of buffering without bound.
    let start = Instant::now();
    let mut queued = 0;
    loop {
        match client.try_send(&chunk) {
            Ok(()) => queued += 1,
            Err(TransportError::Full) => break,
            Err(other) => panic!("unexpected {other:?}"),
        }
        assert!(
            start.elapsed() < DEADLINE,
            "never pushed back ({queued} MiB queued)"
        );
        assert!(queued < 512, "never pushed back ({queued} MiB queued)");
        tokio::task::yield_now().await;
    }
    assert!(queued >= 2, "only {queued} queued");
    // A frame over the limit is refused before queueing.
    let huge = Envelope::from(pb::StreamData {
        stream_id: 1,
        channel: 1,
        data: Bytes::from(vec![1u8; MAX_FRAME_BYTES]),
    });
    assert!(matches!(
        client.try_send(&huge),
        Err(TransportError::Frame(FrameError::TooLarge { .. }))
    ));
    task.abort();
}
