//! `healthcheck` → a readinessProbe for dependencies (never a liveness probe: Docker never
//! restarts an unhealthy container), and the budget after which krun calls it unhealthy.

use std::time::Duration;

use k8s_openapi::api::core::v1::{ExecAction, Probe};

use crate::compose::model::Healthcheck;
use crate::compose::normalize::units::parse_duration;

/// A healthcheck in force, with compose's defaults applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Health {
    /// The readinessProbe.
    pub probe: Probe,
    /// start_period + retries × interval + timeout.
    pub budget: Duration,
}

/// A compose (Go) duration from the canonical model; negative or malformed ones are `None`.
pub fn go_duration(s: &str) -> Option<Duration> {
    let ns = u64::try_from(parse_duration(s)?).ok()?;
    Some(Duration::from_nanos(ns))
}

fn dur(v: Option<&str>, default: Duration) -> Duration {
    v.and_then(go_duration).unwrap_or(default)
}

fn secs(d: Duration) -> i32 {
    i32::try_from(d.as_secs() + u64::from(d.subsec_nanos() > 0))
        .unwrap_or(i32::MAX)
        .max(1)
}

/// The probe for a healthcheck; `None` when there is none (`NONE`, `disable`, no test).
pub fn health(h: Option<&Healthcheck>) -> Option<Health> {
    let h = h.filter(|h| !h.disable)?;
    let test = h.test.as_deref()?;
    let command = match test {
        [] => return None,
        [first, ..] if first == "NONE" => return None,
        [first, rest @ ..] if first == "CMD" => rest.to_vec(),
        [first, rest @ ..] if first == "CMD-SHELL" => {
            vec!["/bin/sh".into(), "-c".into(), rest.join(" ")]
        }
        // A plain string is CMD-SHELL.
        all => vec!["/bin/sh".into(), "-c".into(), all.join(" ")],
    };
    let interval = dur(h.interval.as_deref(), Duration::from_secs(30));
    let timeout = dur(h.timeout.as_deref(), Duration::from_secs(30));
    let start_period = dur(h.start_period.as_deref(), Duration::ZERO);
    let start_interval = dur(h.start_interval.as_deref(), Duration::from_secs(5));
    let retries = h.retries.unwrap_or(3).max(1);
    let period = if start_period.is_zero() {
        interval
    } else {
        start_interval
    };
    let probe = Probe {
        exec: Some(ExecAction {
            command: Some(command),
        }),
        period_seconds: Some(secs(period)),
        timeout_seconds: Some(secs(timeout)),
        failure_threshold: Some(i32::try_from(retries).unwrap_or(i32::MAX)),
        success_threshold: Some(1),
        initial_delay_seconds: Some(0),
        ..Probe::default()
    };
    let budget = start_period + interval * u32::try_from(retries).unwrap_or(u32::MAX) + timeout;
    Some(Health { probe, budget })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hc(test: &[&str]) -> Healthcheck {
        Healthcheck {
            test: Some(test.iter().map(|s| s.to_string()).collect()),
            ..Healthcheck::default()
        }
    }

    #[test]
    fn cmd_is_argv_and_shell_forms_use_sh() {
        let h = health(Some(&hc(&["CMD", "pg_isready", "-U", "app"]))).unwrap();
        assert_eq!(
            h.probe.exec.unwrap().command.unwrap(),
            ["pg_isready", "-U", "app"]
        );
        let h = health(Some(&hc(&["CMD-SHELL", "curl -f localhost || exit 1"]))).unwrap();
        assert_eq!(
            h.probe.exec.unwrap().command.unwrap(),
            ["/bin/sh", "-c", "curl -f localhost || exit 1"]
        );
        assert!(health(Some(&hc(&["NONE"]))).is_none());
    }

    #[test]
    fn defaults_and_budget() {
        let mut c = hc(&["CMD", "true"]);
        let h = health(Some(&c)).unwrap();
        assert_eq!(h.probe.period_seconds, Some(30));
        assert_eq!(h.budget, Duration::from_secs(30 * 3 + 30));
        c.start_period = Some("10s".into());
        c.interval = Some("1.5s".into());
        let h = health(Some(&c)).unwrap();
        assert_eq!(h.probe.period_seconds, Some(5));
        assert_eq!(h.budget, Duration::from_millis(10_000 + 4_500 + 30_000));
    }
}
