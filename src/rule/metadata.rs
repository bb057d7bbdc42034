//! What Sentinel knows about the rule besides its query: its id, name, description, severity,
//! MITRE ATT&CK mapping and schedule, as published with the analytic rule. Alerts carry these.

use uuid::Uuid;

/// The analytic rule's id.
pub const RULE_ID: &str = "91a451e3-178f-41b2-9e5d-da97d75b9971";

/// [`RULE_ID`] as a UUID: the namespace of the alert ids (UUIDv5).
pub const RULE_UUID: Uuid = Uuid::from_u128(0x91a451e3_178f_41b2_9e5d_da97d75b9971);

pub const RULE_NAME: &str = "Rare Process as a Service";

pub const RULE_VERSION: &str = "1.0.0";

pub const RULE_DESCRIPTION: &str = "Looks for rarely seen processes which are launched as a \
     service. The whitelisted process list needs to be updated for each environment. Author: \
     Jouni Mikkola (threathunt.blog/rare-process-launch-as-a-service)";

pub const SEVERITY: &str = "Medium";

/// The MITRE ATT&CK tactic: (id, name).
pub const TACTIC: (&str, &str) = ("TA0003", "Persistence");

/// The technique and its sub-technique: (id, name).
pub const TECHNIQUE: (&str, &str) = ("T1543", "Create or Modify System Process");
pub const SUB_TECHNIQUE: (&str, &str) = ("T1543.003", "Windows Service");

/// How often Sentinel runs the rule (queryFrequency), as a Kusto timespan.
pub const QUERY_FREQUENCY: &str = "1d";

/// The tables the rule reads.
pub const DATA_SOURCES: [&str; 4] = [
    "DeviceProcessEvents",
    "DeviceNetworkEvents",
    "DeviceFileEvents",
    "DeviceImageLoadEvents",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_namespace_is_the_rule_id() {
        assert_eq!(RULE_UUID.to_string(), RULE_ID);
    }
}
