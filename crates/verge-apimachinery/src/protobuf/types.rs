//! Per-message JSON field tables, one module per Kubernetes API group version.
//!
//! Each row gives the k8s-pb field, its JSON key, and the rule (`opt`, `ptr`,
//! `req`, `inline`; see [`super::json`]) matching the Go field's type and
//! `json` tag in `k8s.io/api` / `k8s.io/apimachinery` v0.35 (the release k8s-pb
//! 0.9 was generated from). Rows are in protobuf declaration order, which is
//! the Go struct order, so keys come out in the same order as Go's JSON.
//!
//! The rules were derived mechanically from the Go struct definitions (pointer
//! → `ptr`; `omitempty` scalar, slice or map → `opt`; `omitzero` time → `opt`;
//! embedded `json:",inline"` → `inline`; everything else → `req`) and matched
//! to k8s-pb fields by protobuf tag number. When bumping k8s-pb, the
//! exhaustive destructuring in `messages!` flags every new field at compile
//! time; look up its Go declaration to pick the rule.
//!
//! Types with hand-written JSON (`Time`, `MicroTime`, `Quantity`,
//! `IntOrString`, `FieldsV1`, `ExtraValue`) live in [`super::json`].

mod apps_v1;
mod authentication_v1;
mod authorization_v1;
mod autoscaling_v1;
mod autoscaling_v2;
mod batch_v1;
mod certificates_v1;
mod coordination_v1;
mod core_v1;
mod events_v1;
mod meta_v1;
mod networking_v1;
mod policy_v1;
mod rbac_v1;
mod scheduling_v1;
