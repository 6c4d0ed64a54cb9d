//! qemu-img round trips.

use kiln_drivers::disk::Error;
use kiln_drivers::{Format, QemuImg, parse_size};

use crate::support::qemu_available;

const MIB: u64 = 1 << 20;

#[tokio::test]
async fn create_resize_info_convert_overlay() {
    if !qemu_available("create_resize_info_convert_overlay") {
        return;
    }
    let img = QemuImg::find().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let disk = dir.path().join("disk.qcow2");

    img.create(&disk, Format::Qcow2, parse_size("10M").unwrap(), &[])
        .await
        .unwrap();
    let info = img.info(&disk).await.unwrap();
    assert_eq!(
        (info.format.as_str(), info.virtual_size),
        ("qcow2", 10 * MIB)
    );

    img.resize(&disk, Format::Qcow2, 20 * MIB, &[])
        .await
        .unwrap();
    assert_eq!(img.info(&disk).await.unwrap().virtual_size, 20 * MIB);

    let raw = dir.path().join("disk.raw");
    img.convert(&disk, &raw, Format::Raw, false, &[])
        .await
        .unwrap();
    let info = img.info(&raw).await.unwrap();
    assert_eq!((info.format.as_str(), info.virtual_size), ("raw", 20 * MIB));

    // Compaction with compression, and qemu_img_args placed before the file names.
    let compact = dir.path().join("compact.qcow2");
    let extra = ["-o".to_owned(), "cluster_size=131072".to_owned()];
    img.convert(&raw, &compact, Format::Qcow2, true, &extra)
        .await
        .unwrap();
    let info = img.info(&compact).await.unwrap();
    assert_eq!(
        (info.format.as_str(), info.virtual_size),
        ("qcow2", 20 * MIB)
    );

    let overlay = dir.path().join("overlay.qcow2");
    img.create_overlay(&raw, &overlay).await.unwrap();
    let info = img.info(&overlay).await.unwrap();
    assert_eq!(info.format, "qcow2");
    assert_eq!(info.virtual_size, 20 * MIB);
    assert_eq!(info.backing_file.as_deref(), Some(raw.to_str().unwrap()));
}

#[tokio::test]
async fn failures_carry_qemu_imgs_stderr() {
    if !qemu_available("failures_carry_qemu_imgs_stderr") {
        return;
    }
    let img = QemuImg::find().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.qcow2");
    let err = img
        .resize(&missing, Format::Qcow2, MIB, &[])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Failed { .. }));
    let message = err.to_string();
    assert!(message.contains("resize -f qcow2"), "{message}");
    assert!(message.contains("Could not open"), "{message}");
    assert!(message.contains("No such file or directory"), "{message}");

    let err = QemuImg::at("/nonexistent/qemu-img")
        .info(&missing)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Spawn { .. }), "{err}");
}
