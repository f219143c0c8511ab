//! What `midge run --help` and `midge validate --help` say beyond each
//! flag (what a scenario is, the broker URLs, the exit statuses), and the
//! parsers of flag values.

use crate::report::compare::FailOn;
use crate::scenario::parse_duration;

/// What `run --help` and `validate --help` say of a scenario.
pub(super) const SCENARIO_HELP: &str = "\
A scenario is a TOML file: the broker, groups of clients (how many, how fast
they connect, what each publishes and subscribes to), how long to publish,
faults and expectations. The shipped ones are in scenarios/ (start with
scenarios/quickstart.toml); the user guide under docs/ has the scenario
reference and what every report figure means.

Broker URLs (--broker or [broker] url):
  mqtt://HOST[:PORT]       MQTT over TCP (default port 1883; tcp:// is the same)
  mqtts://HOST[:PORT]      MQTT over TLS (default 8883; ssl:// and tls:// are the same)
  ws://HOST[:PORT][/PATH]  MQTT over WebSocket (default 80, path /mqtt)
  wss://HOST[:PORT][/PATH] MQTT over WebSocket over TLS (default 443, path /mqtt)
  embedded                 midge's in-process broker (+tls, +ws, +wss: that listener)
  spawn:mosquitto          a mosquitto midge starts and stops (+tls: a TLS listener)
Several running brokers (a cluster's nodes): --broker URL,URL or --broker
repeated, or [broker] url = [\"URL\", \"URL\"]; each group's clients spread
over them round-robin (a group's own `broker = \"URL\"` keeps its clients on one).

Without a duration (no `duration` in the file, no --duration, no [[stage]]),
a run publishes until Ctrl-C (or until every counted publisher is done),
then drains and writes its report as usual.";

/// The exit statuses of a run (`runner::exit_code`, `cli`).
pub(super) const EXIT_HELP: &str = "\
Exit status:
  0    finished, every expectation holds (without [expect]: the QoS contract)
  1    finished, an expectation failed (or nothing due was published)
  2    bad input: scenario or flags, unreachable broker, no client could connect
  130  stopped by Ctrl-C (SIGINT) before its duration was up (the report of what ran is written)
  143  stopped by SIGTERM, as Ctrl-C
  129  stopped by SIGHUP, as Ctrl-C
A second signal quits at once, without a report. A run without a duration ends
with Ctrl-C as planned: 0 or 1 as above.";

/// RFC 3339 to Unix µs.
pub(super) fn parse_start_at(s: &str) -> Result<u64, String> {
    let t =
        humantime::parse_rfc3339_weak(s).map_err(|e| format!("{s:?}: {e} (RFC 3339, e.g. 2026-12-01T10:00:00Z)"))?;
    let us = t.duration_since(std::time::UNIX_EPOCH).map_err(|_| format!("{s:?}: before 1970"))?.as_micros();
    Ok(us as u64)
}

pub(super) fn parse_duration_arg(s: &str) -> Result<std::time::Duration, String> {
    parse_duration(s)
}

/// `--workers N`: at least one.
pub(super) fn parse_workers(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(0) => Err("0 workers would run no client: give 1 or more (default: one per core)".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("{s:?} is not a number of worker threads (1 or more)")),
    }
}

pub(super) fn parse_fail_on(s: &str) -> Result<FailOn, String> {
    s.parse()
}
