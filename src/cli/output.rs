//! How listing commands print (`--output table|json|jsonl|csv`, JSON when stdout is not a
//! terminal), and the error envelope that goes with JSON output.
//!
//! A command builds its rows as serialisable structs once; the table is its own
//! human-readable rendering, the other three come from the rows, so the formats cannot
//! drift apart.

use std::io::{IsTerminal, Write};

use serde::Serialize;
use serde_json::Value;

use super::Failure;
use crate::domain::audit::csv_cell;

/// How a listing prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// Aligned columns for people (the default on a terminal).
    #[value(alias = "text")]
    Table,
    /// One JSON document (the default when standard output is not a terminal).
    Json,
    /// One JSON object per line.
    Jsonl,
    /// Comma-separated values with a header row (cells that start like a formula get a `'`).
    Csv,
}

impl Output {
    /// The format in force: the one asked for, else a table on a terminal and JSON for a
    /// pipe or a file.
    pub fn resolve(asked: Option<Output>) -> Output {
        asked.unwrap_or_else(|| {
            if std::io::stdout().is_terminal() {
                Output::Table
            } else {
                Output::Json
            }
        })
    }

    pub fn is_json(self) -> bool {
        matches!(self, Output::Json | Output::Jsonl)
    }
}

/// Prints a list of rows in `out`; `table` renders them for people.
pub fn listing<T: Serialize>(
    out: Output,
    rows: &[T],
    table: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
    what: &str,
) -> Result<(), Failure> {
    write_with(what, |w| render(w, out, rows.iter(), table))
}

/// [`listing`] of rows made one at a time as they are written, so a long list is never held
/// whole (the same bytes as the list collected first).
pub fn stream<T: Serialize>(
    out: Output,
    rows: impl IntoIterator<Item = T>,
    table: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
    what: &str,
) -> Result<(), Failure> {
    write_with(what, |w| render(w, out, rows, table))
}

fn render<T: Serialize>(
    w: &mut dyn Write,
    out: Output,
    rows: impl IntoIterator<Item = T>,
    table: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    match out {
        Output::Table => table(w),
        Output::Json => {
            use serde::Serializer;
            serde_json::Serializer::pretty(&mut *w).collect_seq(rows)?;
            writeln!(w)
        }
        Output::Jsonl => {
            for r in rows {
                serde_json::to_writer(&mut *w, &r)?;
                writeln!(w)?;
            }
            Ok(())
        }
        Output::Csv => {
            let mut columns: Option<Vec<String>> = None;
            for r in rows {
                let row: Ordered = serde_json::from_str(&serde_json::to_string(&r)?)?;
                write_csv_row(w, &mut columns, &row)?;
            }
            Ok(())
        }
    }
}

/// Prints one record (a report, a status) in `out`: JSON as one object, JSON lines as one
/// line, CSV as a header and one row.
pub fn record<T: Serialize>(
    out: Output,
    value: &T,
    table: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
    what: &str,
) -> Result<(), Failure> {
    match out {
        Output::Json => write_with(what, |w| {
            serde_json::to_writer_pretty(&mut *w, value)?;
            writeln!(w)
        }),
        _ => listing(out, std::slice::from_ref(value), table, what),
    }
}

fn write_with(
    what: &str,
    body: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<(), Failure> {
    let stdout = std::io::stdout();
    let mut w = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    match body(&mut w).and_then(|_| w.flush()) {
        Ok(()) => Ok(()),
        // `signoff queue | head` closes the pipe early; that is not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Failure::other(format!("Could not write {what}: {e}."))),
    }
}

/// A JSON object's fields in the order they were written (serde_json's own map sorts them;
/// a row's columns should come in the order its struct declares them).
struct Ordered(Vec<(String, Value)>);

impl<'de> serde::Deserialize<'de> for Ordered {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Ordered;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut m: A,
            ) -> Result<Ordered, A::Error> {
                let mut fields = Vec::new();
                while let Some(entry) = m.next_entry::<String, Value>()? {
                    fields.push(entry);
                }
                Ok(Ordered(fields))
            }
        }
        d.deserialize_map(Visit)
    }
}

/// One CSV row: the columns are the first row's fields in order (its header is written
/// first); a nested list of plain values is joined with spaces, anything else nested is
/// written as compact JSON.
fn write_csv_row(
    w: &mut dyn Write,
    columns: &mut Option<Vec<String>>,
    row: &Ordered,
) -> std::io::Result<()> {
    let cols = match columns {
        Some(c) => c,
        None => {
            let cols: Vec<String> = row.0.iter().map(|(k, _)| k.clone()).collect();
            let header: Vec<String> = cols.iter().map(|c| csv_cell(c)).collect();
            writeln!(w, "{}", header.join(","))?;
            columns.insert(cols)
        }
    };
    let cells: Vec<String> = cols
        .iter()
        .map(|c| {
            let v = row.0.iter().find(|(k, _)| k == c).map(|(_, v)| v);
            csv_cell(&plain(v.unwrap_or(&Value::Null)))
        })
        .collect();
    writeln!(w, "{}", cells.join(","))
}

fn plain(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(items) if items.iter().all(|i| !i.is_array() && !i.is_object()) => {
            items.iter().map(plain).collect::<Vec<_>>().join(" ")
        }
        other => other.to_string(),
    }
}

/// The error envelope written on stderr under JSON output:
/// `{"error":{"kind":…,"code":…,"message":…,"remediation":…}}`.
pub fn envelope(f: &Failure) -> String {
    #[derive(Serialize)]
    struct Inner<'a> {
        kind: &'static str,
        code: u8,
        message: &'a str,
        remediation: &'a str,
    }
    #[derive(Serialize)]
    struct Envelope<'a> {
        error: Inner<'a>,
    }
    serde_json::to_string(&Envelope {
        error: Inner {
            kind: f.kind.name(),
            code: f.code,
            message: &f.message,
            remediation: f.remediation(),
        },
    })
    .unwrap_or_else(|_| r#"{"error":{"kind":"other","code":1}}"#.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_keeps_field_order_and_defuses_formulas() {
        #[derive(Serialize)]
        struct Row {
            number: &'static str,
            tags: Vec<&'static str>,
            note: Option<&'static str>,
            n: u32,
        }
        let rows = [
            Row {
                number: "CHG1",
                tags: vec!["a", "b"],
                note: Some("=HYPERLINK(\"x\")"),
                n: 3,
            },
            Row {
                number: "CHG2",
                tags: vec![],
                note: None,
                n: 4,
            },
        ];
        let mut out = Vec::new();
        render(&mut out, Output::Csv, &rows, |_| Ok(())).unwrap();
        // Streamed JSON is the same bytes as the list collected first.
        let mut streamed = Vec::new();
        render(&mut streamed, Output::Json, rows.iter(), |_| Ok(())).unwrap();
        let mut whole = serde_json::to_vec_pretty(&rows).unwrap();
        whole.push(b'\n');
        assert_eq!(
            String::from_utf8(streamed).unwrap(),
            String::from_utf8(whole).unwrap()
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "number,tags,note,n\nCHG1,a b,\"'=HYPERLINK(\"\"x\"\")\",3\nCHG2,,,4\n"
        );
    }
}
