use std::process::ExitCode;

use clap::Parser;
use signoff::cli::{Cli, Command, run};
use signoff::config::{Paths, ensure_private_dir, ensure_private_file};

fn main() -> ExitCode {
    signoff::mark_start();
    // Two malloc arenas instead of up to 16 on two cores: a full pull allocates on the
    // runtime, its decoding threads and its writer at once, and each arena kept its own peak
    // (a pull of 12,000 approvals peaked at 60-75 MB, 47-50 MB with two arenas).
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a tuning parameter; it is called before any other thread
    // exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
    let cli = Cli::parse();
    let paths = match Paths::from_env() {
        Ok(p) => p,
        Err(e) => return fail(&e, 2),
    };
    // Logs go to a file in the state directory, never to the screen.
    let _log_guard = match init_logging(&paths, matches!(cli.command, Some(Command::Sim { .. }))) {
        Ok(g) => g,
        Err(e) => return fail(&e, 1),
    };
    // One-shot commands are IO-bound: a single-threaded runtime keeps their memory small
    // (no per-thread allocator arenas). `sync` reads pages on the main thread and stores them
    // on a thread of its own; one worker for the connections is enough, and a second only
    // added wake-ups competing for the cores (on two cores, 2-3% on a full pull). The TUI,
    // demo and sim get a worker per core.
    let mut builder = match cli.command {
        Some(Command::Queue { .. }) => tokio::runtime::Builder::new_current_thread(),
        Some(Command::Sync) => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(1);
            b
        }
        _ => tokio::runtime::Builder::new_multi_thread(),
    };
    let runtime = match builder.enable_all().build() {
        Ok(r) => r,
        Err(e) => return fail(&format!("Could not start the async runtime: {e}."), 1),
    };
    let json_errors = cli.json_errors();
    match runtime.block_on(run(cli, paths)) {
        Ok(code) => code,
        Err(f) => {
            tracing::error!(message = %f.message, kind = f.kind.name(), "exiting with an error");
            if json_errors {
                eprintln!("{}", signoff::cli::output::envelope(&f));
                ExitCode::from(f.code)
            } else {
                fail(&f.message, f.code)
            }
        }
    }
}

fn fail(message: &str, code: u8) -> ExitCode {
    eprintln!("signoff: {message}");
    ExitCode::from(code)
}

fn init_logging(
    paths: &Paths,
    is_sim: bool,
) -> Result<tracing_appender::non_blocking::WorkerGuard, String> {
    use tracing_subscriber::EnvFilter;
    ensure_private_dir(&paths.state_dir).map_err(|e| {
        format!(
            "Could not create the state directory {}: {e}. Set SIGNOFF_HOME to a writable folder.",
            paths.state_dir.display()
        )
    })?;
    let name = if is_sim { "sim.log" } else { "signoff.log" };
    // Keep the log bounded: past 10 MiB it moves aside (one previous file is kept).
    let path = paths.state_dir.join(name);
    if std::fs::metadata(&path).is_ok_and(|m| m.len() > 10 * 1024 * 1024) {
        let previous = paths.state_dir.join(format!("{name}.1"));
        // The previous log stays owner-only too (an older version may have left it readable).
        if std::fs::rename(&path, &previous).is_ok() {
            let _ = ensure_private_file(&previous);
        }
    }
    // The log names changes and people: owner-only, created so before anything is written.
    ensure_private_file(&path).map_err(|e| {
        format!(
            "Could not create the log file {}: {e}. Set SIGNOFF_HOME to a writable folder.",
            path.display()
        )
    })?;
    let appender = tracing_appender::rolling::never(&paths.state_dir, name);
    let (writer, guard) = tracing_appender::non_blocking(appender);
    let filter = EnvFilter::try_from_env("SIGNOFF_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_writer(writer)
        .with_ansi(false)
        .with_env_filter(filter)
        .init();
    Ok(guard)
}
