//! The delegation screen (given and received), and the form to give a delegation or change
//! the window of one.

use chrono::{DateTime, Utc};

use crate::domain::when::Zone;

use super::super::format;
use super::super::msg::Effect;
use crate::domain::{
    Delegation, DelegationDraft, User, UserRef, check_delegation, when::parse_local,
};

/// The fields of the delegation form, in Tab order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormField {
    Delegate,
    Starts,
    Ends,
    Approvals,
}

/// The form to give a delegation, or to change the window of one.
#[derive(Debug, Clone, PartialEq)]
pub struct DelegationForm {
    /// The delegation whose window is being changed; `None`: a new delegation.
    pub editing: Option<String>,
    pub field: FormField,
    /// The delegate's name as typed (the chosen person's name once picked).
    pub query: String,
    pub delegate: Option<UserRef>,
    /// People matching `query`, from the last search answered for it.
    pub matches: Vec<User>,
    pub match_selected: usize,
    /// A search for `query` is on its way.
    pub searching: bool,
    /// Why the last search failed.
    pub search_error: Option<String>,
    /// Start and end as typed, local time.
    pub starts: String,
    pub ends: String,
    pub approvals: bool,
    /// The form as validated now: the draft to send, or the sentence saying what is wrong.
    pub verdict: Result<DelegationDraft, String>,
    /// Saved, waiting for the backend's answer.
    pub saving: bool,
    /// Why the backend refused the last save.
    pub refused: Option<String>,
}

impl DelegationForm {
    /// A new delegation from tomorrow 08:00 to a week later 18:00 (local), or the window of
    /// `editing`.
    pub fn open(editing: Option<&Delegation>, now: DateTime<Utc>, tz: Zone) -> DelegationForm {
        let text =
            |t: Option<DateTime<Utc>>| t.map(|t| format::input_local(t, tz)).unwrap_or_default();
        let (delegate, query, starts, ends, approvals) = match editing {
            Some(d) => (
                Some(d.delegate.clone()),
                d.delegate.label().to_string(),
                text(d.starts),
                text(d.ends),
                d.approvals,
            ),
            None => (
                None,
                String::new(),
                text(format::local_day_at(now, tz, 1, 8, 0)),
                text(format::local_day_at(now, tz, 8, 18, 0)),
                true,
            ),
        };
        DelegationForm {
            field: if editing.is_some() {
                FormField::Starts
            } else {
                FormField::Delegate
            },
            editing: editing.map(|d| d.sys_id.clone()),
            query,
            delegate,
            matches: Vec::new(),
            match_selected: 0,
            searching: false,
            search_error: None,
            starts,
            ends,
            approvals,
            verdict: Err(String::new()),
            saving: false,
            refused: None,
        }
    }

    /// The delegate's name was edited: the pick is dropped, old matches go, and a search is
    /// asked for once there are two characters.
    pub fn query_changed(&mut self) -> Option<Effect> {
        self.delegate = None;
        self.matches.clear();
        self.match_selected = 0;
        self.search_error = None;
        let query = self.query.trim().to_string();
        self.searching = query.chars().count() >= 2;
        self.searching.then_some(Effect::SearchUsers { query })
    }

    fn fields(&self) -> &'static [FormField] {
        if self.editing.is_some() {
            &[FormField::Starts, FormField::Ends]
        } else {
            &[
                FormField::Delegate,
                FormField::Starts,
                FormField::Ends,
                FormField::Approvals,
            ]
        }
    }

    pub fn step(&mut self, forward: bool) {
        let fields = self.fields();
        let i = fields.iter().position(|f| *f == self.field).unwrap_or(0);
        let n = fields.len();
        self.field = fields[if forward {
            (i + 1) % n
        } else {
            (i + n - 1) % n
        }];
    }

    pub fn text_mut(&mut self) -> Option<&mut String> {
        match self.field {
            FormField::Delegate => Some(&mut self.query),
            FormField::Starts => Some(&mut self.starts),
            FormField::Ends => Some(&mut self.ends),
            FormField::Approvals => None,
        }
    }

    /// Picks the highlighted match as the delegate (on the delegate field), else moves on.
    pub fn choose(&mut self) {
        match self.matches.get(self.match_selected) {
            Some(u) if self.field == FormField::Delegate => {
                let person = u.reference();
                self.query = person.label().to_string();
                self.delegate = Some(person);
                self.matches.clear();
                self.match_selected = 0;
                self.search_error = None;
                self.field = FormField::Starts;
            }
            _ => self.step(true),
        }
    }

    /// Types text into the field that has focus (one line: control characters dropped).
    /// Answers the search to run when the delegate's name changed.
    pub fn type_text(&mut self, text: &str) -> Option<Effect> {
        let field = self.field;
        let target = self.text_mut()?;
        let before = target.len();
        target.extend(text.chars().filter(|c| !c.is_control()));
        if target.len() == before {
            return None;
        }
        self.refused = None;
        (field == FormField::Delegate)
            .then(|| self.query_changed())
            .flatten()
    }

    /// Backspace in the field that has focus.
    pub fn backspace(&mut self) -> Option<Effect> {
        let field = self.field;
        let target = self.text_mut()?;
        target.pop()?;
        self.refused = None;
        (field == FormField::Delegate)
            .then(|| self.query_changed())
            .flatten()
    }

    pub fn validate(
        &mut self,
        me: Option<&User>,
        delegations: &[Delegation],
        tz: Zone,
        now: DateTime<Utc>,
    ) {
        self.verdict = (|| {
            let delegate = self.delegate.clone().ok_or_else(|| {
                "Pick a delegate: type two letters or more of a name, then choose from the matches."
                    .to_string()
            })?;
            let starts =
                parse_local(&self.starts, tz, false).map_err(|e| format!("The start: {e}"))?;
            let ends = parse_local(&self.ends, tz, true).map_err(|e| format!("The end: {e}"))?;
            let me = me.ok_or_else(|| {
                "Your account is not known yet; wait for the first sync.".to_string()
            })?;
            let me = me.reference();
            let draft = DelegationDraft {
                delegate,
                starts,
                ends,
                approvals: self.approvals,
            };
            check_delegation(&me, &draft, delegations, self.editing.as_deref(), now)?;
            Ok(draft)
        })();
    }
}

/// The delegations given and received, the cursor, and the form when open.
#[derive(Debug, Default)]
pub struct DelegationsState {
    pub list: Vec<Delegation>,
    /// Given rows first, then received ones.
    pub cursor: usize,
    pub form: Option<DelegationForm>,
}

impl DelegationsState {
    /// The delegations `me` gave and received, each by start.
    pub fn lists(&self, me: Option<&str>) -> (Vec<&Delegation>, Vec<&Delegation>) {
        let me = me.unwrap_or("");
        let mut given: Vec<&Delegation> =
            self.list.iter().filter(|d| d.user.sys_id == me).collect();
        let mut received: Vec<&Delegation> = self
            .list
            .iter()
            .filter(|d| d.delegate.sys_id == me && d.user.sys_id != me)
            .collect();
        given.sort_by_key(|d| (d.starts, d.sys_id.clone()));
        received.sort_by_key(|d| (d.starts, d.sys_id.clone()));
        (given, received)
    }

    /// The delegation under the cursor, and whether `me` gave it.
    pub fn selected(&self, me: Option<&str>) -> Option<(&Delegation, bool)> {
        let (given, received) = self.lists(me);
        let i = self.cursor;
        if i < given.len() {
            Some((given[i], true))
        } else {
            received.get(i - given.len()).map(|d| (*d, false))
        }
    }

    pub fn clamp(&mut self, me: Option<&str>) {
        let (given, received) = self.lists(me);
        let n = given.len() + received.len();
        self.cursor = self.cursor.min(n.saturating_sub(1));
    }

    /// The delegation that lets `me` decide `person`'s approvals (an active one first).
    pub fn from(
        &self,
        person: &UserRef,
        me: &str,
        now: Option<DateTime<Utc>>,
    ) -> Option<&Delegation> {
        let theirs = || {
            self.list
                .iter()
                .filter(|d| d.user.sys_id == person.sys_id && d.delegate.sys_id == me)
        };
        theirs()
            .find(|d| now.is_some_and(|n| d.covers_approvals(n)))
            .or_else(|| theirs().next())
    }
}
