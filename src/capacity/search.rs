//! The sequence of a capacity search, as a pure state machine: the ladder
//! (start, then × factor or + step, at most `max_steps`), stopped by the
//! first failing step, then `bisect` steps halving the gap between the last
//! pass and the first fail. A step at which midge was saturated ends the
//! search: it says nothing about the broker.

use crate::scenario::CapacitySpec;

/// How a step was judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    Fail,
    /// Not judged: midge was saturated (or a signal cut the step short).
    Invalid,
}

/// Why the search is over.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum End {
    /// Every step of the ladder passed.
    PassedAll,
    /// The first step failed: nothing to bisect.
    FirstStepFails,
    /// A step failed after one passed (and the bisection is done).
    Knee,
    /// A step was invalid (midge saturated, or stopped): at this value.
    Invalid(f64),
}

/// The ladder's values: `start`, then × `factor` or + `step`, `max_steps`
/// of them; whole numbers (strictly rising) when they count clients,
/// else rounded to a thousandth.
pub fn ladder(spec: &CapacitySpec) -> Vec<f64> {
    let whole = spec.vary.counts_clients();
    let mut out: Vec<f64> = Vec::with_capacity(spec.max_steps as usize);
    let mut v = spec.start;
    for _ in 0..spec.max_steps {
        let mut x = round(v, whole);
        if let Some(&last) = out.last() {
            if x <= last {
                x = if whole { last + 1.0 } else { last + 0.001 };
            }
        }
        out.push(x);
        v = match (spec.factor, spec.step) {
            (Some(f), _) => v * f,
            (None, Some(s)) => v + s,
            (None, None) => v * 2.0,
        };
    }
    out
}

fn round(v: f64, whole: bool) -> f64 {
    if whole {
        v.round().max(1.0)
    } else {
        (v * 1000.0).round() / 1000.0
    }
}

/// Halfway between a pass and a fail, or None when there is no value
/// strictly between them (clients are whole; rates go to a thousandth).
pub fn midpoint(pass: f64, fail: f64, whole: bool) -> Option<f64> {
    let mid = if whole { ((pass + fail) / 2.0).floor() } else { round((pass + fail) / 2.0, false) };
    (mid > pass && mid < fail).then_some(mid)
}

/// The search so far: which value to run next, and what it has found.
#[derive(Debug, Clone)]
pub struct Search {
    ladder: Vec<f64>,
    whole: bool,
    /// The next ladder rung, while climbing.
    rung: usize,
    bisect_left: u32,
    last_pass: Option<f64>,
    first_fail: Option<f64>,
    end: Option<End>,
}

impl Search {
    pub fn new(spec: &CapacitySpec) -> Search {
        Search {
            ladder: ladder(spec),
            whole: spec.vary.counts_clients(),
            rung: 0,
            bisect_left: spec.bisect,
            last_pass: None,
            first_fail: None,
            end: None,
        }
    }

    /// The value of the next step, or None when the search is over.
    pub fn next_value(&mut self) -> Option<f64> {
        if self.end.is_some() {
            return None;
        }
        match (self.first_fail, self.last_pass) {
            (None, _) => match self.ladder.get(self.rung) {
                Some(&v) => Some(v),
                None => self.finish(End::PassedAll),
            },
            (Some(_), None) => self.finish(End::FirstStepFails),
            (Some(fail), Some(pass)) => match midpoint(pass, fail, self.whole) {
                Some(mid) if self.bisect_left > 0 => Some(mid),
                _ => self.finish(End::Knee),
            },
        }
    }

    fn finish(&mut self, end: End) -> Option<f64> {
        self.end = Some(end);
        None
    }

    /// What the step at `value` (the one `next_value` gave) came to.
    pub fn record(&mut self, value: f64, outcome: Outcome) {
        let bisecting = self.first_fail.is_some();
        match outcome {
            Outcome::Invalid => {
                self.end = Some(End::Invalid(value));
                return;
            }
            Outcome::Pass => self.last_pass = Some(self.last_pass.map_or(value, |p| p.max(value))),
            Outcome::Fail => self.first_fail = Some(self.first_fail.map_or(value, |f| f.min(value))),
        }
        if bisecting {
            self.bisect_left = self.bisect_left.saturating_sub(1);
        } else {
            self.rung += 1;
        }
    }

    /// The largest value that passed (below the first fail).
    pub fn last_pass(&self) -> Option<f64> {
        self.last_pass
    }

    pub fn first_fail(&self) -> Option<f64> {
        self.first_fail
    }

    /// Why the search is over (None while it is not).
    pub fn end(&self) -> Option<End> {
        self.end
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{CapacityPass, CapacityVary};

    fn spec(
        vary: CapacityVary,
        start: f64,
        factor: Option<f64>,
        step: Option<f64>,
        max: u32,
        bisect: u32,
    ) -> CapacitySpec {
        CapacitySpec {
            vary,
            group: None,
            start,
            factor,
            step,
            max_steps: max,
            hold: None,
            bisect,
            fresh_broker: false,
            pass: CapacityPass::default(),
        }
    }

    /// Runs a search against a broker that holds up to `knee` (passes at or below it).
    fn walk(s: &CapacitySpec, knee: f64) -> (Vec<f64>, Search) {
        let mut search = Search::new(s);
        let mut ran = Vec::new();
        while let Some(v) = search.next_value() {
            ran.push(v);
            search.record(v, if v <= knee { Outcome::Pass } else { Outcome::Fail });
            assert!(ran.len() < 200, "the search ends");
        }
        (ran, search)
    }

    #[test]
    fn the_ladder_multiplies_or_adds_and_counts_clients_in_whole_numbers() {
        let s = spec(CapacityVary::Clients, 100.0, Some(2.0), None, 4, 0);
        assert_eq!(ladder(&s), vec![100.0, 200.0, 400.0, 800.0]);
        let s = spec(CapacityVary::Clients, 100.0, None, Some(100.0), 5, 0);
        assert_eq!(ladder(&s), vec![100.0, 200.0, 300.0, 400.0, 500.0]);
        // 1 × 1.2 rounds to 1 again: the ladder still rises.
        let s = spec(CapacityVary::Both, 1.0, Some(1.2), None, 4, 0);
        assert_eq!(ladder(&s), vec![1.0, 2.0, 3.0, 4.0]);
        let s = spec(CapacityVary::Rate, 2.5, Some(1.5), None, 3, 0);
        assert_eq!(ladder(&s), vec![2.5, 3.75, 5.625]);
    }

    #[test]
    fn midpoints_stay_strictly_between() {
        assert_eq!(midpoint(200.0, 400.0, true), Some(300.0));
        assert_eq!(midpoint(200.0, 203.0, true), Some(201.0));
        assert_eq!(midpoint(200.0, 201.0, true), None);
        assert_eq!(midpoint(10.0, 20.0, false), Some(15.0));
        assert_eq!(midpoint(10.0, 10.001, false), None);
    }

    #[test]
    fn a_knee_is_climbed_to_then_bisected() {
        // 100, 200, 400 (fails at 400 > 350), then 300 (pass), 350 (pass), 375 (fail).
        let s = spec(CapacityVary::Clients, 100.0, Some(2.0), None, 8, 3);
        let (ran, search) = walk(&s, 350.0);
        assert_eq!(ran, vec![100.0, 200.0, 400.0, 300.0, 350.0, 375.0]);
        assert_eq!((search.last_pass(), search.first_fail()), (Some(350.0), Some(375.0)));
        assert_eq!(search.end(), Some(End::Knee));
    }

    #[test]
    fn without_bisection_the_first_fail_ends_it() {
        let s = spec(CapacityVary::Clients, 100.0, None, Some(100.0), 8, 0);
        let (ran, search) = walk(&s, 300.0);
        assert_eq!(ran, vec![100.0, 200.0, 300.0, 400.0]);
        assert_eq!((search.last_pass(), search.first_fail()), (Some(300.0), Some(400.0)));
        assert_eq!(search.end(), Some(End::Knee));
    }

    #[test]
    fn bisection_stops_when_no_whole_number_is_left_between() {
        let s = spec(CapacityVary::Clients, 1.0, None, Some(1.0), 8, 10);
        let (ran, search) = walk(&s, 2.0);
        assert_eq!(ran, vec![1.0, 2.0, 3.0]);
        assert_eq!(search.end(), Some(End::Knee));
    }

    #[test]
    fn all_passing_and_first_failing_searches_end_without_bisecting() {
        let s = spec(CapacityVary::Rate, 10.0, Some(2.0), None, 3, 3);
        let (ran, search) = walk(&s, 1e9);
        assert_eq!(ran, vec![10.0, 20.0, 40.0]);
        assert_eq!((search.last_pass(), search.first_fail(), search.end()), (Some(40.0), None, Some(End::PassedAll)));
        let (ran, search) = walk(&s, 5.0);
        assert_eq!(ran, vec![10.0]);
        assert_eq!(
            (search.last_pass(), search.first_fail(), search.end()),
            (None, Some(10.0), Some(End::FirstStepFails))
        );
    }

    #[test]
    fn an_invalid_step_ends_the_search_and_is_neither_pass_nor_fail() {
        let s = spec(CapacityVary::Clients, 100.0, Some(2.0), None, 8, 3);
        let mut search = Search::new(&s);
        assert_eq!(search.next_value(), Some(100.0));
        search.record(100.0, Outcome::Pass);
        assert_eq!(search.next_value(), Some(200.0));
        search.record(200.0, Outcome::Invalid);
        assert_eq!(search.next_value(), None);
        assert_eq!(search.end(), Some(End::Invalid(200.0)));
        assert_eq!((search.last_pass(), search.first_fail()), (Some(100.0), None));
        // Also while bisecting.
        let mut search = Search::new(&s);
        for (v, o) in [(100.0, Outcome::Pass), (200.0, Outcome::Fail)] {
            assert_eq!(search.next_value(), Some(v));
            search.record(v, o);
        }
        assert_eq!(search.next_value(), Some(150.0));
        search.record(150.0, Outcome::Invalid);
        assert_eq!(search.next_value(), None);
        assert_eq!((search.last_pass(), search.first_fail()), (Some(100.0), Some(200.0)));
    }
}
