//! How report.md writes a figure.

/// Microseconds as milliseconds: whole from 10 ms up, else to a hundredth.
pub fn ms(us: u64) -> String {
    if us >= 10_000 {
        format!("{:.0} ms", us as f64 / 1000.0)
    } else {
        format!("{:.2} ms", us as f64 / 1000.0)
    }
}
