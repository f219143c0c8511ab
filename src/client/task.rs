//! One tokio task per client (`run_client`): the loop of connection
//! attempts — connect, serve (`serve.rs`), reconnect after a drop with its
//! backoff, stay away on plan under client stages (`stay.rs`) — until the
//! run's shutdown signal (`Phase`). Each attempt is a `Link`, its generation
//! pushed to the client's timeline when it ends.
//!
//! The future sizes are tuned (an idle client's task is one 768 B tokio
//! cell): rare paths are boxed, `run_client`, `connection` and `serve` are
//! async blocks rather than async fns (an async fn keeps its arguments
//! twice), and no packet is kept across an await.
//!
//! A connection made after a planned leave is a rejoin, not a reconnect
//! (`take_rejoin`).
//!
//! Memory per client: the task holds the `Client` and pointers only: the
//! `Connection` and the future serving it are boxed per connection, the
//! `Recorder`'s logs are boxed and exist only for publishers and subscribers,
//! rare paths (connect, reconnect wait, misbehave, schedule) are boxed, the
//! backoff is made at the first drop, and one watch channel wakes a client
//! (orders touch it). The client reads its ids and topics from the shared plan
//! (`me`), keeps no CONNACK past connect, and holds no packet across an await
//! (`take_packets` runs inside the `select!`'s branch, `on_packets` after it).
//! The unit test `idle_client_state_stays_small` fails if the task's tokio
//! cell grows past 768 B or task, connection and serving future together reach
//! 2 KiB (measured figures per client: docs/PERFORMANCE.md).

use super::link::Link;
use super::order::ClientOrder;
use super::reconnect::Backoff;
use super::session::Request;
use super::state::{Client, ClientContext};
use crate::control::Phase;
use crate::mqtt::connection::Connection;
use crate::record::vocab::Cause;
use crate::record::ClientRecord;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::{sleep_until, Instant};

pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How serving a connection ended without a drop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Served {
    /// The run is over.
    Shutdown,
    /// A planned leave (a client stage ramping the group down).
    Left,
}

/// Where a client stands in its stays under client stages (`stay.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stay {
    /// In the run; its stay ends at `leave_at_us` (None: at the run's end).
    Present { leave_at_us: Option<u64> },
    /// Away after a planned leave; back at `back_at_us` (None: not before
    /// the run ends).
    Away { back_at_us: Option<u64> },
}

/// What a client hands back when it ends.
pub type ClientOutcome = ClientRecord;

impl Client {
    /// One connection from CONNACK to its end: set-up, service, and a clean
    /// DISCONNECT when midge ends it — at the run's end or on a planned
    /// leave — (or the flight recorder when it broke).
    #[allow(clippy::manual_async_fn)] // as `serve`
    fn connection<'a>(
        &'a mut self,
        mut conn: Box<Connection>,
        session_present: bool,
        phase: &'a mut watch::Receiver<Phase>,
        orders: &'a mut watch::Receiver<Option<Arc<ClientOrder>>>,
    ) -> impl std::future::Future<Output = Result<Served, Cause>> + 'a {
        async move {
            let served = match self.begin_connection(&mut conn, session_present).await {
                Ok(()) => self.serve(&mut conn, phase, orders).await,
                Err(cause) => Err(cause),
            };
            if served.is_ok() {
                let _ = self.send_request(&mut conn, Request::Disconnect).await;
                conn.shutdown().await;
            }
            if self.link.awaiting_backlog {
                self.recorder.backlog_never_began(self.timeline.len() as u32);
            }
            self.backlog_began();
            self.session.max_inbound_packet = self.session.max_inbound_packet.max(conn.counters.largest_in);
            self.count(|c| {
                conn.counters.add_to(c);
                c.topic_alias_bytes_left_out += self.link.alias_bytes.0;
                c.topic_alias_bytes_added += self.link.alias_bytes.1;
            });
            self.link.gen.wrote_us = conn.wrote_us;
            if let Some(p) = self.pacing.as_mut() {
                self.link.gen.behind = p.take_behind(self.ctx.run.clock.now_us());
                let change = p.held_change(false);
                self.ctx.metrics.held_back.fetch_add(change, std::sync::atomic::Ordering::Relaxed);
            }
            if served.is_err() {
                // The cause goes into the timeline; the report counts causes from there.
                self.link.gen.flight = conn.flight.snapshot();
            }
            served
        }
    }

    /// Waits out a reconnect delay; true when the run ends meanwhile.
    pub(super) async fn wait_or_shutdown(&mut self, delay: Duration, phase: &mut watch::Receiver<Phase>) -> bool {
        let until = Instant::now() + delay;
        loop {
            let current = *phase.borrow_and_update();
            if self.apply_phase(current) {
                return true;
            }
            self.answer_snapshot(None);
            tokio::select! {
                _ = sleep_until(until) => return false,
                changed = phase.changed() => if changed.is_err() { return true },
            }
        }
    }
}

/// Runs one client to the end of the run (or until it gives up).
// Not `async fn`, on purpose: see the comment in the body.
#[allow(clippy::manual_async_fn)]
pub fn run_client(
    ctx: Arc<ClientContext>,
    index: u32,
    mut phase: watch::Receiver<Phase>,
) -> impl std::future::Future<Output = ClientOutcome> {
    // An async block, not an async fn: an async fn keeps its arguments twice
    // in its state (as given and as moved in), and every idle client's task
    // would carry the copy.
    async move {
        // Made (boxed) at the first drop: most clients never need one, and
        // every idle client's task would carry it.
        let mut backoff: Option<Box<Backoff>> = None;
        let mut client = Client::new(&ctx, index);
        let mut orders = ctx.orders.clone();
        orders.mark_unchanged();
        let mut ever_connected = false;
        // Counted in `metrics.offline` while waiting to reconnect, so the drain
        // waits for this client to come back.
        let mut waiting_to_reconnect = false;
        let set_waiting = |now: bool, was: &mut bool| {
            if now != *was {
                ctx.metrics.offline.fetch_add(if now { 1 } else { -1 }, Ordering::Relaxed);
                *was = now;
            }
        };

        loop {
            if client.apply_phase(*phase.borrow_and_update()) {
                break;
            }
            if matches!(client.stay_now(), Stay::Away { .. }) {
                // Away on plan (left, or dropped past its leave): back at its next join.
                set_waiting(false, &mut waiting_to_reconnect);
                // Boxed: a rare path should not grow every idle client's task.
                if Box::pin(client.wait_until_back(&mut phase)).await {
                    break;
                }
                continue;
            }
            client.plan_leave();
            let now = client.now_us();
            client.link = Link::starting(now);
            let outcome = match Box::pin(client.connect()).await {
                Err(cause) => {
                    client.count(|c| *c.connect_failures.entry(cause.clone()).or_default() += 1);
                    ctx.metrics.on_connect_failed(client.me().broker);
                    // Refused (even if it will retry): publishing need not wait for it.
                    client.mark_ready();
                    Err(cause)
                }
                Ok((conn, session_present)) => {
                    set_waiting(false, &mut waiting_to_reconnect);
                    let now = client.now_us();
                    client.link.gen.connected_us = Some(now);
                    client.link.gen.heard_us = now;
                    ctx.metrics.on_connected(client.me().broker);
                    // Back after a planned leave: a rejoin, not a reconnect.
                    if !client.take_rejoin() && ever_connected {
                        client.count(|c| c.reconnects += 1);
                    }
                    ever_connected = true;
                    if let Some(b) = backoff.as_mut() {
                        b.reset();
                    }
                    // Boxed, and `conn` moved in: the task's own state stays the
                    // size of an idle client, whatever a connection's future needs.
                    let served = Box::pin(client.connection(conn, session_present, &mut phase, &mut orders)).await;
                    ctx.metrics.on_disconnected(client.me().broker, served.is_err());
                    served
                }
            };
            client.link.gen.ended_us = client.now_us();
            client.link.gen.cause = outcome.as_ref().err().cloned();
            let connected = client.link.gen.connected_us.is_some();
            // The connection is over: its generation goes to the timeline, the rest is dropped.
            let ended = std::mem::take(&mut client.link);
            client.timeline.push(ended.gen);
            match outcome {
                Ok(Served::Shutdown) => break,
                Ok(Served::Left) => {
                    if !client.group.persistent() {
                        client.settle_in_flight();
                    }
                    continue;
                }
                Err(_) => {}
            }
            // A client that never got in does not storm the broker: its first
            // refusal is the answer (auth_refused and friends are findings).
            if !ever_connected && !client.group.retry_connect {
                break;
            }
            let Some(b) = client.group.reconnect.map(|p| backoff.get_or_insert_with(|| Box::new(Backoff::new(p))))
            else {
                break;
            };
            if connected && !client.group.persistent() {
                client.settle_in_flight();
            }
            set_waiting(true, &mut waiting_to_reconnect);
            let delay = b.next_delay(rand::random());
            // Boxed: a rare path should not grow every idle client's task.
            if Box::pin(client.wait_or_shutdown(delay, &mut phase)).await {
                break;
            }
        }
        set_waiting(false, &mut waiting_to_reconnect);
        client.settle_in_flight();
        client.mark_ready();
        client.mark_done();
        let limits = client.limits.take().map(|l| l.0).unwrap_or_default();
        let timeline = std::mem::take(&mut client.timeline);
        let witness = client.recorder.take_witness();
        let (publish_log, rx) = client.recorder.into_logs();
        ClientRecord {
            index,
            timeline,
            limits,
            publish_log,
            rx,
            publishing: None,
            witness,
            max_inbound_inflight: client.session.max_inbound_inflight(),
            max_inbound_packet: client.session.max_inbound_packet,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Metrics;
    use crate::mqtt::protocol::ProtocolVersion;
    use crate::plan::Plan;

    /// Every idle client holds this future; keep an eye on its size.
    /// An idle client costs its task (the `run_client` future), its boxed
    /// `Connection` and the boxed future of that connection: together they
    /// must stay well under the 4 KiB per idle client of issues 5 and 11
    /// (docs/PERFORMANCE.md has the rest: tokio's socket state, the plan's
    /// share, the baseline).
    #[tokio::test]
    async fn idle_client_state_stays_small() {
        let file = crate::scenario::ScenarioFile::parse(
            std::path::Path::new("x.toml"),
            "name = \"x\"\n[[group]]\nname = \"g\"\nsubscribe = { filter = \"a/#\" }\n",
        )
        .unwrap();
        let plan = Arc::new(Plan::build(&file, &Default::default()).unwrap());
        let (_o_tx, mut orders) = watch::channel(None);
        let ctx = Arc::new(ClientContext {
            plan,
            metrics: Arc::new(Metrics::new(1)),
            run: Arc::new(crate::control::RunControl::new(crate::record::clock::RunClock::new())),
            endpoints: Arc::from(vec![crate::client::Endpoint {
                addr: "127.0.0.1:1".parse().unwrap(),
                transports: Arc::from(vec![Default::default()]),
            }]),
            orders: orders.clone(),
            snapshots: Default::default(),
        });
        let (_tx, mut phase) = watch::channel(Phase::Connecting);
        let task = std::mem::size_of_val(&run_client(ctx.clone(), 0, phase.clone()));

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let tcp = tokio::net::TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let conn = Box::new(Connection::new(tcp, ProtocolVersion::V311, ctx.run.clock));
        let mut client = Client::new(&ctx, 0);
        let conn_size = std::mem::size_of::<Connection>();
        let serving = std::mem::size_of_val(&client.connection(conn, false, &mut phase, &mut orders));
        let total = task + conn_size + serving;
        // tokio allocates a task as one cell, 128-byte aligned: a 32 B
        // header, the scheduler and task id (16 B), the future (+ 8 B) and a
        // 48 B trailer, rounded up to a multiple of 128.
        let cell = (32 + 16 + task + 8 + 48).next_multiple_of(128);
        eprintln!(
            "idle client: task {task} B (its cell {cell} B) + connection {conn_size} B + its future {serving} B = {total} B"
        );
        assert!(cell <= 768, "the task's cell grew to {cell} B");
        assert!(total < 2 * 1024, "{total}");
    }
}
