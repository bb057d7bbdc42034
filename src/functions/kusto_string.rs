//! `kusto_string(s)`: `s` with each null read as `""`, as Kusto strings are never null. The
//! lake's Kusto views wrap every string column in it.
//!
//! It means `coalesce(s, '')`, which DataFusion rewrites into `CASE WHEN s IS NOT NULL THEN s
//! ELSE '' END`; a Parquet scan rebuilds its projection for every file it opens, and a `CASE`
//! is costly to rebuild (its analysis, nullability and display), where a call of this function
//! is not. Its result is never null, as `coalesce`'s is not.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Scalar, StringViewArray};
use datafusion::arrow::buffer::ScalarBuffer;
use datafusion::arrow::compute::{is_not_null, kernels::zip::zip};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result, ScalarValue, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

/// The function's name, which the string predicates look for to strip it (they read a null as
/// `""` themselves).
pub const NAME: &str = "kusto_string";

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct KustoString {
    signature: Signature,
}

impl Default for KustoString {
    fn default() -> Self {
        KustoString {
            signature: Signature::uniform(
                1,
                vec![DataType::Utf8View, DataType::Utf8, DataType::LargeUtf8],
                Volatility::Immutable,
            ),
        }
    }
}

impl ScalarUDFImpl for KustoString {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        match &arg_types[0] {
            t @ (DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View) => Ok(t.clone()),
            other => plan_err!("{NAME}: expected a string, got {other}"),
        }
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let data_type = self.return_type(&[args.arg_fields[0].data_type().clone()])?;
        Ok(Arc::new(Field::new(NAME, data_type, false)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        match &args.args[0] {
            ColumnarValue::Scalar(value) if value.is_null() => {
                Ok(ColumnarValue::Scalar(empty_string(&value.data_type())?))
            }
            ColumnarValue::Scalar(value) => Ok(ColumnarValue::Scalar(value.clone())),
            ColumnarValue::Array(array) => Ok(ColumnarValue::Array(empty_for_null(array)?)),
        }
    }
}

/// `array` with its nulls replaced by `""` and no null buffer.
pub fn empty_for_null(array: &ArrayRef) -> Result<ArrayRef> {
    if array.null_count() == 0 {
        return Ok(Arc::clone(array));
    }
    if let Some(strings) = array.as_string_view_opt()
        && let Some(nulls) = strings.nulls()
    {
        // A view of length 0 is the empty string: zero the nulls' views, keep the buffers.
        let views: ScalarBuffer<u128> = strings
            .views()
            .iter()
            .zip(nulls.iter())
            .map(|(&view, valid)| if valid { view } else { 0 })
            .collect();
        let data_buffers = strings.data_buffers().to_vec();
        // SAFETY: the kept views are the array's own, over the same buffers, and a zero view
        // is a valid empty inline string.
        let replaced = unsafe { StringViewArray::new_unchecked(views, data_buffers, None) };
        return Ok(Arc::new(replaced));
    }
    let empty = empty_string(array.data_type())?.to_array_of_size(1)?;
    Ok(zip(&is_not_null(array)?, array, &Scalar::new(empty))?)
}

/// `""` as a value of the string type `data_type`.
fn empty_string(data_type: &DataType) -> Result<ScalarValue> {
    let empty = Some(String::new());
    Ok(match data_type {
        DataType::Utf8View => ScalarValue::Utf8View(empty),
        DataType::Utf8 => ScalarValue::Utf8(empty),
        DataType::LargeUtf8 => ScalarValue::LargeUtf8(empty),
        other => return plan_err!("{NAME}: expected a string, got {other}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{LargeStringArray, StringArray};

    #[test]
    fn nulls_become_empty_strings_in_every_string_type() {
        let long = "a value longer than twelve bytes, kept in a data buffer";
        let views: ArrayRef = Arc::new(StringViewArray::from(vec![Some(long), None, Some("x")]));
        let replaced = empty_for_null(&views).unwrap();
        let replaced = replaced.as_string_view();
        assert_eq!(replaced.null_count(), 0);
        assert_eq!(
            replaced.iter().flatten().collect::<Vec<_>>(),
            [long, "", "x"]
        );
        let plain: ArrayRef = Arc::new(StringArray::from(vec![None, Some("y")]));
        let replaced = empty_for_null(&plain).unwrap();
        assert_eq!(replaced.null_count(), 0);
        assert_eq!(
            replaced
                .as_string::<i32>()
                .iter()
                .flatten()
                .collect::<Vec<_>>(),
            ["", "y"]
        );
        let large: ArrayRef = Arc::new(LargeStringArray::from(vec![Some("z"), None]));
        let replaced = empty_for_null(&large).unwrap();
        assert_eq!(
            replaced
                .as_string::<i64>()
                .iter()
                .flatten()
                .collect::<Vec<_>>(),
            ["z", ""]
        );
        // Without a null the array comes back itself.
        let whole: ArrayRef = Arc::new(StringViewArray::from(vec!["a", "b"]));
        assert!(Arc::ptr_eq(&empty_for_null(&whole).unwrap(), &whole));
    }
}
