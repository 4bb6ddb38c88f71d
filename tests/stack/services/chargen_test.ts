import { assert, assertEquals } from "../../assert.ts";
import { CHARGEN_LINE, chargenCycle, serveChargen } from "../../../stack/services/chargen.ts";
import { connectTo, dec, localListener, readExactly } from "./_util.ts";

Deno.test("chargen: the pattern is RFC 864's rotating 72-character lines", () => {
  const cycle = dec.decode(chargenCycle());
  const lines = cycle.split("\r\n");
  assertEquals(lines.length, 96); // 95 lines and the empty rest after the last CR LF
  // Line 0 starts at the space, as BSD inetd's ring does; lines 1 and 2 are the first two lines
  // of RFC 864's sample.
  assertEquals(
    lines[0],
    " !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefg",
  );
  assertEquals(
    lines[1],
    "!\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefgh",
  );
  assertEquals(
    lines[2],
    "\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghi",
  );
  // The ring wraps: line 94 starts with the last printable character, then the space.
  assertEquals(lines[94].slice(0, 3), "~ !");
  for (const l of lines.slice(0, 95)) assertEquals(l.length, CHARGEN_LINE);
});

Deno.test("chargen: a client receives the stream, and the server stops when it leaves", async () => {
  const service = serveChargen(localListener());
  try {
    const conn = await connectTo(service);
    const cycle = chargenCycle();
    const got = await readExactly(conn, cycle.length * 3 + 100);
    for (let i = 0; i < got.length; i++) {
      if (got[i] !== cycle[i % cycle.length]) throw new Error(`byte ${i} differs`);
    }
    conn.close();
    // The server's writes fail once the client is gone; the connection ends without error.
    const deadline = Date.now() + 5000;
    while (service.active > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assertEquals(service.active, 0);
    assertEquals(service.errors, 0);
    assert(service.served === 1);
  } finally {
    service.close();
    await service.done;
  }
});
