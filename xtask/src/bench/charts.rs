//! The bench's SVG charts, drawn with `plotters` (its SVG backend only),
//! written beside the Markdown table they picture.
//!
//! - [`by_connections`]: for each row, requests/s and p99 latency by
//!   connection count, one line per runtime (ours, `spin up`, `wasmtime
//!   serve` where that run has them);
//! - [`bars`]: one group of bars per row (requests/s left, p99 right), one
//!   bar per series: the scale rows small vs large, and `--quick`'s rows.

use std::path::Path;

use plotters::prelude::*;

use super::load::Load;

/// One row's figures on each runtime: (runtime, one [`Load`] per level).
pub type Lines<'a> = Vec<(&'a str, &'a [Load])>;

const COLORS: [RGBColor; 4] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
];

/// The two panels of every chart: the metric's name and its figure.
const METRICS: [(&str, fn(&Load) -> f64); 2] =
    [("requests/s", |l| l.rps), ("p99 ms", |l| l.p99_ms)];

/// The top of an axis: the largest figure with `headroom` (never 0).
fn ceiling<'a>(
    loads: impl Iterator<Item = &'a Load>,
    pick: fn(&Load) -> f64,
    headroom: f64,
) -> f64 {
    loads.map(pick).fold(0.0, f64::max).max(1e-9) * headroom
}

/// A bar's figure: whole numbers from 100 up, two decimals below.
fn figure(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

fn err(e: impl std::fmt::Display) -> String {
    format!("chart: {e}")
}

/// For each `(row, lines)`, requests/s (left) and p99 ms (right) at each
/// of `levels` connections, one line per runtime.
pub fn by_connections(
    path: &Path,
    title: &str,
    levels: &[u32],
    rows: &[(&str, Lines)],
) -> Result<(), String> {
    let height = 60 + 200 * rows.len() as u32;
    let root = SVGBackend::new(path, (1000, height)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let (head, body) = root.split_vertically(50);
    head.titled(title, ("sans-serif", 22)).map_err(err)?;
    let panels = body.split_evenly((rows.len(), 2));
    let n = levels.len() as i32;
    for (i, (row, lines)) in rows.iter().enumerate() {
        for (col, (metric, pick)) in METRICS.into_iter().enumerate() {
            let top = ceiling(lines.iter().flat_map(|(_, ls)| ls.iter()), pick, 1.15);
            let mut chart = ChartBuilder::on(&panels[i * 2 + col])
                .caption(format!("{row}: {metric}"), ("sans-serif", 14))
                .margin(8)
                .x_label_area_size(28)
                .y_label_area_size(60)
                .build_cartesian_2d(0..(n - 1).max(1), 0.0..top)
                .map_err(err)?;
            chart
                .configure_mesh()
                .x_labels(levels.len())
                .x_label_formatter(&|x| {
                    levels
                        .get(*x as usize)
                        .map_or(String::new(), |c| format!("{c} conn"))
                })
                .y_labels(5)
                .y_label_formatter(&|y| format!("{y:.0}"))
                .draw()
                .map_err(err)?;
            for (k, (runtime, ls)) in lines.iter().enumerate() {
                let color = COLORS[k % COLORS.len()];
                let points: Vec<(i32, f64)> = ls
                    .iter()
                    .enumerate()
                    .map(|(x, l)| (x as i32, pick(l)))
                    .collect();
                chart
                    .draw_series(LineSeries::new(points, color.stroke_width(2)).point_size(3))
                    .map_err(err)?
                    .label(*runtime)
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
                    });
            }
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperLeft)
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK.mix(0.3))
                .draw()
                .map_err(err)?;
        }
    }
    root.present().map_err(err)
}

/// One band per category with a bar for each series: requests/s (left
/// panel) and p99 ms (right panel). `series` is `(name, one Load per
/// category)`.
pub fn bars(
    path: &Path,
    title: &str,
    categories: &[String],
    series: &[(&str, Vec<Load>)],
) -> Result<(), String> {
    let band = 18 * series.len() as u32 + 30;
    let height = 110 + band * categories.len() as u32;
    let root = SVGBackend::new(path, (1000, height)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let (head, body) = root.split_vertically(50);
    head.titled(title, ("sans-serif", 22)).map_err(err)?;
    let panels = body.split_evenly((1, 2));
    let n = categories.len() as f64;
    for (col, (metric, pick)) in METRICS.into_iter().enumerate() {
        let top = ceiling(series.iter().flat_map(|(_, ls)| ls.iter()), pick, 1.25);
        let mut chart = ChartBuilder::on(&panels[col])
            .caption(metric, ("sans-serif", 16))
            .margin(8)
            .x_label_area_size(28)
            .y_label_area_size(8)
            .build_cartesian_2d(0.0..top, 0.0..n)
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(0)
            .x_labels(6)
            .x_label_formatter(&|x| format!("{x:.0}"))
            .draw()
            .map_err(err)?;
        // Category i occupies [n-1-i, n-i) from the top: its name, then
        // one bar per series.
        let slot = 1.0 / (series.len() as f64 + 1.4);
        for (i, name) in categories.iter().enumerate() {
            let y0 = n - i as f64;
            chart
                .draw_series(std::iter::once(Text::new(
                    name.clone(),
                    (top * 0.005, y0 - 0.1 * slot),
                    ("sans-serif", 12),
                )))
                .map_err(err)?;
            for (k, (_, ls)) in series.iter().enumerate() {
                let v = pick(&ls[i]);
                let y = y0 - slot * (k as f64 + 1.2);
                let color = COLORS[k % COLORS.len()];
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(0.0, y), (v, y - slot * 0.8)],
                        color.filled(),
                    )))
                    .map_err(err)?;
                chart
                    .draw_series(std::iter::once(Text::new(
                        figure(v),
                        (v + top * 0.01, y - slot * 0.1),
                        ("sans-serif", 11),
                    )))
                    .map_err(err)?;
            }
        }
        for (k, (name, _)) in series.iter().enumerate() {
            let color = COLORS[k % COLORS.len()];
            chart
                .draw_series(std::iter::empty::<Rectangle<(f64, f64)>>())
                .map_err(err)?
                .label(*name)
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled())
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK.mix(0.3))
            .draw()
            .map_err(err)?;
    }
    root.present().map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(rps: f64, p99_ms: f64) -> Load {
        Load {
            rps,
            p50_ms: p99_ms / 2.0,
            p99_ms,
            cpu_us: None,
            store_calls: None,
        }
    }

    #[test]
    fn charts_are_svg_with_every_name_and_series() {
        let dir = testkit::TempDir::new("charts");
        let a = [load(100.0, 2.0), load(900.0, 4.0), load(1000.0, 30.0)];
        let b = [load(80.0, 3.0), load(700.0, 5.0), load(800.0, 40.0)];
        let lines = dir.path().join("lines.svg");
        by_connections(
            &lines,
            "Bench",
            &[1, 16, 64],
            &[("share page", vec![("ours", &a[..]), ("spin up", &b[..])])],
        )
        .unwrap();
        let svg = std::fs::read_to_string(&lines).unwrap();
        assert!(svg.starts_with("<svg"), "{svg}");
        for s in [
            "share page: requests/s",
            "share page: p99 ms",
            "ours",
            "spin up",
            "64 conn",
        ] {
            assert!(svg.contains(s), "{s} missing");
        }
        let bar = dir.path().join("bars.svg");
        bars(
            &bar,
            "Scale",
            &["thread page".into()],
            &[("small", vec![a[1]]), ("large", vec![b[1]])],
        )
        .unwrap();
        let svg = std::fs::read_to_string(&bar).unwrap();
        for s in ["thread page", "small", "large", "\n900\n", "\n700\n"] {
            assert!(svg.contains(s), "{s} missing");
        }
    }
}
