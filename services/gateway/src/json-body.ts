/**
 * Reading the JSON of a request body or a NATS message. The nesting depth is checked on the text
 * before JSON.parse (MAX_JSON_DEPTH), so nothing accepted can overflow the stack of whatever later
 * walks the value; the answer names where the problem is.
 */
import { findJsonTooDeep, MAX_JSON_DEPTH } from "@jetstep/core";

export type JsonResult = { ok: true; value: unknown } | { ok: false; error: string };

/**
 * Parses `text`, or says why not: `invalid JSON: …`, or `<where>: nests deeper than 64 levels …`
 * where `where` is `names.whole` (`body`, `event`) or `names.element[i]` for the element of a
 * top-level array (`events[3]`).
 */
export function parseJson(
  text: string,
  names: { whole: string; element: string } = { whole: "body", element: "body" },
): JsonResult {
  const deep = findJsonTooDeep(text);
  if (deep) {
    const where = deep.element === undefined ? names.whole : `${names.element}[${deep.element}]`;
    return {
      ok: false,
      error: `${where}: nests deeper than ${MAX_JSON_DEPTH} levels of objects and arrays (at most ${MAX_JSON_DEPTH})`,
    };
  }
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (e) {
    return { ok: false, error: `invalid JSON: ${(e as Error).message}` };
  }
}
