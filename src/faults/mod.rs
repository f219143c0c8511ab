pub mod proxy;
pub mod schedule;
pub mod twin;
