//! Which objects a controller owns, the way kube's ControllerRefManager
//! decides it: an object whose controller reference names the owner is
//! the owner's while the owner's selector matches it (and is released when
//! it stops matching); an orphan the selector matches is adopted; an
//! object controlled by someone else is never touched.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::{Metadata, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;
use verge_apimachinery::labels::Selector;
use verge_runtime::{Client, Error, ObjectRef, Part};

use super::{controller_of, is_deleting};

/// What to do with one candidate.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Keep,
    Adopt,
    Release,
    Ignore,
}

fn verdict(
    meta: &ObjectMeta,
    owner: &ObjectRef,
    owner_deleting: bool,
    selector: &Selector,
) -> Verdict {
    let matches = selector.matches(&meta.labels.clone().unwrap_or_default());
    match controller_of(meta) {
        Some(r) if r.uid == owner.uid => {
            if matches {
                Verdict::Keep
            } else if is_deleting(meta) {
                // Going anyway; leave it alone.
                Verdict::Ignore
            } else {
                Verdict::Release
            }
        }
        Some(_) => Verdict::Ignore,
        None if matches && !owner_deleting && !is_deleting(meta) => Verdict::Adopt,
        None => Verdict::Ignore,
    }
}

/// Claims `candidates` for `owner`: returns the objects it controls after
/// adopting matching orphans (adding `finalizer` to them when given, as a
/// Job adds its tracking finalizer) and releasing controlled objects its
/// selector no longer matches.
pub async fn claim<K>(
    client: &Client,
    owner: &ObjectRef,
    owner_deleting: bool,
    selector: &Selector,
    candidates: Vec<K>,
    finalizer: Option<&str>,
) -> Result<Vec<K>, Error>
where
    K: Resource + Metadata<Ty = ObjectMeta> + Serialize + DeserializeOwned + Clone,
{
    let mut owned = Vec::with_capacity(candidates.len());
    for obj in candidates {
        let meta = obj.metadata();
        let name = meta.name.clone().unwrap_or_default();
        let ns = meta.namespace.clone();
        match verdict(meta, owner, owner_deleting, selector) {
            Verdict::Keep => owned.push(obj),
            Verdict::Ignore => {}
            Verdict::Adopt => {
                let result = client
                    .update::<K, _>(ns.as_deref(), &name, Part::Main, |o| {
                        let meta = o.metadata_mut();
                        if controller_of(meta).is_some() || is_deleting(meta) {
                            return Err(Error::Other(format!(
                                "{} {name} changed while being adopted",
                                K::KIND
                            )));
                        }
                        meta.owner_references
                            .get_or_insert_with(Vec::new)
                            .push(owner.controller_owner());
                        if let Some(f) = finalizer {
                            let list = meta.finalizers.get_or_insert_with(Vec::new);
                            if !list.iter().any(|x| x == f) {
                                list.push(f.to_owned());
                            }
                        }
                        Ok(())
                    })
                    .await;
                match result {
                    Ok(adopted) => {
                        tracing::info!(owner = %owner, kind = K::KIND, name, "adopted");
                        owned.push(adopted);
                    }
                    Err(e) if e.is_not_found() => {}
                    Err(Error::Other(why)) => tracing::debug!(owner = %owner, why, "not adopted"),
                    Err(e) => return Err(e),
                }
            }
            Verdict::Release => {
                let result = client
                    .update::<K, _>(ns.as_deref(), &name, Part::Main, |o| {
                        let meta = o.metadata_mut();
                        if let Some(refs) = &mut meta.owner_references {
                            refs.retain(|r| r.uid != owner.uid);
                            if refs.is_empty() {
                                meta.owner_references = None;
                            }
                        }
                        Ok(())
                    })
                    .await;
                match result {
                    Ok(_) => tracing::info!(owner = %owner, kind = K::KIND, name, "released"),
                    Err(e) if e.is_not_found() => {}
                    Err(e) => return Err(e),
                }
            }
        }
    }
    Ok(owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

    fn owner() -> ObjectRef {
        ObjectRef {
            api_version: "apps/v1".into(),
            kind: "DaemonSet".into(),
            namespace: Some("default".into()),
            name: "agent".into(),
            uid: "uid-1".into(),
            resource_version: None,
        }
    }

    fn meta(labels: &[(&str, &str)], controller: Option<&str>) -> ObjectMeta {
        ObjectMeta {
            labels: Some(
                labels
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
            ),
            owner_references: controller.map(|uid| {
                vec![OwnerReference {
                    uid: uid.into(),
                    controller: Some(true),
                    ..OwnerReference::default()
                }]
            }),
            ..ObjectMeta::default()
        }
    }

    #[test]
    fn verdicts() {
        let sel = Selector::parse("app=agent").expect("selector");
        let o = owner();
        assert_eq!(
            verdict(&meta(&[("app", "agent")], Some("uid-1")), &o, false, &sel),
            Verdict::Keep
        );
        assert_eq!(
            verdict(&meta(&[("app", "other")], Some("uid-1")), &o, false, &sel),
            Verdict::Release
        );
        assert_eq!(
            verdict(&meta(&[("app", "agent")], None), &o, false, &sel),
            Verdict::Adopt
        );
        assert_eq!(
            verdict(&meta(&[("app", "agent")], None), &o, true, &sel),
            Verdict::Ignore,
            "a deleting owner adopts nothing"
        );
        assert_eq!(
            verdict(&meta(&[("app", "agent")], Some("uid-2")), &o, false, &sel),
            Verdict::Ignore
        );
        assert_eq!(
            verdict(&meta(&[("app", "other")], None), &o, false, &sel),
            Verdict::Ignore
        );
    }
}
