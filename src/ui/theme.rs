//! Colour themes: widgets ask for a role (`tier.critical`, `sla.breached`, `selection`), and
//! the theme answers with a style. Built-in themes live in `themes/*.toml`, each made for a
//! dark or a light terminal background; a user theme (`themes/NAME.toml` in the config
//! directory) is a patch over a built-in: only the roles it names change, and a role name that
//! does not exist is an error at load. NO_COLOR strips every colour and keeps bold, underline
//! and reverse video, and nothing on screen depends on colour alone.

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
    (
        "high-contrast-light",
        include_str!("../../themes/high-contrast-light.toml"),
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
    "match",
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
    /// The terminal background it is made for: `dark` or `light` (built-ins).
    background: Option<String>,
    /// A user theme: the built-in it patches (default `dark`).
    extends: Option<String>,
    #[serde(default)]
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
    /// The background it is made for, `dark` or `light`.
    pub background: String,
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

    /// A theme by name: a built-in, or `NAME.toml` in `user_dir` patching a built-in.
    pub fn load(name: &str, user_dir: &std::path::Path, no_color: bool) -> Result<Theme, String> {
        if BUILT_IN.iter().any(|(n, _)| *n == name) {
            return Theme::named(name, no_color);
        }
        let path = user_dir.join(format!("{name}.toml"));
        match std::fs::read_to_string(&path) {
            Ok(text) => Theme::patch(&text, no_color).map_err(|e| {
                format!(
                    "The theme file {} is not valid: {e}. Fix it, or choose a built-in theme.",
                    path.display()
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(format!(
                "There is no theme called {name:?}: not a built-in ({}), and no file {}.",
                Theme::names().collect::<Vec<_>>().join(", "),
                path.display()
            )),
            Err(e) => Err(format!(
                "Could not read the theme file {}: {e}.",
                path.display()
            )),
        }
    }

    /// A user theme: the built-in it `extends` (default `dark`) with the roles it names.
    pub fn patch(text: &str, no_color: bool) -> Result<Theme, String> {
        let file: ThemeFile = toml::from_str(text).map_err(|e| e.to_string().trim().to_string())?;
        let base = file.extends.as_deref().unwrap_or("dark");
        let mut theme = Theme::named(base, no_color)
            .map_err(|_| format!("it extends {base:?}, which is not a built-in theme"))?;
        theme.apply(&file, no_color)?;
        Ok(theme)
    }

    fn apply(&mut self, file: &ThemeFile, no_color: bool) -> Result<(), String> {
        for (role, spec) in &file.roles {
            let Some(known) = ROLES.iter().find(|r| **r == role.as_str()) else {
                return Err(format!(
                    "unknown role {role:?} (the roles are: {})",
                    ROLES.join(", ")
                ));
            };
            let mut style = spec.to_style(no_color)?;
            if no_color && *known == "selection" {
                // Without colour, reverse video is what makes the selected row stand out.
                style = style.add_modifier(Modifier::REVERSED);
            }
            self.styles.insert(*known, style);
        }
        if let Some(bg) = &file.background {
            self.background = bg.clone();
        }
        Ok(())
    }

    /// Parses a complete theme file (the built-ins). Every role must be present; unknown
    /// roles are refused so typos do not go unnoticed.
    pub fn parse(text: &str, no_color: bool) -> Result<Theme, String> {
        let file: ThemeFile = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut theme = Theme {
            styles: BTreeMap::new(),
            background: "dark".into(),
        };
        theme.apply(&file, no_color)?;
        if let Some(missing) = ROLES.iter().find(|r| !theme.styles.contains_key(*r)) {
            return Err(format!("role {missing:?} is missing"));
        }
        Ok(theme)
    }

    /// Every role and its style (for checking themes).
    pub fn roles(&self) -> impl Iterator<Item = (&'static str, Style)> + '_ {
        self.styles.iter().map(|(r, s)| (*r, *s))
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

    /// The colour a terminal shows for `c` (xterm's palette for the named and indexed ones).
    fn rgb(c: Color, default: (u8, u8, u8)) -> (u8, u8, u8) {
        const ANSI: [(u8, u8, u8); 16] = [
            (0, 0, 0),
            (205, 0, 0),
            (0, 205, 0),
            (205, 205, 0),
            (0, 0, 238),
            (205, 0, 205),
            (0, 205, 205),
            (229, 229, 229),
            (127, 127, 127),
            (255, 0, 0),
            (0, 255, 0),
            (255, 255, 0),
            (92, 92, 255),
            (255, 0, 255),
            (0, 255, 255),
            (255, 255, 255),
        ];
        let indexed = |i: u8| -> (u8, u8, u8) {
            match i {
                0..16 => ANSI[i as usize],
                16..232 => {
                    let i = i - 16;
                    let level = |v: u8| if v == 0 { 0 } else { 55 + v * 40 };
                    (level(i / 36), level(i / 6 % 6), level(i % 6))
                }
                _ => {
                    let v = 8 + (i - 232) * 10;
                    (v, v, v)
                }
            }
        };
        match c {
            Color::Reset => default,
            Color::Black => ANSI[0],
            Color::Red => ANSI[1],
            Color::Green => ANSI[2],
            Color::Yellow => ANSI[3],
            Color::Blue => ANSI[4],
            Color::Magenta => ANSI[5],
            Color::Cyan => ANSI[6],
            Color::Gray => ANSI[7],
            Color::DarkGray => ANSI[8],
            Color::LightRed => ANSI[9],
            Color::LightGreen => ANSI[10],
            Color::LightYellow => ANSI[11],
            Color::LightBlue => ANSI[12],
            Color::LightMagenta => ANSI[13],
            Color::LightCyan => ANSI[14],
            Color::White => ANSI[15],
            Color::Rgb(r, g, b) => (r, g, b),
            Color::Indexed(i) => indexed(i),
        }
    }

    /// WCAG relative luminance and contrast ratio.
    fn contrast(a: (u8, u8, u8), b: (u8, u8, u8)) -> f64 {
        let lum = |(r, g, b): (u8, u8, u8)| {
            let ch = |v: u8| {
                let v = f64::from(v) / 255.0;
                if v <= 0.03928 {
                    v / 12.92
                } else {
                    ((v + 0.055) / 1.055).powf(2.4)
                }
            };
            0.2126 * ch(r) + 0.7152 * ch(g) + 0.0722 * ch(b)
        };
        let (x, y) = (lum(a), lum(b));
        (x.max(y) + 0.05) / (x.min(y) + 0.05)
    }

    type Rgb = (u8, u8, u8);

    #[test]
    fn every_role_is_readable_on_its_background() {
        let mut backgrounds_served = Vec::new();
        for name in Theme::names() {
            let theme = Theme::named(name, false).unwrap();
            // The backgrounds a theme of each kind meets, and the terminal's own text colour.
            let (grounds, default_fg): (&[Rgb], Rgb) = match theme.background.as_str() {
                "dark" => (&[(0, 0, 0), (28, 28, 28)], (229, 229, 229)),
                "light" => (&[(255, 255, 255), (240, 240, 240)], (0, 0, 0)),
                other => panic!("{name}: background {other:?} is not dark or light"),
            };
            backgrounds_served.push(theme.background.clone());
            let selection = theme.style("selection");
            for (role, style) in theme.roles() {
                if role == "selection" {
                    continue;
                }
                let fg = rgb(style.fg.unwrap_or(Color::Reset), default_fg);
                // Borders are not text: WCAG asks 3:1 of them, 4.5:1 of text.
                let need = if role.starts_with("border") { 3.0 } else { 4.5 };
                for bg in grounds {
                    let bg = rgb(style.bg.unwrap_or(Color::Rgb(bg.0, bg.1, bg.2)), *bg);
                    let c = contrast(fg, bg);
                    assert!(c >= need, "{name}: {role} {fg:?} on {bg:?} is {c:.2}:1");
                }
                // The selected row draws every role over the selection's background.
                if let Some(sel) = selection.bg
                    && !role.starts_with("border")
                {
                    let c = contrast(fg, rgb(sel, grounds[0]));
                    assert!(c >= 4.5, "{name}: {role} on the selected row is {c:.2}:1");
                }
            }
        }
        // Both kinds of terminal have a theme, and a high-contrast one.
        for ground in ["dark", "light"] {
            assert!(backgrounds_served.iter().any(|b| b == ground));
        }
        assert_eq!(
            Theme::named("high-contrast-light", false)
                .unwrap()
                .background,
            "light"
        );
    }

    #[test]
    fn a_user_theme_patches_a_built_in() {
        let t = Theme::patch(
            "extends = \"light\"\n[roles]\nmuted = { fg = \"#333333\" }\n",
            false,
        )
        .unwrap();
        assert_eq!(t.style("muted").fg, Some(Color::Rgb(0x33, 0x33, 0x33)));
        let light = Theme::named("light", false).unwrap();
        assert_eq!(
            t.style("error"),
            light.style("error"),
            "the rest is the base's"
        );
        assert_eq!(t.background, "light");
        let err = Theme::patch("[roles]\nmutted = { fg = \"red\" }\n", false).unwrap_err();
        assert!(err.contains("mutted") && err.contains("muted"), "{err}");
        let err = Theme::patch("extends = \"neon\"\n", false).unwrap_err();
        assert!(err.contains("neon"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("mine.toml"),
            "extends = \"dark\"\n[roles]\nkey = { fg = \"red\" }\n",
        )
        .unwrap();
        assert_eq!(
            Theme::load("mine", dir.path(), false)
                .unwrap()
                .style("key")
                .fg,
            Some(Color::Red)
        );
        let err = Theme::load("nope", dir.path(), false).unwrap_err();
        assert!(err.contains("nope.toml"), "{err}");
    }

    #[test]
    fn bad_theme_files_are_explained() {
        let err = Theme::parse("[roles]\nbogus = {}\n", false).unwrap_err();
        assert!(err.contains("bogus"));
        let err = Theme::parse("[roles]\ntitle = { fg = \"nocolour\" }\n", false).unwrap_err();
        assert!(err.contains("nocolour"));
    }
}
