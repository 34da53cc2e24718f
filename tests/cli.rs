//! The `rrbench` binary end to end: exit codes, messages, and a recovery between two processes.

mod common;

use std::{
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::Output,
};

use common::{
    AUTH_TOKEN_ENV, interrupt, rrbench, rrbench_within, scratch, spawn_announcing,
    spawn_collecting, spawn_until_line,
};

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The JSON document `recover --json` printed.
fn json_document(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("one JSON document: {e}: {}", common::text(&out.stdout)))
}

/// The flat recovery report of `recover --json`, `end.report`.
fn report_json(out: &Output) -> serde_json::Value {
    json_document(out)["end"]["report"].clone()
}

#[test]
fn out_of_range_settings_exit_2_naming_the_setting() {
    let tmp = scratch();
    let dir = tmp.path().join("never-created");
    let dir = dir.to_str().expect("utf-8");
    let cases: &[(&[&str], &str)] = &[
        (
            &["--max-concurrent-file-chunks", "11"],
            "ccr.indices.recovery.max_concurrent_file_chunks",
        ),
        (
            &["--max-concurrent-file-chunks", "0"],
            "ccr.indices.recovery.max_concurrent_file_chunks",
        ),
        (&["--chunk-size", "512b"], "ccr.indices.recovery.chunk_size"),
        (&["--chunk-size", "2gb"], "ccr.indices.recovery.chunk_size"),
        (
            &["--max-bytes-per-sec", "100b"],
            "ccr.indices.recovery.max_bytes_per_sec",
        ),
        (
            &["--internal-action-timeout", "0s"],
            "ccr.indices.recovery.internal_action_timeout",
        ),
        (&["--max-retries", "0"], "index.allocation.max_retries"),
        (&["--chunk-size", "12parsecs"], "--chunk-size"),
        (
            &["--internal-action-timeout", "soon"],
            "--internal-action-timeout",
        ),
        (
            &["--max-concurrent-file-chunks", "-3"],
            "--max-concurrent-file-chunks",
        ),
    ];
    for (extra, named) in cases {
        let mut args = vec!["recover", "--from", "127.0.0.1:1", "--dir", dir];
        args.extend_from_slice(extra);
        let out = rrbench(&args);
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(named),
            "{extra:?}: stderr does not name {named}: {}",
            stderr(&out)
        );
    }
    assert!(
        !Path::new(dir).exists(),
        "nothing is created before settings are valid"
    );

    let out = rrbench(&["leader", "--dir", dir, "--recovery-activity-timeout", "0ms"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("ccr.indices.recovery.recovery_activity_timeout"));
}

#[test]
fn a_foreign_target_directory_is_refused_and_left_alone() {
    let tmp = scratch();
    std::fs::write(tmp.path().join("precious.txt"), b"keep").expect("write");
    let dir = tmp.path().to_str().expect("utf-8");
    let out = rrbench(&[
        "recover",
        "--from",
        "127.0.0.1:1",
        "--dir",
        dir,
        "--max-retries",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("not empty"), "{}", stderr(&out));
    assert!(tmp.path().join("precious.txt").exists());
}

#[test]
fn gen_index_leader_and_recover_as_separate_processes() {
    let tmp = scratch();
    let source = tmp.path().join("leader");
    let target = tmp.path().join("follower");
    let (source, target) = (
        source.to_str().expect("utf-8"),
        target.to_str().expect("utf-8"),
    );
    let out = rrbench(&[
        "gen-index",
        "--dir",
        source,
        "--size",
        "8mb",
        "--files",
        "6",
        "--seed",
        "3",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("wrote 6 files"));

    let (mut leader, addr) = spawn_announcing(&[
        "leader",
        "--dir",
        source,
        "--listen",
        "127.0.0.1:0",
        "--max-bytes-per-sec",
        "0",
    ]);

    let out = rrbench(&[
        "recover",
        "--from",
        &addr,
        "--dir",
        target,
        "--max-bytes-per-sec",
        "16mb",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json = report_json(&out);
    assert_eq!(json["outcome"], "completed");
    assert_eq!(json["failure"], serde_json::Value::Null);
    assert_eq!(json["bytes"], 8 << 20);
    assert_eq!(json["files_verified"], 6);
    assert_eq!(json["attempts"], 1);
    assert_eq!(json["settings"]["max_bytes_per_sec"], "16mb");
    assert_eq!(json["settings"]["chunk_size"], "1mb");
    assert_eq!(json["settings"]["max_concurrent_file_chunks"], 5);
    let duration = json["duration_s"].as_f64().expect("duration");
    let throughput = json["throughput_mib_s"].as_f64().expect("throughput");
    assert!(
        (throughput * duration - 8.0).abs() < 0.01,
        "throughput is bytes / duration"
    );
    let samples = json["timeseries"].as_array().expect("series");
    assert!(
        samples.len() as f64 >= 10.0 * duration,
        "{} samples in {duration}s",
        samples.len()
    );
    assert!(
        samples
            .iter()
            .all(|s| s["t"].is_f64() && s["bytes"].is_u64())
    );
    for entry in std::fs::read_dir(source).expect("source") {
        let entry = entry.expect("entry");
        let theirs = std::fs::read(entry.path()).expect("read");
        let ours = std::fs::read(Path::new(target).join(entry.file_name())).expect("recovered");
        assert!(theirs == ours, "{:?} differs", entry.file_name());
    }

    // Ctrl-C stops the leader cleanly.
    let status = interrupt(&mut leader);
    assert!(status.success(), "leader exit {status:?}");
}

#[test]
fn an_unreachable_leader_exits_1_with_a_failed_report_naming_the_likely_cause() {
    let tmp = scratch();
    let dir = tmp.path().join("t");
    let unused = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = unused.local_addr().expect("addr").to_string();
    drop(unused);
    let out = rrbench(&[
        "recover",
        "--from",
        &addr,
        "--dir",
        dir.to_str().expect("utf-8"),
        "--max-retries",
        "2",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let json = report_json(&out);
    assert_eq!(json["outcome"], "failed");
    assert_eq!(json["attempts"], 2);
    let failure = json["failure"].as_str().expect("reason");
    assert!(
        failure.starts_with(&format!(
            "connect: no leader listening at {addr} (is `rrbench leader` running there?)"
        )),
        "{failure}"
    );
}

#[test]
fn help_teaches_the_elasticsearch_names() {
    let out = rrbench(&["recover", "--help"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for name in [
        "ccr.indices.recovery.chunk_size",
        "max_concurrent_file_chunks",
        "internal_action_timeout",
        "index.allocation.max_retries",
    ] {
        assert!(help.contains(name), "help lacks {name}");
    }
}

#[test]
fn recover_measures_detection_and_recovery_from_a_proxy_event_log() {
    let tmp = scratch();
    let source = tmp.path().join("leader");
    let events = tmp.path().join("events.jsonl");
    let source = source.to_str().expect("utf-8");
    assert!(
        rrbench(&[
            "gen-index",
            "--dir",
            source,
            "--size",
            "16mb",
            "--files",
            "6"
        ])
        .status
        .success()
    );
    let (_leader, leader_addr) = spawn_announcing(&[
        "leader",
        "--dir",
        source,
        "--listen",
        "127.0.0.1:0",
        "--max-bytes-per-sec",
        "8mb",
    ]);
    let (_proxy, proxy_addr) = spawn_announcing(&[
        "proxy",
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        &leader_addr,
        "--fault",
        "blackhole:start=700ms,duration=1s",
        "--events",
        events.to_str().expect("utf-8"),
        "--quiet",
    ]);
    let target = tmp.path().join("follower");
    let out = rrbench(&[
        "recover",
        "--from",
        &proxy_addr,
        "--dir",
        target.to_str().expect("utf-8"),
        "--policy",
        "resumable",
        "--max-bytes-per-sec",
        "0",
        "--chunk-size",
        "256kb",
        "--internal-action-timeout",
        "500ms",
        "--ping-schedule",
        "200ms",
        "--max-retries",
        "100",
        "--time-scale",
        "0.01",
        "--chaos-events",
        events.to_str().expect("utf-8"),
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json = report_json(&out);
    assert_eq!(json["outcome"], "completed");
    let window = &json["faults"][0];
    assert_eq!(window["kind"], "blackhole", "{json}");
    let detect = window["time_to_detect_s"].as_f64().expect("detected");
    assert!(
        detect > 0.0 && detect <= 1.0,
        "detected {detect}s after the blackhole began (timeout 0.5s)"
    );
    assert!(
        window["time_to_recover_s"].as_f64().is_some(),
        "recovered: {window}"
    );
}

#[test]
fn faults_an_injector_cannot_carry_exit_2_naming_the_fault() {
    for (args, named) in [
        (
            &["link", "--fault", "idle_timeout:idle=1s"][..],
            "idle_timeout",
        ),
        (
            &[
                "proxy",
                "--udp",
                "--upstream",
                "127.0.0.1:1",
                "--fault",
                "reset:at=1s",
            ][..],
            "reset",
        ),
        (
            &[
                "proxy",
                "--listen",
                "127.0.0.1:0",
                "--upstream",
                "127.0.0.1:1",
                "--fault",
                "loss:probability=1%",
            ][..],
            "loss",
        ),
    ] {
        let out = rrbench(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(&format!("fault `{named}`")),
            "{args:?}: {}",
            stderr(&out)
        );
    }
}

/// Starts a QUIC leader with a generated certificate (plus `extra` flags) and returns it with
/// the certificate path it printed for followers' `--ca`.
fn quic_leader_with_generated_cert(index: &str, extra: &[&str]) -> (common::Child, PathBuf) {
    let mut args = vec![
        "leader",
        "--dir",
        index,
        "--listen",
        "127.0.0.1:0",
        "--transport",
        "quic",
    ];
    args.extend_from_slice(extra);
    let (leader, lines) = spawn_until_line(&args, "leader on");
    let cert = lines
        .iter()
        .find_map(|l| l.trim().strip_prefix("followers: --transport quic --ca "))
        .unwrap_or_else(|| panic!("no certificate path in {lines:?}"));
    (leader, PathBuf::from(cert))
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn a_generated_quic_key_is_private_and_removed_on_ctrl_c_unless_kept() {
    let tmp = scratch();
    let index = tmp.path().join("leader");
    let index = index.to_str().expect("utf-8");
    let out = rrbench(&["gen-index", "--dir", index, "--size", "1mb", "--files", "2"]);
    assert!(out.status.success(), "{}", stderr(&out));

    let (mut leader, cert) = quic_leader_with_generated_cert(index, &[]);
    let dir = cert.parent().expect("certificate directory").to_path_buf();
    assert_eq!(mode(&dir.join("leader.key.pem")), 0o600, "key");
    assert_eq!(mode(&dir), 0o700, "directory");
    assert!(interrupt(&mut leader).success());
    assert!(!dir.exists(), "{} is left behind", dir.display());

    let (mut leader, cert) = quic_leader_with_generated_cert(index, &["--keep-cert"]);
    assert!(interrupt(&mut leader).success());
    assert!(cert.exists(), "--keep-cert keeps {}", cert.display());
    std::fs::remove_dir_all(cert.parent().expect("directory")).expect("clean up");
}

const SECRET: &str = "correct horse battery staple";

/// Generates a small index in `root/leader` and returns its path.
fn small_index(root: &Path) -> String {
    let index = root.join("leader");
    let index = index.to_str().expect("utf-8").to_string();
    let out = rrbench(&[
        "gen-index",
        "--dir",
        &index,
        "--size",
        "1mb",
        "--files",
        "2",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    index
}

/// Starts a TCP leader on 127.0.0.1:0 with `extra` flags; returns it and its address.
fn leader_with(index: &str, extra: &[&str]) -> (common::Child, String) {
    let mut args = vec!["leader", "--dir", index, "--listen", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    let (leader, lines) = spawn_until_line(&args, "leader on");
    let addr = lines
        .last()
        .and_then(|l| l.split_whitespace().nth(2))
        .expect("ADDR")
        .to_string();
    (leader, addr)
}

/// `rrbench recover --from ADDR --dir TARGET --json ARGS` with `envs`, within 60 s.
fn recover_json(addr: &str, target: &Path, extra: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut args = vec![
        "recover",
        "--from",
        addr,
        "--dir",
        target.to_str().expect("utf-8"),
        "--max-bytes-per-sec",
        "0",
        "--json",
    ];
    args.extend_from_slice(extra);
    rrbench_within(&args, envs, std::time::Duration::from_secs(60))
}

#[test]
fn an_auth_token_from_a_file_and_from_the_environment_match() {
    let tmp = scratch();
    let index = small_index(tmp.path());
    let file = tmp.path().join("token");
    std::fs::write(&file, format!("{SECRET}\n")).expect("token file");
    let file = file.to_str().expect("utf-8");
    let (mut leader, addr) = leader_with(&index, &["--auth-token-file", file]);

    let out = recover_json(
        &addr,
        &tmp.path().join("f"),
        &[],
        &[(AUTH_TOKEN_ENV, SECRET)],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let json = report_json(&out);
    assert_eq!(json["outcome"], "completed");
    assert!(interrupt(&mut leader).success());
}

#[test]
fn a_wrong_or_missing_auth_token_fails_once_naming_the_cause() {
    let tmp = scratch();
    let index = small_index(tmp.path());
    let (_leader, addr) = leader_with(&index, &["--auth-token", SECRET]);
    let cases: [(&str, &[&str]); 2] = [("wrong", &["--auth-token", "guess"]), ("missing", &[])];
    for (case, token) in cases {
        let mut extra = vec!["--max-retries", "3"];
        extra.extend_from_slice(token);
        let out = recover_json(&addr, &tmp.path().join(case), &extra, &[]);
        assert_eq!(out.status.code(), Some(1), "{case}: {}", stderr(&out));
        let json = report_json(&out);
        let failure = json["failure"].as_str().expect("failure");
        assert!(failure.starts_with("unauthorized"), "{case}: {failure}");
        assert!(
            failure.contains("missing or differs from the leader's"),
            "{case}: names the likely cause: {failure}"
        );
        assert_eq!(
            json["attempts"], 1,
            "{case}: retrying cannot help: {failure}"
        );
        let all = format!("{}{}", common::text(&out.stdout), stderr(&out));
        assert!(
            !all.contains(SECRET),
            "{case}: the leader's token is printed"
        );
    }
}

#[test]
fn empty_or_conflicting_auth_tokens_exit_2_before_anything_runs() {
    let tmp = scratch();
    let index = small_index(tmp.path());
    let empty = tmp.path().join("empty-token");
    std::fs::write(&empty, "\n").expect("empty token file");
    let full = tmp.path().join("token");
    std::fs::write(&full, SECRET).expect("token file");
    let (empty, full) = (
        empty.to_str().expect("utf-8"),
        full.to_str().expect("utf-8"),
    );
    let target = tmp.path().join("never-created");
    let target = target.to_str().expect("utf-8");
    let leader = ["leader", "--dir", &index, "--listen", "127.0.0.1:0"];
    let recover = ["recover", "--from", "127.0.0.1:1", "--dir", target];
    let with = |command: &[&str], flags: &[&str]| -> Vec<String> {
        command.iter().chain(flags).map(|a| a.to_string()).collect()
    };
    let refused = |args: Vec<String>, env: Option<&str>, says: &str| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let envs: Vec<(&str, &str)> = env.map(|v| (AUTH_TOKEN_ENV, v)).into_iter().collect();
        let out = rrbench_within(&args, &envs, std::time::Duration::from_secs(10));
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?} {envs:?}: {err}");
        assert!(
            err.contains(says),
            "{args:?} {envs:?}: does not say {says:?}: {err}"
        );
        assert!(
            !err.contains(SECRET),
            "{args:?}: the token is printed: {err}"
        );
    };
    for command in [&leader[..], &recover[..]] {
        refused(with(command, &["--auth-token", ""]), None, "is empty");
        refused(
            with(command, &["--auth-token-file", empty]),
            None,
            "is empty",
        );
        refused(with(command, &[]), Some(""), "is empty");
    }
    let both = ["--auth-token", SECRET, "--auth-token-file", full];
    refused(with(&leader, &both), None, "cannot be used with");
    let file = ["--auth-token-file", full];
    refused(with(&recover, &file), Some(SECRET), AUTH_TOKEN_ENV);
    let missing = "/nonexistent/token";
    refused(
        with(&leader, &["--auth-token-file", missing]),
        None,
        missing,
    );
    assert!(
        !Path::new(target).exists(),
        "nothing is created before the token is valid"
    );
}

#[test]
fn auth_token_help_warns_that_argv_is_visible() {
    for command in ["leader", "recover"] {
        let out = rrbench(&[command, "--help"]);
        assert!(out.status.success());
        let help = common::text(&out.stdout);
        for named in [
            "--auth-token-file",
            AUTH_TOKEN_ENV,
            "visible to other users",
        ] {
            assert!(help.contains(named), "{command} --help lacks {named:?}");
        }
    }
}

/// Ctrl-C (SIGINT) during `gen-index`: it stops between writes, removes what it wrote and
/// exits 130, long before 8 GiB are written.
#[test]
fn ctrl_c_stops_gen_index_and_removes_the_partial_index() {
    // On disk, not tmpfs: 8 GiB fits the disk's free space (so the free-space check lets it
    // start) and takes seconds to write.
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("index");
    let mut child = common::Child(
        std::process::Command::new(env!("CARGO_BIN_EXE_rrbench"))
            .args(["gen-index", "--dir", dir.to_str().expect("utf-8")])
            .args(["--size", "8gb", "--files", "4"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn"),
    );
    // The first file appears once the Ctrl-C handler is in place.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !std::fs::read_dir(&dir).is_ok_and(|mut d| d.next().is_some()) {
        if let Some(status) = child.0.try_wait().expect("wait") {
            let mut err = String::new();
            std::io::Read::read_to_string(&mut child.0.stderr.take().expect("stderr"), &mut err)
                .expect("stderr");
            panic!("gen-index ended before writing ({status:?}): {err}");
        }
        assert!(std::time::Instant::now() < deadline, "no file written");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let status = interrupt(&mut child);
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.0.stderr.take().expect("stderr"), &mut err)
        .expect("stderr");
    assert_eq!(status.code(), Some(130), "{status:?}: {err}");
    assert!(err.contains("interrupted"), "{err}");
    assert!(!dir.exists(), "the partial index is removed");
}

/// An index larger than the free space is refused before anything is written.
#[test]
fn gen_index_refuses_a_size_beyond_free_space_exit_2() {
    let tmp = scratch();
    let dir = tmp.path().join("index");
    let out = rrbench(&[
        "gen-index",
        "--dir",
        dir.to_str().expect("utf-8"),
        "--size",
        "1024pb",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("1.0 EiB") && err.contains("free") && err.contains("--size"),
        "{err}"
    );
    assert!(!dir.exists(), "nothing is created");
}

#[test]
fn an_address_without_a_port_exits_2_before_any_attempt() {
    let tmp = scratch();
    let dir = tmp.path().join("never-created");
    let dir = dir.to_str().expect("utf-8");
    let cases: &[(&[&str], &str)] = &[
        (
            &["recover", "--from", "127.0.0.1", "--dir", dir],
            "127.0.0.1",
        ),
        (&["recover", "--from", "[::1]", "--dir", dir], "[::1]"),
        (
            &["recover", "--from", "127.0.0.1:0", "--dir", dir],
            "127.0.0.1:0",
        ),
        (&["recover", "--from", "::1:9300", "--dir", dir], "::1:9300"),
        (
            &["leader", "--dir", dir, "--listen", "127.0.0.1"],
            "127.0.0.1",
        ),
        (
            &[
                "proxy",
                "--listen",
                "127.0.0.1:0",
                "--upstream",
                "localhost",
            ],
            "localhost",
        ),
        (
            &[
                "proxy",
                "--listen",
                "127.0.0.1",
                "--upstream",
                "127.0.0.1:1",
            ],
            "127.0.0.1",
        ),
    ];
    for (args, value) in cases {
        // A proxy that accepted the address would run until Ctrl-C: the limit ends the test.
        let out = rrbench_within(args, &[], std::time::Duration::from_secs(10));
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains(&format!("'{value}'"))
                && err.contains("expected HOST:PORT, e.g. 127.0.0.1:9300"),
            "{args:?}: {err}"
        );
        assert!(!err.contains("attempt"), "{args:?}: {err}");
    }
    assert!(!Path::new(dir).exists(), "nothing is created");
}

#[test]
fn errors_name_their_cause_once() {
    let tmp = scratch();
    let bad_toml = tmp.path().join("bad.toml");
    std::fs::write(&bad_toml, "name = \"x\"\nrepetitions = \n").expect("write");
    let smoke = concat!(env!("CARGO_MANIFEST_DIR"), "/chaos/campaigns/smoke.toml");
    let missing = tmp.path().join("missing.toml");
    let no_index = tmp.path().join("no-index");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["campaign", "run", missing.to_str().expect("utf-8")],
            "No such file or directory",
        ),
        (
            vec![
                "campaign",
                "run",
                bad_toml.to_str().expect("utf-8"),
                "--dry-run",
            ],
            "TOML parse error",
        ),
        (
            vec![
                "campaign",
                "run",
                smoke,
                "--dry-run",
                "--set",
                "settings.nope=1",
            ],
            "unknown field `nope`",
        ),
        (
            vec![
                "campaign",
                "run",
                smoke,
                "--dry-run",
                "--set",
                "repetitions=abc",
            ],
            "invalid type",
        ),
        (
            vec![
                "leader",
                "--dir",
                no_index.to_str().expect("utf-8"),
                "--listen",
                "127.0.0.1:0",
            ],
            "No such file or directory",
        ),
    ];
    for (args, cause) in cases {
        let out = rrbench(&args);
        let err = stderr(&out);
        assert!(!out.status.success(), "{args:?}: {err}");
        assert_eq!(err.matches(cause).count(), 1, "{args:?}: told twice: {err}");
        assert!(
            err.starts_with("error: ") && !err.ends_with("\n\n"),
            "{args:?}: {err:?}"
        );
    }
}

/// A stdout or stderr for a child whose reader has already gone: the other end of a socket
/// pair, closed, so a write fails with EPIPE as under `| head -1`.
fn closed_pipe() -> std::process::Stdio {
    let (ours, theirs) = std::os::unix::net::UnixStream::pair().expect("socket pair");
    drop(ours);
    std::process::Stdio::from(std::os::fd::OwnedFd::from(theirs))
}

#[test]
fn a_reader_that_went_away_is_no_panic() {
    let tmp = scratch();
    let unused = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = unused.local_addr().expect("addr").to_string();
    drop(unused);
    let target = tmp.path().join("t");
    let index = tmp.path().join("index");
    let run = |args: &[&str], closed_stdout: bool, closed_stderr: bool| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_rrbench"));
        command.args(args).env_remove(AUTH_TOKEN_ENV);
        command.stdout(match closed_stdout {
            true => closed_pipe(),
            false => std::process::Stdio::piped(),
        });
        command.stderr(match closed_stderr {
            true => closed_pipe(),
            false => std::process::Stdio::piped(),
        });
        command.output().expect("run")
    };
    let recover = [
        "recover",
        "--from",
        &addr,
        "--dir",
        target.to_str().expect("utf-8"),
        "--max-retries",
        "1",
    ];
    let gen_index = [
        "gen-index",
        "--dir",
        index.to_str().expect("utf-8"),
        "--size",
        "64kb",
        "--files",
        "3",
    ];
    let missing = ["campaign", "run", "/nonexistent/campaign.toml"];
    for (args, closed_stdout, closed_stderr, code) in [
        (&recover[..], true, false, 1),
        (&recover[..], true, true, 1),
        (&gen_index[..], true, true, 0),
        (&missing[..], false, true, 1),
    ] {
        let out = run(args, closed_stdout, closed_stderr);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

#[test]
fn the_leader_says_closed_for_a_session_the_follower_closed() {
    let tmp = scratch();
    let index = small_index(tmp.path());
    let (mut leader, first, rest) = spawn_collecting(&[
        "leader",
        "--dir",
        &index,
        "--listen",
        "127.0.0.1:0",
        "--max-bytes-per-sec",
        "0",
    ]);
    let addr = first.split_whitespace().nth(2).expect("ADDR").to_string();
    let out = recover_json(&addr, &tmp.path().join("t"), &[], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(interrupt(&mut leader).success());
    let lines = rest.join().expect("stderr");
    let opened: Vec<&String> = lines.iter().filter(|l| l.ends_with(" opened")).collect();
    assert_eq!(opened.len(), 1, "{lines:#?}");
    let session = opened[0].split_whitespace().nth(4).expect("session id");
    assert!(
        lines
            .iter()
            .any(|l| l.ends_with(&format!("session {session} closed"))),
        "{lines:#?}"
    );
    let expired = format!("session {session} expired");
    assert!(!lines.iter().any(|l| l.contains(&expired)), "{lines:#?}");
}

#[test]
fn the_proxy_prints_edges_resets_warnings_and_a_summary_unless_verbose() {
    let tmp = scratch();
    let index = small_index(tmp.path());
    let (_leader, leader_addr) = leader_with(&index, &["--max-bytes-per-sec", "0"]);
    let through_proxy = |extra: &[&str]| {
        let mut args = vec![
            "proxy",
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            &leader_addr,
            "--fault",
            "reset",
            "--fault",
            "latency:delay=1ms",
        ];
        args.extend_from_slice(extra);
        let (mut proxy, first, rest) = spawn_collecting(&args);
        let addr = first.split_whitespace().nth(2).expect("ADDR").to_string();
        let target = tmp.path().join(format!("t{}", extra.len()));
        let out = recover_json(&addr, &target, &[], &[]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(interrupt(&mut proxy).success());
        rest.join().expect("stderr")
    };
    let lines = through_proxy(&[]);
    let text = lines.join("\n");
    assert!(lines.len() < 20, "{text}");
    assert_eq!(text.matches("warning: fault `reset`").count(), 1, "{text}");
    assert!(text.contains("no connection open"), "{text}");
    assert!(text.contains("fault `latency` (latency) on"), "{text}");
    assert!(text.contains("summary: "), "{text}");
    assert!(
        !text.contains("] conn "),
        "no line per connection or effect: {text}"
    );
    let verbose = through_proxy(&["--verbose"]).join("\n");
    assert!(verbose.contains("open from"), "{verbose}");
    assert!(verbose.contains("`latency` delayed"), "{verbose}");
    assert!(verbose.contains("summary: "), "{verbose}");
}

#[test]
fn fault_windows_count_from_the_recovery_start_whatever_the_proxy_age() {
    let tmp = scratch();
    let index = small_index(tmp.path());
    let events = tmp.path().join("events.jsonl");
    let (_leader, leader_addr) = leader_with(&index, &["--max-bytes-per-sec", "0"]);
    let (_proxy, proxy_addr) = spawn_announcing(&[
        "proxy",
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        &leader_addr,
        "--fault",
        "reset",
        "--fault",
        "blackhole:start=100ms,duration=1100ms",
        "--events",
        events.to_str().expect("utf-8"),
        "--quiet",
    ]);
    // The proxy is 0.6 s old when the recovery starts: its blackhole has been on for 0.5 s and
    // stays on for 0.6 s more; its reset fired before anyone connected.
    std::thread::sleep(std::time::Duration::from_millis(600));
    let out = recover_json(
        &proxy_addr,
        &tmp.path().join("t"),
        &[
            "--policy",
            "resumable",
            "--internal-action-timeout",
            "300ms",
            "--max-retries",
            "100",
            "--time-scale",
            "0.01",
            "--chaos-events",
            events.to_str().expect("utf-8"),
        ],
        &[],
    );
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    let json = report_json(&out);
    let started = json["started_at"].as_f64().expect("started_at");
    let faults = json["faults"].as_array().expect("faults");
    assert_eq!(faults.len(), 1, "the reset is left out: {json}");
    let window = &faults[0];
    assert_eq!(window["kind"], "blackhole", "{json}");
    let on = window["on"].as_f64().expect("on");
    assert!(
        (on - started).abs() < 1e-9,
        "on {on}, recovery started {started}"
    );
    let detect = window["time_to_detect_s"].as_f64().expect("detected");
    assert!(
        detect < 0.6,
        "detected {detect}s after the recovery began (timeout 0.3s), not counting the proxy's age"
    );
    assert!(
        err.contains("over before the recovery started") && err.contains("`reset`"),
        "{err}"
    );
}

/// A leader on 127.0.0.1:0 serving a fresh index of `size` in `files` files under `root`, held
/// to `rate` (`0`: unlimited).
fn paced_leader(root: &Path, size: &str, files: &str, rate: &str) -> (common::Child, String) {
    let index = root.join("leader");
    let index = index.to_str().expect("utf-8");
    let out = rrbench(&[
        "gen-index",
        "--dir",
        index,
        "--size",
        size,
        "--files",
        files,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    leader_with(index, &["--max-bytes-per-sec", rate, "--quiet"])
}

/// `rrbench recover --from ADDR --dir ROOT/NAME --max-bytes-per-sec 0 EXTRA`, within 20 s.
fn recover_into(addr: &str, root: &Path, name: &str, extra: &[&str]) -> Output {
    let target = root.join(name);
    let mut args = vec![
        "recover",
        "--from",
        addr,
        "--dir",
        target.to_str().expect("utf-8"),
        "--max-bytes-per-sec",
        "0",
    ];
    args.extend_from_slice(extra);
    rrbench_within(&args, &[], std::time::Duration::from_secs(20))
}

/// An interval line: `   0.00-0.10   sec    1.00 MiB      9.95 MiB/s          4        1     12.5%`,
/// as (start, end, transfer unit, rate unit, in flight, attempt, verified percent).
fn interval_fields(line: &str) -> Option<(f64, f64, String, String, u64, u64, f64)> {
    let w: Vec<&str> = line.split_whitespace().collect();
    let [
        span,
        "sec",
        _,
        size_unit,
        _,
        rate_unit,
        in_flight,
        attempt,
        verified,
    ] = w[..]
    else {
        return None;
    };
    let (start, end) = span.split_once('-')?;
    Some((
        start.parse().ok()?,
        end.parse().ok()?,
        size_unit.to_string(),
        rate_unit.to_string(),
        in_flight.parse().ok()?,
        attempt.parse().ok()?,
        verified.strip_suffix('%')?.parse().ok()?,
    ))
}

/// `recover -i` with stdout piped: a titled line per interval, written as the recovery runs (the
/// first arrives while it still runs), back to back, ending at 100% verified.
#[test]
fn recover_prints_a_line_per_interval_on_a_pipe_as_it_runs() {
    use std::io::{BufRead, BufReader};
    let tmp = scratch();
    // 3 MiB at 4 MiB/s: about 0.75 s, 7 or 8 intervals of 100 ms.
    let (_leader, addr) = paced_leader(tmp.path(), "3mb", "3", "4mb");
    let target = tmp.path().join("follower");
    let mut child = common::Child(
        std::process::Command::new(env!("CARGO_BIN_EXE_rrbench"))
            .args(["recover", "--from", &addr, "--dir"])
            .arg(&target)
            .args(["--max-bytes-per-sec", "0", "-i", "100ms"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn"),
    );
    let mut lines = BufReader::new(child.0.stdout.take().expect("stdout")).lines();
    let header = lines.next().expect("a first line").expect("text");
    for title in [
        "Interval",
        "Transfer",
        "Rate",
        "In flight",
        "Attempt",
        "Verified",
    ] {
        assert!(header.contains(title), "{title:?} not in {header:?}");
    }
    let first = lines.next().expect("an interval").expect("text");
    assert!(interval_fields(&first).is_some(), "{first:?}");
    assert!(
        child.0.try_wait().expect("wait").is_none(),
        "the first interval line arrived only when the recovery was over"
    );
    let rest: Vec<String> = lines.map(|l| l.expect("text")).collect();
    assert!(child.0.wait().expect("wait").success(), "{rest:?}");
    let intervals: Vec<_> = std::iter::once(first.as_str())
        .chain(rest.iter().map(String::as_str))
        .map_while(interval_fields)
        .collect();
    assert!(
        (5..=12).contains(&intervals.len()),
        "{} intervals in {rest:?}",
        intervals.len()
    );
    for pair in intervals.windows(2) {
        assert_eq!(pair[0].1, pair[1].0, "back to back: {pair:?}");
        let length = pair[0].1 - pair[0].0;
        assert!((0.09..=0.5).contains(&length), "{length} s: {pair:?}");
    }
    for (_, _, size_unit, rate_unit, _, attempt, _) in &intervals {
        assert_eq!((size_unit.as_str(), rate_unit.as_str()), ("MiB", "MiB/s"));
        assert_eq!(*attempt, 1);
    }
    assert!(intervals.iter().any(|i| i.4 > 0), "requests were in flight");
    assert_eq!(intervals.last().expect("intervals").6, 100.0);
    let summary = rest.join("\n");
    assert!(summary.contains("recovery from"), "{summary}");
    for row in ["steady", "where the time went", "largest term"] {
        assert!(
            summary.contains(row),
            "the summary lacks {row:?}: {summary}"
        );
    }
}

/// Every number under a key named like a seed, anywhere in `value`, with its path.
fn numeric_seeds(value: &serde_json::Value, path: &str, found: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, v) in map {
                let here = format!("{path}.{key}");
                if (key == "seed" || key.ends_with("_seed")) && v.is_number() {
                    found.push(here.clone());
                }
                numeric_seeds(v, &here, found);
            }
        }
        serde_json::Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                numeric_seeds(v, &format!("{path}[{i}]"), found);
            }
        }
        _ => {}
    }
}

#[test]
fn recover_json_has_iperf3s_start_intervals_and_end() {
    let tmp = scratch();
    let (_leader, addr) = paced_leader(tmp.path(), "2mb", "2", "8mb");
    let out = recover_into(&addr, tmp.path(), "f", &["--json", "-i", "100ms"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = common::text(&out.stdout);
    let at = |key: &str| text.find(&format!("\"{key}\"")).expect(key);
    assert!(
        at("start") < at("intervals") && at("intervals") < at("end"),
        "in iperf3's order: {text}"
    );
    let doc = json_document(&out);
    let start = &doc["start"];
    assert_eq!(start["leader"], addr.as_str());
    assert_eq!(start["policy"], "elasticsearch");
    assert_eq!(start["settings"]["chunk_size"], "1mb");
    assert_eq!(start["interval_s"], 0.1);
    let env = &start["environment"];
    assert_eq!(env["rrbench_version"], env!("CARGO_PKG_VERSION"));
    assert!(env["cores"].as_u64().is_some_and(|n| n >= 1), "{env}");
    assert!(
        env["kernel"].is_string() && env.get("hostname").is_some(),
        "{env}"
    );

    let intervals = doc["intervals"].as_array().expect("intervals");
    assert!(intervals.len() >= 2, "{intervals:?}");
    for i in intervals {
        for field in [
            "start",
            "end",
            "seconds",
            "bytes",
            "bits_per_second",
            "requests_in_flight",
            "attempt",
            "verified_percent",
        ] {
            assert!(i[field].is_number(), "{field} in {i}");
        }
    }
    let moved: u64 = intervals
        .iter()
        .map(|i| i["bytes"].as_u64().expect("bytes"))
        .sum();
    assert_eq!(
        moved,
        2 << 20,
        "the intervals add up to every byte received"
    );

    let end = &doc["end"];
    let totals = &end["totals"];
    assert_eq!(totals["outcome"], "completed");
    assert_eq!(totals["bytes"], 2 << 20);
    assert_eq!(totals["attempts"], 1);
    for field in ["duration_s", "throughput_mib_s", "bits_per_second"] {
        assert!(
            totals[field].as_f64().is_some_and(|v| v > 0.0),
            "{field}: {totals}"
        );
    }
    assert!(totals.get("steady_throughput_mib_s").is_some(), "{totals}");
    let breakdown = &end["time_breakdown"];
    let largest = breakdown["largest"].as_str().expect("a largest term");
    assert!(
        breakdown[format!("{largest}_s")].as_f64().is_some(),
        "{breakdown}"
    );
    assert!(breakdown["line"].as_str().expect("line").contains(largest));
    let cpu = &end["cpu_utilization_percent"];
    for field in ["host_total", "host_user", "host_system"] {
        assert!(
            cpu[field].as_f64().is_some_and(|v| v >= 0.0),
            "{field}: {cpu}"
        );
    }
    assert!(
        cpu["remote_total"].is_null(),
        "the leader is another process"
    );
    assert_eq!(end["failures"], serde_json::json!([]));
    assert_eq!(
        end["report"]["outcome"], "completed",
        "the flat report is kept"
    );
    assert!(end["report"]["timeseries"].is_array());
}

/// u64::MAX does not fit a double: as a string it comes back exact, from serde_json and jq.
#[test]
fn a_u64_max_seed_round_trips_as_a_string() {
    let tmp = scratch();
    let (_leader, addr) = paced_leader(tmp.path(), "1mb", "2", "0");
    let max = u64::MAX.to_string();
    let out = recover_into(&addr, tmp.path(), "f", &["--json", "--seed", &max]);
    assert!(out.status.success(), "{}", stderr(&out));
    let doc = json_document(&out);
    assert_eq!(doc["start"]["seed"], max.as_str());
    let mut numeric = Vec::new();
    numeric_seeds(&doc, "", &mut numeric);
    assert!(numeric.is_empty(), "seeds written as numbers: {numeric:?}");

    let jq = std::process::Command::new("jq")
        .args(["-r", ".start.seed"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn();
    let Ok(mut jq) = jq else {
        eprintln!("jq is not installed: checked with serde_json only");
        return;
    };
    std::io::Write::write_all(&mut jq.stdin.take().expect("stdin"), &out.stdout).expect("feed jq");
    let got = jq.wait_with_output().expect("jq");
    assert!(got.status.success());
    assert_eq!(common::text(&got.stdout).trim(), max, "jq -r .start.seed");
}

/// `--logfile` appends what stdout would get, line by line: an interrupted run has its
/// intervals and its summary there, and stdout stays empty.
#[test]
fn logfile_receives_the_output_and_keeps_it_on_ctrl_c() {
    let tmp = scratch();
    // 2 MiB at 1 MiB/s: two seconds unless interrupted.
    let (_leader, addr) = paced_leader(tmp.path(), "2mb", "2", "1mb");
    let log = tmp.path().join("recover.log");
    std::fs::write(&log, "an earlier run\n").expect("write");
    let mut child = common::Child(
        std::process::Command::new(env!("CARGO_BIN_EXE_rrbench"))
            .args(["recover", "--from", &addr, "--dir"])
            .arg(tmp.path().join("f"))
            .args(["--max-bytes-per-sec", "0", "-i", "100ms", "--logfile"])
            .arg(&log)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn"),
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !std::fs::read_to_string(&log)
        .is_ok_and(|t| t.lines().any(|l| interval_fields(l).is_some()))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "no interval line in the log"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let status = interrupt(&mut child);
    assert_eq!(status.code(), Some(130), "{status:?}");
    let mut stdout = String::new();
    std::io::Read::read_to_string(&mut child.0.stdout.take().expect("stdout"), &mut stdout)
        .expect("stdout");
    assert_eq!(stdout, "", "everything went to the log file");
    let text = std::fs::read_to_string(&log).expect("log");
    assert!(
        text.starts_with("an earlier run\nInterval"),
        "appended: {text}"
    );
    assert!(
        text.contains("recovery from") && text.contains("interrupted"),
        "{text}"
    );
    assert!(text.ends_with('\n'));
}

#[test]
fn format_changes_the_units_of_intervals_and_summary() {
    let tmp = scratch();
    let (_leader, addr) = paced_leader(tmp.path(), "1mb", "2", "0");
    // Piped and without -i: one interval line (the recovery is shorter than the 1 s default).
    for (letter, size, rate) in [
        ("m", "MiB", "Mbits/s"),
        ("K", "KiB", "KiB/s"),
        ("g", "GiB", "Gbits/s"),
    ] {
        let out = recover_into(&addr, tmp.path(), letter, &["-f", letter]);
        assert!(out.status.success(), "{letter}: {}", stderr(&out));
        let text = common::text(&out.stdout);
        let interval = text
            .lines()
            .find_map(interval_fields)
            .unwrap_or_else(|| panic!("{letter}: no interval line: {text}"));
        assert_eq!(
            (interval.2.as_str(), interval.3.as_str()),
            (size, rate),
            "{letter}"
        );
        let throughput = text
            .lines()
            .find(|l| l.trim_start().starts_with("throughput"))
            .unwrap_or_else(|| panic!("{letter}: no throughput: {text}"));
        assert!(throughput.ends_with(rate), "{letter}: {throughput}");
        assert!(!text.contains("MiB/s"), "{letter}: {text}");
    }
    let out = recover_into(&addr, tmp.path(), "x", &["-f", "x"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("Mbits/s"), "{}", stderr(&out));
}

/// Each failed attempt is a line on stderr as it happens: its kind and what the policy does
/// next; the JSON's `end.failures` has them too.
#[test]
fn a_failed_attempt_prints_its_kind_and_the_next_step_as_it_happens() {
    use std::io::{BufRead, BufReader};
    let tmp = scratch();
    let unused = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = unused.local_addr().expect("addr").to_string();
    drop(unused);
    // OpenSearch's 1 s restart delay, halved: the second attempt starts 500 ms after the first.
    // OpenSearch restarts without bound: past --max-retries, only the time limit stops it.
    let mut child = common::Child(
        std::process::Command::new(env!("CARGO_BIN_EXE_rrbench"))
            .args(["recover", "--from", &addr, "--dir"])
            .arg(tmp.path().join("f"))
            .args([
                "--policy",
                "opensearch",
                "--time-scale",
                "0.5",
                "--max-retries",
                "2",
                "--time-limit",
                "800ms",
            ])
            .arg("--json")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn"),
    );
    let mut lines = BufReader::new(child.0.stderr.take().expect("stderr")).lines();
    let first = lines
        .by_ref()
        .map(|l| l.expect("text"))
        .find(|l| l.starts_with("attempt 1 failed"))
        .expect("a line for the first failure");
    assert!(
        child.0.try_wait().expect("wait").is_none(),
        "the first failure was printed only at the end"
    );
    assert!(first.contains(": connect: "), "its kind: {first}");
    let unbounded = "(no bound: only the time limit stops it) in 500ms, from zero";
    assert!(
        first.ends_with(&format!("; attempt 2 {unbounded}")),
        "{first}"
    );
    let rest: Vec<String> = lines.map(|l| l.expect("text")).collect();
    let second = rest
        .iter()
        .find(|l| l.starts_with("attempt 2 failed"))
        .unwrap_or_else(|| panic!("no line for the second failure: {rest:?}"));
    assert!(
        second.ends_with(&format!("; attempt 3 {unbounded}")),
        "past max_retries: {second}"
    );
    let last = rest
        .iter()
        .find(|l| l.starts_with("attempt 3 failed"))
        .unwrap_or_else(|| panic!("no line for the time limit: {rest:?}"));
    assert!(last.contains(": time_limit: "), "{last}");
    let mut stdout = Vec::new();
    std::io::Read::read_to_end(&mut child.0.stdout.take().expect("stdout"), &mut stdout)
        .expect("stdout");
    assert_eq!(child.0.wait().expect("wait").code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&stdout).expect("json");
    let failures = doc["end"]["failures"].as_array().expect("failures");
    assert_eq!(failures.len(), 3, "{failures:?}");
    assert_eq!(failures[0]["kind"], "connect");
    assert_eq!(failures[2]["kind"], "time_limit");
    assert_eq!(
        failures[0]["then"],
        format!("attempt 2 {unbounded}").as_str()
    );
    assert_eq!(failures[0]["text"], first.as_str());
    assert_eq!(doc["end"]["totals"]["outcome"], "failed");
}

/// Under `--policy opensearch` the plugin's ranges apply: chunks of 1mb-1gb, a window of at
/// least 1 without Elasticsearch's cap of 10.
#[test]
fn each_policy_takes_the_ranges_of_its_implementation() {
    let tmp = scratch();
    let dir = tmp.path().join("never-created");
    let dir = dir.to_str().expect("utf-8");
    let base = ["recover", "--from", "127.0.0.1:1", "--dir", dir];
    let refused = |extra: &[&str], says: &[&str]| {
        let out = rrbench(&[&base[..], extra].concat());
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {}", stderr(&out));
        for s in says {
            assert!(
                stderr(&out).contains(s),
                "{extra:?}: no {s:?} in {}",
                stderr(&out)
            );
        }
    };
    refused(
        &["--policy", "opensearch", "--chunk-size", "512kb"],
        &["chunk_size", "512kb", "1mb and 1gb"],
    );
    refused(
        &[
            "--policy",
            "elasticsearch",
            "--max-concurrent-file-chunks",
            "20",
        ],
        &["max_concurrent_file_chunks", "20", "between 1 and 10"],
    );
    refused(
        &[
            "--policy",
            "opensearch",
            "--max-concurrent-file-chunks",
            "1001",
        ],
        &["max_concurrent_file_chunks", "1001", "1000"],
    );
    refused(
        &["--mode", "proxy", "--proxy-socket-connections", "0"],
        &["cluster.remote.proxy_socket_connections", "1 and 1000"],
    );
    refused(&["--mode", "direct"], &["--mode", "sniff, proxy"]);
    // Accepted: the recovery runs (and fails to connect until its time limit), and its settings
    // are the plugin's defaults with the one given value.
    let out = rrbench(
        &[
            &base[..],
            &[
                "--policy",
                "opensearch",
                "--max-concurrent-file-chunks",
                "20",
                "--time-limit",
                "300ms",
                "--json",
            ],
        ]
        .concat(),
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let settings = &doc["start"]["settings"];
    assert_eq!(settings["max_concurrent_file_chunks"], 20, "{settings}");
    assert_eq!(settings["chunk_size"], "10mb", "{settings}");
    assert_eq!(settings["max_bytes_per_sec"], "0b", "{settings}");
    let help = String::from_utf8_lossy(&rrbench(&["recover", "--help"]).stdout).into_owned();
    assert!(
        help.contains("default 1mb; 10mb under --policy opensearch"),
        "{help}"
    );
    assert!(help.contains("--proxy-socket-connections"), "{help}");
    assert!(
        help.contains("CCR always uses the remote profile"),
        "{help}"
    );
}
