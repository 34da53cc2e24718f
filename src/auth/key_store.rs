//! A leader's API keys: the file that lists them, and the check of a key a follower offers.
//!
//! The file has one key a line, four fields apart by spaces, `#` starting a comment:
//!
//! ```text
//! # id            type           index names       argon2 hash of the secret (PHC string)
//! follower-dc2    cross_cluster  logs-*,metrics    $argon2id$v=19$m=19456,t=2,p=1$…$…
//! ```
//!
//! The names are Elasticsearch's `access.replication.names`: index names, `*` matching any run
//! of characters. `rrbench api-key` writes such a line. Only hashes are stored; checking one
//! takes argon2's time and memory, so a key checked once is remembered by the SHA-256 of its
//! secret, and later connections of the same follower compare that in constant time.

use std::{
    collections::HashMap,
    fmt,
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
};

use argon2::{
    Argon2, Params,
    password_hash::{PasswordHash, PasswordVerifier},
};
use subtle::ConstantTimeEq;

use super::{
    api_key::{ApiKey, ApiKeyError, KeyType, check_id},
    printable,
};

/// The most memory one hash may ask argon2 for, in KiB (256 MiB): a keys file asking more
/// would let every `Hello` take that much.
const MAX_MEMORY_KIB: u32 = 256 << 10;
/// The most passes (`t`) and lanes (`p`) one hash may ask for.
const MAX_PASSES: u32 = 16;
const MAX_LANES: u32 = 16;

/// Argon2 checks (about 19 MiB and tens of milliseconds each at the default cost) that run at
/// once at most, over every leader node sharing these keys.
pub const KEY_CHECKS: usize = 2;

/// One key as the leader stores it.
struct StoredKey {
    key_type: KeyType,
    names: Vec<String>,
    hash: String,
}

/// A leader's API keys, read from its keys file.
pub struct ApiKeys {
    path: PathBuf,
    keys: HashMap<String, StoredKey>,
    /// Key id to the SHA-256 of the secret that passed argon2 for it.
    verified: Mutex<HashMap<String, [u8; 32]>>,
    /// A hash with the costliest parameters of the file, that no secret matches: checked for an
    /// unknown id, so it takes as long as a known one.
    decoy: String,
    /// Permits for argon2 checks ([`KEY_CHECKS`]), shared by every node holding these keys.
    checks: Arc<tokio::sync::Semaphore>,
    /// Argon2 checks run so far.
    checks_run: AtomicU64,
}

impl fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeys")
            .field("path", &self.path)
            .field("keys", &self.keys.len())
            .finish()
    }
}

/// What a checked key may do: recover the indices its names match.
#[derive(Clone, Debug)]
pub struct Grant {
    id: String,
    names: Vec<String>,
}

impl Grant {
    /// The key's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Whether the key may recover `index`; refused naming the key and the index.
    pub fn check_index(&self, index: &str) -> Result<(), Refusal> {
        if self
            .names
            .iter()
            .any(|pattern| matches_pattern(pattern, index))
        {
            return Ok(());
        }
        Err(Refusal::IndexNotAllowed {
            id: self.id.clone(),
            index: index.to_owned(),
            names: self.names.join(","),
        })
    }
}

impl ApiKeys {
    /// Reads the keys file at `path`.
    pub fn load(path: &Path) -> Result<Self, ApiKeyError> {
        let read = |source| ApiKeyError::Read {
            path: path.to_path_buf(),
            source,
        };
        let bytes = super::read_bounded(path, 16 << 20).map_err(read)?;
        let text = String::from_utf8(bytes).map_err(|_| ApiKeyError::KeysFile {
            path: path.to_path_buf(),
            line: 0,
            why: "it is not UTF-8 text".into(),
        })?;
        Self::parse(&text, path)
    }

    /// Reads a keys file's text (`path` names it in errors). Every line is checked: a field
    /// missing or extra, a type other than `cross_cluster` or `rest`, an id given twice, a hash
    /// that is not an argon2 PHC string, or a file with no key is refused with its line.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ApiKeyError> {
        let keys = parse_lines(text, path)?;
        if keys.is_empty() {
            return Err(ApiKeyError::KeysFile {
                path: path.to_path_buf(),
                line: 0,
                why: "no key in the file: a leader with no key would admit no follower".into(),
            });
        }
        let decoy = decoy_hash(keys.values()).map_err(|why| ApiKeyError::KeysFile {
            path: path.to_path_buf(),
            line: 0,
            why,
        })?;
        Ok(Self {
            path: path.to_path_buf(),
            keys,
            verified: Mutex::new(HashMap::new()),
            decoy,
            checks: Arc::new(tokio::sync::Semaphore::new(KEY_CHECKS)),
            checks_run: AtomicU64::new(0),
        })
    }

    /// The ids of a keys file's text, every line checked as [`ApiKeys::parse`] does, but a
    /// file with no key (a template of comments) is fine: what `rrbench api-key` adds to.
    pub fn ids(text: &str, path: &Path) -> Result<Vec<String>, ApiKeyError> {
        Ok(parse_lines(text, path)?.into_keys().collect())
    }

    /// The permits an argon2 check takes one of ([`KEY_CHECKS`]); hold it for the whole check.
    pub fn checks(&self) -> Arc<tokio::sync::Semaphore> {
        self.checks.clone()
    }

    /// Argon2 checks run so far (a key remembered is not checked again).
    pub fn checks_run(&self) -> u64 {
        self.checks_run.load(Ordering::Relaxed)
    }

    /// The decision on `key` if it takes no argon2 check: a known id whose secret passed
    /// before. `None`: call [`ApiKeys::authenticate`].
    pub fn remembered(&self, key: &ApiKey) -> Option<Result<Grant, Refusal>> {
        self.remembered_as(key, KeyType::CrossCluster)
    }

    /// [`ApiKeys::remembered`] for a key that must be of type `expected` (an agent's API takes
    /// `rest` keys).
    pub fn remembered_as(&self, key: &ApiKey, expected: KeyType) -> Option<Result<Grant, Refusal>> {
        let stored = self.keys.get(key.id())?;
        let digest = sha256(key.expose_secret());
        let known = self.verified().get(key.id()).copied()?;
        bool::from(known.ct_eq(&digest)).then(|| grant(key, stored, expected))
    }

    /// Whether a key has this id.
    pub fn contains(&self, id: &str) -> bool {
        self.keys.contains_key(id)
    }

    /// The file the keys came from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Checks `key` as Elasticsearch does: first its secret (an unknown id costs the same
    /// argon2 time as a wrong secret, so the time tells nothing about which ids exist), then
    /// its type. It blocks for argon2's time on a key's first check: call it off the async
    /// workers.
    pub fn authenticate(&self, key: &ApiKey) -> Result<Grant, Refusal> {
        self.authenticate_as(key, KeyType::CrossCluster)
    }

    /// [`ApiKeys::authenticate`] for a key that must be of type `expected`.
    pub fn authenticate_as(&self, key: &ApiKey, expected: KeyType) -> Result<Grant, Refusal> {
        if let Some(decided) = self.remembered_as(key, expected) {
            return decided;
        }
        self.checks_run.fetch_add(1, Ordering::Relaxed);
        let Some(stored) = self.keys.get(key.id()) else {
            let _ = verify(&self.decoy, key.expose_secret());
            return Err(Refusal::UnknownKey {
                id: key.id().to_owned(),
                path: self.path.clone(),
            });
        };
        if !verify(&stored.hash, key.expose_secret()) {
            return Err(Refusal::InvalidSecret {
                id: key.id().to_owned(),
            });
        }
        self.verified()
            .insert(key.id().to_owned(), sha256(key.expose_secret()));
        grant(key, stored, expected)
    }

    fn verified(&self) -> std::sync::MutexGuard<'_, HashMap<String, [u8; 32]>> {
        self.verified
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Every key line of a keys file's text, checked (see [`ApiKeys::parse`]).
fn parse_lines(text: &str, path: &Path) -> Result<HashMap<String, StoredKey>, ApiKeyError> {
    let mut keys = HashMap::new();
    for (n, line) in text.lines().enumerate() {
        let bad = |why: String| ApiKeyError::KeysFile {
            path: path.to_path_buf(),
            line: n + 1,
            why,
        };
        let line = line.split('#').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [id, key_type, names, hash] = fields[..] else {
            return Err(bad(format!(
                "{} fields, not 4 (id, type, index names, argon2 hash)",
                fields.len()
            )));
        };
        check_id(id).map_err(|why| bad(why.replacen("its id", "the id", 1)))?;
        let key_type: KeyType = key_type.parse().map_err(bad)?;
        if names.split(',').any(str::is_empty) {
            return Err(bad(format!(
                "index names {names:?}: an empty name between commas"
            )));
        }
        check_hash(hash).map_err(bad)?;
        let names = names.split(',').map(str::to_owned).collect();
        let stored = StoredKey {
            key_type,
            names,
            hash: hash.to_owned(),
        };
        if keys.insert(id.to_owned(), stored).is_some() {
            return Err(bad(format!("key id {id} is given twice")));
        }
    }
    Ok(keys)
}

/// What a key whose secret passed may do: nothing unless it is a cross-cluster key.
fn grant(key: &ApiKey, stored: &StoredKey, expected: KeyType) -> Result<Grant, Refusal> {
    if stored.key_type != expected {
        return Err(Refusal::WrongType {
            id: key.id().to_owned(),
            expected,
            got: stored.key_type,
        });
    }
    Ok(Grant {
        id: key.id().to_owned(),
        names: stored.names.clone(),
    })
}

/// Whether `hash` is an argon2 PHC string whose cost a leader can afford.
fn check_hash(hash: &str) -> Result<(), String> {
    let parsed = PasswordHash::new(hash).map_err(|e| {
        format!("the hash is not a PHC string ({e}); make keys with rrbench api-key")
    })?;
    if !matches!(
        parsed.algorithm.as_str(),
        "argon2id" | "argon2i" | "argon2d"
    ) {
        return Err(format!(
            "the hash is {}, not argon2id, argon2i or argon2d",
            parsed.algorithm
        ));
    }
    let params = Params::try_from(&parsed).map_err(|e| format!("the hash's parameters: {e}"))?;
    if params.m_cost() > MAX_MEMORY_KIB {
        return Err(format!(
            "the hash asks argon2 for {} MiB, more than the {} MiB a leader gives one check",
            params.m_cost() >> 10,
            MAX_MEMORY_KIB >> 10
        ));
    }
    if params.t_cost() > MAX_PASSES || params.p_cost() > MAX_LANES {
        return Err(format!(
            "the hash asks argon2 for {} passes and {} lanes, more than the {MAX_PASSES} and \
             {MAX_LANES} a leader gives one check",
            params.t_cost(),
            params.p_cost()
        ));
    }
    Ok(())
}

/// Whether `secret` matches the PHC string `hash`, with the hash's own parameters (argon2
/// compares in constant time).
fn verify(hash: &str, secret: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|hash| {
        Argon2::default()
            .verify_password(secret.as_bytes(), &hash)
            .is_ok()
    })
}

/// A hash of a random secret with the costliest parameters among `keys`: checking an unknown
/// id's secret against it takes at least as long as a known id's.
fn decoy_hash<'a>(keys: impl Iterator<Item = &'a StoredKey>) -> Result<String, String> {
    let mut costliest = Params::default();
    for key in keys {
        let params = PasswordHash::new(&key.hash)
            .ok()
            .and_then(|hash| Params::try_from(&hash).ok());
        if let Some(p) = params {
            let cost = |p: &Params| u64::from(p.m_cost()) * u64::from(p.t_cost());
            if cost(&p) > cost(&costliest) {
                costliest = p;
            }
        }
    }
    let secret = ApiKey::generate(Some("decoy")).map_err(|e| e.to_string())?;
    secret
        .hash_secret_with(costliest)
        .map_err(|e| format!("cannot make the decoy hash: {e}"))
}

fn sha256(text: &str) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// Whether `name` matches `pattern`, where `*` matches any run of characters (none included).
fn matches_pattern(pattern: &str, name: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = name.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// Why a leader refused a follower's credentials. [`Refusal::to_follower`] is what the
/// follower is told, [`fmt::Display`] what the leader logs (which may say more: a follower
/// without the secret is not told whether the id exists).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No credentials, and the leader requires an API key.
    Missing,
    /// A `Hello` that claims an API key and is not `id:secret`.
    Malformed(String),
    /// No key with this id.
    UnknownKey {
        /// The id offered.
        id: String,
        /// The leader's keys file.
        path: PathBuf,
    },
    /// The secret does not match the key's hash.
    InvalidSecret {
        /// The key.
        id: String,
    },
    /// The key is not of the type asked for (a cross-cluster key, on the transport).
    WrongType {
        /// The key.
        id: String,
        /// The type asked for.
        expected: KeyType,
        /// Its type.
        got: KeyType,
    },
    /// The key's names do not match the index asked for.
    IndexNotAllowed {
        /// The key.
        id: String,
        /// The index.
        index: String,
        /// The key's names, for the leader's log.
        names: String,
    },
    /// The leader authenticates API keys and the follower sent the deprecated token.
    TokenNotKey,
    /// The leader requires the deprecated token and the follower sent an API key.
    KeyNotToken,
    /// No token where the leader requires one (the deprecated token).
    MissingToken,
    /// A token other than the leader's (the deprecated token).
    WrongToken,
}

impl Refusal {
    /// What the follower is told.
    pub fn to_follower(&self) -> String {
        match self {
            Self::Missing => "missing credentials: this leader requires an API key and none was \
                              sent; ensure the follower has the cross-cluster API key its \
                              leader's administrator made (--api-key-file or RRBENCH_API_KEY)"
                .into(),
            Self::Malformed(why) => format!("unable to authenticate: {why}"),
            Self::UnknownKey { id, .. } | Self::InvalidSecret { id } => format!(
                "unable to authenticate API key [{id}]: invalid credentials (a wrong secret, or \
                 a key this leader does not have)"
            ),
            Self::IndexNotAllowed { id, index, .. } => format!(
                "recovering index [{}] is unauthorized for API key [{id}]: the key's index \
                 names do not include it",
                printable(index)
            ),
            Self::TokenNotKey => "this leader authenticates API keys and the follower sent a \
                                  shared auth token: give the follower an API key \
                                  (--api-key-file or RRBENCH_API_KEY)"
                .into(),
            Self::KeyNotToken => "this leader has no API keys (it requires the deprecated \
                                  shared auth token): start it with --api-keys, or give the \
                                  follower the token"
                .into(),
            Self::MissingToken => "no auth token sent; this leader requires one".into(),
            Self::WrongToken => "wrong auth token".into(),
            Self::WrongType { .. } => self.to_string(),
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownKey { id, path } => write!(
                f,
                "Authentication using apikey failed - no API key with id [{id}] in {}",
                path.display()
            ),
            Self::InvalidSecret { id } => write!(
                f,
                "Authentication using apikey failed - invalid credentials for API key [{id}]"
            ),
            Self::WrongType { id, expected, got } => write!(
                f,
                "authentication expected API key type of [{expected}], but API key [{id}] has \
                 type [{got}]"
            ),
            Self::IndexNotAllowed { id, index, names } => write!(
                f,
                "recovering index [{}] is unauthorized for API key [{id}], whose index names \
                 are [{names}]",
                printable(index)
            ),
            other => f.write_str(&other.to_follower()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(lines: &[String]) -> Result<ApiKeys, ApiKeyError> {
        ApiKeys::parse(&lines.join("\n"), Path::new("keys.txt"))
    }

    #[test]
    fn a_key_passes_once_for_its_secret_and_type_and_index_names() {
        let good = ApiKey::generate(Some("dc2")).expect("key");
        let rest = ApiKey::generate(Some("http")).expect("key");
        let names = vec!["logs-*".to_string(), "metrics".to_string()];
        let store = keys(&[
            "# a comment".into(),
            good.keys_file_line(KeyType::CrossCluster, &names)
                .expect("line"),
            String::new(),
            rest.keys_file_line(KeyType::Rest, &[]).expect("line") + "  # trailing comment",
        ])
        .expect("keys");
        for _ in 0..2 {
            let grant = store.authenticate(&good).expect("valid");
            assert_eq!(grant.id(), "dc2");
            assert!(grant.check_index("logs-2026.12").is_ok());
            assert!(grant.check_index("metrics").is_ok());
            let refused = grant.check_index("metrics-old").expect_err("not named");
            assert!(
                refused.to_follower().contains("index [metrics-old]"),
                "{refused}"
            );
            assert!(
                !refused.to_follower().contains("logs-*"),
                "names stay on the leader"
            );
            assert!(
                refused.to_string().contains("[logs-*,metrics]"),
                "{refused}"
            );
        }
        let wrong = ApiKey::parse(&format!("dc2:{}x", good.expose_secret()), "t").expect("k");
        let refused = store.authenticate(&wrong).expect_err("wrong secret");
        assert_eq!(refused, Refusal::InvalidSecret { id: "dc2".into() });
        assert!(
            store.authenticate(&good).is_ok(),
            "a wrong secret forgets nothing"
        );
        let unknown = ApiKey::parse("nobody:secret", "t").expect("k");
        let refused = store.authenticate(&unknown).expect_err("unknown");
        assert_eq!(
            refused.to_follower(),
            Refusal::InvalidSecret {
                id: "nobody".into()
            }
            .to_follower()
        );
        assert!(
            refused
                .to_string()
                .contains("no API key with id [nobody] in keys.txt")
        );
        let refused = store.authenticate(&rest).expect_err("rest key");
        assert_eq!(
            refused.to_string(),
            "authentication expected API key type of [cross_cluster], but API key [http] has \
             type [rest]"
        );
    }

    #[test]
    fn argon2_runs_once_per_key_and_an_unknown_id_costs_as_much_as_the_costliest_key() {
        let cheap = ApiKey::generate(Some("cheap")).expect("key");
        let costly = ApiKey::generate(Some("costly")).expect("key");
        let params = argon2::Params::new(8 << 10, 3, 1, None).expect("params");
        let costly_line = format!(
            "costly cross_cluster * {}",
            costly.hash_secret_with(params).expect("hash")
        );
        let store = keys(&[
            cheap
                .keys_file_line(KeyType::CrossCluster, &[])
                .expect("line"),
            costly_line,
        ])
        .expect("keys");
        // 8 MiB x 3 passes is less work than the default 19 MiB x 2: the decoy keeps the
        // default; a key above it raises the decoy to its cost.
        assert!(
            store.decoy.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{}",
            store.decoy
        );
        let heavy = argon2::Params::new(32 << 10, 2, 1, None).expect("params");
        let heavy_line = format!(
            "heavy cross_cluster * {}",
            cheap.hash_secret_with(heavy).expect("h")
        );
        let heavier = keys(&[heavy_line]).expect("keys");
        assert!(
            heavier.decoy.starts_with("$argon2id$v=19$m=32768,t=2,p=1$"),
            "{}",
            heavier.decoy
        );

        for _ in 0..3 {
            store.authenticate(&cheap).expect("valid");
            store.authenticate(&costly).expect("valid");
        }
        assert_eq!(
            store.checks_run(),
            2,
            "each key is checked once, then remembered"
        );
        assert!(store.remembered(&cheap).is_some_and(|r| r.is_ok()));
        let wrong = ApiKey::parse(&format!("cheap:{}x", cheap.expose_secret()), "t").expect("k");
        assert!(
            store.remembered(&wrong).is_none(),
            "a wrong secret is not decided from memory"
        );
        let unknown = ApiKey::parse("nobody:secret", "t").expect("k");
        assert!(store.remembered(&unknown).is_none());
        assert!(store.authenticate(&unknown).is_err());
        assert_eq!(
            store.checks_run(),
            3,
            "an unknown id takes an argon2 check too"
        );
    }

    #[test]
    fn a_name_from_the_network_is_one_short_line_in_messages() {
        let grant = Grant {
            id: "k".into(),
            names: vec!["logs".into()],
        };
        let refused = grant
            .check_index(&format!(
                "evil\n[leader] authenticated API key [admin]{}",
                "x".repeat(500)
            ))
            .expect_err("not named");
        for text in [refused.to_follower(), refused.to_string()] {
            assert!(!text.contains('\n'), "{text}");
            assert!(text.len() < 400, "{} bytes", text.len());
        }
    }

    #[test]
    fn a_bad_keys_file_is_refused_naming_its_line() {
        let key = ApiKey::generate(Some("k")).expect("key");
        let line = key
            .keys_file_line(KeyType::CrossCluster, &[])
            .expect("line");
        let cases = [
            (vec![line.clone(), line.clone()], "line 2: key id k is given twice"),
            (vec!["k cross_cluster *".into()], "line 1: 3 fields, not 4"),
            (vec![line.replace("cross_cluster", "admin")], "\"admin\" is neither"),
            (vec!["k cross_cluster * plain".into()], "not a PHC string"),
            (vec!["k cross_cluster * $scrypt$ln=4,r=8,p=1$c2FsdHNhbHQ$YWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWE".into()], "not argon2"),
            (
                vec![line.replace("m=19456", "m=4194304")],
                "asks argon2 for 4096 MiB",
            ),
            (vec!["# only a comment".into()], "no key in the file"),
            (vec![line.replace("t=2", "t=1000")], "1000 passes"),
            (vec![line.replacen("k ", "k! ", 1)], "line 1: the id \"k!\""),
        ];
        for (lines, want) in cases {
            let e = keys(&lines).expect_err(want).to_string();
            assert!(e.starts_with("keys.txt"), "{e}");
            assert!(e.contains(want), "{want}: {e}");
        }
    }

    #[test]
    fn star_matches_any_run_of_characters() {
        let yes = [
            ("*", ""),
            ("*", "a"),
            ("logs-*", "logs-"),
            ("logs-*", "logs-1"),
            ("a*c", "abc"),
            ("a*c", "ac"),
            ("*-x-*", "a-x-b"),
            ("a**", "a"),
            ("exact", "exact"),
        ];
        let no = [
            ("logs-*", "log"),
            ("a*c", "ab"),
            ("a*c", "cab"),
            ("exact", "exact2"),
            ("*-x-*", "a-x"),
            ("ab*ba", "aba"),
        ];
        for (pattern, name) in yes {
            assert!(matches_pattern(pattern, name), "{pattern} {name}");
        }
        for (pattern, name) in no {
            assert!(!matches_pattern(pattern, name), "{pattern} {name}");
        }
    }
}
