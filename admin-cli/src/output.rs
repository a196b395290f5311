//! Printing results: a table for people, JSON for scripts.

use comfy_table::{presets::UTF8_BORDERS_ONLY, Table};
use serde_json::Value;

#[derive(Clone, Copy)]
pub struct Output {
    pub json: bool,
}

impl Output {
    /// Prints rows: as a JSON array of objects, or as a table with `columns` as headers.
    pub fn rows(&self, columns: &[&str], rows: Vec<Value>) {
        if self.json {
            println!("{}", Value::Array(rows));
            return;
        }
        let mut table = Table::new();
        table.load_preset(UTF8_BORDERS_ONLY).set_header(columns.to_vec());
        for row in &rows {
            table.add_row(columns.iter().map(|c| cell(&row[*c])).collect::<Vec<_>>());
        }
        println!("{table}");
    }

    /// Prints one created object: JSON, or `key: value` lines.
    pub fn object(&self, value: Value) {
        if self.json {
            println!("{value}");
            return;
        }
        if let Value::Object(map) = value {
            let width = map.keys().map(|k| k.len()).max().unwrap_or(0);
            for (key, v) in map {
                println!("{key:width$}  {}", cell(&v));
            }
        }
    }
}

fn cell(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(cell).collect::<Vec<_>>().join(" "),
        other => other.to_string(),
    }
}
