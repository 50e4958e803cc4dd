//! `roomtape publish`: a synthetic participant.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::PublishArgs;
use crate::media::publisher::{AudioMode, Publisher, PublisherConfig, VideoMode};
use crate::protocol::crypto::Password;

pub fn run(args: PublishArgs) -> anyhow::Result<()> {
    crate::media::init()?;
    let config = config_from_args(&args)?;
    let main_loop = glib::MainLoop::new(None, false);
    let publisher = Publisher::start(config)?;
    println!(
        "Publishing {:?} in room {:?} on {}",
        args.stream, args.room.room, args.room.server
    );
    let stop = {
        let main_loop = main_loop.clone();
        let publisher = publisher.clone();
        move || {
            publisher.stop();
            let main_loop = main_loop.clone();
            let publisher = publisher.clone();
            // Let the goodbyes leave before the peers close.
            glib::timeout_add_local_once(Duration::from_millis(300), move || {
                publisher.close();
                main_loop.quit();
            });
        }
    };
    for signal in [2, 15] {
        let stop = stop.clone();
        glib::unix_signal_add_local(signal, move || {
            stop();
            glib::ControlFlow::Break
        });
    }
    if let Some(seconds) = args.duration {
        glib::timeout_add_local_once(Duration::from_secs_f64(seconds.max(0.0)), stop);
    }
    main_loop.run();
    let stats = publisher.stats();
    println!(
        "frames_sent video={} audio={}",
        stats.video_frames_sent.load(Ordering::Relaxed),
        stats.audio_frames_sent.load(Ordering::Relaxed)
    );
    Ok(())
}

/// The publisher the command line asks for.
fn config_from_args(args: &PublishArgs) -> anyhow::Result<PublisherConfig> {
    let (width, height) = super::parse_resolution(&args.resolution)?;
    let room = args.room.with_link_resolved()?;
    let mut config = PublisherConfig::new(&room.server, &room.room, &args.stream);
    config.label = args.label.clone().unwrap_or_else(|| args.stream.clone());
    config.password = room
        .password
        .as_deref()
        .map(Password::parse)
        .unwrap_or(Password::Default);
    config.salt = room.salt.clone();
    config.codec = args.codec.wire_name().to_owned();
    // Refused before joining, not when a viewer first asks for media.
    crate::media::publisher::sendable(&config.codec)?;
    config.video = if args.no_video {
        VideoMode::Off
    } else {
        VideoMode::Live
    };
    config.audio = if args.no_audio {
        AudioMode::None
    } else if args.mute_audio {
        AudioMode::Muted
    } else {
        AudioMode::Tone
    };
    config.width = width;
    config.height = height;
    config.drop_candidates = args.drop_candidates;
    if let Some(seconds) = args.resize_every {
        anyhow::ensure!(
            seconds.is_finite() && seconds >= 0.5,
            "--resize-every needs at least 0.5 seconds"
        );
        config.resize_every = Some(Duration::from_secs_f64(seconds));
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::Command;
    use crate::command_line::Cli;

    fn parse(extra: &[&str]) -> PublisherConfig {
        let mut argv = vec!["roomtape", "publish", "--room", "r", "--stream", "dave"];
        argv.extend_from_slice(extra);
        let Some(Command::Publish(args)) = Cli::try_parse_from(argv).unwrap().command else {
            panic!("not a publish command");
        };
        config_from_args(&args).unwrap()
    }

    #[test]
    fn no_video_publishes_audio_only() {
        let live = parse(&[]);
        assert_eq!(live.video, VideoMode::Live);
        assert_eq!(live.audio, AudioMode::Tone);
        let off = parse(&["--no-video"]);
        assert_eq!(off.video, VideoMode::Off);
        assert_eq!(off.audio, AudioMode::Tone);
        let muted = parse(&["--no-video", "--mute-audio"]);
        assert_eq!(
            (muted.video, muted.audio),
            (VideoMode::Off, AudioMode::Muted)
        );
        // Neither camera nor microphone would publish nothing at all.
        let argv = ["roomtape", "publish", "--room", "r", "--stream", "d"];
        assert!(Cli::try_parse_from(argv.iter().chain(&["--no-video", "--no-audio"])).is_err());
    }
}
