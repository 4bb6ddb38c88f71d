import { assert, assertEquals, assertMatch } from "../../assert.ts";
import { own, startProgram } from "../../programs.ts";
import {
  cString,
  describeErrno,
  EFD_CLOEXEC,
  EFD_NONBLOCK,
  Errno,
  libc,
  POLLIN,
  POLLOUT,
  pollRevents,
  setPollFd,
} from "../../../stack/sys/libc.ts";

Deno.test("libc: opened once; errno reads the failed call's error", () => {
  const lib = libc();
  assert(libc() === lib);
  const { read, getpid } = lib.symbols;
  assertEquals(getpid(), Deno.pid);
  assertEquals(read(-1, new Uint8Array(4), 4), -1);
  assertEquals(lib.errno[0], Errno.EBADF);
  assertEquals(describeErrno(Errno.EBADF), "EBADF (Bad file descriptor)");
  assertMatch(describeErrno(4242), /^errno 4242/);
});

Deno.test("libc: pollfd helpers and both poll variants on an eventfd", async () => {
  const { eventfd, write, read, poll, pollAsync, close } = libc().symbols;
  const fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  assert(fd >= 0);
  try {
    const fds = new Uint8Array(8);
    setPollFd(fds, 0, fd, POLLIN | POLLOUT);
    assertEquals(Array.from(fds.subarray(0, 6)), [fd & 0xff, fd >> 8 & 0xff, 0, 0, 5, 0]);
    assertEquals(poll(fds, 1, 0), 1);
    assertEquals(pollRevents(fds, 0), POLLOUT, "writable, not readable yet");
    const one = new Uint8Array([1, 0, 0, 0, 0, 0, 0, 0]);
    assertEquals(write(fd, one, 8), 8);
    setPollFd(fds, 0, fd, POLLIN);
    assertEquals(await pollAsync(fds, 1, 1000), 1);
    assertEquals(pollRevents(fds, 0), POLLIN);
    const got = new Uint8Array(8);
    assertEquals(read(fd, got, 8), 8);
    assertEquals(got, one);
    assertEquals(read(fd, got, 8), -1);
    assertEquals(libc().errno[0], Errno.EAGAIN);
  } finally {
    close(fd);
  }
});

Deno.test("libc: cString is NUL-terminated UTF-8", () => {
  assertEquals(cString("tun"), new Uint8Array([0x74, 0x75, 0x6e, 0]));
  assertEquals(cString("é").length, 3);
});

Deno.test("libc: without --allow-ffi the error says to pass it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "lbts-libc-" });
  try {
    const script = `${dir}/noffi.ts`;
    const libcUrl = new URL("../../../stack/sys/libc.ts", import.meta.url).href;
    const tapUrl = new URL("../../../stack/link/tap.ts", import.meta.url).href;
    await Deno.writeTextFile(
      script,
      `import { libc } from "${libcUrl}";\nimport { TapDevice } from "${tapUrl}";\n` +
        `try { libc(); } catch (e) { console.log(String(e)); }\n` +
        `try { TapDevice.open({ name: "lbt0" }); } catch (e) { console.log(String(e)); }\n`,
    );
    const out = await startProgram(
      [own(Deno.execPath()), "run", "--no-prompt", "--no-config", script],
      { stdout: "piped" },
    ).output();
    const lines = new TextDecoder().decode(out.stdout).trim().split("\n");
    const expected =
      "DeviceError: FFI is not permitted; run with --allow-ffi (e.g. `deno run --allow-ffi lb.ts ...`)";
    assertEquals(lines, [expected, expected]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
