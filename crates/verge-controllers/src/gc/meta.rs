//! The few metadata fields garbage collection reads, decoded without the
//! rest of the object, and uids as 16 bytes instead of 36-byte strings.

use std::fmt;

use serde::Deserialize;

/// An object's uid. The API server issues UUIDs; a reference carrying
/// anything else can never name an existing object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Uid(pub u128);

impl Uid {
    pub fn parse(s: &str) -> Option<Uid> {
        if s.len() != 36 {
            return None;
        }
        let mut hex = String::with_capacity(32);
        for (i, c) in s.chars().enumerate() {
            match i {
                8 | 13 | 18 | 23 if c == '-' => {}
                8 | 13 | 18 | 23 => return None,
                _ if c.is_ascii_hexdigit() => hex.push(c),
                _ => return None,
            }
        }
        u128::from_str_radix(&hex, 16).ok().map(Uid)
    }
}

impl fmt::Display for Uid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let h = format!("{:032x}", self.0);
        write!(
            f,
            "{}-{}-{}-{}-{}",
            &h[0..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..32]
        )
    }
}

pub const FOREGROUND: &str = "foregroundDeletion";
pub const ORPHAN: &str = "orphan";

#[derive(Deserialize, Default)]
struct Partial {
    #[serde(default)]
    metadata: Option<Meta>,
}

/// `metadata` as far as the collector cares.
#[derive(Deserialize, Default, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct Meta {
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub uid: Option<String>,
    #[serde(default)]
    pub owner_references: Option<Vec<OwnerRef>>,
    #[serde(default)]
    pub finalizers: Option<Vec<String>>,
    #[serde(default)]
    pub deletion_timestamp: Option<String>,
}

#[derive(Deserialize, Default, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct OwnerRef {
    #[serde(default)]
    pub api_version: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub uid: String,
    #[serde(default)]
    pub block_owner_deletion: Option<bool>,
}

impl OwnerRef {
    /// (group, version) of `apiVersion`.
    pub fn group_version(&self) -> (&str, &str) {
        match self.api_version.split_once('/') {
            Some((g, v)) => (g, v),
            None => ("", self.api_version.as_str()),
        }
    }

    pub fn blocks(&self) -> bool {
        self.block_owner_deletion == Some(true)
    }
}

impl fmt::Display for OwnerRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[{}/{}, name: {}, uid: {}]",
            self.api_version, self.kind, self.name, self.uid
        )
    }
}

impl Meta {
    /// Decodes `metadata` from an object's JSON; None if it is not JSON.
    pub fn from_json(bytes: &[u8]) -> Option<Meta> {
        serde_json::from_slice::<Partial>(bytes)
            .ok()
            .map(|p| p.metadata.unwrap_or_default())
    }

    pub fn uid(&self) -> Option<Uid> {
        self.uid.as_deref().and_then(Uid::parse)
    }

    pub fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref().filter(|n| !n.is_empty())
    }

    pub fn owners(&self) -> &[OwnerRef] {
        self.owner_references.as_deref().unwrap_or_default()
    }

    pub fn is_deleting(&self) -> bool {
        self.deletion_timestamp.is_some()
    }

    pub fn has_finalizer(&self, f: &str) -> bool {
        self.finalizers
            .as_deref()
            .unwrap_or_default()
            .iter()
            .any(|x| x == f)
    }

    /// Being deleted in the foreground: waits for its dependents.
    pub fn is_deleting_dependents(&self) -> bool {
        self.is_deleting() && self.has_finalizer(FOREGROUND)
    }

    /// Being deleted with its dependents orphaned.
    pub fn is_orphaning(&self) -> bool {
        self.is_deleting() && self.has_finalizer(ORPHAN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uids_round_trip_and_reject_non_uuids() {
        let s = "0f8fad5b-d9cb-469f-a165-70867728950e";
        let uid = Uid::parse(s).expect("uuid");
        assert_eq!(uid.to_string(), s);
        assert_eq!(
            Uid::parse("0F8FAD5B-D9CB-469F-A165-70867728950E"),
            Some(uid)
        );
        assert!(Uid::parse("not-a-uid").is_none());
        assert!(Uid::parse("0f8fad5b+d9cb-469f-a165-70867728950e").is_none());
        assert!(Uid::parse("0f8fad5b-d9cb-469f-a165-70867728950g").is_none());
    }

    #[test]
    fn reads_only_what_it_needs() {
        let m = Meta::from_json(
            br#"{"kind":"Pod","spec":{"x":[1,2]},"metadata":{"name":"p","namespace":"d","uid":"0f8fad5b-d9cb-469f-a165-70867728950e",
            "deletionTimestamp":"2026-01-01T00:00:00Z","finalizers":["foregroundDeletion"],
            "ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"rs","uid":"u","blockOwnerDeletion":true}],
            "managedFields":[{"manager":"x"}]}}"#,
        )
        .expect("json");
        assert!(m.is_deleting_dependents());
        assert!(!m.is_orphaning());
        assert_eq!(m.owners()[0].group_version(), ("apps", "v1"));
        assert!(m.owners()[0].blocks());
        let none = Meta::from_json(br#"{"metadata":{"ownerReferences":null}}"#).expect("json");
        assert!(none.owners().is_empty());
        assert!(Meta::from_json(b"garbage").is_none());
    }
}
