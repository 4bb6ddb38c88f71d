/**
 * The errors the TCP API raises. Where Deno has a class for the condition, the error is an
 * instance of it (`Deno.errors.ConnectionReset`, ...), so code written for Deno sockets catches
 * the same classes on the userspace stack.
 *
 * @module
 */

/** The peer refused the connection: a RST answered our SYN (RFC 9293 3.10.7.3). */
export function connectionRefused(remote: string): Error {
  return new Deno.errors.ConnectionRefused(`Connection refused (os error 111): ${remote}`);
}

/** The peer reset the connection (RFC 9293 3.10.7.4, RST in a synchronized state). */
export function connectionReset(remote: string): Error {
  return new Deno.errors.ConnectionReset(`Connection reset by peer (os error 104): ${remote}`);
}

/** A timer gave up: handshake, retransmission or keepalive (RFC 9293 3.8.3, RFC 1122 4.2.3.6). */
export function timedOut(what: string): Error {
  return new Deno.errors.TimedOut(`Connection timed out (os error 110): ${what}`);
}

/** The local address and port are taken. */
export function addrInUse(addr: string): Error {
  return new Deno.errors.AddrInUse(`Address already in use (os error 98): ${addr}`);
}

/** The connection is not (or no longer) connected. */
export function notConnected(what: string): Error {
  return new Deno.errors.NotConnected(
    `Transport endpoint is not connected (os error 107): ${what}`,
  );
}

/** Writing after the sending side was shut down (closeWrite, or the connection ended). */
export function brokenPipe(what: string): Error {
  return new Deno.errors.BrokenPipe(`Broken pipe (os error 32): ${what}`);
}

/** The resource was closed by the user (Deno raises BadResource for a closed rid). */
export function badResource(what: string): Error {
  return new Deno.errors.BadResource(`Bad resource ID: ${what}`);
}

/** A pending operation was cancelled because the user closed the resource. */
export function interrupted(what: string): Error {
  return new Deno.errors.Interrupted(`operation canceled: ${what}`);
}

/** No route to the destination. */
export function networkUnreachable(what: string): Error {
  return new Deno.errors.NetworkUnreachable(`Network is unreachable (os error 101): ${what}`);
}

/** A router says the host cannot be reached (ICMP host unreachable, time exceeded). */
export function hostUnreachable(what: string): Error {
  return new Deno.errors.NetworkUnreachable(`No route to host (os error 113): ${what}`);
}

/** The local address is not one of the host's addresses. */
export function addrNotAvailable(addr: string): Error {
  return new Deno.errors.AddrNotAvailable(`Cannot assign requested address (os error 99): ${addr}`);
}

/** The connection was aborted locally (e.g. the stack closed). */
export function connectionAborted(what: string): Error {
  return new Deno.errors.ConnectionAborted(
    `Software caused connection abort (os error 103): ${what}`,
  );
}
