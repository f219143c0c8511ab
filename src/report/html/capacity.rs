//! The Capacity section of a `midge capacity` run's report.html (whose
//! title and first line are the search's sentence): why it stopped,
//! offered vs delivered and latency per step with the knee marked, and the
//! table of steps.

use super::chart::{chart, esc, Axes, VLine, YScale, MIN_POINTS};
use crate::analysis::model::{CapacityInfo, CapacityStep};
use crate::report::markdown::value;
use crate::scenario::CapacityVary;
use plotters::prelude::*;
use std::fmt::Write;

/// "Capacity" (`midge capacity` only; the page's title and first line are
/// the search's sentence): why the search stopped, offered
/// against delivered messages and latency against the stepped value, the
/// knee shaded between the last pass and the first fail, invalid steps as
/// grey dots, and a table of the steps. The rest of the page is the knee
/// step's own run.
pub fn capacity_section(o: &mut String, c: &CapacityInfo) {
    // The search's sentence leads the page, under its title.
    o.push_str("<h2>Capacity</h2>\n");
    let _ = writeln!(
        o,
        "<p>The search stopped: {}. The rest of this page is the report of the first failing step (else of the last step run).</p>",
        esc(&c.reason)
    );
    let mut steps: Vec<&CapacityStep> = c.steps.iter().collect();
    steps.sort_by(|a, b| a.value.total_cmp(&b.value));
    let x_max = steps.iter().map(|s| s.value).fold(1.0, f64::max) * 1.1;
    let x_desc = if c.vary == CapacityVary::Rate { "msg/s per client" } else { "clients per stepped group" };
    let ms = |us: u64| us as f64 / 1000.0;
    let (offered, delivered) = (RGBColor(31, 119, 180), RGBColor(44, 160, 44));
    plot_or_capacity_note(
        o,
        "messages",
        capacity_plot(
            c,
            &steps,
            "capacity: messages offered and delivered per step",
            x_desc,
            ("messages", YScale::Count),
            x_max,
            &[
                ("offered", offered, &|s| s.planned_offered.max(s.offered) as f64),
                ("delivered", delivered, &|s| s.delivered as f64),
            ],
        ),
    );
    plot_or_capacity_note(
        o,
        "latencies",
        capacity_plot(
            c,
            &steps,
            "capacity: latency per step",
            x_desc,
            ("ms", YScale::Linear),
            x_max,
            &[
                ("e2e p50", RGBColor(255, 127, 14), &|s| ms(s.e2e_p50_us)),
                ("e2e p99", RGBColor(214, 39, 40), &|s| ms(s.e2e_p99_us)),
                ("connect p99", RGBColor(148, 103, 189), &|s| ms(s.connect_p99_us)),
            ],
        ),
    );
    let _ = writeln!(
        o,
        "<p>Every step, in the order run; value: {x_desc}; latencies in ms.</p>\n<table style=\"font-size:.85em\"><tr><th>step</th><th>value</th><th>clients</th><th>offered</th><th>delivered</th><th>lost</th><th>connect failures</th><th>e2e p99</th><th>connect p99</th><th>result</th><th style=\"text-align:left\">why</th></tr>"
    );
    for s in &c.steps {
        let (class, result) = if s.invalid {
            ("note", "invalid")
        } else if s.pass {
            ("pass", "pass")
        } else {
            ("fail", "fail")
        };
        let _ = writeln!(
            o,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td{}>{}</td><td{}>{}</td><td>{:.2}</td><td>{:.2}</td><td class=\"{class}\">{result}</td><td style=\"text-align:left\">{}</td></tr>",
            esc(&s.dir),
            value(s.value),
            s.clients,
            s.planned_offered.max(s.offered),
            s.delivered,
            if s.lost > 0 { " class=\"fail\"" } else { "" },
            s.lost,
            if s.connect_failures > 0 { " class=\"fail\"" } else { "" },
            s.connect_failures,
            ms(s.e2e_p99_us),
            ms(s.connect_p99_us),
            esc(&s.why.join("; "))
        );
    }
    o.push_str("</table>\n");
}

fn plot_or_capacity_note(o: &mut String, what: &str, svg: Option<String>) {
    match svg {
        Some(svg) => {
            let _ = writeln!(o, "<figure>{svg}</figure>");
        }
        None => {
            let _ = writeln!(o, "<p class=\"note\">No {} to plot: no step ran.</p>", esc(what));
        }
    }
}

/// A figure of a step's measure, in `StepSeries`, against the stepped value.
type StepSeries<'a> = (&'a str, RGBColor, &'a dyn Fn(&CapacityStep) -> f64);

/// One capacity chart: each measure a line through the judged steps (dots
/// at the steps, the first measure's larger; dots alone below `MIN_POINTS`
/// judged steps), an invalid step's measures as grey dots off the lines, the
/// knee shaded, with dashed lines at the last pass and the first fail. None
/// when no step ran. The y axis: its unit and scale.
fn capacity_plot(
    c: &CapacityInfo,
    steps: &[&CapacityStep],
    caption: &str,
    x_desc: &str,
    (unit, y_scale): (&str, YScale),
    x_max: f64,
    measures: &[StepSeries<'_>],
) -> Option<String> {
    if steps.is_empty() {
        return None;
    }
    let grey = RGBColor(150, 150, 150);
    // Fewer judged steps than a handful: dots only, no line joining them
    // (two or three points would read as a ramp the search never measured).
    let few = steps.iter().filter(|s| !s.invalid).count() < MIN_POINTS;
    let mut series = Vec::new();
    let mut marks = Vec::new();
    let mut legend = Vec::new();
    for (i, &(name, colour, f)) in measures.iter().enumerate() {
        let points: Vec<(f64, f64)> = steps.iter().filter(|s| !s.invalid).map(|s| (s.value, f(s))).collect();
        // The first measure's dots larger, so that it shows as a ring
        // where the next one has the same value (all offered delivered).
        let radius = if i == 0 { 6 } else { 4 };
        marks.extend(points.iter().map(|&(x, y)| (x, y, colour, radius)));
        marks.extend(steps.iter().filter(|s| s.invalid).map(|s| (s.value, f(s), grey, 4)));
        if few {
            legend.push((name, colour));
        } else {
            series.push((name, colour, points));
        }
    }
    let knee = RGBColor(214, 39, 40).mix(0.12);
    let spans = match (c.last_pass, c.first_fail) {
        (Some(p), Some(f)) if p < f => vec![(p, f, knee)],
        _ => Vec::new(),
    };
    let mut lines = Vec::new();
    if let Some(p) = c.last_pass {
        lines.push(VLine { x: p, label: Some(format!("last pass {} ", value(p))), left: true });
    }
    if let Some(f) = c.first_fail {
        lines.push(VLine { x: f, label: Some(format!(" first fail {}", value(f))), left: false });
    }
    if steps.iter().any(|s| s.invalid) {
        legend.push(("invalid step", grey));
    }
    let axes = Axes {
        caption,
        x_desc,
        unit,
        x_max,
        y_min: 1.0,
        x_ticks: None,
        spans,
        lines,
        marks,
        mark_legend: legend,
        y_scale,
    };
    chart(&axes, &series, None)
}
