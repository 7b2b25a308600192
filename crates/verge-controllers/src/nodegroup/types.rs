//! The Rust shape of the two custom types (their schemas are the CRD
//! manifests beside this file). Only what the controller reads is typed;
//! status is written as JSON through the status subresource.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::{ClusterResourceScope, Metadata, NamespaceResourceScope, Resource};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub const GROUP: &str = "apps.verge.dev";
pub const VERSION: &str = "v1alpha1";
pub const API_VERSION: &str = "apps.verge.dev/v1alpha1";

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct NodeGroup {
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: NodeGroupSpec,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct NodeGroupSpec {
    #[serde(default)]
    pub nodes: Vec<String>,
    pub selector: Option<LabelSelector>,
}

impl Resource for NodeGroup {
    const API_VERSION: &'static str = API_VERSION;
    const GROUP: &'static str = GROUP;
    const KIND: &'static str = "NodeGroup";
    const VERSION: &'static str = VERSION;
    const URL_PATH_SEGMENT: &'static str = "nodegroups";
    type Scope = ClusterResourceScope;
}

impl Metadata for NodeGroup {
    type Ty = ObjectMeta;
    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct GroupedDeployment {
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: GroupedDeploymentSpec,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupedDeploymentSpec {
    #[serde(default)]
    pub deployment_template: DeploymentTemplate,
    #[serde(default)]
    pub node_groups: Vec<GroupOverride>,
    pub node_group_selector: Option<LabelSelector>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct DeploymentTemplate {
    #[serde(default)]
    pub metadata: TemplateMeta,
    /// Kept as JSON: it becomes a DeploymentSpec per group, and a template
    /// that is not one is reported rather than refused by the schema.
    #[serde(default)]
    pub spec: Value,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct TemplateMeta {
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct GroupOverride {
    pub name: String,
    pub replicas: Option<i32>,
    #[serde(default)]
    pub images: BTreeMap<String, String>,
}

impl Resource for GroupedDeployment {
    const API_VERSION: &'static str = API_VERSION;
    const GROUP: &'static str = GROUP;
    const KIND: &'static str = "GroupedDeployment";
    const VERSION: &'static str = VERSION;
    const URL_PATH_SEGMENT: &'static str = "groupeddeployments";
    type Scope = NamespaceResourceScope;
}

impl Metadata for GroupedDeployment {
    type Ty = ObjectMeta;
    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}
