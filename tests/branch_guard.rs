//! A recording branch whose muxer fails must stay a failed branch: the tee in front of it, and
//! so the participant's preview and other branches, carry on. Checked with GStreamer's own
//! matroskamux refusing a caps change on a running file, with and without the guard.

// Tests print what they measured; the harness captures it.
#![allow(clippy::print_stdout)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use gst::prelude::*;
use roomtape::media::branch_guard::BranchGuard;

struct Run {
    /// Buffers the other branch (a preview stand-in) received.
    preview_buffers: u64,
    guard_failed: Option<bool>,
    file_bytes: u64,
}

fn caps(name: &str) -> gst::Caps {
    gst::Caps::builder(name)
        .field("width", 320i32)
        .field("height", 240i32)
        .field("framerate", gst::Fraction::new(30, 1))
        .build()
}

/// Pushes 30 buffers as VP8, then 30 more after switching the caps to VP9, which a running
/// Matroska file cannot take.
fn run(with_guard: bool) -> Run {
    gst::init().expect("gst init");
    let dir = std::env::temp_dir().join(format!(
        "roomtape-branch-guard-{}-{with_guard}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("branch.mkv");
    let pipeline = gst::Pipeline::new();
    let src = gst_app::AppSrc::builder()
        .caps(&caps("video/x-vp8"))
        .format(gst::Format::Time)
        .build();
    let tee = gst::ElementFactory::make("tee").build().unwrap();
    let preview = gst::ElementFactory::make("fakesink")
        .property("sync", false)
        .build()
        .unwrap();
    let mux = gst::ElementFactory::make("matroskamux").build().unwrap();
    let sink = gst::ElementFactory::make("filesink")
        .property("location", file.to_str().unwrap())
        .build()
        .unwrap();
    // Queues in both branches, as in the recorder: without them the first sink to preroll would
    // block the tee's only thread.
    let preview_queue = gst::ElementFactory::make("queue").build().unwrap();
    let mux_queue = gst::ElementFactory::make("queue").build().unwrap();
    pipeline
        .add_many([
            src.upcast_ref(),
            &tee,
            &preview_queue,
            &preview,
            &mux_queue,
            &mux,
            &sink,
        ])
        .unwrap();
    src.link(&tee).unwrap();
    gst::Element::link_many([&tee, &preview_queue, &preview]).unwrap();
    mux.link(&sink).unwrap();
    mux_queue
        .static_pad("src")
        .unwrap()
        .link(&mux.request_pad_simple("video_%u").expect("a video pad"))
        .unwrap();
    let mux_pad = mux_queue.static_pad("sink").unwrap();
    let tee_pad = tee.request_pad_simple("src_%u").expect("a tee pad");
    let guard = with_guard.then(|| BranchGuard::new("guard"));
    match &guard {
        Some(guard) => {
            pipeline.add(guard).unwrap();
            tee_pad.link(&guard.static_pad("sink").unwrap()).unwrap();
            guard.static_pad("src").unwrap().link(&mux_pad).unwrap();
        }
        None => {
            tee_pad.link(&mux_pad).unwrap();
        }
    }
    let counted = Arc::new(AtomicU64::new(0));
    let counter = counted.clone();
    preview
        .static_pad("sink")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            counter.fetch_add(1, Ordering::Relaxed);
            gst::PadProbeReturn::Ok
        });
    pipeline.set_state(gst::State::Playing).unwrap();
    for i in 0..60u64 {
        if i == 30 {
            src.set_caps(Some(&caps("video/x-vp9")));
        }
        let mut buffer = gst::Buffer::from_slice(vec![0x9du8; 512]);
        {
            let buffer = buffer.get_mut().unwrap();
            buffer.set_pts(gst::ClockTime::from_mseconds(i * 33));
            buffer.set_duration(gst::ClockTime::from_mseconds(33));
        }
        let _ = src.push_buffer(buffer);
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let _ = src.end_of_stream();
    let bus = pipeline.bus().unwrap();
    let _ = bus.timed_pop_filtered(
        gst::ClockTime::from_seconds(5),
        &[gst::MessageType::Eos, gst::MessageType::Error],
    );
    // Let appsrc's queue drain into the preview before counting.
    std::thread::sleep(std::time::Duration::from_millis(300));
    pipeline.set_state(gst::State::Null).unwrap();
    let file_bytes = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
    let _ = std::fs::remove_dir_all(&dir);
    Run {
        preview_buffers: counted.load(Ordering::Relaxed),
        guard_failed: guard.map(|g| g.has_failed()),
        file_bytes,
    }
}

#[test]
fn a_failing_muxer_stops_its_branch_and_nothing_else() {
    let guarded = run(true);
    let bare = run(false);
    eprintln!(
        "FIGURE branch guard: with guard {} preview buffers, file {} bytes; without {} preview buffers",
        guarded.preview_buffers, guarded.file_bytes, bare.preview_buffers
    );
    // The control: without the guard the muxer's refusal flows back and stops the source.
    assert!(
        bare.preview_buffers < 60,
        "without a guard the failure stalls the tee ({} buffers)",
        bare.preview_buffers
    );
    assert_eq!(guarded.guard_failed, Some(true), "the branch failed");
    assert_eq!(guarded.preview_buffers, 60, "the preview got every buffer");
    assert!(
        guarded.file_bytes > 30 * 512,
        "what the branch wrote before failing stays"
    );
}
