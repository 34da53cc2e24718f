//! What the L3 link tests share: a link with faults, and an echo server inside its namespace.

use std::sync::Arc;

use rrbench_chaos::{EventLog, Fault, Link, LinkHandle, link::netns::in_netns};
use tokio::net::TcpListener;

/// A link with `faults` (fault specs), seeded with `seed`, recording into `events`.
pub async fn link(faults: &[&str], seed: u64, events: Arc<EventLog>) -> LinkHandle {
    Link {
        faults: faults
            .iter()
            .map(|f| f.parse::<Fault>().expect(f))
            .collect(),
        seed,
        events,
    }
    .start()
    .await
    .expect("link")
}

/// A TCP echo server bound inside the link's namespace; returns its port.
pub fn echo_in(link: &LinkHandle) -> u16 {
    let ip = link.leader_ip();
    let listener = in_netns(&link.netns_path(), move || {
        let l = std::net::TcpListener::bind((ip, 0))?;
        l.set_nonblocking(true)?;
        Ok(l)
    })
    .expect("bind in netns");
    let port = listener.local_addr().expect("addr").port();
    let listener = TcpListener::from_std(listener).expect("listener");
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    port
}
