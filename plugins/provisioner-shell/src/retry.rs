//! Packer's `retry.Config{StartTimeout}.Run`: an operation is tried again, 2 s after each
//! failure, until it succeeds or `start_retry_timeout` has passed; then its last error is the
//! result. A denial or a cancellation is final at once.

use std::time::{Duration, Instant};

use kiln_plugin_sdk::{Error, log};

/// Packer's delay between tries.
pub const DELAY: Duration = Duration::from_secs(2);

/// Tries `attempt` until it succeeds or `timeout` has passed since the first try.
pub fn until<T>(timeout: Duration, attempt: impl FnMut() -> Result<T, Error>) -> Result<T, Error> {
    let start = Instant::now();
    let wait = |error: &Error| {
        log::debug(format!("Retryable error: {}", error.message()));
        std::thread::sleep(DELAY);
    };
    run(timeout, attempt, || start.elapsed(), wait)
}

/// The loop, with its clock and its wait between tries given.
pub(crate) fn run<T>(
    timeout: Duration,
    mut attempt: impl FnMut() -> Result<T, Error>,
    elapsed: impl Fn() -> Duration,
    mut wait: impl FnMut(&Error),
) -> Result<T, Error> {
    loop {
        let error = match attempt() {
            Ok(value) => return Ok(value),
            Err(e) if !retryable(&e) => return Err(e),
            Err(e) => e,
        };
        if elapsed() >= timeout {
            return Err(error);
        }
        wait(&error);
    }
}

/// Transport failures and waits that ran out may pass (a reboot); the rest will not.
fn retryable(error: &Error) -> bool {
    matches!(error, Error::Failed(_) | Error::Timeout(_))
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    /// A clock that moves only when slept.
    struct Clock(Cell<Duration>);

    impl Clock {
        fn run<T>(
            &self,
            timeout: Duration,
            attempt: impl FnMut() -> Result<T, Error>,
        ) -> Result<T, Error> {
            run(
                timeout,
                attempt,
                || self.0.get(),
                |_| self.0.set(self.0.get() + DELAY),
            )
        }
    }

    #[test]
    fn failures_are_retried_until_one_succeeds() {
        let clock = Clock(Cell::new(Duration::ZERO));
        let mut tries = 0;
        let result = clock.run(Duration::from_secs(60), || {
            tries += 1;
            if tries < 3 {
                Err(Error::failed("connection refused"))
            } else {
                Ok(tries)
            }
        });
        assert!(matches!(result, Ok(3)));
        assert_eq!(clock.0.get(), Duration::from_secs(4));
    }

    #[test]
    fn after_the_timeout_the_last_error_is_the_result() {
        let clock = Clock(Cell::new(Duration::ZERO));
        let mut tries = 0;
        let result: Result<(), Error> = clock.run(Duration::from_secs(5), || {
            tries += 1;
            Err(Error::failed(format!("try {tries}")))
        });
        assert_eq!(result.unwrap_err().message(), "try 4");
        assert_eq!(tries, 4, "tried at 0, 2, 4 and 6 seconds");
    }

    #[test]
    fn denials_and_cancellation_are_not_retried() {
        let clock = Clock(Cell::new(Duration::ZERO));
        let mut tries = 0;
        let result: Result<(), Error> = clock.run(Duration::from_secs(60), || {
            tries += 1;
            Err(Error::Cancelled)
        });
        assert!(matches!(result, Err(Error::Cancelled)));
        let result: Result<(), Error> = clock.run(Duration::from_secs(60), || {
            tries += 1;
            Err(Error::Denied("no".into()))
        });
        assert!(matches!(result, Err(Error::Denied(_))));
        assert_eq!(tries, 2);
    }
}
