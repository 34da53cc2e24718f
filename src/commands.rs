//! `gen-index`, `leader`, `recover`, `proxy` and `link`: thin wrappers that print what the
//! library did. The leader and the injectors are started through [`rrbench::rig`].

use std::{
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::ExitCode,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Instant,
};

use anyhow::Context;
use rrbench::{
    auth::{API_KEY_ENV, ApiKey, ApiKeyError, ApiKeys},
    chaos::{
        EventLog, LinkError,
        fault::{Medium, check_medium, name_uniquely},
        link::netns,
    },
    clock::Clock,
    follower::{self, FollowerConfig, Progress},
    index::{GenerateSpec, IndexError, IndexShards, generate_shards},
    leader::{LeaderConfig, LeaderHandle},
    metrics::{
        Collector, FollowerCollector, LeaderCollector, Metrics, MetricsServer, ProxyCollector,
    },
    rig::{Certificate, InjectorHandle, InjectorKind, Rig, RigError},
    transport::quic::{CertificatePaths, QuicClient, generate_self_signed, host_of},
    units::mib_per_sec,
    vocabulary::Transport,
};
use tempfile::TempDir;
use tokio::signal::unix::{SignalKind, signal};

use crate::{
    cli::{
        ApiKeyArgs, GenIndexArgs, InjectorArgs, LeaderArgs, LinkArgs, ProbeArgs, ProxyArgs,
        RecoverArgs, ServeApiArgs,
    },
    output::{errln, outln},
    recover_output::RecoverOutput,
    stop_signals::StopSignals,
};

/// Exit code of a run stopped by Ctrl-C, as shells report SIGINT.
const INTERRUPTED: u8 = 130;

/// The error the rig wraps, itself: `main` tells bad input (a fault that cannot act on an
/// injector: exit code 2) by the error's type.
pub(crate) fn rig_error(e: RigError) -> anyhow::Error {
    match e {
        RigError::Leader(e) => e.into(),
        RigError::Proxy(e) => e.into(),
        RigError::Link(e) => e.into(),
        RigError::Quic(e) => e.into(),
        other => other.into(),
    }
}

pub async fn gen_index(args: GenIndexArgs) -> anyhow::Result<ExitCode> {
    let spec = GenerateSpec {
        size: args.size.bytes(),
        files: args.files,
        seed: args.seed,
    };
    // Listening before the first byte is written: Ctrl-C always stops the generator, which
    // removes what it wrote, instead of killing the process mid-file.
    let mut ctrl_c = signal(SignalKind::interrupt()).context("listening for Ctrl-C")?;
    let cancel = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let (dir, flag, shards) = (args.dir.clone(), cancel.clone(), args.shards);
    let mut task =
        tokio::task::spawn_blocking(move || generate_shards(&dir, &spec, shards, &flag, |_| {}));
    let generated = tokio::select! {
        r = &mut task => r,
        _ = ctrl_c.recv() => {
            cancel.store(true, Ordering::Relaxed);
            task.await
        }
    }?;
    let shards = match generated {
        Err(IndexError::Cancelled) => {
            errln!(
                "interrupted: stopped generating; the partial index in {} was removed",
                args.dir.display()
            );
            return Ok(ExitCode::from(INTERRUPTED));
        }
        generated => {
            generated.with_context(|| format!("generating an index in {}", args.dir.display()))?
        }
    };
    let elapsed = start.elapsed();
    let sharded = shards.len() > 1;
    let mut listing = if sharded {
        format!(
            "{:<6} {:<28} {:>14} {:>10}\n",
            "shard", "file", "bytes", "crc32c"
        )
    } else {
        format!("{:<28} {:>14} {:>10}\n", "file", "bytes", "crc32c")
    };
    for (shard, metas) in shards.iter().enumerate() {
        for m in metas {
            if sharded {
                listing.push_str(&format!("{shard:<6} "));
            }
            listing.push_str(&format!(
                "{:<28} {:>14} {:>10}\n",
                m.name,
                m.len,
                format!("{:08x}", m.crc32c)
            ));
        }
    }
    crate::output::stdout(&listing)?;
    let total = args.size.bytes() * shards.len() as u64;
    let files: usize = shards.iter().map(Vec::len).sum();
    outln!(
        "wrote {files} files{}, {:.1} MiB to {} in {:.2}s ({:.0} MiB/s), seed {}",
        if sharded {
            format!(
                " in {} shards ({}/0 .. {}/{})",
                shards.len(),
                args.dir.display(),
                args.dir.display(),
                shards.len() - 1
            )
        } else {
            String::new()
        },
        total as f64 / 1048576.0,
        args.dir.display(),
        elapsed.as_secs_f64(),
        mib_per_sec(total, elapsed),
        args.seed
    )?;
    Ok(ExitCode::SUCCESS)
}

pub async fn leader(args: LeaderArgs) -> anyhow::Result<ExitCode> {
    let settings = args.settings();
    settings.validate()?;
    if args.nodes != 1 && (args.tls || args.client_ca.is_some()) {
        anyhow::bail!(
            "--nodes {} serves plaintext TCP only: TLS (--tls, --client-ca) is for one node a \
             process (run one `rrbench leader --tls` per node)",
            args.nodes
        );
    }
    let auth_token = args.auth.token.token()?;
    // In a cluster (--nodes) the leader serves plaintext TCP.
    let encrypted = args.nodes == 1 && (args.tls || args.transport == Transport::Quic);
    let api_keys = args.auth.api_keys(encrypted)?;
    if api_keys.is_some() && auth_token.is_some() {
        return Err(ApiKeyError::LeaderBothKinds.into());
    }
    let allow_plaintext_credentials = args.auth.allow_plaintext_credentials;
    // Before anything is announced: a Ctrl-C right after the announcement must still stop the
    // leader cleanly (and remove a generated certificate), not kill it.
    let mut interrupt = signal(SignalKind::interrupt()).context("listening for Ctrl-C")?;
    let dir = args.dir.clone();
    let snapshot = tokio::task::spawn_blocking(move || IndexShards::load(&dir))
        .await?
        .with_context(|| format!("loading the index in {}", args.dir.display()))?;
    let (files, bytes, shards) = (
        snapshot.total_files(),
        snapshot.total_bytes(),
        snapshot.count(),
    );
    if args.nodes != 1 {
        let auth = (auth_token, api_keys, allow_plaintext_credentials);
        return leader_cluster(&args, snapshot, settings, auth, interrupt).await;
    }
    if args.tls && args.transport == Transport::Quic {
        anyhow::bail!("--tls is for the TCP transport: QUIC is always TLS");
    }
    let (certificate, generated) = match args.transport {
        Transport::Tcp if !args.tls => (None, None),
        Transport::Tcp | Transport::Quic => {
            let (certificate, generated) = leader_certificate(&args)?;
            (Some(certificate), generated)
        }
    };
    let config = LeaderConfig {
        settings: settings.clone(),
        index_name: args.index_name.clone(),
        auth_token,
        api_keys,
        allow_plaintext_credentials,
        log: !args.quiet,
        // The rig sets it from the transport and the certificate.
        quic: None,
        tls: None,
        netns: args.netns.as_deref().map(netns::path_of),
    };
    let mut rig = Rig::builder()
        .leader_config(snapshot, config)
        .leader_listen(args.listen.clone())
        .transport(args.transport)
        .quic_liveness(args.quic.liveness());
    if let Some(certificate) = certificate {
        rig = rig.certificate(Certificate::Given(certificate));
    }
    if args.tls {
        rig = rig.tls(true);
        if let Some(client_ca) = &args.client_ca {
            rig = rig.client_ca(client_ca.clone());
        }
    }
    let rig = rig.start().await.map_err(rig_error)?;
    let nodes = rig.leader_nodes().iter().map(LeaderHandle::stats_source);
    let metrics = start_metrics(&args.metrics, || LeaderCollector::new(nodes.collect())).await?;
    errln!(
        "leader on {} serving index {:?}: {files} files{}, {:.1} MiB from {}\n  max_bytes_per_sec {} | recovery_activity_timeout {} | Ctrl-C to stop",
        rig.dial(),
        args.index_name,
        if shards > 1 {
            format!(" in {shards} shards")
        } else {
            String::new()
        },
        bytes as f64 / 1048576.0,
        args.dir.display(),
        if settings.max_bytes_per_sec.bytes() == 0 {
            "unlimited".to_string()
        } else {
            settings.max_bytes_per_sec.to_string()
        },
        rrbench::units::format_duration(settings.recovery_activity_timeout),
    );
    announce_metrics(&metrics);
    interrupt.recv().await;
    errln!("stopping: draining connections");
    stop_metrics(metrics).await;
    let stats = rig.leader().map(LeaderHandle::stats).unwrap_or_default();
    rig.shutdown().await;
    errln!("{}", serde_json::to_string(&stats)?);
    if let Some(generated) = generated {
        generated.finish()?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `rrbench leader --nodes M`: M nodes in this process, until Ctrl-C.
async fn leader_cluster(
    args: &LeaderArgs,
    index: IndexShards,
    settings: rrbench::settings::LeaderSettings,
    (auth_token, api_keys, allow_plaintext_credentials): (
        Option<rrbench::auth::AuthToken>,
        Option<Arc<rrbench::auth::ApiKeys>>,
        bool,
    ),
    mut interrupt: tokio::signal::unix::Signal,
) -> anyhow::Result<ExitCode> {
    if !(1..=64).contains(&args.nodes) {
        return Err(rrbench::settings::OutOfRange {
            setting: "nodes",
            flag: "nodes",
            value: args.nodes.to_string(),
            range: "must be between 1 and 64",
        }
        .into());
    }
    if args.transport != Transport::Tcp || args.netns.is_some() {
        anyhow::bail!(
            "--nodes {} serves TCP on this host only: leave out --transport quic and --netns \
             (or run one `rrbench leader` per node)",
            args.nodes
        );
    }
    let (host, port) = args
        .listen
        .rsplit_once(':')
        .context("--listen is HOST:PORT")?;
    let port: u16 = port.parse().context("--listen port")?;
    let listen: Vec<String> = (0..args.nodes)
        .map(|i| match port {
            0 => Ok(format!("{host}:0")),
            p => p
                .checked_add(i as u16)
                .map(|p| format!("{host}:{p}"))
                .with_context(|| format!("--listen port {port} + {i} is past 65535")),
        })
        .collect::<anyhow::Result<_>>()?;
    let config = LeaderConfig {
        settings: settings.clone(),
        index_name: args.index_name.clone(),
        auth_token,
        api_keys,
        allow_plaintext_credentials,
        log: !args.quiet,
        quic: None,
        tls: None,
        netns: None,
    };
    let shards = index.count();
    let nodes =
        rrbench::leader::start_cluster(&listen, index, config, rrbench::clock::Clock::start())
            .await?;
    let sources = nodes.iter().map(LeaderHandle::stats_source);
    let metrics = start_metrics(&args.metrics, || LeaderCollector::new(sources.collect())).await?;
    let addresses: Vec<String> = nodes.iter().map(|n| n.local_addr().to_string()).collect();
    for (i, addr) in addresses.iter().enumerate() {
        let held: Vec<String> = (0..shards)
            .filter(|s| rrbench::leader::primary_node(*s, nodes.len()) == i)
            .map(|s| s.to_string())
            .collect();
        errln!(
            "leader node {i} on {addr}: primaries of shard(s) {}",
            if held.is_empty() {
                "none".into()
            } else {
                held.join(", ")
            }
        );
    }
    errln!(
        "  followers: rrbench recover --from {} --shards {shards} | max_bytes_per_sec {} per node | Ctrl-C to stop",
        addresses.join(","),
        if settings.max_bytes_per_sec.bytes() == 0 {
            "unlimited".to_string()
        } else {
            settings.max_bytes_per_sec.to_string()
        }
    );
    announce_metrics(&metrics);
    interrupt.recv().await;
    errln!("stopping: draining connections");
    stop_metrics(metrics).await;
    for (i, node) in nodes.into_iter().enumerate() {
        let stats = node.stats();
        node.shutdown().await;
        errln!("node {i}: {}", serde_json::to_string(&stats)?);
    }
    Ok(ExitCode::SUCCESS)
}

/// The directory of a certificate the leader generated.
enum GeneratedCertDir {
    /// Removed when the leader stops (or when this is dropped, on an early error).
    Temporary(TempDir),
    /// Left in place (`--keep-cert`).
    Kept(PathBuf),
}

impl GeneratedCertDir {
    fn path(&self) -> &Path {
        match self {
            Self::Temporary(dir) => dir.path(),
            Self::Kept(path) => path,
        }
    }

    /// Removes the directory unless it is kept, and says which.
    fn finish(self) -> anyhow::Result<()> {
        match self {
            Self::Temporary(dir) => {
                let path = dir.path().display().to_string();
                dir.close()
                    .with_context(|| format!("removing the generated certificate in {path}"))?;
                errln!("removed the generated certificate in {path}");
            }
            Self::Kept(path) => {
                errln!("kept the generated certificate in {}", path.display());
            }
        }
        Ok(())
    }
}

/// The leader's QUIC certificate: the one given, or a self-signed one written to a fresh
/// private directory whose path is printed for the follower's `--ca`. The directory is returned
/// too, to be removed when the leader stops (unless `--keep-cert`).
fn leader_certificate(
    args: &LeaderArgs,
) -> anyhow::Result<(CertificatePaths, Option<GeneratedCertDir>)> {
    if let (Some(cert), Some(key)) = (&args.cert, &args.key) {
        let paths = CertificatePaths {
            cert: cert.clone(),
            key: key.clone(),
        };
        return Ok((paths, None));
    }
    let host = host_of(&args.listen);
    let mut names = vec!["localhost".to_string(), "127.0.0.1".into(), "::1".into()];
    if !["0.0.0.0", "::", ""].contains(&host.as_str()) && !names.contains(&host) {
        names.push(host);
    }
    let dir = tempfile::Builder::new()
        .prefix("rrbench-leader-cert-")
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir()
        .context("creating a directory for the certificate")?;
    let dir = match args.keep_cert {
        true => GeneratedCertDir::Kept(dir.keep()),
        false => GeneratedCertDir::Temporary(dir),
    };
    let paths = generate_self_signed(dir.path(), &names)?;
    errln!(
        "{}: generated a self-signed certificate for {}: {} ({} on exit)
  followers: {} --ca {}",
        if args.tls { "TLS" } else { "QUIC" },
        names.join(", "),
        paths.cert.display(),
        if args.keep_cert { "kept" } else { "removed" },
        if args.tls {
            "--tls"
        } else {
            "--transport quic"
        },
        paths.cert.display()
    );
    Ok((paths, Some(dir)))
}

pub async fn recover(args: RecoverArgs) -> anyhow::Result<ExitCode> {
    let settings = args.settings();
    // On the command line, the ranges of the policy's own implementation (OpenSearch's chunks
    // are at least 1mb); the library and campaigns accept smaller ones for compressed trials.
    settings.validate_strict()?;
    let mut config = FollowerConfig::new(&args.from, &args.dir);
    config.index = args.index.clone();
    config.shards = args.shards;
    config.credentials = args.auth.credentials(
        args.tls || args.transport == Transport::Quic,
        "this follower",
    )?;
    config.allow_plaintext_credentials = args.auth.allow_plaintext_credentials;
    config.settings = settings;
    config.time_limit = args.time_limit.0;
    config.seed = args.seed;
    if args.tls && args.transport == Transport::Quic {
        anyhow::bail!("--tls is for the TCP transport: QUIC is always TLS");
    }
    let identity = match (&args.cert, &args.key) {
        (Some(cert), Some(key)) => Some(CertificatePaths {
            cert: cert.clone(),
            key: key.clone(),
        }),
        _ => None,
    };
    if let Some(ca) = &args.ca {
        let client = QuicClient {
            ca: ca.clone(),
            server_name: args.server_name.clone(),
            identity,
        };
        match args.transport {
            Transport::Quic => config.quic = Some(client),
            Transport::Tcp if args.tls => config.tls = Some(client),
            Transport::Tcp => {}
        }
    }
    let progress = Arc::new(Progress::default());
    let metrics = start_metrics(&args.metrics, || FollowerCollector::new(progress.clone())).await?;
    announce_metrics(&metrics);
    let output = RecoverOutput::start(&args.output_options(), &config, progress.clone())?;
    let cancel = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let mut report = follower::recover(config, progress, cancel)
        .await
        .with_context(|| format!("recovering from {} into {}", args.from, args.dir.display()))?;
    if let Some(path) = &args.chaos_events {
        annotate_from_log(&mut report, path)?;
    }
    output.finish(&report).await?;
    let interrupted = report
        .failures
        .last()
        .is_some_and(|f| f.kind == follower::FailureKind::Interrupted);
    // Whoever pressed Ctrl-C asked to stop: no linger then.
    if !interrupted {
        linger_metrics(&metrics, args.metrics_linger).await;
    }
    stop_metrics(metrics).await;
    Ok(match (report.is_completed(), interrupted) {
        (true, _) => ExitCode::SUCCESS,
        (false, true) => ExitCode::from(INTERRUPTED),
        (false, false) => ExitCode::FAILURE,
    })
}

/// Measures the fault windows of an injector's event log (`--chaos-events`) against `report`,
/// warning about what cannot be lined up or cannot have affected the recovery.
fn annotate_from_log(report: &mut follower::RecoveryReport, path: &Path) -> anyhow::Result<()> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    // The injector's clock started at another moment: its events move onto the recovery's.
    let log = rrbench::chaos::events::read_json_lines_aligned(&text, report.clock_unix_epoch_s);
    if !log.anchored {
        errln!(
            "warning: {} has no proxy_start event to line its times up with this recovery's; \
             they are taken as seconds on the recovery's clock",
            path.display()
        );
    }
    let early = report.annotate_faults(&log.events);
    if !early.is_empty() {
        let mut listed: Vec<String> = early
            .iter()
            .take(5)
            .map(|w| {
                format!(
                    "`{}` ({}) at {:.2}s",
                    w.fault,
                    w.kind,
                    w.on - report.started_at
                )
            })
            .collect();
        if early.len() > 5 {
            listed.push(format!("and {} more", early.len() - 5));
        }
        let started = log
            .events
            .iter()
            .rev()
            .find(|e| matches!(e.kind, rrbench::chaos::EventKind::ProxyStart { .. }))
            .map(|e| report.started_at - e.t)
            .filter(|age| *age > 0.0)
            .map_or(String::new(), |age| {
                format!(" (the proxy started {age:.2}s before this recovery)")
            });
        errln!(
            "warning: {} fault window(s) in {} were over before the recovery started, so they \
             are left out: {}; an injector's fault times count from its own start{started}",
            early.len(),
            path.display(),
            listed.join(", ")
        );
    }
    Ok(())
}

impl InjectorArgs {
    /// Which events go to stderr.
    fn shown(&self) -> Shown {
        match (self.quiet, self.verbose) {
            (true, _) => Shown::Warnings,
            (_, true) => Shown::All,
            _ => Shown::Notable,
        }
    }

    /// The event log, appending to `--events` when given, keeping the latest
    /// [`EVENTS_IN_MEMORY`] in memory (the file gets every one).
    fn event_log(&self) -> anyhow::Result<Arc<EventLog>> {
        let clock = Clock::start();
        let log = match &self.events {
            Some(path) => EventLog::with_file(clock, path)
                .with_context(|| format!("opening {}", path.display()))?,
            None => EventLog::new(clock),
        };
        Ok(Arc::new(log.keeping(EVENTS_IN_MEMORY)))
    }
}

/// Events an injector that runs until Ctrl-C keeps in memory (for its summary and its API);
/// older ones are only in `--events`.
const EVENTS_IN_MEMORY: usize = 100_000;

pub async fn proxy(args: ProxyArgs) -> anyhow::Result<ExitCode> {
    let signals = StopSignals::listen()?;
    if let Some(api) = &args.api {
        return proxy_with_api(signals, &args, api).await;
    }
    let injector = &args.injector;
    let events = injector.event_log()?;
    let kind = match args.udp {
        true => InjectorKind::UdpProxy,
        false => InjectorKind::TcpProxy,
    };
    let rig = Rig::builder()
        .upstream(args.upstream.clone())
        .injector(kind, injector.faults.clone())
        .injector_listen(args.listen.clone())
        .seed(injector.seed)
        .clock(events.clock())
        .events(events.clone())
        .start()
        .await
        .map_err(rig_error)?;
    if args.udp {
        errln!(
            "UDP proxy on {} -> {} (seed {}), {} fault(s), Ctrl-C to stop",
            rig.dial(),
            args.upstream,
            injector.seed,
            injector.faults.len(),
        );
        let stop = async {
            rig.shutdown().await;
        };
        return serve_until_stopped(signals, &events, "udp proxy", injector.shown(), stop).await;
    }
    for injector in rig.injectors() {
        if let InjectorHandle::Tcp(proxy) = injector {
            proxy.set_zero_copy(!args.no_splice);
        }
    }
    let proxies = rig.injectors().iter().filter_map(|i| match i {
        InjectorHandle::Tcp(proxy) => Some(proxy.stats_source()),
        _ => None,
    });
    let metrics = start_metrics(&args.metrics, || ProxyCollector::new(proxies.collect())).await?;
    let faults: Vec<String> = match rig.injector() {
        Some(InjectorHandle::Tcp(proxy)) => proxy
            .faults()
            .iter()
            .map(|f| serde_json::to_string(f).unwrap_or_default())
            .collect(),
        _ => Vec::new(),
    };
    errln!(
        "proxy on {} -> {} (seed {}{}), Ctrl-C to stop\n  faults: {}",
        rig.dial(),
        args.upstream,
        injector.seed,
        if args.no_splice { ", no splice" } else { "" },
        if faults.is_empty() {
            "none".to_string()
        } else {
            faults.join("\n          ")
        }
    );
    announce_metrics(&metrics);
    serve_until_stopped(signals, &events, "proxy", injector.shown(), async {
        errln!("stopping: closing connections");
        stop_metrics(metrics).await;
        rig.shutdown().await;
    })
    .await
}

/// `rrbench proxy --api`: the proxy is the API's first proxy, under `--name`, so toxiproxy's
/// clients change its toxics (its `--fault` specs among them) while it runs.
async fn proxy_with_api(
    signals: StopSignals,
    args: &ProxyArgs,
    api: &str,
) -> anyhow::Result<ExitCode> {
    use rrbench::chaos::api::{Registry, registry::ProxySpec};
    let injector = &args.injector;
    let events = injector.event_log()?;
    let registry = Arc::new(Registry::new(injector.seed, events.clone()));
    let spec = ProxySpec {
        name: args.name.clone(),
        listen: args.listen.clone(),
        upstream: args.upstream.clone(),
        enabled: true,
    };
    // A fault that cannot act on the proxy is bad input (exit code 2), as without --api.
    let mut faults = injector.faults.clone();
    name_uniquely(&mut faults).map_err(rrbench::chaos::ProxyError::Fault)?;
    check_medium(&faults, Medium::Stream).map_err(rrbench::chaos::ProxyError::Fault)?;
    registry
        .create(spec, faults)
        .await
        .map_err(|e| anyhow::anyhow!("proxy {:?}: {e}", args.name))?;
    let server = start_api(api, registry.clone()).await?;
    errln!(
        "proxy {:?} on {} -> {} (seed {}), {} fault(s); toxiproxy API on http://{}; Ctrl-C to stop",
        args.name,
        registry
            .local_addr(&args.name)
            .await
            .map_or_else(|| args.listen.clone(), |a| a.to_string()),
        args.upstream,
        injector.seed,
        injector.faults.len(),
        server.local_addr(),
    );
    serve_until_stopped(signals, &events, "proxy", injector.shown(), async {
        errln!("stopping: closing connections");
        server.stop().await;
        registry.shutdown().await;
    })
    .await
}

/// `rrbench serve-api`: toxiproxy's API with no proxy yet, events to stderr until Ctrl-C.
pub async fn serve_api(args: ServeApiArgs) -> anyhow::Result<ExitCode> {
    use rrbench::chaos::api::Registry;
    let signals = StopSignals::listen()?;
    let injector = InjectorArgs {
        faults: Vec::new(),
        seed: args.seed,
        events: args.events.clone(),
        quiet: args.quiet,
        verbose: args.verbose,
    };
    let events = injector.event_log()?;
    let registry = Arc::new(Registry::new(args.seed, events.clone()));
    let server = start_api(&args.listen, registry.clone()).await?;
    errln!(
        "toxiproxy API on http://{} (seed {}), no proxies yet; Ctrl-C to stop",
        server.local_addr(),
        args.seed
    );
    serve_until_stopped(signals, &events, "api", injector.shown(), async {
        errln!("stopping: closing every proxy");
        server.stop().await;
        registry.shutdown().await;
    })
    .await
}

async fn start_api(
    listen: &str,
    registry: Arc<rrbench::chaos::api::Registry>,
) -> anyhow::Result<rrbench::chaos::http::HttpServer> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("the toxiproxy API cannot listen on {listen}"))?;
    rrbench::chaos::api::serve(listener, registry)
        .with_context(|| format!("serving the toxiproxy API on {listen}"))
}

/// Starts the `--metrics` endpoint, if asked for, with the collector `collector` makes.
async fn start_metrics<C: Collector>(
    listen: &Option<String>,
    collector: impl FnOnce() -> C,
) -> anyhow::Result<Option<MetricsServer>> {
    match listen {
        Some(listen) => Ok(Some(
            MetricsServer::start(listen, Metrics::new().with(collector())).await?,
        )),
        None => Ok(None),
    }
}

/// Says where the metrics are (a line of its own, after the command's announcement).
fn announce_metrics(metrics: &Option<MetricsServer>) {
    if let Some(m) = metrics {
        errln!("metrics on {}", m.url());
    }
}

/// Keeps `metrics` serving for `linger` (its values are final by now) or until Ctrl-C, so a
/// scraper that comes by every 15 s or more still reads them.
async fn linger_metrics(metrics: &Option<MetricsServer>, linger: std::time::Duration) {
    if metrics.is_none() || linger.is_zero() {
        return;
    }
    errln!(
        "metrics: serving the final values for {} more (Ctrl-C to stop)",
        rrbench::units::format_duration(linger)
    );
    tokio::select! {
        _ = tokio::time::sleep(linger) => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

async fn stop_metrics(metrics: Option<MetricsServer>) {
    if let Some(m) = metrics {
        m.stop().await;
    }
}

/// `rrbench link`: the L3 link, events to stderr until Ctrl-C.
pub async fn link(args: LinkArgs) -> anyhow::Result<ExitCode> {
    let signals = StopSignals::listen()?;
    let injector = &args.injector;
    // Bad faults are bad input wherever this runs; privileges come second.
    let mut faults = injector.faults.clone();
    name_uniquely(&mut faults).map_err(LinkError::Fault)?;
    check_medium(&faults, Medium::Packets).map_err(LinkError::Fault)?;
    if let Some(why) = rrbench::chaos::link::unavailable() {
        anyhow::bail!("{why}; the L4 proxies (`rrbench proxy`, `proxy --udp`) need no privileges");
    }
    let events = injector.event_log()?;
    let rig = Rig::builder()
        .injector(InjectorKind::Link, injector.faults.clone())
        .seed(injector.seed)
        .clock(events.clock())
        .events(events.clone())
        .start()
        .await
        .map_err(rig_error)?;
    let Some(InjectorHandle::Link(link)) = rig.injector() else {
        anyhow::bail!("the rig started no link");
    };
    let (ns, ip) = (link.netns_name().to_string(), link.leader_ip());
    errln!(
        "L3 link up (seed {}): this host {} on {} <-> namespace {ns}, {ip}; {} fault(s)\n  \
         leader:   rrbench leader --netns {ns} --listen {ip}:9443 --dir DIR\n  \
         follower: rrbench recover --from {ip}:9443 --dir TARGET\n  \
         any tool: ip netns exec {ns} iperf3 -s   and   iperf3 -c {ip}\n  \
         Ctrl-C or SIGTERM removes the namespace and the devices",
        injector.seed,
        link.follower_ip(),
        link.follower_dev(),
        injector.faults.len(),
    );
    let stop = async {
        rig.shutdown().await;
    };
    serve_until_stopped(signals, &events, "link", injector.shown(), stop).await
}

/// Which of an injector's events it prints to stderr.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shown {
    /// `--quiet`: warnings only, no summary.
    Warnings,
    /// The default: fault edges, resets, warnings ([`rrbench::chaos::Event::is_notable`]), and
    /// a summary on exit.
    Notable,
    /// `--verbose`: every event (each connection, each effect report), and the summary.
    All,
}

impl Shown {
    fn includes(self, e: &rrbench::chaos::Event) -> bool {
        match self {
            Self::Warnings => matches!(e.kind, rrbench::chaos::EventKind::Warning { .. }),
            Self::Notable => e.is_notable(),
            Self::All => true,
        }
    }
}

/// Prints an injector's events to stderr as they come (those `shown` includes) until Ctrl-C
/// or SIGTERM (`signals`, caught since the command started), then runs `stop`, prints the
/// events stopping caused and a summary of the run. Lines start with `[label SECONDS]`, as the
/// leader's do.
async fn serve_until_stopped(
    mut signals: StopSignals,
    events: &EventLog,
    label: &str,
    shown: Shown,
    stop: impl std::future::Future<Output = ()>,
) -> anyhow::Result<ExitCode> {
    let print = |from: usize| -> usize {
        let (new, next) = events.since_next(from);
        for e in new.iter().filter(|e| shown.includes(e)) {
            errln!("[{label} {:>9.3}s] {}", e.t, e.kind);
        }
        next
    };
    let mut seen = 0;
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(200));
    loop {
        tokio::select! {
            _ = signals.recv() => break,
            _ = tick.tick() => {}
        }
        seen = print(seen);
    }
    stop.await;
    print(seen);
    if shown != Shown::Warnings {
        let summary = rrbench::chaos::events::Summary::of(&events.since(0));
        let partial = match events.dropped() {
            0 => String::new(),
            n => format!(
                " (of the events kept in memory: {n} effect events left out; --events has all)"
            ),
        };
        errln!("[{label}] summary: {summary}{partial}");
    }
    Ok(ExitCode::SUCCESS)
}

/// `rrbench probe`: progress on stderr, the report on stdout (text or JSON).
pub async fn probe(args: ProbeArgs) -> anyhow::Result<ExitCode> {
    let config = args.config()?;
    let progress = |line: &str| errln!("{line}");
    let cancel = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let report = rrbench::probe::run(config, &progress, cancel).await?;
    if args.json {
        let doc = rrbench::probe::output::json_document(&report);
        outln!("{}", serde_json::to_string_pretty(&doc)?)?;
    } else {
        crate::output::stdout(&rrbench::probe::output::text(&report))?;
    }
    Ok(if report.interrupted {
        ExitCode::from(INTERRUPTED)
    } else {
        ExitCode::SUCCESS
    })
}

/// `rrbench api-key`: a new key; its line appended to the leader's keys file, the key itself
/// written, owner-only, for the follower. The secret is printed nowhere.
///
/// The keys file is locked while it is read and added to, so two runs at once neither both
/// take an id nor interleave their lines; the key file is written first and removed again if
/// the keys file cannot take the key, so no key is admitted whose secret was lost.
pub fn api_key(args: ApiKeyArgs) -> anyhow::Result<ExitCode> {
    use std::{
        fs::OpenOptions,
        io::{Read, Seek, Write},
        os::unix::fs::OpenOptionsExt,
    };
    let bad = |origin: &str, why: String| ApiKeyError::Malformed {
        origin: origin.into(),
        why,
    };
    let names = if args.indices.is_empty() {
        vec!["*".to_string()]
    } else {
        args.indices.clone()
    };
    if let Some(name) = names
        .iter()
        .find(|n| n.is_empty() || n.contains([',', '#']) || n.contains(char::is_whitespace))
    {
        let why = format!("index name {name:?} is empty or holds ',', '#' or a space");
        return Err(bad("--index", why).into());
    }
    let same = |a: &std::path::Path, b: &std::path::Path| {
        std::path::absolute(a).ok() == std::path::absolute(b).ok()
            || a.canonicalize()
                .ok()
                .is_some_and(|a| b.canonicalize().ok() == Some(a))
    };
    if same(&args.keys_file, &args.key_file) {
        let why = "--key-file is the keys file: the secret would sit beside the hashes".into();
        return Err(bad("--key-file", why).into());
    }
    let key = ApiKey::generate(args.id.as_deref())?;
    let line = key.keys_file_line(args.key_type, &names)?;
    let keys_path = args.keys_file.clone();
    let write_err = |path: &std::path::Path| {
        let path = path.to_path_buf();
        move |source| ApiKeyError::Write { path, source }
    };
    let mut keys_file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .mode(0o600)
        .open(&keys_path)
        .map_err(write_err(&keys_path))?;
    keys_file.lock().map_err(write_err(&keys_path))?;
    let mut text = String::new();
    keys_file
        .rewind()
        .and_then(|()| keys_file.read_to_string(&mut text))
        .map_err(|source| ApiKeyError::Read {
            path: keys_path.clone(),
            source,
        })?;
    if ApiKeys::ids(&text, &keys_path)?
        .iter()
        .any(|id| id == key.id())
    {
        let why = format!(
            "{} already has a key with id {}",
            keys_path.display(),
            key.id()
        );
        return Err(bad("--id", why).into());
    }
    let mut key_file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&args.key_file)
        .map_err(write_err(&args.key_file))?;
    let credential = format!("{}:{}\n", key.id(), key.expose_secret());
    key_file
        .write_all(credential.as_bytes())
        .and_then(|()| key_file.sync_all())
        .map_err(write_err(&args.key_file))?;
    // One write of whole lines: a file whose last line has no line break gets one first.
    let lead = if text.is_empty() || text.ends_with('\n') {
        ""
    } else {
        "\n"
    };
    let appended = keys_file
        .write_all(format!("{lead}{line}\n").as_bytes())
        .and_then(|()| keys_file.sync_all());
    if let Err(source) = appended {
        let _ = std::fs::remove_file(&args.key_file);
        return Err(ApiKeyError::Write {
            path: keys_path,
            source,
        }
        .into());
    }
    outln!(
        "API key [{}] ({}, index names {}): its hash appended to {}; the key for the follower \
         is in {} (recover --api-key-file {}, or its content in {API_KEY_ENV})",
        key.id(),
        args.key_type,
        names.join(","),
        keys_path.display(),
        args.key_file.display(),
        args.key_file.display(),
    )?;
    Ok(ExitCode::SUCCESS)
}
