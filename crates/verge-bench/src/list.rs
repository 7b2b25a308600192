//! The `list` scenario: store many pods, then time paged, unpaged and
//! label-selected LISTs of all of them.

use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use http::Method;
use http_body_util::BodyExt;
use serde::Deserialize;
use serde::de::IgnoredAny;

use crate::client::{self, H2, REQUEST_TIMEOUT};
use crate::creates::{self, Bound, CreateResult};
use crate::pod;
use crate::procstat;

#[derive(Clone, Debug)]
pub struct ListOpts {
    pub pods: u64,
    pub page_size: u64,
    pub concurrency: usize,
}

#[derive(Default)]
pub struct Timed {
    pub secs: f64,
    /// Of which: waiting for and reading response bodies.
    pub transfer_secs: f64,
    /// Of which: the client parsing pages (to find `continue`, count items).
    pub parse_secs: f64,
    /// Time to the first byte of each response, summed.
    pub ttfb_secs: f64,
    /// ... of the first and of the last page.
    pub ttfb_first: f64,
    pub ttfb_last: f64,
    pub items: u64,
    pub pages: u64,
    pub bytes: u64,
}

pub struct ListResult {
    pub fill: CreateResult,
    pub fill_secs: f64,
    pub stored_pods: u64,
    /// store.db and WAL sizes after loading.
    pub store_bytes: (u64, u64),
    pub rss_after_fill_kib: u64,
    pub paged: Timed,
    pub unpaged: Timed,
    pub selected: Timed,
    pub selector: String,
    pub rss_after_lists_kib: u64,
    pub hwm_kib: u64,
    /// CPU during the paged list.
    pub paged_cpu: procstat::Usage,
}

#[derive(Deserialize)]
struct Meta {
    #[serde(rename = "continue", default)]
    continue_token: Option<String>,
}

#[derive(Deserialize)]
struct Page {
    metadata: Meta,
    #[serde(default)]
    items: Vec<IgnoredAny>,
}

/// One GET of a list page: (page, ttfb, transfer, parse).
async fn get_page(conn: &mut H2, path: &str, t: &mut Timed) -> anyhow::Result<Option<String>> {
    let start = Instant::now();
    let (status, body, ttfb) = tokio::time::timeout(REQUEST_TIMEOUT, async {
        let resp = conn
            .start(Method::GET, path, None, Default::default())
            .await?;
        let ttfb = start.elapsed();
        let status = resp.status();
        let body = resp.into_body().collect().await?.to_bytes();
        anyhow::Ok((status, body, ttfb))
    })
    .await
    .context("list request timed out")??;
    let transfer = start.elapsed();
    if !status.is_success() {
        bail!(
            "GET {path}: {status}: {}",
            String::from_utf8_lossy(&body[..body.len().min(300)])
        );
    }
    let parse_start = Instant::now();
    let page: Page = serde_json::from_slice(&body).context("parsing a list page")?;
    t.parse_secs += parse_start.elapsed().as_secs_f64();
    t.transfer_secs += transfer.as_secs_f64();
    t.ttfb_secs += ttfb.as_secs_f64();
    if t.pages == 0 {
        t.ttfb_first = ttfb.as_secs_f64();
    }
    t.ttfb_last = ttfb.as_secs_f64();
    t.items += page.items.len() as u64;
    t.pages += 1;
    t.bytes += body.len() as u64;
    Ok(page.metadata.continue_token.filter(|c| !c.is_empty()))
}

/// Follows `continue` until the list is complete.
pub async fn paged(conn: &mut H2, query: &str, limit: u64) -> anyhow::Result<Timed> {
    let mut t = Timed::default();
    let start = Instant::now();
    let mut cont: Option<String> = None;
    let max_pages = 1_000_000;
    loop {
        let mut path = format!("{}?limit={limit}", pod::PODS_PATH);
        if !query.is_empty() {
            path.push('&');
            path.push_str(query);
        }
        if let Some(c) = &cont {
            path.push_str("&continue=");
            path.extend(form_urlencoded::byte_serialize(c.as_bytes()));
        }
        cont = get_page(conn, &path, &mut t).await?;
        if cont.is_none() || t.pages >= max_pages {
            break;
        }
    }
    t.secs = start.elapsed().as_secs_f64();
    Ok(t)
}

/// One GET of the whole list.
pub async fn unpaged(conn: &mut H2, query: &str) -> anyhow::Result<Timed> {
    let mut t = Timed::default();
    let start = Instant::now();
    let path = if query.is_empty() {
        pod::PODS_PATH.to_owned()
    } else {
        format!("{}?{query}", pod::PODS_PATH)
    };
    get_page(conn, &path, &mut t).await?;
    t.secs = start.elapsed().as_secs_f64();
    Ok(t)
}

pub async fn run(
    conns: &[H2],
    opts: &ListOpts,
    run_tag: &str,
    server_pid: Option<u32>,
    store_bytes: impl Fn() -> (u64, u64),
) -> anyhow::Result<ListResult> {
    let mut admin = conns[0].clone();
    client::ensure_namespace(&mut admin, pod::NAMESPACE).await?;
    eprintln!(
        "list: creating {} pods ({} in flight over {} HTTP/2 connections)",
        opts.pods,
        opts.concurrency,
        conns.len()
    );
    let fill_start = Instant::now();
    let fill = creates::run(
        conns,
        opts.concurrency,
        Bound::Count {
            pods: opts.pods,
            limit: Duration::from_secs(1800),
        },
        run_tag,
        server_pid,
        "list fill",
    )
    .await?;
    let fill_secs = fill_start.elapsed().as_secs_f64();
    ensure!(
        fill.total_ok == opts.pods,
        "only {} of {} pods were created ({})",
        fill.total_ok,
        opts.pods,
        fill.first_error.clone().unwrap_or_default()
    );
    // Let the allocator and the store settle before measuring memory.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_after_fill_kib = server_pid
        .and_then(|p| procstat::memory_kib(p).ok())
        .map(|(rss, _)| rss)
        .unwrap_or(0);
    let store_bytes = store_bytes();

    eprintln!(
        "list: paged LIST of the whole namespace, limit={}",
        opts.page_size
    );
    let meter = procstat::Meter::start(server_pid);
    let paged_all = paged(&mut admin, "", opts.page_size).await?;
    let paged_cpu = meter.finish();
    eprintln!(
        "list: {} items in {} pages, {:.2} s",
        paged_all.items, paged_all.pages, paged_all.secs
    );
    eprintln!("list: unpaged LIST");
    let unpaged_t = unpaged(&mut admin, "").await?;
    eprintln!(
        "list: {} items, {:.1} MiB, {:.2} s",
        unpaged_t.items,
        unpaged_t.bytes as f64 / 1048576.0,
        unpaged_t.secs
    );
    let selector = "shard=s3".to_owned();
    eprintln!("list: label-selected LIST ({selector})");
    let selected = unpaged(&mut admin, "labelSelector=shard%3Ds3").await?;
    eprintln!("list: {} items, {:.2} s", selected.items, selected.secs);
    let (rss_after_lists_kib, hwm_kib) = server_pid
        .and_then(|p| procstat::memory_kib(p).ok())
        .unwrap_or((0, 0));
    Ok(ListResult {
        fill,
        fill_secs,
        stored_pods: paged_all.items,
        store_bytes,
        rss_after_fill_kib,
        paged: paged_all,
        unpaged: unpaged_t,
        selector: format!("{selector} ({} items)", selected.items),
        selected,
        rss_after_lists_kib,
        hwm_kib,
        paged_cpu,
    })
}
