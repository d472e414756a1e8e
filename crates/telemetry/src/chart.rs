//! Charts of a node's series as PNG (plotters' bitmap backend, encoded by `image`).
//!
//! Text is drawn with DejaVu Sans embedded in the binary (`fonts/`), so labels in any
//! language the bot speaks (Cyrillic included) render on a node with no fonts installed.
//! The caller supplies every word (titles, axis names with their units), already in the
//! reader's language; this module only draws.

use std::sync::OnceLock;

use image::ImageEncoder;
use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};
use vpnkeeper_domain::telemetry::{ChartMetric, Point, Series};

const FONT: &[u8] = include_bytes!("../fonts/DejaVuSans.ttf");
const FAMILY: &str = "sans-serif";

/// Width of every chart: readable on a phone once Telegram scales it down.
pub const WIDTH: u32 = 1000;
/// Height of one panel.
pub const PANEL_HEIGHT: u32 = 380;

/// Points further apart than this are not joined: the node was down in between.
const GAP_MS: i64 = 180_000;

const COLORS: [RGBColor; 3] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
];

#[derive(Debug, thiserror::Error)]
#[error("drawing the chart failed: {0}")]
pub struct ChartError(String);

/// One line of a panel, in the unit of the panel's axis.
#[derive(Debug, Clone)]
pub struct Line {
    pub name: String,
    pub points: Vec<Point>,
}

/// One chart: a title, the y axis name with its unit, its lines.
#[derive(Debug, Clone)]
pub struct Panel {
    pub title: String,
    pub y_label: String,
    pub lines: Vec<Line>,
    /// The y axis reaches at least this far (100 for percentages).
    pub y_min_top: f64,
}

/// The words of a chart, in the reader's language.
#[derive(Debug, Clone)]
pub struct Words {
    /// The x axis name, e.g. "Time (UTC)".
    pub time_axis: String,
    /// Panel titles and axis names (with units) per metric, and the line names.
    pub cpu_title: String,
    pub cpu_axis: String,
    pub net_title: String,
    pub net_axis: String,
    pub net_rx: String,
    pub net_tx: String,
    pub ram_title: String,
    pub ram_axis: String,
    /// Shown over an empty panel.
    pub no_data: String,
}

impl Words {
    pub fn english() -> Words {
        Words {
            time_axis: "Time (UTC)".into(),
            cpu_title: "CPU".into(),
            cpu_axis: "CPU, %".into(),
            net_title: "Network".into(),
            net_axis: "Mbit/s".into(),
            net_rx: "received".into(),
            net_tx: "sent".into(),
            ram_title: "Memory".into(),
            ram_axis: "GiB".into(),
            no_data: "no data yet".into(),
        }
    }
}

/// The panel of `metric` over `series`, values converted to the axis unit.
pub fn panel(metric: ChartMetric, series: &Series, words: &Words, title_prefix: &str) -> Panel {
    let scaled =
        |pts: &[Point], k: f64| -> Vec<Point> { pts.iter().map(|&(t, v)| (t, v * k)).collect() };
    let title = |t: &str| {
        if title_prefix.is_empty() {
            t.to_string()
        } else {
            format!("{title_prefix} · {t}")
        }
    };
    match metric {
        ChartMetric::Cpu => Panel {
            title: title(&words.cpu_title),
            y_label: words.cpu_axis.clone(),
            lines: vec![Line {
                name: words.cpu_title.clone(),
                points: series.cpu_pct.clone(),
            }],
            y_min_top: 100.0,
        },
        ChartMetric::Net => {
            // Bytes per second → megabits per second.
            let k = 8.0 / 1_000_000.0;
            Panel {
                title: title(&words.net_title),
                y_label: words.net_axis.clone(),
                lines: vec![
                    Line {
                        name: words.net_rx.clone(),
                        points: scaled(&series.net_rx_bps, k),
                    },
                    Line {
                        name: words.net_tx.clone(),
                        points: scaled(&series.net_tx_bps, k),
                    },
                ],
                y_min_top: 1.0,
            }
        }
        ChartMetric::Ram => Panel {
            title: title(&words.ram_title),
            y_label: words.ram_axis.clone(),
            lines: vec![Line {
                name: words.ram_title.clone(),
                points: scaled(&series.mem_used_bytes, 1.0 / f64::from(1u32 << 30)),
            }],
            y_min_top: 1.0,
        },
    }
}

fn font() -> Result<(), ChartError> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            register_font(FAMILY, FontStyle::Normal, FONT)
                .map_err(|_| "the embedded font does not load".to_string())
        })
        .clone()
        .map_err(ChartError)
}

/// Draws `panels` one under the other over the time span `[from_ms, to_ms]` and returns
/// the PNG (`WIDTH` × `PANEL_HEIGHT` per panel).
pub fn render_png(
    panels: &[Panel],
    from_ms: i64,
    to_ms: i64,
    words: &Words,
) -> Result<Vec<u8>, ChartError> {
    font()?;
    let height = PANEL_HEIGHT * panels.len().max(1) as u32;
    let mut rgb = vec![0u8; (WIDTH * height * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(e)?;
        let areas = root.split_evenly((panels.len().max(1), 1));
        for (area, p) in areas.iter().zip(panels) {
            draw_panel(area, p, from_ms, to_ms.max(from_ms + 1), words)?;
        }
        root.present().map_err(e)?;
    }
    let mut png = Vec::new();
    image::codecs::png::PngEncoder::new(&mut png)
        .write_image(&rgb, WIDTH, height, image::ExtendedColorType::Rgb8)
        .map_err(|err| ChartError(err.to_string()))?;
    Ok(png)
}

fn e<E: std::fmt::Debug>(err: E) -> ChartError {
    ChartError(format!("{err:?}"))
}

type Area<'a> = DrawingArea<BitMapBackend<'a>, plotters::coord::Shift>;

fn draw_panel(
    area: &Area<'_>,
    p: &Panel,
    from_ms: i64,
    to_ms: i64,
    words: &Words,
) -> Result<(), ChartError> {
    let top = p
        .lines
        .iter()
        .flat_map(|l| l.points.iter().map(|pt| pt.1))
        .fold(p.y_min_top, f64::max);
    let mut chart = ChartBuilder::on(area)
        .caption(&p.title, (FAMILY, 24))
        .margin(12)
        .x_label_area_size(52)
        .y_label_area_size(84)
        .build_cartesian_2d(from_ms..to_ms, 0f64..top * 1.05)
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_desc(&words.time_axis)
        .y_desc(&p.y_label)
        .x_labels(7)
        .y_labels(6)
        .x_label_formatter(&|ms| clock(*ms))
        .y_label_formatter(&|v| short(*v))
        .label_style((FAMILY, 16))
        .axis_desc_style((FAMILY, 17))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(e)?;
    let empty = p.lines.iter().all(|l| l.points.is_empty());
    if empty {
        let (w, h) = area.dim_in_pixel();
        area.draw(&Text::new(
            words.no_data.clone(),
            (w as i32 / 2 - 60, h as i32 / 2),
            (FAMILY, 22).into_font().color(&RGBColor(120, 120, 120)),
        ))
        .map_err(e)?;
        return Ok(());
    }
    for (i, line) in p.lines.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        for (j, run) in runs(&line.points).into_iter().enumerate() {
            let drawn = chart
                .draw_series(LineSeries::new(run.iter().copied(), color.stroke_width(2)))
                .map_err(e)?;
            if j == 0 {
                drawn.label(line.name.clone()).legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 22, y)], color.stroke_width(3))
                });
            }
        }
    }
    if p.lines.len() > 1 {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(180, 180, 180))
            .label_font((FAMILY, 16))
            .draw()
            .map_err(e)?;
    }
    Ok(())
}

/// The points split where the node was silent longer than [`GAP_MS`].
fn runs(points: &[Point]) -> Vec<&[Point]> {
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..points.len() {
        if points[i].0 - points[i - 1].0 > GAP_MS {
            out.push(&points[start..i]);
            start = i;
        }
    }
    if start < points.len() {
        out.push(&points[start..]);
    }
    out
}

/// `HH:MM` (UTC) of a unix-ms tick.
fn clock(ms: i64) -> String {
    let secs = ms.div_euclid(1000).rem_euclid(86_400);
    format!("{:02}:{:02}", secs / 3600, secs % 3600 / 60)
}

/// A y tick without needless decimals.
fn short(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_700_000_000_000;

    fn series(f: impl Fn(i64) -> f64) -> Series {
        let pts = |k: f64| {
            (0..360)
                .map(|i| (T0 + i * 10_000, f(i) * k))
                .collect::<Vec<_>>()
        };
        Series {
            cpu_pct: pts(1.0),
            net_rx_bps: pts(200_000.0),
            net_tx_bps: pts(100_000.0),
            mem_used_bytes: pts(1e8),
            ..Default::default()
        }
    }

    fn draw(s: &Series, words: &Words, title: &str) -> Vec<u8> {
        let panels = [
            panel(ChartMetric::Cpu, s, words, title),
            panel(ChartMetric::Net, s, words, title),
        ];
        render_png(&panels, T0, T0 + 3_600_000, words).unwrap()
    }

    #[test]
    fn a_chart_decodes_at_its_size_and_shows_its_data() {
        let words = Words::english();
        let a = draw(&series(|i| (i % 50) as f64), &words, "node-1");
        let b = draw(&series(|i| 80.0 - (i % 30) as f64), &words, "node-1");
        for png in [&a, &b] {
            let img = image::load_from_memory_with_format(png, image::ImageFormat::Png)
                .unwrap()
                .to_rgb8();
            assert_eq!(img.dimensions(), (WIDTH, 2 * PANEL_HEIGHT));
            // Lines were drawn: some pixels of the first line colour.
            let c = COLORS[0];
            assert!(img.pixels().filter(|p| p.0 == [c.0, c.1, c.2]).count() > 500);
        }
        let (ia, ib) = (
            image::load_from_memory(&a).unwrap().to_rgb8(),
            image::load_from_memory(&b).unwrap().to_rgb8(),
        );
        let differing = ia.pixels().zip(ib.pixels()).filter(|(x, y)| x != y).count();
        assert!(
            differing > 1000,
            "two different series drew {differing} different pixels"
        );
    }

    #[test]
    fn cyrillic_labels_draw_glyphs() {
        // Two titles of the same length in different Cyrillic letters: with glyphs they draw
        // differently; a font without them draws the same placeholder boxes (or nothing).
        let s = series(|i| (i % 7) as f64);
        let mut ru = Words::english();
        ru.time_axis = "Время (UTC)".into();
        ru.cpu_title = "Процессор".into();
        let a = image::load_from_memory(&draw(&s, &ru, "ЖЖЖЖ"))
            .unwrap()
            .to_rgb8();
        let b = image::load_from_memory(&draw(&s, &ru, "ОООО"))
            .unwrap()
            .to_rgb8();
        let differing = a.pixels().zip(b.pixels()).filter(|(x, y)| x != y).count();
        assert!(
            differing > 50,
            "Ж and О drew alike: {differing} pixels differ"
        );
    }

    #[test]
    fn an_empty_series_still_draws() {
        let words = Words::english();
        let png = draw(&Series::default(), &words, "");
        let img = image::load_from_memory(&png).unwrap();
        assert_eq!(img.width(), WIDTH);
    }

    #[test]
    fn gaps_split_lines() {
        let pts = vec![(0, 1.0), (10_000, 1.0), (400_000, 1.0), (410_000, 2.0)];
        assert_eq!(runs(&pts).len(), 2);
        assert_eq!(runs(&[]).len(), 0);
        assert_eq!(clock(T0), "22:13");
    }
}
