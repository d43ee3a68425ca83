//! Reading Table API rows permissively.
//!
//! The same field arrives in several shapes depending on `sysparm_display_value` and
//! `sysparm_exclude_reference_link` (reference §1.4): a plain string, `{"link","value"}`,
//! `{"display_value","link"}` (no value!), `{"display_value","value"}`, or typed numbers and
//! booleans from other APIs. Every accessor here accepts all of them.

use std::borrow::Cow;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// One record as the API sent it: a decoded JSON object, or the members of a list page's row
/// read by [`Json`].
#[derive(Clone, Copy)]
pub(crate) struct Row<'a>(Members<'a>);

#[derive(Clone, Copy)]
enum Members<'a> {
    Map(&'a Map<String, Value>),
    List(&'a [(Cow<'a, str>, Json<'a>)]),
}

impl<'a> Row<'a> {
    pub fn new(record: &'a Map<String, Value>) -> Self {
        Row(Members::Map(record))
    }

    /// A row of a list page read by [`Json`]; `None` when it is not an object.
    pub fn of_json(record: &'a Json<'a>) -> Option<Self> {
        match record {
            Json::Object(members) => Some(Row(Members::List(members))),
            _ => None,
        }
    }

    /// The field, or `None` when the response did not include it (for instance a dot-walked
    /// field the instance could not resolve).
    pub fn field(&self, name: &str) -> Option<Field<'a>> {
        match self.0 {
            Members::Map(m) => m.get(name).map(Field::Value),
            Members::List(l) => member(l, name).map(Field::Json),
        }
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

/// The member `name` of an object read by [`Json`]; the last one when a name repeats, as a
/// decoded map keeps it.
fn member<'s, 'a>(members: &'s [(Cow<'a, str>, Json<'a>)], name: &str) -> Option<&'s Json<'a>> {
    members
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

#[derive(Clone, Copy)]
pub(crate) enum Field<'a> {
    Value(&'a Value),
    Json(&'a Json<'a>),
}

impl Field<'_> {
    /// The stored ("value") form as a string.
    pub fn value(&self) -> String {
        match *self {
            Field::Value(v) => value_of(v),
            Field::Json(v) => value_of(v),
        }
    }

    /// The display form, or the stored form when no display value was sent.
    pub fn display(&self) -> String {
        match *self {
            Field::Value(v) => display_of(v),
            Field::Json(v) => display_of(v),
        }
    }
}

/// What the accessors read of a field, in either shape a row comes in.
trait Node<'a>: Copy {
    fn is_object(self) -> bool;
    fn member(self, name: &str) -> Option<Self>;
    fn text(self) -> Option<&'a str>;
    fn scalar(self) -> String;
}

impl<'a> Node<'a> for &'a Value {
    fn is_object(self) -> bool {
        self.is_object()
    }
    fn member(self, name: &str) -> Option<Self> {
        self.get(name)
    }
    fn text(self) -> Option<&'a str> {
        self.as_str()
    }
    fn scalar(self) -> String {
        scalar(self)
    }
}

impl<'a> Node<'a> for &'a Json<'a> {
    fn is_object(self) -> bool {
        matches!(self, Json::Object(_))
    }
    fn member(self, name: &str) -> Option<Self> {
        self.get(name)
    }
    fn text(self) -> Option<&'a str> {
        match self {
            Json::Str(s) => Some(s),
            _ => None,
        }
    }
    fn scalar(self) -> String {
        Json::scalar(self)
    }
}

fn value_of<'a>(field: impl Node<'a>) -> String {
    if !field.is_object() {
        return field.scalar();
    }
    match field.member("value") {
        Some(v) => v.scalar(),
        // display_value=true references carry only display_value and link; the sys_id is
        // the link's last path segment.
        None => field
            .member("link")
            .and_then(Node::text)
            .map(last_segment)
            .unwrap_or_default(),
    }
}

fn display_of<'a>(field: impl Node<'a>) -> String {
    if !field.is_object() {
        return field.scalar();
    }
    match field.member("display_value").map(Node::scalar) {
        Some(s) if !s.is_empty() => s,
        _ => value_of(field),
    }
}

fn last_segment(link: &str) -> String {
    link.rsplit('/').next().unwrap_or_default().to_string()
}

/// A JSON value as a list page's rows are read: strings borrowed from the answer unless they
/// had escapes, objects as their members in order. A page's rows are each read once, field by
/// field, so building (and then freeing) a map per row and per field would be most of the
/// cost of reading them.
#[derive(Debug, PartialEq)]
pub(crate) enum Json<'a> {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    Str(Cow<'a, str>),
    Array(Vec<Json<'a>>),
    Object(Vec<(Cow<'a, str>, Json<'a>)>),
}

impl<'a> Json<'a> {
    /// The member `name` of an object.
    pub fn get(&self, name: &str) -> Option<&Json<'a>> {
        match self {
            Json::Object(m) => member(m, name),
            _ => None,
        }
    }

    fn scalar(&self) -> String {
        match self {
            Json::Str(s) => s.to_string(),
            Json::Null => String::new(),
            Json::Bool(b) => b.to_string(),
            Json::Number(n) => number(n),
            // An unexpected nested shape: keep it visible rather than guess.
            other => other.to_value().to_string(),
        }
    }

    fn to_value(&self) -> Value {
        match self {
            Json::Null => Value::Null,
            Json::Bool(b) => Value::Bool(*b),
            Json::Number(n) => Value::Number(n.clone()),
            Json::Str(s) => Value::String(s.to_string()),
            Json::Array(a) => Value::Array(a.iter().map(Json::to_value).collect()),
            Json::Object(m) => Value::Object(
                m.iter()
                    .map(|(k, v)| (k.to_string(), v.to_value()))
                    .collect(),
            ),
        }
    }
}

impl<'de> Deserialize<'de> for Json<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_unit<E>(self) -> Result<Json<'de>, E> {
        Ok(Json::Null)
    }
    fn visit_none<E>(self) -> Result<Json<'de>, E> {
        Ok(Json::Null)
    }
    fn visit_bool<E>(self, b: bool) -> Result<Json<'de>, E> {
        Ok(Json::Bool(b))
    }
    fn visit_i64<E>(self, n: i64) -> Result<Json<'de>, E> {
        Ok(Json::Number(n.into()))
    }
    fn visit_u64<E>(self, n: u64) -> Result<Json<'de>, E> {
        Ok(Json::Number(n.into()))
    }
    fn visit_f64<E>(self, n: f64) -> Result<Json<'de>, E> {
        Ok(serde_json::Number::from_f64(n).map_or(Json::Null, Json::Number))
    }
    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Json<'de>, E> {
        Ok(Json::Str(Cow::Borrowed(s)))
    }
    fn visit_str<E>(self, s: &str) -> Result<Json<'de>, E> {
        Ok(Json::Str(Cow::Owned(s.to_string())))
    }
    fn visit_string<E>(self, s: String) -> Result<Json<'de>, E> {
        Ok(Json::Str(Cow::Owned(s)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json<'de>, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json<'de>, A::Error> {
        let mut members = Vec::new();
        while let Some(Key(k)) = map.next_key()? {
            members.push((k, map.next_value()?));
        }
        Ok(Json::Object(members))
    }
}

/// An object member's name, borrowed unless it had escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a member name")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s.to_string())))
            }
            fn visit_string<E>(self, s: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s)))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => number(n),
        // An unexpected nested shape: keep it visible rather than guess.
        other => other.to_string(),
    }
}

fn number(n: &serde_json::Number) -> String {
    // sn_chg_rest sends typed numbers such as 3.0 for the choice value "3".
    if let Some(f) = n.as_f64()
        && f.fract() == 0.0
        && f.abs() < 1e15
    {
        return format!("{}", f as i64);
    }
    n.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
            "empty_all": {"display_value": "", "value": ""},
            "nested": [1, {"a": true}]
        });
        // Decoded whole, and as a list page's rows are read: the same answers.
        let text = v.to_string();
        let light: Json = serde_json::from_str(&text).unwrap();
        for r in [
            Row::new(v.as_object().unwrap()),
            Row::of_json(&light).unwrap(),
        ] {
            every_shape(r);
        }
    }

    fn every_shape(r: Row<'_>) {
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
        assert_eq!(r.value("nested"), r#"[1,{"a":true}]"#);
    }

    #[test]
    fn light_json_borrows_plain_strings_and_keeps_escapes() {
        let text = r#"{"a":"plain","b\u0041":"esc\"aped\n","n":3.5,"r":[null,false,7],"a":"last"}"#;
        let v: Json = serde_json::from_str(text).unwrap();
        let Json::Object(m) = &v else { panic!("{v:?}") };
        assert!(matches!(
            &m[0],
            (Cow::Borrowed("a"), Json::Str(Cow::Borrowed("plain")))
        ));
        assert_eq!(m[1].0, "bA");
        assert_eq!(v.get("bA"), Some(&Json::Str("esc\"aped\n".into())));
        assert_eq!(v.get("n").map(Json::scalar).as_deref(), Some("3.5"));
        assert_eq!(
            v.get("a"),
            Some(&Json::Str("last".into())),
            "the last of a repeated name"
        );
        let r = Row::of_json(&v).unwrap();
        assert_eq!(r.value("r"), "[null,false,7]");
        assert!(Row::of_json(&Json::Null).is_none());
        // What serde_json accepts and refuses, this does too.
        for bad in ["{\"a\":}", "[1,]", "{\"a\":\"\\x\"}", "\"\u{0}"] {
            assert!(serde_json::from_str::<Json>(bad).is_err(), "{bad}");
        }
    }
}
