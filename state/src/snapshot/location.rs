//! `state.snapshot.store` URLs: `s3://bucket/prefix`, `file:///absolute/path`, `memory://`
//! (`hdfs://` with the `hdfs` feature).

use super::SnapshotError;
use object_store::path::Path;
use object_store::ObjectStore;
use std::sync::Arc;

/// The object store and prefix `url` names. `options` are object_store's settings for the
/// scheme (for S3: `aws_endpoint`, `aws_region`, `aws_access_key_id`, `aws_secret_access_key`,
/// `aws_allow_http`, ...); unknown keys are refused, so a typo does not go unnoticed.
pub fn parse_location(
    url: &str,
    options: &[(String, String)],
) -> Result<(Arc<dyn ObjectStore>, Path), SnapshotError> {
    let config = |reason: String| SnapshotError::Config {
        url: url.to_string(),
        reason,
    };
    let parsed = url::Url::parse(url).map_err(|e| config(format!("not a URL: {e}")))?;
    match parsed.scheme() {
        "s3" | "s3a" => {
            for (key, _) in options {
                key.to_ascii_lowercase()
                    .parse::<object_store::aws::AmazonS3ConfigKey>()
                    .map_err(|_| config(format!("unknown S3 setting {key:?}")))?;
            }
        }
        "file" | "memory" => {
            if let Some((key, _)) = options.first() {
                return Err(config(format!(
                    "{key:?} does not apply to {}://",
                    parsed.scheme()
                )));
            }
        }
        #[cfg(feature = "hdfs")]
        "hdfs" | "viewfs" => {
            let store = hdfs_native_object_store::HdfsObjectStoreBuilder::new()
                .with_url(url)
                .with_config(options.iter().cloned())
                .build()
                .map_err(|e| config(e.to_string()))?;
            let path = Path::parse(parsed.path()).map_err(|e| config(e.to_string()))?;
            return Ok((Arc::new(store), path));
        }
        other => {
            return Err(config(format!(
                "scheme {other}:// is not supported (s3://, file://, memory://{})",
                if cfg!(feature = "hdfs") {
                    ", hdfs://"
                } else {
                    "; hdfs:// needs the hdfs feature"
                }
            )))
        }
    }
    let (store, path) =
        object_store::parse_url_opts(&parsed, options.iter().cloned()).map_err(|e| config(e.to_string()))?;
    Ok((Arc::from(store), path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_settings_are_checked() {
        assert!(parse_location("memory://", &[]).is_ok());
        let (_, path) = parse_location("file:///tmp/snapshots/app", &[]).unwrap();
        assert_eq!(path.as_ref(), "tmp/snapshots/app");
        let s3 = [
            ("aws_endpoint".to_string(), "http://127.0.0.1:9".to_string()),
            ("aws_allow_http".to_string(), "true".to_string()),
            ("aws_region".to_string(), "us-east-1".to_string()),
        ];
        let (_, path) = parse_location("s3://bucket/sluice/app", &s3).unwrap();
        assert_eq!(path.as_ref(), "sluice/app");
        let typo = [("aws_endpont".to_string(), "x".to_string())];
        let e = parse_location("s3://bucket", &typo).unwrap_err().to_string();
        assert!(e.contains("unknown S3 setting"), "{e}");
        let e = parse_location("ftp://host/x", &[]).unwrap_err().to_string();
        assert!(e.contains("not supported"), "{e}");
        assert!(parse_location("not a url", &[]).is_err());
    }
}
