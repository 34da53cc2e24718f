//! Cross-cluster API keys through the binaries, as an operator uses them: `rrbench api-key`
//! makes the keys, `rrbench leader --tls --api-keys` checks them, `rrbench recover
//! --api-key-file` (or `RRBENCH_API_KEY`) sends one. Each refusal is named on both sides as
//! Elasticsearch names it, fails in one attempt, and no secret is ever printed.

mod common;

use std::{
    io::Read,
    net::TcpListener,
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use common::{API_KEY_ENV, interrupt, rrbench_within, scratch, spawn_collecting, text};
use rrbench::transport::quic::generate_self_signed;

fn s(path: &Path) -> String {
    path.to_str().expect("utf-8").to_string()
}

/// `rrbench gen-index` of 1 MiB in `files` files under `dir/index`; its path.
fn small_index(dir: &Path, files: u32) -> String {
    let index = s(&dir.join("index"));
    let files = files.to_string();
    let out = run(
        &[
            "gen-index",
            "--dir",
            &index,
            "--size",
            "1mb",
            "--files",
            &files,
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    index
}

fn run(args: &[&str], envs: &[(&str, &str)]) -> std::process::Output {
    rrbench_within(args, envs, Duration::from_secs(60))
}

/// `rrbench api-key` for a key with `id`; returns the key file's path and its secret.
fn make_key(dir: &Path, id: &str, extra: &[&str]) -> (String, String) {
    let key_file = dir.join(format!("{id}.key"));
    let keys_file = s(&dir.join("leader-keys.txt"));
    let mut args = vec![
        "api-key",
        "--keys-file",
        &keys_file,
        "--key-file",
        key_file.to_str().expect("utf-8"),
        "--id",
        id,
    ];
    args.extend_from_slice(extra);
    let out = run(&args, &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let printed = text(&out.stdout);
    assert!(printed.contains(&format!("API key [{id}]")), "{printed}");
    let content = std::fs::read_to_string(&key_file).expect("key file");
    let secret = content
        .trim_end()
        .split_once(':')
        .expect("id:secret")
        .1
        .to_string();
    assert!(
        !printed.contains(&secret),
        "the secret is printed: {printed}"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&key_file)
        .expect("meta")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "the key file is its owner's alone");
    (s(&key_file), secret)
}

struct Leader {
    child: common::Child,
    addr: String,
    log: std::thread::JoinHandle<Vec<String>>,
}

fn leader(index: &str, extra: &[&str]) -> Leader {
    let mut args = vec!["leader", "--dir", index, "--listen", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    let (child, first, log) = spawn_collecting(&args);
    let addr = first.split_whitespace().nth(2).expect("ADDR").to_string();
    Leader { child, addr, log }
}

impl Leader {
    fn stop(mut self) -> String {
        assert!(interrupt(&mut self.child).success());
        self.log.join().expect("leader log").join("\n")
    }
}

#[test]
fn api_keys_admit_the_valid_key_and_name_each_refusal_on_both_sides() {
    let tmp = scratch();
    let index = small_index(tmp.path(), 3);
    let keys_dir = tmp.path().join("keys");
    std::fs::create_dir(&keys_dir).expect("keys dir");
    let (good, good_secret) = make_key(&keys_dir, "dc2", &["--index", "ind*"]);
    let (rest, rest_secret) = make_key(&keys_dir, "http", &["--type", "rest"]);
    let (logs, logs_secret) = make_key(&keys_dir, "logs", &["--index", "logs-*"]);
    let wrong = keys_dir.join("wrong.key");
    std::fs::write(&wrong, "dc2:not-the-secret-of-dc2\n").expect("wrong key");
    let ghost = keys_dir.join("ghost.key");
    std::fs::write(&ghost, "ghost:no-such-key\n").expect("ghost key");
    let secrets = [&good_secret, &rest_secret, &logs_secret];

    let cert_dir = tmp.path().join("cert");
    let names = ["localhost".to_string(), "127.0.0.1".to_string()];
    let cert = generate_self_signed(&cert_dir, &names).expect("certificate");
    let keys_file = s(&keys_dir.join("leader-keys.txt"));
    let leader = leader(
        &index,
        &[
            "--tls",
            "--cert",
            &s(&cert.cert),
            "--key",
            &s(&cert.key),
            "--api-keys",
            &keys_file,
        ],
    );
    let ca = s(&cert.cert);
    let recover = |case: &str, extra: &[&str], envs: &[(&str, &str)]| {
        let target = s(&tmp.path().join(case));
        let mut args = vec![
            "recover",
            "--from",
            &leader.addr,
            "--dir",
            &target,
            "--tls",
            "--ca",
            &ca,
            "--max-bytes-per-sec",
            "0",
            "--max-retries",
            "3",
            "--json",
        ];
        args.extend_from_slice(extra);
        let out = run(&args, envs);
        let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
        for secret in secrets {
            assert!(
                !all.contains(secret.as_str()),
                "{case}: a secret is printed: {all}"
            );
        }
        out
    };

    let out = recover("valid", &["--api-key-file", &good], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(json["end"]["report"]["outcome"], "completed", "{json}");
    let from_env = format!("dc2:{good_secret}");
    let out = recover("valid-env", &[], &[(API_KEY_ENV, &from_env)]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{API_KEY_ENV}: {}",
        text(&out.stderr)
    );

    let wrong = s(&wrong);
    let ghost = s(&ghost);
    let refusals: [(&str, Vec<&str>, &str); 5] = [
        (
            "missing",
            vec![],
            "missing credentials: this leader requires an API key",
        ),
        (
            "invalid",
            vec!["--api-key-file", &wrong],
            "unable to authenticate API key [dc2]",
        ),
        (
            "unknown",
            vec!["--api-key-file", &ghost],
            "unable to authenticate API key [ghost]",
        ),
        (
            "wrong-type",
            vec!["--api-key-file", &rest],
            "authentication expected API key type of [cross_cluster], but API key [http] has \
             type [rest]",
        ),
        (
            "wrong-index",
            vec!["--api-key-file", &logs],
            "the leader accepted this follower's API key but refused: recovering index [index] is unauthorized for API key [logs]",
        ),
    ];
    for (case, extra, cause) in refusals {
        let out = recover(case, &extra, &[]);
        assert_eq!(out.status.code(), Some(1), "{case}: {}", text(&out.stderr));
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        let report = &json["end"]["report"];
        let failure = report["failure"].as_str().expect("failure");
        assert!(failure.contains(cause), "{case}: {failure}");
        assert!(
            !failure.contains('\n'),
            "{case}: the cause is one line: {failure}"
        );
        assert_eq!(report["attempts"], 1, "{case}: not retried: {failure}");
        eprintln!("{case}: {failure}");
    }
    let log = leader.stop();
    for (case, logged) in [
        (
            "missing",
            "missing credentials: this leader requires an API key",
        ),
        ("valid", "authenticated API key [dc2]"),
        (
            "invalid",
            "Authentication using apikey failed - invalid credentials for API key [dc2]",
        ),
        (
            "unknown",
            "Authentication using apikey failed - no API key with id [ghost]",
        ),
        ("wrong-type", "but API key [http] has type [rest]"),
        (
            "wrong-index",
            "unauthorized for API key [logs], whose index names are [logs-*]",
        ),
    ] {
        assert!(
            log.contains(logged),
            "{case}: the leader does not log {logged:?}:\n{log}"
        );
    }
    for secret in secrets {
        assert!(
            !log.contains(secret.as_str()),
            "the leader logs a secret:\n{log}"
        );
    }
}

/// Listens on loopback and records whether anything connected.
fn watching_listener() -> (String, Arc<AtomicBool>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let touched = Arc::new(AtomicBool::new(false));
    let seen = touched.clone();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            seen.store(true, Ordering::SeqCst);
            let mut sink = Vec::new();
            let _ = stream.read_to_end(&mut sink);
        }
    });
    (addr, touched)
}

#[test]
fn an_api_key_never_crosses_plaintext_tcp_unless_both_sides_allow_it() {
    let tmp = scratch();
    let index = small_index(tmp.path(), 2);
    let (key, secret) = make_key(tmp.path(), "dc2", &[]);
    let keys_file = s(&tmp.path().join("leader-keys.txt"));

    // The follower refuses before it connects: a listener sees no connection.
    let (addr, touched) = watching_listener();
    let target = tmp.path().join("never");
    let out = run(
        &[
            "recover",
            "--from",
            &addr,
            "--dir",
            &s(&target),
            "--api-key-file",
            &key,
        ],
        &[],
    );
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("this follower would send an API key over plaintext TCP")
            && err.contains("--allow-plaintext-credentials"),
        "{err}"
    );
    assert!(!err.contains(&secret), "{err}");
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        !touched.load(Ordering::SeqCst),
        "the follower connected before refusing"
    );
    assert!(!target.exists(), "nothing is created before the refusal");

    // A plaintext leader refuses to take keys.
    let out = run(
        &[
            "leader",
            "--dir",
            &index,
            "--listen",
            "127.0.0.1:0",
            "--api-keys",
            &keys_file,
        ],
        &[],
    );
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("this leader's followers would send an API key"),
        "{err}"
    );

    // Both told the network is trusted: it works.
    let leader = leader(
        &index,
        &["--api-keys", &keys_file, "--allow-plaintext-credentials"],
    );
    let target = s(&tmp.path().join("plain"));
    let out = run(
        &[
            "recover",
            "--from",
            &leader.addr,
            "--dir",
            &target,
            "--api-key-file",
            &key,
            "--allow-plaintext-credentials",
            "--max-bytes-per-sec",
            "0",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let log = leader.stop();
    assert!(log.contains("authenticated API key [dc2]"), "{log}");
    assert!(!log.contains(&secret));
}

#[test]
fn bad_keys_and_key_files_exit_2_naming_the_file_and_line() {
    let tmp = scratch();
    let dir = tmp.path();
    let (key, _) = make_key(dir, "dc2", &[]);
    let keys_file = dir.join("leader-keys.txt");
    let again = run(
        &[
            "api-key",
            "--keys-file",
            &s(&keys_file),
            "--key-file",
            &s(&dir.join("other.key")),
            "--id",
            "dc2",
        ],
        &[],
    );
    let err = text(&again.stderr);
    assert_eq!(again.status.code(), Some(2), "{err}");
    assert!(err.contains("already has a key with id dc2"), "{err}");
    assert!(
        !dir.join("other.key").exists(),
        "no key file for a key that was refused"
    );
    let replace = run(
        &[
            "api-key",
            "--keys-file",
            &s(&keys_file),
            "--key-file",
            &key,
            "--id",
            "dc3",
        ],
        &[],
    );
    assert_ne!(
        replace.status.code(),
        Some(0),
        "an existing key file is not replaced"
    );

    let broken: PathBuf = dir.join("broken-keys.txt");
    std::fs::write(&broken, "# keys\ndc2 cross_cluster * not-a-hash\n").expect("write");
    let out = run(
        &[
            "leader",
            "--dir",
            &s(dir),
            "--listen",
            "127.0.0.1:0",
            "--api-keys",
            &s(&broken),
            "--allow-plaintext-credentials",
        ],
        &[],
    );
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("broken-keys.txt, line 2: the hash is not a PHC string"),
        "{err}"
    );

    let target = s(&dir.join("never"));
    for (text_in_env, says) in [
        ("no-colon", "it is not id:secret"),
        ("id:sec ret", "holds a space"),
    ] {
        let out = run(
            &[
                "recover",
                "--from",
                "127.0.0.1:1",
                "--dir",
                &target,
                "--tls",
                "--ca",
                &key,
            ],
            &[(API_KEY_ENV, text_in_env)],
        );
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{text_in_env}: {err}");
        assert!(err.contains(API_KEY_ENV) && err.contains(says), "{err}");
    }
    let out = run(
        &[
            "recover",
            "--from",
            "127.0.0.1:1",
            "--dir",
            &target,
            "--tls",
            "--ca",
            &key,
            "--api-key-file",
            &key,
            "--auth-token-file",
            &key,
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("give one"),
        "{}",
        text(&out.stderr)
    );
}

/// QUIC is always encrypted: a key goes over it without --tls or any flag, one Hello per stream.
#[test]
fn an_api_key_rides_quic_without_a_flag() {
    let tmp = scratch();
    let index = small_index(tmp.path(), 2);
    let (key, secret) = make_key(tmp.path(), "dc2", &[]);
    let keys_file = s(&tmp.path().join("leader-keys.txt"));
    let cert = generate_self_signed(&tmp.path().join("cert"), &["127.0.0.1".to_string()])
        .expect("certificate");
    let leader = leader(
        &index,
        &[
            "--transport",
            "quic",
            "--cert",
            &s(&cert.cert),
            "--key",
            &s(&cert.key),
            "--api-keys",
            &keys_file,
        ],
    );
    let target = s(&tmp.path().join("f"));
    let out = run(
        &[
            "recover",
            "--from",
            &leader.addr,
            "--dir",
            &target,
            "--transport",
            "quic",
            "--ca",
            &s(&cert.cert),
            "--api-key-file",
            &key,
            "--max-bytes-per-sec",
            "0",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let log = leader.stop();
    assert!(log.contains("authenticated API key [dc2]"), "{log}");
    assert!(!log.contains(&secret));
}

/// The library refuses too, for a dialer it is given (not only the command line).
#[tokio::test]
async fn the_library_refuses_a_key_through_a_plaintext_dialer_it_is_given() {
    use rrbench::{
        auth::{ApiKey, Credentials},
        follower::{self, FollowerConfig, FollowerError},
        transport::dial::TcpDialer,
    };
    let (addr, touched) = watching_listener();
    let tmp = scratch();
    let mut config = FollowerConfig::new(addr.clone(), tmp.path().join("f"));
    config.credentials = Some(Credentials::ApiKey(
        ApiKey::parse("dc2:secret", "test").expect("key"),
    ));
    config.dialer = Some(Arc::new(TcpDialer { addr }));
    let progress = Arc::new(follower::Progress::default());
    let refused = follower::recover(config, progress, std::future::pending())
        .await
        .expect_err("refused");
    assert!(
        matches!(refused, FollowerError::Credentials(_)),
        "{refused}"
    );
    assert!(!touched.load(Ordering::SeqCst), "nothing was sent");
}

#[test]
fn the_probe_and_the_deprecated_token_say_what_they_do() {
    let tmp = scratch();
    let (key, _) = make_key(tmp.path(), "dc2", &[]);
    let (addr, touched) = watching_listener();
    let out = run(
        &[
            "probe",
            "--to",
            &addr,
            "--api-key-file",
            &key,
            "--max-idle",
            "0",
        ],
        &[],
    );
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("this probe would send an API key over plaintext TCP"),
        "{err}"
    );
    assert!(
        !touched.load(Ordering::SeqCst),
        "the probe connected before refusing"
    );

    let token = tmp.path().join("token");
    std::fs::write(&token, "s3cret-token\n").expect("token");
    let target = s(&tmp.path().join("never"));
    let out = run(
        &[
            "recover",
            "--from",
            "127.0.0.1:1",
            "--dir",
            &target,
            "--auth-token-file",
            &s(&token),
        ],
        &[],
    );
    let err = text(&out.stderr);
    assert!(
        err.contains("warning: the shared auth token (--auth-token-file")
            && err.contains("is deprecated"),
        "{err}"
    );
    assert!(!err.contains("s3cret-token"), "{err}");
}
