//! The rule's last two lines split DeviceName at its first dot:
//!
//! ```kql
//! | extend HostName = iff(DeviceName has '.', substring(DeviceName, 0, indexof(DeviceName, '.')), DeviceName)
//! | extend DnsDomain = iff(DeviceName has '.', substring(DeviceName, indexof(DeviceName, '.') + 1), "")
//! ```
//!
//! `has '.'` is true whenever the string holds a dot (a punctuation-only needle needs no term
//! boundary), and `indexof`/`substring` count code points from 0. Since `.` is ASCII, splitting
//! the UTF-8 bytes at the first `.` gives the same strings: `ws1.corp.example` → (`ws1`,
//! `corp.example`), `ws1` → (`ws1`, ``), `.x` → (``, `x`), `x.` → (`x`, ``).

use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use super::kernels::{is_string_type, map_to_string, to_columnar};

/// (HostName, DnsDomain) of a device name, as the rule computes them.
pub fn split_device_name(device_name: &str) -> (&str, &str) {
    match device_name.find('.') {
        Some(dot) => (&device_name[..dot], &device_name[dot + 1..]),
        None => (device_name, ""),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Part {
    HostName,
    DnsDomain,
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct HostSplit {
    part: Part,
    signature: Signature,
}

impl HostSplit {
    pub fn new(part: Part) -> Self {
        Self {
            part,
            signature: Signature::any(1, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for HostSplit {
    fn name(&self) -> &str {
        match self.part {
            Part::HostName => "host_name",
            Part::DnsDomain => "dns_domain",
        }
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        if !is_string_type(&arg_types[0]) && arg_types[0] != DataType::Null {
            return plan_err!("{}: expected a string, got {}", self.name(), arg_types[0]);
        }
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [name] = args.args.as_slice() else {
            return exec_err!("{} takes 1 argument", self.name());
        };
        let all_scalar = matches!(name, ColumnarValue::Scalar(_));
        let names = name.to_array(args.number_rows)?;
        let part = self.part;
        let result = map_to_string(&names, &mut |s| {
            let (host, domain) = split_device_name(s);
            match part {
                Part::HostName => host,
                Part::DnsDomain => domain,
            }
        })?;
        to_columnar(result, all_scalar)
    }
}

#[cfg(test)]
mod tests {
    use super::split_device_name;

    #[test]
    fn splits_at_first_dot() {
        assert_eq!(
            split_device_name("ws1.corp.example"),
            ("ws1", "corp.example")
        );
        assert_eq!(split_device_name("ws1"), ("ws1", ""));
        assert_eq!(split_device_name(".x"), ("", "x"));
        assert_eq!(split_device_name("x."), ("x", ""));
        assert_eq!(split_device_name(""), ("", ""));
        assert_eq!(split_device_name("."), ("", ""));
        assert_eq!(split_device_name("pc-é.example"), ("pc-é", "example"));
    }
}
