// Options renamed for one vocabulary (issue 22) keep their old name for one minor version. An old
// name is accepted and mapped; giving both names with different values is a caller's mistake that
// neither value can silently win, so it throws.

function same(a: unknown, b: unknown): boolean {
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => Object.is(x, b[i]));
  return Object.is(a, b);
}

/**
 * The value of an option under its current name `name`, else under its deprecated name `oldName`.
 * Throws TypeError when both are given and differ (arrays compare element by element).
 */
export function renamedOption<T>(current: T | undefined, old: T | undefined, name: string, oldName: string): T | undefined {
  if (current === undefined) return old;
  if (old !== undefined && !same(current, old)) {
    throw new TypeError(`${oldName} is the deprecated name of ${name}; both were given, with different values (${JSON.stringify(old)} and ${JSON.stringify(current)}): give only ${name}`);
  }
  return current;
}
