//! A client: its protocol state (`session`, no I/O) and its task (`task`).

mod announced;
mod connect;
mod inbound;
mod link;
mod pacing;
mod publish;
pub mod reconnect;
pub mod recorder;
mod serve;
pub mod session;
pub mod snapshot;
mod state;
mod stay;
pub mod task;

pub use state::ClientContext;
pub use task::{run_client, ClientOutcome, Phase};
