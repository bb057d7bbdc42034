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
/// Rows of the summary's tables (every detection has its section whatever their number).
const SUMMARY_ROWS: usize = 100;
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
                p.sub { "In triage order, the least widespread first. Click a detection to open it." }
                noscript { p { "The sections' details are drawn by the page's script." } }
                @for detection in &report.detections {
                    (section(detection))
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
        @if report.detections.len() > SUMMARY_ROWS {
            p.sub { "The first " (SUMMARY_ROWS) " of " (report.detections.len()) "; every detection has its section below, in this order." }
        }
        table.triage {
            thead { tr {
                th { "Service" } th { "Device" } th.num { "Launches" }
                th.num { "Devices with this service" } th.num { "Devices with this SHA-1" }
                th { "First seen in the lake" } th { "Alert" }
            } }
            tbody {
                @for d in report.detections.iter().take(SUMMARY_ROWS) {
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
        div.cols {
            div {
                h3 { "By device" }
                (counts_table(&by_device, ""))
            }
            div {
                h3 { "By service" }
                (counts_table(&by_service, "mono"))
            }
        }
    }
}

/// The busiest values of a count, most first, and how many more there are.
fn counts_table(counts: &[(String, usize)], class: &str) -> Markup {
    html! {
        table { tbody {
            @for (name, n) in counts.iter().take(SUMMARY_ROWS) {
                tr { td class=(class) { (name) } td.num { (n) } }
            }
        } }
        @if counts.len() > SUMMARY_ROWS {
            p.more { "… and " (counts.len() - SUMMARY_ROWS) " more" }
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

/// A detection's section: its summary line, in the page; its body (the instance, prevalence,
/// sets, timeline and pivots) is drawn by the page's script from the embedded data, when the
/// section opens (all at once in a short report), so that a report of 10,000 detections stays
/// a page the browser parses in moments.
fn section(d: &ReportedDetection) -> Markup {
    let i = &d.instance;
    html! {
        // A plain element with a toggle, not <details>: Chromium builds a shadow tree for each
        // <details>, which at 10,000 sections doubles the time to parse the page.
        section.detection id=(i.id.to_string()) {
            div.summary role="button" tabindex="0" aria-expanded="false" {
                span.sev { (SEVERITY) } " "
                b.mono { (i.text("ServiceProcess")) } " on " (i.text("DeviceName"))
                " — " (d.launches) " launches; on " (d.prevalence.service_devices) " device(s) as a service, SHA-1 on "
                (d.prevalence.sha1_devices)
            }
            div.body {}
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
            let actions: Vec<usize> = events.iter().map(|e| strings.index(&e.action)).collect();
            let details: Vec<usize> = events.iter().map(|e| strings.index(&e.detail)).collect();
            let in_timeline: std::collections::HashSet<&str> = events
                .iter()
                .flat_map(|e| [e.what.as_str(), e.detail.as_str()])
                .collect();
            // The sets, bounded like the timeline (the whole sets are in the rule's output):
            // those of their elements the timeline shows first (the page then holds each text
            // once), and how many there are.
            let sets: serde_json::Map<String, Value> = d
                .instance
                .sets()
                .map(|(name, items)| {
                    let (mut shown, others): (Vec<&str>, Vec<&str>) = items
                        .into_iter()
                        .filter(|i| !i.is_empty())
                        .partition(|i| in_timeline.contains(i));
                    let total = shown.len() + others.len();
                    shown.extend(others);
                    let shown: Vec<usize> = shown
                        .into_iter()
                        .take(report.max_events)
                        .map(|item| strings.index(item))
                        .collect();
                    (name.to_string(), json!([total, shown]))
                })
                .collect();
            let i = &d.instance;
            let time = |t: Option<i64>| t.map(format_kusto_datetime);
            (
                d.instance.id.to_string(),
                json!({
                    "keys": i.values[..KEY_COLUMNS],
                    "host": [i.text("HostName"), i.text("DnsDomain")],
                    "launches": d.launches,
                    "events": [time(i.times.first), time(i.times.last)],
                    "prevalence": [
                        d.prevalence.service_devices,
                        d.prevalence.sha1_devices,
                        time(d.prevalence.first_seen),
                    ],
                    "sets": sets,
                    "totals": d.timeline.totals,
                    "ticks": ticks,
                    "kinds": kinds,
                    "whats": whats,
                    "actions": actions,
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
        "threshold": report.params.options.threshold,
        "maxEvents": report.max_events,
        "severity": SEVERITY,
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
