//! The proxies the API serves, by name: each with its listen and upstream addresses, its
//! toxics, and, while enabled, the running [`ProxyHandle`].
//!
//! Disabling a proxy stops it (its listener closes, so connections are refused, and its open
//! connections are closed); enabling it starts it again on the address it had. Every change of
//! toxics replaces the running proxy's faults at once, on its live connections too, and answers
//! only once they are on. One lock serialises changes, as toxiproxy's collection lock does; it is
//! not held across the slow parts: a listen name is resolved (within 2 s) before it is taken,
//! and a proxy is stopped (which may wait out its connections' drain) after it is let go, all
//! at once on shutdown. Only `POST /populate` replacing a proxy on a new address stops the old
//! one under the lock, so that the batch stays one change.
//! What toxics mean is [`super::toxic`]'s; what HTTP looks like is [`super::routes`]'.

use std::{collections::BTreeMap, sync::Arc};

use serde_json::{Value, json};
use tokio::sync::Mutex;

use super::{
    ApiError,
    toxic::{Dialect, Toxic, ToxicDraft, check_name, stream_name},
};
use crate::{
    events::EventLog,
    fault::{Direction, Fault},
    proxy::{Proxy, ProxyError, ProxyHandle},
};

/// Most proxies one registry holds.
pub const MAX_PROXIES: usize = 256;
/// Most toxics one proxy holds.
pub const MAX_TOXICS: usize = 64;
/// The listen address of a proxy created without one (toxiproxy listens on every interface;
/// here only loopback, unless asked).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:0";

/// What creating or updating a proxy asks for.
#[derive(Clone, Debug, Default)]
pub struct ProxySpec {
    /// Its name.
    pub name: String,
    /// Where it listens (`HOST:PORT`; port 0 picks one).
    pub listen: String,
    /// Where it relays to (`HOST:PORT`, or several, comma-separated, taken in turn).
    pub upstream: String,
    /// Whether it runs.
    pub enabled: bool,
}

struct Entry {
    listen: String,
    upstream: String,
    running: Option<ProxyHandle>,
    toxics: Vec<Toxic>,
}

impl Entry {
    fn faults(&self) -> Vec<Fault> {
        self.toxics.iter().filter_map(|t| t.fault.clone()).collect()
    }

    /// toxiproxy lists a proxy's toxics upstream first, then downstream, each in the order
    /// added; rrbench's `both` come last.
    fn toxics_json(&self) -> Vec<Value> {
        let mut out = Vec::new();
        for stream in [Direction::Upstream, Direction::Downstream, Direction::Both] {
            out.extend(
                self.toxics
                    .iter()
                    .filter(|t| t.stream == stream)
                    .map(Toxic::to_json),
            );
        }
        out
    }

    fn to_json(&self, name: &str) -> Value {
        json!({
            "name": name,
            "listen": self.listen,
            "upstream": self.upstream,
            "enabled": self.running.is_some(),
            "toxics": self.toxics_json(),
        })
    }

    fn find(&self, toxic: &str) -> Result<usize, ApiError> {
        self.toxics
            .iter()
            .position(|t| t.name == toxic)
            .ok_or(ApiError::ToxicNotFound)
    }

    async fn start(&mut self, seed: u64, events: &Arc<EventLog>) -> Result<(), ApiError> {
        if self.running.is_some() {
            return Ok(());
        }
        let proxy = Proxy {
            listen: self.listen.clone(),
            upstream: self.upstream.clone(),
            faults: self.faults(),
            seed,
            events: events.clone(),
        };
        let handle = proxy
            .start()
            .await
            .map_err(|e| ApiError::Proxy(e.to_string()))?;
        self.listen = handle.local_addr().to_string();
        self.running = Some(handle);
        Ok(())
    }

    /// Takes the running proxy out, to be stopped once the lock is let go ([`stop_all`]).
    fn take(&mut self) -> Option<ProxyHandle> {
        self.running.take()
    }

    /// A toxic whose every window is over on the running proxy would be accepted and never act:
    /// refused, saying why.
    fn check_fires(&self, toxic: &Toxic) -> Result<(), ApiError> {
        let (Some(handle), Some(fault)) = (&self.running, &toxic.fault) else {
            return Ok(());
        };
        let now = handle.now();
        let s = fault.schedule;
        if s.window_at(now).is_some() || s.next_start_after(now).is_some() {
            return Ok(());
        }
        Err(ApiError::BadToxic(format!(
            "{}: its schedule is over: it acts from {:.3}s after the proxy's start only{}, and \
             the proxy has run {:.3}s; give `start` later than that, or `every`",
            toxic.name,
            s.start.as_secs_f64(),
            match s.duration {
                Some(d) if d.is_zero() => String::new(),
                Some(d) => format!(" for {:.3}s", d.as_secs_f64()),
                None => String::new(),
            },
            now.as_secs_f64(),
        )))
    }

    /// Puts the toxics on the running proxy, if it runs; waits until they are on. Faults that
    /// are not valid together are a 400; a proxy that did not take them up in time, a 500.
    async fn apply(&self) -> Result<(), ApiError> {
        match &self.running {
            Some(handle) => handle
                .set_faults_applied(self.faults())
                .await
                .map_err(|e| match e {
                    ProxyError::Fault(e) => ApiError::BadToxic(e.to_string()),
                    other => ApiError::Proxy(other.to_string()),
                }),
            None => Ok(()),
        }
    }

    /// After a failed [`Entry::apply`] and the toxics put back: the proxy gets them back too
    /// (it may have taken the new ones up late), so what is shown is what is in force.
    fn restore(&self) {
        if let Some(handle) = &self.running {
            let _ = handle.set_faults(self.faults());
        }
    }
}

/// The proxies of one API server.
pub struct Registry {
    proxies: Mutex<BTreeMap<String, Entry>>,
    seed: u64,
    events: Arc<EventLog>,
}

impl Registry {
    /// An empty registry; its proxies draw from `seed` and record to `events`.
    pub fn new(seed: u64, events: Arc<EventLog>) -> Self {
        Self {
            proxies: Mutex::new(BTreeMap::new()),
            seed,
            events,
        }
    }

    /// The event log every proxy records to.
    pub fn events(&self) -> &Arc<EventLog> {
        &self.events
    }

    /// `GET /proxies`: every proxy by name.
    pub async fn list(&self) -> Value {
        let proxies = self.proxies.lock().await;
        let map: serde_json::Map<String, Value> = proxies
            .iter()
            .map(|(name, e)| (name.clone(), e.to_json(name)))
            .collect();
        Value::Object(map)
    }

    /// `GET /proxies/{name}`.
    pub async fn show(&self, name: &str) -> Result<Value, ApiError> {
        let proxies = self.proxies.lock().await;
        let entry = proxies.get(name).ok_or(ApiError::ProxyNotFound)?;
        Ok(entry.to_json(name))
    }

    /// `POST /proxies`: a new proxy, started if enabled, with `faults` (rrbench's, from its
    /// command line) as its first toxics.
    pub async fn create(&self, mut spec: ProxySpec, faults: Vec<Fault>) -> Result<Value, ApiError> {
        check_name("name", &spec.name)?;
        if spec.upstream.is_empty() {
            return Err(ApiError::Missing("upstream".into()));
        }
        spec.listen = resolve_listen(&spec.listen).await?;
        let mut proxies = self.proxies.lock().await;
        if proxies.contains_key(&spec.name) {
            return Err(ApiError::ProxyExists);
        }
        if proxies.len() >= MAX_PROXIES {
            return Err(ApiError::TooMany(format!(
                "too many proxies: this server holds at most {MAX_PROXIES}"
            )));
        }
        let mut entry = new_entry(&spec);
        entry.toxics = faults.into_iter().map(Toxic::from_fault).collect();
        if spec.enabled {
            entry.start(self.seed, &self.events).await?;
        }
        let shown = entry.to_json(&spec.name);
        proxies.insert(spec.name, entry);
        Ok(shown)
    }

    /// `POST /populate`: creates each proxy, or replaces one of the same name whose listen or
    /// upstream address differs (one that matches is kept, toxics and all). Stops at the first
    /// failure; returns what it did and that failure.
    pub async fn populate(&self, mut specs: Vec<ProxySpec>) -> (Vec<Value>, Option<ApiError>) {
        let mut done = Vec::new();
        for spec in &mut specs {
            match resolve_listen(&spec.listen).await {
                Ok(listen) => spec.listen = listen,
                Err(e) => return (done, Some(e)),
            }
        }
        let mut proxies = self.proxies.lock().await;
        for spec in specs {
            let wanted = new_entry(&spec);
            if let Some(existing) = proxies.get_mut(&spec.name) {
                if existing.listen == wanted.listen && existing.upstream == wanted.upstream {
                    done.push(existing.to_json(&spec.name));
                    continue;
                }
                // Its replacement may take the same address: this one must be gone first.
                stop_all(existing.take()).await;
            } else if proxies.len() >= MAX_PROXIES {
                let e = ApiError::TooMany(format!(
                    "too many proxies: this server holds at most {MAX_PROXIES}"
                ));
                return (done, Some(e));
            }
            let mut entry = wanted;
            if spec.enabled
                && let Err(e) = entry.start(self.seed, &self.events).await
            {
                return (done, Some(e));
            }
            done.push(entry.to_json(&spec.name));
            proxies.insert(spec.name, entry);
        }
        (done, None)
    }

    /// `POST /proxies/{name}`: new addresses (restarting it) and enabled or not.
    pub async fn update(
        &self,
        name: &str,
        listen: Option<String>,
        upstream: Option<String>,
        enabled: Option<bool>,
    ) -> Result<Value, ApiError> {
        let listen = match listen {
            Some(l) => Some(resolve_listen(&l).await?),
            None => None,
        };
        let mut proxies = self.proxies.lock().await;
        let entry = proxies.get_mut(name).ok_or(ApiError::ProxyNotFound)?;
        let was_enabled = entry.running.is_some();
        let listen = listen.unwrap_or_else(|| entry.listen.clone());
        let upstream = upstream.unwrap_or_else(|| entry.upstream.clone());
        let enabled = enabled.unwrap_or(was_enabled);
        if upstream.is_empty() {
            return Err(ApiError::Missing("upstream".into()));
        }
        let mut stopping = None;
        if listen != entry.listen || upstream != entry.upstream {
            stopping = entry.take();
            entry.listen = listen;
            entry.upstream = upstream;
        }
        if !enabled {
            let stopping = stopping.or_else(|| entry.take());
            let shown = entry.to_json(name);
            drop(proxies);
            stop_all(stopping).await;
            return Ok(shown);
        }
        if stopping.is_some() {
            // The new one may take the same address, so the old must be gone first; stopped
            // without the lock, then the proxy is started as it stands by then.
            drop(proxies);
            stop_all(stopping).await;
            proxies = self.proxies.lock().await;
        }
        let entry = proxies.get_mut(name).ok_or(ApiError::ProxyNotFound)?;
        entry.start(self.seed, &self.events).await?;
        Ok(entry.to_json(name))
    }

    /// `DELETE /proxies/{name}`: stops it and forgets it.
    pub async fn delete(&self, name: &str) -> Result<(), ApiError> {
        let mut proxies = self.proxies.lock().await;
        let mut entry = proxies.remove(name).ok_or(ApiError::ProxyNotFound)?;
        drop(proxies);
        stop_all(entry.take()).await;
        Ok(())
    }

    /// `POST /reset`: every proxy enabled, every toxic gone.
    pub async fn reset(&self) -> Result<(), ApiError> {
        let mut proxies = self.proxies.lock().await;
        for entry in proxies.values_mut() {
            entry.toxics.clear();
            entry.apply().await?;
            entry.start(self.seed, &self.events).await?;
        }
        Ok(())
    }

    /// Stops every proxy (the server is going away).
    pub async fn shutdown(&self) {
        let mut proxies = self.proxies.lock().await;
        let stopping: Vec<ProxyHandle> = proxies.values_mut().filter_map(Entry::take).collect();
        drop(proxies);
        stop_all(stopping).await;
    }

    /// `GET /proxies/{name}/toxics`.
    pub async fn toxics(&self, name: &str) -> Result<Value, ApiError> {
        let proxies = self.proxies.lock().await;
        let entry = proxies.get(name).ok_or(ApiError::ProxyNotFound)?;
        Ok(Value::Array(entry.toxics_json()))
    }

    /// `GET /proxies/{name}/toxics/{toxic}`.
    pub async fn toxic(&self, name: &str, toxic: &str) -> Result<Value, ApiError> {
        let proxies = self.proxies.lock().await;
        let entry = proxies.get(name).ok_or(ApiError::ProxyNotFound)?;
        Ok(entry.toxics[entry.find(toxic)?].to_json())
    }

    /// `POST /proxies/{name}/toxics`: `draft` reads the toxic once the proxy is known to exist,
    /// and its attributes are checked once its name is known free (so, as in toxiproxy, an
    /// unknown proxy is a 404, then a bad stream or type a 400, then a taken name a 409, and
    /// only then bad attributes a 400).
    pub async fn add_toxic(
        &self,
        name: &str,
        draft: impl FnOnce() -> Result<ToxicDraft, ApiError>,
    ) -> Result<Value, ApiError> {
        let mut proxies = self.proxies.lock().await;
        let entry = proxies.get_mut(name).ok_or(ApiError::ProxyNotFound)?;
        let draft = draft()?;
        if entry.find(&draft.name).is_ok() {
            return Err(ApiError::ToxicExists);
        }
        let mut toxic = draft.build()?;
        if let Some(handle) = &entry.running {
            from_now(&mut toxic, handle.now());
        }
        entry.check_fires(&toxic)?;
        if entry.toxics.len() >= MAX_TOXICS {
            return Err(ApiError::TooMany(format!(
                "too many toxics: a proxy holds at most {MAX_TOXICS}"
            )));
        }
        let shown = toxic.to_json();
        entry.toxics.push(toxic);
        if let Err(e) = entry.apply().await {
            entry.toxics.pop();
            entry.restore();
            return Err(e);
        }
        Ok(shown)
    }

    /// `POST /proxies/{name}/toxics/{toxic}`: `change` makes the new toxic from the old.
    pub async fn update_toxic(
        &self,
        name: &str,
        toxic: &str,
        change: impl FnOnce(&Toxic) -> Result<Toxic, ApiError>,
    ) -> Result<Value, ApiError> {
        let mut proxies = self.proxies.lock().await;
        let entry = proxies.get_mut(name).ok_or(ApiError::ProxyNotFound)?;
        let at = entry.find(toxic)?;
        let new = change(&entry.toxics[at])?;
        entry.check_fires(&new)?;
        let shown = new.to_json();
        let old = std::mem::replace(&mut entry.toxics[at], new);
        if let Err(e) = entry.apply().await {
            entry.toxics[at] = old;
            entry.restore();
            return Err(e);
        }
        Ok(shown)
    }

    /// `DELETE /proxies/{name}/toxics/{toxic}`.
    pub async fn remove_toxic(&self, name: &str, toxic: &str) -> Result<(), ApiError> {
        let mut proxies = self.proxies.lock().await;
        let entry = proxies.get_mut(name).ok_or(ApiError::ProxyNotFound)?;
        let at = entry.find(toxic)?;
        let removed = entry.toxics.remove(at);
        if let Err(e) = entry.apply().await {
            entry.toxics.insert(at, removed);
            entry.restore();
            return Err(e);
        }
        Ok(())
    }

    /// Where a proxy listens now, if it runs.
    pub async fn local_addr(&self, name: &str) -> Option<std::net::SocketAddr> {
        let proxies = self.proxies.lock().await;
        proxies.get(name)?.running.as_ref().map(|h| h.local_addr())
    }
}

/// An rrbench toxic added to a running proxy without a `start` (or `at`) starts when added,
/// as a toxiproxy toxic does: a window counted from the proxy's start (a `reset` instant at 0s,
/// a `duration`) would otherwise be over already and never act. It starts 10 ms ahead, so that an
/// instant is still due when the scheduler takes it up. The start is written into its
/// attributes, so it shows and survives an update.
fn from_now(toxic: &mut Toxic, now: std::time::Duration) {
    let Some(fault) = &mut toxic.fault else {
        return;
    };
    let given = ["start", "at"]
        .iter()
        .any(|k| toxic.attributes.contains_key(*k));
    if toxic.dialect != Dialect::Rrbench
        || given
        || fault.schedule.duration.is_none()
        || !fault.schedule.start.is_zero()
    {
        return;
    }
    // A little ahead: an instant must still be due when the scheduler takes the new faults up.
    let ms = now.as_millis() as u64 + 10;
    fault.schedule.start = std::time::Duration::from_millis(ms);
    toxic
        .attributes
        .insert("start".into(), Value::String(format!("{ms}ms")));
}

/// Stops proxies all at once (each may wait out its connections' drain), without the lock.
async fn stop_all(handles: impl IntoIterator<Item = ProxyHandle>) {
    let mut stopping = tokio::task::JoinSet::new();
    for handle in handles {
        stopping.spawn(handle.shutdown());
    }
    while stopping.join_next().await.is_some() {}
}

/// How long a listen address's name may take to resolve.
const RESOLVE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// A listen address as an IP address and port, resolved (briefly) before the lock is taken, so
/// that starting a proxy under it never waits on a name server. Empty is the default.
async fn resolve_listen(listen: &str) -> Result<String, ApiError> {
    if listen.is_empty() || listen.parse::<std::net::SocketAddr>().is_ok() {
        return Ok(listen.to_string());
    }
    let cannot = |why: String| ApiError::Proxy(format!("cannot listen on {listen}: {why}"));
    let mut found = tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host(listen))
        .await
        .map_err(|_| {
            cannot(format!(
                "resolving took longer than {}s",
                RESOLVE_TIMEOUT.as_secs()
            ))
        })?
        .map_err(|e| cannot(e.to_string()))?;
    found
        .next()
        .map(|a| a.to_string())
        .ok_or_else(|| cannot("the address resolves to nothing".into()))
}

fn new_entry(spec: &ProxySpec) -> Entry {
    Entry {
        listen: if spec.listen.is_empty() {
            DEFAULT_LISTEN.to_string()
        } else {
            spec.listen.clone()
        },
        upstream: spec.upstream.clone(),
        running: None,
        toxics: Vec::new(),
    }
}

/// How a stream is named in a toxic's default name (`latency_downstream`).
pub fn default_toxic_name(type_name: &str, stream: Direction) -> String {
    format!("{type_name}_{}", stream_name(stream))
}
