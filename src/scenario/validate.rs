//! Checks that cross the boundaries of one value (which the types cannot
//! see), one function per section of the file. The first error found wins,
//! in file order: top-level keys, `[broker]`, each `[[group]]`, each
//! `[[fault]]`. (`[expect] findings` and `shows` are checked by their type: only the kinds midge
//! reports parse, and only the rules it checks; a kind in both is refused, and
//! a rule no group's protocol has.)

use super::{
    parse_source_addrs, BrokerSpec, CapacitySpec, CapacityVary, FaultSpec, Group, IdScheme, PublishSpec, ScenarioError,
    ScenarioFile, MAX_BATCH_WINDOW, MAX_STEPS_LIMIT,
};
use toml::Spanned;

/// The largest Maximum Packet Size MQTT 5 allows (§3.1.2.11.4: the
/// largest remaining length, 268,435,455, plus a fixed header of 5 bytes).
pub const MAX_PACKET_SIZE: u32 = 268_435_460;

/// A group's `rcvbuf` / `sndbuf`, in bytes: from 1 KiB (Linux keeps at
/// least about 2 KiB whatever is asked) to 1 GiB (the kernel doubles it,
/// which must fit its int; it clamps to `net.core.rmem_max` anyway).
pub const SOCKET_BUFFER_BYTES: std::ops::RangeInclusive<u32> = 1024..=1 << 30;

/// Prefixes a group's errors with its name.
fn in_group(group: &Group, m: String) -> String {
    format!("group {:?}: {m}", group.name)
}

impl ScenarioFile {
    /// Checks that cross the boundaries of one value (which the types cannot see).
    pub(super) fn validate(&self) -> Result<(), ScenarioError> {
        self.validate_top()?;
        self.validate_broker()?;
        self.validate_groups()?;
        self.validate_client_total()?;
        for f in &self.scenario.faults {
            self.validate_fault(f)?;
        }
        if let Some(c) = &self.scenario.capacity {
            self.validate_capacity(c.span().start, c.get_ref())?;
        }
        self.validate_stages()
    }

    /// `name`, at least one `[[group]]`, `batch_window`.
    fn validate_top(&self) -> Result<(), ScenarioError> {
        let s = &self.scenario;
        if s.name.trim().is_empty() {
            return Err(self.error_at(0, "`name` must not be empty"));
        }
        if s.groups.is_empty() {
            return Err(self.error_at(self.text.len(), "no [[group]]: a scenario needs at least one group of clients"));
        }
        let expect_at = || self.text.find("[expect]").unwrap_or(0);
        if let Some(k) = s.expect.shows.iter().find(|k| s.expect.findings.contains(&k.kind)) {
            let msg = format!(
                "[expect]: {} is in `findings` (must not appear) and in `shows` (must appear): no run could pass",
                k.kind
            );
            return Err(self.error_at(expect_at(), msg));
        }
        let protocols: Vec<_> = s.groups.iter().map(|g| g.get_ref().protocol.unwrap_or(s.protocol)).collect();
        if let Some(msg) = s.expect.shows.iter().find_map(|k| k.unreachable(&protocols)) {
            return Err(self.error_at(expect_at(), format!("[expect] shows: {msg}")));
        }
        if let Some(w) = &s.batch_window {
            if w.get_ref().0 > MAX_BATCH_WINDOW {
                return Err(self.error_at(
                    w.span().start,
                    format!(
                        "`batch_window` must be at most {}ms: it bounds latency resolution",
                        MAX_BATCH_WINDOW.as_millis()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// `[broker]`: `source_addrs`, then `url`.
    fn validate_broker(&self) -> Result<(), ScenarioError> {
        let broker = &self.scenario.broker;
        self.validate_credentials("broker", &broker.password, [&broker.username_env, &broker.username_file])?;
        if let (Some(name), true) = (&broker.username, broker.username_env.is_some() || broker.username_file.is_some())
        {
            let at = self.text.find(name.as_str()).unwrap_or(0);
            return Err(
                self.error_at(at, "broker: give the user name once: `username`, `username_env` or `username_file`")
            );
        }
        self.validate_credentials("broker", &None, [&broker.password_env, &broker.password_file])?;
        if let Some(list) = &broker.source_addrs {
            if let Err(e) = parse_source_addrs(list) {
                let at = self.text.find(list.as_str()).unwrap_or(0);
                return Err(self.error_at(at, format!("broker.source_addrs: {e}")));
            }
        }
        for url in broker.url.iter().flat_map(|u| &u.0) {
            let at = self.text.find(url.as_str()).unwrap_or(0);
            match BrokerSpec::parse(url) {
                Err(e) => return Err(self.error_at(at, e)),
                Ok(spec) if spec.is_embedded() && spec.wire().ws() && self.any_mqtt5() => {
                    return Err(self.error_at(
                        at,
                        format!("broker {url:?}: the embedded broker's WebSocket listener speaks MQTT 3.1.1 only (rumqttd 0.20); set protocol = \"3.1.1\""),
                    ))
                }
                Ok(_) => {}
            }
        }
        if let Some((Err(e), urls)) = broker.url.as_ref().map(|u| (u.parse(), &u.0)) {
            // At the URL the error names (an empty list: at `url`).
            let named = urls.iter().find(|u| e.contains(&format!("{u:?}"))).map(|u| format!("{u:?}"));
            let at = self.text.find(named.as_deref().unwrap_or("url")).unwrap_or(0);
            return Err(self.error_at(at, e));
        }
        for g in &self.scenario.groups {
            if let Some(url) = &g.get_ref().broker {
                let own = |e: String| self.error_at(url.span().start, in_group(g.get_ref(), e));
                match BrokerSpec::parse(url.get_ref()).map_err(own)? {
                    BrokerSpec::External { .. } => {}
                    _ => return Err(own(format!("`broker` {:?}: a group's own broker is a URL of a broker already running (mqtt://, mqtts://, ws://, wss://); embedded and spawn:mosquitto go in [broker] url", url.get_ref()))),
                }
            }
        }
        Ok(())
    }

    /// Every `[[group]]` in order: a unique, non-empty name, then the group itself.
    fn validate_groups(&self) -> Result<(), ScenarioError> {
        let mut names = std::collections::HashSet::new();
        for g in &self.scenario.groups {
            let at = g.span().start;
            let group = g.get_ref();
            if group.name.trim().is_empty() {
                return Err(self.error_at(at, "group `name` must not be empty"));
            }
            if !names.insert(group.name.as_str()) {
                return Err(
                    self.error_at(at, format!("group name {:?} is used twice: names must be unique", group.name))
                );
            }
            self.validate_group(at, group)?;
        }
        Ok(())
    }

    /// One group's own keys (its name already checked); errors point at the group.
    fn validate_group(&self, at: usize, group: &Group) -> Result<(), ScenarioError> {
        let ctx = |m: String| in_group(group, m);
        if group.clients == 0 {
            return Err(self.error_at(at, ctx("`clients` must be at least 1".into())));
        }
        if let Some(rate) = group.connect_rate {
            if !(rate > 0.0 && rate.is_finite()) {
                return Err(self.error_at(at, ctx(format!("`connect_rate` must be a positive number, not {rate}"))));
            }
        }
        if group.retry_interval.is_some()
            && group.protocol.unwrap_or(self.scenario.protocol) == crate::mqtt::protocol::ProtocolVersion::V5
        {
            let m = "`retry_interval` is for MQTT 3.1.1: MQTT 5 forbids resending on the same connection (§4.4)";
            return Err(self.error_at(at, ctx(m.into())));
        }
        if group.retry_interval.is_some_and(|d| d.0.is_zero()) {
            return Err(self.error_at(at, ctx("`retry_interval` must be longer than 0".into())));
        }
        if group.max_inflight == Some(0) {
            return Err(self.error_at(at, ctx("`max_inflight` must be at least 1".into())));
        }
        if let Some(k) = group.keepalive {
            if k.0.as_secs() > u16::MAX as u64 {
                return Err(self.error_at(at, ctx("`keepalive` must be at most 65535s (MQTT limit)".into())));
            }
        }
        self.validate_client_id(at, group)?;
        for (key, size) in [("rcvbuf", &group.rcvbuf), ("sndbuf", &group.sndbuf)] {
            if let Some(size) = size.as_ref().filter(|s| !SOCKET_BUFFER_BYTES.contains(s.get_ref())) {
                let (lo, hi) = (SOCKET_BUFFER_BYTES.start(), SOCKET_BUFFER_BYTES.end());
                let m = format!("`{key}` must be between {lo} and {hi} bytes, not {}", size.get_ref());
                return Err(self.error_at(size.span().start, ctx(m)));
            }
        }
        if let (Some(tls), Some(wire)) = (&group.tls, self.file_wire()) {
            if !wire.tls() {
                return Err(self.error_at(
                    tls.span().start,
                    ctx(format!(
                        "`tls` (a client certificate) needs a TLS broker (mqtts://, wss://, +tls, +wss), not {}://",
                        wire.scheme()
                    )),
                ));
            }
        }
        let name = format!("group {:?}", group.name);
        self.validate_credentials(&name, &group.password, [&group.username_env, &group.username_file])?;
        self.validate_credentials(&name, &None, [&group.password_env, &group.password_file])?;
        if let Some(w) = &group.will {
            self.validate_will(group, w)?;
        }
        if let Some(p) = &group.publish {
            self.validate_publish(group, p)?;
        }
        if let Some(s) = &group.subscribe {
            if s.get_ref().max_rate.is_some_and(|r| !(r > 0.0 && r.is_finite())) {
                let m = "subscribe.max_rate must be a positive number of messages per second";
                return Err(self.error_at(s.span().start, ctx(m.into())));
            }
        }
        self.validate_mqtt5_options(group)
    }

    /// A group's MQTT 5 CONNECT limits (`receive_maximum`,
    /// `maximum_packet_size`) and subscription options (`no_local`,
    /// `retain_as_published`, `retain_handling`): MQTT 5 only, in range, and
    /// no `no_local` on a shared subscription (a protocol error, §3.8.3.1).
    fn validate_mqtt5_options(&self, group: &Group) -> Result<(), ScenarioError> {
        let ctx = |m: String| in_group(group, m);
        let v5 = group.protocol.unwrap_or(self.scenario.protocol) == crate::mqtt::protocol::ProtocolVersion::V5;
        let limits = [
            ("receive_maximum", &group.receive_maximum, 1..=u16::MAX as i64),
            ("maximum_packet_size", &group.maximum_packet_size, 1..=MAX_PACKET_SIZE as i64),
        ];
        for (key, value, range) in limits {
            let Some(v) = value else { continue };
            if !v5 {
                let m = format!("`{key}` is an MQTT 5 CONNECT property: set protocol = \"5\"");
                return Err(self.error_at(v.span().start, ctx(m)));
            }
            if !range.contains(v.get_ref()) {
                let m = format!("`{key}` must be from {} to {}, not {}", range.start(), range.end(), v.get_ref());
                return Err(self.error_at(v.span().start, ctx(m)));
            }
        }
        let Some(s) = &group.subscribe else { return Ok(()) };
        let sub = s.get_ref();
        if !v5 && (sub.no_local.is_some() || sub.retain_as_published.is_some() || sub.retain_handling.is_some()) {
            let m = "subscribe.no_local, retain_as_published and retain_handling are MQTT 5 subscription options: set protocol = \"5\"";
            return Err(self.error_at(s.span().start, ctx(m.into())));
        }
        if sub.no_local == Some(true) && crate::topic::shared(&sub.filter.0).is_some() {
            let m = "subscribe.no_local on a shared subscription is a protocol error in MQTT 5 (§3.8.3.1)";
            return Err(self.error_at(s.span().start, ctx(m.into())));
        }
        Ok(())
    }

    /// Secrets never live in the scenario: an inline `password` is refused,
    /// pointing at both ways to give one; `_env` and `_file` exclude each other.
    fn validate_credentials(
        &self,
        section: &str,
        inline: &Option<Spanned<toml::Value>>,
        sources: [&Option<String>; 2],
    ) -> Result<(), ScenarioError> {
        if let Some(p) = inline {
            return Err(self.error_at(
                p.span().start,
                format!(
                    "{section}: an inline `password` is refused (secrets never live in the scenario): name an environment variable with `password_env = \"VAR\"` or a file with `password_file = \"path\"`"
                ),
            ));
        }
        if let [Some(env), Some(file)] = sources {
            let at = self.text.find(file.as_str()).unwrap_or(0);
            return Err(self.error_at(
                at,
                format!("{section}: give a credential once, from the environment ({env:?}) or from a file ({file:?}), not both"),
            ));
        }
        Ok(())
    }

    /// A group's `will`: the delay is MQTT 5's (3.1.1 has no Will Delay Interval).
    fn validate_will(&self, group: &Group, w: &Spanned<super::WillSpec>) -> Result<(), ScenarioError> {
        let protocol = group.protocol.unwrap_or(self.scenario.protocol);
        if let Some(d) = &w.get_ref().delay {
            if protocol != crate::mqtt::protocol::ProtocolVersion::V5 {
                return Err(self.error_at(
                    d.span().start,
                    in_group(group, "will.delay is the MQTT 5 Will Delay Interval: set protocol = \"5\"".into()),
                ));
            }
        }
        Ok(())
    }

    /// A group's `client_id`: `id` with scheme "fixed" and only with it.
    fn validate_client_id(&self, at: usize, group: &Group) -> Result<(), ScenarioError> {
        let ctx = |m: String| in_group(group, m);
        if let Some(spec) = &group.client_id {
            match spec.scheme {
                IdScheme::Fixed => {
                    if spec.id.as_deref().unwrap_or("").is_empty() {
                        return Err(self.error_at(at, ctx("client_id scheme \"fixed\" needs `id = \"...\"`".into())));
                    }
                }
                _ => {
                    if spec.id.is_some() {
                        return Err(self.error_at(
                            at,
                            ctx("`id` is only for scheme \"fixed\"; use `prefix` with the prefix-* schemes".into()),
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// A group's `publish`; errors point at the publish table.
    fn validate_publish(&self, group: &Group, p: &Spanned<PublishSpec>) -> Result<(), ScenarioError> {
        let ctx = |m: String| in_group(group, m);
        let pat = p.span().start;
        let p = p.get_ref();
        // With stages, the first stage ramps from `rate`: it may start at 0.
        let staged = !self.scenario.stages.is_empty();
        if !((p.rate > 0.0 || (staged && p.rate == 0.0)) && p.rate.is_finite()) {
            return Err(self.error_at(
                pat,
                ctx(format!(
                    "publish.rate must be a positive number of messages per second{}, not {}",
                    if staged { " (or 0 with [[stage]]s)" } else { "" },
                    p.rate
                )),
            ));
        }
        if p.payload < crate::payload::HEADER_LEN {
            return Err(self.error_at(
                pat,
                ctx(format!(
                    "publish.payload must be at least {} bytes: every message carries midge's tracking header",
                    crate::payload::HEADER_LEN
                )),
            ));
        }
        if p.payload > 256 * 1024 * 1024 {
            return Err(self.error_at(pat, ctx("publish.payload must be at most 256 MiB (MQTT limit)".into())));
        }
        if p.count == Some(0) {
            return Err(self.error_at(pat, ctx("publish.count must be at least 1".into())));
        }
        let v5 = group.protocol.unwrap_or(self.scenario.protocol) == crate::mqtt::protocol::ProtocolVersion::V5;
        if !v5 && (p.expiry.is_some() || p.topic_alias || p.user_properties.is_some()) {
            let m = "publish.expiry, topic_alias and user_properties are MQTT 5: set protocol = \"5\"";
            return Err(self.error_at(pat, ctx(m.into())));
        }
        if p.expiry.is_some_and(|e| e.0.as_secs() == 0 || e.0.as_secs() > u32::MAX as u64) {
            return Err(self.error_at(pat, ctx("publish.expiry must be from 1s to 4294967295s".into())));
        }
        Ok(())
    }

    /// A group whose clients the stages ramp must reach its `clients` (the
    /// planned clients all take part): `most` holds each such group's
    /// highest target and where it is written.
    fn validate_client_peaks(&self, most: &std::collections::HashMap<&str, (u32, usize)>) -> Result<(), ScenarioError> {
        for g in self.scenario.groups.iter().map(|g| g.get_ref()) {
            let Some(&(n, at)) = most.get(g.name.as_str()) else { continue };
            if n != g.clients {
                return Err(self.error_at(
                    at,
                    format!(
                        "group {:?}: its stages reach at most {n} clients, its `clients` is {}: the highest client target must be the group's `clients`",
                        g.name, g.clients
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Every `[[stage]]` in order: a positive duration, targets naming groups
    /// that exist (rates: groups that publish, not negative; clients: at most
    /// the group's `clients`, up or down — a ramp down makes clients leave —
    /// and the highest the group's `clients`), then the scenario's
    /// `duration` against their sum.
    fn validate_stages(&self) -> Result<(), ScenarioError> {
        let s = &self.scenario;
        if s.stages.is_empty() {
            return Ok(());
        }
        let group = |name: &toml::Spanned<String>, i: usize| {
            s.groups.iter().map(|g| g.get_ref()).find(|g| &g.name == name.get_ref()).ok_or_else(|| {
                let known: Vec<&str> = s.groups.iter().map(|g| g.get_ref().name.as_str()).collect();
                self.error_at(
                    name.span().start,
                    format!("stage {}: no group named {:?} (groups: {})", i + 1, name.get_ref(), known.join(", ")),
                )
            })
        };
        let mut total = std::time::Duration::ZERO;
        // Per group: its highest client target, and where the first of them is.
        let mut most_clients: std::collections::HashMap<&str, (u32, usize)> = Default::default();
        for (i, st) in s.stages.iter().enumerate() {
            let stage = st.get_ref();
            if stage.duration.get_ref().0.is_zero() {
                return Err(self.error_at(
                    stage.duration.span().start,
                    format!("stage {}: `duration` must be more than 0", i + 1),
                ));
            }
            total += stage.duration.get_ref().0;
            for (name, rate) in stage.rate.iter().flatten() {
                let g = group(name, i)?;
                if g.publish.is_none() {
                    return Err(self.error_at(
                        name.span().start,
                        format!("stage {}: group {:?} does not publish: a rate needs `publish`", i + 1, g.name),
                    ));
                }
                if !(*rate >= 0.0 && rate.is_finite()) {
                    return Err(self.error_at(
                        name.span().start,
                        format!(
                            "stage {}: rate for {:?} must be 0 or more messages per second, not {rate}",
                            i + 1,
                            g.name
                        ),
                    ));
                }
            }
            for (name, n) in stage.clients.iter().flatten() {
                let g = group(name, i)?;
                if *n > g.clients {
                    return Err(self.error_at(
                        name.span().start,
                        format!(
                            "stage {}: {n} clients for {:?}, which has {} (`clients` is the most it can have)",
                            i + 1,
                            g.name,
                            g.clients
                        ),
                    ));
                }
                let highest = most_clients.entry(g.name.as_str()).or_insert((*n, name.span().start));
                if *n > highest.0 {
                    *highest = (*n, name.span().start);
                }
            }
        }
        self.validate_client_peaks(&most_clients)?;
        if let Some(d) = s.duration {
            if d.0 != total {
                let at = top_level_key(&self.text, "duration").unwrap_or(0);
                return Err(self.error_at(
                    at,
                    format!(
                        "`duration` is {}, the stages add up to {}: leave `duration` out (or make it their sum)",
                        humantime::format_duration(d.0),
                        humantime::format_duration(total)
                    ),
                ));
            }
        }
        Ok(())
    }

    /// One `[[fault]]`: whom it hits, then whether the broker's wire carries
    /// it (what its action needs was checked as it parsed: `fault`).
    fn validate_fault(&self, f: &Spanned<FaultSpec>) -> Result<(), ScenarioError> {
        let at = f.span().start;
        let fault = f.get_ref();
        let name = fault.name();
        match &fault.group {
            Some(g) => {
                let Some(group) = self.scenario.groups.iter().find(|x| &x.get_ref().name == g) else {
                    return Err(self.error_at(at, format!("fault {name}: no group named {g:?}")));
                };
                if fault.clients.is_some_and(|n| n == 0 || n > group.get_ref().clients) {
                    return Err(self.error_at(
                        at,
                        format!(
                            "fault {name}: `clients` must be from 1 to the group's {} clients",
                            group.get_ref().clients
                        ),
                    ));
                }
            }
            None if fault.clients.is_some() => {
                return Err(self.error_at(at, format!("fault {name}: `clients` needs `group`")));
            }
            None => {}
        }
        match self.file_wire().map(|w| fault.action.refused_over(w)) {
            Some(Err(why)) => Err(self.error_at(at, format!("fault {name}: {why}"))),
            _ => Ok(()),
        }
    }

    /// Whether any group speaks MQTT 5 (its own `protocol`, or the file's).
    fn any_mqtt5(&self) -> bool {
        let s = &self.scenario;
        s.groups
            .iter()
            .any(|g| g.get_ref().protocol.unwrap_or(s.protocol) == crate::mqtt::protocol::ProtocolVersion::V5)
    }

    /// How the file's `[broker] url` is reached (None: no url, or a bad one).
    fn file_wire(&self) -> Option<super::Wire> {
        let url = self.scenario.broker.url.as_ref()?.0.first()?;
        BrokerSpec::parse(url).ok().map(|b| b.wire())
    }

    /// `[capacity]`: the stepped group exists (and publishes when the rate
    /// steps), a positive start (a whole number of clients), exactly one of
    /// `factor` (> 1) and `step` (> 0), a bounded ladder, a ratio in [0, 1].
    fn validate_capacity(&self, at: usize, c: &CapacitySpec) -> Result<(), ScenarioError> {
        let err = |m: String| self.error_at(at, format!("[capacity]: {m}"));
        let groups = self.capacity_groups();
        match &c.group {
            Some(name) if groups.is_empty() => return Err(err(format!("no group named {name:?}"))),
            None if groups.is_empty() => {
                return Err(err("no group publishes: name the group whose load steps with `group`".into()))
            }
            _ => {}
        }
        if c.vary != CapacityVary::Clients {
            if let Some(&i) = groups.iter().find(|&&i| self.scenario.groups[i].get_ref().publish.is_none()) {
                let name = &self.scenario.groups[i].get_ref().name;
                return Err(err(format!(
                    "vary = {:?} steps publish.rate, but group {name:?} does not publish",
                    c.vary.as_str()
                )));
            }
        }
        if !(c.start > 0.0 && c.start.is_finite()) {
            return Err(err(format!("`start` must be a positive number, not {}", c.start)));
        }
        if c.vary.counts_clients() && (c.start.fract() != 0.0 || c.start > u32::MAX as f64) {
            return Err(err(format!("`start` counts clients: a whole number, not {}", c.start)));
        }
        match (c.factor, c.step) {
            (Some(_), Some(_)) | (None, None) => {
                return Err(err(
                    "give exactly one of `factor` (each step × factor) and `step` (each step + step)".into()
                ))
            }
            (Some(f), None) if !(f > 1.0 && f.is_finite()) => {
                return Err(err(format!("`factor` must be greater than 1, not {f}")))
            }
            (None, Some(s)) if !(s > 0.0 && s.is_finite()) => {
                return Err(err(format!("`step` must be a positive number, not {s}")))
            }
            (None, Some(s)) if c.vary.counts_clients() && s.fract() != 0.0 => {
                return Err(err(format!("`step` counts clients: a whole number, not {s}")))
            }
            _ => {}
        }
        if c.max_steps == 0 || c.max_steps > MAX_STEPS_LIMIT {
            return Err(err(format!("`max_steps` must be from 1 to {MAX_STEPS_LIMIT}, not {}", c.max_steps)));
        }
        if c.bisect > MAX_STEPS_LIMIT {
            return Err(err(format!("`bisect` must be at most {MAX_STEPS_LIMIT}, not {}", c.bisect)));
        }
        if c.hold.is_some_and(|h| h.0.is_zero()) {
            return Err(err("`hold` must be longer than 0".into()));
        }
        if let Some(r) = c.pass.delivered_ratio {
            if !(0.0..=1.0).contains(&r) {
                return Err(err(format!("pass.delivered_ratio must be from 0 to 1, not {r}")));
            }
        }
        Ok(())
    }
}

/// Where a top-level `key = …` line starts (before the first table header).
fn top_level_key(text: &str, key: &str) -> Option<usize> {
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        let t = line.trim_start();
        if t.starts_with('[') {
            return None;
        }
        if let Some(rest) = t.strip_prefix(key) {
            if rest.trim_start().starts_with('=') {
                return Some(at + (line.len() - t.len()));
            }
        }
        at += line.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn parse(text: &str) -> Result<ScenarioFile, ScenarioError> {
        ScenarioFile::parse(Path::new("s.toml"), text)
    }

    const GROUP: &str = "[[group]]\nname = \"g\"\nsubscribe = { filter = \"a/#\" }\n";

    #[test]
    fn an_inline_password_is_refused_naming_both_other_ways() {
        for (text, at) in [
            (format!("name = \"s\"\n[broker]\nusername_env = \"U\"\npassword = \"hunter2\"\n{GROUP}"), (4, 12)),
            (format!("name = \"s\"\n{GROUP}password = \"hunter2\"\n"), (5, 12)),
        ] {
            let e = parse(&text).unwrap_err();
            assert_eq!((e.line, e.column), at, "{e}");
            assert!(e.message.contains("password_env") && e.message.contains("password_file"), "{e}");
            assert!(!e.to_string().contains("hunter2"), "the error repeats no secret: {e}");
        }
    }

    #[test]
    fn a_credential_comes_from_the_environment_or_a_file_not_both() {
        let text = format!("name = \"s\"\n{GROUP}username_env = \"U\"\nusername_file = \"user.txt\"\n");
        let e = parse(&text).unwrap_err();
        assert_eq!(e.line, 6, "{e}");
        assert!(e.message.contains("not both"), "{e}");
        assert!(parse(&format!("name = \"s\"\n{GROUP}username_file = \"u\"\npassword_file = \"p\"\n")).is_ok());
    }

    #[test]
    fn a_will_delay_needs_mqtt_5() {
        let will = "will = { topic = \"w/{client}\", qos = 1, delay = \"5s\" }\n";
        let e = parse(&format!("name = \"s\"\n{GROUP}{will}")).unwrap_err();
        assert_eq!((e.line, e.column), (5, 49), "{e}");
        assert!(e.message.contains("Will Delay Interval") && e.message.contains("protocol = \"5\""), "{e}");
        assert!(parse(&format!("name = \"s\"\nprotocol = \"5\"\n{GROUP}{will}")).is_ok());
        let e = parse(&format!("name = \"s\"\n{GROUP}will = {{ topic = \"w/+\" }}\n")).unwrap_err();
        assert!(e.message.contains("wildcard"), "{e}");
    }

    /// `receive_maximum`, `maximum_packet_size` and the subscription options
    /// parse under MQTT 5 (retain_handling by number or name), and are
    /// refused under 3.1.1 or out of range, pointing at the key (the
    /// options: at the subscribe table); `no_local` on `$share` is refused.
    #[test]
    fn mqtt5_connect_limits_and_subscription_options() {
        let group = "[[group]]\nname = \"g\"\nreceive_maximum = 5\nmaximum_packet_size = 1024\n";
        let sub = "subscribe = { filter = \"a/#\", no_local = true, retain_as_published = true, retain_handling = \"never\" }\n";
        let f = parse(&format!("name = \"s\"\nprotocol = \"5\"\n{group}{sub}")).unwrap();
        let (g, s) =
            (f.scenario.groups[0].get_ref(), f.scenario.groups[0].get_ref().subscribe.as_ref().unwrap().get_ref());
        assert_eq!(
            (*g.receive_maximum.as_ref().unwrap().get_ref(), *g.maximum_packet_size.as_ref().unwrap().get_ref()),
            (5, 1024)
        );
        assert_eq!(
            (s.no_local, s.retain_as_published, s.retain_handling),
            (Some(true), Some(true), Some(super::super::RetainHandling::Never))
        );
        for (written, want) in [("0", 0), ("1", 1), ("2", 2), ("\"send\"", 0), ("\"send_new\"", 1)] {
            let text = format!("name = \"s\"\nprotocol = \"5\"\n{GROUP}")
                .replace("\" }", &format!("\", retain_handling = {written} }}"));
            let s = parse(&text).unwrap().scenario.groups[0]
                .get_ref()
                .subscribe
                .as_ref()
                .unwrap()
                .get_ref()
                .retain_handling;
            assert_eq!(s.map(|r| r.code()), Some(want), "{written}");
        }
        let e = parse(&format!("name = \"s\"\n{group}")).unwrap_err();
        assert_eq!(
            (e.line, e.column, e.message.as_str()),
            (4, 19, "group \"g\": `receive_maximum` is an MQTT 5 CONNECT property: set protocol = \"5\"")
        );
        let e = parse(&format!("name = \"s\"\nprotocol = \"5\"\n{}", group.replace("= 5", "= 0"))).unwrap_err();
        assert_eq!(
            (e.line, e.column, e.message.as_str()),
            (5, 19, "group \"g\": `receive_maximum` must be from 1 to 65535, not 0")
        );
        let e = parse(&format!("name = \"s\"\nprotocol = \"5\"\n{}", group.replace("1024", "268435461"))).unwrap_err();
        assert_eq!((e.line, e.column), (6, 23), "{e}");
        assert!(e.message.ends_with("`maximum_packet_size` must be from 1 to 268435460, not 268435461"), "{e}");
        let e = parse(&format!("name = \"s\"\n[[group]]\nname = \"g\"\n{sub}")).unwrap_err();
        assert_eq!((e.line, e.column), (4, 13), "{e}");
        assert!(e.message.contains("MQTT 5 subscription options"), "{e}");
        let e = parse("name = \"s\"\nprotocol = \"5\"\n[[group]]\nname = \"g\"\nsubscribe = { filter = \"a/#\", retain_handling = 3 }\n").unwrap_err();
        assert!(e.message.contains("retain_handling must be 0 or \"send\"") && e.message.contains("not 3"), "{e}");
        let shared = sub.replace("a/#", "$share/x/a/#");
        let e = parse(&format!("name = \"s\"\nprotocol = \"5\"\n[[group]]\nname = \"g\"\n{shared}")).unwrap_err();
        assert!(e.message.contains("shared subscription"), "{e}");
    }

    #[test]
    fn kill_start_after_and_retained_cleanup_parse() {
        let text = format!(
            "name = \"s\"\nretained_cleanup = false\n{GROUP}start_after = \"1s\"\n[[fault]]\nat = \"1s\"\naction = \"kill\"\ngroup = \"g\"\n"
        );
        let f = parse(&text).unwrap();
        assert_eq!(f.scenario.retained_cleanup, Some(false));
        assert_eq!(f.scenario.faults[0].get_ref().action, crate::scenario::FaultAction::Kill);
        assert_eq!(f.scenario.groups[0].get_ref().start_after.unwrap().0, std::time::Duration::from_secs(1));
    }

    #[test]
    fn a_fault_missing_a_key_its_action_needs_points_at_its_table() {
        let text = format!("name = \"s\"\n{GROUP}[[fault]]\nat = \"1s\"\naction = \"stall\"\ngroup = \"g\"\n");
        let e = parse(&text).unwrap_err();
        assert_eq!((e.line, e.column), (5, 1), "{e}");
        assert_eq!(e.message, "fault stall needs `for` (how long to stop reading)", "{e}");
    }

    #[test]
    fn an_unknown_fault_action_points_at_it_and_lists_the_actions() {
        let text = format!("name = \"s\"\n{GROUP}[[fault]]\nat = \"1s\"\naction = \"explode\"\n");
        let e = parse(&text).unwrap_err();
        assert_eq!((e.line, e.column), (7, 10), "{e}");
        assert!(e.message.contains("\"explode\"") && e.message.contains("restart-broker"), "{e}");
    }
}
