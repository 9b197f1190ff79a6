// A minimal reader of a Foxglove/Lichtblick layout (the classic "configById + layout" JSON the
// apps import), for the browser test: lays the panels out as the layout's mosaic says and feeds
// them from a Foxglove WebSocket server through the same client as the Node test
// (view_client.mjs). Image (RawImage/CompressedImage + ImageAnnotations text), Plot (message
// paths "/topic.field" against receive time), RawMessages (a topic path's value) and
// DiagnosticSummary panels; others are shown by name only. Not Foxglove: it checks that the
// shipped layout's topics, schemas and fields are what the bridge streams, and shows them.
import { connect } from "../view_client.mjs";

const params = new URLSearchParams(location.search);
const state = { frames: 0, caption: "", plotPoints: {}, panels: [], errors: [] };
window.__view = state;
const listeners = new Map(); // topic -> [fn(message, receiveTime)]
const listen = (topic, fn) => listeners.set(topic, [...(listeners.get(topic) ?? []), fn]);

function el(tag, cls, parent) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  parent?.appendChild(e);
  return e;
}

function splitPath(path) { // "/qcoinf/plan.bit_width" -> ["/qcoinf/plan", ["bit_width"]]
  const dot = path.indexOf(".", path.lastIndexOf("/"));
  return dot < 0 ? [path, []] : [path.slice(0, dot), path.slice(dot + 1).split(".")];
}
const field = (msg, keys) => keys.reduce((v, k) => (v == null ? v : v[k]), msg);

function imagePanel(id, config, body) {
  const mode = config.imageMode ?? {};
  const canvas = el("canvas", "image", body);
  const overlay = el("div", "caption-overlay", body);
  overlay.setAttribute("role", "note");
  overlay.hidden = true;
  const ctx = canvas.getContext("2d");
  let texts = [];
  let last = null;
  const draw = () => {
    if (last) ctx.putImageData(last, 0, 0);
    for (const t of texts) {
      ctx.font = `${t.font_size}px sans-serif`;
      const w = ctx.measureText(t.text).width;
      const c = t.background_color;
      ctx.fillStyle = `rgba(${c.r * 255},${c.g * 255},${c.b * 255},${c.a})`;
      ctx.fillRect(t.position.x - 2, t.position.y - t.font_size, w + 4, t.font_size * 1.25);
      const f = t.text_color;
      ctx.fillStyle = `rgba(${f.r * 255},${f.g * 255},${f.b * 255},${f.a})`;
      ctx.fillText(t.text, t.position.x, t.position.y);
    }
  };
  listen(mode.imageTopic, (msg) => {
    const { width, height, encoding } = msg;
    const src = Uint8Array.from(msg.data);
    const rgba = new ImageData(width, height);
    const channels = { rgb8: 3, bgr8: 3, rgba8: 4, bgra8: 4, mono8: 1 }[encoding];
    if (!channels) { state.errors.push(`encoding ${encoding}`); return; }
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const s = y * msg.step + x * channels, d = (y * width + x) * 4;
        const [r, g, b] = channels === 1 ? [src[s], src[s], src[s]]
          : encoding.startsWith("bgr") ? [src[s + 2], src[s + 1], src[s]]
            : [src[s], src[s + 1], src[s + 2]];
        rgba.data.set([r, g, b, 255], d);
      }
    }
    canvas.width = width; canvas.height = height;
    last = rgba;
    state.frames += 1;
    draw();
  });
  for (const [topic, settings] of Object.entries(mode.annotations ?? {})) {
    if (settings.visible === false) continue;
    listen(topic, (msg) => {
      texts = msg.texts ?? [];
      overlay.textContent = texts.map((t) => t.text).join(" / ");
      overlay.hidden = texts.length === 0;
      if (texts.length) state.caption = texts[0].text;
      draw();
    });
  }
}

function plotPanel(id, config, body) {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  body.appendChild(svg);
  const legend = el("div", "legend", body);
  const colors = ["#4e98e2", "#f5774d", "#f7df71", "#5cd6a9", "#dc7ae6"];
  const series = config.paths.filter((p) => p.enabled !== false).map((p, i) => ({
    path: p.value, label: p.label ?? p.value, color: p.color ?? colors[i % colors.length],
    points: [] }));
  const render = () => {
    const all = series.flatMap((s) => s.points);
    if (!all.length) return;
    const times = all.map((p) => p[0]);
    const t1 = Math.max(...times);
    const t0 = Math.max(Math.min(...times), t1 - (config.followingViewWidth ?? 60));
    const ys = all.map((p) => p[1]);
    const lo = config.minYValue ?? Math.min(...ys), hi = config.maxYValue ?? Math.max(...ys);
    const span = hi - lo || 1;
    const { width, height } = svg.getBoundingClientRect();
    svg.innerHTML = series.map((s) => {
      const pts = s.points.filter((p) => p[0] >= t0).map((p) =>
        `${((p[0] - t0) / (t1 - t0 || 1)) * (width - 10) + 5},${height - 5 - ((p[1] - lo) / span) * (height - 10)}`);
      return `<polyline fill="none" stroke="${s.color}" stroke-width="2" points="${pts.join(" ")}"/>`
        + pts.slice(-1).map((p) => `<circle r="3" fill="${s.color}" cx="${p.split(",")[0]}" cy="${p.split(",")[1]}"/>`).join("");
    }).join("");
    legend.innerHTML = series.map((s) => {
      const v = s.points.at(-1)?.[1];
      return `<div style="color:${s.color}">${s.label}: ${v === undefined ? "-" : +v.toPrecision(4)}</div>`;
    }).join("");
  };
  for (const s of series) {
    const [topic, keys] = splitPath(s.path);
    state.plotPoints[`${id} ${s.path}`] = 0;
    listen(topic, (msg, time) => {
      const v = field(msg, keys);
      if (typeof v !== "number") return;
      s.points.push([time, v]);
      if (s.points.length > 2000) s.points.shift();
      state.plotPoints[`${id} ${s.path}`] += 1;
      render();
    });
  }
}

function rawPanel(id, config, body) {
  const box = el("div", "raw", body);
  const [topic, keys] = splitPath(config.topicPath);
  listen(topic, (msg) => {
    const v = field(msg, keys);
    box.textContent = typeof v === "object" ? JSON.stringify(v, null, 1) : String(v);
  });
}

function diagnosticsPanel(id, config, body) {
  const box = el("div", "diag", body);
  const latest = new Map();
  listen(config.topicToRender ?? "/diagnostics", (msg) => {
    for (const s of msg.status ?? []) latest.set(s.name, s);
    box.innerHTML = [...latest.values()].sort((a, b) => b.level - a.level).map((s) =>
      `<div class="lvl${s.level}">${["OK", "WARN", "ERROR", "STALE"][s.level] ?? s.level} ${s.name}: ${s.message}</div>`).join("");
  });
}

const PANELS = { Image: imagePanel, Plot: plotPanel, RawMessages: rawPanel,
  DiagnosticSummary: diagnosticsPanel };

function build(node, layout, parent) {
  if (typeof node === "string") {
    const panel = el("section", "panel", parent);
    panel.dataset.panel = node;
    el("header", "", panel).textContent = node;
    const body = el("div", "body", panel);
    const kind = node.split("!")[0];
    state.panels.push(node);
    PANELS[kind]?.(node, layout.configById[node] ?? {}, body);
    return panel;
  }
  const box = el("div", `split ${node.direction}`, parent);
  const pct = node.splitPercentage ?? 50;
  build(node.first, layout, box).style.flex = `${pct} 1 0`;
  build(node.second, layout, box).style.flex = `${100 - pct} 1 0`;
  return box;
}

async function main() {
  const layout = await (await fetch(params.get("layout") ?? "layout.json")).json();
  build(layout.layout, layout, document.getElementById("root"));
  connect(params.get("ws"), WebSocket, {
    onError: (err) => state.errors.push(String(err)),
    onAdvertise: (channels) => { state.channels = channels.map((c) => c.topic); },
    onMessage: (channel, msg) => {
      const time = performance.now() / 1000;
      for (const fn of listeners.get(channel.topic) ?? []) fn(msg, time);
    },
  });
}
main().catch((err) => state.errors.push(String(err)));
