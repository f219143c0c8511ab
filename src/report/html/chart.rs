//! The one chart function behind every plot of report.html: lines, shaded
//! spans, dashed vertical lines, dots, and a legend right of the plot, into
//! one inline SVG; and the HTML escaping the page uses.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// A time series with fewer points than this is not plotted (a line
/// through two or three seconds reads as a ramp): the page says so instead.
pub const MIN_POINTS: usize = 5;

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
    /// How the y axis runs and is labelled.
    pub y_scale: YScale,
}

/// The y axis: linear from 0 (labels without trailing zeros), linear from 0
/// over whole things (only whole numbers labelled: no "2.5 clients"), or
/// logarithmic (labels at the powers of ten only; values ≤ 0 are not drawn),
/// so that a tail a thousand times the median leaves the rest readable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum YScale {
    Linear,
    Count,
    Log,
}

/// An axis label as people write it: "2", "0.5", "1500" — never "2.0".
pub fn tick(v: f64) -> String {
    crate::report::markdown::value(if v.abs() < 1e-9 { 0.0 } else { v })
}

/// The y range `chart` draws (in the axis' own units: log10 for a log axis)
/// and how a point's y is put on it.
fn y_range(axes: &Axes<'_>, ys: impl Iterator<Item = f64> + Clone) -> (f64, f64, fn(f64) -> f64) {
    match axes.y_scale {
        YScale::Log => {
            let positive = ys.filter(|y| *y > 0.0);
            let lo = positive.clone().fold(f64::INFINITY, f64::min);
            let hi = positive.fold(0.0, f64::max);
            if !lo.is_finite() {
                return (0.0, 1.0, |y| if y > 0.0 { y.log10() } else { f64::NAN });
            }
            let (lo, hi) = (lo.log10().floor(), (hi * 1.1).log10().ceil());
            (lo, hi.max(lo + 1.0), |y| if y > 0.0 { y.log10() } else { f64::NAN })
        }
        YScale::Linear | YScale::Count => (0.0, ys.fold(0.0, f64::max).max(axes.y_min) * 1.1, |y| y),
    }
}

/// A y label: a log axis' powers of ten as plain numbers ("0.01", "1",
/// "1000"), a count axis' whole numbers, a linear axis' values without
/// trailing zeros; "" for a tick that gets no label.
fn y_label(scale: YScale, v: f64) -> String {
    let whole = (v - v.round()).abs() < 1e-6;
    match scale {
        YScale::Log if whole => tick(10f64.powi(v.round() as i32)),
        YScale::Count if whole => tick(v.round()),
        YScale::Linear => tick(v),
        YScale::Log | YScale::Count => String::new(),
    }
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
    let ys = series.iter().flat_map(|(_, _, p)| p.iter().map(|p| p.1)).chain(axes.marks.iter().map(|m| m.1));
    let (y_lo, y_max, to_axis) = y_range(axes, ys);
    let series: Vec<Series<'_>> = series
        .iter()
        .map(|(name, colour, points)| (*name, *colour, points.iter().map(|&(x, y)| (x, to_axis(y))).collect()))
        .collect();
    let scale = axes.y_scale;
    let y_fmt = move |v: &f64| y_label(scale, *v);
    let x_fmt = |v: &f64| tick(*v);
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
            .build_cartesian_2d(0f64..axes.x_max, y_lo..y_max)
            .ok()?;
        let mut mesh = chart.configure_mesh();
        mesh.x_desc(axes.x_desc).y_desc(axes.unit).light_line_style(WHITE).y_label_formatter(&y_fmt);
        match x_label {
            Some(f) => mesh.x_label_formatter(f),
            None => mesh.x_label_formatter(&x_fmt),
        };
        if let Some(n) = axes.x_ticks {
            mesh.x_labels(n);
        }
        mesh.draw().ok()?;
        for &(from, to, colour) in &axes.spans {
            chart
                .draw_series(std::iter::once(Rectangle::new([(from, y_lo), (to.max(from), y_max)], colour.filled())))
                .ok()?;
        }
        for line in &axes.lines {
            let (x, grey) = (line.x, RGBColor(80, 80, 80).mix(0.7));
            let dashes = (0..40).map(|k| {
                let at = |k: f64| y_lo + k / 40.0 * (y_max - y_lo);
                let (a, b) = (at(k as f64), at(k as f64 + 0.5));
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
        for (name, colour, points) in &series {
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
            chart.draw_series(std::iter::once(Circle::new((x, to_axis(y)), radius, colour.filled()))).ok()?;
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
