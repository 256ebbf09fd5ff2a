//! Restart policies: whether and when an exited container starts again.

use std::time::Duration;

use bollard_stubs::models::{RestartPolicy, RestartPolicyNameEnum};

/// First back-off; it doubles with every restart in a row.
const FIRST_DELAY: Duration = Duration::from_millis(100);
/// Longest back-off.
const MAX_DELAY: Duration = Duration::from_secs(60);
/// A run this long resets the back-off, as in Docker.
pub const STABLE_RUN: Duration = Duration::from_secs(10);

/// The delay before restarting a container that exited with `exit_code`, or `None` to leave
/// it stopped. `restarts` counts restarts in a row (reset after a stable run).
pub fn restart_delay(
    policy: Option<&RestartPolicy>,
    exit_code: i64,
    manually_stopped: bool,
    restarts: u32,
) -> Option<Duration> {
    let policy = policy?;
    let restart = match policy.name? {
        RestartPolicyNameEnum::ALWAYS => true,
        RestartPolicyNameEnum::UNLESS_STOPPED => !manually_stopped,
        RestartPolicyNameEnum::ON_FAILURE => {
            let max = policy.maximum_retry_count.unwrap_or(0);
            exit_code != 0 && (max == 0 || i64::from(restarts) < max)
        }
        RestartPolicyNameEnum::NO | RestartPolicyNameEnum::EMPTY => false,
    };
    // `docker stop` and `docker kill` stop a container for good, whatever its policy.
    if !restart || manually_stopped {
        return None;
    }
    let factor = 1u32.checked_shl(restarts.min(20)).unwrap_or(u32::MAX);
    Some(FIRST_DELAY.saturating_mul(factor).min(MAX_DELAY))
}

/// Whether the engine starts the container when it comes up (Docker's daemon-start rule).
pub fn start_on_boot(policy: Option<&RestartPolicy>, manually_stopped: bool) -> bool {
    match policy.and_then(|p| p.name) {
        Some(RestartPolicyNameEnum::ALWAYS) => true,
        Some(RestartPolicyNameEnum::UNLESS_STOPPED) => !manually_stopped,
        _ => false,
    }
}

/// Parses the policy names the API accepts, refusing unknown ones.
pub fn validate(policy: Option<&RestartPolicy>, auto_remove: bool) -> Result<(), String> {
    let Some(policy) = policy else { return Ok(()) };
    let name = policy.name.unwrap_or(RestartPolicyNameEnum::EMPTY);
    if policy.maximum_retry_count.unwrap_or(0) < 0 {
        return Err("invalid restart policy: maximum retry count cannot be negative".into());
    }
    if policy.maximum_retry_count.unwrap_or(0) > 0 && name != RestartPolicyNameEnum::ON_FAILURE {
        return Err(
            "invalid restart policy: maximum retry count can only be used with 'on-failure'".into(),
        );
    }
    if auto_remove
        && !matches!(
            name,
            RestartPolicyNameEnum::NO | RestartPolicyNameEnum::EMPTY
        )
    {
        return Err("conflicting options: cannot specify both --restart and --rm".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(name: RestartPolicyNameEnum, max: i64) -> RestartPolicy {
        RestartPolicy {
            name: Some(name),
            maximum_retry_count: Some(max),
        }
    }

    #[test]
    fn always_restarts_with_a_doubling_capped_back_off() {
        let p = policy(RestartPolicyNameEnum::ALWAYS, 0);
        assert_eq!(
            restart_delay(Some(&p), 0, false, 0),
            Some(Duration::from_millis(100))
        );
        assert_eq!(
            restart_delay(Some(&p), 0, false, 3),
            Some(Duration::from_millis(800))
        );
        assert_eq!(restart_delay(Some(&p), 0, false, 40), Some(MAX_DELAY));
        assert_eq!(restart_delay(Some(&p), 0, true, 0), None);
    }

    #[test]
    fn on_failure_counts_and_ignores_success() {
        let p = policy(RestartPolicyNameEnum::ON_FAILURE, 2);
        assert!(restart_delay(Some(&p), 1, false, 0).is_some());
        assert!(restart_delay(Some(&p), 1, false, 1).is_some());
        assert_eq!(restart_delay(Some(&p), 1, false, 2), None);
        assert_eq!(restart_delay(Some(&p), 0, false, 0), None);
        let unlimited = policy(RestartPolicyNameEnum::ON_FAILURE, 0);
        assert!(restart_delay(Some(&unlimited), 3, false, 100).is_some());
    }

    #[test]
    fn no_policy_and_no_never_restart() {
        assert_eq!(restart_delay(None, 1, false, 0), None);
        let p = policy(RestartPolicyNameEnum::NO, 0);
        assert_eq!(restart_delay(Some(&p), 1, false, 0), None);
    }

    #[test]
    fn engine_start_follows_docker() {
        let always = policy(RestartPolicyNameEnum::ALWAYS, 0);
        let unless = policy(RestartPolicyNameEnum::UNLESS_STOPPED, 0);
        assert!(start_on_boot(Some(&always), true));
        assert!(start_on_boot(Some(&unless), false));
        assert!(!start_on_boot(Some(&unless), true));
        assert!(!start_on_boot(None, false));
    }

    #[test]
    fn invalid_combinations_are_refused() {
        let p = policy(RestartPolicyNameEnum::ALWAYS, 3);
        assert!(
            validate(Some(&p), false)
                .unwrap_err()
                .contains("on-failure")
        );
        let p = policy(RestartPolicyNameEnum::ALWAYS, 0);
        assert!(validate(Some(&p), true).unwrap_err().contains("--rm"));
        assert!(validate(Some(&policy(RestartPolicyNameEnum::ON_FAILURE, -1)), false).is_err());
    }
}
