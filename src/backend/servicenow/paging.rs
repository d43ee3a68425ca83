//! Lists across pages (reference §1.5): `sysparm_limit`/`sysparm_offset`, the `Link` header
//! and `X-Total-Count`.
//!
//! Nothing the server says about the size of a list is trusted to plan work: pages are asked
//! for a few at a time as earlier ones arrive, and paging stops when the server's own `Link`
//! says a page is the last, when pages keep coming back without new rows, or when far more
//! pages were asked for than the rows received can explain. A lying `X-Total-Count` therefore
//! costs a handful of requests, not millions; when paging stops early, a notice says so.

use std::collections::HashSet;

use futures::StreamExt;
use futures::stream::FuturesOrdered;
use url::Url;

use super::http::header_str;
use super::wire::{Json, Row};
use super::{Convert, ServiceNow};
use crate::backend::{BackendError, Progress};

/// Pages fetched at once once the total is known.
const PARALLEL_PAGES: usize = 4;
/// The most rows one page is taken to hold: `sysparm_limit`'s default, and the most signoff
/// asks for.
pub(super) const MAX_PAGE_ROWS: usize = 10_000;
/// The disjoint sys_id ranges a keyed read runs in parallel: by the first hex digit.
const KEY_RANGES: [(&str, Option<&str>); 4] = [
    ("", Some("4")),
    ("4", Some("8")),
    ("8", Some("c")),
    ("c", None),
];

/// What a key range read: its rows, or evidence that the server ignored the order.
#[derive(PartialEq)]
enum Keyed {
    Done,
    Unordered,
}

/// Pages in a row that bring no new rows before paging stops.
const FRUITLESS_LIMIT: usize = 3;

/// One page of a list answer, already converted: `(sys_id, item)` pairs.
pub(super) struct Page<T> {
    pub rows: Vec<(String, T)>,
    pub total: Option<usize>,
    pub next: Option<Url>,
    pub had_link: bool,
}

/// The rows received so far (de-duplicated by sys_id, in case the data moved between pages)
/// and the evidence for going on.
struct Tally<T> {
    rows: Vec<T>,
    ids: HashSet<String>,
    pages: usize,
    fruitless: usize,
    step: usize,
    stopped: Option<&'static str>,
}

impl<T> Tally<T> {
    fn new(step: usize) -> Tally<T> {
        Tally {
            rows: Vec::new(),
            ids: HashSet::new(),
            pages: 0,
            fruitless: 0,
            step: step.max(1),
            stopped: None,
        }
    }

    /// Takes a page's rows; answers whether to go on.
    fn add(&mut self, rows: Vec<(String, T)>) -> bool {
        self.pages += 1;
        let before = self.rows.len();
        for (id, item) in rows {
            if id.is_empty() || self.ids.insert(id) {
                self.rows.push(item);
            }
        }
        if self.rows.len() > before {
            self.fruitless = 0;
        } else {
            self.fruitless += 1;
        }
        // ACLs filter rows after the limit, so a page may come back short or even empty
        // while more rows exist (§1.2); a few such pages in a row, or twice the pages the rows
        // need, mean the server is not describing its data.
        let budget = 2 * self.rows.len().div_ceil(self.step) + 2 * PARALLEL_PAGES + 2;
        if self.fruitless >= FRUITLESS_LIMIT {
            self.stopped = Some("pages kept coming back without new rows");
        } else if self.pages > budget {
            self.stopped = Some("it asked for far more pages than the rows received need");
        }
        self.stopped.is_none()
    }
}

impl ServiceNow {
    pub(super) async fn get_page<T>(
        &self,
        url: Url,
        what: &str,
        convert: Convert<'_, T>,
    ) -> Result<Page<T>, BackendError> {
        let raw = self.fetch_raw(url, what).await?;
        read_page(raw, convert).await
    }

    /// One page's answer, not yet decoded.
    pub(super) async fn fetch_raw(&self, url: Url, what: &str) -> Result<RawPage, BackendError> {
        let (headers, bytes) = self
            .http
            .send_bytes(reqwest::Method::GET, url, None, what)
            .await?;
        let next = header_str(&headers, "link")
            .as_deref()
            .and_then(link_next)
            .map(|u| self.rebase(&u));
        Ok(RawPage {
            headers,
            bytes,
            next,
        })
    }
}

/// A page's answer as it came: its headers (with the `Link` next, already rebased on the
/// instance) and its body, not yet decoded.
pub(super) struct RawPage {
    headers: reqwest::header::HeaderMap,
    bytes: Option<bytes::Bytes>,
    next: Option<Url>,
}

impl RawPage {
    /// The instance's own `Link` says there is no page after this one.
    fn is_last(&self) -> bool {
        self.next.is_none() && self.headers.contains_key("link")
    }

    /// A guess at the last row's sys_id, read from the raw body without decoding it, and only
    /// when the page looks full (`limit` rows): so the next keyed page can be asked for while
    /// this one is decoded. Only a guess: the caller checks it against the decoded page.
    fn last_key_guess(&self, limit: usize) -> Option<String> {
        const FIELD: &[u8] = b"\"sys_id\":";
        let body = self.bytes.as_deref()?;
        let mut count = 0;
        let mut last = None;
        for i in memchr::memmem::find_iter(body, FIELD) {
            count += 1;
            last = Some(i + FIELD.len());
        }
        if count != limit {
            return None;
        }
        // `"sys_id":"KEY"` or, with display values, `"sys_id":{"display_value":"KEY","value":"KEY"}`.
        let rest = &body[last?..];
        let rest = match rest.first()? {
            b'"' => &rest[1..],
            b'{' => {
                const VALUE: &[u8] = b"\"value\":\"";
                let i = memchr::memmem::find(rest, VALUE)?;
                &rest[i + VALUE.len()..]
            }
            _ => return None,
        };
        let end = rest.iter().position(|b| *b == b'"')?;
        let key = std::str::from_utf8(&rest[..end]).ok()?;
        crate::domain::text::is_record_id(key).then(|| key.to_string())
    }
}

/// Rows of a page converted between two chances for the other requests in flight.
const ROWS_BETWEEN_YIELDS: usize = 200;

/// Decodes a page and converts its rows. The rows are read in place ([`Json`]: strings
/// borrowed from the answer, objects as lists of members) and converted as they are read, on
/// the caller's task: cheaper than building a map per row and per field and freeing them
/// after (most of what reading a page cost), and without a hand-over to another thread.
pub(super) async fn read_page<T>(
    raw: RawPage,
    convert: Convert<'_, T>,
) -> Result<Page<T>, BackendError> {
    let RawPage {
        headers,
        bytes,
        next,
    } = raw;
    {
        let body = match &bytes {
            Some(bytes) => Some(super::http::json_body::<Json>(&headers, bytes)?),
            None => None,
        };
        let rows = match &body {
            Some(body @ Json::Object(_)) => match body.get("result") {
                Some(Json::Array(items)) => {
                    let mut rows = Vec::with_capacity(items.len());
                    for (i, v) in items.iter().enumerate() {
                        // A long page lets the other requests in flight be answered (and
                        // the next ones sent) while it is read.
                        if i > 0 && i % ROWS_BETWEEN_YIELDS == 0 {
                            tokio::task::yield_now().await;
                        }
                        let Some(row) = Row::of_json(v) else {
                            return Err(BackendError::Protocol(
                                "a result row is not a JSON object".into(),
                            ));
                        };
                        rows.push((row.value("sys_id"), convert(&row)?));
                    }
                    rows
                }
                Some(_) => {
                    return Err(BackendError::Protocol(
                        "the list answer's \"result\" is not an array".into(),
                    ));
                }
                None => {
                    return Err(BackendError::Protocol(
                        "the answer has no \"result\" member".into(),
                    ));
                }
            },
            _ => {
                return Err(BackendError::Protocol(
                    "the answer is not a JSON object".into(),
                ));
            }
        };
        let total = header_str(&headers, "x-total-count").and_then(|s| s.trim().parse().ok());
        Ok(Page {
            rows,
            total,
            next,
            had_link: headers.contains_key("link"),
        })
    }
}

impl ServiceNow {
    /// The first page of a list query, as [`Self::get_all`] asks for it.
    pub(super) fn first_page_url(&self, table: &str, query: &str, fields: &str) -> Url {
        self.first_page_of(table, query, fields, self.page_size)
    }

    /// The first page of a list query, `limit` rows asked for.
    fn first_page_of(&self, table: &str, query: &str, fields: &str, limit: usize) -> Url {
        let limit = limit.to_string();
        self.table_url(
            table,
            &[
                ("sysparm_query", query),
                ("sysparm_fields", fields),
                ("sysparm_display_value", "all"),
                ("sysparm_exclude_reference_link", "true"),
                ("sysparm_limit", &limit),
                ("sysparm_offset", "0"),
            ],
        )
    }

    /// Every row of a list query, across all pages.
    ///
    /// After the first page, when the `Link` header shows the instance's page size and
    /// `X-Total-Count` the total, the following pages are fetched a few at a time. A page may
    /// hold fewer rows than its limit (ACLs filter after the limit), so progress is always by
    /// offset, never by rows received.
    pub(super) async fn get_all<T: Send>(
        &self,
        table: &str,
        query: &str,
        fields: &str,
        what: &str,
        convert: Convert<'_, T>,
        progress: Progress<'_>,
    ) -> Result<Vec<T>, BackendError> {
        self.get_all_in_pages_of(
            self.page_size,
            table,
            query,
            fields,
            what,
            convert,
            progress,
        )
        .await
    }

    /// [`Self::get_all`] asking for `limit` rows a page (small rows read in fewer requests).
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn get_all_in_pages_of<T: Send>(
        &self,
        limit: usize,
        table: &str,
        query: &str,
        fields: &str,
        what: &str,
        convert: Convert<'_, T>,
        progress: Progress<'_>,
    ) -> Result<Vec<T>, BackendError> {
        let limit = limit.clamp(1, MAX_PAGE_ROWS);
        let first = self.first_page_of(table, query, fields, limit);
        let mut page = self.get_page(first.clone(), what, convert).await?;
        let total = page.total;
        let next = page.next.take();
        let had_link = page.had_link;
        let plan = next.as_ref().and_then(offset_plan);
        // The page size the server works with: the Link's limit, else what the first page held.
        let step = match plan {
            Some((_, step)) => step,
            None if !page.rows.is_empty() => page.rows.len().min(limit),
            None => limit,
        };
        let mut tally = Tally::new(step);
        let go_on = tally.add(std::mem::take(&mut page.rows));
        progress(tally.rows.len(), total);
        if go_on {
            match (next, total, plan) {
                (Some(next), Some(total), Some((offset, step))) => {
                    let last = self
                        .by_offset(
                            &next, offset, step, total, what, convert, progress, &mut tally,
                        )
                        .await?;
                    self.follow_links(last, what, convert, progress, &mut tally)
                        .await?;
                }
                (Some(next), _, _) => {
                    self.follow_links(Some(next), what, convert, progress, &mut tally)
                        .await?;
                }
                (None, Some(total), _) if !had_link => {
                    self.by_rows(&first, limit, total, what, convert, progress, &mut tally)
                        .await?;
                }
                (None, _, _) => {}
            }
        }
        if let Some(why) = tally.stopped {
            let said = total.map_or(String::new(), |t| format!(" the instance said {t}, but"));
            let notice = format!(
                "Reading {what} stopped after {} pages and {} rows:{said} {why}. What arrived is shown; if rows are missing, tell your ServiceNow administrator.",
                tally.pages,
                tally.rows.len()
            );
            tracing::warn!("{notice}");
            self.notice(notice);
        }
        Ok(tally.rows)
    }

    /// Every row of a list query, paged by key instead of by offset (issue 14): the sys_id
    /// space is split into [`KEY_RANGES`] disjoint ranges read in parallel, and each range is
    /// read in `ORDERBYsys_id` pages that start after the last key seen (`sys_id>KEY`), so a
    /// page costs the same however deep it is (a deep `sysparm_offset` makes the instance's
    /// database skip every row before it), rows removed between pages shift nothing, and rows
    /// added are seen once. A page that ACLs emptied is stepped over by its `Link` (an offset
    /// past the same key). A server that does not keep the order asked for is read by offset
    /// instead, since keys out of order would skip rows.
    ///
    /// Each page goes to `out` as it arrives (so a caller can store it and forget it); a key
    /// seen twice (only possible after the fall-back to offsets) is sent again, so the
    /// receiver must treat rows as upserts. Stops early, without error, when `out` is closed.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn get_all_by_key<T: Send>(
        &self,
        table: &str,
        query: &str,
        fields: &str,
        what: &str,
        convert: Convert<'_, T>,
        progress: Progress<'_>,
        out: &tokio::sync::mpsc::Sender<Vec<(String, T)>>,
    ) -> Result<(), BackendError> {
        let seen = std::sync::atomic::AtomicUsize::new(0);
        let counted = |n: usize| {
            let total = seen.fetch_add(n, std::sync::atomic::Ordering::Relaxed) + n;
            progress(total, None);
        };
        let ranges = KEY_RANGES.iter().map(|(lo, hi)| {
            self.key_range(table, query, fields, what, convert, lo, *hi, &counted, out)
        });
        // Every range's failure counts, whichever range it was.
        let ranges: Vec<Keyed> = futures::future::join_all(ranges)
            .await
            .into_iter()
            .collect::<Result<_, _>>()?;
        if ranges.contains(&Keyed::Unordered) {
            tracing::info!("the instance did not keep ORDERBYsys_id; paging by offset");
            let rows = self
                .get_all(
                    table,
                    &format!("{query}^ORDERBYsys_id"),
                    fields,
                    what,
                    &|row| Ok((row.value("sys_id"), convert(row)?)),
                    progress,
                )
                .await?;
            let mut rows = rows.into_iter().peekable();
            while rows.peek().is_some() {
                let page: Vec<_> = rows.by_ref().take(MAX_PAGE_ROWS / 10).collect();
                if out.send(page).await.is_err() {
                    break;
                }
            }
        }
        Ok(())
    }

    /// One key range `[lo, hi)` of [`Self::get_all_by_key`].
    #[allow(clippy::too_many_arguments)]
    async fn key_range<T>(
        &self,
        table: &str,
        query: &str,
        fields: &str,
        what: &str,
        convert: Convert<'_, T>,
        lo: &str,
        hi: Option<&str>,
        counted: &(dyn Fn(usize) + Sync),
        out: &tokio::sync::mpsc::Sender<Vec<(String, T)>>,
    ) -> Result<Keyed, BackendError> {
        let limit = self.page_size.to_string();
        let key_url = |after: Option<&str>| {
            let mut parts: Vec<String> = Vec::new();
            match after {
                Some(k) => parts.push(format!("sys_id>{k}")),
                None if !lo.is_empty() => parts.push(format!("sys_id>={lo}")),
                None => {}
            }
            if let Some(hi) = hi {
                parts.push(format!("sys_id<{hi}"));
            }
            let q = format!("{}^ORDERBYsys_id", and_each(query, &parts));
            self.table_url(
                table,
                &[
                    ("sysparm_query", &q),
                    ("sysparm_fields", fields),
                    ("sysparm_display_value", "all"),
                    ("sysparm_exclude_reference_link", "true"),
                    ("sysparm_limit", &limit),
                    ("sysparm_no_count", "true"),
                ],
            )
        };
        let mut after: Option<String> = None;
        let (mut pages, mut empty) = (0usize, 0usize);
        let mut raw = self.fetch_raw(key_url(None), what).await?;
        loop {
            // The next page is asked for while this one is decoded, after the last key read
            // from the raw body; the guess is checked against the decoded page below, and a
            // wrong one's answer is thrown away.
            let guess = if raw.is_last() {
                None
            } else {
                raw.last_key_guess(self.page_size)
            };
            let ahead = async {
                match &guess {
                    Some(k) => Some(self.fetch_raw(key_url(Some(k)), what).await),
                    None => None,
                }
            };
            // `ahead` first: its request is sent before this page is read, which takes a while
            // and yields nothing.
            let (ahead, page) = futures::join!(ahead, read_page(raw, convert));
            let page = page?;
            pages += 1;
            let keys: Vec<&str> = page.rows.iter().map(|(id, _)| id.as_str()).collect();
            // Keys must come in order, after the last one, inside the range: anything else
            // means the instance did not apply the order (or the range), and keys would skip.
            let in_order = keys.windows(2).all(|w| w[0] < w[1])
                && keys.iter().all(|k| {
                    crate::domain::text::is_record_id(k)
                        && after.as_deref().is_none_or(|a| *k > a)
                        && *k >= lo
                        && hi.is_none_or(|h| *k < h)
                });
            if !in_order {
                return Ok(Keyed::Unordered);
            }
            let last = keys.last().map(|k| k.to_string());
            let n = page.rows.len();
            counted(n);
            if n > 0 && out.send(page.rows).await.is_err() {
                return Ok(Keyed::Done); // the receiver stopped listening
            }
            let url = match last {
                Some(k) => {
                    after = Some(k);
                    empty = 0;
                    // The instance's own Link says there is nothing after this page.
                    if page.had_link && page.next.is_none() {
                        return Ok(Keyed::Done);
                    }
                    None
                }
                None => {
                    // Empty: the end, or a page ACLs emptied that its Link steps over.
                    empty += 1;
                    match page.next {
                        Some(next) if empty < FRUITLESS_LIMIT * 4 => Some(next),
                        _ => return Ok(Keyed::Done),
                    }
                }
            };
            if pages > 2 * MAX_PAGE_ROWS {
                return Err(BackendError::Protocol(
                    "the instance kept answering pages without end".into(),
                ));
            }
            tracing::debug!(
                asked_ahead = guess.is_some(),
                hit = guess.is_some() && guess == after,
                rows = n,
                "keyed page"
            );
            raw = match (url, ahead) {
                (None, Some(answer)) if guess.is_some() && guess == after => answer?,
                (None, _) => self.fetch_raw(key_url(after.as_deref()), what).await?,
                (Some(step_over), _) => self.fetch_raw(step_over, what).await?,
            };
        }
    }

    /// Pages by offset up to `total`, a few in flight at once, asked for only as earlier ones
    /// arrive. Answers the `next` link of the last page taken.
    #[allow(clippy::too_many_arguments)]
    async fn by_offset<T>(
        &self,
        next: &Url,
        mut offset: usize,
        step: usize,
        total: usize,
        what: &str,
        convert: Convert<'_, T>,
        progress: Progress<'_>,
        tally: &mut Tally<T>,
    ) -> Result<Option<Url>, BackendError> {
        let mut inflight = FuturesOrdered::new();
        let mut last_next = None;
        loop {
            while inflight.len() < PARALLEL_PAGES && offset < total {
                let url = with_offset(next, offset, step);
                let at = offset;
                inflight.push_back(async move { (at, self.get_page(url, what, convert).await) });
                offset = offset.saturating_add(step);
            }
            let Some((at, page)) = inflight.next().await else {
                return Ok(last_next);
            };
            let mut page = page?;
            let go_on = tally.add(std::mem::take(&mut page.rows));
            progress(tally.rows.len(), Some(total));
            if !go_on {
                return Ok(None);
            }
            // The server's own Link says this page is the last: later offsets are past the end,
            // whatever the total said (pages still in flight are dropped).
            if page.had_link && page.next.is_none() {
                if at.saturating_add(step) < total {
                    tally.stopped = Some("its own paging links ended long before that");
                }
                return Ok(None);
            }
            last_next = page.next;
        }
    }

    /// No Link header at all (suppressed, or a proxy dropped it): pages by offset until the
    /// total is reached. A short page may be a server cap or ACL filtering; stepping by the
    /// rows received can only overlap (de-duplicated), never skip.
    #[allow(clippy::too_many_arguments)]
    async fn by_rows<T>(
        &self,
        first: &Url,
        limit: usize,
        total: usize,
        what: &str,
        convert: Convert<'_, T>,
        progress: Progress<'_>,
        tally: &mut Tally<T>,
    ) -> Result<(), BackendError> {
        let mut offset = 0usize;
        let mut last_len = tally.rows.len();
        loop {
            offset = offset.saturating_add(if last_len == 0 {
                limit
            } else {
                last_len.min(limit)
            });
            if offset >= total {
                return Ok(());
            }
            let mut page = self
                .get_page(with_offset(first, offset, limit), what, convert)
                .await?;
            last_len = page.rows.len();
            let go_on = tally.add(std::mem::take(&mut page.rows));
            progress(tally.rows.len(), Some(total));
            if !go_on {
                return Ok(());
            }
        }
    }

    /// Follows `rel="next"` until there is none (also picks up rows added while paging).
    async fn follow_links<T>(
        &self,
        mut next: Option<Url>,
        what: &str,
        convert: Convert<'_, T>,
        progress: Progress<'_>,
        tally: &mut Tally<T>,
    ) -> Result<(), BackendError> {
        let mut seen_urls = HashSet::new();
        while let Some(url) = next {
            if tally.stopped.is_some() {
                return Ok(());
            }
            if !seen_urls.insert(url.to_string()) {
                return Err(BackendError::Protocol(
                    "the instance's paging links go round in a circle".into(),
                ));
            }
            let mut page = self.get_page(url, what, convert).await?;
            let go_on = tally.add(std::mem::take(&mut page.rows));
            progress(tally.rows.len(), page.total);
            next = if go_on { page.next } else { None };
        }
        Ok(())
    }
}

/// `conditions` ANDed into every `^NQ` branch of `query` (a condition after the last `^NQ`
/// would bind to that branch alone).
fn and_each(query: &str, conditions: &[String]) -> String {
    if conditions.is_empty() {
        return query.to_string();
    }
    let extra = conditions.join("^");
    query
        .split("^NQ")
        .map(|branch| {
            if branch.is_empty() {
                extra.clone()
            } else {
                format!("{branch}^{extra}")
            }
        })
        .collect::<Vec<_>>()
        .join("^NQ")
}

/// The `rel="next"` target of a `Link` header (reference §1.5: no spaces on real instances,
/// but spaces are tolerated).
fn link_next(header: &str) -> Option<Url> {
    header.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let is_next = params.split(';').any(|p| {
            p.trim()
                .replace(' ', "")
                .eq_ignore_ascii_case("rel=\"next\"")
        });
        if !is_next {
            return None;
        }
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        Url::parse(target).ok()
    })
}

/// Where the `next` link says the following page starts, and the page size to step by. A
/// page size past the most signoff asks for is taken as that most (a lying Link could
/// otherwise overflow the offsets), and a zero one as no plan at all.
fn offset_plan(next: &Url) -> Option<(usize, usize)> {
    Some((
        query_param(next, "sysparm_offset")?,
        query_param(next, "sysparm_limit")
            .filter(|s| *s > 0)?
            .min(MAX_PAGE_ROWS),
    ))
}

fn query_param(url: &Url, name: &str) -> Option<usize> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .and_then(|(_, v)| v.parse().ok())
}

fn with_offset(url: &Url, offset: usize, limit: usize) -> Url {
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != "sysparm_offset" && k != "sysparm_limit")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let mut out = url.clone();
    out.query_pairs_mut()
        .clear()
        .extend_pairs(pairs)
        .append_pair("sysparm_limit", &limit.to_string())
        .append_pair("sysparm_offset", &offset.to_string());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(body: &str, link: bool) -> RawPage {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("content-type", "application/json".parse().unwrap());
        if link {
            headers.insert(
                "link",
                "<https://x/a?sysparm_offset=0>;rel=\"first\""
                    .parse()
                    .unwrap(),
            );
        }
        RawPage {
            headers,
            bytes: Some(bytes::Bytes::from(body.to_string())),
            next: None,
        }
    }

    #[test]
    fn the_last_key_is_read_from_a_full_raw_page_only() {
        let a = "0123456789abcdef0123456789abcdef";
        let b = "fedcba9876543210fedcba9876543210";
        let shown = format!(
            r#"{{"result":[{{"sys_id":{{"display_value":"{a}","value":"{a}"}},"x.sys_id":"zz"}},{{"state":{{"value":"q"}},"sys_id":{{"display_value":"{b}","value":"{b}"}}}}]}}"#
        );
        assert_eq!(raw(&shown, false).last_key_guess(2).as_deref(), Some(b));
        // Not full: the page may be the last, so nothing is asked for ahead.
        assert_eq!(raw(&shown, false).last_key_guess(3), None);
        let plain = format!(r#"{{"result":[{{"sys_id":"{a}"}},{{"sys_id":"{b}"}}]}}"#);
        assert_eq!(raw(&plain, false).last_key_guess(2).as_deref(), Some(b));
        // Something that is not a key is no guess; neither is a body cut short.
        let odd = r#"{"result":[{"sys_id":"a"},{"sys_id":"x^ORDERBYname"}]}"#;
        assert_eq!(raw(odd, false).last_key_guess(2), None);
        assert_eq!(
            raw(r#"{"result":[{"sys_id":"#, false).last_key_guess(1),
            None
        );
        // A Link without a next says the page is the last.
        assert!(raw(&plain, true).is_last());
        assert!(!raw(&plain, false).is_last());
    }

    #[test]
    fn key_conditions_bind_to_every_branch() {
        let c = vec!["sys_id>4".to_string(), "sys_id<8".to_string()];
        assert_eq!(
            and_each("a=1^NQb=2", &c),
            "a=1^sys_id>4^sys_id<8^NQb=2^sys_id>4^sys_id<8"
        );
        assert_eq!(and_each("", &c), "sys_id>4^sys_id<8");
        assert_eq!(and_each("a=1", &[]), "a=1");
    }

    #[test]
    fn link_header_next() {
        let h = r#"<https://dev1.service-now.com/api/now/table/sys_user?sysparm_limit=5&sysparm_offset=0>;rel="first",<https://dev1.service-now.com/api/now/table/sys_user?sysparm_limit=5&sysparm_offset=595>;rel="prev",<https://dev1.service-now.com/api/now/table/sys_user?sysparm_limit=5&sysparm_offset=605>;rel="next",<https://dev1.service-now.com/api/now/table/sys_user?sysparm_limit=5&sysparm_offset=610>;rel="last""#;
        let next = link_next(h).unwrap();
        assert_eq!(query_param(&next, "sysparm_offset"), Some(605));
        assert_eq!(query_param(&next, "sysparm_limit"), Some(5));
        let last_page = r#"<https://x/a?sysparm_offset=0>;rel="first", <https://x/a?sysparm_offset=5>; rel="prev""#;
        assert!(link_next(last_page).is_none());
    }

    #[test]
    fn a_links_page_size_is_bounded() {
        let plan = |q: &str| offset_plan(&Url::parse(&format!("https://x/a?{q}")).unwrap());
        assert_eq!(plan("sysparm_limit=50&sysparm_offset=100"), Some((100, 50)));
        let huge = format!("sysparm_limit={}&sysparm_offset=5", usize::MAX);
        assert_eq!(plan(&huge), Some((5, MAX_PAGE_ROWS)));
        assert_eq!(plan("sysparm_limit=0&sysparm_offset=5"), None);
        assert_eq!(plan("sysparm_limit=-3&sysparm_offset=5"), None);
        assert_eq!(plan("sysparm_offset=5"), None);
    }

    #[test]
    fn offsets_are_replaced() {
        let u = Url::parse("https://x/api?sysparm_query=a%5Eb&sysparm_limit=5&sysparm_offset=10")
            .unwrap();
        let v = with_offset(&u, 20, 7);
        assert_eq!(query_param(&v, "sysparm_offset"), Some(20));
        assert_eq!(query_param(&v, "sysparm_limit"), Some(7));
        assert!(v.query().unwrap().contains("sysparm_query=a%5Eb"));
    }

    #[test]
    fn paging_stops_when_pages_bring_nothing() {
        let mut t: Tally<u32> = Tally::new(10);
        assert!(t.add((0..10).map(|i| (format!("id{i}"), i)).collect()));
        assert!(t.add(Vec::new()));
        assert!(t.add(vec![("id1".into(), 1)]), "a repeat is not new");
        assert!(!t.add(Vec::new()), "three pages in a row without new rows");
        assert_eq!(t.rows.len(), 10);

        // One new row per page forever: the budget runs out long before a lying total.
        let mut t: Tally<usize> = Tally::new(100);
        let mut n = 0;
        while t.add(vec![(format!("r{n}"), n)]) {
            n += 1;
            assert!(n < 100, "stops");
        }
        assert!(t.stopped.is_some());
    }
}
