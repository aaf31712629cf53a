//! The Prometheus text exposition format, version 0.0.4: `# HELP` and `# TYPE` once per
//! family, then its samples, one per line, all of a family together.

use std::fmt::{Display, Write};

use super::histogram::{HistogramSnapshot, LATENCY_BOUNDS_US};

/// The `Content-Type` of the text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A metric family's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// The text of one scrape, written family by family.
#[derive(Debug, Default)]
pub struct Exposition {
    out: String,
}

impl Exposition {
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts a family: its help line and type. Its samples follow before the next family.
    pub fn family(&mut self, name: &str, kind: Kind, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {}", Escaped { text: help, quote: false });
        let _ = writeln!(self.out, "# TYPE {name} {}", kind.as_str());
    }

    /// One sample of a counter or gauge.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl Display) {
        self.out.push_str(name);
        self.labels(labels, None);
        let _ = writeln!(self.out, " {value}");
    }

    /// A histogram's samples (`_bucket` per bound and `+Inf`, `_sum` in seconds, `_count`)
    /// for one set of labels; `name` is the family's name.
    pub fn histogram(&mut self, name: &str, labels: &[(&str, &str)], h: &HistogramSnapshot) {
        let bounds = LATENCY_BOUNDS_US.iter().map(|us| Some(*us)).chain([None]);
        for (bound, count) in bounds.zip(h.cumulative) {
            let le = match bound {
                Some(us) => seconds(us),
                None => "+Inf".to_string(),
            };
            let _ = write!(self.out, "{name}_bucket");
            self.labels(labels, Some(&le));
            let _ = writeln!(self.out, " {count}");
        }
        let _ = write!(self.out, "{name}_sum");
        self.labels(labels, None);
        let _ = writeln!(self.out, " {}", seconds(h.sum_us));
        let _ = write!(self.out, "{name}_count");
        self.labels(labels, None);
        let _ = writeln!(self.out, " {}", h.count());
    }

    /// The text, ending with a newline.
    pub fn finish(self) -> String {
        self.out
    }

    fn labels(&mut self, labels: &[(&str, &str)], le: Option<&str>) {
        if labels.is_empty() && le.is_none() {
            return;
        }
        self.out.push('{');
        let all = labels.iter().copied().chain(le.map(|le| ("le", le)));
        for (i, (name, value)) in all.enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            let _ = write!(self.out, "{name}=\"{}\"", Escaped { text: value, quote: true });
        }
        self.out.push('}');
    }
}

/// Microseconds as seconds, in the shortest decimal form (`0.00005`, `1`, `2.5`).
fn seconds(us: u64) -> String {
    let (whole, frac) = (us / 1_000_000, us % 1_000_000);
    if frac == 0 {
        return whole.to_string();
    }
    let frac = format!("{frac:06}");
    format!("{whole}.{}", frac.trim_end_matches('0'))
}

/// Text escaped as the format asks: backslash and newline always, the double quote in
/// label values.
struct Escaped<'a> {
    text: &'a str,
    quote: bool,
}

impl Display for Escaped<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for c in self.text.chars() {
            match c {
                '\\' => f.write_str("\\\\")?,
                '\n' => f.write_str("\\n")?,
                '"' if self.quote => f.write_str("\\\"")?,
                c => f.write_char(c)?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::metrics::Histogram;

    #[test]
    fn label_values_and_help_are_escaped() {
        let mut e = Exposition::new();
        e.family("x_total", Kind::Counter, "a \\ path\nand \"quotes\"");
        e.sample("x_total", &[("route", "/a\"b\\c\nd"), ("code", "")], 3);
        assert_eq!(
            e.finish(),
            "# HELP x_total a \\\\ path\\nand \"quotes\"\n# TYPE x_total counter\n\
             x_total{route=\"/a\\\"b\\\\c\\nd\",code=\"\"} 3\n",
            "help escapes backslash and newline; label values also the double quote"
        );
    }

    #[test]
    fn a_sample_without_labels_has_no_braces() {
        let mut e = Exposition::new();
        e.sample("up", &[], 1);
        assert_eq!(e.finish(), "up 1\n");
    }

    #[test]
    fn histograms_are_cumulative_and_end_with_inf_sum_and_count() {
        let h = Histogram::new();
        h.observe_us(40);
        h.observe_us(300);
        h.observe_us(30_000_000);
        let mut e = Exposition::new();
        e.histogram("lat_seconds", &[("route", "/v1")], &h.snapshot());
        let text = e.finish();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), LATENCY_BOUNDS_US.len() + 3, "a line per bound, +Inf, sum and count:\n{text}");
        assert_eq!(lines[0], "lat_seconds_bucket{route=\"/v1\",le=\"0.00005\"} 1");
        assert_eq!(lines[2], "lat_seconds_bucket{route=\"/v1\",le=\"0.00025\"} 1", "300 µs is above 250 µs");
        assert_eq!(lines[3], "lat_seconds_bucket{route=\"/v1\",le=\"0.0005\"} 2", "buckets include those below");
        assert_eq!(lines[16], "lat_seconds_bucket{route=\"/v1\",le=\"10\"} 2");
        assert_eq!(lines[17], "lat_seconds_bucket{route=\"/v1\",le=\"+Inf\"} 3", "+Inf counts every observation");
        assert_eq!(lines[18], "lat_seconds_sum{route=\"/v1\"} 30.00034");
        assert_eq!(lines[19], "lat_seconds_count{route=\"/v1\"} 3");
    }

    #[test]
    fn seconds_are_written_short() {
        assert_eq!(seconds(0), "0");
        assert_eq!(seconds(50), "0.00005");
        assert_eq!(seconds(2_500_000), "2.5");
        assert_eq!(seconds(10_000_000), "10");
    }
}
