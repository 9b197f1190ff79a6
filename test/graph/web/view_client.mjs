// A Foxglove WebSocket protocol client of the qcoinf view (@foxglove/ws-protocol), shared by the
// Node test client (ws_client.mjs) and the browser viewer (viewer/viewer.mjs, bundled by
// esbuild): subscribes to every advertised channel and decodes each message as Foxglove does,
// JSON with JSON.parse and protobuf with the channel's FileDescriptorSet (protobufjs).
import * as wsProtocol from "@foxglove/ws-protocol";
import protobuf from "protobufjs";
import descriptor from "protobufjs/ext/descriptor/index.js";

// Node loads the package as CommonJS (one default export), esbuild as its ES module.
const { FoxgloveClient } = wsProtocol.FoxgloveClient ? wsProtocol : wsProtocol.default;

function base64Bytes(text) {
  if (typeof Buffer !== "undefined") return new Uint8Array(Buffer.from(text, "base64"));
  const raw = atob(text);
  const out = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
  return out;
}

function decoderOf(channel) {
  if (channel.encoding === "json") {
    const text = new TextDecoder();
    return (data) => JSON.parse(text.decode(data));
  }
  if (channel.encoding === "protobuf" && channel.schemaEncoding === "protobuf") {
    const set = descriptor.FileDescriptorSet.decode(base64Bytes(channel.schema));
    const type = protobuf.Root.fromDescriptor(set).lookupType(channel.schemaName);
    return (data) =>
      type.toObject(type.decode(data), { longs: Number, defaults: true, bytes: Array });
  }
  throw new Error(`cannot decode ${channel.topic}: ${channel.encoding}/${channel.schemaEncoding}`);
}

// connect(url, WebSocket, {onAdvertise(channels), onMessage(channel, message, receiveTime)})
// -> {client, channels: Map(id -> channel)}
// foxglove-sdk's servers speak the protocol under its new name, foxglove.sdk.v1 (the same
// messages as foxglove.websocket.v1, which this client library still names).
export const SUBPROTOCOLS = ["foxglove.sdk.v1", FoxgloveClient.SUPPORTED_SUBPROTOCOL];

export function connect(url, WebSocketImpl, handlers) {
  const ws = new WebSocketImpl(url, SUBPROTOCOLS);
  const client = new FoxgloveClient({ ws });
  const channels = new Map();
  const subscriptions = new Map();
  client.on("serverInfo", (info) => handlers.onServerInfo?.(info));
  client.on("error", (err) => handlers.onError?.(err));
  client.on("advertise", (advertised) => {
    for (const channel of advertised) {
      let decode;
      try {
        decode = decoderOf(channel);
      } catch (err) {
        handlers.onError?.(err);
        continue;
      }
      channels.set(channel.id, { ...channel, decode });
      subscriptions.set(client.subscribe(channel.id), channel.id);
    }
    handlers.onAdvertise?.([...channels.values()]);
  });
  client.on("message", ({ subscriptionId, timestamp, data }) => {
    const channel = channels.get(subscriptions.get(subscriptionId));
    if (!channel) return;
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    handlers.onMessage?.(channel, channel.decode(bytes), timestamp);
  });
  return { client, channels };
}
