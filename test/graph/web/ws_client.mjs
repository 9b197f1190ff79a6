// node ws_client.mjs ws://HOST:PORT [--timeout S] [--frames N]
// Connects to the qcoinf Foxglove view as a Foxglove WebSocket protocol client, prints one JSON
// line: the server's name, every advertised channel (topic, encoding, schema name and
// encoding), the number of messages per topic and the latest decoded one of each (image data
// left out), once a caption, its latency, a plan, the battery and diagnostics have arrived
// (or at the timeout).
import WebSocket from "ws";
import { connect } from "./view_client.mjs";

const url = process.argv[2];
const arg = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const timeoutS = arg("--timeout", 60);
const frames = arg("--frames", 1);
const out = { server: null, channels: [], counts: {}, latest: {}, errors: [] };

function summary(topic, msg) {
  if (msg && msg.data && msg.data.length > 64) return { ...msg, data: `<${msg.data.length} bytes>` };
  return msg;
}

function done() {
  const c = out.counts;
  return ["/qcoinf/caption", "/qcoinf/caption/annotations", "/qcoinf/latency", "/qcoinf/plan",
    "/battery_state", "/diagnostics"].every((topic) => (c[topic] ?? 0) > 0)
    && (c["/camera/image_raw"] ?? 0) >= frames;
}

const { client } = connect(url, WebSocket, {
  onServerInfo: (info) => { out.server = info.name; },
  onError: (err) => out.errors.push(String(err)),
  onAdvertise: (channels) => {
    out.channels = channels.map((c) => ({ topic: c.topic, encoding: c.encoding,
      schemaName: c.schemaName, schemaEncoding: c.schemaEncoding }));
  },
  onMessage: (channel, msg) => {
    out.counts[channel.topic] = (out.counts[channel.topic] ?? 0) + 1;
    out.latest[channel.topic] = summary(channel.topic, msg);
    if (done()) finish(0);
  },
});

function finish(code) {
  out.complete = code === 0;
  console.log(JSON.stringify(out));
  client.close();
  process.exit(code);
}
setTimeout(() => finish(1), timeoutS * 1000);
