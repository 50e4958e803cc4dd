// A small VDO.Ninja-style browser publisher for Roomtape's integration tests.
//
// Headless Chromium opens publisher.html (served by relay.py) and this script then behaves
// like the VDO.Ninja web client publishing its camera in a room (docs/vdo-ninja-protocol.md
// §3–§5): hashed stream and room ids, AES-encrypted descriptions and candidates, one peer
// connection per viewer with a data-channel-only first offer, media added only when the viewer
// asks for it over the channel, renegotiation over the channel, bundled trickle candidates.
// It is written from the protocol description, not from the web client's code.
//
// URL parameters:
//   room          room name (absent: no room, only `seed`)
//   stream        stream id without the hash suffix (default: random)
//   label         label sent in the `info` message (default: the stream id)
//   password      absent: VDO.Ninja's default `someEncryptionKey123`; false|0|off: none
//   salt          default `vdo.ninja` (what the web client uses on 127.0.0.1)
//   wss           ws:// URL of the signaling server (default: ws://<this page's host>)
//   dialect       relay (default) | official
//   codec         VP8 | H264 | VP9 | AV1 (default: the browser's choice, or the viewer's
//                 `preferVideoCodec`)
//   resize_every  seconds; cycle scaleResolutionDownBy 1 → 2 → 1.5 → 1 … on the video sender
//   fmtp          with `codec`: keep only the profiles whose fmtp line has every `;`-separated
//                 part of this (e.g. `packetization-mode=0`)
//   opus          comma list of `stereo`, `dtx`: added to the offer's Opus fmtp line, as a page
//                 that wants stereo or discontinuous transmission munges its SDP
//   audio, video  publish the fake microphone / camera (default true)
//   selftest=1    only check hashing and encryption against the protocol doc's worked example
//
// Everything the test needs to know is reported as {"report": {...}} frames on the WebSocket;
// relay.py prints them as `report {json}` lines. Every report has `event`, `stream` and `t`
// (ms since page load).
'use strict';

const T0 = performance.now();
const params = new URLSearchParams(location.search);
const DEFAULT_PASSWORD = 'someEncryptionKey123';
// Characters for random ids; the web client avoids look-alikes the same way.
const ID_ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789';

function randomId(length) {
  const bytes = crypto.getRandomValues(new Uint8Array(length));
  return Array.from(bytes, (b) => ID_ALPHABET[b % ID_ALPHABET.length]).join('');
}

function boolParam(name, fallback) {
  const value = params.get(name);
  if (value === null) return fallback;
  return !/^(false|0|off|no)$/i.test(value.trim());
}

// The web client's rules: absent → default password; false/0/off → none; otherwise the
// trimmed value, URI-encoded (so `a b` is hashed as `a%20b`).
function passwordParam() {
  const raw = params.get('password');
  if (raw === null) return DEFAULT_PASSWORD;
  const value = raw.trim();
  if (/^(false|0|off)$/i.test(value)) return null;
  if (value === '' || /^(true|1|on)$/i.test(value)) return DEFAULT_PASSWORD;
  return encodeURIComponent(value);
}

const cfg = {
  room: params.get('room') || null,
  stream: params.get('stream') || randomId(8),
  password: passwordParam(),
  salt: params.get('salt') ?? 'vdo.ninja',
  wss: params.get('wss') || `ws://${location.host}`,
  dialect: (params.get('dialect') || 'relay').toLowerCase(),
  codec: params.get('codec') ? params.get('codec').toUpperCase() : null,
  resizeEvery: parseFloat(params.get('resize_every')) || 0,
  fmtp: params.get('fmtp') || null,
  opus: (params.get('opus') || '').split(',').map((o) => o.trim().toLowerCase()).filter(Boolean),
  audio: boolParam('audio', true),
  video: boolParam('video', true),
  selftest: boolParam('selftest', false),
};
cfg.label = params.get('label') || cfg.stream;
const RELAY = cfg.dialect !== 'official';

// --- reporting -----------------------------------------------------------------------------

let ws = null;
const unsentReports = []; // reports made while the socket is not open go out on (re)connect

function log(text) {
  console.log('[publisher] ' + text);
  const pre = document.getElementById('log');
  if (pre) pre.textContent += text + '\n';
}

function report(event, fields = {}) {
  const body = { event, stream: cfg.stream, t: Math.round(performance.now() - T0), ...fields };
  const text = JSON.stringify({ report: body });
  log(text);
  if (ws && ws.readyState === WebSocket.OPEN) ws.send(text);
  else unsentReports.push(text);
}

function reportError(where, err) {
  report('error', { where, message: String((err && err.message) || err) });
}

window.onerror = (message, source, line) => {
  report('error', { where: 'window', message: String(message), source, line });
};
window.onunhandledrejection = (e) => reportError('promise', e.reason);

// --- hashing and encryption (§5) ---------------------------------------------------------------

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

function toHex(buffer) {
  return Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, '0')).join('');
}

function fromHex(text) {
  if (typeof text !== 'string' || !/^(?:[0-9a-fA-F]{2})*$/.test(text)) throw new Error('bad hex');
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.substr(i * 2, 2), 16);
  return out;
}

async function sha256Hex(text) {
  return toHex(await crypto.subtle.digest('SHA-256', utf8.encode(text)));
}

// key = SHA-256(password + salt) used as an AES-256-CBC key (PKCS#7 padding is WebCrypto's).
async function makeKey(password, salt) {
  const raw = await crypto.subtle.digest('SHA-256', utf8.encode(password + salt));
  return crypto.subtle.importKey('raw', raw, { name: 'AES-CBC' }, false, ['encrypt', 'decrypt']);
}

async function encryptText(key, text, iv = crypto.getRandomValues(new Uint8Array(16))) {
  const cipher = await crypto.subtle.encrypt({ name: 'AES-CBC', iv }, key, utf8.encode(text));
  return { cipher: toHex(cipher), vector: toHex(iv) };
}

async function decryptText(key, cipherHex, ivHex) {
  const plain = await crypto.subtle.decrypt(
    { name: 'AES-CBC', iv: fromHex(ivHex) }, key, fromHex(cipherHex));
  return fromUtf8.decode(plain);
}

const me = {
  id: randomId(20), // relay dialect: our `from`, like the web client's generateStreamID(20)
  sessionPrefix: randomId(5), // sessions are 5 chars per page + 5 per connection
  wireStream: cfg.stream,
  wireRoom: cfg.room,
  key: null,
};

async function deriveIds() {
  if (cfg.password === null) return;
  const suffix = (await sha256Hex(cfg.password + cfg.salt)).slice(0, 6);
  // The web client cuts the id to 44 characters before appending the suffix.
  me.wireStream = cfg.stream.slice(0, 44) + suffix;
  if (cfg.room) me.wireRoom = (await sha256Hex(cfg.room + cfg.password + cfg.salt)).slice(0, 16);
  me.key = await makeKey(cfg.password, cfg.salt);
}

// Puts `value` into msg[field]: as JSON, or encrypted hex with its IV in `vector`.
async function putPayload(msg, field, value) {
  if (!me.key) {
    msg[field] = value;
    return msg;
  }
  const { cipher, vector } = await encryptText(me.key, JSON.stringify(value));
  msg[field] = cipher;
  msg.vector = vector;
  return msg;
}

// The value of msg[field], decrypted when it is a string and the message has a `vector`.
async function getPayload(msg, field) {
  const value = msg[field];
  if (typeof value === 'string' && msg.vector && me.key) {
    return JSON.parse(await decryptText(me.key, value, msg.vector));
  }
  return value;
}

// The worked example of the protocol doc, §5.
async function selftest() {
  const results = [];
  const check = (name, got, want) => results.push({ name, got, want, ok: got === want });
  const pw = DEFAULT_PASSWORD;
  const salt = 'vdo.ninja';
  const hex6 = (await sha256Hex(pw + salt)).slice(0, 6);
  check('hex6(default+salt)', hex6, '808d64');
  check('stream cam1', 'cam1' + hex6, 'cam1808d64');
  check('stream camera1', 'camera1' + hex6, 'camera1808d64');
  check('room testroom', (await sha256Hex('testroom' + pw + salt)).slice(0, 16), '01081e4801f6d08a');
  check('hex6(secret+salt)', (await sha256Hex('secret' + salt)).slice(0, 6), 'ecdb38');
  check('room testroom, secret',
    (await sha256Hex('testroom' + 'secret' + salt)).slice(0, 16), '21dcb99ec8e8dec2');
  check('AES key', await sha256Hex(pw + salt),
    '808d646f7eb92052344e1e668e340c852f8d675754acfae11d8cc49233c36eba');
  // Exactly the doc's plaintext (Python's json.dumps spacing), not a re-serialised object.
  const plaintext = '[{"candidate": "candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host", '
    + '"sdpMLineIndex": 0}]';
  const key = await makeKey(pw, salt);
  const iv = fromHex('000102030405060708090a0b0c0d0e0f');
  const { cipher } = await encryptText(key, plaintext, iv);
  check('ciphertext', cipher,
    '109e7a489e0d78ea12498367a1921ba866d319f34c081192dcfb37ade22e19c889f4f5c70a127077d8de6854'
    + 'cd603a54a5fb9152c894ede33a6d20a161343bcfc20f00df4d5238fa82c2a4ebe91efbebaeefc6ae9469d3d2'
    + 'a89600e885aad210');
  check('decrypt round trip', await decryptText(key, cipher, toHex(iv)), plaintext);
  // And through the same helpers the page uses on the wire, with a random IV.
  const saved = me.key;
  me.key = key;
  const msg = await putPayload({}, 'candidates', [{ candidate: 'candidate:x', sdpMLineIndex: 0 }]);
  check('payload round trip', JSON.stringify(await getPayload(msg, 'candidates')),
    '[{"candidate":"candidate:x","sdpMLineIndex":0}]');
  me.key = saved;
  report('selftest', { ok: results.every((r) => r.ok), results });
}

// --- signaling socket --------------------------------------------------------------------------

function wsSend(msg) {
  if (RELAY) {
    // Relays know clients only by `from`, and the web client in custom-server mode tags every
    // message with its room.
    msg.from = me.id;
    if (me.wireRoom) msg.roomid = me.wireRoom;
  }
  if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(msg));
  else report('error', { where: 'ws', message: 'socket not open, message dropped' });
}

function connect(onFirstOpen) {
  ws = new WebSocket(cfg.wss);
  ws.onopen = () => {
    for (const text of unsentReports.splice(0)) ws.send(text);
    report('ws_open', { url: cfg.wss, dialect: cfg.dialect });
    if (onFirstOpen) {
      const first = onFirstOpen;
      onFirstOpen = null;
      first();
    } else if (localStream) {
      join(); // after a reconnect, announce ourselves again like the web client
    }
  };
  ws.onmessage = (e) => onSocketMessage(e.data).catch((err) => reportError('ws message', err));
  ws.onclose = (e) => {
    report('ws_closed', { code: e.code }); // queued; goes out after the reconnect
    // The web client reconnects 5 s after a close; peer connections keep running meanwhile.
    setTimeout(() => connect(onFirstOpen), 5000);
  };
}

function join() {
  if (!cfg.room) {
    wsSend({ request: 'seed', streamID: me.wireStream });
    return;
  }
  if (RELAY) {
    // Custom-server mode: the join carries the stream id (relays register it), then a seed.
    wsSend({ request: 'joinroom', roomid: me.wireRoom, streamID: me.wireStream });
    wsSend({ request: 'seed', streamID: me.wireStream });
  } else {
    // Official server: join without a stream id; seed once the listing arrived.
    wsSend({ request: 'joinroom', roomid: me.wireRoom });
  }
  report('joined', { roomid: me.wireRoom, streamID: me.wireStream, id: RELAY ? me.id : null });
}

async function onSocketMessage(text) {
  let msg;
  try {
    msg = JSON.parse(text);
  } catch (err) {
    reportError('ws', 'invalid JSON from server');
    return;
  }
  if (!msg || typeof msg !== 'object') return;
  if (RELAY) {
    // Accept only what is for us and our room (a relay broadcasts almost everything).
    if (msg.from === me.id) return;
    if (msg.UUID !== undefined && msg.UUID !== me.id) return;
    if (msg.roomid !== undefined && me.wireRoom && msg.roomid !== me.wireRoom) return;
  }
  // The official server puts the sender in `UUID`; relays pass the sender's own `from`.
  const sender = RELAY ? msg.from : msg.UUID;

  if (msg.error !== undefined) {
    report('server_error', { message: msg.error });
    return;
  }
  switch (msg.request) {
    case 'listing':
      if (!RELAY) wsSend({ request: 'seed', streamID: me.wireStream });
      return;
    case 'offerSDP': // official: a viewer asked for our stream
      if (msg.UUID) await offerTo(msg.UUID, 'offerSDP');
      return;
    case 'play': // relay: forwarded only to us when it names our stream
      if (RELAY && sender && msg.streamID === me.wireStream) await offerTo(sender, 'play');
      return;
    case 'joinroom':
      // Relay: the web client treats a newcomer's join like offerSDP and offers unprompted
      // (§4.3). (It would also `play` the newcomer's stream; this page only publishes.)
      if (RELAY && sender) await offerTo(sender, 'joinroom');
      return;
    case 'cleanup':
      if (msg.UUID) closeViewer(msg.UUID, 'cleanup');
      return;
    case 'alert':
    case 'error':
      report('server_error', { message: msg.message, request: msg.request });
      return;
    case 'someonejoined':
    case 'videoaddedtoroom':
    case 'seed':
      return; // announcements of other streams; this page does not view
    default:
      break;
  }
  if (!sender) return;
  await onPeerMessage(sender, msg, 'socket');
}

// Peer-to-peer signaling, from the socket or from a viewer's data channel.
async function onPeerMessage(sender, msg, via) {
  const viewer = viewers.get(sender);
  if (msg.bye || msg.hangup) {
    closeViewer(sender, via === 'socket' ? 'bye (socket)' : 'bye');
    return;
  }
  if (msg.description !== undefined) {
    const desc = await getPayload(msg, 'description');
    if (!viewer) return;
    if (!desc || desc.type !== 'answer') {
      report('ignored', { viewer: sender, why: 'description of type ' + (desc && desc.type), via });
      return;
    }
    if (msg.session && msg.session !== viewer.session) {
      report('ignored', { viewer: sender, why: 'answer for a stale session', via });
      return;
    }
    await applyAnswer(viewer, desc, via);
  }
  if (msg.candidates !== undefined || msg.candidate !== undefined) {
    if (!viewer) return;
    if (msg.session && msg.session !== viewer.session) return;
    if (msg.type === 'local') return; // a publisher's candidates; we are the publisher here
    let list = msg.candidates !== undefined
      ? await getPayload(msg, 'candidates') : [await getPayload(msg, 'candidate')];
    if (!Array.isArray(list)) list = [list];
    await addRemoteCandidates(viewer, list, via);
  }
}

// --- one peer connection per viewer ----------------------------------------------------------

const viewers = new Map(); // viewer id → state
let localStream = null;

async function offerTo(viewerId, reason) {
  // A fresh request from a known viewer starts over, as when it reloads its page.
  if (viewers.has(viewerId)) closeViewer(viewerId, 'replaced by ' + reason);
  // No ICE servers: the tests run on loopback only, and nothing may leave the machine.
  const pc = new RTCPeerConnection({ iceServers: [] });
  const v = {
    id: viewerId,
    session: me.sessionPrefix + randomId(5),
    pc,
    dc: pc.createDataChannel('sendChannel'), // before the offer: it is all the offer carries
    localCandidates: [],
    flushTimer: null,
    flushedOnce: false,
    remoteCandidates: [], // arrived before the remote description
    mediaAdded: false,
    renegotiating: false,
    videoSender: null,
    resizeTimer: null,
    offeredAt: performance.now(),
    connectedOnce: false,
  };
  viewers.set(viewerId, v);

  pc.onicecandidate = (e) => {
    if (!e.candidate || !e.candidate.candidate) return; // end of gathering
    v.localCandidates.push(e.candidate.toJSON());
    // Bundled like the web client: first flush soon after the first candidate, later ones ~1 s.
    if (!v.flushTimer) v.flushTimer = setTimeout(() => flushCandidates(v), v.flushedOnce ? 1000 : 10);
  };
  pc.onconnectionstatechange = () => {
    const state = pc.connectionState;
    report('connection_state', { viewer: viewerId, session: v.session, state });
    if (state === 'connected' && !v.connectedOnce) {
      v.connectedOnce = true;
      report('connected', {
        viewer: viewerId, session: v.session, state,
        ms_since_offer: Math.round(performance.now() - v.offeredAt),
      });
    }
    if (state === 'failed') closeViewer(viewerId, 'connection failed');
  };
  v.dc.onopen = () => {
    report('channel_open', { viewer: viewerId, session: v.session });
    const settings = videoTrack() ? videoTrack().getSettings() : {};
    sendOnChannel(v, {
      info: {
        label: cfg.label,
        version: 'roomtape-test-publisher',
        muted: false,
        video_muted_init: !videoTrack(),
        video_init_width: settings.width,
        video_init_height: settings.height,
        video_init_frameRate: settings.frameRate,
        room_init: Boolean(cfg.room),
        broadcast_mode: false,
        order: 0,
        queued: false,
      },
    });
  };
  v.dc.onmessage = (e) => onChannelMessage(v, e.data).catch((err) => reportError('channel', err));
  v.dc.onclose = () => report('channel_closed', { viewer: viewerId, session: v.session });

  const offer = await pc.createOffer();
  await pc.setLocalDescription(offer);
  const msg = { UUID: viewerId, session: v.session, streamID: me.wireStream };
  if (RELAY) msg.isScene = false; // what the web client adds in custom-server mode
  await putPayload(msg, 'description', { type: 'offer', sdp: pc.localDescription.sdp });
  if (viewers.get(viewerId) !== v) return; // replaced while encrypting
  wsSend(msg);
  report('offer_sent', {
    viewer: viewerId, session: v.session, via: 'socket', reason,
    mlines: mediaKinds(pc.localDescription.sdp),
  });
}

function mediaKinds(sdp) {
  return sdp.split(/\r?\n/).filter((l) => l.startsWith('m=')).map((l) => l.slice(2).split(' ')[0]);
}

// Over the data channel once it is open (the web client's "anysend"), else over the socket.
function anysend(v, msg) {
  if (v.dc && v.dc.readyState === 'open') sendOnChannel(v, msg);
  else wsSend(msg);
}

function sendOnChannel(v, msg) {
  try {
    v.dc.send(JSON.stringify(msg));
  } catch (err) {
    reportError('channel send', err);
  }
}

async function flushCandidates(v) {
  v.flushTimer = null;
  v.flushedOnce = true;
  const list = v.localCandidates.splice(0);
  if (!list.length || viewers.get(v.id) !== v) return;
  const msg = { UUID: v.id, type: 'local', session: v.session };
  await putPayload(msg, 'candidates', list);
  anysend(v, msg);
  report('candidates_sent', { viewer: v.id, count: list.length });
}

async function addRemoteCandidates(v, list, via) {
  let added = 0;
  for (const c of list) {
    if (!c || !c.candidate) continue; // an empty candidate only means "end of candidates"
    if (!v.pc.remoteDescription) {
      v.remoteCandidates.push(c); // too early: applied right after the answer
      continue;
    }
    try {
      await v.pc.addIceCandidate(c);
      added++;
    } catch (err) {
      reportError('addIceCandidate', err);
    }
  }
  report('candidates_received', { viewer: v.id, count: list.length, added, via });
}

async function applyAnswer(v, desc, via) {
  if (v.pc.signalingState !== 'have-local-offer') {
    report('ignored', { viewer: v.id, why: 'answer in state ' + v.pc.signalingState, via });
    return;
  }
  await v.pc.setRemoteDescription({ type: 'answer', sdp: desc.sdp });
  report('answer_applied', {
    viewer: v.id, session: v.session, via, codecs: offeredCodecs(v.pc.remoteDescription.sdp),
    opusFmtp: fmtpOf(v.pc.remoteDescription.sdp, 'opus'),
  });
  const early = v.remoteCandidates.splice(0);
  if (early.length) await addRemoteCandidates(v, early, 'queued');
  if (v.renegotiating) {
    v.renegotiating = false;
    await reportMediaSent(v);
  }
}

async function onChannelMessage(v, text) {
  if (viewers.get(v.id) !== v) return;
  let msg;
  try {
    msg = JSON.parse(text);
  } catch (err) {
    reportError('channel', 'invalid JSON on the data channel');
    return;
  }
  if (!msg || typeof msg !== 'object') return;
  if (msg.ping !== undefined) sendOnChannel(v, { pong: msg.ping });
  if (msg.keyframe) report('keyframe', { viewer: v.id }); // Chrome handles PLIs by itself
  if (msg.bitrate !== undefined || msg.requestResolution !== undefined
      || msg.audioBitrate !== undefined || msg.targetBitrate !== undefined) {
    report('viewer_request', {
      viewer: v.id, bitrate: msg.bitrate, audioBitrate: msg.audioBitrate,
      targetBitrate: msg.targetBitrate, requestResolution: msg.requestResolution,
    });
  }
  // The media request: {"audio":true,"video":true,...}; nothing else has those as booleans.
  if (msg.description === undefined
      && (typeof msg.audio === 'boolean' || typeof msg.video === 'boolean')) {
    await addMedia(v, msg);
  }
  await onPeerMessage(v.id, msg, 'channel');
}

// --- media ---------------------------------------------------------------------------------------

function videoTrack() {
  return localStream ? localStream.getVideoTracks()[0] || null : null;
}

function audioTrack() {
  return localStream ? localStream.getAudioTracks()[0] || null : null;
}

function videoCodecNames() {
  const caps = RTCRtpSender.getCapabilities('video');
  return [...new Set((caps ? caps.codecs : []).map((c) => c.mimeType))];
}

// The codecs to prefer for `name`: every profile of it, plus the helpers (RTX, RED, FEC) that
// ride along; the others are left out so the viewer cannot pick another codec.
function codecPreference(kindCaps, name) {
  const codecs = kindCaps ? kindCaps.codecs : [];
  const fmtpParts = cfg.fmtp ? cfg.fmtp.split(';').map((p) => p.trim()).filter(Boolean) : [];
  const wanted = codecs.filter((c) => c.mimeType.toLowerCase() === 'video/' + name.toLowerCase())
    .filter((c) => fmtpParts.every((part) => (c.sdpFmtpLine || '').split(';').includes(part)));
  if (!wanted.length) return null;
  const helpers = codecs.filter((c) => /\/(rtx|red|ulpfec|flexfec-03)$/i.test(c.mimeType));
  return [...wanted, ...helpers];
}

function applyCodec(transceiver, name) {
  const fromSender = codecPreference(RTCRtpSender.getCapabilities('video'), name);
  if (!fromSender) {
    report('codec_unavailable', { codec: name, have: videoCodecNames() });
    return false;
  }
  try {
    transceiver.setCodecPreferences(fromSender);
    return true;
  } catch (err) {
    // Older rules accepted only receiver capabilities; try those before giving up.
    const fromReceiver = codecPreference(RTCRtpReceiver.getCapabilities('video'), name);
    try {
      if (!fromReceiver) throw err;
      transceiver.setCodecPreferences(fromReceiver);
      report('codec_preference', { codec: name, note: 'receiver capabilities used', error: String(err) });
      return true;
    } catch (err2) {
      reportError('setCodecPreferences', err2);
      return false;
    }
  }
}

async function addMedia(v, request) {
  if (v.mediaAdded) {
    report('ignored', { viewer: v.id, why: 'repeated media request' });
    return;
  }
  v.mediaAdded = true;
  report('media_request', { viewer: v.id, request });
  const vt = cfg.video && request.video !== false ? videoTrack() : null;
  const at = cfg.audio && request.audio !== false ? audioTrack() : null;
  if (vt) {
    v.videoSender = v.pc.addTrack(vt, localStream);
    const codec = cfg.codec || (typeof request.preferVideoCodec === 'string'
      ? request.preferVideoCodec.toUpperCase() : null);
    if (codec) {
      const transceiver = v.pc.getTransceivers().find((t) => t.sender === v.videoSender);
      applyCodec(transceiver, codec);
    }
  }
  if (at) v.pc.addTrack(at, localStream);
  if (!vt && !at) {
    report('ignored', { viewer: v.id, why: 'media request for nothing we publish' });
    return;
  }
  // Renegotiate over the channel, as the web client does once it is open.
  v.renegotiating = true;
  const offer = await v.pc.createOffer();
  offer.sdp = mungeOpus(offer.sdp);
  await v.pc.setLocalDescription(offer);
  const msg = { UUID: v.id, streamID: me.wireStream, session: v.session, isScene: false };
  await putPayload(msg, 'description', { type: 'offer', sdp: v.pc.localDescription.sdp });
  sendOnChannel(v, msg);
  report('offer_sent', {
    viewer: v.id, session: v.session, via: 'channel', reason: 'media request',
    mlines: mediaKinds(v.pc.localDescription.sdp),
    codecs: offeredCodecs(v.pc.localDescription.sdp),
  });
}

// The encoding names of every rtpmap in an SDP, lower case, without repeats.
function offeredCodecs(sdp) {
  const names = [...sdp.matchAll(/^a=rtpmap:\d+ ([^/\r\n]+)/gm)].map((m) => m[1].toLowerCase());
  return [...new Set(names)];
}

// The fmtp line of the first payload type of `codec` in an SDP, or null.
function fmtpOf(sdp, codec) {
  const pt = (sdp.match(new RegExp(`^a=rtpmap:(\\d+) ${codec}/`, 'mi')) || [])[1];
  if (!pt) return null;
  return (sdp.match(new RegExp(`^a=fmtp:${pt} ([^\r\n]*)`, 'm')) || [])[1] || null;
}

// Adds the `opus` parameter's wishes to the Opus fmtp line.
function mungeOpus(sdp) {
  if (!cfg.opus.length) return sdp;
  const pt = (sdp.match(/^a=rtpmap:(\d+) opus\/48000/mi) || [])[1];
  if (!pt) return sdp;
  const extra = [];
  if (cfg.opus.includes('stereo')) extra.push('stereo=1', 'sprop-stereo=1');
  if (cfg.opus.includes('dtx')) extra.push('usedtx=1');
  return sdp.replace(new RegExp(`^(a=fmtp:${pt} [^\r\n]*)`, 'm'), `$1;${extra.join(';')}`);
}

async function reportMediaSent(v) {
  const fields = { viewer: v.id, session: v.session };
  if (v.videoSender) {
    const codec = (v.videoSender.getParameters().codecs || [])[0];
    if (codec) {
      fields.codec = codec.mimeType;
      fields.payloadType = codec.payloadType;
      fields.sdpFmtpLine = codec.sdpFmtpLine;
    }
  }
  fields.senders = v.pc.getSenders().filter((s) => s.track).map((s) => s.track.kind);
  report('media_sent', fields);
  if (cfg.resizeEvery > 0 && v.videoSender) startResizing(v);
}

// Frame size the encoder currently produces, from outbound-rtp stats.
async function outboundVideo(v) {
  const stats = await v.videoSender.getStats();
  for (const s of stats.values()) {
    if (s.type === 'outbound-rtp' && s.kind === 'video') {
      return {
        frameWidth: s.frameWidth, frameHeight: s.frameHeight, framesEncoded: s.framesEncoded,
        encoder: s.encoderImplementation, qualityLimitation: s.qualityLimitationReason,
      };
    }
  }
  return {};
}

// Like a browser adapting to its bandwidth estimate: full → half → two-thirds → full size…
function startResizing(v) {
  const scales = [2, 1.5, 1];
  let step = 0;
  const periodMs = cfg.resizeEvery * 1000;
  v.resizeTimer = setInterval(async () => {
    if (viewers.get(v.id) !== v) return;
    const scale = scales[step++ % scales.length];
    try {
      const p = v.videoSender.getParameters();
      if (!p.encodings || !p.encodings.length) throw new Error('sender has no encodings');
      p.encodings[0].scaleResolutionDownBy = scale;
      await v.videoSender.setParameters(p);
      // The encoder applies the new size with its next frames; look a moment later.
      await new Promise((r) => setTimeout(r, Math.min(1000, periodMs / 2)));
      report('resize', { viewer: v.id, scale, ...(await outboundVideo(v)) });
    } catch (err) {
      reportError('resize', err);
    }
  }, periodMs);
}

function closeViewer(viewerId, reason) {
  const v = viewers.get(viewerId);
  if (!v) return;
  viewers.delete(viewerId);
  clearTimeout(v.flushTimer);
  clearInterval(v.resizeTimer);
  try {
    v.pc.close();
  } catch (err) { /* already closed */ }
  report('closed', { viewer: viewerId, session: v.session, reason });
}

// --- start -----------------------------------------------------------------------------------------

async function start() {
  await deriveIds();
  if (cfg.selftest) {
    connect(() => selftest().catch((err) => reportError('selftest', err)));
    return;
  }
  connect(async () => {
    try {
      // Chromium's fake camera (640×480 pattern) and fake microphone (beeps).
      localStream = await navigator.mediaDevices.getUserMedia({ video: cfg.video, audio: cfg.audio });
      document.getElementById('preview').srcObject = localStream;
      const vt = videoTrack();
      report('ready', {
        codecs: videoCodecNames(),
        video: vt ? vt.getSettings() : null,
        audio: Boolean(audioTrack()),
        streamID: me.wireStream,
        roomid: me.wireRoom,
        encrypted: Boolean(me.key),
      });
      if (cfg.codec && !codecPreference(RTCRtpSender.getCapabilities('video'), cfg.codec)) {
        report('codec_unavailable', { codec: cfg.codec, have: videoCodecNames() });
      }
      join();
    } catch (err) {
      reportError('getUserMedia', err);
    }
  });
}

addEventListener('pagehide', () => {
  // Say goodbye on the channel, as a closing tab does.
  for (const v of viewers.values()) sendOnChannel(v, { bye: true });
});

start().catch((err) => reportError('start', err));
