//! The bounded queues between a connection's task and its handles.
//!
//! A tokio channel allocates its shared state cache-padded and a 32-slot
//! block up front: about 1.3 to 1.8 KiB per channel, two per connection,
//! carried by every idle node. Here the items live in a `VecDeque` that is
//! given back whenever the queue empties, so an idle connection holds only
//! the queue's own few words.
//!
//! Many senders, one receiver. Senders wait while the queue is full; the
//! receiver sees the end once every sender is gone and the queue is empty;
//! senders see the end once the receiver is gone. Every wait is
//! cancellation-safe: a dropped `send` or `recv` loses nothing.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;

struct Shared<T> {
    items: Mutex<VecDeque<T>>,
    capacity: usize,
    senders: AtomicUsize,
    receiver_gone: AtomicBool,
    /// Wakes the receiver: an item arrived, or the last sender left.
    to_receiver: Notify,
    /// Wakes the senders: room was made, or the receiver left.
    to_senders: Notify,
}

impl<T> Shared<T> {
    fn items(&self) -> MutexGuard<'_, VecDeque<T>> {
        // Plain data: a panic elsewhere cannot leave it inconsistent.
        self.items.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A queue of at most `capacity` items (at least one).
pub(crate) fn bounded<T>(capacity: usize) -> (QueueSender<T>, QueueReceiver<T>) {
    let shared = Arc::new(Shared {
        items: Mutex::new(VecDeque::new()),
        capacity: capacity.max(1),
        senders: AtomicUsize::new(1),
        receiver_gone: AtomicBool::new(false),
        to_receiver: Notify::new(),
        to_senders: Notify::new(),
    });
    (
        QueueSender {
            shared: shared.clone(),
        },
        QueueReceiver { shared },
    )
}

/// Why an item was not queued.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum TrySendError<T> {
    Full(T),
    Closed(T),
}

pub(crate) struct QueueSender<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Clone for QueueSender<T> {
    fn clone(&self) -> Self {
        self.shared.senders.fetch_add(1, Ordering::Relaxed);
        QueueSender {
            shared: self.shared.clone(),
        }
    }
}

impl<T> Drop for QueueSender<T> {
    fn drop(&mut self) {
        if self.shared.senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.shared.to_receiver.notify_one();
        }
    }
}

impl<T> QueueSender<T> {
    /// Queues `item`, waiting while the queue is full; gives it back if the
    /// receiver is gone.
    pub(crate) async fn send(&self, mut item: T) -> Result<(), T> {
        loop {
            let room = self.shared.to_senders.notified();
            tokio::pin!(room);
            // Registered before looking, so a wake-up in between is not lost.
            room.as_mut().enable();
            match self.try_send(item) {
                Ok(()) => return Ok(()),
                Err(TrySendError::Closed(back)) => return Err(back),
                Err(TrySendError::Full(back)) => item = back,
            }
            room.await;
        }
    }

    /// Queues `item` if there is room.
    pub(crate) fn try_send(&self, item: T) -> Result<(), TrySendError<T>> {
        if self.is_closed() {
            return Err(TrySendError::Closed(item));
        }
        {
            let mut items = self.shared.items();
            if items.len() >= self.shared.capacity {
                return Err(TrySendError::Full(item));
            }
            items.push_back(item);
        }
        self.shared.to_receiver.notify_one();
        Ok(())
    }

    /// Free places.
    pub(crate) fn capacity(&self) -> usize {
        self.shared
            .capacity
            .saturating_sub(self.shared.items().len())
    }

    /// Whether the receiver is gone.
    pub(crate) fn is_closed(&self) -> bool {
        self.shared.receiver_gone.load(Ordering::Acquire)
    }

    /// Waits until the receiver is gone.
    pub(crate) async fn closed(&self) {
        loop {
            let change = self.shared.to_senders.notified();
            tokio::pin!(change);
            change.as_mut().enable();
            if self.is_closed() {
                return;
            }
            change.await;
        }
    }
}

pub(crate) struct QueueReceiver<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Drop for QueueReceiver<T> {
    fn drop(&mut self) {
        self.shared.receiver_gone.store(true, Ordering::Release);
        self.shared.to_senders.notify_waiters();
    }
}

impl<T> QueueReceiver<T> {
    /// The next item; `None` once every sender is gone and nothing is left.
    pub(crate) async fn recv(&mut self) -> Option<T> {
        loop {
            let arrival = self.shared.to_receiver.notified();
            tokio::pin!(arrival);
            arrival.as_mut().enable();
            let popped = {
                let mut items = self.shared.items();
                let item = items.pop_front();
                if items.is_empty() {
                    *items = VecDeque::new();
                }
                item
            };
            if let Some(item) = popped {
                // Every waiting sender looks again: one that was cancelled
                // must not swallow the only wake-up.
                self.shared.to_senders.notify_waiters();
                return Some(item);
            }
            if self.shared.senders.load(Ordering::Acquire) == 0 {
                // The last sender may have queued an item just before it
                // left; nobody can queue one now.
                return self.shared.items().pop_front();
            }
            arrival.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const WAIT: Duration = Duration::from_secs(5);

    #[tokio::test]
    async fn items_arrive_in_order_and_the_end_after_the_last_sender() {
        let (tx, mut rx) = bounded(4);
        let other = tx.clone();
        tx.send(1).await.expect("send");
        other.send(2).await.expect("send");
        drop(tx);
        assert_eq!(rx.recv().await, Some(1));
        drop(other);
        assert_eq!(rx.recv().await, Some(2), "queued items outlive the senders");
        assert_eq!(rx.recv().await, None);
    }

    #[tokio::test]
    async fn a_full_queue_holds_senders_back_until_there_is_room() {
        let (tx, mut rx) = bounded(2);
        tx.try_send(1).expect("room");
        tx.try_send(2).expect("room");
        assert_eq!(tx.try_send(3), Err(TrySendError::Full(3)));
        assert_eq!(tx.capacity(), 0);
        let waiting = tokio::spawn({
            let tx = tx.clone();
            async move { tx.send(3).await }
        });
        // A cancelled wait must not take the wake-up with it.
        let cancelled = tokio::time::timeout(Duration::from_millis(20), tx.send(4)).await;
        assert!(cancelled.is_err(), "the queue is full");
        assert_eq!(rx.recv().await, Some(1));
        tokio::time::timeout(WAIT, waiting)
            .await
            .expect("the waiting sender got room")
            .expect("task")
            .expect("sent");
        assert_eq!(rx.recv().await, Some(2));
        assert_eq!(rx.recv().await, Some(3));
        assert_eq!(tx.capacity(), 2);
    }

    #[tokio::test]
    async fn senders_learn_that_the_receiver_is_gone() {
        let (tx, rx) = bounded(1);
        tx.try_send(1).expect("room");
        let blocked = tokio::spawn({
            let tx = tx.clone();
            async move { tx.send(2).await }
        });
        let watcher = tokio::spawn({
            let tx = tx.clone();
            async move { tx.closed().await }
        });
        drop(rx);
        assert_eq!(
            tokio::time::timeout(WAIT, blocked)
                .await
                .expect("woken")
                .expect("task"),
            Err(2)
        );
        tokio::time::timeout(WAIT, watcher)
            .await
            .expect("closed() returns")
            .expect("task");
        assert!(tx.is_closed());
        assert_eq!(tx.try_send(3), Err(TrySendError::Closed(3)));
    }

    #[tokio::test]
    async fn a_receiver_waiting_on_an_empty_queue_is_woken() {
        let (tx, mut rx) = bounded(1);
        let got = tokio::spawn(async move { (rx.recv().await, rx.recv().await) });
        tokio::task::yield_now().await;
        tx.send(7).await.expect("send");
        drop(tx);
        assert_eq!(
            tokio::time::timeout(WAIT, got)
                .await
                .expect("woken")
                .expect("task"),
            (Some(7), None)
        );
    }
}
