//! A stable-toolchain fuzzer for signoff's parsers (cargo-fuzz needs nightly, which this
//! machine does not have): mutates the seed corpus in `fuzz/corpus/TARGET/` with each
//! target's dictionary, runs every input through `signoff::fuzzing::run`, and saves any input
//! that panics (or takes over a second) to `fuzz/regressions/TARGET/`, where
//! `tests/fuzz_regressions.rs` replays it from then on.
//!
//! `cargo run --release --example fuzz -- [TARGET|all] [SECONDS] [SEED]`
//! (`scripts/fuzz.sh` runs every target for a bounded time).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use signoff::fuzzing::{Rng, Target, dictionary, mutate, mutate_json, run};

fn corpus(dir: &Path) -> Vec<Vec<u8>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.sort();
    let mut out: Vec<Vec<u8>> = files.iter().filter_map(|f| std::fs::read(f).ok()).collect();
    if out.is_empty() {
        out.push(Vec::new());
    }
    out
}

fn save(target: Target, input: &[u8], why: &str) -> PathBuf {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    input.hash(&mut h);
    let dir = Path::new("fuzz/regressions").join(target.name());
    std::fs::create_dir_all(&dir).expect("create fuzz/regressions");
    let path = dir.join(format!("{why}-{:016x}", h.finish()));
    std::fs::write(&path, input).expect("write the finding");
    path
}

fn fuzz(target: Target, budget: Duration, seed: u64) -> usize {
    let mut pool = corpus(&Path::new("fuzz/corpus").join(target.name()));
    pool.extend(
        corpus(&Path::new("fuzz/regressions").join(target.name()))
            .into_iter()
            .filter(|c| !c.is_empty()),
    );
    let dict = dictionary(target);
    let mut rng = Rng::new(seed ^ target.name().len() as u64);
    let started = Instant::now();
    let (mut runs, mut findings) = (0u64, 0usize);
    while started.elapsed() < budget {
        let base = &pool[rng.below(pool.len())];
        let other = &pool[rng.below(pool.len())];
        // JSON answers are mostly mutated inside their structure, so they still parse.
        let input = match target {
            Target::Decode if rng.below(4) != 0 => mutate_json(&mut rng, base, dict)
                .unwrap_or_else(|| mutate(&mut rng, base, other, dict)),
            _ => mutate(&mut rng, base, other, dict),
        };
        let t = Instant::now();
        let result = std::panic::catch_unwind(|| run(target, &input));
        runs += 1;
        if let Err(e) = result {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            let path = save(target, &input, "crash");
            eprintln!(
                "{}: PANIC ({msg}) saved to {}",
                target.name(),
                path.display()
            );
            findings += 1;
        } else if t.elapsed() > Duration::from_secs(1) {
            let path = save(target, &input, "slow");
            eprintln!(
                "{}: took {:.1} s, saved to {}",
                target.name(),
                t.elapsed().as_secs_f64(),
                path.display()
            );
            findings += 1;
        }
        // Keep some survivors so mutations build on mutations.
        if pool.len() < 256 && rng.below(64) == 0 {
            pool.push(input);
        }
    }
    println!(
        "{:<13} {:>9} inputs in {:>5.1} s, {findings} finding{}",
        target.name(),
        runs,
        started.elapsed().as_secs_f64(),
        if findings == 1 { "" } else { "s" }
    );
    findings
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let which = args.first().map(String::as_str).unwrap_or("all");
    let secs: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(30);
    let seed: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(0x5EED);
    let targets: Vec<Target> = if which == "all" {
        Target::ALL.to_vec()
    } else {
        match Target::from_name(which) {
            Some(t) => vec![t],
            None => {
                eprintln!(
                    "fuzz: no target {which:?}; use one of: all, {}",
                    Target::ALL.map(|t| t.name()).join(", ")
                );
                std::process::exit(2);
            }
        }
    };
    // Panics are the findings: report them once, from here, not with a backtrace each.
    std::panic::set_hook(Box::new(|_| {}));
    let findings: usize = targets
        .iter()
        .map(|t| fuzz(*t, Duration::from_secs(secs), seed))
        .sum();
    std::process::exit(if findings > 0 { 1 } else { 0 });
}
