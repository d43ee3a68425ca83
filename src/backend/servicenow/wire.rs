//! Reading Table API rows permissively.
//!
//! The same field arrives in several shapes depending on `sysparm_display_value` and
//! `sysparm_exclude_reference_link` (reference §1.4): a plain string, `{"link","value"}`,
//! `{"display_value","link"}` (no value!), `{"display_value","value"}`, or typed numbers and
//! booleans from other APIs. Every accessor here accepts all of them.

use serde_json::{Map, Value};

/// One record as the API sent it.
pub(crate) struct Row<'a>(pub &'a Map<String, Value>);

impl<'a> Row<'a> {
    /// The field, or `None` when the response did not include it (for instance a dot-walked
    /// field the instance could not resolve).
    pub fn field(&self, name: &str) -> Option<Field<'a>> {
        self.0.get(name).map(Field)
    }

    /// The stored value, `""` when absent or empty.
    pub fn value(&self, name: &str) -> String {
        self.field(name).map(|f| f.value()).unwrap_or_default()
    }

    /// The display value, falling back to the stored value; `""` when absent.
    pub fn display(&self, name: &str) -> String {
        self.field(name).map(|f| f.display()).unwrap_or_default()
    }
}

#[derive(Clone, Copy)]
pub(crate) struct Field<'a>(pub &'a Value);

impl Field<'_> {
    /// The stored ("value") form as a string.
    pub fn value(&self) -> String {
        match self.0 {
            Value::Object(m) => match m.get("value") {
                Some(v) => scalar(v),
                // display_value=true references carry only display_value and link; the
                // sys_id is the link's last path segment.
                None => m
                    .get("link")
                    .and_then(Value::as_str)
                    .and_then(|l| l.rsplit('/').next())
                    .map(str::to_string)
                    .unwrap_or_default(),
            },
            v => scalar(v),
        }
    }

    /// The display form, or the stored form when no display value was sent.
    pub fn display(&self) -> String {
        match self.0 {
            Value::Object(m) => match m.get("display_value") {
                Some(v) if !scalar(v).is_empty() => scalar(v),
                _ => self.value(),
            },
            v => scalar(v),
        }
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => {
            // sn_chg_rest sends typed numbers such as 3.0 for the choice value "3".
            if let Some(f) = n.as_f64()
                && f.fract() == 0.0
                && f.abs() < 1e15
            {
                return format!("{}", f as i64);
            }
            n.to_string()
        }
        // An unexpected nested shape: keep it visible rather than guess.
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row(v: &Value) -> Row<'_> {
        Row(v.as_object().unwrap())
    }

    #[test]
    fn every_shape_reads() {
        let v = json!({
            "plain": "requested",
            "ref_false": {"link": "https://x/api/now/table/sys_user/abc", "value": "abc"},
            "ref_true": {"display_value": "Abel Tuter", "link": "https://x/api/now/table/sys_user/def"},
            "ref_all": {"display_value": "Abel Tuter", "value": "ghi"},
            "typed": {"display_value": "Moderate", "value": 3.0},
            "bool": false,
            "empty_ref": "",
            "null": null,
            "empty_all": {"display_value": "", "value": ""}
        });
        let r = row(&v);
        assert_eq!(r.value("plain"), "requested");
        assert_eq!(r.value("ref_false"), "abc");
        assert_eq!(r.display("ref_false"), "abc");
        assert_eq!(r.value("ref_true"), "def");
        assert_eq!(r.display("ref_true"), "Abel Tuter");
        assert_eq!(r.value("ref_all"), "ghi");
        assert_eq!(r.value("typed"), "3");
        assert_eq!(r.display("typed"), "Moderate");
        assert_eq!(r.value("bool"), "false");
        assert_eq!(r.value("empty_ref"), "");
        assert_eq!(r.value("null"), "");
        assert_eq!(r.display("empty_all"), "");
        assert_eq!(r.value("absent"), "");
        assert!(r.field("absent").is_none());
    }
}
