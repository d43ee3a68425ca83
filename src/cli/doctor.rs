//! `signoff doctor`: paths, instance, account, last sync, clock skew, cache and outbox state.
//! No network, never the password.

use super::Failure;
use super::connect::Session;
use crate::domain::describe_skew;
use crate::store::Store;

pub fn run(s: &Session, theme_name: &str) -> Result<(), Failure> {
    let other = |e: crate::store::StoreError| Failure::other(e.to_string());
    let exists = |p: &std::path::Path| if p.exists() { "" } else { " (not there yet)" };
    let paths = &s.paths;
    let store_path = Store::path_for(&paths.data_dir, &s.profile_name)
        .map_err(|e| Failure::usage(e.to_string()))?;
    println!("signoff {}", env!("CARGO_PKG_VERSION"));
    println!("profile      {}", s.profile_name);
    println!(
        "instance     {}",
        s.cli
            .instance
            .clone()
            .or(s.profile.instance.clone())
            .unwrap_or_else(|| "(none: --instance or SIGNOFF_INSTANCE)".into())
    );
    println!(
        "user         {}",
        s.cli
            .user
            .clone()
            .or(s.profile.user.clone())
            .unwrap_or_else(|| "(none: --user or SIGNOFF_USER)".into())
    );
    println!(
        "password     {}",
        if std::env::var_os("SIGNOFF_PASSWORD").is_some() {
            "from SIGNOFF_PASSWORD"
        } else {
            "asked for when needed"
        }
    );
    println!("theme        {theme_name}");
    if !s.config.keys.is_empty() {
        let keymap = crate::ui::keymap::Keymap::with_overrides(&s.config.keys);
        println!(
            "keys         {} override{} from [keys]{}",
            s.config.keys.len(),
            if s.config.keys.len() == 1 { "" } else { "s" },
            if keymap.problems.is_empty() {
                String::new()
            } else {
                format!(", {} refused:", keymap.problems.len())
            }
        );
        for p in &keymap.problems {
            println!("             config.toml {p}");
        }
    }
    let config_file = paths.config_file();
    println!(
        "config       {}{}",
        config_file.display(),
        exists(&config_file)
    );
    println!(
        "cache        {}{}",
        store_path.display(),
        exists(&store_path)
    );
    println!("log          {}", paths.log_file().display());
    if !store_path.exists() {
        return Ok(());
    }
    let store = Store::open(&store_path).map_err(other)?;
    let state = store.sync_state().map_err(other)?;
    let cached = store.approval_ids().map_err(other)?.len();
    let outbox = store.outbox(false).map_err(other)?;
    let pending = outbox.iter().filter(|e| e.delivery.is_pending()).count();
    let conflicts = outbox
        .iter()
        .filter(|e| e.delivery.needs_attention())
        .count();
    println!("schema       {}", store.schema_version().map_err(other)?);
    println!(
        "signed in as {}",
        state.user.map_or("(never synced)".to_string(), |u| format!(
            "{} ({})",
            u.user_name, u.name
        ))
    );
    println!(
        "last sync    {}",
        state
            .synced_at
            .map_or("never".to_string(), |t| t.to_rfc3339())
    );
    println!(
        "clock        {}",
        match crate::sync::stored_skew(&store) {
            Some((skew, at)) => format!(
                "the instance's clock is {}{} (from its Date header{}); delegation windows are judged by the instance's time",
                describe_skew(skew),
                if skew.num_seconds().abs() > 1 {
                    format!(" ({:+} s)", skew.num_seconds())
                } else {
                    String::new()
                },
                at.map_or(String::new(), |t| format!(" at {}", t.to_rfc3339()))
            ),
            None => "not measured yet (the next sync reads the instance's Date header)".into(),
        }
    );
    println!("cached       {cached} approvals");
    println!("outbox       {pending} waiting, {conflicts} conflicts or failures");
    let signer = store.journal_signer();
    println!("journal key  {} in {}", signer.key_id(), signer.location());
    println!(
        "secrets      a new secret would go to {}",
        crate::secrets::Secrets::for_process().kind().label()
    );
    Ok(())
}
