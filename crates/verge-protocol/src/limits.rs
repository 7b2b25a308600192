//! Limits and defaults both peers apply. docs/protocol.md ("Limits")
//! explains how they were chosen.

use std::time::Duration;

use crate::pb;

/// The largest frame (header and payload) anyone may send: 32 MiB. A header
/// announcing more is refused before its payload is read or allocated.
pub const MAX_FRAME_BYTES: usize = 32 * 1024 * 1024;

/// The smallest frame limit a peer may announce: every single object the API
/// server accepts (1.5 MiB of JSON in etcd terms, Verge's own cap is the
/// same) must fit into one batch.
pub const MIN_FRAME_BYTES: usize = 2 * 1024 * 1024;

/// Send a Ping after this long without receiving anything. An idle link
/// then carries one Ping, one Pong and one bare TCP ACK per interval, about
/// 260 bytes on the wire with TLS and TCP/IP headers: 0.083 kbit/s, under the
/// 0.1 kbit/s budget per idle node (docs/protocol.md, "Heartbeats").
pub const DEFAULT_HEARTBEAT_INTERVAL: Duration = Duration::from_secs(25);

/// Declare the link dead after this long without receiving anything. On an
/// idle link some frame arrives about every heartbeat interval (whichever
/// side's timer fires first pings), so this is the interval plus slack for
/// TCP retransmissions on a lossy link.
pub const DEFAULT_DEAD_AFTER: Duration = Duration::from_secs(45);

/// Reports the edge may have in flight before it waits for a ReportAck.
pub const DEFAULT_MAX_UNACKED_REPORTS: u32 = 1024;

/// Entries per InventoryChunk: about 100 bytes each, so a chunk stays near
/// 400 KiB, far below the frame limit.
pub const DEFAULT_MAX_INVENTORY_ENTRIES: u32 = 4096;

/// The limits a cloud hub announces in Welcome unless configured otherwise.
pub fn default_limits() -> pb::Limits {
    pb::Limits {
        max_frame_bytes: MAX_FRAME_BYTES as u32,
        max_unacked_reports: DEFAULT_MAX_UNACKED_REPORTS,
        max_inventory_entries: DEFAULT_MAX_INVENTORY_ENTRIES,
    }
}
