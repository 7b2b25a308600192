//! `spec.podFailurePolicy`: rules that decide what a failed pod means —
//! fail the whole Job at once, ignore the failure (it does not count
//! toward `backoffLimit`), or count it as usual.

use k8s_openapi::api::batch::v1::{PodFailurePolicy, PodFailurePolicyRule};
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};

/// What the first matching rule says about a failed pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Fail the Job; the message says which rule and why.
    FailJob(String),
    /// Do not count the failure.
    Ignore,
    /// Count it (also what FailIndex does without per-index backoff).
    Count,
}

/// Evaluates the rules in order against a failed pod; `None` when no rule
/// matches (the failure counts as usual).
pub fn evaluate(policy: &PodFailurePolicy, pod: &Pod) -> Option<Action> {
    policy
        .rules
        .iter()
        .enumerate()
        .find_map(|(i, rule)| matches(rule, pod, i).map(|why| action(rule, why)))
}

fn action(rule: &PodFailurePolicyRule, why: String) -> Action {
    match rule.action.as_str() {
        "FailJob" => Action::FailJob(why),
        "Ignore" => Action::Ignore,
        _ => Action::Count,
    }
}

/// Why `rule` (at `index`) matches the pod, worded as kube words it.
fn matches(rule: &PodFailurePolicyRule, pod: &Pod, index: usize) -> Option<String> {
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
    if let Some(req) = &rule.on_exit_codes {
        let status = pod.status.as_ref()?;
        let containers = status
            .init_container_statuses
            .iter()
            .flatten()
            .chain(status.container_statuses.iter().flatten());
        for c in containers {
            if req.container_name.as_ref().is_some_and(|n| *n != c.name) {
                continue;
            }
            let Some(code) = exit_code(c) else { continue };
            // Successful containers never match.
            if code == 0 {
                continue;
            }
            let listed = req.values.contains(&code);
            let hit = match req.operator.as_str() {
                "In" => listed,
                "NotIn" => !listed,
                _ => false,
            };
            if hit {
                return Some(format!(
                    "Container {} for pod {ns}/{name} failed with exit code {code} matching {} rule at index {index}",
                    c.name, rule.action
                ));
            }
        }
        return None;
    }
    if let Some(patterns) = &rule.on_pod_conditions {
        let conditions = pod
            .status
            .as_ref()?
            .conditions
            .as_deref()
            .unwrap_or_default();
        for p in patterns {
            if conditions
                .iter()
                .any(|c| c.type_ == p.type_ && c.status == p.status)
            {
                return Some(format!(
                    "Pod {ns}/{name} has condition {} matching {} rule at index {index}",
                    p.type_, rule.action
                ));
            }
        }
    }
    None
}

fn exit_code(c: &ContainerStatus) -> Option<i32> {
    c.state.as_ref()?.terminated.as_ref().map(|t| t.exit_code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::batch::v1::{
        PodFailurePolicyOnExitCodesRequirement, PodFailurePolicyOnPodConditionsPattern,
    };
    use k8s_openapi::api::core::v1::{
        ContainerState, ContainerStateTerminated, PodCondition, PodStatus,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn failed_pod(code: i32, conditions: &[(&str, &str)]) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some("p".into()),
                namespace: Some("ns".into()),
                ..ObjectMeta::default()
            },
            spec: None,
            status: Some(PodStatus {
                phase: Some("Failed".into()),
                container_statuses: Some(vec![ContainerStatus {
                    name: "main".into(),
                    state: Some(ContainerState {
                        terminated: Some(ContainerStateTerminated {
                            exit_code: code,
                            ..ContainerStateTerminated::default()
                        }),
                        ..ContainerState::default()
                    }),
                    ..ContainerStatus::default()
                }]),
                conditions: Some(
                    conditions
                        .iter()
                        .map(|(t, s)| PodCondition {
                            type_: (*t).into(),
                            status: (*s).into(),
                            ..PodCondition::default()
                        })
                        .collect(),
                ),
                ..PodStatus::default()
            }),
        }
    }

    fn exit_rule(action: &str, op: &str, values: Vec<i32>) -> PodFailurePolicyRule {
        PodFailurePolicyRule {
            action: action.into(),
            on_exit_codes: Some(PodFailurePolicyOnExitCodesRequirement {
                container_name: None,
                operator: op.into(),
                values,
            }),
            on_pod_conditions: None,
        }
    }

    #[test]
    fn first_matching_rule_wins() {
        let policy = PodFailurePolicy {
            rules: vec![
                PodFailurePolicyRule {
                    action: "Ignore".into(),
                    on_exit_codes: None,
                    on_pod_conditions: Some(vec![PodFailurePolicyOnPodConditionsPattern {
                        type_: "DisruptionTarget".into(),
                        status: "True".into(),
                    }]),
                },
                exit_rule("FailJob", "In", vec![42]),
                exit_rule("Count", "NotIn", vec![42]),
            ],
        };
        assert_eq!(
            evaluate(&policy, &failed_pod(42, &[])),
            Some(Action::FailJob(
                "Container main for pod ns/p failed with exit code 42 matching FailJob rule at index 1".into()
            ))
        );
        assert_eq!(
            evaluate(&policy, &failed_pod(42, &[("DisruptionTarget", "True")])),
            Some(Action::Ignore)
        );
        assert_eq!(evaluate(&policy, &failed_pod(1, &[])), Some(Action::Count));
        assert_eq!(
            evaluate(&policy, &failed_pod(0, &[])),
            None,
            "exit code 0 never matches"
        );
    }
}
