//! `signoff doctor`: paths, instance, account, last sync, clock skew, cache and outbox state.
//! No network, never the password.

use std::io::Write;

use super::Failure;
use super::connect::Session;
use crate::domain::describe_skew;
use crate::store::Store;

/// What `doctor` reports, for people (a table of lines) and scripts (one object).
#[derive(serde::Serialize)]
struct Report {
    version: &'static str,
    profile: String,
    instance: Option<String>,
    user: Option<String>,
    password: &'static str,
    theme: String,
    key_overrides: usize,
    key_problems: Vec<String>,
    config: String,
    config_exists: bool,
    cache: String,
    cache_exists: bool,
    log: String,
    schema: Option<i64>,
    signed_in_as: Option<String>,
    last_sync: Option<String>,
    clock: Option<String>,
    cached_approvals: Option<usize>,
    outbox_waiting: Option<usize>,
    outbox_attention: Option<usize>,
    journal_key: Option<String>,
    secrets_store: &'static str,
    credentials_store: &'static str,
}

pub fn run(s: &Session, theme_name: &str) -> Result<(), Failure> {
    let other = |e: crate::store::StoreError| Failure::other(e.to_string());
    let paths = &s.paths;
    let store_path = Store::path_for(&paths.data_dir, &s.profile_name)
        .map_err(|e| Failure::usage(e.to_string()))?;
    let keymap = crate::ui::keymap::Keymap::with_overrides(&s.config.keys);
    let config_file = paths.config_file();
    let mut r = Report {
        version: env!("CARGO_PKG_VERSION"),
        profile: s.profile_name.clone(),
        instance: s.cli.instance.clone().or(s.profile.instance.clone()),
        user: s.cli.user.clone().or(s.profile.user.clone()),
        password: if std::env::var_os("SIGNOFF_PASSWORD").is_some() {
            "from SIGNOFF_PASSWORD"
        } else {
            "kept by `signoff auth login`, else asked for when needed"
        },
        theme: theme_name.to_string(),
        key_overrides: s.config.keys.len(),
        key_problems: keymap.problems.iter().map(|p| p.to_string()).collect(),
        config: config_file.display().to_string(),
        config_exists: config_file.exists(),
        cache: store_path.display().to_string(),
        cache_exists: store_path.exists(),
        log: paths.log_file().display().to_string(),
        schema: None,
        signed_in_as: None,
        last_sync: None,
        clock: None,
        cached_approvals: None,
        outbox_waiting: None,
        outbox_attention: None,
        journal_key: None,
        secrets_store: crate::secrets::Secrets::for_process().kind().label(),
        credentials_store: crate::secrets::Secrets::for_credentials().kind().label(),
    };
    if r.cache_exists {
        let store = Store::open(&store_path).map_err(other)?;
        let state = store.sync_state().map_err(other)?;
        let outbox = store.outbox(false).map_err(other)?;
        r.schema = Some(store.schema_version().map_err(other)?.into());
        r.signed_in_as = state.user.map(|u| format!("{} ({})", u.user_name, u.name));
        r.last_sync = state.synced_at.map(|t| t.to_rfc3339());
        r.clock = crate::sync::stored_skew(&store).map(|(skew, at)| {
            format!(
                "the instance's clock is {}{} (from its Date header{}); delegation windows are judged by the instance's time",
                describe_skew(skew),
                if skew.num_seconds().abs() > 1 {
                    format!(" ({:+} s)", skew.num_seconds())
                } else {
                    String::new()
                },
                at.map_or(String::new(), |t| format!(" at {}", t.to_rfc3339()))
            )
        });
        r.cached_approvals = Some(store.approval_ids().map_err(other)?.len());
        r.outbox_waiting = Some(outbox.iter().filter(|e| e.delivery.is_pending()).count());
        r.outbox_attention = Some(
            outbox
                .iter()
                .filter(|e| e.delivery.needs_attention())
                .count(),
        );
        let signer = store.journal_signer();
        r.journal_key = Some(format!("{} in {}", signer.key_id(), signer.location()));
    }
    super::output::record(s.output(), &r, |w| table(w, &r), "the report")
}

fn table(w: &mut dyn Write, r: &Report) -> std::io::Result<()> {
    let exists = |e: bool| if e { "" } else { " (not there yet)" };
    writeln!(w, "signoff {}", r.version)?;
    writeln!(w, "profile      {}", r.profile)?;
    writeln!(
        w,
        "instance     {}",
        r.instance
            .as_deref()
            .unwrap_or("(none: --instance or SIGNOFF_INSTANCE)")
    )?;
    writeln!(
        w,
        "user         {}",
        r.user
            .as_deref()
            .unwrap_or("(none: --user or SIGNOFF_USER)")
    )?;
    writeln!(w, "password     {}", r.password)?;
    writeln!(w, "theme        {}", r.theme)?;
    if r.key_overrides > 0 {
        writeln!(
            w,
            "keys         {} override{} from [keys]{}",
            r.key_overrides,
            if r.key_overrides == 1 { "" } else { "s" },
            if r.key_problems.is_empty() {
                String::new()
            } else {
                format!(", {} refused:", r.key_problems.len())
            }
        )?;
        for p in &r.key_problems {
            writeln!(w, "             config.toml {p}")?;
        }
    }
    writeln!(w, "config       {}{}", r.config, exists(r.config_exists))?;
    writeln!(w, "cache        {}{}", r.cache, exists(r.cache_exists))?;
    writeln!(w, "log          {}", r.log)?;
    if !r.cache_exists {
        return Ok(());
    }
    if let Some(v) = r.schema {
        writeln!(w, "schema       {v}")?;
    }
    writeln!(
        w,
        "signed in as {}",
        r.signed_in_as.as_deref().unwrap_or("(never synced)")
    )?;
    writeln!(
        w,
        "last sync    {}",
        r.last_sync.as_deref().unwrap_or("never")
    )?;
    writeln!(
        w,
        "clock        {}",
        r.clock
            .as_deref()
            .unwrap_or("not measured yet (the next sync reads the instance's Date header)")
    )?;
    writeln!(
        w,
        "cached       {} approvals",
        r.cached_approvals.unwrap_or(0)
    )?;
    writeln!(
        w,
        "outbox       {} waiting, {} conflicts or failures",
        r.outbox_waiting.unwrap_or(0),
        r.outbox_attention.unwrap_or(0)
    )?;
    if let Some(k) = &r.journal_key {
        writeln!(w, "journal key  {k}")?;
    }
    writeln!(
        w,
        "secrets      a new journal key would go to {}",
        r.secrets_store
    )?;
    writeln!(
        w,
        "sign-in      `auth login` would keep the password or token in {}",
        r.credentials_store
    )
}
