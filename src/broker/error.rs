//! Why a broker could not be started or reached.

#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("cannot resolve broker host {host}: {source}")]
    Resolve { host: String, source: std::io::Error },
    #[error("cannot start the embedded broker: {0}")]
    Embedded(String),
    #[error("cannot start mosquitto: {0}")]
    Mosquitto(String),
}
