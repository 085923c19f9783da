//! A pod's recent Events, appended to fail-fast errors so users see why without `kubectl
//! describe`.

use k8s_openapi::api::core::v1::Event;
use kube::api::ListParams;

use super::client::Connection;

/// How many events to show.
const SHOWN: usize = 5;

/// The last few events about `pod`, one per line and indented, after a heading; empty when
/// there are none or they cannot be read (the error they decorate matters more).
pub async fn recent(conn: &Connection, pod: &str) -> String {
    let params = ListParams::default().fields(&format!("involvedObject.name={pod}"));
    let Ok(list) = conn.api::<Event>().list(&params).await else {
        return String::new();
    };
    format_events(list.items)
}

fn format_events(mut events: Vec<Event>) -> String {
    events.sort_by_key(|e| {
        e.last_timestamp
            .as_ref()
            .map(|t| t.0)
            .or(e.event_time.as_ref().map(|t| t.0))
    });
    let lines: Vec<String> = events
        .iter()
        .rev()
        .take(SHOWN)
        .rev()
        .map(|e| {
            format!(
                "\n    {} {}: {}",
                e.type_.as_deref().unwrap_or("Normal"),
                e.reason.as_deref().unwrap_or(""),
                e.message.as_deref().unwrap_or("").trim_end()
            )
        })
        .collect();
    if lines.is_empty() {
        String::new()
    } else {
        format!("\n  recent events:{}", lines.concat())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shows_the_latest_events_in_order() {
        let ev = |i: u32| -> Event {
            serde_json::from_value(serde_json::json!({
                "metadata": {"name": format!("e{i}")},
                "involvedObject": {},
                "type": "Warning", "reason": format!("R{i}"), "message": format!("m{i}"),
                "lastTimestamp": format!("2026-01-01T00:00:{i:02}Z"),
            }))
            .unwrap()
        };
        let text = format_events((0..8).rev().map(ev).collect());
        assert!(text.starts_with("\n  recent events:"));
        assert!(!text.contains("R2:"));
        let r3 = text.find("R3: m3").unwrap();
        let r7 = text.find("R7: m7").unwrap();
        assert!(r3 < r7);
        assert_eq!(format_events(vec![]), "");
    }
}
