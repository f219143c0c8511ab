//! A client of the swarm, one tokio task each.
//!
//! - `session`: the protocol state both ways, no I/O (packet ids, the
//!   inflight window, resends, inbound QoS 2, keepalive), unit-tested
//!   without sockets;
//! - `task`: the loop of connection attempts (`run_client`), which follows the
//!   run's `control::Phase`;
//! - `state`: the `Client`, split by lifetime — run-long state, the
//!   `Publisher`, the stay clock; `link`: what one connection attempt owns;
//! - `connect`: a connection coming up and the packets of midge's own that
//!   go out through the session; `serve`: the connected `select!` loop;
//!   `inbound`: packets from the broker; `publish`: the schedule's PUBLISHes;
//!   `stay`: planned leaves and rejoins; `pacing`: slow consumers;
//! - `recorder`: what the client records; `snapshot`: copies of it for the
//!   periodic report; `announced`: the broker's CONNACK limits;
//!   `reconnect`: the backoff; `order`: the fault schedule's orders (kill,
//!   malformed); `witness`: what the wire shows that a rule may forbid.

mod announced;
mod connect;
mod inbound;
mod link;
pub mod order;
mod pacing;
mod publish;
pub mod reconnect;
pub mod recorder;
mod serve;
pub mod session;
pub mod snapshot;
mod state;
mod stay;
mod task;
mod witness;

pub use state::{ClientContext, Endpoint};
pub use task::{run_client, ClientOutcome, CONNECT_TIMEOUT};
