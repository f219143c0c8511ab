//! `retained_cleanup`: after the swarm has disconnected, one connection of
//! midge's own sends an empty retained message (QoS 1) to every topic the
//! plan published retained messages to (and every retained will's topic),
//! so that a rerun against the same broker starts clean. Straight to the
//! broker, never through the proxy.
//!
//! The connection uses the CONNECT of a group that retains (for its
//! credentials); at most 10 clears in flight, 10 s for the whole cleanup; the
//! record keeps topics, cleared and why it stopped short (`RetainedCleanup`).

use crate::mqtt::codec::{Packet, Publish};
use crate::mqtt::handshake::{dial, Dial};
use crate::mqtt::transport::Transport;
use crate::plan::Plan;
use crate::record::clock::RunClock;
use crate::record::RetainedCleanup;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::time::timeout;

/// Unacknowledged clears at once (mosquitto's default inflight is 20).
const WINDOW: usize = 10;
/// For the whole cleanup, from connect to the last PUBACK.
const LIMIT: Duration = Duration::from_secs(10);

/// Clears the plan's retained topics (None: cleanup off, or none were set).
pub async fn clear_retained(
    plan: &Plan,
    broker: SocketAddr,
    transports: &[Transport],
    clock: RunClock,
) -> Option<RetainedCleanup> {
    let mut topics = plan.retained_topics();
    let wills = plan.clients.iter().filter(|c| plan.group_of(c).will.as_ref().is_some_and(|w| w.retain));
    topics.extend(wills.filter_map(|c| c.will_topic.as_deref()).filter(|t| !plan.retained_topics().contains(t)));
    if !plan.retained_cleanup || topics.is_empty() {
        return None;
    }
    let mut done = RetainedCleanup { topics: topics.len() as u64, ..Default::default() };
    let outcome = timeout(LIMIT, clear(plan, &topics, broker, transports, clock, &mut done.cleared)).await;
    done.error = match outcome {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e),
        Err(_) => Some(format!("not every clear was acknowledged within {}s", LIMIT.as_secs())),
    };
    Some(done)
}

/// One connection (the CONNECT of a group that retains, as that group may
/// need its credentials), the clears with a window of `WINDOW`, DISCONNECT.
async fn clear(
    plan: &Plan,
    topics: &[&str],
    broker: SocketAddr,
    transports: &[Transport],
    clock: RunClock,
    cleared: &mut u64,
) -> Result<(), String> {
    let retains = |g: &&std::sync::Arc<crate::plan::GroupPlan>| {
        g.publish.as_ref().is_some_and(|p| p.retain) || g.will.as_ref().is_some_and(|w| w.retain)
    };
    let gi = plan.groups.iter().position(|g| retains(&g)).ok_or("no group retains")?;
    let group = &plan.groups[gi];
    // That group's TLS and WebSocket (its own client certificate, if any).
    let transport = transports.get(gi).ok_or("no transport for the group")?;
    let mut options = group.connect_options(&format!("midge-cleanup-{:08x}", plan.run_id as u32));
    options.clean_start = true;
    options.session_expiry_s = None;
    let d = Dial {
        to: broker,
        from: None,
        buffers: Default::default(),
        transport,
        protocol: group.protocol,
        clock,
        limit: LIMIT,
    };
    let mut conn = dial(d, &options).await.map_err(|c| format!("cannot connect to clear them: {}", c.name()))?.conn;
    let mut sent = 0usize;
    let mut acked = 0usize;
    while acked < topics.len() {
        while sent < topics.len() && sent - acked < WINDOW {
            let clear = Publish {
                dup: false,
                qos: 1,
                retain: true,
                topic: topics[sent].as_bytes().to_vec().into(),
                pkid: (sent % 65_000) as u16 + 1,
                props: Default::default(),
                payload: Default::default(),
            };
            conn.write_packet(&Packet::Publish(clear)).await.map_err(|e| format!("writing a clear: {e}"))?;
            sent += 1;
        }
        match conn.read_packet().await {
            Ok(Some(Packet::PubAck { reason, .. })) => {
                acked += 1;
                // MQTT 5: a reason of 0x80 or more refused the clear.
                *cleared += u64::from(reason < 0x80);
            }
            Ok(Some(_)) => {}
            Ok(None) => return Err("the broker closed the connection".into()),
            Err(e) => return Err(format!("reading a PUBACK: {e}")),
        }
    }
    let _ = conn.write_packet(&Packet::Disconnect { reason: 0 }).await;
    conn.shutdown().await;
    Ok(())
}
