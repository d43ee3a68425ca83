//! The README's example config is a real, valid config.

use signoff::config::Config;

#[test]
fn the_readme_config_example_loads() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let start = readme
        .find("`config.toml` (every key optional):\n\n```toml\n")
        .expect("the README shows a config example");
    let body = &readme[start..];
    let body = &body[body.find("```toml\n").unwrap() + 8..];
    let example = &body[..body.find("```").unwrap()];
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(&path, example).unwrap();
    let config = Config::load(&path).unwrap();
    assert_eq!(
        config.instance.as_deref(),
        Some("https://acme.service-now.com")
    );
    assert!(config.profile(Some("test")).is_ok());
    assert_eq!(config.policy.justification.min_reject, 20);
    assert_eq!(
        config.policy.fallback[&signoff::domain::RiskTier::Critical],
        "Carla Diaz"
    );
    assert_eq!(config.policy.fallback_at_level, 2);
    assert_eq!(config.policy.retention_years, 7);
    assert_eq!(
        config.policy.environments["prod"],
        signoff::domain::RiskTier::Moderate
    );
    let ids: Vec<&str> = config
        .policy
        .controls
        .iter()
        .map(|c| c.id.as_str())
        .collect();
    assert_eq!(ids, ["SOX-ITGC-CM-02", "HIPAA-164.308"]);
}

/// The README's `[keys]` and theme examples work as written.
#[test]
fn the_readme_keys_and_theme_examples_work() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let blocks: Vec<&str> = readme
        .split("```toml\n")
        .skip(1)
        .map(|b| &b[..b.find("```").unwrap()])
        .collect();
    let keys = blocks
        .iter()
        .find(|b| b.starts_with("[keys]"))
        .expect("a [keys] example");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(&path, keys).unwrap();
    let config = Config::load(&path).unwrap();
    let keymap = signoff::ui::keymap::Keymap::with_overrides(&config.keys);
    assert!(keymap.problems.is_empty(), "{:?}", keymap.problems);
    assert_eq!(keymap.key(signoff::ui::commands::Cmd::Approve), "A");
    let theme = blocks
        .iter()
        .find(|b| b.starts_with("extends"))
        .expect("a theme example");
    signoff::ui::Theme::patch(theme, false).unwrap();
}
