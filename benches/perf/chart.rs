//! The chart of BENCHMARKS.md: user-namespace creation time against the
//! caller's resident size, as a self-contained SVG (log-log axes).

use std::collections::BTreeMap;
use std::fmt::Write as _;

const W: f64 = 760.0;
const H: f64 = 440.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 290.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 60.0;
const COLORS: [&str; 5] = ["#1b7837", "#5aae61", "#7f7f7f", "#c51b7d", "#2166ac"];

/// `series`: (label, [(nominal caller MiB, median µs)]); `rss` maps each
/// nominal caller size to the measured VmRSS in MiB, which is what the x
/// axis shows.
pub fn userns_vs_rss(series: &[(&str, Vec<(usize, f64)>)], rss: &BTreeMap<usize, u64>) -> String {
    let x_of = |mib: usize| rss.get(&mib).map_or(mib as f64, |&m| m.max(1) as f64);
    let xs: Vec<f64> = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|&(m, _)| x_of(m)))
        .collect();
    let ys: Vec<f64> = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|&(_, us)| us))
        .collect();
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="22" text-anchor="middle" font-size="15">Creating a user namespace with maps, by caller size</text>"#,
        (LEFT + W - RIGHT) / 2.0
    );
    if xs.is_empty() {
        svg.push_str("<text x=\"100\" y=\"100\">no data</text></svg>\n");
        return svg;
    }
    // Decades on y, powers of two on x, padded to whole steps.
    let (ymin, ymax) = (
        10f64.powf(ys.iter().copied().fold(f64::MAX, f64::min).log10().floor()),
        10f64.powf(ys.iter().copied().fold(0.0, f64::max).log10().ceil()),
    );
    let (xmin, xmax) = (
        2f64.powf(xs.iter().copied().fold(f64::MAX, f64::min).log2().floor()),
        2f64.powf(xs.iter().copied().fold(0.0, f64::max).log2().ceil()),
    );
    let (pw, ph) = (W - LEFT - RIGHT, H - TOP - BOTTOM);
    let px = |x: f64| LEFT + (x.log2() - xmin.log2()) / (xmax.log2() - xmin.log2()).max(1e-9) * pw;
    let py = |y: f64| {
        TOP + ph - (y.log10() - ymin.log10()) / (ymax.log10() - ymin.log10()).max(1e-9) * ph
    };

    // Grid and axes.
    let mut y = ymin;
    while y <= ymax * 1.0001 {
        let label = if y >= 1000.0 {
            format!("{} ms", y / 1000.0)
        } else {
            format!("{y} µs")
        };
        let _ = writeln!(
            svg,
            r##"<line x1="{LEFT}" x2="{x2}" y1="{yy:.1}" y2="{yy:.1}" stroke="#ddd"/><text x="{tx}" y="{ty:.1}" text-anchor="end">{label}</text>"##,
            x2 = LEFT + pw,
            yy = py(y),
            tx = LEFT - 6.0,
            ty = py(y) + 4.0
        );
        y *= 10.0;
    }
    let mut x = xmin;
    while x <= xmax * 1.0001 {
        let label = if x >= 1024.0 {
            format!("{} GiB", x / 1024.0)
        } else {
            format!("{x} MiB")
        };
        let _ = writeln!(
            svg,
            r##"<line x1="{0:.1}" x2="{0:.1}" y1="{TOP}" y2="{1}" stroke="#eee"/><text x="{0:.1}" y="{2}" text-anchor="middle">{label}</text>"##,
            px(x),
            TOP + ph,
            TOP + ph + 18.0
        );
        x *= 2.0;
    }
    let _ = writeln!(
        svg,
        r##"<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="none" stroke="#444"/>"##
    );
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="{}" text-anchor="middle">caller resident size (VmRSS, log scale)</text>"#,
        LEFT + pw / 2.0,
        H - 18.0
    );
    let _ = writeln!(
        svg,
        r#"<text transform="translate(18 {}) rotate(-90)" text-anchor="middle">time per namespace (median, log scale)</text>"#,
        TOP + ph / 2.0
    );

    // Series and legend.
    for (i, (label, pts)) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let dash = if label.contains("userns-clone") {
            r#" stroke-dasharray="5 4""#
        } else if label.contains("fresh process") {
            r#" stroke-dasharray="2 3""#
        } else {
            ""
        };
        let path: Vec<String> = pts
            .iter()
            .map(|&(m, us)| format!("{:.1},{:.1}", px(x_of(m)), py(us)))
            .collect();
        if !path.is_empty() {
            let _ = writeln!(
                svg,
                r#"<polyline points="{}" fill="none" stroke="{color}" stroke-width="2"{dash}/>"#,
                path.join(" ")
            );
        }
        for &(m, us) in pts {
            let _ = writeln!(
                svg,
                r#"<circle cx="{:.1}" cy="{:.1}" r="3.5" fill="{color}"><title>{label}: {us:.1} µs at {m} MiB</title></circle>"#,
                px(x_of(m)),
                py(us)
            );
        }
        let ly = TOP + 10.0 + i as f64 * 22.0;
        let lx = LEFT + pw + 16.0;
        let _ = writeln!(
            svg,
            r#"<line x1="{lx}" x2="{}" y1="{ly}" y2="{ly}" stroke="{color}" stroke-width="2"{dash}/><text x="{}" y="{}">{}</text>"#,
            lx + 22.0,
            lx + 28.0,
            ly + 4.0,
            label.replace('&', "&amp;").replace('<', "&lt;")
        );
    }
    svg.push_str("</svg>\n");
    svg
}
