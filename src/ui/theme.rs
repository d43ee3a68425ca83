//! Colour themes: widgets ask for a role (`tier.critical`, `sla.breached`, `selection`), and
//! the theme answers with a style. Built-in themes live in `themes/*.toml`; NO_COLOR strips
//! every colour and keeps bold, underline and reverse video, and nothing on screen depends on
//! colour alone.

use std::collections::BTreeMap;
use std::str::FromStr;

use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;

use crate::domain::{RiskTier, SlaStatus};

const BUILT_IN: &[(&str, &str)] = &[
    ("dark", include_str!("../../themes/dark.toml")),
    ("light", include_str!("../../themes/light.toml")),
    (
        "high-contrast",
        include_str!("../../themes/high-contrast.toml"),
    ),
];

const ROLES: &[&str] = &[
    "title",
    "text",
    "muted",
    "border",
    "border_focus",
    "selection",
    "heading",
    "key",
    "error",
    "tier.emergency",
    "tier.critical",
    "tier.high",
    "tier.moderate",
    "tier.low",
    "sla.on_track",
    "sla.warning",
    "sla.breached",
    "status.online",
    "status.busy",
    "status.offline",
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ThemeFile {
    #[allow(dead_code)]
    name: Option<String>,
    roles: BTreeMap<String, StyleSpec>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct StyleSpec {
    fg: Option<String>,
    bg: Option<String>,
    #[serde(default)]
    bold: bool,
    #[serde(default)]
    italic: bool,
    #[serde(default)]
    underlined: bool,
    #[serde(default)]
    reversed: bool,
    #[serde(default)]
    dim: bool,
}

#[derive(Debug, Clone)]
pub struct Theme {
    styles: BTreeMap<&'static str, Style>,
}

impl Theme {
    pub fn names() -> impl Iterator<Item = &'static str> {
        BUILT_IN.iter().map(|(n, _)| *n)
    }

    /// A built-in theme by name; `no_color` drops every colour.
    pub fn named(name: &str, no_color: bool) -> Result<Theme, String> {
        let (_, text) = BUILT_IN.iter().find(|(n, _)| *n == name).ok_or_else(|| {
            format!(
                "There is no theme called {name:?}. Choose one of: {}.",
                Theme::names().collect::<Vec<_>>().join(", ")
            )
        })?;
        Theme::parse(text, no_color).map_err(|e| format!("built-in theme {name}: {e}"))
    }

    /// Parses a theme file. Every role must be present; unknown roles are refused so typos
    /// do not go unnoticed.
    pub fn parse(text: &str, no_color: bool) -> Result<Theme, String> {
        let file: ThemeFile = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut styles = BTreeMap::new();
        for (role, spec) in &file.roles {
            let Some(known) = ROLES.iter().find(|r| **r == role.as_str()) else {
                return Err(format!("unknown role {role:?}"));
            };
            let mut style = spec.to_style(no_color)?;
            if no_color && *known == "selection" {
                // Without colour, reverse video is what makes the selected row stand out.
                style = style.add_modifier(Modifier::REVERSED);
            }
            styles.insert(*known, style);
        }
        if let Some(missing) = ROLES.iter().find(|r| !styles.contains_key(*r)) {
            return Err(format!("role {missing:?} is missing"));
        }
        Ok(Theme { styles })
    }

    /// The default theme, honouring NO_COLOR.
    pub fn default_for_env() -> Theme {
        Theme::named("dark", no_color_requested()).expect("built-in theme parses")
    }

    pub fn style(&self, role: &str) -> Style {
        self.styles.get(role).copied().unwrap_or_default()
    }

    pub fn tier(&self, tier: RiskTier) -> Style {
        self.style(match tier {
            RiskTier::Emergency => "tier.emergency",
            RiskTier::Critical => "tier.critical",
            RiskTier::High => "tier.high",
            RiskTier::Moderate => "tier.moderate",
            RiskTier::Low => "tier.low",
        })
    }

    pub fn sla(&self, status: SlaStatus) -> Style {
        self.style(match status {
            SlaStatus::OnTrack => "sla.on_track",
            SlaStatus::Warning => "sla.warning",
            SlaStatus::Breached => "sla.breached",
        })
    }
}

/// https://no-color.org: any non-empty NO_COLOR disables colour.
pub fn no_color_requested() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

impl StyleSpec {
    fn to_style(&self, no_color: bool) -> Result<Style, String> {
        let mut s = Style::default();
        if !no_color {
            if let Some(fg) = &self.fg {
                s = s.fg(Color::from_str(fg).map_err(|_| format!("{fg:?} is not a colour"))?);
            }
            if let Some(bg) = &self.bg {
                s = s.bg(Color::from_str(bg).map_err(|_| format!("{bg:?} is not a colour"))?);
            }
        }
        let mut m = Modifier::empty();
        for (on, bit) in [
            (self.bold, Modifier::BOLD),
            (self.italic, Modifier::ITALIC),
            (self.underlined, Modifier::UNDERLINED),
            (self.reversed, Modifier::REVERSED),
            (self.dim, Modifier::DIM),
        ] {
            if on {
                m |= bit;
            }
        }
        Ok(s.add_modifier(m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_themes_parse() {
        for name in Theme::names() {
            Theme::named(name, false).unwrap();
            Theme::named(name, true).unwrap();
        }
        assert!(Theme::named("neon", false).unwrap_err().contains("dark"));
    }

    #[test]
    fn no_color_keeps_modifiers_only() {
        let t = Theme::named("dark", true).unwrap();
        let s = t.sla(SlaStatus::Breached);
        assert_eq!(s.fg, None);
        assert!(s.add_modifier.contains(Modifier::BOLD));
        let selection = t.style("selection");
        assert_eq!(selection.bg, None);
    }

    #[test]
    fn bad_theme_files_are_explained() {
        let err = Theme::parse("[roles]\nbogus = {}\n", false).unwrap_err();
        assert!(err.contains("bogus"));
        let err = Theme::parse("[roles]\ntitle = { fg = \"nocolour\" }\n", false).unwrap_err();
        assert!(err.contains("nocolour"));
    }
}
