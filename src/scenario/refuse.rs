//! When a fault refuses connections: an outage as `"refuse"` for its whole
//! window, a flapping provider as `"refuse"` in each down part. The
//! providers' listener closes its port in these spans and the analysis
//! counts the connection attempts that met them, both from here, so they
//! agree to the microsecond.

use std::time::Duration;

use super::fault::{Fault, FaultKind, FlapAs};

impl Fault {
    /// Whether it refuses connections (an outage as `"refuse"`, or a
    /// flapping provider down as `"refuse"`).
    pub fn refuses(&self) -> bool {
        matches!(
            self.kind,
            FaultKind::OutageRefuse
                | FaultKind::Flapping {
                    down: FlapAs::Refuse,
                    ..
                }
        )
    }

    /// The first span of refused connections that ends after `t` (it holds
    /// `t` or starts later), as `(start, end)` from t=0; `end` is `None`
    /// for an outage without end. `None` when it refuses nothing after `t`.
    /// A flapping provider's down part is `[start + n × period, … + duty ×
    /// period)`, exactly where [`Fault::flap_phase`] says down, cut at the
    /// fault's end.
    pub fn refuse_span_after(&self, t: Duration) -> Option<(Duration, Option<Duration>)> {
        if self.end().is_some_and(|end| end <= t) {
            return None;
        }
        match self.kind {
            FaultKind::OutageRefuse => Some((self.start, self.end())),
            FaultKind::Flapping {
                period,
                duty,
                down: FlapAs::Refuse,
            } => {
                let p = period.as_micros().max(1);
                // `flap_phase` says down while `into < duty × p`: for whole
                // microseconds that is `into < ceil(duty × p)`.
                let down = ((duty * p as f64).ceil().max(0.0) as u128).min(p);
                if down == 0 {
                    return None;
                }
                let since = t.saturating_sub(self.start).as_micros();
                let mut n = since / p;
                if since % p >= down {
                    n += 1;
                }
                let start = self.start.saturating_add(micros(n * p));
                if self.end().is_some_and(|end| start >= end) {
                    return None;
                }
                // Every span returned ends after `t`, so following them
                // always moves on.
                let end = start.saturating_add(micros(down));
                Some((start, Some(self.end().map_or(end, |e| end.min(e)))))
            }
            _ => None,
        }
    }

    /// Every span of refused connections that starts before `run`, in
    /// order, cut at `run` (an outage without end refuses until `run`).
    /// Lazy: a long run with a short flapping period is never held in
    /// memory at once.
    pub fn refuse_spans(&self, run: Duration) -> impl Iterator<Item = (Duration, Duration)> + '_ {
        std::iter::successors(self.refuse_span_after(Duration::ZERO), move |&(_, end)| {
            end.and_then(|e| self.refuse_span_after(e))
        })
        .take_while(move |&(start, _)| start < run)
        .map(move |(start, end)| (start, end.map_or(run, |e| e.min(run))))
    }
}

fn micros(us: u128) -> Duration {
    Duration::from_micros(u64::try_from(us).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;
    const S: fn(u64) -> Duration = Duration::from_secs;

    fn fault(kind: FaultKind, start: Duration, duration: Option<Duration>) -> Fault {
        Fault {
            providers: vec![0],
            target_label: "provider p".into(),
            start,
            duration,
            probability: 1.0,
            kind,
            error: Default::default(),
            after_tokens: None,
        }
    }

    fn flapping(duty: f64, start: Duration, duration: Option<Duration>) -> Fault {
        let kind = FaultKind::Flapping {
            period: S(2),
            duty,
            down: FlapAs::Refuse,
        };
        fault(kind, start, duration)
    }

    #[test]
    fn an_outage_refuses_its_window() {
        let f = fault(FaultKind::OutageRefuse, S(3), Some(S(4)));
        assert!(f.refuses());
        assert_eq!(f.refuse_span_after(S(0)), Some((S(3), Some(S(7)))));
        assert_eq!(f.refuse_span_after(S(5)), Some((S(3), Some(S(7)))));
        assert_eq!(f.refuse_span_after(S(7)), None);
        assert_eq!(f.refuse_spans(S(6)).collect::<Vec<_>>(), [(S(3), S(6))]);
        let open = fault(FaultKind::OutageRefuse, S(3), None);
        assert_eq!(
            open.refuse_spans(S(10)).collect::<Vec<_>>(),
            [(S(3), S(10))]
        );
        let other = fault(FaultKind::OutageReset, S(3), None);
        assert!(!other.refuses());
        assert_eq!(other.refuse_spans(S(10)).count(), 0);
    }

    #[test]
    fn flapping_refuses_each_down_part_as_flap_phase_says() {
        let f = flapping(0.25, S(1), Some(S(6)));
        assert!(f.refuses());
        let spans: Vec<_> = f.refuse_spans(S(60)).collect();
        assert_eq!(
            spans,
            [(S(1), MS(1500)), (S(3), MS(3500)), (S(5), MS(5500))]
        );
        for (start, end) in &spans {
            assert!(f.acting_at(*start) && f.acting_at(*end - Duration::from_micros(1)));
            assert!(!f.acting_at(*end));
        }
        assert_eq!(f.refuse_span_after(MS(1200)), Some((S(1), Some(MS(1500)))));
        assert_eq!(f.refuse_span_after(MS(1500)), Some((S(3), Some(MS(3500)))));
        // The run's end bounds the spans.
        assert_eq!(f.refuse_spans(MS(3200)).count(), 2);
    }

    #[test]
    fn the_fault_end_cuts_a_down_part() {
        let f = flapping(0.75, S(0), Some(S(3)));
        let spans: Vec<_> = f.refuse_spans(S(60)).collect();
        assert_eq!(spans, [(S(0), MS(1500)), (S(2), S(3))]);
        assert_eq!(f.refuse_span_after(S(3)), None);
        let open = flapping(0.5, S(0), None);
        assert_eq!(open.refuse_spans(S(7)).count(), 4);
        assert_eq!(open.refuse_spans(S(7)).last(), Some((S(6), S(7))));
    }
}
