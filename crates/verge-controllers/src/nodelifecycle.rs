//! Not written yet.

use std::sync::Arc;

use verge_runtime::{Client, ControllerMetrics};

pub async fn run(client: Client, metrics: Arc<ControllerMetrics>) {
    let _ = (client, metrics);
}
