//! The Prometheus text exposition format, version 0.0.4: for each metric a `# HELP` and a
//! `# TYPE` line, then its samples, `name{label="value"} number`, one a line. Pure: it writes
//! into a string and knows nothing of where the numbers come from.

use std::fmt::Write;

use super::histogram::Snapshot;

/// The content type of the format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// A page of metrics being written.
#[derive(Default)]
pub struct Exposition {
    text: String,
}

impl Exposition {
    /// Declares a metric; its samples follow.
    pub fn declare(&mut self, name: &str, kind: Kind, help: &str) {
        let help = help.replace('\\', r"\\").replace('\n', r"\n");
        // Writing to a String cannot fail.
        let _ = writeln!(self.text, "# HELP {name} {help}");
        let _ = writeln!(self.text, "# TYPE {name} {}", kind.name());
    }

    /// One sample of the metric declared last (for a histogram, with its suffix).
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.text.push_str(name);
        if !labels.is_empty() {
            self.text.push('{');
            for (i, (label, value)) in labels.iter().enumerate() {
                if i > 0 {
                    self.text.push(',');
                }
                let _ = write!(self.text, "{label}=\"{}\"", escape_label(value));
            }
            self.text.push('}');
        }
        let _ = writeln!(self.text, " {}", number(value));
    }

    /// The samples of a histogram: a cumulative `_bucket` per bound and `+Inf`, then `_sum`
    /// and `_count` (which equals the `+Inf` bucket).
    pub fn histogram(&mut self, name: &str, labels: &[(&str, &str)], snapshot: &Snapshot) {
        let bucket = format!("{name}_bucket");
        let bound_of = |le: &str| -> Vec<(&str, String)> {
            labels
                .iter()
                .map(|(k, v)| (*k, (*v).to_owned()))
                .chain([("le", le.to_owned())])
                .collect()
        };
        let mut seen = 0;
        for (bound, count) in snapshot.bounds.iter().zip(&snapshot.counts) {
            seen += count;
            self.owned_sample(&bucket, &bound_of(&number(*bound)), seen as f64);
        }
        let total = snapshot.count();
        self.owned_sample(&bucket, &bound_of("+Inf"), total as f64);
        self.sample(&format!("{name}_sum"), labels, snapshot.sum);
        self.sample(&format!("{name}_count"), labels, total as f64);
    }

    fn owned_sample(&mut self, name: &str, labels: &[(&str, String)], value: f64) {
        let labels: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
        self.sample(name, &labels, value);
    }

    pub fn finish(self) -> String {
        self.text
    }
}

/// A label value with backslash, double quote and line feed escaped, as the format requires.
fn escape_label(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => escaped.push_str(r"\\"),
            '"' => escaped.push_str("\\\""),
            '\n' => escaped.push_str(r"\n"),
            c => escaped.push(c),
        }
    }
    escaped
}

/// A number as the format writes it: whole numbers without a fraction, `+Inf`, `-Inf`, `NaN`.
fn number(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_owned()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else {
        // Rust writes floats in full (no exponent) and whole ones without ".0".
        format!("{value}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_counter_has_help_type_and_labelled_samples() {
        let mut page = Exposition::default();
        page.declare("x_total", Kind::Counter, "Things.\nWith a \\ in it.");
        page.sample("x_total", &[("a", "1"), ("b", "two")], 3.0);
        page.sample("x_total", &[], 0.5);
        assert_eq!(
            page.finish(),
            "# HELP x_total Things.\\nWith a \\\\ in it.\n\
             # TYPE x_total counter\n\
             x_total{a=\"1\",b=\"two\"} 3\n\
             x_total 0.5\n"
        );
    }

    #[test]
    fn label_values_escape_backslash_quote_and_newline() {
        assert_eq!(escape_label(r#"a\b"c"#), r#"a\\b\"c"#);
        assert_eq!(escape_label("line\nnext"), "line\\nnext");
        assert_eq!(escape_label("/api/{id} ✓"), "/api/{id} ✓");
    }

    #[test]
    fn numbers_are_whole_decimal_or_special() {
        assert_eq!(number(0.0), "0");
        assert_eq!(number(12_345_678_901.0), "12345678901");
        assert_eq!(number(0.005), "0.005");
        assert_eq!(number(f64::INFINITY), "+Inf");
        assert_eq!(number(f64::NEG_INFINITY), "-Inf");
        assert_eq!(number(f64::NAN), "NaN");
    }

    #[test]
    fn histogram_buckets_are_cumulative_and_end_with_inf_sum_and_count() {
        let snapshot = Snapshot {
            bounds: &[0.1, 1.0],
            counts: vec![2, 0, 1],
            sum: 5.25,
        };
        let mut page = Exposition::default();
        page.declare("d_seconds", Kind::Histogram, "Durations.");
        page.histogram("d_seconds", &[("r", "x")], &snapshot);
        assert_eq!(
            page.finish(),
            "# HELP d_seconds Durations.\n\
             # TYPE d_seconds histogram\n\
             d_seconds_bucket{r=\"x\",le=\"0.1\"} 2\n\
             d_seconds_bucket{r=\"x\",le=\"1\"} 2\n\
             d_seconds_bucket{r=\"x\",le=\"+Inf\"} 3\n\
             d_seconds_sum{r=\"x\"} 5.25\n\
             d_seconds_count{r=\"x\"} 3\n"
        );
    }
}
