//! Loading an application: the wasmtime engine (pooling allocator, epoch
//! interruption), compiled components cached on disk, one pre-instantiation per
//! component, key-value stores opened, variables resolved, files staged.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};
use wasmtime_wasi_http::p2::bindings::ProxyPre;

use crate::files::Mount;
use crate::kv::{FaultSettings, SqliteDb, Store, StoreFaults, Stores};
use crate::manifest::{Manifest, TriggerRoute};
use crate::outbound::{BlockedNetworks, OutboundPolicy};
use crate::router::{RoutePattern, Router};
use crate::runtime_config::StoreConfig;
use crate::state::{ComponentEnv, State};
use crate::stdio::{ComponentOutput, STDERR_SUFFIX, STDOUT_SUFFIX, StdioOptions};

/// Settings of the host that shape how an application is loaded.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Path of `spin.toml`.
    pub manifest: PathBuf,
    /// Where the default SQLite store and staged files live.
    pub state_dir: PathBuf,
    /// Optional Spin runtime-config file.
    pub runtime_config: Option<PathBuf>,
    /// Where compiled components are cached.
    pub cache_dir: PathBuf,
    /// Memory cap per instance, in bytes.
    pub max_memory: usize,
    /// Instances that may run at once.
    pub max_instances: u32,
    /// Application variables given on the command line (`--variable`),
    /// by name; they win over `SPIN_VARIABLE_<NAME>`, as in Spin.
    pub variables: BTreeMap<String, String>,
    /// TESTS ONLY: fail some guest key-value calls on purpose
    /// (`--simulate-store-faults`); `None` (the default) fails none.
    pub simulate_store_faults: Option<FaultSettings>,
    /// BENCHMARKS ONLY: every guest key-value call waits this long
    /// (`--simulate-store-latency-ms`); `None` (the default) none.
    pub simulate_store_latency: Option<std::time::Duration>,
    /// Where the components' stdout and stderr go (`--log-dir`, `--follow`,
    /// `--quiet`, `--truncate-logs`).
    pub stdio: StdioOptions,
}

/// One component ready to serve.
pub struct LoadedComponent {
    /// Component id.
    pub id: String,
    /// Pre-instantiated proxy.
    pub pre: ProxyPre<State>,
    /// Permissions and variables.
    pub env: Arc<ComponentEnv>,
    /// Mounted directories.
    pub mounts: Vec<Mount>,
    /// Environment variables.
    pub environment: Vec<(String, String)>,
    /// The guest's stdout: its log file and, when followed, the host's stderr.
    pub stdout: ComponentOutput,
    /// The guest's stderr, likewise.
    pub stderr: ComponentOutput,
}

/// A loaded application.
pub struct App {
    /// The engine every component was compiled with.
    pub engine: Engine,
    /// Application name.
    pub name: String,
    /// Routes; each route's index points into `targets`.
    pub router: Router,
    /// For each route, the index of its component in `components`.
    pub targets: Vec<usize>,
    /// Components that some trigger uses.
    pub components: Vec<LoadedComponent>,
    /// Key-value stores.
    pub stores: Arc<Stores>,
    /// How many components came from the compile cache (for start-up reports).
    pub cache_hits: usize,
}

/// Bytes of each pooled linear memory kept resident between instances.
const KEEP_RESIDENT: usize = 16 << 20;

/// Build the engine: async, epoch interruption, pooling allocator when the
/// address space allows it (falling back to on-demand allocation).
pub fn engine(max_memory: usize, max_instances: u32) -> Result<Engine> {
    let mut config = Config::new();
    config.epoch_interruption(true);
    config.wasm_component_model(true);
    // `TICKETSHARE_PROFILE=perfmap`: name the compiled guest functions in
    // /tmp/perf-<pid>.map, so `perf report` shows guest code by name.
    if std::env::var("TICKETSHARE_PROFILE").is_ok_and(|v| v == "perfmap") {
        config.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    let mut pooling = PoolingAllocationConfig::default();
    pooling
        .total_component_instances(max_instances)
        .total_core_instances(max_instances * 8)
        .total_memories(max_instances * 2)
        .total_tables(max_instances * 8)
        .max_memory_size(max_memory)
        .max_core_instances_per_component(64)
        .max_memories_per_component(8)
        .max_tables_per_component(32)
        // A finished instance's memory is reset in place: the pages it
        // dirtied (found with PAGEMAP_SCAN where the kernel has it) are
        // rewritten, rather than `madvise`d away, which costs a TLB
        // shootdown across cores on every request and page faults on the
        // next one. Beyond these sizes the rest is still decommitted.
        .pagemap_scan(wasmtime::Enabled::Auto)
        .linear_memory_keep_resident(KEEP_RESIDENT)
        .table_keep_resident(KEEP_RESIDENT / 16);
    let mut pooled = config.clone();
    pooled.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling));
    match Engine::new(&pooled) {
        Ok(e) => Ok(e),
        Err(err) => {
            tracing::warn!("pooling allocator unavailable ({err:#}); using on-demand allocation");
            Engine::new(&config).map_err(Into::into)
        }
    }
}

/// Compile a component, or load it from the cache keyed by the wasm's hash and
/// the engine's compatibility hash. Returns whether the cache was used.
pub fn compile_cached(engine: &Engine, wasm: &[u8], cache_dir: &Path) -> Result<(Component, bool)> {
    let mut h = Sha256::new();
    h.update(wasm);
    let mut compat = std::collections::hash_map::DefaultHasher::new();
    std::hash::Hash::hash(&engine.precompile_compatibility_hash(), &mut compat);
    h.update(std::hash::Hasher::finish(&compat).to_le_bytes());
    let key: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    let path = cache_dir.join(format!("{key}.cwasm"));
    if path.exists() {
        // SAFETY: the file was written by `Component::serialize` of an engine
        // with the same compatibility hash, into a cache directory only this
        // host writes; a corrupt or foreign file fails the header checks, and
        // then we recompile.
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(c) => return Ok((c, true)),
            Err(e) => tracing::warn!(
                "ignoring unusable compile cache entry {}: {e:#}",
                path.display()
            ),
        }
    }
    // The first start compiles every component, which takes seconds: say
    // so once, as Spin does, rather than stay silent.
    static PREPARING: std::sync::Once = std::sync::Once::new();
    PREPARING.call_once(|| crate::logs::note("Preparing Wasm modules prior to execution..."));
    tracing::debug!("compiling {} bytes of Wasm", wasm.len());
    let component = Component::new(engine, wasm)?;
    if let Ok(bytes) = component.serialize() {
        let _ = std::fs::create_dir_all(cache_dir);
        let tmp = cache_dir.join(format!("{key}.{}.tmp", std::process::id()));
        if std::fs::write(&tmp, bytes).is_ok() {
            let _ = std::fs::rename(&tmp, &path);
        }
    }
    Ok((component, false))
}

impl App {
    /// Load the application described by `opts`.
    pub async fn load(
        opts: &LoadOptions,
        env_lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self> {
        let manifest = Manifest::load(&opts.manifest)?;
        for w in &manifest.warnings {
            tracing::warn!("{w}");
        }
        for name in opts.variables.keys() {
            if !manifest.variables.contains_key(name) {
                tracing::warn!("--variable {name}: the application declares no variable `{name}`");
            }
        }
        opts.stdio
            .follow
            .check(manifest.components.keys().map(String::as_str))?;
        opts.stdio.prepare()?;
        // `--variable name=…` answers the lookup of SPIN_VARIABLE_NAME.
        let lookup = |key: &str| {
            key.strip_prefix("SPIN_VARIABLE_")
                .and_then(|name| opts.variables.get(&name.to_ascii_lowercase()).cloned())
                .or_else(|| env_lookup(key))
        };
        let app_vars = crate::variables::resolve_app_variables(&manifest.variables, lookup)?;
        let runtime_config =
            crate::runtime_config::load(opts.runtime_config.as_deref(), &opts.state_dir)?;
        let mut stores = open_stores(&runtime_config.stores).await?;
        if let Some(f) = opts.simulate_store_faults.filter(|f| f.rate > 0.0) {
            stores.simulate_faults(Arc::new(StoreFaults::new(f)));
        }
        if let Some(latency) = opts.simulate_store_latency {
            stores.simulate_latency(latency);
        }
        if runtime_config.blocked_networks.is_empty() {
            tracing::warn!(
                "no [outbound_networking] block_networks in the runtime config: outbound requests may reach private networks (runtime-config/default.toml blocks them)"
            );
        }
        let blocked_networks = Arc::new(runtime_config.blocked_networks);

        let engine = engine(opts.max_memory, opts.max_instances)?;
        let mut linker: Linker<State> = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        crate::state::add_to_linker(&mut linker)?;

        let mut components = Vec::new();
        let mut index_of: BTreeMap<String, usize> = BTreeMap::new();
        let mut routes = Vec::new();
        let mut targets = Vec::new();
        let mut cache_hits = 0;
        for trigger in &manifest.http_triggers {
            let idx = match index_of.get(&trigger.component) {
                Some(i) => *i,
                None => {
                    let c = &manifest.components[&trigger.component];
                    let (loaded, hit) = load_component(
                        &engine,
                        &linker,
                        &manifest,
                        c,
                        &app_vars,
                        &stores,
                        &blocked_networks,
                        opts,
                    )
                    .with_context(|| format!("component `{}`", c.id))?;
                    cache_hits += hit as usize;
                    components.push(loaded);
                    index_of.insert(trigger.component.clone(), components.len() - 1);
                    components.len() - 1
                }
            };
            if let TriggerRoute::Public(p) = &trigger.route {
                routes.push(p.clone());
                targets.push(idx);
            }
        }
        Ok(App {
            engine,
            name: manifest.application.name.clone(),
            router: Router::new(routes),
            targets,
            components,
            stores: Arc::new(stores),
            cache_hits,
        })
    }

    /// The pattern of route `i`.
    pub fn route_pattern(&self, i: usize) -> &RoutePattern {
        self.router.pattern(i)
    }
}

async fn open_stores(cfg: &BTreeMap<String, StoreConfig>) -> Result<Stores> {
    let mut stores = Stores::default();
    let mut sqlite_files: BTreeMap<PathBuf, Arc<SqliteDb>> = BTreeMap::new();
    for (label, c) in cfg {
        let store = match c {
            StoreConfig::Sqlite(path) => {
                let db = match sqlite_files.get(path) {
                    Some(db) => db.clone(),
                    None => {
                        let db = Arc::new(
                            SqliteDb::open(path)
                                .with_context(|| format!("key-value store `{label}`"))?,
                        );
                        sqlite_files.insert(path.clone(), db.clone());
                        db
                    }
                };
                Store::Sqlite {
                    db,
                    name: label.as_str().into(),
                }
            }
            StoreConfig::Redis(url) => Store::Redis(
                crate::kv::RedisStore::connect(url)
                    .await
                    .with_context(|| format!("key-value store `{label}`"))?,
            ),
        };
        stores.insert(label.clone(), store);
    }
    Ok(stores)
}

fn load_component(
    engine: &Engine,
    linker: &Linker<State>,
    manifest: &Manifest,
    c: &crate::manifest::Component,
    app_vars: &BTreeMap<String, String>,
    stores: &Stores,
    blocked_networks: &Arc<BlockedNetworks>,
    opts: &LoadOptions,
) -> Result<(LoadedComponent, bool)> {
    for label in &c.key_value_stores {
        if !stores.contains(label) {
            bail!(
                "key_value_stores: no store `{label}` is configured; add [key_value_store.{label}] to the runtime config"
            );
        }
    }
    let wasm = match std::fs::read(&c.source) {
        Ok(w) => w,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let how = match &c.build_command {
                Some(cmd) => {
                    format!("build it with `{cmd}` (or `cargo xtask build` for every component)")
                }
                None => "build it first (e.g. `cargo xtask build`)".to_string(),
            };
            bail!("wasm file {} not found: {how}", c.source.display());
        }
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", c.source.display())),
    };
    let (component, hit) = compile_cached(engine, &wasm, &opts.cache_dir)?;
    let instance_pre = linker.instantiate_pre(&component).map_err(|e| {
        anyhow::anyhow!("cannot link: {e:#} (this host provides WASI 0.2, wasi:http 0.2, fermyon:spin/key-value@2.0.0, fermyon:spin/variables@2.0.0 and wasi:keyvalue@0.2.0-draft2)")
    })?;
    let pre = ProxyPre::new(instance_pre).map_err(|e| {
        anyhow::anyhow!(
            "not an HTTP component (it must export wasi:http/incoming-handler@0.2): {e:#}"
        )
    })?;
    let variables = crate::variables::resolve_component_variables(&c.variables, app_vars)?;
    let mut hosts = Vec::new();
    for h in &c.allowed_outbound_hosts {
        let rendered = crate::variables::Template::parse(h)?
            .render(app_vars)
            .with_context(|| format!("allowed_outbound_hosts: {h:?}"))?;
        crate::outbound::AllowedHost::parse(&rendered)
            .with_context(|| format!("allowed_outbound_hosts: {h:?} resolved to {rendered:?}"))?;
        hosts.push(rendered);
    }
    let env = Arc::new(ComponentEnv {
        allowed_stores: c.key_value_stores.clone(),
        variables,
        outbound: OutboundPolicy::new(&hosts)?,
        blocked_networks: blocked_networks.clone(),
    });
    let mounts = crate::files::prepare(&manifest.dir, c, &opts.state_dir)?;
    Ok((
        LoadedComponent {
            id: c.id.clone(),
            pre,
            env,
            mounts,
            environment: c
                .environment
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            stdout: opts.stdio.open(&c.id, STDOUT_SUFFIX)?,
            stderr: opts.stdio.open(&c.id, STDERR_SUFFIX)?,
        },
        hit,
    ))
}
