/**
 * How many levels a request body may nest, the body itself being the first. No route takes more
 * than two (a body with a list); the limit bounds every walk over what a client sent.
 */
export const MAX_INPUT_DEPTH = 32;

const NUL = '\u0000';
// With the `u` flag a well-formed surrogate pair is one code point, so only a lone half matches.
const LONE_SURROGATE = /\p{Cs}/u;

/**
 * What no schema has to remember, checked on every body and query string: text PostgreSQL cannot
 * store (NUL; a lone surrogate, which has no UTF-8 form) in any value or key, and nesting deeper
 * than MAX_INPUT_DEPTH. The walk is iterative, so no input can overflow the stack. Returns field
 * path → message, as a validation failure names them; nesting too deep is named by the top-level
 * field it is under (`_` when the body itself is an array).
 */
export function inputProblems(input: unknown): Record<string, string> {
  const problems: Record<string, string> = {};
  const pending: { value: unknown; path: string; field: string; level: number }[] = [{ value: input, path: '_', field: '_', level: 1 }];
  for (let next = pending.pop(); next; next = pending.pop()) {
    const { value, path, field, level } = next;
    if (typeof value === 'string') {
      const problem = textProblem(value);
      if (problem) problems[path] ??= problem;
      continue;
    }
    if (typeof value !== 'object' || value === null) continue;
    if (level > MAX_INPUT_DEPTH) {
      problems[field] ??= `Nested too deeply: a request may nest at most ${MAX_INPUT_DEPTH} levels`;
      continue;
    }
    // The fields of a body are the keys of its top-level object; an array body has none but itself.
    const topLevelFields = level === 1 && !Array.isArray(value);
    for (const [key, item] of Object.entries(value)) {
      const itemPath = level === 1 ? key : `${path}.${key}`;
      const keyProblem = textProblem(key);
      if (keyProblem) problems[itemPath] ??= keyProblem;
      pending.push({ value: item, path: itemPath, field: topLevelFields ? key : field, level: level + 1 });
    }
  }
  return problems;
}

function textProblem(text: string): string | null {
  if (text.includes(NUL)) return 'Must not contain NUL characters';
  if (LONE_SURROGATE.test(text)) return 'Must not contain a lone surrogate (text that is not valid Unicode)';
  return null;
}
