//! Start-up in two steps, so tests and `main` share them: [`Application::build`] binds both
//! listeners and prepares the state (nothing is served yet, and a bad address fails here), then
//! [`Application::run_until_stopped`] serves until the shutdown future resolves and lets in-flight
//! requests finish, bounded by [`SHUTDOWN_GRACE`]. The shared stock listener runs beside the
//! servers and stops with them.

use crate::catalog::{Catalogue, CatalogueSettings};
use crate::config::Settings;
use crate::domain::stock::LagLimits;
use crate::live::caps::StreamCaps;
use crate::live::{self, Live};
use crate::oauth::Providers;
use crate::password::Passwords;
use crate::rate_limit::{Backoff, Limiter};
use crate::routes;
use crate::state::{AppState, BasketLimits, LoginLimits, Site};
use anyhow::Context;
use axum::Router;
use axum::http::{HeaderName, HeaderValue, header};
use metrics_exporter_prometheus::PrometheusHandle;
use secrecy::ExposeSecret;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

/// How long in-flight requests get after a shutdown signal before the process exits anyway.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(8);

/// Request bodies above this get 413: every form the shop has fits easily.
const MAX_BODY_BYTES: usize = 16 * 1024;

pub struct Application {
    public: TcpListener,
    admin: TcpListener,
    state: AppState,
    /// The stock listener's own one-connection pool.
    listener_db: sqlx::PgPool,
    csp: Arc<crate::csp::Policy>,
    cleanup: Cleanup,
}

/// The anonymous-basket cleanup job's settings.
struct Cleanup {
    days: i32,
    every: Duration,
}

impl Application {
    pub async fn build(settings: &Settings, metrics: PrometheusHandle) -> anyhow::Result<Self> {
        let options: PgConnectOptions = settings
            .database
            .url
            .expose_secret()
            .parse()
            .context("database.url is not a valid PostgreSQL URL")?;
        // Lazy: the site starts (and /healthz says what is wrong) even while the database is down.
        // No ping before each use (a round trip per page view, and a wake-up of the server
        // process): a connection that broke fails its query, which the page reports, and is
        // dropped from the pool.
        let db = PgPoolOptions::new()
            .max_connections(settings.database.max_connections)
            .acquire_timeout(Duration::from_secs(3))
            .test_before_acquire(false)
            .connect_lazy_with(options.clone().application_name("funnyhat-shop"));
        let listener_db = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(3))
            .max_lifetime(None)
            .idle_timeout(None)
            .connect_lazy_with(options.application_name(live::listener::APPLICATION_NAME));
        let public = TcpListener::bind(settings.http.listen)
            .await
            .with_context(|| format!("cannot listen on http.listen = {}", settings.http.listen))?;
        let admin = TcpListener::bind(settings.admin.listen)
            .await
            .with_context(|| {
                format!("cannot listen on admin.listen = {}", settings.admin.listen)
            })?;
        let site = Arc::new(Site {
            public_url: settings.http.public_url.clone(),
            media_base_url: settings.media.base_url.clone(),
            trusted_proxies: settings.http.trusted_proxies.clone(),
            insecure_dev_cookies: settings.http.insecure_dev_cookies,
            session_days: settings.basket.anonymous_days.max(1),
            basket: BasketLimits {
                max_line_quantity: settings.basket.max_line_quantity.max(1),
                max_lines: settings.basket.max_lines.max(1),
            },
        });
        let cleanup = Cleanup {
            days: settings.basket.anonymous_days.max(1),
            every: Duration::from_secs(settings.basket.cleanup_interval_secs.max(1)),
        };
        let providers = Arc::new(Providers::new(&settings.login, &settings.http.public_url)?);
        let csp = Arc::new(crate::csp::Policy::new(
            &settings.media.base_url,
            &providers.form_action_origins(),
        )?);
        let catalogue = Arc::new(Catalogue::new(
            db.clone(),
            CatalogueSettings {
                page_size: settings.catalogue.page_size.max(1),
                low_stock_threshold: settings.catalogue.low_stock_threshold,
                cache: settings.catalogue.cache,
                lag: LagLimits {
                    soft: Duration::from_secs(settings.stock.soft_limit_secs),
                    hard: Duration::from_secs(settings.stock.hard_limit_secs),
                },
            },
        ));
        let sessions = Arc::new(crate::session_cache::SessionCache::new(
            Duration::from_secs(settings.http.session_cache_secs),
        ));
        let live = Arc::new(Live::new(
            StreamCaps::new(
                settings.live.max_streams,
                settings.live.max_streams_per_client,
            ),
            Duration::from_secs(settings.live.keep_alive_secs.max(1)),
            CancellationToken::new(),
        ));
        let passwords = Arc::new(Passwords::new().await?);
        let max_wait = Duration::from_secs(settings.login.max_backoff_secs.max(1));
        let login_limits = Arc::new(LoginLimits {
            account: Limiter::new(Backoff {
                free_attempts: settings.login.free_attempts_per_account,
                max_wait,
            }),
            address: Limiter::new(Backoff {
                free_attempts: settings.login.free_attempts_per_address,
                max_wait,
            }),
        });
        Ok(Self {
            public,
            admin,
            state: AppState {
                db,
                site,
                metrics,
                catalogue,
                sessions,
                live,
                passwords,
                login_limits,
                providers,
            },
            listener_db,
            csp,
            cleanup,
        })
    }

    pub fn public_addr(&self) -> SocketAddr {
        self.public
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn admin_addr(&self) -> SocketAddr {
        self.admin
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves both listeners until `shutdown` resolves, then drains for at most [`SHUTDOWN_GRACE`].
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let public_app = with_layers(
            routes::public_router().with_state(self.state.clone()),
            self.csp.clone(),
            Arc::clone(&self.state.site),
            Arc::clone(&self.state.sessions),
        );
        let admin_app = routes::admin_router().with_state(self.state.clone());
        let stop = self.state.live.stop.clone();
        let listener = tokio::spawn(live::listener::run(
            self.listener_db.clone(),
            Arc::clone(&self.state.catalogue),
            Arc::clone(&self.state.sessions),
            Arc::clone(&self.state.live),
        ));
        let cleanup = tokio::spawn(crate::jobs::basket_cleanup::run(
            self.state.db.clone(),
            self.cleanup.days,
            self.cleanup.every,
            stop.clone(),
        ));
        tracing::info!(public = %self.public_addr(), admin = %self.admin_addr(), "shop listening");
        // Connect info gives handlers the TCP peer (per-client caps; see `client_addr`).
        let public = axum::serve(
            self.public,
            public_app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(stop.clone().cancelled_owned());
        let admin = axum::serve(self.admin, admin_app)
            .with_graceful_shutdown(stop.clone().cancelled_owned());
        let servers =
            tokio::spawn(
                async move { tokio::try_join!(public.into_future(), admin.into_future()) },
            );
        shutdown.await;
        tracing::info!("shutdown requested; finishing in-flight requests");
        stop.cancel();
        match tokio::time::timeout(SHUTDOWN_GRACE, servers).await {
            Ok(joined) => {
                joined
                    .context("server task panicked")?
                    .context("server failed")?;
            }
            Err(_) => tracing::warn!("in-flight requests did not finish in time; exiting anyway"),
        }
        let _ = listener.await;
        let _ = cleanup.await;
        self.listener_db.close().await;
        self.state.db.close().await;
        Ok(())
    }
}

fn with_layers(
    router: Router,
    csp: Arc<crate::csp::Policy>,
    site: Arc<Site>,
    sessions: Arc<crate::session_cache::SessionCache>,
) -> Router {
    let x_request_id = HeaderName::from_static("x-request-id");
    let header = |name: HeaderName, value: &'static str| {
        SetResponseHeaderLayer::overriding(name, HeaderValue::from_static(value))
    };
    router
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(
            (Arc::clone(&site), sessions),
            crate::session::forget_around_changes,
        ))
        .layer(axum::middleware::from_fn_with_state(
            site,
            routes::finish_response,
        ))
        .layer(axum::middleware::from_fn_with_state(
            csp,
            crate::csp::with_policy,
        ))
        .layer(header(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(header(header::X_FRAME_OPTIONS, "DENY"))
        .layer(header(
            header::REFERRER_POLICY,
            "strict-origin-when-cross-origin",
        ))
        .layer(axum::middleware::from_fn(crate::telemetry::record_request))
        .layer(TraceLayer::new_for_http())
        .layer(PropagateRequestIdLayer::new(x_request_id.clone()))
        .layer(SetRequestIdLayer::new(x_request_id, MakeRequestUuid))
}
