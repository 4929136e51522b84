//! The latency plot: cumulative distributions of ingress's 202 and of PATCH → webhook.

use std::path::Path;
use std::time::Duration;

use plotters::prelude::*;

pub fn latency_svg(path: &Path, ingress: &[Duration], e2e: &[Duration]) -> anyhow::Result<()> {
    let cdf = |samples: &[Duration]| {
        let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
        ms.sort_by(f64::total_cmp);
        let n = ms.len().max(1) as f64;
        ms.into_iter()
            .enumerate()
            .map(|(i, v)| (v, (i + 1) as f64 / n * 100.0))
            .collect::<Vec<_>>()
    };
    let (a, b) = (cdf(ingress), cdf(e2e));
    let x_max = a.iter().chain(&b).map(|p| p.0).fold(1.0, f64::max) * 1.05;
    let root = SVGBackend::new(path, (900, 520)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption("kyte-relay latency (cumulative)", ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0.0..x_max, 0.0..100.0)?;
    chart
        .configure_mesh()
        .x_desc("milliseconds")
        .y_desc("% of requests at or below")
        .draw()?;
    chart
        .draw_series(LineSeries::new(a, &BLUE))?
        .label("ingress 202 (event confirmed by the broker)")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE));
    chart
        .draw_series(LineSeries::new(b, &RED))?
        .label("staff PATCH answered → webhook received by Kyte")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED));
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::LowerRight)
        .draw()?;
    root.present()?;
    Ok(())
}
