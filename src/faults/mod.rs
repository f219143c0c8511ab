//! Faults on purpose, and what they did. A `[[fault]]` parses into a typed
//! `scenario::FaultSpec` (each action with its own keys), the plan resolves
//! it to the clients it hits (`plan::FaultPlan`, `plan::Targets`), and
//! `schedule` carries it out at its time: through `proxy` (cut, blackhole,
//! delay, drop), the broker handle (restart-broker), `twin` connections
//! (duplicate-ids), or an order to the clients (`client::order`: kill,
//! malformed; stalls the clients take from the plan themselves). The
//! `FaultLog` it returns is what the analysis attributes loss and findings to.
//! `rewrite`: the proxy's rewrites of a packet that break one rule of the
//! protocol (for the witness's tests); `client_id`: whose connection the
//! proxy carries (from its CONNECT). `faults` imports the client, never
//! the other way round.

mod client_id;
pub mod proxy;
mod rewrite;
pub mod schedule;
pub mod twin;
