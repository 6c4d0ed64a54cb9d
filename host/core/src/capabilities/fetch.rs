//! `download`: ISOs and disk images into the host's cache, checksum verified (see
//! [`crate::download`]). What it fetched is vouched for: a machine may then use the file, though
//! the cache directory itself is outside the plugin's grant.

use std::path::PathBuf;

use super::{Capabilities, Use};
use crate::download::{DownloadRequest, Downloader};
use crate::plugin::PluginError;

impl Capabilities {
    /// Fetches the first of `request.urls` that works. Network URLs are checked against
    /// `capabilities.network`, local paths must be readable.
    pub async fn fetch(&self, request: DownloadRequest) -> Result<PathBuf, PluginError> {
        // A `file:<url>` checksum is fetched too, and checked like the URLs.
        let sums = request.checksum.strip_prefix("file:").map(str::to_owned);
        for url in request.urls.iter().chain(sums.as_ref()) {
            match url.split_once("://") {
                Some((scheme @ ("http" | "https"), rest)) => {
                    let authority = rest.split('/').next().unwrap_or_default();
                    let (host, port) = split_authority(authority, scheme);
                    self.allow(Use::Connect {
                        scheme: Some(scheme),
                        host: &host,
                        port,
                    })?;
                }
                Some(("file", path)) => self.allow_local_source(path)?,
                Some((scheme, _)) => {
                    return Err(PluginError::failed(format!(
                        "{url}: the {scheme}:// scheme is not supported (use a path, file://, http:// or https://)"
                    )));
                }
                None => self.allow_local_source(url)?,
            }
        }
        let downloader = Downloader::new(
            Downloader::cache_dir_from_env(&self.build.output_dir),
            self.build.output_dir.clone(),
        );
        let path = downloader.fetch(&request, &self.log, &self.cancel).await?;
        if let Ok(mut vouched) = self.fetched.lock() {
            vouched.insert(path.clone());
        }
        Ok(path)
    }

    /// A local ISO or disk image: kiln's own builders use the one the template names, wherever
    /// it is, as Packer does (the template's author chose it); any other plugin's must be
    /// readable under its grant.
    fn allow_local_source(&self, path: &str) -> Result<(), PluginError> {
        if matches!(self.grant.plugin.origin, kiln_policy::Origin::FirstParty) {
            return Ok(());
        }
        self.allow(Use::Read(&self.resolve(path)))
    }

    /// Whether `path` is a file this build fetched (the cache is outside the grant).
    pub(crate) fn was_fetched(&self, path: &std::path::Path) -> bool {
        self.fetched.lock().is_ok_and(|f| f.contains(path))
    }
}

/// `host:port`, `[v6]:port` or `host` with the scheme's default port.
fn split_authority(authority: &str, scheme: &str) -> (String, u16) {
    let default = if scheme == "https" { 443 } else { 80 };
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']').unwrap_or((rest, ""));
        let port = after
            .strip_prefix(':')
            .and_then(|p| p.parse().ok())
            .unwrap_or(default);
        return (host.to_owned(), port);
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => (host.to_owned(), port.parse().unwrap_or(default)),
        None => (authority.to_owned(), default),
    }
}

#[cfg(test)]
mod tests {
    use super::split_authority;

    #[test]
    fn authorities_with_and_without_ports() {
        assert_eq!(
            split_authority("deb.debian.org", "http"),
            ("deb.debian.org".into(), 80)
        );
        assert_eq!(split_authority("h:8080", "https"), ("h".into(), 8080));
        assert_eq!(split_authority("u:p@h", "https"), ("h".into(), 443));
        assert_eq!(split_authority("[::1]:81", "http"), ("::1".into(), 81));
    }
}
