//! Shared plumbing for the string functions: run a per-string closure over any Arrow string
//! layout (Utf8, LargeUtf8, Utf8View, dictionaries of those), with Kusto's rule that a null
//! string is `""`.
//!
//! Dictionary arrays are evaluated once per distinct value and then gathered by key, which is
//! what makes predicates on low-cardinality columns (file names, action types) cheap.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, DictionaryArray, StringArrayType, StringBuilder,
    StringViewArray,
};
use datafusion::arrow::buffer::BooleanBuffer;
use datafusion::arrow::compute::{cast, take};
use datafusion::arrow::datatypes::{DataType, Int32Type};
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::ColumnarValue;

/// True if `data_type` is one of the string layouts these functions accept.
pub fn is_string_type(data_type: &DataType) -> bool {
    match data_type {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
        DataType::Dictionary(_, value) => is_string_type(value),
        _ => false,
    }
}

/// Every string of `array` in row order (null read as `""`), for the rare paths that need the
/// values themselves (constant lists, per-row arguments).
pub fn string_values(array: &ArrayRef) -> Result<Vec<String>> {
    let utf8 = cast(array, &DataType::Utf8)?;
    Ok(utf8
        .as_string::<i32>()
        .iter()
        .map(|v| v.unwrap_or("").to_string())
        .collect())
}

/// Applies `f` to the strings of `array` (null read as `""`), returning one boolean per row.
/// `f` must be a pure function of its argument: it may be called once per distinct value (and
/// once for `""`), not once per row.
pub fn map_to_bool(array: &ArrayRef, f: &mut dyn FnMut(&str) -> bool) -> Result<ArrayRef> {
    match array.data_type() {
        DataType::Utf8 => Ok(bool_over(array.as_string::<i32>(), f)),
        DataType::LargeUtf8 => Ok(bool_over(array.as_string::<i64>(), f)),
        DataType::Utf8View => Ok(bool_over_views(array.as_string_view(), f)),
        DataType::Dictionary(key, _) if **key == DataType::Int32 => {
            let dict = array.as_dictionary::<Int32Type>();
            let values = dict.values();
            match values.data_type() {
                DataType::Utf8 => Ok(bool_over_keys(dict, values.as_string::<i32>(), f)),
                DataType::LargeUtf8 => Ok(bool_over_keys(dict, values.as_string::<i64>(), f)),
                DataType::Utf8View => Ok(bool_over_keys(dict, values.as_string_view(), f)),
                _ => bool_over_all_values(array, f),
            }
        }
        DataType::Dictionary(_, _) => bool_over_all_values(array, f),
        DataType::Null => {
            let on_null = f("");
            Ok(Arc::new(BooleanArray::from(vec![on_null; array.len()])))
        }
        other => exec_err!("expected a string, got {other}"),
    }
}

/// [`map_to_bool`] over a dictionary: `f` once per dictionary entry the batch's keys use, the
/// rows then answered by key. A Parquet column read as a dictionary carries its whole column
/// chunk's dictionary in every batch, so evaluating every entry per batch could cost more than
/// the rows themselves.
fn bool_over_keys<'a, A: StringArrayType<'a> + Copy>(
    dict: &DictionaryArray<Int32Type>,
    values: A,
    f: &mut dyn FnMut(&str) -> bool,
) -> ArrayRef {
    const UNKNOWN: u8 = 2;
    let on_null = f("");
    let mut known = vec![UNKNOWN; values.len()];
    let keys = dict.keys();
    let key_nulls = keys.nulls();
    let value_nulls = values.logical_nulls();
    let keys = keys.values();
    let result = BooleanBuffer::collect_bool(dict.len(), |i| {
        // A null key or a null entry is a null string, which Kusto reads as "".
        if key_nulls.is_some_and(|n| n.is_null(i)) {
            return on_null;
        }
        let key = keys[i] as usize;
        match known[key] {
            UNKNOWN => {
                let hit = if value_nulls.as_ref().is_some_and(|n| n.is_null(key)) {
                    on_null
                } else {
                    f(values.value(key))
                };
                known[key] = hit as u8;
                hit
            }
            hit => hit == 1,
        }
    });
    Arc::new(BooleanArray::new(result, None))
}

/// [`map_to_bool`] over a dictionary of another key or value type: `f` over every entry,
/// gathered by key.
fn bool_over_all_values(array: &ArrayRef, f: &mut dyn FnMut(&str) -> bool) -> Result<ArrayRef> {
    let dict = array.as_any_dictionary();
    let per_value = map_to_bool(dict.values(), f)?;
    // A null key means a null string, which Kusto reads as "".
    let on_null = f("");
    let taken = take(per_value.as_ref(), dict.keys(), None)?;
    Ok(fill_nulls_bool(taken.as_boolean(), on_null))
}

/// Applies `f` to every string of `array` (null read as `""`), returning a Utf8 array with no
/// nulls.
pub fn map_to_string(array: &ArrayRef, f: &mut dyn FnMut(&str) -> &str) -> Result<ArrayRef> {
    fn over<'a, A: StringArrayType<'a>>(array: A, f: &mut dyn FnMut(&str) -> &str) -> ArrayRef {
        let mut out = StringBuilder::with_capacity(array.len(), 0);
        for value in array.iter() {
            out.append_value(f(value.unwrap_or("")));
        }
        Arc::new(out.finish())
    }
    match array.data_type() {
        DataType::Utf8 => Ok(over(array.as_string::<i32>(), f)),
        DataType::LargeUtf8 => Ok(over(array.as_string::<i64>(), f)),
        DataType::Utf8View => Ok(over(array.as_string_view(), f)),
        DataType::Dictionary(_, _) => {
            let dict = array.as_any_dictionary();
            let per_value = map_to_string(dict.values(), f)?;
            let empty = f("").to_string();
            let taken = take(per_value.as_ref(), dict.keys(), None)?;
            let taken = taken.as_string::<i32>();
            let mut out = StringBuilder::with_capacity(taken.len(), 0);
            for value in taken.iter() {
                out.append_value(value.unwrap_or(&empty));
            }
            Ok(Arc::new(out.finish()))
        }
        DataType::Null => {
            let empty = f("").to_string();
            let mut out = StringBuilder::with_capacity(array.len(), 0);
            (0..array.len()).for_each(|_| out.append_value(&empty));
            Ok(Arc::new(out.finish()))
        }
        other => exec_err!("expected a string, got {other}"),
    }
}

fn bool_over<'a, A: StringArrayType<'a> + Copy>(
    array: A,
    f: &mut dyn FnMut(&str) -> bool,
) -> ArrayRef {
    let on_null = f("");
    let nulls = array.logical_nulls();
    let values = BooleanBuffer::collect_bool(array.len(), |i| {
        if nulls.as_ref().is_some_and(|n| n.is_null(i)) {
            on_null
        } else {
            f(array.value(i))
        }
    });
    Arc::new(BooleanArray::new(values, None))
}

/// [`bool_over`] for string views, evaluating `f` once per distinct view in a small cache.
/// Equal views hold equal strings (inline bytes, or the same bytes of the same buffer), and
/// Parquet dictionary pages decode to repeated views, so on low-cardinality columns (file
/// names, action types) this evaluates about once per dictionary entry, not once per row.
fn bool_over_views(array: &StringViewArray, f: &mut dyn FnMut(&str) -> bool) -> ArrayRef {
    const SLOTS: usize = 256;
    let mut keys = [u128::MAX; SLOTS];
    let mut hits = [false; SLOTS];
    let on_null = f("");
    let nulls = array.nulls();
    let views = array.views();
    let values = BooleanBuffer::collect_bool(array.len(), |i| {
        if nulls.is_some_and(|n| n.is_null(i)) {
            return on_null;
        }
        let view = views[i];
        let mixed = (view as u64 ^ (view >> 64) as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let slot = (mixed >> 56) as usize % SLOTS;
        if keys[slot] == view {
            return hits[slot];
        }
        let result = f(array.value(i));
        keys[slot] = view;
        hits[slot] = result;
        result
    });
    Arc::new(BooleanArray::new(values, None))
}

fn fill_nulls_bool(array: &BooleanArray, on_null: bool) -> ArrayRef {
    if array.null_count() == 0 {
        return Arc::new(array.clone());
    }
    Arc::new(
        array
            .iter()
            .map(|v| Some(v.unwrap_or(on_null)))
            .collect::<BooleanArray>(),
    )
}

/// Reads a constant string argument (a literal or a bound parameter); null reads as `""`.
pub fn scalar_string(value: &ColumnarValue, function: &str, position: usize) -> Result<String> {
    match value {
        ColumnarValue::Scalar(scalar) => match scalar_to_string(scalar) {
            Some(s) => Ok(s),
            None => exec_err!(
                "{function}: argument {position} must be a string constant, got {}",
                scalar.data_type()
            ),
        },
        ColumnarValue::Array(_) => {
            exec_err!("{function}: argument {position} must be a constant, not a column")
        }
    }
}

/// A string scalar's value, or `None` when the scalar is not a string. Null reads as `""`.
pub fn scalar_to_string(scalar: &ScalarValue) -> Option<String> {
    match scalar {
        ScalarValue::Utf8(v) | ScalarValue::LargeUtf8(v) | ScalarValue::Utf8View(v) => {
            Some(v.clone().unwrap_or_default())
        }
        ScalarValue::Dictionary(_, inner) => scalar_to_string(inner),
        ScalarValue::Null => Some(String::new()),
        _ => None,
    }
}

/// Turns a result computed on a one-row array back into a scalar when every input was scalar.
pub fn to_columnar(array: ArrayRef, all_scalar: bool) -> Result<ColumnarValue> {
    if all_scalar {
        Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(
            &array, 0,
        )?))
    } else {
        Ok(ColumnarValue::Array(array))
    }
}

/// Flattens a constant argument (a string, or a list of strings) into `out`; the error names
/// `function` and the argument's `position`.
pub(crate) fn collect_string_constants(
    function: &str,
    scalar: &ScalarValue,
    out: &mut Vec<String>,
    position: usize,
) -> Result<()> {
    if let Some(s) = scalar_to_string(scalar) {
        out.push(s);
        return Ok(());
    }
    let values = match scalar {
        ScalarValue::List(list) => list.value(0),
        ScalarValue::LargeList(list) => list.value(0),
        ScalarValue::FixedSizeList(list) => list.value(0),
        other => {
            return exec_err!(
                "{function}: argument {position} must be a string or a list of strings, got {}",
                other.data_type()
            );
        }
    };
    if !is_string_type(values.data_type()) && *values.data_type() != DataType::Null {
        return exec_err!(
            "{function}: argument {position} must be a list of strings, got a list of {}",
            values.data_type()
        );
    }
    out.extend(string_values(&values)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{Int32Array, StringArray};

    use super::*;

    /// A dictionary's rows are answered by key: the function runs once for each entry the keys
    /// use (never for an unused one), and null keys and null entries read as "".
    #[test]
    fn dictionaries_are_tested_once_per_used_entry() {
        let keys = Int32Array::from(vec![Some(0), Some(0), Some(2), None, Some(3), Some(2)]);
        let values = StringArray::from(vec![Some("a"), Some("b"), Some("c"), None]);
        let dictionary: ArrayRef =
            Arc::new(DictionaryArray::<Int32Type>::try_new(keys, Arc::new(values)).unwrap());
        let mut seen: Vec<String> = Vec::new();
        let result = map_to_bool(&dictionary, &mut |s| {
            seen.push(s.to_string());
            s.is_empty() || s == "a"
        })
        .unwrap();
        let expected = BooleanArray::from(vec![true, true, false, true, true, false]);
        assert_eq!(result.as_boolean(), &expected);
        seen.sort();
        assert_eq!(seen, ["", "a", "c"]);
    }
}
