//! The Prometheus text exposition format (version 0.0.4), written by hand: the bridge's
//! metric set is small and fixed, so a metrics library would only add build time.
//!
//! Every label value passes through [`escape`], although the values the core uses are
//! fixed words and the network's id; the format breaks on an unescaped `"` or newline.

use std::fmt::Write;

use super::histogram::HistogramSnapshot;

/// The `Content-Type` of the format.
pub(crate) const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Kinds of metric families.
#[derive(Clone, Copy)]
pub(crate) enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// Builds one exposition.
#[derive(Default)]
pub(crate) struct Exposition {
    out: String,
}

impl Exposition {
    /// Starts a family: `# HELP` and `# TYPE`. Samples of the family must follow.
    pub(crate) fn family(&mut self, name: &str, kind: Kind, help: &str) -> &mut Self {
        let kind = match kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        };
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        self
    }

    /// One sample line.
    pub(crate) fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) -> &mut Self {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{k}=\"{}\"", escape(v));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {}", number(value));
        self
    }

    /// The `_bucket`, `_sum` and `_count` lines of a histogram family.
    pub(crate) fn histogram(&mut self, name: &str, labels: &[(&str, &str)], h: &HistogramSnapshot) -> &mut Self {
        let bucket = format!("{name}_bucket");
        for &(bound, n) in &h.cumulative {
            let le = number(bound);
            let mut with_le = labels.to_vec();
            with_le.push(("le", &le));
            self.sample(&bucket, &with_le, n as f64);
        }
        self.sample(&format!("{name}_sum"), labels, h.sum_seconds);
        self.sample(&format!("{name}_count"), labels, h.count as f64)
    }

    pub(crate) fn finish(self) -> String {
        self.out
    }
}

/// Label values escape `\`, `"` and newlines.
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// Numbers as the format spells them: integers without a fraction, `+Inf`.
fn number(v: f64) -> String {
    if v.is_infinite() {
        if v > 0.0 { "+Inf".into() } else { "-Inf".into() }
    } else if v.is_nan() {
        "NaN".into()
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_family_and_samples_are_well_formed() {
        let mut e = Exposition::default();
        e.family("x_total", Kind::Counter, "Things.\nMore.").sample("x_total", &[("a", "b\"c\\d\ne")], 3.0);
        e.family("y", Kind::Gauge, "A gauge.").sample("y", &[], 0.25);
        assert_eq!(
            e.finish(),
            "# HELP x_total Things.\\nMore.\n# TYPE x_total counter\nx_total{a=\"b\\\"c\\\\d\\ne\"} 3\n\
             # HELP y A gauge.\n# TYPE y gauge\ny 0.25\n"
        );
    }

    #[test]
    fn test_histogram_lines() {
        let h = HistogramSnapshot { cumulative: vec![(0.5, 1), (f64::INFINITY, 2)], sum_seconds: 1.5, count: 2 };
        let mut e = Exposition::default();
        e.histogram("t_seconds", &[("k", "v")], &h);
        assert_eq!(
            e.finish(),
            "t_seconds_bucket{k=\"v\",le=\"0.5\"} 1\nt_seconds_bucket{k=\"v\",le=\"+Inf\"} 2\nt_seconds_sum{k=\"v\"} 1.5\nt_seconds_count{k=\"v\"} 2\n"
        );
    }
}
