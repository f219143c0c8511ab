//! generator_saturated: midge itself, not the broker, was the bottleneck, so
//! every latency and rate in the report describes midge.

use super::words::secs;
use crate::analysis::evidence::{Evidence, SaturationEvidence};
use crate::analysis::model::{Finding, LoadGenerator};
use crate::record::vocab::FindingKind;

pub fn generator_saturated(generator: &LoadGenerator, run_end_us: u64) -> Option<Finding> {
    generator.saturated.then(|| Finding {
        kind: FindingKind::GeneratorSaturated,
        summary: format!(
            "midge itself was the bottleneck, not the broker: {}. Latency and rate figures describe midge, not the broker — give midge a batch_window (e.g. \"1ms\": about half the CPU per message), more cores (--workers), fewer clients per process, or shards on more machines.",
            generator.reasons.join("; ")
        ),
        client_ids: Vec::new(),
        count: 1,
        first_s: 0.0,
        last_s: secs(run_end_us),
        evidence: Evidence::Saturation(SaturationEvidence {
            cpu_utilization: generator.cpu_utilization,
            workers: generator.workers,
            loop_delay_p99_us: generator.loop_delay.p99_us,
            publish_lag_p99_us: generator.publish_lag.p99_us,
        }),
    })
}
