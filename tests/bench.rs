//! The benchmark runs and reports sane, measured figures (no timing is asserted).

mod common;

use std::process::Command;

#[test]
fn bench_reports_measured_figures_for_two_participants() {
    let _serial = common::serial();
    let output = Command::new(common::BIN)
        .args([
            "bench",
            "--participants",
            "2",
            "--seconds",
            "2",
            "--resolution",
            "640x360",
            "--json",
        ])
        .env("RUST_LOG", "off")
        .output()
        .expect("run bench");
    assert!(
        output.status.success(),
        "bench failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let results: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON output");
    let result = &results[0];
    assert_eq!(result["participants"], 2);
    let number = |key: &str| {
        result[key]
            .as_f64()
            .unwrap_or_else(|| panic!("{key} is a number: {result}"))
    };
    assert!(number("cpu_total_pct") > 0.0, "the recorder used CPU");
    assert!(number("rss_peak_mb") > 5.0, "the recorder has memory");
    assert!(number("seconds") >= 2.0);
    assert!(
        number("connect_ms_p50") > 0.0,
        "connect times were measured"
    );
    assert!(
        number("first_keyframe_ms_p50") >= 0.0,
        "key-frame latency was measured"
    );
    let sent = number("frames_sent");
    let recorded = number("frames_recorded");
    assert!(sent > 30.0, "publishers sent frames");
    assert!(
        recorded >= sent * 0.9,
        "most frames were recorded: {recorded} of {sent}"
    );
}
