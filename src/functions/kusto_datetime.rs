//! `kusto_datetime(ts)`: a timestamp as Kusto holds it: UTC, floored to 100-nanosecond ticks,
//! as `Timestamp(ns, "UTC")`. Files store times in ms, us or ns, with or without a zone (no
//! zone means UTC); after this function two files' values compare and join on the same instant.

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, TimestampNanosecondArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, TimestampNanosecondType};
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use super::kernels::to_columnar;
use crate::time::{TICK_NANOS, floor_to_tick, utc_nanos_type};

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct KustoDatetime {
    signature: Signature,
}

impl Default for KustoDatetime {
    fn default() -> Self {
        Self {
            signature: Signature::any(1, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for KustoDatetime {
    fn name(&self) -> &str {
        "kusto_datetime"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        match &arg_types[0] {
            DataType::Timestamp(_, _) | DataType::Null => Ok(utc_nanos_type()),
            other => plan_err!("kusto_datetime: expected a timestamp, got {other}"),
        }
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [ts] = args.args.as_slice() else {
            return exec_err!("kusto_datetime takes 1 argument");
        };
        let all_scalar = matches!(ts, ColumnarValue::Scalar(_));
        let ts = ts.to_array(args.number_rows)?;
        // Casting to a zone keeps the instant; a zone-less value is read as a UTC wall clock.
        let nanos = cast(&ts, &utc_nanos_type())?;
        let nanos = nanos.as_primitive::<TimestampNanosecondType>();
        let floored: TimestampNanosecondArray =
            if nanos.null_count() == 0 && nanos.values().iter().all(|v| v % TICK_NANOS == 0) {
                nanos.clone()
            } else {
                nanos
                    .unary::<_, TimestampNanosecondType>(floor_to_tick)
                    .with_timezone("UTC")
            };
        let result = Arc::new(floored);
        to_columnar(result, all_scalar)
    }
}

#[cfg(test)]
mod tests {
    use super::floor_to_tick;

    #[test]
    fn floors_towards_the_past() {
        assert_eq!(floor_to_tick(1_234), 1_200);
        assert_eq!(floor_to_tick(1_200), 1_200);
        assert_eq!(floor_to_tick(-1), -100);
        assert_eq!(floor_to_tick(-100), -100);
    }
}
