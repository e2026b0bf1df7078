/**
 * The order of the Projects and Applications pages, as the server lists them (`lower(name) COLLATE
 * "C"`, then id): code units of the lower-cased name, whatever the database's collation, and the id
 * between equal names. A row placed live then lands where a reload puts it.
 */
export function byName(a: { id: string; name: string }, b: { id: string; name: string }): number {
  const [x, y] = [a.name.toLowerCase(), b.name.toLowerCase()];
  if (x !== y) return x < y ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}
