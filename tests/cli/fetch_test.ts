import { assertEquals, assertMatch, assertThrows } from "../assert.ts";
import {
  fetchRequest,
  headEnd,
  parseFetchUrl,
  parseResponseHead,
} from "../../cli/commands/fetch.ts";
import { UsageError } from "../../cli/args.ts";
import { parseIpv4 } from "../../stack/wire/address.ts";

const enc = new TextEncoder();

Deno.test("fetch: URLs resolve to address, port, path and Host header", () => {
  assertEquals(parseFetchUrl("http://10.0.0.1/"), {
    host: parseIpv4("10.0.0.1")!,
    port: 80,
    path: "/",
    hostHeader: "10.0.0.1",
  });
  assertEquals(parseFetchUrl("http://10.0.0.1:8080/bytes/100?x=1"), {
    host: parseIpv4("10.0.0.1")!,
    port: 8080,
    path: "/bytes/100?x=1",
    hostHeader: "10.0.0.1:8080",
  });
  assertEquals(parseFetchUrl("http://10.0.0.1").path, "/");
});

Deno.test("fetch: unsupported URLs are usage errors naming the problem", () => {
  const cases: [string, RegExp][] = [
    ["10.0.0.1/", /not a URL/],
    ["https://10.0.0.1/", /only http:\/\/ URLs/],
    ["http://example.com/", /not an IPv4 address/],
    ["http://u:p@10.0.0.1/", /user names/],
  ];
  for (const [url, re] of cases) {
    const e = assertThrows(() => parseFetchUrl(url), UsageError);
    assertMatch(e.message, re);
  }
});

Deno.test("fetch: the request is the seed's GET as HTTP/1.0 with a Host header", () => {
  assertEquals(
    fetchRequest(parseFetchUrl("http://10.0.0.1:8080/x")),
    "GET /x HTTP/1.0\r\nHost: 10.0.0.1:8080\r\nUser-Agent: lb.ts\r\nAccept: */*\r\n\r\n",
  );
});

Deno.test("fetch: the head ends at CRLF CRLF or LF LF, not before", () => {
  const b = (s: string) => enc.encode(s);
  assertEquals(headEnd(b("HTTP/1.0 200 OK\r\n\r\nbody"), 23), 19);
  assertEquals(headEnd(b("HTTP/1.0 200 OK\n\nbody"), 21), 17);
  assertEquals(headEnd(b("HTTP/1.0 200 OK\r\nA: b\r\n"), 24), -1);
  // Only the bytes received so far count.
  assertEquals(headEnd(b("HTTP/1.0 200 OK\r\n\r\n"), 18), -1);
});

Deno.test("fetch: status and Content-Length are read from the head", () => {
  assertEquals(
    parseResponseHead("HTTP/1.1 404 Not Found\r\nContent-Length: 14\r\nX: y\r\n\r\n"),
    { status: 404, contentLength: 14 },
  );
  assertEquals(parseResponseHead("HTTP/1.0 200 OK\n\n"), { status: 200, contentLength: null });
  assertThrows(() => parseResponseHead("SSH-2.0-OpenSSH\r\n\r\n"));
});
