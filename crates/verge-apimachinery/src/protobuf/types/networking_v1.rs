//! JSON field tables for `networking/v1` messages.

use k8s_pb::api::networking::v1 as pb;

use super::super::json::messages;

messages! {
    pb::HttpIngressPath {
        opt path: "path",
        ptr path_type: "pathType",
        req backend: "backend",
    }

    pb::HttpIngressRuleValue {
        req paths: "paths",
    }

    pb::IpBlock {
        req cidr: "cidr",
        opt except: "except",
    }

    pb::Ingress {
        req metadata: "metadata",
        req spec: "spec",
        req status: "status",
    }

    pb::IngressBackend {
        ptr service: "service",
        ptr resource: "resource",
    }

    pb::IngressClass {
        req metadata: "metadata",
        req spec: "spec",
    }

    pb::IngressClassParametersReference {
        ptr a_pi_group: "apiGroup",
        req kind: "kind",
        req name: "name",
        ptr scope: "scope",
        ptr namespace: "namespace",
    }

    pb::IngressClassSpec {
        opt controller: "controller",
        ptr parameters: "parameters",
    }

    pb::IngressLoadBalancerIngress {
        opt ip: "ip",
        opt hostname: "hostname",
        opt ports: "ports",
    }

    pb::IngressLoadBalancerStatus {
        opt ingress: "ingress",
    }

    pb::IngressPortStatus {
        req port: "port",
        req protocol: "protocol",
        ptr error: "error",
    }

    pb::IngressRule {
        opt host: "host",
        inline ingress_rule_value,
    }

    pb::IngressRuleValue {
        ptr http: "http",
    }

    pb::IngressServiceBackend {
        req name: "name",
        req port: "port",
    }

    pb::IngressSpec {
        ptr ingress_class_name: "ingressClassName",
        ptr default_backend: "defaultBackend",
        opt tls: "tls",
        opt rules: "rules",
    }

    pb::IngressStatus {
        req load_balancer: "loadBalancer",
    }

    pb::IngressTls {
        opt hosts: "hosts",
        opt secret_name: "secretName",
    }

    pb::NetworkPolicy {
        req metadata: "metadata",
        req spec: "spec",
    }

    pb::NetworkPolicyEgressRule {
        opt ports: "ports",
        opt to: "to",
    }

    pb::NetworkPolicyIngressRule {
        opt ports: "ports",
        opt from: "from",
    }

    pb::NetworkPolicyPeer {
        ptr pod_selector: "podSelector",
        ptr namespace_selector: "namespaceSelector",
        ptr ip_block: "ipBlock",
    }

    pb::NetworkPolicyPort {
        ptr protocol: "protocol",
        ptr port: "port",
        ptr end_port: "endPort",
    }

    pb::NetworkPolicySpec {
        req pod_selector: "podSelector",
        opt ingress: "ingress",
        opt egress: "egress",
        opt policy_types: "policyTypes",
    }

    pb::ServiceBackendPort {
        opt name: "name",
        opt number: "number",
    }
}
