//! The build's session as the shell provisioner uses it: after a transport failure or a
//! disconnect (a reboot) the connection is re-opened before the next use, as Packer's SSH
//! communicator redials on its own.

use std::cell::Cell;

use kiln_plugin_sdk::host::communicator::{Captured, Command, Exit};
use kiln_plugin_sdk::{Error, Session, log};

/// What the provisioner needs of a session; [`Session`] is the real one.
pub trait Link {
    /// `ssh`, `docker` or `none`.
    fn kind(&self) -> String;
    fn upload_content(&self, content: &[u8], path: &str, mode: u32) -> Result<(), Error>;
    /// Runs `line`, its output streaming to the UI.
    fn exec(&self, line: &str) -> Result<Exit, Error>;
    /// Runs `line`, its output kept from the UI.
    fn exec_captured(&self, line: &str) -> Result<Captured, Error>;
    fn reconnect(&self) -> Result<(), Error>;
}

impl Link for Session {
    fn kind(&self) -> String {
        Session::kind(self)
    }

    fn upload_content(&self, content: &[u8], path: &str, mode: u32) -> Result<(), Error> {
        log::debug(format!(
            "[shell] uploading {} bytes to {path}",
            content.len()
        ));
        Session::upload_content(self, content, path, mode)
    }

    fn exec(&self, line: &str) -> Result<Exit, Error> {
        log::debug(format!("[shell] remote command: {line}"));
        Session::exec(self, &command(line))
    }

    fn exec_captured(&self, line: &str) -> Result<Captured, Error> {
        log::debug(format!("[shell] remote command: {line}"));
        let captured = Session::exec_captured(self, &command(line))?;
        for output in [&captured.stdout, &captured.stderr] {
            if !output.is_empty() {
                log::debug(format!("[shell] {}", String::from_utf8_lossy(output)));
            }
        }
        Ok(captured)
    }

    fn reconnect(&self) -> Result<(), Error> {
        log::debug("[shell] re-opening the connection");
        Session::reconnect(self)
    }
}

/// A command line for the remote shell; Packer passes the environment in the line itself.
fn command(line: &str) -> Command {
    Command {
        line: line.to_owned(),
        env: Vec::new(),
        stdin: None,
    }
}

pub struct Remote<'a, L: Link + ?Sized = Session> {
    link: &'a L,
    /// The connection dropped or failed: re-open it before the next use.
    stale: Cell<bool>,
}

impl<'a, L: Link + ?Sized> Remote<'a, L> {
    pub fn new(link: &'a L) -> Self {
        Remote {
            link,
            stale: Cell::new(false),
        }
    }

    pub fn kind(&self) -> String {
        self.link.kind()
    }

    pub fn upload_content(&self, content: &[u8], path: &str, mode: u32) -> Result<(), Error> {
        self.ready()?;
        let result = self.link.upload_content(content, path, mode);
        self.note(result.as_ref().err());
        result
    }

    /// Runs `line`, its output streaming to the UI.
    pub fn exec(&self, line: &str) -> Result<Exit, Error> {
        self.ready()?;
        let result = self.link.exec(line);
        self.note_exit(&result);
        result
    }

    /// Runs `line` without showing its output.
    pub fn exec_quiet(&self, line: &str) -> Result<Exit, Error> {
        self.ready()?;
        let result = self.link.exec_captured(line).map(|c| c.exit);
        self.note_exit(&result);
        result
    }

    fn ready(&self) -> Result<(), Error> {
        if self.stale.get() {
            let result = self.link.reconnect();
            self.note(result.as_ref().err());
            result?;
        }
        Ok(())
    }

    fn note_exit(&self, result: &Result<Exit, Error>) {
        match result {
            Ok(Exit::Disconnected) => self.stale.set(true),
            Ok(Exit::Status(_)) => {}
            Err(e) => self.note(Some(e)),
        }
    }

    fn note(&self, error: Option<&Error>) {
        match error {
            None => self.stale.set(false),
            Some(Error::Failed(_) | Error::Timeout(_)) => self.stale.set(true),
            Some(_) => {}
        }
    }
}
