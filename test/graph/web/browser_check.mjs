// node browser_check.mjs ws://HOST:PORT --layout LAYOUT.json --chromium /usr/bin/chromium
//        --screenshot OUT.png [--timeout S]
// Bundles viewer/viewer.mjs (esbuild), serves it with the layout on 127.0.0.1, opens it in
// headless Chromium (playwright-core) connected to the Foxglove WebSocket server, waits until
// a frame is drawn, a caption annotation is on it and every plot of the layout has points,
// saves a screenshot and prints one JSON line: the caption, the page's text, the panels, the
// points per plot series, the errors.
import { readFile } from "node:fs/promises";
import http from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";

import * as esbuild from "esbuild";
import { chromium } from "playwright-core";

const here = path.dirname(fileURLToPath(import.meta.url));
const url = process.argv[2];
const opt = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const timeoutMs = Number(opt("--timeout", 60)) * 1000;

const bundle = await esbuild.build({
  entryPoints: [path.join(here, "viewer", "viewer.mjs")], bundle: true, write: false,
  format: "iife", platform: "browser", target: "es2022", logLevel: "error",
});
const files = {
  "/": ["text/html", await readFile(path.join(here, "viewer", "index.html"))],
  "/viewer.js": ["text/javascript", bundle.outputFiles[0].contents],
  "/layout.json": ["application/json", await readFile(opt("--layout"))],
};
const server = http.createServer((req, res) => {
  const file = files[req.url.split("?")[0]];
  if (!file) { res.writeHead(404).end(); return; }
  res.writeHead(200, { "content-type": file[0] }).end(file[1]);
});
await new Promise((ok) => server.listen(0, "127.0.0.1", ok));

const browser = await chromium.launch({
  executablePath: opt("--chromium", "/usr/bin/chromium"), headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
});
let code = 0;
const out = {};
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 860 } });
  const logs = [];
  page.on("console", (m) => logs.push(`${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => logs.push(`pageerror: ${e}`));
  await page.goto(`http://127.0.0.1:${server.address().port}/?ws=${encodeURIComponent(url)}`);
  try {
    await page.waitForFunction(() => {
      const v = window.__view;
      return v && v.frames > 0 && v.caption && Object.values(v.plotPoints).length
        && Object.values(v.plotPoints).every((n) => n > 0);
    }, null, { timeout: timeoutMs, polling: 250 });
    await page.waitForTimeout(1500); // a few more points on the plots for the screenshot
  } catch (err) {
    code = 1;
    out.timeout = String(err).split("\n")[0];
  }
  const view = await page.evaluate(() => window.__view);
  Object.assign(out, {
    caption: view.caption, frames: view.frames, imageDrawn: view.frames > 0,
    panels: view.panels, plotPoints: view.plotPoints, channels: view.channels,
    errors: view.errors, console: logs.slice(-10),
    pageText: await page.evaluate(() => document.body.innerText),
  });
  await page.screenshot({ path: opt("--screenshot", "foxglove_layout.png") });
  out.screenshot = opt("--screenshot", "foxglove_layout.png");
} finally {
  await browser.close();
  server.close();
}
console.log(JSON.stringify(out));
process.exit(code);
