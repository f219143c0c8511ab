//! `report.html`: one self-contained file (inline SVG and CSS, nothing
//! fetched) with the plots a person wants first — rates, e2e p99,
//! connected clients, and the CPU and memory of midge and the broker over
//! time, with loss windows and faults marked, and latency by percentile from
//! the HDR histograms — the headline tables, and the whole Markdown report
//! below them.
//!
//! The page is HTML throughout: report.md's sections close it rendered
//! (`prose`), tables and all. The expectations table comes first after the
//! summary, a failed one in red with its reason. Latency by percentile is on
//! a log scale; a count axis labels whole numbers only; a series of fewer
//! than `MIN_POINTS` points is said in words, not drawn as a ramp.
//!
//! The broker's `$SYS` rates are plotted beside midge's
//! (`broker_counter_plot`); an unverified TLS certificate is shown in red; a
//! capacity run's page opens with `capacity::capacity_section`.

mod capacity;
mod chart;
mod prose;

use crate::analysis::model::Report;
use crate::record::vocab::Verdict;
use capacity::capacity_section;
use chart::MIN_POINTS;
use chart::{chart, esc, Axes, Series, VLine, YScale};
use plotters::prelude::*;
use std::fmt::Write;

/// A point's count as a rate: over the seconds it covers (more than one
/// once a long run's series is rolled up).
fn per_s(count: u64, p: &crate::record::TimePoint) -> f64 {
    if p.span_s > 0.0 {
        count as f64 / p.span_s
    } else {
        count as f64
    }
}

/// The whole page: the headline tables, the plots, and report.md's
/// sections, rendered, below them for everything else.
pub fn render(r: &Report) -> String {
    let mut o = String::new();
    head_and_summary(&mut o, r);
    if let Some(c) = &r.capacity {
        capacity_section(&mut o, c);
    }
    expectations_table(&mut o, r);
    messages_table(&mut o, r);
    latency_table(&mut o, r);
    findings_list(&mut o, r);
    violations_tables(&mut o, r);
    over_time_plots(&mut o, r);
    loss_windows_table(&mut o, r);
    o.push_str("<h2>The whole report</h2>\n<p class=\"note\">report.md, section by section.</p>\n");
    o.push_str(&prose::markdown_to_html(&crate::report::markdown::render(r)));
    o.push_str("</body></html>\n");
    o
}

/// The document head (inline style, nothing fetched), the title with its
/// verdict, one line of what ran where, and the warnings that change how the
/// rest should be read.
fn head_and_summary(o: &mut String, r: &Report) {
    let title = format!("midge — {}", r.scenario.name);
    let verdict_class = match r.verdict {
        Verdict::Pass => "pass",
        Verdict::Fail => "fail",
        Verdict::Interrupted => "interrupted",
    };
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{}</style></head><body>\n",
        esc(&title),
        STYLE
    );
    match &r.capacity {
        // The search's answer, not the verdict of its (deliberately
        // failing) last step.
        Some(c) => {
            let class = if c.last_pass.is_some() { "pass" } else { "fail" };
            let _ = writeln!(
                o,
                "<h1>{} <span class=\"{class}\">capacity</span></h1>\n<p class=\"answer\">{}</p>",
                esc(&r.scenario.name),
                esc(&crate::report::markdown::capacity_sentence(c))
            );
        }
        None => {
            let _ = writeln!(
                o,
                "<h1>{} <span class=\"{verdict_class}\">{}</span></h1>",
                esc(&r.scenario.name),
                esc(&r.verdict.as_str().to_uppercase())
            );
        }
    }
    if let Some(line) = crate::report::markdown::reproduction_line(r) {
        let _ = writeln!(o, "<p class=\"answer\">{}</p>", esc(&line));
    }
    let _ = writeln!(
        o,
        "<p>{} · broker {} ({}) · started {} · published for {:.1} s · run {}{}</p>",
        esc(&r.scenario.file),
        esc(&r.broker.url),
        esc(&r.broker.kind),
        esc(&r.started_at),
        r.duration_s,
        esc(&r.run_id),
        if r.interrupted { " · <b>interrupted</b>" } else { "" }
    );
    if let Some(e) = &r.error {
        let _ = writeln!(o, "<p class=\"fail\">{}</p>", esc(e));
    }
    for note in super::markdown::headline_notes(r) {
        let _ = writeln!(o, "<p>{}</p>", esc(&note.replace("**", "").replace('`', "")));
    }
    if let Some(t) = &r.broker.tls {
        let text = esc(&super::markdown::tls_sentence(t).replace("**", "").replace('`', ""));
        let class = if t.insecure { " class=\"fail\"" } else { "" };
        let _ = writeln!(o, "<p{class}>{text}</p>");
    }
    if r.load_generator.saturated {
        let _ = writeln!(
            o,
            "<p class=\"fail\">midge itself was the bottleneck: {}. The latency and rate figures describe midge, not the broker.</p>",
            esc(&r.load_generator.reasons.join("; "))
        );
    }
}

/// "Expectations": each of the scenario's thresholds (and the QoS
/// contract's) with what was observed; a failed one in red, its reason in
/// words.
fn expectations_table(o: &mut String, r: &Report) {
    if r.expectations.is_empty() {
        return;
    }
    o.push_str(
        "<h2>Expectations</h2><table><tr><th>expectation</th><th>threshold</th><th>observed</th><th class=\"result\">result</th></tr>\n",
    );
    for e in &r.expectations {
        let observed = e.observed.map_or("–".to_string(), |v| v.to_string());
        let result = if e.pass {
            "<td class=\"pass result\">pass</td>".to_string()
        } else {
            format!("<td class=\"fail result\">FAIL: {}</td>", esc(&crate::report::markdown::expectation_reason(e)))
        };
        let _ = writeln!(
            o,
            "<tr><td>{}{}</td><td>{}</td><td>{observed}</td>{result}</tr>",
            esc(&e.name),
            if e.default { " (default)" } else { "" },
            esc(&e.threshold)
        );
    }
    o.push_str("</table>\n");
}

/// "Messages": the run's counts in one row, lost and duplicated marked when
/// there are any.
fn messages_table(o: &mut String, r: &Report) {
    let m = &r.messages;
    let _ = writeln!(o, "<h2>Messages</h2><table><tr>");
    let cells = [
        ("published", m.published),
        ("acked", m.acked),
        ("expected", m.expected),
        ("received", m.received),
        ("lost", m.lost),
        ("duplicated", m.duplicated),
        ("out of order", m.out_of_order),
        ("in doubt", m.in_doubt),
        ("missed offline", m.missed_offline),
    ];
    for (name, _) in cells {
        let _ = write!(o, "<th>{name}</th>");
    }
    o.push_str("</tr><tr>");
    for (name, v) in cells {
        let bad = (name == "lost" || name == "duplicated") && v > 0;
        let _ = write!(o, "<td{}>{v}</td>", if bad { " class=\"fail\"" } else { "" });
    }
    o.push_str("</tr></table>\n");
}

/// "Latency (ms)": the percentiles of the headline latencies.
fn latency_table(o: &mut String, r: &Report) {
    let l = &r.latency;
    o.push_str("<h2>Latency (ms)</h2><table><tr><th></th><th>count</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th></tr>\n");
    // The whole connect, then each handshake that happened (TCP always).
    let steps =
        [("TCP connect", &l.connect_tcp), ("TLS handshake", &l.connect_tls), ("WebSocket handshake", &l.connect_ws)];
    let rows = [("connect (to CONNACK)", &l.connect)]
        .into_iter()
        .chain(steps.into_iter().filter(|(_, s)| s.count > 0))
        .chain([
            ("end to end (from intended send)", &l.e2e),
            ("end to end (uncorrected)", &l.e2e_uncorrected),
            ("publish ack", &l.ack),
        ]);
    for (name, s) in rows {
        let ms = |us: u64| format!("{:.2}", us as f64 / 1000.0);
        let _ = writeln!(
            o,
            "<tr><td>{name}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            s.count,
            ms(s.p50_us),
            ms(s.p90_us),
            ms(s.p99_us),
            ms(s.p999_us),
            ms(s.max_us)
        );
    }
    o.push_str("</table>\n");
}

/// "Findings": one line each; their evidence is in the Markdown below.
fn findings_list(o: &mut String, r: &Report) {
    if r.findings.is_empty() {
        return;
    }
    o.push_str("<h2>Findings</h2><ul>\n");
    for f in &r.findings {
        let _ = writeln!(o, "<li><b>{}</b>: {}</li>", esc(f.kind.as_str()), esc(&f.summary));
    }
    o.push_str("</ul>\n");
}

/// "Protocol violations": per rule, its count and clients and the packets
/// (as report.md's section, `markdown::violations`).
fn violations_tables(o: &mut String, r: &Report) {
    use crate::report::markdown::violations::{by_rule, flags, limit_line, publisher_seq};
    let rules = by_rule(r);
    if rules.is_empty() {
        return;
    }
    o.push_str("<h2>Protocol violations</h2>\n");
    for (rule, list) in rules {
        let count: u64 = list.iter().map(|e| e.count).sum();
        let clients: Vec<&str> = list.iter().take(10).map(|e| e.client.as_str()).collect();
        let _ = writeln!(
            o,
            "<h3>[{}] {}</h3><p>{count} time(s), toward {} client(s): {}</p>",
            esc(&rule.id),
            esc(&rule.title),
            list.len(),
            esc(&clients.join(", "))
        );
        for line in list.iter().take(10).filter_map(|e| limit_line(rule, e)) {
            let _ = writeln!(o, "<p>{}</p>", esc(&line));
        }
        if list.iter().all(|e| e.packets.is_empty()) {
            o.push_str("<p>Judged from the client's record (not one packet): no packets kept.</p>\n");
            continue;
        }
        o.push_str("<table><tr><th>client</th><th>time (s)</th><th>direction</th><th>packet</th><th>flags</th><th>id</th><th>topic</th><th>publisher/seq</th></tr>\n");
        for e in list.iter().take(10) {
            for p in &e.packets {
                let _ = writeln!(
                    o,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    esc(&e.client),
                    p.t_s,
                    p.direction,
                    esc(&p.packet_type),
                    esc(&flags(p)),
                    p.packet_id,
                    esc(p.topic.as_deref().unwrap_or("-")),
                    esc(&publisher_seq(p))
                );
            }
        }
        o.push_str("</table>\n");
    }
}

/// "Over time": rates, e2e p99 and connected clients per second, CPU and
/// memory of midge and the broker (only when measured), then latency by
/// percentile; a note in place of any other plot with nothing to draw.
fn over_time_plots(o: &mut String, r: &Report) {
    o.push_str("<h2>Over time</h2>\n");
    if !r.loss_windows.is_empty() || !r.faults.is_empty() {
        o.push_str("<p>Shaded: loss windows (red) and faults (grey), in seconds since the run began.</p>\n");
    }
    let rates: Vec<(f64, f64, f64)> =
        r.timeseries.iter().map(|p| (p.t_s, per_s(p.published, p), per_s(p.received, p))).collect();
    plot_or_note(
        o,
        "messages per second",
        line_plot(
            r,
            "messages per second",
            "msg/s",
            YScale::Linear,
            &[
                ("published", RGBColor(31, 119, 180), rates.iter().map(|p| (p.0, p.1)).collect()),
                ("received", RGBColor(44, 160, 44), rates.iter().map(|p| (p.0, p.2)).collect()),
            ],
        ),
    );
    let p99: Vec<(f64, f64)> =
        r.timeseries.iter().filter_map(|p| p.e2e_p99_us.map(|us| (p.t_s, us as f64 / 1000.0))).collect();
    plot_or_note(
        o,
        "e2e latency p99",
        line_plot(
            r,
            "end-to-end latency, p99 of each second",
            "ms",
            YScale::Linear,
            &[("e2e p99", RGBColor(214, 39, 40), p99)],
        ),
    );
    let connected: Vec<(f64, f64)> = r.timeseries.iter().map(|p| (p.t_s, p.connected as f64)).collect();
    plot_or_note(
        o,
        "connected clients",
        line_plot(
            r,
            "connected clients",
            "clients",
            YScale::Count,
            &[("connected", RGBColor(148, 103, 189), connected)],
        ),
    );
    resource_plots(o, r);
    broker_counter_plot(o, r);

    plot_or_note(o, "latency distribution", percentile_plot(r).into());
}

/// CPU (% of one core) and memory (resident, MiB) of midge and, when midge
/// knew its process, of the broker: who was busy. A second without a value
/// (the broker down during a restart, a last interval too short for a CPU
/// figure) breaks the line. Nothing at all when nothing was measured (a
/// record from before midge measured it).
fn resource_plots(o: &mut String, r: &Report) {
    let series = |f: &dyn Fn(&crate::record::TimePoint) -> Option<f64>| -> Vec<(f64, f64)> {
        r.timeseries.iter().map(|p| (p.t_s, f(p).unwrap_or(f64::NAN))).collect()
    };
    let (midge, broker) = (RGBColor(31, 119, 180), RGBColor(255, 127, 14));
    let mib = |kib: Option<u64>| kib.map(|k| k as f64 / 1024.0);
    for (caption, unit, of_midge, of_broker) in [
        ("CPU, % of one core", "% of a core", series(&|p| p.midge_cpu_pct), series(&|p| p.broker_cpu_pct)),
        ("memory (resident), MiB", "MiB", series(&|p| mib(p.midge_rss_kib)), series(&|p| mib(p.broker_rss_kib))),
    ] {
        let measured: Vec<Series<'_>> = [("midge", midge, of_midge), ("broker", broker, of_broker)]
            .into_iter()
            .filter(|(_, _, points)| points.iter().any(|p| !p.1.is_nan()))
            .collect();
        match line_plot(r, caption, unit, YScale::Linear, &measured) {
            Drawing::Nothing => {}
            drawing => plot_or_note(o, caption, drawing),
        }
    }
}

/// The broker's own counters ($SYS) as rates per second, each round
/// against the one before, beside midge's published and received: where
/// the two sides part. Only when the broker published a series.
fn broker_counter_plot(o: &mut String, r: &Report) {
    let series = &r.broker.sys_series;
    if series.is_empty() {
        return;
    }
    let rate = |f: fn(&crate::record::SysPoint) -> Option<u64>| -> Vec<(f64, f64)> {
        series
            .windows(2)
            .map(|w| {
                let dt = w[1].t_s - w[0].t_s;
                let v = match (f(&w[0]), f(&w[1])) {
                    (Some(a), Some(b)) if dt > 0.0 && b >= a => (b - a) as f64 / dt,
                    // Not published yet, or reset (a restarted broker): a gap.
                    _ => f64::NAN,
                };
                (w[1].t_s, v)
            })
            .collect()
    };
    let midge = |f: fn(&crate::record::TimePoint) -> u64| -> Vec<(f64, f64)> {
        r.timeseries.iter().map(|p| (p.t_s, per_s(f(p), p))).collect()
    };
    plot_or_note(
        o,
        "broker's counters",
        line_plot(
            r,
            "broker's counters (per second)",
            "msg/s",
            YScale::Linear,
            &[
                ("broker received", RGBColor(255, 127, 14), rate(|p| p.received)),
                ("broker sent", RGBColor(140, 86, 75), rate(|p| p.sent)),
                ("broker dropped", RGBColor(214, 39, 40), rate(|p| p.dropped)),
                ("midge published", RGBColor(31, 119, 180), midge(|p| p.published)),
                ("midge received", RGBColor(44, 160, 44), midge(|p| p.received)),
            ],
        ),
    );
}

/// "Loss windows": every window in which messages went missing, and whose.
fn loss_windows_table(o: &mut String, r: &Report) {
    if r.loss_windows.is_empty() {
        return;
    }
    o.push_str("<h2>Loss windows</h2><table><tr><th>kind</th><th>client</th><th>from s</th><th>to s</th><th>lost</th><th>missed offline</th></tr>\n");
    for w in &r.loss_windows {
        let _ = writeln!(
            o,
            "<tr><td>{}</td><td>{}</td><td>{:.2}</td><td>{:.2}</td><td>{}</td><td>{}</td></tr>",
            esc(w.kind.as_str()),
            esc(w.client.as_deref().unwrap_or("–")),
            w.start_s,
            w.end_s,
            w.lost,
            w.missed_offline
        );
    }
    o.push_str("</table>\n");
}

/// A plot, or why there is none.
enum Drawing {
    Svg(String),
    /// No point at all.
    Nothing,
    /// Fewer than `MIN_POINTS` points in its longest series: this many.
    TooFew(usize),
}

impl From<Option<String>> for Drawing {
    fn from(svg: Option<String>) -> Drawing {
        svg.map_or(Drawing::Nothing, Drawing::Svg)
    }
}

fn plot_or_note(o: &mut String, what: &str, drawing: Drawing) {
    let _ = match drawing {
        Drawing::Svg(svg) => writeln!(o, "<figure>{svg}</figure>"),
        Drawing::Nothing => {
            writeln!(o, "<p class=\"note\">No {} to plot: the run's time series has no points for it.</p>", esc(what))
        }
        Drawing::TooFew(n) => writeln!(
            o,
            "<p class=\"note\">No plot of {}: the run's time series has only {n} point{} for it, too few for a line (the tables hold the figures; a longer run plots it).</p>",
            esc(what),
            if n == 1 { "" } else { "s" }
        ),
    };
}

/// One SVG line chart over the run's seconds, with the report's loss windows
/// and faults as shaded spans; `TooFew` when its longest series has fewer
/// than `MIN_POINTS` points, `Nothing` when there is nothing to draw.
fn line_plot(r: &Report, caption: &str, unit: &str, y_scale: YScale, series: &[Series<'_>]) -> Drawing {
    let points = series.iter().map(|(_, _, p)| p.iter().filter(|p| !p.1.is_nan()).count()).max().unwrap_or(0);
    if points == 0 {
        return Drawing::Nothing;
    }
    if points < MIN_POINTS {
        return Drawing::TooFew(points);
    }
    let spans = r
        .loss_windows
        .iter()
        .map(|w| (w.start_s, w.end_s, RGBColor(214, 39, 40).mix(0.15)))
        .chain(r.faults.iter().map(|f| (f.at_s, f.until_s.unwrap_or(f.at_s + 0.1), BLACK.mix(0.12))))
        .collect();
    let x_max = series.iter().flat_map(|(_, _, p)| p.iter().map(|p| p.0)).fold(1.0, f64::max);
    // Stage boundaries: every stage's start, labelled with the stage, and
    // the last one's end.
    let lines = r
        .stages
        .iter()
        .enumerate()
        .map(|(i, st)| VLine { x: st.start_s, label: Some(format!("stage {}", i + 1)), left: false })
        .chain(r.stages.last().map(|st| VLine { x: st.end_s, label: None, left: false }))
        .collect();
    let axes = Axes {
        caption,
        x_desc: "s since the run began",
        unit,
        x_max,
        y_min: 1.0,
        x_ticks: None,
        spans,
        lines,
        marks: Vec::new(),
        mark_legend: Vec::new(),
        y_scale,
    };
    chart(&axes, series, None).into()
}

/// The HDR view: latency by percentile, the x axis in "nines" (90 %,
/// 99 %, 99.9 %, …) so the tail gets the room it deserves, the y axis
/// logarithmic so that a 1 s tail leaves a 1 ms median readable.
fn percentile_plot(r: &Report) -> Option<String> {
    use base64::Engine;
    use hdrhistogram::serialization::Deserializer;
    let decode = |hdr: &str| -> Option<hdrhistogram::Histogram<u64>> {
        let bytes = base64::engine::general_purpose::STANDARD.decode(hdr).ok()?;
        Deserializer::new().deserialize(&mut bytes.as_slice()).ok()
    };
    let mut series = Vec::new();
    let mut max_nines: f64 = 1.0;
    for (name, summary, colour) in [
        ("e2e", &r.latency.e2e, RGBColor(214, 39, 40)),
        ("e2e uncorrected", &r.latency.e2e_uncorrected, RGBColor(255, 127, 14)),
        ("publish ack", &r.latency.ack, RGBColor(31, 119, 180)),
        ("connect", &r.latency.connect, RGBColor(148, 103, 189)),
    ] {
        let Some(h) = decode(&summary.hdr).filter(|h| !h.is_empty()) else { continue };
        // Up to the last recorded value's share of nines (1 / count).
        let nines_limit = (h.len() as f64).log10().clamp(1.0, 6.0);
        max_nines = max_nines.max(nines_limit);
        let points: Vec<(f64, f64)> = (0..=(nines_limit * 20.0) as u32)
            .map(|i| {
                let nines = i as f64 / 20.0;
                let q = 1.0 - 10f64.powf(-nines);
                (nines, h.value_at_quantile(q) as f64 / 1000.0)
            })
            .collect();
        series.push((name, colour, points));
    }
    let axes = Axes {
        caption: "latency by percentile (HDR)",
        x_desc: "percentile",
        unit: "ms (log scale)",
        x_max: max_nines.ceil(),
        y_min: 0.001,
        x_ticks: Some(max_nines.ceil() as usize + 1),
        spans: Vec::new(),
        lines: Vec::new(),
        marks: Vec::new(),
        mark_legend: Vec::new(),
        y_scale: YScale::Log,
    };
    chart(
        &axes,
        &series,
        Some(&|n| {
            let k = n.round() as i32;
            if (n - k as f64).abs() > 1e-6 {
                String::new()
            } else {
                format!("{:.*}%", (k - 2).max(0) as usize, 100.0 - 100.0 * 10f64.powi(-k))
            }
        }),
    )
}

/// Long lines wrap (a client id, a topic, a path); a wide table scrolls
/// inside the column instead of widening the page; a bold word in a table
/// cell is report.md's FAIL, so red.
const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:960px;margin:2em auto;padding:0 1em;color:#222;overflow-wrap:anywhere}\
table{border-collapse:collapse;margin:.5em 0;display:block;max-width:100%;overflow-x:auto}\
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:right;overflow-wrap:normal}\
th:first-child,td:first-child{text-align:left}.pass{color:#1a7f37}.fail{color:#cf222e;font-weight:bold}\
td strong{color:#cf222e}.result{text-align:left}.answer{font-size:1.15em;font-weight:bold}\
figure{margin:1em 0}svg{max-width:100%;height:auto}pre{background:#f6f8fa;padding:1em;white-space:pre-wrap;font-size:.85em}\
code{background:#f6f8fa;padding:0 .2em}.note{color:#666}";

#[cfg(test)]
mod tests {
    use crate::analysis::model::{CapacityInfo, CapacityStep};
    use crate::analysis::testkit;

    #[test]
    fn escapes_markup() {
        assert_eq!(super::esc("<a href=\"x\">&</a>"), "&lt;a href=&quot;x&quot;&gt;&amp;&lt;/a&gt;");
    }

    /// pub0 sends 100 QoS 1 messages, sub0 misses three: the default
    /// expectation fails; `seconds` points of time series.
    fn three_lost(seconds: u32) -> crate::analysis::model::Report {
        use testkit::{connect, every, publish, receive};
        let plan = testkit::plan("name = \"t\"\n[[group]]\nname = \"pub\"\npublish = { topic = \"t/1\", qos = 1, rate = 100.0 }\n[[group]]\nname = \"sub\"\nsubscribe = { filter = \"t/#\", qos = 1 }\n");
        let mut rec = testkit::record(&plan);
        connect(&mut rec, 0, 500_000, 10_000_000, None);
        connect(&mut rec, 1, 500_000, 10_000_000, None);
        publish(&mut rec, 0, 1, every(1_000_000, 10_000, 100));
        receive(&mut rec, 1, 0, (0..90).chain(93..100));
        let mut r = crate::analysis::analyse(&plan, &rec);
        r.timeseries = (0..seconds)
            .map(|s| crate::record::TimePoint {
                t_s: s as f64 + 1.0,
                span_s: 1.0,
                published: 10,
                received: 10,
                connected: 2,
                e2e_p99_us: Some(1_000),
                midge_cpu_pct: None,
                midge_rss_kib: None,
                broker_cpu_pct: None,
                broker_rss_kib: None,
            })
            .collect();
        r
    }

    /// Every label of an SVG's text.
    fn svg_texts(svg: &str) -> Vec<String> {
        svg.split("</text>").filter_map(|t| t.rfind('>').map(|i| t[i + 1..].trim().to_string())).collect()
    }

    /// The page is HTML throughout: report.md's tables and headings come out
    /// as tables and headings, no Markdown is left as text, and the
    /// expectations table shows a failed one in red with its reason.
    #[test]
    fn the_page_is_html_throughout() {
        let html = super::render(&three_lost(10));
        assert!(!html.contains("<pre"), "no preformatted text");
        assert!(!html.contains("|---") && !html.contains("| all |"), "no Markdown table as text");
        assert!(!html.contains("**"), "no Markdown emphasis as text");
        for line in html.lines().flat_map(|l| l.split('>').skip(1)) {
            assert!(!line.starts_with('#'), "a Markdown heading as text: {line:?}");
        }
        assert!(html.contains("<h2>Expectations</h2>"), "{html}");
        assert!(
            html.contains("<td>qos1_qos2_lost (default)</td><td>&lt;= 0</td><td>3</td><td class=\"fail result\">FAIL: 3 is more than the 0 allowed</td>"),
            "{html}"
        );
        // report.md's sections, rendered under the page's own.
        let whole = html.find("<h2>The whole report</h2>").unwrap();
        for needle in
            ["<h3>Expectations</h3>", "<h3>Messages</h3>", "<h3>Latency</h3>", "<td><strong>FAIL</strong></td>"]
        {
            assert!(html[whole..].contains(needle), "{needle:?} in {}", &html[whole..]);
        }
        assert!(html[whole..].matches("<table>").count() >= 3);
        assert!(super::STYLE.contains("overflow-wrap:anywhere") && super::STYLE.contains("overflow-x:auto"));
    }

    /// A run of a few seconds is not drawn as ramps: its plots over time say
    /// how few points there were; from `MIN_POINTS` on they are drawn.
    #[test]
    fn a_series_of_few_points_is_said_not_drawn() {
        let html = super::render(&three_lost(3));
        assert!(!html.contains("\nconnected clients\n</text>"), "no plot of 3 points");
        assert!(
            html.contains("No plot of connected clients: the run's time series has only 3 points for it"),
            "{html}"
        );
        let html = super::render(&three_lost(super::MIN_POINTS as u32));
        assert!(html.contains("\nconnected clients\n</text>") && !html.contains("No plot of connected clients"));
    }

    /// A 1 s tail over a 1 ms body: the percentile plot's y axis is
    /// logarithmic, labelled at the powers of ten.
    #[test]
    fn latency_by_percentile_is_on_a_log_scale() {
        let mut r = three_lost(10);
        let mut h = crate::record::hist::new_histogram();
        h.record_n(1_000, 990).unwrap();
        h.record_n(1_000_000, 10).unwrap();
        r.latency.e2e.hdr = crate::record::hist::encode(&h);
        let svg = super::percentile_plot(&r).unwrap();
        let labels = svg_texts(&svg);
        assert!(svg.contains("ms (log scale)"), "{labels:?}");
        for decade in ["1", "10", "100", "1000"] {
            assert!(labels.iter().any(|l| l == decade), "{decade} on the y axis: {labels:?}");
        }
        assert!(!labels.iter().any(|l| l == "200" || l == "500"), "not linear: {labels:?}");
    }

    /// A count axis labels whole numbers, and no axis writes "2.0".
    #[test]
    fn count_axes_label_whole_numbers() {
        use super::chart::{chart, Axes, YScale};
        let points: Vec<(f64, f64)> = (0..=10).map(|s| (s as f64, (s % 4) as f64)).collect();
        let labels = |y_scale| {
            let axes = Axes {
                caption: "c",
                x_desc: "s",
                unit: "clients",
                x_max: 10.0,
                y_min: 1.0,
                x_ticks: None,
                spans: Vec::new(),
                lines: Vec::new(),
                marks: Vec::new(),
                mark_legend: Vec::new(),
                y_scale,
            };
            svg_texts(&chart(&axes, &[("n", plotters::style::RGBColor(1, 2, 3), points.clone())], None).unwrap())
        };
        let (count, linear) = (labels(YScale::Count), labels(YScale::Linear));
        assert!(linear.iter().any(|l| l.contains('.')), "a linear axis of 0..3.3 has fractions: {linear:?}");
        assert!(!count.iter().any(|l| l.contains('.')), "{count:?}");
        assert!(["0", "1", "2", "3"].iter().all(|n| count.iter().any(|l| l == n)), "{count:?}");
        assert!(!linear.iter().chain(&count).any(|l| l.ends_with(".0")), "{linear:?}");
    }

    fn step(value: f64, pass: bool, invalid: bool) -> CapacityStep {
        CapacityStep {
            dir: format!("steps/{value}"),
            value,
            clients: 1,
            rate_per_client: value,
            offered: value as u64 * 2,
            planned_offered: value as u64 * 2,
            delivered_ratio: if pass { 1.0 } else { 25.0 / value },
            never_connected: 0,
            delivered: if pass { value as u64 * 2 } else { 50 },
            lost: if pass { 0 } else { value as u64 * 2 - 50 },
            connect_failures: 0,
            e2e_p50_us: 1_000,
            e2e_p99_us: 5_000,
            e2e_receive_time: Default::default(),
            connect_p99_us: 2_000,
            broker_cpu_s: None,
            broker_rss_kib: None,
            midge_cpu_utilization: 0.1,
            pass,
            invalid,
            why: if pass { Vec::new() } else { vec!["lost 30 > 0".into()] },
        }
    }

    /// A capacity search's page opens with its curves, the knee and the
    /// invalid step marked; an ordinary run's page has no such section.
    #[test]
    fn a_capacity_search_opens_with_its_curves() {
        let plan = testkit::plan("name = \"t\"\n[[group]]\nname = \"pub\"\npublish = { topic = \"a\", rate = 10.0 }\n");
        let mut r = crate::analysis::analyse(&plan, &testkit::record(&plan));
        assert!(!super::render(&r).contains("<h2>Capacity</h2>"));
        r.capacity = Some(CapacityInfo {
            vary: crate::scenario::CapacityVary::Rate,
            groups: vec!["pub".into()],
            hold_s: 2.0,
            broker_url: "mqtt://127.0.0.1:1883".into(),
            broker_kind: "external".into(),
            fresh_broker: false,
            // In the order run: the ladder, then the bisection.
            steps: vec![
                step(10.0, true, false),
                step(40.0, false, false),
                step(20.0, true, false),
                step(30.0, true, true),
            ],
            last_pass: Some(20.0),
            first_fail: Some(40.0),
            reason: "40 msg/s per client fails: lost 30 > 0".into(),
        });
        let html = super::render(&r);
        // The page leads with the search's answer, not the step's verdict.
        let h1 = &html[html.find("<h1>").unwrap()..html.find("<h2>").unwrap()];
        assert!(h1.contains("capacity</span></h1>") && !h1.contains("FAIL</span>"), "{h1}");
        assert!(h1.contains("<p class=\"answer\">Holds 20 msg/s per client"), "{h1}");
        assert!(h1.contains("breaks at 40 msg/s per client: lost 30 &gt; 0.</p>"), "{h1}");
        let (from, to) = (html.find("<h2>Capacity</h2>").unwrap(), html.find("<h2>Messages</h2>").unwrap());
        let section = &html[from..to];
        assert_eq!(section.matches("<svg").count(), 2, "{section}");
        for needle in [
            "capacity: messages offered and delivered per step",
            "capacity: latency per step",
            "last pass 20",
            "first fail 40",
            "invalid step",
            "<td class=\"note\">invalid</td>",
        ] {
            assert!(section.contains(needle), "{needle:?} in {section}");
        }
        // Three judged steps: dots, no line through them; from five on, lines.
        let line = "stroke-width=\"2\" points=";
        assert!(!section.contains(line), "{section}");
        let c = r.capacity.as_mut().unwrap();
        c.steps.extend([step(5.0, true, false), step(15.0, true, false)]);
        let html = super::render(&r);
        let section = &html[html.find("<h2>Capacity</h2>").unwrap()..html.find("<h2>Messages</h2>").unwrap()];
        assert!(section.matches(line).count() >= 2 * 5, "a line and its legend sample per measure: {section}");
        assert!(!section.contains("<script") && !section.contains("href="));
    }
}
