//! The one chart function behind every plot of report.html: lines, shaded
//! spans, dashed vertical lines, dots, and a legend right of the plot, into
//! one inline SVG; and the HTML escaping the page uses.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

const WIDTH: u32 = 900;

pub const HEIGHT: u32 = 280;

/// The legend's width (a line sample, then the longest name, "e2e
/// uncorrected", at 13 px), the gap on either side of it, and the height of
/// each of its lines.
const LEGEND_WIDTH: u32 = 130;

const LEGEND_GAP: u32 = 10;

const LEGEND_ROW: i32 = 18;

/// A named line of (x, y) points, in a colour; a NaN y breaks the line.
pub type Series<'a> = (&'a str, RGBColor, Vec<(f64, f64)>);

/// What a chart shows besides its lines.
pub struct Axes<'a> {
    pub caption: &'a str,
    pub x_desc: &'a str,
    pub unit: &'a str,
    pub x_max: f64,
    /// The y axis reaches at least this far (then 10 % above the highest point).
    pub y_min: f64,
    /// How many x labels (None: plotters chooses).
    pub x_ticks: Option<usize>,
    /// Shaded (from, to) spans over the whole height.
    pub spans: Vec<(f64, f64, RGBAColor)>,
    /// Dashed vertical lines: stage boundaries, the knee of a capacity search.
    pub lines: Vec<VLine>,
    /// Dots at (x, y), in a colour, of a radius: the steps of a capacity search.
    pub marks: Vec<(f64, f64, RGBColor, u32)>,
    /// Legend rows drawn as a dot (after the lines'): what a colour of dot means.
    pub mark_legend: Vec<(&'a str, RGBColor)>,
}

/// A dashed vertical line at `x`, its label (if any) at the top, right of
/// the line, or left of it when `left`.
pub struct VLine {
    pub x: f64,
    pub label: Option<String>,
    pub left: bool,
}

/// Draws `series` as lines with a legend right of them, into one SVG. None
/// when there is nothing to draw (or plotters fails).
/// `x_label` formats the x labels (None: plotters' own).
pub fn chart(axes: &Axes<'_>, series: &[Series<'_>], x_label: Option<&dyn Fn(&f64) -> String>) -> Option<String> {
    if axes.marks.is_empty() && series.iter().all(|(_, _, points)| points.iter().all(|p| p.1.is_nan())) {
        return None;
    }
    let y_max = series
        .iter()
        .flat_map(|(_, _, p)| p.iter().map(|p| p.1))
        .chain(axes.marks.iter().map(|m| m.1))
        .fold(0.0, f64::max)
        .max(axes.y_min)
        * 1.1;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).ok()?;
        // The legend goes right of the plot, in a margin of its own, so that
        // it covers no line and the last x label is not cut at the edge; the
        // same margin in every plot, so that their seconds line up.
        let mut chart = ChartBuilder::on(&root)
            .caption(axes.caption, ("sans-serif", 16))
            .margin(8)
            .margin_right(LEGEND_WIDTH + 2 * LEGEND_GAP)
            .x_label_area_size(30)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..axes.x_max, 0f64..y_max)
            .ok()?;
        let mut mesh = chart.configure_mesh();
        mesh.x_desc(axes.x_desc).y_desc(axes.unit).light_line_style(WHITE);
        if let Some(f) = x_label {
            mesh.x_label_formatter(f);
        }
        if let Some(n) = axes.x_ticks {
            mesh.x_labels(n);
        }
        mesh.draw().ok()?;
        for &(from, to, colour) in &axes.spans {
            chart
                .draw_series(std::iter::once(Rectangle::new([(from, 0.0), (to.max(from), y_max)], colour.filled())))
                .ok()?;
        }
        for line in &axes.lines {
            let (x, grey) = (line.x, RGBColor(80, 80, 80).mix(0.7));
            let dashes = (0..40).map(|k| {
                let (a, b) = (k as f64 / 40.0 * y_max, (k as f64 + 0.5) / 40.0 * y_max);
                PathElement::new(vec![(x, a), (x, b)], grey.stroke_width(1))
            });
            chart.draw_series(dashes).ok()?;
            if let Some(label) = &line.label {
                let mut font = ("sans-serif", 11).into_font().color(&grey);
                if line.left {
                    font = font.pos(Pos::new(HPos::Right, VPos::Top));
                }
                chart.draw_series(std::iter::once(Text::new(label.clone(), (x, y_max), font))).ok()?;
            }
        }
        let mut legend = Vec::new();
        for (name, colour, points) in series {
            let colour = *colour;
            let pieces = points.split(|p| p.1.is_nan()).filter(|piece| !piece.is_empty());
            if pieces.clone().next().is_some() {
                legend.push((*name, colour));
            }
            for piece in pieces {
                chart.draw_series(LineSeries::new(piece.iter().copied(), colour.stroke_width(2))).ok()?;
            }
        }
        for &(x, y, colour, radius) in &axes.marks {
            chart.draw_series(std::iter::once(Circle::new((x, y), radius, colour.filled()))).ok()?;
        }
        // The legend, one line sample and name a row from the plot's top
        // right, on the whole picture (plotters clips its own to the plot).
        let (x_range, y_range) = chart.plotting_area().get_pixel_range();
        let x = x_range.end + LEGEND_GAP as i32;
        let rows = legend.len();
        for (i, (name, colour)) in legend.into_iter().enumerate() {
            let y = y_range.start + 8 + LEGEND_ROW * i as i32;
            root.draw(&PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(2))).ok()?;
            root.draw(&Text::new(name, (x + 24, y - 6), ("sans-serif", 13))).ok()?;
        }
        for (i, &(name, colour)) in axes.mark_legend.iter().enumerate() {
            let y = y_range.start + 8 + LEGEND_ROW * (rows + i) as i32;
            root.draw(&Circle::new((x + 9, y), 4, colour.filled())).ok()?;
            root.draw(&Text::new(name, (x + 24, y - 6), ("sans-serif", 13))).ok()?;
        }
        root.present().ok()?;
    }
    Some(svg)
}

pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}
