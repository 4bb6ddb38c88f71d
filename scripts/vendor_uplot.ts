/**
 * Regenerates cli/status/uplot.ts, the charting library the status page inlines (uPlot, MIT, by
 * Leon Sorokin), from the npm package's files: the page must be one self-contained document (no
 * CDN, no second request), and `lb.ts run` has no read permission to load a file at run time, so
 * the minified script and stylesheet are kept in a TypeScript module as string constants.
 *
 * usage (from the repository root):
 *   npm pack uplot@1.6.32 && tar xzf uplot-1.6.32.tgz
 *   scripts/deno run --allow-read=package --allow-write=cli/status/uplot.ts \
 *     scripts/vendor_uplot.ts package
 *
 * @module
 */

const dir = Deno.args[0];
if (dir === undefined) {
  console.error("usage: vendor_uplot.ts PACKAGE_DIR (the unpacked npm package)");
  Deno.exit(2);
}
const pkg = JSON.parse(await Deno.readTextFile(`${dir}/package.json`));
const js = await Deno.readTextFile(`${dir}/dist/uPlot.iife.min.js`);
const css = await Deno.readTextFile(`${dir}/dist/uPlot.min.css`);
const license = await Deno.readTextFile(`${dir}/LICENSE`);
// Inside an inline <script>, "</script" would end the element early.
if (/<\/script/i.test(js)) throw new Error("the script contains </script: cannot inline it");
const text = `// deno-fmt-ignore-file
// deno-lint-ignore-file
/**
 * uPlot ${pkg.version} (npm package "uplot"), vendored by scripts/vendor_uplot.ts: the status
 * page inlines these strings. Do not edit; regenerate. Its license:
 *
${license.trimEnd().split("\n").map((l) => ` * ${l}`.trimEnd()).join("\n")}
 *
 * @module
 */

/** The package version. */
export const UPLOT_VERSION = ${JSON.stringify(pkg.version)};
/** dist/uPlot.iife.min.js: defines the global \`uPlot\`. */
export const UPLOT_JS = ${JSON.stringify(js)};
/** dist/uPlot.min.css. */
export const UPLOT_CSS = ${JSON.stringify(css)};
`;
await Deno.writeTextFile("cli/status/uplot.ts", text);
console.log(`cli/status/uplot.ts: uPlot ${pkg.version}, ${js.length + css.length} bytes`);
