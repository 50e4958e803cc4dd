//! A pass-through element that keeps a failing recording branch from failing what feeds it.
//!
//! A recording branch hangs off a tee that also feeds the participant's preview and is driven
//! by webrtcbin's jitter buffer. When a muxer or a file sink in the branch fails, the error
//! flows back upstream: the tee returns it, the jitter buffer's task pauses, and the
//! participant's whole track stalls (preview, other branches, the next recording part). The
//! guard sits first in the branch and swallows downstream errors: the branch stops taking
//! data, the element that failed has already posted its error on the bus (which ends the
//! segment), and everything upstream carries on.

use std::sync::atomic::{AtomicBool, Ordering};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

mod imp {
    use super::*;

    pub struct BranchGuard {
        pub(super) sinkpad: gst::Pad,
        pub(super) srcpad: gst::Pad,
        /// Set once the branch returned an error; it takes no more data after that.
        pub(super) failed: AtomicBool,
    }

    impl BranchGuard {
        fn chain(&self, buffer: gst::Buffer) -> Result<gst::FlowSuccess, gst::FlowError> {
            if self.failed.load(Ordering::Relaxed) {
                return Ok(gst::FlowSuccess::Ok);
            }
            match self.srcpad.push(buffer) {
                Ok(success) => Ok(success),
                // Flushing is the pipeline's business, not a failure of the branch: pass it on.
                Err(gst::FlowError::Flushing) => Err(gst::FlowError::Flushing),
                // The branch was ended on purpose (its EOS went through).
                Err(gst::FlowError::Eos) => Ok(gst::FlowSuccess::Ok),
                Err(err) => {
                    if !self.failed.swap(true, Ordering::Relaxed) {
                        // Not every element behind us posts an error for the flow it returns
                        // (a depayloader or parser may not): say it on the bus ourselves, so the
                        // segment ends and recording goes on in a new part.
                        gst::element_imp_error!(
                            self,
                            gst::StreamError::Failed,
                            ["recording branch failed ({err:?}); it takes no more data"]
                        );
                    }
                    Ok(gst::FlowSuccess::Ok)
                }
            }
        }
    }

    #[glib::object_subclass]
    impl ObjectSubclass for BranchGuard {
        const NAME: &'static str = "RoomtapeBranchGuard";
        type Type = super::BranchGuard;
        type ParentType = gst::Element;

        fn with_class(klass: &Self::Class) -> Self {
            let sinkpad = gst::Pad::builder_from_template(
                &klass
                    .pad_template("sink")
                    .expect("the class has a sink template"),
            )
            .chain_function(|_pad, parent, buffer| {
                BranchGuard::catch_panic_pad_function(
                    parent,
                    || Err(gst::FlowError::Error),
                    |guard| guard.chain(buffer),
                )
            })
            .flags(gst::PadFlags::PROXY_CAPS | gst::PadFlags::PROXY_ALLOCATION)
            .build();
            let srcpad = gst::Pad::builder_from_template(
                &klass
                    .pad_template("src")
                    .expect("the class has a src template"),
            )
            .flags(gst::PadFlags::PROXY_CAPS | gst::PadFlags::PROXY_ALLOCATION)
            .build();
            BranchGuard {
                sinkpad,
                srcpad,
                failed: AtomicBool::new(false),
            }
        }
    }

    impl ObjectImpl for BranchGuard {
        fn constructed(&self) {
            self.parent_constructed();
            let obj = self.obj();
            obj.add_pad(&self.sinkpad)
                .expect("a new element takes its sink pad");
            obj.add_pad(&self.srcpad)
                .expect("a new element takes its src pad");
        }
    }

    impl GstObjectImpl for BranchGuard {}

    impl ElementImpl for BranchGuard {
        fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
            static METADATA: std::sync::LazyLock<gst::subclass::ElementMetadata> =
                std::sync::LazyLock::new(|| {
                    gst::subclass::ElementMetadata::new(
                        "Recording branch guard",
                        "Generic",
                        "Passes data through and keeps downstream errors from flowing upstream",
                        "Roomtape",
                    )
                });
            Some(&METADATA)
        }

        fn pad_templates() -> &'static [gst::PadTemplate] {
            static TEMPLATES: std::sync::LazyLock<Vec<gst::PadTemplate>> =
                std::sync::LazyLock::new(|| {
                    let caps = gst::Caps::new_any();
                    vec![
                        gst::PadTemplate::new(
                            "src",
                            gst::PadDirection::Src,
                            gst::PadPresence::Always,
                            &caps,
                        )
                        .expect("a valid src template"),
                        gst::PadTemplate::new(
                            "sink",
                            gst::PadDirection::Sink,
                            gst::PadPresence::Always,
                            &caps,
                        )
                        .expect("a valid sink template"),
                    ]
                });
            TEMPLATES.as_ref()
        }
    }
}

glib::wrapper! {
    /// See the module documentation.
    pub struct BranchGuard(ObjectSubclass<imp::BranchGuard>) @extends gst::Element, gst::Object;
}

impl BranchGuard {
    pub fn new(name: &str) -> BranchGuard {
        glib::Object::builder().property("name", name).build()
    }

    /// Whether the branch behind it has failed.
    pub fn has_failed(&self) -> bool {
        self.imp().failed.load(Ordering::Relaxed)
    }
}
