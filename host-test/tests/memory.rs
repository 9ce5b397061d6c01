//! `Instance::memory_bytes`: the linear memory of an instance's store, as
//! wasmtime created and grew it.

use mcp_oauth_host::harness::{ClientConfig, HostOptions, Runtime};

const PAGE: usize = 64 * 1024;

#[tokio::test]
async fn memory_bytes_counts_the_guest_memory_in_whole_pages() {
    let runtime = Runtime::embedded().unwrap();
    let mut instance = runtime.instantiate(HostOptions::default()).await.unwrap();
    let created = instance.memory_bytes();
    assert!(created >= PAGE, "{created}");
    assert_eq!(created % PAGE, 0, "{created}");
    instance
        .configure(&ClientConfig::new("memory", "http://127.0.0.1:9/callback"))
        .await
        .unwrap()
        .unwrap();
    // Opening a client allocates in the guest: memory never shrinks.
    let configured = instance.memory_bytes();
    assert!(configured >= created, "{configured} < {created}");
    assert_eq!(configured % PAGE, 0, "{configured}");
    // Each instance has its own.
    let other = runtime.instantiate(HostOptions::default()).await.unwrap();
    assert_eq!(other.memory_bytes(), created);
}
