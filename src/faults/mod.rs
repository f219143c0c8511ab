pub mod proxy;
pub mod schedule;
