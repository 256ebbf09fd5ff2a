use std::collections::HashSet;
use std::fs;

use super::*;
use crate::testing::{docker_save_archive, layer_tar};

fn store() -> (tempfile::TempDir, ImageStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = ImageStore::open(dir.path()).unwrap();
    (dir, store)
}

fn scratch(dir: &tempfile::TempDir, name: &str) -> std::path::PathBuf {
    let path = dir.path().join(name);
    fs::create_dir_all(&path).unwrap();
    path
}

fn sample() -> Vec<u8> {
    let base = layer_tar(&[("bin/", 0o755, None), ("bin/hello", 0o755, Some(b"hi"))]);
    let top = layer_tar(&[("etc/", 0o755, None), ("etc/motd", 0o644, Some(b"motd"))]);
    docker_save_archive("test/sample:1", &[base, top], &["/bin/hello"])
}

#[test]
fn load_unpacks_layers_and_names_the_image() {
    let (dir, mut store) = store();
    let lines = load(&mut store, &sample()[..], &scratch(&dir, "s1")).unwrap();
    assert_eq!(lines, ["Loaded image: test/sample:1"]);
    let image = store.resolve("test/sample:1").unwrap().clone();
    assert_eq!(store.resolve(&image.id[7..19]).unwrap().id, image.id);
    let lowers = store.lower_dirs(&image);
    assert_eq!(fs::read(lowers[0].join("etc/motd")).unwrap(), b"motd");
    assert_eq!(fs::read(lowers[1].join("bin/hello")).unwrap(), b"hi");
    let config = store.config(&image).unwrap();
    assert_eq!(
        config.config.unwrap().cmd.unwrap(),
        ["/bin/hello".to_owned()]
    );
    // Reopening reads the same index back.
    let again = ImageStore::open(dir.path()).unwrap();
    assert_eq!(again.list(), store.list());
}

#[test]
fn saved_archives_load_back_to_the_same_image() {
    let (dir, mut store) = store();
    load(&mut store, &sample()[..], &scratch(&dir, "s1")).unwrap();
    let image = store.resolve("test/sample:1").unwrap().clone();
    let mut archive = Vec::new();
    save(
        &store,
        &[(image.clone(), image.repo_tags.clone())],
        &mut archive,
    )
    .unwrap();

    let (dir2, mut fresh) = self::store();
    let lines = load(&mut fresh, &archive[..], &scratch(&dir2, "s")).unwrap();
    assert_eq!(lines, ["Loaded image: test/sample:1"]);
    assert_eq!(fresh.resolve("test/sample:1").unwrap().id, image.id);

    // The same archive read as an OCI layout (no manifest.json) gives the same image too.
    let mut oci = tar::Builder::new(Vec::new());
    let mut read = tar::Archive::new(&archive[..]);
    for entry in read.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.path().unwrap().to_str() == Some("manifest.json") {
            continue;
        }
        let mut header = entry.header().clone();
        let path = entry.path().unwrap().into_owned();
        oci.append_data(&mut header, path, &mut entry).unwrap();
    }
    let oci = oci.into_inner().unwrap();
    let (dir3, mut third) = self::store();
    load(&mut third, &oci[..], &scratch(&dir3, "s")).unwrap();
    assert_eq!(third.resolve("test/sample:1").unwrap().id, image.id);
}

#[test]
fn images_sharing_a_layer_load_from_one_archive() {
    let (dir, mut store) = store();
    load(&mut store, &sample()[..], &scratch(&dir, "s1")).unwrap();
    let base = layer_tar(&[("bin/", 0o755, None), ("bin/hello", 0o755, Some(b"hi"))]);
    let other = layer_tar(&[("etc/", 0o755, None), ("etc/other", 0o644, Some(b"x"))]);
    let second = docker_save_archive("test/other:1", &[base, other], &["/bin/hello"]);
    load(&mut store, &second[..], &scratch(&dir, "s2")).unwrap();
    let images: Vec<_> = ["test/sample:1", "test/other:1"]
        .iter()
        .map(|r| {
            let image = store.resolve(r).unwrap().clone();
            let tags = image.repo_tags.clone();
            (image, tags)
        })
        .collect();
    let mut archive = Vec::new();
    save(&store, &images, &mut archive).unwrap();

    let (dir2, mut fresh) = self::store();
    let lines = load(&mut fresh, &archive[..], &scratch(&dir2, "s")).unwrap();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(fresh.resolve("test/sample:1").is_ok());
    assert!(fresh.resolve("test/other:1").is_ok());
}

#[test]
fn compressed_archives_load() {
    let (dir, mut store) = store();
    let zst = zstd::encode_all(&sample()[..], 3).unwrap();
    load(&mut store, &zst[..], &scratch(&dir, "s")).unwrap();
    assert!(store.resolve("test/sample:1").is_ok());
}

#[test]
fn malformed_archives_are_bad_requests_naming_the_problem() {
    let base = layer_tar(&[("a", 0o644, Some(b"a"))]);
    let truncated = sample()[..700].to_vec();
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"garbage".repeat(100), "reading the archive"),
        (
            layer_tar(&[("x", 0o644, Some(b"x"))]),
            "neither manifest.json",
        ),
        (truncated, "archive"),
        (
            {
                let other = layer_tar(&[("b", 0o644, Some(b"b"))]);
                let good = docker_save_archive("x/y", std::slice::from_ref(&base), &["a"]);
                let bad = docker_save_archive("x/y", &[other], &["a"]);
                // Splice: keep the good config and manifest, swap in the other layer.
                let mut spliced = tar::Builder::new(Vec::new());
                for (source, take_layer) in [(&good, false), (&bad, true)] {
                    let mut read = tar::Archive::new(&source[..]);
                    for entry in read.entries().unwrap() {
                        let mut entry = entry.unwrap();
                        let path = entry.path().unwrap().into_owned();
                        let is_layer = path.ends_with("layer.tar");
                        if is_layer == take_layer {
                            let mut header = entry.header().clone();
                            spliced.append_data(&mut header, path, &mut entry).unwrap();
                        }
                    }
                }
                spliced.into_inner().unwrap()
            },
            "but the config says",
        ),
    ];
    for (i, (archive, expect)) in cases.into_iter().enumerate() {
        let (dir, mut store) = store();
        let err = load(&mut store, &archive[..], &scratch(&dir, &format!("s{i}"))).unwrap_err();
        assert_eq!(
            err.status,
            axum::http::StatusCode::BAD_REQUEST,
            "{}",
            err.message
        );
        assert!(err.message.contains(expect), "case {i}: {}", err.message);
        assert!(store.list().is_empty());
    }
}

#[test]
fn rmi_untags_first_and_refuses_images_in_use() {
    let (dir, mut store) = store();
    load(&mut store, &sample()[..], &scratch(&dir, "s")).unwrap();
    let id = store.resolve("test/sample:1").unwrap().id.clone();
    store
        .tag(&id, &Reference::parse("other:2").unwrap())
        .unwrap();
    let report = store.remove("other:2", false, &HashSet::new()).unwrap();
    assert_eq!(report, [("Untagged".to_owned(), "other:2".to_owned())]);
    let in_use: HashSet<String> = [id.clone()].into();
    let err = store.remove(&id, false, &in_use).unwrap_err();
    assert_eq!(err.status, axum::http::StatusCode::CONFLICT);
    let image = store.resolve(&id).unwrap().clone();
    let report = store.remove(&id, true, &in_use).unwrap();
    assert_eq!(report.last().unwrap().0, "Deleted");
    assert!(!store.blob_path(&id).exists());
    assert!(!store.snapshot_dir(&image.layers[0].chain_id).exists());
}
