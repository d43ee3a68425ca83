//! The sim's records on disk (`signoff sim --data FILE`, and the demo's instance by default):
//! a snapshot of every table, the journals, the rows a hold suspended, the users and the id
//! generator, written after each write the sim applies (to a temporary file, then renamed, so
//! a crash leaves the previous snapshot) and read at start instead of generating data. Rows
//! are kept by field name, so a snapshot written before a field was added still loads.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::SimUser;
use super::table::{Db, JournalEntry, schema};

/// Bumped when the snapshot's shape changes incompatibly.
const VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct Snapshot {
    version: u32,
    /// What the records were first generated from.
    seed: u64,
    changes: usize,
    /// The server clock when written (seconds): a restarted sim never goes back before it.
    now: i64,
    /// The id generator's state, so records made after a restart get new ids.
    ids: u64,
    tables: Vec<Rows>,
    journals: Vec<Journal>,
    /// Approval rows a hold made `not_required`, by change row (of `change_request`).
    held: Vec<(u32, Vec<u32>)>,
    users: Vec<User>,
}

#[derive(Serialize, Deserialize)]
struct Rows {
    name: String,
    fields: Vec<String>,
    rows: Vec<Vec<String>>,
}

#[derive(Serialize, Deserialize)]
struct Journal {
    table: String,
    row: u32,
    entries: Vec<Entry>,
}

#[derive(Serialize, Deserialize)]
struct Entry {
    field: String,
    at: String,
    author: String,
    user: String,
    text: String,
}

#[derive(Serialize, Deserialize)]
struct User {
    sys_id: String,
    user_name: String,
    name: String,
    email: String,
    roles: Vec<String>,
}

/// What a snapshot restores.
pub struct Restored {
    pub origin: Origin,
    pub db: Db,
    pub users: Vec<SimUser>,
    pub now: i64,
    pub ids: u64,
}

/// Where the records came from: the seed and number of changes they were generated with.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Origin {
    pub seed: u64,
    pub changes: usize,
}

/// Writes the snapshot of `db` to `path` (a sibling temporary file, then renamed).
pub fn save(
    path: &Path,
    origin: Origin,
    db: &Db,
    users: &[SimUser],
    now: i64,
    ids: u64,
) -> std::io::Result<()> {
    let tables = db
        .tables
        .iter()
        .map(|t| Rows {
            name: t.name.to_string(),
            fields: t.fields.iter().map(|f| f.name.to_string()).collect(),
            rows: t
                .rows
                .iter()
                .map(|r| r.iter().map(|&v| db.strings.get(v).to_string()).collect())
                .collect(),
        })
        .collect();
    let journals = db
        .journals
        .iter()
        .map(|(&(t, row), entries)| Journal {
            table: db.tables[t].name.to_string(),
            row,
            entries: entries
                .iter()
                .map(|e| Entry {
                    field: db.tables[t].fields[e.field].name.to_string(),
                    at: e.at.clone(),
                    author: e.author.clone(),
                    user: e.user.clone(),
                    text: e.text.clone(),
                })
                .collect(),
        })
        .collect();
    let snapshot = Snapshot {
        version: VERSION,
        seed: origin.seed,
        changes: origin.changes,
        now,
        ids,
        tables,
        journals,
        held: db.held.iter().map(|(k, v)| (*k, v.clone())).collect(),
        users: users
            .iter()
            .map(|u| User {
                sys_id: u.sys_id.clone(),
                user_name: u.user_name.clone(),
                name: u.name.clone(),
                email: u.email.clone(),
                roles: u.roles.clone(),
            })
            .collect(),
    };
    let json = serde_json::to_vec(&snapshot).map_err(std::io::Error::other)?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    {
        use std::io::Write;
        let mut f = private_file(&tmp)?;
        f.write_all(&json)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

#[cfg(unix)]
fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::File::create(path)
}

/// Reads the snapshot at `path`; `Ok(None)` when there is none yet.
pub fn load(path: &Path) -> std::io::Result<Option<Restored>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let unreadable = |why: String| {
        std::io::Error::other(format!(
            "{} is not a snapshot this sim can read ({why}); move it away or start with --fresh",
            path.display()
        ))
    };
    let snapshot: Snapshot =
        serde_json::from_slice(&bytes).map_err(|e| unreadable(e.to_string()))?;
    if snapshot.version != VERSION {
        return Err(unreadable(format!("version {}", snapshot.version)));
    }
    let mut db = Db::new(schema());
    for saved in &snapshot.tables {
        let Some(t) = db.table(&saved.name) else {
            continue; // a table this build no longer serves
        };
        if !saved.fields.iter().any(|f| f == "sys_id") {
            return Err(unreadable(format!("{} has no sys_id", saved.name)));
        }
        for row in &saved.rows {
            let pairs: Vec<(&str, &str)> = saved
                .fields
                .iter()
                .map(String::as_str)
                .zip(row.iter().map(String::as_str))
                .collect();
            db.insert(t, &pairs);
        }
    }
    for j in snapshot.journals {
        let Some(t) = db.table(&j.table) else {
            continue;
        };
        if j.row as usize >= db.tables[t].rows.len() {
            continue;
        }
        let entries: Vec<JournalEntry> = j
            .entries
            .into_iter()
            .filter_map(|e| {
                Some(JournalEntry {
                    field: db.tables[t].field(&e.field)?,
                    at: e.at,
                    author: e.author,
                    user: e.user,
                    text: e.text,
                })
            })
            .collect();
        db.journals.insert((t, j.row), entries);
    }
    db.held = snapshot.held.into_iter().collect();
    let users = snapshot
        .users
        .into_iter()
        .map(|u| SimUser {
            sys_id: u.sys_id,
            user_name: u.user_name,
            name: u.name,
            email: u.email,
            roles: u.roles,
        })
        .collect();
    Ok(Some(Restored {
        origin: Origin {
            seed: snapshot.seed,
            changes: snapshot.changes,
        },
        db,
        users,
        now: snapshot.now,
        ids: snapshot.ids,
    }))
}
