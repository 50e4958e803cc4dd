#!/usr/bin/python3
"""A VDO.Ninja-compatible signaling server for Roomtape's integration tests.

It is a *third-party* peer on purpose: written on Python's `websockets` stack instead of
libsoup, so tests that use it do not share the assumptions of our own server
(src/signaling/server.rs). Two dialects (docs: vdo-ninja-protocol.md §2, §3, §6):

* relay (default): routes like VDO.Ninja's self-hosted `vdoninja.js`: clients name
  themselves with `from`, frames are broadcast unchanged within the sender's room, filtered by
  `UUID` and, for `play`, by the receiver's registered stream id. No listing, no join/leave
  notices (unless --leave-notices, which adds the offline server's `{"type":"disconnect"}`).
* official: imitates wss.vdo.ninja: server-assigned UUIDs, `listing`, `someonejoined`,
  `videoaddedtoroom`, `play` turned into `offerSDP`, frames with `UUID` delivered only to that
  peer with `UUID` rewritten to the sender's.

The same port serves plain HTTP GETs for the test pages (--static, default: this folder), so
a browser can load its page and open its WebSocket from one origin. A frame
`{"report": {...}}` from any client is printed as `report {json}` on stdout for the test and
is never forwarded.

stdout (line-buffered, for the test to wait on):
    listening http://127.0.0.1:PORT ws://127.0.0.1:PORT
    report {...}
stderr: one line per connection open/close (and every frame with --verbose).

Usage: python3 tests/peers/relay.py --port 0 [--dialect relay|official] [--static DIR]
       [--leave-notices] [--strict-handshake] [--verbose]
"""

import argparse
import asyncio
import http
import json
import mimetypes
import os
import posixpath
import re
import signal
import sys
import urllib.parse
import uuid

try:
    import websockets
    import websockets.exceptions
except ImportError:  # pragma: no cover - depends on the machine
    # Debian's python3-websockets lives in /usr/lib/python3/dist-packages, which a pyenv or
    # venv interpreter first on PATH does not see. Retry once with the system interpreter.
    system_python = "/usr/bin/python3"
    if os.path.realpath(sys.executable) != os.path.realpath(system_python) and os.path.exists(
        system_python
    ):
        os.execv(system_python, [system_python, *sys.argv])
    raise

HOST = "127.0.0.1"
# The web client never sends more than 35 000 characters; 1 MiB bounds what one client can
# make us buffer. websockets closes the connection (1009) on larger frames.
MAX_FRAME_BYTES = 1024 * 1024
# Alert text of the official server when a stream id is taken.
STREAM_IN_USE = "Stream ID is already in use."

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".htm": "text/html; charset=utf-8",
    ".js": "application/javascript; charset=utf-8",
    ".mjs": "application/javascript; charset=utf-8",
    ".json": "application/json",
    ".css": "text/css; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".wav": "audio/wav",
    ".y4m": "video/x-raw-yuv",
}


def log(text):
    print(text, file=sys.stderr, flush=True)


HEX_RUN = re.compile(r'"([0-9a-f]{64,})"')


def brief(text):
    """A frame for the log: ciphertexts shortened so the routing fields stay readable."""
    text = HEX_RUN.sub(lambda m: f'"{m.group(1)[:12]}…({len(m.group(1))} hex)"', str(text))
    return text if len(text) <= 600 else text[:600] + "…"


def dumps(value):
    # Compact and key order preserved: the shape clients see is what we built.
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def id_field(message, key):
    """A routing id: a non-empty string or a number (Raspberry Ninja's numeric ids)."""
    value = message.get(key)
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value:
        return value
    if isinstance(value, (int, float)):
        return str(value)
    return None


class Conn:
    """What the server knows about one WebSocket."""

    def __init__(self, number, ws):
        self.number = number  # server-internal, for logs only
        self.ws = ws
        self.id = None  # relay: first `from`; official: server-assigned UUID
        self.room = None
        self.stream_id = None


class Server:
    def __init__(self, dialect, leave_notices, verbose):
        self.dialect = dialect
        self.leave_notices = leave_notices
        self.verbose = verbose
        self.conns = {}  # number -> Conn, in connection order (dicts keep insertion order)
        self.next_number = 1

    # --- connection life cycle ---------------------------------------------------------------

    async def handler(self, ws):
        conn = Conn(self.next_number, ws)
        self.next_number += 1
        if self.dialect == "official":
            conn.id = self.fresh_uuid()
        self.conns[conn.number] = conn
        peer = ws.remote_address
        log(f"open conn={conn.number} peer={peer[0]}:{peer[1]} path={ws.path} "
            f"clients={len(self.conns)}" + (f" uuid={conn.id}" if conn.id else ""))
        code = None
        try:
            async for frame in ws:
                out = self.on_frame(conn, frame)
                await self.deliver(out)
        except websockets.exceptions.ConnectionClosed:
            pass
        finally:
            code = ws.close_code
            del self.conns[conn.number]
            log(f"close conn={conn.number} code={code} id={conn.id} clients={len(self.conns)}")
            await self.deliver(self.farewells(conn))

    async def deliver(self, out):
        """Sends (conn, text) pairs in order. Targets were chosen before any await, so state
        changes made meanwhile by other connections cannot misroute a frame."""
        for target, text in out:
            if self.verbose:
                log(f"  -> conn={target.number} {brief(text)}")
            try:
                await target.ws.send(text)
            except websockets.exceptions.ConnectionClosed:
                pass  # its handler is finishing and will clean up

    def farewells(self, conn):
        if conn.id is None:
            return []
        if self.dialect == "official":
            if conn.room is None:
                return []
            return self.to_room(conn.room, conn, {"request": "cleanup", "UUID": conn.id})
        if self.leave_notices:
            return self.to_scope(conn.room, conn, {"type": "disconnect", "uuid": conn.id})
        return []  # vdoninja.js says nothing when someone leaves

    # --- frames ------------------------------------------------------------------------------

    def error(self, conn, text):
        if self.dialect == "official":
            return [(conn, dumps({"request": "error", "message": text}))]
        return [(conn, dumps({"error": text}))]

    def on_frame(self, conn, frame):
        if self.verbose:
            log(f"<- conn={conn.number} {brief(frame)}")
        if not isinstance(frame, str):
            return self.error(conn, "binary frames are not supported")
        try:
            message = json.loads(frame)
        except ValueError:
            return self.error(conn, "invalid JSON")
        if not isinstance(message, dict):
            return self.error(conn, "message must be a JSON object")
        if "report" in message:
            # Test instrumentation from our own pages: for the test's eyes only.
            print("report " + dumps(message["report"]), flush=True)
            return []
        if self.dialect == "official":
            return self.official(conn, message)
        return self.relay(conn, frame, message)

    # --- relay dialect (vdoninja.js) ---------------------------------------------------------

    def relay(self, conn, text, message):
        sender_id = id_field(message, "from")
        if sender_id is None:
            return self.error(conn, "missing from")
        if conn.id is None:
            if any(c is not conn and c.id == sender_id for c in self.conns.values()):
                return self.error(conn, "uuid already in use")
            conn.id = sender_id
        elif conn.id != sender_id:
            # The first `from` is the identity; another one would let a client speak for
            # someone else.
            return self.error(conn, "from does not match this connection")

        request = message.get("request")
        stream = id_field(message, "streamID")
        if request in ("seed", "joinroom") and stream is not None:
            if conn.stream_id is not None and conn.stream_id != stream:
                return self.error(conn, "can't change sid")
            if conn.stream_id is None:
                if any(c is not conn and c.stream_id == stream for c in self.conns.values()):
                    return self.error(conn, "sid already in use")
                conn.stream_id = stream
        if request == "joinroom":
            room = id_field(message, "roomid")
            if room is not None:
                conn.room = room

        target = id_field(message, "UUID")
        out = []
        for other in self.conns.values():
            if other is conn:
                continue
            if target is not None and other.id != target:
                continue
            # Same room on both sides, or both outside rooms.
            if other.room != conn.room:
                continue
            # A `play` reaches only the publisher of that stream.
            if request == "play" and (stream is None or other.stream_id != stream):
                continue
            out.append((other, text))  # forwarded unchanged, like vdoninja.js
        return out

    # --- official dialect (wss.vdo.ninja) ----------------------------------------------------

    def official(self, conn, message):
        request = message.get("request")
        if request == "joinroom":
            return self.official_join(conn, message)
        if request == "seed":
            return self.official_seed(conn, message)
        if request == "play":
            return self.official_play(conn, message)
        if request == "ping":
            return []
        target = id_field(message, "UUID")
        if target is None:
            return []  # nothing to route by
        receiver = next(
            (c for c in self.conns.values() if c is not conn and c.id == target), None
        )
        if receiver is None:
            return []
        forwarded = dict(message)
        forwarded["UUID"] = conn.id  # the receiver learns whom to answer
        return [(receiver, dumps(forwarded))]

    def official_join(self, conn, message):
        room = id_field(message, "roomid")
        if room is None:
            return self.alert(conn, "joinroom needs a roomid.")
        out = []
        newcomer = conn.room != room
        if newcomer:
            if conn.room is not None:
                out += self.to_room(conn.room, conn, {"request": "cleanup", "UUID": conn.id})
            conn.room = room
        stream = id_field(message, "streamID")
        announce = False
        if stream is not None:
            if self.stream_taken(conn, room, stream):
                out += self.alert(conn, STREAM_IN_USE)
            elif conn.stream_id != stream:
                conn.stream_id = stream
                announce = not newcomer  # a newcomer's stream is in its someonejoined
        members = []
        for other in self.conns.values():
            if other is not conn and other.room == room:
                entry = {"UUID": other.id}
                if other.stream_id is not None:
                    entry["streamID"] = other.stream_id
                members.append(entry)
        out.append((conn, dumps({"request": "listing", "list": members})))
        if newcomer:
            joined = {"request": "someonejoined", "UUID": conn.id}
            if conn.stream_id is not None:
                joined["streamID"] = conn.stream_id
            out += self.to_room(room, conn, joined)
        elif announce:
            out += self.to_room(
                room, conn,
                {"request": "videoaddedtoroom", "UUID": conn.id, "streamID": conn.stream_id},
            )
        return out

    def official_seed(self, conn, message):
        stream = id_field(message, "streamID")
        if stream is None:
            return self.alert(conn, "seed needs a streamID.")
        if self.stream_taken(conn, conn.room, stream):
            return self.alert(conn, STREAM_IN_USE)
        if conn.stream_id == stream:
            return []
        conn.stream_id = stream
        if conn.room is None:
            return []
        return self.to_room(
            conn.room, conn, {"request": "videoaddedtoroom", "UUID": conn.id, "streamID": stream}
        )

    def official_play(self, conn, message):
        stream = id_field(message, "streamID")
        if stream is None:
            return self.alert(conn, "play needs a streamID.")
        # In a room only that room's publishers are visible; outside rooms, any publisher.
        seeder = next(
            (
                c for c in self.conns.values()
                if c is not conn and c.stream_id == stream
                and (conn.room is None or c.room == conn.room)
            ),
            None,
        )
        if seeder is None:
            return self.alert(conn, "The requested stream is not being published.")
        return [(seeder, dumps({"request": "offerSDP", "UUID": conn.id}))]

    # --- helpers -----------------------------------------------------------------------------

    def alert(self, conn, text):
        return [(conn, dumps({"request": "alert", "message": text}))]

    def to_room(self, room, except_conn, value):
        return self.to_scope(room, except_conn, value)

    def to_scope(self, room, except_conn, value):
        text = dumps(value)
        return [(c, text) for c in self.conns.values() if c is not except_conn and c.room == room]

    def stream_taken(self, conn, room, stream):
        return any(
            c is not conn and c.room == room and c.stream_id == stream
            for c in self.conns.values()
        )

    def fresh_uuid(self):
        while True:
            candidate = str(uuid.uuid4())
            if all(c.id != candidate for c in self.conns.values()):
                return candidate


# --- HTTP on the same port ------------------------------------------------------------------


def make_process_request(static_root, strict_handshake):
    """websockets calls this for every HTTP request before the WebSocket handshake. Returning
    None lets the handshake go on; a (status, headers, body) tuple answers plain HTTP."""

    def process_request(path, headers):
        if headers.get("Upgrade", "").lower() == "websocket":
            if strict_handshake:
                # Node's `ws` (VDO.Ninja's self-hosted servers) refuses a protocol header that
                # is present but holds no valid token; websockets itself lets it pass.
                values = headers.get_all("Sec-WebSocket-Protocol")
                tokens = [t.strip() for v in values for t in v.split(",")]
                if values and (not tokens or any(not t for t in tokens)):
                    log(f"refused upgrade: invalid Sec-WebSocket-Protocol {values!r}")
                    return (http.HTTPStatus.BAD_REQUEST, [("Content-Type", "text/plain")],
                            b"Invalid Sec-WebSocket-Protocol header\n")
            return None
        return serve_file(static_root, path)

    return process_request


def serve_file(static_root, raw_path):
    def answer(status, body, content_type="text/plain; charset=utf-8"):
        # websockets needs an HTTPStatus (it reads .value and .phrase).
        headers = [("Content-Type", content_type), ("Content-Length", str(len(body))),
                   ("Cache-Control", "no-store"), ("Connection", "close")]
        return (http.HTTPStatus(status), headers, body)

    path = urllib.parse.urlsplit(raw_path).path
    rel = urllib.parse.unquote(path)
    # Normalise as a URL path first, so "/a/../../x" cannot climb; then check the real path
    # (symlinks resolved) is still inside the root.
    rel = posixpath.normpath("/" + rel).lstrip("/")
    if rel in ("", "."):
        return answer(404, b"not found\n")
    if "\0" in rel:
        return answer(400, b"bad path\n")
    full = os.path.realpath(os.path.join(static_root, *rel.split("/")))
    if os.path.commonpath([full, static_root]) != static_root or not os.path.isfile(full):
        return answer(404, b"not found\n")
    ext = os.path.splitext(full)[1].lower()
    content_type = CONTENT_TYPES.get(ext) or mimetypes.guess_type(full)[0] or (
        "application/octet-stream")
    try:
        with open(full, "rb") as f:
            body = f.read()
    except OSError:
        return answer(404, b"not found\n")
    return answer(200, body, content_type)


async def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0: any)")
    parser.add_argument("--dialect", choices=("relay", "official"), default="relay")
    parser.add_argument("--static", default=os.path.dirname(os.path.abspath(__file__)),
                        help="folder served over HTTP (default: this script's folder)")
    parser.add_argument("--leave-notices", action="store_true",
                        help="relay: broadcast {type:disconnect,uuid} on close (offline server)")
    parser.add_argument("--strict-handshake", action="store_true",
                        help="refuse an empty Sec-WebSocket-Protocol header, like Node's ws")
    parser.add_argument("--verbose", action="store_true", help="log every frame to stderr")
    args = parser.parse_args()

    static_root = os.path.realpath(args.static)
    server_state = Server(args.dialect, args.leave_notices, args.verbose)
    stop = asyncio.get_running_loop().create_future()
    for signum in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(
            signum, lambda: stop.done() or stop.set_result(None))

    async with websockets.serve(
        server_state.handler,
        HOST,
        args.port,
        process_request=make_process_request(static_root, args.strict_handshake),
        max_size=MAX_FRAME_BYTES,
        # Like the offline relay's 30 s WebSocket pings; keeps idle test runs alive.
        ping_interval=30,
        ping_timeout=30,
    ) as ws_server:
        port = ws_server.sockets[0].getsockname()[1]
        print(f"listening http://{HOST}:{port} ws://{HOST}:{port}", flush=True)
        log(f"relay.py: {args.dialect} dialect, static files from {static_root}")
        await stop


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
