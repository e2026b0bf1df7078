/**
 * A load run again on every live event that changes what it shows. Its answers can land out of
 * order (each request may go on a connection of its own), so only the newest call's answer counts:
 * an older one that lands later resolves to undefined instead of replacing it.
 */
export function newestOnly<T>(load: () => Promise<T>): () => Promise<T | undefined> {
  let latest = 0;
  return async () => {
    const call = ++latest;
    const result = await load();
    return call === latest ? result : undefined;
  };
}
