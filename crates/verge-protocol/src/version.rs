//! Protocol versions and their negotiation.
//!
//! A protocol version is a small integer carried in every frame header. It
//! changes only for incompatible changes (see docs/protocol.md,
//! "Versioning"); compatible additions live inside a version and are gated by
//! features announced in Hello and Welcome.

/// The version this build prefers.
pub const CURRENT_VERSION: u8 = 1;

/// Every version this build can speak, oldest first.
pub const SUPPORTED_VERSIONS: &[u8] = &[1];

/// Whether this build can speak `version`.
pub fn is_supported(version: u8) -> bool {
    SUPPORTED_VERSIONS.contains(&version)
}

/// The newest version both this build and a peer offering `offered` speak,
/// or `None` when they have none in common (answer with a Goodbye
/// `VERSION_UNSUPPORTED`). Offered values above 255 are never supported and
/// are skipped, not truncated.
pub fn negotiate(offered: &[u32]) -> Option<u8> {
    offered
        .iter()
        .filter_map(|&v| u8::try_from(v).ok())
        .filter(|&v| is_supported(v))
        .max()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_picks_the_newest_common_version() {
        assert_eq!(negotiate(&[1]), Some(1));
        assert_eq!(negotiate(&[7, 1, 3]), Some(1));
        assert_eq!(negotiate(&[]), None);
        assert_eq!(negotiate(&[2, 9]), None);
        // 257 would truncate to 1; it must not be taken for version 1.
        assert_eq!(negotiate(&[257]), None);
    }
}
