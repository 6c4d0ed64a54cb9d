//! Tar and zip members from the expanded entries, keeping unix modes, mtimes and symlinks.

use std::io::{self, Seek, Write};
use std::os::unix::fs::MetadataExt;

use zip::write::FullFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

use super::tree::{Entry, Kind};
use crate::ui::Progress;

/// Files from this size on are written as zip64: deflate can grow incompressible data by a
/// fraction of a percent, so anything smaller stays under zip's 4 GiB limit once compressed.
const ZIP64_FROM: u64 = 0xF000_0000;

/// Writes a tar stream of `entries` (GNU headers, so long names and large files fit).
pub(super) fn write_tar<W: Write>(
    out: W,
    entries: &[Entry],
    progress: &dyn Progress,
) -> io::Result<W> {
    let mut tar = tar::Builder::new(out);
    for entry in entries {
        let mut header = tar::Header::new_gnu();
        header.set_metadata_in_mode(&entry.metadata, tar::HeaderMode::Complete);
        header.set_mode(entry.metadata.mode() & 0o7777);
        match &entry.kind {
            Kind::File => tar.append_data(&mut header, &entry.name, entry.open(progress)?)?,
            Kind::Dir => tar.append_data(&mut header, format!("{}/", entry.name), io::empty())?,
            Kind::Symlink(target) => tar.append_link(&mut header, &entry.name, target)?,
        }
    }
    tar.into_inner()
}

/// Writes a zip of `entries`, deflated at `level` (0 stores). Zip has no place for a tar's
/// uid and gid; the mtime goes in both the DOS field (UTC) and the extended-timestamp field,
/// which unzip prefers.
pub(super) fn write_zip<W: Write + Seek>(
    out: W,
    entries: &[Entry],
    level: u32,
    progress: &dyn Progress,
) -> io::Result<W> {
    let mut zip = ZipWriter::new(out);
    for entry in entries {
        let options = zip_options(entry, level)?;
        match &entry.kind {
            Kind::File => {
                zip.start_file(&entry.name, options)?;
                io::copy(&mut entry.open(progress)?, &mut zip)?;
            }
            Kind::Dir => zip.add_directory(format!("{}/", entry.name), options)?,
            Kind::Symlink(target) => {
                let target = target.to_str().ok_or_else(|| {
                    io::Error::other(format!(
                        "cannot zip {}: the symlink's target is not UTF-8",
                        entry.source.display()
                    ))
                })?;
                zip.add_symlink(&entry.name, target, options)?;
            }
        }
    }
    Ok(zip.finish()?)
}

fn zip_options(entry: &Entry, level: u32) -> io::Result<FullFileOptions<'static, 'static>> {
    let (method, level) = match level {
        0 => (CompressionMethod::Stored, None),
        level => (CompressionMethod::Deflated, Some(i64::from(level))),
    };
    let mtime = entry.metadata.mtime();
    let mut options = FullFileOptions::default()
        .compression_method(method)
        .compression_level(level)
        .unix_permissions(entry.metadata.mode())
        .last_modified_time(dos_time(mtime))
        .large_file(entry.metadata.len() >= ZIP64_FROM);
    if let Ok(mtime) = u32::try_from(mtime) {
        options = options.with_extended_timestamp(Some(mtime), None, None)?;
    }
    Ok(options)
}

/// A unix time as zip's DOS date and time, in UTC; outside DOS's 1980–2107, 1980-01-01.
fn dos_time(unix_seconds: i64) -> DateTime {
    let days = unix_seconds.div_euclid(86_400);
    let seconds = unix_seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    u16::try_from(year)
        .ok()
        .and_then(|year| {
            DateTime::from_date_and_time(
                year,
                month,
                day,
                (seconds / 3600) as u8,
                (seconds / 60 % 60) as u8,
                (seconds % 60) as u8,
            )
            .ok()
        })
        .unwrap_or_default()
}

/// Days since 1970-01-01 as a proleptic Gregorian (year, month, day): Howard Hinnant's
/// `civil_from_days`.
fn civil_from_days(days: i64) -> (i64, u8, u8) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * shifted_month + 2) / 5 + 1) as u8;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    } as u8;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dos_times_are_utc_calendar_dates() {
        let t = dos_time(1_700_000_000); // 2023-11-14 22:13:20 UTC
        assert_eq!(
            (
                t.year(),
                t.month(),
                t.day(),
                t.hour(),
                t.minute(),
                t.second()
            ),
            (2023, 11, 14, 22, 13, 20)
        );
        let leap = dos_time(951_782_400); // 2000-02-29 00:00:00 UTC
        assert_eq!((leap.year(), leap.month(), leap.day()), (2000, 2, 29));
        assert_eq!(dos_time(0), DateTime::default());
    }
}
