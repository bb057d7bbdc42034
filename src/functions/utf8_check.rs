//! `utf8_checked(s, 'Column')`: `s` unchanged if every value is UTF-8 text, else an error
//! naming the column. Parquet string columns written without the UTF8 annotation (plain
//! BYTE_ARRAY, which some writers produce) reach DataFusion as strings without any check, and
//! bytes that are not UTF-8 would then break every string function downstream. The lake's Kusto
//! views wrap such columns (and only those) in this check.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, BinaryArray, BinaryViewArray, LargeBinaryArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

/// The words an error of this check starts with, so that the run can look for the file.
pub const NOT_UTF8: &str = "bytes that are not UTF-8 text";

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Utf8Checked {
    signature: Signature,
}

impl Default for Utf8Checked {
    fn default() -> Self {
        Utf8Checked {
            signature: Signature::any(2, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for Utf8Checked {
    fn name(&self) -> &str {
        "utf8_checked"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        match &arg_types[0] {
            t @ (DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View) => Ok(t.clone()),
            other => plan_err!("utf8_checked: expected a string column, got {other}"),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let column = match &args.args[1] {
            ColumnarValue::Scalar(ScalarValue::Utf8(Some(name))) => name.clone(),
            _ => "?".to_string(),
        };
        let value = &args.args[0];
        let array: ArrayRef = match value {
            ColumnarValue::Array(array) => Arc::clone(array),
            // Literals come from SQL text, which is UTF-8.
            ColumnarValue::Scalar(_) => return Ok(value.clone()),
        };
        if let Some(row) = first_invalid(&array) {
            return exec_err!("column {column} holds {NOT_UTF8} (row {row} of a batch)");
        }
        Ok(ColumnarValue::Array(array))
    }
}

/// The index of the first value that is not UTF-8, if any.
pub fn first_invalid(array: &ArrayRef) -> Option<usize> {
    // Read the values as bytes: the same buffers under a binary type.
    let as_bytes = |binary: DataType| array.to_data().into_builder().data_type(binary).build();
    let check = |i: usize, bytes: &[u8]| std::str::from_utf8(bytes).is_err().then_some(i);
    match array.data_type() {
        DataType::Utf8View | DataType::BinaryView => {
            let bytes = BinaryViewArray::from(as_bytes(DataType::BinaryView).ok()?);
            (0..bytes.len()).find_map(|i| (!bytes.is_null(i)).then(|| check(i, bytes.value(i)))?)
        }
        DataType::Utf8 | DataType::Binary => {
            let bytes = BinaryArray::from(as_bytes(DataType::Binary).ok()?);
            // One pass over the whole buffer first: valid text is the common case. The whole
            // can be valid while its values are not (two halves of one character, `\xc3` then
            // `\xa4`, spell `ä`): every value must also start and end on a character boundary.
            if let Ok(text) = std::str::from_utf8(bytes.value_data())
                && bytes
                    .value_offsets()
                    .iter()
                    .all(|&offset| text.is_char_boundary(offset as usize))
            {
                return None;
            }
            (0..bytes.len()).find_map(|i| (!bytes.is_null(i)).then(|| check(i, bytes.value(i)))?)
        }
        DataType::LargeUtf8 | DataType::LargeBinary => {
            let bytes = LargeBinaryArray::from(as_bytes(DataType::LargeBinary).ok()?);
            (0..bytes.len()).find_map(|i| (!bytes.is_null(i)).then(|| check(i, bytes.value(i)))?)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::StringViewArray;

    #[test]
    fn finds_the_first_value_that_is_not_utf8() {
        let good: ArrayRef = Arc::new(StringViewArray::from(vec![Some("ä"), None, Some("x")]));
        assert_eq!(first_invalid(&good), None);
        let bytes = BinaryViewArray::from(vec![
            Some(&b"ok"[..]),
            None,
            Some(&b"a longer value that is not inline \xff"[..]),
        ]);
        let bad: ArrayRef = Arc::new(bytes);
        assert_eq!(first_invalid(&bad), Some(2));
        let plain: ArrayRef = Arc::new(BinaryArray::from(vec![&b"x"[..], &b"\xc3"[..]]));
        assert_eq!(first_invalid(&plain), Some(1));
        // Each half of `ä` alone is not UTF-8, though the buffer holding both is.
        let halves: ArrayRef = Arc::new(BinaryArray::from(vec![&b"\xc3"[..], &b"\xa4"[..]]));
        assert_eq!(first_invalid(&halves), Some(0));
        let whole: ArrayRef = Arc::new(BinaryArray::from(vec![&b"\xc3\xa4"[..], &b"b"[..]]));
        assert_eq!(first_invalid(&whole), None);
    }
}
