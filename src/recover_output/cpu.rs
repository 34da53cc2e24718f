//! This process's CPU time, for iperf3's `cpu_utilization_percent`: user and system seconds from
//! `/proc/self/stat` (Linux; elsewhere nothing is reported) over the wall time between two
//! readings.

use serde::Serialize;

/// The kernel's unit for the times in `/proc/*/stat` (`USER_HZ`): 100 on every architecture
/// Linux runs on today, whatever the kernel's own tick rate.
const USER_HZ: f64 = 100.0;

/// CPU seconds this process has used.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CpuTimes {
    /// In user mode, every thread.
    pub user_s: f64,
    /// In the kernel on its behalf.
    pub system_s: f64,
}

impl CpuTimes {
    /// This process's times so far, if `/proc/self/stat` can be read.
    pub fn now() -> Option<Self> {
        parse_stat(&std::fs::read_to_string("/proc/self/stat").ok()?)
    }
}

/// `utime` and `stime` of a `/proc/PID/stat` line (fields 14 and 15). The command name (field 2)
/// is in parentheses and may itself hold spaces and parentheses, so fields are counted after the
/// last `)`.
fn parse_stat(text: &str) -> Option<CpuTimes> {
    let (_, after_name) = text.rsplit_once(')')?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // After the name: state is field 3, so utime (14) and stime (15) are at 11 and 12.
    let ticks = |i: usize| fields.get(i)?.parse::<u64>().ok();
    Some(CpuTimes {
        user_s: ticks(11)? as f64 / USER_HZ,
        system_s: ticks(12)? as f64 / USER_HZ,
    })
}

/// iperf3's `cpu_utilization_percent`: CPU time over wall time, in percent (over 100 when
/// several cores worked at once). `host_*` is this follower process.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct CpuUtilization {
    /// User and system together.
    pub host_total: f64,
    /// User mode.
    pub host_user: f64,
    /// Kernel on the process's behalf (sockets, writes, fsync).
    pub host_system: f64,
    /// The leader's, as iperf3's `remote_total`: always null, because the leader is another
    /// process (often another machine) and the protocol does not carry its CPU time.
    pub remote_total: Option<f64>,
    /// See `remote_total`.
    pub remote_user: Option<f64>,
    /// See `remote_total`.
    pub remote_system: Option<f64>,
    /// Says why the `remote_*` fields are null, for a reader of the JSON.
    pub remote_note: &'static str,
}

/// The utilization between two readings `wall_s` seconds apart; `None` when no time passed.
pub fn utilization(start: CpuTimes, end: CpuTimes, wall_s: f64) -> Option<CpuUtilization> {
    if wall_s <= 0.0 {
        return None;
    }
    let share = |s: f64| 100.0 * s.max(0.0) / wall_s;
    let user = share(end.user_s - start.user_s);
    let system = share(end.system_s - start.system_s);
    Some(CpuUtilization {
        host_total: user + system,
        host_user: user,
        host_system: system,
        remote_total: None,
        remote_user: None,
        remote_system: None,
        remote_note: "the leader is another process: its CPU time is not reported to the follower",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_name() {
        let line = "4242 (rr bench) (x)) S 1 4242 4242 0 -1 4194560 1234 0 0 0 250 75 0 0 20 0 \
                    9 0 123456 1000000 500 18446744073709551615";
        let t = parse_stat(line).expect("parses");
        assert_eq!((t.user_s, t.system_s), (2.5, 0.75));
        assert_eq!(parse_stat("4242 (short) S 1"), None);
        if cfg!(target_os = "linux") {
            assert!(CpuTimes::now().is_some(), "/proc/self/stat is readable");
        }
    }

    #[test]
    fn utilization_is_cpu_over_wall_time() {
        let start = CpuTimes {
            user_s: 1.0,
            system_s: 0.5,
        };
        let end = CpuTimes {
            user_s: 2.0,
            system_s: 1.0,
        };
        let u = utilization(start, end, 2.0).expect("time passed");
        assert_eq!(
            (u.host_total, u.host_user, u.host_system),
            (75.0, 50.0, 25.0)
        );
        assert_eq!(u.remote_total, None);
        assert_eq!(utilization(start, end, 0.0), None);
    }
}
