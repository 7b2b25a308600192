//! TLS over TCP with buffers this crate owns: rustls's unbuffered API.
//!
//! rustls's buffered connections keep a 4 KiB receive buffer for the life of
//! every connection, the largest single cost of an idle hub connection. Here
//! the three buffers (ciphertext read, plaintext not yet consumed, ciphertext
//! not yet written) are plain vectors that are given back whenever they are
//! empty, so a connection with nothing in flight holds only rustls's state.
//!
//! Reading and writing share the state behind a mutex that is never held
//! across an await: the read half waits for the socket to be readable, the
//! write half for it to be writable, and each takes the lock only to move
//! bytes. A peer that stops reading therefore never stops us from reading.

use std::io;
use std::sync::{Mutex, MutexGuard, PoisonError};

use bytes::BytesMut;
use rustls::client::{ClientConnectionData, UnbufferedClientConnection};
use rustls::server::{ServerConnectionData, UnbufferedServerConnection};
use rustls::unbuffered::{
    ConnectionState, EncodeError, EncryptError, InsufficientSizeError, UnbufferedStatus,
};
use tokio::net::TcpStream;

/// Ciphertext read per system call. Freed again once processed, so this
/// costs nothing while the link is idle.
const READ_CHUNK: usize = 8 * 1024;

/// The largest plaintext encrypted at once: one TLS record. Bounds the
/// outgoing buffer however large the message being written.
pub(super) const WRITE_CHUNK: usize = 16 * 1024;

/// Either side of rustls's unbuffered connection.
pub(super) trait Side: Send + 'static {
    type Data;
    fn process<'c, 'i>(
        &'c mut self,
        incoming: &'i mut [u8],
    ) -> UnbufferedStatus<'c, 'i, Self::Data>;
    fn is_handshaking(&self) -> bool;
}

// rustls gives each side its own inherent `process_tls_records`.
macro_rules! side {
    ($conn:ty, $data:ty) => {
        impl Side for $conn {
            type Data = $data;
            fn process<'c, 'i>(
                &'c mut self,
                incoming: &'i mut [u8],
            ) -> UnbufferedStatus<'c, 'i, Self::Data> {
                self.process_tls_records(incoming)
            }
            fn is_handshaking(&self) -> bool {
                (**self).is_handshaking()
            }
        }
    };
}

side!(UnbufferedServerConnection, ServerConnectionData);
side!(UnbufferedClientConnection, ClientConnectionData);

/// Why the TLS layer stopped.
#[derive(Debug)]
pub(super) enum TlsError {
    /// rustls refused what the peer sent (or what we asked of it).
    Tls(rustls::Error),
    /// The socket failed.
    Io(io::Error),
}

impl std::fmt::Display for TlsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TlsError::Tls(error) => write!(f, "TLS: {error}"),
            TlsError::Io(error) => write!(f, "{error}"),
        }
    }
}

impl From<io::Error> for TlsError {
    fn from(error: io::Error) -> TlsError {
        TlsError::Io(error)
    }
}

impl From<rustls::Error> for TlsError {
    fn from(error: rustls::Error) -> TlsError {
        TlsError::Tls(error)
    }
}

/// The TLS state and its buffers.
pub(super) struct TlsState<C> {
    pub(super) conn: C,
    /// Ciphertext read and not yet processed: at most a partial record
    /// between reads.
    incoming: Vec<u8>,
    /// Decrypted application data the reader has not consumed yet.
    pub(super) plaintext: BytesMut,
    /// Ciphertext waiting for the socket, in order.
    outgoing: Vec<u8>,
    /// The peer sent close_notify: no more application data will come.
    pub(super) peer_closed: bool,
    /// rustls failed; every later use fails the same way.
    failed: Option<rustls::Error>,
}

impl<C: Side> TlsState<C> {
    /// Runs the state machine over what has been read, decrypting into
    /// `plaintext` and queueing handshake records and alerts in `outgoing`;
    /// then encrypts `app_data` into `outgoing`, which must be allowed (the
    /// handshake done) when it is not empty.
    pub(super) fn advance(&mut self, app_data: &[u8]) -> Result<(), TlsError> {
        if let Some(error) = &self.failed {
            return Err(error.clone().into());
        }
        let result = self.run(app_data);
        if let Err(TlsError::Tls(error)) = &result {
            self.failed = Some(error.clone());
            // rustls queued an alert telling the peer why: send it.
            self.drain_alerts();
        }
        release_if_empty(&mut self.incoming);
        result
    }

    fn run(&mut self, app_data: &[u8]) -> Result<(), TlsError> {
        let mut app_data = Some(app_data).filter(|data| !data.is_empty());
        loop {
            let UnbufferedStatus { mut discard, state } = self.conn.process(&mut self.incoming);
            let done = match state? {
                ConnectionState::ReadTraffic(mut traffic) => {
                    while let Some(record) = traffic.next_record() {
                        let record = record?;
                        self.plaintext.extend_from_slice(record.payload);
                        discard += record.discard;
                    }
                    false
                }
                ConnectionState::EncodeTlsData(mut encode) => {
                    fill(&mut self.outgoing, |buf| {
                        encode.encode(buf).map_err(encode_room)
                    })
                    .map_err(|()| rustls::Error::General("encoding a handshake record".into()))?;
                    false
                }
                // The records are queued in `outgoing` ahead of anything
                // written later, which is all the ordering TLS needs.
                ConnectionState::TransmitTlsData(transmit) => {
                    transmit.done();
                    false
                }
                ConnectionState::BlockedHandshake => {
                    if app_data.is_some() {
                        return Err(rustls::Error::HandshakeNotComplete.into());
                    }
                    true
                }
                ConnectionState::WriteTraffic(mut write) => {
                    if let Some(data) = app_data.take() {
                        fill(&mut self.outgoing, |buf| {
                            write.encrypt(data, buf).map_err(encrypt_room)
                        })
                        .map_err(|()| rustls::Error::EncryptError)?;
                    }
                    true
                }
                ConnectionState::PeerClosed => {
                    self.peer_closed = true;
                    false
                }
                ConnectionState::Closed => {
                    self.peer_closed = true;
                    if app_data.is_some() {
                        return Err(io::Error::from(io::ErrorKind::BrokenPipe).into());
                    }
                    true
                }
                // Early data is not enabled, and nothing else is expected.
                _ => return Err(rustls::Error::General("unexpected TLS state".into()).into()),
            };
            // Every status consumes input, the final one included.
            self.incoming.drain(..discard);
            if done {
                return Ok(());
            }
        }
    }

    /// Ciphertext queued for the socket.
    pub(super) fn queued(&self) -> usize {
        self.outgoing.len()
    }

    /// Queues the alert rustls prepared after failing, if any.
    fn drain_alerts(&mut self) {
        for _ in 0..4 {
            let UnbufferedStatus { state, .. } = self.conn.process(&mut []);
            match state {
                Ok(ConnectionState::EncodeTlsData(mut encode)) => {
                    let _ = fill(&mut self.outgoing, |buf| {
                        encode.encode(buf).map_err(encode_room)
                    });
                }
                Ok(ConnectionState::TransmitTlsData(transmit)) => transmit.done(),
                _ => return,
            }
        }
    }

    /// Encrypts a close_notify, when the connection is far enough along to
    /// send one.
    pub(super) fn close_notify(&mut self) {
        if self.failed.is_some() {
            return;
        }
        let UnbufferedStatus { state, .. } = self.conn.process(&mut []);
        if let Ok(ConnectionState::WriteTraffic(mut write)) = state {
            let _ = fill(&mut self.outgoing, |buf| {
                write.queue_close_notify(buf).map_err(encrypt_room)
            });
        }
    }
}

/// The room an encoding asked for, if that is what failed.
fn encode_room(error: EncodeError) -> Option<usize> {
    match error {
        EncodeError::InsufficientSize(InsufficientSizeError { required_size }) => {
            Some(required_size)
        }
        _ => None,
    }
}

/// The room an encryption asked for, if that is what failed.
fn encrypt_room(error: EncryptError) -> Option<usize> {
    match error {
        EncryptError::InsufficientSize(InsufficientSizeError { required_size }) => {
            Some(required_size)
        }
        _ => None,
    }
}

/// Appends to `buf` what `write` puts in a slice, growing the slice to the
/// size `write` asks for (`Err(Some(n))`) until it fits.
fn fill(
    buf: &mut Vec<u8>,
    mut write: impl FnMut(&mut [u8]) -> Result<usize, Option<usize>>,
) -> Result<(), ()> {
    let start = buf.len();
    let mut room = 64;
    loop {
        buf.resize(start + room, 0);
        match write(&mut buf[start..]) {
            Ok(n) => {
                buf.truncate(start + n);
                return Ok(());
            }
            Err(Some(required)) if required > room => room = required,
            Err(_) => {
                buf.truncate(start);
                return Err(());
            }
        }
    }
}

fn release_if_empty(buf: &mut Vec<u8>) {
    if buf.is_empty() && buf.capacity() > 0 {
        *buf = Vec::new();
    }
}

/// A TLS connection over TCP, shared by its read and write halves.
pub(super) struct TlsIo<C> {
    tcp: TcpStream,
    state: Mutex<TlsState<C>>,
}

impl<C: Side> TlsIo<C> {
    pub(super) fn new(tcp: TcpStream, conn: C) -> TlsIo<C> {
        TlsIo {
            tcp,
            state: Mutex::new(TlsState {
                conn,
                incoming: Vec::new(),
                plaintext: BytesMut::new(),
                outgoing: Vec::new(),
                peer_closed: false,
                failed: None,
            }),
        }
    }

    /// The state, for moving bytes; never held across an await.
    pub(super) fn lock(&self) -> MutexGuard<'_, TlsState<C>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Completes the TLS handshake.
    pub(super) async fn handshake(&self) -> Result<(), TlsError> {
        loop {
            let done = {
                let mut state = self.lock();
                state.advance(&[]).map(|()| !state.conn.is_handshaking())
            };
            let done = match done {
                Ok(done) => done,
                Err(error) => {
                    // The alert, best effort: the error is what matters.
                    let _ = self.try_flush();
                    return Err(error);
                }
            };
            self.flush().await?;
            if done {
                return Ok(());
            }
            if !self.read().await? {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the peer closed the connection during the TLS handshake",
                )
                .into());
            }
        }
    }

    /// Waits for ciphertext and processes it into `plaintext`. False when
    /// the peer closed the TCP connection.
    pub(super) async fn read(&self) -> Result<bool, TlsError> {
        loop {
            self.tcp.readable().await?;
            let mut state = self.lock();
            state.incoming.reserve(READ_CHUNK);
            match self.tcp.try_read_buf(&mut state.incoming) {
                Ok(0) => {
                    release_if_empty(&mut state.incoming);
                    return Ok(false);
                }
                Ok(_) => {
                    state.advance(&[])?;
                    return Ok(true);
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                    release_if_empty(&mut state.incoming);
                }
                Err(error) => return Err(error.into()),
            }
        }
    }

    /// Writes out everything queued, waiting while the socket is full.
    pub(super) async fn flush(&self) -> Result<(), TlsError> {
        while !self.try_flush()? {
            self.tcp.writable().await?;
        }
        Ok(())
    }

    /// Writes what the socket takes without waiting; true when nothing is
    /// left queued.
    pub(super) fn try_flush(&self) -> Result<bool, TlsError> {
        let mut state = self.lock();
        while !state.outgoing.is_empty() {
            match self.tcp.try_write(&state.outgoing) {
                Ok(n) => {
                    state.outgoing.drain(..n);
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(error) => return Err(error.into()),
            }
        }
        release_if_empty(&mut state.outgoing);
        Ok(true)
    }
}
