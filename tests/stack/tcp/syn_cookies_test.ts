/** SYN cookies (RFC 4987): round trip of MSS/wscale/SACK, expiry, binding to the tuple. */
import { assert, assertEquals } from "../../assert.ts";
import { COOKIE_MSS_TABLE, SynCookies } from "../../../stack/tcp/syn_cookies.ts";

Deno.test("a cookie returns its MSS index, window scale and SACK-permitted for two minutes", () => {
  const c = new SynCookies();
  const now = 10 * 60_000 + 1234;
  for (
    const [mss, ws, sack] of [[1460, 7, true], [1300, -1, false], [100, 14, true], [
      -1,
      0,
      false,
    ]] as const
  ) {
    const isn = 0xfffffff0;
    const cookie = c.make(0x0a000002, 40000, 0x0a000001, 80, isn, mss, ws, sack, now);
    assert(c.check(0x0a000002, 40000, 0x0a000001, 80, isn, cookie, now + 90_000));
    const want = mss < 0 ? 536 : COOKIE_MSS_TABLE.filter((m) => m <= mss).pop() ?? 536;
    assertEquals(c.last.mss, want);
    assertEquals(c.last.windowScale, ws);
    assertEquals(c.last.sackPermitted, sack);
    assert(!c.check(0x0a000002, 40000, 0x0a000001, 80, isn, cookie, now + 3 * 60_000), "expired");
    assert(!c.check(0x0a000003, 40000, 0x0a000001, 80, isn, cookie, now), "other address");
    assert(!c.check(0x0a000002, 40001, 0x0a000001, 80, isn, cookie, now), "other port");
    assert(!c.check(0x0a000002, 40000, 0x0a000001, 80, isn + 0x10000, cookie, now), "other ISN");
  }
});

Deno.test("random guesses almost never pass", () => {
  const c = new SynCookies();
  let passed = 0;
  const words = crypto.getRandomValues(new Uint32Array(16000));
  for (const w of words) if (c.check(1, 2, 3, 4, 5, w, 0)) passed++;
  // 7 bits of data in 24: about 1 in 131072 guesses passes (16000 tries).
  assert(passed <= 2, `${passed} random cookies passed`);
});
