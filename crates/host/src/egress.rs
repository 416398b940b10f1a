//! Outgoing HTTP from components, sent by the host: the name is resolved here,
//! every resolved address in a blocked network (runtime config
//! `[outbound_networking] block_networks`) is dropped, and the connection is
//! made to one of the addresses that were checked, so a name cannot resolve to
//! a public address for the check and to a private one for the connection.
//! Then TLS (webpki roots) for `https`, HTTP/1.1, and the component's timeouts.

use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http::uri::Scheme;
use http::{Request, Response};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::Instant;
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::{Error, RequestOptions};

use crate::outbound::BlockedNetworks;

/// Used when neither the component nor the host set a timeout.
const FALLBACK_TIMEOUT: Duration = Duration::from_secs(600);

/// The body of a response from an outgoing request: the connection's body
/// with the component's between-bytes timeout, and no byte after the
/// request's deadline.
pub struct ResponseBody {
    incoming: Incoming,
    idle: Duration,
    deadline: Instant,
    timer: Pin<Box<tokio::time::Sleep>>,
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        match Pin::new(&mut self.incoming).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                let next = (Instant::now() + self.idle).min(self.deadline);
                self.timer.as_mut().reset(next);
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) if e.is_timeout() => {
                Poll::Ready(Some(Err(Error::HttpResponseTimeout)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(Error::from(e)))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                ready!(self.timer.as_mut().poll(cx));
                Poll::Ready(Some(Err(Error::ConnectionReadTimeout)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.incoming.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.incoming.size_hint()
    }
}

trait Stream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Stream for T {}

fn tls_config() -> Arc<rustls::ClientConfig> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let roots = rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.into(),
            };
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .expect("ring supports the default TLS versions")
                .with_root_certificates(roots)
                .with_no_client_auth();
            Arc::new(config)
        })
        .clone()
}

/// The addresses `host:port` may be connected to: every resolved address
/// outside the blocked networks. All of them blocked is
/// `DestinationIpProhibited` (as in Spin), none resolved `DestinationNotFound`.
pub async fn resolve(
    host: &str,
    port: u16,
    blocked: &BlockedNetworks,
    timeout: Duration,
) -> Result<Vec<SocketAddr>, Error> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => {
            match tokio::time::timeout(timeout, tokio::net::lookup_host((host, port))).await {
                Err(_) => return Err(Error::DnsTimeout),
                Ok(Err(_)) => {
                    return Err(Error::DnsError {
                        rcode: Some("address not available".into()),
                        info_code: Some(0),
                    });
                }
                Ok(Ok(a)) => a.collect(),
            }
        }
    };
    if addrs.is_empty() {
        return Err(Error::DestinationNotFound);
    }
    let allowed: Vec<SocketAddr> = addrs
        .iter()
        .copied()
        .filter(|a| !blocked.is_blocked(a.ip()))
        .collect();
    if allowed.is_empty() {
        // The name is the component's business; log the refusal, not the URL.
        tracing::warn!(
            "outbound request refused: every address of the destination is in a blocked network ({} address(es))",
            addrs.len()
        );
        return Err(Error::DestinationIpProhibited);
    }
    Ok(allowed)
}

/// The future that drives an outgoing request's connection until its
/// response body is read (what `wasi:http` hands back beside the response).
pub type Connection = Box<dyn Future<Output = Result<(), Error>> + Send>;

/// Send one outgoing request, all of it before `deadline` (the request of
/// the component that sends it). Returns the response and its connection.
pub async fn send<B>(
    req: Request<B>,
    options: Option<RequestOptions>,
    blocked: &BlockedNetworks,
    deadline: Instant,
) -> Result<(Response<ResponseBody>, Connection), Error>
where
    B: Body<Data = Bytes, Error = Error> + Send + 'static,
{
    match tokio::time::timeout_at(deadline, send_by(req, options, blocked, deadline)).await {
        Ok(r) => r,
        Err(_) => Err(Error::ConnectionTimeout),
    }
}

async fn send_by<B>(
    mut req: Request<B>,
    options: Option<RequestOptions>,
    blocked: &BlockedNetworks,
    deadline: Instant,
) -> Result<(Response<ResponseBody>, Connection), Error>
where
    B: Body<Data = Bytes, Error = Error> + Send + 'static,
{
    let uri = req.uri().clone();
    let authority = uri.authority().ok_or(Error::HttpRequestUriInvalid)?;
    let use_tls = uri.scheme() == Some(&Scheme::HTTPS);
    let host = authority.host().to_string();
    let port = authority
        .port_u16()
        .unwrap_or(if use_tls { 443 } else { 80 });
    let options = options.unwrap_or_default();
    let connect_timeout = options.connect_timeout.unwrap_or(FALLBACK_TIMEOUT);
    let first_byte_timeout = options.first_byte_timeout.unwrap_or(FALLBACK_TIMEOUT);
    let between_bytes = options
        .between_bytes_timeout
        .unwrap_or(FALLBACK_TIMEOUT)
        .max(Duration::from_nanos(1));

    let addrs = resolve(&host, port, blocked, connect_timeout).await?;
    let tcp = match tokio::time::timeout(connect_timeout, TcpStream::connect(&addrs[..])).await {
        Err(_) => return Err(Error::ConnectionTimeout),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            return Err(Error::ConnectionRefused);
        }
        Ok(Err(e)) => return Err(Error::Connect(e)),
        Ok(Ok(s)) => s,
    };
    let _ = tcp.set_nodelay(true);
    let stream: Box<dyn Stream> = if use_tls {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let name = match bare.parse::<IpAddr>() {
            Ok(ip) => rustls::pki_types::ServerName::from(ip),
            Err(_) => rustls::pki_types::ServerName::try_from(bare.to_string())
                .map_err(|_| Error::HttpRequestUriInvalid)?,
        };
        let connector = tokio_rustls::TlsConnector::from(tls_config());
        match tokio::time::timeout(connect_timeout, connector.connect(name, tcp)).await {
            Err(_) => return Err(Error::ConnectionTimeout),
            Ok(Err(e)) => return Err(Error::Tls(e)),
            Ok(Ok(s)) => Box::new(s),
        }
    } else {
        Box::new(tcp)
    };
    let (mut sender, conn) = tokio::time::timeout(
        connect_timeout,
        hyper::client::conn::http1::Builder::new().handshake(TokioIo::new(stream)),
    )
    .await
    .map_err(|_| Error::ConnectionTimeout)??;

    // Origin-form on the wire: the scheme and authority travel in Host.
    *req.uri_mut() = http::Uri::builder()
        .path_and_query(uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"))
        .build()
        .map_err(|_| Error::HttpRequestUriInvalid)?;
    let req = req.map(|b| b.boxed_unsync());

    let mut conn = Box::pin(conn);
    let mut send = Box::pin(tokio::time::timeout(
        first_byte_timeout,
        sender.send_request(req),
    ));
    // Drive the connection while waiting for the response head.
    let mut conn_done = false;
    let res = std::future::poll_fn(|cx| {
        if let Poll::Ready(r) = send.as_mut().poll(cx) {
            return Poll::Ready(match r {
                Err(_) => Err(Error::ConnectionReadTimeout),
                Ok(Err(e)) => Err(Error::from(e)),
                Ok(Ok(res)) => Ok(res),
            });
        }
        if !conn_done {
            if let Poll::Ready(r) = conn.as_mut().poll(cx) {
                conn_done = true;
                if let Err(e) = r {
                    return Poll::Ready(Err(Error::from(e)));
                }
                return send.as_mut().poll(cx).map(|r| match r {
                    Err(_) => Err(Error::ConnectionReadTimeout),
                    Ok(Err(e)) => Err(Error::from(e)),
                    Ok(Ok(res)) => Ok(res),
                });
            }
        }
        Poll::Pending
    })
    .await?;
    let res = res.map(|incoming| ResponseBody {
        incoming,
        idle: between_bytes,
        deadline,
        timer: Box::pin(tokio::time::sleep_until(
            (Instant::now() + between_bytes).min(deadline),
        )),
    });
    let io = async move {
        if conn_done {
            return Ok(());
        }
        match tokio::time::timeout_at(deadline, conn).await {
            Err(_) => Err(Error::HttpResponseTimeout),
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) if e.is_timeout() => Err(Error::HttpResponseTimeout),
            Ok(Err(e)) => Err(Error::from(e)),
        }
    };
    Ok((res, Box::new(io)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn names_resolving_to_blocked_networks_are_refused() {
        let private = BlockedNetworks::parse(&["private".into()]).unwrap();
        let t = Duration::from_secs(5);
        // By name: `localhost` resolves to loopback only.
        assert!(matches!(
            resolve("localhost", 80, &private, t).await,
            Err(Error::DestinationIpProhibited)
        ));
        for literal in [
            "127.0.0.1",
            "169.254.169.254",
            "10.0.0.1",
            "[::1]",
            "::ffff:127.0.0.1",
        ] {
            assert!(
                matches!(
                    resolve(literal, 80, &private, t).await,
                    Err(Error::DestinationIpProhibited)
                ),
                "{literal}"
            );
        }
        // Nothing blocked: the same name resolves.
        let open = BlockedNetworks::default();
        let a = resolve("localhost", 8080, &open, t).await.unwrap();
        assert!(a.iter().all(|a| a.ip().is_loopback() && a.port() == 8080));
        // A CIDR entry only blocks that network.
        let one = BlockedNetworks::parse(&["10.0.0.0/8".into()]).unwrap();
        assert!(resolve("127.0.0.1", 80, &one, t).await.is_ok());
        assert!(resolve("10.9.9.9", 80, &one, t).await.is_err());
    }
}
