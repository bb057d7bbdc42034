//! Materialized steps hold their strings as dictionaries (see `materialize.rs`): a step's rows
//! repeat device, service, user and hash names heavily. Arrow's cast to a dictionary hashes
//! every row's bytes; for the string views a Parquet scan yields, equal views (an inline string,
//! or one string decoded once from a Parquet dictionary page) already mean equal strings, so
//! each row is looked up by its 16-byte view and only a view not seen before by its bytes.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, DictionaryArray, Int32Array, StringBuilder, StringViewArray,
};
use datafusion::arrow::datatypes::Int32Type;
use datafusion::arrow::error::ArrowError;

type FastMap<K> = HashMap<K, i32, foldhash::fast::RandomState>;

/// `array` as `Dictionary(Int32, Utf8)` with each distinct string once; null rows get null
/// keys, as Arrow's cast gives them.
pub(crate) fn views_to_dictionary(array: &StringViewArray) -> Result<ArrayRef, ArrowError> {
    let mut by_view: FastMap<u128> = FastMap::default();
    let mut by_string: FastMap<&str> = FastMap::default();
    let mut values = StringBuilder::new();
    let mut value_bytes = 0usize;
    let mut keys = Vec::with_capacity(array.len());
    let views = array.views();
    for (i, view) in views.iter().enumerate() {
        if array.is_null(i) {
            keys.push(0);
            continue;
        }
        let key = match by_view.get(view) {
            Some(&key) => key,
            None => {
                let string = array.value(i);
                let key = match by_string.get(string) {
                    Some(&key) => key,
                    None => {
                        value_bytes += string.len();
                        let key = i32::try_from(by_string.len())
                            .ok()
                            .filter(|_| i32::try_from(value_bytes).is_ok())
                            .ok_or(ArrowError::DictionaryKeyOverflowError)?;
                        values.append_value(string);
                        by_string.insert(string, key);
                        key
                    }
                };
                by_view.insert(*view, key);
                key
            }
        };
        keys.push(key);
    }
    let keys = Int32Array::new(keys.into(), array.nulls().cloned());
    let dictionary = DictionaryArray::<Int32Type>::try_new(keys, Arc::new(values.finish()))?;
    Ok(Arc::new(dictionary))
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{AsArray, StringViewBuilder};
    use datafusion::arrow::compute::{cast, concat};
    use datafusion::arrow::datatypes::DataType;

    use super::*;

    /// The same rows as Arrow's cast, each distinct string held once: short strings (inside
    /// the view), long ones written once and shared by their views, the same long string
    /// written twice at two places (two views, one entry), "" and nulls.
    #[test]
    fn the_dictionary_holds_each_string_once_and_every_row_reads_back() {
        let long = "C:\\Windows\\System32\\svchost.exe -k netsvcs";
        let mut builder = StringViewBuilder::new().with_deduplicate_strings();
        for value in [
            Some("svc.exe"),
            Some(long),
            None,
            Some(""),
            Some(long),
            Some("svc.exe"),
        ] {
            builder.append_option(value);
        }
        let shared = builder.finish();
        let mut builder = StringViewBuilder::new();
        for value in [Some(long), None, Some("another much longer value")] {
            builder.append_option(value);
        }
        let copied = builder.finish();
        let rows: Vec<Option<&str>> = shared.iter().chain(copied.iter()).collect();
        // One array over both arrays' buffers, so that `long` sits at two places.
        let array = concat(&[&shared, &copied]).unwrap();
        let array = array.as_string_view();
        assert_ne!(
            array.views()[1],
            array.views()[6],
            "the same string at two places"
        );

        let dictionary = views_to_dictionary(array).unwrap();
        let expected = cast(array, dictionary.data_type()).unwrap();
        assert_eq!(
            dictionary.data_type(),
            &DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
        );
        let back = cast(&dictionary, &DataType::Utf8).unwrap();
        let back: Vec<Option<&str>> = back.as_string::<i32>().iter().collect();
        assert_eq!(back, rows);
        let values = dictionary.as_dictionary::<Int32Type>().values();
        let mut values: Vec<&str> = values.as_string::<i32>().iter().flatten().collect();
        values.sort();
        assert_eq!(values, ["", long, "another much longer value", "svc.exe"]);
        assert_eq!(dictionary.null_count(), 2);
        assert_eq!(dictionary.logical_nulls(), expected.logical_nulls());
    }
}
