/**
 * The status page is one self-contained document: no URL it would fetch besides the
 * `status.json` it polls (no CDN, no font, no image), the charting library inline and exactly
 * the npm package's files (scripts/vendor_uplot.ts), nothing that could end a `<script>` early.
 */
import { assert, assertEquals } from "../../assert.ts";
import { statusPageHtml } from "../../../cli/status/page.ts";
import { UPLOT_CSS, UPLOT_JS, UPLOT_VERSION } from "../../../cli/status/uplot.ts";

async function sha256(text: string): Promise<string> {
  const d = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(d), (b) => b.toString(16).padStart(2, "0")).join("");
}

Deno.test("status page: self-contained, uPlot inline, polls status.json only", () => {
  const html = statusPageHtml();
  assert(html.startsWith("<!doctype html>"));
  assert(html.includes(UPLOT_JS) && html.includes(UPLOT_CSS));
  // Nothing loaded from elsewhere: no src/href attribute, no CSS url(), no import.
  assertEquals(html.match(/\s(src|href)\s*=/gi), null);
  assertEquals(html.match(/url\(\s*['"]?(https?:)?\/\//gi), null);
  assertEquals(html.match(/\bimport\s*\(|@import/g), null);
  // The only request the page makes: status.json, relative to the page.
  const fetches = [...html.matchAll(/fetch\(([^,)]*)/g)].map((m) => m[1].trim());
  assert(fetches.length > 0);
  for (const f of fetches) assert(f.startsWith('"status.json'), f);
  assertEquals(html.match(/<script\b/gi)?.length, 2);
  assertEquals(html.match(/<\/script/gi)?.length, 2);
});

Deno.test("uPlot: the vendored files are the npm package's, byte for byte", async () => {
  assertEquals(UPLOT_VERSION, "1.6.32");
  // sha256 of dist/uPlot.iife.min.js and dist/uPlot.min.css in uplot-1.6.32.tgz.
  assertEquals(
    await sha256(UPLOT_JS),
    "19c8d4c6ad88929a79f4ae49d6f7161566dfd0ba3d15cc495e974f787eb78f1f",
  );
  assertEquals(
    await sha256(UPLOT_CSS),
    "df630c6a8d6f8eeaff264b50f73ce5b114f646ffd9a0bb74f049b0a00135fa04",
  );
});
