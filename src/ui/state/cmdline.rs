//! The `:` command line: a name from the registry (with arguments for some), Tab completion
//! over the registry's names, and its own history.

use super::super::commands::{Context, colon_names_in};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct CmdLine {
    pub input: String,
    /// Position in the history while stepping through it (`None`: the line being typed).
    pub recalled: Option<usize>,
    /// What was typed before stepping into the history.
    pub typed: String,
    /// The screen it runs on: only what works there completes (`None`: everything).
    pub screen: Option<Context>,
}

impl CmdLine {
    /// The names the word being typed could become.
    pub fn candidates(&self) -> Vec<&'static str> {
        let word = self.input.trim_start();
        if word.contains(' ') {
            return Vec::new();
        }
        colon_names_in(self.screen)
            .into_iter()
            .filter(|n| n.starts_with(word))
            .collect()
    }

    /// Tab: completes the name as far as it is unambiguous (a space after a whole name).
    pub fn complete(&mut self) {
        let candidates = self.candidates();
        let Some(first) = candidates.first() else {
            return;
        };
        let common = candidates.iter().fold(first.to_string(), |acc, c| {
            acc.chars()
                .zip(c.chars())
                .take_while(|(a, b)| a == b)
                .map(|(a, _)| a)
                .collect()
        });
        if candidates.len() == 1 {
            self.input = format!("{common} ");
        } else if common.len() > self.input.trim().len() {
            self.input = common;
        }
    }

    /// Up: the command before in the history.
    pub fn back(&mut self, history: &[String]) {
        if history.is_empty() {
            return;
        }
        let i = match self.recalled {
            None => {
                self.typed = self.input.clone();
                history.len() - 1
            }
            Some(i) => i.saturating_sub(1),
        };
        self.recalled = Some(i);
        self.input = history[i].clone();
    }

    /// Down: the command after, and past the newest the line being typed.
    pub fn forward(&mut self, history: &[String]) {
        match self.recalled {
            Some(i) if i + 1 < history.len() => {
                self.recalled = Some(i + 1);
                self.input = history[i + 1].clone();
            }
            Some(_) => {
                self.recalled = None;
                self.input = std::mem::take(&mut self.typed);
            }
            None => {}
        }
    }
}

/// Remembers a command run from the line (not twice in a row), newest last.
pub fn remember(history: &mut Vec<String>, line: &str) {
    let line = line.trim();
    if line.is_empty() || history.last().is_some_and(|l| l == line) {
        return;
    }
    if history.len() == 100 {
        history.remove(0);
    }
    history.push(line.to_string());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completes_from_the_registry() {
        let mut c = CmdLine {
            input: "appr".into(),
            ..CmdLine::default()
        };
        assert_eq!(c.candidates(), ["approve"]);
        c.complete();
        assert_eq!(c.input, "approve ");
        let mut c = CmdLine {
            input: "de".into(),
            screen: Some(Context::Queue),
            ..CmdLine::default()
        };
        assert!(c.candidates().contains(&"delegate") && c.candidates().contains(&"delegations"));
        c.complete();
        assert_eq!(c.input, "delegat");
    }

    #[test]
    fn completes_only_what_runs_on_the_screen() {
        let session = CmdLine {
            input: "de".into(),
            screen: Some(Context::Session),
            ..CmdLine::default()
        };
        assert!(session.candidates().contains(&"defer"));
        let queue = CmdLine {
            screen: Some(Context::Queue),
            ..session.clone()
        };
        assert!(!queue.candidates().contains(&"defer"));
        let everywhere = CmdLine {
            screen: None,
            ..session
        };
        assert!(everywhere.candidates().contains(&"defer"));
        assert!(everywhere.candidates().contains(&"delegations"));
    }

    #[test]
    fn history_steps_back_and_forward() {
        let mut h = Vec::new();
        remember(&mut h, "filter mine");
        remember(&mut h, "approve");
        remember(&mut h, "approve");
        assert_eq!(h, ["filter mine", "approve"]);
        let mut c = CmdLine {
            input: "ho".into(),
            ..CmdLine::default()
        };
        c.back(&h);
        assert_eq!(c.input, "approve");
        c.back(&h);
        assert_eq!(c.input, "filter mine");
        c.forward(&h);
        c.forward(&h);
        assert_eq!(c.input, "ho", "back to what was being typed");
    }
}
