/**
 * A request the HTTP server refuses before (or while) reading it: the status, its reason phrase
 * and a line saying why. Malformed input is data, not an exception: the server answers these
 * with the status and closes the connection (RFC 9112 9.6).
 *
 * @module
 */

/** A request that cannot be served as sent. */
export class HttpError extends Error {
  /** The status code to answer with (400, 408, 413, 431, 501, 505, ...). */
  readonly status: number;

  /** `status` and a message for the response body. */
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

/** Reason phrases of the status codes the server and its users commonly send (RFC 9110 15). */
export const STATUS_TEXT: Readonly<Record<number, string>> = {
  100: "Continue",
  101: "Switching Protocols",
  200: "OK",
  201: "Created",
  202: "Accepted",
  204: "No Content",
  206: "Partial Content",
  301: "Moved Permanently",
  302: "Found",
  303: "See Other",
  304: "Not Modified",
  307: "Temporary Redirect",
  308: "Permanent Redirect",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  409: "Conflict",
  410: "Gone",
  411: "Length Required",
  413: "Content Too Large",
  414: "URI Too Long",
  415: "Unsupported Media Type",
  417: "Expectation Failed",
  422: "Unprocessable Content",
  429: "Too Many Requests",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  501: "Not Implemented",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
  505: "HTTP Version Not Supported",
};
