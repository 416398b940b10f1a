//! Per-request store data and the Spin platform interfaces implemented on it:
//! `fermyon:spin/key-value@2.0.0`, `fermyon:spin/variables@2.0.0` and
//! `wasi:keyvalue/{store,atomics,batch}@0.2.0-draft2`. WASI and `wasi:http`
//! come from wasmtime-wasi and wasmtime-wasi-http.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use wasmtime::StoreLimits;
use wasmtime::component::{Resource, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::kv::{GuestStore, KvError, Stores, Swap};
use crate::outbound::{BlockedNetworks, OutboundPolicy};

wasmtime::component::bindgen!({
    path: "wit",
    world: "spin-imports",
    imports: { default: async | trappable },
    with: {
        "fermyon:spin/key-value.store": KvHandle,
        "wasi:keyvalue/store.bucket": KvHandle,
        "wasi:keyvalue/atomics.cas": CasHandle,
    },
});

use fermyon::spin::{key_value, variables};
use wasi::keyvalue::{atomics, batch, store as wkv};

/// An open store (Spin `store` or WASI `bucket`: the same data for one label).
pub struct KvHandle(GuestStore);

/// A compare-and-swap handle: the key and the value seen when it was made.
pub struct CasHandle {
    store: GuestStore,
    key: String,
    current: Option<Vec<u8>>,
}

/// What a component may use, fixed at start.
pub struct ComponentEnv {
    /// Labels from `key_value_stores`.
    pub allowed_stores: Vec<String>,
    /// Resolved component variables.
    pub variables: BTreeMap<String, String>,
    /// Outbound HTTP allow-list.
    pub outbound: OutboundPolicy,
    /// Networks no outbound connection may reach (runtime config).
    pub blocked_networks: Arc<BlockedNetworks>,
}

/// The `T` of each request's `Store<T>`.
pub struct State {
    /// WASI context.
    pub wasi: WasiCtx,
    /// wasi:http context.
    pub http: WasiHttpCtx,
    /// Resources of this request.
    pub table: ResourceTable,
    /// Memory and instance limits.
    pub limits: StoreLimits,
    /// This component's permissions.
    pub env: Arc<ComponentEnv>,
    /// Configured key-value stores.
    pub stores: Arc<Stores>,
    /// Guest key-value calls made during this request (one per call, a
    /// batch counts one).
    pub store_calls: Arc<AtomicU64>,
    hooks: OutboundHooks,
}

impl State {
    /// Build the state for one request.
    /// `deadline` is the request's: outgoing requests made after it fail at
    /// once, and those made before it are cut off at it.
    pub fn new(
        wasi: WasiCtx,
        limits: StoreLimits,
        env: Arc<ComponentEnv>,
        stores: Arc<Stores>,
        deadline: std::time::Instant,
    ) -> Self {
        let hooks = OutboundHooks {
            env: env.clone(),
            deadline,
        };
        Self {
            wasi,
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            limits,
            env,
            stores,
            store_calls: Default::default(),
            hooks,
        }
    }

    fn open(&mut self, label: &str) -> Result<Resource<KvHandle>, KvError> {
        if !self.env.allowed_stores.iter().any(|l| l == label) {
            return Err(KvError::AccessDenied);
        }
        let store = self
            .stores
            .for_guest(label, self.store_calls.clone())
            .ok_or(KvError::NoSuchStore)?;
        self.table.push(KvHandle(store)).map_err(KvError::from)
    }

    fn kv(&self, r: &Resource<KvHandle>) -> wasmtime::Result<GuestStore> {
        Ok(self.table.get(r)?.0.clone())
    }
}

/// How long an outgoing request may take to connect, unless the component
/// sets its own timeout.
const OUTBOUND_CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// How long an outgoing request may wait for (more of) its response.
const OUTBOUND_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

/// Refuses outgoing requests to hosts the component did not list, and
/// sends the rest through [`crate::egress`] within the request's deadline.
struct OutboundHooks {
    env: Arc<ComponentEnv>,
    deadline: std::time::Instant,
}

impl wasmtime_wasi_http::WasiHttpHooks for OutboundHooks {
    fn send_request(
        &mut self,
        request: http::Request<wasmtime_wasi_http::WasiBody>,
        options: Option<wasmtime_wasi_http::RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
    ) -> Box<
        dyn Future<
                Output = Result<
                    (
                        http::Response<wasmtime_wasi_http::WasiBody>,
                        Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
                    ),
                    wasmtime_wasi_http::Error,
                >,
            > + Send,
    > {
        _ = fut;
        let allowed = self.env.outbound.allows_uri(request.uri());
        let blocked = self.env.blocked_networks.clone();
        // Work after the response (mail, webhook attempts) included: nothing
        // a component waits for outlives its request's deadline, and it
        // ends a little before it, so the component can still answer.
        let margin = (self
            .deadline
            .saturating_duration_since(std::time::Instant::now())
            / 10)
            .min(std::time::Duration::from_secs(1));
        let deadline = tokio::time::Instant::from_std(self.deadline) - margin;
        // A receiver that never answers must not hold an instance until its
        // deadline: timeouts unless the component set its own.
        let mut options = options.unwrap_or_default();
        options.connect_timeout = options.connect_timeout.or(Some(OUTBOUND_CONNECT_TIMEOUT));
        options.first_byte_timeout = options.first_byte_timeout.or(Some(OUTBOUND_READ_TIMEOUT));
        options.between_bytes_timeout = options
            .between_bytes_timeout
            .or(Some(OUTBOUND_READ_TIMEOUT));
        let options = Some(options);
        Box::new(async move {
            if !allowed {
                tracing::warn!("outbound request refused: host not in allowed_outbound_hosts");
                return Err(wasmtime_wasi_http::Error::HttpRequestDenied);
            }
            use http_body_util::BodyExt;
            let (res, io) = crate::egress::send(request, options, &blocked, deadline).await?;
            Ok((res.map(BodyExt::boxed_unsync), io))
        })
    }
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for State {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

fn spin_err(e: KvError) -> key_value::Error {
    match e {
        KvError::NoSuchStore => key_value::Error::NoSuchStore,
        KvError::AccessDenied => key_value::Error::AccessDenied,
        KvError::Other(m) => key_value::Error::Other(m),
    }
}

fn wasi_err(e: KvError) -> wkv::Error {
    match e {
        KvError::NoSuchStore => wkv::Error::NoSuchStore,
        KvError::AccessDenied => wkv::Error::AccessDenied,
        KvError::Other(m) => wkv::Error::Other(m),
    }
}

type WResult<T> = wasmtime::Result<T>;

impl key_value::Host for State {}

impl key_value::HostStore for State {
    async fn open(
        &mut self,
        label: String,
    ) -> WResult<Result<Resource<KvHandle>, key_value::Error>> {
        Ok(self.open(&label).map_err(spin_err))
    }

    async fn get(
        &mut self,
        s: Resource<KvHandle>,
        key: String,
    ) -> WResult<Result<Option<Vec<u8>>, key_value::Error>> {
        Ok(self.kv(&s)?.get(&key).await.map_err(spin_err))
    }

    async fn set(
        &mut self,
        s: Resource<KvHandle>,
        key: String,
        value: Vec<u8>,
    ) -> WResult<Result<(), key_value::Error>> {
        Ok(self.kv(&s)?.set(&key, &value).await.map_err(spin_err))
    }

    async fn delete(
        &mut self,
        s: Resource<KvHandle>,
        key: String,
    ) -> WResult<Result<(), key_value::Error>> {
        Ok(self.kv(&s)?.delete(&key).await.map_err(spin_err))
    }

    async fn exists(
        &mut self,
        s: Resource<KvHandle>,
        key: String,
    ) -> WResult<Result<bool, key_value::Error>> {
        Ok(self.kv(&s)?.exists(&key).await.map_err(spin_err))
    }

    async fn get_keys(
        &mut self,
        s: Resource<KvHandle>,
    ) -> WResult<Result<Vec<String>, key_value::Error>> {
        Ok(self.kv(&s)?.keys().await.map_err(spin_err))
    }

    async fn drop(&mut self, s: Resource<KvHandle>) -> WResult<()> {
        self.table.delete(s)?;
        Ok(())
    }
}

impl variables::Host for State {
    async fn get(&mut self, name: String) -> WResult<Result<String, variables::Error>> {
        if crate::variables::validate_variable_name(&name).is_err() {
            return Ok(Err(variables::Error::InvalidName(name)));
        }
        Ok(self
            .env
            .variables
            .get(&name)
            .cloned()
            .ok_or(variables::Error::Undefined(name)))
    }
}

impl wkv::Host for State {
    async fn open(
        &mut self,
        identifier: String,
    ) -> WResult<Result<Resource<KvHandle>, wkv::Error>> {
        Ok(State::open(self, &identifier).map_err(wasi_err))
    }
}

impl wkv::HostBucket for State {
    async fn get(
        &mut self,
        b: Resource<KvHandle>,
        key: String,
    ) -> WResult<Result<Option<Vec<u8>>, wkv::Error>> {
        Ok(self.kv(&b)?.get(&key).await.map_err(wasi_err))
    }

    async fn set(
        &mut self,
        b: Resource<KvHandle>,
        key: String,
        value: Vec<u8>,
    ) -> WResult<Result<(), wkv::Error>> {
        Ok(self.kv(&b)?.set(&key, &value).await.map_err(wasi_err))
    }

    async fn delete(
        &mut self,
        b: Resource<KvHandle>,
        key: String,
    ) -> WResult<Result<(), wkv::Error>> {
        Ok(self.kv(&b)?.delete(&key).await.map_err(wasi_err))
    }

    async fn exists(
        &mut self,
        b: Resource<KvHandle>,
        key: String,
    ) -> WResult<Result<bool, wkv::Error>> {
        Ok(self.kv(&b)?.exists(&key).await.map_err(wasi_err))
    }

    async fn list_keys(
        &mut self,
        b: Resource<KvHandle>,
        cursor: Option<String>,
    ) -> WResult<Result<wkv::KeyResponse, wkv::Error>> {
        // One page holds every key; a cursor is only ever the end.
        if cursor.is_some() {
            return Ok(Ok(wkv::KeyResponse {
                keys: Vec::new(),
                cursor: None,
            }));
        }
        Ok(self
            .kv(&b)?
            .keys()
            .await
            .map(|keys| wkv::KeyResponse { keys, cursor: None })
            .map_err(wasi_err))
    }

    async fn drop(&mut self, b: Resource<KvHandle>) -> WResult<()> {
        self.table.delete(b)?;
        Ok(())
    }
}

impl atomics::Host for State {
    async fn increment(
        &mut self,
        b: Resource<KvHandle>,
        key: String,
        delta: i64,
    ) -> WResult<Result<i64, wkv::Error>> {
        Ok(self.kv(&b)?.increment(&key, delta).await.map_err(wasi_err))
    }

    async fn swap(
        &mut self,
        cas: Resource<CasHandle>,
        value: Vec<u8>,
    ) -> WResult<Result<(), atomics::CasError>> {
        let handle = self.table.delete(cas)?;
        match handle
            .store
            .swap(&handle.key, handle.current.as_deref(), &value)
            .await
        {
            Ok(Swap::Done) => Ok(Ok(())),
            Ok(Swap::Failed { current }) => {
                // Hand back a handle holding the value that beat us, so a retry
                // loop can read it with `current` and swap again.
                let fresh = self.table.push(CasHandle {
                    store: handle.store,
                    key: handle.key,
                    current,
                })?;
                Ok(Err(atomics::CasError::CasFailed(fresh)))
            }
            Err(e) => Ok(Err(atomics::CasError::StoreError(wasi_err(e)))),
        }
    }
}

impl atomics::HostCas for State {
    async fn new(
        &mut self,
        b: Resource<KvHandle>,
        key: String,
    ) -> WResult<Result<Resource<CasHandle>, wkv::Error>> {
        let store = self.kv(&b)?;
        let current = match store.get(&key).await {
            Ok(v) => v,
            Err(e) => return Ok(Err(wasi_err(e))),
        };
        Ok(Ok(self.table.push(CasHandle {
            store,
            key,
            current,
        })?))
    }

    async fn current(
        &mut self,
        cas: Resource<CasHandle>,
    ) -> WResult<Result<Option<Vec<u8>>, wkv::Error>> {
        Ok(Ok(self.table.get(&cas)?.current.clone()))
    }

    async fn drop(&mut self, cas: Resource<CasHandle>) -> WResult<()> {
        self.table.delete(cas)?;
        Ok(())
    }
}

impl batch::Host for State {
    async fn get_many(
        &mut self,
        b: Resource<KvHandle>,
        keys: Vec<String>,
    ) -> WResult<Result<Vec<(String, Option<Vec<u8>>)>, wkv::Error>> {
        let store = self.kv(&b)?;
        Ok(match store.get_many(&keys).await {
            Ok(values) => Ok(keys.into_iter().zip(values).collect()),
            Err(e) => Err(wasi_err(e)),
        })
    }

    async fn set_many(
        &mut self,
        b: Resource<KvHandle>,
        kvs: Vec<(String, Vec<u8>)>,
    ) -> WResult<Result<(), wkv::Error>> {
        Ok(self.kv(&b)?.set_many(&kvs).await.map_err(wasi_err))
    }

    async fn delete_many(
        &mut self,
        b: Resource<KvHandle>,
        keys: Vec<String>,
    ) -> WResult<Result<(), wkv::Error>> {
        Ok(self.kv(&b)?.delete_many(&keys).await.map_err(wasi_err))
    }
}

/// Add the Spin platform interfaces to a linker.
pub fn add_to_linker(linker: &mut wasmtime::component::Linker<State>) -> wasmtime::Result<()> {
    SpinImports::add_to_linker::<State, wasmtime::component::HasSelf<State>>(linker, |s| s)
}
