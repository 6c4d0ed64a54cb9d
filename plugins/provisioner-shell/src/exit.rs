//! Whether a script's exit is a success, in Packer's words when it is not.

use kiln_plugin_sdk::host::communicator::Exit;

/// Packer's `CmdDisconnect`: the exit status it gives a command whose connection dropped.
pub const DISCONNECTED: i32 = 2_300_218;

/// Checks how a script ended against `valid_exit_codes` and `expect_disconnect`. A disconnect
/// passes when it is expected or when 2300218 is among the valid codes.
pub fn check(exit: &Exit, valid: &[i32], expect_disconnect: bool) -> Result<(), String> {
    let code = match exit {
        Exit::Status(code) => *code,
        Exit::Disconnected => DISCONNECTED,
    };
    if code == DISCONNECTED {
        if expect_disconnect || valid.contains(&DISCONNECTED) {
            return Ok(());
        }
        return Err(
            "Script disconnected unexpectedly. If you expected your script to \
                    disconnect, i.e. from a restart, you can try adding \
                    `\"expect_disconnect\": true` or `\"valid_exit_codes\": [0, 2300218]` \
                    to the shell provisioner parameters."
                .to_owned(),
        );
    }
    if valid.contains(&code) {
        return Ok(());
    }
    // Go's `%v` of a slice: `[0 2]`.
    let allowed: Vec<String> = valid.iter().map(i32::to_string).collect();
    Err(format!(
        "Script exited with non-zero exit status: {code}.Allowed exit codes are: [{}]",
        allowed.join(" ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_outside_the_valid_ones_fail_in_packers_words() {
        assert_eq!(check(&Exit::Status(0), &[0], false), Ok(()));
        assert_eq!(check(&Exit::Status(2), &[0, 2], false), Ok(()));
        assert_eq!(
            check(&Exit::Status(3), &[0], false).unwrap_err(),
            "Script exited with non-zero exit status: 3.Allowed exit codes are: [0]"
        );
        assert_eq!(
            check(&Exit::Status(1), &[0, 2, 3010], true).unwrap_err(),
            "Script exited with non-zero exit status: 1.Allowed exit codes are: [0 2 3010]"
        );
    }

    #[test]
    fn a_disconnect_passes_only_when_expected() {
        assert_eq!(check(&Exit::Disconnected, &[0], true), Ok(()));
        assert_eq!(
            check(&Exit::Disconnected, &[0, DISCONNECTED], false),
            Ok(())
        );
        let e = check(&Exit::Disconnected, &[0], false).unwrap_err();
        assert_eq!(
            e,
            "Script disconnected unexpectedly. If you expected your script to disconnect, \
             i.e. from a restart, you can try adding `\"expect_disconnect\": true` or \
             `\"valid_exit_codes\": [0, 2300218]` to the shell provisioner parameters."
        );
    }
}
