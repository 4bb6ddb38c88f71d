/**
 * The lb.ts command line: `deno run --allow-ffi lb.ts <command>`. Everything lives in `cli/`.
 *
 * @module
 */
import { main } from "./cli/main.ts";

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
