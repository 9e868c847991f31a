// Drives Debian's Chromium (headless) for the integration tests through playwright-core: reads
// one JSON command per stdin line, answers one JSON line each on stdout.
//   {"op":"open","url":U}          load a page (waits for its scripts, not for the stream)
//   {"op":"eval","expr":E}         evaluate E in the page; {"ok":true,"value":...}
//   {"op":"screenshot","path":P}   full-page PNG (with "width" and "height": that viewport only)
//   {"op":"quit"}
// CHROMIUM overrides /usr/bin/chromium. The profile is a fresh temp dir, removed at exit.
import { chromium } from "playwright-core";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";

const profile = mkdtempSync(join(tmpdir(), "sightline-chromium-"));
const flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync"];
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: flags,
  viewport: { width: 1400, height: 900 },
});
const page = context.pages()[0] || await context.newPage();
const reply = v => process.stdout.write(JSON.stringify(v) + "\n");
const cleanup = async () => { await context.close().catch(() => {}); rmSync(profile, { recursive: true, force: true }); };

reply({ ok: true, ready: true });
for await (const line of createInterface({ input: process.stdin })) {
  if (!line.trim()) continue;
  let cmd;
  try { cmd = JSON.parse(line); } catch (e) { reply({ ok: false, error: "bad command: " + e.message }); continue; }
  try {
    if (cmd.op === "open") { await page.goto(cmd.url, { waitUntil: "load", timeout: 20000 }); reply({ ok: true }); }
    else if (cmd.op === "eval") { reply({ ok: true, value: await page.evaluate(cmd.expr) }); }
    else if (cmd.op === "screenshot") {
      if (cmd.width && cmd.height) await page.setViewportSize({ width: cmd.width, height: cmd.height });
      await page.waitForTimeout(300);
      await page.screenshot({ path: cmd.path, fullPage: !(cmd.width && cmd.height) });
      reply({ ok: true });
    }
    else if (cmd.op === "quit") { reply({ ok: true }); break; }
    else reply({ ok: false, error: "unknown op " + cmd.op });
  } catch (e) { reply({ ok: false, error: String(e && e.message || e) }); }
}
await cleanup();
process.exit(0);
