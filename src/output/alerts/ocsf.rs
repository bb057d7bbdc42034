//! An instance as an OCSF 1.8.0 Detection Finding (class 2004): the finding (the rule, its
//! ATT&CK mapping, first and last event), and the evidence the rule gathered: the device, the
//! service process, its children, the endpoints it reached, the files it wrote and the modules
//! it loaded. The rule's sets do not pair their elements (a file name with its folder and
//! SHA-1), so each element is its own evidence, paired only when a set holds one element; the
//! rule's whole row is kept in `unmapped`.

use std::net::IpAddr;

use serde_json::{Value, json};

use super::{Instance, Ordered, ReportKind};
use crate::rule::metadata::{
    DATA_SOURCES, RULE_DESCRIPTION, RULE_ID, RULE_NAME, RULE_VERSION, SUB_TECHNIQUE, TACTIC,
    TECHNIQUE,
};
use crate::rule::{OUTPUT_COLUMNS, RuleParams};
use crate::time::parse_datetime;

/// The OCSF schema version the findings follow.
pub const OCSF_VERSION: &str = "1.8.0";

const CLASS_UID: i64 = 2004;
const FILE_TYPE_REGULAR: i64 = 1;
const HASH_SHA1: i64 = 2;

/// The Detection Finding of `instance`, as one line of JSON.
pub fn finding(instance: &Instance, params: &RuleParams) -> String {
    let (activity_id, activity) = match instance.kind {
        ReportKind::Updated => (2, "Update"),
        ReportKind::New | ReportKind::Unchanged => (1, "Create"),
    };
    let millis = |nanos: i64| nanos.div_euclid(1_000_000);
    let mut info = vec![
        ("uid", Value::from(instance.id.to_string())),
        ("title", RULE_NAME.into()),
        ("desc", RULE_DESCRIPTION.into()),
        ("types", json!(["Rare process launched as a service"])),
    ];
    if let Some(first) = instance.times.first {
        info.push(("first_seen_time", millis(first).into()));
    }
    if let Some(last) = instance.times.last {
        info.push(("last_seen_time", millis(last).into()));
    }
    info.extend([
        (
            "analytic",
            json!({"type_id": 1, "type": "Rule", "uid": RULE_ID, "name": RULE_NAME,
                   "version": RULE_VERSION}),
        ),
        (
            "attacks",
            json!([{
                "tactic": {"uid": TACTIC.0, "name": TACTIC.1},
                "technique": {"uid": TECHNIQUE.0, "name": TECHNIQUE.1},
                "sub_technique": {"uid": SUB_TECHNIQUE.0, "name": SUB_TECHNIQUE.1},
            }]),
        ),
        ("data_sources", json!(DATA_SOURCES)),
    ]);
    let message = format!(
        "Rare service {} on {}",
        instance.text("ServiceProcess"),
        instance.text("DeviceName")
    );
    let unmapped: serde_json::Map<String, Value> = OUTPUT_COLUMNS
        .iter()
        .zip(&instance.values)
        .map(|(name, value)| (name.to_string(), value.clone()))
        .collect();
    Ordered(vec![
        ("activity_id", activity_id.into()),
        ("activity_name", activity.into()),
        ("category_uid", 2.into()),
        ("category_name", "Findings".into()),
        ("class_uid", CLASS_UID.into()),
        ("class_name", "Detection Finding".into()),
        ("type_uid", (CLASS_UID * 100 + activity_id).into()),
        ("type_name", format!("Detection Finding: {activity}").into()),
        ("severity_id", 3.into()),
        ("severity", "Medium".into()),
        ("status_id", 1.into()),
        ("status", "New".into()),
        ("time", millis(params.as_of).into()),
        ("message", message.into()),
        ("is_alert", true.into()),
        (
            "metadata",
            json!({
                "product": {"name": "huntlake", "vendor_name": "huntlake",
                            "version": env!("CARGO_PKG_VERSION")},
                "version": OCSF_VERSION,
            }),
        ),
        (
            "finding_info",
            serde_json::to_value(Ordered(info)).expect("JSON"),
        ),
        ("evidences", Value::Array(evidences(instance))),
        ("unmapped", Value::Object(unmapped)),
    ])
    .to_json()
}

/// What the rule gathered, one evidence per thing.
fn evidences(instance: &Instance) -> Vec<Value> {
    let mut evidences = vec![json!({
        "name": "Device",
        "device": {
            "type_id": 0,
            "name": instance.text("DeviceName"),
            "hostname": instance.text("HostName"),
            "domain": instance.text("DnsDomain"),
        },
    })];
    let service = service_process(instance);
    evidences.push(json!({"name": "Service process", "process": service}));
    let parent = json!({"uid": service["uid"], "pid": service.get("pid"), "name": service["name"]});
    let parent = strip_nulls(parent);
    // Children have no process id in the rule's output: each gets a uid derived from the
    // alert id and what is known of it, stable from run to run.
    let child = |kind: &str, field: &str, value: &str| {
        let uid = super::uuid_v5(&instance.id, format!("{kind}\u{0}{value}").as_bytes());
        let mut process = json!({"uid": uid.to_string(), "parent_process": parent});
        process[field] = value.into();
        json!({"name": kind, "process": process})
    };
    for name in non_empty(instance.set("ChildProcesses")) {
        evidences.push(child("Child process", "name", name));
    }
    for line in non_empty(instance.set("ChildCommandlines")) {
        evidences.push(child("Child process command line", "cmd_line", line));
    }
    for address in non_empty(instance.set("ConnectedAddresses")) {
        // OCSF wants an IP address; anything else stays in `unmapped` only.
        if address.parse::<IpAddr>().is_ok() {
            evidences.push(json!({"name": "Connected address", "dst_endpoint": {"ip": address}}));
        }
    }
    for url in non_empty(instance.set("ConnectedUrls")) {
        evidences.push(json!({"name": "Connected URL", "url": {"url_string": url}}));
    }
    evidences.extend(files(
        "File written",
        &instance.set("FilesModified"),
        &instance.set("FileModFolderPath"),
        &instance.set("FileModHA1s"),
    ));
    evidences.extend(files(
        "Module loaded",
        &instance.set("DLLsLoaded"),
        &[],
        &instance.set("DLLSHA1"),
    ));
    evidences
}

/// The service process: its id, command line, image and hash, creation time and user.
fn service_process(instance: &Instance) -> Value {
    let mut process = json!({
        "uid": instance.id.to_string(),
        "name": instance.text("ServiceProcess"),
        "cmd_line": instance.text("ServiceProcessCmdline"),
    });
    if let Some(pid) = instance.get("ServiceProcessID").as_i64() {
        process["pid"] = pid.into();
    }
    if let Some(created) = instance
        .get("ServiceProcessCreationTime")
        .as_str()
        .and_then(|t| parse_datetime(t).ok())
    {
        process["created_time"] = created.div_euclid(1_000_000).into();
    }
    let mut file = json!({"name": instance.text("ServiceProcess"), "type_id": FILE_TYPE_REGULAR});
    let sha1 = instance.text("ServiceProcessSHA1");
    if !sha1.is_empty() {
        file["hashes"] = json!([{"algorithm_id": HASH_SHA1, "algorithm": "SHA-1", "value": sha1}]);
    }
    process["file"] = file;
    let user = instance.text("ServiceProcessUser");
    if !user.is_empty() {
        process["user"] = json!({"name": user});
    }
    process
}

/// File evidences from a rule's unpaired sets of names, paths and SHA-1s: a name or a path
/// each; a hash goes on the file when the sets hold exactly one file and one hash.
fn files(kind: &str, names: &[&str], paths: &[&str], hashes: &[&str]) -> Vec<Value> {
    let names = non_empty(names.to_vec());
    let paths = non_empty(paths.to_vec());
    let hashes = non_empty(hashes.to_vec());
    let mut files: Vec<Value> = paths
        .iter()
        .map(|path| json!({"name": base_name(path), "path": path, "type_id": FILE_TYPE_REGULAR}))
        .collect();
    // A name whose path is already there is not a second file.
    for name in &names {
        if !files.iter().any(|f| f["name"] == *name) {
            files.push(json!({"name": name, "type_id": FILE_TYPE_REGULAR}));
        }
    }
    if let ([file], [hash]) = (files.as_mut_slice(), hashes.as_slice()) {
        file["hashes"] = json!([{"algorithm_id": HASH_SHA1, "algorithm": "SHA-1", "value": hash}]);
    }
    files
        .into_iter()
        .map(|file| json!({"name": kind, "file": file}))
        .collect()
}

fn non_empty(items: Vec<&str>) -> Vec<&str> {
    items.into_iter().filter(|s| !s.is_empty()).collect()
}

/// The last component of a Windows or POSIX path.
fn base_name(path: &str) -> &str {
    path.rsplit(['\\', '/'])
        .find(|part| !part.is_empty())
        .unwrap_or(path)
}

fn strip_nulls(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            Value::Object(map.into_iter().filter(|(_, v)| !v.is_null()).collect())
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unpaired_sets_give_one_evidence_each_and_a_single_file_gets_its_hash() {
        let many = files("File written", &["a.dll", "b.dll"], &[], &["h1", "h2"]);
        assert_eq!(many.len(), 2);
        assert!(many.iter().all(|e| e["file"].get("hashes").is_none()));
        let one = files("File written", &["x.exe"], &["C:\\Temp\\x.exe"], &["h1"]);
        assert_eq!(one.len(), 1, "{one:?}");
        assert_eq!(one[0]["file"]["path"], "C:\\Temp\\x.exe");
        assert_eq!(one[0]["file"]["hashes"][0]["value"], "h1");
        assert_eq!(files("File written", &[""], &[""], &[""]).len(), 0);
    }
}
