//! `parse_json(text)` and `extract_json(path, text)` (alias `extractjson`), for JSON held in
//! strings such as Defender's `AdditionalFields`.
//!
//! SQL has no `dynamic` type, so both return text, the way Kusto's `tostring()` prints the
//! value: strings without quotes, numbers and booleans as written, objects and arrays as compact
//! JSON (object keys sorted).
//!
//! - `parse_json(text)`: valid JSON → the value as text; JSON `null`, `""` or a null string →
//!   null (Kusto gives a null `dynamic`); invalid JSON → the input unchanged (Kusto keeps it as a
//!   string value).
//! - `extract_json(path, text)`: the element at a JSONPath made of `$`, `.name`, `['name']`,
//!   `["name"]` and `[n]` (0-based; Kusto's subset, no wildcards); null when the element is
//!   absent, is JSON `null`, or the text is not valid JSON. A malformed path is an error.

use std::sync::Arc;

use datafusion::arrow::array::{Array, StringBuilder};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, exec_datafusion_err, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use serde_json::Value;

use super::text::kusto_strings;
use crate::functions::kernels::{is_string_type, to_columnar};

/// A JSON value as Kusto's `tostring` prints it; `None` for JSON null.
fn value_text(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// `parse_json` of one string.
pub fn parse_json_text(text: &str) -> Option<String> {
    if text.is_empty() {
        return None;
    }
    match serde_json::from_str::<Value>(text) {
        Ok(value) => value_text(&value),
        Err(_) => Some(text.to_string()),
    }
}

/// One step of a JSONPath.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Key(String),
    Index(usize),
}

/// Parses Kusto's JSONPath subset: `$`, `.name`, `['name']`, `["name"]`, `[n]`.
pub fn parse_path(path: &str) -> std::result::Result<Vec<Step>, String> {
    let bad = |why: &str| format!("invalid JSONPath '{path}': {why}");
    let trimmed = path.trim();
    let Some(mut rest) = trimmed.strip_prefix('$') else {
        return Err(bad("it must start with $"));
    };
    let mut steps = Vec::new();
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('.') {
            let end = after.find(['.', '[']).unwrap_or(after.len());
            let name = &after[..end];
            if name.is_empty() {
                return Err(bad("empty property name after '.'"));
            }
            if name == "*" {
                return Err(bad("wildcards are not supported"));
            }
            steps.push(Step::Key(name.to_string()));
            rest = &after[end..];
        } else if let Some(after) = rest.strip_prefix('[') {
            let after = after.trim_start();
            if let Some(quote) = after.chars().next().filter(|c| *c == '\'' || *c == '"') {
                let body = &after[1..];
                let Some(close) = body.find(quote) else {
                    return Err(bad("unterminated quoted name"));
                };
                steps.push(Step::Key(body[..close].to_string()));
                let tail = body[close + 1..].trim_start();
                let Some(tail) = tail.strip_prefix(']') else {
                    return Err(bad("expected ']' after a quoted name"));
                };
                rest = tail;
            } else {
                let Some(close) = after.find(']') else {
                    return Err(bad("unterminated '['"));
                };
                let index = after[..close].trim();
                let index = index
                    .parse::<usize>()
                    .map_err(|_| bad(&format!("'{index}' is not an array index")))?;
                steps.push(Step::Index(index));
                rest = &after[close + 1..];
            }
        } else {
            return Err(bad(&format!("unexpected '{rest}'")));
        }
    }
    Ok(steps)
}

/// The element of `text` at `steps`, as text (see the module docs).
pub fn extract(steps: &[Step], text: &str) -> Option<String> {
    let root: Value = serde_json::from_str(text).ok()?;
    let mut current = &root;
    for step in steps {
        current = match step {
            Step::Key(key) => current.as_object()?.get(key)?,
            Step::Index(i) => current.as_array()?.get(*i)?,
        };
    }
    value_text(current)
}

fn check_string_args(function: &str, arg_types: &[DataType], count: usize) -> Result<()> {
    if arg_types.len() != count {
        let usage = if count == 1 {
            "parse_json(text)"
        } else {
            "extract_json(path, text)"
        };
        return plan_err!("{usage} takes {count} argument(s), got {}", arg_types.len());
    }
    for (i, t) in arg_types.iter().enumerate() {
        if !is_string_type(t) && *t != DataType::Null {
            return plan_err!("{function}: argument {} must be a string, got {t}", i + 1);
        }
    }
    Ok(())
}

/// `parse_json(text)` (alias `todynamic`).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ParseJson {
    aliases: Vec<String>,
    signature: Signature,
}

impl Default for ParseJson {
    fn default() -> Self {
        Self {
            aliases: vec!["todynamic".to_string()],
            signature: Signature::any(1, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for ParseJson {
    fn name(&self) -> &str {
        "parse_json"
    }
    fn aliases(&self) -> &[String] {
        &self.aliases
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        check_string_args("parse_json", arg_types, 1)?;
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let all_scalar = matches!(args.args[0], ColumnarValue::Scalar(_));
        let rows = if all_scalar { 1 } else { args.number_rows };
        let texts = kusto_strings(&args.args[0].to_array(rows)?)?;
        let mut out = StringBuilder::with_capacity(texts.len(), 0);
        for text in texts.iter() {
            out.append_option(parse_json_text(text.unwrap_or("")));
        }
        to_columnar(Arc::new(out.finish()), all_scalar)
    }
}

/// `extract_json(path, text)` and its older name `extractjson`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ExtractJson {
    aliases: Vec<String>,
    signature: Signature,
}

impl Default for ExtractJson {
    fn default() -> Self {
        Self {
            aliases: vec!["extractjson".to_string()],
            signature: Signature::any(2, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for ExtractJson {
    fn name(&self) -> &str {
        "extract_json"
    }
    fn aliases(&self) -> &[String] {
        &self.aliases
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        check_string_args("extract_json", arg_types, 2)?;
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [path, text] = args.args.as_slice() else {
            return exec_err!("extract_json takes 2 arguments");
        };
        let all_scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let rows = if all_scalar { 1 } else { args.number_rows };
        let texts = kusto_strings(&text.to_array(rows)?)?;
        let mut out = StringBuilder::with_capacity(texts.len(), 0);
        let parse = |p: &str| parse_path(p).map_err(|e| exec_datafusion_err!("extract_json: {e}"));
        match path {
            ColumnarValue::Scalar(_) => {
                let paths = kusto_strings(&path.to_array(1)?)?;
                let steps = parse(paths.value(0))?;
                for row in 0..texts.len() {
                    out.append_option(extract(&steps, texts.value(row)));
                }
            }
            ColumnarValue::Array(paths) => {
                let paths = kusto_strings(paths)?;
                for row in 0..texts.len() {
                    let steps = parse(paths.value(row))?;
                    out.append_option(extract(&steps, texts.value(row)));
                }
            }
        }
        let result = out.finish();
        debug_assert_eq!(result.len(), rows);
        to_columnar(Arc::new(result), all_scalar)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(
            parse_path("$.a['b c'][2]").unwrap(),
            vec![
                Step::Key("a".into()),
                Step::Key("b c".into()),
                Step::Index(2)
            ]
        );
        assert_eq!(parse_path("$").unwrap(), vec![]);
        assert!(parse_path("a.b").is_err());
        assert!(parse_path("$.a[x]").is_err());
        assert!(parse_path("$.a['b").is_err());
    }

    #[test]
    fn values() {
        let doc = r#"{"a":{"b":[1,"two",{"c":null}]},"s":"x"}"#;
        let get = |p: &str| extract(&parse_path(p).unwrap(), doc);
        assert_eq!(get("$.a.b[1]").as_deref(), Some("two"));
        assert_eq!(get("$.a.b").as_deref(), Some(r#"[1,"two",{"c":null}]"#));
        assert_eq!(get("$.a.b[2].c"), None);
        assert_eq!(get("$.missing"), None);
        assert_eq!(parse_json_text("not json").as_deref(), Some("not json"));
        assert_eq!(parse_json_text(""), None);
    }
}
