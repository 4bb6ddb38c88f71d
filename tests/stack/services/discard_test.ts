import { assertEquals } from "../../assert.ts";
import { serveDiscard } from "../../../stack/services/discard.ts";
import { connectTo, localListener, readAll, writeAllTo } from "./_util.ts";

Deno.test("discard: data is swallowed, nothing comes back, FIN is answered", async () => {
  const service = serveDiscard(localListener());
  try {
    const conn = await connectTo(service);
    await writeAllTo(conn, new Uint8Array(1 << 20).fill(0x61));
    await conn.closeWrite();
    const got = await readAll(conn);
    assertEquals(got.length, 0);
    conn.close();
    assertEquals(service.errors, 0);
  } finally {
    service.close();
    await service.done;
  }
});
