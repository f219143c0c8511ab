//! One `[[group]]` as planned: its connection options, its publishing,
//! its stage curves, and when each of its clients is in the run.
//!
//! `GroupPlan::join_us` (a group's `start_after` and its client curve) and
//! `GroupPlan::presence` (a client's stays: its client curve's, shifted by
//! `start_after`, in the whole group's numbering on a shard).

use super::secrets::{Credentials, SecretSource};
use super::will::WillPlan;
use super::{shard, stages};
use crate::mqtt::handshake::SocketBuffers;
use crate::mqtt::protocol::ProtocolVersion;
use crate::scenario;
use std::time::Duration;

/// When a publisher's messages are due (see `schedule`): at a
/// constant rate, as Poisson arrivals, or in bursts of n.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Arrival {
    #[default]
    Constant,
    Poisson,
    Burst(u32),
}

#[derive(Debug, Clone)]
pub struct PublishPlan {
    pub qos: u8,
    pub rate: f64,
    pub payload: usize,
    pub retain: bool,
    pub count: Option<u64>,
    pub start_after: Duration,
    pub arrival: Arrival,
    /// With `[[stage]]`s: the rate over the stage clock (starting at `rate`);
    /// the schedule follows it.
    pub curve: Option<std::sync::Arc<stages::RateCurve>>,
    /// MQTT 5 message expiry interval, in seconds.
    pub expiry_s: Option<u32>,
    pub topic_alias: bool,
    pub user_properties: Vec<(String, String)>,
    /// The PUBLISH properties on the wire (MQTT 5): expiry and user
    /// properties, and the same with topic alias 1.
    pub props: bytes::Bytes,
    pub props_alias: bytes::Bytes,
}

#[derive(Debug, Clone)]
pub struct GroupPlan {
    pub name: String,
    /// The brokers its clients are spread over (indices in `Plan::brokers`).
    pub brokers: Vec<u16>,
    pub first_client: u32,
    pub clients: u32,
    pub connect_rate: Option<f64>,
    pub protocol: ProtocolVersion,
    pub clean_session: bool,
    pub keepalive: Duration,
    pub max_inflight: u16,
    /// A publisher's own queue while disconnected (None: unbounded).
    pub max_queued: Option<u64>,
    /// MQTT 3.1.1: resend unacknowledged QoS 1/2 on the same connection after this long.
    pub retry_interval: Option<Duration>,
    /// The group's `rcvbuf` / `sndbuf`: SO_RCVBUF / SO_SNDBUF of its sockets.
    pub socket_buffers: SocketBuffers,
    /// Read from the environment or files just before a run (`Plan::resolved`; None until then).
    pub credentials: Option<Credentials>,
    /// Where the user name and password come from.
    pub secret_env: Option<(SecretSource, Option<SecretSource>)>,
    pub will: Option<WillPlan>,
    /// `start_after`: the group connects this long after publishing starts.
    pub start_after: Duration,
    pub publish: Option<PublishPlan>,
    pub subscribe_qos: Option<u8>,
    /// MQTT 5 subscription options (`subscribe.no_local`, `retain_as_published`,
    /// `retain_handling`: 0 send, 1 send if new, 2 never), sent in SUBSCRIBE's
    /// options byte (`subscription_options`). Under `no_local` a client is owed
    /// no stream of its own messages (`streams::find_streams`); under
    /// `retain_handling` 2 no retained replay (`analysis::session::retained`).
    pub no_local: bool,
    pub retain_as_published: bool,
    pub retain_handling: u8,
    /// `subscribe.resubscribe`: SUBSCRIBE again on a resumed session that
    /// holds the subscription (`client::connect::begin_connection`); under
    /// retain handling 1 such a connection is owed no retained replay.
    pub resubscribe: bool,
    /// MQTT 5 CONNECT Receive Maximum and Maximum Packet Size midge
    /// announces: limits on the broker toward this group's clients.
    pub receive_maximum: Option<u16>,
    pub maximum_packet_size: Option<u32>,
    /// A slow consumer: at most this many deliveries taken in per second.
    pub max_rate: Option<f64>,
    /// None: a lost connection ends the client.
    pub reconnect: Option<scenario::ReconnectPolicy>,
    /// MQTT 5 session expiry sent with `clean_session = false`.
    pub session_expiry_s: u32,
    pub retry_connect: bool,
    /// With `[[stage]]`s naming this group's `clients`: its client count over
    /// the stage clock (from 0); its clients join as it rises.
    pub client_curve: Option<std::sync::Arc<stages::ClientCurve>>,
    /// Its own TLS client certificate and key (a group's `tls`), resolved
    /// against the scenario's folder; None: `[broker.tls]`'s.
    pub tls_identity: Option<(std::path::PathBuf, std::path::PathBuf)>,
    /// On a shard (`--shard I/N`): this group's clients are every N-th of
    /// the whole group's, from the I-th.
    pub slice: Option<shard::ShardId>,
}

impl GroupPlan {
    /// Whether the broker keeps this group's session (and queues for it) while offline.
    pub fn persistent(&self) -> bool {
        !self.clean_session
    }

    /// How long after a connection ends without DISCONNECT the broker must
    /// publish this group's will: its MQTT 5 Will Delay, bounded by the
    /// session's expiry (a clean session ends with the connection: 0).
    pub fn will_delay_us(&self) -> u64 {
        let delay_s = match (self.protocol, self.will.as_ref().and_then(|w| w.delay_s)) {
            (ProtocolVersion::V5, Some(d)) if self.persistent() => d.min(self.session_expiry_s),
            _ => 0,
        };
        delay_s as u64 * 1_000_000
    }

    /// When client `index` (of the whole plan, one of this group's) joins
    /// the run: µs from the start of publishing; 0 for a client that
    /// connects before publishing starts, as every client does without a
    /// client ramp. A group that joins late (`start_after`, no client
    /// stage) keeps its `connect_rate`: its k-th client joins k / rate later
    /// (the whole group's rate, in the whole group's numbering on a shard).
    pub fn join_us(&self, index: u32) -> u64 {
        let curve = self.client_curve.as_ref().map_or(0, |c| c.join_us(self.place_in_group(index)));
        curve + self.start_after.as_micros() as u64 + self.late_ramp_us(index)
    }

    /// A late group's spacing at `connect_rate` (0 without one, without
    /// `start_after`, or with a client stage, whose curve sets the joins).
    fn late_ramp_us(&self, index: u32) -> u64 {
        match (self.connect_rate, &self.client_curve) {
            (Some(rate), None) if rate > 0.0 && !self.start_after.is_zero() => {
                let whole_rate = rate * self.slice.map_or(1, |s| s.count) as f64;
                (self.place_in_group(index) as f64 / whole_rate * 1e6).round() as u64
            }
            _ => 0,
        }
    }

    /// Client `index`'s place in the whole group: joins and leaves follow
    /// the whole plan, not a shard's slice of it.
    fn place_in_group(&self, index: u32) -> u32 {
        let k = index - self.first_client;
        self.slice.map_or(k, |s| k * s.count + s.index)
    }

    /// When client `index` is in the run, µs from the start of publishing:
    /// one stay from its join to the end without a client stage; with one,
    /// a stay per rise of the group's count past it (left by a ramp down).
    pub fn presence(&self, index: u32) -> Vec<stages::Presence> {
        let after = self.start_after.as_micros() as u64;
        let Some(curve) = &self.client_curve else {
            return vec![stages::Presence { join_us: self.join_us(index), leave_us: None }];
        };
        let shift = |p: stages::Presence| stages::Presence {
            join_us: p.join_us + after,
            leave_us: p.leave_us.map(|l| l + after),
        };
        curve.presence(self.place_in_group(index)).into_iter().map(shift).collect()
    }

    /// The CONNECT a client of this group sends (its twin sends the same).
    pub fn connect_options(&self, client_id: &str) -> crate::mqtt::codec::ConnectOptions {
        let creds = self.credentials.clone();
        let v5 = self.protocol == ProtocolVersion::V5;
        crate::mqtt::codec::ConnectOptions {
            client_id: client_id.to_string(),
            keep_alive_s: self.keepalive.as_secs().min(u16::MAX as u64) as u16,
            clean_start: self.clean_session,
            username: creds.as_ref().map(|c| c.username.clone()),
            password: creds.map(|c| c.password),
            session_expiry_s: (v5 && self.persistent()).then_some(self.session_expiry_s),
            receive_maximum: self.receive_maximum.filter(|_| v5),
            maximum_packet_size: self.maximum_packet_size.filter(|_| v5),
            will: None,
        }
    }

    /// The SUBSCRIBE options byte: the QoS, and MQTT 5's No Local (bit 2),
    /// Retain As Published (bit 3) and Retain Handling (bits 4-5).
    pub fn subscription_options(&self) -> u8 {
        let qos = self.subscribe_qos.unwrap_or(0) & 0b11;
        qos | u8::from(self.no_local) << 2
            | u8::from(self.retain_as_published) << 3
            | (self.retain_handling & 0b11) << 4
    }

    /// Whether the broker sends this group's subscriptions retained
    /// messages at all (not under Retain Handling 2, "never").
    pub fn replays_retained(&self) -> bool {
        self.retain_handling != scenario::RetainHandling::Never.code()
    }
}

/// One `[[group]]` with the scenario's defaults applied.
pub(super) fn group_plan(
    g: &scenario::Group,
    protocol: ProtocolVersion,
    first_client: u32,
    secret_env: Option<(SecretSource, Option<SecretSource>)>,
) -> GroupPlan {
    GroupPlan {
        name: g.name.clone(),
        brokers: vec![0],
        first_client,
        clients: g.clients,
        connect_rate: g.connect_rate,
        protocol: g.protocol.unwrap_or(protocol),
        clean_session: g.clean_session,
        keepalive: g.keepalive.map(|d| d.0).unwrap_or(scenario::DEFAULT_KEEPALIVE),
        max_inflight: g.max_inflight.unwrap_or(scenario::DEFAULT_MAX_INFLIGHT),
        max_queued: g.max_queued,
        retry_interval: g.retry_interval.map(|d| d.0),
        socket_buffers: SocketBuffers {
            rcvbuf: g.rcvbuf.as_ref().map(|b| *b.get_ref()),
            sndbuf: g.sndbuf.as_ref().map(|b| *b.get_ref()),
        },
        credentials: None,
        secret_env,
        publish: g.publish.as_ref().map(|p| publish_plan(p.get_ref())),
        subscribe_qos: g.subscribe.as_ref().map(|f| f.get_ref().qos.0),
        max_rate: g.subscribe.as_ref().and_then(|f| f.get_ref().max_rate),
        no_local: g.subscribe.as_ref().and_then(|f| f.get_ref().no_local).unwrap_or(false),
        retain_as_published: g.subscribe.as_ref().and_then(|f| f.get_ref().retain_as_published).unwrap_or(false),
        retain_handling: g.subscribe.as_ref().and_then(|f| f.get_ref().retain_handling).unwrap_or_default().code(),
        resubscribe: g.subscribe.as_ref().and_then(|f| f.get_ref().resubscribe).unwrap_or(false),
        // In range: checked by the scenario's validation.
        receive_maximum: g.receive_maximum.as_ref().map(|v| *v.get_ref() as u16),
        maximum_packet_size: g.maximum_packet_size.as_ref().map(|v| *v.get_ref() as u32),
        reconnect: match g.reconnect {
            None => Some(scenario::ReconnectPolicy::default()),
            Some(scenario::ReconnectSpec::On(p)) => Some(p),
            Some(scenario::ReconnectSpec::Off) => None,
        },
        session_expiry_s: g.session_expiry.map_or(u32::MAX, |d| d.0.as_secs().min(u32::MAX as u64) as u32),
        retry_connect: g.retry_connect,
        client_curve: None,
        tls_identity: None,
        will: g.will.as_ref().map(|w| {
            let w = w.get_ref();
            WillPlan {
                payload: w.payload.clone(),
                qos: w.qos.0,
                retain: w.retain,
                delay_s: w.delay.as_ref().map(|d| d.get_ref().0.as_secs().min(u32::MAX as u64) as u32),
            }
        }),
        start_after: g.start_after.map_or(Duration::ZERO, |d| d.0),
        slice: None,
    }
}

fn publish_plan(p: &scenario::PublishSpec) -> PublishPlan {
    use crate::mqtt::codec::props::publish_properties;
    let expiry_s = p.expiry.map(|d| d.0.as_secs().min(u32::MAX as u64) as u32);
    let user_properties: Vec<(String, String)> = p.user_properties.clone().unwrap_or_default().into_iter().collect();
    PublishPlan {
        props: publish_properties(expiry_s, None, &user_properties).freeze(),
        props_alias: publish_properties(expiry_s, Some(1), &user_properties).freeze(),
        expiry_s,
        topic_alias: p.topic_alias,
        user_properties,
        qos: p.qos.0,
        rate: p.rate,
        payload: p.payload,
        retain: p.retain,
        count: p.count,
        start_after: p.start_after.map_or(Duration::ZERO, |d| d.0),
        arrival: match p.arrival {
            scenario::ArrivalSpec::Constant => Arrival::Constant,
            scenario::ArrivalSpec::Poisson => Arrival::Poisson,
            scenario::ArrivalSpec::Burst => Arrival::Burst(p.burst.unwrap_or(10).max(1)),
        },
        curve: None,
    }
}

/// A stage's target for group `name` in one of its tables.
pub(super) fn target<T: Copy>(
    table: &Option<std::collections::BTreeMap<toml::Spanned<String>, T>>,
    name: &str,
) -> Option<T> {
    table.iter().flatten().find(|(k, _)| k.get_ref() == name).map(|(_, v)| *v)
}

/// With `[[stage]]`s: the group's rate curve (from its `publish.rate`, if
/// it publishes) and, if a stage sets its `clients`, its client curve (from 0).
pub(super) fn stage_curves(specs: &[toml::Spanned<scenario::StageSpec>], group: &mut GroupPlan) {
    if specs.is_empty() {
        return;
    }
    let us = |st: &scenario::StageSpec| st.duration.get_ref().0.as_micros() as u64;
    if let Some(p) = group.publish.as_mut() {
        let mut rate = p.rate;
        let segments: Vec<(u64, f64)> = specs
            .iter()
            .map(|st| {
                rate = target(&st.get_ref().rate, &group.name).unwrap_or(rate);
                (us(st.get_ref()), rate)
            })
            .collect();
        p.curve = Some(std::sync::Arc::new(stages::RateCurve::new(p.rate, &segments)));
    }
    if specs.iter().any(|st| target(&st.get_ref().clients, &group.name).is_some()) {
        let mut n = 0.0;
        let segments: Vec<(u64, f64)> = specs
            .iter()
            .map(|st| {
                n = target(&st.get_ref().clients, &group.name).map_or(n, f64::from);
                (us(st.get_ref()), n)
            })
            .collect();
        group.client_curve = Some(std::sync::Arc::new(stages::ClientCurve::new(&segments)));
    }
}
