//! Worker loops: take a key, reconcile it, decide when to look again.

use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::metrics::ControllerMetrics;
use crate::queue::Queue;

/// What a reconcile asks for next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Nothing until something changes.
    Done,
    /// Look again after this long even if nothing changes (a deadline, a
    /// timer such as a CronJob's next run, a slow-start batch).
    RequeueAfter(Duration),
}

/// Runs `workers` loops that reconcile keys from `queue` until it closes.
/// `reconcile` gets its own clone of `ctx` (the controller's shared state,
/// usually an `Arc`) with each key.
///
/// Each reconcile runs in its own task, so one that panics is logged,
/// counted and retried with backoff like an error, while the other keys and
/// the other controllers carry on. A key is never reconciled by two workers
/// at once.
pub async fn run<C, K, R, Fut>(
    name: &'static str,
    queue: Queue<K>,
    workers: usize,
    metrics: Arc<ControllerMetrics>,
    ctx: C,
    reconcile: R,
) where
    C: Clone + Send + Sync + 'static,
    K: Clone + Eq + Hash + Ord + std::fmt::Display + Send + Sync + 'static,
    R: Fn(C, K) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Action, Error>> + Send + 'static,
{
    let reconcile = Arc::new(move |key: K| reconcile(ctx.clone(), key));
    let mut loops = tokio::task::JoinSet::new();
    for _ in 0..workers.max(1) {
        let queue = queue.clone();
        let reconcile = reconcile.clone();
        let metrics = metrics.clone();
        loops.spawn(async move {
            while let Some(key) = queue.next().await {
                let started = Instant::now();
                let outcome = tokio::spawn(reconcile(key.clone())).await;
                let elapsed = started.elapsed();
                let result = match outcome {
                    Ok(Ok(Action::Done)) => {
                        queue.forget(&key);
                        "ok"
                    }
                    Ok(Ok(Action::RequeueAfter(after))) => {
                        queue.forget(&key);
                        queue.add_after(key.clone(), after);
                        "ok"
                    }
                    Ok(Err(e)) => {
                        let retry_in = queue.retry(key.clone());
                        // Conflicts are the normal price of optimistic
                        // concurrency: the retry sees the newer object.
                        if e.is_conflict() {
                            tracing::debug!(controller = name, %key, error = %e, ?retry_in, "reconcile conflicted; retrying");
                        } else {
                            tracing::warn!(controller = name, %key, error = %e, ?retry_in, "reconcile failed; retrying");
                        }
                        "error"
                    }
                    Err(join) => {
                        let retry_in = queue.retry(key.clone());
                        let why = panic_message(join);
                        tracing::error!(controller = name, %key, panic = %why, ?retry_in, "reconcile panicked; the other objects are unaffected");
                        "panic"
                    }
                };
                metrics.observe(name, result, elapsed, queue.len());
                queue.done(&key);
            }
        });
    }
    while loops.join_next().await.is_some() {}
}

fn panic_message(join: tokio::task::JoinError) -> String {
    if join.is_cancelled() {
        return "cancelled".into();
    }
    match join.try_into_panic() {
        Ok(payload) => payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic with a non-string payload".into()),
        Err(_) => "task failed".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn a_panicking_key_does_not_stop_the_others() {
        let queue: Queue<String> = Queue::new();
        let seen = Arc::new(AtomicUsize::new(0));
        let panics = Arc::new(AtomicUsize::new(0));
        let metrics = Arc::new(ControllerMetrics::new());
        let (s, p, q) = (seen.clone(), panics.clone(), queue.clone());
        let task = tokio::spawn(run(
            "test",
            queue.clone(),
            2,
            metrics.clone(),
            (s, p, q),
            |(s, p, q), k: String| async move {
                if k == "bad" {
                    if p.fetch_add(1, Ordering::SeqCst) >= 2 {
                        q.close();
                    }
                    panic!("boom on {k}");
                }
                s.fetch_add(1, Ordering::SeqCst);
                Ok(Action::Done)
            },
        ));
        queue.add("bad".to_owned());
        for i in 0..10 {
            queue.add(format!("good-{i}"));
        }
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("the queue closes after three panics")
            .expect("run returns");
        assert_eq!(seen.load(Ordering::SeqCst), 10);
        assert!(
            panics.load(Ordering::SeqCst) >= 3,
            "the panicking key was retried"
        );
        assert!(metrics.encode().contains("result=\"panic\""));
    }
}
