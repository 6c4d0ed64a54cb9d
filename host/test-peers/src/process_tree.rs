//! Ending a process and everything it started, read from `/proc`.
//!
//! A process group is not enough for sshd: each connection's child calls `setsid()`, and so does
//! the session it runs, so neither stays in the listener's group, and when the listener dies
//! they are re-parented to init. The family is therefore the listener plus, repeated until
//! nothing new turns up, every process whose parent is in it or whose process group or session
//! one of its members leads. The listener is stopped (SIGSTOP) while the family is read, so it
//! forks nothing unseen, and each member is known by its pid and start time, so a reused pid is
//! never signalled.

use std::collections::HashSet;
use std::fs;
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;

/// How long the family gets to exit after SIGTERM before SIGKILL.
const GRACE: Duration = Duration::from_secs(2);
/// How long to wait for SIGKILL to take effect.
const KILL_WAIT: Duration = Duration::from_secs(2);
const POLL: Duration = Duration::from_millis(20);

/// One process as `/proc/<pid>/stat` describes it.
#[derive(Debug, Clone, Copy)]
struct Process {
    pid: i32,
    ppid: i32,
    pgrp: i32,
    session: i32,
    /// Clock ticks after boot: with the pid, the identity of a process.
    start_time: u64,
    zombie: bool,
}

/// `(pid, start time)`.
type Identity = (i32, u64);

impl Process {
    fn identity(&self) -> Identity {
        (self.pid, self.start_time)
    }
}

/// Ends `leader` (which leads its own process group) and every process it started: SIGTERM,
/// then SIGKILL for what is still running after [`GRACE`]. Zombies count as ended; the caller
/// reaps `leader`.
pub(crate) fn terminate(leader: u32) {
    let Ok(leader) = i32::try_from(leader) else {
        return;
    };
    let _ = kill(Pid::from_raw(leader), Signal::SIGSTOP);
    let mut family = Family::default();
    family.grow(leader);

    family.signal(Signal::SIGTERM);
    let _ = killpg(Pid::from_raw(leader), Signal::SIGTERM);
    family.signal(Signal::SIGCONT);
    if family.wait(leader, Signal::SIGTERM, GRACE) {
        return;
    }
    family.signal(Signal::SIGKILL);
    let _ = killpg(Pid::from_raw(leader), Signal::SIGKILL);
    family.wait(leader, Signal::SIGKILL, KILL_WAIT);
}

/// The processes found so far, by identity.
#[derive(Default)]
struct Family {
    members: Vec<Process>,
}

impl Family {
    fn contains_pid(&self, pid: i32) -> bool {
        self.members.iter().any(|p| p.pid == pid)
    }

    /// Adds every running process related to the family (or to `leader`), until a pass adds
    /// nothing. Returns the new members.
    fn grow(&mut self, leader: i32) -> Vec<Process> {
        let all = read_processes();
        let mut known: HashSet<Identity> = self.members.iter().map(Process::identity).collect();
        let mut added = Vec::new();
        loop {
            let before = added.len();
            for process in &all {
                if known.contains(&process.identity()) {
                    continue;
                }
                let related = process.pid == leader
                    || self.contains_pid(process.ppid)
                    || self.contains_pid(process.pgrp)
                    || self.contains_pid(process.session);
                if related {
                    known.insert(process.identity());
                    self.members.push(*process);
                    added.push(*process);
                }
            }
            if added.len() == before {
                return added;
            }
        }
    }

    fn signal(&self, signal: Signal) {
        for process in &self.members {
            send(process, signal);
        }
    }

    /// Waits up to `limit` for every member to end, signalling any newcomer with `signal`.
    /// Returns whether all ended.
    fn wait(&mut self, leader: i32, signal: Signal, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            for newcomer in self.grow(leader) {
                send(&newcomer, signal);
            }
            let running: HashSet<Identity> = read_processes()
                .iter()
                .filter(|p| !p.zombie)
                .map(Process::identity)
                .collect();
            if !self.members.iter().any(|p| running.contains(&p.identity())) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(POLL);
        }
    }
}

/// Signals `process` if it is still the process we found (pid reuse).
fn send(process: &Process, signal: Signal) {
    let same = read_process(process.pid).is_some_and(|now| now.start_time == process.start_time);
    if same && !process.zombie {
        let _ = kill(Pid::from_raw(process.pid), signal);
    }
}

fn read_processes() -> Vec<Process> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(read_process)
        .collect()
}

fn read_process(pid: i32) -> Option<Process> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(pid, &stat)
}

/// Parses `/proc/<pid>/stat`: `pid (comm) state ppid pgrp session ...`, where comm may hold
/// spaces and parentheses, so the fields start after the last `)`.
fn parse_stat(pid: i32, stat: &str) -> Option<Process> {
    let fields: Vec<&str> = stat
        .get(stat.rfind(')')? + 1..)?
        .split_whitespace()
        .collect();
    // Field 3 of proc(5) is fields[0]; starttime is field 22.
    Some(Process {
        pid,
        zombie: matches!(*fields.first()?, "Z" | "X"),
        ppid: fields.get(1)?.parse().ok()?,
        pgrp: fields.get(2)?.parse().ok()?,
        session: fields.get(3)?.parse().ok()?,
        start_time: fields.get(19)?.parse().ok()?,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn stat_with_a_command_name_holding_spaces_and_parentheses() {
        let stat = "4242 (sshd: a) b) S 1 4242 4242 0 -1 4194560 300 0 0 0 0 0 0 0 20 0 1 0 98765 \
                    1000 100 18446744073709551615";
        let p = parse_stat(4242, stat).unwrap();
        assert_eq!(
            (p.ppid, p.pgrp, p.session, p.start_time),
            (1, 4242, 4242, 98765)
        );
        assert!(!p.zombie);
    }

    #[test]
    fn this_process_reads_as_itself() {
        let me = read_process(std::process::id() as i32).unwrap();
        assert!(!me.zombie);
        assert!(me.start_time > 0);
    }
}
