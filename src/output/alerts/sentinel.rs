//! An instance as a row of Sentinel's `SecurityAlert` table, as a scheduled analytic rule with
//! event grouping "one alert per result" raises it: the rule's metadata, the mapped entities
//! and the custom details, `Entities` and `ExtendedProperties` as the JSON strings Sentinel
//! stores. Custom details are capped at 64 KB per alert, as Sentinel caps them: the largest
//! sets are cut to fit, and the alert says which were cut and their full sizes.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{Instance, KEY_COLUMNS, Ordered, ReportKind, SET_COLUMNS};
use crate::rule::OUTPUT_COLUMNS;
use crate::rule::RuleParams;
use crate::rule::metadata::{
    RULE_DESCRIPTION, RULE_ID, RULE_NAME, SEVERITY, SUB_TECHNIQUE, TACTIC, TECHNIQUE,
};
use crate::time::{format_kusto_datetime, format_kusto_timespan};

/// Sentinel's cap on an alert's custom and alert details, in bytes of `ExtendedProperties`.
pub const EXTENDED_PROPERTIES_CAP: usize = 64 * 1024;

/// The key under which an alert lists the sets cut to fit the cap, with their full sizes.
pub const CUT_SETS_KEY: &str = "Cut Custom Details";

const PRODUCT: &str = "huntlake";

/// The `SecurityAlert` row of `instance`, as one line of JSON.
pub fn alert(instance: &Instance, params: &RuleParams) -> String {
    let time = |t: Option<i64>| t.map(format_kusto_datetime).map(Value::from);
    let status = match instance.kind {
        ReportKind::Updated => "Updated",
        ReportKind::New | ReportKind::Unchanged => "New",
    };
    Ordered(vec![
        ("TimeGenerated", format_kusto_datetime(params.as_of).into()),
        ("DisplayName", RULE_NAME.into()),
        ("AlertName", RULE_NAME.into()),
        ("AlertSeverity", SEVERITY.into()),
        ("Description", RULE_DESCRIPTION.into()),
        ("ProviderName", PRODUCT.into()),
        ("VendorName", PRODUCT.into()),
        ("ProductName", PRODUCT.into()),
        ("AlertType", RULE_ID.into()),
        ("SystemAlertId", instance.id.to_string().into()),
        ("Status", status.into()),
        ("CompromisedEntity", instance.get("DeviceName").clone()),
        ("Tactics", TACTIC.1.into()),
        (
            "Techniques",
            Value::from(vec![TECHNIQUE.0, SUB_TECHNIQUE.0])
                .to_string()
                .into(),
        ),
        (
            "StartTime",
            time(instance.times.first).unwrap_or(Value::Null),
        ),
        ("EndTime", time(instance.times.last).unwrap_or(Value::Null)),
        ("Entities", entities(instance).into()),
        (
            "ExtendedProperties",
            extended_properties(instance, params).into(),
        ),
    ])
    .to_json()
}

/// The rule's entity mappings: a host (FullName ← DeviceName, HostName, DnsDomain) and a process
/// (ProcessId ← ServiceProcessID as a string, CommandLine ← ServiceProcessCmdline), numbered
/// from "2" as Sentinel numbers an alert's entities ("1" is the alert).
pub fn entities(instance: &Instance) -> String {
    let mut host = vec![("$id", Value::from("2"))];
    for (key, column) in [
        ("FullName", "DeviceName"),
        ("HostName", "HostName"),
        ("DnsDomain", "DnsDomain"),
    ] {
        if let Value::String(s) = instance.get(column) {
            host.push((key, Value::from(s.as_str())));
        }
    }
    host.push(("Type", "host".into()));
    let mut process = vec![("$id", Value::from("3"))];
    if let Some(pid) = scalar_text(instance.get("ServiceProcessID")) {
        process.push(("ProcessId", pid.into()));
    }
    if let Value::String(s) = instance.get("ServiceProcessCmdline") {
        process.push(("CommandLine", Value::from(s.as_str())));
    }
    process.push(("Type", "process".into()));
    format!(
        "[{},{}]",
        Ordered(host).to_json(),
        Ordered(process).to_json()
    )
}

/// The alert details Sentinel adds to a scheduled rule's alerts, and the custom details: the
/// seven keys and the nine sets, each a list of strings. Cut to fit
/// [`EXTENDED_PROPERTIES_CAP`].
pub fn extended_properties(instance: &Instance, params: &RuleParams) -> String {
    let mut details: Vec<(&str, Vec<String>)> = OUTPUT_COLUMNS[..KEY_COLUMNS]
        .iter()
        .map(|column| {
            let value = scalar_text(instance.get(column)).unwrap_or_default();
            (*column, vec![value])
        })
        .collect();
    details.extend(OUTPUT_COLUMNS[SET_COLUMNS].iter().map(|column| {
        let items = instance.set(column).into_iter().map(str::to_string);
        (*column, items.collect())
    }));
    let full_sizes: Vec<usize> = details.iter().map(|(_, items)| items.len()).collect();
    loop {
        let cut: Vec<(&str, Value)> = details
            .iter()
            .zip(&full_sizes)
            .filter(|((_, items), full)| items.len() < **full)
            .map(|((name, _), full)| (*name, Value::from(*full)))
            .collect();
        let text = render(&details, &cut, params);
        let excess = text.len().saturating_sub(EXTENDED_PROPERTIES_CAP);
        if excess == 0 {
            return text;
        }
        // Cut the largest set: drop elements from its end worth at least the excess (an
        // element costs its JSON text escaped once more, as the details are a JSON string
        // inside the JSON of the properties, and a comma), at least one.
        let Some((_, largest)) = details[KEY_COLUMNS..]
            .iter_mut()
            .max_by_key(|(_, items)| items.iter().map(|s| s.len() + 3).sum::<usize>())
            .filter(|(_, items)| !items.is_empty())
        else {
            // Nothing left to cut: the keys alone exceed the cap (a command line of 64 KB).
            return text;
        };
        let mut freed = 0;
        while freed < excess && !largest.is_empty() {
            let item = largest.pop().expect("not empty");
            freed += escaped_len(&item) - 1;
        }
    }
}

fn render(details: &[(&str, Vec<String>)], cut: &[(&str, Value)], params: &RuleParams) -> String {
    let custom = Ordered(
        details
            .iter()
            .map(|(name, items)| (*name, Value::from(items.clone())))
            .collect(),
    );
    let utc = |nanos: i64| {
        DateTime::<Utc>::from_timestamp_nanos(nanos)
            .format("%Y-%m-%d %H:%M:%SZ")
            .to_string()
    };
    let mut properties = vec![
        ("Analytic Rule Name", Value::from(RULE_NAME)),
        (
            "Analytic Rule Ids",
            Value::from(vec![RULE_ID]).to_string().into(),
        ),
        ("Event Grouping", "AlertPerResult".into()),
        (
            "Query Period",
            format_kusto_timespan(params.options.lookback).into(),
        ),
        ("Query Start Time UTC", utc(params.since()).into()),
        ("Query End Time UTC", utc(params.as_of).into()),
        ("Custom Details", custom.to_json().into()),
    ];
    if !cut.is_empty() {
        properties.push((CUT_SETS_KEY, Ordered(cut.to_vec()).to_json().into()));
    }
    Ordered(properties).to_json()
}

/// A key's value as Sentinel's custom details and entities hold it: text.
fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// The length of `text` as a JSON string written inside another JSON string (with the outer
/// string's two quotes).
fn escaped_len(text: &str) -> usize {
    let once = Value::from(text).to_string();
    Value::from(once).to_string().len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::{EventTimes, RuleOptions};
    use crate::time::parse_datetime;

    fn instance(child_commandlines: Vec<String>) -> Instance {
        let mut values: Vec<Value> = vec![
            "ws01.contoso.local".into(),
            "evil.exe".into(),
            "evil.exe -k".into(),
            "2026-11-10T08:00:00.1234567Z".into(),
            4242.into(),
            "system".into(),
            "aa".into(),
        ];
        for name in &OUTPUT_COLUMNS[SET_COLUMNS] {
            values.push(match *name {
                "ChildCommandlines" => Value::from(child_commandlines.clone()),
                _ => Value::from(vec![""]),
            });
        }
        values.push("ws01".into());
        values.push("contoso.local".into());
        Instance {
            id: super::super::alert_id(&values[..KEY_COLUMNS]),
            values,
            times: EventTimes::default(),
            kind: ReportKind::New,
        }
    }

    fn params() -> RuleParams {
        RuleParams::new(
            parse_datetime("2026-11-19T00:00:00Z").unwrap(),
            RuleOptions::default(),
        )
    }

    #[test]
    fn entities_follow_the_rule_mappings() {
        let entities: Value = serde_json::from_str(&entities(&instance(vec![]))).unwrap();
        assert_eq!(
            entities,
            serde_json::json!([
                {"$id": "2", "FullName": "ws01.contoso.local", "HostName": "ws01",
                 "DnsDomain": "contoso.local", "Type": "host"},
                {"$id": "3", "ProcessId": "4242", "CommandLine": "evil.exe -k", "Type": "process"}
            ])
        );
    }

    #[test]
    fn large_sets_are_cut_to_the_cap_and_the_alert_says_so() {
        // 3,000 command lines of 100 bytes: about 300 KB of custom details.
        let lines: Vec<String> = (0..3000).map(|i| format!("cmd /c {i:0>93}")).collect();
        let text = extended_properties(&instance(lines), &params());
        assert!(text.len() <= EXTENDED_PROPERTIES_CAP, "{}", text.len());
        assert!(
            text.len() > EXTENDED_PROPERTIES_CAP - 1024,
            "{}",
            text.len()
        );
        let properties: Value = serde_json::from_str(&text).unwrap();
        let cut: Value = serde_json::from_str(properties[CUT_SETS_KEY].as_str().unwrap()).unwrap();
        assert_eq!(cut, serde_json::json!({"ChildCommandlines": 3000}));
        let custom: Value =
            serde_json::from_str(properties["Custom Details"].as_str().unwrap()).unwrap();
        let kept = custom["ChildCommandlines"].as_array().unwrap();
        assert!(kept.len() > 100 && kept.len() < 3000, "{}", kept.len());
        // The first elements are kept, in order; the keys are whole.
        assert_eq!(kept[0], format!("cmd /c {:0>93}", 0));
        assert_eq!(custom["ServiceProcessID"], serde_json::json!(["4242"]));
        assert_eq!(properties["Query Period"], "14.00:00:00");
        assert_eq!(properties["Query Start Time UTC"], "2026-11-05 00:00:00Z");
    }

    #[test]
    fn small_alerts_are_not_cut() {
        let text = extended_properties(&instance(vec!["a".into(), "b".into()]), &params());
        let properties: Value = serde_json::from_str(&text).unwrap();
        assert!(properties.get(CUT_SETS_KEY).is_none());
        let custom: Value =
            serde_json::from_str(properties["Custom Details"].as_str().unwrap()).unwrap();
        assert_eq!(custom["ChildCommandlines"], serde_json::json!(["a", "b"]));
        assert_eq!(custom.as_object().unwrap().len(), 16);
    }
}
