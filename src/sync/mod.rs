//! The sync engine: pulls the queue into the store, and tells the UI what happened.
//!
//! One tokio task owns the backend and the store. It syncs at start, every `interval`, and
//! when asked; there is never more than one sync in flight. Failures back off exponentially
//! with jitter (or as long as the server's Retry-After says); refused credentials stop the
//! retries until the user asks again. The first sync of a cache is a full pull; later ones ask
//! only for approvals (or their changes) updated since the last high-water mark, in any state,
//! so decided or cancelled approvals are seen leaving; every `RECONCILE_EVERY` the list of
//! pending ids is compared too, for rows that vanished without an update.

mod backoff;
pub mod cab;
mod deliver;
mod requests;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

use crate::backend::{Backend, BackendError, Progress, Scope};
use crate::domain::{
    Approval, Clock, Delegation, Delivery, DetailSource, LongTexts, QueueIndex, User, acting_for,
};
use crate::store::{OutboxEntry, Store, StoreError};
pub use backoff::Backoff;
pub use deliver::{Deliver, DeliveryReport, deliver_pending, write as write_decision};
pub use requests::{Request, end_delegation, run_requests};

/// Updates older than the high-water mark by this much are asked for again, so a row written
/// while the last sync ran (or stamped by a skewed node) is not missed.
pub const OVERLAP: chrono::Duration = chrono::Duration::minutes(2);
/// A full pull replaces the cache at least this often, whatever incremental syncs did.
pub const FULL_EVERY: chrono::Duration = chrono::Duration::hours(6);
const META_SOURCE: &str = "sync.source";
const META_LAST_FULL: &str = "sync.last_full";
const META_LAST_RECONCILE: &str = "sync.last_reconcile";
const META_ACTING: &str = "sync.acting";
/// When the instance's SLAs were last read (the server's clock).
const META_SLAS_AT: &str = "sync.slas_at";
/// The server clock's skew (milliseconds, server minus local) and when it was measured.
pub const META_SKEW: &str = "clock.skew_ms";
pub const META_SKEW_AT: &str = "clock.skew_at";
/// How often an incremental sync also compares the full list of pending ids.
pub const RECONCILE_EVERY: chrono::Duration = chrono::Duration::minutes(15);

/// What one sync did.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncOutcome {
    pub user: User,
    pub full: bool,
    pub added: usize,
    pub updated: usize,
    pub removed: usize,
    /// Approvals in the queue after the sync.
    pub total: usize,
    pub at: DateTime<Utc>,
    /// Delegations given and received, as the server has them.
    pub delegations: Vec<Delegation>,
    /// What the user should know about this sync (paging stopped early, say).
    pub notices: Vec<String>,
}

impl SyncOutcome {
    /// `2 added, 1 updated, 0 removed (incremental)`.
    pub fn summary(&self) -> String {
        format!(
            "{} added, {} updated, {} removed ({})",
            self.added,
            self.updated,
            self.removed,
            if self.full {
                "full pull"
            } else {
                "incremental"
            }
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Backend(#[from] BackendError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Runs one sync: full the first time (or when the cache belongs to another instance or user,
/// or is older than `FULL_EVERY`), incremental after. Whose delegations are active is judged
/// by `clock`, read once the server has answered (its `Date` header corrects a server clock).
pub async fn sync_once<B: Backend>(
    backend: &B,
    store: &mut Store,
    clock: &dyn Clock,
    progress: Progress<'_>,
) -> Result<SyncOutcome, SyncError> {
    let (outcome, _) = sync_inner(backend, store, clock, progress, false).await?;
    finish(backend, store, clock, outcome)
}

/// [`sync_once`] for a caller that goes on with the long texts ([`fill_long_texts`]): a full
/// pull asks for them as soon as its last page has arrived, while the pages are still being
/// stored, and hands over what it asked for (`None` after an incremental sync, or when no
/// approval waits for its texts).
pub async fn sync_then_texts<'a, B: Backend>(
    backend: &'a B,
    store: &mut Store,
    clock: &dyn Clock,
    progress: Progress<'_>,
) -> Result<(SyncOutcome, Option<TextsAhead<'a>>), SyncError> {
    let (outcome, ahead) = sync_inner(backend, store, clock, progress, true).await?;
    Ok((finish(backend, store, clock, outcome)?, ahead))
}

/// What every sync ends with: the backend's notices, and the server clock's skew recorded.
fn finish<B: Backend>(
    backend: &B,
    store: &mut Store,
    clock: &dyn Clock,
    mut outcome: SyncOutcome,
) -> Result<SyncOutcome, SyncError> {
    outcome.notices = backend.take_notices();
    if let Some(skew) = clock.skew() {
        store.set_metas(&[
            (META_SKEW, &skew.num_milliseconds().to_string()),
            (META_SKEW_AT, &crate::store::format_time(outcome.at)),
        ])?;
    }
    Ok(outcome)
}

/// The long texts of a full pull's approvals, asked for before the pull had stored its last
/// page: the answers wait (a few) until [`fill_long_texts`] stores them.
pub struct TextsAhead<'a> {
    /// The approvals asked for (shared with the fetch).
    ids: Arc<[String]>,
    fetch: futures::future::BoxFuture<'a, Result<(), BackendError>>,
    /// The fetch's result when it ended while the pull was still storing.
    fetched: Option<Result<(), BackendError>>,
    rx: tokio::sync::mpsc::Receiver<Vec<(String, LongTexts)>>,
}

impl<'a> TextsAhead<'a> {
    fn start<B: Backend>(backend: &'a B, mut ids: Vec<String>) -> Option<Self> {
        ids.sort_unstable();
        ids.dedup();
        if ids.is_empty() {
            return None;
        }
        let (tx, rx) = tokio::sync::mpsc::channel(2);
        let ids: Arc<[String]> = ids.into();
        let asked = Arc::clone(&ids);
        Some(TextsAhead {
            ids,
            fetch: Box::pin(async move { backend.long_texts(&asked, tx).await }),
            fetched: None,
            rx,
        })
    }

    /// Runs `work` while the fetch goes on.
    async fn alongside<T>(&mut self, work: impl Future<Output = T>) -> T {
        if self.fetched.is_some() {
            return work.await;
        }
        let work = std::pin::pin!(work);
        match futures::future::select(work, &mut self.fetch).await {
            futures::future::Either::Left((done, _)) => done,
            futures::future::Either::Right((fetched, work)) => {
                self.fetched = Some(fetched);
                work.await
            }
        }
    }
}

/// Whether `newer` differs from `cached`, a row still waiting for its long texts, only by
/// having them.
fn only_texts_differ(cached: &Approval, newer: &Approval) -> bool {
    if cached.change.detail_source != DetailSource::TextsPending {
        return false;
    }
    let mut a = crate::store::summary_of(newer);
    a.change.detail_source = DetailSource::TextsPending;
    a == crate::store::summary_of(cached)
}

/// The second pass of a full pull: fetches the long texts of the changes whose approvals were
/// stored without them (those `ahead` asked for already, else the store's list), each answer
/// stored on a thread of its own while the next arrive; until none waits (an interrupted pass
/// goes on at the next sync). Asks `go_on` before each batch is stored (false: stop, the rest
/// waits); `stored` hears which approvals each stored batch completed. Returns how many it
/// completed. The queue is usable before.
pub fn fill_long_texts<'a, B: Backend>(
    backend: &'a B,
    store: &Store,
    ahead: Option<TextsAhead<'a>>,
    mut go_on: impl FnMut() -> bool + Send + 'a,
    stored: impl Fn(Vec<String>) + Send + 'static,
) -> impl Future<Output = Result<usize, SyncError>> + Send + 'a {
    // What the store says is read now: the future holds no reference to it.
    let prepared =
        match ahead {
            Some(ahead) => store.page_writer().map(|w| Some((ahead, w))),
            None => store.texts_pending(usize::MAX).and_then(|ids| {
                match TextsAhead::start(backend, ids) {
                    None => Ok(None),
                    Some(ahead) => Ok(Some((ahead, store.page_writer()?))),
                }
            }),
        };
    async move {
        match prepared? {
            None => Ok(0),
            Some((ahead, writer)) => fill_with(ahead, writer, &mut go_on, stored).await,
        }
    }
}

async fn fill_with(
    ahead: TextsAhead<'_>,
    writer: Store,
    go_on: &mut (impl FnMut() -> bool + Send),
    stored: impl Fn(Vec<String>) + Send + 'static,
) -> Result<usize, SyncError> {
    type Batch = (Vec<String>, Vec<(String, LongTexts)>);
    let TextsAhead {
        ids,
        fetch,
        fetched,
        mut rx,
    } = ahead;
    let (to_writer, from_fetch) = tokio::sync::mpsc::channel::<Batch>(2);
    // Set as the fetch ends, in the same poll that closes `rx` (one task polls both).
    let fetched_all = std::sync::atomic::AtomicBool::new(false);
    let fetch = async {
        let result = match fetched {
            Some(result) => result,
            None => fetch.await,
        };
        fetched_all.store(result.is_ok(), std::sync::atomic::Ordering::SeqCst);
        result
    };
    let forward = async {
        let mut answered: HashSet<String> = HashSet::new();
        let mut whole = true;
        while let Some(batch) = rx.recv().await {
            if !go_on() {
                whole = false; // the rest waits for the next sync
                break;
            }
            answered.extend(batch.iter().map(|(id, _)| id.clone()));
            if to_writer.send((Vec::new(), batch)).await.is_err() {
                whole = false; // the writer failed: its error is the answer
                break;
            }
        }
        rx.close();
        // Asked for and not answered by a complete pass: gone or hidden since, no longer
        // waited for (the next sync settles them).
        if whole && fetched_all.load(std::sync::atomic::Ordering::SeqCst) {
            let left: Vec<String> = ids
                .iter()
                .filter(|id| !answered.contains(*id))
                .cloned()
                .collect();
            if !left.is_empty() {
                let _ = to_writer.send((left, Vec::new())).await;
            }
        }
        drop(to_writer);
    };
    let save = on_writer_thread(writer, from_fetch, 0, move |w, done, batches| {
        let (mut asked, mut texts) = (Vec::new(), Vec::new());
        for (a, t) in batches {
            asked.extend(a);
            texts.extend(t);
        }
        w.put_long_texts(&asked, &texts)?;
        *done += texts.len();
        stored(texts.into_iter().map(|(id, _)| id).collect());
        Ok(())
    });
    let (fetched, (), saved) = futures::join!(fetch, forward, save);
    let done = saved?;
    fetched?;
    Ok(done)
}

/// The skew last measured against this store's instance, and when.
pub fn stored_skew(store: &Store) -> Option<(chrono::Duration, Option<DateTime<Utc>>)> {
    let ms: i64 = store.get_meta(META_SKEW).ok()??.parse().ok()?;
    let at = store
        .get_meta(META_SKEW_AT)
        .ok()
        .flatten()
        .and_then(|s| crate::store::parse_time(&s));
    Some((chrono::Duration::milliseconds(ms), at))
}

/// At most this many answers share a transaction of [`on_writer_thread`], so a decision
/// written meanwhile never waits long for the store.
const WRITER_BATCH: usize = 4;

/// Runs `step` on a thread of its own with `writer` for what `rx` brings, folding into `acc`,
/// until `rx` ends (then `acc`) or a step fails (then it stops listening, so the sender
/// stops too, and returns the failure). Each step gets every item waiting (at least one),
/// so when answers arrive faster than they are stored they share one transaction: a commit
/// writes each index page it touched once, however many rows touched it.
async fn on_writer_thread<T: Send + 'static, A: Send + 'static>(
    mut writer: Store,
    mut rx: tokio::sync::mpsc::Receiver<T>,
    mut acc: A,
    mut step: impl FnMut(&mut Store, &mut A, Vec<T>) -> Result<(), StoreError> + Send + 'static,
) -> Result<A, StoreError> {
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let path = writer.path().to_path_buf();
    std::thread::spawn(move || {
        let result = loop {
            let Some(item) = rx.blocking_recv() else {
                break Ok(acc);
            };
            let mut items = vec![item];
            while items.len() < WRITER_BATCH
                && let Ok(item) = rx.try_recv()
            {
                items.push(item);
            }
            if let Err(e) = step(&mut writer, &mut acc, items) {
                break Err(e);
            }
        };
        rx.close();
        let _ = done_tx.send(result);
    });
    done_rx.await.unwrap_or_else(|_| {
        Err(StoreError::Corrupt {
            path,
            detail: "the thread saving what the sync fetched stopped without finishing; sync again"
                .into(),
        })
    })
}

/// What a full pull hands the thread that stores it.
enum Pulled {
    Page(Vec<Approval>),
    /// The instance's SLAs as [`fetch_instance_slas`] read them, and when.
    Slas(InstanceSlas, DateTime<Utc>),
}

/// The SLAs read, and whether they are all of them (else: those updated since the last read).
type InstanceSlas = (Vec<crate::domain::context::TaskSla>, bool);

/// Stores the pages of a full pull, and the instance's SLAs read meanwhile, on a thread of its
/// own as they arrive (the pages stored after the SLAs are placed by them at once; pages
/// waiting together share a transaction); returns the sys_ids seen and the pages'
/// high-water mark.
async fn save_pages(
    writer: Store,
    rx: tokio::sync::mpsc::Receiver<Pulled>,
) -> Result<(HashSet<String>, Option<DateTime<Utc>>), StoreError> {
    on_writer_thread(
        writer,
        rx,
        (HashSet::new(), None),
        |w, (fresh, hw), pulled| {
            // The pages waiting together go in one transaction; SLAs in their turn.
            let mut rows: Vec<Approval> = Vec::new();
            for item in pulled {
                match item {
                    Pulled::Page(page) => {
                        *hw = high_water_of(&page, *hw);
                        fresh.extend(page.iter().map(|a| a.sys_id.clone()));
                        rows.extend(page);
                    }
                    Pulled::Slas(slas, at) => {
                        if !rows.is_empty() {
                            w.put_approvals(&std::mem::take(&mut rows))?;
                        }
                        store_instance_slas(w, slas, at)?;
                    }
                }
            }
            match rows.is_empty() {
                true => Ok(()),
                false => w.put_approvals(&rows),
            }
        },
    )
    .await
}

async fn sync_inner<'a, B: Backend>(
    backend: &'a B,
    store: &mut Store,
    clock: &dyn Clock,
    progress: Progress<'_>,
    texts_ahead: bool,
) -> Result<(SyncOutcome, Option<TextsAhead<'a>>), SyncError> {
    let source = format!("{}|{}", backend.instance_label(), backend.login());
    let state = store.sync_state()?;
    let same_source = store.get_meta(META_SOURCE)?.as_deref() == Some(source.as_str());
    let last_full = store
        .get_meta(META_LAST_FULL)?
        .and_then(|s| crate::store::parse_time(&s));
    let user = match (&state.user, same_source) {
        (Some(u), true) => u.clone(),
        _ => backend.current_user().await?,
    };
    // Whose approvals: mine, and those of everyone with an active approvals delegation to me
    // (active by the server's clock).
    let delegations = backend.delegations(&user.sys_id).await?;
    let now = clock.now();
    let me = user.reference();
    let mut ids: Vec<String> = acting_for(&me, &delegations, now)
        .into_iter()
        .map(|u| u.sys_id)
        .collect();
    ids[1..].sort();
    let acting_key = ids.join(",");
    // A delegation starting or ending changes whose approvals belong here: pull them all.
    let same_acting = store.get_meta(META_ACTING)?.as_deref() == Some(acting_key.as_str());
    let incremental_from = match (state.high_water, last_full) {
        (Some(hw), Some(full)) if same_source && same_acting && now - full < FULL_EVERY => Some(hw),
        _ => None,
    };
    let cached: HashSet<String> = store.approval_ids()?.into_iter().collect();

    let Some(high_water) = incremental_from else {
        // Another user's or instance's queue goes first: rows of two sources never mix.
        let same_user = state.user.as_ref().map(|u| u.sys_id.as_str()) == Some(&user.sys_id);
        let cached = if same_source && same_user {
            cached
        } else {
            store.clear_queue()?;
            HashSet::new()
        };
        // Pages are stored as they arrive, by a writer on a thread of its own, so reading and
        // decoding the next pages goes on meanwhile: the pull never holds the whole queue.
        let (tx, rx) = tokio::sync::mpsc::channel::<Pulled>(4);
        let (page_tx, mut page_rx) = tokio::sync::mpsc::channel::<Vec<Approval>>(4);
        let fetch = backend.pending_approvals(&ids, progress, page_tx);
        let pages_tx = tx.clone();
        // The approvals stored without their long texts, for the second pass.
        let mut waiting: Vec<String> = Vec::new();
        let forward = async {
            while let Some(page) = page_rx.recv().await {
                if texts_ahead {
                    waiting.extend(
                        page.iter()
                            .filter(|a| a.change.detail_source == DetailSource::TextsPending)
                            .map(|a| a.sys_id.clone()),
                    );
                }
                if pages_tx.send(Pulled::Page(page)).await.is_err() {
                    break;
                }
            }
            drop(pages_tx);
        };
        // The instance's SLAs meanwhile, to the same writer.
        let slas = async move {
            if let Some(slas) = fetch_instance_slas(backend, None).await {
                let _ = tx.send(Pulled::Slas(slas, now)).await;
            }
        };
        let pull = async { futures::join!(fetch, forward, slas).0 };
        let saving = save_pages(store.page_writer()?, rx);
        let mut saving = std::pin::pin!(saving);
        // Every page in (the writer may still be storing the last ones): the long texts are
        // asked for at once, and their answers wait until the pull has been stored.
        let (fetched, saved) =
            match futures::future::select(std::pin::pin!(pull), &mut saving).await {
                futures::future::Either::Left((fetched, _)) => (fetched, None),
                futures::future::Either::Right((saved, pull)) => (pull.await, Some(saved)),
            };
        let mut ahead = match &fetched {
            Ok(()) if texts_ahead => TextsAhead::start(backend, waiting),
            _ => None,
        };
        let saved = match (saved, &mut ahead) {
            (Some(saved), _) => saved,
            (None, Some(ahead)) => ahead.alongside(saving).await,
            (None, None) => saving.await,
        };
        let (fresh, high_water) = saved?;
        fetched?;
        let added = fresh.iter().filter(|id| !cached.contains(*id)).count();
        let removed: Vec<String> = cached
            .iter()
            .filter(|id| !fresh.contains(id.as_str()))
            .cloned()
            .collect();
        let outcome = SyncOutcome {
            user: user.clone(),
            full: true,
            added,
            updated: fresh.len() - added,
            removed: removed.len(),
            total: fresh.len(),
            at: now,
            delegations: delegations.clone(),
            notices: Vec::new(),
        };
        store.apply_changes(&user, &[], &removed, now, high_water)?;
        let (key, json) = store.delegations_setting(&delegations)?;
        let at = crate::store::format_time(now);
        store.set_metas(&[
            (key, &json),
            (META_ACTING, &acting_key),
            (META_SOURCE, &source),
            (META_LAST_FULL, &at),
            (META_LAST_RECONCILE, &at),
        ])?;
        return Ok((outcome, ahead));
    };

    let since = high_water - OVERLAP;
    let changed = backend
        .approvals(&ids, Scope::ChangedSince(since), progress)
        .await?;
    // Rows that changed and are no longer in the queue (decided, cancelled) leave.
    let (mut upserts, left): (Vec<Approval>, Vec<Approval>) =
        changed.into_iter().partition(Approval::in_queue);
    let mut removed: HashSet<String> = left
        .into_iter()
        .map(|a| a.sys_id)
        .filter(|id| cached.contains(id))
        .collect();

    // Now and then compare the whole id list too: it catches rows deleted outright or handed
    // to another approver, which no update time on our side reveals.
    let last_reconcile = store
        .get_meta(META_LAST_RECONCILE)?
        .and_then(|s| crate::store::parse_time(&s));
    let reconcile = last_reconcile.is_none_or(|t| now - t >= RECONCILE_EVERY);
    let mut total = None;
    if reconcile {
        let current: HashSet<String> = backend
            .pending_approval_ids(&ids)
            .await?
            .into_iter()
            .collect();
        upserts.retain(|a| current.contains(&a.sys_id));
        removed.extend(cached.iter().filter(|id| !current.contains(*id)).cloned());
        let got: HashSet<&str> = upserts.iter().map(|a| a.sys_id.as_str()).collect();
        let missing: Vec<String> = current
            .iter()
            .filter(|id| !cached.contains(*id) && !got.contains(id.as_str()))
            .cloned()
            .collect();
        if !missing.is_empty() {
            let mut extra = backend
                .approvals(&ids, Scope::PendingIds(missing), progress)
                .await?;
            upserts.append(&mut extra);
        }
        total = Some(current.len());
    }
    let removed: Vec<String> = removed.into_iter().collect();

    // The overlap window brings back rows we already have: keep only real changes (the
    // instance's SLA clock a cached row carries is the store's to set, not the row's).
    let known: Vec<String> = upserts
        .iter()
        .filter(|a| cached.contains(&a.sys_id))
        .map(|a| a.sys_id.clone())
        .collect();
    let before: std::collections::HashMap<String, Approval> = store
        .approvals_by_id(&known)?
        .into_iter()
        .map(|a| (a.sys_id.clone(), a))
        .collect();
    for a in &mut upserts {
        if let Some(b) = before.get(&a.sys_id) {
            a.change.instance_sla.clone_from(&b.change.instance_sla);
        }
    }
    upserts.retain(|a| before.get(&a.sys_id) != Some(a));
    let added = upserts
        .iter()
        .filter(|a| !cached.contains(&a.sys_id))
        .count();
    // A row that only brings the long texts a full pull left for later is stored, but it is
    // not news.
    let texts_only = upserts
        .iter()
        .filter(|a| {
            before
                .get(&a.sys_id)
                .is_some_and(|b| only_texts_differ(b, a))
        })
        .count();
    let outcome = SyncOutcome {
        user: user.clone(),
        full: false,
        added,
        updated: upserts.len() - added - texts_only,
        removed: removed.len(),
        total: total.unwrap_or(cached.len() + added - removed.len()),
        at: now,
        delegations: delegations.clone(),
        notices: Vec::new(),
    };
    let hw = high_water_of(&upserts, Some(high_water));
    store.apply_changes(&user, &upserts, &removed, now, hw)?;
    store.set_delegations(&delegations)?;
    if reconcile {
        store.set_meta(META_LAST_RECONCILE, &crate::store::format_time(now))?;
    }
    // The SLAs updated since the last read (all of them when never read).
    let last = store
        .get_meta(META_SLAS_AT)?
        .and_then(|s| crate::store::parse_time(&s));
    if let Some(slas) = fetch_instance_slas(backend, last.map(|t| t - OVERLAP)).await {
        store_instance_slas(store, slas, now)?;
    }
    Ok((outcome, None))
}

/// Reads the instance's own SLAs on changes (`task_sla`): all running ones (`since` none),
/// else those updated since then. They are a better clock than signoff's estimate, not a
/// condition of the queue: an instance that does not show them leaves the estimates (an
/// empty list that replaces all), and a failed read (`None`) is tried again at the next sync.
async fn fetch_instance_slas<B: Backend>(
    backend: &B,
    since: Option<DateTime<Utc>>,
) -> Option<InstanceSlas> {
    match backend.instance_slas(since).await {
        Ok(slas) => Some((slas, since.is_none())),
        Err(BackendError::Forbidden { .. } | BackendError::NotFound { .. }) => {
            tracing::debug!("the instance does not show its SLAs to this user");
            Some((Vec::new(), true))
        }
        Err(e) => {
            tracing::warn!(error = %e, "the changes' SLAs could not be read; the next sync tries again");
            None
        }
    }
}

/// Keeps the SLAs read at `at` (the server's clock) and places the approvals they move.
fn store_instance_slas(
    store: &mut Store,
    (slas, all): InstanceSlas,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    store.put_instance_slas(&slas, all)?;
    store.set_meta(META_SLAS_AT, &crate::store::format_time(at))
}

/// The newest server update time among the approvals and their changes.
fn high_water_of(approvals: &[Approval], floor: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    approvals
        .iter()
        .flat_map(|a| [a.sys_updated_on, a.change.sys_updated_on])
        .flatten()
        .chain(floor)
        .max()
}

/// What the engine tells the UI.
#[derive(Debug, Clone)]
pub enum SyncEvent {
    /// The whole cached queue's order (read from the store's index: the rows themselves are
    /// read when shown), and the decisions in the outbox (all states, oldest first).
    CacheLoaded {
        index: QueueIndex,
        outbox: Vec<OutboxEntry>,
        /// Delegations given and received, as last synced.
        delegations: Vec<Delegation>,
    },
    /// A decision moved on (sending, applied, conflict, failed).
    Delivery {
        client_id: String,
        approval_sys_id: String,
        delivery: Delivery,
    },
    Started,
    Progress {
        fetched: usize,
        total: Option<usize>,
    },
    /// A sync finished; the store holds the new queue, whose order is `index`: `None` when
    /// nothing changed (the queue on screen is current).
    Synced {
        outcome: Box<SyncOutcome>,
        index: Option<QueueIndex>,
        outbox_pending: usize,
        /// The outbox's open decisions (waiting, being sent, in conflict or failed), oldest
        /// first: another process may have decided, sent or withdrawn some.
        open: Vec<OutboxEntry>,
        /// Delegations given and received, fresh from the server.
        delegations: Vec<Delegation>,
    },
    /// The long texts of these approvals are in the store (the second pass of a full pull):
    /// copies of them read before lack them.
    TextsArrived {
        ids: Vec<String>,
    },
    /// The backend could not be reached (or answered with an error); retrying at `retry_at`.
    Offline {
        since: DateTime<Utc>,
        error: String,
        retry_at: DateTime<Utc>,
    },
    /// Answer to a user search.
    UsersFound {
        query: String,
        result: Result<Vec<User>, String>,
    },
    /// Answer to a delegation change: a sentence for the user, or why it failed.
    DelegationDone(Result<String, String>),
    /// Answer to reading one approval again (`None`: gone or no longer visible).
    Fetched {
        approval_sys_id: String,
        result: Result<Option<Box<Approval>>, String>,
    },
    /// The server's record of my decisions, for the history view.
    ServerHistory(Result<crate::domain::history::ServerHistory, String>),
    /// A change in full, read for the detail view.
    Context {
        change_sys_id: String,
        result: Result<Box<crate::domain::context::ChangeContext>, String>,
    },
    /// The credentials were refused; no retries until the user asks.
    AuthFailed {
        error: String,
    },
    /// The local store failed; shown to the user, retried like a network failure.
    StoreFailed {
        error: String,
    },
    /// The CAB meetings list: the cached one first (`fresh` false), then the instance's.
    CabMeetings {
        list: Vec<crate::domain::cab::MeetingSummary>,
        fetched_at: Option<DateTime<Utc>>,
        error: Option<String>,
        fresh: bool,
    },
    /// One meeting, fresh from the instance or (offline) as cached.
    CabMeeting(crate::domain::cab::MeetingRead),
    /// A chair's move reached an outcome.
    CabMove {
        meeting: String,
        mv: crate::domain::cab::Move,
        status: crate::domain::cab::MoveStatus,
    },
    /// Moves could not be delivered now (they wait, in order).
    CabOffline {
        error: String,
    },
    /// The queue is placed by this policy now (confirmed in the console), in this order.
    PolicyInForce {
        policy: Box<crate::domain::Policy>,
        index: QueueIndex,
    },
}

/// Places the queue by the policy confirmed last (see [`SyncCommand::PolicyConfirmed`]).
fn policy_in_force(store: &mut Store) -> SyncEvent {
    let placed = store.confirmed_policy().and_then(|c| {
        let policy = c
            .map(|c| c.policy)
            .unwrap_or_else(|| store.policy().clone());
        store.set_policy(&policy)?;
        Ok((policy, store.queue_index()?))
    });
    match placed {
        Ok((policy, index)) => SyncEvent::PolicyInForce {
            policy: Box::new(policy),
            index,
        },
        Err(e) => SyncEvent::StoreFailed {
            error: e.to_string(),
        },
    }
}

/// What the UI can ask of the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncCommand {
    /// Sync now (the `r` key).
    Now,
    /// New decisions are in the outbox: deliver them now.
    Deliver,
    /// Another connection confirmed a changed policy: place the queue by it (this engine's
    /// syncs place rows by it from now on) and send the new order.
    PolicyConfirmed,
}

#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub interval: Duration,
    pub backoff: Backoff,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            interval: Duration::from_secs(60),
            backoff: Backoff::default(),
        }
    }
}

/// Runs the engine until the command channel closes. It first reads the whole cached queue
/// (the UI drew its first frame from summaries); without a backend (offline mode) that is all
/// it does.
pub async fn run_engine<B: Backend + 'static>(
    backend: Option<Arc<B>>,
    mut store: Store,
    config: EngineConfig,
    clock: Arc<dyn Clock>,
    mut commands: mpsc::UnboundedReceiver<SyncCommand>,
    events: mpsc::UnboundedSender<SyncEvent>,
) {
    let loaded = match (store.queue_index(), store.outbox(false)) {
        (Ok(index), Ok(outbox)) => SyncEvent::CacheLoaded {
            index,
            outbox,
            delegations: store.delegations().unwrap_or_default(),
        },
        (Err(e), _) | (_, Err(e)) => SyncEvent::StoreFailed {
            error: e.to_string(),
        },
    };
    if events.send(loaded).is_err() {
        return;
    }
    let Some(backend) = backend else {
        // Offline mode: stay until the UI goes away, never touching the network.
        while let Some(cmd) = commands.recv().await {
            if cmd == SyncCommand::PolicyConfirmed
                && events.send(policy_in_force(&mut store)).is_err()
            {
                return;
            }
        }
        return;
    };
    let mut failures: u32 = 0;
    let mut offline_since: Option<DateTime<Utc>> = None;
    let mut next = Some(tokio::time::Instant::now());
    loop {
        let wait = async {
            match next {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            cmd = commands.recv() => match cmd {
                Some(SyncCommand::Now | SyncCommand::Deliver) => {
                    next = Some(tokio::time::Instant::now())
                }
                Some(SyncCommand::PolicyConfirmed) => {
                    if events.send(policy_in_force(&mut store)).is_err() {
                        return;
                    }
                }
                None => return,
            },
            _ = wait => {
                let _ = events.send(SyncEvent::Started);
                let tx = events.clone();
                let progress = move |fetched: usize, total: Option<usize>| {
                    let _ = tx.send(SyncEvent::Progress { fetched, total });
                };
                let result = cycle(
                    backend.as_ref(),
                    &mut store,
                    clock.as_ref(),
                    &progress,
                    &events,
                )
                .await;
                // Refreshes asked for while this sync ran are answered by it; decisions made
                // meanwhile are delivered right away.
                let mut deliver_now = false;
                while let Ok(cmd) = commands.try_recv() {
                    deliver_now |= cmd == SyncCommand::Deliver;
                }
                let synced = result.is_ok();
                let mut ahead = None;
                let event = match result {
                    Ok((outcome, texts)) => {
                        ahead = texts;
                        failures = 0;
                        offline_since = None;
                        next = Some(if deliver_now {
                            tokio::time::Instant::now()
                        } else {
                            tokio::time::Instant::now() + config.interval
                        });
                        tracing::info!(total = outcome.total, "{}", outcome.summary());
                        let changed = outcome.full
                            || outcome.added + outcome.updated + outcome.removed > 0;
                        let index = if changed {
                            store.queue_index().map(Some)
                        } else {
                            Ok(None)
                        };
                        match (index, store.outbox_pending(), store.open_decisions()) {
                            (Ok(index), Ok(outbox_pending), Ok(open)) => SyncEvent::Synced {
                                delegations: outcome.delegations.clone(),
                                outcome: Box::new(outcome),
                                index,
                                outbox_pending,
                                open,
                            },
                            (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => SyncEvent::StoreFailed { error: e.to_string() },
                        }
                    }
                    Err(SyncError::Backend(e)) if e.is_auth() => {
                        tracing::warn!(error = %e, "credentials refused; not retrying");
                        next = None;
                        SyncEvent::AuthFailed { error: e.to_string() }
                    }
                    Err(e) => {
                        failures += 1;
                        let now = clock.now();
                        let since = *offline_since.get_or_insert(now);
                        // Retry-After on 429 and 503 wins over our own backoff when longer.
                        let retry_after = match &e {
                            SyncError::Backend(b) => b.retry_after().map(Duration::from_secs),
                            SyncError::Store(_) => None,
                        };
                        let delay = config.backoff.delay(failures, retry_after, jitter(now));
                        next = Some(tokio::time::Instant::now() + delay);
                        tracing::warn!(error = %e, failures, delay_ms = delay.as_millis() as u64, "sync failed");
                        let retry_at = now + chrono::Duration::from_std(delay).unwrap_or_default();
                        match e {
                            SyncError::Store(e) => SyncEvent::StoreFailed { error: e.to_string() },
                            SyncError::Backend(e) => SyncEvent::Offline { since, error: e.to_string(), retry_at },
                        }
                    }
                };
                if events.send(event).is_err() {
                    return;
                }
                if synced && !deliver_now {
                    // The second pass, with the queue on screen: the long texts a round at a
                    // time. A decision or a refresh asked for meanwhile goes first; the pass
                    // goes on after the sync it asked for.
                    let mut asked = false;
                    let tx = events.clone();
                    let filled = fill_long_texts(
                        backend.as_ref(),
                        &store,
                        ahead,
                        || {
                            asked |= commands.try_recv().is_ok();
                            !asked
                        },
                        move |ids| {
                            let _ = tx.send(SyncEvent::TextsArrived { ids });
                        },
                    )
                    .await;
                    if let Err(e) = filled {
                        tracing::warn!(error = %e, "the long texts could not be fetched; the next sync tries again");
                    }
                    if asked {
                        next = Some(tokio::time::Instant::now());
                    }
                }
            }
        }
    }
}

/// One engine cycle: deliver the outbox (outbox first: decisions go out before the queue is
/// pulled), then sync.
async fn cycle<'a, B: Backend>(
    backend: &'a B,
    store: &mut Store,
    clock: &dyn Clock,
    progress: Progress<'_>,
    events: &mpsc::UnboundedSender<SyncEvent>,
) -> Result<(SyncOutcome, Option<TextsAhead<'a>>), SyncError> {
    let report = |d: &crate::domain::Decision, delivery: &Delivery| {
        let _ = events.send(SyncEvent::Delivery {
            client_id: d.client_id.clone(),
            approval_sys_id: d.approval_sys_id.clone(),
            delivery: delivery.clone(),
        });
    };
    // Another signoff delivering the same outbox (say a script) is left to finish.
    let delivered = deliver_pending(backend, store, clock, Deliver::All, &report, false).await?;
    if let Some(error) = delivered.stopped {
        return Err(SyncError::Backend(error));
    }
    sync_then_texts(backend, store, clock, progress).await
}

/// A jitter fraction in [0, 1) from the clock's nanoseconds (and the process): spreads
/// retries of many clients without needing a random number generator.
fn jitter(now: DateTime<Utc>) -> f64 {
    let nanos = now.timestamp_subsec_nanos() ^ std::process::id().rotate_left(16);
    // Mix the bits so consecutive calls are not correlated.
    let mut x = u64::from(nanos) ^ 0x9E37_79B9_7F4A_7C15;
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    (x >> 11) as f64 / (1u64 << 53) as f64
}
