//! Readiness: poll a gateway's health URL until it answers 2xx, bounded in
//! time. Used for the built-in gateway and for a started gateway process.

use std::time::Duration;

/// Polls `url` until it answers 2xx, for at most `timeout`.
pub async fn wait_ready(url: &str, timeout: Duration) -> anyhow::Result<()> {
    // Readiness URLs are loopback (validated): never through a proxy.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .no_proxy()
        .build()?;
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let last = match client.get(url).send().await {
            Ok(r) if r.status().is_success() => return Ok(()),
            Ok(r) => format!("status {}", r.status()),
            Err(e) => e.to_string(),
        };
        if tokio::time::Instant::now() >= deadline {
            anyhow::bail!(
                "the gateway's readiness probe {url} did not answer within {}s ({last})",
                timeout.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
