//! The floppy image, written natively (fatfs) as Packer writes it (go-fs): a 1.44 MB FAT12
//! "super floppy" (no partition table) with the standard 3½-inch geometry, long file names,
//! and `floppy_label` as its volume label, attached to QEMU with `-fda`.
//!
//! The image is built in memory and written in one go, and the same files make the same
//! bytes: timestamps are FAT's epoch (1980-01-01) and the volume id is fixed.
//!
//! fatfs 0.3 writes a long-name entry before every short one, the `.` and `..` of a new
//! directory included, where FAT wants those two in the directory's first two slots
//! (`fsck.fat` then "moves" them and deletes the directory). [`put_dots_first`] moves them
//! there once the image is written.

use std::io::{Cursor, Read};
use std::path::Path;

use fatfs::{
    Date, DateTime, FatType, FileSystem, FormatVolumeOptions, FsOptions, Time, TimeProvider,
};

use super::{Error, Layout};

/// A 3½-inch high-density floppy: 80 tracks × 2 heads × 18 sectors of 512 bytes.
pub const FLOPPY_BYTES: usize = 1440 * 1024;
const SECTORS: u32 = 2880;

/// Every timestamp is FAT's first day (fatfs without chrono would write day 0 of month 0).
#[derive(Debug)]
struct Epoch;

const EPOCH: DateTime = DateTime {
    date: Date {
        year: 1980,
        month: 1,
        day: 1,
    },
    time: Time {
        hour: 0,
        min: 0,
        sec: 0,
        millis: 0,
    },
};

impl TimeProvider for Epoch {
    fn get_current_date(&self) -> Date {
        EPOCH.date
    }
    fn get_current_date_time(&self) -> DateTime {
        EPOCH
    }
}

static CLOCK: Epoch = Epoch;

/// `floppy_label` as the 11 bytes of a FAT volume label, space-padded: printable ASCII that
/// FAT allows in a short name (no lowercase folding: Linux's `/dev/disk/by-label` shows it as
/// given, as Packer writes it).
pub fn volume_label(label: &str) -> Result<[u8; 11], Error> {
    let allowed = |b: u8| b.is_ascii_alphanumeric() || b" !#$%&'()-@^_`{}~".contains(&b);
    if label.is_empty() || label.len() > 11 || !label.bytes().all(allowed) || label.starts_with(' ')
    {
        return Err(Error::FloppyLabel(label.to_owned()));
    }
    let mut bytes = [b' '; 11];
    bytes[..label.len()].copy_from_slice(label.as_bytes());
    Ok(bytes)
}

/// Writes `layout` to a new floppy image at `image` (replacing what is there).
pub fn write(image: &Path, label: &str, layout: &Layout) -> Result<(), Error> {
    let bytes = build(label, layout)?;
    std::fs::write(image, bytes).map_err(super::io_error(image))
}

/// The image's bytes.
pub fn build(label: &str, layout: &Layout) -> Result<Vec<u8>, Error> {
    let label = volume_label(label)?;
    let mut disk = Cursor::new(vec![0u8; FLOPPY_BYTES]);
    fatfs::format_volume(
        &mut disk,
        FormatVolumeOptions::new()
            .fat_type(FatType::Fat12)
            .bytes_per_sector(512)
            .total_sectors(SECTORS)
            .bytes_per_cluster(512)
            .fats(2)
            .max_root_dir_entries(224)
            .media(0xF0)
            .sectors_per_track(18)
            .heads(2)
            .drive_num(0)
            .volume_id(0x6b69_6c6e)
            .volume_label(label),
    )
    .map_err(Error::FatFormat)?;
    {
        let fs = FileSystem::new(&mut disk, FsOptions::new().time_provider(&CLOCK))
            .map_err(Error::FatFormat)?;
        write_entries(&fs, layout)?;
        fs.unmount().map_err(Error::FatFormat)?;
    }
    let mut image = disk.into_inner();
    put_dots_first(&mut image);
    Ok(image)
}

fn write_entries<T: fatfs::ReadWriteSeek>(
    fs: &FileSystem<T>,
    layout: &Layout,
) -> Result<(), Error> {
    let root = fs.root_dir();
    for entry in layout.entries() {
        let fat = |source: std::io::Error| {
            if source.to_string().contains("No space left") {
                Error::FloppyFull {
                    shown: entry.shown.clone(),
                }
            } else {
                Error::Fat {
                    name: entry.name.clone(),
                    shown: entry.shown.clone(),
                    source,
                }
            }
        };
        if entry.is_dir {
            root.create_dir(&entry.name).map_err(fat)?;
            continue;
        }
        let mut input =
            std::fs::File::open(&entry.source).map_err(super::io_error(&entry.source))?;
        let mut file = root.create_file(&entry.name).map_err(fat)?;
        file.truncate().map_err(fat)?;
        copy(&mut input, &mut file, &entry.source).map_err(|e| match e {
            Copy::Read(e) => e,
            Copy::Write(e) => fat(e),
        })?;
    }
    Ok(())
}

/// The FAT12 volume fatfs formatted, as far as the fix-up needs it.
struct Volume {
    fat: usize,
    root: usize,
    root_len: usize,
    data: usize,
    cluster: usize,
}

const ENTRY: usize = 32;
const ATTR_LFN: u8 = 0x0F;
const ATTR_DIR: u8 = 0x10;
const DELETED: u8 = 0xE5;
const DOT: &[u8; 11] = b".          ";
const DOTDOT: &[u8; 11] = b"..         ";

impl Volume {
    fn read(image: &[u8]) -> Option<Volume> {
        let u16_at = |i: usize| {
            Some(usize::from(u16::from_le_bytes([
                *image.get(i)?,
                *image.get(i + 1)?,
            ])))
        };
        let sector = u16_at(11)?;
        let cluster = usize::from(*image.get(13)?) * sector;
        let reserved = u16_at(14)?;
        let fats = usize::from(*image.get(16)?);
        let root_len = u16_at(17)? * ENTRY;
        let per_fat = u16_at(22)?;
        let root = (reserved + fats * per_fat) * sector;
        Some(Volume {
            fat: reserved * sector,
            root,
            root_len,
            data: root + root_len.div_ceil(sector) * sector,
            cluster,
        })
    }

    fn cluster_at(&self, n: usize) -> usize {
        self.data + n.saturating_sub(2) * self.cluster
    }

    /// The cluster after `n` in its chain (FAT12: 12 bits an entry), or `None` at its end.
    fn next(&self, image: &[u8], n: usize) -> Option<usize> {
        let at = self.fat + n * 3 / 2;
        let pair = u16::from_le_bytes([*image.get(at)?, *image.get(at + 1)?]);
        let value = usize::from(if n % 2 == 1 { pair >> 4 } else { pair & 0xFFF });
        (2..0xFF0).contains(&value).then_some(value)
    }

    /// Where a directory's entries are: the root's region, or its chain of clusters.
    fn regions(&self, image: &[u8], first: Option<usize>) -> Vec<(usize, usize)> {
        let Some(mut cluster) = first else {
            return vec![(self.root, self.root_len)];
        };
        let mut regions = Vec::new();
        let mut seen = std::collections::HashSet::new();
        while seen.insert(cluster) {
            regions.push((self.cluster_at(cluster), self.cluster));
            match self.next(image, cluster) {
                Some(next) => cluster = next,
                None => break,
            }
        }
        regions
    }
}

/// Moves each directory's `.` and `..` short entries into its first two slots and marks the
/// two long-name slots fatfs put before them deleted.
pub fn put_dots_first(image: &mut [u8]) {
    let Some(volume) = Volume::read(image) else {
        return;
    };
    let mut pending: Vec<Option<usize>> = vec![None];
    let mut seen = std::collections::HashSet::new();
    while let Some(dir) = pending.pop() {
        if let Some(cluster) = dir {
            if !seen.insert(cluster) {
                continue;
            }
            fix_dots(image, volume.cluster_at(cluster));
        }
        'entries: for (start, len) in volume.regions(image, dir) {
            for at in (start..start + len).step_by(ENTRY) {
                let Some(entry) = image.get(at..at + ENTRY) else {
                    break 'entries;
                };
                match (entry[0], entry[11]) {
                    (0, _) => break 'entries,
                    (DELETED, _) | (_, ATTR_LFN) => {}
                    (_, attr)
                        if attr & ATTR_DIR != 0
                            && &entry[..11] != DOT
                            && &entry[..11] != DOTDOT =>
                    {
                        let first = usize::from(u16::from_le_bytes([entry[26], entry[27]]));
                        pending.push(Some(first));
                    }
                    _ => {}
                }
            }
        }
    }
}

/// `[long .][.][long ..][..]` at `at` becomes `[.][..][deleted][deleted]`.
fn fix_dots(image: &mut [u8], at: usize) {
    let Some(slots) = image.get_mut(at..at + 4 * ENTRY) else {
        return;
    };
    let is = |slot: &[u8], name: &[u8; 11]| &slot[..11] == name && slot[11] & ATTR_DIR != 0;
    if slots[11] != ATTR_LFN
        || !is(&slots[ENTRY..], DOT)
        || slots[2 * ENTRY + 11] != ATTR_LFN
        || !is(&slots[3 * ENTRY..], DOTDOT)
    {
        return;
    }
    slots.copy_within(ENTRY..2 * ENTRY, 0);
    slots.copy_within(3 * ENTRY..4 * ENTRY, ENTRY);
    for slot in [2, 3] {
        let deleted = &mut slots[slot * ENTRY..(slot + 1) * ENTRY];
        deleted.fill(0);
        deleted[0] = DELETED;
    }
}

enum Copy {
    Read(Error),
    Write(std::io::Error),
}

/// `io::copy`, telling a failed read of the host file from a failed write on the floppy.
fn copy(input: &mut impl Read, output: &mut impl std::io::Write, path: &Path) -> Result<(), Copy> {
    let mut buffer = [0u8; 16 * 1024];
    loop {
        let n = input
            .read(&mut buffer)
            .map_err(|e| Copy::Read(super::io_error(path)(e)))?;
        if n == 0 {
            return Ok(());
        }
        output.write_all(&buffer[..n]).map_err(Copy::Write)?;
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::super::floppy_layout;
    use super::super::tests::{Lines, source, tree};
    use super::*;

    /// Every file on a FAT image: (path, content), depth first.
    fn read_back(image: &[u8]) -> (FatType, String, Option<String>, Vec<(String, String)>) {
        let fs = FileSystem::new(Cursor::new(image.to_vec()), FsOptions::new()).unwrap();
        fn visit<T: fatfs::ReadWriteSeek>(
            dir: fatfs::Dir<'_, T>,
            prefix: &str,
            out: &mut Vec<(String, String)>,
        ) {
            for entry in dir.iter() {
                let entry = entry.unwrap();
                let name = entry.file_name();
                if name == "." || name == ".." {
                    continue;
                }
                let path = format!("{prefix}{name}");
                if entry.is_dir() {
                    out.push((format!("{path}/"), String::new()));
                    visit(entry.to_dir(), &format!("{path}/"), out);
                } else {
                    let mut content = String::new();
                    entry.to_file().read_to_string(&mut content).unwrap();
                    out.push((path, content));
                }
            }
        }
        let mut files = Vec::new();
        visit(fs.root_dir(), "", &mut files);
        (
            fs.fat_type(),
            fs.volume_label(),
            fs.read_volume_label_from_root_dir().unwrap(),
            files,
        )
    }

    #[test]
    fn a_fat12_floppy_with_the_files_flat_and_the_dirs_as_trees() {
        let dir = tree(&[
            (
                "http/preseed.cfg",
                "d-i debian-installer/locale string en_US\n",
            ),
            ("scripts/Setup Long Name.ps1", "Write-Host hi\n"),
            ("drivers/viostor/w10/viostor.inf", "[Version]\n"),
        ]);
        let base = dir.path();
        let layout = floppy_layout(
            &[source(base, "http/preseed.cfg"), source(base, "scripts")],
            &[source(base, "drivers")],
            &Lines::default(),
        )
        .unwrap();
        let image = build("packer", &layout).unwrap();
        assert_eq!(image.len(), 1_474_560);
        let (fat, label, root_label, files) = read_back(&image);
        assert_eq!(fat, FatType::Fat12);
        assert_eq!(label, "packer");
        assert_eq!(root_label.as_deref(), Some("packer"));
        let files: Vec<(&str, &str)> = files
            .iter()
            .map(|(p, c)| (p.as_str(), c.as_str()))
            .collect();
        assert_eq!(
            files,
            [
                ("preseed.cfg", "d-i debian-installer/locale string en_US\n"),
                ("Setup Long Name.ps1", "Write-Host hi\n"),
                ("drivers/", ""),
                ("drivers/viostor/", ""),
                ("drivers/viostor/w10/", ""),
                ("drivers/viostor/w10/viostor.inf", "[Version]\n"),
            ]
        );
        // The same files, the same bytes.
        assert_eq!(build("packer", &layout).unwrap(), image);
        // Every directory starts with its `.` and `..`, as fsck.fat wants.
        let volume = Volume::read(&image).unwrap();
        let dirs = ["drivers", "viostor", "w10"].len();
        let mut checked = 0;
        for cluster in 2..(image.len() - volume.data) / volume.cluster + 2 {
            let at = volume.cluster_at(cluster);
            if &image[at + ENTRY..at + ENTRY + 11] == DOTDOT {
                assert_eq!(&image[at..at + 11], DOT);
                checked += 1;
            }
        }
        assert_eq!(checked, dirs);
        fsck(&image);
    }

    /// `fsck.fat -n` finds nothing to fix, where dosfstools is installed.
    fn fsck(image: &[u8]) {
        let Ok(found) = std::process::Command::new("fsck.fat")
            .arg("--help")
            .output()
        else {
            eprintln!("fsck.fat is not installed: the image is not checked with it");
            return;
        };
        drop(found);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("floppy.img");
        std::fs::write(&path, image).unwrap();
        let out = std::process::Command::new("fsck.fat")
            .arg("-n")
            .arg(&path)
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{said}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(said.lines().count(), 2, "fsck.fat found problems:\n{said}");
    }

    #[test]
    fn what_does_not_fit_says_so() {
        let dir = tree(&[]);
        std::fs::write(dir.path().join("big.bin"), vec![7u8; FLOPPY_BYTES]).unwrap();
        let empty = Layout::new(super::super::Medium::Floppy);
        assert!(build("packer", &empty).is_ok(), "an empty floppy");
        let layout =
            floppy_layout(&[source(dir.path(), "big.bin")], &[], &Lines::default()).unwrap();
        let full = build("packer", &layout).unwrap_err();
        assert!(
            full.to_string()
                .starts_with("big.bin: the floppy is full (it holds 1.44 MB)"),
            "{full}"
        );
    }

    #[test]
    fn labels_are_what_fat_can_hold() {
        assert_eq!(volume_label("cidata").unwrap(), *b"cidata     ");
        assert_eq!(volume_label("WIN_DRIVERS").unwrap(), *b"WIN_DRIVERS");
        for bad in ["", "twelve_chars", "a/b", "é", " lead", "a.b"] {
            assert!(
                matches!(volume_label(bad), Err(Error::FloppyLabel(_))),
                "{bad:?}"
            );
        }
    }
}
