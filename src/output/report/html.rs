//! The report page, from maud templates: every value from the lake goes through maud's
//! escaping (text and attributes) or, for the timelines, into JSON escaped for a script
//! element and drawn as text by the page's script. The page fetches nothing: its style and
//! script are inline, and a Content-Security-Policy allows only that script (by its hash).

use base64::Engine;
use maud::{DOCTYPE, Markup, PreEscaped, html};
use serde_json::{Value, json};

use super::{ReportData, ReportedDetection, day_bins, day_index};
use crate::output::alerts::KEY_COLUMNS;
use crate::rule::metadata::{RULE_ID, RULE_NAME, SEVERITY};
use crate::time::{format_kusto_datetime, format_rfc3339, format_span};

const SCRIPT: &str = include_str!("report.js");
const STYLE: &str = include_str!("report.css");

/// The Content-Security-Policy: nothing is fetched, only the page's own script runs.
pub fn content_security_policy() -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, SCRIPT.as_bytes());
    let hash = base64::engine::general_purpose::STANDARD.encode(digest.as_ref());
    format!(
        "default-src 'none'; script-src 'sha256-{hash}'; style-src 'unsafe-inline'; \
         img-src data:; connect-src 'none'; form-action 'none'; base-uri 'none'"
    )
}

/// Detections in the order the page lists them: the least widespread first (a service seen
/// on one device tells another story than one on 300), then the fewest launches.
pub fn triage_order(detections: &mut [ReportedDetection]) {
    detections.sort_by_key(|d| {
        (
            d.prevalence.service_devices,
            d.prevalence.sha1_devices,
            d.launches,
        )
    });
}

/// The whole page.
pub fn render(report: &ReportData) -> String {
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta http-equiv="Content-Security-Policy" content=(content_security_policy());
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "huntlake: " (RULE_NAME) " — " (report.detections.len()) " detections" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                (summary(report))
                h2 { "Detections" }
                @for detection in &report.detections {
                    (section(report, detection))
                }
                footer {
                    "Written by huntlake " (env!("CARGO_PKG_VERSION")) ". Rule " (RULE_ID)
                    ". Values are shown as the lake holds them."
                }
                script type="application/json" id="huntlake-data" { (PreEscaped(data_json(report))) }
                script { (PreEscaped(SCRIPT)) }
            }
        }
    };
    page.into_string()
}

fn summary(report: &ReportData) -> Markup {
    let params = &report.params;
    let allowlist = params.options.allowlist.join(", ");
    let by_device = counted(report, "DeviceName");
    let by_service = counted(report, "ServiceProcess");
    html! {
        header {
            h1 { (RULE_NAME) " — triage report" }
            p.sub {
                (report.detections.len()) " detections · " (SEVERITY) " · MITRE ATT&CK T1543.003"
            }
        }
        dl.facts {
            dt { "Lake" } dd.mono { (report.lake) }
            dt { "As of" } dd { (format_rfc3339(params.as_of)) }
            dt { "Window" } dd { (format_rfc3339(params.since())) " → " (format_rfc3339(params.as_of)) " (" (format_span(params.options.lookback)) ")" }
            dt { "Parameters" } dd { "threshold " (params.options.threshold) "; allowlist: " (allowlist) }
            dt { "Rows scanned" } dd {
                @for (i, (table, rows)) in report.scanned.iter().enumerate() {
                    @if i > 0 { ", " }
                    (table) " " (rows)
                }
            }
            dt { "Took" } dd { (format!("{:.2} s", report.seconds)) }
        }
        h2 { "Service launches per day" }
        (launch_chart(report))
        h2 { "Least widespread first" }
        table.triage {
            thead { tr {
                th { "Service" } th { "Device" } th.num { "Launches" }
                th.num { "Devices with this service" } th.num { "Devices with this SHA-1" }
                th { "First seen in the lake" } th { "Alert" }
            } }
            // Rows in blocks of 100, each block laid out only when scrolled to.
            @for block in report.detections.chunks(100) {
            tbody {
                @for d in block {
                    tr {
                        td.mono { (d.instance.text("ServiceProcess")) }
                        td { (d.instance.text("DeviceName")) }
                        td.num { (d.launches) }
                        td.num { (d.prevalence.service_devices) }
                        td.num { (d.prevalence.sha1_devices) }
                        td { (d.prevalence.first_seen.map(format_kusto_datetime).unwrap_or_default()) }
                        td { a href=(format!("#{}", d.instance.id)) { "open" } }
                    }
                }
            }
            }
        }
        div.cols {
            div {
                h3 { "By device" }
                table { tbody { @for (name, n) in &by_device { tr { td { (name) } td.num { (n) } } } } }
            }
            div {
                h3 { "By service" }
                table { tbody { @for (name, n) in &by_service { tr { td.mono { (name) } td.num { (n) } } } } }
            }
        }
    }
}

/// Detections per value of `column`, most first.
fn counted(report: &ReportData, column: &str) -> Vec<(String, usize)> {
    let mut counts: std::collections::BTreeMap<String, usize> = Default::default();
    for d in &report.detections {
        *counts
            .entry(d.instance.text(column).to_string())
            .or_default() += 1;
    }
    let mut counts: Vec<(String, usize)> = counts.into_iter().collect();
    counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    counts
}

/// The window's service launches per day, one bar per day, the days with a detection's first
/// event marked.
fn launch_chart(report: &ReportData) -> Markup {
    let (width, height) = (900.0, 120.0);
    let days = report.days.len().max(1);
    let bar = width / days as f64;
    let max = report
        .days
        .iter()
        .map(|(_, n)| *n)
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let mut marked = vec![0usize; days];
    for d in &report.detections {
        if let Some(first) = d
            .instance
            .times
            .first
            .or_else(|| d.timeline.events.first().map(|e| e.time))
        {
            marked[day_index(&report.params, first).min(days - 1)] += 1;
        }
    }
    html! {
        svg.chart.launches viewBox=(format!("0 0 {width} {}", height + 34.0)) role="img"
            aria-label="Service launches per day in the window" {
            @for (i, (start, launches)) in report.days.iter().enumerate() {
                @let h = if *launches == 0 { 0.0 } else { (height * *launches as f64 / max).max(2.0) };
                rect class=(if marked[i] > 0 { "day marked" } else { "day" })
                    data-day=(day_label(*start)) data-launches=(launches) data-detections=(marked[i])
                    x=(format!("{:.1}", i as f64 * bar + 1.0)) y=(format!("{:.1}", height - h))
                    width=(format!("{:.1}", (bar - 2.0).max(1.0))) height=(format!("{:.1}", h)) {
                    title { (day_label(*start)) ": " (launches) " service launches, " (marked[i]) " detections" }
                }
                @if i % 2 == 0 || days <= 16 {
                    text x=(format!("{:.1}", i as f64 * bar + bar / 2.0)) y=(format!("{:.1}", height + 14.0))
                        text-anchor="middle" { (&day_label(*start)[5..]) }
                }
                @if marked[i] > 0 {
                    text x=(format!("{:.1}", i as f64 * bar + bar / 2.0)) y=(format!("{:.1}", height + 28.0))
                        text-anchor="middle" { "▲ " (marked[i]) }
                }
            }
        }
        p.sub { "Bars: service launches (GetServices rows) per UTC day of the window; red, with ▲ and a count: days holding a detection's first event." }
    }
}

fn day_label(start: i64) -> String {
    format_rfc3339(start)[..10].to_string()
}

fn section(report: &ReportData, d: &ReportedDetection) -> Markup {
    let i = &d.instance;
    let id = i.id.to_string();
    let value = |name: &str| -> String {
        match i.get(name) {
            Value::Null => "(null)".to_string(),
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    };
    let facts = [
        ("Device", value("DeviceName")),
        ("Host", value("HostName")),
        ("DNS domain", value("DnsDomain")),
        ("Service", value("ServiceProcess")),
        ("Command line", value("ServiceProcessCmdline")),
        ("User", value("ServiceProcessUser")),
        ("SHA-1", value("ServiceProcessSHA1")),
        ("Created", value("ServiceProcessCreationTime")),
        ("Process id", value("ServiceProcessID")),
        (
            "Launches in the window",
            format!(
                "{} (rare: fewer than {})",
                d.launches, report.params.options.threshold
            ),
        ),
        (
            "Events",
            format!(
                "{} → {}",
                i.times.first.map(format_kusto_datetime).unwrap_or_default(),
                i.times.last.map(format_kusto_datetime).unwrap_or_default()
            ),
        ),
        ("Alert id", id.clone()),
    ];
    html! {
        details.detection id=(id) {
            summary {
                span.sev { (SEVERITY) } " "
                b.mono { (i.text("ServiceProcess")) } " on " (i.text("DeviceName"))
                " — " (d.launches) " launches; on " (d.prevalence.service_devices) " device(s) as a service, SHA-1 on "
                (d.prevalence.sha1_devices)
            }
            div.body {
                div.cols {
                    div {
                        h3 { "The instance" }
                        dl.facts.mono { @for (name, text) in &facts { dt { (name) } dd { (text) } } }
                    }
                    div {
                        h3 { "Fleet prevalence" }
                        dl.facts {
                            dt { "Devices running this service" } dd { (d.prevalence.service_devices) " in the window" }
                            dt { "Devices running this SHA-1" } dd { (d.prevalence.sha1_devices) " in the window (as a service or not)" }
                            dt { "First seen in the lake" } dd { (d.prevalence.first_seen.map(format_kusto_datetime).unwrap_or_else(|| "never".into())) }
                        }
                        h3 { "What the rule gathered" }
                        ul.sets { }
                    }
                }
                h3 { "Timeline" }
                p.sub { "Its events in the window, at most " (report.max_events) " per kind (the earliest), with the full counts." }
                div.timeline data-for=(id) {
                    noscript { "The timeline is drawn by the page's script." }
                }
                h3 { "Pivots" }
                p.sub { "This instance's events in each table, to paste into " code { "huntlake sql" } "." }
                div.pivots { }
            }
        }
    }
}

/// The timelines and the window, as JSON safe inside a script element: `<`, `>` and `&` (and
/// the two line separators JavaScript once treated as line ends) are written as `\u` escapes,
/// so no value can close the element or start markup.
fn data_json(report: &ReportData) -> String {
    let (first_day, days) = day_bins(&report.params);
    let labels: Vec<String> = report
        .days
        .iter()
        .map(|(start, _)| day_label(*start))
        .collect();
    // Every string once: DLL paths, hashes and command lines repeat across detections.
    let mut strings = Strings::default();
    let timelines: serde_json::Map<String, Value> = report
        .detections
        .iter()
        .map(|d| {
            let events = &d.timeline.events;
            // Times as 100-ns ticks after the first day, each after the one before (the
            // events are in time order), so that most are short numbers.
            let mut previous = 0i64;
            let ticks: Vec<i64> = events
                .iter()
                .map(|e| {
                    let tick = (e.time - first_day).div_euclid(100);
                    let delta = tick - previous;
                    previous = tick;
                    delta
                })
                .collect();
            let kinds: Vec<usize> = events.iter().map(|e| e.kind).collect();
            let whats: Vec<usize> = events.iter().map(|e| strings.index(&e.what)).collect();
            let details: Vec<usize> = events.iter().map(|e| strings.index(&e.detail)).collect();
            // The sets, bounded like the timeline (the whole sets are in the rule's output):
            // the first elements, and how many there are.
            let sets: serde_json::Map<String, Value> = d
                .instance
                .sets()
                .map(|(name, items)| {
                    let items: Vec<&str> = items.into_iter().filter(|i| !i.is_empty()).collect();
                    let shown: Vec<usize> = items
                        .iter()
                        .take(report.max_events)
                        .map(|item| strings.index(item))
                        .collect();
                    (name.to_string(), json!([items.len(), shown]))
                })
                .collect();
            (
                d.instance.id.to_string(),
                json!({
                    "keys": d.instance.values[..KEY_COLUMNS],
                    "sets": sets,
                    "totals": d.timeline.totals,
                    "ticks": ticks,
                    "kinds": kinds,
                    "whats": whats,
                    "details": details,
                }),
            )
        })
        .collect();
    let data = json!({
        "firstDay": first_day.div_euclid(1_000_000),
        "days": days,
        "labels": labels,
        "tables": crate::rule::metadata::DATA_SOURCES,
        "strings": strings.list,
        "timelines": timelines,
    });
    escape_for_script(&data.to_string())
}

/// A table of distinct strings, referred to by index.
#[derive(Default)]
struct Strings {
    list: Vec<String>,
    index: std::collections::HashMap<String, usize>,
}

impl Strings {
    fn index(&mut self, text: &str) -> usize {
        if let Some(&i) = self.index.get(text) {
            return i;
        }
        self.list.push(text.to_string());
        self.index.insert(text.to_string(), self.list.len() - 1);
        self.list.len() - 1
    }
}

/// JSON text made safe to embed in a `<script>` element.
pub fn escape_for_script(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_data_cannot_close_its_element() {
        let json = Value::from("</script><script>alert(1)</script>&\u{2028}").to_string();
        let safe = escape_for_script(&json);
        assert!(!safe.contains('<') && !safe.contains('>') && !safe.contains('&'));
        // Still the same JSON value.
        let back: Value = serde_json::from_str(&safe).unwrap();
        assert_eq!(back, "</script><script>alert(1)</script>&\u{2028}");
    }

    #[test]
    fn the_policy_allows_the_page_script_and_nothing_else() {
        let csp = content_security_policy();
        assert!(csp.starts_with("default-src 'none'; script-src 'sha256-"));
        assert!(csp.contains("connect-src 'none'"));
    }
}
