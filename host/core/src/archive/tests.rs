use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use super::*;
use crate::ui::Ui;

/// Every file and directory of the fixture has this mtime.
const MTIME: u64 = 1_600_000_000;

#[derive(Default)]
struct Recorder {
    said: Mutex<Vec<String>>,
    progress: Arc<(AtomicU64, AtomicU64)>,
}

struct Bar(Arc<(AtomicU64, AtomicU64)>);

impl Progress for Bar {
    fn advance(&self, amount: u64) {
        self.0.1.fetch_add(amount, Ordering::Relaxed);
    }
    fn finish(&self) {}
}

impl Ui for Recorder {
    fn say(&self, _: &str, text: &str) {
        self.said.lock().unwrap().push(text.to_owned());
    }
    fn message(&self, _: &str, text: &str) {
        self.said.lock().unwrap().push(text.to_owned());
    }
    fn error(&self, _: &str, _: &str) {}
    fn machine(&self, _: &str, _: &str, _: &[&str]) {}
    fn progress(&self, _: &str, _: &str, total: u64) -> Box<dyn Progress> {
        self.progress.0.store(total, Ordering::Relaxed);
        Box::new(Bar(Arc::clone(&self.progress)))
    }
    fn ask(&self, _: &str, _: &str) -> Option<String> {
        None
    }
}

fn log() -> (Arc<Recorder>, BuildLog) {
    let recorder = Arc::new(Recorder::default());
    let log = BuildLog::new(recorder.clone(), "test");
    (recorder, log)
}

/// Compressible but not trivially: text with a counter, 3 MiB so gzip uses several blocks.
fn disk_bytes() -> Vec<u8> {
    let mut data = Vec::new();
    let mut i = 0u64;
    while data.len() < 3 << 20 {
        data.extend_from_slice(
            format!("sector {i:08} {:x}\n", i.wrapping_mul(2_654_435_761)).as_bytes(),
        );
        i += 1;
    }
    data
}

fn set_mtime(path: &Path) {
    File::open(path)
        .unwrap()
        .set_modified(UNIX_EPOCH + Duration::from_secs(MTIME))
        .unwrap();
}

/// `vm/` (0750) holding `disk.img` (0644), `bin/run.sh` (0755), `secret` (0600) and
/// `latest -> disk.img`.
fn fixture(root: &Path) -> PathBuf {
    let vm = root.join("vm");
    fs::create_dir_all(vm.join("bin")).unwrap();
    fs::write(vm.join("disk.img"), disk_bytes()).unwrap();
    fs::write(vm.join("bin/run.sh"), "#!/bin/sh\necho hi\n").unwrap();
    fs::write(vm.join("secret"), "s3cret").unwrap();
    symlink("disk.img", vm.join("latest")).unwrap();
    for (path, mode) in [
        ("disk.img", 0o644),
        ("bin/run.sh", 0o755),
        ("secret", 0o600),
        ("bin", 0o755),
        ("", 0o750),
    ] {
        let path = vm.join(path);
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
    }
    for path in ["disk.img", "bin/run.sh", "secret", "bin", ""] {
        set_mtime(&vm.join(path));
    }
    vm
}

/// What a member should be: mode, and contents or link target.
#[derive(Debug, PartialEq, Eq)]
enum Member {
    File(u32, Vec<u8>),
    Dir(u32),
    Link(String),
}

fn expected_tree() -> BTreeMap<String, Member> {
    BTreeMap::from([
        ("vm".to_owned(), Member::Dir(0o750)),
        ("vm/bin".to_owned(), Member::Dir(0o755)),
        (
            "vm/bin/run.sh".to_owned(),
            Member::File(0o755, b"#!/bin/sh\necho hi\n".to_vec()),
        ),
        ("vm/disk.img".to_owned(), Member::File(0o644, disk_bytes())),
        ("vm/latest".to_owned(), Member::Link("disk.img".to_owned())),
        (
            "vm/secret".to_owned(),
            Member::File(0o600, b"s3cret".to_vec()),
        ),
    ])
}

fn request(
    entries: Vec<(PathBuf, &str)>,
    output: PathBuf,
    format: ArchiveFormat,
) -> ArchiveRequest {
    ArchiveRequest {
        entries: entries
            .into_iter()
            .map(|(p, n)| (p, n.to_owned()))
            .collect(),
        output,
        format,
        level: None,
    }
}

fn read_tar(reader: impl Read) -> BTreeMap<String, Member> {
    let mut archive = tar::Archive::new(reader);
    let mut members = BTreeMap::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let header = entry.header().clone();
        let name = entry
            .path()
            .unwrap()
            .to_string_lossy()
            .trim_end_matches('/')
            .to_owned();
        let mode = header.mode().unwrap();
        let member = match header.entry_type() {
            tar::EntryType::Directory => Member::Dir(mode),
            tar::EntryType::Symlink => Member::Link(
                header
                    .link_name()
                    .unwrap()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
            ),
            _ => {
                let mut data = Vec::new();
                entry.read_to_end(&mut data).unwrap();
                Member::File(mode, data)
            }
        };
        if !matches!(member, Member::Link(_)) {
            assert_eq!(header.mtime().unwrap(), MTIME, "mtime of {name}");
        }
        members.insert(name, member);
    }
    members
}

fn read_zip(path: &Path) -> BTreeMap<String, Member> {
    let mut archive = zip::ZipArchive::new(File::open(path).unwrap()).unwrap();
    let mut members = BTreeMap::new();
    for i in 0..archive.len() {
        let mut file = archive.by_index(i).unwrap();
        let name = file.name().unwrap().trim_end_matches('/').to_owned();
        let mode = file.unix_mode().unwrap() & 0o7777;
        let mut data = Vec::new();
        file.read_to_end(&mut data).unwrap();
        let member = if file.is_symlink() {
            Member::Link(String::from_utf8(data).unwrap())
        } else if file.is_dir() {
            Member::Dir(mode)
        } else {
            Member::File(mode, data)
        };
        if !matches!(member, Member::Link(_)) {
            let t = file.last_modified().unwrap();
            // 2020-09-13 12:26:40 UTC
            assert_eq!(
                (
                    t.year(),
                    t.month(),
                    t.day(),
                    t.hour(),
                    t.minute(),
                    t.second()
                ),
                (2020, 9, 13, 12, 26, 40),
                "mtime of {name}"
            );
        }
        members.insert(name, member);
    }
    members
}

fn decompressed(format: ArchiveFormat, path: &Path) -> Box<dyn Read> {
    let file = File::open(path).unwrap();
    match format.codec() {
        Codec::Plain => Box::new(file),
        Codec::Gzip => Box::new(flate2::read::MultiGzDecoder::new(file)),
        Codec::Zstd => Box::new(zstd::stream::read::Decoder::new(file).unwrap()),
        Codec::Xz => Box::new(liblzma::read::XzDecoder::new(file)),
    }
}

#[test]
fn every_archive_format_round_trips_a_tree_with_modes_mtimes_and_a_symlink() {
    let dir = tempfile::tempdir().unwrap();
    let vm = fixture(dir.path());
    for (format, extension) in [
        (ArchiveFormat::Tar, "tar"),
        (ArchiveFormat::TarGz, "tar.gz"),
        (ArchiveFormat::TarZst, "tar.zst"),
        (ArchiveFormat::TarXz, "tar.xz"),
        (ArchiveFormat::Zip, "zip"),
    ] {
        let output = dir.path().join(format!("out/vm.{extension}"));
        let (recorder, log) = log();
        let written = create(
            &request(vec![(vm.clone(), "vm")], output.clone(), format),
            &log,
        )
        .unwrap_or_else(|e| panic!("{extension}: {e}"));
        assert_eq!(written, fs::metadata(&output).unwrap().len(), "{extension}");
        let members = if format == ArchiveFormat::Zip {
            read_zip(&output)
        } else {
            read_tar(decompressed(format, &output))
        };
        assert_eq!(members, expected_tree(), "{extension}");
        let total = (3 << 20) as u64;
        let progress = &recorder.progress;
        assert!(
            progress.0.load(Ordering::Relaxed) > total,
            "{extension}: progress total"
        );
        assert_eq!(
            progress.0.load(Ordering::Relaxed),
            progress.1.load(Ordering::Relaxed),
            "{extension}: progress advanced by every byte read"
        );
        let said = recorder.said.lock().unwrap();
        assert_eq!(
            said.last().unwrap(),
            &format!("Archive {} completed", output.display())
        );
    }
}

#[test]
fn every_single_file_format_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let disk = dir.path().join("disk.img");
    fs::write(&disk, disk_bytes()).unwrap();
    for (format, extension) in [
        (ArchiveFormat::Gz, "gz"),
        (ArchiveFormat::Zst, "zst"),
        (ArchiveFormat::Xz, "xz"),
    ] {
        let output = dir.path().join(format!("disk.img.{extension}"));
        let (_, log) = log();
        create(
            &request(vec![(disk.clone(), "disk.img")], output.clone(), format),
            &log,
        )
        .unwrap_or_else(|e| panic!("{extension}: {e}"));
        let mut data = Vec::new();
        decompressed(format, &output)
            .read_to_end(&mut data)
            .unwrap();
        assert!(data == disk_bytes(), "{extension}: contents differ");
    }
}

#[test]
fn gzip_says_what_it_does_as_packer_does() {
    let dir = tempfile::tempdir().unwrap();
    let vm = fixture(dir.path());
    let output = dir.path().join("out/x.tar.gz");
    let (recorder, log) = log();
    create(
        &request(vec![(vm, "vm")], output.clone(), ArchiveFormat::TarGz),
        &log,
    )
    .unwrap();
    let threads = std::thread::available_parallelism().unwrap();
    let out = output.display();
    assert_eq!(
        *recorder.said.lock().unwrap(),
        [
            format!("Using pgzip compression with {threads} cores for {out}"),
            format!("Tarring {out} with gzip"),
            format!("Archive {out} completed"),
        ]
    );
}

/// Whether `tool` is installed: it answers `probe` (`--version`, or `-v` for unzip).
fn have(tool: &str, probe: &str) -> bool {
    Command::new(tool)
        .arg(probe)
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn system_tar_and_gzip_read_what_we_write() {
    if !have("tar", "--version") || !have("gzip", "--version") {
        eprintln!("skipped: needs tar and gzip");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let vm = fixture(dir.path());
    let (_, log) = log();

    let tgz = dir.path().join("vm.tar.gz");
    create(
        &request(vec![(vm.clone(), "vm")], tgz.clone(), ArchiveFormat::TarGz),
        &log,
    )
    .unwrap();
    let unpacked = dir.path().join("unpacked");
    fs::create_dir(&unpacked).unwrap();
    let status = Command::new("tar")
        .arg("xzf")
        .arg(&tgz)
        .arg("-C")
        .arg(&unpacked)
        .status()
        .unwrap();
    assert!(status.success(), "tar xzf failed");
    let root = unpacked.join("vm");
    assert!(fs::read(root.join("disk.img")).unwrap() == disk_bytes());
    assert_eq!(
        fs::metadata(root.join("bin/run.sh")).unwrap().mode() & 0o7777,
        0o755
    );
    assert_eq!(
        fs::metadata(root.join("secret")).unwrap().mode() & 0o7777,
        0o600
    );
    assert_eq!(
        fs::metadata(root.join("disk.img")).unwrap().mtime(),
        MTIME as i64
    );
    assert_eq!(
        fs::read_link(root.join("latest")).unwrap(),
        Path::new("disk.img")
    );

    let gz = dir.path().join("disk.img.gz");
    create(
        &request(
            vec![(vm.join("disk.img"), "disk.img")],
            gz.clone(),
            ArchiveFormat::Gz,
        ),
        &log,
    )
    .unwrap();
    let out = Command::new("gzip").arg("-dc").arg(&gz).output().unwrap();
    assert!(out.status.success(), "gzip -dc failed");
    assert!(out.stdout == disk_bytes(), "gzip -dc gave other bytes");
}

#[test]
fn system_xz_zstd_and_unzip_read_what_we_write() {
    let dir = tempfile::tempdir().unwrap();
    let vm = fixture(dir.path());
    let (_, log) = log();
    for (tool, probe, args, format) in [
        ("xz", "--version", &["-dc"][..], ArchiveFormat::Xz),
        ("zstd", "--version", &["-dc"][..], ArchiveFormat::Zst),
        ("unzip", "-v", &["-p"][..], ArchiveFormat::Zip),
    ] {
        if !have(tool, probe) {
            eprintln!("skipped {tool}: not installed");
            continue;
        }
        let output = dir.path().join(format!("disk.{}", format.name()));
        create(
            &request(
                vec![(vm.join("disk.img"), "disk.img")],
                output.clone(),
                format,
            ),
            &log,
        )
        .unwrap();
        let out = Command::new(tool).args(args).arg(&output).output().unwrap();
        assert!(
            out.status.success(),
            "{tool} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.stdout == disk_bytes(), "{tool} gave other bytes");
    }
}

#[test]
fn a_single_file_format_refuses_two_entries_or_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let vm = fixture(dir.path());
    let (_, log) = log();
    let output = dir.path().join("x.gz");
    let two = request(
        vec![(vm.join("disk.img"), "a"), (vm.join("secret"), "b")],
        output.clone(),
        ArchiveFormat::Gz,
    );
    let err = create(&two, &log).unwrap_err().to_string();
    assert!(
        err.contains("gz compresses a single file, but 2 entries were given")
            && err.contains("tar.gz"),
        "{err}"
    );
    let a_dir = request(vec![(vm, "vm")], output.clone(), ArchiveFormat::Zst);
    let err = create(&a_dir, &log).unwrap_err().to_string();
    assert!(
        err.contains("is not a file; use tar.zst for a directory"),
        "{err}"
    );
    assert!(!output.exists());
}

#[test]
fn a_level_out_of_range_names_the_range() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("f");
    fs::write(&file, "x").unwrap();
    let (_, log) = log();
    for (format, level, range) in [
        (
            ArchiveFormat::TarGz,
            10,
            "gzip compression level 10 is out of range: allowed 0–9",
        ),
        (
            ArchiveFormat::Zst,
            0,
            "zstd compression level 0 is out of range: allowed 1–22",
        ),
        (
            ArchiveFormat::TarZst,
            23,
            "zstd compression level 23 is out of range: allowed 1–22",
        ),
        (
            ArchiveFormat::Xz,
            10,
            "xz compression level 10 is out of range: allowed 0–9",
        ),
        (
            ArchiveFormat::Zip,
            12,
            "zip compression level 12 is out of range: allowed 0–9",
        ),
    ] {
        let mut req = request(vec![(file.clone(), "f")], dir.path().join("out"), format);
        req.level = Some(level);
        assert_eq!(create(&req, &log).unwrap_err().to_string(), range);
    }
}

#[test]
fn levels_at_the_ends_of_each_range_work() {
    let dir = tempfile::tempdir().unwrap();
    let disk = dir.path().join("disk.img");
    fs::write(&disk, disk_bytes()).unwrap();
    let (_, log) = log();
    for (format, level) in [
        (ArchiveFormat::Gz, 0),
        (ArchiveFormat::Gz, 9),
        (ArchiveFormat::Zst, 1),
        (ArchiveFormat::Xz, 0),
        (ArchiveFormat::Zip, 0),
        (ArchiveFormat::Zip, 9),
    ] {
        let output = dir.path().join(format!("l{level}.{}", format.name()));
        let mut req = request(vec![(disk.clone(), "disk.img")], output.clone(), format);
        req.level = Some(level);
        create(&req, &log).unwrap_or_else(|e| panic!("{format:?} {level}: {e}"));
        let data = if format == ArchiveFormat::Zip {
            match read_zip_file(&output) {
                Member::File(_, data) => data,
                other => panic!("{other:?}"),
            }
        } else {
            let mut data = Vec::new();
            decompressed(format, &output)
                .read_to_end(&mut data)
                .unwrap();
            data
        };
        assert!(data == disk_bytes(), "{format:?} level {level}");
    }
}

fn read_zip_file(path: &Path) -> Member {
    let mut archive = zip::ZipArchive::new(File::open(path).unwrap()).unwrap();
    let mut file = archive.by_index(0).unwrap();
    let mut data = Vec::new();
    file.read_to_end(&mut data).unwrap();
    Member::File(file.unix_mode().unwrap() & 0o7777, data)
}

#[test]
fn a_failure_leaves_no_output_and_keeps_an_earlier_one() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;

    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    fs::create_dir(&tree).unwrap();
    fs::write(tree.join("a"), disk_bytes()).unwrap();
    // Zip stores link targets as UTF-8: this one fails after `a` is written.
    symlink(OsStr::from_bytes(b"\xff"), tree.join("b")).unwrap();
    let out_dir = dir.path().join("out");
    fs::create_dir(&out_dir).unwrap();
    let output = out_dir.join("tree.zip");
    fs::write(&output, "earlier").unwrap();

    let (_, log) = log();
    let err = create(
        &request(vec![(tree, "tree")], output.clone(), ArchiveFormat::Zip),
        &log,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("symlink's target is not UTF-8"), "{err}");
    assert_eq!(fs::read_to_string(&output).unwrap(), "earlier");
    let left: Vec<_> = fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        left,
        [OsStr::new("tree.zip")],
        "a partial file was left behind"
    );
}

#[test]
fn a_missing_entry_fails_before_anything_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("out/x.tar");
    let (_, log) = log();
    let err = create(
        &request(
            vec![(dir.path().join("nope"), "nope")],
            output.clone(),
            ArchiveFormat::Tar,
        ),
        &log,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("cannot archive") && err.contains("nope"),
        "{err}"
    );
    assert!(!dir.path().join("out").exists());
}

#[test]
fn a_directory_named_dot_is_unpacked_at_the_root() {
    let dir = tempfile::tempdir().unwrap();
    let vm = fixture(dir.path());
    let output = dir.path().join("box.tar");
    let (_, log) = log();
    create(
        &request(vec![(vm, ".")], output.clone(), ArchiveFormat::Tar),
        &log,
    )
    .unwrap();
    let names: Vec<String> = read_tar(File::open(&output).unwrap()).into_keys().collect();
    assert_eq!(names, ["bin", "bin/run.sh", "disk.img", "latest", "secret"]);
}
