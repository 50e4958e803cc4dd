"""Reads an OpenTimelineIO file with the opentimelineio package and prints what an editor
would see, as JSON: per track its name, kind and clips (start on the timeline, duration, rate,
target_url). Used by tests/export.rs; run with the Python of target/otio-venv."""

import json
import sys

import opentimelineio as otio


def main(path):
    timeline = otio.adapters.read_from_file(path)
    tracks = []
    for track in timeline.tracks:
        clips = []
        for item in track:
            if not isinstance(item, otio.schema.Clip):
                continue
            placed = item.trimmed_range_in_parent()
            clips.append(
                {
                    "name": item.name,
                    "start": placed.start_time.to_seconds(),
                    "duration": placed.duration.to_seconds(),
                    "rate": placed.duration.rate,
                    "target_url": item.media_reference.target_url,
                }
            )
        tracks.append({"name": track.name, "kind": track.kind, "clips": clips})
    print(
        json.dumps(
            {
                "otio_version": otio.__version__,
                "name": timeline.name,
                "duration": timeline.duration().to_seconds(),
                "tracks": tracks,
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1])
