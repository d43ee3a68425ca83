//! Every input the fuzzer (`examples/fuzz.rs`) ever failed on, kept in `fuzz/regressions/`,
//! and the seed corpus, replayed through the same entry points; and a short seeded run of the
//! same mutations, so the properties are checked on every test run too.

use std::path::Path;

use signoff::fuzzing::{Rng, Target, dictionary, mutate, mutate_json, run};

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| {
                    (
                        e.path().display().to_string(),
                        std::fs::read(e.path()).unwrap(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

#[test]
fn the_corpus_and_every_saved_finding_pass() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut seen = 0;
    for target in Target::ALL {
        for kind in ["corpus", "regressions"] {
            for (name, bytes) in files(&root.join(kind).join(target.name())) {
                let r = std::panic::catch_unwind(|| run(target, &bytes));
                assert!(r.is_ok(), "{} fails on {name}", target.name());
                seen += 1;
            }
        }
    }
    assert!(seen >= 5, "the seed corpus is there ({seen} files)");
}

#[test]
fn a_short_seeded_run_finds_nothing() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join("corpus");
    for target in Target::ALL {
        let pool: Vec<Vec<u8>> = files(&root.join(target.name()))
            .into_iter()
            .map(|(_, b)| b)
            .collect();
        assert!(!pool.is_empty(), "{} has a seed corpus", target.name());
        let mut rng = Rng::new(0xC0FFEE);
        for _ in 0..300 {
            let base = &pool[rng.below(pool.len())];
            let other = &pool[rng.below(pool.len())];
            let input = match target {
                Target::Decode if rng.below(4) != 0 => {
                    mutate_json(&mut rng, base, dictionary(target))
                        .unwrap_or_else(|| mutate(&mut rng, base, other, dictionary(target)))
                }
                _ => mutate(&mut rng, base, other, dictionary(target)),
            };
            let r = std::panic::catch_unwind(|| run(target, &input));
            assert!(
                r.is_ok(),
                "{} fails on {:?}",
                target.name(),
                String::from_utf8_lossy(&input)
            );
        }
    }
}
