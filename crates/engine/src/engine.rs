//! The engine's state: paths, the image store and the containers, shared by every handler.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use tokio::sync::watch;

use crate::containers::record::{ContainerRecord, Status};
use crate::error::ApiError;
use crate::images::ImageStore;

/// What waiters watch on a container.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lifecycle {
    /// Exits seen since the engine knew the container.
    pub exits: u64,
    /// Exit code of the last exit.
    pub exit_code: i64,
    /// Whether it runs now.
    pub running: bool,
    /// Whether it has been removed.
    pub removed: bool,
}

/// One container known to the engine.
#[derive(Debug)]
pub struct Container {
    /// Its id.
    pub id: String,
    record: Mutex<ContainerRecord>,
    /// Changes of [`Lifecycle`].
    pub lifecycle: watch::Sender<Lifecycle>,
    /// The shim, while it is our child (not after an engine restart).
    pub shim: Mutex<Option<Child>>,
    /// Serialises start, stop and remove.
    pub operation: tokio::sync::Mutex<()>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Container {
    /// Wraps a record.
    pub fn new(record: ContainerRecord) -> Self {
        let running = record.state.status == Status::Running;
        let lifecycle = Lifecycle {
            exit_code: record.state.exit_code,
            running,
            ..Lifecycle::default()
        };
        Self {
            id: record.id.clone(),
            record: Mutex::new(record),
            lifecycle: watch::Sender::new(lifecycle),
            shim: Mutex::new(None),
            operation: tokio::sync::Mutex::new(()),
        }
    }

    /// A copy of the record.
    pub fn snapshot(&self) -> ContainerRecord {
        lock(&self.record).clone()
    }

    /// Changes the record with `change`.
    pub fn update<R>(&self, change: impl FnOnce(&mut ContainerRecord) -> R) -> R {
        change(&mut lock(&self.record))
    }
}

/// Paths and settings the engine starts with.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Persistent state: images, containers, logs.
    pub data_root: PathBuf,
    /// Runtime state: shim and runtime state, bundles.
    pub exec_root: PathBuf,
    /// The binary to start as `ros-shim`.
    pub shim_exe: PathBuf,
}

/// The engine.
#[derive(Debug)]
pub struct Engine {
    /// Settings.
    pub config: EngineConfig,
    /// Mounts.
    pub kernel: Arc<dyn ros_sys::Kernel>,
    /// Images.
    pub images: Mutex<ImageStore>,
    /// Tells when shims end.
    pub pids: crate::pidwatch::PidWatcher,
    containers: RwLock<HashMap<String, Arc<Container>>>,
}

impl Engine {
    /// Opens the stores under the configured roots.
    pub fn open(config: EngineConfig, kernel: Arc<dyn ros_sys::Kernel>) -> std::io::Result<Self> {
        std::fs::create_dir_all(config.data_root.join("containers"))?;
        std::fs::create_dir_all(config.data_root.join("tmp"))?;
        std::fs::create_dir_all(config.exec_root.join("containers"))?;
        std::fs::create_dir_all(config.exec_root.join("runtime"))?;
        let images = ImageStore::open(&config.data_root)?;
        Ok(Self {
            config,
            kernel,
            images: Mutex::new(images),
            pids: crate::pidwatch::PidWatcher::start()?,
            containers: RwLock::new(HashMap::new()),
        })
    }

    /// The image store, locked.
    pub fn images(&self) -> MutexGuard<'_, ImageStore> {
        lock(&self.images)
    }

    /// Persistent directory of container `id`.
    pub fn container_dir(&self, id: &str) -> PathBuf {
        self.config.data_root.join("containers").join(id)
    }

    /// Runtime directory of container `id`.
    pub fn container_run_dir(&self, id: &str) -> PathBuf {
        self.config.exec_root.join("containers").join(id)
    }

    /// The json-file log of container `id`.
    pub fn log_path(&self, id: &str) -> PathBuf {
        self.container_dir(id).join(format!("{id}-json.log"))
    }

    /// Writes the record of `container` to disk.
    pub fn persist(&self, container: &Container) -> Result<(), ApiError> {
        let record = container.snapshot();
        record
            .write(&self.container_dir(&record.id).join("container.json"))
            .map_err(|e| ApiError::internal(format!("saving container {}: {e}", record.id)))
    }

    /// Every container.
    pub fn all(&self) -> Vec<Arc<Container>> {
        let map = self
            .containers
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.values().cloned().collect()
    }

    /// Registers a container.
    pub fn add(&self, container: Arc<Container>) {
        let mut map = self
            .containers
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.insert(container.id.clone(), container);
    }

    /// Forgets a container.
    pub fn forget(&self, id: &str) {
        let mut map = self
            .containers
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.remove(id);
    }

    /// Finds a container by full id, name (with or without `/`) or unique id prefix.
    pub fn find(&self, name: &str) -> Result<Arc<Container>, ApiError> {
        let missing = || ApiError::not_found(format!("No such container: {name}"));
        if name.is_empty() {
            return Err(missing());
        }
        let map = self
            .containers
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(c) = map.get(name) {
            return Ok(c.clone());
        }
        let bare = name.strip_prefix('/').unwrap_or(name);
        if let Some(c) = map.values().find(|c| c.snapshot().name == bare) {
            return Ok(c.clone());
        }
        let mut prefixed = map.values().filter(|c| c.id.starts_with(name));
        match (prefixed.next(), prefixed.next()) {
            (Some(c), None) => Ok(c.clone()),
            (Some(_), Some(_)) => Err(ApiError::not_found(format!(
                "multiple containers found with provided prefix: {name}"
            ))),
            _ => Err(missing()),
        }
    }

    /// The container using `name` as its name, if any.
    pub fn name_owner(&self, name: &str) -> Option<String> {
        self.all()
            .into_iter()
            .find(|c| c.snapshot().name == name)
            .map(|c| c.id.clone())
    }

    /// Ids of the images containers use.
    pub fn images_in_use(&self) -> HashSet<String> {
        self.all().iter().map(|c| c.snapshot().image_id).collect()
    }

    /// A scratch directory on the data root's file system, removed when dropped.
    pub fn scratch(&self) -> std::io::Result<Scratch> {
        let path = self
            .config
            .data_root
            .join("tmp")
            .join(crate::ids::random_id());
        std::fs::create_dir_all(&path)?;
        Ok(Scratch(path))
    }
}

/// A temporary directory under the data root.
#[derive(Debug)]
pub struct Scratch(PathBuf);

impl Scratch {
    /// Its path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        drop(std::fs::remove_dir_all(&self.0));
    }
}
