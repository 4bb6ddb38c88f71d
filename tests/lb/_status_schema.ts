/**
 * The validator of docs/status.schema.json (ajv, with ajv-formats for "date-time").
 *
 * ajv is imported at run time from a specifier the type checker does not follow: its CommonJS
 * type declarations, in one program with the Node-typed packages of the library's tests (Express,
 * Hono's node server, undici), made TypeScript see two different `Symbol.dispose`s and reject the
 * stack's conns as `Deno.Conn`s. The small surface used here is typed by hand.
 */

/** A compiled schema: true when `doc` is valid; `errors` says why not. */
export interface Validate {
  (doc: unknown): boolean;
  errors?: unknown;
}

interface AjvLike {
  compile(schema: unknown): Validate;
}

const AJV = "ajv";
const AJV_FORMATS = "ajv-formats";
const ROOT = new URL("../../", import.meta.url).pathname;

/** Compiles the status document's schema (strict mode, every error reported). */
export async function statusValidator(): Promise<Validate> {
  const { Ajv } = await import(AJV) as { Ajv: new (o: object) => AjvLike };
  const formats = await import(AJV_FORMATS) as { default: (a: AjvLike) => void };
  const ajv = new Ajv({ allErrors: true, strict: true });
  formats.default(ajv);
  return ajv.compile(JSON.parse(Deno.readTextFileSync(`${ROOT}docs/status.schema.json`)));
}
