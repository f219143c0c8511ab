//! A client: its protocol state (`session`, no I/O) and its task (`task`).

mod announced;
pub mod order;
mod pacing;
mod publish;
pub mod reconnect;
pub mod recorder;
pub mod session;
pub mod snapshot;
mod stay;
pub mod task;

pub use task::{run_client, ClientContext, ClientOutcome};
