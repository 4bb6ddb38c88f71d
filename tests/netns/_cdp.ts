/**
 * A one-shot Chrome DevTools Protocol client for tests/netns/lb_status_test.ts, run inside the
 * namespace where headless Chromium listens on 127.0.0.1 (the test process, in the root
 * namespace, cannot reach that address, and Deno cannot hand Chromium the pipe of
 * `--remote-debugging-pipe`). Each run attaches to the browser's first page, does one thing,
 * prints one JSON line and exits; the page itself goes on polling between runs.
 *
 *   deno run --allow-net=127.0.0.1:PORT [--allow-write=FILE] _cdp.ts PORT eval EXPRESSION
 *   deno run --allow-net=127.0.0.1:PORT --allow-write=FILE _cdp.ts PORT screenshot FILE
 *
 * `eval` prints `{"value": ...}` (the expression's value, awaited, by value); `screenshot`
 * writes a PNG of the page and prints `{"bytes": N}`. Failures print `{"error": "..."}` and exit 1.
 *
 * @module
 */

const [port, action, arg] = Deno.args;

/** Sends CDP commands over one WebSocket and matches answers by id. */
class Session {
  readonly #ws: WebSocket;
  #id = 0;
  readonly #waiting = new Map<number, (msg: Record<string, unknown>) => void>();

  private constructor(ws: WebSocket) {
    this.#ws = ws;
    ws.onmessage = (e) => {
      const msg = JSON.parse(String(e.data));
      const done = this.#waiting.get(msg.id);
      if (done !== undefined) {
        this.#waiting.delete(msg.id);
        done(msg);
      }
    };
  }

  static open(url: string): Promise<Session> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url);
      ws.onopen = () => resolve(new Session(ws));
      ws.onerror = () => reject(new Error(`cannot open ${url}`));
    });
  }

  send(method: string, params: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    const id = ++this.#id;
    return new Promise((resolve, reject) => {
      this.#waiting.set(id, (msg) => {
        if (msg.error !== undefined) reject(new Error(`${method}: ${JSON.stringify(msg.error)}`));
        else resolve(msg.result as Record<string, unknown>);
      });
      this.#ws.send(JSON.stringify({ id, method, params }));
    });
  }

  close(): void {
    this.#ws.close();
  }
}

async function main(): Promise<unknown> {
  const list = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json() as {
    type: string;
    webSocketDebuggerUrl: string;
  }[];
  const page = list.find((t) => t.type === "page");
  if (page === undefined) throw new Error("the browser has no page open");
  const s = await Session.open(page.webSocketDebuggerUrl);
  try {
    if (action === "eval") {
      const r = await s.send("Runtime.evaluate", {
        expression: arg,
        returnByValue: true,
        awaitPromise: true,
      });
      if (r.exceptionDetails !== undefined) {
        throw new Error(`page exception: ${JSON.stringify(r.exceptionDetails)}`);
      }
      return { value: (r.result as { value?: unknown }).value ?? null };
    }
    if (action === "screenshot") {
      // The whole page, not just the viewport: the tables run below the fold.
      const m = await s.send("Page.getLayoutMetrics");
      const size = m.cssContentSize as { width: number; height: number };
      const r = await s.send("Page.captureScreenshot", {
        format: "png",
        captureBeyondViewport: true,
        clip: {
          x: 0,
          y: 0,
          width: Math.ceil(size.width),
          height: Math.ceil(size.height),
          scale: 1,
        },
      });
      const png = Uint8Array.from(atob(r.data as string), (c) => c.charCodeAt(0));
      await Deno.writeFile(arg, png);
      return { bytes: png.length };
    }
    throw new Error(`unknown action ${action} (eval or screenshot)`);
  } finally {
    s.close();
  }
}

try {
  console.log(JSON.stringify(await main()));
} catch (e) {
  console.log(JSON.stringify({ error: e instanceof Error ? e.message : String(e) }));
  Deno.exit(1);
}
