//! What can go wrong with the local store, each as a sentence that names the file and says
//! what to do.

use std::path::{Path, PathBuf};

/// Everything that can go wrong with the local store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "{profile:?} is not a usable profile name; use 1 to 64 letters, digits, '-' or '_' (for example --profile work)."
    )]
    InvalidProfile { profile: String },

    #[error(
        "Could not create the folder {} for the signoff store ({source}); check its permissions or choose another data folder.",
        .path.display()
    )]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error(
        "Could not open the signoff store {} ({source}); check the file's permissions and the free disk space.",
        .path.display()
    )]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error(
        "{} is a folder, not a signoff store; move it aside or use another --profile.",
        .path.display()
    )]
    IsDirectory { path: PathBuf },

    #[error(
        "{} is not an SQLite database, so it is not a signoff store and was left untouched; move it aside or use another --profile.",
        .path.display()
    )]
    NotSqlite { path: PathBuf },

    #[error(
        "{} is an SQLite database of another application (application_id {application_id:#010x}), not a signoff store, and was left untouched; move it aside or use another --profile.",
        .path.display()
    )]
    OtherApplication { path: PathBuf, application_id: u32 },

    #[error(
        "{} is an SQLite database that signoff did not create ({reason}) and was left untouched; move it aside or use another --profile.",
        .path.display()
    )]
    Unrecognised { path: PathBuf, reason: String },

    #[error(
        "{} was written by a newer signoff (schema {found}, this one knows {known}) and was left untouched; upgrade signoff or use another --profile.",
        .path.display()
    )]
    NewerSchema {
        path: PathBuf,
        found: u32,
        known: u32,
    },

    #[error(
        "The signoff store {} is busy in another signoff process; close that one and try again.",
        .path.display()
    )]
    Locked { path: PathBuf },

    #[error(
        "The signoff store {} is damaged ({detail}); move it aside and run signoff again to rebuild the cache from the server (queued decisions in it are lost unless you keep the file).",
        .path.display()
    )]
    Corrupt { path: PathBuf, detail: String },

    #[error(
        "The cached queue in {} belongs to user {cached}, not {given}; run a full sync to replace it.",
        .path.display()
    )]
    UserMismatch {
        path: PathBuf,
        cached: String,
        given: String,
    },

    #[error(
        "Could not encode the {what} for the signoff store {} ({detail}); this is a signoff bug, please report it with the log file.",
        .path.display()
    )]
    Encode {
        path: PathBuf,
        what: String,
        detail: String,
    },

    #[error(
        "Could not {action} in the signoff store {} ({source}); check the free disk space and the file's permissions, and try again.",
        .path.display()
    )]
    Sqlite {
        path: PathBuf,
        action: &'static str,
        source: rusqlite::Error,
    },
}

impl StoreError {
    /// Maps an SQLite error met while doing `action` on the store at `path` to the error the
    /// user should see: busy and damaged files get their own advice.
    pub(crate) fn sqlite(path: &Path, action: &'static str, source: rusqlite::Error) -> StoreError {
        use rusqlite::ErrorCode;
        let path = path.to_path_buf();
        match source.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
                StoreError::Locked { path }
            }
            Some(ErrorCode::NotADatabase) => StoreError::NotSqlite { path },
            Some(ErrorCode::DatabaseCorrupt) => StoreError::Corrupt {
                path,
                detail: source.to_string(),
            },
            _ => StoreError::Sqlite {
                path,
                action,
                source,
            },
        }
    }
}
