//! Typing a boot command through QMP `input-send-event`, in batches a guest keeps up with.
//!
//! Packer sends one VNC key event and sleeps 100 ms, so a 1,000-character boot command takes
//! minutes. QMP takes many key events in one command, but QEMU's PS/2 keyboard queue holds only
//! 16 bytes (`PS2_QUEUE_SIZE`, hw/input/ps2.c) and QEMU fills it while the guest cannot run, so
//! a batch must fit in 16 bytes and the guest must empty the queue before the next one comes:
//! bytes beyond it are silently dropped. How fast the guest empties it is the guest's business
//! (SeaBIOS drains it from its interrupt handler; OVMF polls every 20 ms, later under TCG or a
//! loaded host).
//!
//! [`Pacing::DEFAULT`] was measured under TCG on a 2-core host (QEMU 7.2), typing random
//! printable ASCII and comparing what the guest read:
//!
//! - a batch over 16 bytes loses its excess whatever the delay (5 shifted characters, 20 bytes);
//! - SeaBIOS (a boot sector reading int 16h) kept up with 16-byte batches sent back to back,
//!   GRUB with 16 bytes every 10 ms (not back to back);
//! - OVMF's UEFI shell lost keys at 16 bytes every 20, 30 and 40 ms, and at 8 bytes every 25 ms
//!   with both host cores busy; it lost none at 16 bytes every 50 ms or 8 bytes every 50 ms
//!   (both host cores busy or not).
//!
//! The default, 8 bytes every 50 ms (160 bytes/s, about 50 mixed-case characters a second, 1,000
//! characters in about 20 s against Packer's 5 minutes), is the slowest reader's highest safe
//! rate halved: the queue then absorbs a guest that stops reading for up to 100 ms. A
//! character's key events (shift, key down, key up, shift up) always travel in the same batch,
//! so a key is never left down between batches and cannot auto-repeat.
//!
//! With an explicit `key_interval` (Packer's `boot_key_interval`), the typing is Packer's: one
//! key event, then the interval.
//!
//! Only counts are ever logged: a boot command may carry a password.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::boot_command::Action;
use crate::keys::{self, Key, Stroke};
use crate::qmp;

/// How key events are grouped and spaced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pacing {
    /// As many whole characters as fit in `max_bytes` of the guest's PS/2 queue in one QMP
    /// command, then `delay`.
    Batched { max_bytes: usize, delay: Duration },
    /// One key event per QMP command, then this interval (Packer's VNC typing).
    PerEvent(Duration),
}

impl Pacing {
    /// The measured safe default; see the module documentation.
    pub const DEFAULT: Pacing = Pacing::Batched {
        max_bytes: 8,
        delay: Duration::from_millis(50),
    };

    /// Packer's `boot_key_interval`: zero (unset) means [`Pacing::DEFAULT`].
    pub fn for_key_interval(key_interval: Duration) -> Pacing {
        if key_interval.is_zero() {
            Pacing::DEFAULT
        } else {
            Pacing::PerEvent(key_interval)
        }
    }
}

/// One key going down or up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyEvent {
    pub qcode: &'static str,
    pub down: bool,
}

impl KeyEvent {
    /// The `input-send-event` form.
    pub fn to_qmp(self) -> Value {
        json!({"type": "key", "data": {"down": self.down, "key": {"type": "qcode", "data": self.qcode}}})
    }
}

/// What typing sends: key events in groups, and pauses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    Keys(Vec<KeyEvent>),
    Wait(Duration),
}

/// How a typing went, in counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub key_events: usize,
    pub qmp_commands: usize,
    pub elapsed: Duration,
}

/// Why typing stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("boot command action {index}: {} cannot be typed: no key types it on a US keyboard", keys::describe_char(*c))]
    NoKey { index: usize, c: char },
    #[error("typing cancelled after {sent} of {total} key events")]
    Cancelled { sent: usize, total: usize },
    #[error("typing failed after {sent} of {total} key events: {source}")]
    Qmp {
        sent: usize,
        total: usize,
        source: qmp::Error,
    },
}

/// The key events of each action, a character's together, in order.
fn groups(actions: &[Action]) -> Result<Vec<Group>, Error> {
    let stroke = |index: usize, key: Key| match key.stroke() {
        Some(stroke) => Ok(stroke),
        None => Err(Error::NoKey {
            index,
            c: match key {
                Key::Char(c) => c,
                _ => '\0',
            },
        }),
    };
    let down = |qcode| KeyEvent { qcode, down: true };
    let up = |qcode| KeyEvent { qcode, down: false };
    let mut out = Vec::with_capacity(actions.len());
    for (index, action) in actions.iter().enumerate() {
        let group = match *action {
            Action::Wait(d) => Group::Wait(d),
            Action::Type(c) => tap(stroke(index, Key::Char(c))?),
            Action::Tap(key) => tap(stroke(index, key)?),
            Action::Press(key) => {
                let Stroke { qcode, shift } = stroke(index, key)?;
                let mut events = Vec::with_capacity(2);
                if shift {
                    events.push(down(keys::SHIFT));
                }
                events.push(down(qcode));
                Group::Keys(events)
            }
            Action::Release(key) => {
                let Stroke { qcode, shift } = stroke(index, key)?;
                let mut events = vec![up(qcode)];
                if shift {
                    events.push(up(keys::SHIFT));
                }
                Group::Keys(events)
            }
        };
        out.push(group);
    }
    Ok(out)
}

enum Group {
    Keys(Vec<KeyEvent>),
    Wait(Duration),
}

fn tap(Stroke { qcode, shift }: Stroke) -> Group {
    let mut events = Vec::with_capacity(4);
    if shift {
        events.push(KeyEvent {
            qcode: keys::SHIFT,
            down: true,
        });
    }
    events.push(KeyEvent { qcode, down: true });
    events.push(KeyEvent { qcode, down: false });
    if shift {
        events.push(KeyEvent {
            qcode: keys::SHIFT,
            down: false,
        });
    }
    Group::Keys(events)
}

/// Splits `actions` into what is sent, each `Keys` step one QMP command.
pub fn plan(actions: &[Action], pacing: Pacing) -> Result<Vec<Step>, Error> {
    let mut steps = Vec::new();
    let mut batch: Vec<KeyEvent> = Vec::new();
    let mut batch_bytes = 0;
    for group in groups(actions)? {
        match group {
            Group::Wait(d) => {
                if !batch.is_empty() {
                    steps.push(Step::Keys(std::mem::take(&mut batch)));
                    batch_bytes = 0;
                }
                steps.push(Step::Wait(d));
            }
            Group::Keys(events) => match pacing {
                Pacing::PerEvent(_) => {
                    steps.extend(events.into_iter().map(|e| Step::Keys(vec![e])));
                }
                Pacing::Batched { max_bytes, .. } => {
                    let bytes: usize = events.iter().map(|e| keys::queue_bytes(e.qcode)).sum();
                    if !batch.is_empty() && batch_bytes + bytes > max_bytes {
                        steps.push(Step::Keys(std::mem::take(&mut batch)));
                        batch_bytes = 0;
                    }
                    batch.extend(events);
                    batch_bytes += bytes;
                }
            },
        }
    }
    if !batch.is_empty() {
        steps.push(Step::Keys(batch));
    }
    Ok(steps)
}

/// Types `actions`: each batch, then the pacing's delay (after the last too, so the guest has
/// taken every key before the caller moves on); waits as written. Cancellation stops it between
/// two commands and releases any key the boot command left held.
pub async fn send(
    qmp: &qmp::Client,
    actions: &[Action],
    pacing: Pacing,
    cancel: &CancellationToken,
) -> Result<Report, Error> {
    let steps = plan(actions, pacing)?;
    let total: usize = steps
        .iter()
        .map(|s| match s {
            Step::Keys(events) => events.len(),
            Step::Wait(_) => 0,
        })
        .sum();
    let delay = match pacing {
        Pacing::Batched { delay, .. } | Pacing::PerEvent(delay) => delay,
    };
    let start = Instant::now();
    let mut report = Report::default();
    let mut held: Vec<&'static str> = Vec::new();
    for step in &steps {
        let pause = match step {
            Step::Wait(d) => *d,
            Step::Keys(events) => {
                if cancel.is_cancelled() {
                    return Err(cancelled(qmp, &held, report.key_events, total).await);
                }
                let arguments =
                    json!({"events": events.iter().map(|e| e.to_qmp()).collect::<Vec<_>>()});
                if let Err(source) = qmp.execute("input-send-event", Some(arguments)).await {
                    return Err(Error::Qmp {
                        sent: report.key_events,
                        total,
                        source,
                    });
                }
                for event in events {
                    if event.down {
                        held.push(event.qcode);
                    } else {
                        held.retain(|q| *q != event.qcode);
                    }
                }
                report.key_events += events.len();
                report.qmp_commands += 1;
                delay
            }
        };
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            () = cancel.cancelled() => {
                return Err(cancelled(qmp, &held, report.key_events, total).await);
            }
        }
    }
    report.elapsed = start.elapsed();
    tracing::debug!(
        key_events = report.key_events,
        qmp_commands = report.qmp_commands,
        "typed the boot command in {:?}",
        report.elapsed
    );
    Ok(report)
}

async fn cancelled(qmp: &qmp::Client, held: &[&'static str], sent: usize, total: usize) -> Error {
    if !held.is_empty() {
        let events: Vec<Value> = held
            .iter()
            .rev()
            .map(|qcode| KeyEvent { qcode, down: false }.to_qmp())
            .collect();
        if let Err(e) = qmp
            .execute("input-send-event", Some(json!({"events": events})))
            .await
        {
            tracing::debug!("releasing held keys after cancellation: {e}");
        }
    }
    Error::Cancelled { sent, total }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::boot_command::parse;

    fn down(qcode: &'static str) -> KeyEvent {
        KeyEvent { qcode, down: true }
    }
    fn up(qcode: &'static str) -> KeyEvent {
        KeyEvent { qcode, down: false }
    }

    #[test]
    fn characters_stay_whole_and_batches_fit_the_budget() {
        let pacing = Pacing::Batched {
            max_bytes: 8,
            delay: Duration::ZERO,
        };
        let steps = plan(&parse("abcdE").unwrap(), pacing).unwrap();
        assert_eq!(
            steps,
            [
                Step::Keys(vec![
                    down("a"),
                    up("a"),
                    down("b"),
                    up("b"),
                    down("c"),
                    up("c"),
                    down("d"),
                    up("d"),
                ]),
                Step::Keys(vec![down("shift"), down("e"), up("e"), up("shift")]),
            ]
        );
        let steps = plan(&parse(&"A!:~|\"xyz<up>".repeat(20)).unwrap(), pacing).unwrap();
        for step in &steps {
            let Step::Keys(events) = step else {
                panic!("{step:?}")
            };
            let bytes: usize = events.iter().map(|e| keys::queue_bytes(e.qcode)).sum();
            assert!(bytes <= 8, "{bytes}");
            // Every key that goes down in a batch comes up in it.
            let downs = events.iter().filter(|e| e.down).count();
            assert_eq!(downs * 2, events.len());
        }
    }

    #[test]
    fn waits_split_batches_and_toggles_hold_shift() {
        let pacing = Pacing::Batched {
            max_bytes: 16,
            delay: Duration::ZERO,
        };
        let steps = plan(
            &parse("a<wait>b<leftCtrlOn>c<leftCtrlOff><AOn><AOff>").unwrap(),
            pacing,
        )
        .unwrap();
        assert_eq!(
            steps,
            [
                Step::Keys(vec![down("a"), up("a")]),
                Step::Wait(Duration::from_secs(1)),
                Step::Keys(vec![
                    down("b"),
                    up("b"),
                    down("ctrl"),
                    down("c"),
                    up("c"),
                    up("ctrl"),
                    down("shift"),
                    down("a"),
                    up("a"),
                    up("shift"),
                ]),
            ]
        );
    }

    #[test]
    fn an_explicit_key_interval_types_one_event_at_a_time() {
        let interval = Duration::from_millis(100);
        assert_eq!(
            Pacing::for_key_interval(interval),
            Pacing::PerEvent(interval)
        );
        assert_eq!(Pacing::for_key_interval(Duration::ZERO), Pacing::DEFAULT);
        let steps = plan(&parse("A<enter>").unwrap(), Pacing::PerEvent(interval)).unwrap();
        assert_eq!(
            steps,
            [
                Step::Keys(vec![down("shift")]),
                Step::Keys(vec![down("a")]),
                Step::Keys(vec![up("a")]),
                Step::Keys(vec![up("shift")]),
                Step::Keys(vec![down("ret")]),
                Step::Keys(vec![up("ret")]),
            ]
        );
    }

    #[test]
    fn characters_without_keys_are_refused_before_anything_is_sent() {
        let err = plan(&[Action::Type('a'), Action::Type('é')], Pacing::DEFAULT).unwrap_err();
        assert_eq!(
            err.to_string(),
            "boot command action 1: 'é' (U+00E9) cannot be typed: no key types it on a US keyboard"
        );
    }

    #[test]
    fn qmp_form() {
        assert_eq!(
            down("a").to_qmp(),
            json!({"type": "key", "data": {"down": true, "key": {"type": "qcode", "data": "a"}}})
        );
    }
}
