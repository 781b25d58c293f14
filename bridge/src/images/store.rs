//! The object store the thumbnails go to: S3 (or an S3-compatible server such as the stack's s3s-fs),
//! through `aws-sdk-s3` on rustls with ring like every other TLS client of the bridge.

use crate::config::Images;
use anyhow::Context;
use aws_sdk_s3::config::{Credentials, Region, timeout::TimeoutConfig};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use secrecy::ExposeSecret;
use std::time::Duration;

/// Browsers and CDNs may keep an object forever: a key never changes its content (the key holds the
/// source's hash and the pipeline version).
pub const CACHE_CONTROL: &str = "public, max-age=31536000, immutable";

/// An object as read back.
#[derive(Debug)]
pub struct Object {
    pub content_type: Option<String>,
    pub cache_control: Option<String>,
    pub bytes: Vec<u8>,
}

#[derive(Clone, Debug)]
pub struct Store {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl Store {
    pub async fn connect(settings: &Images) -> anyhow::Result<Self> {
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
            .build_https();
        let timeout = Duration::from_secs_f64(settings.upload_timeout_secs);
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .http_client(http)
            .region(Region::new(settings.region.clone()))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(5).min(timeout))
                    .operation_attempt_timeout(timeout)
                    .build(),
            );
        match (&settings.access_key, &settings.secret_key) {
            (Some(key), Some(secret)) => {
                loader = loader.credentials_provider(Credentials::new(
                    key,
                    secret.expose_secret(),
                    None,
                    None,
                    "bridge settings",
                ));
            }
            (None, None) => {}
            _ => anyhow::bail!(
                "images.access_key and images.secret_key go together: set both or neither"
            ),
        }
        let shared = loader.load().await;
        let mut config = aws_sdk_s3::config::Builder::from(&shared);
        if let Some(endpoint) = &settings.endpoint {
            config = config.endpoint_url(endpoint).force_path_style(true);
        }
        Ok(Self {
            client: aws_sdk_s3::Client::from_conf(config.build()),
            bucket: settings.bucket.clone(),
        })
    }

    /// Uploads one object with its content type and the immutable cache header.
    pub async fn put(&self, key: &str, content_type: &str, bytes: Vec<u8>) -> anyhow::Result<()> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .cache_control(CACHE_CONTROL)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(|e| anyhow::anyhow!(aws_sdk_s3::error::DisplayErrorContext(e)))
            .with_context(|| format!("upload of s3://{}/{key}", self.bucket))?;
        Ok(())
    }

    /// Reads an object back as a client of the bucket would: content type, cache header, bytes.
    pub async fn get(&self, key: &str) -> anyhow::Result<Object> {
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!(aws_sdk_s3::error::DisplayErrorContext(e)))
            .with_context(|| format!("download of s3://{}/{key}", self.bucket))?;
        Ok(Object {
            content_type: out.content_type().map(str::to_owned),
            cache_control: out.cache_control().map(str::to_owned),
            bytes: out
                .body
                .collect()
                .await
                .with_context(|| format!("download of s3://{}/{key}", self.bucket))?
                .into_bytes()
                .to_vec(),
        })
    }

    /// Removes objects (a missing one is not an error: S3 deletes are idempotent).
    pub async fn delete(&self, keys: &[String]) -> anyhow::Result<()> {
        if keys.is_empty() {
            return Ok(());
        }
        let objects = keys
            .iter()
            .map(|k| ObjectIdentifier::builder().key(k).build())
            .collect::<Result<Vec<_>, _>>()
            .context("object identifiers")?;
        let out = self
            .client
            .delete_objects()
            .bucket(&self.bucket)
            .delete(
                Delete::builder()
                    .set_objects(Some(objects))
                    .quiet(true)
                    .build()
                    .context("delete request")?,
            )
            .send()
            .await
            .map_err(|e| anyhow::anyhow!(aws_sdk_s3::error::DisplayErrorContext(e)))
            .with_context(|| format!("delete from s3://{}", self.bucket))?;
        if let Some(e) = out.errors().first() {
            anyhow::bail!(
                "delete of s3://{}/{} failed: {}",
                self.bucket,
                e.key().unwrap_or("?"),
                e.message().unwrap_or("no message")
            );
        }
        Ok(())
    }
}
