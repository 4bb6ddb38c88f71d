import { assertEquals, assertMatch, assertThrows } from "../assert.ts";
import { parseFetchUrl } from "../../cli/commands/fetch.ts";
import { UsageError } from "../../cli/args.ts";

Deno.test("fetch: URLs resolve to address, port, path and Host header", () => {
  assertEquals(parseFetchUrl("http://10.0.0.1/"), {
    host: "10.0.0.1",
    port: 80,
    path: "/",
    hostHeader: "10.0.0.1",
  });
  assertEquals(parseFetchUrl("http://10.0.0.1:8080/bytes/100?x=1"), {
    host: "10.0.0.1",
    port: 8080,
    path: "/bytes/100?x=1",
    hostHeader: "10.0.0.1:8080",
  });
  assertEquals(parseFetchUrl("http://10.0.0.1").path, "/");
  // IPv6 in brackets, written canonically (RFC 5952) in the Host header.
  assertEquals(parseFetchUrl("http://[2001:DB8:0::1]:8000/big"), {
    host: "[2001:db8::1]",
    port: 8000,
    path: "/big",
    hostHeader: "[2001:db8::1]:8000",
  });
});

Deno.test("fetch: unsupported URLs are usage errors naming the problem", () => {
  const cases: [string, RegExp][] = [
    ["10.0.0.1/", /not a URL/],
    ["https://10.0.0.1/", /only http:\/\/ URLs/],
    ["http://example.com/", /not an IPv4 or \[IPv6\] address/],
    ["http://u:p@10.0.0.1/", /user names/],
  ];
  for (const [url, re] of cases) {
    const e = assertThrows(() => parseFetchUrl(url), UsageError);
    assertMatch(e.message, re);
  }
});
