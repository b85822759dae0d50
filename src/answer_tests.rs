use super::*;

const SEED: u64 = 42;

fn verify(pieces: &[&str], providers: usize, tag: u64) -> Verdict {
    let mut v = Verifier::new(SEED, tag, providers);
    for p in pieces {
        v.feed(p);
    }
    v.finish()
}

fn answer(tag: u64, provider: u16, tokens: u32) -> String {
    AnswerKey::new(SEED, tag).text(provider, 0, tokens, tokens)
}

#[test]
fn words_are_deterministic_and_only_the_last_is_marked() {
    let a = answer(7, 1, 30);
    assert_eq!(a, answer(7, 1, 30));
    let words: Vec<&str> = a.split(' ').skip(1).collect();
    assert_eq!(words.len(), 30);
    assert!(a.starts_with(' '));
    for (i, w) in words.iter().enumerate() {
        assert!((4..=MAX_STEM + 1).contains(&w.len()), "{w:?}");
        assert_eq!(w.ends_with('.'), i == 29, "{a}");
        assert!(w.bytes().all(|b| b.is_ascii_lowercase() || b == END));
    }
    // Chunks of the same answer join to the whole.
    let key = AnswerKey::new(SEED, 7);
    let joined = key.text(1, 0, 12, 30) + &key.text(1, 12, 18, 30);
    assert_eq!(joined, a);
    assert_eq!(key.text(1, 0, 0, 0), "");
    // Pinned, so a change of the text is a deliberate one (README shows it).
    assert_eq!(
        AnswerKey::new(42, 7).text(1, 0, 5, 5),
        " zedle belsulmi lunle bavohu nellun."
    );
}

#[test]
fn answers_differ_by_seed_tag_and_provider() {
    let base = answer(7, 1, 10);
    assert_ne!(base, answer(8, 1, 10));
    assert_ne!(base, answer(7, 2, 10));
    assert_ne!(base, AnswerKey::new(SEED + 1, 7).text(1, 0, 10, 10));
    // First words collide rarely across providers and requests.
    let mut same = 0;
    for tag in 0..2000 {
        let w = |p| AnswerKey::new(SEED, tag).text(p, 0, 1, 2);
        same += usize::from(w(0) == w(1));
    }
    assert!(same < 10, "{same} of 2000 first words collide");
}

#[test]
fn a_complete_answer_is_complete_however_it_is_chunked() {
    let a = answer(5, 2, 25);
    let full = Verdict::Complete {
        tokens: 25,
        providers: 1 << 2,
    };
    assert_eq!(verify(&[&a], 4, 5), full);
    for cut in 0..=a.len() {
        assert_eq!(verify(&[&a[..cut], &a[cut..]], 4, 5), full, "cut at {cut}");
    }
    // One byte at a time.
    let bytes: Vec<String> = a.chars().map(String::from).collect();
    let pieces: Vec<&str> = bytes.iter().map(String::as_str).collect();
    assert_eq!(verify(&pieces, 4, 5), full);
    assert_eq!(full.provider(), Some(2));
    assert_eq!(full.tokens(), 25);
}

#[test]
fn whitespace_at_the_ends_changes_nothing() {
    let a = answer(5, 0, 6);
    let full = Verdict::Complete {
        tokens: 6,
        providers: 1,
    };
    assert_eq!(verify(&[a.trim_start()], 3, 5), full);
    assert_eq!(verify(&[&format!("\n{a}\n\n")], 3, 5), full);
    let (head, tail) = a.split_at(a[1..].find(' ').unwrap() + 1);
    assert_eq!(verify(&[&format!("{head} \t"), tail], 3, 5), full);
    // Joining two words is not whitespace.
    let joined = a.replacen(' ', "", 2);
    assert!(matches!(verify(&[&joined], 3, 5), Verdict::Wrong { .. }));
}

#[test]
fn every_truncation_point_is_truncated() {
    let a = answer(9, 1, 12);
    // Cut 1 leaves only the leading space: no words at all.
    for cut in 2..a.len() {
        let v = verify(&[&a[..cut]], 2, 9);
        let words = a[..cut].split_whitespace().count() as u32;
        // The last word counts when whole (its end mark cut off is still a word).
        let whole_last = a[..cut].ends_with(' ') || a[cut..].starts_with(' ') || &a[cut..] == ".";
        match v {
            Verdict::Truncated { tokens, providers } => {
                assert_eq!(providers, 0b10, "cut at {cut}");
                // A word cut inside does not count.
                let expected = if whole_last { words } else { words - 1 };
                assert_eq!(tokens, expected, "cut at {cut}: {:?}", &a[..cut]);
            }
            other => panic!("cut at {cut}: {other:?}"),
        }
    }
    assert_eq!(verify(&[&a[..1]], 2, 9), verify(&[" "], 2, 9));
    assert_eq!(verify(&[], 2, 9), Verdict::Empty);
}

#[test]
fn another_requests_answer_is_wrong() {
    // Request 10 received request 11's answer, and the reverse.
    let (a, b) = (answer(10, 0, 20), answer(11, 0, 20));
    assert!(matches!(verify(&[&b], 2, 10), Verdict::Wrong { .. }));
    assert!(matches!(verify(&[&a], 2, 11), Verdict::Wrong { .. }));
    // Its first half, then someone else's words.
    let word_10 = |s: &str| s.match_indices(' ').nth(10).unwrap().0;
    let spliced = format!("{}{}", &a[..word_10(&a)], &b[word_10(&b)..]);
    assert_eq!(verify(&[&spliced], 2, 10), Verdict::Wrong { tokens: 10 });
}

#[test]
fn the_provider_is_identified_and_strangers_are_wrong() {
    let a = answer(3, 3, 8);
    let v = verify(&[&a], 4, 3);
    assert_eq!(v.provider(), Some(3));
    // With only providers 0 and 1 in the run, provider 3's sequence is no
    // provider's answer.
    assert!(matches!(verify(&[&a], 2, 3), Verdict::Wrong { .. }));
    // Nothing is anyone's answer when there are no providers.
    assert!(matches!(verify(&[&a], 0, 3), Verdict::Wrong { .. }));
    // All 64 providers are told apart.
    let a = answer(3, 63, 8);
    assert_eq!(verify(&[&a], MAX_PROVIDERS, 3).provider(), Some(63));
}

#[test]
fn words_after_the_end_or_too_long_are_wrong() {
    let a = answer(4, 0, 3);
    let more = format!("{a}{}", answer(4, 0, 3));
    assert!(matches!(
        verify(&[&more], 1, 4),
        Verdict::Wrong { tokens: 3 }
    ));
    assert!(matches!(
        verify(&[" abcdefghijklmnop"], 1, 4),
        Verdict::Wrong { tokens: 0 }
    ));
    // Rewritten: one letter changed.
    let mut bytes = a.clone().into_bytes();
    bytes[2] = if bytes[2] == b'x' { b'y' } else { b'x' };
    let rewritten = String::from_utf8(bytes).unwrap();
    assert!(matches!(verify(&[&rewritten], 1, 4), Verdict::Wrong { .. }));
}
