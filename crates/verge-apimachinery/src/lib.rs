//! Kubernetes API machinery that does not depend on a server: label and field
//! selectors, the three patch formats, kubectl's protobuf request envelope, and
//! the human-readable durations kubectl prints.

pub mod apply;
pub mod duration;
pub mod fields;
pub mod labels;
pub mod patch;
pub mod protobuf;
