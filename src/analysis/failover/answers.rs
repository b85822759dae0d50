//! The client's check of each answer against the ledger: for every request
//! the client counted as a complete, correct answer, the tokens it received
//! against the `output_tokens` of the ledger's serving attempt, and the
//! provider whose sequence the content is against the provider of that
//! attempt. A disagreement is a bug on one side (the client's count, the
//! provider's ledger) or a gateway that replays or mislabels answers.

use serde::{Deserialize, Serialize};

use super::facts::Fact;
use crate::metrics::recorder::AnswerRecord;
use crate::protocol::tag;

/// The answer check's result, in the failover section of summary.json.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AnswerCheck {
    /// Successful requests whose content the client checked (0 when the
    /// answers were not checked: no simulated providers).
    pub answers_checked: u64,
    /// Of those, how many disagree with the ledger's serving attempt.
    pub answer_mismatches: u64,
    /// The first disagreement, in words.
    pub answer_mismatch_example: Option<String>,
}

impl AnswerCheck {
    /// One sentence for the reports.
    pub fn describe(&self) -> String {
        match (self.answers_checked, &self.answer_mismatch_example) {
            (0, _) => "no successful answer was checked against the ledger".to_string(),
            (n, None) => format!(
                "{n} successful answers checked against the ledger's serving attempts: all agree"
            ),
            (n, Some(e)) => format!(
                "{n} successful answers checked against the ledger's serving attempts: {} disagree, e.g. {e}",
                self.answer_mismatches
            ),
        }
    }
}

/// Compares answer by answer.
pub(super) struct AnswerTally<'a> {
    names: &'a [String],
    // Read only by the slice-based `request` the tests use.
    #[cfg_attr(not(test), allow(dead_code))]
    answers: &'a [AnswerRecord],
    check: AnswerCheck,
}

impl<'a> AnswerTally<'a> {
    /// `answers`: the client's checks by request number (empty: none).
    pub fn new(names: &'a [String], answers: &'a [AnswerRecord]) -> Self {
        AnswerTally {
            names,
            answers,
            check: AnswerCheck::default(),
        }
    }

    #[cfg(test)]
    pub fn request(&mut self, f: &Fact) {
        self.request_answer(f, self.answers.get(f.seq).copied());
    }

    /// One request with the client's check of its answer (`None` or
    /// `AnswerRecord::NONE`: not checked).
    pub fn request_answer(&mut self, f: &Fact, answer: Option<AnswerRecord>) {
        let Some(tokens) = answer.and_then(AnswerRecord::tokens) else {
            return;
        };
        if !f.rec.outcome.is_ok() {
            return;
        }
        self.check.answers_checked += 1;
        let content_from = answer.and_then(AnswerRecord::provider);
        if let Some(why) = self.disagreement(f, tokens, content_from) {
            self.check.answer_mismatches += 1;
            self.check
                .answer_mismatch_example
                .get_or_insert_with(|| format!("request {}: {why}", tag::format(f.seq as u64)));
        }
    }

    fn name(&self, p: u16) -> String {
        self.names
            .get(usize::from(p))
            .cloned()
            .unwrap_or_else(|| format!("provider #{p}"))
    }

    fn disagreement(&self, f: &Fact, tokens: u32, content_from: Option<u16>) -> Option<String> {
        let served = f.joined.served_by;
        if served == u16::MAX {
            return Some(format!(
                "the client received a complete answer of {tokens} tokens, but no provider's \
                 ledger shows a complete answer to it"
            ));
        }
        let sent = f.joined.served_tokens.1.min(AnswerRecord::MAX_TOKENS);
        if sent != tokens {
            return Some(format!(
                "the client received {tokens} tokens, the serving attempt at {} sent {sent}",
                self.name(served)
            ));
        }
        match content_from {
            Some(p) if p != served => Some(format!(
                "the content is {}'s answer, but the ledger's serving attempt is at {}",
                self.name(p),
                self.name(served)
            )),
            _ => None,
        }
    }

    pub fn finish(self) -> AnswerCheck {
        self.check
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::failover::join::Joined;
    use crate::metrics::recorder::{AccountRecord, ClientRecord};
    use crate::metrics::request::Checked;
    use crate::metrics::Outcome;

    fn rec(outcome: Outcome) -> ClientRecord {
        ClientRecord {
            intended_ms: 0,
            latency_us: 1000,
            served_by: ClientRecord::NONE,
            class: 0,
            outcome,
            account: AccountRecord::EMPTY,
            message: crate::metrics::messages::ErrorMessages::NONE,
        }
    }

    /// Served by provider 1 with 20 output tokens.
    fn joined(served_by: u16) -> Joined {
        Joined {
            first_arrival_us: 0,
            first_provider: served_by,
            first_ok: true,
            attempts: 1,
            providers: 1 << served_by,
            served_by,
            cost: 0.0,
            served_tokens: (10, 20),
        }
    }

    fn answer(tokens: u32, provider: Option<u16>) -> AnswerRecord {
        AnswerRecord::new(&Checked { tokens, provider })
    }

    #[test]
    fn tokens_and_providers_are_compared_with_the_serving_attempt() {
        let names = ["flash".to_string(), "qwen".into()];
        let answers = [
            answer(20, Some(1)), // 0: agrees
            answer(17, Some(1)), // 1: fewer tokens than the ledger says
            answer(20, Some(0)), // 2: flash's content, qwen's attempt
            answer(20, None),    // 3: provider ambiguous: tokens only
            answer(20, Some(1)), // 4: failed request: not compared
            AnswerRecord::NONE,  // 5: not checked
            answer(20, Some(1)), // 6: no serving attempt in the ledger
        ];
        let ok = rec(Outcome::Ok);
        let failed = rec(Outcome::WrongAnswer);
        let mut tally = AnswerTally::new(&names, &answers);
        for seq in 0..7 {
            let j = if seq == 6 { Joined::EMPTY } else { joined(1) };
            let f = Fact {
                seq,
                rec: if seq == 4 { &failed } else { &ok },
                ledger: j.view(),
                joined: j,
                served: j.served_by,
            };
            tally.request(&f);
        }
        let check = tally.finish();
        assert_eq!((check.answers_checked, check.answer_mismatches), (5, 3));
        assert_eq!(
            check.answer_mismatch_example.as_deref(),
            Some(
                "request slb-1: the client received 17 tokens, the serving attempt at qwen sent 20"
            )
        );
        assert!(check.describe().starts_with("5 successful answers checked"));
        assert!(check.describe().contains("3 disagree, e.g. request slb-1"));
    }

    #[test]
    fn nothing_checked_is_said_as_zero_checked() {
        let names = ["flash".to_string()];
        let mut tally = AnswerTally::new(&names, &[]);
        let ok = rec(Outcome::Ok);
        let j = joined(0);
        tally.request(&Fact {
            seq: 0,
            rec: &ok,
            ledger: j.view(),
            joined: j,
            served: 0,
        });
        let check = tally.finish();
        assert_eq!(check, AnswerCheck::default());
        assert!(check
            .describe()
            .starts_with("no successful answer was checked"));
    }

    #[test]
    fn summaries_from_before_the_check_read_as_nothing_checked() {
        use crate::analysis::failover::{analyze, Connections, Input, Report};
        let input = Input {
            providers: &[],
            prices: &[],
            class_names: &[],
            faults: &[],
            requests: &[],
            duration_s: 1,
            sent_until_s: 1.0,
            account_dialects: 0,
            dialects: &[],
            messages: &[],
            connections: Connections::NotObservable("not watched"),
            groups: &[],
        };
        let mut json = serde_json::to_value(analyze(&input, [])).unwrap();
        assert_eq!(json["answers_checked"], 0);
        assert!(json["answer_mismatch_example"].is_null());
        for key in [
            "answers_checked",
            "answer_mismatches",
            "answer_mismatch_example",
        ] {
            json.as_object_mut().unwrap().remove(key);
        }
        let old: Report = serde_json::from_value(json).unwrap();
        assert_eq!(old.answers, AnswerCheck::default());
    }
}
