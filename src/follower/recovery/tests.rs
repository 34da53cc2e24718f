//! The machine driven by hand: each test plays the leader and the disk, one event at a time.

use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use super::*;
use crate::{protocol::FileMeta, transport::TransportError, units::ByteSize};

fn meta(name: &str, len: u64) -> FileMeta {
    FileMeta {
        name: name.into(),
        len,
        crc32c: 0,
    }
}

fn settings(policy: Policy) -> RecoverySettings {
    RecoverySettings {
        policy,
        chunk_size: ByteSize(4),
        max_concurrent_file_chunks: 2,
        max_retries: 3,
        time_scale: 0.001,
        internal_action_timeout: Duration::from_secs(60),
        ..RecoverySettings::default()
    }
}

/// A machine and the simulated time it runs at.
struct Bench {
    r: Recovery,
    now: Instant,
}

impl Bench {
    fn new(settings: RecoverySettings) -> Self {
        Self::resuming(settings, None)
    }

    fn resuming(settings: RecoverySettings, ledger: Option<Ledger>) -> Self {
        let now = Instant::now();
        Self {
            r: Recovery::new(settings, Clock::start(), None, 7, ledger, now),
            now,
        }
    }

    fn actions(&mut self) -> Vec<Action> {
        std::iter::from_fn(|| self.r.poll_action()).collect()
    }

    fn on(&mut self, event: Event) -> Vec<Action> {
        self.r.handle(event, self.now);
        self.actions()
    }

    /// Moves time to the machine's next timer and fires it.
    fn wait(&mut self) -> Vec<Action> {
        let at = self.r.poll_timeout().expect("a timer is set");
        assert!(at >= self.now, "timers never go back");
        self.now = at;
        self.r.handle_timeout(self.now);
        self.actions()
    }

    /// Connects and opens a session listing `files`; returns the store's plan.
    fn open(&mut self, files: &[FileMeta]) -> Action {
        assert_eq!(self.on(Event::Connected), vec![Action::OpenSession]);
        let prepare = self.on(Event::SessionOpened {
            session: 9,
            files: files.to_vec(),
        });
        assert_eq!(prepare.len(), 1, "{prepare:?}");
        prepare.into_iter().next().expect("one")
    }

    /// Answers a chunk request with the right bytes and writes them.
    fn deliver(&mut self, request: ChunkRequest) -> Vec<Action> {
        let data = Bytes::from(vec![request.file as u8; request.len as usize]);
        let crc = crc32c::crc32c(&data);
        let write = self.on(Event::ChunkArrived {
            seq: request.seq,
            reply: ChunkReply::of(request.file, request.offset, data, crc),
        });
        assert!(
            matches!(write.as_slice(), [Action::WriteChunk { seq, .. }] if *seq == request.seq),
            "{write:?}"
        );
        self.on(Event::ChunkWritten {
            seq: request.seq,
            throttled: Duration::ZERO,
        })
    }
}

fn requests(actions: &[Action]) -> Vec<ChunkRequest> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::RequestChunk { request, .. } => Some(*request),
            _ => None,
        })
        .collect()
}

fn reset() -> Failure {
    Failure::transport(Some(0), TransportError::Reset)
}

#[test]
fn one_clean_attempt_requests_every_chunk_through_the_window_and_finishes() {
    let mut b = Bench::new(settings(Policy::Elasticsearch));
    assert_eq!(b.actions(), vec![Action::Connect]);
    let files = [meta("a", 10), meta("empty", 0)];
    assert_eq!(
        b.open(&files),
        Action::PrepareStore {
            files: files.to_vec(),
            plan: StorePlan::Fresh {
                clear_first: false,
                journaled: false
            },
            room_needed: 10,
        }
    );
    let start = b.on(Event::StoreReady);
    assert_eq!(
        start[0],
        Action::FinalizeFile {
            file: 1,
            len: 0,
            crc: 0
        },
        "an empty file is finalized at once"
    );
    let first = requests(&start);
    assert_eq!(first.len(), 2, "two in flight: the window");
    assert_eq!(b.r.counters().bytes_needed, 10);
    let next = requests(&b.deliver(first[0]));
    assert_eq!(next.len(), 1);
    assert_eq!(
        (next[0].offset, next[0].len),
        (8, 2),
        "the short last chunk"
    );
    assert!(requests(&b.deliver(first[1])).is_empty());
    let finalize = b.deliver(next[0]);
    assert!(matches!(
        finalize.as_slice(),
        [Action::FinalizeFile {
            file: 0,
            len: 10,
            ..
        }]
    ));
    assert!(
        b.on(Event::FileFinalized {
            file: 1,
            took: Duration::ZERO
        })
        .is_empty()
    );
    assert_eq!(
        b.on(Event::FileFinalized {
            file: 0,
            took: Duration::ZERO
        }),
        vec![Action::FinishAttempt { session: 9 }]
    );
    assert_eq!(b.on(Event::AttemptFinished), vec![Action::Finish]);
    assert!(b.r.is_over() && b.r.is_completed());
    let report = b.r.report("leader".into(), 0, Vec::new());
    assert_eq!(report.outcome, Outcome::Completed);
    assert_eq!(
        (report.bytes, report.bytes_transferred, report.bytes_wasted),
        (10, 10, 0)
    );
    assert_eq!((report.files_verified, report.attempts), (2, 1));
}

#[test]
fn elasticsearch_aborts_on_a_chunk_failure_and_restarts_from_an_empty_target() {
    let mut b = Bench::new(settings(Policy::Elasticsearch));
    b.actions();
    b.open(&[meta("a", 16)]);
    let first = requests(&b.on(Event::StoreReady));
    b.deliver(first[0]);
    let after = b.on(Event::ChunkFailed {
        seq: first[1].seq,
        failure: reset(),
    });
    assert_eq!(
        after,
        vec![
            Action::AbortAttempt {
                remove_parts: true,
                release_session: Some(9)
            },
            Action::ClearTarget,
            Action::Connect
        ],
        "no delay, an empty target"
    );
    assert_eq!(b.r.counters().attempt, 2);
    let plan = b.open(&[meta("a", 16)]);
    assert!(
        matches!(
            plan,
            Action::PrepareStore {
                room_needed: 16,
                ..
            }
        ),
        "{plan:?}"
    );
    let record = &b.r.failures()[0];
    assert_eq!(
        (record.attempt, record.kind, record.channel),
        (1, FailureKind::Reset, Some(0))
    );
}

#[test]
fn a_request_that_outlives_internal_action_timeout_fails_the_attempt() {
    let mut s = settings(Policy::Elasticsearch);
    s.internal_action_timeout = Duration::from_secs(5);
    let mut b = Bench::new(s);
    b.actions();
    b.open(&[meta("a", 4)]);
    b.on(Event::StoreReady);
    let t0 = b.now;
    let after = b.wait();
    assert_eq!(b.now - t0, Duration::from_secs(5));
    assert_eq!(
        after[0],
        Action::AbortAttempt {
            remove_parts: true,
            release_session: Some(9)
        }
    );
    assert_eq!(b.r.failures()[0].kind, FailureKind::Timeout);
}

#[test]
fn opensearch_retries_a_chunk_after_its_backoffs_reconnecting_then_gives_the_attempt_up() {
    let mut b = Bench::new(settings(Policy::Opensearch));
    b.actions();
    b.open(&[meta("a", 4)]);
    let sent = requests(&b.on(Event::StoreReady));
    assert_eq!(
        b.r.poll_timeout(),
        None,
        "no per-request timeout under opensearch"
    );
    let mut waited = Vec::new();
    for _ in 0..4 {
        assert!(b.on(Event::ChannelLost { channel: 0 }).is_empty());
        assert!(
            b.on(Event::ChunkFailed {
                seq: sent[0].seq,
                failure: reset()
            })
            .is_empty()
        );
        let t0 = b.now;
        assert_eq!(
            b.wait(),
            vec![Action::Connect],
            "the retry reopens the connection"
        );
        waited.push(b.now - t0);
        assert_eq!(
            requests(&b.on(Event::Connected)),
            vec![sent[0]],
            "the same chunk"
        );
    }
    assert_eq!(
        waited,
        [10, 20, 40, 80].map(Duration::from_millis).to_vec(),
        "10/20/40/80 s at time_scale 0.001"
    );
    let gave_up = b.on(Event::ChunkFailed {
        seq: sent[0].seq,
        failure: reset(),
    });
    assert_eq!(
        gave_up,
        vec![Action::AbortAttempt {
            remove_parts: true,
            release_session: None
        }]
    );
    let t0 = b.now;
    assert_eq!(b.wait(), vec![Action::ClearTarget, Action::Connect]);
    assert_eq!(
        b.now - t0,
        Duration::from_millis(1),
        "1 s restart delay, scaled"
    );
}

#[test]
fn opensearch_does_not_retry_what_is_not_a_connection_error() {
    let mut b = Bench::new(settings(Policy::Opensearch));
    b.actions();
    b.open(&[meta("a", 4)]);
    let sent = requests(&b.on(Event::StoreReady));
    let expired = Failure::transport(
        None,
        TransportError::Remote {
            code: crate::protocol::ErrorCode::UnknownSession,
            message: "gone".into(),
        },
    );
    let after = b.on(Event::ChunkFailed {
        seq: sent[0].seq,
        failure: expired,
    });
    assert_eq!(
        after,
        vec![Action::AbortAttempt {
            remove_parts: true,
            release_session: None
        }]
    );
}

#[test]
fn resumable_keeps_every_verified_chunk_and_asks_only_for_the_rest() {
    let mut b = Bench::new(settings(Policy::Resumable));
    b.actions();
    let files = [meta("a", 12)];
    b.open(&files);
    let sent = requests(&b.on(Event::StoreReady));
    let third = requests(&b.deliver(sent[0]));
    b.on(Event::ChunkFailed {
        seq: sent[1].seq,
        failure: reset(),
    });
    assert_eq!(b.r.poll_action(), None);
    let t0 = b.now;
    assert_eq!(b.wait(), vec![Action::Connect], "no clearing");
    let delay = b.now - t0;
    assert!(
        (Duration::from_micros(100)..Duration::from_micros(200)).contains(&delay),
        "equal jitter over 200 ms, scaled: {delay:?}"
    );
    assert_eq!(
        b.open(&files),
        Action::PrepareStore {
            files: files.to_vec(),
            plan: StorePlan::Keep,
            room_needed: 8,
        }
    );
    let again = requests(&b.on(Event::StoreReady));
    assert_eq!(
        again.iter().map(|r| r.offset).collect::<Vec<_>>(),
        vec![4, 8],
        "chunk 0 is kept; third was {third:?}"
    );
    for r in again {
        b.deliver(r);
    }
    b.on(Event::FileFinalized {
        file: 0,
        took: Duration::ZERO,
    });
    b.on(Event::AttemptFinished);
    let report = b.r.report("leader".into(), 0, Vec::new());
    // The failed chunk brought nothing and the one still in flight was never answered: no byte
    // arrived twice, none was wasted.
    assert_eq!((report.bytes_transferred, report.bytes_wasted), (12, 0));
}

#[test]
fn a_resumed_ledger_is_not_fetched_again_and_a_complete_file_is_finalized_first() {
    let mut ledger = Ledger::new(vec![meta("a", 8), meta("b", 4)]);
    ledger.add_chunk(0, 0, 4, 1).expect("fits");
    ledger.add_chunk(1, 0, 4, 2).expect("fits");
    let mut b = Bench::resuming(settings(Policy::Resumable), Some(ledger));
    b.actions();
    let plan = b.open(&[meta("a", 8), meta("b", 4)]);
    assert!(matches!(
        plan,
        Action::PrepareStore {
            plan: StorePlan::Keep,
            room_needed: 4,
            ..
        }
    ));
    let start = b.on(Event::StoreReady);
    assert!(matches!(
        start[0],
        Action::FinalizeFile {
            file: 1,
            len: 4,
            crc: 2
        }
    ));
    assert_eq!(
        requests(&start)
            .iter()
            .map(|r| (r.file, r.offset))
            .collect::<Vec<_>>(),
        vec![(0, 4)]
    );
    let report = b.r.report("leader".into(), 0, Vec::new());
    assert_eq!(report.bytes_resumed, 8);
}

#[test]
fn a_changed_file_list_clears_what_a_resumed_ledger_had() {
    let ledger = Ledger::new(vec![meta("a", 8)]);
    let mut b = Bench::resuming(settings(Policy::Resumable), Some(ledger));
    b.actions();
    let plan = b.open(&[meta("a", 9)]);
    assert!(matches!(
        plan,
        Action::PrepareStore {
            plan: StorePlan::Fresh {
                clear_first: true,
                journaled: true
            },
            room_needed: 9,
            ..
        }
    ));
}

#[test]
fn corruption_ends_the_recovery_under_every_policy() {
    for policy in [Policy::Elasticsearch, Policy::Opensearch, Policy::Resumable] {
        let mut b = Bench::new(settings(policy));
        b.actions();
        b.open(&[meta("a", 4)]);
        let sent = requests(&b.on(Event::StoreReady));
        let data = Bytes::from_static(b"abcd");
        let after = b.on(Event::ChunkArrived {
            seq: sent[0].seq,
            reply: ChunkReply::of(0, 0, data, 0xdead_beef),
        });
        assert_eq!(after.last(), Some(&Action::Finish), "{policy}");
        assert_eq!(b.r.failures()[0].kind, FailureKind::Corrupt);
    }
}

#[test]
fn a_reply_for_another_range_is_a_protocol_failure() {
    let mut b = Bench::new(settings(Policy::Elasticsearch));
    b.actions();
    b.open(&[meta("a", 8)]);
    let sent = requests(&b.on(Event::StoreReady));
    b.on(Event::ChunkArrived {
        seq: sent[0].seq,
        reply: ChunkReply::of(0, 4, Bytes::from_static(b"abcd"), 0),
    });
    assert_eq!(b.r.failures()[0].kind, FailureKind::Protocol);
    assert!(
        b.r.failures()[0]
            .message
            .contains("asked for file 0 offset 0")
    );
}

#[test]
fn after_max_retries_the_report_says_it_gave_up() {
    let mut b = Bench::new(settings(Policy::Elasticsearch));
    for _ in 0..3 {
        b.actions();
        b.on(Event::ConnectFailed(Failure::transport(
            None,
            TransportError::Connect {
                addr: "x".into(),
                message: "refused".into(),
            },
        )));
    }
    assert!(b.r.is_over());
    let report = b.r.report("x".into(), 0, Vec::new());
    assert_eq!(report.attempts, 3);
    let why = report.failure.expect("failed");
    assert!(
        why.starts_with("connect:") && why.ends_with("(gave up after 3 attempts)"),
        "{why}"
    );
}

#[test]
fn the_time_limit_and_a_cancel_end_the_recovery_with_their_reason() {
    let now = Instant::now();
    let mut r = Recovery::new(
        settings(Policy::Opensearch),
        Clock::start(),
        Some(Duration::from_secs(3)),
        0,
        None,
        now,
    );
    assert_eq!(r.poll_timeout(), Some(now + Duration::from_secs(3)));
    r.handle_timeout(now + Duration::from_secs(3));
    assert!(r.is_over());
    assert_eq!(r.failures()[0].kind, FailureKind::TimeLimit);
    assert!(r.failures()[0].message.contains("no per-request timeout"));

    let mut b = Bench::new(settings(Policy::Resumable));
    b.actions();
    b.on(Event::ConnectFailed(reset()));
    assert!(b.r.poll_timeout().is_some(), "backing off");
    assert_eq!(b.on(Event::Cancelled).last(), Some(&Action::Finish));
    let last = b.r.failures().last().expect("recorded");
    assert_eq!((last.kind, last.attempt), (FailureKind::Interrupted, 2));
}

#[test]
fn a_bad_listing_is_refused_for_good() {
    let mut b = Bench::new(settings(Policy::Resumable));
    b.actions();
    b.on(Event::Connected);
    let after = b.on(Event::SessionOpened {
        session: 1,
        files: vec![meta("a", 1), meta("a", 1)],
    });
    assert_eq!(after.last(), Some(&Action::Finish));
    assert_eq!(b.r.failures()[0].kind, FailureKind::Protocol);
}

#[test]
fn requests_decided_before_a_channel_loss_wait_for_a_new_connection() {
    let mut b = Bench::new(settings(Policy::Opensearch));
    b.actions();
    b.open(&[meta("a", 16)]);
    b.r.handle(Event::StoreReady, b.now);
    // The driver learns of the loss before it performs the two requests.
    let after = b.on(Event::ChannelLost { channel: 2 });
    assert_eq!(after, vec![Action::Connect]);
    let resent = requests(&b.on(Event::Connected));
    assert_eq!(resent.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![0, 1]);
}

#[test]
fn stale_and_duplicate_events_change_nothing() {
    let mut b = Bench::new(settings(Policy::Elasticsearch));
    b.actions();
    assert!(
        b.on(Event::ChunkWritten {
            seq: 4,
            throttled: Duration::ZERO
        })
        .is_empty()
    );
    assert!(b.on(Event::StoreReady).is_empty());
    b.open(&[meta("a", 8)]);
    let sent = requests(&b.on(Event::StoreReady));
    b.deliver(sent[0]);
    assert!(
        b.on(Event::ChunkWritten {
            seq: sent[0].seq,
            throttled: Duration::ZERO
        })
        .is_empty(),
        "twice"
    );
    assert!(
        b.on(Event::FileFinalized {
            file: 0,
            took: Duration::ZERO
        })
        .is_empty(),
        "not complete"
    );
    assert_eq!(b.r.counters().bytes_transferred, 4);
}

#[test]
fn a_connection_lost_before_it_carried_anything_is_charged_not_replaced_forever() {
    let mut b = Bench::new(settings(Policy::Opensearch));
    b.actions();
    b.open(&[meta("a", 8)]);
    b.r.handle(Event::StoreReady, b.now);
    // The proven connection is lost before the two requests go out: they wait for a new one.
    assert_eq!(
        b.on(Event::ChannelLost { channel: 0 }),
        vec![Action::Connect]
    );
    b.r.handle(Event::Connected, b.now);
    // The new connection is lost at once, before any answer: its requests are sent on it (and
    // fail there, spending a try), not held for yet another connection.
    let after = b.on(Event::ChannelLost { channel: 1 });
    assert_eq!(requests(&after).len(), 2, "{after:?}");
    assert!(!after.contains(&Action::Connect));
}

#[test]
fn a_store_that_failed_to_be_made_afresh_is_not_kept() {
    let mut b = Bench::new(settings(Policy::Resumable));
    b.actions();
    b.open(&[meta("a", 8)]);
    b.on(Event::LocalFailed(Failure::new(FailureKind::Io, "journal")));
    b.wait();
    assert_eq!(
        b.open(&[meta("a", 8)]),
        Action::PrepareStore {
            files: vec![meta("a", 8)],
            plan: StorePlan::Fresh {
                clear_first: true,
                journaled: true
            },
            room_needed: 8,
        },
        "a fresh store on an emptied target, not the half-made one"
    );
}

#[test]
fn a_files_last_chunk_holds_its_window_slot_until_the_file_is_finalized() {
    let mut s = settings(Policy::Elasticsearch);
    s.max_concurrent_file_chunks = 2;
    let mut b = Bench::new(s);
    b.actions();
    b.open(&[meta("a", 4), meta("b", 8)]);
    let sent = requests(&b.on(Event::StoreReady));
    assert_eq!(sent.iter().map(|r| r.file).collect::<Vec<_>>(), vec![0, 1]);
    let after = b.deliver(sent[0]);
    assert!(
        matches!(after.as_slice(), [Action::FinalizeFile { file: 0, .. }]),
        "no new request while file a is being finalized: {after:?}"
    );
    let next = requests(&b.on(Event::FileFinalized {
        file: 0,
        took: Duration::ZERO,
    }));
    assert_eq!((next[0].file, next[0].offset), (1, 4));
}

#[test]
fn a_failed_connect_while_transferring_spends_a_try_of_every_waiting_chunk() {
    let mut b = Bench::new(settings(Policy::Opensearch));
    b.actions();
    b.open(&[meta("a", 8)]);
    b.r.handle(Event::StoreReady, b.now);
    b.on(Event::ChannelLost { channel: 0 });
    let refused = Failure::transport(
        None,
        TransportError::Connect {
            addr: "leader".into(),
            message: "refused".into(),
        },
    );
    assert!(b.on(Event::ConnectFailed(refused)).is_empty());
    let t0 = b.now;
    assert_eq!(
        b.wait(),
        vec![Action::Connect],
        "both retry after the first backoff"
    );
    assert_eq!(b.now - t0, Duration::from_millis(10));
    assert_eq!(requests(&b.on(Event::Connected)).len(), 2);
}

#[test]
fn the_time_limit_fires_during_a_backoff() {
    let now = Instant::now();
    // Resumable's first backoff (100-200 ms, times 10) outlasts the 500 ms limit.
    let mut s = settings(Policy::Resumable);
    s.time_scale = 10.0;
    let mut r = Recovery::new(
        s,
        Clock::start(),
        Some(Duration::from_millis(500)),
        0,
        None,
        now,
    );
    r.poll_action();
    r.handle(Event::ConnectFailed(reset()), now);
    assert_eq!(
        r.poll_timeout(),
        Some(now + Duration::from_millis(500)),
        "the limit comes first"
    );
    r.handle_timeout(now + Duration::from_millis(500));
    assert!(r.is_over());
    let last = r.failures().last().expect("recorded");
    assert_eq!((last.kind, last.attempt), (FailureKind::TimeLimit, 2));
}

#[test]
fn a_leader_claiming_hours_on_its_limiter_moves_no_more_than_was_waited() {
    let mut b = Bench::new(settings(Policy::Elasticsearch));
    b.actions();
    b.open(&[meta("a", 4)]);
    let sent = requests(&b.on(Event::StoreReady));
    b.now += Duration::from_millis(30);
    let data = Bytes::from(vec![0u8; 4]);
    let crc = crc32c::crc32c(&data);
    let claimed = Duration::from_micros(u64::from(u32::MAX));
    b.on(Event::ChunkArrived {
        seq: sent[0].seq,
        reply: ChunkReply::of(0, 0, data, crc).throttled_on_leader(claimed),
    });
    let spent = b.r.account.spent();
    assert!(
        (spent.leader_throttle_s - 0.03).abs() < 1e-9 && spent.network_s.abs() < 1e-9,
        "the 30 ms waited, not the 71 minutes claimed: {spent:?}"
    );
    assert!((spent.total() - 0.03).abs() < 1e-9, "{spent:?}");
}

#[test]
fn each_request_is_recorded_once_when_an_attempt_fails_with_requests_in_flight() {
    let mut b = Bench::new(settings(Policy::Elasticsearch));
    b.actions();
    b.open(&[meta("a", 16)]);
    let sent = requests(&b.on(Event::StoreReady));
    assert_eq!(sent.len(), 2, "a window of two");
    b.now += Duration::from_millis(5);
    // One fails on its own; the attempt's failure abandons the other.
    b.on(Event::ChunkFailed {
        seq: sent[0].seq,
        failure: reset(),
    });
    let samples = b.r.account.requests();
    assert_eq!(samples.len(), 2, "{samples:?}");
    assert!(
        samples
            .iter()
            .all(|r| !r.ok && (r.latency_s - 0.005).abs() < 1e-9)
    );
    // A corrupt reply is a request that was not answered.
    let mut b = Bench::new(settings(Policy::Elasticsearch));
    b.actions();
    b.open(&[meta("a", 4)]);
    let sent = requests(&b.on(Event::StoreReady));
    b.on(Event::ChunkArrived {
        seq: sent[0].seq,
        reply: ChunkReply::of(0, 0, Bytes::from_static(b"abcd"), 0),
    });
    let samples = b.r.account.requests();
    assert_eq!(samples.len(), 1, "{samples:?}");
    assert!(!samples[0].ok);
}

#[test]
fn opensearch_restarts_past_max_retries_until_the_time_limit() {
    let settings = settings(Policy::Opensearch);
    assert_eq!(settings.max_retries, 3);
    let now = Instant::now();
    let limit = Duration::from_secs(2);
    let mut b = Bench {
        r: Recovery::new(settings, Clock::start(), Some(limit), 7, None, now),
        now,
    };
    let refused = || Failure::transport(None, TransportError::Reset);
    let mut next = b.actions();
    for attempt in 1..=10 {
        assert_eq!(
            next.last(),
            Some(&Action::Connect),
            "attempt {attempt}: {next:?}"
        );
        b.r.handle(Event::ConnectFailed(refused()), b.now);
        assert!(
            !b.r.is_over(),
            "attempt {attempt} of max_retries 3 is not the last"
        );
        assert!(b.r.failures()[attempt - 1].then.contains("no bound"));
        b.actions();
        next = b.wait();
    }
    b.now = now + limit;
    b.r.handle_timeout(b.now);
    assert!(b.r.is_over());
    let last = b.r.failures().last().expect("a failure");
    assert_eq!(last.kind, FailureKind::TimeLimit);
}
